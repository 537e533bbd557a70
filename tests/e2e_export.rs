//! End-to-end (issue 14): `export` reads only what its documents need, writes
//! nothing, and its documents are the ones setup writes for the same input.
//! The built binary through the real `kubectl`, against moto and the stand-in.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/iam_reads.rs"]
mod iam_reads;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use harness::{Env, EnvOptions};
use iam_reads::*;
use serde_json::Value;

/// The exported objects of `kind`, by `spec.name`.
fn by_kind(list: &Value, kind: &str) -> Vec<Value> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["kind"] == kind)
        .cloned()
        .collect()
}

fn spec_json(o: &Value, field: &str) -> Value {
    serde_json::from_str(o["spec"][field].as_str().expect("a JSON string")).expect("JSON")
}

async fn same_documents_as_setup(env: &Env, mode: &[&str]) {
    let export = env.run(&[&["export", "-o", "json"], mode].concat()).await;
    assert_eq!(export.code, 0, "{export:?}");
    assert_eq!(
        env.aws_writes(),
        Vec::<String>::new(),
        "export writes nothing"
    );
    assert_eq!(env.kube.writes().await, 0);
    let list = export.json();

    let setup = env.run(&[&["setup"], mode].concat()).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    let roles = by_kind(&list, "Role");
    assert_eq!(roles.len(), 2, "{list}");
    for role in &roles {
        let name = role["spec"]["name"].as_str().unwrap();
        assert_eq!(
            spec_json(role, "assumeRolePolicyDocument"),
            trust_of(env, name).await,
            "the trust of {name}"
        );
    }
    let policies = by_kind(&list, "Policy");
    assert_eq!(policies.len(), 2, "{list}");
    for p in &policies {
        let name = p["spec"]["name"].as_str().unwrap();
        assert_eq!(
            spec_json(p, "policyDocument"),
            default_document(env, name).await,
            "the document of {name}"
        );
    }
}

#[tokio::test]
async fn irsa_export_has_setups_documents_and_writes_nothing() {
    let env = Env::start().await;
    same_documents_as_setup(&env, &[]).await;
    // The ServiceAccount annotation is setup's too.
    let export = env.run(&["export", "-o", "json"]).await;
    let accounts = by_kind(&export.json(), "ServiceAccount");
    let ingest = accounts
        .iter()
        .find(|a| a["metadata"]["name"] == INGEST_SA)
        .expect("the ingest account");
    assert_eq!(
        ingest["metadata"]["annotations"][ROLE_ARN].as_str(),
        annotation(&env, "prometheus", INGEST_SA).as_deref()
    );
}

#[tokio::test]
async fn pod_identity_export_has_setups_documents() {
    let env = Env::start_with(EnvOptions {
        addons: vec!["eks-pod-identity-agent".into()],
        ..EnvOptions::default()
    })
    .await;
    same_documents_as_setup(&env, &["--mode", "pod-identity"]).await;
    let export = env
        .run(&["export", "-o", "json", "--mode", "pod-identity"])
        .await;
    let list = export.json();
    assert_eq!(by_kind(&list, "PodIdentityAssociation").len(), 2, "{list}");
    assert!(by_kind(&list, "OpenIDConnectProvider").is_empty());
}

#[tokio::test]
async fn export_reads_only_the_caller_and_the_cluster() {
    let env = Env::start().await;
    env.reset_calls();
    let out = env.run(&["export"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("---\n"), "a YAML stream: {out:?}");
    let calls = env.aws_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().any(|c| c == "GetCallerIdentity"), "{calls:?}");
    assert!(
        calls.iter().any(|c| c.contains("clusters/demo")),
        "{calls:?}"
    );
    // Every document of the stream parses.
    for doc in out.stdout.split("\n---\n") {
        let doc = doc.trim_start_matches("---\n");
        let v: Value = serde_saphyr::from_str(doc).expect("YAML document");
        assert!(v["apiVersion"].is_string() && v["kind"].is_string(), "{v}");
    }
}
