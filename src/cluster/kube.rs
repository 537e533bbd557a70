//! kube-rs implementation of [`super::Cluster`].
//!
//! Every call is one small REST request. Writes use server-side apply so that the
//! tool only ever owns the annotations and labels it lists, and never clobbers
//! fields other managers (Helm, GitOps controllers, people) set. Transient
//! failures (409 Conflict, 429, 5xx, transport errors) are retried a few times
//! with exponential backoff; everything else is reported at once, mapped to a
//! [`KubeError`] that names the verb and resource RBAC would need.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;

use ::kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use ::kube::client::AuthError;
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount as K8sServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};

use super::{Cluster, FIELD_MANAGER, KubeError, KubeErrorKind, ServiceAccount};

/// How many times a retryable request is sent in all.
const ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled before each further one (200, 400, 800 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// kube-rs has no read timeout by default; a CLI should not hang forever on a
/// half-open connection to the API server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Server messages can be whole HTML pages (proxies, load balancers): keep them short.
const MAX_MESSAGE: usize = 300;

/// The cluster, reached through kube-rs.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    /// The kubeconfig's exec credential program (e.g. `aws`), to name it when it fails.
    exec_command: Option<String>,
}

impl KubeCluster {
    /// Builds a client for `context` (or the kubeconfig's current context).
    /// Exec credential plugins (`aws eks get-token`) are run by kube-rs: once
    /// here for the first token, and again whenever it expires.
    pub async fn connect(
        kubeconfig: Kubeconfig,
        context: Option<&str>,
    ) -> Result<Self, crate::Error> {
        // Name a missing context precisely, rather than kube-rs's generic
        // "failed to load current context".
        if let Some(name) = context
            && !kubeconfig.contexts.iter().any(|c| c.name == name)
        {
            let available = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(crate::Error::UnknownContext {
                name: name.to_string(),
                available: if available.is_empty() {
                    "none".to_string()
                } else {
                    available
                },
            });
        }
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| kubeconfig_error(&e))?;
        if config.read_timeout.is_none() {
            config.read_timeout = Some(READ_TIMEOUT);
        }
        let exec_command = config
            .auth_info
            .exec
            .as_ref()
            .and_then(|exec| exec.command.clone());
        // kube-rs runs the exec plugin here already, to fetch the first token.
        let client = Client::try_from(config).map_err(|e| match &e {
            ::kube::Error::Auth(a) => crate::Error::Kubeconfig {
                path: "<kubeconfig>".to_string(),
                reason: auth_message(a, exec_command.as_deref()),
            },
            _ => kubeconfig_error(&e),
        })?;
        Ok(Self {
            client,
            exec_command,
        })
    }

    /// Wraps an existing client (tests point one at a mock API server).
    pub fn from_client(client: Client) -> Self {
        Self {
            client,
            exec_command: None,
        }
    }

    fn error(&self, failure: Failure, verb: &'static str, resource: String) -> KubeError {
        failure.into_kube_error(verb, resource, self.exec_command.as_deref())
    }

    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    fn service_accounts(&self, namespace: &str) -> Api<K8sServiceAccount> {
        Api::namespaced(self.client.clone(), namespace)
    }
}

fn kubeconfig_error(e: &dyn std::error::Error) -> crate::Error {
    crate::Error::Kubeconfig {
        path: "<kubeconfig>".to_string(),
        reason: error_chain(e),
    }
}

fn sa_resource(namespace: &str, name: &str) -> String {
    format!("serviceaccounts {namespace}/{name}")
}

fn ns_resource(name: &str) -> String {
    format!("namespaces {name}")
}

/// The server-side apply body: only the fields this tool owns. Anything left
/// out is released by this manager and kept if another manager owns it.
fn apply_body(
    namespace: &str,
    name: &str,
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(namespace));
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), json!(annotations));
    }
    if !labels.is_empty() {
        metadata.insert("labels".into(), json!(labels));
    }
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata,
    })
}

impl Cluster for KubeCluster {
    async fn namespace_exists(&self, name: &str) -> Result<bool, KubeError> {
        let api = self.namespaces();
        let found = with_retries(async || api.get_opt(name).await)
            .await
            .map_err(|f| self.error(f, "get", ns_resource(name)))?;
        Ok(found.is_some())
    }

    async fn service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceAccount>, KubeError> {
        let api = self.service_accounts(namespace);
        let found = with_retries(async || api.get_opt(name).await)
            .await
            .map_err(|f| self.error(f, "get", sa_resource(namespace, name)))?;
        Ok(found.map(|sa| ServiceAccount {
            annotations: sa.metadata.annotations.unwrap_or_default(),
            labels: sa.metadata.labels.unwrap_or_default(),
        }))
    }

    async fn create_namespace(&self, name: &str) -> Result<(), KubeError> {
        let api = self.namespaces();
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        with_retries(async || match api.create(&pp, &namespace).await {
            Ok(_) => Ok(()),
            // Someone (maybe our own earlier attempt) created it: that is the goal.
            Err(::kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|f| self.error(f, "create", ns_resource(name)))
    }

    async fn apply_service_account(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), KubeError> {
        let api = self.service_accounts(namespace);
        // force: take over a key another manager set to a different value
        // (e.g. a stale role-arn written by eksctl); the planner decides
        // beforehand whether that is allowed.
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(apply_body(namespace, name, annotations, labels));
        with_retries(async || api.patch(name, &pp, &patch).await.map(|_| ()))
            .await
            .map_err(|f| self.error(f, "patch", sa_resource(namespace, name)))
    }

    async fn delete_service_account(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        let api = self.service_accounts(namespace);
        let dp = DeleteParams::default();
        with_retries(async || match api.delete(name, &dp).await {
            Ok(_) => Ok(()),
            // Already gone: deleting is idempotent.
            Err(::kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|f| self.error(f, "delete", sa_resource(namespace, name)))
    }
}

/// The last error of a request, and how many times it was sent.
struct Failure {
    error: ::kube::Error,
    attempts: u32,
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or has been
/// tried [`ATTEMPTS`] times. Every call here is idempotent (GET, POST of a
/// fixed object, apply, DELETE), so resending is safe.
async fn with_retries<T>(
    mut op: impl AsyncFnMut() -> Result<T, ::kube::Error>,
) -> Result<T, Failure> {
    let mut delay = FIRST_BACKOFF;
    let mut attempts = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(error) if attempts < ATTEMPTS && is_retryable(&error) => {
                tracing::debug!(
                    attempt = attempts,
                    ?delay,
                    "retrying kubernetes request: {}",
                    error_chain(&error)
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempts += 1;
            }
            Err(error) => return Err(Failure { error, attempts }),
        }
    }
}

/// Conflicts, throttling, server errors and transport failures may go away;
/// other client errors (403, 404, 422...) will not.
fn is_retryable(e: &::kube::Error) -> bool {
    if auth_error(e).is_some() {
        return false;
    }
    match e {
        ::kube::Error::Api(s) => s.code == 409 || s.code == 429 || (500..=599).contains(&s.code),
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => true,
        _ => false,
    }
}

impl Failure {
    fn into_kube_error(
        self,
        verb: &'static str,
        resource: String,
        exec_command: Option<&str>,
    ) -> KubeError {
        let (kind, mut message) = classify(&self.error, exec_command);
        if self.attempts > 1 {
            message = format!("{message} (after {} attempts)", self.attempts);
        }
        KubeError::new(verb, resource, kind, message)
    }
}

fn classify(e: &::kube::Error, exec_command: Option<&str>) -> (KubeErrorKind, String) {
    // Checked first: a failed token refresh arrives wrapped in a Service error,
    // and its rendering would include the plugin's stdout.
    if let Some(a) = auth_error(e) {
        return (KubeErrorKind::Unauthorized, auth_message(a, exec_command));
    }
    match e {
        ::kube::Error::Api(s) => {
            let kind = match s.code {
                401 => KubeErrorKind::Unauthorized,
                403 => KubeErrorKind::Forbidden,
                404 => KubeErrorKind::NotFound,
                409 => KubeErrorKind::Conflict,
                400 | 422 => KubeErrorKind::Invalid,
                500..=599 => KubeErrorKind::Unreachable,
                // A Status without a code: fall back on its reason.
                _ if s.is_forbidden() => KubeErrorKind::Forbidden,
                _ if s.is_not_found() => KubeErrorKind::NotFound,
                _ if s.is_conflict() => KubeErrorKind::Conflict,
                _ if s.is_invalid() => KubeErrorKind::Invalid,
                _ => KubeErrorKind::Other,
            };
            let text = s.message.trim();
            let message = match (text.is_empty(), s.code) {
                (true, 0) => s.reason.clone(),
                (true, code) => format!("HTTP {code} {}", s.reason).trim_end().to_string(),
                (false, 0) => text.to_string(),
                (false, code) => format!("HTTP {code}: {text}"),
            };
            (kind, shorten(&message))
        }
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => {
            (KubeErrorKind::Unreachable, shorten(&error_chain(e)))
        }
        _ => (KubeErrorKind::Other, shorten(&error_chain(e))),
    }
}

/// The credential failure behind `e`: direct at client construction, boxed
/// inside a tower Service error when a token refresh fails mid-request.
fn auth_error(e: &::kube::Error) -> Option<&AuthError> {
    if let ::kube::Error::Auth(a) = e {
        return Some(a);
    }
    let mut current: Option<&(dyn std::error::Error + 'static)> = match e {
        ::kube::Error::Service(inner) => Some(inner.as_ref()),
        _ => e.source(),
    };
    while let Some(err) = current {
        if let Some(a) = err.downcast_ref::<AuthError>() {
            return Some(a);
        }
        if let Some(::kube::Error::Auth(a)) = err.downcast_ref::<::kube::Error>() {
            return Some(a);
        }
        current = err.source();
    }
    None
}

/// Describes a credential failure without the parts that can hold secrets:
/// the exec plugin's stdout (an ExecCredential with the token), parser
/// excerpts of it, and kube-rs's rendering of the command (which lists the
/// environment given to it, possibly AWS keys).
fn auth_message(a: &AuthError, exec_command: Option<&str>) -> String {
    let text = match a {
        AuthError::AuthExecRun { out, .. } => {
            let what = match exec_command {
                Some(cmd) => format!("the credential command `{cmd}`"),
                None => "the kubeconfig's credential command".to_string(),
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            if stderr.is_empty() {
                format!("{what} failed ({})", out.status)
            } else {
                format!("{what} failed ({}): {stderr}", out.status)
            }
        }
        AuthError::AuthExecParse(_) => {
            "the credential command's output is not a valid ExecCredential".to_string()
        }
        AuthError::InvalidBearerToken(_) => {
            "the bearer token is not a valid header value".to_string()
        }
        AuthError::InvalidBasicAuth(_) => {
            "the basic-auth credentials are not a valid header value".to_string()
        }
        other => error_chain(other),
    };
    shorten(&text)
}

/// `e: source: source...`, skipping sources already spelled out by their parent.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::kube::core::Status;

    fn api(code: u16, reason: &str) -> ::kube::Error {
        ::kube::Error::Api(Status::failure("boom", reason).with_code(code).boxed())
    }

    #[test]
    fn classifies_status_codes() {
        let cases = [
            (401, "Unauthorized", KubeErrorKind::Unauthorized),
            (403, "Forbidden", KubeErrorKind::Forbidden),
            (404, "NotFound", KubeErrorKind::NotFound),
            (409, "Conflict", KubeErrorKind::Conflict),
            (422, "Invalid", KubeErrorKind::Invalid),
            (400, "BadRequest", KubeErrorKind::Invalid),
            (500, "InternalError", KubeErrorKind::Unreachable),
            (503, "ServiceUnavailable", KubeErrorKind::Unreachable),
            (418, "Teapot", KubeErrorKind::Other),
        ];
        for (code, reason, kind) in cases {
            assert_eq!(classify(&api(code, reason), None).0, kind, "{code}");
        }
    }

    #[test]
    fn retries_only_transient_errors() {
        assert!(is_retryable(&api(409, "Conflict")));
        assert!(is_retryable(&api(429, "TooManyRequests")));
        assert!(is_retryable(&api(500, "InternalError")));
        assert!(!is_retryable(&api(403, "Forbidden")));
        assert!(!is_retryable(&api(404, "NotFound")));
        assert!(!is_retryable(&api(422, "Invalid")));
    }

    #[test]
    fn apply_body_omits_empty_maps() {
        let body = apply_body("ns", "sa", &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(
            body,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "ns"}})
        );
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "x".repeat(1000);
        assert!(shorten(&long).chars().count() <= MAX_MESSAGE + 1);
    }
}
