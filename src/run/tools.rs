//! The commands that plan nothing for a cluster: `permissions`, `values`
//! and `export` (which renders setup's plan for a fresh account).

use super::cluster;
use super::{aws_config, render_document, target_args, write_stdout};
use crate::arn::Account;
use crate::aws::sdk::SdkAws;
use crate::aws::{Aws, EksCluster, Workspace};
use crate::cli::{ExportArgs, GlobalArgs, PermissionsArgs, Selection, ValuesArgs};
use crate::error::{Error, Result, exit};
use crate::observe;
use crate::output::{self, Format};
use crate::plan::{self, WorkspaceSummary};
use crate::recipe::{
    Desired, IdentityMode, IrsaSpec, Kind, NameOverrides, OWN_TAG_KEYS, Options, WorkspaceRef,
};
use crate::traced::Traced;
use crate::{names, permissions, target, values};

/// `permissions`: the operator's IAM policy on stdout (JSON unless `-o
/// yaml`), the Kubernetes RBAC on stderr. No AWS call, no kubeconfig.
pub fn print_permissions(g: &GlobalArgs, a: &PermissionsArgs) -> Result<i32> {
    let kinds = cluster::validate(
        &Selection {
            kinds: a.kinds.clone(),
            service_account: None,
            role_name: a.role_name.clone(),
            policy_name: a.policy_name.clone(),
            workspace: None,
            role_path: a.role_path.clone(),
            all_regions: false,
            all_clusters: false,
            mode: IdentityMode::Irsa,
        },
        false,
    )?;
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
pub async fn print_values(g: &GlobalArgs, a: &ValuesArgs) -> Result<i32> {
    cluster::validate(
        &Selection {
            kinds: vec![Kind::Ingest],
            service_account: a.service_account.clone(),
            role_name: a.role_name.clone(),
            policy_name: None,
            workspace: a.workspace.clone(),
            role_path: a.role_path.clone(),
            all_regions: false,
            all_clusters: false,
            mode: IdentityMode::Irsa,
        },
        false,
    )?;
    if let Some(account) = &a.account {
        names::account_id(account)?;
    }
    if let Some(p) = &a.partition {
        names::partition(p)?;
    }

    // The values need no cluster name: without one, the region comes from
    // --region or the AWS configuration.
    let kubeconfig = target::load_kubeconfig(g.kubeconfig.as_deref())?;
    let (region, namespace) = match target::infer(kubeconfig.as_ref(), &target_args(g)?) {
        Ok(t) => (t.region, t.namespace),
        Err(Error::TargetUnknown { .. }) => {
            let ns = g.namespace.clone().unwrap_or_else(|| "default".into());
            names::namespace(&ns)?;
            (g.region.clone(), ns)
        }
        Err(e) => return Err(e),
    };
    let (config, region) = aws_config(
        g.profile.as_deref(),
        region.as_deref(),
        "the kubeconfig context",
    )
    .await?;
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
pub async fn export_manifests(g: &GlobalArgs, a: &ExportArgs) -> Result<i32> {
    let kinds = cluster::validate(&a.selection, false)?;
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
    let target = target::infer(kubeconfig.as_ref(), &target_args(g)?)?;
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
        let (config, region) =
            aws_config(g.profile.as_deref(), region.as_deref(), &target.source).await?;
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
