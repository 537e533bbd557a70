//! End-to-end (issue 12): EKS Pod Identity beside IRSA, and the migration
//! between them. The built binary through the real `kubectl`, against moto
//! (with the Pod Identity association and add-on APIs emulated in front of it,
//! tests/support/moto_server.py) and the Kubernetes API stand-in.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/iam_reads.rs"]
mod iam_reads;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use harness::{ACCOUNT, CLUSTER, Env, EnvOptions};
use iam_reads::*;
use serde_json::Value;

const NS: &str = "prometheus";
const AGENT: &str = "eks-pod-identity-agent";
const PI: [&str; 2] = ["--mode", "pod-identity"];

async fn with_agent() -> Env {
    Env::start_with(EnvOptions {
        addons: vec![AGENT.to_string()],
        ..EnvOptions::default()
    })
    .await
}

fn args<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    [base, extra].concat()
}

/// (association id, role ARN, tags) of the ServiceAccount's associations.
async fn associations(env: &Env, sa: &str) -> Vec<(String, String, Vec<String>)> {
    let list = env
        .eks
        .list_pod_identity_associations()
        .cluster_name(CLUSTER)
        .namespace(NS)
        .service_account(sa)
        .send()
        .await
        .expect("list associations");
    let mut out = Vec::new();
    for s in list.associations() {
        let id = s.association_id().unwrap_or_default().to_string();
        let d = env
            .eks
            .describe_pod_identity_association()
            .cluster_name(CLUSTER)
            .association_id(&id)
            .send()
            .await
            .expect("describe association");
        let a = d.association().expect("association");
        let tags = a
            .tags()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        out.push((id, a.role_arn().unwrap_or_default().to_string(), tags));
    }
    out
}

fn pod_identity_statements(trust: &Value) -> Vec<Value> {
    trust["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Principal"]["Service"] == "pods.eks.amazonaws.com")
        .cloned()
        .collect()
}

fn irsa_statements(trust: &Value) -> usize {
    trust["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Principal"]["Federated"].is_string())
        .count()
}

async fn oidc_providers(env: &Env) -> usize {
    env.iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("providers")
        .open_id_connect_provider_list()
        .len()
}

#[tokio::test]
async fn a_fresh_pod_identity_setup_needs_no_oidc_provider_and_a_rerun_writes_nothing() {
    let env = with_agent().await;
    let out = env.run(&args(&["setup", "ingest"], &PI)).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(oidc_providers(&env).await, 0, "no OIDC provider: {out:?}");

    let trust = trust_of(&env, INGEST_ROLE).await;
    let pi = pod_identity_statements(&trust);
    assert_eq!(pi.len(), 1, "{trust}");
    let st = &pi[0];
    assert_eq!(
        st["Action"],
        serde_json::json!(["sts:AssumeRole", "sts:TagSession"])
    );
    let eq = &st["Condition"]["StringEquals"];
    assert_eq!(eq["aws:SourceAccount"], ACCOUNT);
    assert_eq!(
        eq["aws:RequestTag/eks-cluster-arn"],
        format!("arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{CLUSTER}")
    );
    assert_eq!(eq["aws:RequestTag/kubernetes-namespace"], NS);
    assert_eq!(eq["aws:RequestTag/kubernetes-service-account"], INGEST_SA);
    assert_eq!(
        attached(&env, INGEST_ROLE).await,
        [policy_arn(INGEST_POLICY)]
    );

    let found = associations(&env, INGEST_SA).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, role_arn(INGEST_ROLE));
    assert!(
        found[0].2.contains(&MANAGED_BY.to_string()),
        "tagged: {found:?}"
    );
    // The ServiceAccount exists, without an IRSA annotation.
    assert!(env.kube.service_account(NS, INGEST_SA).is_some());
    assert_eq!(annotation(&env, NS, INGEST_SA), None);

    env.reset_calls();
    let kube_before = env.kube.writes().await;
    let again = env.run(&args(&["setup", "ingest"], &PI)).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{again:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, kube_before);
    let status = env.run(&args(&["status", "ingest"], &PI)).await;
    assert_eq!(status.code, 0, "{status:?}");
}

#[tokio::test]
async fn an_association_to_another_role_is_refused_before_any_write_unless_overwrite() {
    let env = with_agent().await;
    foreign_role(
        &env,
        "someone-elses",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}),
    )
    .await;
    env.eks
        .create_pod_identity_association()
        .cluster_name(CLUSTER)
        .namespace(NS)
        .service_account(INGEST_SA)
        .role_arn(role_arn("someone-elses"))
        .send()
        .await
        .expect("seed association");
    env.reset_calls();

    let out = env.run(&args(&["setup", "ingest"], &PI)).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains("someone-elses") && out.stderr.contains("--overwrite"),
        "{out:?}"
    );
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert_eq!(env.kube.writes().await, 0);

    let over = env
        .run(&args(&["setup", "ingest", "--overwrite"], &PI))
        .await;
    assert_eq!(over.code, 0, "{over:?}");
    let found = associations(&env, INGEST_SA).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, role_arn(INGEST_ROLE), "repointed");
}

#[tokio::test]
async fn a_missing_agent_is_a_finding_and_install_agent_creates_it() {
    let env = Env::start().await;
    let out = env.run(&args(&["setup", "ingest"], &PI)).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(&format!("addon {AGENT}")), "{out:?}");
    assert!(out.stdout.contains("--install-agent"), "{out:?}");
    let status = env
        .run(&args(&["status", "ingest", "-o", "json"], &PI))
        .await;
    assert_eq!(status.code, 3, "{status:?}");
    assert!(
        status.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["resource"] == "addon" && f["name"] == AGENT),
        "{status:?}"
    );
    let install = env
        .run(&args(&["setup", "ingest", "--install-agent"], &PI))
        .await;
    assert_eq!(install.code, 0, "{install:?}");
    assert!(
        install
            .stdout
            .contains("created: not installed (--install-agent)"),
        "{install:?}"
    );
    let status = env.run(&args(&["status", "ingest"], &PI)).await;
    assert_eq!(status.code, 0, "{status:?}");
}

#[tokio::test]
async fn an_irsa_annotation_and_a_fargate_profile_are_warned_about() {
    let env = with_agent().await;
    env.eks
        .create_fargate_profile()
        .cluster_name(CLUSTER)
        .fargate_profile_name("monitoring")
        .pod_execution_role_arn(role_arn("AmazonEKSFargatePodExecutionRole"))
        .selectors(
            aws_sdk_eks::types::FargateProfileSelector::builder()
                .namespace(NS)
                .build(),
        )
        .send()
        .await
        .expect("fargate profile");
    env.kube.put_service_account(
        NS,
        INGEST_SA,
        &[(ROLE_ARN, &role_arn(INGEST_ROLE))],
        &[],
        "eksctl",
    );
    let out = env.run(&args(&["setup", "ingest"], &PI)).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("IRSA wins"), "{out:?}");
    assert!(
        out.stdout.contains("migrate ingest --to pod-identity"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("Fargate profile monitoring selects namespace prometheus"),
        "{out:?}"
    );
    // Setup leaves the annotation: only migrate removes it.
    assert_eq!(annotation(&env, NS, INGEST_SA), Some(role_arn(INGEST_ROLE)));
}

#[tokio::test]
async fn migrate_to_pod_identity_and_back_resumes_after_an_interruption() {
    let env = with_agent().await;
    let irsa = env.run(&["setup", "ingest"]).await;
    assert_eq!(irsa.code, 0, "{irsa:?}");

    // Interrupted: the API server keeps failing the annotation's removal.
    env.kube.fail_next("PATCH", 500, 4);
    let broken = env
        .run(&["migrate", "ingest", "--to", "pod-identity", "--dry-run"])
        .await;
    assert_eq!(broken.code, 0, "{broken:?}");
    assert!(broken.stdout.contains("would create"), "{broken:?}");
    let broken = env
        .run(&["migrate", "ingest", "--to", "pod-identity"])
        .await;
    assert_eq!(broken.code, 1, "{broken:?}");
    // The new mode is in place before the old one goes.
    assert_eq!(associations(&env, INGEST_SA).await.len(), 1);
    let trust = trust_of(&env, INGEST_ROLE).await;
    assert_eq!(pod_identity_statements(&trust).len(), 1, "{trust}");
    assert_eq!(annotation(&env, NS, INGEST_SA), Some(role_arn(INGEST_ROLE)));

    // Resumed: only what is left.
    let resumed = env
        .run(&[
            "migrate",
            "ingest",
            "--to",
            "pod-identity",
            "--remove-old-trust",
        ])
        .await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert_eq!(annotation(&env, NS, INGEST_SA), None);
    let trust = trust_of(&env, INGEST_ROLE).await;
    assert_eq!(irsa_statements(&trust), 0, "IRSA trust removed: {trust}");
    assert_eq!(pod_identity_statements(&trust).len(), 1);
    assert_eq!(env.run(&args(&["status", "ingest"], &PI)).await.code, 0);
    env.reset_calls();
    let again = env
        .run(&["migrate", "ingest", "--to", "pod-identity"])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        env.aws_writes(),
        Vec::<String>::new(),
        "re-runnable: {again:?}"
    );

    // And back to IRSA, interrupted at the annotation, then resumed.
    env.kube.fail_next("PATCH", 500, 4);
    let broken = env.run(&["migrate", "ingest", "--to", "irsa"]).await;
    assert_eq!(broken.code, 1, "{broken:?}");
    assert_eq!(
        associations(&env, INGEST_SA).await.len(),
        1,
        "kept until the annotation is there"
    );
    let back = env
        .run(&["migrate", "ingest", "--to", "irsa", "--remove-old-trust"])
        .await;
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(annotation(&env, NS, INGEST_SA), Some(role_arn(INGEST_ROLE)));
    assert!(associations(&env, INGEST_SA).await.is_empty(), "{back:?}");
    let trust = trust_of(&env, INGEST_ROLE).await;
    assert_eq!(pod_identity_statements(&trust).len(), 0, "{trust}");
    assert_eq!(irsa_statements(&trust), 1, "{trust}");
    assert_eq!(env.run(&["status", "ingest"]).await.code, 0);
}

#[tokio::test]
async fn teardown_in_pod_identity_mode_removes_only_what_it_made() {
    let env = with_agent().await;
    let setup = env.run(&args(&["setup"], &PI)).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    // An association someone else made for the query ServiceAccount stays.
    let query = associations(&env, QUERY_SA).await;
    env.eks
        .delete_pod_identity_association()
        .cluster_name(CLUSTER)
        .association_id(&query[0].0)
        .send()
        .await
        .expect("delete");
    env.eks
        .create_pod_identity_association()
        .cluster_name(CLUSTER)
        .namespace(NS)
        .service_account(QUERY_SA)
        .role_arn(role_arn("amp-iamproxy-query-role"))
        .send()
        .await
        .expect("theirs");

    let out = env.run(&args(&["teardown"], &PI)).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(associations(&env, INGEST_SA).await.is_empty(), "{out:?}");
    assert_eq!(
        associations(&env, QUERY_SA).await.len(),
        1,
        "not ours: {out:?}"
    );
    assert!(
        env.iam
            .get_role()
            .role_name(INGEST_ROLE)
            .send()
            .await
            .is_err(),
        "the ingest role trusted nothing else"
    );
    assert!(env.kube.service_account(NS, INGEST_SA).is_none());
    // The query role stays: someone else's association still binds it.
    assert!(
        env.iam
            .get_role()
            .role_name("amp-iamproxy-query-role")
            .send()
            .await
            .is_ok(),
        "{out:?}"
    );
    assert!(out.stdout.contains("still binds it"), "{out:?}");
    let status = env.run(&args(&["status", "ingest"], &PI)).await;
    assert_eq!(status.code, 3, "{status:?}");
}
