//! One run of the tool: flags → target(s) → observe → plan → (apply) → output.
//! One cluster's steps are in [`cluster`]; many clusters in one run are
//! `crate::fleet`'s; the commands that plan nothing are in [`tools`].

pub mod cluster;
mod tools;

use crate::apply::ApplyOptions;
use crate::aws::sdk::SdkAws;
use crate::cli::{Cli, Command, FleetArgs, GlobalArgs};
use crate::error::{Error, Result, exit};
use crate::fleet;
use crate::output::{self, Format, KnownTarget};
use crate::recipe::{
    IdentityMode, Kind, OWN_TAG_KEYS, Options, STS_REGIONAL_ANNOTATION,
    TOKEN_EXPIRATION_ANNOTATION, WorkspaceRef,
};
use crate::traced::Traced;
use crate::{completion, names, target};
use aws_config::SdkConfig;
use cluster::{ClusterSpec, Mode, Outcome};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

/// Runs the parsed command line; returns the process exit code. Errors are
/// printed on stderr as one line (plus a list where several things failed);
/// with `-o json|yaml` stdout still gets exactly one document, an error
/// document when no plan was printed.
pub async fn run(cli: Cli) -> i32 {
    let mut known = Known::new(command_name(&cli.command));
    match execute(&cli, &mut known).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let code = e.exit_code();
            if !known.printed && cli.global.output != Format::Text {
                let doc = output::error_document(&known.target, &e, code);
                // stdout may be gone (a closed pipe): the exit code still tells.
                let _ = render_document(&doc, cli.global.output).and_then(|t| write_stdout(&t));
            }
            code
        }
    }
}

/// A usage error from clap: its message on stderr as clap prints it, and with
/// `-o json|yaml` among the arguments an error document on stdout. Returns
/// the exit code (2; 0 for --help and --version, which clap prints itself).
pub fn usage_error(e: &clap::Error, args: &[std::ffi::OsString]) -> i32 {
    use clap::error::ErrorKind;
    let code = e.exit_code();
    let _ = e.print();
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return code;
    }
    if let Some(format) = output::format_in_args(args) {
        let message = e.render().to_string();
        let message = message
            .lines()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_string())
            .unwrap_or_else(|| message.trim().to_string());
        let doc = output::error_document(
            &output::KnownTarget::default(),
            &Error::Usage(message),
            code,
        );
        let _ = render_document(&doc, format).and_then(|t| write_stdout(&t));
    }
    code
}

/// What a run has learnt of its target so far, for the error document.
struct Known {
    target: output::KnownTarget,
    /// A plan document (carrying any error) is on stdout already.
    printed: bool,
}

impl Known {
    fn new(command: &'static str) -> Known {
        Known {
            target: output::KnownTarget {
                command: Some(command),
                ..output::KnownTarget::default()
            },
            printed: false,
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Setup(_) => "setup",
        Command::Status(_) => "status",
        Command::Teardown(_) => "teardown",
        Command::Permissions(_) => "permissions",
        Command::Values(_) => "values",
        Command::Completion(_) => "completion",
        Command::Migrate(_) => "migrate",
        Command::Export(_) => "export",
    }
}

async fn execute(cli: &Cli, known: &mut Known) -> Result<i32> {
    let g = &cli.global;
    let no_fleet = FleetArgs::default();
    let named_workspace = |sel: &crate::cli::Selection| {
        sel.workspace
            .as_deref()
            .map(|w| WorkspaceRef::parse(w, false))
    };
    let (fleet_args, selection, options, workspace, mode) = match &cli.command {
        Command::Setup(a) => {
            // Every input is checked before anything is read or written.
            let tags = names::tags(&a.tags, &OWN_TAG_KEYS)?;
            if let Some(b) = &a.permissions_boundary {
                names::permissions_boundary(b)?;
            }
            let mut sa_annotations = BTreeMap::new();
            if a.sts_regional_endpoints {
                sa_annotations.insert(STS_REGIONAL_ANNOTATION.to_string(), "true".to_string());
            }
            if let Some(secs) = a.token_expiration {
                sa_annotations.insert(TOKEN_EXPIRATION_ANNOTATION.to_string(), secs.to_string());
            }
            if a.selection.mode == IdentityMode::PodIdentity && !sa_annotations.is_empty() {
                return Err(Error::Usage(
                    "--sts-regional-endpoints and --token-expiration are IRSA's (the pod identity webhook reads them): leave them out with --mode pod-identity".into(),
                ));
            }
            if a.install_agent && a.selection.mode != IdentityMode::PodIdentity {
                return Err(Error::Usage(
                    "--install-agent is for --mode pod-identity (the agent serves Pod Identity credentials)".into(),
                ));
            }
            let options = Options {
                overwrite: a.overwrite,
                harden: a.harden,
                tags,
                permissions_boundary: a.permissions_boundary.clone(),
                restart: a.restart,
                restart_bare_pods: a.force,
                sa_annotations,
                install_agent: a.install_agent,
                ..Options::default()
            };
            let workspace = match &a.create_workspace {
                Some(alias) => {
                    names::workspace_alias(alias)?;
                    Some(WorkspaceRef::Alias {
                        alias: alias.clone(),
                        create: true,
                    })
                }
                None => named_workspace(&a.selection),
            };
            (
                &a.fleet,
                &a.selection,
                options,
                workspace,
                Mode::Setup { dry_run: a.dry_run },
            )
        }
        Command::Status(a) => (
            &a.fleet,
            &a.selection,
            Options::default(),
            named_workspace(&a.selection),
            Mode::Status,
        ),
        Command::Teardown(a) => {
            let options = Options {
                force: a.force,
                include_oidc_provider: a.include_oidc_provider,
                include_workspace: a.include_workspace,
                ..Options::default()
            };
            // Teardown takes an alias that may be gone already (absence is its goal).
            let workspace =
                a.selection
                    .workspace
                    .as_deref()
                    .map(|w| match WorkspaceRef::parse(w, false) {
                        WorkspaceRef::Alias { alias, .. } => WorkspaceRef::Alias {
                            alias,
                            create: true,
                        },
                        id => id,
                    });
            (
                &a.fleet,
                &a.selection,
                options,
                workspace,
                Mode::Teardown { dry_run: a.dry_run },
            )
        }
        Command::Migrate(a) => {
            if a.selection.kinds.contains(&Kind::Fargate) {
                return Err(Error::Usage(
                    "migrate moves ingest and query between IRSA and Pod Identity; the fargate KIND has neither".into(),
                ));
            }
            let options = Options {
                overwrite: a.overwrite,
                install_agent: a.install_agent,
                restart: a.restart,
                remove_old_trust: a.remove_old_trust,
                ..Options::default()
            };
            let workspace = a
                .selection
                .workspace
                .as_deref()
                .map(|w| WorkspaceRef::parse(w, false));
            (
                &no_fleet,
                &a.selection,
                options,
                workspace,
                Mode::Migrate {
                    dry_run: a.dry_run,
                    to: a.to,
                },
            )
        }
        Command::Export(a) => return tools::export_manifests(g, a).await,
        Command::Permissions(a) => return tools::print_permissions(g, a),
        Command::Values(a) => return tools::print_values(g, a).await,
        Command::Completion(a) => {
            write_stdout(&completion::script(a.shell))?;
            return Ok(exit::OK);
        }
    };
    let spec = ClusterSpec {
        origin: None,
        context_chosen: false,
        target: fleet_target_args(g),
        profile: g.profile.clone(),
        selection: selection.clone(),
        options,
        workspace,
        mode,
    };
    converge(g, fleet_args, spec, known).await
}

/// A setup, status, teardown or migrate: one cluster, or a fleet when the
/// flags name several (`--context` twice, `--all-contexts`, `-f`).
async fn converge(
    g: &GlobalArgs,
    fleet_args: &FleetArgs,
    spec: ClusterSpec,
    known: &mut Known,
) -> Result<i32> {
    if fleet::is_fleet(g, fleet_args) {
        // One kubeconfig for the whole fleet: its contexts and connections.
        let kubeconfig = target::load_kubeconfig(g.kubeconfig.as_deref())?;
        let specs = fleet::specs(g, fleet_args, &spec, kubeconfig.as_ref())?;
        return fleet::run(g, fleet_args, specs, kubeconfig.as_ref()).await;
    }
    let outcome = converge_one(g, spec).await;
    Ok(report(&outcome, g.output, known))
}

/// One cluster, start to end; any failure becomes the outcome.
async fn converge_one(g: &GlobalArgs, spec: ClusterSpec) -> Outcome {
    let mut known = KnownTarget {
        command: Some(spec.mode.command()),
        ..KnownTarget::default()
    };
    match converge_steps(g, spec, &mut known).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::failed(known, e),
    }
}

async fn converge_steps(
    g: &GlobalArgs,
    spec: ClusterSpec,
    known: &mut KnownTarget,
) -> Result<Outcome> {
    // Target first: a run that cannot tell its cluster fails before any AWS call.
    let kubeconfig = target::load_kubeconfig(g.kubeconfig.as_deref())?;
    let checked = cluster::check(spec, kubeconfig.as_ref())?;
    known.context = checked.target.context.clone();
    known.cluster = Some(checked.target.cluster.clone());
    known.region = checked.target.region.clone();
    known.namespace = Some(checked.target.namespace.clone());
    known.account = checked.target.account_hint.clone();
    let (config, region) = aws_config(
        checked.spec.profile.as_deref(),
        checked.target.region.as_deref(),
        &checked.target.source,
    )
    .await?;
    known.region = Some(region.clone());
    let prepared = cluster::prepare(checked, region, kubeconfig.as_ref())?;
    let aws = Traced(SdkAws::new(&config));
    let connection = cluster::connect(&prepared, kubeconfig.as_ref()).await?;
    let progress = progress(g);
    let (observed, plan) =
        cluster::observe_and_plan(&prepared, &aws, connection.as_ref(), progress).await?;
    known.account = Some(observed.account.id.clone());
    let mut outcome = cluster::conclude(
        &prepared,
        plan,
        &aws,
        connection.as_ref(),
        &ApplyOptions::default(),
        progress,
    )
    .await;
    outcome.known.account = known.account.clone();
    Ok(outcome)
}

/// A spinner on stderr only for people at a terminal.
fn progress(g: &GlobalArgs) -> bool {
    g.output == Format::Text && g.verbose == 0 && std::io::stderr().is_terminal()
}

/// Prints one cluster's outcome: the plan document (carrying the error) or
/// an error document on stdout, the error on stderr. Returns the exit code.
fn report(outcome: &Outcome, format: Format, known: &mut Known) -> i32 {
    if let Some(plan) = &outcome.plan {
        let printed = output::render(
            plan,
            format,
            &outcome.extras,
            outcome.error.as_ref(),
            outcome.code,
        )
        .and_then(|text| write_stdout(&text));
        known.printed = true;
        if let Err(e) = printed {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    }
    if let Some(e) = &outcome.error {
        eprintln!("error: {e}");
        if outcome.plan.is_none() && format != Format::Text {
            let doc = output::error_document(&outcome.known, e, outcome.code);
            let _ = render_document(&doc, format).and_then(|t| write_stdout(&t));
            known.printed = true;
        }
    }
    outcome.code
}

pub(crate) fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Output(e.to_string()))
}

/// JSON, or YAML with `-o yaml`.
pub(crate) fn render_document(doc: &serde_json::Value, format: Format) -> Result<String> {
    match format {
        Format::Yaml => output::to_yaml(doc),
        _ => output::to_json(doc),
    }
}

/// The AWS configuration (`--profile`, the standard chain) and the region:
/// `region` (flag or kubeconfig context), else the configuration's; an error
/// naming `--region` when there is none.
pub(crate) async fn aws_config(
    profile: Option<&str>,
    region: Option<&str>,
    from: &str,
) -> Result<(SdkConfig, String)> {
    let config = SdkAws::load_config(profile, region).await;
    match config.region().map(|r| r.to_string()) {
        Some(region) => Ok((config, region)),
        None => Err(Error::TargetUnknown {
            what: "region",
            from: format!("{from} or the AWS configuration"),
            flag: "region",
        }),
    }
}

/// The target flags of setup, status, teardown or migrate: with several
/// `--context`s (a fleet), `crate::fleet::specs` gives each cluster its own.
pub(crate) fn fleet_target_args(g: &GlobalArgs) -> target::TargetArgs {
    target::TargetArgs {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.first().cloned(),
        namespace: g.namespace.clone(),
        cluster: g.cluster.clone(),
        region: g.region.clone(),
    }
}

/// The target flags of a one-cluster command (`--context` at most once).
fn target_args(g: &GlobalArgs) -> Result<target::TargetArgs> {
    let context = match g.context.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [first, ..] => {
            return Err(Error::Usage(format!(
                "--context is given {} times, but this command works on one cluster: keep one (setup, status and teardown take several, e.g. --context {first} --context …)",
                g.context.len()
            )));
        }
    };
    Ok(target::TargetArgs {
        kubeconfig: g.kubeconfig.clone(),
        context,
        namespace: g.namespace.clone(),
        cluster: g.cluster.clone(),
        region: g.region.clone(),
    })
}

/// Logging for `-v`: only this crate's events (never the SDK's wire logs,
/// which could carry signed headers).
pub fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "amp_iam=debug",
        _ => "amp_iam=trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(level);
    // Colour only on a terminal, and never with NO_COLOR (https://no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .without_time()
        .try_init();
}
