//! Reading back what the tool wrote, from moto and the stand-in, for the
//! end-to-end tests. Include with
//! `#[path = "support/iam_reads.rs"] mod iam_reads;` after `harness`.
#![allow(dead_code)]

use crate::harness::{ACCOUNT, Env};
use serde_json::Value;

pub const INGEST_SA: &str = "amp-iamproxy-ingest-service-account";
pub const QUERY_SA: &str = "amp-iamproxy-query-service-account";
pub const INGEST_ROLE: &str = "amp-iamproxy-ingest-role";
pub const INGEST_POLICY: &str = "AMPIngestPolicy";
pub const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

/// IAM returns documents URL-encoded.
pub fn decode(doc: &str) -> Value {
    let text = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    serde_json::from_str(&text).expect("policy JSON")
}

pub async fn trust_of(env: &Env, role: &str) -> Value {
    let r = env
        .iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("get role");
    decode(
        r.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("trust"),
    )
}

pub async fn attached(env: &Env, role: &str) -> Vec<String> {
    let out = env
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list attached");
    out.attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

/// Version ids of a policy, with which is the default.
pub async fn versions(env: &Env, policy: &str) -> Vec<(String, bool)> {
    let out = env
        .iam
        .list_policy_versions()
        .policy_arn(policy_arn(policy))
        .send()
        .await
        .expect("list versions");
    out.versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_string(),
                v.is_default_version(),
            )
        })
        .collect()
}

pub async fn default_document(env: &Env, policy: &str) -> Value {
    let arn = policy_arn(policy);
    let p = env
        .iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("get policy");
    let v = p
        .policy()
        .and_then(|p| p.default_version_id())
        .expect("default version")
        .to_string();
    let pv = env
        .iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(v)
        .send()
        .await
        .expect("version");
    decode(
        pv.policy_version()
            .and_then(|v| v.document())
            .expect("document"),
    )
}

/// A role made by someone else (no managed-by tag), with this trust.
pub async fn foreign_role(env: &Env, name: &str, trust: &Value) {
    env.iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role");
}

/// A role as this tool tags it, with this trust.
pub async fn tagged_role(env: &Env, name: &str, trust: &Value) {
    env.iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(MANAGED_BY)
                .value("kubectl-amp-iam")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("create role");
}

pub fn annotation(env: &Env, ns: &str, sa: &str) -> Option<String> {
    env.kube.service_account(ns, sa)?["metadata"]["annotations"][ROLE_ARN]
        .as_str()
        .map(str::to_string)
}

/// The provider ARN and condition-key prefix of the harness cluster.
pub async fn provider(env: &Env) -> (String, String) {
    let host = env.issuer_host().await;
    (format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"), host)
}
