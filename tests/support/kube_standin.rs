//! A small, stateful stand-in for the Kubernetes API server, built on wiremock.
//!
//! It knows namespaces and ServiceAccounts, and models field ownership of
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
//! Not modelled: resourceVersion preconditions (except `metadata.resourceVersion`
//! in a merge patch), anything but annotations and labels of a ServiceAccount
//! (other JSON patch paths and merge patch fields are refused with 422),
//! `move`/`copy` ops, strategic merge directives (`$patch`...), dry runs,
//! managedFields of namespaces, the map entries (`.`) of managedFields,
//! namespace deletion. Times in managedFields count seconds of writes from
//! 2024-01-01, not the clock.
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
                Route::PatchServiceAccount => format!(" ({})", media_type(request)),
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
    Ok((created, account_json(ns, name, sa)))
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
