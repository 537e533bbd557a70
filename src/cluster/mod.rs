//! The Kubernetes edge: namespaces and ServiceAccounts, as one small trait.
//! The kube-rs implementation lives in [`kube`].

pub mod kube;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The field manager of every server-side apply this tool makes.
pub const FIELD_MANAGER: &str = "kubectl-amp-iam";

/// What the tool needs of an existing ServiceAccount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccount {
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Field managers of each annotation key, from `metadata.managedFields`
    /// (`fieldsV1` entries `f:metadata` → `f:annotations` → `f:<key>`). Keys
    /// nobody is recorded for are absent.
    pub annotation_managers: BTreeMap<String, BTreeSet<String>>,
    /// When each annotation key was last written, from the `time` of the
    /// managedFields entries that own it (the latest one), RFC 3339.
    pub annotation_times: BTreeMap<String, String>,
}

/// Kinds [`Cluster::owner_of`] reads; others have no owner to walk up to.
pub const OWNER_KINDS: [&str; 5] = [
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
];
/// Kinds [`Cluster::restart`] restarts (what `kubectl rollout restart` takes).
pub const RESTARTABLE_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// A workload's owner reference (the controller), e.g. `ReplicaSet prometheus-server-5d9f`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Owner {
    /// `ReplicaSet`, `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, …
    pub kind: String,
    pub name: String,
}

/// What the tool needs of a pod: whom it runs as, and whether the EKS pod
/// identity webhook injected the role into it when it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    /// `spec.serviceAccountName` (`default` when unset).
    pub service_account: String,
    /// The controller owner reference (`controller: true`), if any.
    pub owner: Option<Owner>,
    /// `AWS_ROLE_ARN` in the first container that sets it (the webhook sets
    /// it in every container).
    pub role_arn_env: Option<String>,
    /// A projected volume named `aws-iam-token` (the webhook's token).
    pub token_volume: bool,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` is set: EKS Pod Identity injected
    /// the agent's endpoint when the pod started.
    pub container_credentials: bool,
    /// `metadata.creationTimestamp`, RFC 3339.
    pub created: Option<String>,
    /// `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: Option<String>,
}

/// What a guarded annotation removal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The server answered with the object, and the annotation is gone from it.
    Removed,
    /// The annotation no longer holds the expected value: the JSON patch's
    /// `test` failed (422) and a read confirms it (a 422 with the value still
    /// there, e.g. from an admission policy, is an error instead).
    Changed,
    /// The ServiceAccount does not exist (404).
    Gone,
}

#[allow(async_fn_in_trait)] // futures are awaited on one task; no Send bound needed
pub trait Cluster {
    async fn namespace_exists(&self, name: &str) -> Result<bool, KubeError>;
    async fn service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceAccount>, KubeError>;
    /// Creates a namespace; one that already exists is not an error.
    async fn create_namespace(&self, name: &str) -> Result<(), KubeError>;
    /// Server-side apply of exactly these annotations and labels, with [`FIELD_MANAGER`]
    /// (forced: the planner decides beforehand whether taking a key over is allowed):
    /// creates the account if missing, keeps every field other managers own, and
    /// releases fields this manager owned before but no longer lists (a field
    /// another manager also owns stays). Returns the object as the server answered.
    async fn apply_service_account(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<ServiceAccount, KubeError>;
    /// Removes annotation `key` only while it still equals `expected`, whoever
    /// set it: one JSON patch (`application/json-patch+json`) of `test` then
    /// `remove`, sent with [`FIELD_MANAGER`]. `Removed` only when the answered
    /// object lacks the key.
    async fn remove_annotation(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        expected: &str,
    ) -> Result<Removal, KubeError>;
    /// Deletes a ServiceAccount; one that is already gone is not an error.
    async fn delete_service_account(&self, namespace: &str, name: &str) -> Result<(), KubeError>;

    /// Every pod of the namespace (one paginated list).
    async fn pods(&self, namespace: &str) -> Result<Vec<Pod>, KubeError>;
    /// The controller owner of a namespaced object (`get` on its kind): a
    /// ReplicaSet's Deployment, a Job's CronJob. None when it has none or is gone.
    async fn owner_of(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Owner>, KubeError>;
    /// `kubectl rollout restart`: patches the pod template's
    /// `kubectl.kubernetes.io/restartedAt` annotation to `at` (RFC 3339) on a
    /// Deployment, StatefulSet or DaemonSet. Ok only when the answered object
    /// carries it.
    async fn restart(&self, namespace: &str, owner: &Owner, at: &str) -> Result<(), KubeError>;
    /// Deletes a pod (a bare pod, with `--force`); one already gone is not an error.
    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KubeErrorKind {
    /// 401: the kubeconfig's credentials were rejected.
    Unauthorized,
    /// 403: RBAC forbids the verb on the resource.
    Forbidden,
    NotFound,
    /// 409 that survived retries.
    Conflict,
    /// The API server could not be reached, or kept answering 5xx.
    Unreachable,
    Invalid,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeError {
    /// The Kubernetes verb, e.g. `patch` (what an RBAC Role must allow).
    pub verb: &'static str,
    /// e.g. `serviceaccounts prometheus/amp-iamproxy-ingest-service-account`.
    pub resource: String,
    pub kind: KubeErrorKind,
    pub message: String,
}

impl KubeError {
    pub fn new(
        verb: &'static str,
        resource: impl Into<String>,
        kind: KubeErrorKind,
        message: impl Into<String>,
    ) -> Self {
        KubeError {
            verb,
            resource: resource.into(),
            kind,
            message: message.into(),
        }
    }

    fn hint(&self) -> String {
        let what = self.resource.split(' ').next().unwrap_or("");
        match self.kind {
            KubeErrorKind::Forbidden => format!(
                "RBAC does not allow `{}` on {}: ask for it, or check `kubectl auth can-i {} {}`",
                self.verb, what, self.verb, what
            ),
            KubeErrorKind::Unauthorized => "The cluster rejected the kubeconfig's credentials: refresh them (e.g. `aws eks update-kubeconfig`)".to_string(),
            KubeErrorKind::Unreachable => "Check that the API server in the kubeconfig is reachable, then run again".to_string(),
            KubeErrorKind::Conflict => "Someone changed it at the same moment: run again".to_string(),
            _ => "Run again; if it persists, run with -v and report it".to_string(),
        }
    }
}

impl fmt::Display for KubeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kubernetes {} {} failed: {}. {}",
            self.verb,
            self.resource,
            self.message.trim_end_matches('.'),
            self.hint()
        )
    }
}

impl std::error::Error for KubeError {}
