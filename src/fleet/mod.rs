//! Fleet runs: many clusters in one run (`--context` several times,
//! `--all-contexts`, `-f FILE`), a layer above the single-cluster run.
//!
//! The fleet keeps observe → plan → apply, one level up: every cluster is
//! checked before any call, observed and planned (concurrently, bounded by
//! `--parallel`, account-level reads shared), the plans are coordinated (a
//! write several clusters share is made once; clusters that would write one
//! IAM resource differently are chained), and only then does anything write.

mod chain;
mod coordinate;
pub mod file;
mod report;

use crate::apply::{ApplyOptions, SharedWrites};
use crate::aws::Aws;
use crate::aws::sdk::SdkAws;
use crate::aws::shared::{AccountReads, SharedReads};
use crate::cli::{FleetArgs, GlobalArgs};
use crate::cluster::kube::KubeCluster;
use crate::error::{Error, Result};
use crate::names;
use crate::observe::Observed;
use crate::plan::Plan;
use crate::recipe::{IdentityMode, OWN_TAG_KEYS, WorkspaceRef, effective_kinds};
use crate::run::aws_config;
use crate::run::cluster::{self, ClusterSpec, Mode, Outcome, Prepared};
use crate::target;
use crate::traced::Traced;
use aws_config::SdkConfig;
use futures::StreamExt;
use kube::config::Kubeconfig;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;

/// Whether the flags name a fleet: several `--context`s, `--all-contexts`
/// or `-f`.
pub fn is_fleet(g: &GlobalArgs, f: &FleetArgs) -> bool {
    !f.files.is_empty() || f.all_contexts || g.context.len() > 1
}

/// The clusters of a fleet the flags name (see [`is_fleet`]). `base` is the
/// run the other flags describe; a bootstrap file's entries override it key
/// by key.
pub fn specs(
    g: &GlobalArgs,
    f: &FleetArgs,
    base: &ClusterSpec,
    kubeconfig: Option<&Kubeconfig>,
) -> Result<Vec<ClusterSpec>> {
    if let Mode::Migrate { .. } = base.mode {
        return Err(Error::Usage(
            "migrate works on one cluster at a time: give one --context".into(),
        ));
    }
    if g.cluster.is_some() {
        return Err(Error::Usage(
            "--cluster names one cluster: in a fleet run each cluster comes from its context, or from `cluster:` in the -f file".into(),
        ));
    }
    if g.region.is_some() && f.files.is_empty() {
        return Err(Error::Usage(
            "--region would move every context's cluster to that region: in a fleet run each context says its region (use `cluster:` + `region:` entries in a -f file to name others)".into(),
        ));
    }
    if !g.context.is_empty() && (f.all_contexts || !f.files.is_empty()) {
        return Err(Error::Usage(
            "give the clusters one way: --context (repeatable), --all-contexts, or -f FILE".into(),
        ));
    }
    let with_context = |context: String| ClusterSpec {
        origin: Some(format!("--context {context}")),
        target: target::TargetArgs {
            context: Some(context),
            ..base.target.clone()
        },
        ..base.clone()
    };
    if f.all_contexts {
        let (contexts, skipped) = kubeconfig.map(target::eks_contexts).unwrap_or_default();
        for (context, first) in skipped {
            eprintln!(
                "note: --all-contexts: context {context} names the same cluster as {first}: left out"
            );
        }
        if contexts.is_empty() {
            return Err(Error::Usage(
                "--all-contexts: no context of the kubeconfig names an EKS cluster (by ARN, eksctl's naming or `aws eks get-token`)".into(),
            ));
        }
        return Ok(contexts.into_iter().map(with_context).collect());
    }
    if f.files.is_empty() {
        return Ok(g.context.iter().cloned().map(with_context).collect());
    }
    let mut specs = Vec::new();
    for path in &f.files {
        let (text, name) = read_file(path)?;
        let parsed = file::parse(&text, &name)?;
        for note in &parsed.notes {
            eprintln!("note: {note}");
        }
        for entry in &parsed.entries {
            specs.push(spec_for_entry(base, entry)?);
        }
    }
    Ok(specs)
}

fn read_file(path: &Path) -> Result<(String, String)> {
    use std::io::Read;
    let name = path.display().to_string();
    let read = if name == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    read.map(|text| (text, name.clone()))
        .map_err(|e| Error::Usage(format!("cannot read the bootstrap file {name}: {e}")))
}

/// One entry of a bootstrap file over the flags' run; its inputs are checked
/// here, before any call, like the flags'.
fn spec_for_entry(base: &ClusterSpec, e: &file::FleetEntry) -> Result<ClusterSpec> {
    spec_of_entry(base, e).map_err(|err| match err {
        Error::Usage(m) if m.starts_with(&e.origin) => Error::Usage(m),
        Error::Usage(m) => Error::Usage(format!("{}: {m}", e.origin)),
        Error::InvalidName { what, value, why } => Error::InvalidName {
            what,
            value,
            why: format!("{why} (in {})", e.origin),
        },
        other => other,
    })
}

fn spec_of_entry(base: &ClusterSpec, e: &file::FleetEntry) -> Result<ClusterSpec> {
    let mut spec = base.clone();
    spec.origin = Some(e.origin.clone());
    let or = |v: &Option<String>, d: &Option<String>| v.clone().or_else(|| d.clone());
    spec.target.context = e.context.clone();
    spec.target.cluster = e.cluster.clone();
    // A context says its region; --region is only for `cluster:` entries
    // that give none (it would move a context's cluster to another region).
    spec.target.region = match &e.context {
        Some(_) => e.region.clone(),
        None => or(&e.region, &base.target.region),
    };
    if e.context.is_none() && spec.target.region.is_none() {
        return Err(Error::Usage(format!(
            "{}: a `cluster:` entry needs `region:` (or --region): without a context nothing else says where the cluster is",
            e.origin
        )));
    }
    spec.target.namespace = or(&e.namespace, &base.target.namespace);
    spec.profile = or(&e.profile, &base.profile);
    let sel = &mut spec.selection;
    if !e.kinds.is_empty() {
        sel.kinds = e.kinds.clone();
    }
    if let Some(mode) = e.mode {
        sel.mode = mode;
    }
    sel.service_account = or(&e.service_account, &sel.service_account);
    sel.role_name = or(&e.role_name, &sel.role_name);
    sel.policy_name = or(&e.policy_name, &sel.policy_name);
    if let Some(path) = &e.role_path {
        sel.role_path = path.clone();
    }
    let opts = &mut spec.options;
    // The merged set is checked as one (IAM compares keys ignoring case; 50 at most).
    let mut tags: Vec<(String, String)> = opts
        .tags
        .iter()
        .filter(|(k, _)| !e.tags.iter().any(|(ek, _)| ek == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.extend(e.tags.iter().cloned());
    opts.tags = names::tags(&tags, &OWN_TAG_KEYS)?;
    if let Some(b) = &e.permissions_boundary {
        names::permissions_boundary(b)?;
        opts.permissions_boundary = Some(b.to_string());
    }
    opts.restart = e.restart.unwrap_or(opts.restart);
    opts.overwrite = e.overwrite.unwrap_or(opts.overwrite);
    opts.install_agent = e.install_agent.unwrap_or(opts.install_agent);
    if sel.mode == IdentityMode::PodIdentity && !opts.sa_annotations.is_empty() {
        return Err(Error::Usage(format!(
            "{}: mode pod-identity, but --sts-regional-endpoints and --token-expiration are IRSA's (the pod identity webhook reads them)",
            e.origin
        )));
    }
    if opts.install_agent && sel.mode != IdentityMode::PodIdentity {
        return Err(Error::Usage(format!(
            "{}: installAgent is for mode pod-identity",
            e.origin
        )));
    }
    match (&e.create_workspace, &e.workspace) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(format!(
                "{}: give workspace or createWorkspace, not both",
                e.origin
            )));
        }
        (Some(alias), None) => {
            if !matches!(base.mode, Mode::Setup { .. }) {
                return Err(Error::Usage(format!(
                    "{}: createWorkspace is for setup",
                    e.origin
                )));
            }
            names::workspace_alias(alias)?;
            spec.workspace = Some(WorkspaceRef::Alias {
                alias: alias.clone(),
                create: true,
            });
        }
        (None, Some(w)) => {
            sel.workspace = Some(w.clone());
            // Teardown takes an alias that may be gone already, as for the flags.
            spec.workspace = Some(match (WorkspaceRef::parse(w, false), base.mode) {
                (WorkspaceRef::Alias { alias, .. }, Mode::Teardown { .. }) => WorkspaceRef::Alias {
                    alias,
                    create: true,
                },
                (other, _) => other,
            });
        }
        (None, None) => {}
    }
    Ok(spec)
}

type Connection = Option<Traced<KubeCluster>>;

/// The AWS configuration of one (profile, region): one client each.
struct ClientConfig {
    profile: Option<String>,
    /// The region the clusters asked for (None: the profile's default).
    requested: Option<String>,
    region: String,
    config: SdkConfig,
}

/// One cluster of the fleet between the steps.
struct Member {
    label: String,
    prepared: Prepared,
    /// Index into the fleet's clients.
    client: usize,
    /// The account-level reads it shares with its profile's other clusters.
    reads: Rc<AccountReads>,
    connection: Connection,
}

/// Runs a fleet and prints its report; the exit code is the worst cluster's.
/// Errors (exit 2, nothing called) when any cluster's inputs are wrong.
pub async fn run(
    g: &GlobalArgs,
    f: &FleetArgs,
    specs: Vec<ClusterSpec>,
    kubeconfig: Option<&Kubeconfig>,
) -> Result<i32> {
    let parallel = usize::from(f.parallel.max(1));
    let (mut members, configs) = check_all(specs, kubeconfig).await?;
    let clients: Vec<Traced<SdkAws>> = configs
        .iter()
        .map(|k| Traced(SdkAws::new(&k.config)))
        .collect();
    let mut reads: HashMap<Option<String>, Rc<AccountReads>> = HashMap::new();
    for m in &mut members {
        let profile = configs[m.client].profile.clone();
        m.reads = reads.entry(profile).or_default().clone();
    }

    let (mut planned, mut outcomes) =
        observe_all(&mut members, &clients, kubeconfig, parallel).await;

    // Coordinate: shared writes once, chains for differing writes, refusals.
    let views: Vec<Option<coordinate::View>> = members
        .iter()
        .zip(&planned)
        .map(|(m, p)| {
            p.as_ref().map(|(observed, plan)| coordinate::View {
                label: m.label.clone(),
                desired: &m.prepared.desired,
                plan,
                observed,
            })
        })
        .collect();
    let writes = plans_writes(&members);
    let mut quotas = BTreeMap::new();
    let mut coordination = coordinate::coordinate(&views, writes, &quotas);
    if !coordination.needs_quota.is_empty() {
        // A shared trust over IAM's default: judged by each account's real quota.
        let read = coordination.needs_quota.iter().map(|account| async {
            let quota = read_quota(&members, &planned, &clients, account).await;
            (account.clone(), quota)
        });
        quotas.extend(futures::future::join_all(read).await);
        coordination = coordinate::coordinate(&views, writes, &quotas);
    }
    drop(views);
    for (i, refusals) in &coordination.refusals {
        if let Some((_, plan)) = planned.get_mut(*i).and_then(Option::as_mut) {
            plan.refusals.extend(refusals.iter().cloned());
        }
    }

    for (i, outcome) in apply_all(&members, &clients, planned, &coordination, parallel).await {
        outcomes[i] = Some(outcome);
    }
    let results: Vec<report::Result> = members
        .iter()
        .zip(outcomes)
        .filter_map(|(m, o)| {
            o.map(|outcome| report::Result {
                label: m.label.clone(),
                origin: m.prepared.spec.origin.clone(),
                outcome,
            })
        })
        .collect();
    let command = members
        .first()
        .map_or("setup", |m| m.prepared.spec.mode.command());
    let stats: Vec<_> = reads.values().map(|r| r.stats()).collect();
    report::print(g.output, command, &results, &coordination.notes, &stats)
}

/// The trust policy quota of `account`, read through one of its clusters'
/// clients (IAM's default when the read fails: the refusal then errs on the
/// side of the documented limit).
async fn read_quota(
    members: &[Member],
    planned: &[Option<(Observed, Plan)>],
    clients: &[Traced<SdkAws>],
    account: &str,
) -> usize {
    let client = members
        .iter()
        .zip(planned)
        .find(|(_, p)| p.as_ref().is_some_and(|(o, _)| o.account.id == account))
        .map(|(m, _)| &clients[m.client]);
    match client {
        Some(aws) => aws
            .trust_policy_quota()
            .await
            .unwrap_or(crate::policy::TRUST_POLICY_LIMIT),
        None => crate::policy::TRUST_POLICY_LIMIT,
    }
}

/// Every input of every cluster, before any call: one bad entry stops the
/// run (exit 2, each problem listed). Returns the clusters ready to observe
/// and the AWS configurations they use.
async fn check_all(
    specs: Vec<ClusterSpec>,
    kubeconfig: Option<&Kubeconfig>,
) -> Result<(Vec<Member>, Vec<ClientConfig>)> {
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for mut spec in specs {
        let origin = spec.origin.clone().unwrap_or_default();
        if let Err(e) = context_of_cluster(&mut spec, kubeconfig) {
            problems.push(format!("{origin}: {e}"));
            continue;
        }
        match cluster::check(spec, kubeconfig) {
            Ok(c) => checked.push(c),
            Err(e) => problems.push(format!("{origin}: {e}")),
        }
    }
    // One client (and one cache of account reads) per profile and region;
    // a cluster without a region takes its profile's default.
    let mut configs: Vec<ClientConfig> = Vec::new();
    let mut members = Vec::new();
    for c in checked {
        let origin = c.spec.origin.clone().unwrap_or_default();
        let profile = c.spec.profile.clone();
        let wanted = c.target.region.clone();
        let found = configs.iter().position(|k| {
            k.profile == profile && (k.requested == wanted || wanted.as_ref() == Some(&k.region))
        });
        let (client, region) = match found {
            Some(i) => (i, configs[i].region.clone()),
            None => match aws_config(profile.as_deref(), wanted.as_deref(), &c.target.source).await
            {
                Ok((config, region)) => {
                    configs.push(ClientConfig {
                        profile,
                        requested: wanted,
                        region: region.clone(),
                        config,
                    });
                    (configs.len() - 1, region)
                }
                Err(e) => {
                    problems.push(format!("{origin}: {e}"));
                    continue;
                }
            },
        };
        match cluster::prepare(c, region, kubeconfig) {
            Ok(prepared) => members.push(Member {
                label: String::new(),
                prepared,
                client,
                reads: Rc::default(),
                connection: None,
            }),
            Err(e) => problems.push(format!("{origin}: {e}")),
        }
    }
    problems.extend(duplicates(&members));
    label(&mut members);
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "nothing was read or written; fix these clusters' inputs first:\n{}",
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    Ok((members, configs))
}

/// Observes and plans every cluster (`parallel` at once), the account-level
/// reads shared; nothing writes until all have. Returns each cluster's
/// observation and plan, or (for a cluster that failed) its outcome.
async fn observe_all(
    members: &mut [Member],
    clients: &[Traced<SdkAws>],
    kubeconfig: Option<&Kubeconfig>,
    parallel: usize,
) -> (Vec<Option<(Observed, Plan)>>, Vec<Option<Outcome>>) {
    let observations: Vec<(Connection, Result<(Observed, Plan)>)> =
        futures::stream::iter(members.iter())
            .map(|m| {
                let aws = SharedReads::new(&clients[m.client], m.reads.clone());
                async move {
                    let connection = match cluster::connect(&m.prepared, kubeconfig).await {
                        Ok(c) => c,
                        Err(e) => return (None, Err(e)),
                    };
                    let planned =
                        cluster::observe_and_plan(&m.prepared, &aws, connection.as_ref(), false)
                            .await;
                    (connection, planned)
                }
            })
            .buffered(parallel)
            .collect()
            .await;
    let mut planned = Vec::new();
    let mut outcomes = Vec::new();
    for (m, (connection, observation)) in members.iter_mut().zip(observations) {
        m.connection = connection;
        match observation {
            Ok((observed, plan)) => {
                m.prepared.known.account = Some(observed.account.id.clone());
                planned.push(Some((observed, plan)));
                outcomes.push(None);
            }
            Err(e) => {
                planned.push(None);
                outcomes.push(Some(Outcome::failed(m.prepared.known.clone(), e)));
            }
        }
    }
    (planned, outcomes)
}

/// Concludes every planned cluster: independent ones at once (`parallel`),
/// the writes they share made once; a chain one after another, each after
/// the first from a fresh observation (its plan saw the account before the
/// others wrote). Returns each concluded cluster's outcome by index.
async fn apply_all(
    members: &[Member],
    clients: &[Traced<SdkAws>],
    planned: Vec<Option<(Observed, Plan)>>,
    coordination: &coordinate::Coordination,
    parallel: usize,
) -> Vec<(usize, Outcome)> {
    let shared = SharedWrites::default();
    for key in &coordination.shared {
        shared.share(key.clone());
    }
    let options = &ApplyOptions {
        shared: Some(shared),
        ..ApplyOptions::default()
    };
    let planned = &std::cell::RefCell::new(planned);
    let concluded: Vec<Vec<(usize, Outcome)>> =
        futures::stream::iter(coordination.units(members.len()))
            .map(|unit| async move {
                let mut out = Vec::new();
                // What the chain's earlier clusters wrote to roles.
                let mut written = chain::Written::new();
                for (step, i) in unit.iter().copied().enumerate() {
                    let m = &members[i];
                    let aws = &clients[m.client];
                    let taken = planned.borrow_mut()[i].take();
                    let Some((_, mut plan)) = taken else { continue };
                    if step > 0 && m.prepared.spec.mode.writes() && plan.refusals.is_empty() {
                        let fresh = chain::observe_after(
                            &m.prepared,
                            aws,
                            m.connection.as_ref(),
                            &written,
                            options.consistency_window,
                        )
                        .await;
                        match fresh {
                            Ok((_, p)) => plan = p,
                            Err(e) => {
                                out.push((i, Outcome::failed(m.prepared.known.clone(), e)));
                                continue;
                            }
                        }
                    }
                    let mut outcome = cluster::conclude(
                        &m.prepared,
                        plan,
                        aws,
                        m.connection.as_ref(),
                        options,
                        false,
                    )
                    .await;
                    if let Some(plan) = &outcome.plan {
                        chain::record(plan, &mut written);
                    }
                    outcome.known.account = m.prepared.known.account.clone();
                    out.push((i, outcome));
                }
                out
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
    concluded.into_iter().flatten().collect()
}

/// An entry that names a cluster but no context gets the context that names
/// that cluster: its ServiceAccounts are reached through it, never through
/// whatever the current context is. Fargate alone needs no context.
fn context_of_cluster(spec: &mut ClusterSpec, kubeconfig: Option<&Kubeconfig>) -> Result<()> {
    let (None, Some(name)) = (&spec.target.context, &spec.target.cluster) else {
        return Ok(());
    };
    let kinds = effective_kinds(&spec.selection.kinds);
    if !kinds.iter().any(|k| k.is_irsa()) {
        return Ok(());
    }
    let region = spec.target.region.as_deref();
    let found = kubeconfig
        .map(|kc| target::contexts_for(kc, name, region))
        .unwrap_or_default();
    let where_ = region.map(|r| format!(" in {r}")).unwrap_or_default();
    match found.as_slice() {
        [one] => {
            spec.target.context = Some(one.clone());
            spec.context_chosen = true;
            Ok(())
        }
        [] => Err(Error::Usage(format!(
            "no kubeconfig context names cluster {name}{where_}, and its ServiceAccounts live in it: add `context:` to the entry, or run `aws eks update-kubeconfig --name {name}`"
        ))),
        many => Err(Error::Usage(format!(
            "contexts {} all name cluster {name}{where_}: say which with `context:`",
            many.join(", ")
        ))),
    }
}

/// How each cluster is named in the report: its name, with its region and
/// then its namespace where another cluster of the fleet has the same name.
fn label(members: &mut [Member]) {
    let names: Vec<(String, String, String)> = members
        .iter()
        .map(|m| {
            let p = &m.prepared;
            (
                p.target.cluster.clone(),
                p.region.clone(),
                p.target.namespace.clone(),
            )
        })
        .collect();
    for (m, (cluster, region, namespace)) in members.iter_mut().zip(&names) {
        let same_name = names.iter().filter(|(c, _, _)| c == cluster).count();
        let same_region = names
            .iter()
            .filter(|(c, r, _)| c == cluster && r == region)
            .count();
        m.label = match (same_name, same_region) {
            (1, _) => cluster.clone(),
            (_, 1) => format!("{cluster} ({region})"),
            _ => format!("{cluster} ({region}, {namespace})"),
        };
    }
}

/// Two entries for the same ServiceAccount of one cluster (or its Fargate
/// role) would fight over it.
fn duplicates(members: &[Member]) -> Vec<String> {
    let mut seen: BTreeMap<(Option<String>, String, String, String), &str> = BTreeMap::new();
    let mut out = Vec::new();
    for m in members {
        let p = &m.prepared;
        let d = &p.desired;
        let mut what: Vec<String> = d
            .irsa
            .iter()
            .map(|s| format!("{}/{}", d.namespace, s.service_account))
            .collect();
        if let Some(f) = &d.fargate {
            what.push(format!("Fargate role {}", f.role_name));
        }
        let origin = p.spec.origin.as_deref().unwrap_or("?");
        for w in what {
            let key = (
                p.spec.profile.clone(),
                p.region.clone(),
                p.target.cluster.clone(),
                w.clone(),
            );
            if let Some(first) = seen.insert(key, origin) {
                out.push(format!(
                    "{origin}: cluster {} ({}) {w} is listed already by {first}: list it once",
                    p.target.cluster, p.region
                ));
            }
        }
    }
    out
}

/// Whether the fleet's plans are for writing (a dry run shows the refusals
/// and notes its real run would have; status only reads).
fn plans_writes(members: &[Member]) -> bool {
    members
        .iter()
        .any(|m| !matches!(m.prepared.spec.mode, Mode::Status))
}

#[cfg(test)]
mod tests;
