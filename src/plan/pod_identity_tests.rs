//! Planner tests of EKS Pod Identity (issue 12): a fresh setup's shape and
//! depth, takeover refusal, the agent, migrations in order, teardown.

use super::tests::*;
use super::*;
use crate::policy::PodIdentitySubject;
use crate::recipe::{IdentityMode, POD_IDENTITY_AGENT, ROLE_ARN_ANNOTATION};
use futures::executor::block_on;

const CLUSTER_ARN: &str = "arn:aws:eks:us-east-1:111122223333:cluster/demo";

fn pod_identity(opts: crate::recipe::Options) -> Desired {
    let mut d = desired_with(&[Kind::Ingest], opts);
    d.mode = IdentityMode::PodIdentity;
    d
}

fn migrating(to: IdentityMode, remove_old_trust: bool) -> Desired {
    let mut opts = options();
    opts.remove_old_trust = remove_old_trust;
    let mut d = desired_with(&[Kind::Ingest], opts);
    d.mode = to;
    d.migrating = true;
    d
}

fn subject() -> PodIdentitySubject {
    PodIdentitySubject {
        account: "111122223333".into(),
        cluster_arn: CLUSTER_ARN.into(),
        namespace: NS.into(),
        service_account: INGEST_SA.into(),
    }
}

/// The most writes that wait for each other: the write round trips.
fn longest_chain(plan: &Plan) -> usize {
    let mut depth = vec![0; plan.changes.len()];
    for (i, c) in plan.changes.iter().enumerate() {
        let before = c.after.iter().map(|&a| depth[a]).max().unwrap_or(0);
        depth[i] = before + usize::from(c.op.is_some());
    }
    depth.into_iter().max().unwrap_or(0)
}

fn with_agent() -> World {
    let world = World::fresh();
    world.aws.put_addon(CLUSTER, POD_IDENTITY_AGENT, "ACTIVE");
    world
}

#[test]
fn a_fresh_setup_binds_the_service_account_in_two_write_rounds_without_a_provider() {
    let world = with_agent();
    let d = pod_identity(options());
    let plan = world.setup(&d);
    assert!(
        plan.changes
            .iter()
            .all(|c| c.resource != Resource::OidcProvider)
    );
    let (role, grant) = created_role_op(&plan);
    assert_eq!(grant, TrustGrant::PodIdentity(subject()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&role).unwrap(),
        subject().trust_policy()
    );
    let association = change(&plan, Resource::Association, INGEST_WHO);
    assert_eq!(
        association.after,
        [index(&plan, Resource::Role, INGEST_ROLE)]
    );
    assert_eq!(
        longest_chain(&plan),
        2,
        "policy+role, then attach+association"
    );
    // The ServiceAccount gets no annotation.
    let Some(Op::ApplyServiceAccount { annotations, .. }) =
        &change(&plan, Resource::ServiceAccount, INGEST_WHO).op
    else {
        panic!()
    };
    assert!(annotations.is_empty());

    block_on(crate::apply::apply(
        &mut plan.clone(),
        &world.aws,
        Some(&world.k8s),
        &crate::apply::ApplyOptions::default(),
    ))
    .expect("apply");
    let stored = world.aws.stored_associations(CLUSTER);
    assert_eq!(stored.len(), 1);
    assert!(crate::ownership::is_ours(&stored[0].tags));
    assert!(world.setup(&d).is_converged());
}

fn created_role_op(plan: &Plan) -> (String, TrustGrant) {
    match &change(plan, Resource::Role, INGEST_ROLE).op {
        Some(Op::CreateRole { role, grant }) => (role.trust_policy.clone(), grant.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_association_to_another_role_is_refused_unless_overwrite() {
    let world = with_agent();
    world.aws.put_association(
        CLUSTER,
        NS,
        INGEST_SA,
        "arn:aws:iam::111122223333:role/theirs",
        Tags::new(),
    );
    let plan = world.setup(&pod_identity(options()));
    assert_refused(&plan, Resource::Association, INGEST_WHO, "role/theirs");
    let mut opts = options();
    opts.overwrite = true;
    let plan = world.setup(&pod_identity(opts));
    assert!(matches!(
        change(&plan, Resource::Association, INGEST_WHO).op,
        Some(Op::UpdateAssociation { .. })
    ));
}

#[test]
fn a_missing_agent_is_a_finding_or_installed_on_request() {
    let world = World::fresh();
    let plan = world.setup(&pod_identity(options()));
    assert!(
        plan.findings
            .iter()
            .any(|f| f.resource == Resource::Addon && f.risk.contains("--install-agent")),
        "{:?}",
        plan.findings
    );
    let mut opts = options();
    opts.install_agent = true;
    let plan = world.setup(&pod_identity(opts));
    assert!(matches!(
        change(&plan, Resource::Addon, POD_IDENTITY_AGENT).op,
        Some(Op::CreateAddon { .. })
    ));
}

#[test]
fn a_migration_adds_the_new_mode_before_taking_the_old_one_away() {
    let world = with_agent();
    world.set_up(&desired(&[Kind::Ingest]));
    let plan = world.setup(&migrating(IdentityMode::PodIdentity, true));
    let trust_add = plan
        .changes
        .iter()
        .position(|c| c.resource == Resource::Trust && c.detail.starts_with("add a Pod Identity"))
        .expect("the Pod Identity statement");
    let association = index(&plan, Resource::Association, INGEST_WHO);
    let unannotate = index(&plan, Resource::ServiceAccount, INGEST_WHO);
    let trust_remove = plan
        .changes
        .iter()
        .position(|c| c.resource == Resource::Trust && c.detail.starts_with("remove the IRSA"))
        .expect("the IRSA statement goes");
    assert_eq!(plan.changes[association].after, [trust_add]);
    assert_eq!(plan.changes[unannotate].after, [association]);
    assert!(plan.changes[trust_remove].after.contains(&unannotate));
    assert!(matches!(
        plan.changes[unannotate].op,
        Some(Op::RemoveAnnotation { .. })
    ));
    assert!(
        plan.changes
            .iter()
            .all(|c| c.resource != Resource::OidcProvider)
    );

    world.apply(&plan);
    let sa = world.k8s.stored_service_account(NS, INGEST_SA).unwrap();
    assert!(!sa.annotations.contains_key(ROLE_ARN_ANNOTATION));
    assert!(
        world
            .setup(&migrating(IdentityMode::PodIdentity, true))
            .writes()
            == 0
    );

    // And back: the annotation first, then the association goes.
    let back = world.setup(&migrating(IdentityMode::Irsa, true));
    let annotate = index(&back, Resource::ServiceAccount, INGEST_WHO);
    let gone = index(&back, Resource::Association, INGEST_WHO);
    assert_eq!(back.changes[gone].after, [annotate]);
    world.apply(&back);
    assert!(world.aws.stored_associations(CLUSTER).is_empty());
    assert!(world.setup(&desired(&[Kind::Ingest])).writes() == 0);
}

#[test]
fn teardown_keeps_a_role_that_someone_elses_association_binds() {
    let world = with_agent();
    let d = pod_identity(options());
    world.apply(&world.setup(&d));
    for a in world.aws.stored_associations(CLUSTER) {
        block_on(crate::aws::Aws::delete_pod_identity_association(
            &world.aws, CLUSTER, &a.id,
        ))
        .unwrap();
    }
    world
        .aws
        .put_association(CLUSTER, NS, INGEST_SA, INGEST_ROLE_ARN, Tags::new());
    let plan = world.teardown(&d);
    assert!(
        plan.changes
            .iter()
            .all(|c| !matches!(c.op, Some(Op::DeleteRole { .. })))
    );
    assert!(
        plan.warnings.iter().any(|w| w.contains("still binds it")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn pods_are_judged_by_what_pod_identity_injects() {
    use crate::cluster::{Owner, Pod};
    let world = with_agent();
    let d = pod_identity(options());
    world.apply(&world.setup(&d));
    let pod = |name: &str, container_credentials: bool, role: Option<&str>| Pod {
        name: name.into(),
        service_account: INGEST_SA.into(),
        owner: Some(Owner {
            kind: "StatefulSet".into(),
            name: name.into(),
        }),
        role_arn_env: role.map(str::to_string),
        container_credentials,
        ..Pod::default()
    };
    world.k8s.put_object(NS, "StatefulSet", "fine", None);
    world.k8s.put_pod(NS, pod("fine", true, None));
    world
        .k8s
        .put_pod(NS, pod("irsa", true, Some(INGEST_ROLE_ARN)));
    world.k8s.put_pod(NS, pod("bare", false, None));
    let plan = world.setup(&d);
    let reasons: Vec<(String, String)> = plan
        .workloads
        .iter()
        .map(|w| (w.name.clone(), w.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 2, "the injected pod is fine: {reasons:?}");
    let reason = |n: &str| &reasons.iter().find(|(w, _)| w == n).unwrap().1;
    assert!(
        reason("irsa").contains("IRSA's AWS_ROLE_ARN"),
        "{reasons:?}"
    );
    assert!(
        reason("bare").contains("without Pod Identity credentials"),
        "{reasons:?}"
    );
}

#[test]
fn the_fake_cluster_restarts_and_walks_only_what_the_real_edge_does() {
    use crate::cluster::{Cluster, KubeErrorKind, Owner};
    let world = World::fresh();
    world.k8s.put_object(NS, "Job", "backfill", None);
    let job = Owner {
        kind: "Job".into(),
        name: "backfill".into(),
    };
    let err = block_on(world.k8s.restart(NS, &job, "2024-01-01T00:00:00Z")).unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::Invalid);
    world.k8s.clear_calls();
    assert_eq!(
        block_on(world.k8s.owner_of(NS, "CronJob", "nightly")).unwrap(),
        None
    );
    assert!(
        world.k8s.calls().is_empty(),
        "a kind the edge does not read sends nothing"
    );
}
