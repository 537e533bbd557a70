//! Planner tests of the trust rules (issue 10): the identity check, the
//! permissions boundary, wider foreign roles, shared foreign policies and the
//! API server check. The world and helpers are those of `tests`.

use super::tests::*;
use super::*;
use crate::error::Error;
use crate::observe::{Extras, observe};
use crate::policy;
use crate::recipe::{ExpectedAccount, Identity};
use futures::executor::block_on;
use serde_json::json;

fn expecting(account: &str) -> Desired {
    let mut d = desired(&[Kind::Ingest]);
    d.identity = Identity {
        account: Some(ExpectedAccount {
            id: account.into(),
            from: format!("context arn:aws:eks:us-east-1:{account}:cluster/demo"),
            credentials: "AWS_PROFILE=stale".into(),
        }),
        api_server: None,
        context_chosen: false,
    };
    d
}

#[test]
fn the_callers_account_must_be_the_contexts() {
    let world = World::fresh();
    let err = block_on(observe(
        &world.aws,
        Some(&world.k8s),
        &expecting("444455556666"),
        Extras::default(),
    ))
    .expect_err("another account");
    assert!(matches!(err, Error::WrongAccount { .. }), "{err}");
    assert_eq!(err.exit_code(), crate::error::exit::REFUSED);
    let text = err.to_string();
    for needle in [
        "444455556666",
        "111122223333",
        "AWS_PROFILE=stale",
        "Nothing was written",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    // The right account passes.
    assert!(world.observe(&expecting("111122223333")).caller.account == "111122223333");
}

#[test]
fn the_account_check_comes_before_a_missing_cluster() {
    let world = World::fresh();
    let mut d = expecting("444455556666");
    d.cluster = "not-in-this-account".into();
    let err = block_on(observe(&world.aws, Some(&world.k8s), &d, Extras::default()))
        .expect_err("refused");
    assert!(matches!(err, Error::WrongAccount { .. }), "{err}");
}

#[test]
fn a_permissions_boundary_must_exist_in_the_callers_partition() {
    let world = World::fresh();
    for (arn, says) in [
        ("arn:aws:iam::111122223333:policy/missing", "no such policy"),
        ("arn:aws-cn:iam::111122223333:policy/b", "partition aws"),
    ] {
        let mut opts = options();
        opts.permissions_boundary = Some(arn.into());
        let d = desired_with(&[Kind::Ingest], opts);
        let err =
            block_on(observe(&world.aws, Some(&world.k8s), &d, Extras::default())).expect_err(arn);
        assert_eq!(err.exit_code(), crate::error::exit::USAGE, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    // AWS managed policies exist everywhere.
    let mut opts = options();
    opts.permissions_boundary = Some("arn:aws:iam::aws:policy/PowerUserAccess".into());
    world.observe(&desired_with(&[Kind::Ingest], opts));
}

#[test]
fn a_foreign_role_with_a_wildcard_subject_is_a_finding_and_not_converged() {
    let world = World::fresh();
    world.put_provider(&[policy::STS_AUDIENCE], Tags::new());
    let mut ours = irsa_statement(PROVIDER, HOST, NS, INGEST_SA);
    ours["Sid"] = json!("Ours");
    let wild = json!({
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {format!("{HOST}:sub"): "system:serviceaccount:*:*"}}
    });
    world
        .aws
        .put_role(INGEST_ROLE, &trust(vec![ours, wild]), Tags::new(), &[]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    let f = plan
        .findings
        .iter()
        .find(|f| f.resource == Resource::Role)
        .expect("a role finding");
    assert_eq!(f.statement.as_deref(), Some("statement #2"));
    assert!(f.risk.contains("AMPIngestPolicy"), "{f:?}");
    assert!(!plan.is_converged());
    // A tagged role is ours whatever it trusts.
    let world = World::fresh();
    world.put_provider(&[policy::STS_AUDIENCE], Tags::new());
    world.aws.put_role(
        INGEST_ROLE,
        &trust(vec![irsa_statement(PROVIDER, HOST, "*", "*")]),
        super::tests::ours(),
        &[],
    );
    assert!(world.setup(&desired(&[Kind::Ingest])).findings.is_empty());
}

#[test]
fn a_shared_foreign_policy_is_refused_unless_overwrite() {
    let world = World::fresh();
    world.put_provider(&[policy::STS_AUDIENCE], Tags::new());
    let arn = world.aws.put_policy(
        INGEST_POLICY,
        &policy::permission_policy(&["aps:*", "iam:*"], "*"),
        Tags::new(),
    );
    world
        .aws
        .put_role("billing", &trust(vec![]), Tags::new(), &[&arn]);
    let plan = world.setup(&desired(&[Kind::Ingest]));
    assert_refused(&plan, Resource::Policy, INGEST_POLICY, "role billing");
    assert!(
        plan.findings
            .iter()
            .any(|f| f.resource == Resource::Policy && f.risk.contains("iam:*")),
        "{:?}",
        plan.findings
    );

    let mut opts = options();
    opts.overwrite = true;
    let plan = world.setup(&desired_with(&[Kind::Ingest], opts));
    let c = change(&plan, Resource::Policy, INGEST_POLICY);
    assert_eq!(c.status, Status::Planned, "{c:?}");
    let Some(Op::UpdatePolicy { delete_after, .. }) = &c.op else {
        panic!("{c:?}")
    };
    assert_eq!(
        delete_after,
        &["v1".to_string()],
        "the aps:*/iam:* version goes"
    );
}

#[test]
fn an_api_server_other_than_the_clusters_endpoint_is_warned_about() {
    let world = World::fresh();
    let mut d = desired(&[Kind::Ingest]);
    d.identity.api_server = Some("https://127.0.0.1:6443".into());
    let plan = world.setup(&d);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("https://127.0.0.1:6443") && w.contains(".eks.amazonaws.com")),
        "{:?}",
        plan.warnings
    );
    assert!(
        plan.warnings[0].contains("proxy or tunnel"),
        "{:?}",
        plan.warnings
    );
    d.identity.api_server = Some("https://ABC.gr7.us-east-1.eks.amazonaws.com".into());
    let plan = world.setup(&d);
    assert!(
        plan.warnings[0].contains("another cluster of the same name"),
        "{:?}",
        plan.warnings
    );
    d.identity.api_server = world
        .observe(&d)
        .cluster
        .endpoint
        .map(|e| format!("{}/", e.to_uppercase()));
    assert!(
        world.setup(&d).warnings.is_empty(),
        "same server, other spelling"
    );
}

#[test]
fn a_context_the_tool_chose_that_reaches_another_eks_cluster_is_refused() {
    let world = World::fresh();
    let mut d = desired(&[Kind::Ingest]);
    d.identity.context_chosen = true;
    // Another EKS cluster's API server: another cluster of the same name.
    d.identity.api_server = Some("https://ABC.gr7.us-east-1.eks.amazonaws.com".into());
    let plan = world.setup(&d);
    assert!(
        plan.refusals
            .iter()
            .any(|r| r.contains("another cluster of the same name") && r.contains("`context:`")),
        "{:?}",
        plan.refusals
    );
    // A proxy or tunnel (not an EKS host) stays a warning, as for a context given.
    d.identity.api_server = Some("https://127.0.0.1:6443".into());
    let plan = world.setup(&d);
    assert!(plan.refusals.is_empty(), "{:?}", plan.refusals);
    assert!(plan.warnings[0].contains("proxy or tunnel"));
    // The cluster's own endpoint: nothing to say.
    d.identity.api_server = world.observe(&d).cluster.endpoint;
    let plan = world.setup(&d);
    assert!(plan.refusals.is_empty() && plan.warnings.is_empty());
}

#[test]
fn with_the_account_known_the_policies_are_read_by_arn_not_listed() {
    let world = World::fresh();
    world.observe(&expecting("111122223333"));
    let calls = world.aws.calls();
    assert!(
        calls
            .iter()
            .filter(|c| c.starts_with("iam:GetPolicy "))
            .count()
            == 1,
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("iam:ListPolicies")),
        "{calls:?}"
    );
    // Without it (an eksctl context, --cluster), the list under the role path.
    world.aws.clear_calls();
    world.observe(&desired(&[Kind::Ingest]));
    assert!(
        world.aws.calls().iter().any(|c| c == "iam:ListPolicies /"),
        "{:?}",
        world.aws.calls()
    );
}
