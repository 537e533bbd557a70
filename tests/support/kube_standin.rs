//! A small, stateful stand-in for the Kubernetes API server, built on wiremock.
//!
//! It knows namespaces and ServiceAccounts, and models server-side apply on
//! `metadata.annotations` and `metadata.labels` with per-key field managers:
//! a manager's apply sets the keys it lists, drops the keys it owned before but
//! no longer lists, and leaves keys owned by other managers alone. Errors are
//! real `Status` bodies, so kube-rs turns them into `kube::Error::Api`.
//!
//! Include it with `#[path = "support/kube_standin.rs"] mod kube_standin;`.
//!
//! Not modelled: managedFields in responses, merge/JSON patches (415),
//! resourceVersion preconditions, anything but annotations and labels of a
//! ServiceAccount, namespace deletion.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use wiremock::matchers::{any, method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const NAMESPACE_PATH: &str = r"^/api/v1/namespaces/[^/]+$";
const NAMESPACES_PATH: &str = r"^/api/v1/namespaces$";
const SERVICE_ACCOUNT_PATH: &str = r"^/api/v1/namespaces/[^/]+/serviceaccounts/[^/]+$";
const APPLY_CONTENT_TYPE: &str = "application/apply-patch+yaml";
const CREATED_AT: &str = "2024-01-01T00:00:00Z";

pub struct KubeStandin {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, Meta>,
    service_accounts: BTreeMap<(String, String), StoredAccount>,
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

struct StoredAccount {
    meta: Meta,
    annotations: BTreeMap<String, Field>,
    labels: BTreeMap<String, Field>,
}

/// One annotation or label: its value and the managers that own it.
struct Field {
    value: String,
    managers: BTreeSet<String>,
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
    ApplyServiceAccount,
    DeleteServiceAccount,
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
            ("PATCH", SERVICE_ACCOUNT_PATH, Route::ApplyServiceAccount),
            ("DELETE", SERVICE_ACCOUNT_PATH, Route::DeleteServiceAccount),
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
    /// applied exactly these annotations and labels. Creates the namespace too.
    pub fn put_service_account(
        &self,
        ns: &str,
        name: &str,
        annotations: &[(&str, &str)],
        labels: &[(&str, &str)],
        manager: &str,
    ) {
        self.add_namespace(ns);
        let to_map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let applied = Applied {
            annotations: to_map(annotations),
            labels: to_map(labels),
        };
        let mut state = lock(&self.state);
        // Forced, so seeding never fails on a conflict.
        let _ = apply(&mut state, ns, name, manager, true, &applied);
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
    /// `"labels/<key>"` → field managers.
    pub fn field_managers(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<BTreeMap<String, BTreeSet<String>>> {
        let state = lock(&self.state);
        let sa = state
            .service_accounts
            .get(&(ns.to_string(), name.to_string()))?;
        let mut owners = BTreeMap::new();
        for (prefix, fields) in [("annotations", &sa.annotations), ("labels", &sa.labels)] {
            for (key, field) in fields {
                owners.insert(format!("{prefix}/{key}"), field.managers.clone());
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
            eprintln!(
                "{} {}{} -> {}",
                request.method,
                request.url.path(),
                query,
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
            _ => sa_target(),
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
        Route::ApplyServiceAccount => apply_request(state, &ns, &name, request),
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
        Route::Unknown => status(
            404,
            "NotFound",
            "the server could not find the requested resource".to_string(),
            &Target::unknown(request.url.path()),
        ),
    }
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

/// What one apply request says about the fields the stand-in models.
struct Applied {
    annotations: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

fn apply_request(state: &mut State, ns: &str, name: &str, request: &Request) -> (u16, Value) {
    let target = Target::service_account(ns, name);
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with(APPLY_CONTENT_TYPE) {
        return status(
            415,
            "UnsupportedMediaType",
            format!(
                "the stand-in only implements server-side apply ({APPLY_CONTENT_TYPE}), got {content_type:?}"
            ),
            &target,
        );
    }
    let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
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
        Err(conflicts) => status(
            409,
            "Conflict",
            format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                conflicts.join(", ")
            ),
            &target,
        ),
    }
}

/// JSON is YAML; accept both, as the API server does for apply bodies.
fn parse_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body)
        .ok()
        .or_else(|| serde_saphyr::from_slice::<Value>(body).ok())
}

fn parse_apply(ns: &str, name: &str, body: &[u8]) -> Result<Applied, String> {
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
    Ok(Applied {
        annotations: string_map("annotations")?,
        labels: string_map("labels")?,
    })
}

/// Server-side apply of `applied` by `manager`. Returns (created, object), or
/// the conflicts when not forced.
fn apply(
    state: &mut State,
    ns: &str,
    name: &str,
    manager: &str,
    force: bool,
    applied: &Applied,
) -> Result<(bool, Value), Vec<String>> {
    let key = (ns.to_string(), name.to_string());
    if !force && let Some(sa) = state.service_accounts.get(&key) {
        let mut conflicts = Vec::new();
        for (prefix, fields, wanted) in [
            ("annotations", &sa.annotations, &applied.annotations),
            ("labels", &sa.labels, &applied.labels),
        ] {
            for (k, v) in wanted {
                if let Some(field) = fields.get(k)
                    && field.value != *v
                {
                    for other in field.managers.iter().filter(|m| *m != manager) {
                        conflicts
                            .push(format!("conflict with \"{other}\": .metadata.{prefix}.{k}"));
                    }
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
    }
    let created = !state.service_accounts.contains_key(&key);
    // Every write bumps the resourceVersion, creation included.
    let meta = state.new_meta();
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
        });
    sa.meta.resource_version = meta.resource_version;
    merge(&mut sa.annotations, &applied.annotations, manager);
    merge(&mut sa.labels, &applied.labels, manager);
    Ok((created, account_json(ns, name, sa)))
}

/// Sets the keys `manager` applies (sharing ownership when the value is
/// unchanged, taking it over otherwise) and releases the keys it no longer
/// applies; a key nobody owns any more is removed.
fn merge(fields: &mut BTreeMap<String, Field>, wanted: &BTreeMap<String, String>, manager: &str) {
    for (k, v) in wanted {
        match fields.get_mut(k) {
            Some(field) if field.value == *v => {
                field.managers.insert(manager.to_string());
            }
            _ => {
                fields.insert(
                    k.clone(),
                    Field {
                        value: v.clone(),
                        managers: BTreeSet::from([manager.to_string()]),
                    },
                );
            }
        }
    }
    fields.retain(|k, field| {
        if !wanted.contains_key(k) {
            field.managers.remove(manager);
        }
        !field.managers.is_empty()
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
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})
}

/// What an error is about, for Status messages and details.
struct Target {
    /// e.g. `serviceaccounts`.
    plural: String,
    name: String,
    namespace: Option<String>,
}

impl Target {
    fn namespace(name: &str) -> Target {
        Target {
            plural: "namespaces".into(),
            name: name.into(),
            namespace: None,
        }
    }

    fn service_account(ns: &str, name: &str) -> Target {
        Target {
            plural: "serviceaccounts".into(),
            name: name.into(),
            namespace: Some(ns.into()),
        }
    }

    fn unknown(path: &str) -> Target {
        Target {
            plural: String::new(),
            name: path.into(),
            namespace: None,
        }
    }
}

fn not_found(target: &Target) -> (u16, Value) {
    status(
        404,
        "NotFound",
        format!("{} \"{}\" not found", target.plural, target.name),
        target,
    )
}

/// A failure injected by [`KubeStandin::fail_next`], worded like the real thing.
fn injected(code: u16, method: &str, target: &Target) -> (u16, Value) {
    let verb = match method {
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
                "{} \"{}\" is forbidden: User \"standin-user\" cannot {verb} resource \"{}\" in API group \"\"{}",
                target.plural,
                target.name,
                target.plural,
                target
                    .namespace
                    .as_ref()
                    .map(|ns| format!(" in the namespace \"{ns}\""))
                    .unwrap_or_else(|| " at the cluster scope".to_string()),
            ),
        ),
        404 => (
            "NotFound",
            format!("{} \"{}\" not found", target.plural, target.name),
        ),
        409 => (
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                target.plural, target.name
            ),
        ),
        422 => (
            "Invalid",
            format!(
                "{} \"{}\" is invalid (injected)",
                target.plural, target.name
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
