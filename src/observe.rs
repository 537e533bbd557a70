//! Reading the current state of AWS and the cluster, concurrently.
//!
//! Two rounds at most. The first needs only names the run already knows:
//! caller, cluster, the account's OIDC providers and local policies, each role
//! with its attachments, the namespace and ServiceAccounts, node group roles.
//! The second needs the first: the matching provider's client ids, and each
//! existing policy's default document and versions.

use crate::arn::{self, Account};
mod workloads;
mod workspace;

pub use workspace::{
    WorkspaceState, describe as describe_workspace, find as find_workspace,
    resolve as resolve_workspace,
};

use crate::aws::{Addon, FargateSelector, PodIdentityAssociation};
use crate::aws::{
    AttachedPolicy, Aws, Caller, EksCluster, NodegroupRole, OidcProvider, PolicyEntities,
    PolicySummary, PolicyVersion, Role, RoleTrust, Tags,
};
use crate::cluster::{Cluster, Owner, Pod, ServiceAccount};
use crate::error::{Error, Result};
use crate::policy::IrsaSubject;
use crate::recipe::{Desired, IdentityMode, POD_IDENTITY_AGENT};
use futures::future::{OptionFuture, try_join_all};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a run needs to read beyond the recipe's own resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
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
    /// The default version's document.
    pub document: Value,
    pub versions: Vec<PolicyVersion>,
    /// The documents of the non-default versions, by version id (an update
    /// deletes those that grant more than the new default).
    pub version_documents: BTreeMap<String, Value>,
    pub tags: Tags,
    /// Who else it is attached to; read only when it is attached to more
    /// than the recipe's role (None otherwise: nobody else).
    pub entities: Option<PolicyEntities>,
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
    /// The account's trust policy quota; read only when a planned trust would
    /// exceed IAM's 2,048-character default (see [`read_trust_quota`]).
    pub trust_quota: Option<usize>,
    /// The workspace `--workspace` / `--create-workspace` names; None without them.
    pub workspace: Option<WorkspaceState>,
    /// The namespace's pods that run as one of the recipe's ServiceAccounts.
    pub pods: Vec<Pod>,
    /// Each ReplicaSet's or Job's own owner (None: it has none, or is gone).
    pub pod_owners: BTreeMap<Owner, Option<Owner>>,
    /// Pod Identity: the associations of each recipe ServiceAccount.
    pub associations: BTreeMap<String, Vec<PodIdentityAssociation>>,
    /// Pod Identity: the eks-pod-identity-agent add-on (None: not read;
    /// Some(None): not installed).
    pub agent: Option<Option<Addon>>,
    /// Pod Identity: the cluster's Fargate profile selectors.
    pub fargate_selectors: Vec<FargateSelector>,
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
    let oidc = desired.uses_irsa();
    let pod_identity = desired.uses_pod_identity();
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
            None => Ok::<_, Error>((None, Vec::new(), Vec::new())),
            Some(c) => {
                let accounts = try_join_all(sa_names.iter().map(|&sa| async move {
                    Ok::<_, Error>((sa.to_string(), c.service_account(ns, sa).await?))
                }));
                let (exists, accounts, pods) = futures::try_join!(
                    async { Ok::<_, Error>(c.namespace_exists(ns).await?) },
                    accounts,
                    workloads::pods(c, ns, &sa_names),
                )?;
                Ok((Some(exists), accounts, pods))
            }
        }
    };
    let workspace = async {
        match &desired.workspace {
            Some(wanted) => workspace::find(aws, wanted).await.map(Some),
            None => Ok(None),
        }
    };
    // Pod Identity needs only names: associations, the agent, Fargate profiles.
    let pod_identity_reads = async {
        if !pod_identity {
            return Ok::<_, Error>((BTreeMap::new(), None, Vec::new()));
        }
        let associations = try_join_all(sa_names.iter().map(|&sa| async move {
            Ok::<_, Error>((
                sa.to_string(),
                aws.pod_identity_associations(&desired.cluster, ns, sa)
                    .await?,
            ))
        }));
        let (associations, agent, selectors) = futures::try_join!(
            associations,
            async { Ok::<_, Error>(aws.addon(&desired.cluster, POD_IDENTITY_AGENT).await?) },
            async { Ok::<_, Error>(aws.fargate_selectors(&desired.cluster).await?) },
        )?;
        Ok((associations.into_iter().collect(), Some(agent), selectors))
    };
    let nodegroups = async {
        match &desired.fargate {
            Some(_) => aws.nodegroup_roles(&desired.cluster).await,
            None => Ok(Vec::new()),
        }
    };
    let boundary = async {
        match &desired.options.permissions_boundary {
            Some(arn) => Ok::<_, Error>(Some(aws.managed_policy(arn).await?)),
            None => Ok(None),
        }
    };
    // Joined without short-circuit: the identity check comes first, whatever
    // else failed (a wrong account often shows as a denied or missing read).
    let (
        caller,
        eks,
        provider_arns,
        local_policies,
        roles,
        k8s,
        nodegroups,
        role_trusts,
        boundary,
        workspace,
        pod_identity_reads,
    ) = futures::join!(
        async { Ok::<_, Error>(aws.caller().await?) },
        async { Ok::<_, Error>(aws.cluster(&desired.cluster).await?) },
        async {
            Ok::<_, Error>(if oidc {
                aws.oidc_provider_arns().await?
            } else {
                Vec::new()
            })
        },
        async {
            if !irsa {
                return Ok::<_, Error>(Vec::new());
            }
            // The account from the context: the recipe's policies by ARN, two
            // reads whatever the account holds; else the list, under the path.
            match &desired.identity.account {
                Some(expected) => {
                    let account = Account {
                        id: expected.id.clone(),
                        partition: arn::partition_of_region(&desired.region).to_string(),
                    };
                    let found = try_join_all(policy_names.iter().map(|&name| {
                        let policy_arn = account.policy(&desired.options.role_path, name);
                        async move { aws.managed_policy(&policy_arn).await }
                    }))
                    .await?;
                    Ok(found.into_iter().flatten().collect())
                }
                None => Ok(aws.local_policies(&desired.options.role_path).await?),
            }
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
        boundary,
        workspace,
        pod_identity_reads,
    );
    let caller = caller?;
    check_account(desired, &caller)?;
    let eks = eks?;
    let (provider_arns, local_policies, roles) = (provider_arns?, local_policies?, roles?);
    let ((namespace_exists, sas, pods), nodegroups, role_trusts) =
        (k8s?, nodegroups?, role_trusts?);
    let (associations, agent, fargate_selectors) = pod_identity_reads?;
    let account = Account::of_caller(&caller);
    check_boundary(desired, &account, boundary)?;
    let workspace = match (&desired.workspace, workspace?) {
        (Some(wanted), Some(found)) => Some(workspace::resolve(
            wanted,
            found,
            &desired.region,
            &account.id,
        )?),
        _ => None,
    };

    let eks = eks.ok_or_else(|| Error::ClusterNotFound {
        cluster: desired.cluster.clone(),
        region: desired.region.clone(),
        account: account.id.clone(),
    })?;
    // Pod Identity needs no issuer; IRSA (and a migration) does.
    let issuer_host = match (&eks.issuer, oidc) {
        (Some(issuer), _) => arn::issuer_host_path(issuer).to_string(),
        (None, false) if desired.mode == IdentityMode::PodIdentity => String::new(),
        (None, _) => {
            return Err(Error::NoIssuer {
                cluster: eks.name.clone(),
                status: eks.status.clone(),
            });
        }
    };

    // Round two: the provider for this issuer, and what each existing policy says.
    let provider_suffix = format!(":oidc-provider/{issuer_host}");
    let provider_arn = provider_arns
        .iter()
        .find(|a| a.ends_with(&provider_suffix))
        .cloned();
    let provider = OptionFuture::from(provider_arn.as_deref().map(|a| aws.oidc_provider(a)));
    let our_attachments: Vec<&AttachedPolicy> = roles
        .iter()
        .filter_map(|(_, r)| r.as_ref())
        .flat_map(|r| r.attached.iter())
        .collect();
    let policies = try_join_all(policy_names.iter().map(|&name| {
        let summary = local_policies.iter().find(|p| p.name == name).cloned();
        let ours_attached = summary.as_ref().map_or(0, |s| {
            our_attachments.iter().filter(|a| a.arn == s.arn).count()
        });
        async move {
            let Some(summary) = summary else {
                return Ok::<_, Error>((name.to_string(), None));
            };
            let (text, versions, tags, entities) = futures::try_join!(
                aws.policy_document(&summary.arn, &summary.default_version),
                aws.policy_versions(&summary.arn),
                aws.policy_tags(&summary.arn),
                // Who else uses it matters only when someone else does.
                async {
                    let elsewhere =
                        usize::try_from(summary.attachment_count).unwrap_or(0) > ours_attached;
                    match elsewhere {
                        true => aws.policy_entities(&summary.arn).await.map(Some),
                        false => Ok(None),
                    }
                },
            )?;
            let document = parse_document(&text, "policy document", &summary.arn)?;
            let version_documents = try_join_all(
                versions
                    .iter()
                    .filter(|v| !v.is_default && v.id != summary.default_version)
                    .map(|v| async {
                        let text = aws.policy_document(&summary.arn, &v.id).await?;
                        let what = format!("{} version {}", summary.arn, v.id);
                        Ok::<_, Error>((
                            v.id.clone(),
                            parse_document(&text, "policy document", &what)?,
                        ))
                    }),
            )
            .await?;
            Ok((
                name.to_string(),
                Some(ObservedPolicy {
                    summary,
                    document,
                    versions,
                    version_documents: version_documents.into_iter().collect(),
                    tags,
                    entities,
                }),
            ))
        }
    }));
    let (provider, policies, workspace, pod_owners) = futures::try_join!(
        async { Ok::<_, Error>(provider.await.transpose()?.flatten()) },
        policies,
        async {
            match workspace {
                Some(state) => workspace::describe(aws, state).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match cluster.filter(|_| irsa) {
                Some(c) => workloads::owners(c, ns, &pods).await,
                None => Ok(BTreeMap::new()),
            }
        },
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
        trust_quota: None,
        workspace,
        pods,
        pod_owners,
        associations,
        agent,
        fargate_selectors,
    })
}

/// The caller must be in the account the context names: acting with a stale
/// `AWS_PROFILE` would write roles into one account and point another
/// account's cluster at them.
fn check_account(desired: &Desired, caller: &Caller) -> Result<()> {
    match &desired.identity.account {
        Some(expected) if expected.id != caller.account => Err(Error::WrongAccount {
            context_account: expected.id.clone(),
            context_from: expected.from.clone(),
            caller_account: caller.account.clone(),
            caller_arn: caller.arn.clone(),
            credentials: expected.credentials.clone(),
        }),
        _ => Ok(()),
    }
}

/// The permissions boundary must be in the caller's partition and exist.
fn check_boundary(
    desired: &Desired,
    account: &Account,
    found: Result<Option<Option<PolicySummary>>>,
) -> Result<()> {
    let Some(arn) = &desired.options.permissions_boundary else {
        return Ok(());
    };
    if arn::partition_of(arn) != Some(account.partition.as_str()) {
        return Err(Error::InvalidName {
            what: "permissions boundary",
            value: arn.clone(),
            why: format!(
                "it must be a policy in the caller's partition {} (arn:{}:iam::…:policy/…)",
                account.partition, account.partition
            ),
        });
    }
    match found? {
        Some(Some(_)) => Ok(()),
        _ => Err(Error::InvalidName {
            what: "permissions boundary",
            value: arn.clone(),
            why: format!(
                "no such policy in account {} (iam:GetPolicy found nothing): create it first, or fix --permissions-boundary",
                account.id
            ),
        }),
    }
}

/// Reads the account's trust policy quota into `observed`, once: called only
/// when a planned trust is over IAM's default, so most runs never pay for it.
pub async fn read_trust_quota<A: Aws>(aws: &A, observed: &mut Observed) -> Result<()> {
    if observed.trust_quota.is_none() {
        observed.trust_quota = Some(aws.trust_policy_quota().await?);
    }
    Ok(())
}
