//! End-to-end (issue 10): trustworthy on hostile but ordinary account states.
//! The built binary through the real `kubectl`, against moto and the API
//! stand-in (see tests/support/harness.rs). One test per case of the issue:
//! the wrong account, a co-owned annotation, a silent takeover, a shared
//! policy, inputs checked first, one document with `-o json`, trust size.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/iam_reads.rs"]
mod iam_reads;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use harness::{ACCOUNT, Env};
use iam_reads::*;
use serde_json::{Value, json};

const OTHER_ACCOUNT: &str = "111122223333";

// ---------------------------------------------------------------------------
// 1. The wrong account

#[tokio::test]
async fn credentials_for_another_account_than_the_context_are_refused_before_any_write() {
    let env = Env::start().await;
    // The context names cluster demo in 111122223333; the credentials (moto's)
    // are for 123456789012, which has a cluster demo too.
    let kubeconfig = std::fs::read_to_string(env.kubeconfig()).expect("read");
    std::fs::write(env.kubeconfig(), kubeconfig.replace(ACCOUNT, OTHER_ACCOUNT)).expect("write");
    env.reset_calls();

    let out = env.run(&["setup"]).await;
    assert_eq!(out.code, 4, "{out:?}");
    for needle in [
        OTHER_ACCOUNT,
        ACCOUNT,
        "AWS_ACCESS_KEY_ID in the environment",
        &format!("context arn:aws:eks:us-east-1:{OTHER_ACCOUNT}:cluster/demo"),
        "Nothing was written",
    ] {
        assert!(out.stderr.contains(needle), "{needle:?} in {out:?}");
    }
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);

    // The same with -o json: one document naming the error.
    let json = env.run(&["setup", "-o", "json"]).await;
    assert_eq!(json.code, 4, "{json:?}");
    let doc = json.json();
    assert_eq!(doc["error"]["kind"], "wrong_account");
    assert_eq!(doc["exit_code"], 4);
    assert_eq!(doc["cluster"], "demo");
    // status and teardown refuse the same way.
    assert_eq!(env.run(&["status"]).await.code, 4);
    assert_eq!(env.run(&["teardown"]).await.code, 4);
    assert_eq!(env.aws_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_context_whose_server_is_not_the_clusters_endpoint_is_warned_about() {
    let env = Env::start().await;
    let out = env.run(&["setup", "--dry-run"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    // The stand-in is not at the endpoint moto reports for demo.
    assert!(
        out.stdout.contains(&format!(
            "warning: the kubeconfig context's API server {} is not the endpoint EKS reports for cluster demo",
            env.kube.uri()
        )),
        "{out:?}"
    );
    assert!(out.stdout.contains(".eks.amazonaws.com"), "{out:?}");
}

// ---------------------------------------------------------------------------
// 2. Removal that really removes

#[tokio::test]
async fn teardown_removes_an_annotation_that_another_manager_also_set() {
    let env = Env::start().await;
    env.kube.put_service_account(
        "prometheus",
        INGEST_SA,
        &[],
        &[("app", "prometheus")],
        "helm",
    );
    // Someone ran `kubectl annotate` with the role setup is about to make:
    // the annotation is kubectl-annotate's, and setup has nothing to apply.
    let arn = role_arn(INGEST_ROLE);
    env.kube
        .annotate("prometheus", INGEST_SA, ROLE_ARN, &arn, "kubectl-annotate")
        .expect("annotate");
    let setup = env.run(&["setup", "ingest"]).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    let owners = env
        .kube
        .field_managers("prometheus", INGEST_SA)
        .expect("sa");
    assert_eq!(
        owners[&format!("annotations/{ROLE_ARN}")],
        ["kubectl-annotate".to_string()].into(),
        "{owners:?}"
    );

    // An empty server-side apply (what teardown did) would release nothing and
    // leave the annotation pointing at a deleted role.
    let out = env.run(&["teardown", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("updated: remove {ROLE_ARN}")),
        "{out:?}"
    );
    // Gone for real, and the account with Helm's label stays.
    assert_eq!(annotation(&env, "prometheus", INGEST_SA), None);
    let sa = env
        .kube
        .service_account("prometheus", INGEST_SA)
        .expect("kept");
    assert_eq!(sa["metadata"]["labels"]["app"], "prometheus");

    // Nothing left to do: the next teardown writes nothing to the cluster.
    let before = env.kube.writes().await;
    let again = env.run(&["teardown", "ingest"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(env.kube.writes().await, before, "{again:?}");
}

// ---------------------------------------------------------------------------
// 3. No silent takeover of a wider role

#[tokio::test]
async fn a_foreign_role_trusting_every_service_account_is_a_finding() {
    let env = Env::start().await;
    let (provider_arn, host) = provider(&env).await;
    let wide = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "AnyServiceAccount",
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {format!("{host}:sub"): "system:serviceaccount:*:*"}}
    }]});
    foreign_role(&env, INGEST_ROLE, &wide).await;

    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "warning: role {INGEST_ROLE}: Sid \"AnyServiceAccount\""
        )),
        "{out:?}"
    );
    assert!(out.stdout.contains("system:serviceaccount:*:*"), "{out:?}");

    let status = env.run(&["status", "ingest", "-o", "json"]).await;
    assert_eq!(status.code, 3, "{status:?}");
    let doc = status.json();
    assert_eq!(doc["in_sync"], false);
    let findings = doc["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["resource"] == "role"
            && f["name"] == INGEST_ROLE
            && f["statement"] == "Sid \"AnyServiceAccount\""),
        "{findings:?}"
    );
    let text = env.run(&["status", "ingest"]).await;
    assert_eq!(text.code, 3, "{text:?}");
    assert!(text.stdout.contains("finding: role"), "{text:?}");
}

#[tokio::test]
async fn a_foreign_role_trusting_another_account_is_a_finding() {
    let env = Env::start().await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{OTHER_ACCOUNT}:root")},
        "Action": "sts:AssumeRole"
    }]});
    foreign_role(&env, INGEST_ROLE, &trust).await;
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("warning: role {INGEST_ROLE}: statement #1"))
            && out.stdout.contains(OTHER_ACCOUNT),
        "{out:?}"
    );
    let status = env.run(&["status", "ingest"]).await;
    assert_eq!(status.code, 3, "{status:?}");
    assert!(status.stdout.contains(OTHER_ACCOUNT), "{status:?}");
}

// ---------------------------------------------------------------------------
// 4. No silent rewrite of a shared policy

#[tokio::test]
async fn a_foreign_policy_shared_with_other_roles_is_refused_and_overwrite_cleans_its_versions() {
    let env = Env::start().await;
    let wide = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["aps:*", "iam:*"], "Resource": "*"}
    ]});
    env.iam
        .create_policy()
        .policy_name(INGEST_POLICY)
        .policy_document(wide.to_string())
        .send()
        .await
        .expect("policy");
    foreign_role(
        &env,
        "billing-exporter",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )
    .await;
    env.iam
        .attach_role_policy()
        .role_name("billing-exporter")
        .policy_arn(policy_arn(INGEST_POLICY))
        .send()
        .await
        .expect("attach");
    env.reset_calls();

    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("role billing-exporter"), "{out:?}");
    assert!(out.stderr.contains("--overwrite"), "{out:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);

    let status = env.run(&["status", "ingest", "-o", "json"]).await;
    assert_eq!(status.code, 3, "{status:?}");
    let doc = status.json();
    let finding = doc["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["resource"] == "policy"))
        .cloned()
        .expect("a policy finding");
    let risk = finding["risk"].as_str().unwrap_or_default();
    assert!(
        risk.contains("billing-exporter") && risk.contains("iam:*"),
        "{finding}"
    );

    // With --overwrite: the recipe becomes the default, and the iam:* version goes.
    let over = env.run(&["setup", "ingest", "--overwrite"]).await;
    assert_eq!(over.code, 0, "{over:?}");
    let doc = default_document(&env, INGEST_POLICY).await;
    assert_eq!(
        doc["Statement"][0]["Action"],
        json!([
            "aps:RemoteWrite",
            "aps:GetSeries",
            "aps:GetLabels",
            "aps:GetMetricMetadata"
        ])
    );
    let left = versions(&env, INGEST_POLICY).await;
    assert_eq!(left.len(), 1, "the wider version is deleted: {left:?}");
    assert!(left[0].1);
}

// ---------------------------------------------------------------------------
// 5. Every input checked before the first write

#[tokio::test]
async fn bad_tags_and_boundaries_fail_with_exit_2_before_any_call() {
    let env = Env::start().await;
    let many: Vec<String> = (0..49).map(|i| format!("t{i}=v")).collect();
    let mut args = vec!["setup"];
    for t in &many {
        args.extend(["--tag", t.as_str()]);
    }
    for (case, argv) in [
        ("49 tags + 2 of the tool's", args.clone()),
        ("aws: prefix", vec!["setup", "--tag", "aws:team=obs"]),
        ("value characters", vec!["setup", "--tag", "team=a#b"]),
        (
            "boundary syntax",
            vec!["setup", "--permissions-boundary", "not-an-arn"],
        ),
    ] {
        env.reset_calls();
        let out = env.run(&argv).await;
        assert_eq!(out.code, 2, "{case}: {out:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{case}: {out:?}");
        assert_eq!(env.aws_calls(), Vec::<String>::new(), "{case}");
    }
    assert_eq!(env.kube.writes().await, 0);

    // A boundary that does not exist is found in the observe round: no write.
    env.reset_calls();
    let out = env
        .run(&[
            "setup",
            "--permissions-boundary",
            &format!("arn:aws:iam::{ACCOUNT}:policy/no-such-boundary"),
        ])
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("no-such-boundary"), "{out:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);
}

#[tokio::test]
async fn a_malformed_kubeconfig_or_a_directory_exits_2() {
    let env = Env::start().await;
    std::fs::write(env.kubeconfig(), "garbage: [").expect("write");
    let bad = env.run(&["setup"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{bad:?}");

    let dir = env.dir.path().join("kubeconfig-dir");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut cmd = env.command(&["status", "-o", "json"]);
    cmd.env("KUBECONFIG", &dir);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["error"]["kind"], "kubeconfig");
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(env.aws_calls(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// 6. One document on stdout, failures included

#[tokio::test]
async fn json_output_is_one_document_on_early_failures() {
    let env = Env::start().await;
    let missing = env
        .run(&[
            "setup",
            "--cluster",
            "nope",
            "--region",
            "us-east-1",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    let doc = missing.json();
    assert_eq!(doc["error"]["kind"], "cluster_not_found");
    assert_eq!(doc["error"]["resource"], "eks cluster nope in us-east-1");
    assert_eq!(doc["cluster"], "nope");
    assert_eq!(doc["region"], "us-east-1");
    assert_eq!(doc["account"], ACCOUNT);
    assert_eq!(doc["exit_code"], 1);

    let usage = env.run(&["setup", "ingets", "-o", "json"]).await;
    assert_eq!(usage.code, 2, "{usage:?}");
    let doc = usage.json();
    assert_eq!(doc["error"]["kind"], "usage");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ingets")),
        "{doc}"
    );
    let yaml = env.run(&["status", "--bogus", "-o", "yaml"]).await;
    assert_eq!(yaml.code, 2, "{yaml:?}");
    let doc: Value = serde_saphyr::from_str(&yaml.stdout).expect("one YAML document");
    assert_eq!(doc["error"]["kind"], "usage");

    // A refusal prints the plan with its error: still one document.
    env.kube.put_service_account(
        "prometheus",
        INGEST_SA,
        &[(ROLE_ARN, "arn:aws:iam::123456789012:role/someone-elses")],
        &[],
        "eksctl",
    );
    let refused = env.run(&["setup", "ingest", "-o", "json"]).await;
    assert_eq!(refused.code, 4, "{refused:?}");
    let doc = refused.json();
    assert_eq!(doc["error"]["kind"], "refused");
    assert_eq!(doc["exit_code"], 4);
    assert!(doc["changes"].is_array());
}

// ---------------------------------------------------------------------------
// 7. Trust size: compacted, and judged by the account's real quota

/// `n` other ServiceAccounts of this cluster, in one statement as the tool
/// compacts them.
fn shared_trust(provider_arn: &str, host: &str, n: usize) -> Value {
    let subs: Vec<String> = (0..n)
        .map(|i| format!("system:serviceaccount:team-{i:02}:{INGEST_SA}"))
        .collect();
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{host}:sub"): subs, format!("{host}:aud"): "sts.amazonaws.com"}}
    }]})
}

#[tokio::test]
async fn a_shared_role_gains_this_service_account_in_its_subject_list() {
    let env = Env::start().await;
    let (provider_arn, host) = provider(&env).await;
    // ~1,730 characters: a statement of its own (~330) would not fit.
    let trust = shared_trust(&provider_arn, &host, 19);
    let size = trust.to_string().len();
    assert!(size > 1650 && size < 2048 - 300, "{size}");
    tagged_role(&env, INGEST_ROLE, &trust).await;

    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let after = trust_of(&env, INGEST_ROLE).await;
    assert_eq!(
        after["Statement"].as_array().map(Vec::len),
        Some(1),
        "{after}"
    );
    let subs = &after["Statement"][0]["Condition"]["StringEquals"][format!("{host}:sub")];
    assert_eq!(subs.as_array().map(Vec::len), Some(20), "{after}");
    assert_eq!(
        subs[19],
        format!("system:serviceaccount:prometheus:{INGEST_SA}")
    );
    assert!(!env.aws_calls().iter().any(|c| c == "GetAccountSummary"));
}

/// A role of ours whose trust with this ServiceAccount added is ~2,300 characters.
async fn nearly_full_role(env: &Env) {
    let statements: Vec<Value> = (0..19)
        .map(|i| json!({"Effect": "Allow", "Principal": {"Service": format!("svc-{i:03}.example.amazonaws.com")}, "Action": "sts:AssumeRole"}))
        .collect();
    let trust = json!({"Version": "2012-10-17", "Statement": statements});
    let size = trust.to_string().len();
    assert!(size > 1800 && size < 2048, "{size}");
    tagged_role(env, INGEST_ROLE, &trust).await;
}

#[tokio::test]
async fn a_trust_over_the_default_quota_is_refused_naming_the_accounts_quota() {
    let env = Env::start().await;
    nearly_full_role(&env).await;
    env.reset_calls();
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("quota of 2048"), "{out:?}");
    assert!(out.stderr.contains("Role trust policy length"), "{out:?}");
    assert!(env.aws_calls().iter().any(|c| c == "GetAccountSummary"));
    assert_eq!(env.aws_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_raised_trust_quota_lets_a_larger_trust_through() {
    let env = Env::start_with_trust_quota(4096).await;
    nearly_full_role(&env).await;
    let out = env.run(&["setup", "ingest"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let after = trust_of(&env, INGEST_ROLE).await;
    assert!(after.to_string().len() > 2048, "{after}");
    assert_eq!(env.run(&["status", "ingest"]).await.code, 0);
}
