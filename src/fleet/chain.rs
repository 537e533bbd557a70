//! A chain's hand-over: the next cluster plans from a fresh observation, and
//! that observation must show what the previous cluster wrote to the roles
//! they share. IAM is eventually consistent, so a read right after a write
//! can still show the old trust; planning from it would write the previous
//! cluster's statement away. So the fresh read is repeated until it shows
//! the writes, within the consistency window.

use crate::apply::Backoff;
use crate::aws::Aws;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::observe::Observed;
use crate::plan::{Op, Plan, Status};
use crate::policy;
use crate::run::cluster::{self, Prepared};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a concluded plan wrote to roles: each role's trust as written, or
/// None where it deleted the role.
pub type Written = BTreeMap<String, Option<Value>>;

/// Adds what `plan` did (its applied changes only) to `written`.
pub fn record(plan: &Plan, written: &mut Written) {
    for change in plan.changes.iter().filter(|c| c.status == Status::Applied) {
        match &change.op {
            Some(Op::CreateRole { role, .. }) => {
                if let Ok(trust) = serde_json::from_str(&role.trust_policy) {
                    written.insert(role.name.clone(), Some(trust));
                }
            }
            Some(Op::UpdateTrust { role, document }) => {
                if let Ok(trust) = serde_json::from_str(document) {
                    written.insert(role.clone(), Some(trust));
                }
            }
            Some(Op::DeleteRole { role, .. }) => {
                written.insert(role.clone(), None);
            }
            _ => {}
        }
    }
}

/// Whether `observed` shows every write of `written` to the roles it read.
pub fn reflects(observed: &Observed, written: &Written) -> bool {
    written
        .iter()
        .all(|(name, trust)| match (observed.roles.get(name), trust) {
            // Not one of this cluster's roles: nothing to check.
            (None, _) => true,
            (Some(Some(role)), Some(trust)) => policy::same_meaning(&role.trust, trust),
            (Some(None), None) => true,
            _ => false,
        })
}

/// Observes and plans again until the observation shows `written`, within
/// `window`; an error naming the roles when IAM still shows older trusts.
pub async fn observe_after<A: Aws, C: Cluster>(
    p: &Prepared,
    aws: &A,
    connection: Option<&C>,
    written: &Written,
    window: Duration,
) -> Result<(Observed, Plan)> {
    let mut backoff = Backoff::new(window);
    loop {
        let (observed, plan) = cluster::observe_and_plan(p, aws, connection, false).await?;
        if reflects(&observed, written) {
            return Ok((observed, plan));
        }
        if !backoff.wait().await {
            let roles: Vec<&str> = written.keys().map(String::as_str).collect();
            return Err(Error::Usage(format!(
                "IAM still shows an older trust policy of {} {} s after the previous cluster of the chain wrote it, so this cluster did not plan from it (it would have written that statement away): run again in a minute",
                roles.join(", "),
                backoff.elapsed_secs()
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeAws, FakeCluster};
    use crate::observe::{Extras, observe};
    use crate::recipe::{Desired, Kind, NameOverrides, Options};
    use futures::executor::block_on;

    fn desired(cluster: &str) -> Desired {
        Desired::new(
            &[Kind::Ingest],
            &NameOverrides::default(),
            (false, false),
            (cluster, "us-east-1", "prometheus"),
            None,
            Options::default(),
        )
    }

    #[test]
    fn a_read_that_does_not_show_the_previous_write_is_not_planned_from() {
        let aws = FakeAws::new()
            .with_cluster("c0", "https://oidc.eks.us-east-1.amazonaws.com/id/C0")
            .with_cluster("c1", "https://oidc.eks.us-east-1.amazonaws.com/id/C1");
        let k8s = FakeCluster::new().with_namespace("prometheus");
        let (d0, d1) = (desired("c0"), desired("c1"));
        // c0 sets up the guide's role; what it wrote is recorded.
        let observed = block_on(observe(&aws, Some(&k8s), &d0, Extras::default())).unwrap();
        let mut plan = crate::plan::setup(&d0, &observed);
        let options = crate::apply::ApplyOptions::default();
        block_on(crate::apply::apply(&mut plan, &aws, Some(&k8s), &options)).unwrap();
        let mut written = Written::new();
        record(&plan, &mut written);
        assert!(written["amp-iamproxy-ingest-role"].is_some(), "{written:?}");
        // c1's read after it shows the write...
        let now = block_on(observe(&aws, Some(&k8s), &d1, Extras::default())).unwrap();
        assert!(reflects(&now, &written));
        // ...a stale read (the role as before c0 wrote it: absent) does not.
        let mut stale = now.clone();
        stale.roles.insert("amp-iamproxy-ingest-role".into(), None);
        assert!(!reflects(&stale, &written));
        // A role this cluster does not read is not its concern.
        stale.roles.remove("amp-iamproxy-ingest-role");
        assert!(reflects(&stale, &written));
    }

    /// c1's run, prepared as a fleet would (no kubeconfig: the fakes stand in).
    fn prepared(cluster: &str) -> Prepared {
        use crate::cli::Selection;
        use crate::run::cluster::{Checked, ClusterSpec, Mode};
        let spec = ClusterSpec {
            origin: None,
            context_chosen: false,
            target: Default::default(),
            profile: None,
            selection: Selection {
                kinds: vec![Kind::Ingest],
                service_account: None,
                role_name: None,
                policy_name: None,
                workspace: None,
                role_path: "/".into(),
                all_regions: false,
                all_clusters: false,
                mode: crate::recipe::IdentityMode::Irsa,
            },
            options: Options::default(),
            workspace: None,
            mode: Mode::Setup { dry_run: false },
        };
        let checked = Checked {
            spec,
            kinds: vec![Kind::Ingest],
            target: crate::target::Target {
                context: None,
                cluster: cluster.into(),
                region: Some("us-east-1".into()),
                namespace: "prometheus".into(),
                account_hint: None,
                source: "test".into(),
            },
        };
        cluster::prepare(checked, "us-east-1".into(), None).unwrap()
    }

    #[tokio::test]
    async fn a_read_that_never_shows_the_write_fails_the_cluster_naming_the_role() {
        let aws =
            FakeAws::new().with_cluster("c1", "https://oidc.eks.us-east-1.amazonaws.com/id/C1");
        let k8s = FakeCluster::new().with_namespace("prometheus");
        // What the chain says was written, but IAM (the fake) never shows it.
        let written = Written::from([(
            "amp-iamproxy-ingest-role".to_string(),
            Some(serde_json::json!({"Version": "2012-10-17", "Statement": []})),
        )]);
        let p = prepared("c1");
        let err = observe_after(&p, &aws, Some(&k8s), &written, Duration::ZERO)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("amp-iamproxy-ingest-role"), "{err}");
        assert!(err.contains("run again"), "{err}");
        // Shown: planned at once.
        let (_, plan) = observe_after(&p, &aws, Some(&k8s), &Written::new(), Duration::ZERO)
            .await
            .unwrap();
        assert!(plan.writes() > 0);
    }

    #[test]
    fn only_applied_changes_are_recorded_and_a_deleted_role_is_none() {
        let aws =
            FakeAws::new().with_cluster("c0", "https://oidc.eks.us-east-1.amazonaws.com/id/C0");
        let k8s = FakeCluster::new().with_namespace("prometheus");
        let d = desired("c0");
        let observed = block_on(observe(&aws, Some(&k8s), &d, Extras::default())).unwrap();
        let plan = crate::plan::setup(&d, &observed);
        let mut written = Written::new();
        record(&plan, &mut written);
        assert!(written.is_empty(), "planned, not applied: {written:?}");
        let options = crate::apply::ApplyOptions::default();
        let mut plan = plan;
        block_on(crate::apply::apply(&mut plan, &aws, Some(&k8s), &options)).unwrap();
        let observed = block_on(observe(&aws, Some(&k8s), &d, Extras::default())).unwrap();
        let mut teardown = crate::plan::teardown(&d, &observed);
        block_on(crate::apply::apply(
            &mut teardown,
            &aws,
            Some(&k8s),
            &options,
        ))
        .unwrap();
        record(&teardown, &mut written);
        assert_eq!(written.get("amp-iamproxy-ingest-role"), Some(&None));
    }
}
