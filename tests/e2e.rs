//! End-to-end: the built binary, through the real `kubectl`, against moto and
//! the Kubernetes API stand-in. See tests/support/harness.rs.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/iam_reads.rs"]
mod iam_reads;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use harness::{ACCOUNT, Env};
use iam_reads::{
    INGEST_SA, QUERY_SA, ROLE_ARN, annotation, attached, default_document, policy_arn, role_arn,
    trust_of,
};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Plugin discovery and the foundation (issue 2)

#[tokio::test]
async fn kubectl_finds_the_plugin_and_shows_its_help() {
    let env = Env::start().await;
    let mut plugin_list = std::process::Command::new("kubectl");
    plugin_list.args(["plugin", "list"]).env(
        "PATH",
        format!(
            "{}:{}",
            env.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let out = plugin_list.output().expect("kubectl plugin list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("kubectl-amp_iam"),
        "kubectl plugin list:\n{listed}"
    );

    let help = env.run(&["--help"]).await;
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("Usage: kubectl amp-iam"), "{help:?}");
    assert!(
        help.stdout.contains("kubectl amp-iam setup -n prometheus"),
        "examples in --help: {help:?}"
    );
    let version = env.run(&["--version"]).await;
    assert_eq!(
        version.stdout.trim(),
        format!("kubectl amp-iam {}", env!("CARGO_PKG_VERSION"))
    );
    let usage = env.run(&["setup", "ingets"]).await;
    assert_eq!(usage.code, 2, "{usage:?}");
    assert!(env.aws_calls().is_empty(), "usage errors make no AWS call");
}

#[tokio::test]
async fn fresh_setup_provisions_everything_and_a_rerun_writes_nothing() {
    let env = Env::start().await;
    let host = env.issuer_host().await;

    let first = env.run(&["setup"]).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.contains("10 change(s) made"), "{first:?}");
    // No pod runs as the ServiceAccounts yet: nothing needs a restart.
    assert!(
        first.stdout.contains("No running pod uses"),
        "restart hint: {first:?}"
    );

    // The OIDC provider, with the STS audience.
    let provider = env
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"))
        .send()
        .await
        .expect("provider exists");
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);

    // Roles trusted by exactly one ServiceAccount each, sub and aud.
    for (role, sa) in [
        ("amp-iamproxy-ingest-role", INGEST_SA),
        ("amp-iamproxy-query-role", QUERY_SA),
    ] {
        let trust = trust_of(&env, role).await;
        let st = &trust["Statement"][0];
        assert_eq!(trust["Statement"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            st["Principal"]["Federated"],
            format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}")
        );
        assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            st["Condition"]["StringEquals"][format!("{host}:sub")],
            format!("system:serviceaccount:prometheus:{sa}")
        );
        assert_eq!(
            st["Condition"]["StringEquals"][format!("{host}:aud")],
            "sts.amazonaws.com"
        );
        assert_eq!(annotation(&env, "prometheus", sa), Some(role_arn(role)));
    }
    assert_eq!(
        attached(&env, "amp-iamproxy-ingest-role").await,
        [policy_arn("AMPIngestPolicy")]
    );
    assert_eq!(
        attached(&env, "amp-iamproxy-query-role").await,
        [policy_arn("AMPQueryPolicy")]
    );
    let ingest = default_document(&env, "AMPIngestPolicy").await;
    assert_eq!(
        ingest["Statement"][0]["Action"],
        serde_json::json!([
            "aps:RemoteWrite",
            "aps:GetSeries",
            "aps:GetLabels",
            "aps:GetMetricMetadata"
        ])
    );
    assert_eq!(ingest["Statement"][0]["Resource"], "*");
    let query = default_document(&env, "AMPQueryPolicy").await;
    assert_eq!(query["Statement"][0]["Action"][0], "aps:QueryMetrics");
    // Tagged as ours, with the cluster.
    let tags = env
        .iam
        .list_role_tags()
        .role_name("amp-iamproxy-ingest-role")
        .send()
        .await
        .expect("tags");
    let tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert!(
        tags.contains(&(
            "app.kubernetes.io/managed-by".into(),
            "kubectl-amp-iam".into()
        )),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("kubectl-amp-iam/cluster".into(), "demo".into())),
        "{tags:?}"
    );
    assert!(env.kube.has_namespace("prometheus"), "namespace created");

    // Second run: everything observed in place, nothing written anywhere.
    env.reset_calls();
    let kube_writes = env.kube.writes().await;
    let second = env.run(&["setup"]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stdout.contains("Nothing to do"), "{second:?}");
    assert_eq!(
        env.aws_writes(),
        Vec::<String>::new(),
        "a re-run writes nothing to AWS"
    );
    assert_eq!(
        env.kube.writes().await,
        kube_writes,
        "a re-run writes nothing to the cluster"
    );
    assert!(!env.aws_calls().is_empty(), "the re-run did observe");
}

#[tokio::test]
async fn dry_run_prints_the_plan_as_json_and_writes_nothing() {
    let env = Env::start().await;
    let out = env.run(&["setup", "--dry-run", "-o", "json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["cluster"], "demo");
    assert_eq!(doc["region"], "us-east-1");
    assert_eq!(doc["account"], ACCOUNT);
    assert_eq!(doc["namespace"], "prometheus");
    assert_eq!(doc["changes_needed"], 10);
    let changes = doc["changes"].as_array().expect("changes");
    assert!(
        changes.iter().all(|c| c["status"] == "planned"),
        "{changes:?}"
    );
    assert_eq!(
        doc["kinds"]["ingest"]["role_arn"],
        role_arn("amp-iamproxy-ingest-role")
    );
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);
    assert!(
        env.iam
            .get_role()
            .role_name("amp-iamproxy-ingest-role")
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn json_output_gives_scripts_every_arn() {
    let env = Env::start().await;
    let ws = env.create_workspace("scripts").await;
    let out = env
        .run(&["setup", "ingest", "-o", "json", "--workspace", &ws])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["in_sync"], false);
    let ingest = &doc["kinds"]["ingest"];
    assert_eq!(ingest["role_arn"], role_arn("amp-iamproxy-ingest-role"));
    assert_eq!(ingest["policy_arn"], policy_arn("AMPIngestPolicy"));
    assert_eq!(ingest["service_account"], format!("prometheus/{INGEST_SA}"));
    assert!(doc["kinds"].get("query").is_none());
    assert!(
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource"] != "workspace")
            .all(|c| c["status"] == "applied"),
        "{doc}"
    );
    let policy = default_document(&env, "AMPIngestPolicy").await;
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:aps:us-east-1:{ACCOUNT}:workspace/{ws}")
    );
    assert_eq!(doc["workspace"]["id"], ws.as_str());
    assert_eq!(
        doc["workspace"]["remote_write_url"],
        format!(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{ws}/api/v1/remote_write"
        )
    );
    let yaml = env
        .run(&["status", "ingest", "-o", "yaml", "--workspace", "scripts"])
        .await;
    assert_eq!(yaml.code, 0, "{yaml:?}");
    let parsed: Value = serde_saphyr::from_str(&yaml.stdout).expect("yaml");
    assert_eq!(parsed["in_sync"], true);
}

#[tokio::test]
async fn existing_service_account_keeps_everything_else() {
    let env = Env::start().await;
    env.kube.put_service_account(
        "prometheus",
        INGEST_SA,
        &[("meta.helm.sh/release-name", "prometheus")],
        &[("app.kubernetes.io/name", "prometheus")],
        "helm",
    );
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let sa = env
        .kube
        .service_account("prometheus", INGEST_SA)
        .expect("sa");
    assert_eq!(
        sa["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "prometheus"
    );
    assert_eq!(
        sa["metadata"]["labels"]["app.kubernetes.io/name"],
        "prometheus"
    );
    assert_eq!(
        sa["metadata"]["annotations"][ROLE_ARN],
        role_arn("amp-iamproxy-ingest-role")
    );
    // Not created by us, so not labelled as ours (teardown will not delete it).
    assert!(
        sa["metadata"]["labels"]
            .get("app.kubernetes.io/managed-by")
            .is_none(),
        "{sa}"
    );
}

#[tokio::test]
async fn foreign_annotation_is_refused_before_any_write() {
    let env = Env::start().await;
    let theirs = format!("arn:aws:iam::{ACCOUNT}:role/someone-elses-role");
    env.kube.put_service_account(
        "prometheus",
        INGEST_SA,
        &[(ROLE_ARN, &theirs)],
        &[],
        "kubectl-annotate",
    );
    let kube_writes = env.kube.writes().await;
    let out = env.run(&["setup"]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains("someone-elses-role") && out.stderr.contains("--overwrite"),
        "{out:?}"
    );
    assert!(out.stderr.contains("nothing was written"), "{out:?}");
    assert_eq!(
        env.aws_writes(),
        Vec::<String>::new(),
        "refused before any AWS write"
    );
    assert_eq!(
        env.kube.writes().await,
        kube_writes,
        "refused before any cluster write"
    );

    let forced = env.run(&["setup", "--overwrite"]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(
        annotation(&env, "prometheus", INGEST_SA),
        Some(role_arn("amp-iamproxy-ingest-role"))
    );
}

#[tokio::test]
async fn eksctl_context_gives_cluster_and_region() {
    let env = Env::start().await;
    env.write_eksctl_kubeconfig("demo");
    let out = env
        .run(&[
            "setup",
            "query",
            "-n",
            "monitoring",
            "--service-account",
            "grafana",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.starts_with("setup: cluster demo in us-east-1"),
        "{out:?}"
    );
    assert_eq!(
        annotation(&env, "monitoring", "grafana"),
        Some(role_arn("amp-iamproxy-query-role"))
    );
}

#[tokio::test]
async fn bad_input_fails_with_one_line_and_no_calls() {
    let env = Env::start().await;
    for (args, code, needle) in [
        (vec!["setup", "-n", "Not_A_Namespace"], 2, "namespace"),
        (
            vec!["setup", "ingest", "--role-name", &"r".repeat(65)],
            2,
            "role name",
        ),
        (vec!["setup", "--role-name", "x"], 2, "exactly one KIND"),
        (vec!["setup", "--context", "nope"], 2, "nope"),
    ] {
        let out = env.run(&args).await;
        assert_eq!(out.code, code, "{args:?}: {out:?}");
        assert!(out.stderr.contains(needle), "{args:?}: {out:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{out:?}");
    }
    assert!(env.aws_calls().is_empty(), "{:?}", env.aws_calls());

    let missing = env.run(&["setup", "--cluster", "nope"]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("\"nope\" was not found in us-east-1"),
        "{missing:?}"
    );
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert!(
        !missing.stderr.contains("testing-secret-value")
            && !missing.stdout.contains("testing-secret-value")
    );
}

// ---------------------------------------------------------------------------
// Fargate pod execution role (issue 3)

const FARGATE_ROLE: &str = "AmazonEKSFargatePodExecutionRole";
const FARGATE_POLICY: &str = "arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy";

fn fargate_source(cluster: &str) -> String {
    format!("arn:aws:eks:us-east-1:{ACCOUNT}:fargateprofile/{cluster}/*")
}

fn fargate_trust(sources: Value) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Condition": {"ArnLike": {"aws:SourceArn": sources}},
        "Principal": {"Service": "eks-fargate-pods.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    .to_string()
}

#[tokio::test]
async fn fargate_role_is_created_and_a_rerun_writes_nothing() {
    let env = Env::start().await;
    let out = env.run(&["setup", "fargate"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("--pod-execution-role-arn arn:aws:iam::123456789012:role/AmazonEKSFargatePodExecutionRole"), "{out:?}");
    let trust = trust_of(&env, FARGATE_ROLE).await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        fargate_source("demo")
    );
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "eks-fargate-pods.amazonaws.com"
    );
    assert_eq!(attached(&env, FARGATE_ROLE).await, [FARGATE_POLICY]);
    assert_eq!(
        env.kube.writes().await,
        0,
        "fargate alone does not touch the cluster"
    );

    env.reset_calls();
    let again = env.run(&["setup", "fargate", "-o", "json"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["in_sync"], true);
    assert_eq!(env.aws_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn fargate_role_for_another_cluster_gets_this_cluster_added() {
    let env = Env::start().await;
    env.iam
        .create_role()
        .role_name(FARGATE_ROLE)
        .assume_role_policy_document(fargate_trust(Value::String(fargate_source("other"))))
        .send()
        .await
        .expect("seed role");
    env.iam
        .attach_role_policy()
        .role_name(FARGATE_ROLE)
        .policy_arn(FARGATE_POLICY)
        .send()
        .await
        .expect("attach");
    env.reset_calls();
    let out = env.run(&["setup", "fargate"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let trust = trust_of(&env, FARGATE_ROLE).await;
    assert_eq!(
        trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        serde_json::json!([fargate_source("demo"), fargate_source("other")])
    );
    assert_eq!(
        env.aws_writes(),
        ["UpdateAssumeRolePolicy"],
        "only the trust changes"
    );
}

#[tokio::test]
async fn fargate_refuses_a_role_made_for_something_else() {
    let env = Env::start().await;
    let ec2 = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    env.iam
        .create_role()
        .role_name(FARGATE_ROLE)
        .assume_role_policy_document(ec2.to_string())
        .send()
        .await
        .expect("seed");
    env.reset_calls();
    let out = env.run(&["setup", "fargate"]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("--overwrite"), "{out:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    let forced = env.run(&["setup", "fargate", "--overwrite"]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    let trust = trust_of(&env, FARGATE_ROLE).await;
    assert_eq!(
        trust["Statement"].as_array().map(Vec::len),
        Some(2),
        "ec2 statement kept: {trust}"
    );
}

// ---------------------------------------------------------------------------
// status and teardown (issue 4)

#[tokio::test]
async fn status_finds_drift_setup_repairs_it_and_teardown_undoes_everything() {
    let env = Env::start().await;
    assert_eq!(env.run(&["setup"]).await.code, 0);
    let ok = env.run(&["status"]).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("In sync"), "{ok:?}");

    // Someone detaches a policy by hand.
    env.iam
        .detach_role_policy()
        .role_name("amp-iamproxy-query-role")
        .policy_arn(policy_arn("AMPQueryPolicy"))
        .send()
        .await
        .expect("detach");
    env.reset_calls();
    let drift = env.run(&["status"]).await;
    assert_eq!(drift.code, 3, "{drift:?}");
    assert!(
        drift.stdout.contains("missing: attach AMPQueryPolicy"),
        "{drift:?}"
    );
    assert!(
        drift
            .stdout
            .contains("kubectl amp-iam setup ingest query -n prometheus"),
        "{drift:?}"
    );
    assert_eq!(
        env.aws_writes(),
        Vec::<String>::new(),
        "status never writes"
    );
    let json = env.run(&["status", "-o", "json"]).await;
    assert_eq!(json.code, 3);
    assert_eq!(json.json()["in_sync"], false);

    let repair = env.run(&["setup"]).await;
    assert_eq!(repair.code, 0, "{repair:?}");
    assert!(repair.stdout.contains("1 change(s) made"), "{repair:?}");
    assert_eq!(env.run(&["status"]).await.code, 0);

    // Teardown: a dry run first writes nothing.
    env.reset_calls();
    let kube_writes = env.kube.writes().await;
    let dry = env.run(&["teardown", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("would delete"), "{dry:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, kube_writes);

    let down = env.run(&["teardown", "--include-oidc-provider"]).await;
    assert_eq!(down.code, 0, "{down:?}");
    assert!(
        env.iam
            .get_role()
            .role_name("amp-iamproxy-ingest-role")
            .send()
            .await
            .is_err()
    );
    assert!(
        env.iam
            .get_policy()
            .policy_arn(policy_arn("AMPIngestPolicy"))
            .send()
            .await
            .is_err()
    );
    assert!(
        env.kube.service_account("prometheus", INGEST_SA).is_none(),
        "created by setup, so deleted"
    );
    let providers = env
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("list");
    assert!(
        providers.open_id_connect_provider_list().is_empty(),
        "provider deleted: nothing trusts it"
    );

    let after = env.run(&["status"]).await;
    assert_eq!(after.code, 3, "{after:?}");
    env.reset_calls();
    let again = env.run(&["teardown", "--include-oidc-provider"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{again:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn teardown_leaves_what_it_did_not_make() {
    let env = Env::start().await;
    // A ServiceAccount that existed before setup keeps existing, minus our annotation.
    env.kube
        .put_service_account("prometheus", INGEST_SA, &[("keep", "me")], &[], "helm");
    assert_eq!(env.run(&["setup", "ingest"]).await.code, 0);
    // A policy made by the guide's script (untagged) is left alone.
    assert_eq!(env.run(&["teardown", "query"]).await.code, 0);
    let guide_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"], "Resource": "*"}]});
    env.iam
        .create_policy()
        .policy_name("AMPQueryPolicy")
        .policy_document(guide_policy.to_string())
        .send()
        .await
        .expect("seed");

    let out = env.run(&["teardown"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let sa = env
        .kube
        .service_account("prometheus", INGEST_SA)
        .expect("kept");
    assert_eq!(sa["metadata"]["annotations"]["keep"], "me");
    assert!(
        sa["metadata"]["annotations"].get(ROLE_ARN).is_none(),
        "{sa}"
    );
    assert!(
        out.stdout.contains("not tagged as made by kubectl-amp-iam"),
        "{out:?}"
    );
    assert!(
        env.iam
            .get_policy()
            .policy_arn(policy_arn("AMPQueryPolicy"))
            .send()
            .await
            .is_ok()
    );
    let forced = env.run(&["teardown", "query", "--force"]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(
        env.iam
            .get_policy()
            .policy_arn(policy_arn("AMPQueryPolicy"))
            .send()
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------
// Converging from prior states, races (issue 5)

fn guide_ingest_policy() -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["aps:RemoteWrite", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"], "Resource": "*"}]})
    .to_string()
}

#[tokio::test]
async fn policy_left_by_the_guides_failed_script_is_reused() {
    let env = Env::start().await;
    env.iam
        .create_policy()
        .policy_name("AMPIngestPolicy")
        .policy_document(guide_ingest_policy())
        .send()
        .await
        .expect("seed");
    env.reset_calls();
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let writes = env.aws_writes();
    assert!(
        !writes.iter().any(|w| w.starts_with("CreatePolicy")),
        "{writes:?}"
    );
    assert_eq!(
        attached(&env, "amp-iamproxy-ingest-role").await,
        [policy_arn("AMPIngestPolicy")]
    );
}

#[tokio::test]
async fn drifted_policy_gets_a_new_default_version_within_the_five_version_limit() {
    let env = Env::start().await;
    let only_write = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": "*"}]}).to_string();
    let arn = policy_arn("AMPIngestPolicy");
    env.iam
        .create_policy()
        .policy_name("AMPIngestPolicy")
        .policy_document(&only_write)
        .send()
        .await
        .expect("seed");
    for _ in 0..4 {
        env.iam
            .create_policy_version()
            .policy_arn(&arn)
            .policy_document(&only_write)
            .set_as_default(true)
            .send()
            .await
            .expect("version");
    }
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("+aps:GetSeries"),
        "the diff is shown: {out:?}"
    );
    let doc = default_document(&env, "AMPIngestPolicy").await;
    assert_eq!(
        doc["Statement"][0]["Action"].as_array().map(Vec::len),
        Some(4)
    );
    let versions = env
        .iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .expect("versions");
    assert_eq!(
        versions.versions().len(),
        5,
        "oldest non-default deleted first"
    );
    assert!(
        !versions
            .versions()
            .iter()
            .any(|v| v.version_id() == Some("v1")),
        "v1 was the oldest"
    );
}

#[tokio::test]
async fn role_trusting_others_keeps_them_and_gains_ours() {
    let env = Env::start().await;
    let host = env.issuer_host().await;
    let provider = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
    // moto does not implement AddClientIDToOpenIDConnectProvider, so the provider
    // already has our audience here; adding it is covered by the planner and SDK tests.
    env.iam
        .create_open_id_connect_provider()
        .url(format!("https://{host}"))
        .client_id_list("other-client")
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .expect("provider");
    let theirs = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{host}:sub"): "system:serviceaccount:other:agent"}}}]});
    env.iam
        .create_role()
        .role_name("amp-iamproxy-ingest-role")
        .assume_role_policy_document(theirs.to_string())
        .send()
        .await
        .expect("role");
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let trust = trust_of(&env, "amp-iamproxy-ingest-role").await;
    let sts = trust["Statement"].as_array().expect("statements");
    assert_eq!(sts.len(), 2, "{trust}");
    assert_eq!(sts[0], theirs["Statement"][0], "theirs untouched");
    let p = env
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider)
        .send()
        .await
        .expect("provider");
    let mut ids = p.client_id_list().to_vec();
    ids.sort();
    assert_eq!(ids, ["other-client", "sts.amazonaws.com"]);
}

#[tokio::test]
async fn trust_over_the_size_limit_is_refused_before_any_write() {
    let env = Env::start().await;
    // Statements until the document is just under IAM's 2,048 characters.
    let mut statements: Vec<Value> = Vec::new();
    let big = loop {
        let i = statements.len();
        statements.push(serde_json::json!({"Effect": "Allow", "Principal": {"Service": format!("svc-{i:03}.example.amazonaws.com")}, "Action": "sts:AssumeRole"}));
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        if doc.len() > 1900 {
            break doc;
        }
    };
    assert!(big.len() > 1500 && big.len() < 2048, "{}", big.len());
    env.iam
        .create_role()
        .role_name("amp-iamproxy-ingest-role")
        .assume_role_policy_document(big)
        .send()
        .await
        .expect("role");
    env.reset_calls();
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("quota of 2048"), "{out:?}");
    assert!(
        out.stdout.contains("Refused: nothing was written"),
        "{out:?}"
    );
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);
}

#[tokio::test]
async fn a_run_that_stopped_midway_is_finished_by_the_next() {
    let env = Env::start().await;
    // As if a run died after the provider, the policy and the role.
    let host = env.issuer_host().await;
    env.iam
        .create_open_id_connect_provider()
        .url(format!("https://{host}"))
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .expect("provider");
    env.iam
        .create_policy()
        .policy_name("AMPIngestPolicy")
        .policy_document(guide_ingest_policy())
        .send()
        .await
        .expect("policy");
    let dry = env
        .run(&["setup", "ingest", "--dry-run", "-o", "json"])
        .await;
    let planned: Vec<String> = dry.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "planned")
        .map(|c| c["resource"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        planned,
        ["namespace", "role", "attachment", "service_account"],
        "{dry:?}"
    );
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.run(&["status", "ingest"]).await.code, 0);
}

#[tokio::test]
async fn three_concurrent_setups_all_succeed_with_one_consistent_result() {
    let env = Env::start().await;
    let runs = futures::future::join_all((0..3).map(|_| env.run(&["setup"]))).await;
    for out in &runs {
        assert_eq!(out.code, 0, "{out:?}");
    }
    for role in ["amp-iamproxy-ingest-role", "amp-iamproxy-query-role"] {
        let trust = trust_of(&env, role).await;
        assert_eq!(
            trust["Statement"].as_array().map(Vec::len),
            Some(1),
            "one statement: {trust}"
        );
    }
    for policy in ["AMPIngestPolicy", "AMPQueryPolicy"] {
        let versions = env
            .iam
            .list_policy_versions()
            .policy_arn(policy_arn(policy))
            .send()
            .await
            .expect("versions");
        assert_eq!(
            versions.versions().len(),
            1,
            "no second version for a right document"
        );
    }
    env.reset_calls();
    let again = env.run(&["setup"]).await;
    assert!(again.stdout.contains("Nothing to do"), "{again:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn verbose_lists_every_call_and_never_a_secret() {
    let env = Env::start().await;
    let out = env.run(&["setup", "ingest", "-v"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "sts:GetCallerIdentity *: ok in",
        "iam:CreateRole amp-iamproxy-ingest-role: ok in",
        "iam:AttachRolePolicy amp-iamproxy-ingest-role",
        "kubernetes apply serviceaccounts prometheus/amp-iamproxy-ingest-service-account: ok in",
    ] {
        assert!(out.stderr.contains(needle), "{needle:?} missing: {out:?}");
    }
    assert!(
        !out.stderr.contains('\u{1b}'),
        "no colour codes off a terminal"
    );
    for secret in ["testing-secret-value", "k8s-aws-v1.e2e"] {
        assert!(
            !out.stderr.contains(secret) && !out.stdout.contains(secret),
            "{secret} printed: {out:?}"
        );
    }
}

#[tokio::test]
async fn missing_credentials_and_a_malformed_kubeconfig_are_one_clear_line() {
    let env = Env::start().await;
    let mut no_creds = env.command(&["status"]);
    no_creds
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let out = tokio::task::spawn_blocking(move || no_creds.output().expect("run"))
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sts:GetCallerIdentity") && stderr.contains("No valid AWS credentials"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    std::fs::write(env.kubeconfig(), "garbage: [").expect("write");
    let bad = env.run(&["setup"]).await;
    assert_eq!(bad.code, 2, "a kubeconfig error is a usage error: {bad:?}");
    assert!(bad.stderr.contains("cannot read kubeconfig"), "{bad:?}");
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{bad:?}");
    assert!(
        env.aws_calls().is_empty(),
        "no AWS call before the target is known"
    );
}

// ---------------------------------------------------------------------------
// Helm values and the operator policy (issue 7)

#[tokio::test]
async fn values_name_the_role_setup_made_in_the_contexts_region() {
    let env = Env::start().await;
    let setup = env.run(&["setup", "ingest", "-o", "json"]).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    let made = setup.json()["kinds"]["ingest"]["role_arn"].clone();

    // The account from STS, the region and namespace from the context, the
    // URL from the workspace's own endpoint.
    let ws = env.create_workspace("prod").await;
    env.reset_calls();
    let out = env.run(&["values", "--workspace", "prod"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_saphyr::from_str(&out.stdout).expect("YAML");
    assert_eq!(
        v["serviceAccounts"]["server"]["annotations"][ROLE_ARN],
        made
    );
    assert_eq!(v["serviceAccounts"]["server"]["name"], INGEST_SA);
    assert_eq!(
        v["server"]["remoteWrite"][0]["url"],
        format!(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{ws}/api/v1/remote_write"
        )
    );
    assert_eq!(
        v["server"]["remoteWrite"][0]["sigv4"]["region"],
        "us-east-1"
    );
    assert!(out.stderr.contains("-n prometheus"), "{out:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    // The caller and the workspace lookup go out together, in either order.
    assert!(env.aws_calls().contains(&"GetCallerIdentity".to_string()));

    // --account skips STS; permissions never calls AWS.
    env.reset_calls();
    let out = env.run(&["values", "--account", ACCOUNT]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("<WORKSPACE_ID>"), "{out:?}");
    let out = env.run(&["permissions", "--teardown"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.aws_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn status_exits_1_when_aws_cannot_be_reached() {
    let env = Env::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut cmd = env.command(&["status"]);
    cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"));
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Check network access to the AWS endpoint"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
