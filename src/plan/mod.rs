//! The plan: what a run will change, as data. A pure function of (desired,
//! observed) — no I/O here. `--dry-run` prints it, `status` judges it, and
//! [`crate::apply`] executes it.

mod pod_identity;
mod service_account;
mod setup;
mod teardown;
mod workloads;
mod workspace;

pub use setup::setup;
pub use teardown::teardown;
pub use workloads::StaleWorkload;
pub use workspace::{CREATED_WORKSPACE, WorkspaceSummary};

use crate::aws::{NewRole, Tags};
use crate::observe::Observed;
use crate::policy::IrsaSubject;
use crate::recipe::{Desired, Kind};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    OidcProvider,
    Policy,
    Role,
    Trust,
    Attachment,
    Namespace,
    ServiceAccount,
    Workspace,
    Workload,
    Association,
    Addon,
}

impl Resource {
    pub fn label(self) -> &'static str {
        match self {
            Resource::OidcProvider => "oidc-provider",
            Resource::Policy => "policy",
            Resource::Role => "role",
            Resource::Trust => "trust",
            Resource::Attachment => "attachment",
            Resource::Namespace => "namespace",
            Resource::ServiceAccount => "serviceaccount",
            Resource::Workspace => "workspace",
            Resource::Workload => "workload",
            Resource::Association => "association",
            Resource::Addon => "addon",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    None,
}

/// Where a change stands: planned, or what applying it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Unchanged,
    /// To be done (dry run, status, or before apply).
    Planned,
    /// Refused: needs a flag (`--overwrite`, `--force`) to be planned.
    Refused,
    Applied,
    Failed,
    /// Not attempted because something it depends on failed.
    Skipped,
}

/// How to re-grant trust when a role turns out to exist already (a race).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustGrant {
    Irsa(IrsaSubject),
    PodIdentity(crate::policy::PodIdentitySubject),
    Fargate { source_arn: String },
}

/// One write, with everything needed to perform it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateOidcProvider {
        arn: String,
        url: String,
        client_id: String,
        tags: Tags,
    },
    AddOidcClientId {
        arn: String,
        client_id: String,
    },
    DeleteOidcProvider {
        arn: String,
    },
    CreatePolicy {
        name: String,
        path: String,
        arn: String,
        document: String,
        tags: Tags,
    },
    /// New default version: `delete_first` makes room when IAM's 5 are used;
    /// `delete_after` are older versions that grant more than the new
    /// default (left in place they stay one SetDefaultPolicyVersion away).
    UpdatePolicy {
        arn: String,
        document: String,
        delete_first: Option<String>,
        delete_after: Vec<String>,
    },
    /// Deletes the non-default `versions`, then the policy.
    DeletePolicy {
        arn: String,
        versions: Vec<String>,
    },
    CreateRole {
        role: NewRole,
        grant: TrustGrant,
    },
    UpdateTrust {
        role: String,
        document: String,
    },
    /// Detaches `detach`, then deletes the role.
    DeleteRole {
        role: String,
        detach: Vec<String>,
    },
    AttachPolicy {
        role: String,
        policy_arn: String,
    },
    CreateNamespace {
        name: String,
    },
    ApplyServiceAccount {
        namespace: String,
        name: String,
        annotations: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    },
    /// Removes an annotation only while it still holds `expected` (teardown).
    RemoveAnnotation {
        namespace: String,
        name: String,
        key: String,
        expected: String,
    },
    DeleteServiceAccount {
        namespace: String,
        name: String,
    },
    /// An AMP workspace with this alias, tagged as the tool's; the policies
    /// planned with [`CREATED_WORKSPACE`] in their Resource get its id.
    CreateWorkspace {
        alias: String,
        tags: Tags,
    },
    DeleteWorkspace {
        id: String,
    },
    /// `kubectl rollout restart` of a Deployment, StatefulSet or DaemonSet.
    RestartWorkload {
        namespace: String,
        owner: crate::cluster::Owner,
    },
    /// A bare pod (`--restart --force`): nothing recreates it.
    DeletePod {
        namespace: String,
        name: String,
    },
    /// An EKS Pod Identity association, tagged as the tool's.
    CreateAssociation {
        cluster: String,
        namespace: String,
        service_account: String,
        role_arn: String,
        tags: Tags,
    },
    UpdateAssociation {
        cluster: String,
        id: String,
        role_arn: String,
    },
    DeleteAssociation {
        cluster: String,
        id: String,
    },
    /// The eks-pod-identity-agent add-on (`--install-agent`).
    CreateAddon {
        cluster: String,
        name: String,
        tags: Tags,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub resource: Resource,
    pub name: String,
    /// The KIND this change is for; None for shared ones (provider, namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    pub action: Action,
    pub detail: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub op: Option<Op>,
    /// Indices of the changes that must be applied first.
    #[serde(skip)]
    pub after: Vec<usize>,
}

/// Per KIND, what a script needs afterwards.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindSummary {
    pub role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Fargate: the SourceArn the trust covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

/// Something that exists and is wider than the recipe: setup warns, status
/// exits 3. Named by resource, and by statement where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub resource: Resource,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// e.g. `statement #2`, `Sid "Legacy"`; None when about the whole resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    pub risk: String,
}

impl Finding {
    /// One line for people.
    pub fn line(&self) -> String {
        match &self.statement {
            Some(st) => format!(
                "{} {}: {st} {}",
                self.resource.label(),
                self.name,
                self.risk
            ),
            None => format!("{} {}: {}", self.resource.label(), self.name, self.risk),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub command: &'static str,
    pub dry_run: bool,
    /// How the ServiceAccounts get their role (`migrate`: the mode moved to).
    pub mode: crate::recipe::IdentityMode,
    pub cluster: String,
    pub region: String,
    pub account: String,
    pub partition: String,
    pub namespace: String,
    pub changes: Vec<Change>,
    pub kinds: BTreeMap<Kind, KindSummary>,
    /// What would need `--overwrite`/`--force`; a run with any writes nothing.
    pub refusals: Vec<String>,
    /// What exists and is wider than the recipe (see [`Finding`]).
    pub findings: Vec<Finding>,
    /// The AMP workspace, when the run names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspaceSummary>,
    /// Workloads whose pods run a recipe ServiceAccount without its role.
    pub workloads: Vec<StaleWorkload>,
    pub warnings: Vec<String>,
    /// A trust is over IAM's default quota and the account's real quota was
    /// not read yet: read it and plan again (see `observe::read_trust_quota`).
    #[serde(skip)]
    pub needs_trust_quota: bool,
    /// The document each recipe policy is to have, by ARN (minified), whether
    /// or not it is written: a fleet refuses clusters that want one policy
    /// two ways.
    #[serde(skip)]
    pub policy_documents: BTreeMap<String, String>,
}

impl Plan {
    /// The scope of this plan's IAM writes (see [`Plan::scope_of`]).
    pub fn account_scope(&self) -> String {
        format!("account {}", self.account)
    }

    /// Where a write lands beyond this cluster: IAM writes in the account,
    /// AMP workspace writes in the account's region; None for the cluster's
    /// own (Kubernetes objects, associations, add-ons).
    pub fn scope_of(&self, op: &Op) -> Option<String> {
        match op {
            Op::CreateOidcProvider { .. }
            | Op::AddOidcClientId { .. }
            | Op::DeleteOidcProvider { .. }
            | Op::CreatePolicy { .. }
            | Op::UpdatePolicy { .. }
            | Op::DeletePolicy { .. }
            | Op::CreateRole { .. }
            | Op::UpdateTrust { .. }
            | Op::DeleteRole { .. }
            | Op::AttachPolicy { .. } => Some(self.account_scope()),
            Op::CreateWorkspace { .. } | Op::DeleteWorkspace { .. } => {
                Some(format!("account {} region {}", self.account, self.region))
            }
            _ => None,
        }
    }

    fn new(command: &'static str, desired: &Desired, observed: &Observed) -> Plan {
        let mut warnings = Vec::new();
        let mut refusals = Vec::new();
        if let (Some(kube), Some(eks)) = (&desired.identity.api_server, &observed.cluster.endpoint)
            && !same_server(kube, eks)
            && desired.identity.context_chosen
            && is_eks_endpoint(kube)
        {
            // The tool picked this context by the cluster's name and region: an
            // EKS API server that is not this cluster's is another account's
            // cluster of that name, whose ServiceAccounts must not be touched.
            refusals.push(format!(
                "the context chosen for cluster {} in {} reaches {kube}, not the endpoint EKS reports for it ({eks}): it is another cluster of the same name (another account's?); name the context with `context:` in the entry",
                desired.cluster, desired.region
            ));
        } else if let (Some(kube), Some(eks)) =
            (&desired.identity.api_server, &observed.cluster.endpoint)
            && !same_server(kube, eks)
        {
            // A private cluster is often reached through a proxy or a tunnel:
            // say which case this looks like.
            let why = if is_eks_endpoint(kube) {
                "the context may be another cluster of the same name"
            } else {
                "fine for a proxy or tunnel, but check that it reaches this cluster"
            };
            warnings.push(format!(
                "the kubeconfig context's API server {kube} is not the endpoint EKS reports for cluster {} in {} ({eks}): {why} (`kubectl config view --minify`)",
                desired.cluster, desired.region
            ));
        }
        Plan {
            command,
            dry_run: false,
            mode: desired.mode,
            cluster: desired.cluster.clone(),
            region: desired.region.clone(),
            account: observed.account.id.clone(),
            partition: observed.account.partition.clone(),
            namespace: desired.namespace.clone(),
            changes: Vec::new(),
            kinds: BTreeMap::new(),
            refusals,
            findings: Vec::new(),
            workspace: None,
            workloads: Vec::new(),
            warnings,
            needs_trust_quota: false,
            policy_documents: BTreeMap::new(),
        }
    }

    /// Records a finding, and the warning setup prints for it.
    fn find(
        &mut self,
        resource: Resource,
        name: &str,
        kind: Option<Kind>,
        statement: Option<String>,
        risk: String,
    ) {
        let finding = Finding {
            resource,
            name: name.to_string(),
            kind,
            statement,
            risk,
        };
        if !self.findings.contains(&finding) {
            self.findings.push(finding);
        }
    }

    /// Adds a change; `op` None means nothing to do. Returns its index.
    // The arguments are the fields of one change, in the order they read.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        resource: Resource,
        name: impl Into<String>,
        kind: Option<Kind>,
        action: Action,
        detail: impl Into<String>,
        op: Option<Op>,
        after: &[Option<usize>],
    ) -> usize {
        let status = if op.is_some() {
            Status::Planned
        } else {
            Status::Unchanged
        };
        self.changes.push(Change {
            resource,
            name: name.into(),
            kind,
            action,
            detail: detail.into(),
            status,
            error: None,
            op,
            after: after.iter().flatten().copied().collect(),
        });
        self.changes.len() - 1
    }

    fn unchanged(
        &mut self,
        resource: Resource,
        name: impl Into<String>,
        kind: Option<Kind>,
        detail: impl Into<String>,
    ) -> usize {
        self.push(resource, name, kind, Action::None, detail, None, &[])
    }

    /// A change that needs a flag: shown, never applied.
    fn refuse(
        &mut self,
        resource: Resource,
        name: impl Into<String>,
        kind: Option<Kind>,
        action: Action,
        reason: String,
    ) {
        let i = self.push(resource, name, kind, action, reason.clone(), None, &[]);
        self.changes[i].status = Status::Refused;
        self.refusals.push(reason);
    }

    /// Changes that write something.
    pub fn writes(&self) -> usize {
        self.changes.iter().filter(|c| c.op.is_some()).count()
    }

    /// Everything already as wanted, nothing refused, nothing wider than the
    /// recipe, and every pod of the ServiceAccounts running with its role.
    pub fn is_converged(&self) -> bool {
        self.writes() == 0
            && self.refusals.is_empty()
            && self.findings.is_empty()
            && self.workloads.is_empty()
    }
}

/// Whether a URL is an EKS API server endpoint (`….eks.amazonaws.com`, China's `.com.cn`).
fn is_eks_endpoint(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    host.ends_with(".eks.amazonaws.com") || host.ends_with(".eks.amazonaws.com.cn")
}

/// Whether two API server URLs name the same server: scheme, host and port
/// compared case-insensitively, a trailing slash ignored.
fn same_server(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod pod_identity_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
