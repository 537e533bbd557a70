//! In-memory fakes of the two edges, [`Aws`] and [`Cluster`], for tests.
//!
//! They behave like the real services where the tool's decisions depend on it:
//! absence is `Ok(None)`/empty where the traits say so, duplicate creates fail
//! with `AlreadyExists`, a sixth policy version with `LimitExceeded`, deleting
//! a role with attachments or a policy still attached (or with non-default
//! versions) with `DeleteConflict`, and creating or updating a trust policy
//! whose `Federated` principal is no OIDC provider of the account with IAM's
//! `Invalid principal` (so applying in the wrong order fails as it would in AWS).
//! ServiceAccounts follow server-side apply: the tool's field manager owns the
//! keys it applied, and only those.
//!
//! Every call is logged as one line, `<action> <resource>` (e.g.
//! `iam:CreateRole amp-iamproxy-ingest-role`, `patch serviceaccounts ns/sa`);
//! [`FakeAws::writes`] and [`FakeCluster::writes`] leave out the reads.
//! `fail` makes the next calls whose line starts with a given prefix fail.
//! The `put_*` seeding helpers write state directly: they are not logged and
//! skip every check.

mod yielding;
pub use yielding::Yielding;

use crate::arn::{self, Account};
use crate::aws::{Addon, FargateSelector, PodIdentityAssociation};
use crate::aws::{
    AttachedPolicy, Aws, AwsError, AwsErrorKind, Caller, EksCluster, NewRole, NodegroupRole,
    OidcProvider, PolicyEntities, PolicySummary, PolicyVersion, Role, RoleTrust, Tags, Workspace,
};
use crate::cluster::{
    Cluster, FIELD_MANAGER, KubeError, KubeErrorKind, OWNER_KINDS, Owner, Pod, RESTARTABLE_KINDS,
    Removal, ServiceAccount,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The account of every fake caller.
pub const ACCOUNT: &str = "111122223333";
/// IAM's quota on versions of one managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// A planned failure: the next `times` calls whose log line starts with `prefix`.
#[derive(Debug, Clone)]
struct Fault<K> {
    prefix: String,
    kind: K,
    message: String,
    times: usize,
}

/// `line` is `prefix` or starts with `prefix` followed by a space.
fn matches_prefix(line: &str, prefix: &str) -> bool {
    line.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

fn take_fault<K: Copy>(faults: &mut [Fault<K>], line: &str) -> Option<(K, String)> {
    let fault = faults
        .iter_mut()
        .find(|f| f.times > 0 && matches_prefix(line, &f.prefix))?;
    fault.times -= 1;
    Some((fault.kind, fault.message.clone()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// AWS

/// A role as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRole {
    pub role: Role,
    pub description: String,
    pub permissions_boundary: Option<String>,
    /// ARNs of the attached managed policies, in attachment order.
    pub attached: Vec<String>,
}

impl FakeRole {
    /// The parsed trust policy.
    pub fn trust(&self) -> Value {
        serde_json::from_str(&self.role.trust_policy).expect("trust policy is JSON")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePolicyVersion {
    pub id: String,
    pub document: String,
    pub is_default: bool,
    pub created: i64,
}

/// A customer managed policy as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePolicy {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub tags: Tags,
    /// Oldest first.
    pub versions: Vec<FakePolicyVersion>,
    next_version: u32,
}

impl FakePolicy {
    pub fn default_version(&self) -> &FakePolicyVersion {
        self.versions
            .iter()
            .find(|v| v.is_default)
            .expect("a policy always has a default version")
    }
    /// The parsed default document.
    pub fn document(&self) -> Value {
        serde_json::from_str(&self.default_version().document).expect("policy document is JSON")
    }
    fn push_version(&mut self, document: &str, created: i64, default: bool) -> String {
        self.next_version += 1;
        let id = format!("v{}", self.next_version);
        if default {
            self.versions.iter_mut().for_each(|v| v.is_default = false);
        }
        self.versions.push(FakePolicyVersion {
            id: id.clone(),
            document: document.to_string(),
            is_default: default,
            created,
        });
        id
    }
}

#[derive(Debug)]
struct AwsState {
    account: Account,
    clusters: BTreeMap<String, EksCluster>,
    nodegroups: BTreeMap<String, Vec<NodegroupRole>>,
    /// By ARN.
    providers: BTreeMap<String, OidcProvider>,
    roles: BTreeMap<String, FakeRole>,
    /// By ARN.
    policies: BTreeMap<String, FakePolicy>,
    calls: Vec<String>,
    faults: Vec<Fault<AwsErrorKind>>,
    /// Seconds since the epoch of the next policy version.
    clock: i64,
    /// GetAccountSummary's AssumeRolePolicySizeQuota; enforced like IAM.
    trust_quota: usize,
    /// AMP workspaces by id, in the cluster's region.
    workspaces: BTreeMap<String, Workspace>,
    next_workspace: u32,
    /// Pod Identity associations by (cluster, id).
    associations: BTreeMap<(String, String), PodIdentityAssociation>,
    next_association: u32,
    /// Add-ons by (cluster, name).
    addons: BTreeMap<(String, String), Addon>,
    /// Fargate selectors by cluster.
    fargate: BTreeMap<String, Vec<FargateSelector>>,
}

impl AwsState {
    fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }
    fn attachment_count(&self, policy_arn: &str) -> i32 {
        let n = self
            .roles
            .values()
            .filter(|r| r.attached.iter().any(|a| a == policy_arn))
            .count();
        i32::try_from(n).unwrap_or(i32::MAX)
    }
    fn policy_by_name(&self, name: &str) -> Option<&FakePolicy> {
        self.policies.values().find(|p| p.name == name)
    }
    /// IAM rejects a trust policy naming an OIDC provider that does not exist.
    fn check_trust(
        &self,
        action: &'static str,
        role: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        let malformed = |message: String| {
            aws_error(
                action,
                role,
                AwsErrorKind::Invalid,
                "MalformedPolicyDocument",
                message,
            )
        };
        let doc: Value = serde_json::from_str(document)
            .map_err(|e| malformed(format!("This policy contains invalid Json: {e}")))?;
        // IAM counts the characters of the document without whitespace.
        let size = document.chars().filter(|c| !c.is_whitespace()).count();
        if size > self.trust_quota {
            return Err(aws_error(
                action,
                role,
                AwsErrorKind::LimitExceeded,
                "LimitExceeded",
                format!(
                    "Cannot exceed quota for ACLSizePerRole: {}",
                    self.trust_quota
                ),
            ));
        }
        for st in crate::policy::statements(&doc) {
            let federated = match st.get("Principal").and_then(|p| p.get("Federated")) {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            if let Some(p) = federated
                .iter()
                .find(|p| p.contains(":oidc-provider/") && !self.providers.contains_key(*p))
            {
                return Err(malformed(format!("Invalid principal in policy: \"{p}\"")));
            }
        }
        Ok(())
    }
}

fn aws_error(
    action: &'static str,
    resource: &str,
    kind: AwsErrorKind,
    code: &str,
    message: impl Into<String>,
) -> AwsError {
    AwsError::new(action, resource, kind, Some(code.to_string()), message)
}

fn no_such_entity(action: &'static str, resource: &str, what: &str) -> AwsError {
    aws_error(
        action,
        resource,
        AwsErrorKind::NotFound,
        "NoSuchEntity",
        format!("The {what} {resource} cannot be found."),
    )
}

fn already_exists(action: &'static str, resource: &str, what: &str) -> AwsError {
    aws_error(
        action,
        resource,
        AwsErrorKind::AlreadyExists,
        "EntityAlreadyExists",
        format!("A {what} called {resource} already exists."),
    )
}

fn delete_conflict(action: &'static str, resource: &str, message: &str) -> AwsError {
    aws_error(
        action,
        resource,
        AwsErrorKind::Other,
        "DeleteConflict",
        message,
    )
}

/// The error code IAM would send for a kind (fault injection).
fn code_for(kind: AwsErrorKind) -> Option<String> {
    let code = match kind {
        AwsErrorKind::NotFound => "NoSuchEntity",
        AwsErrorKind::AlreadyExists => "EntityAlreadyExists",
        AwsErrorKind::AccessDenied => "AccessDenied",
        AwsErrorKind::Credentials => "ExpiredToken",
        AwsErrorKind::Throttled => "Throttling",
        AwsErrorKind::Invalid => "MalformedPolicyDocument",
        AwsErrorKind::LimitExceeded => "LimitExceeded",
        AwsErrorKind::ConcurrentModification => "ConcurrentModification",
        AwsErrorKind::Unavailable => return None,
        AwsErrorKind::Other => "ServiceFailure",
    };
    Some(code.to_string())
}

/// The region in an EKS issuer URL (`https://oidc.eks.<region>.amazonaws.com…`).
fn issuer_region(issuer: &str) -> &str {
    arn::issuer_host_path(issuer)
        .strip_prefix("oidc.eks.")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or("us-east-1")
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// IAM, EKS and STS in memory; see the module documentation.
#[derive(Debug)]
pub struct FakeAws {
    state: Mutex<AwsState>,
}

impl Default for FakeAws {
    fn default() -> Self {
        FakeAws::new()
    }
}

impl FakeAws {
    /// An empty account 111122223333 in the `aws` partition, called by
    /// `arn:aws:iam::111122223333:user/test`. No cluster yet: see [`Self::with_cluster`].
    pub fn new() -> FakeAws {
        FakeAws::new_in_partition("aws")
    }

    /// The same in another partition (`aws-cn`, `aws-us-gov`).
    pub fn new_in_partition(partition: &str) -> FakeAws {
        FakeAws {
            state: Mutex::new(AwsState {
                account: Account {
                    id: ACCOUNT.into(),
                    partition: partition.into(),
                },
                clusters: BTreeMap::new(),
                nodegroups: BTreeMap::new(),
                providers: BTreeMap::new(),
                roles: BTreeMap::new(),
                policies: BTreeMap::new(),
                calls: Vec::new(),
                faults: Vec::new(),
                clock: 1_700_000_000,
                trust_quota: 2048,
                workspaces: BTreeMap::new(),
                next_workspace: 0,
                associations: BTreeMap::new(),
                next_association: 0,
                addons: BTreeMap::new(),
                fargate: BTreeMap::new(),
            }),
        }
    }

    /// Adds an ACTIVE EKS cluster whose OIDC issuer is `issuer` (`https://…`);
    /// its region is read from the issuer.
    pub fn with_cluster(self, name: &str, issuer: &str) -> FakeAws {
        let cluster = {
            let s = self.state();
            EksCluster {
                name: name.into(),
                arn: format!(
                    "arn:{}:eks:{}:{}:cluster/{name}",
                    s.account.partition,
                    issuer_region(issuer),
                    s.account.id
                ),
                issuer: Some(issuer.into()),
                status: "ACTIVE".into(),
                endpoint: Some(format!(
                    "https://{name}.gr7.{}.eks.amazonaws.com",
                    issuer_region(issuer)
                )),
            }
        };
        self.put_cluster(cluster);
        self
    }

    /// Adds an ACTIVE AMP workspace with this alias and tags; returns its id.
    pub fn put_workspace(&self, alias: Option<&str>, tags: Tags) -> String {
        let id = {
            let mut s = self.state();
            s.next_workspace += 1;
            format!("ws-{:08}-0000-4000-8000-000000000000", s.next_workspace)
        };
        self.put_workspace_id(&id, alias, tags)
    }

    /// The same with a given id.
    pub fn put_workspace_id(&self, id: &str, alias: Option<&str>, tags: Tags) -> String {
        let id = id.to_string();
        let mut s = self.state();
        // The workspace lives in the cluster's region.
        let region = s
            .clusters
            .values()
            .next()
            .and_then(|c| c.arn.split(':').nth(3).map(str::to_string))
            .unwrap_or_else(|| "us-east-1".to_string());
        let arn = s.account.amp_workspace(&region, &id);
        s.workspaces.insert(
            id.clone(),
            Workspace {
                id: id.clone(),
                alias: alias.map(str::to_string),
                arn,
                status: "ACTIVE".into(),
                endpoint: Some(format!(
                    "https://aps-workspaces.{region}.amazonaws.com/workspaces/{id}/"
                )),
                tags,
            },
        );
        id
    }

    /// Adds a Pod Identity association (made by someone else unless `tags` say ours).
    pub fn put_association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        role_arn: &str,
        tags: Tags,
    ) -> String {
        let mut s = self.state();
        s.next_association += 1;
        let id = format!("a-{:012}", s.next_association);
        let arn = format!(
            "arn:{}:eks:us-east-1:{}:podidentityassociation/{cluster}/{id}",
            s.account.partition, s.account.id
        );
        s.associations.insert(
            (cluster.into(), id.clone()),
            PodIdentityAssociation {
                id: id.clone(),
                arn,
                namespace: namespace.into(),
                service_account: service_account.into(),
                role_arn: role_arn.into(),
                tags,
            },
        );
        id
    }

    pub fn stored_associations(&self, cluster: &str) -> Vec<PodIdentityAssociation> {
        self.state()
            .associations
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// Installs an add-on (e.g. `eks-pod-identity-agent`) with this status.
    pub fn put_addon(&self, cluster: &str, name: &str, status: &str) {
        self.state().addons.insert(
            (cluster.into(), name.into()),
            Addon {
                name: name.into(),
                status: status.into(),
                version: Some("v1.3.0-eksbuild.1".into()),
            },
        );
    }

    /// Adds a Fargate profile selector.
    pub fn put_fargate_selector(&self, cluster: &str, profile: &str, namespace: &str) {
        self.state()
            .fargate
            .entry(cluster.into())
            .or_default()
            .push(FargateSelector {
                profile: profile.into(),
                namespace: namespace.into(),
                labels: Tags::new(),
            });
    }

    /// Sets a workspace's status (e.g. `CREATING`).
    pub fn set_workspace_status(&self, id: &str, status: &str) {
        if let Some(w) = self.state().workspaces.get_mut(id) {
            w.status = status.into();
        }
    }

    pub fn stored_workspaces(&self) -> Vec<Workspace> {
        self.state().workspaces.values().cloned().collect()
    }

    /// The account's trust policy quota raised (or lowered) to `quota` characters.
    pub fn with_trust_quota(self, quota: usize) -> FakeAws {
        self.state().trust_quota = quota;
        self
    }

    /// Adds or replaces a cluster as given (e.g. one still CREATING, without issuer).
    pub fn put_cluster(&self, cluster: EksCluster) {
        self.state().clusters.insert(cluster.name.clone(), cluster);
    }

    /// The account the fake answers for.
    pub fn account(&self) -> Account {
        self.state().account.clone()
    }

    /// Adds an IAM OIDC provider for `host_path` (an issuer without `https://`).
    /// Returns its ARN.
    pub fn put_provider(&self, host_path: &str, client_ids: &[&str], tags: Tags) -> String {
        let mut s = self.state();
        let arn = s.account.oidc_provider(host_path);
        s.providers.insert(
            arn.clone(),
            OidcProvider {
                arn: arn.clone(),
                client_ids: client_ids.iter().map(|c| c.to_string()).collect(),
                tags,
            },
        );
        arn
    }

    /// Adds (or replaces) a role at path `/` with this trust policy, tags and
    /// attached policy ARNs. Returns its ARN.
    pub fn put_role(&self, name: &str, trust: &Value, tags: Tags, attached: &[&str]) -> String {
        self.put_role_at("/", name, trust, tags, attached)
    }

    /// [`Self::put_role`] at another IAM path (`/team/`).
    pub fn put_role_at(
        &self,
        path: &str,
        name: &str,
        trust: &Value,
        tags: Tags,
        attached: &[&str],
    ) -> String {
        let mut s = self.state();
        let arn = s.account.role(path, name);
        let role = FakeRole {
            role: Role {
                name: name.into(),
                arn: arn.clone(),
                path: path.into(),
                trust_policy: crate::policy::minify(trust),
                tags,
            },
            description: String::new(),
            permissions_boundary: None,
            attached: attached.iter().map(|a| a.to_string()).collect(),
        };
        s.roles.insert(name.into(), role);
        arn
    }

    /// Adds (or replaces) a customer managed policy at path `/` with one
    /// version, `v1`, as its default. Returns its ARN.
    pub fn put_policy(&self, name: &str, document: &Value, tags: Tags) -> String {
        let mut s = self.state();
        let arn = s.account.policy("/", name);
        let created = s.tick();
        let mut policy = FakePolicy {
            name: name.into(),
            path: "/".into(),
            arn: arn.clone(),
            tags,
            versions: Vec::new(),
            next_version: 0,
        };
        policy.push_version(&crate::policy::minify(document), created, true);
        s.policies.insert(arn.clone(), policy);
        arn
    }

    /// Adds a version to the policy called `name`, created after all the
    /// others; `default` makes it the default. Returns its id (`v2`, …).
    pub fn put_policy_version(&self, name: &str, document: &Value, default: bool) -> String {
        let mut s = self.state();
        let created = s.tick();
        let arn = s
            .policy_by_name(name)
            .unwrap_or_else(|| panic!("put_policy_version: no policy {name}"))
            .arn
            .clone();
        let policy = s.policies.get_mut(&arn).expect("just found");
        policy.push_version(&crate::policy::minify(document), created, default)
    }

    /// Adds a node group with this instance role to `cluster`.
    pub fn put_nodegroup(&self, cluster: &str, nodegroup: &str, role_arn: &str) {
        self.state()
            .nodegroups
            .entry(cluster.into())
            .or_default()
            .push(NodegroupRole {
                nodegroup: nodegroup.into(),
                role_arn: role_arn.into(),
            });
    }

    /// Makes the next `times` calls whose log line starts with `prefix` fail
    /// with `kind` (and IAM's code for it). `prefix` is an action such as
    /// `iam:CreateRole`, or an action and resource such as
    /// `iam:CreateRole amp-iamproxy-query-role`.
    pub fn fail(&self, prefix: &str, kind: AwsErrorKind, times: usize) {
        self.fail_with(prefix, kind, "injected fault", times);
    }

    /// [`Self::fail`] with the service's message, e.g. `Invalid principal in
    /// policy` for IAM's eventual consistency.
    pub fn fail_with(&self, prefix: &str, kind: AwsErrorKind, message: &str, times: usize) {
        self.state().faults.push(Fault {
            prefix: prefix.into(),
            kind,
            message: message.into(),
            times,
        });
    }

    /// Every call so far, in order, as `<action> <resource>`.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// The calls that are not reads (Get, List, Describe).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                let action = c.split(' ').next().unwrap_or("");
                let verb = action.split(':').nth(1).unwrap_or(action);
                !["Get", "List", "Describe"]
                    .iter()
                    .any(|r| verb.starts_with(r))
            })
            .collect()
    }

    /// Forgets the calls so far (e.g. between a first and a second run).
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// A role as stored, if it exists.
    pub fn stored_role(&self, name: &str) -> Option<FakeRole> {
        self.state().roles.get(name).cloned()
    }

    /// A customer managed policy as stored, by name.
    pub fn stored_policy(&self, name: &str) -> Option<FakePolicy> {
        self.state().policy_by_name(name).cloned()
    }

    /// The OIDC provider for `host_path`, if it exists.
    pub fn stored_provider(&self, host_path: &str) -> Option<OidcProvider> {
        let s = self.state();
        s.providers
            .get(&s.account.oidc_provider(host_path))
            .cloned()
    }

    fn state(&self) -> MutexGuard<'_, AwsState> {
        lock(&self.state)
    }

    /// Logs a call and applies any fault planned for it.
    fn call(
        &self,
        action: &'static str,
        resource: &str,
    ) -> Result<MutexGuard<'_, AwsState>, AwsError> {
        let mut s = self.state();
        let line = if resource.is_empty() {
            action.to_string()
        } else {
            format!("{action} {resource}")
        };
        let fault = take_fault(&mut s.faults, &line);
        s.calls.push(line);
        match fault {
            Some((kind, message)) => Err(AwsError::new(
                action,
                resource,
                kind,
                code_for(kind),
                message,
            )),
            None => Ok(s),
        }
    }
}

impl Aws for FakeAws {
    async fn caller(&self) -> Result<Caller, AwsError> {
        let s = self.call("sts:GetCallerIdentity", "")?;
        Ok(Caller {
            account: s.account.id.clone(),
            arn: s.account.iam("user/test"),
        })
    }

    async fn cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError> {
        let s = self.call("eks:DescribeCluster", name)?;
        Ok(s.clusters.get(name).cloned())
    }

    async fn nodegroup_roles(&self, cluster: &str) -> Result<Vec<NodegroupRole>, AwsError> {
        let s = self.call("eks:ListNodegroups", cluster)?;
        Ok(s.nodegroups.get(cluster).cloned().unwrap_or_default())
    }

    async fn oidc_provider_arns(&self) -> Result<Vec<String>, AwsError> {
        let s = self.call("iam:ListOpenIDConnectProviders", "")?;
        Ok(s.providers.keys().cloned().collect())
    }

    async fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, AwsError> {
        let s = self.call("iam:GetOpenIDConnectProvider", arn)?;
        Ok(s.providers.get(arn).cloned())
    }

    async fn role(&self, name: &str) -> Result<Option<Role>, AwsError> {
        let s = self.call("iam:GetRole", name)?;
        Ok(s.roles.get(name).map(|r| r.role.clone()))
    }

    async fn attached_policies(&self, role: &str) -> Result<Vec<AttachedPolicy>, AwsError> {
        let s = self.call("iam:ListAttachedRolePolicies", role)?;
        Ok(s.roles
            .get(role)
            .map(|r| {
                r.attached
                    .iter()
                    .map(|arn| AttachedPolicy {
                        name: last_segment(arn).to_string(),
                        arn: arn.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn role_trusts(&self) -> Result<Vec<RoleTrust>, AwsError> {
        let s = self.call("iam:ListRoles", "")?;
        Ok(s.roles
            .values()
            .map(|r| RoleTrust {
                name: r.role.name.clone(),
                trust_policy: r.role.trust_policy.clone(),
            })
            .collect())
    }

    async fn local_policies(&self, path_prefix: &str) -> Result<Vec<PolicySummary>, AwsError> {
        let s = self.call("iam:ListPolicies", path_prefix)?;
        Ok(s.policies
            .values()
            .filter(|p| p.path.starts_with(path_prefix))
            .map(|p| PolicySummary {
                name: p.name.clone(),
                arn: p.arn.clone(),
                path: p.path.clone(),
                default_version: p.default_version().id.clone(),
                attachment_count: s.attachment_count(&p.arn),
            })
            .collect())
    }

    async fn policy_document(&self, arn: &str, version: &str) -> Result<String, AwsError> {
        const ACTION: &str = "iam:GetPolicyVersion";
        let s = self.call(ACTION, &format!("{arn} {version}"))?;
        s.policies
            .get(arn)
            .and_then(|p| p.versions.iter().find(|v| v.id == version))
            .map(|v| v.document.clone())
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy version"))
    }

    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        const ACTION: &str = "iam:ListPolicyVersions";
        let s = self.call(ACTION, arn)?;
        let p = s
            .policies
            .get(arn)
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy"))?;
        Ok(p.versions
            .iter()
            .map(|v| PolicyVersion {
                id: v.id.clone(),
                is_default: v.is_default,
                created: v.created,
            })
            .collect())
    }

    async fn policy_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        const ACTION: &str = "iam:ListPolicyTags";
        let s = self.call(ACTION, arn)?;
        s.policies
            .get(arn)
            .map(|p| p.tags.clone())
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy"))
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<PolicySummary>, AwsError> {
        let s = self.call("iam:GetPolicy", arn)?;
        if let Some(p) = s.policies.get(arn) {
            return Ok(Some(PolicySummary {
                name: p.name.clone(),
                arn: p.arn.clone(),
                path: p.path.clone(),
                default_version: p.default_version().id.clone(),
                attachment_count: s.attachment_count(&p.arn),
            }));
        }
        // AWS managed policies exist in every account.
        let aws_managed = format!("arn:{}:iam::aws:policy/", s.account.partition);
        Ok(arn.strip_prefix(&aws_managed).map(|name| PolicySummary {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            arn: arn.to_string(),
            path: "/".into(),
            default_version: "v1".into(),
            attachment_count: s.attachment_count(arn),
        }))
    }

    async fn policy_entities(&self, arn: &str) -> Result<PolicyEntities, AwsError> {
        let s = self.call("iam:ListEntitiesForPolicy", arn)?;
        Ok(PolicyEntities {
            roles: s
                .roles
                .iter()
                .filter(|(_, r)| r.attached.iter().any(|a| a == arn))
                .map(|(name, _)| name.clone())
                .collect(),
            ..PolicyEntities::default()
        })
    }

    async fn trust_policy_quota(&self) -> Result<usize, AwsError> {
        let s = self.call("iam:GetAccountSummary", "*")?;
        Ok(s.trust_quota)
    }

    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, AwsError> {
        let s = self.call("aps:DescribeWorkspace", id)?;
        Ok(s.workspaces.get(id).cloned())
    }

    async fn workspaces(&self, alias: Option<&str>) -> Result<Vec<Workspace>, AwsError> {
        let s = self.call("aps:ListWorkspaces", alias.unwrap_or("*"))?;
        Ok(s.workspaces
            .values()
            .filter(|w| alias.is_none() || w.alias.as_deref() == alias)
            .map(|w| Workspace {
                endpoint: None,
                ..w.clone()
            })
            .collect())
    }

    async fn create_workspace(&self, alias: &str, tags: &Tags) -> Result<Workspace, AwsError> {
        drop(self.call("aps:CreateWorkspace", alias)?);
        let id = self.put_workspace(Some(alias), tags.clone());
        let s = self.state();
        let w = s
            .workspaces
            .get(&id)
            .ok_or_else(|| no_such_entity("aps:CreateWorkspace", alias, "workspace"))?;
        // AMP answers CREATING, and the workspace turns ACTIVE shortly after
        // (stored ACTIVE here); the answer has no endpoint.
        Ok(Workspace {
            status: "CREATING".into(),
            endpoint: None,
            ..w.clone()
        })
    }

    async fn delete_workspace(&self, id: &str) -> Result<(), AwsError> {
        const ACTION: &str = "aps:DeleteWorkspace";
        let mut s = self.call(ACTION, id)?;
        s.workspaces
            .remove(id)
            .map(drop)
            .ok_or_else(|| no_such_entity(ACTION, id, "workspace"))
    }

    async fn pod_identity_associations(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Vec<PodIdentityAssociation>, AwsError> {
        let s = self.call(
            "eks:ListPodIdentityAssociations",
            &format!("{cluster} {namespace}/{service_account}"),
        )?;
        Ok(s.associations
            .iter()
            .filter(|((c, _), a)| {
                c == cluster && a.namespace == namespace && a.service_account == service_account
            })
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn create_pod_identity_association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        role_arn: &str,
        tags: &Tags,
    ) -> Result<PodIdentityAssociation, AwsError> {
        const ACTION: &str = "eks:CreatePodIdentityAssociation";
        let who = format!("{cluster} {namespace}/{service_account}");
        let exists = {
            let s = self.call(ACTION, &who)?;
            s.associations.iter().any(|((c, _), a)| {
                c == cluster && a.namespace == namespace && a.service_account == service_account
            })
        };
        if exists {
            // EKS allows one association per ServiceAccount.
            return Err(aws_error(
                ACTION,
                &who,
                AwsErrorKind::AlreadyExists,
                "ResourceInUseException",
                "Association already exists",
            ));
        }
        let id = self.put_association(cluster, namespace, service_account, role_arn, tags.clone());
        self.state()
            .associations
            .get(&(cluster.to_string(), id.clone()))
            .cloned()
            .ok_or_else(|| no_such_entity(ACTION, &id, "association"))
    }

    async fn update_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
        role_arn: &str,
    ) -> Result<(), AwsError> {
        const ACTION: &str = "eks:UpdatePodIdentityAssociation";
        let mut s = self.call(ACTION, id)?;
        let a = s
            .associations
            .get_mut(&(cluster.to_string(), id.to_string()))
            .ok_or_else(|| no_such_entity(ACTION, id, "association"))?;
        a.role_arn = role_arn.into();
        Ok(())
    }

    async fn delete_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<(), AwsError> {
        const ACTION: &str = "eks:DeletePodIdentityAssociation";
        let mut s = self.call(ACTION, id)?;
        s.associations
            .remove(&(cluster.to_string(), id.to_string()))
            .map(drop)
            .ok_or_else(|| no_such_entity(ACTION, id, "association"))
    }

    async fn addon(&self, cluster: &str, name: &str) -> Result<Option<Addon>, AwsError> {
        let s = self.call("eks:DescribeAddon", name)?;
        Ok(s.addons
            .get(&(cluster.to_string(), name.to_string()))
            .cloned())
    }

    async fn create_addon(&self, cluster: &str, name: &str, _tags: &Tags) -> Result<(), AwsError> {
        drop(self.call("eks:CreateAddon", name)?);
        self.put_addon(cluster, name, "CREATING");
        Ok(())
    }

    async fn fargate_selectors(&self, cluster: &str) -> Result<Vec<FargateSelector>, AwsError> {
        let s = self.call("eks:ListFargateProfiles", cluster)?;
        Ok(s.fargate.get(cluster).cloned().unwrap_or_default())
    }

    async fn create_oidc_provider(
        &self,
        url: &str,
        client_ids: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const ACTION: &str = "iam:CreateOpenIDConnectProvider";
        let mut s = self.call(ACTION, url)?;
        let arn = s.account.oidc_provider(arn::issuer_host_path(url));
        if s.providers.contains_key(&arn) {
            return Err(already_exists(ACTION, &arn, "provider"));
        }
        s.providers.insert(
            arn.clone(),
            OidcProvider {
                arn: arn.clone(),
                client_ids: client_ids.to_vec(),
                tags: tags.clone(),
            },
        );
        Ok(arn)
    }

    async fn add_oidc_client_id(&self, arn: &str, client_id: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:AddClientIDToOpenIDConnectProvider";
        let mut s = self.call(ACTION, &format!("{arn} {client_id}"))?;
        let p = s
            .providers
            .get_mut(arn)
            .ok_or_else(|| no_such_entity(ACTION, arn, "OpenIDConnect provider"))?;
        // Adding a client id that is already there succeeds, as in IAM.
        if !p.client_ids.iter().any(|c| c == client_id) {
            p.client_ids.push(client_id.into());
        }
        Ok(())
    }

    async fn delete_oidc_provider(&self, arn: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:DeleteOpenIDConnectProvider";
        let mut s = self.call(ACTION, arn)?;
        s.providers
            .remove(arn)
            .map(|_| ())
            .ok_or_else(|| no_such_entity(ACTION, arn, "OpenIDConnect provider"))
    }

    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const ACTION: &str = "iam:CreatePolicy";
        let mut s = self.call(ACTION, name)?;
        if s.policy_by_name(name).is_some() {
            return Err(already_exists(ACTION, name, "policy"));
        }
        if serde_json::from_str::<Value>(document).is_err() {
            return Err(aws_error(
                ACTION,
                name,
                AwsErrorKind::Invalid,
                "MalformedPolicyDocument",
                "This policy contains invalid Json",
            ));
        }
        let arn = s.account.policy(path, name);
        let created = s.tick();
        let mut policy = FakePolicy {
            name: name.into(),
            path: path.into(),
            arn: arn.clone(),
            tags: tags.clone(),
            versions: Vec::new(),
            next_version: 0,
        };
        policy.push_version(document, created, true);
        s.policies.insert(arn.clone(), policy);
        Ok(arn)
    }

    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:CreatePolicyVersion";
        let mut s = self.call(ACTION, arn)?;
        let created = s.tick();
        let p = s
            .policies
            .get_mut(arn)
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy"))?;
        if p.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(aws_error(
                ACTION,
                arn,
                AwsErrorKind::LimitExceeded,
                "LimitExceeded",
                format!(
                    "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you \
                     create a new version, you must delete an existing version."
                ),
            ));
        }
        p.push_version(document, created, true);
        Ok(())
    }

    async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:DeletePolicyVersion";
        let mut s = self.call(ACTION, &format!("{arn} {version}"))?;
        let p = s
            .policies
            .get_mut(arn)
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy"))?;
        let i = p
            .versions
            .iter()
            .position(|v| v.id == version)
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy version"))?;
        if p.versions[i].is_default {
            return Err(delete_conflict(
                ACTION,
                arn,
                "Cannot delete the default version of a policy.",
            ));
        }
        p.versions.remove(i);
        Ok(())
    }

    async fn delete_policy(&self, arn: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:DeletePolicy";
        let mut s = self.call(ACTION, arn)?;
        let p = s
            .policies
            .get(arn)
            .ok_or_else(|| no_such_entity(ACTION, arn, "policy"))?;
        if p.versions.len() > 1 {
            return Err(delete_conflict(
                ACTION,
                arn,
                "This policy has more than one version. Before you delete a policy, you must \
                 delete the policy's versions. The default version is deleted with the policy.",
            ));
        }
        if s.attachment_count(arn) > 0 {
            return Err(delete_conflict(
                ACTION,
                arn,
                "Cannot delete a policy attached to entities.",
            ));
        }
        s.policies.remove(arn);
        Ok(())
    }

    async fn create_role(&self, role: &NewRole) -> Result<String, AwsError> {
        const ACTION: &str = "iam:CreateRole";
        let mut s = self.call(ACTION, &role.name)?;
        if s.roles.contains_key(&role.name) {
            return Err(already_exists(ACTION, &role.name, "role"));
        }
        s.check_trust(ACTION, &role.name, &role.trust_policy)?;
        let arn = s.account.role(&role.path, &role.name);
        s.roles.insert(
            role.name.clone(),
            FakeRole {
                role: Role {
                    name: role.name.clone(),
                    arn: arn.clone(),
                    path: role.path.clone(),
                    trust_policy: role.trust_policy.clone(),
                    tags: role.tags.clone(),
                },
                description: role.description.clone(),
                permissions_boundary: role.permissions_boundary.clone(),
                attached: Vec::new(),
            },
        );
        Ok(arn)
    }

    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:UpdateAssumeRolePolicy";
        let mut s = self.call(ACTION, role)?;
        if !s.roles.contains_key(role) {
            return Err(no_such_entity(ACTION, role, "role"));
        }
        s.check_trust(ACTION, role, document)?;
        let r = s.roles.get_mut(role).expect("checked above");
        r.role.trust_policy = document.to_string();
        Ok(())
    }

    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:DeleteRole";
        let mut s = self.call(ACTION, role)?;
        let r = s
            .roles
            .get(role)
            .ok_or_else(|| no_such_entity(ACTION, role, "role"))?;
        if !r.attached.is_empty() {
            return Err(delete_conflict(
                ACTION,
                role,
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        s.roles.remove(role);
        Ok(())
    }

    async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:AttachRolePolicy";
        let mut s = self.call(ACTION, &format!("{role} {policy_arn}"))?;
        // AWS managed policies (`arn:…:iam::aws:policy/…`) always exist.
        let aws_managed = policy_arn.contains(":iam::aws:policy/");
        if !aws_managed && !s.policies.contains_key(policy_arn) {
            return Err(no_such_entity(ACTION, policy_arn, "policy"));
        }
        let r = s
            .roles
            .get_mut(role)
            .ok_or_else(|| no_such_entity(ACTION, role, "role"))?;
        if !r.attached.iter().any(|a| a == policy_arn) {
            r.attached.push(policy_arn.into());
        }
        Ok(())
    }

    async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        const ACTION: &str = "iam:DetachRolePolicy";
        let mut s = self.call(ACTION, &format!("{role} {policy_arn}"))?;
        let r = s
            .roles
            .get_mut(role)
            .ok_or_else(|| no_such_entity(ACTION, role, "role"))?;
        let i = r
            .attached
            .iter()
            .position(|a| a == policy_arn)
            .ok_or_else(|| no_such_entity(ACTION, policy_arn, "attached policy"))?;
        r.attached.remove(i);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Kubernetes

/// A ServiceAccount as the fake stores it, with the managers owning each key
/// (server-side apply's field ownership, as the API server keeps it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeServiceAccount {
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Annotation key → field managers owning it.
    pub annotation_owners: BTreeMap<String, BTreeSet<String>>,
    /// Label key → field managers owning it.
    pub label_owners: BTreeMap<String, BTreeSet<String>>,
    /// Annotation key → when its value was last written.
    pub annotation_times: BTreeMap<String, String>,
}

impl Default for ClusterState {
    fn default() -> Self {
        ClusterState {
            namespaces: BTreeSet::new(),
            accounts: BTreeMap::new(),
            pods: BTreeMap::new(),
            objects: BTreeMap::new(),
            restarts: Vec::new(),
            clock: 1_704_067_200,
            calls: Vec::new(),
            faults: Vec::new(),
        }
    }
}

/// The manager the fake records for ServiceAccounts seeded by
/// [`FakeCluster::put_service_account`] (kubectl, Helm, eksctl…).
pub const OTHER_MANAGER: &str = "someone-else";

#[derive(Debug)]
struct ClusterState {
    namespaces: BTreeSet<String>,
    /// By (namespace, name).
    accounts: BTreeMap<(String, String), FakeServiceAccount>,
    /// By (namespace, name).
    pods: BTreeMap<(String, String), Pod>,
    /// Objects other than pods (ReplicaSets, Deployments…) by (namespace,
    /// kind, name), with their controller owner.
    objects: BTreeMap<(String, String, String), Option<Owner>>,
    /// Every restart, as (namespace, owner, restartedAt).
    restarts: Vec<(String, Owner, String)>,
    /// Seconds since the epoch; every write advances it a minute.
    clock: i64,
    calls: Vec<String>,
    faults: Vec<Fault<KubeErrorKind>>,
}

impl ClusterState {
    fn tick(&mut self) -> String {
        self.clock += 60;
        crate::clock::rfc3339(self.clock)
    }

    /// The workload a pod belongs to: its owner, or the owner's owner for a
    /// ReplicaSet (Deployment) or Job (CronJob).
    fn top_owner(&self, ns: &str, pod: &Pod) -> Option<Owner> {
        let owner = pod.owner.clone()?;
        match self
            .objects
            .get(&(ns.to_string(), owner.kind.clone(), owner.name.clone()))
        {
            Some(Some(parent)) => Some(parent.clone()),
            _ => Some(owner),
        }
    }
}

/// A Kubernetes API server with namespaces and ServiceAccounts; see the module
/// documentation.
#[derive(Debug, Default)]
pub struct FakeCluster {
    state: Mutex<ClusterState>,
}

/// Server-side apply of one map by `manager` (forced): keys applied are set
/// (taken over from others when the value changes, shared when it does not);
/// keys it owned but no longer lists are released, and go only when no other
/// manager owns them.
fn apply_map(
    map: &mut BTreeMap<String, String>,
    owners: &mut BTreeMap<String, BTreeSet<String>>,
    applied: &BTreeMap<String, String>,
    manager: &str,
) {
    for (k, v) in applied {
        let same = map.get(k) == Some(v);
        let entry = owners.entry(k.clone()).or_default();
        if !same {
            entry.clear();
        }
        entry.insert(manager.to_string());
        map.insert(k.clone(), v.clone());
    }
    owners.retain(|k, managers| {
        if !applied.contains_key(k) {
            managers.remove(manager);
        }
        let keep = !managers.is_empty();
        if !keep {
            map.remove(k);
        }
        keep
    });
}

impl FakeServiceAccount {
    /// As the cluster edge reports it.
    fn observed(&self) -> ServiceAccount {
        ServiceAccount {
            annotations: self.annotations.clone(),
            labels: self.labels.clone(),
            annotation_managers: self.annotation_owners.clone(),
            annotation_times: self.annotation_times.clone(),
        }
    }
}

impl FakeCluster {
    /// A cluster with no namespaces.
    pub fn new() -> FakeCluster {
        FakeCluster::default()
    }

    /// Adds a namespace.
    pub fn with_namespace(self, name: &str) -> FakeCluster {
        self.state().namespaces.insert(name.into());
        self
    }

    /// Adds (or replaces) a ServiceAccount made by another manager (e.g.
    /// `kubectl create sa`, a Helm chart); its namespace is created if needed.
    pub fn put_service_account(
        &self,
        namespace: &str,
        name: &str,
        annotations: &[(&str, &str)],
        labels: &[(&str, &str)],
    ) {
        let pairs = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let owned = |kv: &[(&str, &str)]| -> BTreeMap<String, BTreeSet<String>> {
            kv.iter()
                .map(|(k, _)| (k.to_string(), BTreeSet::from([OTHER_MANAGER.to_string()])))
                .collect()
        };
        let mut s = self.state();
        s.namespaces.insert(namespace.into());
        let now = s.tick();
        s.accounts.insert(
            (namespace.into(), name.into()),
            FakeServiceAccount {
                annotations: pairs(annotations),
                labels: pairs(labels),
                annotation_owners: owned(annotations),
                label_owners: owned(labels),
                annotation_times: annotations
                    .iter()
                    .map(|(k, _)| (k.to_string(), now.clone()))
                    .collect(),
            },
        );
    }

    pub fn has_namespace(&self, name: &str) -> bool {
        self.state().namespaces.contains(name)
    }

    /// Adds a pod (created now, unless `pod.created` says otherwise).
    pub fn put_pod(&self, namespace: &str, mut pod: Pod) {
        let mut s = self.state();
        if pod.created.is_none() {
            pod.created = Some(s.tick());
        }
        s.pods.insert((namespace.into(), pod.name.clone()), pod);
    }

    /// Adds a ReplicaSet, Deployment, StatefulSet, DaemonSet, Job… with its owner.
    pub fn put_object(&self, namespace: &str, kind: &str, name: &str, owner: Option<Owner>) {
        self.state()
            .objects
            .insert((namespace.into(), kind.into(), name.into()), owner);
    }

    /// Every restart so far: (namespace, owner, restartedAt).
    pub fn restarts(&self) -> Vec<(String, Owner, String)> {
        self.state().restarts.clone()
    }

    /// The pods of a namespace as stored.
    pub fn stored_pods(&self, namespace: &str) -> Vec<Pod> {
        self.state()
            .pods
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// A ServiceAccount as stored, with field ownership.
    pub fn stored_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<FakeServiceAccount> {
        self.state()
            .accounts
            .get(&(namespace.into(), name.into()))
            .cloned()
    }

    /// Makes the next `times` calls whose log line starts with `prefix` fail;
    /// `prefix` is a verb and resource type such as `patch serviceaccounts`,
    /// optionally followed by `namespace/name`.
    pub fn fail(&self, prefix: &str, kind: KubeErrorKind, times: usize) {
        self.state().faults.push(Fault {
            prefix: prefix.into(),
            kind,
            message: "injected fault".into(),
            times,
        });
    }

    /// Every call so far, in order, as `<verb> <resource> <name>`.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// The calls that are not reads (`get`, `list`).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("get ") && !c.starts_with("list "))
            .collect()
    }

    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    fn state(&self) -> MutexGuard<'_, ClusterState> {
        lock(&self.state)
    }

    fn call(
        &self,
        verb: &'static str,
        resource: String,
    ) -> Result<MutexGuard<'_, ClusterState>, KubeError> {
        let mut s = self.state();
        let line = format!("{verb} {resource}");
        let fault = take_fault(&mut s.faults, &line);
        s.calls.push(line);
        match fault {
            Some((kind, message)) => Err(KubeError::new(verb, resource, kind, message)),
            None => Ok(s),
        }
    }
}

impl Cluster for FakeCluster {
    async fn namespace_exists(&self, name: &str) -> Result<bool, KubeError> {
        let s = self.call("get", format!("namespaces {name}"))?;
        Ok(s.namespaces.contains(name))
    }

    async fn service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceAccount>, KubeError> {
        let s = self.call("get", format!("serviceaccounts {namespace}/{name}"))?;
        Ok(s.accounts
            .get(&(namespace.into(), name.into()))
            .map(FakeServiceAccount::observed))
    }

    async fn create_namespace(&self, name: &str) -> Result<(), KubeError> {
        let mut s = self.call("create", format!("namespaces {name}"))?;
        s.namespaces.insert(name.into());
        Ok(())
    }

    async fn apply_service_account(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<ServiceAccount, KubeError> {
        let resource = format!("serviceaccounts {namespace}/{name}");
        let mut s = self.call("patch", resource.clone())?;
        if !s.namespaces.contains(namespace) {
            return Err(KubeError::new(
                "patch",
                resource,
                KubeErrorKind::NotFound,
                format!("namespaces \"{namespace}\" not found"),
            ));
        }
        let now = s.tick();
        let sa = s
            .accounts
            .entry((namespace.into(), name.into()))
            .or_default();
        let before = sa.annotations.clone();
        apply_map(
            &mut sa.annotations,
            &mut sa.annotation_owners,
            annotations,
            FIELD_MANAGER,
        );
        apply_map(&mut sa.labels, &mut sa.label_owners, labels, FIELD_MANAGER);
        for (k, v) in &sa.annotations {
            if before.get(k) != Some(v) {
                sa.annotation_times.insert(k.clone(), now.clone());
            }
        }
        sa.annotation_times
            .retain(|k, _| sa.annotations.contains_key(k));
        Ok(sa.observed())
    }

    async fn remove_annotation(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        expected: &str,
    ) -> Result<Removal, KubeError> {
        let mut s = self.call("patch", format!("serviceaccounts {namespace}/{name}"))?;
        let Some(sa) = s.accounts.get_mut(&(namespace.into(), name.into())) else {
            return Ok(Removal::Gone);
        };
        if sa.annotations.get(key).map(String::as_str) != Some(expected) {
            return Ok(Removal::Changed);
        }
        // A JSON patch is an update: the key leaves every manager's set.
        sa.annotations.remove(key);
        sa.annotation_owners.remove(key);
        sa.annotation_times.remove(key);
        Ok(Removal::Removed)
    }

    async fn delete_service_account(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        let mut s = self.call("delete", format!("serviceaccounts {namespace}/{name}"))?;
        s.accounts.remove(&(namespace.into(), name.into()));
        Ok(())
    }

    async fn pods(&self, namespace: &str) -> Result<Vec<Pod>, KubeError> {
        let s = self.call("list", format!("pods {namespace}"))?;
        Ok(s.pods
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, p)| p.clone())
            .collect())
    }

    async fn owner_of(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Owner>, KubeError> {
        // As the real edge: other kinds are not read, and have no owner.
        if !OWNER_KINDS.contains(&kind) {
            return Ok(None);
        }
        let plural = format!("{}s", kind.to_ascii_lowercase());
        let s = self.call("get", format!("{plural} {namespace}/{name}"))?;
        Ok(s.objects
            .get(&(namespace.into(), kind.into(), name.into()))
            .cloned()
            .flatten())
    }

    async fn restart(&self, namespace: &str, owner: &Owner, at: &str) -> Result<(), KubeError> {
        let plural = format!("{}s", owner.kind.to_ascii_lowercase());
        let resource = format!("{plural} {namespace}/{}", owner.name);
        if !RESTARTABLE_KINDS.contains(&owner.kind.as_str()) {
            return Err(KubeError::new(
                "patch",
                resource,
                KubeErrorKind::Invalid,
                format!("a {} cannot be restarted", owner.kind),
            ));
        }
        let mut s = self.call("patch", resource.clone())?;
        let key = (
            namespace.to_string(),
            owner.kind.clone(),
            owner.name.clone(),
        );
        if !s.objects.contains_key(&key) {
            return Err(KubeError::new(
                "patch",
                resource,
                KubeErrorKind::NotFound,
                format!("{plural} \"{}\" not found", owner.name),
            ));
        }
        s.restarts
            .push((namespace.to_string(), owner.clone(), at.to_string()));
        // The controller replaces the pods; the webhook injects the role of
        // the ServiceAccount as it is now.
        let mine: Vec<(String, String)> = s
            .pods
            .iter()
            .filter(|((ns, _), p)| ns == namespace && s.top_owner(ns, p).as_ref() == Some(owner))
            .map(|(k, _)| k.clone())
            .collect();
        for k in mine {
            let Some(old) = s.pods.remove(&k) else {
                continue;
            };
            let role = s
                .accounts
                .get(&(namespace.to_string(), old.service_account.clone()))
                .and_then(|sa| sa.annotations.get(crate::recipe::ROLE_ARN_ANNOTATION))
                .cloned();
            let created = s.tick();
            let pod = Pod {
                name: format!("{}-r", old.name),
                token_volume: role.is_some(),
                role_arn_env: role,
                created: Some(created),
                ..old
            };
            s.pods
                .insert((namespace.to_string(), pod.name.clone()), pod);
        }
        Ok(())
    }

    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        let mut s = self.call("delete", format!("pods {namespace}/{name}"))?;
        s.pods.remove(&(namespace.into(), name.into()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use serde_json::json;

    const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC";

    #[test]
    fn duplicate_creates_and_a_sixth_version_fail_like_iam() {
        let aws = FakeAws::new().with_cluster("demo", ISSUER);
        let doc = json!({"Version": "2012-10-17", "Statement": []}).to_string();
        let arn = block_on(aws.create_policy("P", "/", &doc, &Tags::new())).unwrap();
        let again = block_on(aws.create_policy("P", "/", &doc, &Tags::new())).unwrap_err();
        assert_eq!(again.kind, AwsErrorKind::AlreadyExists);
        for _ in 0..4 {
            block_on(aws.create_policy_version(&arn, &doc)).unwrap();
        }
        let versions = block_on(aws.policy_versions(&arn)).unwrap();
        assert_eq!(versions.len(), 5);
        assert!(versions[4].is_default && versions.iter().filter(|v| v.is_default).count() == 1);
        let sixth = block_on(aws.create_policy_version(&arn, &doc)).unwrap_err();
        assert_eq!(sixth.kind, AwsErrorKind::LimitExceeded);
    }

    #[test]
    fn roles_need_their_provider_and_go_only_when_detached() {
        let aws = FakeAws::new().with_cluster("demo", ISSUER);
        let provider = aws
            .account()
            .oidc_provider("oidc.eks.us-east-1.amazonaws.com/id/ABC");
        let role = NewRole {
            name: "r".into(),
            path: "/".into(),
            trust_policy: json!({"Statement": [{"Effect": "Allow",
                "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}]})
            .to_string(),
            description: String::new(),
            tags: Tags::new(),
            permissions_boundary: None,
        };
        let early = block_on(aws.create_role(&role)).unwrap_err();
        assert!(early.is_eventual_consistency(), "{early}");
        aws.put_provider(
            "oidc.eks.us-east-1.amazonaws.com/id/ABC",
            &["sts.amazonaws.com"],
            Tags::new(),
        );
        block_on(aws.create_role(&role)).unwrap();
        let policy = aws
            .account()
            .aws_managed_policy("AmazonEKSFargatePodExecutionRolePolicy");
        block_on(aws.attach_policy("r", &policy)).unwrap();
        let conflict = block_on(aws.delete_role("r")).unwrap_err();
        assert_eq!(conflict.code.as_deref(), Some("DeleteConflict"));
        block_on(aws.detach_policy("r", &policy)).unwrap();
        block_on(aws.delete_role("r")).unwrap();
        assert_eq!(block_on(aws.role("r")).unwrap(), None);
        assert_eq!(
            aws.writes(),
            [
                "iam:CreateRole r",
                "iam:CreateRole r",
                &format!("iam:AttachRolePolicy r {policy}"),
                "iam:DeleteRole r",
                &format!("iam:DetachRolePolicy r {policy}"),
                "iam:DeleteRole r",
            ]
        );
    }

    #[test]
    fn faults_hit_the_next_matching_calls_only() {
        let aws = FakeAws::new();
        aws.fail("iam:GetRole", AwsErrorKind::Throttled, 1);
        aws.fail("iam:ListPolicies", AwsErrorKind::AccessDenied, 1);
        assert_eq!(
            block_on(aws.role("x")).unwrap_err().kind,
            AwsErrorKind::Throttled
        );
        assert_eq!(block_on(aws.role("x")).unwrap(), None);
        // `iam:ListPolicies` does not match `iam:ListPolicyVersions`.
        assert!(
            block_on(aws.policy_versions("arn")).is_err_and(|e| e.kind == AwsErrorKind::NotFound)
        );
        assert!(block_on(aws.local_policies("/")).is_err());
        assert!(aws.writes().is_empty());
    }

    #[test]
    fn server_side_apply_owns_only_what_it_applied() {
        let k8s = FakeCluster::new();
        k8s.put_service_account("ns", "sa", &[("team", "a")], &[("app", "x")]);
        let ann = BTreeMap::from([("role".to_string(), "r1".to_string())]);
        let lab = BTreeMap::from([("mine".to_string(), "y".to_string())]);
        block_on(k8s.apply_service_account("ns", "sa", &ann, &lab)).unwrap();
        let sa = k8s.stored_service_account("ns", "sa").unwrap();
        assert_eq!(sa.annotations.len(), 2);
        assert_eq!(sa.labels.len(), 2);
        block_on(k8s.apply_service_account("ns", "sa", &BTreeMap::new(), &BTreeMap::new()))
            .unwrap();
        let sa = k8s.stored_service_account("ns", "sa").unwrap();
        assert_eq!(
            sa.annotations,
            BTreeMap::from([("team".into(), "a".into())])
        );
        assert_eq!(sa.labels, BTreeMap::from([("app".into(), "x".into())]));
        let missing = block_on(k8s.apply_service_account("other", "sa", &ann, &lab)).unwrap_err();
        assert_eq!(missing.kind, KubeErrorKind::NotFound);
        assert_eq!(
            k8s.writes(),
            [
                "patch serviceaccounts ns/sa",
                "patch serviceaccounts ns/sa",
                "patch serviceaccounts other/sa"
            ]
        );
    }
}
