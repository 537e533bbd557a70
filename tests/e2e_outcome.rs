//! End-to-end (issue 11): the outcome, not only IAM. The AMP workspace is
//! resolved, checked, created and deleted; the pods that run without the role
//! are found by owner and restarted on request. The built binary through the
//! real `kubectl`, against moto (with AMP) and the API stand-in, whose
//! controllers replace restarted pods and whose webhook injects the role.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/iam_reads.rs"]
mod iam_reads;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use harness::{ACCOUNT, Env};
use iam_reads::*;
use serde_json::Value;

const NS: &str = "prometheus";

fn workspace_arn(id: &str) -> String {
    format!("arn:aws:aps:us-east-1:{ACCOUNT}:workspace/{id}")
}

async fn workspaces_with_alias(env: &Env, alias: &str) -> Vec<(String, Vec<String>)> {
    let out = env
        .amp
        .list_workspaces()
        .alias(alias)
        .send()
        .await
        .expect("list workspaces");
    let mut found = Vec::new();
    for w in out.workspaces() {
        if w.alias() != Some(alias) {
            continue;
        }
        let tags = w
            .tags()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        found.push((w.workspace_id().to_string(), tags));
    }
    found
}

// ---------------------------------------------------------------------------
// Workloads

#[tokio::test]
async fn a_deployment_older_than_the_annotation_is_reported_then_restarted_once() {
    let env = Env::start().await;
    env.kube
        .add_deployment(NS, "prometheus-server", INGEST_SA, 2);
    env.kube.add_deployment(NS, "grafana", "grafana", 1);

    let setup = env.run(&["setup", "ingest"]).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    assert!(
        setup.stdout.contains(&format!(
            "stale: deployment/prometheus-server runs {INGEST_SA} without the role: 2 pod(s) started before the annotation"
        )),
        "{setup:?}"
    );
    assert!(setup.stdout.contains("setup --restart"), "{setup:?}");
    assert!(
        !setup.stdout.contains("grafana"),
        "another ServiceAccount: {setup:?}"
    );

    let status = env.run(&["status", "ingest", "-o", "json"]).await;
    assert_eq!(status.code, 3, "{status:?}");
    let doc = status.json();
    let w = &doc["workloads"][0];
    assert_eq!(
        (w["kind"].as_str(), w["name"].as_str(), w["pods"].as_u64()),
        (Some("Deployment"), Some("prometheus-server"), Some(2)),
        "{doc}"
    );
    assert_eq!(w["reason"], "2 pod(s) started before the annotation");
    assert!(
        doc["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("--restart"),
        "{doc}"
    );

    // The dry run shows the restart and patches nothing.
    let dry = env
        .run(&["setup", "ingest", "--restart", "--dry-run"])
        .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("deployment/prometheus-server")
            && dry.stdout.contains("would update: rollout restart"),
        "{dry:?}"
    );
    assert_eq!(env.kube.workload_patches(), 0);

    let restart = env.run(&["setup", "ingest", "--restart"]).await;
    assert_eq!(restart.code, 0, "{restart:?}");
    assert!(
        restart.stdout.contains("updated: rollout restart"),
        "{restart:?}"
    );
    assert_eq!(env.kube.workload_patches(), 1, "exactly the stale owner");
    assert!(
        env.kube
            .restarted(NS, "Deployment", "prometheus-server")
            .is_some()
    );
    assert!(env.kube.restarted(NS, "Deployment", "grafana").is_none());
    // The new pods carry the role the webhook injected.
    let arn = role_arn(INGEST_ROLE);
    let pods: Vec<_> = env
        .kube
        .pods(NS)
        .into_iter()
        .filter(|p| p.service_account == INGEST_SA)
        .collect();
    assert_eq!(pods.len(), 2, "{pods:?}");
    assert!(
        pods.iter()
            .all(|p| p.env.get("AWS_ROLE_ARN") == Some(&arn) && p.token_volume),
        "{pods:?}"
    );

    let status = env.run(&["status", "ingest"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let again = env.run(&["setup", "ingest", "--restart"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        env.kube.workload_patches(),
        1,
        "nothing stale, nothing restarted"
    );
}

#[tokio::test]
async fn restart_covers_statefulsets_and_daemonsets_and_bare_pods_only_with_force() {
    let env = Env::start().await;
    env.kube.add_statefulset(NS, "prometheus", INGEST_SA, 2);
    env.kube.add_daemonset(NS, "node-exporter", INGEST_SA, 2);
    env.kube.add_job(NS, "backfill", INGEST_SA, None);
    env.kube.add_bare_pod(NS, "debug", INGEST_SA, None);

    let out = env.run(&["setup", "ingest", "--restart"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        env.kube
            .restarted(NS, "StatefulSet", "prometheus")
            .is_some()
    );
    assert!(
        env.kube
            .restarted(NS, "DaemonSet", "node-exporter")
            .is_some()
    );
    assert_eq!(env.kube.workload_patches(), 2, "{out:?}");
    assert!(out.stdout.contains("pod/debug is not restarted"), "{out:?}");
    assert!(
        out.stdout.contains("job/backfill is not restarted"),
        "{out:?}"
    );
    assert!(
        env.kube.pod(NS, "debug").is_some(),
        "a bare pod needs --force"
    );

    let status = env.run(&["status", "ingest", "-o", "json"]).await;
    assert_eq!(status.code, 3, "{status:?}");
    let left: Vec<String> = status.json()["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{}/{}",
                w["kind"].as_str().unwrap(),
                w["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(left, ["Job/backfill", "Pod/debug"], "{status:?}");

    let forced = env.run(&["setup", "ingest", "--restart", "--force"]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(env.kube.pod(NS, "debug").is_none(), "deleted with --force");
}

#[tokio::test]
async fn pods_started_after_the_annotation_without_the_role_point_at_the_webhook() {
    let env = Env::start().await;
    env.kube.set_webhook(false);
    let setup = env.run(&["setup", "ingest"]).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    // Started after the annotation on a cluster without the webhook.
    env.kube
        .add_deployment(NS, "prometheus-server", INGEST_SA, 1);
    let status = env.run(&["status", "ingest"]).await;
    assert_eq!(status.code, 3, "{status:?}");
    assert!(
        status.stdout.contains("webhook may be missing"),
        "{status:?}"
    );
    assert!(
        status
            .stdout
            .contains("kubectl get mutatingwebhookconfiguration pod-identity-webhook"),
        "{status:?}"
    );
    // A restart would not help: none is planned.
    let out = env.run(&["setup", "ingest", "--restart"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.kube.workload_patches(), 0, "{out:?}");
}

#[tokio::test]
async fn the_webhook_annotations_are_set_and_someone_elses_are_kept_or_refused() {
    let env = Env::start().await;
    let out = env
        .run(&[
            "setup",
            "ingest",
            "--sts-regional-endpoints",
            "--token-expiration",
            "7200",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let sa = env.kube.service_account(NS, INGEST_SA).expect("sa");
    let ann = &sa["metadata"]["annotations"];
    assert_eq!(ann["eks.amazonaws.com/sts-regional-endpoints"], "true");
    assert_eq!(ann["eks.amazonaws.com/token-expiration"], "7200");

    // Someone else's value: kept without the flag, refused with it.
    env.kube.put_service_account(
        NS,
        QUERY_SA,
        &[("eks.amazonaws.com/sts-regional-endpoints", "false")],
        &[],
        "helm",
    );
    let kept = env.run(&["setup", "query"]).await;
    assert_eq!(kept.code, 0, "{kept:?}");
    let sa = env.kube.service_account(NS, QUERY_SA).expect("sa");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/sts-regional-endpoints"],
        "false"
    );
    let refused = env
        .run(&["setup", "query", "--sts-regional-endpoints"])
        .await;
    assert_eq!(refused.code, 4, "{refused:?}");
    assert!(
        refused.stderr.contains("sts-regional-endpoints=false"),
        "{refused:?}"
    );
    let bad = env.run(&["setup", "--token-expiration", "60"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
}

// ---------------------------------------------------------------------------
// Workspaces

#[tokio::test]
async fn a_workspace_alias_is_resolved_and_a_missing_or_shared_one_refused_before_writes() {
    let env = Env::start().await;
    let prod = env.create_workspace("prod").await;
    let a = env.create_workspace("shared").await;
    let b = env.create_workspace("shared").await;
    env.reset_calls();

    for (wanted, says) in [
        ("shared", format!("{a}, {b}")),
        ("nope", "no AMP workspace alias \"nope\"".to_string()),
        (
            "ws-00000000-0000-0000-0000-000000000000",
            "no AMP workspace ws-00000000".to_string(),
        ),
    ] {
        let out = env.run(&["setup", "ingest", "--workspace", wanted]).await;
        assert_eq!(out.code, 2, "{wanted}: {out:?}");
        assert!(
            out.stderr.contains(&says) || out.stderr.contains(&format!("{b}, {a}")),
            "{wanted}: {out:?}"
        );
    }
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);

    let out = env.run(&["setup", "ingest", "--workspace", "prod"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "remote write: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{prod}/api/v1/remote_write"
        )),
        "{out:?}"
    );
    let policy = default_document(&env, INGEST_POLICY).await;
    assert_eq!(policy["Statement"][0]["Resource"], workspace_arn(&prod));

    // A policy scoped to one workspace does not cover another.
    let status = env.run(&["status", "ingest", "--workspace", &a]).await;
    assert_eq!(status.code, 3, "{status:?}");
    assert!(status.stdout.contains(&workspace_arn(&a)), "{status:?}");
    assert_eq!(
        env.run(&["status", "ingest", "--workspace", &prod])
            .await
            .code,
        0
    );
}

#[tokio::test]
async fn create_workspace_makes_one_tagged_as_ours_and_teardown_deletes_only_with_the_flag() {
    let env = Env::start().await;
    let out = env
        .run(&[
            "setup",
            "ingest",
            "--create-workspace",
            "team-a",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let made = workspaces_with_alias(&env, "team-a").await;
    assert_eq!(made.len(), 1, "{made:?}");
    let (id, tags) = &made[0];
    assert!(tags.contains(&MANAGED_BY.to_string()), "{tags:?}");
    let doc = out.json();
    assert_eq!(doc["workspace"]["id"], id.as_str(), "{doc}");
    assert_eq!(
        default_document(&env, INGEST_POLICY).await["Statement"][0]["Resource"],
        workspace_arn(id)
    );

    // A re-run finds it by alias: nothing to write.
    env.reset_calls();
    let again = env
        .run(&["setup", "ingest", "--create-workspace", "team-a"])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new(), "{again:?}");
    assert_eq!(workspaces_with_alias(&env, "team-a").await.len(), 1);

    // Teardown keeps it unless asked, and deletes only one it made.
    let foreign = env.create_workspace("theirs").await;
    let kept = env
        .run(&["teardown", "ingest", "--workspace", "team-a"])
        .await;
    assert_eq!(kept.code, 0, "{kept:?}");
    assert_eq!(workspaces_with_alias(&env, "team-a").await.len(), 1);
    let gone = env
        .run(&[
            "teardown",
            "ingest",
            "--workspace",
            "team-a",
            "--include-workspace",
        ])
        .await;
    assert_eq!(gone.code, 0, "{gone:?}");
    assert!(
        workspaces_with_alias(&env, "team-a").await.is_empty(),
        "{gone:?}"
    );
    let theirs = env
        .run(&[
            "teardown",
            "ingest",
            "--workspace",
            &foreign,
            "--include-workspace",
        ])
        .await;
    assert_eq!(theirs.code, 0, "{theirs:?}");
    assert_eq!(
        workspaces_with_alias(&env, "theirs").await.len(),
        1,
        "{theirs:?}"
    );
}

#[tokio::test]
async fn values_use_the_regions_only_workspace_and_list_several() {
    let env = Env::start().await;
    let none = env.run(&["values"]).await;
    assert_eq!(none.code, 0, "{none:?}");
    assert!(none.stderr.contains("<WORKSPACE_ID>"), "{none:?}");

    let prod = env.create_workspace("prod").await;
    let one = env.run(&["values"]).await;
    assert_eq!(one.code, 0, "{one:?}");
    let v: Value = serde_saphyr::from_str(&one.stdout).expect("YAML");
    assert_eq!(
        v["server"]["remoteWrite"][0]["url"],
        format!(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{prod}/api/v1/remote_write"
        )
    );
    assert!(one.stderr.contains("the only AMP workspace"), "{one:?}");

    let staging = env.create_workspace("staging").await;
    let several = env.run(&["values", "-o", "json"]).await;
    assert_eq!(several.code, 2, "{several:?}");
    assert!(
        several.stderr.contains(&prod) && several.stderr.contains(&staging),
        "{several:?}"
    );
    assert_eq!(several.json()["error"]["kind"], "usage");
    let chosen = env.run(&["values", "--workspace", "staging"]).await;
    assert_eq!(chosen.code, 0, "{chosen:?}");
    assert!(chosen.stdout.contains(&staging), "{chosen:?}");
}
