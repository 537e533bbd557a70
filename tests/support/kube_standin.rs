//! A small, stateful stand-in for the Kubernetes API server, built on wiremock.
//!
//! It knows namespaces, ServiceAccounts, pods and the workloads that own them
//! (ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs, CronJobs), with
//! emulated controllers and EKS pod identity webhook: see "Pods and
//! workloads" below. For ServiceAccounts it models field ownership of
//! `metadata.annotations` and `metadata.labels` per key, the way kube-apiserver
//! does, with one owner per (field manager, operation):
//!
//! - server-side apply (`application/apply-patch+yaml`, operation `Apply`): a
//!   manager's apply sets the keys it lists (sharing ownership of a key another
//!   manager holds at the same value), releases the keys it applied before but
//!   no longer lists (a key stays while anyone else owns it), and conflicts
//!   (409) with every other owner, `Update` ones included, of a key it would
//!   change, unless `force=true`, which takes the key from them;
//! - JSON patch (`application/json-patch+json`: `test`, `add`, `replace`,
//!   `remove` of one key or a whole map, atomic; a failed op is the real 422)
//!   and merge patch (`application/merge-patch+json`, and strategic merge
//!   patch, the same for these maps; `null` removes), operation `Update` by
//!   `fieldManager`, or the User-Agent's first token when absent: a removed key
//!   leaves every owner, a new or changed key is owned by the patcher alone, an
//!   unchanged one keeps its owners (and a patch that changes nothing is no write);
//! - every ServiceAccount answer lists `metadata.managedFields` (`FieldsV1`).
//!
//! Errors are real `Status` bodies, worded like kube-apiserver's, so kube-rs
//! turns them into `kube::Error::Api`.
//!
//! Include it with `#[path = "support/kube_standin.rs"] mod kube_standin;`.
//!
//! Not modelled for ServiceAccounts: resourceVersion preconditions (except
//! `metadata.resourceVersion` in a merge patch), anything but annotations and
//! labels of a ServiceAccount (other JSON patch paths and merge patch fields
//! are refused with 422), `move`/`copy` ops, strategic merge directives
//! (`$patch`...), dry runs, managedFields of namespaces, the map entries (`.`)
//! of managedFields, namespace deletion. Times in managedFields and
//! creationTimestamps count seconds of writes from 2024-01-01, not the clock.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use wiremock::matchers::{any, method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const NAMESPACE_PATH: &str = r"^/api/v1/namespaces/[^/]+$";
const NAMESPACES_PATH: &str = r"^/api/v1/namespaces$";
const SERVICE_ACCOUNT_PATH: &str = r"^/api/v1/namespaces/[^/]+/serviceaccounts/[^/]+$";
const PODS_PATH: &str = r"^/api/v1/namespaces/[^/]+/pods$";
const POD_PATH: &str = r"^/api/v1/namespaces/[^/]+/pods/[^/]+$";
const OBJECTS_PATH: &str = r"^/apis/(apps|batch)/v1/namespaces/[^/]+/[^/]+$";
const OBJECT_PATH: &str = r"^/apis/(apps|batch)/v1/namespaces/[^/]+/[^/]+/[^/]+$";
const APPLY_CONTENT_TYPE: &str = "application/apply-patch+yaml";
const JSON_PATCH_CONTENT_TYPE: &str = "application/json-patch+json";
const MERGE_PATCH_CONTENT_TYPE: &str = "application/merge-patch+json";
const STRATEGIC_MERGE_PATCH_CONTENT_TYPE: &str = "application/strategic-merge-patch+json";
const CREATED_AT: &str = "2024-01-01T00:00:00Z";
/// What kube-apiserver answers when a JSON patch does not apply (the cause
/// holds the patch library's own words).
const PATCH_REJECTED: &str = "the server rejected our request due to an error in our request";

pub struct KubeStandin {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, Meta>,
    service_accounts: BTreeMap<(String, String), StoredAccount>,
    /// Pods by (namespace, name), as the API returns them.
    pods: BTreeMap<(String, String), Value>,
    /// ReplicaSets, Deployments, StatefulSets, DaemonSets, Jobs, CronJobs.
    objects: BTreeMap<(String, Kind, String), Value>,
    /// Off emulates a cluster without the EKS pod identity webhook.
    webhook_off: bool,
    /// PATCH requests a workload accepted.
    workload_patches: usize,
    /// Continue tokens issued at a resourceVersion below this are expired.
    compacted: u64,
    /// Compact right after the next first page of a list.
    compact_after_first_page: bool,
    failures: Vec<Injected>,
    counter: u64,
    log: bool,
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn new_meta(&mut self) -> Meta {
        let n = self.next();
        Meta {
            uid: format!("00000000-0000-4000-8000-{n:012}"),
            resource_version: n,
        }
    }
}

struct Meta {
    uid: String,
    resource_version: u64,
}

/// The two maps whose keys have owners.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Annotations,
    Labels,
}

impl Section {
    const ALL: [Section; 2] = [Section::Annotations, Section::Labels];

    fn name(self) -> &'static str {
        match self {
            Section::Annotations => "annotations",
            Section::Labels => "labels",
        }
    }
}

/// `managedFields[].operation`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry's identity: the same manager name applying and
/// patching owns fields twice over, as on a real server.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Owner {
    manager: String,
    operation: Operation,
}

impl Owner {
    fn new(manager: &str, operation: Operation) -> Owner {
        Owner {
            manager: manager.to_string(),
            operation,
        }
    }

    /// How conflict messages name it (Update owners carry their API version).
    fn printed(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.manager),
            Operation::Update => format!("{:?} using v1", self.manager),
        }
    }
}

struct StoredAccount {
    meta: Meta,
    annotations: BTreeMap<String, Field>,
    labels: BTreeMap<String, Field>,
    /// The write (counter value) at which each owner last wrote, for `time`.
    written: BTreeMap<Owner, u64>,
}

impl StoredAccount {
    fn fields(&self, section: Section) -> &BTreeMap<String, Field> {
        match section {
            Section::Annotations => &self.annotations,
            Section::Labels => &self.labels,
        }
    }

    fn fields_mut(&mut self, section: Section) -> &mut BTreeMap<String, Field> {
        match section {
            Section::Annotations => &mut self.annotations,
            Section::Labels => &mut self.labels,
        }
    }

    fn maps(&self) -> Maps {
        let values = |fields: &BTreeMap<String, Field>| {
            fields
                .iter()
                .map(|(k, f)| (k.clone(), f.value.clone()))
                .collect()
        };
        Maps {
            annotations: values(&self.annotations),
            labels: values(&self.labels),
        }
    }
}

/// One annotation or label: its value and who owns it.
struct Field {
    value: String,
    owners: BTreeSet<Owner>,
}

struct Injected {
    method: String,
    status: u16,
    remaining: usize,
}

/// Which endpoint a mock serves.
#[derive(Clone, Copy)]
enum Route {
    GetNamespace,
    CreateNamespace,
    GetServiceAccount,
    PatchServiceAccount,
    DeleteServiceAccount,
    ListPods,
    GetPod,
    DeletePod,
    ListObjects,
    GetObject,
    PatchObject,
    Unknown,
}

struct Handler {
    state: Arc<Mutex<State>>,
    route: Route,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not turn every later request into a panic.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn to_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl KubeStandin {
    /// Starts an empty API server on a random local port.
    pub async fn start() -> KubeStandin {
        Self::with_server(MockServer::start().await).await
    }

    /// Starts an empty API server on `listener` (e.g. a fixed port for a demo).
    pub async fn start_on(listener: std::net::TcpListener) -> KubeStandin {
        Self::with_server(MockServer::builder().listener(listener).start().await).await
    }

    async fn with_server(server: MockServer) -> KubeStandin {
        let state = Arc::new(Mutex::new(State::default()));
        let routes = [
            ("GET", NAMESPACE_PATH, Route::GetNamespace),
            ("POST", NAMESPACES_PATH, Route::CreateNamespace),
            ("GET", SERVICE_ACCOUNT_PATH, Route::GetServiceAccount),
            ("PATCH", SERVICE_ACCOUNT_PATH, Route::PatchServiceAccount),
            ("DELETE", SERVICE_ACCOUNT_PATH, Route::DeleteServiceAccount),
            ("GET", PODS_PATH, Route::ListPods),
            ("GET", POD_PATH, Route::GetPod),
            ("DELETE", POD_PATH, Route::DeletePod),
            ("GET", OBJECTS_PATH, Route::ListObjects),
            ("GET", OBJECT_PATH, Route::GetObject),
            ("PATCH", OBJECT_PATH, Route::PatchObject),
        ];
        for (verb, path, route) in routes {
            Mock::given(method(verb))
                .and(path_regex(path))
                .respond_with(Handler {
                    state: Arc::clone(&state),
                    route,
                })
                .with_priority(1)
                .mount(&server)
                .await;
        }
        // Everything else: a 404 Status, as an API server answers an unknown path.
        Mock::given(any())
            .respond_with(Handler {
                state: Arc::clone(&state),
                route: Route::Unknown,
            })
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        KubeStandin { server, state }
    }

    /// `http://127.0.0.1:PORT`, the cluster URL for a kube `Config`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Print each request and the status answered to stderr.
    pub fn set_log(&self, on: bool) {
        lock(&self.state).log = on;
    }

    /// Seeds a namespace (no-op if it exists).
    pub fn add_namespace(&self, ns: &str) {
        let mut state = lock(&self.state);
        if !state.namespaces.contains_key(ns) {
            let meta = state.new_meta();
            state.namespaces.insert(ns.to_string(), meta);
        }
    }

    pub fn has_namespace(&self, ns: &str) -> bool {
        lock(&self.state).namespaces.contains_key(ns)
    }

    /// Seeds a ServiceAccount as if `manager` (another tool) had server-side
    /// applied exactly these annotations and labels, forced (so it takes over
    /// keys others hold at another value). Creates the namespace too.
    pub fn put_service_account(
        &self,
        ns: &str,
        name: &str,
        annotations: &[(&str, &str)],
        labels: &[(&str, &str)],
        manager: &str,
    ) {
        self.add_namespace(ns);
        let applied = Maps {
            annotations: to_map(annotations),
            labels: to_map(labels),
        };
        let mut state = lock(&self.state);
        // Forced, so seeding never fails on a conflict.
        let _ = apply(&mut state, ns, name, manager, true, &applied);
    }

    /// Sets one annotation as `kubectl annotate --overwrite` does: an `Update`
    /// by `manager` (e.g. `kubectl-annotate`) that owns the key alone from now
    /// on if it changed it. The ServiceAccount must exist.
    pub fn annotate(
        &self,
        ns: &str,
        name: &str,
        key: &str,
        value: &str,
        manager: &str,
    ) -> Result<(), String> {
        let mut state = lock(&self.state);
        let id = (ns.to_string(), name.to_string());
        let Some(sa) = state.service_accounts.get(&id) else {
            return Err(format!("serviceaccounts \"{name}\" not found in {ns}"));
        };
        let mut after = sa.maps();
        after.annotations.insert(key.to_string(), value.to_string());
        update(&mut state, &id, manager, &after);
        Ok(())
    }

    /// The stored ServiceAccount, as a GET would return it.
    pub fn service_account(&self, ns: &str, name: &str) -> Option<Value> {
        let state = lock(&self.state);
        state
            .service_accounts
            .get(&(ns.to_string(), name.to_string()))
            .map(|sa| account_json(ns, name, sa))
    }

    /// Who owns what on a ServiceAccount: `"annotations/<key>"` or
    /// `"labels/<key>"` → field manager names (whatever the operation).
    pub fn field_managers(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<BTreeMap<String, BTreeSet<String>>> {
        let owners = self.field_owners(ns, name)?;
        Some(
            owners
                .into_iter()
                .map(|(key, set)| (key, set.into_iter().map(|(m, _)| m).collect()))
                .collect(),
        )
    }

    /// Like [`Self::field_managers`], with each manager's operation:
    /// `("kubectl-annotate", "Update")`, `("kubectl-amp-iam", "Apply")`.
    pub fn field_owners(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<BTreeMap<String, BTreeSet<(String, String)>>> {
        let state = lock(&self.state);
        let sa = state
            .service_accounts
            .get(&(ns.to_string(), name.to_string()))?;
        let mut owners = BTreeMap::new();
        for section in Section::ALL {
            for (key, field) in sa.fields(section) {
                let set = field
                    .owners
                    .iter()
                    .map(|o| (o.manager.clone(), o.operation.as_str().to_string()))
                    .collect();
                owners.insert(format!("{}/{key}", section.name()), set);
            }
        }
        Some(owners)
    }

    /// Makes the next `n` requests with HTTP method `method` (any path) fail
    /// with `status` and a matching `Status` body. Calls queue up in order.
    pub fn fail_next(&self, method: &str, status: u16, n: usize) {
        lock(&self.state).failures.push(Injected {
            method: method.to_ascii_uppercase(),
            status,
            remaining: n,
        });
    }

    /// Every request received so far, in order.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Requests received so far with this HTTP method.
    pub async fn requests_with_method(&self, method: &str) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str().eq_ignore_ascii_case(method))
            .collect()
    }

    /// How many non-GET requests were received (answered successfully or not).
    pub async fn writes(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() != "GET")
            .count()
    }
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let (code, body) = handle(&mut state, self.route, request);
        if state.log {
            let query = request
                .url
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let kind = match self.route {
                Route::PatchServiceAccount | Route::PatchObject => {
                    format!(" ({})", media_type(request))
                }
                _ => String::new(),
            };
            eprintln!(
                "{} {}{}{} -> {}",
                request.method,
                request.url.path(),
                query,
                kind,
                code
            );
        }
        ResponseTemplate::new(code).set_body_json(body)
    }
}

/// The path segments after `/api/v1/namespaces/`.
fn segments(request: &Request) -> Vec<String> {
    request
        .url
        .path()
        .trim_start_matches("/api/v1/namespaces")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn handle(state: &mut State, route: Route, request: &Request) -> (u16, Value) {
    let seg = segments(request);
    let ns = seg.first().cloned().unwrap_or_default();
    let name = seg.get(2).cloned().unwrap_or_default();
    let sa_target = || Target::service_account(&ns, &name);

    if let Some(code) = take_failure(state, request.method.as_str()) {
        let target = match route {
            Route::GetNamespace => Target::namespace(&ns),
            Route::CreateNamespace => Target::namespace(&name_in_body(request).unwrap_or_default()),
            Route::Unknown => Target::unknown(request.url.path()),
            Route::GetServiceAccount | Route::PatchServiceAccount | Route::DeleteServiceAccount => {
                sa_target()
            }
            Route::ListPods | Route::GetPod | Route::DeletePod => {
                Target::namespaced("", "pods", &ns, &name)
            }
            Route::ListObjects | Route::GetObject | Route::PatchObject => {
                let at = ObjectPath::of(request);
                Target::namespaced(&at.group, &at.plural, &at.ns, &at.name)
            }
        };
        return injected(code, request.method.as_str(), &target);
    }

    match route {
        Route::GetNamespace => match state.namespaces.get(&ns) {
            Some(meta) => (200, namespace_json(&ns, meta)),
            None => not_found(&Target::namespace(&ns)),
        },
        Route::CreateNamespace => create_namespace(state, request),
        Route::GetServiceAccount => match state.service_accounts.get(&(ns.clone(), name.clone())) {
            Some(sa) => (200, account_json(&ns, &name, sa)),
            None => not_found(&sa_target()),
        },
        Route::PatchServiceAccount => patch_request(state, &ns, &name, request),
        Route::DeleteServiceAccount => {
            match state.service_accounts.remove(&(ns.clone(), name.clone())) {
                Some(sa) => (
                    200,
                    json!({
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {"name": name, "kind": "serviceaccounts", "uid": sa.meta.uid},
                    }),
                ),
                None => not_found(&sa_target()),
            }
        }
        Route::ListPods => list_pods(state, &ns, request),
        Route::GetPod => match state.pods.get(&(ns.clone(), name.clone())) {
            Some(pod) => (200, pod.clone()),
            None => not_found(&Target::namespaced("", "pods", &ns, &name)),
        },
        Route::DeletePod => delete_pod(state, &ns, &name),
        Route::ListObjects => list_objects(state, request),
        Route::GetObject => get_object(state, request),
        Route::PatchObject => patch_object(state, request),
        Route::Unknown => unknown_path(request),
    }
}

fn unknown_path(request: &Request) -> (u16, Value) {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource".to_string(),
        &Target::unknown(request.url.path()),
    )
}

fn take_failure(state: &mut State, method: &str) -> Option<u16> {
    let slot = state
        .failures
        .iter_mut()
        .find(|f| f.remaining > 0 && f.method.eq_ignore_ascii_case(method))?;
    slot.remaining -= 1;
    let code = slot.status;
    state.failures.retain(|f| f.remaining > 0);
    Some(code)
}

fn name_in_body(request: &Request) -> Option<String> {
    let body = parse_body(&request.body)?;
    body.pointer("/metadata/name")?.as_str().map(str::to_string)
}

fn create_namespace(state: &mut State, request: &Request) -> (u16, Value) {
    let Some(name) = name_in_body(request) else {
        return status(
            422,
            "Invalid",
            "Namespace \"\" is invalid: metadata.name: Required value: name or generateName is required".to_string(),
            &Target::namespace(""),
        );
    };
    if state.namespaces.contains_key(&name) {
        return status(
            409,
            "AlreadyExists",
            format!("namespaces \"{name}\" already exists"),
            &Target::namespace(&name),
        );
    }
    let meta = state.new_meta();
    let body = namespace_json(&name, &meta);
    state.namespaces.insert(name, meta);
    (201, body)
}

/// Annotations and labels by value: what an apply lists, or what a patch leaves.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct Maps {
    annotations: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

impl Maps {
    fn get(&self, section: Section) -> &BTreeMap<String, String> {
        match section {
            Section::Annotations => &self.annotations,
            Section::Labels => &self.labels,
        }
    }
}

/// The media type of the body, without parameters (`; charset=utf-8`).
fn media_type(request: &Request) -> String {
    request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Which non-apply patch a PATCH carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    Json,
    Merge,
}

fn patch_request(state: &mut State, ns: &str, name: &str, request: &Request) -> (u16, Value) {
    let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
    let kind = match media_type(request).as_str() {
        APPLY_CONTENT_TYPE => return apply_request(state, ns, name, &query, request),
        JSON_PATCH_CONTENT_TYPE => PatchKind::Json,
        MERGE_PATCH_CONTENT_TYPE | STRATEGIC_MERGE_PATCH_CONTENT_TYPE => PatchKind::Merge,
        other => {
            return status(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: {JSON_PATCH_CONTENT_TYPE}, {MERGE_PATCH_CONTENT_TYPE}, {APPLY_CONTENT_TYPE}, {STRATEGIC_MERGE_PATCH_CONTENT_TYPE} (got {other:?})"
                ),
                &Target::service_account(ns, name),
            );
        }
    };
    update_request(state, ns, name, kind, &query, request)
}

fn apply_request(
    state: &mut State,
    ns: &str,
    name: &str,
    query: &BTreeMap<String, String>,
    request: &Request,
) -> (u16, Value) {
    let target = Target::service_account(ns, name);
    let manager = query.get("fieldManager").cloned().unwrap_or_default();
    if manager.is_empty() {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".to_string(),
            &target,
        );
    }
    let force = query.get("force").is_some_and(|f| f == "true");
    let applied = match parse_apply(ns, name, &request.body) {
        Ok(applied) => applied,
        Err(why) => return status(400, "BadRequest", why, &target),
    };
    if !state.namespaces.contains_key(ns) {
        return not_found(&Target::namespace(ns));
    }
    match apply(state, ns, name, &manager, force, &applied) {
        Ok((created, body)) => (if created { 201 } else { 200 }, body),
        Err(conflicts) => conflict(&conflicts),
    }
}

/// The field manager of a non-apply write: the query parameter, else what
/// kube-apiserver derives from the User-Agent (`kubectl-annotate/v1.33.0 ...`
/// → `kubectl-annotate`).
fn update_manager(query: &BTreeMap<String, String>, request: &Request) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let agent = request
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let prefix = agent.split('/').next().unwrap_or("").trim();
    if prefix.is_empty() {
        "unknown".to_string()
    } else {
        prefix.to_string()
    }
}

fn update_request(
    state: &mut State,
    ns: &str,
    name: &str,
    kind: PatchKind,
    query: &BTreeMap<String, String>,
    request: &Request,
) -> (u16, Value) {
    let target = Target::service_account(ns, name);
    if query.contains_key("force") {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch".to_string(),
            &target,
        );
    }
    let manager = update_manager(query, request);
    let id = (ns.to_string(), name.to_string());
    // A patch never creates: the object is read first, so a missing one is
    // 404 before the body is even looked at.
    let Some(sa) = state.service_accounts.get(&id) else {
        return not_found(&target);
    };
    let after = match kind {
        PatchKind::Json => json_patch(sa, &request.body),
        PatchKind::Merge => merge_patch(sa, ns, name, &request.body),
    };
    match after {
        Ok(after) => {
            update(state, &id, &manager, &after);
            match state.service_accounts.get(&id) {
                Some(sa) => (200, account_json(ns, name, sa)),
                None => not_found(&target),
            }
        }
        Err(PatchError::BadRequest(why)) => status(400, "BadRequest", why, &target),
        Err(PatchError::Rejected(why)) => {
            let mut details = Map::new();
            details.insert(
                "causes".into(),
                json!([{"reason": "UnexpectedServerResponse", "message": why}]),
            );
            status_with(422, "Invalid", PATCH_REJECTED.to_string(), details)
        }
        Err(PatchError::Invalid(why)) => status(422, "Invalid", why, &target),
        Err(PatchError::Stale) => injected(409, "PATCH", &target),
    }
}

/// Why a non-apply patch was refused.
enum PatchError {
    /// 400: the body is not a patch at all.
    BadRequest(String),
    /// 422 as kube-apiserver answers when an op does not apply (failed `test`,
    /// missing path): the generic message, the patch library's words as cause.
    Rejected(String),
    /// 422 with this message (the patched object is not a valid ServiceAccount,
    /// or asks for something the stand-in does not model).
    Invalid(String),
    /// 409: `metadata.resourceVersion` in the patch is not the current one.
    Stale,
}

/// Annotations and labels while a JSON patch runs: `None` when the map is
/// absent (an empty map is never stored, as the server omits it).
struct PatchDoc {
    annotations: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

impl PatchDoc {
    fn of(sa: &StoredAccount) -> PatchDoc {
        let maps = sa.maps();
        let present = |m: BTreeMap<String, String>| (!m.is_empty()).then_some(m);
        PatchDoc {
            annotations: present(maps.annotations),
            labels: present(maps.labels),
        }
    }

    fn section(&mut self, section: Section) -> &mut Option<BTreeMap<String, String>> {
        match section {
            Section::Annotations => &mut self.annotations,
            Section::Labels => &mut self.labels,
        }
    }

    fn into_maps(self) -> Maps {
        Maps {
            annotations: self.annotations.unwrap_or_default(),
            labels: self.labels.unwrap_or_default(),
        }
    }
}

/// RFC 6901 token decoding in one left-to-right pass, as Go's
/// `strings.NewReplacer("~1", "/", "~0", "~")` does (so `~01` is `~1`).
fn unescape_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('~', Some('1')) => {
                out.push('/');
                chars.next();
            }
            ('~', Some('0')) => {
                out.push('~');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// What a JSON patch path points at, among what the stand-in models.
enum Pointer {
    /// `/metadata/annotations` or `/metadata/labels`.
    Map(Section),
    /// `/metadata/annotations/<key>`.
    Key(Section, String),
    /// Below a key (`/metadata/annotations/a/b`): inside a string, so missing.
    BelowKey,
}

fn parse_pointer(path: &str) -> Result<Pointer, PatchError> {
    let not_modelled = || {
        PatchError::Invalid(format!(
            "the stand-in only models JSON patches of /metadata/annotations and /metadata/labels, not {path:?}"
        ))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(not_modelled());
    };
    let tokens: Vec<String> = rest.split('/').map(unescape_token).collect();
    let (section, below) = match tokens.as_slice() {
        [m, s, below @ ..] if m == "metadata" && s == "annotations" => {
            (Section::Annotations, below)
        }
        [m, s, below @ ..] if m == "metadata" && s == "labels" => (Section::Labels, below),
        _ => return Err(not_modelled()),
    };
    match below {
        [] => Ok(Pointer::Map(section)),
        [key] => Ok(Pointer::Key(section, key.clone())),
        _ => Ok(Pointer::BelowKey),
    }
}

/// How decoding the patched object fails when a map or a value has the wrong type.
fn wrong_type(section: Section, value: &Value, of: &str) -> PatchError {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    PatchError::Invalid(format!(
        "ServiceAccount \"\" is invalid: patch: Invalid value: \"...\": json: cannot unmarshal {kind} into Go struct field ObjectMeta.metadata.{} of type {of}",
        section.name()
    ))
}

fn string_value(section: Section, value: Option<&Value>) -> Result<String, PatchError> {
    match value {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(wrong_type(section, other, "string")),
        None => Err(wrong_type(section, &Value::Null, "string")),
    }
}

fn string_map(
    section: Section,
    value: Option<&Value>,
) -> Result<Option<BTreeMap<String, String>>, PatchError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), string_value(section, Some(v))?)))
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        Some(other) => Err(wrong_type(section, other, "map[string]string")),
    }
}

/// Applies an RFC 6902 patch to the account's maps, all ops or none, with
/// the error texts of the patch library kube-apiserver uses (evanphx/json-patch).
fn json_patch(sa: &StoredAccount, body: &[u8]) -> Result<Maps, PatchError> {
    let ops: Vec<Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(ops)) => ops,
        Ok(other) => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                if other.is_object() { "object" } else { "value" }
            )));
        }
        Err(e) => return Err(PatchError::BadRequest(format!("invalid JSON patch: {e}"))),
    };
    let mut doc = PatchDoc::of(sa);
    for op in &ops {
        let Some(op) = op.as_object() else {
            return Err(PatchError::BadRequest(
                "json: cannot unmarshal value into Go value of type jsonpatch.Operation"
                    .to_string(),
            ));
        };
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
        let Some(path) = op.get("path").and_then(Value::as_str) else {
            return Err(PatchError::Rejected(
                "operation missing path field: missing value".to_string(),
            ));
        };
        let value = op.get("value");
        match kind {
            "test" | "remove" | "add" | "replace" => {}
            "move" | "copy" => {
                return Err(PatchError::Invalid(format!(
                    "the stand-in does not model JSON patch op {kind:?}"
                )));
            }
            other => return Err(PatchError::Rejected(format!("Unexpected kind: {other}"))),
        }
        apply_op(&mut doc, kind, path, value)?;
    }
    Ok(doc.into_maps())
}

fn apply_op(
    doc: &mut PatchDoc,
    kind: &str,
    path: &str,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let rejected = |m: String| Err(PatchError::Rejected(m));
    let missing_container = |verb: &str| match verb {
        "test" => format!("test operation does not apply: is missing path: {path}: missing value"),
        "replace" => {
            format!("replace operation does not apply: doc is missing path: {path}: missing value")
        }
        _ => format!(
            "{verb} operation does not apply: doc is missing path: \"{path}\": missing value"
        ),
    };
    let test_failed = || format!("testing value {path} failed: test failed");
    let is_null = value.is_none_or(Value::is_null);
    match parse_pointer(path)? {
        Pointer::BelowKey => rejected(missing_container(kind)),
        Pointer::Key(section, key) => {
            let slot = doc.section(section);
            let Some(map) = slot.as_mut() else {
                return rejected(missing_container(kind));
            };
            match kind {
                "test" => match map.get(&key) {
                    None if is_null => Ok(()),
                    Some(current) if value == Some(&Value::String(current.clone())) => Ok(()),
                    _ => rejected(test_failed()),
                },
                "remove" => match map.remove(&key) {
                    Some(_) => Ok(()),
                    None => rejected(format!(
                        "error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
                    )),
                },
                "replace" if !map.contains_key(&key) => rejected(format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                )),
                // add or replace
                _ => {
                    map.insert(key, string_value(section, value)?);
                    Ok(())
                }
            }
        }
        Pointer::Map(section) => {
            let slot = doc.section(section);
            match kind {
                "test" => {
                    let wanted = string_map(section, value).ok().flatten();
                    let same = match (&*slot, wanted) {
                        (None, None) => is_null,
                        (Some(current), Some(wanted)) => *current == wanted,
                        _ => false,
                    };
                    if same {
                        Ok(())
                    } else {
                        rejected(test_failed())
                    }
                }
                "remove" if slot.is_none() => rejected(format!(
                    "error in remove for path: '{path}': Unable to remove nonexistent key: {}: missing value",
                    section.name()
                )),
                "replace" if slot.is_none() => rejected(format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                )),
                "remove" => {
                    *slot = None;
                    Ok(())
                }
                // add or replace: the whole map
                _ => {
                    *slot = string_map(section, value)?;
                    Ok(())
                }
            }
        }
    }
}

/// Applies an RFC 7386 merge patch (or a strategic merge patch, which is the
/// same for string maps) to the account's maps.
fn merge_patch(sa: &StoredAccount, ns: &str, name: &str, body: &[u8]) -> Result<Maps, PatchError> {
    let patch: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(patch)) => patch,
        Ok(_) => {
            return Err(PatchError::BadRequest(
                "json: cannot unmarshal value into Go value of type map[string]interface {}"
                    .to_string(),
            ));
        }
        Err(e) => return Err(PatchError::BadRequest(format!("invalid merge patch: {e}"))),
    };
    let not_modelled = |what: &str| {
        PatchError::Invalid(format!(
            "the stand-in only models merge patches of metadata.annotations and metadata.labels, not {what}"
        ))
    };
    let mut maps = sa.maps();
    for (field, value) in &patch {
        match (field.as_str(), value) {
            ("apiVersion", Value::String(v)) if v == "v1" => {}
            ("kind", Value::String(k)) if k == "ServiceAccount" => {}
            ("metadata", Value::Object(metadata)) => {
                for (key, value) in metadata {
                    match (key.as_str(), value) {
                        ("name", Value::String(n)) if n == name => {}
                        ("namespace", Value::String(n)) if n == ns => {}
                        ("resourceVersion", Value::String(rv)) => {
                            if *rv != sa.meta.resource_version.to_string() {
                                return Err(PatchError::Stale);
                            }
                        }
                        ("annotations" | "labels", _) => {
                            let section = if key == "annotations" {
                                Section::Annotations
                            } else {
                                Section::Labels
                            };
                            let target = match section {
                                Section::Annotations => &mut maps.annotations,
                                Section::Labels => &mut maps.labels,
                            };
                            merge_map(section, target, value)?;
                        }
                        _ => return Err(not_modelled(&format!("metadata.{key}"))),
                    }
                }
            }
            _ => return Err(not_modelled(field)),
        }
    }
    Ok(maps)
}

fn merge_map(
    section: Section,
    target: &mut BTreeMap<String, String>,
    patch: &Value,
) -> Result<(), PatchError> {
    match patch {
        Value::Null => target.clear(),
        Value::Object(entries) => {
            for (k, v) in entries {
                if k.starts_with('$') {
                    return Err(PatchError::Invalid(format!(
                        "the stand-in does not model strategic merge directive {k:?}"
                    )));
                }
                match v {
                    Value::Null => {
                        target.remove(k);
                    }
                    Value::String(s) => {
                        target.insert(k.clone(), s.clone());
                    }
                    other => return Err(wrong_type(section, other, "string")),
                }
            }
        }
        other => return Err(wrong_type(section, other, "map[string]string")),
    }
    Ok(())
}

/// Records a non-apply write by `manager` that leaves the account with `after`:
/// a removed key leaves every owner, a new or changed key is owned by this
/// Update alone, an unchanged key keeps its owners. A patch that changes
/// nothing is no write (no new resourceVersion), as on a real server.
fn update(state: &mut State, id: &(String, String), manager: &str, after: &Maps) {
    let unchanged = state
        .service_accounts
        .get(id)
        .is_none_or(|sa| sa.maps() == *after);
    if unchanged {
        return;
    }
    let n = state.next();
    let Some(sa) = state.service_accounts.get_mut(id) else {
        return;
    };
    let me = Owner::new(manager, Operation::Update);
    sa.meta.resource_version = n;
    sa.written.insert(me.clone(), n);
    for section in Section::ALL {
        let wanted = after.get(section);
        let fields = sa.fields_mut(section);
        fields.retain(|k, _| wanted.contains_key(k));
        for (k, v) in wanted {
            match fields.get_mut(k) {
                Some(field) if field.value == *v => {}
                _ => {
                    fields.insert(
                        k.clone(),
                        Field {
                            value: v.clone(),
                            owners: BTreeSet::from([me.clone()]),
                        },
                    );
                }
            }
        }
    }
    reconcile_namespace(state, &id.0);
}

/// JSON is YAML; accept both, as the API server does for apply bodies.
fn parse_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body)
        .ok()
        .or_else(|| serde_saphyr::from_slice::<Value>(body).ok())
}

fn parse_apply(ns: &str, name: &str, body: &[u8]) -> Result<Maps, String> {
    let object = parse_body(body).ok_or("the apply body is neither JSON nor YAML")?;
    if object.get("apiVersion").and_then(Value::as_str) != Some("v1")
        || object.get("kind").and_then(Value::as_str) != Some("ServiceAccount")
    {
        return Err("apply body must have apiVersion: v1 and kind: ServiceAccount".to_string());
    }
    let metadata = object.get("metadata").cloned().unwrap_or(Value::Null);
    match metadata.get("name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        other => {
            return Err(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                other.unwrap_or("")
            ));
        }
    }
    if let Some(n) = metadata.get("namespace").and_then(Value::as_str)
        && n != ns
    {
        return Err(
            "the namespace of the provided object does not match the namespace sent on the request"
                .to_string(),
        );
    }
    let string_map = |key: &str| -> Result<BTreeMap<String, String>, String> {
        match metadata.get(key) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(format!("metadata.{key}.{k} must be a string")),
                })
                .collect(),
            Some(_) => Err(format!("metadata.{key} must be a map")),
        }
    };
    Ok(Maps {
        annotations: string_map("annotations")?,
        labels: string_map("labels")?,
    })
}

/// A key another owner holds that an unforced apply would change.
struct Conflict {
    owner: Owner,
    /// e.g. `.metadata.annotations.eks.amazonaws.com/role-arn`.
    path: String,
}

/// The 409 of a conflicting apply, worded like kube-apiserver's.
fn conflict(conflicts: &[Conflict]) -> (u16, Value) {
    let message = match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.owner.printed(),
            one.path
        ),
        _ => {
            let mut by_owner: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for c in conflicts {
                by_owner.entry(c.owner.printed()).or_default().push(&c.path);
            }
            let lines: Vec<String> = by_owner
                .iter()
                .map(|(owner, paths)| {
                    let paths: Vec<String> = paths.iter().map(|p| format!("- {p}")).collect();
                    format!("conflicts with {owner}:\n{}", paths.join("\n"))
                })
                .collect();
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        }
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", c.owner.printed()),
                "field": c.path,
            })
        })
        .collect();
    let mut details = Map::new();
    details.insert("causes".into(), Value::Array(causes));
    status_with(409, "Conflict", message, details)
}

/// Server-side apply of `applied` by `manager`. Returns (created, object), or
/// the conflicts when not forced.
fn apply(
    state: &mut State,
    ns: &str,
    name: &str,
    manager: &str,
    force: bool,
    applied: &Maps,
) -> Result<(bool, Value), Vec<Conflict>> {
    let key = (ns.to_string(), name.to_string());
    let me = Owner::new(manager, Operation::Apply);
    if let Some(sa) = state.service_accounts.get(&key) {
        let mut conflicts = Vec::new();
        for section in Section::ALL {
            for (k, v) in applied.get(section) {
                if let Some(field) = sa.fields(section).get(k)
                    && field.value != *v
                {
                    for owner in field.owners.iter().filter(|o| **o != me) {
                        conflicts.push(Conflict {
                            owner: owner.clone(),
                            path: format!(".metadata.{}.{k}", section.name()),
                        });
                    }
                }
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(conflicts);
        }
    }
    let created = !state.service_accounts.contains_key(&key);
    // Every write bumps the resourceVersion, creation included.
    let meta = state.new_meta();
    let n = meta.resource_version;
    let sa = state
        .service_accounts
        .entry(key)
        .or_insert_with(|| StoredAccount {
            meta: Meta {
                uid: meta.uid.clone(),
                resource_version: 0,
            },
            annotations: BTreeMap::new(),
            labels: BTreeMap::new(),
            written: BTreeMap::new(),
        });
    sa.meta.resource_version = n;
    sa.written.insert(me.clone(), n);
    for section in Section::ALL {
        merge(sa.fields_mut(section), applied.get(section), &me);
    }
    let body = account_json(ns, name, sa);
    // Controllers retry pods refused for want of this account.
    reconcile_namespace(state, ns);
    Ok((created, body))
}

/// Sets the keys `me` applies (sharing ownership when the value is unchanged,
/// taking it over otherwise: conflicts were checked or forced) and releases
/// the keys it applied before but no longer lists; such a key is removed only
/// when nobody else owns it.
fn merge(fields: &mut BTreeMap<String, Field>, wanted: &BTreeMap<String, String>, me: &Owner) {
    for (k, v) in wanted {
        match fields.get_mut(k) {
            Some(field) if field.value == *v => {
                field.owners.insert(me.clone());
            }
            _ => {
                fields.insert(
                    k.clone(),
                    Field {
                        value: v.clone(),
                        owners: BTreeSet::from([me.clone()]),
                    },
                );
            }
        }
    }
    fields.retain(|k, field| {
        if wanted.contains_key(k) || !field.owners.remove(me) {
            return true;
        }
        !field.owners.is_empty()
    });
}

fn namespace_json(name: &str, meta: &Meta) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version.to_string(),
            "creationTimestamp": CREATED_AT,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// Write `n` as a time: `n` seconds after 2024-01-01T00:00:00Z (deterministic,
/// and ordered like the writes; wraps after four weeks).
fn write_time(n: u64) -> String {
    let day = 1 + (n / 86_400) % 28;
    let (h, m, s) = ((n / 3600) % 24, (n / 60) % 60, n % 60);
    format!("2024-01-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// `metadata.managedFields`: one entry per owner that still owns a key, Apply
/// entries first, then by time and manager, as kube-apiserver sorts them.
fn managed_fields(sa: &StoredAccount) -> Vec<Value> {
    let mut sets: BTreeMap<&Owner, Map<String, Value>> = BTreeMap::new();
    for section in Section::ALL {
        for (key, field) in sa.fields(section) {
            for owner in &field.owners {
                let metadata = sets.entry(owner).or_default();
                let keys = metadata
                    .entry(format!("f:{}", section.name()))
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(keys) = keys {
                    keys.insert(format!("f:{key}"), json!({}));
                }
            }
        }
    }
    let mut entries: Vec<(&Owner, u64, Map<String, Value>)> = sets
        .into_iter()
        .map(|(owner, fields)| (owner, sa.written.get(owner).copied().unwrap_or(0), fields))
        .collect();
    entries.sort_by(|a, b| {
        (a.0.operation, a.1, &a.0.manager).cmp(&(b.0.operation, b.1, &b.0.manager))
    });
    entries
        .into_iter()
        .map(|(owner, n, fields)| {
            json!({
                "manager": owner.manager,
                "operation": owner.operation.as_str(),
                "apiVersion": "v1",
                "time": write_time(n),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": fields},
            })
        })
        .collect()
}

fn account_json(ns: &str, name: &str, sa: &StoredAccount) -> Value {
    let values = |fields: &BTreeMap<String, Field>| {
        fields
            .iter()
            .map(|(k, f)| (k.clone(), Value::String(f.value.clone())))
            .collect::<Map<_, _>>()
    };
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(ns));
    metadata.insert("uid".into(), json!(sa.meta.uid));
    metadata.insert(
        "resourceVersion".into(),
        json!(sa.meta.resource_version.to_string()),
    );
    metadata.insert("creationTimestamp".into(), json!(CREATED_AT));
    if !sa.annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(values(&sa.annotations)));
    }
    if !sa.labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(values(&sa.labels)));
    }
    let managed = managed_fields(sa);
    if !managed.is_empty() {
        metadata.insert("managedFields".into(), Value::Array(managed));
    }
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})
}

/// What an error is about, for Status messages and details.
struct Target {
    /// e.g. `serviceaccounts`.
    plural: String,
    /// The API group: empty for the core group, `apps`, `batch`.
    group: String,
    /// Empty for a whole collection (a list).
    name: String,
    namespace: Option<String>,
}

impl Target {
    fn namespace(name: &str) -> Target {
        Target {
            plural: "namespaces".into(),
            group: String::new(),
            name: name.into(),
            namespace: None,
        }
    }

    fn service_account(ns: &str, name: &str) -> Target {
        Target::namespaced("", "serviceaccounts", ns, name)
    }

    fn namespaced(group: &str, plural: &str, ns: &str, name: &str) -> Target {
        Target {
            plural: plural.into(),
            group: group.into(),
            name: name.into(),
            namespace: Some(ns.into()),
        }
    }

    fn unknown(path: &str) -> Target {
        Target {
            plural: String::new(),
            group: String::new(),
            name: path.into(),
            namespace: None,
        }
    }

    /// How kube-apiserver names the resource in messages: `pods`,
    /// `deployments.apps`.
    fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

fn not_found(target: &Target) -> (u16, Value) {
    status(
        404,
        "NotFound",
        format!("{} \"{}\" not found", target.resource(), target.name),
        target,
    )
}

/// A failure injected by [`KubeStandin::fail_next`], worded like the real thing.
fn injected(code: u16, method: &str, target: &Target) -> (u16, Value) {
    let verb = match method {
        "GET" if target.name.is_empty() => "list",
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "access",
    };
    let (reason, message) = match code {
        400 => (
            "BadRequest",
            "the request is malformed (injected)".to_string(),
        ),
        401 => ("Unauthorized", "Unauthorized".to_string()),
        403 => (
            "Forbidden",
            format!(
                "{} is forbidden: User \"standin-user\" cannot {verb} resource \"{}\" in API group \"{}\"{}",
                if target.name.is_empty() {
                    target.resource()
                } else {
                    format!("{} \"{}\"", target.resource(), target.name)
                },
                target.plural,
                target.group,
                target
                    .namespace
                    .as_ref()
                    .map(|ns| format!(" in the namespace \"{ns}\""))
                    .unwrap_or_else(|| " at the cluster scope".to_string()),
            ),
        ),
        404 => (
            "NotFound",
            format!("{} \"{}\" not found", target.resource(), target.name),
        ),
        409 => (
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                target.resource(),
                target.name
            ),
        ),
        410 => (
            "Expired",
            "The provided continue parameter is too old to display a consistent list result (injected)".to_string(),
        ),
        422 => (
            "Invalid",
            format!(
                "{} \"{}\" is invalid (injected)",
                target.resource(),
                target.name
            ),
        ),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.".to_string(),
        ),
        500 => (
            "InternalError",
            "Internal error occurred: injected failure".to_string(),
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request".to_string(),
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted".to_string(),
        ),
        _ => ("", format!("injected HTTP {code}")),
    };
    status(code, reason, message, target)
}

fn status(code: u16, reason: &str, message: String, target: &Target) -> (u16, Value) {
    let mut details = Map::new();
    if !target.name.is_empty() {
        details.insert("name".into(), json!(target.name));
    }
    if !target.plural.is_empty() {
        details.insert("kind".into(), json!(target.plural));
    }
    if !target.group.is_empty() {
        details.insert("group".into(), json!(target.group));
    }
    status_with(code, reason, message, details)
}

fn status_with(
    code: u16,
    reason: &str,
    message: String,
    details: Map<String, Value>,
) -> (u16, Value) {
    (
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code,
        }),
    )
}

// --- Pods and workloads -------------------------------------------------------
//
// Stored as the JSON the API returns. The "controllers" run synchronously,
// inside the request that triggers them:
//
// - a ReplicaSet, StatefulSet or DaemonSet keeps as many pods as it wants
//   (`spec.replicas`; a DaemonSet's `status.desiredNumberScheduled`, one per
//   node), replacing deleted ones;
// - a change of a Deployment's pod template (what `kubectl rollout restart`
//   does) creates a ReplicaSet named after the template's hash (or scales up
//   the one that has it), scales the others to 0 (kept, as revision history)
//   and so replaces every pod; a StatefulSet or DaemonSet replaces its pods
//   (StatefulSet pods keep their names);
// - every pod a controller creates passes admission: the ServiceAccount must
//   exist (`default` always does), else the pod is not created until a later
//   ServiceAccount write; then the EKS pod identity webhook (unless turned
//   off) injects, if the account has `eks.amazonaws.com/role-arn` at that
//   moment, `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` into every
//   container and init container, a mount and the projected `aws-iam-token`
//   volume.
//
// Seeded pods bypass admission and the webhook: they started before anything
// the test does. Creation times come from the same write counter as the
// ServiceAccounts' managedFields times, so they compare as RFC 3339 strings.
// Not modelled: rolling-update pacing (old pods go at once), Jobs'
// controller (a deleted Job pod is not replaced), pod deletion grace,
// consistent snapshots across list pages, set-based label selectors,
// field selectors, patches of anything but pod template annotations.

const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const TOKEN_VOLUME: &str = "aws-iam-token";
const TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
const TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
/// What kube-apiserver says when a continue token is past etcd's compaction.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";
/// Kubernetes' `rand.SafeEncodeString` alphabet (no vowels, no look-alikes).
const SAFE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The kinds of object the stand-in stores besides pods.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    ReplicaSet,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
        }
    }

    fn group(self) -> &'static str {
        match self {
            Kind::Job | Kind::CronJob => "batch",
            _ => "apps",
        }
    }

    fn api_version(self) -> String {
        format!("{}/v1", self.group())
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn from_plural(group: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }

    /// What `kubectl rollout restart` works on.
    fn rolls_out(self) -> bool {
        matches!(self, Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet)
    }
}

/// A pod as tests look at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandinPod {
    pub name: String,
    /// The controller owner reference: (kind, name).
    pub owner: Option<(String, String)>,
    pub service_account: String,
    /// The first container's literal env values.
    pub env: BTreeMap<String, String>,
    /// The webhook's projected `aws-iam-token` volume is there.
    pub token_volume: bool,
    pub created: String,
    /// The pod's own copy of the template's `restartedAt`, if any.
    pub restarted_at: Option<String>,
}

impl StandinPod {
    fn of(pod: &Value) -> StandinPod {
        let text = |ptr: &str| pod.pointer(ptr).and_then(Value::as_str).map(str::to_string);
        let env = pod
            .pointer("/spec/containers/0/env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e.get("name")?.as_str()?.to_string(),
                    e.get("value")?.as_str()?.to_string(),
                ))
            })
            .collect();
        let restarted_at = pod
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(RESTARTED_AT))
            .and_then(Value::as_str)
            .map(str::to_string);
        StandinPod {
            name: text("/metadata/name").unwrap_or_default(),
            owner: controller_ref(pod),
            service_account: text("/spec/serviceAccountName").unwrap_or_default(),
            env,
            token_volume: has_token_volume(pod),
            created: text("/metadata/creationTimestamp").unwrap_or_default(),
            restarted_at,
        }
    }
}

impl KubeStandin {
    /// Turns the EKS pod identity webhook emulation on (the default) or off
    /// (a self-managed cluster without it: new pods get nothing injected).
    pub fn set_webhook(&self, on: bool) {
        lock(&self.state).webhook_off = !on;
    }

    /// Seeds a Deployment with its ReplicaSet and `replicas` running pods,
    /// created now, before any ServiceAccount annotation, so nothing is
    /// injected. Creates the namespace. Returns the ReplicaSet's name.
    pub fn add_deployment(
        &self,
        ns: &str,
        name: &str,
        service_account: &str,
        replicas: u32,
    ) -> String {
        self.add_namespace(ns);
        let mut state = lock(&self.state);
        let labels = app_labels(name);
        let template = pod_template(&labels, service_account, name, "Always");
        let spec = json!({
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
        });
        let deployment = new_object(&mut state, Kind::Deployment, ns, name, &labels, None, spec);
        let rs = replica_set_for(&mut state, ns, &deployment, replicas, 1);
        let rs_name = name_of(&rs).to_string();
        for _ in 0..replicas {
            seed_pod(&mut state, ns, &rs, None);
        }
        set_workload_status(&mut state, ns, Kind::ReplicaSet, &rs_name);
        set_deployment_status(&mut state, ns, name);
        rs_name
    }

    /// Seeds a StatefulSet with `replicas` running pods `<name>-0`…, without
    /// injection. Creates the namespace.
    pub fn add_statefulset(&self, ns: &str, name: &str, service_account: &str, replicas: u32) {
        self.add_namespace(ns);
        let mut state = lock(&self.state);
        let labels = app_labels(name);
        let spec = json!({
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": pod_template(&labels, service_account, name, "Always"),
            "updateStrategy": {"type": "RollingUpdate"},
        });
        let set = new_object(&mut state, Kind::StatefulSet, ns, name, &labels, None, spec);
        for i in 0..replicas {
            seed_pod(&mut state, ns, &set, Some(format!("{name}-{i}")));
        }
        set_workload_status(&mut state, ns, Kind::StatefulSet, name);
    }

    /// Seeds a DaemonSet with one running pod on each of `nodes` nodes,
    /// without injection. Creates the namespace.
    pub fn add_daemonset(&self, ns: &str, name: &str, service_account: &str, nodes: u32) {
        self.add_namespace(ns);
        let mut state = lock(&self.state);
        let labels = app_labels(name);
        let spec = json!({
            "selector": {"matchLabels": labels},
            "template": pod_template(&labels, service_account, name, "Always"),
            "updateStrategy": {"type": "RollingUpdate"},
        });
        let mut set = new_object(&mut state, Kind::DaemonSet, ns, name, &labels, None, spec);
        set["status"] = json!({"desiredNumberScheduled": nodes});
        state.objects.insert(
            (ns.to_string(), Kind::DaemonSet, name.to_string()),
            set.clone(),
        );
        for _ in 0..nodes {
            seed_pod(&mut state, ns, &set, None);
        }
        set_workload_status(&mut state, ns, Kind::DaemonSet, name);
    }

    /// Seeds a Job (owned by CronJob `cronjob` when given, which is seeded
    /// too) with one running pod, without injection. Creates the namespace.
    pub fn add_job(&self, ns: &str, name: &str, service_account: &str, cronjob: Option<&str>) {
        self.add_namespace(ns);
        let mut state = lock(&self.state);
        let owner = cronjob.map(|cron| {
            let key = (ns.to_string(), Kind::CronJob, cron.to_string());
            let existing = state.objects.get(&key).cloned();
            let cron_object = existing.unwrap_or_else(|| {
                let labels = app_labels(cron);
                let spec = json!({
                    "schedule": "*/5 * * * *",
                    "jobTemplate": {"spec": {"template": pod_template(&labels, service_account, cron, "Never")}},
                });
                new_object(&mut state, Kind::CronJob, ns, cron, &labels, None, spec)
            });
            owner_ref(&cron_object)
        });
        let mut labels = app_labels(name);
        labels.insert("batch.kubernetes.io/job-name".into(), json!(name));
        let spec = json!({
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "template": pod_template(&labels, service_account, name, "Never"),
        });
        let job = new_object(&mut state, Kind::Job, ns, name, &labels, owner, spec);
        seed_pod(&mut state, ns, &job, None);
        if let Some(stored) = state
            .objects
            .get_mut(&(ns.to_string(), Kind::Job, name.to_string()))
        {
            stored["status"] = json!({"active": 1});
        }
    }

    /// Seeds a pod no controller owns, running as `service_account`, with the
    /// webhook's env and volume for `injected_role` when given (as if it had
    /// started after that role was annotated). Creates the namespace.
    pub fn add_bare_pod(
        &self,
        ns: &str,
        name: &str,
        service_account: &str,
        injected_role: Option<&str>,
    ) {
        self.add_namespace(ns);
        let mut state = lock(&self.state);
        let labels = app_labels(name);
        let template = pod_template(&labels, service_account, name, "Always");
        let mut pod = pod_from_template(&mut state, ns, name, &template, None);
        if let Some(role) = injected_role
            && let Some(spec) = pod.get_mut("spec")
        {
            inject(spec, role, "sts.amazonaws.com");
        }
        state.pods.insert((ns.to_string(), name.to_string()), pod);
    }

    /// Stores a pod as given (the API's JSON), filling in `apiVersion`,
    /// `kind`, `namespace`, `uid`, `resourceVersion` and `creationTimestamp`
    /// (now) where missing; `spec.serviceAccountName` is left as given, so a
    /// test can see how a pod without one reads. Creates the namespace.
    pub fn put_pod(&self, ns: &str, mut pod: Value) {
        self.add_namespace(ns);
        let mut state = lock(&self.state);
        let n = state.next();
        if !pod.is_object() {
            pod = json!({});
        }
        for (key, value) in [("apiVersion", json!("v1")), ("kind", json!("Pod"))] {
            if pod.get(key).is_none() {
                pod[key] = value;
            }
        }
        if !pod.get("metadata").is_some_and(Value::is_object) {
            pod["metadata"] = json!({});
        }
        let defaults = [
            ("namespace", json!(ns)),
            ("uid", json!(uid(n))),
            ("resourceVersion", json!(n.to_string())),
            ("creationTimestamp", json!(write_time(n))),
        ];
        for (key, value) in defaults {
            if pod["metadata"].get(key).is_none() {
                pod["metadata"][key] = value;
            }
        }
        let name = name_of(&pod).to_string();
        state.pods.insert((ns.to_string(), name), pod);
    }

    /// The pods of a namespace, by name.
    pub fn pods(&self, ns: &str) -> Vec<StandinPod> {
        lock(&self.state)
            .pods
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|(_, pod)| StandinPod::of(pod))
            .collect()
    }

    /// A pod as a GET would return it.
    pub fn pod(&self, ns: &str, name: &str) -> Option<Value> {
        lock(&self.state)
            .pods
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// A stored ReplicaSet, Deployment, StatefulSet, DaemonSet, Job or CronJob
    /// (`kind` as in `kind:`), as a GET would return it.
    pub fn workload(&self, ns: &str, kind: &str, name: &str) -> Option<Value> {
        let kind = Kind::from_name(kind)?;
        lock(&self.state)
            .objects
            .get(&(ns.to_string(), kind, name.to_string()))
            .cloned()
    }

    /// The pod template's `kubectl.kubernetes.io/restartedAt` of a workload.
    pub fn restarted(&self, ns: &str, kind: &str, name: &str) -> Option<String> {
        self.workload(ns, kind, name)?
            .pointer("/spec/template/metadata/annotations")?
            .get(RESTARTED_AT)?
            .as_str()
            .map(str::to_string)
    }

    /// How many PATCH requests to workloads were accepted.
    pub fn workload_patches(&self) -> usize {
        lock(&self.state).workload_patches
    }

    /// Expires every continue token handed out so far (etcd compacted past
    /// them): continuing a list with one answers 410 Expired.
    pub fn expire_continue_tokens(&self) {
        let mut state = lock(&self.state);
        state.compacted = state.counter + 1;
    }

    /// Expires the continue token of the next list's first page as soon as
    /// it is handed out, as if etcd compacted while the client paged.
    pub fn compact_during_next_list(&self) {
        lock(&self.state).compact_after_first_page = true;
    }
}

fn uid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn app_labels(name: &str) -> Map<String, Value> {
    let mut labels = Map::new();
    labels.insert("app.kubernetes.io/name".into(), json!(name));
    labels
}

fn pod_template(
    labels: &Map<String, Value>,
    service_account: &str,
    container: &str,
    restart: &str,
) -> Value {
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": service_account,
            "restartPolicy": restart,
            "containers": [{
                "name": container,
                "image": format!("registry.example.com/{container}:v1"),
            }],
        },
    })
}

/// A new object with fresh metadata (stored, and returned).
fn new_object(
    state: &mut State,
    kind: Kind,
    ns: &str,
    name: &str,
    labels: &Map<String, Value>,
    owner: Option<Value>,
    spec: Value,
) -> Value {
    let n = state.next();
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(ns));
    metadata.insert("uid".into(), json!(uid(n)));
    metadata.insert("resourceVersion".into(), json!(n.to_string()));
    metadata.insert("generation".into(), json!(1));
    metadata.insert("creationTimestamp".into(), json!(write_time(n)));
    metadata.insert("labels".into(), Value::Object(labels.clone()));
    if let Some(owner) = owner {
        metadata.insert("ownerReferences".into(), json!([owner]));
    }
    let object = json!({
        "apiVersion": kind.api_version(),
        "kind": kind.name(),
        "metadata": metadata,
        "spec": spec,
        "status": {},
    });
    state
        .objects
        .insert((ns.to_string(), kind, name.to_string()), object.clone());
    object
}

/// A controller owner reference to `object`.
fn owner_ref(object: &Value) -> Value {
    let text = |ptr: &str| object.pointer(ptr).cloned().unwrap_or(Value::Null);
    json!({
        "apiVersion": text("/apiVersion"),
        "kind": text("/kind"),
        "name": text("/metadata/name"),
        "uid": text("/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The controller owner reference of an object: (kind, name).
fn controller_ref(object: &Value) -> Option<(String, String)> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (text("kind"), text("name"))
        })
}

fn owned_by(object: &Value, kind: Kind, name: &str) -> bool {
    controller_ref(object).is_some_and(|(k, n)| k == kind.name() && n == name)
}

fn has_token_volume(pod: &Value) -> bool {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|v| {
            v.get("name").and_then(Value::as_str) == Some(TOKEN_VOLUME)
                && v.get("projected").is_some()
        })
}

/// JSON with object keys sorted, so equal templates hash alike.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", json!(k), canonical(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// Kubernetes' `rand.SafeEncodeString`: each byte picks a letter.
fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| char::from(SAFE_CHARS[usize::from(b) % SAFE_CHARS.len()]))
        .collect()
}

/// `pod-template-hash`: FNV-1a (32 bit) of the template, its decimal digits
/// safe-encoded, as the Deployment controller names ReplicaSets.
fn template_hash(template: &Value) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in canonical(template).bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    safe_encode(&hash.to_string())
}

/// The five random letters of a generated pod name, from the write counter.
fn pod_suffix(n: u64) -> String {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
    (0..5)
        .map(|_| {
            let letter = SAFE_CHARS[(x % SAFE_CHARS.len() as u64) as usize];
            x /= SAFE_CHARS.len() as u64;
            char::from(letter)
        })
        .collect()
}

/// Creates (stores and returns) the ReplicaSet of a Deployment's current
/// template, or scales up the one that already has it.
fn replica_set_for(
    state: &mut State,
    ns: &str,
    deployment: &Value,
    replicas: u32,
    revision: u64,
) -> Value {
    let deploy_name = name_of(deployment).to_string();
    let mut template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let hash = template_hash(&template);
    let rs_name = format!("{deploy_name}-{hash}");
    let key = (ns.to_string(), Kind::ReplicaSet, rs_name.clone());
    if state.objects.contains_key(&key) {
        let n = state.next();
        if let Some(rs) = state.objects.get_mut(&key) {
            rs["spec"]["replicas"] = json!(replicas);
            rs["metadata"]["resourceVersion"] = json!(n.to_string());
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!(revision.to_string());
            return rs.clone();
        }
    }
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut selector = deployment
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    selector["pod-template-hash"] = json!(hash);
    let labels = match template.pointer("/metadata/labels") {
        Some(Value::Object(labels)) => labels.clone(),
        _ => Map::new(),
    };
    let spec =
        json!({"replicas": replicas, "selector": {"matchLabels": selector}, "template": template});
    let mut rs = new_object(
        state,
        Kind::ReplicaSet,
        ns,
        &rs_name,
        &labels,
        Some(owner_ref(deployment)),
        spec,
    );
    rs["metadata"]["annotations"] =
        json!({"deployment.kubernetes.io/revision": revision.to_string()});
    state.objects.insert(key, rs.clone());
    rs
}

/// A pod of `owner` (or of no one) from a pod template, not stored. The
/// template's labels and annotations are the pod's; `serviceAccountName`
/// defaults to `default`, as the ServiceAccount admission plugin sets it.
fn pod_from_template(
    state: &mut State,
    ns: &str,
    name: &str,
    template: &Value,
    owner: Option<&Value>,
) -> Value {
    let n = state.next();
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(ns));
    metadata.insert("uid".into(), json!(uid(n)));
    metadata.insert("resourceVersion".into(), json!(n.to_string()));
    metadata.insert("creationTimestamp".into(), json!(write_time(n)));
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = template.pointer(&format!("/metadata/{key}"))
            && !map.is_empty()
        {
            metadata.insert(key.into(), Value::Object(map.clone()));
        }
    }
    if let Some(owner) = owner {
        metadata.insert("ownerReferences".into(), json!([owner_ref(owner)]));
    }
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    let account = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    spec["serviceAccountName"] = json!(account);
    spec["nodeName"] = json!("ip-10-0-1-23.ec2.internal");
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", (n / 250) % 250, 1 + n % 250)},
    })
}

/// The name a controller gives its next pod.
fn generated_name(state: &State, prefix: &str) -> String {
    format!("{prefix}-{}", pod_suffix(state.counter + 1))
}

/// A seeded pod of `owner`: stored without admission or injection.
fn seed_pod(state: &mut State, ns: &str, owner: &Value, name: Option<String>) {
    let name = name.unwrap_or_else(|| generated_name(state, name_of(owner)));
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let pod = pod_from_template(state, ns, &name, &template, Some(owner));
    state.pods.insert((ns.to_string(), name), pod);
}

/// What the EKS pod identity webhook adds to a pod spec for `role`.
fn inject(spec: &mut Value, role: &str, audience: &str) {
    for list in ["containers", "initContainers"] {
        let Some(Value::Array(containers)) = spec.get_mut(list) else {
            continue;
        };
        for container in containers {
            if !container.is_object() {
                continue;
            }
            if !container.get("env").is_some_and(Value::is_array) {
                container["env"] = json!([]);
            }
            if let Some(Value::Array(env)) = container.get_mut("env") {
                // The webhook leaves a variable the pod sets itself.
                let has = |env: &Vec<Value>, name: &str| env.iter().any(|e| e["name"] == name);
                for (name, value) in [
                    ("AWS_ROLE_ARN", role),
                    ("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN_FILE),
                ] {
                    if !has(env, name) {
                        env.push(json!({"name": name, "value": value}));
                    }
                }
            }
            if !container.get("volumeMounts").is_some_and(Value::is_array) {
                container["volumeMounts"] = json!([]);
            }
            if let Some(Value::Array(mounts)) = container.get_mut("volumeMounts") {
                mounts
                    .push(json!({"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": true}));
            }
        }
    }
    if !spec.get("volumes").is_some_and(Value::is_array) {
        spec["volumes"] = json!([]);
    }
    if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
        volumes.push(json!({
            "name": TOKEN_VOLUME,
            "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {
                "audience": audience,
                "expirationSeconds": 86400,
                "path": "token",
            }}]},
        }));
    }
}

/// Creates a pod through admission: refused (None) when its ServiceAccount
/// does not exist; injected by the webhook when the account has a role.
fn admit_pod(state: &mut State, ns: &str, name: &str, owner: &Value) -> Option<()> {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut pod = pod_from_template(state, ns, name, &template, Some(owner));
    let account = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let stored = state
        .service_accounts
        .get(&(ns.to_string(), account.clone()));
    if stored.is_none() && account != "default" {
        if state.log {
            eprintln!(
                "  pods \"{name}\" is forbidden: error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found"
            );
        }
        return None;
    }
    let annotation = |key: &str| {
        stored
            .and_then(|sa| sa.annotations.get(key))
            .map(|f| f.value.clone())
    };
    let role = annotation(ROLE_ARN_ANNOTATION);
    let audience =
        annotation(AUDIENCE_ANNOTATION).unwrap_or_else(|| "sts.amazonaws.com".to_string());
    if let (false, Some(role), Some(spec)) = (state.webhook_off, role, pod.get_mut("spec")) {
        inject(spec, &role, &audience);
    }
    state.pods.insert((ns.to_string(), name.to_string()), pod);
    Some(())
}

/// The pods `kind`/`name` controls, by name.
fn owned_pods(state: &State, ns: &str, kind: Kind, name: &str) -> Vec<String> {
    state
        .pods
        .iter()
        .filter(|((n, _), pod)| n == ns && owned_by(pod, kind, name))
        .map(|((_, p), _)| p.clone())
        .collect()
}

/// How many pods a controller wants: None for kinds without a pod controller here.
fn desired_pods(kind: Kind, object: &Value) -> Option<u64> {
    match kind {
        Kind::ReplicaSet | Kind::StatefulSet => Some(
            object
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1),
        ),
        Kind::DaemonSet => Some(
            object
                .pointer("/status/desiredNumberScheduled")
                .and_then(Value::as_u64)
                .unwrap_or(1),
        ),
        _ => None,
    }
}

/// One controller pass: creates missing pods and deletes extra ones.
fn reconcile(state: &mut State, ns: &str, kind: Kind, name: &str) {
    let Some(object) = state
        .objects
        .get(&(ns.to_string(), kind, name.to_string()))
        .cloned()
    else {
        return;
    };
    let Some(desired) = desired_pods(kind, &object) else {
        return;
    };
    let mut owned = owned_pods(state, ns, kind, name);
    if kind == Kind::StatefulSet {
        // Ordinal names: `<name>-0` up to `<name>-(replicas-1)`.
        for i in 0..desired {
            let pod = format!("{name}-{i}");
            if !owned.contains(&pod) && admit_pod(state, ns, &pod, &object).is_none() {
                break;
            }
        }
        for pod in owned {
            let ordinal = pod
                .strip_prefix(&format!("{name}-"))
                .and_then(|i| i.parse::<u64>().ok());
            if ordinal.is_none_or(|i| i >= desired) {
                state.pods.remove(&(ns.to_string(), pod));
            }
        }
    } else {
        while (owned.len() as u64) > desired {
            if let Some(pod) = owned.pop() {
                state.pods.remove(&(ns.to_string(), pod));
            }
        }
        for _ in owned.len() as u64..desired {
            let pod = generated_name(state, name);
            if admit_pod(state, ns, &pod, &object).is_none() {
                break;
            }
        }
    }
    set_workload_status(state, ns, kind, name);
}

/// Every controller of a namespace makes a pass (after a ServiceAccount
/// write: pods refused for want of the account are retried).
fn reconcile_namespace(state: &mut State, ns: &str) {
    let controllers: Vec<(Kind, String)> = state
        .objects
        .keys()
        .filter(|(n, kind, _)| n == ns && desired_pods(*kind, &Value::Null).is_some())
        .map(|(_, kind, name)| (*kind, name.clone()))
        .collect();
    for (kind, name) in controllers {
        reconcile(state, ns, kind, &name);
    }
    let deployments: Vec<String> = state
        .objects
        .keys()
        .filter(|(n, kind, _)| n == ns && *kind == Kind::Deployment)
        .map(|(_, _, name)| name.clone())
        .collect();
    for name in deployments {
        set_deployment_status(state, ns, &name);
    }
}

/// `status.replicas`/`readyReplicas`… of a ReplicaSet, StatefulSet or
/// DaemonSet from the pods it has (all pods run at once here).
fn set_workload_status(state: &mut State, ns: &str, kind: Kind, name: &str) {
    let count = owned_pods(state, ns, kind, name).len();
    let Some(object) = state
        .objects
        .get_mut(&(ns.to_string(), kind, name.to_string()))
    else {
        return;
    };
    let generation = object
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let status = &mut object["status"];
    status["observedGeneration"] = generation;
    match kind {
        Kind::DaemonSet => {
            for key in [
                "currentNumberScheduled",
                "numberReady",
                "updatedNumberScheduled",
                "numberAvailable",
            ] {
                status[key] = json!(count);
            }
        }
        _ => {
            for key in ["replicas", "readyReplicas", "availableReplicas"] {
                status[key] = json!(count);
            }
        }
    }
}

/// A Deployment's status from its ReplicaSets.
fn set_deployment_status(state: &mut State, ns: &str, name: &str) {
    let Some(deployment) = state
        .objects
        .get(&(ns.to_string(), Kind::Deployment, name.to_string()))
    else {
        return;
    };
    let current = template_hash(deployment.pointer("/spec/template").unwrap_or(&Value::Null));
    let current_rs = format!("{name}-{current}");
    let (mut total, mut updated) = (0, 0);
    for ((n, kind, rs), _) in state.objects.iter() {
        if n != ns || *kind != Kind::ReplicaSet {
            continue;
        }
        let pods = owned_pods(state, ns, Kind::ReplicaSet, rs).len();
        let mine = state
            .objects
            .get(&(ns.to_string(), Kind::ReplicaSet, rs.clone()))
            .is_some_and(|o| owned_by(o, Kind::Deployment, name));
        if mine {
            total += pods;
            if *rs == current_rs {
                updated += pods;
            }
        }
    }
    if let Some(deployment) =
        state
            .objects
            .get_mut(&(ns.to_string(), Kind::Deployment, name.to_string()))
    {
        let generation = deployment
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let status = &mut deployment["status"];
        status["observedGeneration"] = generation;
        status["replicas"] = json!(total);
        status["updatedReplicas"] = json!(updated);
        status["readyReplicas"] = json!(total);
        status["availableReplicas"] = json!(total);
    }
}

/// What a changed pod template sets off.
fn roll_out(state: &mut State, ns: &str, kind: Kind, name: &str) {
    match kind {
        Kind::Deployment => {
            let Some(deployment) = state
                .objects
                .get(&(ns.to_string(), Kind::Deployment, name.to_string()))
                .cloned()
            else {
                return;
            };
            let replicas = deployment
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let replicas = u32::try_from(replicas).unwrap_or(u32::MAX);
            let old: Vec<String> = state
                .objects
                .iter()
                .filter(|((n, k, _), o)| {
                    n == ns && *k == Kind::ReplicaSet && owned_by(o, Kind::Deployment, name)
                })
                .map(|((_, _, rs), _)| rs.clone())
                .collect();
            let revision = old
                .iter()
                .filter_map(|rs| {
                    state
                        .objects
                        .get(&(ns.to_string(), Kind::ReplicaSet, rs.clone()))?
                        .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")?
                        .as_str()?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
                + 1;
            let new = replica_set_for(state, ns, &deployment, replicas, revision);
            let new_name = name_of(&new).to_string();
            // The old ReplicaSets are kept, scaled to 0: revision history.
            for rs in old.into_iter().filter(|rs| *rs != new_name) {
                if let Some(object) =
                    state
                        .objects
                        .get_mut(&(ns.to_string(), Kind::ReplicaSet, rs.clone()))
                {
                    object["spec"]["replicas"] = json!(0);
                }
                reconcile(state, ns, Kind::ReplicaSet, &rs);
            }
            reconcile(state, ns, Kind::ReplicaSet, &new_name);
            if let Some(object) =
                state
                    .objects
                    .get_mut(&(ns.to_string(), Kind::Deployment, name.to_string()))
            {
                object["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                    json!(revision.to_string());
            }
            set_deployment_status(state, ns, name);
        }
        Kind::StatefulSet | Kind::DaemonSet => {
            for pod in owned_pods(state, ns, kind, name) {
                state.pods.remove(&(ns.to_string(), pod));
            }
            reconcile(state, ns, kind, name);
        }
        _ => {}
    }
}

/// `labelSelector` requirements: `k=v`, `k==v`, `k!=v`, `k`, `!k`.
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

fn parse_selector(selector: &str) -> Result<Vec<Requirement>, String> {
    let mut requirements = Vec::new();
    for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let requirement = if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEquals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            Requirement::Equals(k.trim().into(), v.trim().into())
        } else if let Some(k) = part.strip_prefix('!') {
            Requirement::Absent(k.trim().into())
        } else if part.contains(' ') || part.contains('(') {
            return Err(format!(
                "the stand-in only models equality label selectors, not {part:?}"
            ));
        } else {
            Requirement::Exists(part.into())
        };
        requirements.push(requirement);
    }
    Ok(requirements)
}

fn selects(requirements: &[Requirement], object: &Value) -> bool {
    let labels = object.pointer("/metadata/labels");
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    requirements.iter().all(|r| match r {
        Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
        Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
        Requirement::Exists(k) => label(k).is_some(),
        Requirement::Absent(k) => label(k).is_none(),
    })
}

/// A list answer: `labelSelector`, `limit` and `continue` honoured. Items are
/// in name order (etcd key order) and, as kube-apiserver writes them, without
/// `apiVersion`/`kind`. A token is `<resourceVersion>/<last name>`.
fn list_answer(
    state: &mut State,
    objects: Vec<Value>,
    list_kind: &str,
    api_version: &str,
    request: &Request,
    target: &Target,
) -> (u16, Value) {
    let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
    if query.get("fieldSelector").is_some_and(|s| !s.is_empty()) {
        return status(
            400,
            "BadRequest",
            "the stand-in does not model field selectors".to_string(),
            target,
        );
    }
    let requirements = match parse_selector(query.get("labelSelector").map_or("", String::as_str)) {
        Ok(r) => r,
        Err(why) => return status(400, "BadRequest", why, target),
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 0,
        Some(Ok(l)) => l,
        Some(Err(_)) => {
            return status(
                400,
                "BadRequest",
                "limit: Invalid value: must be an integer".to_string(),
                target,
            );
        }
    };
    let after = match query.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(token) => {
            let parsed = token
                .split_once('/')
                .and_then(|(rv, last)| Some((rv.parse::<u64>().ok()?, last.to_string())));
            match parsed {
                None => {
                    return status(
                        400,
                        "BadRequest",
                        format!("continue key is not valid: {token:?}"),
                        target,
                    );
                }
                Some((rv, _)) if rv < state.compacted => {
                    return status(410, "Expired", CONTINUE_EXPIRED.to_string(), target);
                }
                Some((_, last)) => Some(last),
            }
        }
    };
    let mut selected: Vec<Value> = objects
        .into_iter()
        .filter(|o| selects(&requirements, o))
        .filter(|o| after.as_deref().is_none_or(|last| name_of(o) > last))
        .collect();
    selected.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    let rv = state.counter.to_string();
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(rv));
    if limit > 0 && selected.len() > limit {
        let remaining = selected.len() - limit;
        selected.truncate(limit);
        let last = selected.last().map(name_of).unwrap_or("");
        // The token keeps the resourceVersion of the list's first page.
        let start = match query.get("continue").and_then(|c| c.split_once('/')) {
            Some((first_rv, _)) => first_rv.to_string(),
            None => rv,
        };
        metadata.insert("continue".into(), json!(format!("{start}/{last}")));
        metadata.insert("remainingItemCount".into(), json!(remaining));
    }
    let first_page = query.get("continue").is_none_or(|c| c.is_empty());
    if first_page && std::mem::take(&mut state.compact_after_first_page) {
        state.compacted = state.counter + 1;
    }
    let items: Vec<Value> = selected
        .into_iter()
        .map(|mut item| {
            if let Some(map) = item.as_object_mut() {
                // shift_remove keeps the other keys in order.
                map.shift_remove("apiVersion");
                map.shift_remove("kind");
            }
            item
        })
        .collect();
    (
        200,
        json!({"kind": list_kind, "apiVersion": api_version, "metadata": metadata, "items": items}),
    )
}

fn list_pods(state: &mut State, ns: &str, request: &Request) -> (u16, Value) {
    // Listing a namespace that does not exist is an empty list, not a 404.
    let pods: Vec<Value> = state
        .pods
        .iter()
        .filter(|((n, _), _)| n == ns)
        .map(|(_, pod)| pod.clone())
        .collect();
    list_answer(
        state,
        pods,
        "PodList",
        "v1",
        request,
        &Target::namespaced("", "pods", ns, ""),
    )
}

fn delete_pod(state: &mut State, ns: &str, name: &str) -> (u16, Value) {
    let Some(mut pod) = state.pods.remove(&(ns.to_string(), name.to_string())) else {
        return not_found(&Target::namespaced("", "pods", ns, name));
    };
    // A pod's DELETE answers with the pod, marked for deletion.
    let n = state.next();
    pod["metadata"]["deletionTimestamp"] = json!(write_time(n));
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    // Its controller replaces it.
    if let Some((kind, owner)) = controller_ref(&pod)
        && let Some(kind) = Kind::from_name(&kind)
    {
        reconcile(state, ns, kind, &owner);
        set_deployment_status_of_owner(state, ns, kind, &owner);
    }
    (200, pod)
}

fn set_deployment_status_of_owner(state: &mut State, ns: &str, kind: Kind, name: &str) {
    if kind != Kind::ReplicaSet {
        return;
    }
    let parent = state
        .objects
        .get(&(ns.to_string(), Kind::ReplicaSet, name.to_string()))
        .and_then(controller_ref);
    if let Some((parent_kind, parent)) = parent
        && parent_kind == Kind::Deployment.name()
    {
        set_deployment_status(state, ns, &parent);
    }
}

/// `/apis/{group}/v1/namespaces/{ns}/{plural}[/{name}]`, split.
struct ObjectPath {
    group: String,
    ns: String,
    plural: String,
    name: String,
}

impl ObjectPath {
    fn of(request: &Request) -> ObjectPath {
        let seg: Vec<&str> = request
            .url
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let at = |i: usize| seg.get(i).copied().unwrap_or("").to_string();
        ObjectPath {
            group: at(1),
            ns: at(4),
            plural: at(5),
            name: at(6),
        }
    }

    fn target(&self) -> Target {
        Target::namespaced(&self.group, &self.plural, &self.ns, &self.name)
    }
}

fn list_objects(state: &mut State, request: &Request) -> (u16, Value) {
    let at = ObjectPath::of(request);
    let Some(kind) = Kind::from_plural(&at.group, &at.plural) else {
        return unknown_path(request);
    };
    let objects: Vec<Value> = state
        .objects
        .iter()
        .filter(|((n, k, _), _)| *n == at.ns && *k == kind)
        .map(|(_, o)| o.clone())
        .collect();
    let list_kind = format!("{}List", kind.name());
    list_answer(
        state,
        objects,
        &list_kind,
        &kind.api_version(),
        request,
        &at.target(),
    )
}

fn get_object(state: &mut State, request: &Request) -> (u16, Value) {
    let at = ObjectPath::of(request);
    let Some(kind) = Kind::from_plural(&at.group, &at.plural) else {
        return unknown_path(request);
    };
    match state.objects.get(&(at.ns.clone(), kind, at.name.clone())) {
        Some(object) => (200, object.clone()),
        None => not_found(&at.target()),
    }
}

/// A strategic merge or merge patch of a workload's pod template annotations
/// (what `kubectl rollout restart` sends); a change bumps `generation` and
/// sets off the rollout.
fn patch_object(state: &mut State, request: &Request) -> (u16, Value) {
    let at = ObjectPath::of(request);
    let Some(kind) = Kind::from_plural(&at.group, &at.plural) else {
        return unknown_path(request);
    };
    let target = at.target();
    match media_type(request).as_str() {
        MERGE_PATCH_CONTENT_TYPE | STRATEGIC_MERGE_PATCH_CONTENT_TYPE => {}
        APPLY_CONTENT_TYPE | JSON_PATCH_CONTENT_TYPE => {
            return status(
                422,
                "Invalid",
                format!(
                    "the stand-in only models merge patches of {}",
                    target.resource()
                ),
                &target,
            );
        }
        other => {
            return status(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: {JSON_PATCH_CONTENT_TYPE}, {MERGE_PATCH_CONTENT_TYPE}, {APPLY_CONTENT_TYPE}, {STRATEGIC_MERGE_PATCH_CONTENT_TYPE} (got {other:?})"
                ),
                &target,
            );
        }
    }
    let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
    if query.contains_key("force") {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch".to_string(),
            &target,
        );
    }
    let key = (at.ns.clone(), kind, at.name.clone());
    let Some(object) = state.objects.get(&key) else {
        return not_found(&target);
    };
    if matches!(kind, Kind::Job | Kind::CronJob) {
        return status(
            422,
            "Invalid",
            format!("the stand-in does not model patching {}", target.resource()),
            &target,
        );
    }
    let patch: Value = match serde_json::from_slice(&request.body) {
        Ok(Value::Object(patch)) => Value::Object(patch),
        Ok(_) => {
            return status(
                400,
                "BadRequest",
                "json: cannot unmarshal value into Go value of type map[string]interface {}"
                    .to_string(),
                &target,
            );
        }
        Err(e) => {
            return status(
                400,
                "BadRequest",
                format!("invalid merge patch: {e}"),
                &target,
            );
        }
    };
    let Some(annotations_patch) = template_annotations_patch(&patch) else {
        return status(
            422,
            "Invalid",
            format!(
                "the stand-in only models patches of spec.template.metadata.annotations of {}, not {patch}",
                target.resource()
            ),
            &target,
        );
    };
    let mut annotations: BTreeMap<String, String> = object
        .pointer("/spec/template/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let before = annotations.clone();
    if let Err(e) = merge_map(Section::Annotations, &mut annotations, annotations_patch) {
        let why = match e {
            PatchError::BadRequest(w) | PatchError::Rejected(w) | PatchError::Invalid(w) => w,
            PatchError::Stale => "stale".to_string(),
        };
        return status(422, "Invalid", why, &target);
    }
    state.workload_patches += 1;
    if annotations != before {
        let n = state.next();
        if let Some(object) = state.objects.get_mut(&key) {
            object["spec"]["template"]["metadata"]["annotations"] = json!(annotations);
            let generation = object
                .pointer("/metadata/generation")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            object["metadata"]["generation"] = json!(generation + 1);
            object["metadata"]["resourceVersion"] = json!(n.to_string());
        }
        if kind.rolls_out() {
            roll_out(state, &at.ns, kind, &at.name);
        }
    }
    match state.objects.get(&key) {
        Some(object) => (200, object.clone()),
        None => not_found(&target),
    }
}

/// `{"spec":{"template":{"metadata":{"annotations": …}}}}` and nothing else:
/// the annotations part.
fn template_annotations_patch(patch: &Value) -> Option<&Value> {
    let only = |v: &Value, key: &str| -> Option<Value> {
        let map = v.as_object()?;
        (map.len() == 1).then(|| map.get(key).cloned()).flatten()
    };
    let spec = only(patch, "spec")?;
    let template = only(&spec, "template")?;
    let metadata = only(&template, "metadata")?;
    only(&metadata, "annotations")?;
    patch.pointer("/spec/template/metadata/annotations")
}
