//! The least-privilege IAM policy the operator running this tool needs, and
//! the Kubernetes RBAC rules. Pure: built from the KINDs and names alone, no
//! AWS call (what is unknown becomes `*`).
//!
//! Every action here is one that [`crate::aws::sdk`] labels an SDK call with;
//! `tests/permissions.rs` reads that file and checks nothing is missing (and
//! nothing more is granted).
//!
//! Setup reads more than it writes: the account's trust-policy quota
//! (`iam:GetAccountSummary`, which has no resource), who its policies are
//! attached to (`iam:ListEntitiesForPolicy`), their tags (`iam:ListPolicyTags`,
//! to tell its own policies from others'), and older policy versions that
//! grant more than the new default, which it deletes
//! (`iam:DeletePolicyVersion`). It also looks up `--permissions-boundary`
//! (`iam:GetPolicy`) before creating roles; this command is not told which
//! policy that is, so the `PermissionsBoundary` statement allows any customer
//! managed policy of the account (of any account without `--account`) and any
//! AWS managed policy, the only two kinds a boundary can be. Operators who
//! know their boundary can narrow it to that one ARN.
//!
//! The AMP workspace (ingest and query only): setup, status and values find
//! it by id (`aps:DescribeWorkspace`, on the region's workspace ARNs) or by
//! alias (`aps:ListWorkspaces`, which has no resource: in `Discover`).
//! Setup's `--create-workspace` needs `aps:CreateWorkspace`, which has no
//! resource either (its own `AmpWorkspaceCreate` statement, on the condition
//! that the request carries the tool's ownership tag, as setup's always does),
//! and `aps:TagResource`, which AMP checks when a workspace is created with
//! tags. Teardown's `--include-workspace` needs `aps:DeleteWorkspace`, on any
//! workspace ARN: `--force` deletes workspaces the tool did not make. Operators
//! who never create workspaces can drop `AmpWorkspaceCreate` and
//! `aps:TagResource`.
//!
//! EKS Pod Identity (ingest and query only): setup finds a ServiceAccount's
//! associations (`eks:ListPodIdentityAssociations` on the cluster, then
//! `eks:DescribePodIdentityAssociation` of each), creates one (on the cluster,
//! with `eks:TagResource` on the new association for its tags) or points it at
//! the recipe's role (`eks:UpdatePodIdentityAssociation`), and both pass the
//! role to EKS: `iam:PassRole` on the recipe's roles, only to
//! `pods.eks.amazonaws.com`. It checks the `eks-pod-identity-agent` add-on
//! (`eks:DescribeAddon`) and which namespaces run on Fargate, where Pod
//! Identity does not work (`eks:ListFargateProfiles`,
//! `eks:DescribeFargateProfile`). `--install-agent` creates the add-on
//! (`eks:CreateAddon` on the cluster, `eks:TagResource` on the add-on): the
//! `InstallAgentOnly…` statements, which operators who never pass it can drop.
//! Teardown deletes associations (`eks:DeletePodIdentityAssociation`).

use crate::recipe::{
    Desired, FARGATE_MANAGED_POLICY, Kind, MANAGED_BY, MANAGER, NameOverrides, Options,
    POD_IDENTITY_AGENT,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// What the policy is for.
#[derive(Debug, Clone)]
pub struct Request {
    /// As on the command line; empty means ingest and query.
    pub kinds: Vec<Kind>,
    pub names: NameOverrides,
    pub role_path: String,
    /// Also what `teardown` needs.
    pub teardown: bool,
    /// None: `*`.
    pub account: Option<String>,
    pub partition: String,
    /// None: `*` (scopes the EKS cluster, OIDC provider and AMP workspace ARNs).
    pub region: Option<String>,
    /// None: `*`.
    pub cluster: Option<String>,
}

/// One statement: its actions on its resources.
struct Grant {
    sid: &'static str,
    actions: BTreeSet<&'static str>,
    resources: BTreeSet<String>,
    condition: Option<Value>,
}

impl Grant {
    fn new(sid: &'static str) -> Grant {
        Grant {
            sid,
            actions: BTreeSet::new(),
            resources: BTreeSet::new(),
            condition: None,
        }
    }

    fn allow(&mut self, actions: &[&'static str]) {
        self.actions.extend(actions);
    }

    fn statement(self) -> Option<Value> {
        if self.actions.is_empty() {
            return None;
        }
        let mut st = Map::new();
        st.insert("Sid".into(), json!(self.sid));
        st.insert("Effect".into(), json!("Allow"));
        st.insert("Action".into(), json!(self.actions));
        st.insert("Resource".into(), one_or_list(&self.resources));
        if let Some(c) = self.condition {
            st.insert("Condition".into(), c);
        }
        Some(Value::Object(st))
    }
}

fn one_or_list(set: &BTreeSet<String>) -> Value {
    match set.iter().next() {
        Some(one) if set.len() == 1 => json!(one),
        _ => json!(set),
    }
}

/// The service EKS Pod Identity passes the roles to (`iam:PassedToService`).
const POD_IDENTITY_SERVICE: &str = "pods.eks.amazonaws.com";

/// [`policy_for`] with what EKS Pod Identity needs too.
pub fn policy(req: &Request) -> Value {
    policy_for(req, true)
}

/// The IAM policy document for `req`: one statement per kind of resource,
/// each scoped to the ARNs setup (and teardown) touch. Only the calls IAM
/// cannot scope (lists, the account summary, STS and AMP's CreateWorkspace)
/// have `Resource: "*"`. `pod_identity`: also the EKS Pod Identity
/// associations, add-on and Fargate profile reads (IRSA mode needs none).
pub fn policy_for(req: &Request, pod_identity: bool) -> Value {
    let desired = Desired::new(
        &req.kinds,
        &req.names,
        (false, false),
        ("", "", ""),
        None,
        Options::default(),
    );
    let p = req.partition.as_str();
    let account = req.account.as_deref().unwrap_or("*");
    let region = req.region.as_deref().unwrap_or("*");
    let cluster = req.cluster.as_deref().unwrap_or("*");
    let iam = |resource: &str| format!("arn:{p}:iam::{account}:{resource}");
    let path = req.role_path.as_str();
    let irsa = !desired.irsa.is_empty();
    let fargate = desired.fargate.is_some();
    // Pod Identity gives the IRSA kinds' roles to pods another way; Fargate has none.
    let pod_identity = pod_identity && irsa;

    let mut discover = Grant::new("Discover");
    discover.resources.insert("*".into());
    // Every kind writes a trust policy: its size is checked against the quota.
    discover.allow(&["sts:GetCallerIdentity", "iam:GetAccountSummary"]);
    if irsa {
        // Found by name in the first round, before the account id is known.
        discover.allow(&["iam:ListOpenIDConnectProviders", "iam:ListPolicies"]);
    }
    if req.teardown {
        // --include-oidc-provider: does any role still trust the provider?
        discover.allow(&["iam:ListRoles"]);
    }

    // The workspace the IRSA policies are scoped to (and values writes to).
    let mut workspace_create = Grant::new("AmpWorkspaceCreate");
    let mut workspaces = Grant::new("AmpWorkspaces");
    if irsa {
        // A workspace named by alias.
        discover.allow(&["aps:ListWorkspaces"]);
        workspace_create.resources.insert("*".into());
        workspace_create.allow(&["aps:CreateWorkspace"]);
        // Setup tags what it creates as its own: only such workspaces.
        workspace_create.condition = Some(json!({
            "StringEquals": { format!("aws:RequestTag/{MANAGED_BY}"): MANAGER }
        }));
        workspaces
            .resources
            .insert(format!("arn:{p}:aps:{region}:{account}:workspace/*"));
        workspaces.allow(&["aps:DescribeWorkspace", "aps:TagResource"]);
        if req.teardown {
            workspaces.allow(&["aps:DeleteWorkspace"]);
        }
    }

    let mut eks = Grant::new("EksCluster");
    eks.resources
        .insert(format!("arn:{p}:eks:{region}:{account}:cluster/{cluster}"));
    eks.allow(&["eks:DescribeCluster"]);
    let mut nodegroups = Grant::new("EksNodegroups");
    if fargate {
        // The Fargate role must not be a node group's role.
        eks.allow(&["eks:ListNodegroups"]);
        nodegroups.resources.insert(format!(
            "arn:{p}:eks:{region}:{account}:nodegroup/{cluster}/*/*"
        ));
        nodegroups.allow(&["eks:DescribeNodegroup"]);
    }

    let eks_arn = |resource: &str| format!("arn:{p}:eks:{region}:{account}:{resource}");
    let mut associations = Grant::new("PodIdentityAssociations");
    let mut profiles = Grant::new("EksFargateProfiles");
    let mut agent = Grant::new("PodIdentityAgent");
    let mut agent_install = Grant::new("InstallAgentOnlyCreateAddon");
    let mut agent_tags = Grant::new("InstallAgentOnlyTagAddon");
    if pod_identity {
        eks.allow(&[
            "eks:ListPodIdentityAssociations",
            "eks:CreatePodIdentityAssociation",
            // Pods on Fargate cannot use Pod Identity.
            "eks:ListFargateProfiles",
        ]);
        associations
            .resources
            .insert(eks_arn(&format!("podidentityassociation/{cluster}/*")));
        associations.allow(&[
            "eks:DescribePodIdentityAssociation",
            "eks:UpdatePodIdentityAssociation",
            // An association is created with the tool's tags.
            "eks:TagResource",
        ]);
        if req.teardown {
            associations.allow(&["eks:DeletePodIdentityAssociation"]);
        }
        profiles
            .resources
            .insert(eks_arn(&format!("fargateprofile/{cluster}/*/*")));
        profiles.allow(&["eks:DescribeFargateProfile"]);
        let addon = eks_arn(&format!("addon/{cluster}/{POD_IDENTITY_AGENT}/*"));
        agent.resources.insert(addon.clone());
        agent.allow(&["eks:DescribeAddon"]);
        // --install-agent only: creating an add-on is authorised on the
        // cluster, tagging it on the add-on.
        agent_install
            .resources
            .insert(eks_arn(&format!("cluster/{cluster}")));
        agent_install.allow(&["eks:CreateAddon"]);
        agent_tags.resources.insert(addon);
        agent_tags.allow(&["eks:TagResource"]);
    }

    let mut provider = Grant::new("OidcProvider");
    if irsa {
        // The issuer's host path: oidc.eks.<region>.amazonaws.com[.cn]/id/<ID>.
        provider
            .resources
            .insert(iam(&format!("oidc-provider/oidc.eks.{region}.*")));
        provider.allow(&[
            "iam:GetOpenIDConnectProvider",
            "iam:CreateOpenIDConnectProvider",
            "iam:AddClientIDToOpenIDConnectProvider",
            "iam:TagOpenIDConnectProvider",
        ]);
        if req.teardown {
            provider.allow(&["iam:DeleteOpenIDConnectProvider"]);
        }
    }

    let mut roles = Grant::new("Roles");
    let mut attach = Grant::new("RolePolicyAttachments");
    let mut policies = Grant::new("Policies");
    let mut attachable = BTreeSet::new();
    for spec in &desired.irsa {
        roles
            .resources
            .insert(iam(&format!("role{path}{}", spec.role_name)));
        let arn = iam(&format!("policy{path}{}", spec.policy_name));
        policies.resources.insert(arn.clone());
        attachable.insert(arn);
    }
    // Creating or updating an association passes its role to EKS Pod Identity.
    let mut pass_role = Grant::new("PassRoleToPodIdentity");
    if pod_identity {
        pass_role.resources = roles.resources.clone();
        pass_role.allow(&["iam:PassRole"]);
        pass_role.condition = Some(json!({
            "StringEquals": { "iam:PassedToService": POD_IDENTITY_SERVICE }
        }));
    }
    if let Some(f) = &desired.fargate {
        roles
            .resources
            .insert(iam(&format!("role{path}{}", f.role_name)));
        attachable.insert(format!("arn:{p}:iam::aws:policy/{FARGATE_MANAGED_POLICY}"));
    }
    roles.allow(&[
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "iam:CreateRole",
        "iam:TagRole",
        "iam:UpdateAssumeRolePolicy",
    ]);
    attach.resources = roles.resources.clone();
    attach.allow(&["iam:AttachRolePolicy"]);
    if req.teardown {
        roles.allow(&["iam:DeleteRole"]);
        attach.allow(&["iam:DetachRolePolicy"]);
    }
    // Only the policies the recipe attaches, to only these roles.
    attach.condition = Some(json!({ "ArnLike": { "iam:PolicyARN": one_or_list(&attachable) } }));
    if irsa {
        policies.allow(&[
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
            "iam:ListPolicyVersions",
            // Tags tell the tool's own policies from others' of the same name.
            "iam:ListPolicyTags",
            // Who else a policy is attached to, before it is changed or deleted.
            "iam:ListEntitiesForPolicy",
            "iam:CreatePolicy",
            "iam:TagPolicy",
            "iam:CreatePolicyVersion",
            // IAM keeps five versions: the oldest goes before a new one, and
            // older versions granting more than the new default go too.
            "iam:DeletePolicyVersion",
        ]);
        if req.teardown {
            policies.allow(&["iam:DeletePolicy"]);
        }
    }

    // A boundary is a customer managed policy of this account or an AWS
    // managed one; with no account, `*` covers both.
    let mut boundary = Grant::new("PermissionsBoundary");
    boundary.resources.insert(iam("policy/*"));
    if req.account.is_some() {
        boundary
            .resources
            .insert(format!("arn:{p}:iam::aws:policy/*"));
    }
    boundary.allow(&["iam:GetPolicy"]);

    let statements: Vec<Value> = [
        discover,
        eks,
        nodegroups,
        associations,
        profiles,
        agent,
        agent_install,
        agent_tags,
        provider,
        roles,
        attach,
        pass_role,
        policies,
        boundary,
        workspace_create,
        workspaces,
    ]
    .into_iter()
    .filter_map(Grant::statement)
    .collect();
    json!({ "Version": crate::policy::VERSION, "Statement": statements })
}

/// Every action in a policy document, sorted.
pub fn actions(doc: &Value) -> BTreeSet<String> {
    crate::policy::statements(doc)
        .into_iter()
        .filter_map(|st| st.get("Action"))
        .flat_map(|a| match a {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// One Kubernetes RBAC rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacRule {
    /// The API group: `""` for the core group, `apps`, `batch`.
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: Vec<&'static str>,
    /// Namespaces are cluster-scoped.
    pub cluster_scoped: bool,
    /// When the rule is needed, if not on every run.
    pub note: Option<&'static str>,
}

impl RbacRule {
    fn new(group: &'static str, resource: &'static str, verbs: &[&'static str]) -> RbacRule {
        RbacRule {
            group,
            resource,
            verbs: verbs.to_vec(),
            cluster_scoped: false,
            note: None,
        }
    }

    fn note(mut self, note: &'static str) -> RbacRule {
        self.note = Some(note);
        self
    }

    /// As `kubectl create role --resource` spells it: `deployments.apps`.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// What the tool does in the cluster: nothing for Fargate alone.
pub fn rbac_rules(kinds: &[Kind], teardown: bool) -> Vec<RbacRule> {
    if !crate::recipe::effective_kinds(kinds)
        .iter()
        .any(|k| k.is_irsa())
    {
        return Vec::new();
    }
    let mut sa_verbs = vec!["get", "patch"];
    if teardown {
        sa_verbs.push("delete");
    }
    const RESTART: &str = "for setup --restart";
    vec![
        RbacRule {
            cluster_scoped: true,
            ..RbacRule::new("", "namespaces", &["get", "create"])
        },
        RbacRule::new("", "serviceaccounts", &sa_verbs),
        // Which pods run the ServiceAccounts, and whether they have the role.
        RbacRule::new("", "pods", &["list"]),
        // The workload a pod belongs to: a ReplicaSet's Deployment, a Job's CronJob.
        RbacRule::new("apps", "replicasets", &["get"]),
        RbacRule::new("batch", "jobs", &["get"]),
        RbacRule::new("apps", "deployments", &["get", "patch"]).note(RESTART),
        RbacRule::new("apps", "statefulsets", &["get", "patch"]).note(RESTART),
        RbacRule::new("apps", "daemonsets", &["get", "patch"]).note(RESTART),
        RbacRule::new("", "pods", &["delete"])
            .note("only for setup --restart --force, which deletes bare pods"),
    ]
}

/// The RBAC rules as a note for people (stderr).
pub fn rbac_note(rules: &[RbacRule], namespace: Option<&str>) -> String {
    if rules.is_empty() {
        return "note: Fargate alone needs no Kubernetes permissions.\n".into();
    }
    let mut out = String::from(
        "note: stdout is the IAM policy. In the cluster the tool also needs (RBAC; resource.group, the core group when no group):\n",
    );
    for r in rules {
        let scope = match (r.cluster_scoped, namespace) {
            (true, _) => "cluster-wide (ClusterRole)".to_string(),
            (false, Some(ns)) => format!("in namespace {ns} (Role)"),
            (false, None) => "in the ServiceAccounts' namespace (Role)".to_string(),
        };
        let note = r.note.map(|n| format!(", {n}")).unwrap_or_default();
        out.push_str(&format!(
            "  {}: {} {scope}{note}\n",
            r.qualified(),
            r.verbs.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kinds: &[Kind], teardown: bool) -> Request {
        Request {
            kinds: kinds.to_vec(),
            names: NameOverrides::default(),
            role_path: "/".into(),
            teardown,
            account: None,
            partition: "aws".into(),
            region: None,
            cluster: None,
        }
    }

    fn statement<'a>(doc: &'a Value, sid: &str) -> Option<&'a Value> {
        crate::policy::statements(doc)
            .into_iter()
            .find(|s| s["Sid"] == sid)
    }

    fn strings(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
            _ => panic!("not a string or list: {v}"),
        }
    }

    #[test]
    fn default_kinds_scope_roles_and_policies_to_the_guides_names() {
        let doc = policy(&request(&[], false));
        assert_eq!(doc["Version"], "2012-10-17");
        let roles = statement(&doc, "Roles").unwrap();
        assert_eq!(
            strings(&roles["Resource"]),
            [
                "arn:aws:iam::*:role/amp-iamproxy-ingest-role",
                "arn:aws:iam::*:role/amp-iamproxy-query-role"
            ]
        );
        let policies = statement(&doc, "Policies").unwrap();
        assert_eq!(
            strings(&policies["Resource"]),
            [
                "arn:aws:iam::*:policy/AMPIngestPolicy",
                "arn:aws:iam::*:policy/AMPQueryPolicy"
            ]
        );
        assert_eq!(
            statement(&doc, "OidcProvider").unwrap()["Resource"],
            "arn:aws:iam::*:oidc-provider/oidc.eks.*.*"
        );
        assert!(statement(&doc, "EksNodegroups").is_none());
    }

    #[test]
    fn only_unscopable_calls_have_resource_star() {
        let doc = policy(&request(&[Kind::Ingest, Kind::Query, Kind::Fargate], true));
        for st in crate::policy::statements(&doc) {
            let star = strings(&st["Resource"]).contains(&"*".to_string());
            let unscopable = st["Sid"] == "Discover" || st["Sid"] == "AmpWorkspaceCreate";
            assert_eq!(star, unscopable, "{st}");
        }
        assert_eq!(
            strings(&statement(&doc, "Discover").unwrap()["Action"]),
            [
                "aps:ListWorkspaces",
                "iam:GetAccountSummary",
                "iam:ListOpenIDConnectProviders",
                "iam:ListPolicies",
                "iam:ListRoles",
                "sts:GetCallerIdentity"
            ]
        );
    }

    #[test]
    fn account_partition_region_cluster_path_and_names_narrow_the_arns() {
        let mut req = request(&[Kind::Ingest], false);
        req.account = Some("111122223333".into());
        req.partition = "aws-cn".into();
        req.region = Some("cn-north-1".into());
        req.cluster = Some("demo".into());
        req.role_path = "/amp/".into();
        req.names.role_name = Some("writer".into());
        req.names.policy_name = Some("Write".into());
        let doc = policy(&req);
        assert_eq!(
            statement(&doc, "Roles").unwrap()["Resource"],
            "arn:aws-cn:iam::111122223333:role/amp/writer"
        );
        assert_eq!(
            statement(&doc, "Policies").unwrap()["Resource"],
            "arn:aws-cn:iam::111122223333:policy/amp/Write"
        );
        assert_eq!(
            statement(&doc, "EksCluster").unwrap()["Resource"],
            "arn:aws-cn:eks:cn-north-1:111122223333:cluster/demo"
        );
        assert_eq!(
            statement(&doc, "OidcProvider").unwrap()["Resource"],
            "arn:aws-cn:iam::111122223333:oidc-provider/oidc.eks.cn-north-1.*"
        );
    }

    #[test]
    fn fargate_alone_needs_no_oidc_or_policies_but_its_nodegroups() {
        let doc = policy(&request(&[Kind::Fargate], false));
        assert!(statement(&doc, "OidcProvider").is_none());
        assert!(statement(&doc, "Policies").is_none());
        assert_eq!(
            statement(&doc, "Roles").unwrap()["Resource"],
            "arn:aws:iam::*:role/AmazonEKSFargatePodExecutionRole"
        );
        assert_eq!(
            statement(&doc, "EksNodegroups").unwrap()["Resource"],
            "arn:aws:eks:*:*:nodegroup/*/*/*"
        );
        assert_eq!(
            statement(&doc, "RolePolicyAttachments").unwrap()["Condition"],
            json!({"ArnLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"}})
        );
        let all = actions(&doc);
        assert!(!all.contains("iam:ListPolicies"), "{all:?}");
        assert!(all.contains("eks:ListNodegroups"), "{all:?}");
    }

    #[test]
    fn attachments_are_limited_to_the_recipes_policies() {
        let doc = policy(&request(&[Kind::Ingest, Kind::Fargate], false));
        let st = statement(&doc, "RolePolicyAttachments").unwrap();
        assert_eq!(strings(&st["Action"]), ["iam:AttachRolePolicy"]);
        assert_eq!(
            strings(&st["Condition"]["ArnLike"]["iam:PolicyARN"]),
            [
                "arn:aws:iam::*:policy/AMPIngestPolicy",
                "arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"
            ]
        );
    }

    #[test]
    fn teardown_adds_only_deletes_and_their_reads() {
        let kinds = [Kind::Ingest, Kind::Query, Kind::Fargate];
        let setup = actions(&policy(&request(&kinds, false)));
        let teardown = actions(&policy(&request(&kinds, true)));
        assert!(setup.is_subset(&teardown));
        let added: Vec<&String> = teardown.difference(&setup).collect();
        assert_eq!(
            added,
            [
                "aps:DeleteWorkspace",
                "eks:DeletePodIdentityAssociation",
                "iam:DeleteOpenIDConnectProvider",
                "iam:DeletePolicy",
                "iam:DeleteRole",
                "iam:DetachRolePolicy",
                "iam:ListRoles"
            ]
        );
    }

    #[test]
    fn pod_identity_grants_are_scoped_to_the_clusters_associations_agent_and_profiles() {
        let mut req = request(&[Kind::Ingest], true);
        req.account = Some("111122223333".into());
        req.partition = "aws-cn".into();
        req.region = Some("cn-north-1".into());
        req.cluster = Some("demo".into());
        let doc = policy(&req);
        let eks = statement(&doc, "EksCluster").unwrap();
        assert_eq!(
            eks["Resource"],
            "arn:aws-cn:eks:cn-north-1:111122223333:cluster/demo"
        );
        assert_eq!(
            strings(&eks["Action"]),
            [
                "eks:CreatePodIdentityAssociation",
                "eks:DescribeCluster",
                "eks:ListFargateProfiles",
                "eks:ListPodIdentityAssociations"
            ]
        );
        let st = statement(&doc, "PodIdentityAssociations").unwrap();
        assert_eq!(
            st["Resource"],
            "arn:aws-cn:eks:cn-north-1:111122223333:podidentityassociation/demo/*"
        );
        assert_eq!(
            strings(&st["Action"]),
            [
                "eks:DeletePodIdentityAssociation",
                "eks:DescribePodIdentityAssociation",
                "eks:TagResource",
                "eks:UpdatePodIdentityAssociation"
            ]
        );
        let st = statement(&doc, "EksFargateProfiles").unwrap();
        assert_eq!(
            st["Resource"],
            "arn:aws-cn:eks:cn-north-1:111122223333:fargateprofile/demo/*/*"
        );
        assert_eq!(strings(&st["Action"]), ["eks:DescribeFargateProfile"]);
        let addon = "arn:aws-cn:eks:cn-north-1:111122223333:addon/demo/eks-pod-identity-agent/*";
        let st = statement(&doc, "PodIdentityAgent").unwrap();
        assert_eq!(st["Resource"], addon);
        assert_eq!(strings(&st["Action"]), ["eks:DescribeAddon"]);
        // --install-agent's own statements: creating on the cluster, tagging the add-on.
        let st = statement(&doc, "InstallAgentOnlyCreateAddon").unwrap();
        assert_eq!(
            st["Resource"],
            "arn:aws-cn:eks:cn-north-1:111122223333:cluster/demo"
        );
        assert_eq!(strings(&st["Action"]), ["eks:CreateAddon"]);
        let st = statement(&doc, "InstallAgentOnlyTagAddon").unwrap();
        assert_eq!(st["Resource"], addon);
        assert_eq!(strings(&st["Action"]), ["eks:TagResource"]);
        // Unknown: any cluster, but still only these resource types.
        let doc = policy(&request(&[], false));
        assert_eq!(
            statement(&doc, "PodIdentityAssociations").unwrap()["Resource"],
            "arn:aws:eks:*:*:podidentityassociation/*/*"
        );
        assert_eq!(
            statement(&doc, "PodIdentityAgent").unwrap()["Resource"],
            "arn:aws:eks:*:*:addon/*/eks-pod-identity-agent/*"
        );
    }

    #[test]
    fn pass_role_is_only_to_pod_identity_and_only_of_the_recipes_irsa_roles() {
        let doc = policy(&request(&[Kind::Ingest, Kind::Query, Kind::Fargate], false));
        let st = statement(&doc, "PassRoleToPodIdentity").unwrap();
        assert_eq!(strings(&st["Action"]), ["iam:PassRole"]);
        // Not the Fargate pod execution role: EKS Pod Identity never gets it.
        assert_eq!(
            strings(&st["Resource"]),
            [
                "arn:aws:iam::*:role/amp-iamproxy-ingest-role",
                "arn:aws:iam::*:role/amp-iamproxy-query-role"
            ]
        );
        assert_eq!(
            st["Condition"],
            json!({"StringEquals": {"iam:PassedToService": "pods.eks.amazonaws.com"}})
        );
        // Nothing else passes a role.
        let passing: Vec<&Value> = crate::policy::statements(&doc)
            .into_iter()
            .filter(|s| strings(&s["Action"]).contains(&"iam:PassRole".to_string()))
            .collect();
        assert_eq!(passing.len(), 1);
    }

    #[test]
    fn without_pod_identity_or_its_kinds_no_pod_identity_grant() {
        let pod_identity_only = [
            "PodIdentityAssociations",
            "EksFargateProfiles",
            "PodIdentityAgent",
            "InstallAgentOnlyCreateAddon",
            "InstallAgentOnlyTagAddon",
            "PassRoleToPodIdentity",
        ];
        let kinds = [Kind::Ingest, Kind::Query, Kind::Fargate];
        let irsa_only = policy_for(&request(&kinds, true), false);
        let fargate_only = policy(&request(&[Kind::Fargate], true));
        for doc in [&irsa_only, &fargate_only] {
            for sid in pod_identity_only {
                assert!(statement(doc, sid).is_none(), "{sid}: {doc}");
            }
            let all = actions(doc);
            assert!(
                all.iter().all(|a| !a.contains("PodIdentity")
                    && !a.contains("Addon")
                    && !a.contains("FargateProfile")),
                "{all:?}"
            );
            assert!(
                !all.contains("iam:PassRole") && !all.contains("eks:TagResource"),
                "{all:?}"
            );
        }
        // What Pod Identity adds, and nothing else.
        let both = actions(&policy(&request(&kinds, true)));
        let irsa_actions = actions(&irsa_only);
        let added: Vec<&String> = both.difference(&irsa_actions).collect();
        assert_eq!(
            added,
            [
                "eks:CreateAddon",
                "eks:CreatePodIdentityAssociation",
                "eks:DeletePodIdentityAssociation",
                "eks:DescribeAddon",
                "eks:DescribeFargateProfile",
                "eks:DescribePodIdentityAssociation",
                "eks:ListFargateProfiles",
                "eks:ListPodIdentityAssociations",
                "eks:TagResource",
                "eks:UpdatePodIdentityAssociation",
                "iam:PassRole"
            ]
        );
    }

    #[test]
    fn setup_reads_the_quota_its_policies_entities_and_tags_and_prunes_versions() {
        let doc = policy(&request(&[], false));
        let discover = strings(&statement(&doc, "Discover").unwrap()["Action"]);
        assert!(discover.contains(&"iam:GetAccountSummary".to_string()));
        let policies = statement(&doc, "Policies").unwrap();
        let granted = strings(&policies["Action"]);
        for a in [
            "iam:GetPolicy",
            "iam:ListEntitiesForPolicy",
            "iam:ListPolicyTags",
            "iam:DeletePolicyVersion",
        ] {
            assert!(granted.contains(&a.to_string()), "{a}: {granted:?}");
        }
        assert!(!granted.contains(&"iam:DeletePolicy".to_string()));
        // Fargate alone writes a trust policy too.
        let fargate = policy(&request(&[Kind::Fargate], false));
        assert!(actions(&fargate).contains("iam:GetAccountSummary"));
    }

    #[test]
    fn the_permissions_boundary_may_be_any_policy_of_the_account_or_aws() {
        for kinds in [&[][..], &[Kind::Fargate][..]] {
            let doc = policy(&request(kinds, false));
            let st = statement(&doc, "PermissionsBoundary").unwrap();
            assert_eq!(strings(&st["Action"]), ["iam:GetPolicy"]);
            // `*` as the account also matches `aws`.
            assert_eq!(st["Resource"], "arn:aws:iam::*:policy/*");
        }
        let mut req = request(&[Kind::Query], true);
        req.account = Some("111122223333".into());
        req.partition = "aws-us-gov".into();
        let doc = policy(&req);
        assert_eq!(
            strings(&statement(&doc, "PermissionsBoundary").unwrap()["Resource"]),
            [
                "arn:aws-us-gov:iam::111122223333:policy/*",
                "arn:aws-us-gov:iam::aws:policy/*"
            ]
        );
    }

    #[test]
    fn creation_tags_need_the_tag_actions() {
        let all = actions(&policy(&request(&[], false)));
        for a in [
            "iam:TagRole",
            "iam:TagPolicy",
            "iam:TagOpenIDConnectProvider",
        ] {
            assert!(all.contains(a), "{a}");
        }
    }

    #[test]
    fn amp_workspaces_are_scoped_to_the_regions_workspace_arns() {
        let doc = policy(&request(&[], false));
        let st = statement(&doc, "AmpWorkspaces").unwrap();
        assert_eq!(st["Resource"], "arn:aws:aps:*:*:workspace/*");
        assert_eq!(
            strings(&st["Action"]),
            ["aps:DescribeWorkspace", "aps:TagResource"]
        );
        // CreateWorkspace has no resource: `*`, but only with the tool's tag.
        let create = statement(&doc, "AmpWorkspaceCreate").unwrap();
        assert_eq!(create["Resource"], "*");
        assert_eq!(strings(&create["Action"]), ["aps:CreateWorkspace"]);
        assert_eq!(
            create["Condition"],
            json!({"StringEquals": {"aws:RequestTag/app.kubernetes.io/managed-by": "kubectl-amp-iam"}})
        );

        let mut req = request(&[Kind::Ingest], true);
        req.account = Some("111122223333".into());
        req.partition = "aws-cn".into();
        req.region = Some("cn-north-1".into());
        let doc = policy(&req);
        let st = statement(&doc, "AmpWorkspaces").unwrap();
        assert_eq!(
            st["Resource"],
            "arn:aws-cn:aps:cn-north-1:111122223333:workspace/*"
        );
        assert_eq!(
            strings(&st["Action"]),
            [
                "aps:DeleteWorkspace",
                "aps:DescribeWorkspace",
                "aps:TagResource"
            ]
        );
    }

    #[test]
    fn fargate_alone_needs_no_workspace() {
        let doc = policy(&request(&[Kind::Fargate], true));
        assert!(statement(&doc, "AmpWorkspaces").is_none());
        assert!(statement(&doc, "AmpWorkspaceCreate").is_none());
        let all = actions(&doc);
        assert!(all.iter().all(|a| !a.starts_with("aps:")), "{all:?}");
    }

    #[test]
    fn rbac_covers_pods_their_owners_and_restarts() {
        let rules = rbac_rules(&[Kind::Ingest], false);
        let got: Vec<(String, Vec<&str>, bool)> = rules
            .iter()
            .map(|r| (r.qualified(), r.verbs.clone(), r.note.is_some()))
            .collect();
        let want: Vec<(String, Vec<&str>, bool)> = [
            ("namespaces", &["get", "create"][..], false),
            ("serviceaccounts", &["get", "patch"], false),
            ("pods", &["list"], false),
            ("replicasets.apps", &["get"], false),
            ("jobs.batch", &["get"], false),
            ("deployments.apps", &["get", "patch"], true),
            ("statefulsets.apps", &["get", "patch"], true),
            ("daemonsets.apps", &["get", "patch"], true),
            ("pods", &["delete"], true),
        ]
        .into_iter()
        .map(|(r, v, n)| (r.to_string(), v.to_vec(), n))
        .collect();
        assert_eq!(got, want);
        assert!(rules.iter().skip(1).all(|r| !r.cluster_scoped));
        let note = rbac_note(&rules, Some("prometheus"));
        assert!(
            note.contains("  pods: list in namespace prometheus (Role)\n"),
            "{note}"
        );
        assert!(
            note.contains(
                "  deployments.apps: get, patch in namespace prometheus (Role), for setup --restart\n"
            ),
            "{note}"
        );
        assert!(
            note.contains(
                "  pods: delete in namespace prometheus (Role), only for setup --restart --force, which deletes bare pods\n"
            ),
            "{note}"
        );
    }

    #[test]
    fn rbac_follows_the_kinds() {
        assert!(rbac_rules(&[Kind::Fargate], true).is_empty());
        let rules = rbac_rules(&[], false);
        assert_eq!(rules[1].verbs, ["get", "patch"]);
        let rules = rbac_rules(&[Kind::Query], true);
        assert_eq!(rules[1].verbs, ["get", "patch", "delete"]);
        let note = rbac_note(&rules, Some("prometheus"));
        assert!(
            note.contains("namespaces: get, create cluster-wide"),
            "{note}"
        );
        assert!(
            note.contains("serviceaccounts: get, patch, delete in namespace prometheus"),
            "{note}"
        );
    }
}
