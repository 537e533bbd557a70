//! Coordinating the plans of a fleet before anything writes, as a pure
//! function of the plans and observations.
//!
//! Clusters of one account can write the same IAM resource (the guide's role
//! and policy names are the same for every cluster). Where each cluster
//! writes it the same way (one policy document for all), the write is made
//! once and shared. Where they write it differently (each adds its own
//! statement to one role's trust), the clusters are chained: applied one
//! after another, each later one from a fresh observation, so none loses
//! another's statement. Where they cannot all be satisfied (one policy
//! scoped to different workspaces; a shared trust over the account's quota)
//! they are refused before any write, with the template that separates them.

use crate::apply::SharedWrites;
use crate::aws::Role;
use crate::observe::{Observed, ObservedRole};
use crate::plan::{Op, Plan};
use crate::policy;
use crate::recipe::Desired;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One planned cluster, as coordination sees it.
pub struct View<'a> {
    pub label: String,
    pub desired: &'a Desired,
    pub plan: &'a Plan,
    pub observed: &'a Observed,
}

#[derive(Debug, Default)]
pub struct Coordination {
    /// The keys ([`SharedWrites::key`]) of the writes made once for several clusters.
    pub shared: BTreeSet<String>,
    /// Clusters (indexes, in fleet order) applied one after another.
    pub chains: Vec<Vec<usize>>,
    /// Refusals to add to clusters' plans, by index.
    pub refusals: BTreeMap<usize, Vec<String>>,
    /// What the report says about the fleet as a whole.
    pub notes: Vec<String>,
    /// Accounts whose trust policy quota decides a shared role: read it and
    /// coordinate again.
    pub needs_quota: BTreeSet<String>,
}

impl Coordination {
    /// The units of the apply round, in fleet order: each chain, and each
    /// other cluster alone.
    pub fn units(&self, n: usize) -> Vec<Vec<usize>> {
        let mut units: Vec<Vec<usize>> = Vec::new();
        for i in 0..n {
            match self.chains.iter().find(|c| c.contains(&i)) {
                Some(chain) if chain[0] == i => units.push(chain.clone()),
                Some(_) => {}
                None => units.push(vec![i]),
            }
        }
        units
    }
}

/// What an account-level write is to: `role NAME`, `policy ARN`, ….
fn resource_of(op: &Op) -> Option<String> {
    Some(match op {
        Op::CreateOidcProvider { arn, .. }
        | Op::AddOidcClientId { arn, .. }
        | Op::DeleteOidcProvider { arn } => format!("OIDC provider {arn}"),
        Op::CreatePolicy { arn, .. }
        | Op::UpdatePolicy { arn, .. }
        | Op::DeletePolicy { arn, .. } => {
            format!("policy {arn}")
        }
        Op::CreateRole { role, .. } => format!("role {}", role.name),
        Op::UpdateTrust { role, .. }
        | Op::DeleteRole { role, .. }
        | Op::AttachPolicy { role, .. } => format!("role {role}"),
        Op::CreateWorkspace { alias, .. } => format!("workspace alias {alias}"),
        Op::DeleteWorkspace { id } => format!("workspace {id}"),
        _ => return None,
    })
}

/// Coordinates the planned clusters (None: failed before planning). With
/// `writes` false (status) only the notes matter. `quotas`: the trust policy
/// quotas read so far, by account (see [`Coordination::needs_quota`]).
pub fn coordinate(
    views: &[Option<View>],
    writes: bool,
    quotas: &BTreeMap<String, usize>,
) -> Coordination {
    let mut out = Coordination::default();
    // (scope, resource) → cluster → its writes to it, in plan order.
    let mut touched: BTreeMap<(String, String), BTreeMap<usize, Vec<&Op>>> = BTreeMap::new();
    for (i, view) in views.iter().enumerate() {
        let Some(v) = view else { continue };
        for op in v.plan.changes.iter().filter_map(|c| c.op.as_ref()) {
            if let (Some(scope), Some(resource)) = (v.plan.scope_of(op), resource_of(op)) {
                touched
                    .entry((scope, resource))
                    .or_default()
                    .entry(i)
                    .or_default()
                    .push(op);
            }
        }
    }
    // A teardown keeps a policy that other roles still use; when those roles
    // are other clusters' of this fleet, chaining lets the last one out see
    // the policy unused and delete it.
    for (i, view) in views.iter().enumerate() {
        let Some(v) = view.as_ref().filter(|v| v.plan.command == "teardown") else {
            continue;
        };
        for policy in v.observed.policies.values().flatten() {
            touched
                .entry((
                    v.plan.account_scope(),
                    format!("policy {}", policy.summary.arn),
                ))
                .or_default()
                .entry(i)
                .or_default();
        }
    }
    let label = |i: &usize| views[*i].as_ref().map_or("?", |v| v.label.as_str());
    let labels = |set: &BTreeMap<usize, Vec<&Op>>| -> String {
        set.keys().map(label).collect::<Vec<_>>().join(", ")
    };
    // One policy wanted two ways (their workspaces or actions differ): the
    // cluster that wrote last would silently narrow the others' access. A
    // cluster whose policy is already as it wants counts too: it relies on it.
    let mut wanted: BTreeMap<(String, String), BTreeMap<usize, &str>> = BTreeMap::new();
    for (i, view) in views.iter().enumerate() {
        let Some(v) = view.as_ref().filter(|v| v.plan.command != "teardown") else {
            continue;
        };
        for (arn, document) in &v.plan.policy_documents {
            wanted
                .entry((v.plan.account_scope(), format!("policy {arn}")))
                .or_default()
                .insert(i, document.as_str());
        }
    }
    let mut scoped_two_ways: BTreeSet<(String, String)> = BTreeSet::new();
    for ((scope, resource), by_cluster) in &wanted {
        let documents: BTreeSet<&str> = by_cluster.values().copied().collect();
        if documents.len() < 2 {
            continue;
        }
        let shown: Vec<&str> = by_cluster.keys().map(label).collect();
        let refusal = format!(
            "{resource} ({scope}) is wanted with {} different documents by clusters {} (their workspaces or actions differ), and one policy serves them all: give each cluster its own policy with a name template, e.g. --policy-name 'AMP-{{kind}}-{{cluster}}' (policyName in the -f file)",
            documents.len(),
            shown.join(", ")
        );
        if writes {
            for i in by_cluster.keys() {
                out.refusals.entry(*i).or_default().push(refusal.clone());
            }
        }
        scoped_two_ways.insert((scope.clone(), resource.clone()));
    }
    // Union-find over clusters that write one resource differently.
    let mut chain_of: Vec<usize> = (0..views.len()).collect();
    fn root(chain_of: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while chain_of[r] != r {
            r = chain_of[r];
        }
        chain_of[i] = r;
        r
    }
    let mut chained_roles: Vec<(String, Vec<usize>)> = Vec::new();
    for ((scope, resource), by_cluster) in &touched {
        let key = (scope.clone(), resource.clone());
        if by_cluster.len() < 2 || scoped_two_ways.contains(&key) {
            continue;
        }
        let keyed: Vec<Vec<String>> = by_cluster
            .values()
            .map(|ops| ops.iter().map(|op| SharedWrites::key(scope, op)).collect())
            .collect();
        let kept_by_all = keyed.iter().all(Vec::is_empty);
        if !kept_by_all && keyed.windows(2).all(|w| w[0] == w[1]) {
            out.shared.extend(keyed[0].iter().cloned());
            if writes {
                out.notes.push(format!(
                    "{resource} ({scope}): one write for clusters {}",
                    labels(by_cluster)
                ));
            }
            continue;
        }
        let members: Vec<usize> = by_cluster.keys().copied().collect();
        for pair in members.windows(2) {
            let (a, b) = (root(&mut chain_of, pair[0]), root(&mut chain_of, pair[1]));
            chain_of[a.max(b)] = a.min(b);
        }
        if resource.starts_with("role ") {
            chained_roles.push((resource.clone(), members));
        } else if kept_by_all && writes {
            out.notes.push(format!(
                "{resource} is used by clusters {}: their teardowns run one after another, so the last one deletes it",
                labels(by_cluster)
            ));
        }
    }
    if !writes {
        return out;
    }
    // Each set's root is its first cluster, so each chain is in fleet order.
    let mut chains: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..views.len() {
        let r = root(&mut chain_of, i);
        chains.entry(r).or_default().push(i);
    }
    out.chains = chains.into_values().filter(|c| c.len() > 1).collect();
    for (resource, members) in chained_roles {
        let shown: Vec<&str> = members.iter().map(label).collect();
        let size = shared_trust(views, &resource, &members).map(|t| policy::minify(&t).len());
        // The members share the role's account (the chain's scope).
        let first = members
            .first()
            .and_then(|i| views.get(*i))
            .and_then(Option::as_ref);
        let Some(account) = first.map(|v| v.plan.account.clone()) else {
            continue;
        };
        let quota = quotas.get(&account).copied();
        if size.is_some_and(|s| s > policy::TRUST_POLICY_LIMIT) && quota.is_none() {
            // Judged by the account's real quota: the caller reads it and asks again.
            out.needs_quota.insert(account);
            continue;
        }
        let quota = quota.unwrap_or(policy::TRUST_POLICY_LIMIT);
        match size {
            Some(size) if size > quota => {
                let refusal = format!(
                    "{resource} is shared by clusters {}: with each cluster's statement its trust policy comes to about {size} characters, over the account's quota of {quota}: give each cluster its own roles with a name template, e.g. --role-name 'amp-{{cluster}}-{{kind}}' (roleName in the -f file)",
                    shown.join(", ")
                );
                for i in &members {
                    out.refusals.entry(*i).or_default().push(refusal.clone());
                }
            }
            _ => out.notes.push(format!(
                "{resource} is shared by clusters {}: they are applied one after another, each from what the one before left, so none loses another's statement; a name template such as --role-name 'amp-{{cluster}}-{{kind}}' lets them run at once",
                shown.join(", ")
            )),
        }
    }
    out
}

/// The trust the shared role comes to once every member has added its own,
/// by the planner itself: each member planned against the trust the earlier
/// ones leave (a Pod Identity cluster joins an existing statement's cluster
/// list; an IRSA cluster adds its provider's statement). None for teardowns,
/// which only shrink it.
fn shared_trust(views: &[Option<View>], resource: &str, members: &[usize]) -> Option<Value> {
    let name = resource.strip_prefix("role ")?;
    let mut current: Option<ObservedRole> = None;
    for v in members.iter().filter_map(|i| views[*i].as_ref()) {
        if v.plan.command == "teardown" {
            return None;
        }
        let mut observed = v.observed.clone();
        // The size is judged below, against the account's quota: here the
        // planner is only to say what the trust becomes.
        observed.trust_quota = Some(usize::MAX);
        if let Some(role) = &current {
            observed.roles.insert(name.to_string(), Some(role.clone()));
        }
        let plan = crate::plan::setup(v.desired, &observed);
        let before = observed.roles.get(name).cloned().flatten();
        current = plan
            .changes
            .iter()
            .filter_map(|c| c.op.as_ref())
            .find_map(|op| match op {
                Op::CreateRole { role, .. } if role.name == name => {
                    let trust = serde_json::from_str(&role.trust_policy).ok()?;
                    Some(ObservedRole {
                        role: Role {
                            name: role.name.clone(),
                            arn: observed.account.role(&role.path, &role.name),
                            path: role.path.clone(),
                            trust_policy: role.trust_policy.clone(),
                            tags: role.tags.clone(),
                        },
                        trust,
                        attached: Vec::new(),
                    })
                }
                Op::UpdateTrust { role, document } if role == name => {
                    let mut updated = before.clone()?;
                    updated.trust = serde_json::from_str(document).ok()?;
                    updated.role.trust_policy = document.clone();
                    Some(updated)
                }
                _ => None,
            })
            .or(before);
    }
    current.map(|r| r.trust)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeAws, FakeCluster};
    use crate::observe::{Extras, observe};
    use crate::recipe::{Desired, Kind, NameOverrides, Options, WorkspaceRef};
    use futures::executor::block_on;

    /// `n` clusters `c0`… of one account, each with its own issuer.
    fn account(n: usize) -> FakeAws {
        (0..n).fold(FakeAws::new(), |aws, i| {
            aws.with_cluster(
                &format!("c{i}"),
                &format!("https://oidc.eks.us-east-1.amazonaws.com/id/ISSUER{i:02}"),
            )
        })
    }

    fn desired(cluster: &str, role: Option<&str>, workspace: Option<&str>) -> Desired {
        let mut d = Desired::new(
            &[Kind::Ingest],
            &NameOverrides::default(),
            (false, false),
            (cluster, "us-east-1", "prometheus"),
            workspace.map(|w| WorkspaceRef::parse(w, false)),
            Options::default(),
        );
        crate::template::apply(&mut d, role, None).unwrap();
        d
    }

    /// Each cluster observed (before anything is written) and planned.
    fn planned(aws: &FakeAws, desired: &[Desired]) -> Vec<(Observed, Plan)> {
        let k8s = FakeCluster::new().with_namespace("prometheus");
        desired
            .iter()
            .map(|d| {
                let observed = block_on(observe(aws, Some(&k8s), d, Extras::default())).unwrap();
                let plan = crate::plan::setup(d, &observed);
                (observed, plan)
            })
            .collect()
    }

    fn run(desired: &[Desired], planned: &[(Observed, Plan)], writes: bool) -> Coordination {
        run_with_quotas(desired, planned, writes, &BTreeMap::new())
    }

    fn run_with_quotas(
        desired: &[Desired],
        planned: &[(Observed, Plan)],
        writes: bool,
        quotas: &BTreeMap<String, usize>,
    ) -> Coordination {
        let views: Vec<Option<View>> = planned
            .iter()
            .zip(desired)
            .enumerate()
            .map(|(i, ((observed, plan), desired))| {
                Some(View {
                    label: format!("c{i}"),
                    desired,
                    plan,
                    observed,
                })
            })
            .collect();
        coordinate(&views, writes, quotas)
    }

    #[test]
    fn clusters_sharing_the_guides_role_are_chained_and_share_the_policy() {
        let aws = account(3);
        let d: Vec<Desired> = (0..3)
            .map(|i| desired(&format!("c{i}"), None, None))
            .collect();
        let c = run(&d, &planned(&aws, &d), true);
        assert_eq!(c.chains, vec![vec![0, 1, 2]]);
        assert!(c.refusals.is_empty(), "{:?}", c.refusals);
        // The policy: one CreatePolicy, the same for all three.
        assert_eq!(c.shared.len(), 1, "{:?}", c.shared);
        assert!(c.shared.iter().all(|k| k.contains("CreatePolicy")));
        let notes = c.notes.join("\n");
        assert!(
            notes.contains("role amp-iamproxy-ingest-role is shared by clusters c0, c1, c2"),
            "{notes}"
        );
        assert!(notes.contains("{cluster}"), "{notes}");
        assert_eq!(c.units(3), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn a_name_template_makes_the_clusters_independent() {
        let aws = account(3);
        let d: Vec<Desired> = (0..3)
            .map(|i| desired(&format!("c{i}"), Some("amp-{cluster}-{kind}"), None))
            .collect();
        let c = run(&d, &planned(&aws, &d), true);
        assert!(c.chains.is_empty(), "{:?}", c.chains);
        assert_eq!(c.units(3), vec![vec![0], vec![1], vec![2]]);
        assert_eq!(
            c.shared.len(),
            1,
            "only the policy is shared: {:?}",
            c.shared
        );
    }

    #[test]
    fn one_policy_scoped_to_two_workspaces_is_refused_for_both() {
        let aws = account(2);
        let ws_a = aws.put_workspace(Some("a"), Default::default());
        let ws_b = aws.put_workspace(Some("b"), Default::default());
        let d = vec![
            desired("c0", Some("amp-{cluster}-{kind}"), Some(&ws_a)),
            desired("c1", Some("amp-{cluster}-{kind}"), Some(&ws_b)),
        ];
        let c = run(&d, &planned(&aws, &d), true);
        for i in [0, 1] {
            let r = c.refusals.get(&i).map(|r| r.join("\n")).unwrap_or_default();
            assert!(
                r.contains("policy arn:aws:iam::111122223333:policy/AMPIngestPolicy"),
                "{r}"
            );
            assert!(
                r.contains("2 different documents by clusters c0, c1"),
                "{r}"
            );
            assert!(r.contains("--policy-name 'AMP-{kind}-{cluster}'"), "{r}");
        }
        assert!(c.shared.iter().all(|k| !k.contains("CreatePolicy")));
    }

    #[test]
    fn a_policy_already_scoped_for_one_cluster_is_not_narrowed_for_another() {
        // c0's policy exists, scoped to its workspace; c1 wants it for another.
        let aws = account(2);
        let ws_a = aws.put_workspace(Some("a"), Default::default());
        let ws_b = aws.put_workspace(Some("b"), Default::default());
        let k8s = FakeCluster::new().with_namespace("prometheus");
        let first = desired("c0", Some("amp-{cluster}-{kind}"), Some(&ws_a));
        let observed = block_on(observe(&aws, Some(&k8s), &first, Extras::default())).unwrap();
        let mut plan = crate::plan::setup(&first, &observed);
        let options = crate::apply::ApplyOptions::default();
        block_on(crate::apply::apply(&mut plan, &aws, Some(&k8s), &options)).unwrap();
        let d = vec![
            first,
            desired("c1", Some("amp-{cluster}-{kind}"), Some(&ws_b)),
        ];
        let p = planned(&aws, &d);
        // c0 plans no write to the policy (it is as it wants), c1 an update.
        assert!(
            p[0].1
                .changes
                .iter()
                .filter_map(|c| c.op.as_ref())
                .all(|op| !matches!(op, Op::UpdatePolicy { .. }))
        );
        let c = run(&d, &p, true);
        for i in [0, 1] {
            let r = c.refusals.get(&i).map(|r| r.join("\n")).unwrap_or_default();
            assert!(
                r.contains("2 different documents by clusters c0, c1"),
                "{i}: {r}"
            );
        }
    }

    #[test]
    fn a_shared_trust_over_the_quota_is_refused_with_the_template() {
        // Each IRSA cluster adds its provider's statement: 8 exceed 2,048.
        let aws = account(8);
        let d: Vec<Desired> = (0..8)
            .map(|i| desired(&format!("c{i}"), None, None))
            .collect();
        let p = planned(&aws, &d);
        // Over IAM's default: the account's real quota decides, so it is asked for.
        let c = run(&d, &p, true);
        assert_eq!(c.needs_quota, BTreeSet::from(["111122223333".to_string()]));
        assert!(c.refusals.is_empty(), "{:?}", c.refusals);
        let default = BTreeMap::from([("111122223333".to_string(), 2048)]);
        let c = run_with_quotas(&d, &p, true, &default);
        assert_eq!(c.refusals.len(), 8, "{:?}", c.refusals);
        let r = c.refusals[&0].join("\n");
        assert!(r.contains("over the account's quota of 2048"), "{r}");
        assert!(r.contains("--role-name 'amp-{cluster}-{kind}'"), "{r}");
        // A raised quota lets them share it.
        let raised = BTreeMap::from([("111122223333".to_string(), 4096)]);
        let c = run_with_quotas(&d, &p, true, &raised);
        assert!(c.refusals.is_empty(), "{:?}", c.refusals);
        assert_eq!(c.chains, vec![(0..8).collect::<Vec<_>>()]);
        // A few clusters fit the default: chained, not refused.
        let c = run(&d[..3], &planned(&aws, &d[..3]), true);
        assert!(c.refusals.is_empty() && c.needs_quota.is_empty());
    }

    #[test]
    fn pod_identity_clusters_join_one_statement_so_many_fit() {
        // Each Pod Identity cluster adds only its cluster ARN to one statement.
        let aws = account(8);
        let d: Vec<Desired> = (0..8)
            .map(|i| {
                let mut d = desired(&format!("c{i}"), None, None);
                d.mode = crate::recipe::IdentityMode::PodIdentity;
                d
            })
            .collect();
        let c = run(&d, &planned(&aws, &d), true);
        assert!(c.refusals.is_empty() && c.needs_quota.is_empty(), "{c:?}");
        assert_eq!(c.chains, vec![(0..8).collect::<Vec<_>>()]);
    }

    #[test]
    fn a_fleet_teardown_of_roles_sharing_a_policy_is_chained_so_the_policy_goes() {
        let aws = account(2);
        let k8s = FakeCluster::new().with_namespace("prometheus");
        let d: Vec<Desired> = (0..2)
            .map(|i| desired(&format!("c{i}"), Some("amp-{cluster}-{kind}"), None))
            .collect();
        // Both set up, one after the other: two roles, one policy attached to both.
        for d in &d {
            let observed = block_on(observe(&aws, Some(&k8s), d, Extras::default())).unwrap();
            let mut plan = crate::plan::setup(d, &observed);
            let options = crate::apply::ApplyOptions::default();
            block_on(crate::apply::apply(&mut plan, &aws, Some(&k8s), &options)).unwrap();
        }
        let torn: Vec<(Observed, Plan)> = d
            .iter()
            .map(|d| {
                let observed = block_on(observe(&aws, Some(&k8s), d, Extras::default())).unwrap();
                let plan = crate::plan::teardown(d, &observed);
                (observed, plan)
            })
            .collect();
        // Each keeps the policy (the other's role uses it), so neither deletes it...
        for (_, plan) in &torn {
            let deletes = plan.changes.iter().filter_map(|c| c.op.as_ref());
            assert!(
                !deletes
                    .into_iter()
                    .any(|op| matches!(op, Op::DeletePolicy { .. }))
            );
        }
        // ...unless they run one after another.
        let c = run(&d, &torn, true);
        assert_eq!(c.chains, vec![vec![0, 1]]);
        let notes = c.notes.join("\n");
        assert!(notes.contains("the last one deletes it"), "{notes}");
    }

    #[test]
    fn a_run_that_writes_nothing_is_neither_chained_nor_refused() {
        let aws = account(8);
        let d: Vec<Desired> = (0..8)
            .map(|i| desired(&format!("c{i}"), None, None))
            .collect();
        let c = run(&d, &planned(&aws, &d), false);
        assert!(c.chains.is_empty() && c.refusals.is_empty() && c.notes.is_empty());
        assert!(c.needs_quota.is_empty());
        assert_eq!(c.units(8).len(), 8);
    }

    #[test]
    fn a_cluster_that_failed_before_planning_is_left_out() {
        let aws = account(2);
        let d: Vec<Desired> = (0..2)
            .map(|i| desired(&format!("c{i}"), None, None))
            .collect();
        let p = planned(&aws, &d);
        let views = vec![
            None,
            Some(View {
                label: "c1".into(),
                desired: &d[1],
                plan: &p[1].1,
                observed: &p[1].0,
            }),
        ];
        let c = coordinate(&views, true, &BTreeMap::new());
        assert!(c.chains.is_empty() && c.refusals.is_empty());
        assert_eq!(c.units(2), vec![vec![0], vec![1]]);
    }
}
