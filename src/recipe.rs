//! What AMP needs, as desired state: the AWS guides' recipes (role, policy and
//! ServiceAccount names, the permission actions, the Fargate trust), with the
//! user's overrides applied.

use crate::arn::Account;
use crate::aws::Tags;
use serde::Serialize;
use std::collections::BTreeMap;

/// The label value (and IAM tag) that marks what this tool created.
pub const MANAGER: &str = "kubectl-amp-iam";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// IAM tag naming the cluster a resource was made for.
pub const CLUSTER_TAG: &str = "kubectl-amp-iam/cluster";
/// The annotation EKS's pod identity webhook reads.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// `"true"`: the webhook sets AWS_STS_REGIONAL_ENDPOINTS=regional in pods.
pub const STS_REGIONAL_ANNOTATION: &str = "eks.amazonaws.com/sts-regional-endpoints";
/// Seconds: the lifetime of the projected token the webhook mounts.
pub const TOKEN_EXPIRATION_ANNOTATION: &str = "eks.amazonaws.com/token-expiration";

/// The EKS add-on whose node agent hands Pod Identity credentials to pods.
pub const POD_IDENTITY_AGENT: &str = "eks-pod-identity-agent";

pub const FARGATE_ROLE: &str = "AmazonEKSFargatePodExecutionRole";
pub const FARGATE_MANAGED_POLICY: &str = "AmazonEKSFargatePodExecutionRolePolicy";

/// How pods get the role: IRSA (OIDC provider, annotated ServiceAccount) or
/// EKS Pod Identity (an association, a role trusted by pods.eks.amazonaws.com).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMode {
    /// IAM roles for service accounts: works on Fargate and self-managed clusters too.
    #[default]
    Irsa,
    /// EKS Pod Identity: no OIDC provider or annotation; EC2 nodes only, needs the agent add-on.
    PodIdentity,
}

impl IdentityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMode::Irsa => "irsa",
            IdentityMode::PodIdentity => "pod-identity",
        }
    }
}

/// What a run is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Prometheus remote write into AMP (IRSA role for the ingest ServiceAccount).
    Ingest,
    /// Querying AMP, e.g. from Grafana (IRSA role for the query ServiceAccount).
    Query,
    /// The EKS Fargate pod execution role.
    Fargate,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest",
            Kind::Query => "query",
            Kind::Fargate => "fargate",
        }
    }
    pub fn is_irsa(self) -> bool {
        !matches!(self, Kind::Fargate)
    }

    /// The guide's defaults for an IRSA kind: (service account, role, policy, actions).
    fn irsa_defaults(self) -> (&'static str, &'static str, &'static str, [&'static str; 4]) {
        let shared = ["aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"];
        match self {
            Kind::Query => (
                "amp-iamproxy-query-service-account",
                "amp-iamproxy-query-role",
                "AMPQueryPolicy",
                ["aps:QueryMetrics", shared[0], shared[1], shared[2]],
            ),
            _ => (
                "amp-iamproxy-ingest-service-account",
                "amp-iamproxy-ingest-role",
                "AMPIngestPolicy",
                ["aps:RemoteWrite", shared[0], shared[1], shared[2]],
            ),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Overrides of the guide's names, valid only with exactly one KIND.
#[derive(Debug, Clone, Default)]
pub struct NameOverrides {
    pub service_account: Option<String>,
    pub role_name: Option<String>,
    pub policy_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IrsaSpec {
    pub kind: Kind,
    pub service_account: String,
    pub role_name: String,
    pub policy_name: String,
    pub actions: Vec<&'static str>,
}

impl IrsaSpec {
    /// The guide's recipe for an IRSA kind (ingest or query), with overrides.
    pub fn new(kind: Kind, names: &NameOverrides) -> IrsaSpec {
        let (sa, role, policy, actions) = kind.irsa_defaults();
        IrsaSpec {
            kind,
            service_account: names.service_account.clone().unwrap_or(sa.into()),
            role_name: names.role_name.clone().unwrap_or(role.into()),
            policy_name: names.policy_name.clone().unwrap_or(policy.into()),
            actions: actions.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FargateSpec {
    pub role_name: String,
    /// `*` for the region in the SourceArn.
    pub all_regions: bool,
    /// `*` for the cluster in the SourceArn.
    pub all_clusters: bool,
}

impl FargateSpec {
    /// The Fargate profiles the trust must cover: this cluster in this region,
    /// or `*` where `--all-clusters` / `--all-regions` widen it.
    pub fn source_arn(&self, account: &Account, region: &str, cluster: &str) -> String {
        let region = if self.all_regions { "*" } else { region };
        let cluster = if self.all_clusters { "*" } else { cluster };
        account.fargate_profiles(region, cluster)
    }
}

/// How far a run may go beyond the plain recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Replace a role-arn annotation for another role; add a Fargate statement
    /// to a role that has none.
    pub overwrite: bool,
    /// Add a SourceArn condition to a Fargate statement that has none.
    pub harden: bool,
    /// Teardown: also remove resources not tagged as made by this tool.
    pub force: bool,
    /// Teardown: also delete the OIDC provider when nothing trusts it any more.
    pub include_oidc_provider: bool,
    /// Extra tags on everything created (`--tag k=v`).
    pub tags: Tags,
    /// IAM path of roles and policies created: `/` or `/a/b/`.
    pub role_path: String,
    pub permissions_boundary: Option<String>,
    /// Setup: restart the workloads whose pods run without the role.
    pub restart: bool,
    /// Setup with `restart`: delete bare pods too.
    pub restart_bare_pods: bool,
    /// Teardown: delete the workspace when the tool created it.
    pub include_workspace: bool,
    /// ServiceAccount annotations beyond the role: sts-regional-endpoints,
    /// token-expiration (applied with the role's, owned by the tool).
    pub sa_annotations: BTreeMap<String, String>,
    /// Pod Identity: create the eks-pod-identity-agent add-on when missing.
    pub install_agent: bool,
    /// Migrate: also take the old mode's statement out of the role's trust.
    pub remove_old_trust: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            overwrite: false,
            harden: false,
            force: false,
            include_oidc_provider: false,
            tags: Tags::new(),
            role_path: "/".to_string(),
            permissions_boundary: None,
            restart: false,
            restart_bare_pods: false,
            include_workspace: false,
            sa_annotations: BTreeMap::new(),
            install_agent: false,
            remove_old_trust: false,
        }
    }
}

/// The AMP workspace a run is about: `--workspace` (an id or an alias), or
/// `--create-workspace ALIAS` (created when no workspace has the alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceRef {
    Id(String),
    Alias { alias: String, create: bool },
}

impl WorkspaceRef {
    /// `ws-` followed by the id's characters is an id; anything else an alias.
    pub fn parse(value: &str, create: bool) -> WorkspaceRef {
        if !create && crate::names::workspace_id(value).is_ok() {
            WorkspaceRef::Id(value.to_string())
        } else {
            WorkspaceRef::Alias {
                alias: value.to_string(),
                create,
            }
        }
    }

    /// How people name it: `ws-…` or `alias "x"`.
    pub fn describe(&self) -> String {
        match self {
            WorkspaceRef::Id(id) => id.clone(),
            WorkspaceRef::Alias { alias, .. } => format!("alias {alias:?}"),
        }
    }
}

/// The AWS account the kubeconfig context names, which the caller must be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAccount {
    pub id: String,
    /// Where the id came from, e.g. `context arn:aws:eks:us-west-2:111122223333:cluster/demo`.
    pub from: String,
    /// Where the credentials come from, e.g. `AWS_PROFILE=staging`.
    pub credentials: String,
}

/// What the run knows of where it connects, to check against what AWS says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// None when the context names no account (eksctl, `--cluster`).
    pub account: Option<ExpectedAccount>,
    /// The kubeconfig's API server URL for the context, when the run uses the cluster.
    pub api_server: Option<String>,
    /// The tool chose the context (a fleet entry naming only the cluster): one
    /// that reaches another EKS cluster of the same name is refused, not warned of.
    pub context_chosen: bool,
}

/// Everything a run wants to be true.
#[derive(Debug, Clone)]
pub struct Desired {
    pub cluster: String,
    pub region: String,
    pub namespace: String,
    pub irsa: Vec<IrsaSpec>,
    pub fargate: Option<FargateSpec>,
    /// The workspace the AMP policies are scoped to (instead of `*`).
    pub workspace: Option<WorkspaceRef>,
    pub options: Options,
    /// Checked against the caller and DescribeCluster before anything is planned.
    pub identity: Identity,
    /// How the IRSA-style kinds (ingest, query) get their role.
    pub mode: IdentityMode,
    /// `migrate --to MODE`: from the other mode to `mode`.
    pub migrating: bool,
}

impl Desired {
    /// The guide's recipe for `kinds` (defaults: ingest and query), with overrides.
    pub fn new(
        kinds: &[Kind],
        names: &NameOverrides,
        fargate_flags: (bool, bool),
        target: (&str, &str, &str),
        workspace: Option<WorkspaceRef>,
        options: Options,
    ) -> Desired {
        let kinds = effective_kinds(kinds);
        let irsa = kinds
            .iter()
            .filter(|k| k.is_irsa())
            .map(|&kind| IrsaSpec::new(kind, names))
            .collect();
        let fargate = kinds.contains(&Kind::Fargate).then(|| FargateSpec {
            role_name: names.role_name.clone().unwrap_or(FARGATE_ROLE.into()),
            all_regions: fargate_flags.0,
            all_clusters: fargate_flags.1,
        });
        let (cluster, region, namespace) = target;
        Desired {
            cluster: cluster.into(),
            region: region.into(),
            namespace: namespace.into(),
            irsa,
            fargate,
            workspace,
            options,
            identity: Identity::default(),
            mode: IdentityMode::Irsa,
            migrating: false,
        }
    }

    /// The run reads (and may write) what IRSA needs: the OIDC provider.
    pub fn uses_irsa(&self) -> bool {
        !self.irsa.is_empty() && (self.mode == IdentityMode::Irsa || self.migrating)
    }

    /// The run reads what Pod Identity needs: associations, the agent, Fargate profiles.
    pub fn uses_pod_identity(&self) -> bool {
        !self.irsa.is_empty() && (self.mode == IdentityMode::PodIdentity || self.migrating)
    }

    /// Tags on everything this tool creates: ownership, the cluster, the user's.
    pub fn tags(&self) -> Tags {
        let mut tags = self.options.tags.clone();
        tags.insert(MANAGED_BY.into(), MANAGER.into());
        tags.insert(CLUSTER_TAG.into(), self.cluster.clone());
        tags
    }
}

/// The KINDs a run covers: as given (deduplicated, in order), or ingest and query.
pub fn effective_kinds(kinds: &[Kind]) -> Vec<Kind> {
    let mut out: Vec<Kind> = Vec::new();
    for k in kinds {
        if !out.contains(k) {
            out.push(*k);
        }
    }
    if out.is_empty() {
        out = vec![Kind::Ingest, Kind::Query];
    }
    out
}

/// The tag keys the tool sets itself on everything it creates.
pub const OWN_TAG_KEYS: [&str; 2] = [MANAGED_BY, CLUSTER_TAG];

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(kinds: &[Kind], names: NameOverrides) -> Desired {
        Desired::new(
            kinds,
            &names,
            (false, false),
            ("demo", "us-east-1", "prometheus"),
            None,
            Options::default(),
        )
    }

    #[test]
    fn default_kinds_are_ingest_and_query_with_the_guides_names() {
        let d = desired(&[], NameOverrides::default());
        assert_eq!(d.irsa.len(), 2);
        assert_eq!(
            d.irsa[0].service_account,
            "amp-iamproxy-ingest-service-account"
        );
        assert_eq!(d.irsa[0].role_name, "amp-iamproxy-ingest-role");
        assert_eq!(d.irsa[0].policy_name, "AMPIngestPolicy");
        assert_eq!(
            d.irsa[0].actions,
            [
                "aps:RemoteWrite",
                "aps:GetSeries",
                "aps:GetLabels",
                "aps:GetMetricMetadata"
            ]
        );
        assert_eq!(d.irsa[1].role_name, "amp-iamproxy-query-role");
        assert_eq!(d.irsa[1].policy_name, "AMPQueryPolicy");
        assert_eq!(
            d.irsa[1].actions,
            [
                "aps:QueryMetrics",
                "aps:GetSeries",
                "aps:GetLabels",
                "aps:GetMetricMetadata"
            ]
        );
        assert!(d.fargate.is_none());
    }

    #[test]
    fn overrides_apply_to_the_single_kind() {
        let d = desired(
            &[Kind::Query, Kind::Query],
            NameOverrides {
                service_account: Some("grafana".into()),
                role_name: Some("r".into()),
                policy_name: Some("p".into()),
            },
        );
        assert_eq!(d.irsa.len(), 1);
        assert_eq!(
            (
                d.irsa[0].service_account.as_str(),
                d.irsa[0].role_name.as_str(),
                d.irsa[0].policy_name.as_str()
            ),
            ("grafana", "r", "p")
        );
    }

    #[test]
    fn fargate_alone_has_no_irsa() {
        let d = desired(&[Kind::Fargate], NameOverrides::default());
        assert!(d.irsa.is_empty());
        assert_eq!(d.fargate.unwrap().role_name, FARGATE_ROLE);
    }

    #[test]
    fn default_role_path_is_the_root() {
        assert_eq!(Options::default().role_path, "/");
    }

    #[test]
    fn tags_mark_ownership_and_cluster() {
        let d = desired(&[], NameOverrides::default());
        let tags = d.tags();
        assert!(crate::ownership::is_ours(&tags));
        assert_eq!(tags[CLUSTER_TAG], "demo");
    }
}
