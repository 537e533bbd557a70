//! kubectl-amp-iam: wires an EKS cluster to Amazon Managed Service for Prometheus.
//!
//! The architecture is observe → plan → apply:
//! - [`target`] works out cluster, region and namespace from the kubeconfig and flags;
//! - [`recipe`] states what AMP needs (the AWS guides' recipes) as desired state;
//! - [`observe`] reads the current state of AWS and the cluster concurrently;
//! - [`plan`] is a pure function of (desired, observed) — no I/O;
//! - [`apply`] executes a plan, independent steps in parallel;
//! - [`output`] renders a plan or its result as text, JSON or YAML.
//!
//! Beside the run: [`permissions`] (the operator's IAM policy), [`values`]
//! (Helm values for Prometheus) and [`completion`] (shell completion).
//!
//! AWS and Kubernetes sit behind the small traits in [`aws`] and [`cluster`].

pub mod apply;
pub mod arn;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod completion;
pub mod error;
pub mod export;
#[cfg(test)]
pub mod fake;
pub mod fleet;
pub mod names;
pub mod observe;
pub mod output;
pub mod ownership;
pub mod permissions;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod recipe;
pub mod run;
pub mod target;
pub mod template;
pub mod traced;
pub mod values;

pub use error::{Error, Result};
