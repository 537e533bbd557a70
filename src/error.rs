//! The library's one error type. Every message names what failed, on which
//! resource, and what the operator can do about it.

use crate::aws::AwsError;
use crate::cluster::KubeError;

/// Process exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    /// `status`: something is missing or differs.
    pub const DRIFT: i32 = 3;
    /// A run refused before writing anything (e.g. a foreign role-arn annotation).
    pub const REFUSED: i32 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments (exit 2).
    #[error("{0}")]
    Usage(String),

    #[error("invalid {what} {value:?}: {why}")]
    InvalidName {
        what: &'static str,
        value: String,
        why: String,
    },

    #[error(
        "cannot read kubeconfig {path}: {reason}. Check the file, or pass --kubeconfig / --cluster and --region"
    )]
    Kubeconfig { path: String, reason: String },

    #[error(
        "context {name:?} is not in the kubeconfig (contexts: {available}). Pass --context with one of them"
    )]
    UnknownContext { name: String, available: String },

    #[error("cannot tell the EKS {what} from {from}: pass --{flag}")]
    TargetUnknown {
        what: &'static str,
        from: String,
        flag: &'static str,
    },

    #[error(
        "EKS cluster {cluster:?} was not found in {region} of account {account}: check --cluster/--region (or the kubeconfig context) and that the AWS credentials are for the cluster's account"
    )]
    ClusterNotFound {
        cluster: String,
        region: String,
        /// The caller's account, where the cluster was looked for.
        account: String,
    },

    #[error(
        "EKS cluster {cluster:?} has no OIDC issuer yet (status {status}): wait until it is ACTIVE, then run again"
    )]
    NoIssuer { cluster: String, status: String },

    /// `--workspace` names no workspace of the region (exit 2).
    #[error(
        "no AMP workspace {what} in {region} of account {account}: check --workspace (an id ws-… or an alias) and the region, or create one with --create-workspace ALIAS"
    )]
    WorkspaceNotFound {
        what: String,
        region: String,
        account: String,
    },

    /// An alias that several workspaces share (exit 2).
    #[error(
        "{count} AMP workspaces in {region} have alias {alias:?} ({ids}): pass --workspace with one of their ids"
    )]
    WorkspaceAmbiguous {
        alias: String,
        region: String,
        count: usize,
        ids: String,
    },

    /// The credentials are for another account than the context's cluster (exit 4).
    #[error(
        "refusing to act on account {caller_account}: the kubeconfig {context_from} names account {context_account}, but the AWS credentials ({credentials}) are for {caller_arn} in account {caller_account}. Nothing was written. Use credentials for account {context_account} (e.g. --profile or AWS_PROFILE), or choose the context of the cluster you mean"
    )]
    WrongAccount {
        context_account: String,
        context_from: String,
        caller_account: String,
        caller_arn: String,
        credentials: String,
    },

    #[error("cannot understand the {what} of {resource}: {reason}")]
    BadDocument {
        what: &'static str,
        resource: String,
        reason: String,
    },

    #[error(transparent)]
    Aws(#[from] AwsError),

    #[error(transparent)]
    Kube(#[from] KubeError),

    /// The plan would clobber something this tool does not own; nothing was written.
    #[error("refusing to change anything (nothing was written):\n{}", bullet(.0))]
    Refused(Vec<String>),

    /// Some steps of an applied plan failed; what succeeded is reported alongside.
    #[error("{} of {total} changes failed:\n{}", .failures.len(), bullet(.failures))]
    ApplyFailed { failures: Vec<String>, total: usize },

    #[error("cannot write output: {0}")]
    Output(String),

    /// A write a fleet run made once for several clusters failed.
    #[error("{0}")]
    SharedChange(String),

    /// A bootstrap file (`-f`) that cannot be used; nothing was read or written.
    #[error("{file}:{line}:{column}: {reason}")]
    BootstrapFile {
        file: String,
        line: usize,
        column: usize,
        reason: String,
    },
}

fn bullet(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    /// Usage errors exit 2: bad flags or names, and a kubeconfig that cannot
    /// be used (malformed, a directory, a missing context) or cannot tell the
    /// target.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::InvalidName { .. }
            | Error::Kubeconfig { .. }
            | Error::UnknownContext { .. }
            | Error::TargetUnknown { .. }
            | Error::WorkspaceNotFound { .. }
            | Error::WorkspaceAmbiguous { .. }
            | Error::BootstrapFile { .. } => exit::USAGE,
            Error::Refused(_) | Error::WrongAccount { .. } => exit::REFUSED,
            _ => exit::FAILURE,
        }
    }
}

impl Error {
    /// The error's kind for scripts (`error.kind` in a JSON/YAML document).
    pub fn kind(&self) -> String {
        match self {
            Error::Usage(_) => "usage".into(),
            Error::InvalidName { .. } => "invalid_input".into(),
            Error::Kubeconfig { .. } => "kubeconfig".into(),
            Error::UnknownContext { .. } => "unknown_context".into(),
            Error::TargetUnknown { .. } => "target_unknown".into(),
            Error::ClusterNotFound { .. } => "cluster_not_found".into(),
            Error::NoIssuer { .. } => "no_issuer".into(),
            Error::WrongAccount { .. } => "wrong_account".into(),
            Error::WorkspaceNotFound { .. } => "workspace_not_found".into(),
            Error::WorkspaceAmbiguous { .. } => "workspace_ambiguous".into(),
            Error::BadDocument { .. } => "bad_document".into(),
            Error::Aws(e) => format!("aws_{}", snake(&e.kind)),
            Error::Kube(e) => format!("kubernetes_{}", snake(&e.kind)),
            Error::Refused(_) => "refused".into(),
            Error::ApplyFailed { .. } => "apply_failed".into(),
            Error::Output(_) => "output".into(),
            Error::BootstrapFile { .. } => "bootstrap_file".into(),
            Error::SharedChange(_) => "shared_change_failed".into(),
        }
    }

    /// The AWS account the error shows the run was acting in, if it does.
    pub fn account(&self) -> Option<&str> {
        match self {
            Error::ClusterNotFound { account, .. } => Some(account),
            Error::WorkspaceNotFound { account, .. } => Some(account),
            Error::WrongAccount { caller_account, .. } => Some(caller_account),
            _ => None,
        }
    }

    /// The resource the error is about, when there is one.
    pub fn resource(&self) -> Option<String> {
        match self {
            Error::InvalidName { what, value, .. } => Some(format!("{what} {value}")),
            Error::Kubeconfig { path, .. } => Some(path.clone()),
            Error::UnknownContext { name, .. } => Some(format!("context {name}")),
            Error::ClusterNotFound {
                cluster, region, ..
            } => Some(format!("eks cluster {cluster} in {region}")),
            Error::NoIssuer { cluster, .. } => Some(format!("eks cluster {cluster}")),
            Error::WrongAccount { caller_account, .. } => Some(format!("account {caller_account}")),
            Error::BadDocument { resource, .. } => Some(resource.clone()),
            Error::WorkspaceNotFound { what, region, .. } => {
                Some(format!("aps workspace {what} in {region}"))
            }
            Error::WorkspaceAmbiguous { alias, region, .. } => {
                Some(format!("aps workspace alias {alias:?} in {region}"))
            }
            Error::Aws(e) => Some(e.resource.clone()),
            Error::Kube(e) => Some(e.resource.clone()),
            _ => None,
        }
    }
}

/// A serde snake_case enum's name (`AccessDenied` → `access_denied`).
fn snake<T: serde::Serialize>(kind: &T) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "other".to_string())
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
