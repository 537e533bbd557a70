//! One cluster's run, in steps a fleet can interleave: inputs checked and the
//! target worked out (no call), observe + plan, then apply and the outcome.
//! A single run goes through them in order and prints the outcome; a fleet
//! (`crate::fleet`) runs each step for every cluster before the next.

use crate::apply::{self, ApplyOptions};
use crate::aws::Aws;
use crate::cli::Selection;
use crate::cluster::Cluster;
use crate::cluster::kube::KubeCluster;
use crate::error::{Error, Result, exit};
use crate::observe::{self, Extras as ObserveExtras, Observed};
use crate::output::{Extras, KnownTarget};
use crate::plan::{self, Plan, Resource, StaleWorkload, Status};
use crate::progress::with_progress;
use crate::recipe::{
    Desired, ExpectedAccount, Identity, IdentityMode, Kind, NameOverrides, Options, WorkspaceRef,
    effective_kinds,
};
use crate::target::{self, Target, TargetArgs};
use crate::traced::Traced;
use crate::{names, template};
use kube::config::Kubeconfig;

/// What kind of run, with its flags.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Setup {
        dry_run: bool,
    },
    Status,
    Teardown {
        dry_run: bool,
    },
    /// Setup towards `to`, from the other mode.
    Migrate {
        dry_run: bool,
        to: IdentityMode,
    },
}

impl Mode {
    pub fn command(self) -> &'static str {
        match self {
            Mode::Setup { .. } => "setup",
            Mode::Status => "status",
            Mode::Teardown { .. } => "teardown",
            Mode::Migrate { .. } => "migrate",
        }
    }

    pub fn writes(self) -> bool {
        match self {
            Mode::Setup { dry_run }
            | Mode::Teardown { dry_run }
            | Mode::Migrate { dry_run, .. } => !dry_run,
            Mode::Status => false,
        }
    }
}

/// One cluster's run as the flags (or a bootstrap file's entry) give it.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Where a fleet run's entry came from (`--context a`, `fleet.yaml clusters[2]`).
    pub origin: Option<String>,
    /// The fleet chose `target.context` for an entry that names only its cluster.
    pub context_chosen: bool,
    pub target: TargetArgs,
    pub profile: Option<String>,
    pub selection: Selection,
    pub options: Options,
    pub workspace: Option<WorkspaceRef>,
    pub mode: Mode,
}

/// A spec with its inputs checked and its target worked out; nothing called yet.
pub struct Checked {
    pub spec: ClusterSpec,
    pub kinds: Vec<Kind>,
    pub target: Target,
}

/// Checks what can be checked without a call (names, templates, flags that
/// go together) and works out the cluster, region and namespace.
pub fn check(spec: ClusterSpec, kubeconfig: Option<&Kubeconfig>) -> Result<Checked> {
    let kinds = validate(&spec.selection, true)?;
    if let Some(c) = &spec.target.cluster {
        names::cluster_name(c)?;
    }
    let target = target::infer(kubeconfig, &spec.target)?;
    Ok(Checked {
        spec,
        kinds,
        target,
    })
}

/// A checked run with its region and recipe: ready to observe.
pub struct Prepared {
    pub spec: ClusterSpec,
    pub kinds: Vec<Kind>,
    pub target: Target,
    pub region: String,
    pub desired: Desired,
    pub extras: ObserveExtras,
    pub known: KnownTarget,
}

/// The recipe for one cluster in `region`, name templates expanded and checked.
pub fn prepare(
    checked: Checked,
    region: String,
    kubeconfig: Option<&Kubeconfig>,
) -> Result<Prepared> {
    let Checked {
        spec,
        kinds,
        target,
    } = checked;
    let sel = &spec.selection;
    let literal = |name: &Option<String>| name.clone().filter(|n| !template::is_template(n));
    let mut options = spec.options.clone();
    options.role_path = sel.role_path.clone();
    let mut desired = Desired::new(
        &kinds,
        &NameOverrides {
            service_account: sel.service_account.clone(),
            role_name: literal(&sel.role_name),
            policy_name: literal(&sel.policy_name),
        },
        (sel.all_regions, sel.all_clusters),
        (&target.cluster, &region, &target.namespace),
        spec.workspace.clone(),
        options,
    );
    template::apply(
        &mut desired,
        sel.role_name.as_deref(),
        sel.policy_name.as_deref(),
    )?;
    match spec.mode {
        Mode::Migrate { to, .. } => {
            desired.mode = to;
            desired.migrating = true;
        }
        _ => desired.mode = sel.mode,
    }
    desired.identity = Identity {
        account: target.account_hint.clone().map(|id| ExpectedAccount {
            id,
            from: target.source.clone(),
            credentials: credentials_source(spec.profile.as_deref()),
        }),
        api_server: match desired.irsa.is_empty() {
            true => None,
            false => kubeconfig.and_then(|kc| target::api_server(kc, target.context.as_deref())),
        },
        context_chosen: spec.context_chosen,
    };
    let extras = match spec.mode {
        Mode::Teardown { .. } => ObserveExtras {
            role_trusts: desired.options.include_oidc_provider,
        },
        _ => ObserveExtras::default(),
    };
    let known = KnownTarget {
        command: Some(spec.mode.command()),
        context: target.context.clone(),
        cluster: Some(target.cluster.clone()),
        region: Some(region.clone()),
        account: target.account_hint.clone(),
        namespace: Some(target.namespace.clone()),
    };
    Ok(Prepared {
        spec,
        kinds,
        target,
        region,
        desired,
        extras,
        known,
    })
}

/// The Kubernetes connection the run needs (None: Fargate alone needs only AWS).
pub async fn connect(
    p: &Prepared,
    kubeconfig: Option<&Kubeconfig>,
) -> Result<Option<Traced<KubeCluster>>> {
    match (kubeconfig, p.desired.irsa.is_empty()) {
        (_, true) => Ok(None),
        (Some(kc), false) => Ok(Some(Traced(
            KubeCluster::connect(kc.clone(), p.target.context.as_deref()).await?,
        ))),
        (None, false) => Err(Error::Kubeconfig {
            path: "(none found)".into(),
            reason: "the ServiceAccounts need a cluster connection".into(),
        }),
    }
}

/// Observes what the recipe is about and plans from it; the trust quota is
/// read (and the plan made again) only when a planned trust is over IAM's default.
pub async fn observe_and_plan<A: Aws, C: Cluster>(
    p: &Prepared,
    aws: &A,
    cluster: Option<&C>,
    progress: bool,
) -> Result<(Observed, Plan)> {
    let mut observed = with_progress(
        progress,
        &mut std::io::stderr(),
        "reading AWS and the cluster",
        observe::observe(aws, cluster, &p.desired, p.extras),
    )
    .await?;
    let mut plan = make_plan(p, &observed);
    if plan.needs_trust_quota {
        observe::read_trust_quota(aws, &mut observed).await?;
        plan = make_plan(p, &observed);
    }
    Ok((observed, plan))
}

/// The plan for `observed`: a pure function of the recipe and the observation.
pub fn make_plan(p: &Prepared, observed: &Observed) -> Plan {
    let mut plan = match p.spec.mode {
        Mode::Teardown { .. } => plan::teardown(&p.desired, observed),
        Mode::Migrate { .. } => {
            let mut plan = plan::setup(&p.desired, observed);
            plan.command = "migrate";
            plan
        }
        _ => plan::setup(&p.desired, observed),
    };
    if let Mode::Status = p.spec.mode {
        plan.command = "status";
    }
    plan
}

/// What one cluster's run came to: its plan (when it got that far), what
/// to print beside it, the error, and the exit code.
pub struct Outcome {
    pub plan: Option<Plan>,
    pub extras: Extras,
    pub error: Option<Error>,
    pub code: i32,
    pub known: KnownTarget,
}

impl Outcome {
    pub fn failed(known: KnownTarget, error: Error) -> Outcome {
        Outcome {
            plan: None,
            extras: Extras::default(),
            code: error.exit_code(),
            error: Some(error),
            known,
        }
    }
}

/// Reports a status, a dry run or a refusal, or applies the plan.
pub async fn conclude<A: Aws, C: Cluster>(
    p: &Prepared,
    mut plan: Plan,
    aws: &A,
    cluster: Option<&C>,
    options: &ApplyOptions,
    progress: bool,
) -> Outcome {
    let known = p.known.clone();
    let dry_run = match p.spec.mode {
        Mode::Setup { dry_run } | Mode::Teardown { dry_run } | Mode::Migrate { dry_run, .. } => {
            dry_run
        }
        Mode::Status => {
            let fix = fix_command(&p.spec, &p.kinds, &plan);
            let code = if plan.is_converged() {
                exit::OK
            } else {
                exit::DRIFT
            };
            return Outcome {
                plan: Some(plan),
                extras: Extras {
                    fix: Some(fix),
                    hints: Vec::new(),
                },
                error: None,
                code,
                known,
            };
        }
    };
    plan.dry_run = dry_run;
    let refused = (!plan.refusals.is_empty()).then(|| Error::Refused(plan.refusals.clone()));
    if dry_run || refused.is_some() {
        let code = refused.as_ref().map_or(exit::OK, Error::exit_code);
        return Outcome {
            plan: Some(plan),
            extras: Extras::default(),
            error: refused,
            code,
            known,
        };
    }
    let result = with_progress(
        progress,
        &mut std::io::stderr(),
        "applying",
        apply::apply(&mut plan, aws, cluster, options),
    )
    .await;
    let code = result.as_ref().map_or_else(Error::exit_code, |()| exit::OK);
    let extras = Extras {
        fix: None,
        hints: hints(&plan),
    };
    Outcome {
        plan: Some(plan),
        extras,
        error: result.err(),
        code,
        known,
    }
}

/// Checks flags that clap cannot: name rules, and overrides only with one
/// KIND (a name template with `{kind}` serves several).
pub fn validate(sel: &Selection, templates: bool) -> Result<Vec<Kind>> {
    let kinds = effective_kinds(&sel.kinds);
    let overrides = [
        ("--service-account", &sel.service_account),
        ("--role-name", &sel.role_name),
        ("--policy-name", &sel.policy_name),
    ];
    for (flag, value) in overrides {
        let Some(value) = value else { continue };
        if template::is_template(value) && flag != "--service-account" {
            if !templates {
                return Err(Error::Usage(format!(
                    "{flag} {value:?} is a name template, which only setup, status, teardown and migrate expand: give the name itself"
                )));
            }
            template::check(
                value,
                if flag == "--role-name" {
                    "role name"
                } else {
                    "policy name"
                },
            )?;
            if template::varies_by_kind(value) {
                continue;
            }
        }
        if kinds.len() != 1 {
            return Err(Error::Usage(format!(
                "{flag} names one resource: give exactly one KIND with it (e.g. `setup ingest {flag} ...`), or a template with {{kind}} in it"
            )));
        }
    }
    if kinds == [Kind::Fargate] && (sel.service_account.is_some() || sel.policy_name.is_some()) {
        return Err(Error::Usage(
            "--service-account and --policy-name do not apply to fargate (its policy is AWS managed)".into(),
        ));
    }
    if (sel.all_regions || sel.all_clusters) && !kinds.contains(&Kind::Fargate) {
        return Err(Error::Usage(
            "--all-regions and --all-clusters apply to the fargate KIND only".into(),
        ));
    }
    if let Some(sa) = &sel.service_account {
        names::service_account(sa)?;
    }
    if let Some(r) = sel
        .role_name
        .as_deref()
        .filter(|r| !template::is_template(r))
    {
        names::role_name(r)?;
    }
    if let Some(p) = sel
        .policy_name
        .as_deref()
        .filter(|p| !template::is_template(p))
    {
        names::policy_name(p)?;
    }
    if let Some(ws) = &sel.workspace {
        match WorkspaceRef::parse(ws, false) {
            WorkspaceRef::Id(id) => names::workspace_id(&id)?,
            WorkspaceRef::Alias { alias, .. } => names::workspace_alias(&alias)?,
        }
    }
    names::iam_path(&sel.role_path)?;
    Ok(kinds)
}

/// Where the AWS credentials come from, as far as the run can tell, for the
/// wrong-account refusal. Never the credentials themselves.
pub fn credentials_source(profile: Option<&str>) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(p) = profile {
        return format!("--profile {p}");
    }
    if env("AWS_ACCESS_KEY_ID").is_some() {
        return "AWS_ACCESS_KEY_ID in the environment".to_string();
    }
    if let Some(p) = env("AWS_PROFILE") {
        return format!("AWS_PROFILE={p}");
    }
    if let Some(r) = env("AWS_ROLE_ARN") {
        return format!("web identity AWS_ROLE_ARN={r}");
    }
    "the default credential chain (default profile, SSO, instance or pod role)".to_string()
}

/// The setup command that fixes what `status` found, with the same target flags.
fn fix_command(spec: &ClusterSpec, kinds: &[Kind], plan: &Plan) -> String {
    let t = &spec.target;
    let sel = &spec.selection;
    let mut cmd = String::from("kubectl amp-iam setup");
    for k in kinds {
        cmd.push(' ');
        cmd.push_str(k.as_str());
    }
    for (flag, value) in [
        ("--context", &t.context),
        ("--cluster", &t.cluster),
        ("--region", &t.region),
    ] {
        if let Some(v) = value {
            cmd.push_str(&format!(" {flag} {v}"));
        }
    }
    // The same names, or the fix would make the guide's instead.
    for (flag, value) in [
        ("--service-account", &sel.service_account),
        ("--role-name", &sel.role_name),
        ("--policy-name", &sel.policy_name),
        ("--profile", &spec.profile),
    ] {
        if let Some(v) = value {
            cmd.push_str(&format!(" {flag} {}", shell_word(v)));
        }
    }
    if sel.role_path != "/" {
        cmd.push_str(&format!(" --role-path {}", shell_word(&sel.role_path)));
    }
    if kinds.iter().any(|k| k.is_irsa()) {
        cmd.push_str(&format!(" -n {}", plan.namespace));
        if plan.mode == IdentityMode::PodIdentity {
            cmd.push_str(" --mode pod-identity");
        }
    }
    if let Some(ws) = plan.workspace.as_ref().and_then(|w| w.id.as_ref()) {
        cmd.push_str(&format!(" --workspace {ws}"));
    }
    if !plan.refusals.is_empty() {
        cmd.push_str(" --overwrite");
    }
    if plan.workloads.iter().any(StaleWorkload::restartable) {
        cmd.push_str(" --restart");
    }
    cmd
}

/// A value as one shell word: quoted when it holds more than name characters
/// (a template's braces).
fn shell_word(v: &str) -> String {
    let plain = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,+".contains(c));
    if plain && !v.is_empty() {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// Next steps after an applied setup.
fn hints(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if plan.command != "setup" && plan.command != "migrate" {
        return out;
    }
    let touched: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.resource == Resource::ServiceAccount && c.status == Status::Applied)
        .map(|c| c.name.as_str())
        .collect();
    let waiting: Vec<String> = plan
        .workloads
        .iter()
        .filter(|w| w.action == "none")
        .map(StaleWorkload::id)
        .collect();
    if !waiting.is_empty() {
        out.push(format!(
            "Pods read {} only when they start, and these run without the role: {}. Restart them with `kubectl amp-iam setup --restart -n {}`, or e.g.\n  kubectl rollout restart -n {} {}",
            crate::recipe::ROLE_ARN_ANNOTATION,
            waiting.join(", "),
            plan.namespace,
            plan.namespace,
            waiting[0]
        ));
    } else if !touched.is_empty() && plan.workloads.is_empty() {
        out.push(format!(
            "No running pod uses {} yet: pods that start from now on get the role.",
            touched.join(", ")
        ));
    }
    if let Some(f) = plan.kinds.get(&Kind::Fargate) {
        out.push(format!(
            "Create a Fargate profile with this role:\n  aws eks create-fargate-profile --cluster-name {} --region {} --fargate-profile-name <name> --pod-execution-role-arn {} --selectors namespace=<namespace>",
            plan.cluster, plan.region, f.role_arn
        ));
    }
    out
}
