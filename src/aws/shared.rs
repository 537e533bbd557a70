//! Account-level reads shared by the clusters of a fleet run.
//!
//! A fleet run observes many clusters of one AWS account concurrently, in one
//! process. IAM and STS are global to the account, so without sharing every
//! cluster would re-read the caller, the OIDC providers, the roles and the
//! policies: the same answers, N times over, and N times the throttling risk.
//! [`SharedReads`] decorates each cluster's [`Aws`] edge with one
//! [`AccountReads`] per account, so each distinct account-level read is sent
//! once (single flight: concurrent callers of a read in flight wait for it).
//! EKS, AMP and Pod Identity reads are per cluster or region, and writes are
//! never cached: those pass straight through.
//!
//! The cache is never invalidated. It is valid only because a fleet observes
//! every cluster before it writes anything; see [`SharedReads`].

use crate::aws::{Addon, FargateSelector, PodIdentityAssociation};
use crate::aws::{
    AttachedPolicy, Aws, AwsError, Caller, EksCluster, NewRole, NodegroupRole, OidcProvider,
    PolicyEntities, PolicySummary, PolicyVersion, Role, RoleTrust, Tags, Workspace,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::ops::Deref;
use std::rc::Rc;
use tokio::sync::OnceCell;

/// How many reads went to the inner edge, and how many were spared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Reads sent to the inner edge (failed ones included).
    pub calls: usize,
    /// Reads answered from the cache or by joining the one in flight.
    pub shared: usize,
}

/// One memoized method: a cell per argument. The cell is shared by `Rc` so a
/// caller can await it without holding the map's borrow.
struct Memo<K, V>(RefCell<HashMap<K, Rc<OnceCell<V>>>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo(RefCell::new(HashMap::new()))
    }
}

/// The cache of one account's reads: one per set of credentials, as sharing
/// it across accounts would answer one account's reads with another's.
#[derive(Default)]
pub struct AccountReads {
    caller: Memo<(), Caller>,
    oidc_provider_arns: Memo<(), Vec<String>>,
    oidc_provider: Memo<String, Option<OidcProvider>>,
    role: Memo<String, Option<Role>>,
    attached_policies: Memo<String, Vec<AttachedPolicy>>,
    role_trusts: Memo<(), Vec<RoleTrust>>,
    local_policies: Memo<String, Vec<PolicySummary>>,
    policy_document: Memo<(String, String), String>,
    policy_versions: Memo<String, Vec<PolicyVersion>>,
    policy_tags: Memo<String, Tags>,
    managed_policy: Memo<String, Option<PolicySummary>>,
    policy_entities: Memo<String, PolicyEntities>,
    trust_policy_quota: Memo<(), usize>,
    calls: Cell<usize>,
    shared: Cell<usize>,
}

impl AccountReads {
    /// An empty cache, to hand to each cluster's [`SharedReads`].
    pub fn new() -> Rc<AccountReads> {
        Rc::new(AccountReads::default())
    }

    pub fn stats(&self) -> ReadStats {
        ReadStats {
            calls: self.calls.get(),
            shared: self.shared.get(),
        }
    }

    /// The cached answer for `key`, or `read`'s. Only successes are kept: a
    /// failed read is retried by the next caller (and by those waiting on it).
    async fn read<K: Eq + Hash, V: Clone>(
        &self,
        memo: &Memo<K, V>,
        key: K,
        read: impl Future<Output = Result<V, AwsError>>,
    ) -> Result<V, AwsError> {
        // The borrow ends with the statement, before any await.
        let cell = Rc::clone(memo.0.borrow_mut().entry(key).or_default());
        let mut sent = false;
        let value = cell
            .get_or_try_init(|| {
                sent = true;
                self.calls.set(self.calls.get() + 1);
                read
            })
            .await?;
        if !sent {
            self.shared.set(self.shared.get() + 1);
        }
        Ok(value.clone())
    }
}

/// An [`Aws`] edge whose account-level reads (STS, IAM) are shared through
/// an [`AccountReads`] with the other clusters of the account.
///
/// `A` points to the edge (`&A`, `Rc<A>`, `Box<A>`): the clusters of a
/// region share one SDK client, so each decorator borrows it.
///
/// Use it only while observing: nothing a write changes is invalidated, so
/// once a fleet starts writing, reads must go to the inner edge again (its
/// writes pass through, but later reads here could be stale).
pub struct SharedReads<A> {
    inner: A,
    reads: Rc<AccountReads>,
}

impl<A> SharedReads<A> {
    pub fn new(inner: A, reads: Rc<AccountReads>) -> Self {
        SharedReads { inner, reads }
    }

    /// The decorated edge, e.g. to write once observing is done.
    pub fn into_inner(self) -> A {
        self.inner
    }
}

impl<A> Aws for SharedReads<A>
where
    A: Deref<Target: Aws>,
{
    async fn caller(&self) -> Result<Caller, AwsError> {
        let r = &self.reads;
        r.read(&r.caller, (), self.inner.caller()).await
    }
    async fn cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError> {
        self.inner.cluster(name).await
    }
    async fn nodegroup_roles(&self, cluster: &str) -> Result<Vec<NodegroupRole>, AwsError> {
        self.inner.nodegroup_roles(cluster).await
    }
    async fn oidc_provider_arns(&self) -> Result<Vec<String>, AwsError> {
        let r = &self.reads;
        r.read(&r.oidc_provider_arns, (), self.inner.oidc_provider_arns())
            .await
    }
    async fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, AwsError> {
        let r = &self.reads;
        r.read(
            &r.oidc_provider,
            arn.to_string(),
            self.inner.oidc_provider(arn),
        )
        .await
    }
    async fn role(&self, name: &str) -> Result<Option<Role>, AwsError> {
        let r = &self.reads;
        r.read(&r.role, name.to_string(), self.inner.role(name))
            .await
    }
    async fn attached_policies(&self, role: &str) -> Result<Vec<AttachedPolicy>, AwsError> {
        let r = &self.reads;
        r.read(
            &r.attached_policies,
            role.to_string(),
            self.inner.attached_policies(role),
        )
        .await
    }
    async fn role_trusts(&self) -> Result<Vec<RoleTrust>, AwsError> {
        let r = &self.reads;
        r.read(&r.role_trusts, (), self.inner.role_trusts()).await
    }
    async fn local_policies(&self, path_prefix: &str) -> Result<Vec<PolicySummary>, AwsError> {
        let r = &self.reads;
        r.read(
            &r.local_policies,
            path_prefix.to_string(),
            self.inner.local_policies(path_prefix),
        )
        .await
    }
    async fn policy_document(&self, arn: &str, version: &str) -> Result<String, AwsError> {
        let r = &self.reads;
        r.read(
            &r.policy_document,
            (arn.to_string(), version.to_string()),
            self.inner.policy_document(arn, version),
        )
        .await
    }
    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        let r = &self.reads;
        r.read(
            &r.policy_versions,
            arn.to_string(),
            self.inner.policy_versions(arn),
        )
        .await
    }
    async fn policy_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let r = &self.reads;
        r.read(&r.policy_tags, arn.to_string(), self.inner.policy_tags(arn))
            .await
    }
    async fn managed_policy(&self, arn: &str) -> Result<Option<PolicySummary>, AwsError> {
        let r = &self.reads;
        r.read(
            &r.managed_policy,
            arn.to_string(),
            self.inner.managed_policy(arn),
        )
        .await
    }
    async fn policy_entities(&self, arn: &str) -> Result<PolicyEntities, AwsError> {
        let r = &self.reads;
        r.read(
            &r.policy_entities,
            arn.to_string(),
            self.inner.policy_entities(arn),
        )
        .await
    }
    async fn trust_policy_quota(&self) -> Result<usize, AwsError> {
        let r = &self.reads;
        r.read(&r.trust_policy_quota, (), self.inner.trust_policy_quota())
            .await
    }
    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, AwsError> {
        self.inner.workspace(id).await
    }
    async fn workspaces(&self, alias: Option<&str>) -> Result<Vec<Workspace>, AwsError> {
        self.inner.workspaces(alias).await
    }
    async fn create_workspace(&self, alias: &str, tags: &Tags) -> Result<Workspace, AwsError> {
        self.inner.create_workspace(alias, tags).await
    }
    async fn delete_workspace(&self, id: &str) -> Result<(), AwsError> {
        self.inner.delete_workspace(id).await
    }
    async fn pod_identity_associations(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Vec<PodIdentityAssociation>, AwsError> {
        self.inner
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
        self.inner
            .create_pod_identity_association(cluster, namespace, service_account, role_arn, tags)
            .await
    }
    async fn update_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
        role_arn: &str,
    ) -> Result<(), AwsError> {
        self.inner
            .update_pod_identity_association(cluster, id, role_arn)
            .await
    }
    async fn delete_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<(), AwsError> {
        self.inner
            .delete_pod_identity_association(cluster, id)
            .await
    }
    async fn addon(&self, cluster: &str, name: &str) -> Result<Option<Addon>, AwsError> {
        self.inner.addon(cluster, name).await
    }
    async fn create_addon(&self, cluster: &str, name: &str, tags: &Tags) -> Result<(), AwsError> {
        self.inner.create_addon(cluster, name, tags).await
    }
    async fn fargate_selectors(&self, cluster: &str) -> Result<Vec<FargateSelector>, AwsError> {
        self.inner.fargate_selectors(cluster).await
    }
    async fn create_oidc_provider(
        &self,
        url: &str,
        client_ids: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        self.inner.create_oidc_provider(url, client_ids, tags).await
    }
    async fn add_oidc_client_id(&self, arn: &str, client_id: &str) -> Result<(), AwsError> {
        self.inner.add_oidc_client_id(arn, client_id).await
    }
    async fn delete_oidc_provider(&self, arn: &str) -> Result<(), AwsError> {
        self.inner.delete_oidc_provider(arn).await
    }
    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        self.inner.create_policy(name, path, document, tags).await
    }
    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        self.inner.create_policy_version(arn, document).await
    }
    async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        self.inner.delete_policy_version(arn, version).await
    }
    async fn delete_policy(&self, arn: &str) -> Result<(), AwsError> {
        self.inner.delete_policy(arn).await
    }
    async fn create_role(&self, role: &NewRole) -> Result<String, AwsError> {
        self.inner.create_role(role).await
    }
    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
        self.inner.update_trust(role, document).await
    }
    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        self.inner.delete_role(role).await
    }
    async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.inner.attach_policy(role, policy_arn).await
    }
    async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.inner.detach_policy(role, policy_arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsErrorKind;
    use crate::fake::{FakeAws, Yielding};
    use serde_json::json;

    const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC";

    /// An account with a cluster, its OIDC provider, a policy and a role
    /// holding it. Returns the fake, the provider's and the policy's ARNs.
    fn account() -> (FakeAws, String, String) {
        let aws = FakeAws::new().with_cluster("c1", ISSUER);
        let provider = aws.put_provider(
            ISSUER.trim_start_matches("https://"),
            &["sts.amazonaws.com"],
            Tags::new(),
        );
        let policy = aws.put_policy(
            "p",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": "*"}]}),
            Tags::new(),
        );
        aws.put_role("r", &trust(), Tags::new(), &[&policy]);
        (aws, provider, policy)
    }

    fn trust() -> serde_json::Value {
        json!({"Version": "2012-10-17", "Statement": []})
    }

    /// Every memoized read once, as one cluster's observation would make them.
    async fn observe(aws: &impl Aws, provider: &str, policy: &str) -> Vec<String> {
        vec![
            format!("{:?}", aws.caller().await),
            format!("{:?}", aws.oidc_provider_arns().await),
            format!("{:?}", aws.oidc_provider(provider).await),
            format!("{:?}", aws.role("r").await),
            format!("{:?}", aws.attached_policies("r").await),
            format!("{:?}", aws.role_trusts().await),
            format!("{:?}", aws.local_policies("/").await),
            format!("{:?}", aws.policy_document(policy, "v1").await),
            format!("{:?}", aws.policy_versions(policy).await),
            format!("{:?}", aws.policy_tags(policy).await),
            format!("{:?}", aws.managed_policy(policy).await),
            format!("{:?}", aws.policy_entities(policy).await),
            format!("{:?}", aws.trust_policy_quota().await),
        ]
    }

    #[tokio::test]
    async fn clusters_of_one_account_share_each_read_once() {
        let (fake, provider, policy) = account();
        let reads = AccountReads::new();
        let edge = Yielding(&fake);
        let one = SharedReads::new(&edge, Rc::clone(&reads));
        let two = SharedReads::new(&edge, Rc::clone(&reads));

        let (a, b) = futures::join!(
            observe(&one, &provider, &policy),
            observe(&two, &provider, &policy)
        );

        assert_eq!(a, b);
        assert!(a.iter().all(|r| r.starts_with("Ok(")), "{a:#?}");
        let mut calls = fake.calls();
        calls.sort();
        let mut expected = vec![
            "sts:GetCallerIdentity".to_string(),
            "iam:ListOpenIDConnectProviders".to_string(),
            format!("iam:GetOpenIDConnectProvider {provider}"),
            "iam:GetRole r".to_string(),
            "iam:ListAttachedRolePolicies r".to_string(),
            "iam:ListRoles".to_string(),
            "iam:ListPolicies /".to_string(),
            format!("iam:GetPolicyVersion {policy} v1"),
            format!("iam:ListPolicyVersions {policy}"),
            format!("iam:ListPolicyTags {policy}"),
            format!("iam:GetPolicy {policy}"),
            format!("iam:ListEntitiesForPolicy {policy}"),
            "iam:GetAccountSummary *".to_string(),
        ];
        expected.sort();
        assert_eq!(calls, expected);
        assert_eq!(
            reads.stats(),
            ReadStats {
                calls: 13,
                shared: 13
            }
        );
    }

    #[tokio::test]
    async fn a_concurrent_caller_waits_for_the_read_in_flight() {
        let (fake, _, _) = account();
        let reads = AccountReads::new();
        let edge = Yielding(&fake);
        let one = SharedReads::new(&edge, Rc::clone(&reads));
        let two = SharedReads::new(&edge, Rc::clone(&reads));

        let (a, b) = futures::join!(one.caller(), two.caller());

        assert_eq!(a, b);
        assert_eq!(fake.calls(), ["sts:GetCallerIdentity"]);
        assert_eq!(
            reads.stats(),
            ReadStats {
                calls: 1,
                shared: 1
            }
        );
    }

    #[tokio::test]
    async fn a_failed_read_is_not_cached() {
        let (fake, _, _) = account();
        let reads = AccountReads::new();
        let aws = SharedReads::new(&fake, Rc::clone(&reads));
        fake.fail("iam:GetRole", AwsErrorKind::Throttled, 1);

        let first = aws.role("r").await;
        let second = aws.role("r").await;
        let third = aws.role("r").await;

        assert_eq!(
            first.map_err(|e| e.kind).err(),
            Some(AwsErrorKind::Throttled)
        );
        assert_eq!(
            second
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|r| r.name.as_str()),
            Some("r")
        );
        assert_eq!(second, third);
        assert_eq!(fake.calls(), ["iam:GetRole r", "iam:GetRole r"]);
        assert_eq!(
            reads.stats(),
            ReadStats {
                calls: 2,
                shared: 1
            }
        );
    }

    #[tokio::test]
    async fn a_caller_waiting_on_a_failed_read_sends_its_own() {
        let (fake, _, _) = account();
        let reads = AccountReads::new();
        let edge = Yielding(&fake);
        let one = SharedReads::new(&edge, Rc::clone(&reads));
        let two = SharedReads::new(&edge, Rc::clone(&reads));
        fake.fail("iam:GetRole", AwsErrorKind::Throttled, 1);

        let (a, b) = futures::join!(one.role("r"), two.role("r"));

        assert!(a.is_err(), "{a:?}");
        assert!(b.is_ok_and(|r| r.is_some()));
        assert_eq!(fake.calls(), ["iam:GetRole r", "iam:GetRole r"]);
        assert_eq!(
            reads.stats(),
            ReadStats {
                calls: 2,
                shared: 0
            }
        );
    }

    #[tokio::test]
    async fn writes_and_cluster_reads_pass_through_every_time() {
        let (fake, _, _) = account();
        let reads = AccountReads::new();
        let aws = SharedReads::new(&fake, Rc::clone(&reads));
        let role = NewRole {
            name: "new".into(),
            path: "/".into(),
            trust_policy: crate::policy::minify(&trust()),
            description: String::new(),
            tags: Tags::new(),
            permissions_boundary: None,
        };

        for _ in 0..2 {
            assert!(aws.cluster("c1").await.is_ok_and(|c| c.is_some()));
            assert!(aws.workspaces(None).await.is_ok());
            assert!(aws.addon("c1", "eks-pod-identity-agent").await.is_ok());
            assert!(
                aws.pod_identity_associations("c1", "ns", "sa")
                    .await
                    .is_ok()
            );
        }
        let first = aws.create_role(&role).await;
        let second = aws.create_role(&role).await;

        assert!(first.is_ok(), "{first:?}");
        assert_eq!(
            second.map_err(|e| e.kind).err(),
            Some(AwsErrorKind::AlreadyExists)
        );
        let calls = fake.calls();
        for line in [
            "eks:DescribeCluster c1",
            "aps:ListWorkspaces *",
            "eks:DescribeAddon eks-pod-identity-agent",
            "iam:CreateRole new",
        ] {
            assert_eq!(
                calls.iter().filter(|c| *c == line).count(),
                2,
                "{line}: {calls:#?}"
            );
        }
        assert_eq!(fake.writes(), ["iam:CreateRole new", "iam:CreateRole new"]);
        assert_eq!(reads.stats(), ReadStats::default());
    }

    #[tokio::test]
    async fn different_arguments_are_read_separately() {
        let (fake, _, policy) = account();
        fake.put_role("a", &trust(), Tags::new(), &[]);
        fake.put_role("b", &trust(), Tags::new(), &[]);
        fake.put_policy_version(
            "p",
            &json!({"Version": "2012-10-17", "Statement": []}),
            false,
        );
        let reads = AccountReads::new();
        let aws = SharedReads::new(&fake, Rc::clone(&reads));

        for _ in 0..2 {
            assert_eq!(
                aws.role("a").await.ok().flatten().map(|r| r.name),
                Some("a".into())
            );
            assert_eq!(
                aws.role("b").await.ok().flatten().map(|r| r.name),
                Some("b".into())
            );
            let v1 = aws.policy_document(&policy, "v1").await;
            let v2 = aws.policy_document(&policy, "v2").await;
            assert!(v1.is_ok() && v2.is_ok() && v1 != v2, "{v1:?} {v2:?}");
        }

        assert_eq!(
            fake.calls(),
            [
                "iam:GetRole a".to_string(),
                "iam:GetRole b".to_string(),
                format!("iam:GetPolicyVersion {policy} v1"),
                format!("iam:GetPolicyVersion {policy} v2"),
            ]
        );
        assert_eq!(
            reads.stats(),
            ReadStats {
                calls: 4,
                shared: 4
            }
        );
    }

    #[tokio::test]
    async fn separate_accounts_do_not_share() {
        let (fake, _, _) = account();
        let edge = Yielding(&fake);
        let one = SharedReads::new(&edge, AccountReads::new());
        let two = SharedReads::new(&edge, AccountReads::new());

        let (a, b) = futures::join!(one.caller(), two.caller());

        assert_eq!(a, b);
        assert_eq!(fake.calls().len(), 2);
        assert_eq!(one.reads.stats().shared + two.reads.stats().shared, 0);
    }
}
