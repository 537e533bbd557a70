//! The fake behind an edge that yields once before each answer, as a
//! network call would: a call is still in flight when a concurrent caller
//! arrives (single-flight reads and shared writes are tested with it).

use super::FakeAws;
use crate::aws::{Addon, FargateSelector, PodIdentityAssociation};
use crate::aws::{
    AttachedPolicy, Aws, AwsError, Caller, EksCluster, NewRole, NodegroupRole, OidcProvider,
    PolicyEntities, PolicySummary, PolicyVersion, Role, RoleTrust, Tags, Workspace,
};

/// The fake, yielding once before each answer as a network call would,
/// so a read is still in flight when a concurrent caller arrives.
pub struct Yielding<'a>(pub &'a FakeAws);

impl Aws for Yielding<'_> {
    async fn caller(&self) -> Result<Caller, AwsError> {
        tokio::task::yield_now().await;
        self.0.caller().await
    }
    async fn cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError> {
        tokio::task::yield_now().await;
        self.0.cluster(name).await
    }
    async fn nodegroup_roles(&self, cluster: &str) -> Result<Vec<NodegroupRole>, AwsError> {
        tokio::task::yield_now().await;
        self.0.nodegroup_roles(cluster).await
    }
    async fn oidc_provider_arns(&self) -> Result<Vec<String>, AwsError> {
        tokio::task::yield_now().await;
        self.0.oidc_provider_arns().await
    }
    async fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, AwsError> {
        tokio::task::yield_now().await;
        self.0.oidc_provider(arn).await
    }
    async fn role(&self, name: &str) -> Result<Option<Role>, AwsError> {
        tokio::task::yield_now().await;
        self.0.role(name).await
    }
    async fn attached_policies(&self, role: &str) -> Result<Vec<AttachedPolicy>, AwsError> {
        tokio::task::yield_now().await;
        self.0.attached_policies(role).await
    }
    async fn role_trusts(&self) -> Result<Vec<RoleTrust>, AwsError> {
        tokio::task::yield_now().await;
        self.0.role_trusts().await
    }
    async fn local_policies(&self, prefix: &str) -> Result<Vec<PolicySummary>, AwsError> {
        tokio::task::yield_now().await;
        self.0.local_policies(prefix).await
    }
    async fn policy_document(&self, arn: &str, version: &str) -> Result<String, AwsError> {
        tokio::task::yield_now().await;
        self.0.policy_document(arn, version).await
    }
    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        tokio::task::yield_now().await;
        self.0.policy_versions(arn).await
    }
    async fn policy_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        tokio::task::yield_now().await;
        self.0.policy_tags(arn).await
    }
    async fn managed_policy(&self, arn: &str) -> Result<Option<PolicySummary>, AwsError> {
        tokio::task::yield_now().await;
        self.0.managed_policy(arn).await
    }
    async fn policy_entities(&self, arn: &str) -> Result<PolicyEntities, AwsError> {
        tokio::task::yield_now().await;
        self.0.policy_entities(arn).await
    }
    async fn trust_policy_quota(&self) -> Result<usize, AwsError> {
        tokio::task::yield_now().await;
        self.0.trust_policy_quota().await
    }
    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, AwsError> {
        tokio::task::yield_now().await;
        self.0.workspace(id).await
    }
    async fn workspaces(&self, alias: Option<&str>) -> Result<Vec<Workspace>, AwsError> {
        tokio::task::yield_now().await;
        self.0.workspaces(alias).await
    }
    async fn create_workspace(&self, alias: &str, tags: &Tags) -> Result<Workspace, AwsError> {
        tokio::task::yield_now().await;
        self.0.create_workspace(alias, tags).await
    }
    async fn delete_workspace(&self, id: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.delete_workspace(id).await
    }
    async fn pod_identity_associations(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Vec<PodIdentityAssociation>, AwsError> {
        tokio::task::yield_now().await;
        self.0
            .pod_identity_associations(cluster, namespace, service_account)
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
        tokio::task::yield_now().await;
        self.0
            .create_pod_identity_association(cluster, namespace, service_account, role_arn, tags)
            .await
    }
    async fn update_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
        role_arn: &str,
    ) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0
            .update_pod_identity_association(cluster, id, role_arn)
            .await
    }
    async fn delete_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.delete_pod_identity_association(cluster, id).await
    }
    async fn addon(&self, cluster: &str, name: &str) -> Result<Option<Addon>, AwsError> {
        tokio::task::yield_now().await;
        self.0.addon(cluster, name).await
    }
    async fn create_addon(&self, cluster: &str, name: &str, tags: &Tags) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.create_addon(cluster, name, tags).await
    }
    async fn fargate_selectors(&self, cluster: &str) -> Result<Vec<FargateSelector>, AwsError> {
        tokio::task::yield_now().await;
        self.0.fargate_selectors(cluster).await
    }
    async fn create_oidc_provider(
        &self,
        url: &str,
        client_ids: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        tokio::task::yield_now().await;
        self.0.create_oidc_provider(url, client_ids, tags).await
    }
    async fn add_oidc_client_id(&self, arn: &str, client_id: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.add_oidc_client_id(arn, client_id).await
    }
    async fn delete_oidc_provider(&self, arn: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.delete_oidc_provider(arn).await
    }
    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        tokio::task::yield_now().await;
        self.0.create_policy(name, path, document, tags).await
    }
    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.create_policy_version(arn, document).await
    }
    async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.delete_policy_version(arn, version).await
    }
    async fn delete_policy(&self, arn: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.delete_policy(arn).await
    }
    async fn create_role(&self, role: &NewRole) -> Result<String, AwsError> {
        tokio::task::yield_now().await;
        self.0.create_role(role).await
    }
    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.update_trust(role, document).await
    }
    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.delete_role(role).await
    }
    async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.attach_policy(role, policy_arn).await
    }
    async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        tokio::task::yield_now().await;
        self.0.detach_policy(role, policy_arn).await
    }
}
