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
use crate::observe::Observed;
use crate::plan::{Op, Plan};
use crate::policy;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One planned cluster, as coordination sees it.
pub struct View<'a> {
    pub label: String,
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

/// The policy document a write sets, if it sets one.
fn policy_document(op: &Op) -> Option<&str> {
    match op {
        Op::CreatePolicy { document, .. } | Op::UpdatePolicy { document, .. } => Some(document),
        _ => None,
    }
}

/// The trust document a write sets, if it sets one.
fn trust_document(op: &Op) -> Option<&str> {
    match op {
        Op::CreateRole { role, .. } => Some(&role.trust_policy),
        Op::UpdateTrust { document, .. } => Some(document),
        _ => None,
    }
}

/// Coordinates the planned clusters (None: failed before planning). With
/// `writes` false (status, dry runs) only the notes matter.
pub fn coordinate(views: &[Option<View>], writes: bool) -> Coordination {
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
                    format!("account {}", v.plan.account),
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
        if by_cluster.len() < 2 {
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
        let documents: BTreeSet<&str> = by_cluster
            .values()
            .flatten()
            .filter_map(|op| policy_document(op))
            .collect();
        if documents.len() > 1 {
            // One policy cannot be scoped two ways: the later write would
            // silently narrow the other clusters' access.
            let refusal = format!(
                "{resource} ({scope}) would be written with {} different documents by clusters {} (their workspaces or actions differ): give each cluster its own policy with a name template, e.g. --policy-name 'AMP-{{kind}}-{{cluster}}' (policyName in the -f file)",
                documents.len(),
                labels(by_cluster)
            );
            if writes {
                for i in by_cluster.keys() {
                    out.refusals.entry(*i).or_default().push(refusal.clone());
                }
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
        match shared_trust_size(views, &resource, &members) {
            Some((size, quota)) if size > quota => {
                let refusal = format!(
                    "{resource} is shared by clusters {}: with each cluster's statement its trust policy comes to about {size} characters, over the account's quota of {quota}: give each cluster its own roles with a name template, e.g. --role-name 'amp-{{cluster}}-{{kind}}' (roleName in the -f file)",
                    shown.join(", ")
                );
                for i in &members {
                    out.refusals.entry(*i).or_default().push(refusal.clone());
                }
            }
            _ => out.notes.push(format!(
                "{resource} is shared by clusters {}: they are applied one after another, so each adds its statement to the others'; a name template such as --role-name 'amp-{{cluster}}-{{kind}}' lets them run at once",
                shown.join(", ")
            )),
        }
    }
    out
}

/// The size the shared role's trust comes to once every member's statements
/// are in (the union of what each plans), and the account's quota.
fn shared_trust_size(
    views: &[Option<View>],
    resource: &str,
    members: &[usize],
) -> Option<(usize, usize)> {
    let name = resource.strip_prefix("role ")?;
    let mut statements: Vec<Value> = Vec::new();
    let mut quota = policy::TRUST_POLICY_LIMIT;
    let mut base: Option<Value> = None;
    for v in members.iter().filter_map(|i| views[*i].as_ref()) {
        quota = v.observed.trust_quota.unwrap_or(quota).max(quota);
        if let Some(Some(role)) = v.observed.roles.get(name) {
            base.get_or_insert_with(|| role.trust.clone());
            add_statements(&mut statements, &role.trust);
        }
        for op in v.plan.changes.iter().filter_map(|c| c.op.as_ref()) {
            let is_this_role = resource_of(op).as_deref() == Some(resource);
            if let Some(doc) = trust_document(op).filter(|_| is_this_role) {
                if let Ok(doc) = serde_json::from_str::<Value>(doc) {
                    base.get_or_insert_with(|| doc.clone());
                    add_statements(&mut statements, &doc);
                }
            }
        }
    }
    let mut doc = base?;
    if let Some(m) = doc.as_object_mut() {
        m.insert("Statement".into(), Value::Array(statements));
    }
    Some((policy::minify(&doc).len(), quota))
}

fn add_statements(into: &mut Vec<Value>, doc: &Value) {
    let found = match doc.get("Statement") {
        Some(Value::Array(all)) => all.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    for s in found {
        if !into.contains(&s) {
            into.push(s);
        }
    }
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

    fn run(planned: &[(Observed, Plan)], writes: bool) -> Coordination {
        let views: Vec<Option<View>> = planned
            .iter()
            .enumerate()
            .map(|(i, (observed, plan))| {
                Some(View {
                    label: format!("c{i}"),
                    plan,
                    observed,
                })
            })
            .collect();
        coordinate(&views, writes)
    }

    #[test]
    fn clusters_sharing_the_guides_role_are_chained_and_share_the_policy() {
        let aws = account(3);
        let d: Vec<Desired> = (0..3)
            .map(|i| desired(&format!("c{i}"), None, None))
            .collect();
        let c = run(&planned(&aws, &d), true);
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
        let c = run(&planned(&aws, &d), true);
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
        let c = run(&planned(&aws, &d), true);
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
    fn a_shared_trust_over_the_quota_is_refused_with_the_template() {
        // Each cluster adds one ~270-character statement: 8 exceed 2,048.
        let aws = account(8);
        let d: Vec<Desired> = (0..8)
            .map(|i| desired(&format!("c{i}"), None, None))
            .collect();
        let c = run(&planned(&aws, &d), true);
        assert_eq!(c.refusals.len(), 8, "{:?}", c.refusals);
        let r = c.refusals[&0].join("\n");
        assert!(r.contains("over the account's quota of 2048"), "{r}");
        assert!(r.contains("--role-name 'amp-{cluster}-{kind}'"), "{r}");
        // A few clusters fit: chained, not refused.
        let c = run(&planned(&aws, &d[..3]), true);
        assert!(c.refusals.is_empty());
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
        let c = run(&torn, true);
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
        let c = run(&planned(&aws, &d), false);
        assert!(c.chains.is_empty() && c.refusals.is_empty() && c.notes.is_empty());
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
                plan: &p[1].1,
                observed: &p[1].0,
            }),
        ];
        let c = coordinate(&views, true);
        assert!(c.chains.is_empty() && c.refusals.is_empty());
        assert_eq!(c.units(2), vec![vec![0], vec![1]]);
    }
}
