//! The AMP workspace in a plan: found (and checked), to be created, or to be
//! deleted by teardown; and the Resource the AMP policies are scoped to.

use super::{Action, Op, Plan, Resource};
use crate::aws::Workspace;
use crate::observe::{Observed, WorkspaceState};
use crate::ownership::is_ours;
use crate::recipe::Desired;
use serde::Serialize;

/// Stands for the id of the workspace this plan creates, in the policy
/// documents that wait for it; the executor puts the created id in its place.
pub const CREATED_WORKSPACE: &str = "{created-workspace-id}";

/// What scripts and people need of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceSummary {
    /// None until created.
    pub id: Option<String>,
    pub alias: Option<String>,
    pub arn: Option<String>,
    /// `ACTIVE`, …, or `to be created`.
    pub status: String,
    /// The endpoint + `api/v1/remote_write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_write_url: Option<String>,
    /// The endpoint + `api/v1/query`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_url: Option<String>,
    /// Made by kubectl-amp-iam (tagged).
    pub ours: bool,
}

impl WorkspaceSummary {
    pub fn of(w: &Workspace) -> WorkspaceSummary {
        let url = |path: &str| {
            w.endpoint
                .as_ref()
                .map(|e| format!("{}/{path}", e.trim_end_matches('/')))
        };
        WorkspaceSummary {
            id: Some(w.id.clone()),
            alias: w.alias.clone(),
            arn: Some(w.arn.clone()),
            status: w.status.clone(),
            remote_write_url: url("api/v1/remote_write"),
            query_url: url("api/v1/query"),
            ours: is_ours(&w.tags),
        }
    }
}

/// The Resource of the AMP policies and the step they wait for: `*` without
/// a workspace; its ARN; or, for one this plan creates, an ARN with
/// [`CREATED_WORKSPACE`] for the id.
pub(super) fn plan_workspace(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
) -> (String, Option<usize>) {
    let account = &observed.account;
    match &observed.workspace {
        None => ("*".to_string(), None),
        Some(WorkspaceState::Found(w)) => {
            plan.workspace = Some(WorkspaceSummary::of(w));
            let name = w.label();
            if w.status == "ACTIVE" {
                plan.unchanged(Resource::Workspace, &name, None, "ACTIVE");
            } else {
                plan.unchanged(Resource::Workspace, &name, None, w.status.clone());
                plan.find(
                    Resource::Workspace,
                    &name,
                    None,
                    None,
                    format!(
                        "is {}, not ACTIVE: remote write and queries fail until it is (`aws amp describe-workspace --workspace-id {} --region {}`)",
                        w.status, w.id, desired.region
                    ),
                );
            }
            (w.arn.clone(), None)
        }
        Some(WorkspaceState::ToCreate { alias }) => {
            plan.workspace = Some(WorkspaceSummary {
                id: None,
                alias: Some(alias.clone()),
                arn: None,
                status: "to be created".into(),
                remote_write_url: None,
                query_url: None,
                ours: true,
            });
            let step = plan.push(
                Resource::Workspace,
                format!("alias {alias}"),
                None,
                Action::Create,
                format!("no workspace in {} has alias {alias:?}", desired.region),
                Some(Op::CreateWorkspace {
                    alias: alias.clone(),
                    tags: desired.tags(),
                }),
                &[],
            );
            (
                account.amp_workspace(&desired.region, CREATED_WORKSPACE),
                Some(step),
            )
        }
    }
}

/// Teardown: the workspace goes only with `--include-workspace`, and only
/// when the tool made it (or `--force`).
pub(super) fn plan_workspace_removal(plan: &mut Plan, desired: &Desired, observed: &Observed) {
    let Some(state) = &observed.workspace else {
        return;
    };
    let w = match state {
        WorkspaceState::Found(w) => w,
        WorkspaceState::ToCreate { alias } => {
            plan.unchanged(
                Resource::Workspace,
                format!("alias {alias}"),
                None,
                "does not exist",
            );
            return;
        }
    };
    plan.workspace = Some(WorkspaceSummary::of(w));
    let name = w.label();
    if !desired.options.include_workspace {
        plan.unchanged(
            Resource::Workspace,
            name,
            None,
            "kept (pass --include-workspace to delete it, with its metrics)",
        );
    } else if !is_ours(&w.tags) && !desired.options.force {
        plan.unchanged(
            Resource::Workspace,
            &name,
            None,
            "not tagged as made by kubectl-amp-iam: skipped (pass --force to delete it)",
        );
        plan.warnings.push(format!(
            "workspace {name} was not made by kubectl-amp-iam: left alone; --force deletes it and its metrics"
        ));
    } else {
        plan.push(
            Resource::Workspace,
            name,
            None,
            Action::Delete,
            "made by kubectl-amp-iam (its metrics go with it)",
            Some(Op::DeleteWorkspace { id: w.id.clone() }),
            &[],
        );
    }
}
