//! Planner tests of the outcome (issue 11): the AMP workspace found, checked,
//! created or deleted; the pods that run without the role found by owner and
//! restarted on request; the webhook's ServiceAccount annotations.

use super::tests::*;
use super::*;
use crate::apply::{ApplyOptions, apply};
use crate::cluster::{Cluster, Owner, Pod};
use crate::error::Error;
use crate::observe::{Extras, observe};
use crate::recipe::{ROLE_ARN_ANNOTATION, STS_REGIONAL_ANNOTATION, WorkspaceRef};
use futures::executor::block_on;

fn alias(a: &str, create: bool) -> Option<WorkspaceRef> {
    Some(WorkspaceRef::Alias {
        alias: a.into(),
        create,
    })
}

fn owner(kind: &str, name: &str) -> Option<Owner> {
    Some(Owner {
        kind: kind.into(),
        name: name.into(),
    })
}

/// A Deployment `prometheus-server` (via ReplicaSet `prometheus-server-abc`)
/// with `n` pods of the ingest ServiceAccount that started before anything.
fn prometheus(world: &World, n: usize) {
    world.k8s.put_object(
        NS,
        "ReplicaSet",
        "prometheus-server-abc",
        owner("Deployment", "prometheus-server"),
    );
    world
        .k8s
        .put_object(NS, "Deployment", "prometheus-server", None);
    for i in 0..n {
        world.k8s.put_pod(
            NS,
            Pod {
                name: format!("prometheus-server-abc-{i}"),
                service_account: INGEST_SA.into(),
                owner: owner("ReplicaSet", "prometheus-server-abc"),
                phase: Some("Running".into()),
                ..Pod::default()
            },
        );
    }
}

#[test]
fn a_workspace_alias_is_resolved_and_scopes_the_policies() {
    let world = World::fresh();
    let id = world.aws.put_workspace(Some("prod"), Tags::new());
    let mut d = desired(&[Kind::Ingest]);
    d.workspace = alias("prod", false);
    let plan = world.setup(&d);
    let ws = plan.workspace.clone().expect("a workspace");
    assert_eq!(ws.id.as_deref(), Some(id.as_str()));
    assert_eq!(
        ws.remote_write_url.as_deref(),
        Some(
            format!(
                "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{id}/api/v1/remote_write"
            )
            .as_str()
        )
    );
    let Op::CreatePolicy { document, .. } = op(&plan, Resource::Policy, INGEST_POLICY) else {
        panic!()
    };
    assert_eq!(
        crate::policy::statements(&serde_json::from_str(document).unwrap())[0]["Resource"],
        format!("arn:aws:aps:us-east-1:111122223333:workspace/{id}")
    );
}

#[test]
fn a_missing_or_shared_alias_is_a_usage_error_before_anything_is_planned() {
    let world = World::fresh();
    let mut d = desired(&[Kind::Ingest]);
    d.workspace = alias("prod", false);
    let err =
        block_on(observe(&world.aws, Some(&world.k8s), &d, Extras::default())).expect_err("none");
    assert!(matches!(err, Error::WorkspaceNotFound { .. }), "{err}");
    world.aws.put_workspace(Some("prod"), Tags::new());
    world.aws.put_workspace(Some("prod"), Tags::new());
    let err =
        block_on(observe(&world.aws, Some(&world.k8s), &d, Extras::default())).expect_err("two");
    assert!(
        matches!(err, Error::WorkspaceAmbiguous { count: 2, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), crate::error::exit::USAGE);
}

#[test]
fn a_workspace_that_is_not_active_is_a_finding() {
    let world = World::fresh();
    let id = world.aws.put_workspace(Some("prod"), Tags::new());
    world.aws.set_workspace_status(&id, "CREATION_FAILED");
    let mut d = desired(&[Kind::Ingest]);
    d.workspace = Some(WorkspaceRef::Id(id));
    let plan = world.setup(&d);
    assert!(
        plan.findings
            .iter()
            .any(|f| f.resource == Resource::Workspace && f.risk.contains("CREATION_FAILED")),
        "{:?}",
        plan.findings
    );
    assert!(!plan.is_converged());
}

#[test]
fn create_workspace_creates_it_first_and_the_policies_name_its_id() {
    let world = World::fresh();
    let mut d = desired(&[Kind::Ingest]);
    d.workspace = alias("prod", true);
    let mut plan = world.setup(&d);
    let ws_step = index(&plan, Resource::Workspace, "alias prod");
    let policy = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!(policy.after, [ws_step]);
    let Some(Op::CreatePolicy { document, .. }) = &policy.op else {
        panic!()
    };
    assert!(document.contains(CREATED_WORKSPACE), "{document}");

    block_on(apply(
        &mut plan,
        &world.aws,
        Some(&world.k8s),
        &ApplyOptions::default(),
    ))
    .expect("apply");
    let made = world.aws.stored_workspaces();
    assert_eq!(made.len(), 1);
    assert!(crate::ownership::is_ours(&made[0].tags));
    let stored = world.aws.stored_policy(INGEST_POLICY).expect("policy");
    assert_eq!(
        stored.document()["Statement"][0]["Resource"],
        made[0].arn,
        "the placeholder became the id"
    );
    assert_eq!(
        plan.workspace.as_ref().and_then(|w| w.id.clone()),
        Some(made[0].id.clone())
    );
    // The next run finds it by alias: nothing to do.
    let again = world.setup(&d);
    assert!(again.is_converged(), "{:?}", planned(&again));
}

#[test]
fn teardown_deletes_only_a_workspace_it_made_and_only_when_asked() {
    let world = World::fresh();
    let ours = world.aws.put_workspace(Some("ours"), super::tests::ours());
    let theirs = world.aws.put_workspace(Some("theirs"), Tags::new());
    for (a, expect) in [("ours", Some(Action::Delete)), ("theirs", None)] {
        let mut opts = options();
        opts.include_workspace = true;
        let mut d = desired_with(&[Kind::Ingest], opts);
        d.workspace = alias(a, true);
        let plan = world.teardown(&d);
        let c = plan
            .changes
            .iter()
            .find(|c| c.resource == Resource::Workspace)
            .expect("a workspace row");
        assert_eq!(c.op.is_some(), expect.is_some(), "{a}: {c:?}");
    }
    let mut d = desired(&[Kind::Ingest]);
    d.workspace = Some(WorkspaceRef::Id(ours.clone()));
    assert!(
        world
            .teardown(&d)
            .changes
            .iter()
            .all(|c| !matches!(c.op, Some(Op::DeleteWorkspace { .. }))),
        "kept without --include-workspace"
    );
    let _ = theirs;
}

#[test]
fn pods_that_started_before_the_annotation_are_named_by_their_deployment() {
    let world = World::fresh();
    prometheus(&world, 2);
    let d = desired(&[Kind::Ingest]);
    let plan = world.setup(&d);
    assert_eq!(plan.workloads.len(), 1, "{:?}", plan.workloads);
    let w = &plan.workloads[0];
    assert_eq!(
        (w.kind.as_str(), w.name.as_str(), w.pods),
        ("Deployment", "prometheus-server", 2)
    );
    assert_eq!(
        w.line(),
        "deployment/prometheus-server: 2 pod(s) started before the annotation"
    );
    assert_eq!(w.action, "none", "no --restart");
    assert!(
        plan.changes
            .iter()
            .all(|c| c.resource != Resource::Workload)
    );
}

#[test]
fn restart_patches_exactly_the_stale_owners_after_the_annotation_and_converges() {
    let world = World::fresh();
    prometheus(&world, 2);
    // A bare pod and a pod of another ServiceAccount.
    world.k8s.put_pod(
        NS,
        Pod {
            name: "debug".into(),
            service_account: INGEST_SA.into(),
            ..Pod::default()
        },
    );
    world.k8s.put_pod(
        NS,
        Pod {
            name: "other".into(),
            service_account: "default".into(),
            ..Pod::default()
        },
    );
    let mut opts = options();
    opts.restart = true;
    let d = desired_with(&[Kind::Ingest], opts);
    let mut plan = world.setup(&d);
    let restart = change(&plan, Resource::Workload, "deployment/prometheus-server");
    let sa = index(&plan, Resource::ServiceAccount, INGEST_WHO);
    assert!(
        restart.after.contains(&sa),
        "after the annotation: {restart:?}"
    );
    assert!(
        plan.changes
            .iter()
            .all(|c| c.name != "pod/debug" || c.op.is_none()),
        "a bare pod needs --force"
    );
    assert!(
        plan.warnings.iter().any(|w| w.contains("pod/debug")),
        "{:?}",
        plan.warnings
    );

    block_on(apply(
        &mut plan,
        &world.aws,
        Some(&world.k8s),
        &ApplyOptions::default(),
    ))
    .expect("apply");
    let restarts = world.k8s.restarts();
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert_eq!(
        restarts[0].1,
        owner("Deployment", "prometheus-server").unwrap()
    );
    // The fake's controller replaced the pods with injected ones.
    let again = world.setup(&d);
    assert_eq!(
        again
            .workloads
            .iter()
            .map(StaleWorkload::id)
            .collect::<Vec<_>>(),
        ["pod/debug"]
    );
}

#[test]
fn force_deletes_a_bare_pod() {
    let world = World::fresh();
    world.k8s.put_pod(
        NS,
        Pod {
            name: "debug".into(),
            service_account: INGEST_SA.into(),
            ..Pod::default()
        },
    );
    let mut opts = options();
    opts.restart = true;
    opts.restart_bare_pods = true;
    let plan = world.setup(&desired_with(&[Kind::Ingest], opts));
    assert_eq!(
        op(&plan, Resource::Workload, "pod/debug"),
        &Op::DeletePod {
            namespace: NS.into(),
            name: "debug".into()
        }
    );
}

#[test]
fn pods_started_after_the_annotation_without_the_role_point_at_the_webhook() {
    let world = World::fresh();
    let d = desired(&[Kind::Ingest]);
    world.set_up(&d);
    // Started after the annotation, yet nothing injected: no webhook.
    prometheus(&world, 1);
    let mut opts = options();
    opts.restart = true;
    let plan = world.setup(&desired_with(&[Kind::Ingest], opts));
    assert_eq!(plan.workloads.len(), 1);
    assert!(
        plan.workloads[0].reason.contains("no pod identity webhook"),
        "{:?}",
        plan.workloads
    );
    assert_eq!(plan.workloads[0].action, "none", "a restart would not help");
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("webhook may be missing")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn pods_with_the_role_are_not_stale_and_finished_pods_do_not_count() {
    let world = World::fresh();
    let d = desired(&[Kind::Ingest]);
    world.set_up(&d);
    world.k8s.put_pod(
        NS,
        Pod {
            name: "good".into(),
            service_account: INGEST_SA.into(),
            role_arn_env: Some(INGEST_ROLE_ARN.into()),
            token_volume: true,
            ..Pod::default()
        },
    );
    world.k8s.put_pod(
        NS,
        Pod {
            name: "done".into(),
            service_account: INGEST_SA.into(),
            phase: Some("Succeeded".into()),
            created: Some("2000-01-01T00:00:00Z".into()),
            ..Pod::default()
        },
    );
    assert!(world.setup(&d).is_converged());
}

#[test]
fn webhook_annotations_are_applied_and_someone_elses_value_is_refused() {
    let world = World::fresh();
    let mut opts = options();
    opts.sa_annotations
        .insert(STS_REGIONAL_ANNOTATION.into(), "true".into());
    let d = desired_with(&[Kind::Ingest], opts.clone());
    world.set_up(&d);
    let sa = block_on(world.k8s.service_account(NS, INGEST_SA))
        .unwrap()
        .unwrap();
    assert_eq!(sa.annotations[STS_REGIONAL_ANNOTATION], "true");
    assert!(world.setup(&d).is_converged());

    let world = World::fresh();
    world
        .k8s
        .put_service_account(NS, INGEST_SA, &[(STS_REGIONAL_ANNOTATION, "false")], &[]);
    let plan = world.setup(&d);
    assert_refused(
        &plan,
        Resource::ServiceAccount,
        INGEST_WHO,
        "sts-regional-endpoints=false",
    );
    // Without the flag, theirs is kept and only the role is added.
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let Some(Op::ApplyServiceAccount { annotations, .. }) =
        &change(&plan, Resource::ServiceAccount, INGEST_WHO).op
    else {
        panic!()
    };
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        [ROLE_ARN_ANNOTATION]
    );
}
