//! The AWS edge: what the tool needs from IAM, EKS and STS, as one small trait.
//! The SDK implementation lives in [`sdk`]; tests use fakes or aws-smithy-mocks.

pub mod sdk;
pub mod shared;

use std::collections::BTreeMap;
use std::fmt;

pub type Tags = BTreeMap<String, String>;

/// Who is calling (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    /// e.g. `arn:aws:iam::111122223333:user/alice`; the partition comes from it.
    pub arn: String,
}

/// What the tool needs of an EKS cluster (DescribeCluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksCluster {
    pub name: String,
    pub arn: String,
    /// `https://oidc.eks.<region>.amazonaws.com/id/<ID>`; None while the cluster is being created.
    pub issuer: Option<String>,
    pub status: String,
    /// The API server URL (`https://….eks.amazonaws.com`), to compare with the kubeconfig's.
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodegroupRole {
    pub nodegroup: String,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    pub arn: String,
    pub client_ids: Vec<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub path: String,
    /// The trust policy, already URL-decoded (IAM returns it RFC 3986 encoded).
    pub trust_policy: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

/// A customer managed policy as ListPolicies returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySummary {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub default_version: String,
    pub attachment_count: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub id: String,
    pub is_default: bool,
    /// Seconds since the epoch; used to find the oldest version.
    pub created: i64,
}

/// Who a managed policy is attached to (ListEntitiesForPolicy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEntities {
    pub roles: Vec<String>,
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

/// An Amazon Managed Service for Prometheus workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Workspace {
    /// `ws-…`.
    pub id: String,
    pub alias: Option<String>,
    pub arn: String,
    /// `ACTIVE`, `CREATING`, `UPDATING`, `DELETING`, `CREATION_FAILED`.
    pub status: String,
    /// `https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/`; only
    /// DescribeWorkspace and CreateWorkspace give it (ListWorkspaces does not).
    pub endpoint: Option<String>,
    #[serde(skip)]
    pub tags: Tags,
}

/// An EKS Pod Identity association: a ServiceAccount bound to a role.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodIdentityAssociation {
    pub id: String,
    pub arn: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    #[serde(skip)]
    pub tags: Tags,
}

/// An EKS add-on (DescribeAddon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addon {
    pub name: String,
    /// `ACTIVE`, `CREATING`, `DEGRADED`, `CREATE_FAILED`, …
    pub status: String,
    pub version: Option<String>,
}

/// One selector of a Fargate profile: pods of this namespace (with these
/// labels, when any) run on Fargate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FargateSelector {
    pub profile: String,
    /// May hold `*` and `?` wildcards.
    pub namespace: String,
    pub labels: Tags,
}

impl Workspace {
    /// How people name it: `ws-… (alias)`, or the id alone.
    pub fn label(&self) -> String {
        match &self.alias {
            Some(a) => format!("{} ({a})", self.id),
            None => self.id.clone(),
        }
    }
}

/// A role about to be created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewRole {
    pub name: String,
    pub path: String,
    /// Minified JSON (IAM counts whitespace against the 2,048-character limit).
    pub trust_policy: String,
    pub description: String,
    pub tags: Tags,
    pub permissions_boundary: Option<String>,
}

/// A role in the account with its trust policy (ListRoles), for "who still trusts this provider".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTrust {
    pub name: String,
    pub trust_policy: String,
}

/// What the tool needs from AWS. Methods are named for what they give, not for
/// the SDK call; "not found" is `Ok(None)` (or an empty list) wherever the tool
/// treats absence as a normal observation.
#[allow(async_fn_in_trait)] // futures are awaited on one task; no Send bound needed
pub trait Aws {
    async fn caller(&self) -> Result<Caller, AwsError>;
    async fn cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError>;
    /// Node group instance roles of a cluster (ListNodegroups + DescribeNodegroup).
    async fn nodegroup_roles(&self, cluster: &str) -> Result<Vec<NodegroupRole>, AwsError>;

    async fn oidc_provider_arns(&self) -> Result<Vec<String>, AwsError>;
    async fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, AwsError>;

    async fn role(&self, name: &str) -> Result<Option<Role>, AwsError>;
    /// Managed policies attached to a role; empty when the role does not exist.
    async fn attached_policies(&self, role: &str) -> Result<Vec<AttachedPolicy>, AwsError>;
    /// All roles with their trust policies (paginated ListRoles).
    async fn role_trusts(&self) -> Result<Vec<RoleTrust>, AwsError>;

    /// Customer managed policies under `path_prefix` (ListPolicies, Scope=Local,
    /// all pages): the fallback when the account is not known before the
    /// first round, so the recipe's policies cannot be read by ARN.
    async fn local_policies(&self, path_prefix: &str) -> Result<Vec<PolicySummary>, AwsError>;
    /// The URL-decoded document of one version.
    async fn policy_document(&self, arn: &str, version: &str) -> Result<String, AwsError>;
    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError>;
    async fn policy_tags(&self, arn: &str) -> Result<Tags, AwsError>;
    /// A managed policy by ARN (GetPolicy), customer or AWS managed; None when absent.
    async fn managed_policy(&self, arn: &str) -> Result<Option<PolicySummary>, AwsError>;
    /// The roles, users and groups a policy is attached to (ListEntitiesForPolicy, all pages).
    async fn policy_entities(&self, arn: &str) -> Result<PolicyEntities, AwsError>;
    /// The account's quota for a role trust policy, in characters
    /// (GetAccountSummary `AssumeRolePolicySizeQuota`; 2,048 unless raised).
    async fn trust_policy_quota(&self) -> Result<usize, AwsError>;

    /// An AMP workspace by id (DescribeWorkspace, in the client's region); None when absent.
    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, AwsError>;
    /// The region's AMP workspaces (ListWorkspaces, all pages), those with
    /// exactly this alias when given. Summaries: `endpoint` is None.
    async fn workspaces(&self, alias: Option<&str>) -> Result<Vec<Workspace>, AwsError>;
    /// CreateWorkspace with this alias and tags; the answer has no endpoint
    /// until described, so it is read back with DescribeWorkspace.
    async fn create_workspace(&self, alias: &str, tags: &Tags) -> Result<Workspace, AwsError>;
    async fn delete_workspace(&self, id: &str) -> Result<(), AwsError>;

    /// The Pod Identity associations of one ServiceAccount
    /// (ListPodIdentityAssociations filtered by namespace and ServiceAccount,
    /// then DescribePodIdentityAssociation of each for its role and tags).
    async fn pod_identity_associations(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Vec<PodIdentityAssociation>, AwsError>;
    async fn create_pod_identity_association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        role_arn: &str,
        tags: &Tags,
    ) -> Result<PodIdentityAssociation, AwsError>;
    /// Points an association at another role (UpdatePodIdentityAssociation).
    async fn update_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
        role_arn: &str,
    ) -> Result<(), AwsError>;
    async fn delete_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<(), AwsError>;
    /// An add-on of the cluster (DescribeAddon); None when not installed.
    async fn addon(&self, cluster: &str, name: &str) -> Result<Option<Addon>, AwsError>;
    /// CreateAddon with the default version.
    async fn create_addon(&self, cluster: &str, name: &str, tags: &Tags) -> Result<(), AwsError>;
    /// Every selector of every Fargate profile of the cluster
    /// (ListFargateProfiles + DescribeFargateProfile).
    async fn fargate_selectors(&self, cluster: &str) -> Result<Vec<FargateSelector>, AwsError>;

    async fn create_oidc_provider(
        &self,
        url: &str,
        client_ids: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError>;
    async fn add_oidc_client_id(&self, arn: &str, client_id: &str) -> Result<(), AwsError>;
    async fn delete_oidc_provider(&self, arn: &str) -> Result<(), AwsError>;

    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        tags: &Tags,
    ) -> Result<String, AwsError>;
    /// Creates a version and makes it the default.
    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError>;
    async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError>;
    async fn delete_policy(&self, arn: &str) -> Result<(), AwsError>;

    async fn create_role(&self, role: &NewRole) -> Result<String, AwsError>;
    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError>;
    async fn delete_role(&self, role: &str) -> Result<(), AwsError>;
    async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError>;
    async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError>;
}

/// How an AWS call failed, as far as the tool's decisions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsErrorKind {
    NotFound,
    AlreadyExists,
    AccessDenied,
    /// No credentials, expired or invalid ones.
    Credentials,
    Throttled,
    /// MalformedPolicyDocument / validation errors.
    Invalid,
    LimitExceeded,
    ConcurrentModification,
    /// Could not reach the endpoint, timeouts, 5xx after retries.
    Unavailable,
    Other,
}

/// A failed AWS call: the IAM action, the resource, the kind and the service's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The IAM action, e.g. `iam:CreateRole` (what a policy must allow).
    pub action: &'static str,
    pub resource: String,
    pub kind: AwsErrorKind,
    /// The service's error code, e.g. `NoSuchEntity`.
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn new(
        action: &'static str,
        resource: impl Into<String>,
        kind: AwsErrorKind,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            action,
            resource: resource.into(),
            kind,
            code,
            message: message.into(),
        }
    }

    /// IAM's eventual consistency: a just-created OIDC provider or role can be
    /// rejected as an invalid principal, or a just-created role/policy not found.
    pub fn is_eventual_consistency(&self) -> bool {
        match self.kind {
            AwsErrorKind::Invalid => {
                let m = self.message.to_ascii_lowercase();
                m.contains("invalid principal")
                    || m.contains("federated principals must be valid")
                    // EKS checks the role when binding it; a just-made one may not show yet.
                    || (self.action == "eks:CreatePodIdentityAssociation" && m.contains("role"))
            }
            AwsErrorKind::NotFound => {
                matches!(
                    self.action,
                    "iam:AttachRolePolicy" | "iam:UpdateAssumeRolePolicy"
                )
            }

            _ => false,
        }
    }

    /// IAM's refusal of a trust policy over the quota (`ACLSizePerRole`).
    fn is_trust_quota(&self) -> bool {
        matches!(self.action, "iam:CreateRole" | "iam:UpdateAssumeRolePolicy")
            && self.message.contains("ACLSizePerRole")
    }

    fn hint(&self) -> String {
        match self.kind {
            AwsErrorKind::AccessDenied => format!(
                "Grant the caller {} on {} (`kubectl amp-iam permissions` prints the policy the tool needs)",
                self.action, self.resource
            ),
            AwsErrorKind::Credentials => "No valid AWS credentials: refresh them (e.g. `aws sso login`), or set AWS_PROFILE / --profile".to_string(),
            AwsErrorKind::Throttled => "AWS kept throttling after retries: run again in a minute".to_string(),
            AwsErrorKind::Unavailable => "Check network access to the AWS endpoint (and AWS_ENDPOINT_URL if set), then run again".to_string(),
            AwsErrorKind::LimitExceeded if self.is_trust_quota() => "The role's trust policy is over the account's quota (IAM AssumeRolePolicySizeQuota): remove statements it no longer needs, or raise the quota \"Role trust policy length\" in Service Quotas (IAM, up to 4,096), then run again".to_string(),
            AwsErrorKind::LimitExceeded if self.action.starts_with("aps:") => "An Amazon Managed Service for Prometheus quota was reached (e.g. workspaces per region): delete unused workspaces or ask for an increase in Service Quotas".to_string(),
            AwsErrorKind::LimitExceeded => "An IAM quota was reached: remove unused entities or ask for a quota increase".to_string(),
            AwsErrorKind::ConcurrentModification => "Someone changed it at the same moment: run again".to_string(),
            AwsErrorKind::Invalid => "The request was rejected as invalid: check names and documents, or report a bug".to_string(),
            AwsErrorKind::NotFound | AwsErrorKind::AlreadyExists | AwsErrorKind::Other => "Run again; if it persists, run with -v and report it".to_string(),
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.as_deref().unwrap_or("error");
        write!(
            f,
            "{} on {} failed ({}): {}. {}",
            self.action,
            self.resource,
            code,
            self.message.trim_end_matches('.'),
            self.hint()
        )
    }
}

impl std::error::Error for AwsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_over_the_quota_names_the_quota_and_how_to_raise_it() {
        let e = AwsError::new(
            "iam:UpdateAssumeRolePolicy",
            "amp-iamproxy-ingest-role",
            AwsErrorKind::LimitExceeded,
            Some("LimitExceeded".into()),
            "Cannot exceed quota for ACLSizePerRole: 2048",
        );
        let text = e.to_string();
        assert!(text.contains("AssumeRolePolicySizeQuota"), "{text}");
        assert!(text.contains("Role trust policy length"), "{text}");
        let other = AwsError::new(
            "iam:CreatePolicyVersion",
            "p",
            AwsErrorKind::LimitExceeded,
            None,
            "Cannot exceed quota for PolicyVersionsPerPolicy: 5",
        );
        assert!(!other.to_string().contains("trust policy"), "{other}");
    }
}
