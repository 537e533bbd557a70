//! One run of the tool: flags → target → observe → plan → (apply) → output.

use crate::apply::{self, ApplyOptions};
use crate::arn::Account;
use crate::aws::Aws;
use crate::aws::sdk::SdkAws;
use crate::aws::{EksCluster, Workspace};
use crate::cli::{Cli, Command, ExportArgs, GlobalArgs, PermissionsArgs, Selection, ValuesArgs};
use crate::cluster::kube::KubeCluster;
use crate::error::{Error, Result, exit};
use crate::observe::{self, Extras as ObserveExtras};
use crate::output::{self, Extras, Format};
use crate::plan::{self, Plan, Resource, StaleWorkload, Status, WorkspaceSummary};
use crate::progress::with_progress;
use crate::recipe::{
    Desired, ExpectedAccount, Identity, IdentityMode, IrsaSpec, Kind, NameOverrides, OWN_TAG_KEYS,
    Options, STS_REGIONAL_ANNOTATION, TOKEN_EXPIRATION_ANNOTATION, WorkspaceRef, effective_kinds,
};
use crate::traced::Traced;
use crate::{completion, names, permissions, target, values};
use aws_config::SdkConfig;
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

/// What kind of run, with its flags.
#[derive(Clone, Copy)]
enum Mode {
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

async fn execute(cli: &Cli, known: &mut Known) -> Result<i32> {
    let g = &cli.global;
    match &cli.command {
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
                None => a
                    .selection
                    .workspace
                    .as_deref()
                    .map(|w| WorkspaceRef::parse(w, false)),
            };
            converge(
                g,
                &a.selection,
                options,
                workspace,
                Mode::Setup { dry_run: a.dry_run },
                known,
            )
            .await
        }
        Command::Status(a) => {
            let workspace = a
                .selection
                .workspace
                .as_deref()
                .map(|w| WorkspaceRef::parse(w, false));
            converge(
                g,
                &a.selection,
                Options::default(),
                workspace,
                Mode::Status,
                known,
            )
            .await
        }
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
            converge(
                g,
                &a.selection,
                options,
                workspace,
                Mode::Teardown { dry_run: a.dry_run },
                known,
            )
            .await
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
            converge(
                g,
                &a.selection,
                options,
                workspace,
                Mode::Migrate {
                    dry_run: a.dry_run,
                    to: a.to,
                },
                known,
            )
            .await
        }
        Command::Export(a) => export_manifests(g, a).await,
        Command::Permissions(a) => print_permissions(g, a),
        Command::Values(a) => print_values(g, a).await,
        Command::Completion(a) => {
            write_stdout(&completion::script(a.shell))?;
            Ok(exit::OK)
        }
    }
}

/// Checks flags that clap cannot: name rules, and overrides only with one KIND.
fn validate(sel: &Selection) -> Result<Vec<Kind>> {
    let kinds = effective_kinds(&sel.kinds);
    let overrides = [
        ("--service-account", &sel.service_account),
        ("--role-name", &sel.role_name),
        ("--policy-name", &sel.policy_name),
    ];
    if let Some((flag, _)) = overrides.iter().find(|(_, v)| v.is_some()) {
        if kinds.len() != 1 {
            return Err(Error::Usage(format!(
                "{flag} names one resource: give exactly one KIND with it (e.g. `setup ingest {flag} ...`)"
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
    if let Some(r) = &sel.role_name {
        names::role_name(r)?;
    }
    if let Some(p) = &sel.policy_name {
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

async fn converge(
    g: &GlobalArgs,
    sel: &Selection,
    mut options: Options,
    workspace: Option<WorkspaceRef>,
    mode: Mode,
    known: &mut Known,
) -> Result<i32> {
    let kinds = validate(sel)?;
    if let Some(c) = &g.cluster {
        names::cluster_name(c)?;
    }
    options.role_path = sel.role_path.clone();

    // Target first: a run that cannot tell its cluster fails before any AWS call.
    let kubeconfig = target::load_kubeconfig(g.kubeconfig.as_deref())?;
    let target = target::infer(kubeconfig.as_ref(), &target_args(g))?;
    known.target.context = target.context.clone();
    known.target.cluster = Some(target.cluster.clone());
    known.target.region = target.region.clone();
    known.target.namespace = Some(target.namespace.clone());
    known.target.account = target.account_hint.clone();
    let (config, region) = aws_config(g, target.region.as_deref(), &target.source).await?;
    known.target.region = Some(region.clone());
    let aws = Traced(SdkAws::new(&config));

    let mut desired = Desired::new(
        &kinds,
        &NameOverrides {
            service_account: sel.service_account.clone(),
            role_name: sel.role_name.clone(),
            policy_name: sel.policy_name.clone(),
        },
        (sel.all_regions, sel.all_clusters),
        (&target.cluster, &region, &target.namespace),
        workspace,
        options,
    );
    match mode {
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
            credentials: credentials_source(g),
        }),
        api_server: match desired.irsa.is_empty() {
            true => None,
            false => kubeconfig
                .as_ref()
                .and_then(|kc| target::api_server(kc, target.context.as_deref())),
        },
    };

    // ServiceAccounts live in the cluster; Fargate alone needs only AWS.
    let cluster = match (&kubeconfig, desired.irsa.is_empty()) {
        (_, true) => None,
        (Some(kc), false) => Some(Traced(
            KubeCluster::connect(kc.clone(), target.context.as_deref()).await?,
        )),
        (None, false) => {
            return Err(Error::Kubeconfig {
                path: "(none found)".into(),
                reason: "the ServiceAccounts need a cluster connection".into(),
            });
        }
    };

    let extras = match mode {
        Mode::Teardown { .. } => ObserveExtras {
            role_trusts: desired.options.include_oidc_provider,
        },
        _ => ObserveExtras::default(),
    };
    let progress = g.output == Format::Text && g.verbose == 0 && std::io::stderr().is_terminal();
    let mut observed = with_progress(
        progress,
        &mut std::io::stderr(),
        "reading AWS and the cluster",
        observe::observe(&aws, cluster.as_ref(), &desired, extras),
    )
    .await?;
    known.target.account = Some(observed.account.id.clone());

    let make_plan = |observed: &observe::Observed| match mode {
        Mode::Teardown { .. } => plan::teardown(&desired, observed),
        Mode::Migrate { .. } => {
            let mut plan = plan::setup(&desired, observed);
            plan.command = "migrate";
            plan
        }
        _ => plan::setup(&desired, observed),
    };
    let mut plan = make_plan(&observed);
    // A trust over IAM's default: judge it by the account's real quota.
    if plan.needs_trust_quota {
        observe::read_trust_quota(&aws, &mut observed).await?;
        plan = make_plan(&observed);
    }

    let dry_run = match mode {
        Mode::Setup { dry_run } | Mode::Teardown { dry_run } | Mode::Migrate { dry_run, .. } => {
            dry_run
        }
        Mode::Status => {
            plan.command = "status";
            let fix = fix_command(g, &kinds, &plan);
            let code = if plan.is_converged() {
                exit::OK
            } else {
                exit::DRIFT
            };
            print(
                &plan,
                g,
                &Extras {
                    fix: Some(fix),
                    hints: Vec::new(),
                },
                None,
                code,
                known,
            )?;
            return Ok(code);
        }
    };
    plan.dry_run = dry_run;
    let refused = (!plan.refusals.is_empty()).then(|| Error::Refused(plan.refusals.clone()));
    if dry_run || refused.is_some() {
        let code = refused.as_ref().map_or(exit::OK, Error::exit_code);
        print(&plan, g, &Extras::default(), refused.as_ref(), code, known)?;
        return match refused {
            Some(e) => Err(e),
            None => Ok(exit::OK),
        };
    }
    let result = with_progress(
        progress,
        &mut std::io::stderr(),
        "applying",
        apply::apply(&mut plan, &aws, cluster.as_ref(), &ApplyOptions::default()),
    )
    .await;
    let code = result.as_ref().map_or_else(Error::exit_code, |()| exit::OK);
    print(
        &plan,
        g,
        &Extras {
            fix: None,
            hints: hints(&plan),
        },
        result.as_ref().err(),
        code,
        known,
    )?;
    result.map(|()| exit::OK)
}

/// Where the AWS credentials come from, as far as the run can tell, for the
/// wrong-account refusal. Never the credentials themselves.
fn credentials_source(g: &GlobalArgs) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(p) = &g.profile {
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

/// The plan on stdout, with the run's error and exit code in the document.
fn print(
    plan: &Plan,
    g: &GlobalArgs,
    extras: &Extras,
    error: Option<&Error>,
    exit_code: i32,
    known: &mut Known,
) -> Result<()> {
    let text = output::render(plan, g.output, extras, error, exit_code)?;
    known.printed = true;
    write_stdout(&text)
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Output(e.to_string()))
}

/// JSON, or YAML with `-o yaml`.
fn render_document(doc: &serde_json::Value, format: Format) -> Result<String> {
    match format {
        Format::Yaml => output::to_yaml(doc),
        _ => output::to_json(doc),
    }
}

/// `permissions`: the operator's IAM policy on stdout (JSON unless `-o
/// yaml`), the Kubernetes RBAC on stderr. No AWS call, no kubeconfig.
fn print_permissions(g: &GlobalArgs, a: &PermissionsArgs) -> Result<i32> {
    let kinds = validate(&Selection {
        kinds: a.kinds.clone(),
        service_account: None,
        role_name: a.role_name.clone(),
        policy_name: a.policy_name.clone(),
        workspace: None,
        role_path: a.role_path.clone(),
        all_regions: false,
        all_clusters: false,
        mode: IdentityMode::Irsa,
    })?;
    if let Some(account) = &a.account {
        names::account_id(account)?;
    }
    names::partition(&a.partition)?;
    if let Some(r) = g.region.as_deref().filter(|r| !names::region(r)) {
        return Err(Error::InvalidName {
            what: "region",
            value: r.to_owned(),
            why: names::REGION_RULE.to_owned(),
        });
    }
    if let Some(ns) = &g.namespace {
        names::namespace(ns)?;
    }
    let doc = permissions::policy_for(
        &permissions::Request {
            kinds: kinds.clone(),
            names: NameOverrides {
                service_account: None,
                role_name: a.role_name.clone(),
                policy_name: a.policy_name.clone(),
            },
            role_path: a.role_path.clone(),
            teardown: a.teardown,
            account: a.account.clone(),
            partition: a.partition.clone(),
            region: g.region.clone(),
            cluster: g.cluster.clone(),
        },
        a.mode == IdentityMode::PodIdentity,
    );
    write_stdout(&render_document(&doc, g.output)?)?;
    let rules = permissions::rbac_rules(&kinds, a.teardown);
    eprint!("{}", permissions::rbac_note(&rules, g.namespace.as_deref()));
    Ok(exit::OK)
}

/// `values`: Helm values for Prometheus (YAML unless `-o json`), notes on stderr.
/// The region and namespace come as for setup; the account from `--account`,
/// else STS GetCallerIdentity (the only AWS call).
async fn print_values(g: &GlobalArgs, a: &ValuesArgs) -> Result<i32> {
    validate(&Selection {
        kinds: vec![Kind::Ingest],
        service_account: a.service_account.clone(),
        role_name: a.role_name.clone(),
        policy_name: None,
        workspace: a.workspace.clone(),
        role_path: a.role_path.clone(),
        all_regions: false,
        all_clusters: false,
        mode: IdentityMode::Irsa,
    })?;
    if let Some(account) = &a.account {
        names::account_id(account)?;
    }
    if let Some(p) = &a.partition {
        names::partition(p)?;
    }

    // The values need no cluster name: without one, the region comes from
    // --region or the AWS configuration.
    let kubeconfig = target::load_kubeconfig(g.kubeconfig.as_deref())?;
    let (region, namespace) = match target::infer(kubeconfig.as_ref(), &target_args(g)) {
        Ok(t) => (t.region, t.namespace),
        Err(Error::TargetUnknown { .. }) => {
            let ns = g.namespace.clone().unwrap_or_else(|| "default".into());
            names::namespace(&ns)?;
            (g.region.clone(), ns)
        }
        Err(e) => return Err(e),
    };
    let (config, region) = aws_config(g, region.as_deref(), "the kubeconfig context").await?;
    // --account: no AWS call at all (an id gives AWS's documented URL); else
    // the caller's account, and the workspace looked up for its real endpoint.
    let (account, workspace, remote_write_url) = match &a.account {
        Some(id) => {
            let account = Account {
                id: id.clone(),
                partition: a.partition.clone().unwrap_or_else(|| "aws".into()),
            };
            let workspace = match a
                .workspace
                .as_deref()
                .map(|w| WorkspaceRef::parse(w, false))
            {
                Some(WorkspaceRef::Alias { alias, .. }) => {
                    return Err(Error::Usage(format!(
                        "--workspace {alias:?} is an alias, which needs a lookup in AWS: drop --account, or pass the workspace id (ws-…)"
                    )));
                }
                Some(WorkspaceRef::Id(id)) => Some(id),
                None => None,
            };
            (account, workspace, None)
        }
        None => {
            let aws = Traced(SdkAws::new(&config));
            let wanted = a
                .workspace
                .as_deref()
                .map(|w| WorkspaceRef::parse(w, false));
            // The caller and the workspaces in one round: neither needs the other.
            let (caller, found) = futures::try_join!(
                async { Ok::<_, Error>(aws.caller().await?) },
                lookup_workspaces(&aws, wanted.as_ref()),
            )?;
            let account = Account::of_caller(&caller);
            let found = values_workspace(&aws, wanted.as_ref(), found, &region, &account).await?;
            let url = found
                .as_ref()
                .and_then(|w| WorkspaceSummary::of(w).remote_write_url);
            (account, found.map(|w| w.id), url)
        }
    };
    let spec = IrsaSpec::new(
        Kind::Ingest,
        &NameOverrides {
            service_account: a.service_account.clone(),
            role_name: a.role_name.clone(),
            policy_name: None,
        },
    );
    let input = values::Input {
        region: region.clone(),
        role_arn: account.role(&a.role_path, &spec.role_name),
        service_account: spec.service_account.clone(),
        workspace,
        remote_write_url,
        annotate: a.mode == IdentityMode::Irsa,
    };
    let doc = values::document(&input);
    let text = match g.output {
        Format::Json => output::to_json(&doc)?,
        _ => output::to_yaml(&doc)?,
    };
    write_stdout(&text)?;
    for note in values::notes(&input, &namespace) {
        eprintln!("note: {note}");
    }
    Ok(exit::OK)
}

/// `export`: setup's plan for a fresh account, as ACK manifests on stdout
/// (a YAML stream; `-o json` a List). Reads only what the documents need
/// (the caller's account, the cluster's issuer), nothing with `--account`
/// and `--oidc-issuer` (or in Pod Identity mode); never writes.
async fn export_manifests(g: &GlobalArgs, a: &ExportArgs) -> Result<i32> {
    let kinds = validate(&a.selection)?;
    let tags = names::tags(&a.tags, &OWN_TAG_KEYS)?;
    if let Some(b) = &a.permissions_boundary {
        names::permissions_boundary(b)?;
    }
    if let Some(c) = &g.cluster {
        names::cluster_name(c)?;
    }
    if let Some(id) = &a.account {
        names::account_id(id)?;
        names::partition(&a.partition)?;
    }
    let kubeconfig = target::load_kubeconfig(g.kubeconfig.as_deref())?;
    let target = target::infer(kubeconfig.as_ref(), &target_args(g))?;
    let region = target.region.clone().or_else(|| g.region.clone());
    let pod_identity = a.selection.mode == IdentityMode::PodIdentity;
    let needs_issuer =
        a.oidc_issuer.is_none() && !pod_identity && kinds.iter().any(|k| k.is_irsa());

    // AWS only for what cannot be given: the account, the issuer, a workspace alias.
    let workspace_ref = a
        .selection
        .workspace
        .as_deref()
        .map(|w| WorkspaceRef::parse(w, false));
    let needs_aws = a.account.is_none()
        || needs_issuer
        || matches!(workspace_ref, Some(WorkspaceRef::Alias { .. }));
    let (aws, region) = if needs_aws {
        let (config, region) = aws_config(g, region.as_deref(), &target.source).await?;
        (Some(Traced(SdkAws::new(&config))), region)
    } else {
        let region = region.ok_or_else(|| Error::TargetUnknown {
            what: "region",
            from: target.source.clone(),
            flag: "region",
        })?;
        (None, region)
    };
    // The caller and the cluster in one round: neither needs the other.
    let (account, described) = futures::try_join!(
        async {
            match (&a.account, &aws) {
                (Some(id), _) => Ok(Account {
                    id: id.clone(),
                    partition: a.partition.clone(),
                }),
                (None, Some(aws)) => Ok(Account::of_caller(&aws.caller().await?)),
                // needs_aws holds whenever --account is missing.
                (None, None) => Err(Error::Usage(
                    "pass --account, or let the tool read it from AWS".into(),
                )),
            }
        },
        async {
            match (&aws, needs_issuer) {
                (Some(aws), true) => Ok::<_, Error>(Some(aws.cluster(&target.cluster).await?)),
                _ => Ok(None),
            }
        },
    )?;
    let cluster = match described {
        Some(found) => found.ok_or_else(|| Error::ClusterNotFound {
            cluster: target.cluster.clone(),
            region: region.clone(),
            account: account.id.clone(),
        })?,
        // Given, or not needed (Pod Identity): only the ARN, from its parts.
        None => EksCluster {
            name: target.cluster.clone(),
            arn: format!(
                "arn:{}:eks:{region}:{}:cluster/{}",
                account.partition, account.id, target.cluster
            ),
            issuer: a.oidc_issuer.clone(),
            status: "ACTIVE".into(),
            endpoint: None,
        },
    };

    let mut desired = Desired::new(
        &kinds,
        &NameOverrides {
            service_account: a.selection.service_account.clone(),
            role_name: a.selection.role_name.clone(),
            policy_name: a.selection.policy_name.clone(),
        },
        (a.selection.all_regions, a.selection.all_clusters),
        (&target.cluster, &region, &target.namespace),
        workspace_ref.clone(),
        Options {
            tags,
            permissions_boundary: a.permissions_boundary.clone(),
            role_path: a.selection.role_path.clone(),
            ..Options::default()
        },
    );
    desired.mode = a.selection.mode;
    let mut observed = crate::export::fresh_observation(&desired, &account, cluster);
    observed.workspace = match &workspace_ref {
        Some(WorkspaceRef::Id(id)) => Some(observe::WorkspaceState::Found(Workspace {
            id: id.clone(),
            alias: None,
            arn: account.amp_workspace(&region, id.as_str()),
            status: "ACTIVE".into(),
            endpoint: None,
            tags: Default::default(),
        })),
        Some(alias @ WorkspaceRef::Alias { .. }) => {
            let found = match &aws {
                Some(aws) => observe::find_workspace(aws, alias).await?,
                None => Vec::new(),
            };
            Some(observe::resolve_workspace(
                alias,
                found,
                &region,
                &account.id,
            )?)
        }
        None => None,
    };
    let plan = plan::setup(&desired, &observed);
    for w in &plan.warnings {
        if !w.contains("API server") {
            eprintln!("warning: {w}");
        }
    }
    let objects = crate::export::ack_objects(&plan, None);
    match g.output {
        Format::Json => write_stdout(&output::to_json(&crate::export::as_list(objects))?)?,
        _ => write_stdout(&crate::export::as_yaml_stream(&objects)?)?,
    }
    Ok(exit::OK)
}

/// The workspace for `values`: the one `--workspace` names (by id or alias),
/// else the region's only one (said on stderr); None when the region has
/// none; a usage error when several could be meant.
/// The workspaces `values` chooses from: the one `--workspace` names, else
/// every workspace of the region.
async fn lookup_workspaces(
    aws: &impl Aws,
    wanted: Option<&WorkspaceRef>,
) -> Result<Vec<Workspace>> {
    match wanted {
        Some(wanted) => observe::find_workspace(aws, wanted).await,
        None => Ok(aws.workspaces(None).await?),
    }
}

async fn values_workspace(
    aws: &impl Aws,
    wanted: Option<&WorkspaceRef>,
    found: Vec<Workspace>,
    region: &str,
    account: &Account,
) -> Result<Option<Workspace>> {
    // Named: resolved as setup resolves it.
    let state = match wanted {
        Some(wanted) => observe::resolve_workspace(wanted, found, region, &account.id)?,
        None => match found.as_slice() {
            [] => return Ok(None),
            [one] => {
                eprintln!(
                    "note: no --workspace: using {}, the only AMP workspace in {region}",
                    one.label()
                );
                observe::WorkspaceState::Found(one.clone())
            }
            many => {
                let listed: Vec<String> = many.iter().map(Workspace::label).collect();
                return Err(Error::Usage(format!(
                    "{} AMP workspaces in {region}: {}. Pass --workspace with one of their ids",
                    many.len(),
                    listed.join(", ")
                )));
            }
        },
    };
    // Summaries have no endpoint: describe the one chosen.
    match observe::describe_workspace(aws, state).await? {
        observe::WorkspaceState::Found(w) => Ok(Some(w)),
        observe::WorkspaceState::ToCreate { .. } => Ok(None),
    }
}

/// The AWS configuration (`--profile`, the standard chain) and the region:
/// `region` (flag or kubeconfig context), else the configuration's; an error
/// naming `--region` when there is none.
async fn aws_config(
    g: &GlobalArgs,
    region: Option<&str>,
    from: &str,
) -> Result<(SdkConfig, String)> {
    let config = SdkAws::load_config(g.profile.as_deref(), region).await;
    match config.region().map(|r| r.to_string()) {
        Some(region) => Ok((config, region)),
        None => Err(Error::TargetUnknown {
            what: "region",
            from: format!("{from} or the AWS configuration"),
            flag: "region",
        }),
    }
}

fn target_args(g: &GlobalArgs) -> target::TargetArgs {
    target::TargetArgs {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        namespace: g.namespace.clone(),
        cluster: g.cluster.clone(),
        region: g.region.clone(),
    }
}

/// The setup command that fixes what `status` found, with the same target flags.
fn fix_command(g: &GlobalArgs, kinds: &[Kind], plan: &Plan) -> String {
    let mut cmd = String::from("kubectl amp-iam setup");
    for k in kinds {
        cmd.push(' ');
        cmd.push_str(k.as_str());
    }
    for (flag, value) in [
        ("--context", &g.context),
        ("--cluster", &g.cluster),
        ("--region", &g.region),
    ] {
        if let Some(v) = value {
            cmd.push_str(&format!(" {flag} {v}"));
        }
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
