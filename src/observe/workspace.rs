//! The AMP workspace a run names: found by id (DescribeWorkspace) or alias
//! (ListWorkspaces) in round one, described in round two when found by alias
//! (summaries carry neither the endpoint nor a reliable status).

use crate::aws::{Aws, Workspace};
use crate::error::{Error, Result};
use crate::recipe::WorkspaceRef;

/// What the run knows of its workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceState {
    Found(Workspace),
    /// `--create-workspace ALIAS` and no workspace has the alias.
    ToCreate {
        alias: String,
    },
}

/// Round one.
pub async fn find<A: Aws>(aws: &A, wanted: &WorkspaceRef) -> Result<Vec<Workspace>> {
    Ok(match wanted {
        WorkspaceRef::Id(id) => aws.workspace(id).await?.into_iter().collect(),
        WorkspaceRef::Alias { alias, .. } => aws.workspaces(Some(alias)).await?,
    })
}

/// Exactly one workspace, or none to create; else a usage error (exit 2)
/// before anything is written.
pub fn resolve(
    wanted: &WorkspaceRef,
    found: Vec<Workspace>,
    region: &str,
    account: &str,
) -> Result<WorkspaceState> {
    let mut found = found;
    match (found.len(), wanted) {
        (1, _) => Ok(WorkspaceState::Found(found.remove(0))),
        (
            0,
            WorkspaceRef::Alias {
                alias,
                create: true,
            },
        ) => Ok(WorkspaceState::ToCreate {
            alias: alias.clone(),
        }),
        (0, _) => Err(Error::WorkspaceNotFound {
            what: wanted.describe(),
            region: region.to_string(),
            account: account.to_string(),
        }),
        (n, _) => Err(Error::WorkspaceAmbiguous {
            alias: match wanted {
                WorkspaceRef::Alias { alias, .. } => alias.clone(),
                WorkspaceRef::Id(id) => id.clone(),
            },
            region: region.to_string(),
            count: n,
            ids: found
                .iter()
                .map(|w| w.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Round two: the endpoint and status of a workspace found by alias.
pub async fn describe<A: Aws>(aws: &A, state: WorkspaceState) -> Result<WorkspaceState> {
    match state {
        WorkspaceState::Found(w) if w.endpoint.is_none() => {
            let described = aws.workspace(&w.id).await?;
            // Deleted between the two reads: keep the summary (its status and
            // ARN still name it; only the endpoint is unknown).
            Ok(WorkspaceState::Found(described.unwrap_or(w)))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(id: &str) -> Workspace {
        Workspace {
            id: id.into(),
            alias: Some("prod".into()),
            arn: format!("arn:aws:aps:us-east-1:111122223333:workspace/{id}"),
            status: "ACTIVE".into(),
            endpoint: None,
            tags: Default::default(),
        }
    }

    fn alias(create: bool) -> WorkspaceRef {
        WorkspaceRef::Alias {
            alias: "prod".into(),
            create,
        }
    }

    #[test]
    fn one_match_is_found_none_is_an_error_unless_created() {
        assert_eq!(
            resolve(&alias(false), vec![ws("ws-1")], "us-east-1", "1").unwrap(),
            WorkspaceState::Found(ws("ws-1"))
        );
        let none = resolve(&alias(false), vec![], "us-east-1", "111122223333").unwrap_err();
        assert_eq!(none.exit_code(), crate::error::exit::USAGE);
        assert!(none.to_string().contains("alias \"prod\""), "{none}");
        assert_eq!(
            resolve(&alias(true), vec![], "us-east-1", "1").unwrap(),
            WorkspaceState::ToCreate {
                alias: "prod".into()
            }
        );
    }

    #[test]
    fn a_shared_alias_is_ambiguous_and_lists_the_ids() {
        let e = resolve(&alias(true), vec![ws("ws-1"), ws("ws-2")], "us-east-1", "1").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        assert!(e.to_string().contains("ws-1, ws-2"), "{e}");
    }
}
