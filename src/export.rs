//! `export`: what setup would make, as manifests for ACK (AWS Controllers for
//! Kubernetes) and the ServiceAccounts, for teams that declare IAM in Git.
//!
//! Not a second copy of the recipe: export plans with [`crate::plan::setup`]
//! against the observation of an account that has none of it yet, and
//! renders that plan's create operations, so names, documents and tags are
//! exactly setup's.

use crate::arn::{self, Account};
use crate::aws::{Caller, EksCluster, Tags};
use crate::observe::Observed;
use crate::plan::{Op, Plan};
use crate::recipe::Desired;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const IAM: &str = "iam.services.k8s.aws/v1alpha1";
const EKS: &str = "eks.services.k8s.aws/v1alpha1";

/// The observation of an account and cluster where nothing of the recipe
/// exists yet: the plan is then everything setup would create.
pub fn fresh_observation(desired: &Desired, account: &Account, cluster: EksCluster) -> Observed {
    let issuer_host = cluster
        .issuer
        .as_deref()
        .map(arn::issuer_host_path)
        .unwrap_or_default()
        .to_string();
    let roles = desired
        .irsa
        .iter()
        .map(|s| s.role_name.clone())
        .chain(desired.fargate.iter().map(|f| f.role_name.clone()))
        .map(|name| (name, None))
        .collect();
    Observed {
        caller: Caller {
            account: account.id.clone(),
            arn: format!("arn:{}:iam::{}:root", account.partition, account.id),
        },
        account: account.clone(),
        cluster,
        issuer_host,
        oidc_provider: None,
        roles,
        policies: desired
            .irsa
            .iter()
            .map(|s| (s.policy_name.clone(), None))
            .collect(),
        // The namespace is the workload's, declared with it in Git.
        namespace_exists: Some(true),
        service_accounts: desired
            .irsa
            .iter()
            .map(|s| (s.service_account.clone(), None))
            .collect(),
        nodegroup_roles: Vec::new(),
        role_trusts: None,
        trust_quota: None,
        workspace: None,
        pods: Vec::new(),
        pod_owners: BTreeMap::new(),
        associations: BTreeMap::new(),
        agent: None,
        fargate_selectors: Vec::new(),
    }
}

/// A Kubernetes object name for `name` of `cluster`: DNS-1123 (lowercase
/// letters, digits, '-'), unique per cluster in a fleet's stream.
fn object_name(cluster: &str, name: &str) -> String {
    let raw = format!("{cluster}-{name}").to_ascii_lowercase();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out: String = out.trim_matches('-').chars().take(253).collect();
    out.trim_end_matches('-').to_string()
}

fn iam_tags(tags: &Tags) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

fn object(
    api_version: &str,
    kind: &str,
    name: String,
    namespace: Option<&str>,
    spec: Value,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), Value::String(ns.to_string()));
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
}

/// The plan's create operations as ACK objects and ServiceAccounts, in
/// dependency order (provider, policies, roles, associations, accounts).
/// `namespace` is where the ACK objects go (None: the applier's default).
pub fn ack_objects(plan: &Plan, namespace: Option<&str>) -> Vec<Value> {
    let cluster = plan.cluster.as_str();
    let ops: Vec<&Op> = plan.changes.iter().filter_map(|c| c.op.as_ref()).collect();
    // Policy ARN → the Policy object that makes it.
    let policy_objects: BTreeMap<&str, String> = ops
        .iter()
        .filter_map(|op| match op {
            Op::CreatePolicy { arn, name, .. } => Some((arn.as_str(), object_name(cluster, name))),
            _ => None,
        })
        .collect();
    let role_objects: BTreeMap<String, String> = ops
        .iter()
        .filter_map(|op| match op {
            Op::CreateRole { role, .. } => {
                Some((role.name.clone(), object_name(cluster, &role.name)))
            }
            _ => None,
        })
        .collect();

    let mut providers = Vec::new();
    let mut policies = Vec::new();
    let mut roles = Vec::new();
    let mut associations = Vec::new();
    let mut accounts = Vec::new();
    for op in &ops {
        match op {
            Op::CreateOidcProvider {
                url,
                client_id,
                tags,
                ..
            } => providers.push(object(
                IAM,
                "OpenIDConnectProvider",
                object_name(cluster, "oidc-provider"),
                namespace,
                json!({"url": url, "clientIDs": [client_id], "tags": iam_tags(tags)}),
            )),
            Op::CreatePolicy {
                name,
                path,
                document,
                tags,
                ..
            } => policies.push(object(
                IAM,
                "Policy",
                object_name(cluster, name),
                namespace,
                json!({"name": name, "path": path, "policyDocument": document, "tags": iam_tags(tags)}),
            )),
            Op::CreateRole { role, .. } => {
                // The role's attachments: ours by reference, AWS managed by ARN.
                let attached: Vec<&str> = ops
                    .iter()
                    .filter_map(|o| match o {
                        Op::AttachPolicy { role: r, policy_arn } if *r == role.name => {
                            Some(policy_arn.as_str())
                        }
                        _ => None,
                    })
                    .collect();
                let refs: Vec<Value> = attached
                    .iter()
                    .filter_map(|a| policy_objects.get(a))
                    .map(|n| json!({"from": {"name": n}}))
                    .collect();
                let managed: Vec<&str> = attached
                    .iter()
                    .filter(|a| !policy_objects.contains_key(*a))
                    .copied()
                    .collect();
                let mut spec = json!({
                    "name": role.name,
                    "path": role.path,
                    "description": role.description,
                    "assumeRolePolicyDocument": role.trust_policy,
                    "tags": iam_tags(&role.tags),
                });
                if let Value::Object(m) = &mut spec {
                    if !refs.is_empty() {
                        m.insert("policyRefs".into(), Value::Array(refs));
                    }
                    if !managed.is_empty() {
                        m.insert("policies".into(), json!(managed));
                    }
                    if let Some(b) = &role.permissions_boundary {
                        m.insert("permissionsBoundary".into(), json!(b));
                    }
                }
                roles.push(object(IAM, "Role", object_name(cluster, &role.name), namespace, spec));
            }
            Op::CreateAssociation {
                cluster: eks_cluster,
                namespace: sa_namespace,
                service_account,
                role_arn,
                tags,
            } => {
                let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
                let mut spec = json!({
                    "clusterName": eks_cluster,
                    "namespace": sa_namespace,
                    "serviceAccount": service_account,
                    "tags": tags,
                });
                if let Value::Object(m) = &mut spec {
                    match role_objects.get(role_name) {
                        Some(obj) => m.insert("roleRef".into(), json!({"from": {"name": obj}})),
                        None => m.insert("roleARN".into(), json!(role_arn)),
                    };
                }
                associations.push(object(
                    EKS,
                    "PodIdentityAssociation",
                    object_name(cluster, &format!("{sa_namespace}-{service_account}")),
                    namespace,
                    spec,
                ));
            }
            Op::ApplyServiceAccount {
                namespace: sa_namespace,
                name,
                annotations,
                labels,
            } => {
                let mut metadata = Map::new();
                metadata.insert("name".into(), json!(name));
                metadata.insert("namespace".into(), json!(sa_namespace));
                if !annotations.is_empty() {
                    metadata.insert("annotations".into(), json!(annotations));
                }
                if !labels.is_empty() {
                    metadata.insert("labels".into(), json!(labels));
                }
                accounts.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}));
            }
            // Attachments are in the roles; nothing else is created by a
            // fresh plan that a controller here reconciles.
            _ => {}
        }
    }
    providers
        .into_iter()
        .chain(policies)
        .chain(roles)
        .chain(associations)
        .chain(accounts)
        .collect()
}

/// `-o json`: one `List`.
pub fn as_list(objects: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "items": objects})
}

/// The default: a multi-document YAML stream.
pub fn as_yaml_stream(objects: &[Value]) -> crate::Result<String> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&crate::output::to_yaml(o)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_1123_and_per_cluster() {
        assert_eq!(
            object_name("demo", "AMPIngestPolicy"),
            "demo-ampingestpolicy"
        );
        assert_eq!(object_name("Prod_EU", "amp--x//y"), "prod-eu-amp-x-y");
        assert!(object_name("c", &"a".repeat(400)).len() <= 253);
        assert_eq!(object_name("-", "-"), "");
    }
}
