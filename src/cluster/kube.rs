//! kube-rs implementation of [`super::Cluster`].
//!
//! Every call is one small REST request. Writes use server-side apply so that the
//! tool only ever owns the annotations and labels it lists, and never clobbers
//! fields other managers (Helm, GitOps controllers, people) set. Transient
//! failures (409 Conflict, 429, 5xx, transport errors) are retried a few times
//! with exponential backoff; everything else is reported at once, mapped to a
//! [`KubeError`] that names the verb and resource RBAC would need.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error as _;
use std::time::Duration;

use ::kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use ::kube::client::AuthError;
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config, Resource};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, Namespace, Pod as K8sPod, PodTemplateSpec, ServiceAccount as K8sServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{
    Cluster, FIELD_MANAGER, KubeError, KubeErrorKind, Owner, Pod, Removal, ServiceAccount,
};

/// How many times a retryable request is sent in all.
const ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled before each further one (200, 400, 800 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// kube-rs has no read timeout by default; a CLI should not hang forever on a
/// half-open connection to the API server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Server messages can be whole HTML pages (proxies, load balancers): keep them short.
const MAX_MESSAGE: usize = 300;
/// Pods per list page: kubectl's default chunk size, small enough that a big
/// namespace does not become one huge response.
const PAGE_SIZE: u32 = 500;
/// The pod template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// How Kubernetes writes times (and how k8s-openapi serializes them).
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

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
        // A failing credential command (an expired SSO session, say) is not
        // a usage error: it is reported as the cluster rejecting the run (exit 1).
        let client = Client::try_from(config).map_err(|e| match &e {
            ::kube::Error::Auth(a) => crate::Error::Kube(KubeError::new(
                "authenticate",
                "the kubeconfig's user",
                KubeErrorKind::Unauthorized,
                auth_message(a, exec_command.as_deref()),
            )),
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

    /// Deletes `name` from `api`; one already gone counts as deleted.
    async fn delete_gone_ok<K>(
        &self,
        api: Api<K>,
        name: &str,
        what: String,
    ) -> Result<(), KubeError>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let dp = DeleteParams::default();
        with_retries(async || match api.delete(name, &dp).await {
            Ok(_) => Ok(()),
            // Already gone: deleting is idempotent.
            Err(::kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|f| self.error(f, "delete", what))
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

    fn pods_api(&self, namespace: &str) -> Api<K8sPod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// One page of pods, retried like every call.
    async fn pod_page(
        &self,
        namespace: &str,
        lp: &ListParams,
    ) -> Result<::kube::core::ObjectList<K8sPod>, Failure> {
        let api = self.pods_api(namespace);
        with_retries(async || api.list(lp).await).await
    }

    /// `get` of a namespaced object; None when it does not exist.
    async fn get_opt<K>(
        &self,
        namespace: &str,
        name: &str,
        plural: &str,
    ) -> Result<Option<K>, KubeError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        with_retries(async || api.get_opt(name).await)
            .await
            .map_err(|f| self.error(f, "get", resource(plural, namespace, name)))
    }

    /// The controller owner of a namespaced object of type `K`.
    async fn controller_of<K>(
        &self,
        namespace: &str,
        name: &str,
        plural: &str,
    ) -> Result<Option<Owner>, KubeError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let found: Option<K> = self.get_opt(namespace, name, plural).await?;
        Ok(found.and_then(|object| controller(object.meta())))
    }

    /// Sends the restart patch to a workload of type `K`, and checks that the
    /// answered object's pod template (read by `template`) carries `at`.
    async fn patch_restart<K>(
        &self,
        namespace: &str,
        name: &str,
        plural: &str,
        at: &str,
        template: fn(&K) -> Option<&PodTemplateSpec>,
    ) -> Result<(), KubeError>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = Patch::Strategic(restart_patch(at));
        let resource = resource(plural, namespace, name);
        let answered = with_retries(async || api.patch(name, &pp, &patch).await)
            .await
            .map_err(|f| self.error(f, "patch", resource.clone()))?;
        match restarted_at(template(&answered)) {
            Some(value) if value == at => Ok(()),
            found => Err(KubeError::new(
                "patch",
                resource,
                KubeErrorKind::Other,
                format!(
                    "the server accepted the restart but answered with {RESTARTED_AT} {}, not {at:?}",
                    found.map_or_else(|| "unset".to_string(), |v| format!("{v:?}"))
                ),
            )),
        }
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

/// What the tool reads of a ServiceAccount, field ownership included.
fn observed(sa: K8sServiceAccount) -> ServiceAccount {
    let mut annotation_managers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Compared as instants, formatted once at the end.
    let mut latest: BTreeMap<String, &Time> = BTreeMap::new();
    for entry in sa.metadata.managed_fields.iter().flatten() {
        let (Some(manager), Some(fields)) = (&entry.manager, &entry.fields_v1) else {
            continue;
        };
        let keys = fields
            .0
            .get("f:metadata")
            .and_then(|m| m.get("f:annotations"))
            .and_then(Value::as_object);
        for key in keys.into_iter().flat_map(|m| m.keys()) {
            if let Some(key) = key.strip_prefix("f:") {
                annotation_managers
                    .entry(key.to_string())
                    .or_default()
                    .insert(manager.clone());
                if let Some(time) = &entry.time {
                    let slot = latest.entry(key.to_string()).or_insert(time);
                    if time > *slot {
                        *slot = time;
                    }
                }
            }
        }
    }
    let annotation_times = latest
        .into_iter()
        .filter_map(|(key, time)| Some((key, rfc3339(time)?)))
        .collect();
    ServiceAccount {
        annotations: sa.metadata.annotations.unwrap_or_default(),
        labels: sa.metadata.labels.unwrap_or_default(),
        annotation_managers,
        annotation_times,
    }
}

/// A Kubernetes time as the API writes it; None only for a year jiff cannot
/// print in four digits, which no server sends.
fn rfc3339(time: &Time) -> Option<String> {
    k8s_openapi::jiff::fmt::strtime::format(TIME_FORMAT, time.0).ok()
}

/// The controller among an object's owner references (`controller: true`).
fn controller(meta: &ObjectMeta) -> Option<Owner> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| Owner {
            kind: r.kind.clone(),
            name: r.name.clone(),
        })
}

/// What the tool reads of a pod.
fn observed_pod(pod: K8sPod) -> Pod {
    let owner = controller(&pod.metadata);
    let created = pod.metadata.creation_timestamp.as_ref().and_then(rfc3339);
    let spec = pod.spec.unwrap_or_default();
    // The webhook sets the variable in every container, init containers too;
    // the first one that has it is as good as any.
    let role_arn_env = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find_map(role_arn_env);
    let token_volume = spec
        .volumes
        .iter()
        .flatten()
        .any(|v| v.name == TOKEN_VOLUME && v.projected.is_some());
    // EKS Pod Identity's webhook points the SDKs at the node agent instead.
    let container_credentials = spec.containers.iter().any(|c| {
        c.env
            .iter()
            .flatten()
            .any(|e| e.name == CONTAINER_CREDENTIALS)
    });
    Pod {
        name: pod.metadata.name.unwrap_or_default(),
        service_account: spec
            .service_account_name
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_string()),
        owner,
        role_arn_env,
        token_volume,
        container_credentials,
        created,
        phase: pod.status.and_then(|s| s.phase),
    }
}

/// The variable EKS Pod Identity injects (the agent's credentials endpoint).
const CONTAINER_CREDENTIALS: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";

/// The volume the EKS pod identity webhook adds for the web identity token.
const TOKEN_VOLUME: &str = "aws-iam-token";

fn role_arn_env(container: &Container) -> Option<String> {
    container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "AWS_ROLE_ARN")
        .and_then(|e| e.value.clone())
}

/// The strategic merge patch `kubectl rollout restart` sends.
fn restart_patch(at: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}})
}

/// `restartedAt` on an answered pod template.
fn restarted_at(template: Option<&PodTemplateSpec>) -> Option<&str> {
    template?
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(RESTARTED_AT)
        .map(String::as_str)
}

/// The REST resource (plural) of a kind, as RBAC and error messages name it.
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

fn resource(plural: &str, namespace: &str, name: &str) -> String {
    format!("{plural} {namespace}/{name}")
}

/// RFC 6902: remove `key` from the annotations only while it equals `expected`.
fn guarded_removal(key: &str, expected: &str) -> json_patch::Patch {
    use json_patch::jsonptr::PointerBuf;
    use json_patch::{PatchOperation, RemoveOperation, TestOperation};
    // Tokens are escaped for us (RFC 6901: `~` as `~0`, `/` as `~1`).
    let path = PointerBuf::from_tokens(["metadata", "annotations", key]);
    json_patch::Patch(vec![
        PatchOperation::Test(TestOperation {
            path: path.clone(),
            value: Value::String(expected.to_string()),
        }),
        PatchOperation::Remove(RemoveOperation { path }),
    ])
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
        Ok(found.map(observed))
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
    ) -> Result<ServiceAccount, KubeError> {
        let api = self.service_accounts(namespace);
        // force: take over a key another manager set to a different value
        // (e.g. a stale role-arn written by eksctl); the planner decides
        // beforehand whether that is allowed.
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(apply_body(namespace, name, annotations, labels));
        with_retries(async || api.patch(name, &pp, &patch).await.map(observed))
            .await
            .map_err(|f| self.error(f, "patch", sa_resource(namespace, name)))
    }

    async fn remove_annotation(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        expected: &str,
    ) -> Result<Removal, KubeError> {
        let api = self.service_accounts(namespace);
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch: Patch<()> = Patch::Json(guarded_removal(key, expected));
        let resource = sa_resource(namespace, name);
        let answered = with_retries(async || match api.patch(name, &pp, &patch).await {
            Ok(sa) => Ok(Ok(observed(sa))),
            // 422: the `test` failed or the key is gone, most likely; checked below.
            Err(::kube::Error::Api(s)) if s.code == 422 => Ok(Err(s)),
            Err(e) => Err(e),
        })
        .await;
        match answered {
            Ok(Ok(sa)) if sa.annotations.contains_key(key) => Err(KubeError::new(
                "patch",
                resource,
                KubeErrorKind::Other,
                format!(
                    "the server accepted the removal of annotation {key} but answered with it still set"
                ),
            )),
            Ok(Ok(_)) => Ok(Removal::Removed),
            Ok(Err(status)) => {
                // 422 is also how admission (a ValidatingAdmissionPolicy, a
                // webhook) refuses: call it a change only if it is one.
                match self.service_account(namespace, name).await? {
                    None => Ok(Removal::Gone),
                    Some(sa) if sa.annotations.get(key).map(String::as_str) == Some(expected) => {
                        let failure = Failure {
                            error: ::kube::Error::Api(status),
                            attempts: 1,
                        };
                        Err(self.error(failure, "patch", resource))
                    }
                    Some(_) => Ok(Removal::Changed),
                }
            }
            Err(f) if matches!(&f.error, ::kube::Error::Api(s) if s.code == 404) => {
                Ok(Removal::Gone)
            }
            Err(f) => Err(self.error(f, "patch", resource)),
        }
    }

    async fn delete_service_account(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        self.delete_gone_ok(
            self.service_accounts(namespace),
            name,
            sa_resource(namespace, name),
        )
        .await
    }

    async fn pods(&self, namespace: &str) -> Result<Vec<Pod>, KubeError> {
        let what = format!("pods {namespace}");
        let mut pods = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE_SIZE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = match self.pod_page(namespace, &lp).await {
                Ok(page) => page,
                // 410 Expired: the token outlived etcd's compaction (a slow
                // walk of a huge namespace). As client-go's pager does, fall
                // back to one full list rather than fail.
                Err(f) if token.is_some() && is_expired(&f.error) => {
                    let all = self
                        .pod_page(namespace, &ListParams::default())
                        .await
                        .map_err(|f| self.error(f, "list", what.clone()))?;
                    return Ok(all.items.into_iter().map(observed_pod).collect());
                }
                Err(f) => return Err(self.error(f, "list", what)),
            };
            pods.extend(page.items.into_iter().map(observed_pod));
            match page.metadata.continue_.filter(|t| !t.is_empty()) {
                None => return Ok(pods),
                // A server that hands back the token it was given would
                // keep us listing forever.
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(KubeError::new(
                        "list",
                        what,
                        KubeErrorKind::Other,
                        "the server answered a page with the continue token it was sent",
                    ));
                }
                Some(next) => token = Some(next),
            }
        }
    }

    async fn owner_of(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<Owner>, KubeError> {
        let p = plural(kind);
        match kind {
            "ReplicaSet" => self.controller_of::<ReplicaSet>(namespace, name, &p).await,
            "Deployment" => self.controller_of::<Deployment>(namespace, name, &p).await,
            "StatefulSet" => self.controller_of::<StatefulSet>(namespace, name, &p).await,
            "DaemonSet" => self.controller_of::<DaemonSet>(namespace, name, &p).await,
            "Job" => self.controller_of::<Job>(namespace, name, &p).await,
            // Kinds the tool does not walk up from (CronJob, custom controllers):
            // the caller treats the object itself as the workload.
            _ => Ok(None),
        }
    }

    async fn restart(&self, namespace: &str, owner: &Owner, at: &str) -> Result<(), KubeError> {
        let p = plural(&owner.kind);
        let name = owner.name.as_str();
        match owner.kind.as_str() {
            "Deployment" => {
                self.patch_restart::<Deployment>(namespace, name, &p, at, |d| {
                    d.spec.as_ref().map(|s| &s.template)
                })
                .await
            }
            "StatefulSet" => {
                self.patch_restart::<StatefulSet>(namespace, name, &p, at, |s| {
                    s.spec.as_ref().map(|s| &s.template)
                })
                .await
            }
            "DaemonSet" => {
                self.patch_restart::<DaemonSet>(namespace, name, &p, at, |d| {
                    d.spec.as_ref().map(|s| &s.template)
                })
                .await
            }
            other => Err(KubeError::new(
                "patch",
                resource(&p, namespace, name),
                KubeErrorKind::Invalid,
                format!(
                    "a {other} cannot be restarted: only Deployments, StatefulSets and DaemonSets roll out"
                ),
            )),
        }
    }

    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        self.delete_gone_ok(
            self.pods_api(namespace),
            name,
            resource("pods", namespace, name),
        )
        .await
    }
}

/// 410 Gone / Expired: a list's continue token is too old.
fn is_expired(e: &::kube::Error) -> bool {
    matches!(e, ::kube::Error::Api(s) if s.code == 410 || s.reason == "Expired")
}

/// The last error of a request, and how many times it was sent.
struct Failure {
    error: ::kube::Error,
    attempts: u32,
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or has been
/// tried [`ATTEMPTS`] times. Every call here is idempotent (GET, list page,
/// POST of a fixed object, apply, a merge patch to a fixed value, DELETE) or
/// guarded (a JSON patch's `test` fails when resent after a lost success), so
/// resending is safe.
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
    fn guarded_removal_escapes_the_key_as_a_json_pointer() {
        let arn = "arn:aws:iam::123456789012:role/r";
        let patch = serde_json::to_value(guarded_removal("eks.amazonaws.com/role-arn", arn))
            .unwrap_or_default();
        let path = "/metadata/annotations/eks.amazonaws.com~1role-arn";
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": path, "value": arn},
                {"op": "remove", "path": path},
            ])
        );
        // `~` is escaped too, so a literal `~1` in a key is not read as `/`.
        let odd = serde_json::to_value(guarded_removal("x/a~1b", "v")).unwrap_or_default();
        assert_eq!(odd[0]["path"], "/metadata/annotations/x~1a~01b");
        assert_eq!(odd[1]["path"], "/metadata/annotations/x~1a~01b");
    }

    fn account(managed_fields: Value) -> K8sServiceAccount {
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "sa",
                "namespace": "ns",
                "annotations": {"eks.amazonaws.com/role-arn": "arn", "owner": "team"},
                "labels": {"team": "obs"},
                "managedFields": managed_fields,
            },
        }))
        .unwrap_or_default()
    }

    #[test]
    fn observed_reads_annotation_managers_from_managed_fields() {
        let sa = observed(account(json!([
            {
                "manager": "kubectl-amp-iam", "operation": "Apply", "apiVersion": "v1",
                "time": "2024-01-01T00:00:01Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:eks.amazonaws.com/role-arn": {}}}},
            },
            {
                // As kubectl writes it: `.` is the map itself, not a key.
                "manager": "kubectl-annotate", "operation": "Update", "apiVersion": "v1",
                "time": "2024-01-01T00:00:02Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {
                    "f:annotations": {".": {}, "f:eks.amazonaws.com/role-arn": {}, "f:owner": {}},
                    "f:labels": {"f:team": {}},
                }},
            },
            {
                "manager": "helm", "operation": "Update", "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}},
            },
            {"operation": "Update", "fieldsV1": {"f:metadata": {"f:annotations": {"f:owner": {}}}}},
            {"manager": "no-fields", "operation": "Update"},
        ])));
        let managers = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            sa.annotation_managers,
            BTreeMap::from([
                (
                    "eks.amazonaws.com/role-arn".to_string(),
                    managers(&["kubectl-amp-iam", "kubectl-annotate"])
                ),
                ("owner".to_string(), managers(&["kubectl-annotate"])),
            ])
        );
        assert_eq!(sa.annotations.len(), 2);
        assert_eq!(sa.labels.get("team").map(String::as_str), Some("obs"));
    }

    #[test]
    fn observed_without_managed_fields_has_no_managers() {
        let sa = observed(account(Value::Null));
        assert!(sa.annotation_managers.is_empty());
        assert!(sa.annotation_times.is_empty());
        assert_eq!(sa.annotations.len(), 2);
    }

    #[test]
    fn annotation_times_are_the_latest_write_of_each_key() {
        let sa = observed(account(json!([
            {
                "manager": "kubectl-annotate", "operation": "Update",
                "time": "2024-03-01T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:eks.amazonaws.com/role-arn": {}, "f:owner": {}}}},
            },
            {
                // Listed first by the server (Apply entries come first) but later in time.
                "manager": "kubectl-amp-iam", "operation": "Apply",
                "time": "2024-03-02T09:30:00+00:00", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:eks.amazonaws.com/role-arn": {}}}},
            },
            {
                // An earlier write must not win by coming last.
                "manager": "helm", "operation": "Update",
                "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:owner": {}}}},
            },
            {
                // No time: a manager, but no time for its keys.
                "manager": "untimed", "operation": "Update", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {"f:owner": {}}, "f:labels": {"f:team": {}}}},
            },
            {
                // Label times are not annotation times.
                "manager": "labeller", "operation": "Update", "time": "2025-01-01T00:00:00Z",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}},
            },
        ])));
        assert_eq!(
            sa.annotation_times,
            BTreeMap::from([
                (
                    "eks.amazonaws.com/role-arn".to_string(),
                    "2024-03-02T09:30:00Z".to_string()
                ),
                ("owner".to_string(), "2024-03-01T10:00:00Z".to_string()),
            ])
        );
    }

    fn pod(value: Value) -> K8sPod {
        match serde_json::from_value(value) {
            Ok(pod) => pod,
            Err(e) => panic!("not a pod: {e}"),
        }
    }

    #[test]
    fn observed_pod_reads_the_webhook_injection() {
        let p = observed_pod(pod(json!({
            "metadata": {
                "name": "prometheus-server-5d9f-abcde",
                "creationTimestamp": "2024-01-01T00:00:07Z",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "1"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "prometheus-server-5d9f",
                     "uid": "2", "controller": true},
                ],
            },
            "spec": {
                "serviceAccountName": "amp",
                "initContainers": [{"name": "init", "env": [{"name": "AWS_ROLE_ARN", "value": "arn:init"}]}],
                "containers": [
                    {"name": "a", "env": [{"name": "OTHER", "value": "x"}]},
                    {"name": "b", "env": [{"name": "AWS_ROLE_ARN", "value": "arn:b"}]},
                ],
                "volumes": [{"name": "aws-iam-token", "projected": {"sources": [
                    {"serviceAccountToken": {"audience": "sts.amazonaws.com", "path": "token"}}
                ]}}],
            },
            "status": {"phase": "Running"},
        })));
        assert_eq!(
            p,
            Pod {
                name: "prometheus-server-5d9f-abcde".to_string(),
                service_account: "amp".to_string(),
                owner: Some(Owner {
                    kind: "ReplicaSet".to_string(),
                    name: "prometheus-server-5d9f".to_string()
                }),
                // Containers before init containers.
                role_arn_env: Some("arn:b".to_string()),
                token_volume: true,
                container_credentials: false,
                created: Some("2024-01-01T00:00:07Z".to_string()),
                phase: Some("Running".to_string()),
            }
        );
    }

    #[test]
    fn observed_pod_without_injection_or_spec() {
        let p = observed_pod(pod(json!({
            "metadata": {
                "name": "bare",
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "1", "controller": false}],
            },
            "spec": {
                "serviceAccountName": "",
                "initContainers": [{"name": "init", "env": [{"name": "AWS_ROLE_ARN", "value": "arn:init"}]}],
                "containers": [{"name": "a", "env": [{"name": "AWS_ROLE_ARN", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}],
                // The right name, but not projected: not the webhook's.
                "volumes": [{"name": "aws-iam-token", "emptyDir": {}}],
            },
        })));
        assert_eq!(p.service_account, "default");
        assert_eq!(p.owner, None);
        assert_eq!(p.role_arn_env.as_deref(), Some("arn:init"));
        assert!(!p.token_volume);
        assert_eq!((p.created, p.phase), (None, None));

        let empty = observed_pod(pod(json!({"metadata": {}})));
        assert_eq!(empty.service_account, "default");
        assert_eq!(empty.role_arn_env, None);
        assert!(!empty.container_credentials);
    }

    #[test]
    fn observed_pod_reads_the_pod_identity_injection() {
        let p = observed_pod(pod(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "env": [
                {"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"},
                {"name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "value": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"},
            ]}]},
        })));
        assert!(p.container_credentials);
        assert_eq!(p.role_arn_env, None);
    }

    #[test]
    fn restart_patch_is_what_kubectl_rollout_restart_sends() {
        assert_eq!(
            restart_patch("2024-05-01T12:00:00Z"),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2024-05-01T12:00:00Z"
            }}}}})
        );
    }

    #[test]
    fn plurals_name_the_rbac_resources() {
        assert_eq!(plural("Deployment"), "deployments");
        assert_eq!(plural("StatefulSet"), "statefulsets");
        assert_eq!(plural("ReplicaSet"), "replicasets");
        assert_eq!(plural("CronJob"), "cronjobs");
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "x".repeat(1000);
        assert!(shorten(&long).chars().count() <= MAX_MESSAGE + 1);
    }
}
