//! `-v`: every AWS and Kubernetes call logged with what it was, on which
//! resource, how it ended and how long it took — by decorating the edge
//! traits, so no call can be missed and nothing the SDK holds (credentials,
//! signed headers) is ever formatted.

use crate::aws::{Addon, FargateSelector, PodIdentityAssociation};
use crate::aws::{
    AttachedPolicy, Aws, AwsError, Caller, EksCluster, NewRole, NodegroupRole, OidcProvider,
    PolicyEntities, PolicySummary, PolicyVersion, Role, RoleTrust, Tags, Workspace,
};
use crate::cluster::{Cluster, KubeError, Owner, Pod, Removal, ServiceAccount};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::time::Instant;

/// An edge with every call logged at debug level.
pub struct Traced<T>(pub T);

async fn timed<T, E: Display>(
    what: &str,
    resource: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let start = Instant::now();
    let result = call.await;
    let ms = start.elapsed().as_millis();
    match &result {
        Ok(_) => tracing::debug!("{what} {resource}: ok in {ms} ms"),
        Err(e) => tracing::debug!("{what} {resource}: failed in {ms} ms: {e}"),
    }
    result
}

impl<A: Aws> Aws for Traced<A> {
    async fn caller(&self) -> Result<Caller, AwsError> {
        timed("sts:GetCallerIdentity", "*", self.0.caller()).await
    }
    async fn cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError> {
        timed("eks:DescribeCluster", name, self.0.cluster(name)).await
    }
    async fn nodegroup_roles(&self, cluster: &str) -> Result<Vec<NodegroupRole>, AwsError> {
        timed(
            "eks:ListNodegroups+DescribeNodegroup",
            cluster,
            self.0.nodegroup_roles(cluster),
        )
        .await
    }
    async fn oidc_provider_arns(&self) -> Result<Vec<String>, AwsError> {
        timed(
            "iam:ListOpenIDConnectProviders",
            "*",
            self.0.oidc_provider_arns(),
        )
        .await
    }
    async fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, AwsError> {
        timed(
            "iam:GetOpenIDConnectProvider",
            arn,
            self.0.oidc_provider(arn),
        )
        .await
    }
    async fn role(&self, name: &str) -> Result<Option<Role>, AwsError> {
        timed("iam:GetRole", name, self.0.role(name)).await
    }
    async fn attached_policies(&self, role: &str) -> Result<Vec<AttachedPolicy>, AwsError> {
        timed(
            "iam:ListAttachedRolePolicies",
            role,
            self.0.attached_policies(role),
        )
        .await
    }
    async fn role_trusts(&self) -> Result<Vec<RoleTrust>, AwsError> {
        timed("iam:ListRoles", "*", self.0.role_trusts()).await
    }
    async fn local_policies(&self, path_prefix: &str) -> Result<Vec<PolicySummary>, AwsError> {
        timed(
            "iam:ListPolicies",
            &format!("Scope=Local PathPrefix={path_prefix}"),
            self.0.local_policies(path_prefix),
        )
        .await
    }
    async fn policy_document(&self, arn: &str, version: &str) -> Result<String, AwsError> {
        timed(
            "iam:GetPolicyVersion",
            &format!("{arn} {version}"),
            self.0.policy_document(arn, version),
        )
        .await
    }
    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        timed("iam:ListPolicyVersions", arn, self.0.policy_versions(arn)).await
    }
    async fn policy_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        timed("iam:ListPolicyTags", arn, self.0.policy_tags(arn)).await
    }
    async fn managed_policy(&self, arn: &str) -> Result<Option<PolicySummary>, AwsError> {
        timed("iam:GetPolicy", arn, self.0.managed_policy(arn)).await
    }
    async fn policy_entities(&self, arn: &str) -> Result<PolicyEntities, AwsError> {
        timed(
            "iam:ListEntitiesForPolicy",
            arn,
            self.0.policy_entities(arn),
        )
        .await
    }
    async fn trust_policy_quota(&self) -> Result<usize, AwsError> {
        timed("iam:GetAccountSummary", "*", self.0.trust_policy_quota()).await
    }
    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, AwsError> {
        timed("aps:DescribeWorkspace", id, self.0.workspace(id)).await
    }
    async fn workspaces(&self, alias: Option<&str>) -> Result<Vec<Workspace>, AwsError> {
        timed(
            "aps:ListWorkspaces",
            alias.unwrap_or("*"),
            self.0.workspaces(alias),
        )
        .await
    }
    async fn create_workspace(&self, alias: &str, tags: &Tags) -> Result<Workspace, AwsError> {
        timed(
            "aps:CreateWorkspace",
            alias,
            self.0.create_workspace(alias, tags),
        )
        .await
    }
    async fn delete_workspace(&self, id: &str) -> Result<(), AwsError> {
        timed("aps:DeleteWorkspace", id, self.0.delete_workspace(id)).await
    }
    async fn pod_identity_associations(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Vec<PodIdentityAssociation>, AwsError> {
        timed(
            "eks:ListPodIdentityAssociations",
            &format!("{cluster} {namespace}/{service_account}"),
            self.0
                .pod_identity_associations(cluster, namespace, service_account),
        )
        .await
    }
    async fn create_pod_identity_association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        role_arn: &str,
        tags: &Tags,
    ) -> Result<PodIdentityAssociation, AwsError> {
        timed(
            "eks:CreatePodIdentityAssociation",
            &format!("{cluster} {namespace}/{service_account}"),
            self.0.create_pod_identity_association(
                cluster,
                namespace,
                service_account,
                role_arn,
                tags,
            ),
        )
        .await
    }
    async fn update_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
        role_arn: &str,
    ) -> Result<(), AwsError> {
        timed(
            "eks:UpdatePodIdentityAssociation",
            id,
            self.0
                .update_pod_identity_association(cluster, id, role_arn),
        )
        .await
    }
    async fn delete_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<(), AwsError> {
        timed(
            "eks:DeletePodIdentityAssociation",
            id,
            self.0.delete_pod_identity_association(cluster, id),
        )
        .await
    }
    async fn addon(&self, cluster: &str, name: &str) -> Result<Option<Addon>, AwsError> {
        timed("eks:DescribeAddon", name, self.0.addon(cluster, name)).await
    }
    async fn create_addon(&self, cluster: &str, name: &str, tags: &Tags) -> Result<(), AwsError> {
        timed(
            "eks:CreateAddon",
            name,
            self.0.create_addon(cluster, name, tags),
        )
        .await
    }
    async fn fargate_selectors(&self, cluster: &str) -> Result<Vec<FargateSelector>, AwsError> {
        timed(
            "eks:ListFargateProfiles",
            cluster,
            self.0.fargate_selectors(cluster),
        )
        .await
    }
    async fn create_oidc_provider(
        &self,
        url: &str,
        client_ids: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        timed(
            "iam:CreateOpenIDConnectProvider",
            url,
            self.0.create_oidc_provider(url, client_ids, tags),
        )
        .await
    }
    async fn add_oidc_client_id(&self, arn: &str, client_id: &str) -> Result<(), AwsError> {
        timed(
            "iam:AddClientIDToOpenIDConnectProvider",
            arn,
            self.0.add_oidc_client_id(arn, client_id),
        )
        .await
    }
    async fn delete_oidc_provider(&self, arn: &str) -> Result<(), AwsError> {
        timed(
            "iam:DeleteOpenIDConnectProvider",
            arn,
            self.0.delete_oidc_provider(arn),
        )
        .await
    }
    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        timed(
            "iam:CreatePolicy",
            name,
            self.0.create_policy(name, path, document, tags),
        )
        .await
    }
    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        timed(
            "iam:CreatePolicyVersion",
            arn,
            self.0.create_policy_version(arn, document),
        )
        .await
    }
    async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        timed(
            "iam:DeletePolicyVersion",
            &format!("{arn} {version}"),
            self.0.delete_policy_version(arn, version),
        )
        .await
    }
    async fn delete_policy(&self, arn: &str) -> Result<(), AwsError> {
        timed("iam:DeletePolicy", arn, self.0.delete_policy(arn)).await
    }
    async fn create_role(&self, role: &NewRole) -> Result<String, AwsError> {
        timed("iam:CreateRole", &role.name, self.0.create_role(role)).await
    }
    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
        timed(
            "iam:UpdateAssumeRolePolicy",
            role,
            self.0.update_trust(role, document),
        )
        .await
    }
    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        timed("iam:DeleteRole", role, self.0.delete_role(role)).await
    }
    async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        timed(
            "iam:AttachRolePolicy",
            &format!("{role} {policy_arn}"),
            self.0.attach_policy(role, policy_arn),
        )
        .await
    }
    async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        timed(
            "iam:DetachRolePolicy",
            &format!("{role} {policy_arn}"),
            self.0.detach_policy(role, policy_arn),
        )
        .await
    }
}

impl<C: Cluster> Cluster for Traced<C> {
    async fn namespace_exists(&self, name: &str) -> Result<bool, KubeError> {
        timed(
            "kubernetes get namespaces",
            name,
            self.0.namespace_exists(name),
        )
        .await
    }
    async fn service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceAccount>, KubeError> {
        timed(
            "kubernetes get serviceaccounts",
            &format!("{namespace}/{name}"),
            self.0.service_account(namespace, name),
        )
        .await
    }
    async fn create_namespace(&self, name: &str) -> Result<(), KubeError> {
        timed(
            "kubernetes create namespaces",
            name,
            self.0.create_namespace(name),
        )
        .await
    }
    async fn apply_service_account(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<ServiceAccount, KubeError> {
        timed(
            "kubernetes apply serviceaccounts",
            &format!("{namespace}/{name}"),
            self.0
                .apply_service_account(namespace, name, annotations, labels),
        )
        .await
    }
    async fn remove_annotation(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        expected: &str,
    ) -> Result<Removal, KubeError> {
        timed(
            "kubernetes patch serviceaccounts",
            &format!("{namespace}/{name} (remove annotation {key})"),
            self.0.remove_annotation(namespace, name, key, expected),
        )
        .await
    }
    async fn delete_service_account(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        timed(
            "kubernetes delete serviceaccounts",
            &format!("{namespace}/{name}"),
            self.0.delete_service_account(namespace, name),
        )
        .await
    }
    async fn pods(&self, namespace: &str) -> Result<Vec<Pod>, KubeError> {
        timed("kubernetes list pods", namespace, self.0.pods(namespace)).await
    }
    async fn owner_of(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Owner>, KubeError> {
        timed(
            "kubernetes get",
            &format!("{kind} {namespace}/{name}"),
            self.0.owner_of(namespace, kind, name),
        )
        .await
    }
    async fn restart(&self, namespace: &str, owner: &Owner, at: &str) -> Result<(), KubeError> {
        timed(
            "kubernetes patch (rollout restart)",
            &format!("{} {namespace}/{}", owner.kind, owner.name),
            self.0.restart(namespace, owner, at),
        )
        .await
    }
    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        timed(
            "kubernetes delete pods",
            &format!("{namespace}/{name}"),
            self.0.delete_pod(namespace, name),
        )
        .await
    }
}
