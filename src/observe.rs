//! Reading the current state of AWS and the cluster, concurrently.
//!
//! Two rounds at most. The first needs only names the run already knows:
//! caller, cluster, the account's OIDC providers and local policies, each role
//! with its attachments, the namespace and ServiceAccounts, node group roles.
//! The second needs the first: the matching provider's client ids, and each
//! existing policy's default document and versions.

use crate::arn::{self, Account};
use crate::aws::{
    AttachedPolicy, Aws, Caller, EksCluster, NodegroupRole, OidcProvider, PolicySummary,
    PolicyVersion, Role, RoleTrust, Tags,
};
use crate::cluster::{Cluster, ServiceAccount};
use crate::error::{Error, Result};
use crate::policy::IrsaSubject;
use crate::recipe::Desired;
use futures::future::{OptionFuture, try_join_all};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a run needs to read beyond the recipe's own resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// Policy tags (teardown decides ownership by them).
    pub policy_tags: bool,
    /// Every role's trust (teardown of the OIDC provider).
    pub role_trusts: bool,
}

#[derive(Debug, Clone)]
pub struct ObservedRole {
    pub role: Role,
    /// The parsed trust policy.
    pub trust: Value,
    pub attached: Vec<AttachedPolicy>,
}

#[derive(Debug, Clone)]
pub struct ObservedPolicy {
    pub summary: PolicySummary,
    pub document: Value,
    pub versions: Vec<PolicyVersion>,
    pub tags: Tags,
}

#[derive(Debug, Clone)]
pub struct Observed {
    pub caller: Caller,
    pub account: Account,
    pub cluster: EksCluster,
    /// The issuer without `https://`.
    pub issuer_host: String,
    pub oidc_provider: Option<OidcProvider>,
    /// By role name; absent roles map to None.
    pub roles: BTreeMap<String, Option<ObservedRole>>,
    /// By policy name; absent policies map to None.
    pub policies: BTreeMap<String, Option<ObservedPolicy>>,
    /// None when the run does not touch the cluster (Fargate only).
    pub namespace_exists: Option<bool>,
    /// By ServiceAccount name, in the target namespace.
    pub service_accounts: BTreeMap<String, Option<ServiceAccount>>,
    pub nodegroup_roles: Vec<NodegroupRole>,
    pub role_trusts: Option<Vec<RoleTrust>>,
}

impl Observed {
    /// The cluster's IAM OIDC provider ARN: the existing one, or the one IAM will give it.
    pub fn provider_arn(&self) -> String {
        self.oidc_provider
            .as_ref()
            .map(|p| p.arn.clone())
            .unwrap_or_else(|| self.account.oidc_provider(&self.issuer_host))
    }

    /// A ServiceAccount of this cluster, as a role trust subject.
    pub fn irsa_subject(&self, namespace: &str, service_account: &str) -> IrsaSubject {
        IrsaSubject {
            provider_arn: self.provider_arn(),
            host_path: self.issuer_host.clone(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        }
    }
}

fn parse_document(text: &str, what: &'static str, resource: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::BadDocument {
        what,
        resource: resource.to_string(),
        reason: e.to_string(),
    })
}

/// Reads everything `desired` is about. The cluster edge is needed only when
/// the run has IRSA kinds (ServiceAccounts live in the cluster).
pub async fn observe<A: Aws, C: Cluster>(
    aws: &A,
    cluster: Option<&C>,
    desired: &Desired,
    extras: Extras,
) -> Result<Observed> {
    let role_names: Vec<&str> = desired
        .irsa
        .iter()
        .map(|s| s.role_name.as_str())
        .chain(desired.fargate.iter().map(|f| f.role_name.as_str()))
        .collect();
    let policy_names: Vec<&str> = desired
        .irsa
        .iter()
        .map(|s| s.policy_name.as_str())
        .collect();
    let sa_names: Vec<&str> = desired
        .irsa
        .iter()
        .map(|s| s.service_account.as_str())
        .collect();
    let irsa = !desired.irsa.is_empty();
    let ns = desired.namespace.as_str();

    // Round one: nothing here needs the account id or the issuer.
    let roles = try_join_all(role_names.iter().map(|&name| async move {
        let (role, attached) = futures::try_join!(aws.role(name), aws.attached_policies(name))?;
        let observed = match role {
            Some(role) => {
                let trust = parse_document(&role.trust_policy, "trust policy", &role.arn)?;
                Some(ObservedRole {
                    role,
                    trust,
                    attached,
                })
            }
            None => None,
        };
        Ok::<_, Error>((name.to_string(), observed))
    }));
    let k8s = async {
        match cluster.filter(|_| irsa) {
            None => Ok((None, Vec::new())),
            Some(c) => {
                let accounts = try_join_all(sa_names.iter().map(|&sa| async move {
                    Ok::<_, Error>((sa.to_string(), c.service_account(ns, sa).await?))
                }));
                let (exists, accounts) = futures::try_join!(
                    async { Ok::<_, Error>(c.namespace_exists(ns).await?) },
                    accounts
                )?;
                Ok((Some(exists), accounts))
            }
        }
    };
    let nodegroups = async {
        match &desired.fargate {
            Some(_) => aws.nodegroup_roles(&desired.cluster).await,
            None => Ok(Vec::new()),
        }
    };
    let (
        caller,
        eks,
        provider_arns,
        local_policies,
        roles,
        (namespace_exists, sas),
        nodegroups,
        role_trusts,
    ) = futures::try_join!(
        async { Ok::<_, Error>(aws.caller().await?) },
        async { Ok::<_, Error>(aws.cluster(&desired.cluster).await?) },
        async {
            Ok::<_, Error>(if irsa {
                aws.oidc_provider_arns().await?
            } else {
                Vec::new()
            })
        },
        async {
            Ok::<_, Error>(if irsa {
                aws.local_policies().await?
            } else {
                Vec::new()
            })
        },
        roles,
        k8s,
        async { Ok::<_, Error>(nodegroups.await?) },
        async {
            Ok::<_, Error>(if extras.role_trusts {
                Some(aws.role_trusts().await?)
            } else {
                None
            })
        },
    )?;

    let eks = eks.ok_or_else(|| Error::ClusterNotFound {
        cluster: desired.cluster.clone(),
        region: desired.region.clone(),
    })?;
    let issuer = eks.issuer.clone().ok_or_else(|| Error::NoIssuer {
        cluster: eks.name.clone(),
        status: eks.status.clone(),
    })?;
    let issuer_host = arn::issuer_host_path(&issuer).to_string();
    let account = Account::of_caller(&caller);

    // Round two: the provider for this issuer, and what each existing policy says.
    let provider_suffix = format!(":oidc-provider/{issuer_host}");
    let provider_arn = provider_arns
        .iter()
        .find(|a| a.ends_with(&provider_suffix))
        .cloned();
    let provider = OptionFuture::from(provider_arn.as_deref().map(|a| aws.oidc_provider(a)));
    let policies = try_join_all(policy_names.iter().map(|&name| {
        let summary = local_policies.iter().find(|p| p.name == name).cloned();
        async move {
            let Some(summary) = summary else {
                return Ok::<_, Error>((name.to_string(), None));
            };
            let (text, versions, tags) = futures::try_join!(
                aws.policy_document(&summary.arn, &summary.default_version),
                aws.policy_versions(&summary.arn),
                async {
                    if extras.policy_tags {
                        aws.policy_tags(&summary.arn).await
                    } else {
                        Ok(Tags::new())
                    }
                },
            )?;
            let document = parse_document(&text, "policy document", &summary.arn)?;
            Ok((
                name.to_string(),
                Some(ObservedPolicy {
                    summary,
                    document,
                    versions,
                    tags,
                }),
            ))
        }
    }));
    let (provider, policies) = futures::try_join!(
        async { Ok::<_, Error>(provider.await.transpose()?.flatten()) },
        policies
    )?;

    Ok(Observed {
        caller,
        account,
        cluster: eks,
        issuer_host,
        oidc_provider: provider,
        roles: roles.into_iter().collect(),
        policies: policies.into_iter().collect(),
        namespace_exists,
        service_accounts: sas.into_iter().collect(),
        nodegroup_roles: nodegroups,
        role_trusts,
    })
}
