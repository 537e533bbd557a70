//! The executor over the in-memory fakes, which are as strict as IAM about
//! order (a role naming a provider that does not exist yet is rejected).

use super::*;
use crate::aws::AwsErrorKind;
use crate::cluster::KubeErrorKind;
use crate::fake::{FakeAws, FakeCluster};
use crate::observe::{Extras, observe};
use crate::plan::{self, Plan, Resource};
use crate::policy::IrsaSubject;
use crate::recipe::{Desired, Kind, NameOverrides, Options};

const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC";

fn world() -> (FakeAws, FakeCluster) {
    (
        FakeAws::new().with_cluster("demo", ISSUER),
        FakeCluster::new().with_namespace("prometheus"),
    )
}

fn desired(kinds: &[Kind]) -> Desired {
    Desired::new(
        kinds,
        &NameOverrides::default(),
        (false, false),
        ("demo", "us-east-1", "prometheus"),
        None,
        Options::default(),
    )
}

fn quick() -> ApplyOptions {
    ApplyOptions {
        consistency_window: Duration::from_secs(2),
        ..ApplyOptions::default()
    }
}

async fn plan_setup(aws: &FakeAws, k8s: &FakeCluster, kinds: &[Kind]) -> Plan {
    let d = desired(kinds);
    let observed = observe(aws, Some(k8s), &d, Extras::default())
        .await
        .expect("observe");
    plan::setup(&d, &observed)
}

/// observe → plan → apply, as `setup` does.
async fn setup(aws: &FakeAws, k8s: &FakeCluster, kinds: &[Kind]) -> (Plan, Result<()>) {
    let mut plan = plan_setup(aws, k8s, kinds).await;
    let result = apply(&mut plan, aws, Some(k8s), &quick()).await;
    (plan, result)
}

fn status_of(plan: &Plan, resource: Resource, kind: Option<Kind>) -> Status {
    plan.changes
        .iter()
        .find(|c| c.resource == resource && c.kind == kind)
        .map(|c| c.status)
        .unwrap_or_else(|| panic!("no {resource:?} change for {kind:?}"))
}

#[tokio::test]
async fn fresh_setup_applies_in_dependency_order_and_a_rerun_writes_nothing() {
    let (aws, k8s) = world();
    let (plan, result) = setup(&aws, &k8s, &[]).await;
    result.expect("applied");
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.op.is_some())
            .all(|c| c.status == Status::Applied)
    );
    let calls = aws.writes();
    let pos = |prefix: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {calls:?}"))
    };
    assert!(
        pos("iam:CreateOpenIDConnectProvider") < pos("iam:CreateRole"),
        "{calls:?}"
    );
    assert!(
        pos("iam:CreateRole") < pos("iam:AttachRolePolicy"),
        "{calls:?}"
    );
    assert!(
        pos("iam:CreatePolicy") < pos("iam:AttachRolePolicy"),
        "{calls:?}"
    );

    aws.clear_calls();
    k8s.clear_calls();
    let again = plan_setup(&aws, &k8s, &[]).await;
    assert_eq!(again.writes(), 0, "{:?}", again.changes);
    assert!(aws.writes().is_empty() && k8s.writes().is_empty());
}

/// Every write of a fresh setup, failed once: the run reports it, skips
/// exactly what depends on it, finishes the rest; the next run completes the
/// job and the one after writes nothing.
#[tokio::test]
async fn each_failed_step_stops_its_dependents_and_the_next_run_finishes() {
    let cases: [(&str, Resource, &[Resource]); 5] = [
        (
            "iam:CreateOpenIDConnectProvider",
            Resource::OidcProvider,
            &[
                Resource::Role,
                Resource::Attachment,
                Resource::ServiceAccount,
            ],
        ),
        (
            "iam:CreatePolicy",
            Resource::Policy,
            &[Resource::Attachment],
        ),
        (
            "iam:CreateRole",
            Resource::Role,
            &[Resource::Attachment, Resource::ServiceAccount],
        ),
        ("iam:AttachRolePolicy", Resource::Attachment, &[]),
        ("apply serviceaccounts", Resource::ServiceAccount, &[]),
    ];
    for (action, failed, skipped) in cases {
        let (aws, k8s) = world();
        if action.starts_with("iam:") {
            aws.fail(action, AwsErrorKind::AccessDenied, 1);
        } else {
            k8s.fail("patch serviceaccounts", KubeErrorKind::Forbidden, 1);
        }
        let (plan, result) = setup(&aws, &k8s, &[Kind::Ingest]).await;
        let Err(Error::ApplyFailed { failures, .. }) = result else {
            panic!("{action}: expected a failure, got {result:?}");
        };
        assert_eq!(failures.len(), 1, "{action}: {failures:?}");
        if action.starts_with("iam:") {
            assert!(
                failures[0].contains(action),
                "{action}: the IAM action is named: {failures:?}"
            );
            assert!(
                failures[0].contains("Grant the caller"),
                "{action}: what to do: {failures:?}"
            );
        }
        let ingest = Some(Kind::Ingest);
        let kind_of = |r: Resource| {
            if r == Resource::OidcProvider {
                None
            } else {
                ingest
            }
        };
        assert_eq!(
            status_of(&plan, failed, kind_of(failed)),
            Status::Failed,
            "{action}"
        );
        for r in skipped {
            assert_eq!(
                status_of(&plan, *r, ingest),
                Status::Skipped,
                "{action}: {r:?} depends on it"
            );
        }
        // What does not depend on the failure still happened.
        if failed != Resource::Policy {
            assert_eq!(
                status_of(&plan, Resource::Policy, ingest),
                Status::Applied,
                "{action}"
            );
        }

        let (_, second) = setup(&aws, &k8s, &[Kind::Ingest]).await;
        second.unwrap_or_else(|e| panic!("{action}: the next run finishes the job: {e}"));
        let third = plan_setup(&aws, &k8s, &[Kind::Ingest]).await;
        assert_eq!(third.writes(), 0, "{action}: converged");
    }
}

#[tokio::test]
async fn invalid_principal_right_after_creating_the_provider_is_retried() {
    let (aws, k8s) = world();
    aws.fail_with(
        "iam:CreateRole",
        AwsErrorKind::Invalid,
        "Invalid principal in policy: \"Federated\"",
        2,
    );
    let (plan, result) = setup(&aws, &k8s, &[Kind::Ingest]).await;
    result.expect("retried until IAM caught up");
    assert_eq!(
        status_of(&plan, Resource::Role, Some(Kind::Ingest)),
        Status::Applied
    );
    let attempts = aws
        .calls()
        .iter()
        .filter(|c| c.starts_with("iam:CreateRole"))
        .count();
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn eventual_consistency_that_outlasts_the_window_fails_clearly() {
    let (aws, k8s) = world();
    aws.fail_with(
        "iam:CreateRole",
        AwsErrorKind::Invalid,
        "Invalid principal in policy",
        100,
    );
    let mut plan = plan_setup(&aws, &k8s, &[Kind::Ingest]).await;
    let short = ApplyOptions {
        consistency_window: Duration::from_millis(600),
        ..ApplyOptions::default()
    };
    let result = apply(&mut plan, &aws, Some(&k8s), &short).await;
    let Err(Error::ApplyFailed { failures, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(failures[0].contains("still rejected after"), "{failures:?}");
}

#[tokio::test]
async fn a_role_created_meanwhile_by_someone_else_gets_our_trust_added() {
    let (aws, k8s) = world();
    let mut plan = plan_setup(&aws, &k8s, &[Kind::Ingest]).await;
    // A colleague's run creates the role between our observation and our apply.
    let host = "oidc.eks.us-east-1.amazonaws.com/id/ABC";
    let provider = aws.put_provider(host, &["sts.amazonaws.com"], Default::default());
    let theirs = IrsaSubject {
        provider_arn: provider.clone(),
        host_path: host.into(),
        namespace: "other".into(),
        service_account: "agent".into(),
    };
    aws.put_role(
        "amp-iamproxy-ingest-role",
        &theirs.trust_policy(),
        Default::default(),
        &[],
    );
    apply(&mut plan, &aws, Some(&k8s), &quick())
        .await
        .expect("converged through the race");
    let trust = aws
        .stored_role("amp-iamproxy-ingest-role")
        .expect("role")
        .trust();
    let ours = IrsaSubject {
        namespace: "prometheus".into(),
        service_account: "amp-iamproxy-ingest-service-account".into(),
        ..theirs.clone()
    };
    assert_eq!(theirs.state(&trust), crate::policy::TrustState::Trusted);
    assert_eq!(ours.state(&trust), crate::policy::TrustState::Trusted);
}

#[tokio::test]
async fn a_policy_created_meanwhile_with_the_right_document_gets_no_second_version() {
    let (aws, k8s) = world();
    let mut plan = plan_setup(&aws, &k8s, &[Kind::Ingest]).await;
    let doc = crate::policy::permission_policy(
        &[
            "aps:RemoteWrite",
            "aps:GetSeries",
            "aps:GetLabels",
            "aps:GetMetricMetadata",
        ],
        "*",
    );
    aws.put_policy("AMPIngestPolicy", &doc, Default::default());
    apply(&mut plan, &aws, Some(&k8s), &quick())
        .await
        .expect("converged through the race");
    assert_eq!(
        aws.stored_policy("AMPIngestPolicy")
            .expect("policy")
            .versions
            .len(),
        1
    );
}

#[tokio::test]
async fn teardown_after_setup_removes_everything_and_converges() {
    let (aws, k8s) = world();
    setup(&aws, &k8s, &[]).await.1.expect("setup");
    let mut d = desired(&[]);
    d.options.include_oidc_provider = true;
    let extras = Extras { role_trusts: true };
    let observed = observe(&aws, Some(&k8s), &d, extras)
        .await
        .expect("observe");
    let mut plan = plan::teardown(&d, &observed);
    apply(&mut plan, &aws, Some(&k8s), &quick())
        .await
        .expect("teardown");
    assert!(aws.stored_role("amp-iamproxy-ingest-role").is_none());
    assert!(aws.stored_policy("AMPQueryPolicy").is_none());
    assert!(
        aws.stored_provider("oidc.eks.us-east-1.amazonaws.com/id/ABC")
            .is_none()
    );
    assert!(
        k8s.stored_service_account("prometheus", "amp-iamproxy-ingest-service-account")
            .is_none()
    );
    let observed = observe(&aws, Some(&k8s), &d, extras)
        .await
        .expect("observe");
    assert_eq!(
        plan::teardown(&d, &observed).writes(),
        0,
        "a second teardown is a no-op"
    );
}

/// Two clusters of one account, each with its own role (a name template),
/// planned before either writes: both plan the same CreatePolicy.
async fn two_clusters_sharing_a_policy(aws: &FakeAws) -> (Plan, Plan, FakeCluster, FakeCluster) {
    let (k0, k1) = (
        FakeCluster::new().with_namespace("prometheus"),
        FakeCluster::new().with_namespace("prometheus"),
    );
    let mut plans = Vec::new();
    for (cluster, k8s) in [("c0", &k0), ("c1", &k1)] {
        let mut d = Desired::new(
            &[Kind::Ingest],
            &NameOverrides::default(),
            (false, false),
            (cluster, "us-east-1", "prometheus"),
            None,
            Options::default(),
        );
        crate::template::apply(&mut d, Some("amp-{cluster}-{kind}"), None).unwrap();
        let observed = observe(aws, Some(k8s), &d, Extras::default())
            .await
            .expect("observe");
        plans.push(plan::setup(&d, &observed));
    }
    let p1 = plans.pop().unwrap();
    let p0 = plans.pop().unwrap();
    (p0, p1, k0, k1)
}

fn shared_policy_options(plans: [&Plan; 2]) -> ApplyOptions {
    let shared = SharedWrites::default();
    for plan in plans {
        for op in plan.changes.iter().filter_map(|c| c.op.as_ref()) {
            if matches!(op, Op::CreatePolicy { .. }) {
                let scope = plan.scope_of(op).expect("an account-level write");
                shared.share(SharedWrites::key(&scope, op));
            }
        }
    }
    ApplyOptions {
        shared: Some(shared),
        ..quick()
    }
}

#[tokio::test]
async fn a_shared_write_is_made_once_for_two_clusters_applied_at_once() {
    let aws = FakeAws::new()
        .with_cluster("c0", "https://oidc.eks.us-east-1.amazonaws.com/id/C0")
        .with_cluster("c1", "https://oidc.eks.us-east-1.amazonaws.com/id/C1");
    let (mut p0, mut p1, k0, k1) = two_clusters_sharing_a_policy(&aws).await;
    let options = shared_policy_options([&p0, &p1]);
    // Each answer after a yield: the second cluster reaches the shared write
    // while the first's CreatePolicy is still in flight.
    let edge = crate::fake::Yielding(&aws);
    let (r0, r1) = futures::join!(
        apply(&mut p0, &edge, Some(&k0), &options),
        apply(&mut p1, &edge, Some(&k1), &options),
    );
    r0.expect("c0 applied");
    r1.expect("c1 applied");
    let creates: Vec<String> = aws
        .writes()
        .into_iter()
        .filter(|c| c.starts_with("iam:CreatePolicy"))
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");
    for plan in [&p0, &p1] {
        assert_eq!(
            status_of(plan, Resource::Policy, Some(Kind::Ingest)),
            Status::Applied
        );
        assert_eq!(
            status_of(plan, Resource::Attachment, Some(Kind::Ingest)),
            Status::Applied
        );
    }
}

#[tokio::test]
async fn a_failed_shared_write_fails_every_cluster_that_shares_it() {
    let aws = FakeAws::new()
        .with_cluster("c0", "https://oidc.eks.us-east-1.amazonaws.com/id/C0")
        .with_cluster("c1", "https://oidc.eks.us-east-1.amazonaws.com/id/C1");
    let (mut p0, mut p1, k0, k1) = two_clusters_sharing_a_policy(&aws).await;
    let options = shared_policy_options([&p0, &p1]);
    aws.fail("iam:CreatePolicy", AwsErrorKind::AccessDenied, 1);
    let edge = crate::fake::Yielding(&aws);
    let (r0, r1) = futures::join!(
        apply(&mut p0, &edge, Some(&k0), &options),
        apply(&mut p1, &edge, Some(&k1), &options),
    );
    assert!(r0.is_err() && r1.is_err(), "{r0:?} {r1:?}");
    for plan in [&p0, &p1] {
        assert_eq!(
            status_of(plan, Resource::Policy, Some(Kind::Ingest)),
            Status::Failed
        );
        assert_eq!(
            status_of(plan, Resource::Attachment, Some(Kind::Ingest)),
            Status::Skipped
        );
    }
    let creates = aws
        .writes()
        .into_iter()
        .filter(|c| c.starts_with("iam:CreatePolicy"))
        .count();
    assert_eq!(creates, 1, "one attempt, its answer shared");
}
