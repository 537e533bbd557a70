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
        "EKS cluster {cluster:?} was not found in {region}: check --cluster/--region (or the kubeconfig context) and that the AWS credentials are for the cluster's account"
    )]
    ClusterNotFound { cluster: String, region: String },

    #[error(
        "EKS cluster {cluster:?} has no OIDC issuer yet (status {status}): wait until it is ACTIVE, then run again"
    )]
    NoIssuer { cluster: String, status: String },

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
}

fn bullet(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::InvalidName { .. }
            | Error::UnknownContext { .. }
            | Error::TargetUnknown { .. } => exit::USAGE,
            Error::Refused(_) => exit::REFUSED,
            _ => exit::FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
