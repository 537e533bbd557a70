//! Planner tests. The observed state comes from `observe()` over the in-memory
//! fakes ([`crate::fake`]), seeded per test; "after a setup" states are made by
//! applying a setup plan to the fakes with the small interpreter below.

use super::*;
use crate::aws::Aws;
use crate::aws::Tags;
use crate::cluster::{Cluster, ServiceAccount};
use crate::fake::{FakeAws, FakeCluster};
use crate::observe::{Extras, observe};
use crate::policy::{self, FARGATE_SERVICE, STS_AUDIENCE};
use crate::recipe::{
    CLUSTER_TAG, FARGATE_ROLE, MANAGED_BY, MANAGER, NameOverrides, Options, ROLE_ARN_ANNOTATION,
    WorkspaceRef,
};
use futures::executor::block_on;
use serde_json::{Value, json};

pub(super) const CLUSTER: &str = "demo";
pub(super) const REGION: &str = "us-east-1";
pub(super) const NS: &str = "prometheus";
pub(super) const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC";
pub(super) const HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/ABC";
pub(super) const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";
pub(super) const OTHER_PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/OTHER";

pub(super) const INGEST_SA: &str = "amp-iamproxy-ingest-service-account";
pub(super) const INGEST_ROLE: &str = "amp-iamproxy-ingest-role";
pub(super) const INGEST_POLICY: &str = "AMPIngestPolicy";
pub(super) const INGEST_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role";
pub(super) const INGEST_POLICY_ARN: &str = "arn:aws:iam::111122223333:policy/AMPIngestPolicy";
pub(super) const INGEST_WHO: &str = "prometheus/amp-iamproxy-ingest-service-account";
pub(super) const QUERY_SA: &str = "amp-iamproxy-query-service-account";
pub(super) const QUERY_ROLE: &str = "amp-iamproxy-query-role";
pub(super) const QUERY_POLICY: &str = "AMPQueryPolicy";
pub(super) const QUERY_ROLE_ARN: &str = "arn:aws:iam::111122223333:role/amp-iamproxy-query-role";
pub(super) const QUERY_POLICY_ARN: &str = "arn:aws:iam::111122223333:policy/AMPQueryPolicy";

pub(super) const INGEST_ACTIONS: [&str; 4] = [
    "aps:RemoteWrite",
    "aps:GetSeries",
    "aps:GetLabels",
    "aps:GetMetricMetadata",
];
pub(super) const QUERY_ACTIONS: [&str; 4] = [
    "aps:QueryMetrics",
    "aps:GetSeries",
    "aps:GetLabels",
    "aps:GetMetricMetadata",
];

pub(super) const FARGATE_ROLE_ARN: &str =
    "arn:aws:iam::111122223333:role/AmazonEKSFargatePodExecutionRole";
pub(super) const FARGATE_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy";
pub(super) const SOURCE: &str = "arn:aws:eks:us-east-1:111122223333:fargateprofile/demo/*";
pub(super) const OTHER_SOURCE: &str = "arn:aws:eks:us-east-1:111122223333:fargateprofile/other/*";

// ---------------------------------------------------------------------------
// Fixtures

/// An account and a cluster, as the fakes hold them.
pub(super) struct World {
    pub(super) aws: FakeAws,
    pub(super) k8s: FakeCluster,
}

impl World {
    /// Cluster `demo` in us-east-1 with its issuer, namespace `prometheus`,
    /// nothing else.
    pub(super) fn fresh() -> World {
        World::in_partition("aws", ISSUER)
    }

    fn in_partition(partition: &str, issuer: &str) -> World {
        World {
            aws: FakeAws::new_in_partition(partition).with_cluster(CLUSTER, issuer),
            k8s: FakeCluster::new().with_namespace(NS),
        }
    }

    /// The cluster without the target namespace.
    fn without_namespace() -> World {
        World {
            aws: FakeAws::new().with_cluster(CLUSTER, ISSUER),
            k8s: FakeCluster::new(),
        }
    }

    pub(super) fn observe(&self, desired: &Desired) -> Observed {
        let extras = Extras { role_trusts: true };
        block_on(observe(&self.aws, Some(&self.k8s), desired, extras)).expect("observe")
    }

    pub(super) fn setup(&self, desired: &Desired) -> Plan {
        setup(desired, &self.observe(desired))
    }

    pub(super) fn teardown(&self, desired: &Desired) -> Plan {
        teardown(desired, &self.observe(desired))
    }

    /// Applies a plan to the fakes, as a parallel executor might: a step runs
    /// only after the steps in its `after`, and otherwise as late as possible
    /// (the highest ready index first), so that a missing dependency fails the
    /// way IAM or the API server would report it. Panics on any failure.
    pub(super) fn apply(&self, plan: &Plan) {
        assert!(plan.refusals.is_empty(), "refused: {:?}", plan.refusals);
        let mut done: Vec<bool> = plan.changes.iter().map(|c| c.op.is_none()).collect();
        while let Some(i) = (0..done.len())
            .rev()
            .find(|&i| !done[i] && plan.changes[i].after.iter().all(|&a| done[a]))
        {
            let change = &plan.changes[i];
            self.run(change.op.as_ref().expect("pending changes have an op"))
                .unwrap_or_else(|e| panic!("applying {change:?}: {e}"));
            done[i] = true;
        }
        assert!(done.iter().all(|d| *d), "a dependency cycle in {plan:#?}");
    }

    /// One op, the plain way (no retries, no races).
    fn run(&self, op: &Op) -> Result<(), String> {
        let (aws, k8s) = (&self.aws, &self.k8s);
        let kube = match op {
            Op::CreateNamespace { name } => Some(block_on(k8s.create_namespace(name))),
            Op::ApplyServiceAccount {
                namespace,
                name,
                annotations,
                labels,
            } => Some(
                block_on(k8s.apply_service_account(namespace, name, annotations, labels)).map(drop),
            ),
            Op::RemoveAnnotation {
                namespace,
                name,
                key,
                expected,
            } => Some(block_on(k8s.remove_annotation(namespace, name, key, expected)).map(drop)),
            Op::DeleteServiceAccount { namespace, name } => {
                Some(block_on(k8s.delete_service_account(namespace, name)))
            }
            Op::RestartWorkload { namespace, owner } => Some(block_on(k8s.restart(
                namespace,
                owner,
                "2024-06-01T00:00:00Z",
            ))),
            Op::DeletePod { namespace, name } => Some(block_on(k8s.delete_pod(namespace, name))),
            _ => None,
        };
        if let Some(result) = kube {
            return result.map_err(|e| e.to_string());
        }
        block_on(async {
            match op {
                Op::CreateOidcProvider {
                    url,
                    client_id,
                    tags,
                    ..
                } => aws
                    .create_oidc_provider(url, std::slice::from_ref(client_id), tags)
                    .await
                    .map(drop),
                Op::AddOidcClientId { arn, client_id } => {
                    aws.add_oidc_client_id(arn, client_id).await
                }
                Op::DeleteOidcProvider { arn } => aws.delete_oidc_provider(arn).await,
                Op::CreatePolicy {
                    name,
                    path,
                    arn,
                    document,
                    tags,
                } => {
                    let made = aws.create_policy(name, path, document, tags).await?;
                    assert_eq!(&made, arn, "the planned policy ARN");
                    Ok(())
                }
                Op::UpdatePolicy {
                    arn,
                    document,
                    delete_first,
                    delete_after,
                } => {
                    if let Some(v) = delete_first {
                        aws.delete_policy_version(arn, v).await?;
                    }
                    aws.create_policy_version(arn, document).await?;
                    for v in delete_after {
                        aws.delete_policy_version(arn, v).await?;
                    }
                    Ok(())
                }
                Op::DeletePolicy { arn, versions } => {
                    for v in versions {
                        aws.delete_policy_version(arn, v).await?;
                    }
                    aws.delete_policy(arn).await
                }
                Op::CreateRole { role, .. } => aws.create_role(role).await.map(drop),
                Op::UpdateTrust { role, document } => aws.update_trust(role, document).await,
                Op::DeleteRole { role, detach } => {
                    for p in detach {
                        aws.detach_policy(role, p).await?;
                    }
                    aws.delete_role(role).await
                }
                Op::AttachPolicy { role, policy_arn } => aws.attach_policy(role, policy_arn).await,
                Op::CreateWorkspace { alias, tags } => {
                    aws.create_workspace(alias, tags).await.map(drop)
                }
                Op::DeleteWorkspace { id } => aws.delete_workspace(id).await,
                Op::CreateAssociation {
                    cluster,
                    namespace,
                    service_account,
                    role_arn,
                    tags,
                } => aws
                    .create_pod_identity_association(
                        cluster,
                        namespace,
                        service_account,
                        role_arn,
                        tags,
                    )
                    .await
                    .map(drop),
                Op::UpdateAssociation {
                    cluster,
                    id,
                    role_arn,
                } => {
                    aws.update_pod_identity_association(cluster, id, role_arn)
                        .await
                }
                Op::DeleteAssociation { cluster, id } => {
                    aws.delete_pod_identity_association(cluster, id).await
                }
                Op::CreateAddon {
                    cluster,
                    name,
                    tags,
                } => aws.create_addon(cluster, name, tags).await,
                Op::CreateNamespace { .. }
                | Op::ApplyServiceAccount { .. }
                | Op::RemoveAnnotation { .. }
                | Op::RestartWorkload { .. }
                | Op::DeletePod { .. }
                | Op::DeleteServiceAccount { .. } => unreachable!("cluster ops ran above"),
            }
        })
        .map_err(|e| e.to_string())
    }

    /// The ServiceAccount as the cluster has it now.
    fn service_account(&self, name: &str) -> Option<ServiceAccount> {
        block_on(self.k8s.service_account(NS, name)).unwrap()
    }

    pub(super) fn set_up(&self, desired: &Desired) {
        self.apply(&self.setup(desired));
        self.aws.clear_calls();
        self.k8s.clear_calls();
    }

    // Seeding ----------------------------------------------------------------

    pub(super) fn put_provider(&self, client_ids: &[&str], tags: Tags) -> String {
        self.aws.put_provider(HOST, client_ids, tags)
    }

    /// The guide's policy for a kind, tagged as ours.
    fn put_guide_policy(&self, name: &str, actions: &[&str]) -> String {
        self.aws
            .put_policy(name, &policy::permission_policy(actions, "*"), ours())
    }
}

pub(super) fn options() -> Options {
    Options {
        role_path: "/".into(),
        ..Options::default()
    }
}

pub(super) fn desired(kinds: &[Kind]) -> Desired {
    desired_with(kinds, options())
}

pub(super) fn desired_with(kinds: &[Kind], options: Options) -> Desired {
    Desired::new(
        kinds,
        &NameOverrides::default(),
        (false, false),
        (CLUSTER, REGION, NS),
        None,
        options,
    )
}

fn fargate() -> Desired {
    desired(&[Kind::Fargate])
}

fn fargate_with(options: Options) -> Desired {
    desired_with(&[Kind::Fargate], options)
}

/// The tags this tool puts on what it creates for cluster `demo`.
pub(super) fn ours() -> Tags {
    Tags::from([
        (MANAGED_BY.to_string(), MANAGER.to_string()),
        (CLUSTER_TAG.to_string(), CLUSTER.to_string()),
    ])
}

fn subject(sa: &str) -> IrsaSubject {
    IrsaSubject {
        provider_arn: PROVIDER.into(),
        host_path: HOST.into(),
        namespace: NS.into(),
        service_account: sa.into(),
    }
}

/// A statement trusting `namespace/sa` through `provider` (issuer `host`).
pub(super) fn irsa_statement(provider: &str, host: &str, namespace: &str, sa: &str) -> Value {
    IrsaSubject {
        provider_arn: provider.into(),
        host_path: host.into(),
        namespace: namespace.into(),
        service_account: sa.into(),
    }
    .statement()
}

pub(super) fn trust(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// What the AWS guide's script writes: the subject only, no audience.
fn guide_trust(sa: &str) -> Value {
    trust(vec![json!({
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {format!("{HOST}:sub"): format!("system:serviceaccount:{NS}:{sa}")}}
    })])
}

fn fargate_statement(sources: Value) -> Value {
    json!({
        "Effect": "Allow",
        "Condition": {"ArnLike": {"aws:SourceArn": sources}},
        "Principal": {"Service": FARGATE_SERVICE},
        "Action": "sts:AssumeRole"
    })
}

fn ec2_statement() -> Value {
    json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

// Reading plans ----------------------------------------------------------------

/// The one change for `resource` `name`; panics listing the plan otherwise.
pub(super) fn change<'a>(plan: &'a Plan, resource: Resource, name: &str) -> &'a Change {
    let found: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.resource == resource && c.name == name)
        .collect();
    match found[..] {
        [c] => c,
        _ => panic!(
            "expected one {} {name}, found {}: {:#?}",
            resource.label(),
            found.len(),
            plan.changes
        ),
    }
}

pub(super) fn index(plan: &Plan, resource: Resource, name: &str) -> usize {
    let c = change(plan, resource, name);
    plan.changes
        .iter()
        .position(|x| std::ptr::eq(x, c))
        .unwrap()
}

pub(super) fn op<'a>(plan: &'a Plan, resource: Resource, name: &str) -> &'a Op {
    let c = change(plan, resource, name);
    assert_eq!(c.status, Status::Planned, "{c:?}");
    c.op.as_ref().unwrap()
}

/// The writes of a plan, one line each: `create role amp-iamproxy-ingest-role`.
pub(super) fn planned(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.op.is_some())
        .map(|c| {
            let action = format!("{:?}", c.action).to_lowercase();
            format!("{action} {} {}", c.resource.label(), c.name)
        })
        .collect()
}

/// The new trust document of a planned UpdateTrust on `role`.
fn updated_trust(plan: &Plan, role: &str) -> Value {
    match op(plan, Resource::Trust, role) {
        Op::UpdateTrust { role: r, document } => {
            assert_eq!(r, role);
            assert!(!document.contains(char::is_whitespace), "sent minified");
            parse(document)
        }
        other => panic!("not a trust update: {other:?}"),
    }
}

fn created_role(plan: &Plan, role: &str) -> (NewRole, TrustGrant) {
    match op(plan, Resource::Role, role) {
        Op::CreateRole { role, grant } => (role.clone(), grant.clone()),
        other => panic!("not a role creation: {other:?}"),
    }
}

pub(super) fn assert_refused(plan: &Plan, resource: Resource, name: &str, says: &str) {
    let c = change(plan, resource, name);
    assert_eq!(c.status, Status::Refused, "{c:?}");
    assert!(c.op.is_none());
    assert!(
        plan.refusals.iter().any(|r| r.contains(says)),
        "no refusal says {says:?}: {:?}",
        plan.refusals
    );
    assert!(!plan.is_converged());
}

// ---------------------------------------------------------------------------
// Setup: a fresh account

#[test]
fn observing_writes_nothing() {
    let world = World::fresh();
    world.setup(&desired(&[Kind::Ingest, Kind::Query, Kind::Fargate]));
    assert_eq!(world.aws.writes(), Vec::<String>::new());
    assert_eq!(world.k8s.writes(), Vec::<String>::new());
}

#[test]
fn fresh_account_gets_the_whole_recipe_in_dependency_order() {
    let plan = World::fresh().setup(&desired(&[]));
    assert_eq!(
        planned(&plan),
        [
            format!("create oidc-provider {HOST}"),
            "create policy AMPIngestPolicy".into(),
            "create role amp-iamproxy-ingest-role".into(),
            "create attachment amp-iamproxy-ingest-role".into(),
            format!("create serviceaccount {INGEST_WHO}"),
            "create policy AMPQueryPolicy".into(),
            "create role amp-iamproxy-query-role".into(),
            "create attachment amp-iamproxy-query-role".into(),
            "create serviceaccount prometheus/amp-iamproxy-query-service-account".into(),
        ]
    );
    assert!(plan.refusals.is_empty() && plan.warnings.is_empty());
    assert!(!plan.is_converged());
    assert_eq!(
        (
            plan.command,
            plan.cluster.as_str(),
            plan.region.as_str(),
            plan.account.as_str(),
            plan.partition.as_str(),
            plan.namespace.as_str()
        ),
        ("setup", CLUSTER, REGION, "111122223333", "aws", NS)
    );
}

#[test]
fn fresh_account_creates_the_oidc_provider_with_the_sts_audience() {
    let plan = World::fresh().setup(&desired(&[]));
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(
        (c.action, c.status, c.kind),
        (Action::Create, Status::Planned, None)
    );
    let Some(Op::CreateOidcProvider {
        url,
        client_id,
        tags,
        ..
    }) = &c.op
    else {
        panic!("{c:?}")
    };
    assert_eq!(
        (url.as_str(), client_id.as_str(), tags),
        (ISSUER, STS_AUDIENCE, &ours())
    );
    assert!(c.after.is_empty());
}

#[test]
fn fresh_account_creates_the_guides_policies_on_every_workspace() {
    let plan = World::fresh().setup(&desired(&[]));
    for (name, arn, actions, kind) in [
        (
            INGEST_POLICY,
            INGEST_POLICY_ARN,
            INGEST_ACTIONS,
            Kind::Ingest,
        ),
        (QUERY_POLICY, QUERY_POLICY_ARN, QUERY_ACTIONS, Kind::Query),
    ] {
        let c = change(&plan, Resource::Policy, name);
        assert_eq!((c.action, c.kind), (Action::Create, Some(kind)));
        let Some(Op::CreatePolicy {
            name: n,
            path,
            arn: a,
            document,
            tags,
        }) = &c.op
        else {
            panic!("{c:?}")
        };
        assert_eq!((n.as_str(), path.as_str(), a.as_str()), (name, "/", arn));
        assert_eq!(
            parse(document),
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": actions, "Resource": "*"}]})
        );
        assert!(!document.contains(char::is_whitespace));
        assert_eq!(tags, &ours());
        assert!(c.after.is_empty());
    }
}

#[test]
fn fresh_roles_wait_for_the_provider_and_trust_exactly_their_service_account() {
    let plan = World::fresh().setup(&desired(&[]));
    let provider = index(&plan, Resource::OidcProvider, HOST);
    for (role_name, sa) in [(INGEST_ROLE, INGEST_SA), (QUERY_ROLE, QUERY_SA)] {
        let c = change(&plan, Resource::Role, role_name);
        assert_eq!(c.action, Action::Create);
        assert_eq!(c.after, [provider]);
        let (role, grant) = created_role(&plan, role_name);
        assert_eq!(role.name, role_name);
        assert_eq!(role.path, "/");
        assert_eq!(role.tags, ours());
        assert_eq!(role.permissions_boundary, None);
        assert!(role.description.contains(CLUSTER), "{}", role.description);
        assert_eq!(
            parse(&role.trust_policy),
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{HOST}:sub"): format!("system:serviceaccount:prometheus:{sa}"),
                    format!("{HOST}:aud"): "sts.amazonaws.com",
                }}
            }]})
        );
        assert!(!role.trust_policy.contains(char::is_whitespace), "minified");
        assert_eq!(grant, TrustGrant::Irsa(subject(sa)));
    }
}

#[test]
fn attachments_wait_for_their_role_and_their_policy() {
    let plan = World::fresh().setup(&desired(&[]));
    for (role, policy_name, policy_arn) in [
        (INGEST_ROLE, INGEST_POLICY, INGEST_POLICY_ARN),
        (QUERY_ROLE, QUERY_POLICY, QUERY_POLICY_ARN),
    ] {
        let c = change(&plan, Resource::Attachment, role);
        assert_eq!(c.action, Action::Create);
        assert_eq!(
            c.op,
            Some(Op::AttachPolicy {
                role: role.into(),
                policy_arn: policy_arn.into()
            })
        );
        let mut after = c.after.clone();
        after.sort();
        assert_eq!(
            after,
            [
                index(&plan, Resource::Policy, policy_name),
                index(&plan, Resource::Role, role)
            ]
        );
    }
}

#[test]
fn service_accounts_are_created_after_their_role_annotated_and_labelled_as_ours() {
    let plan = World::fresh().setup(&desired(&[]));
    for (sa, role, role_arn) in [
        (INGEST_SA, INGEST_ROLE, INGEST_ROLE_ARN),
        (QUERY_SA, QUERY_ROLE, QUERY_ROLE_ARN),
    ] {
        let c = change(&plan, Resource::ServiceAccount, &format!("{NS}/{sa}"));
        assert_eq!(c.action, Action::Create);
        assert_eq!(c.after, [index(&plan, Resource::Role, role)]);
        assert_eq!(
            c.op,
            Some(Op::ApplyServiceAccount {
                namespace: NS.into(),
                name: sa.into(),
                annotations: BTreeMap::from([(ROLE_ARN_ANNOTATION.into(), role_arn.into())]),
                labels: BTreeMap::from([(MANAGED_BY.into(), MANAGER.into())]),
            })
        );
    }
}

#[test]
fn kind_summaries_name_role_policy_and_service_account() {
    let plan = World::fresh().setup(&desired(&[]));
    assert_eq!(plan.kinds.len(), 2);
    let ingest = &plan.kinds[&Kind::Ingest];
    assert_eq!(ingest.role_arn, INGEST_ROLE_ARN);
    assert_eq!(ingest.policy_arn.as_deref(), Some(INGEST_POLICY_ARN));
    assert_eq!(ingest.service_account.as_deref(), Some(INGEST_WHO));
    assert_eq!(ingest.source_arn, None);
    let query = &plan.kinds[&Kind::Query];
    assert_eq!(query.role_arn, QUERY_ROLE_ARN);
    assert_eq!(query.policy_arn.as_deref(), Some(QUERY_POLICY_ARN));
    assert_eq!(
        query.service_account.as_deref(),
        Some("prometheus/amp-iamproxy-query-service-account")
    );
}

#[test]
fn one_kind_plans_only_that_kind() {
    let plan = World::fresh().setup(&desired(&[Kind::Query]));
    assert_eq!(
        plan.kinds.keys().copied().collect::<Vec<_>>(),
        [Kind::Query]
    );
    assert!(plan.changes.iter().all(|c| c.kind != Some(Kind::Ingest)));
    assert_eq!(plan.writes(), 5);
}

#[test]
fn role_path_boundary_and_extra_tags_reach_what_is_created() {
    let mut opts = options();
    opts.role_path = "/amp/".into();
    opts.permissions_boundary = Some("arn:aws:iam::111122223333:policy/Boundary".into());
    opts.tags = Tags::from([("team".to_string(), "obs".to_string())]);
    let world = World::fresh();
    world.aws.put_policy(
        "Boundary",
        &policy::permission_policy(&["aps:*"], "*"),
        Tags::new(),
    );
    let plan = world.setup(&desired_with(&[Kind::Ingest], opts));
    let mut tags = ours();
    tags.insert("team".into(), "obs".into());

    let (role, _) = created_role(&plan, INGEST_ROLE);
    assert_eq!(role.path, "/amp/");
    assert_eq!(
        role.permissions_boundary.as_deref(),
        Some("arn:aws:iam::111122223333:policy/Boundary")
    );
    assert_eq!(role.tags, tags);
    let Op::CreatePolicy {
        path, arn, tags: t, ..
    } = op(&plan, Resource::Policy, INGEST_POLICY)
    else {
        panic!()
    };
    assert_eq!(path, "/amp/");
    assert_eq!(arn, "arn:aws:iam::111122223333:policy/amp/AMPIngestPolicy");
    assert_eq!(t, &tags);
    let Op::CreateOidcProvider { tags: t, .. } = op(&plan, Resource::OidcProvider, HOST) else {
        panic!()
    };
    assert_eq!(t, &tags);
    let role_arn = "arn:aws:iam::111122223333:role/amp/amp-iamproxy-ingest-role";
    assert_eq!(plan.kinds[&Kind::Ingest].role_arn, role_arn);
    let Op::ApplyServiceAccount { annotations, .. } =
        op(&plan, Resource::ServiceAccount, INGEST_WHO)
    else {
        panic!()
    };
    assert_eq!(annotations[ROLE_ARN_ANNOTATION], role_arn);
}

// ---------------------------------------------------------------------------
// Setup: reruns and partial states

#[test]
fn rerun_after_setup_writes_nothing() {
    let world = World::fresh();
    let d = desired(&[Kind::Ingest, Kind::Query, Kind::Fargate]);
    world.set_up(&d);
    let plan = world.setup(&d);
    assert_eq!(plan.writes(), 0, "{:?}", planned(&plan));
    assert!(plan.is_converged());
    assert!(plan.changes.iter().all(|c| c.status == Status::Unchanged));
    // The summaries are the same on a rerun.
    assert_eq!(plan.kinds[&Kind::Ingest].role_arn, INGEST_ROLE_ARN);
    assert_eq!(
        plan.kinds[&Kind::Fargate].source_arn.as_deref(),
        Some(SOURCE)
    );
}

#[test]
fn everything_already_in_place_writes_nothing() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    for (role, policy_name, policy_arn, actions, sa) in [
        (
            INGEST_ROLE,
            INGEST_POLICY,
            INGEST_POLICY_ARN,
            INGEST_ACTIONS,
            INGEST_SA,
        ),
        (
            QUERY_ROLE,
            QUERY_POLICY,
            QUERY_POLICY_ARN,
            QUERY_ACTIONS,
            QUERY_SA,
        ),
    ] {
        // Statement written by hand: a list for the action, another key order.
        let st = json!({"Action": ["sts:AssumeRoleWithWebIdentity"], "Effect": "Allow",
            "Condition": {"StringEquals": {format!("{HOST}:aud"): [STS_AUDIENCE],
                format!("{HOST}:sub"): format!("system:serviceaccount:{NS}:{sa}")}},
            "Principal": {"Federated": PROVIDER}});
        let role_arn = world
            .aws
            .put_role(role, &trust(vec![st]), Tags::new(), &[policy_arn]);
        world.put_guide_policy(policy_name, &actions);
        world
            .k8s
            .put_service_account(NS, sa, &[(ROLE_ARN_ANNOTATION, &role_arn)], &[]);
    }
    let plan = world.setup(&desired(&[]));
    assert_eq!(plan.writes(), 0, "{:?}", planned(&plan));
    assert!(plan.is_converged());
}

#[test]
fn existing_role_at_another_path_is_the_one_annotated() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    let arn = world.aws.put_role_at(
        "/team/",
        INGEST_ROLE,
        &subject(INGEST_SA).trust_policy(),
        Tags::new(),
        &[],
    );
    assert_eq!(
        arn,
        "arn:aws:iam::111122223333:role/team/amp-iamproxy-ingest-role"
    );
    let plan = world.setup(&desired(&[Kind::Ingest]));
    assert_eq!(plan.kinds[&Kind::Ingest].role_arn, arn);
    let Op::ApplyServiceAccount { annotations, .. } =
        op(&plan, Resource::ServiceAccount, INGEST_WHO)
    else {
        panic!()
    };
    assert_eq!(annotations[ROLE_ARN_ANNOTATION], arn);
}

#[test]
fn workspace_scopes_the_policies_to_its_arn() {
    let mut d = desired(&[]);
    d.workspace = Some(WorkspaceRef::Id("ws-1".into()));
    let world = World::fresh();
    world
        .aws
        .put_workspace_id("ws-1", Some("prod"), Tags::new());
    let plan = world.setup(&d);
    for name in [INGEST_POLICY, QUERY_POLICY] {
        let Op::CreatePolicy { document, .. } = op(&plan, Resource::Policy, name) else {
            panic!()
        };
        assert_eq!(
            parse(document)["Statement"][0]["Resource"],
            "arn:aws:aps:us-east-1:111122223333:workspace/ws-1"
        );
    }
}

#[test]
fn policy_scoped_to_star_is_narrowed_to_the_workspace_by_a_new_version() {
    let world = World::fresh();
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS);
    world.aws.put_workspace_id("ws-1", None, Tags::new());
    let mut d = desired(&[Kind::Ingest]);
    d.workspace = Some(WorkspaceRef::Id("ws-1".into()));
    let plan = world.setup(&d);
    let c = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!(c.action, Action::Update);
    assert!(
        c.detail.starts_with(
            "new default version: resources +arn:aws:aps:us-east-1:111122223333:workspace/ws-1 -*"
        ),
        "{}",
        c.detail
    );
    // The old default (every workspace) grants more: it goes once replaced.
    let Op::UpdatePolicy { delete_after, .. } = op(&plan, Resource::Policy, INGEST_POLICY) else {
        panic!()
    };
    assert_eq!(delete_after, &["v1".to_string()]);
    world.apply(&plan);
    let stored = world.aws.stored_policy(INGEST_POLICY).unwrap();
    assert_eq!(stored.versions.len(), 1);
}

#[test]
fn policy_with_another_document_gets_a_new_default_version_with_the_difference() {
    let world = World::fresh();
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS[1..]);
    let d = desired(&[Kind::Ingest]);
    let plan = world.setup(&d);
    let c = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!((c.action, c.status), (Action::Update, Status::Planned));
    assert_eq!(c.detail, "new default version: actions +aps:RemoteWrite");
    let Some(Op::UpdatePolicy {
        arn,
        document,
        delete_first,
        delete_after,
    }) = &c.op
    else {
        panic!("{c:?}")
    };
    assert_eq!(arn, INGEST_POLICY_ARN);
    assert_eq!(
        parse(document),
        policy::permission_policy(&INGEST_ACTIONS, "*")
    );
    assert_eq!(delete_first, &None);
    assert!(delete_after.is_empty(), "the old version grants less");

    world.apply(&plan);
    let stored = world.aws.stored_policy(INGEST_POLICY).unwrap();
    assert_eq!(stored.versions.len(), 2);
    assert!(policy::same_meaning(
        &stored.document(),
        &policy::permission_policy(&INGEST_ACTIONS, "*")
    ));
    assert!(world.setup(&d).is_converged());
}

#[test]
fn policy_with_five_versions_deletes_the_oldest_non_default_one_first() {
    let world = World::fresh();
    // v1 (the oldest) is the default; v2 is the oldest the planner may delete.
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS[1..]);
    for _ in 0..4 {
        world.aws.put_policy_version(
            INGEST_POLICY,
            &policy::permission_policy(&["aps:GetSeries"], "*"),
            false,
        );
    }
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::Policy, INGEST_POLICY);
    let Some(Op::UpdatePolicy { delete_first, .. }) = &c.op else {
        panic!("{c:?}")
    };
    assert_eq!(delete_first.as_deref(), Some("v2"));
    assert!(
        c.detail.contains("(deletes version v2 first: IAM keeps 5)"),
        "{}",
        c.detail
    );

    world.apply(&plan);
    let stored = world.aws.stored_policy(INGEST_POLICY).unwrap();
    let ids: Vec<&str> = stored.versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["v1", "v3", "v4", "v5", "v6"]);
    assert_eq!(stored.default_version().id, "v6");
}

#[test]
fn policy_with_four_versions_needs_no_room() {
    let world = World::fresh();
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS[1..]);
    for _ in 0..3 {
        world.aws.put_policy_version(
            INGEST_POLICY,
            &policy::permission_policy(&["aps:GetSeries"], "*"),
            false,
        );
    }
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let Op::UpdatePolicy { delete_first, .. } = op(&plan, Resource::Policy, INGEST_POLICY) else {
        panic!()
    };
    assert_eq!(delete_first, &None);
}

#[test]
fn policy_with_the_same_meaning_is_left_alone() {
    let world = World::fresh();
    // Another order, a Sid, upper case, a one-element Resource list.
    let doc = json!({"Version": "2012-10-17", "Statement": {"Sid": "AMP", "Effect": "Allow",
        "Action": ["aps:GetMetricMetadata", "APS:RemoteWrite", "aps:GetLabels", "aps:GetSeries"],
        "Resource": ["*"]}});
    world.aws.put_policy(INGEST_POLICY, &doc, Tags::new());
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!((c.action, c.status), (Action::None, Status::Unchanged));
    assert!(c.op.is_none());
    // The attachment uses the policy's real ARN.
    assert_eq!(
        op(&plan, Resource::Attachment, INGEST_ROLE),
        &Op::AttachPolicy {
            role: INGEST_ROLE.into(),
            policy_arn: INGEST_POLICY_ARN.into()
        }
    );
}

#[test]
fn role_trusting_another_subject_gets_ours_added_and_keeps_theirs() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    let theirs = irsa_statement(PROVIDER, HOST, "monitoring", "grafana");
    world
        .aws
        .put_role(INGEST_ROLE, &trust(vec![theirs.clone()]), Tags::new(), &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let role = change(&plan, Resource::Role, INGEST_ROLE);
    assert_eq!(role.status, Status::Unchanged);
    let c = change(&plan, Resource::Trust, INGEST_ROLE);
    assert_eq!(c.action, Action::Update);
    assert_eq!(
        c.detail,
        format!("add trust for {INGEST_WHO} (keeping 1 existing statement(s))")
    );
    assert!(c.after.is_empty(), "the provider exists already");
    // Compacted: their statement's subject list gains ours.
    let mut merged = theirs.clone();
    merged["Condition"]["StringEquals"][format!("{HOST}:sub")] = json!([
        "system:serviceaccount:monitoring:grafana",
        format!("system:serviceaccount:{NS}:{INGEST_SA}")
    ]);
    assert_eq!(updated_trust(&plan, INGEST_ROLE), trust(vec![merged]));
    // The role was not made by the tool and lets grafana in too: a finding.
    assert!(
        plan.findings
            .iter()
            .any(|f| f.resource == Resource::Role && f.risk.contains("monitoring")),
        "{:?}",
        plan.findings
    );
    // The ServiceAccount waits for the trust.
    let sa = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!(sa.after, [index(&plan, Resource::Trust, INGEST_ROLE)]);
}

#[test]
fn role_trusting_another_clusters_provider_gets_ours_after_our_provider() {
    let world = World::fresh();
    world.aws.put_provider(
        "oidc.eks.us-west-2.amazonaws.com/id/OTHER",
        &[STS_AUDIENCE],
        Tags::new(),
    );
    let theirs = irsa_statement(
        OTHER_PROVIDER,
        "oidc.eks.us-west-2.amazonaws.com/id/OTHER",
        NS,
        INGEST_SA,
    );
    let statements = vec![ec2_statement(), theirs];
    world
        .aws
        .put_role(INGEST_ROLE, &trust(statements.clone()), ours(), &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::Trust, INGEST_ROLE);
    assert_eq!(c.after, [index(&plan, Resource::OidcProvider, HOST)]);
    let mut expected = statements;
    expected.push(subject(INGEST_SA).statement());
    assert_eq!(updated_trust(&plan, INGEST_ROLE), trust(expected));
    world.apply(&plan);
}

#[test]
fn guide_trust_without_audience_gets_the_aud_condition_in_place() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    world
        .aws
        .put_role(INGEST_ROLE, &guide_trust(INGEST_SA), Tags::new(), &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::Trust, INGEST_ROLE);
    assert_eq!(
        c.detail,
        format!("add the aud = sts.amazonaws.com condition for {INGEST_WHO}")
    );
    assert_eq!(
        updated_trust(&plan, INGEST_ROLE),
        trust(vec![subject(INGEST_SA).statement()])
    );
}

/// Statements no compaction can merge (one service each), as many as keep
/// the trust within `limit` characters.
fn service_statements_within(limit: usize) -> Vec<Value> {
    let mut statements = Vec::new();
    loop {
        let next = json!({"Effect": "Allow", "Principal": {"Service": format!("svc-{:03}.example.com", statements.len())}, "Action": "sts:AssumeRole"});
        let mut more = statements.clone();
        more.push(next);
        if policy::minify(&trust(more.clone())).len() > limit {
            return statements;
        }
        statements = more;
    }
}

#[test]
fn trust_over_the_default_quota_is_judged_by_the_accounts_real_quota() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    world.aws.put_role(
        INGEST_ROLE,
        &trust(service_statements_within(policy::TRUST_POLICY_LIMIT)),
        ours(),
        &[],
    );
    let d = desired(&[Kind::Ingest]);
    let mut observed = world.observe(&d);

    // Over 2,048 with the quota unread: the plan asks for it.
    let plan = setup(&d, &observed);
    assert!(plan.needs_trust_quota);
    assert_refused(&plan, Resource::Trust, INGEST_ROLE, "quota of 2048");

    // The account's quota is the default: refused, naming it and how to raise it.
    observed.trust_quota = Some(2048);
    let plan = setup(&d, &observed);
    assert!(!plan.needs_trust_quota);
    assert_refused(
        &plan,
        Resource::Trust,
        INGEST_ROLE,
        "Role trust policy length",
    );
    assert_eq!(
        change(&plan, Resource::Trust, INGEST_ROLE).action,
        Action::Update
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| !matches!(c.op, Some(Op::UpdateTrust { .. })))
    );

    // Raised to 4,096: planned, and IAM (the fake enforces it) takes it.
    observed.trust_quota = Some(4096);
    let plan = setup(&d, &observed);
    assert!(plan.refusals.is_empty(), "{:?}", plan.refusals);
    assert!(policy::minify(&updated_trust(&plan, INGEST_ROLE)).len() > 2048);
    let raised = World {
        aws: FakeAws::new()
            .with_cluster(CLUSTER, ISSUER)
            .with_trust_quota(4096),
        k8s: FakeCluster::new().with_namespace(NS),
    };
    raised.put_provider(&[STS_AUDIENCE], Tags::new());
    raised.aws.put_role(
        INGEST_ROLE,
        &trust(service_statements_within(policy::TRUST_POLICY_LIMIT)),
        ours(),
        &[],
    );
    let mut observed = raised.observe(&d);
    observed.trust_quota = Some(4096);
    raised.apply(&setup(&d, &observed));
}

#[test]
fn many_subjects_of_one_provider_are_compacted_into_one_statement() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    // Other subjects of this cluster in one statement, as close to the quota
    // as leaves no room for a statement of our own.
    let mut subs: Vec<String> = Vec::new();
    let doc = |subs: &[String]| {
        let mut st = irsa_statement(PROVIDER, HOST, "apps", "sa");
        st["Condition"]["StringEquals"][format!("{HOST}:sub")] = json!(subs);
        trust(vec![st])
    };
    while policy::minify(&doc(&subs)).len() < policy::TRUST_POLICY_LIMIT - 100 {
        subs.push(format!("system:serviceaccount:apps:sa-{}", subs.len()));
    }
    world.aws.put_role(INGEST_ROLE, &doc(&subs), ours(), &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    assert!(plan.refusals.is_empty(), "{:?}", plan.refusals);
    assert!(!plan.needs_trust_quota);
    let updated = updated_trust(&plan, INGEST_ROLE);
    assert_eq!(policy::statements(&updated).len(), 1, "{updated}");
    assert!(policy::minify(&updated).len() <= policy::TRUST_POLICY_LIMIT);
    world.apply(&plan);
    assert!(world.setup(&desired(&[Kind::Ingest])).is_converged());
}

#[test]
fn role_without_the_attachment_gets_only_the_attachment() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], Tags::new());
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS);
    let role_arn = world.aws.put_role(
        INGEST_ROLE,
        &subject(INGEST_SA).trust_policy(),
        ours(),
        &["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    );
    world
        .k8s
        .put_service_account(NS, INGEST_SA, &[(ROLE_ARN_ANNOTATION, &role_arn)], &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    assert_eq!(
        planned(&plan),
        ["create attachment amp-iamproxy-ingest-role"]
    );
    let c = change(&plan, Resource::Attachment, INGEST_ROLE);
    assert!(c.after.is_empty(), "role and policy exist: {:?}", c.after);
    assert_eq!(
        c.op,
        Some(Op::AttachPolicy {
            role: INGEST_ROLE.into(),
            policy_arn: INGEST_POLICY_ARN.into()
        })
    );
}

#[test]
fn provider_with_other_client_ids_gets_the_sts_audience_added() {
    let world = World::fresh();
    let arn = world.put_provider(&["my-app"], Tags::new());
    assert_eq!(arn, PROVIDER);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.detail, "add client id sts.amazonaws.com (keeping my-app)");
    assert_eq!(
        c.op,
        Some(Op::AddOidcClientId {
            arn: PROVIDER.into(),
            client_id: STS_AUDIENCE.into()
        })
    );
    let provider = index(&plan, Resource::OidcProvider, HOST);
    assert_eq!(change(&plan, Resource::Role, INGEST_ROLE).after, [provider]);
    world.apply(&plan);
    assert_eq!(
        world.aws.stored_provider(HOST).unwrap().client_ids,
        ["my-app", STS_AUDIENCE]
    );
}

#[test]
fn existing_provider_with_the_audience_is_unchanged() {
    let world = World::fresh();
    world.put_provider(&["my-app", STS_AUDIENCE], Tags::new());
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.status, Status::Unchanged);
    assert!(change(&plan, Resource::Role, INGEST_ROLE).after.is_empty());
}

#[test]
fn missing_namespace_is_created_before_the_service_accounts() {
    let world = World::without_namespace();
    let plan = world.setup(&desired(&[]));
    let c = change(&plan, Resource::Namespace, NS);
    assert_eq!(c.action, Action::Create);
    assert_eq!(c.op, Some(Op::CreateNamespace { name: NS.into() }));
    let ns = index(&plan, Resource::Namespace, NS);
    for (sa, role) in [(INGEST_SA, INGEST_ROLE), (QUERY_SA, QUERY_ROLE)] {
        let c = change(&plan, Resource::ServiceAccount, &format!("{NS}/{sa}"));
        let mut after = c.after.clone();
        after.sort();
        let mut want = vec![ns, index(&plan, Resource::Role, role)];
        want.sort();
        assert_eq!(after, want);
    }
    world.apply(&plan);
    assert!(world.k8s.has_namespace(NS));
}

#[test]
fn existing_namespace_is_not_planned() {
    let plan = World::fresh().setup(&desired(&[]));
    assert!(
        plan.changes
            .iter()
            .all(|c| c.resource != Resource::Namespace)
    );
}

#[test]
fn existing_service_account_without_annotation_is_annotated_but_not_labelled() {
    let world = World::fresh();
    world.k8s.put_service_account(
        NS,
        INGEST_SA,
        &[("meta.helm.sh/release-name", "prometheus")],
        &[("app.kubernetes.io/managed-by", "Helm")],
    );
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!(c.action, Action::Update);
    assert_eq!(
        c.op,
        Some(Op::ApplyServiceAccount {
            namespace: NS.into(),
            name: INGEST_SA.into(),
            annotations: BTreeMap::from([(ROLE_ARN_ANNOTATION.into(), INGEST_ROLE_ARN.into())]),
            labels: BTreeMap::new(),
        })
    );
    world.apply(&plan);
    let sa = world.service_account(INGEST_SA).unwrap();
    assert_eq!(sa.labels[MANAGED_BY], "Helm");
    assert_eq!(sa.annotations.len(), 2);
}

#[test]
fn service_account_created_by_us_keeps_its_label_on_update() {
    let world = World::fresh();
    world
        .k8s
        .put_service_account(NS, INGEST_SA, &[], &[(MANAGED_BY, MANAGER)]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let Op::ApplyServiceAccount { labels, .. } = op(&plan, Resource::ServiceAccount, INGEST_WHO)
    else {
        panic!()
    };
    assert_eq!(
        labels,
        &BTreeMap::from([(MANAGED_BY.into(), MANAGER.into())])
    );
}

#[test]
fn service_account_already_annotated_for_our_role_is_unchanged() {
    let world = World::fresh();
    world.k8s.put_service_account(
        NS,
        INGEST_SA,
        &[(ROLE_ARN_ANNOTATION, INGEST_ROLE_ARN)],
        &[],
    );
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!((c.action, c.status), (Action::None, Status::Unchanged));
}

#[test]
fn foreign_role_arn_annotation_is_refused() {
    let world = World::fresh();
    let foreign = "arn:aws:iam::111122223333:role/someone-elses";
    world
        .k8s
        .put_service_account(NS, INGEST_SA, &[(ROLE_ARN_ANNOTATION, foreign)], &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    assert_refused(&plan, Resource::ServiceAccount, INGEST_WHO, "--overwrite");
    assert!(plan.refusals[0].contains(foreign), "{}", plan.refusals[0]);
    assert_eq!(plan.refusals.len(), 1);
    assert_eq!(
        change(&plan, Resource::ServiceAccount, INGEST_WHO).action,
        Action::Update
    );
}

#[test]
fn overwrite_points_a_foreign_annotation_at_our_role() {
    let world = World::fresh();
    let foreign = "arn:aws:iam::111122223333:role/someone-elses";
    world
        .k8s
        .put_service_account(NS, INGEST_SA, &[(ROLE_ARN_ANNOTATION, foreign)], &[]);
    let plan = world.setup(&desired_with(
        &[Kind::Ingest],
        Options {
            overwrite: true,
            ..options()
        },
    ));
    assert!(plan.refusals.is_empty());
    let c = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!(c.action, Action::Update);
    assert!(c.detail.contains(foreign) && c.detail.contains("--overwrite"));
    let Some(Op::ApplyServiceAccount {
        annotations,
        labels,
        ..
    }) = &c.op
    else {
        panic!()
    };
    assert_eq!(annotations[ROLE_ARN_ANNOTATION], INGEST_ROLE_ARN);
    assert!(labels.is_empty(), "not created by us");
    world.apply(&plan);
    assert_eq!(
        world.service_account(INGEST_SA).unwrap().annotations[ROLE_ARN_ANNOTATION],
        INGEST_ROLE_ARN
    );
}

// ---------------------------------------------------------------------------
// Partitions

#[test]
fn china_and_govcloud_arns_everywhere() {
    for (partition, region, issuer) in [
        (
            "aws-cn",
            "cn-north-1",
            "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC",
        ),
        (
            "aws-us-gov",
            "us-gov-west-1",
            "https://oidc.eks.us-gov-west-1.amazonaws.com/id/ABC",
        ),
    ] {
        let world = World::in_partition(partition, issuer);
        world.aws.put_workspace_id("ws-1", None, Tags::new());
        let mut d = Desired::new(
            &[Kind::Ingest, Kind::Query, Kind::Fargate],
            &NameOverrides::default(),
            (false, false),
            (CLUSTER, region, NS),
            Some(WorkspaceRef::Id("ws-1".into())),
            options(),
        );
        d.workspace = Some(WorkspaceRef::Id("ws-1".into()));
        let plan = world.setup(&d);
        let host = crate::arn::issuer_host_path(issuer);
        let acct = format!("arn:{partition}:iam::111122223333");
        assert_eq!(plan.partition, partition);

        let (role, _) = created_role(&plan, INGEST_ROLE);
        assert_eq!(
            parse(&role.trust_policy)["Statement"][0]["Principal"]["Federated"],
            format!("{acct}:oidc-provider/{host}")
        );
        let Op::CreatePolicy { arn, document, .. } = op(&plan, Resource::Policy, INGEST_POLICY)
        else {
            panic!()
        };
        assert_eq!(arn, &format!("{acct}:policy/AMPIngestPolicy"));
        assert_eq!(
            parse(document)["Statement"][0]["Resource"],
            format!("arn:{partition}:aps:{region}:111122223333:workspace/ws-1")
        );
        assert_eq!(
            op(&plan, Resource::Attachment, INGEST_ROLE),
            &Op::AttachPolicy {
                role: INGEST_ROLE.into(),
                policy_arn: format!("{acct}:policy/AMPIngestPolicy")
            }
        );
        let Op::ApplyServiceAccount { annotations, .. } =
            op(&plan, Resource::ServiceAccount, INGEST_WHO)
        else {
            panic!()
        };
        assert_eq!(
            annotations[ROLE_ARN_ANNOTATION],
            format!("{acct}:role/amp-iamproxy-ingest-role")
        );
        let source = format!("arn:{partition}:eks:{region}:111122223333:fargateprofile/demo/*");
        let (fargate_role, _) = created_role(&plan, FARGATE_ROLE);
        assert_eq!(
            parse(&fargate_role.trust_policy)["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
            source.as_str()
        );
        assert_eq!(
            op(&plan, Resource::Attachment, FARGATE_ROLE),
            &Op::AttachPolicy {
                role: FARGATE_ROLE.into(),
                policy_arn: format!(
                    "arn:{partition}:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"
                )
            }
        );
        let fargate = &plan.kinds[&Kind::Fargate];
        assert_eq!(fargate.source_arn.as_deref(), Some(source.as_str()));
        assert_eq!(
            fargate.role_arn,
            format!("{acct}:role/AmazonEKSFargatePodExecutionRole")
        );
        // Nothing anywhere in the plan names the commercial partition.
        let everything = format!("{:?} {:?}", plan.changes, plan.kinds);
        assert!(!everything.contains("arn:aws:"), "{everything}");
        // The audience stays sts.amazonaws.com in every partition.
        let Op::CreateOidcProvider { url, client_id, .. } = op(&plan, Resource::OidcProvider, host)
        else {
            panic!()
        };
        assert_eq!((url.as_str(), client_id.as_str()), (issuer, STS_AUDIENCE));
        world.apply(&plan);
        assert!(world.setup(&d).is_converged());
    }
}

// ---------------------------------------------------------------------------
// Fargate

#[test]
fn fargate_fresh_role_trusts_this_clusters_profiles_and_gets_the_managed_policy() {
    let world = World::fresh();
    let plan = world.setup(&fargate());
    assert_eq!(
        planned(&plan),
        [
            "create role AmazonEKSFargatePodExecutionRole",
            "create attachment AmazonEKSFargatePodExecutionRole"
        ]
    );
    let (role, grant) = created_role(&plan, FARGATE_ROLE);
    assert_eq!(
        parse(&role.trust_policy),
        trust(vec![fargate_statement(json!(SOURCE))])
    );
    assert!(!role.trust_policy.contains(char::is_whitespace));
    assert_eq!(role.tags, ours());
    assert_eq!(
        grant,
        TrustGrant::Fargate {
            source_arn: SOURCE.into()
        }
    );
    let attach = change(&plan, Resource::Attachment, FARGATE_ROLE);
    assert_eq!(
        attach.op,
        Some(Op::AttachPolicy {
            role: FARGATE_ROLE.into(),
            policy_arn: FARGATE_POLICY_ARN.into()
        })
    );
    assert_eq!(attach.after, [index(&plan, Resource::Role, FARGATE_ROLE)]);
    let summary = &plan.kinds[&Kind::Fargate];
    assert_eq!(summary.role_arn, FARGATE_ROLE_ARN);
    assert_eq!(summary.policy_arn.as_deref(), Some(FARGATE_POLICY_ARN));
    assert_eq!(summary.source_arn.as_deref(), Some(SOURCE));
    assert_eq!(summary.service_account, None);
    assert!(plan.warnings.is_empty());
    // Fargate alone needs no OIDC provider and never reads the cluster.
    assert!(
        plan.changes
            .iter()
            .all(|c| c.resource != Resource::OidcProvider)
    );
    assert_eq!(world.k8s.calls(), Vec::<String>::new());
}

#[test]
fn fargate_role_already_covering_the_cluster_needs_no_writes() {
    let world = World::fresh();
    // As the guide's console steps leave it: no tags, the string form.
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!(SOURCE))]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    assert_eq!(plan.writes(), 0, "{:?}", planned(&plan));
    assert!(plan.is_converged());
    assert_eq!(
        change(&plan, Resource::Trust, FARGATE_ROLE).detail,
        format!("covers {SOURCE}")
    );
}

#[test]
fn fargate_role_covering_every_cluster_by_wildcard_needs_no_writes() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!([
            "arn:aws:eks:*:111122223333:fargateprofile/*/*"
        ]))]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    assert!(world.setup(&fargate()).is_converged());
}

#[test]
fn fargate_other_clusters_source_string_becomes_a_list_with_ours_added() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!(OTHER_SOURCE))]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    assert_eq!(
        planned(&plan),
        ["update trust AmazonEKSFargatePodExecutionRole"]
    );
    let c = change(&plan, Resource::Trust, FARGATE_ROLE);
    assert_eq!(
        c.detail,
        format!("add {SOURCE} to aws:SourceArn (keeping {OTHER_SOURCE})")
    );
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![fargate_statement(json!([SOURCE, OTHER_SOURCE]))])
    );
}

#[test]
fn fargate_list_other_conditions_and_other_statements_are_kept() {
    let world = World::fresh();
    let a = "arn:aws:eks:eu-west-1:111122223333:fargateprofile/a/*";
    let mut st = fargate_statement(json!([a, OTHER_SOURCE]));
    st["Sid"] = json!("FargatePods");
    st["Condition"]["StringEquals"] = json!({"aws:SourceAccount": "111122223333"});
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![ec2_statement(), st.clone()]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    let mut want = st;
    want["Condition"]["ArnLike"]["aws:SourceArn"] = json!([SOURCE, a, OTHER_SOURCE]);
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![ec2_statement(), want])
    );
}

/// A Fargate statement whose SourceArn is under other condition operators.
fn fargate_statement_with(condition: Value) -> Value {
    json!({
        "Effect": "Allow",
        "Principal": {"Service": FARGATE_SERVICE},
        "Action": "sts:AssumeRole",
        "Condition": condition
    })
}

#[test]
fn fargate_source_under_string_like_gets_ours_in_the_same_operator() {
    // IAM ANDs condition operators: ours must join the existing SourceArn
    // list, not sit beside it in a new ArnLike (that would trust no cluster).
    let world = World::fresh();
    let st = fargate_statement_with(json!({"StringLike": {"aws:SourceArn": OTHER_SOURCE}}));
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![st]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![fargate_statement_with(
            json!({"StringLike": {"aws:SourceArn": [SOURCE, OTHER_SOURCE]}})
        )])
    );
    world.apply(&plan);
    assert!(world.setup(&fargate()).is_converged());
}

#[test]
fn fargate_source_under_string_equals_gets_a_statement_of_its_own() {
    // StringEquals does not expand wildcards: our pattern cannot join it.
    let world = World::fresh();
    let st = fargate_statement_with(json!({"StringEquals": {"aws:SourceArn": OTHER_SOURCE}}));
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![st.clone()]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![st, fargate_statement(json!(SOURCE))])
    );
}

#[test]
fn fargate_sources_under_two_operators_cover_only_what_both_match() {
    // {ArnLike: ours, StringLike: other's} lets no cluster's pods in.
    let world = World::fresh();
    let st = fargate_statement_with(json!({
        "ArnLike": {"aws:SourceArn": SOURCE},
        "StringLike": {"aws:SourceArn": OTHER_SOURCE}
    }));
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![st.clone()]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    assert!(!plan.is_converged());
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![st, fargate_statement(json!(SOURCE))])
    );
}

#[test]
fn fargate_all_regions_and_all_clusters_use_a_wildcard_and_warn() {
    for (regions, clusters, source, says) in [
        (
            true,
            false,
            "arn:aws:eks:*:111122223333:fargateprofile/demo/*",
            "this cluster's name in every region",
        ),
        (
            false,
            true,
            "arn:aws:eks:us-east-1:111122223333:fargateprofile/*/*",
            "every cluster in this region",
        ),
        (
            true,
            true,
            "arn:aws:eks:*:111122223333:fargateprofile/*/*",
            "every cluster in every region",
        ),
    ] {
        let d = Desired::new(
            &[Kind::Fargate],
            &NameOverrides::default(),
            (regions, clusters),
            (CLUSTER, REGION, NS),
            None,
            options(),
        );
        let plan = World::fresh().setup(&d);
        let (role, _) = created_role(&plan, FARGATE_ROLE);
        assert_eq!(
            parse(&role.trust_policy),
            trust(vec![fargate_statement(json!(source))])
        );
        assert_eq!(
            plan.kinds[&Kind::Fargate].source_arn.as_deref(),
            Some(source)
        );
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        assert!(
            plan.warnings[0].contains(says) && plan.warnings[0].contains(source),
            "{}",
            plan.warnings[0]
        );
    }
}

#[test]
fn fargate_role_without_a_fargate_statement_is_refused() {
    let world = World::fresh();
    world
        .aws
        .put_role(FARGATE_ROLE, &trust(vec![ec2_statement()]), ours(), &[]);
    let plan = world.setup(&fargate());
    assert_refused(&plan, Resource::Trust, FARGATE_ROLE, "--overwrite");
    assert!(
        plan.changes
            .iter()
            .all(|c| !matches!(c.op, Some(Op::UpdateTrust { .. })))
    );
}

#[test]
fn fargate_overwrite_adds_a_statement_keeping_the_others() {
    let world = World::fresh();
    world
        .aws
        .put_role(FARGATE_ROLE, &trust(vec![ec2_statement()]), ours(), &[]);
    let plan = world.setup(&fargate_with(Options {
        overwrite: true,
        ..options()
    }));
    assert!(plan.refusals.is_empty());
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![ec2_statement(), fargate_statement(json!(SOURCE))])
    );
    assert!(
        change(&plan, Resource::Trust, FARGATE_ROLE)
            .detail
            .contains("--overwrite")
    );
}

#[test]
fn fargate_statement_without_source_arn_only_warns() {
    let world = World::fresh();
    let open = json!({"Effect": "Allow", "Principal": {"Service": FARGATE_SERVICE},
        "Action": "sts:AssumeRole"});
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![open]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate());
    assert_eq!(plan.writes(), 0);
    assert!(plan.is_converged());
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].contains("confused-deputy") && plan.warnings[0].contains("--harden"));
}

#[test]
fn fargate_harden_adds_the_source_arn_condition() {
    let world = World::fresh();
    let open = json!({"Effect": "Allow", "Principal": {"Service": FARGATE_SERVICE},
        "Action": "sts:AssumeRole"});
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![open]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.setup(&fargate_with(Options {
        harden: true,
        ..options()
    }));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![fargate_statement(json!(SOURCE))])
    );
    assert!(
        change(&plan, Resource::Trust, FARGATE_ROLE)
            .detail
            .contains("--harden")
    );
}

#[test]
fn fargate_missing_managed_policy_is_only_attached() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!(SOURCE))]),
        Tags::new(),
        &[],
    );
    let plan = world.setup(&fargate());
    assert_eq!(
        planned(&plan),
        ["create attachment AmazonEKSFargatePodExecutionRole"]
    );
    assert!(
        change(&plan, Resource::Attachment, FARGATE_ROLE)
            .after
            .is_empty()
    );
}

#[test]
fn fargate_role_that_is_a_node_group_role_is_refused() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!(SOURCE)), ec2_statement()]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    world.aws.put_nodegroup(CLUSTER, "ng-1", FARGATE_ROLE_ARN);
    let plan = world.setup(&fargate());
    assert_refused(&plan, Resource::Role, FARGATE_ROLE, "node group ng-1");
    assert_eq!(plan.writes(), 0);
}

#[test]
fn fargate_role_name_of_a_node_group_role_at_another_path_is_refused_before_creation() {
    let world = World::fresh();
    world.aws.put_nodegroup(
        CLUSTER,
        "ng-1",
        "arn:aws:iam::111122223333:role/nodes/AmazonEKSFargatePodExecutionRole",
    );
    let plan = world.setup(&fargate());
    assert_refused(&plan, Resource::Role, FARGATE_ROLE, "node group ng-1");
    assert_eq!(plan.writes(), 0);
}

#[test]
fn fargate_and_irsa_kinds_plan_together() {
    let plan = World::fresh().setup(&desired(&[Kind::Ingest, Kind::Fargate]));
    assert_eq!(
        plan.kinds.keys().copied().collect::<Vec<_>>(),
        [Kind::Ingest, Kind::Fargate]
    );
    assert_eq!(
        change(&plan, Resource::Role, FARGATE_ROLE).after,
        Vec::<usize>::new()
    );
}

// ---------------------------------------------------------------------------
// Teardown

fn with_oidc_provider(force: bool) -> Options {
    Options {
        include_oidc_provider: true,
        force,
        ..options()
    }
}

#[test]
fn teardown_after_setup_removes_what_setup_made() {
    let world = World::fresh();
    let d = desired(&[]);
    world.set_up(&d);
    let plan = world.teardown(&d);
    assert_eq!(plan.command, "teardown");
    assert_eq!(
        planned(&plan),
        [
            format!("delete serviceaccount {INGEST_WHO}"),
            "delete role amp-iamproxy-ingest-role".into(),
            "delete policy AMPIngestPolicy".into(),
            "delete serviceaccount prometheus/amp-iamproxy-query-service-account".into(),
            "delete role amp-iamproxy-query-role".into(),
            "delete policy AMPQueryPolicy".into(),
        ]
    );
    let sa = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!(sa.detail, "created by kubectl-amp-iam");
    assert_eq!(
        sa.op,
        Some(Op::DeleteServiceAccount {
            namespace: NS.into(),
            name: INGEST_SA.into()
        })
    );
    let role = change(&plan, Resource::Role, INGEST_ROLE);
    assert_eq!(
        role.op,
        Some(Op::DeleteRole {
            role: INGEST_ROLE.into(),
            detach: vec![INGEST_POLICY_ARN.into()]
        })
    );
    assert!(
        role.detail.contains("detach AMPIngestPolicy first"),
        "{}",
        role.detail
    );
    assert_eq!(
        role.after,
        [index(&plan, Resource::ServiceAccount, INGEST_WHO)]
    );
    let policy = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!(
        policy.op,
        Some(Op::DeletePolicy {
            arn: INGEST_POLICY_ARN.into(),
            versions: vec![]
        })
    );
    assert_eq!(policy.after, [index(&plan, Resource::Role, INGEST_ROLE)]);
    let provider = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(provider.status, Status::Unchanged);
    assert!(provider.detail.contains("--include-oidc-provider"));

    world.apply(&plan);
    assert!(world.aws.stored_role(INGEST_ROLE).is_none());
    assert!(world.aws.stored_role(QUERY_ROLE).is_none());
    assert!(world.aws.stored_policy(INGEST_POLICY).is_none());
    assert!(world.aws.stored_provider(HOST).is_some());
    assert!(world.service_account(INGEST_SA).is_none());
    assert!(
        world.k8s.has_namespace(NS),
        "the namespace is never deleted"
    );
    // And a second teardown has nothing left to do.
    let again = world.teardown(&d);
    assert_eq!(again.writes(), 0, "{:?}", planned(&again));
}

#[test]
fn teardown_only_removes_the_annotation_of_a_service_account_that_pre_existed() {
    let world = World::fresh();
    world
        .k8s
        .put_service_account(NS, INGEST_SA, &[("team", "obs")], &[("app", "prometheus")]);
    let d = desired(&[Kind::Ingest]);
    world.set_up(&d);
    let plan = world.teardown(&d);
    let c = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!(c.action, Action::Update);
    // A guarded removal, not an empty apply (which only releases our share).
    assert_eq!(
        c.op,
        Some(Op::RemoveAnnotation {
            namespace: NS.into(),
            name: INGEST_SA.into(),
            key: ROLE_ARN_ANNOTATION.into(),
            expected: INGEST_ROLE_ARN.into(),
        })
    );
    assert_eq!(
        change(&plan, Resource::Role, INGEST_ROLE).after,
        [index(&plan, Resource::ServiceAccount, INGEST_WHO)]
    );
    world.apply(&plan);
    let sa = world.service_account(INGEST_SA).expect("kept");
    assert_eq!(
        sa.annotations,
        BTreeMap::from([("team".into(), "obs".into())])
    );
    assert_eq!(
        sa.labels,
        BTreeMap::from([("app".into(), "prometheus".into())])
    );
}

#[test]
fn teardown_leaves_a_service_account_pointing_elsewhere_alone() {
    let world = World::fresh();
    world.k8s.put_service_account(
        NS,
        INGEST_SA,
        &[(ROLE_ARN_ANNOTATION, "arn:aws:iam::111122223333:role/other")],
        &[],
    );
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    let c = change(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert_eq!((c.action, c.status), (Action::None, Status::Unchanged));
}

#[test]
fn teardown_deletes_the_non_default_versions_with_the_policy() {
    let world = World::fresh();
    let d = desired(&[Kind::Ingest]);
    world.set_up(&d);
    world.aws.put_policy_version(
        INGEST_POLICY,
        &policy::permission_policy(&INGEST_ACTIONS, "*"),
        true,
    );
    world.aws.put_policy_version(
        INGEST_POLICY,
        &policy::permission_policy(&INGEST_ACTIONS, "*"),
        false,
    );
    let plan = world.teardown(&d);
    let c = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!(
        c.detail,
        "made by kubectl-amp-iam, attached to no other role; its 2 older version(s) first"
    );
    assert_eq!(
        c.op,
        Some(Op::DeletePolicy {
            arn: INGEST_POLICY_ARN.into(),
            versions: vec!["v1".into(), "v3".into()]
        })
    );
    world.apply(&plan);
    assert!(world.aws.stored_policy(INGEST_POLICY).is_none());
}

#[test]
fn teardown_of_a_role_trusting_another_subject_removes_only_ours() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], ours());
    let theirs = irsa_statement(PROVIDER, HOST, "monitoring", "grafana");
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS);
    world.aws.put_role(
        INGEST_ROLE,
        &trust(vec![subject(INGEST_SA).statement(), theirs.clone()]),
        ours(),
        &[INGEST_POLICY_ARN],
    );
    let plan = world.teardown(&desired_with(&[Kind::Ingest], with_oidc_provider(false)));
    assert_eq!(planned(&plan), ["update trust amp-iamproxy-ingest-role"]);
    let c = change(&plan, Resource::Trust, INGEST_ROLE);
    assert_eq!(
        c.detail,
        format!("remove trust for {INGEST_WHO}; 1 other statement(s) stay")
    );
    assert_eq!(updated_trust(&plan, INGEST_ROLE), trust(vec![theirs]));
    let policy = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!(policy.status, Status::Unchanged);
    assert_eq!(policy.detail, "still attached to 1 role(s): kept");
    let provider = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(provider.status, Status::Unchanged);
    assert!(provider.detail.contains(INGEST_ROLE), "{}", provider.detail);
}

#[test]
fn teardown_removes_our_subject_from_a_shared_subject_list() {
    let world = World::fresh();
    let key = format!("{HOST}:sub");
    let shared = json!({"Effect": "Allow", "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {key.clone(): [
            format!("system:serviceaccount:{NS}:{INGEST_SA}"), "system:serviceaccount:x:y"]}}});
    world
        .aws
        .put_role(INGEST_ROLE, &trust(vec![shared.clone()]), ours(), &[]);
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    let mut want = shared;
    want["Condition"]["StringEquals"][&key] = json!("system:serviceaccount:x:y");
    assert_eq!(updated_trust(&plan, INGEST_ROLE), trust(vec![want]));
}

#[test]
fn teardown_removes_a_guide_style_trust_without_audience() {
    let world = World::fresh();
    world
        .aws
        .put_role(INGEST_ROLE, &guide_trust(INGEST_SA), ours(), &[]);
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    assert_eq!(
        op(&plan, Resource::Role, INGEST_ROLE),
        &Op::DeleteRole {
            role: INGEST_ROLE.into(),
            detach: vec![]
        }
    );
}

#[test]
fn teardown_leaves_a_role_that_does_not_trust_us() {
    let world = World::fresh();
    world.aws.put_role(
        INGEST_ROLE,
        &trust(vec![irsa_statement(PROVIDER, HOST, "x", "y")]),
        ours(),
        &[],
    );
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    assert_eq!(plan.writes(), 0);
    assert_eq!(
        change(&plan, Resource::Trust, INGEST_ROLE).detail,
        format!("does not trust {INGEST_WHO}")
    );
}

#[test]
fn teardown_skips_untagged_role_and_policy_with_warnings() {
    let world = World::fresh();
    world.aws.put_policy(
        INGEST_POLICY,
        &policy::permission_policy(&INGEST_ACTIONS, "*"),
        Tags::new(),
    );
    world.aws.put_role(
        INGEST_ROLE,
        &guide_trust(INGEST_SA),
        Tags::new(),
        &[INGEST_POLICY_ARN],
    );
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    assert_eq!(plan.writes(), 0, "{:?}", planned(&plan));
    for (resource, name) in [
        (Resource::Role, INGEST_ROLE),
        (Resource::Policy, INGEST_POLICY),
    ] {
        let c = change(&plan, resource, name);
        assert_eq!(c.status, Status::Unchanged);
        assert!(c.detail.contains("--force"), "{}", c.detail);
    }
    assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
    assert!(plan.warnings[0].starts_with("role amp-iamproxy-ingest-role was not made by"));
    assert!(plan.warnings[1].starts_with("policy AMPIngestPolicy was not made by"));
    assert!(plan.refusals.is_empty(), "skips are not refusals");
}

#[test]
fn teardown_force_removes_untagged_role_and_policy() {
    let world = World::fresh();
    world.aws.put_policy(
        INGEST_POLICY,
        &policy::permission_policy(&INGEST_ACTIONS, "*"),
        Tags::new(),
    );
    world.aws.put_role(
        INGEST_ROLE,
        &guide_trust(INGEST_SA),
        Tags::new(),
        &[INGEST_POLICY_ARN],
    );
    let plan = world.teardown(&desired_with(
        &[Kind::Ingest],
        Options {
            force: true,
            ..options()
        },
    ));
    assert_eq!(
        planned(&plan),
        [
            "delete role amp-iamproxy-ingest-role",
            "delete policy AMPIngestPolicy"
        ]
    );
    assert!(plan.warnings.is_empty());
    world.apply(&plan);
    assert!(world.aws.stored_role(INGEST_ROLE).is_none());
    assert!(world.aws.stored_policy(INGEST_POLICY).is_none());
}

#[test]
fn teardown_keeps_our_policy_attached_to_a_skipped_role() {
    let world = World::fresh();
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS);
    world.aws.put_role(
        INGEST_ROLE,
        &guide_trust(INGEST_SA),
        Tags::new(),
        &[INGEST_POLICY_ARN],
    );
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    assert_eq!(plan.writes(), 0);
    assert_eq!(
        change(&plan, Resource::Policy, INGEST_POLICY).detail,
        "still attached to 1 role(s): kept"
    );
}

#[test]
fn teardown_keeps_our_policy_attached_to_another_role_too() {
    let world = World::fresh();
    let d = desired(&[Kind::Ingest]);
    world.set_up(&d);
    world.aws.put_role(
        "someone-else",
        &trust(vec![ec2_statement()]),
        Tags::new(),
        &[INGEST_POLICY_ARN],
    );
    let plan = world.teardown(&d);
    assert_eq!(
        planned(&plan),
        [
            format!("delete serviceaccount {INGEST_WHO}"),
            "delete role amp-iamproxy-ingest-role".into()
        ]
    );
    assert_eq!(
        change(&plan, Resource::Policy, INGEST_POLICY).detail,
        "still attached to 1 role(s): kept"
    );
    world.apply(&plan);
}

#[test]
fn teardown_deletes_a_leftover_policy_of_ours_without_its_role() {
    let world = World::fresh();
    world.put_guide_policy(INGEST_POLICY, &INGEST_ACTIONS);
    let plan = world.teardown(&desired(&[Kind::Ingest]));
    assert_eq!(planned(&plan), ["delete policy AMPIngestPolicy"]);
    assert!(
        change(&plan, Resource::Policy, INGEST_POLICY)
            .after
            .is_empty()
    );
    assert_eq!(
        change(&plan, Resource::Role, INGEST_ROLE).detail,
        "does not exist"
    );
}

#[test]
fn teardown_fargate_removes_our_source_from_a_list_and_keeps_the_role() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!([SOURCE, OTHER_SOURCE]))]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.teardown(&fargate());
    assert_eq!(
        planned(&plan),
        ["update trust AmazonEKSFargatePodExecutionRole"]
    );
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![fargate_statement(json!(OTHER_SOURCE))])
    );
    assert_eq!(
        change(&plan, Resource::Trust, FARGATE_ROLE).kind,
        Some(Kind::Fargate)
    );
}

#[test]
fn teardown_fargate_last_source_deletes_the_role_and_detaches_the_managed_policy() {
    let world = World::fresh();
    let d = fargate();
    world.set_up(&d);
    let plan = world.teardown(&d);
    assert_eq!(
        op(&plan, Resource::Role, FARGATE_ROLE),
        &Op::DeleteRole {
            role: FARGATE_ROLE.into(),
            detach: vec![FARGATE_POLICY_ARN.into()]
        }
    );
    assert_eq!(plan.writes(), 1);
    world.apply(&plan);
    assert!(world.aws.stored_role(FARGATE_ROLE).is_none());
}

#[test]
fn teardown_fargate_keeps_the_role_for_its_other_statements() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![ec2_statement(), fargate_statement(json!(SOURCE))]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.teardown(&fargate());
    assert_eq!(
        updated_trust(&plan, FARGATE_ROLE),
        trust(vec![ec2_statement()])
    );
}

#[test]
fn teardown_fargate_of_a_role_not_listing_us_writes_nothing() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!(OTHER_SOURCE))]),
        ours(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.teardown(&fargate());
    assert!(plan.is_converged());
    assert_eq!(
        change(&plan, Resource::Trust, FARGATE_ROLE).detail,
        format!("does not list {SOURCE}")
    );
}

#[test]
fn teardown_fargate_skips_an_untagged_role() {
    let world = World::fresh();
    world.aws.put_role(
        FARGATE_ROLE,
        &trust(vec![fargate_statement(json!(SOURCE))]),
        Tags::new(),
        &[FARGATE_POLICY_ARN],
    );
    let plan = world.teardown(&fargate());
    assert_eq!(plan.writes(), 0);
    assert_eq!(plan.warnings.len(), 1);
    let forced = world.teardown(&fargate_with(Options {
        force: true,
        ..options()
    }));
    assert_eq!(
        planned(&forced),
        ["delete role AmazonEKSFargatePodExecutionRole"]
    );
}

#[test]
fn teardown_deletes_the_provider_when_asked_and_no_role_trusts_it_any_more() {
    let world = World::fresh();
    let d = desired_with(&[], with_oidc_provider(false));
    world.set_up(&d);
    let plan = world.teardown(&d);
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.action, Action::Delete);
    assert_eq!(
        c.op,
        Some(Op::DeleteOidcProvider {
            arn: PROVIDER.into()
        })
    );
    let mut after = c.after.clone();
    after.sort();
    assert_eq!(
        after,
        [
            index(&plan, Resource::Role, INGEST_ROLE),
            index(&plan, Resource::Role, QUERY_ROLE)
        ]
    );
    world.apply(&plan);
    assert!(world.aws.stored_provider(HOST).is_none());
    // Everything the setup made is gone: a fresh setup plans it all again.
    assert_eq!(world.setup(&d).writes(), 9);
}

#[test]
fn teardown_keeps_the_provider_while_another_role_trusts_it() {
    let world = World::fresh();
    let d = desired_with(&[Kind::Ingest], with_oidc_provider(false));
    world.set_up(&d);
    world.aws.put_role(
        "team-app",
        &trust(vec![irsa_statement(PROVIDER, HOST, "apps", "web")]),
        Tags::new(),
        &[],
    );
    let plan = world.teardown(&d);
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.status, Status::Unchanged);
    assert_eq!(c.detail, "kept: still trusted by team-app");
}

#[test]
fn teardown_deletes_the_provider_when_the_kept_roles_trust_only_other_providers() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], ours());
    let theirs = irsa_statement(
        OTHER_PROVIDER,
        "oidc.eks.us-west-2.amazonaws.com/id/OTHER",
        NS,
        INGEST_SA,
    );
    world.aws.put_role(
        INGEST_ROLE,
        &trust(vec![subject(INGEST_SA).statement(), theirs]),
        ours(),
        &[],
    );
    let plan = world.teardown(&desired_with(&[Kind::Ingest], with_oidc_provider(false)));
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.action, Action::Delete);
    // It waits for the trust update that stops naming it.
    assert_eq!(c.after, [index(&plan, Resource::Trust, INGEST_ROLE)]);
}

#[test]
fn teardown_keeps_an_untagged_provider_unless_forced() {
    let world = World::fresh();
    world.put_provider(
        &[STS_AUDIENCE],
        Tags::from([(
            "alpha.eksctl.io/cluster-name".to_string(),
            CLUSTER.to_string(),
        )]),
    );
    let plan = world.teardown(&desired_with(&[Kind::Ingest], with_oidc_provider(false)));
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.status, Status::Unchanged);
    assert!(plan.warnings.iter().any(|w| w.starts_with("oidc-provider")));
    let forced = world.teardown(&desired_with(&[Kind::Ingest], with_oidc_provider(true)));
    assert_eq!(
        op(&forced, Resource::OidcProvider, HOST),
        &Op::DeleteOidcProvider {
            arn: PROVIDER.into()
        }
    );
}

#[test]
fn teardown_keeps_the_provider_if_a_trust_policy_cannot_be_read() {
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], ours());
    let mut observed = world.observe(&desired(&[Kind::Ingest]));
    observed.role_trusts = Some(vec![crate::aws::RoleTrust {
        name: "odd".into(),
        trust_policy: "not json".into(),
    }]);
    let plan = teardown(
        &desired_with(&[Kind::Ingest], with_oidc_provider(false)),
        &observed,
    );
    assert_eq!(
        change(&plan, Resource::OidcProvider, HOST).detail,
        "kept: still trusted by odd"
    );
}

#[test]
fn teardown_keeps_the_provider_when_the_accounts_roles_were_not_read() {
    // Without every role's trust the planner cannot know that none uses it.
    let world = World::fresh();
    world.put_provider(&[STS_AUDIENCE], ours());
    world.aws.put_role(
        "team-app",
        &trust(vec![irsa_statement(PROVIDER, HOST, "apps", "web")]),
        Tags::new(),
        &[],
    );
    let d = desired_with(&[Kind::Ingest], with_oidc_provider(false));
    let mut observed = world.observe(&d);
    observed.role_trusts = None;
    let plan = teardown(&d, &observed);
    let c = change(&plan, Resource::OidcProvider, HOST);
    assert_eq!(c.status, Status::Unchanged, "{c:?}");
    assert_eq!(plan.writes(), 0);
}

#[test]
fn teardown_of_nothing_writes_nothing() {
    let world = World::fresh();
    let d = desired_with(
        &[Kind::Ingest, Kind::Query, Kind::Fargate],
        with_oidc_provider(true),
    );
    let plan = world.teardown(&d);
    assert_eq!(plan.writes(), 0, "{:?}", planned(&plan));
    assert!(plan.is_converged());
    assert!(plan.warnings.is_empty());
    assert_eq!(
        change(&plan, Resource::OidcProvider, HOST).detail,
        "does not exist"
    );
    assert_eq!(world.aws.writes(), Vec::<String>::new());
    assert_eq!(world.k8s.writes(), Vec::<String>::new());
}
