//! IAM policy documents: the ones the tool writes, and the semantic reading of
//! the ones it finds. Documents stay `serde_json::Value` so that everything the
//! tool does not own in an existing trust policy survives a rewrite untouched.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub const VERSION: &str = "2012-10-17";
/// The audience EKS projects into service account tokens, in every partition.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
pub const FARGATE_SERVICE: &str = "eks-fargate-pods.amazonaws.com";
/// IAM's default quota for a role trust policy, whitespace not counted.
pub const TRUST_POLICY_LIMIT: usize = 2048;

/// Minified JSON: what the tool sends (IAM counts every character against quotas).
pub fn minify(doc: &Value) -> String {
    doc.to_string()
}

/// The size IAM counts against a policy quota: the minified text (IAM does not
/// count whitespace outside strings) in characters, not bytes. Quotas are
/// stated in characters, and a policy may hold any character up to U+00FF, so
/// an `é` in a Sid counts once although UTF-8 spends two bytes on it.
pub fn compact_size(doc: &Value) -> usize {
    minify(doc).chars().count()
}

/// A string or a list of strings, as a set (IAM treats `"a"` and `["a"]` alike).
fn string_set(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        Some(Value::String(s)) => BTreeSet::from([s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// A set back to IAM's shape: one string alone, several as a list.
fn set_value(set: &BTreeSet<String>) -> Value {
    match set.len() {
        1 => Value::String(set.iter().next().cloned().unwrap_or_default()),
        _ => Value::Array(set.iter().cloned().map(Value::String).collect()),
    }
}

/// The statements of a document, whether `Statement` is one object or a list.
pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// The document with `Statement` as a list of the given statements.
fn with_statements(doc: &Value, statements: Vec<Value>) -> Value {
    let mut out = match doc {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    out.entry("Version")
        .or_insert_with(|| Value::String(VERSION.into()));
    out.insert("Statement".into(), Value::Array(statements));
    Value::Object(out)
}

fn is_allow(st: &Value) -> bool {
    st.get("Effect").and_then(Value::as_str) == Some("Allow")
}

fn actions(st: &Value) -> BTreeSet<String> {
    string_set(st.get("Action"))
        .into_iter()
        .map(|a| a.to_ascii_lowercase())
        .collect()
}

// ---------------------------------------------------------------------------
// Permission policies

/// `{"Effect":"Allow","Action":[…],"Resource":…}` in a document.
pub fn permission_policy(actions: &[&str], resource: &str) -> Value {
    json!({
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource,
        }]
    })
}

/// A canonical form: lists as sorted sets, `Sid` dropped, statements sorted,
/// action names lower-cased (IAM matches them case-insensitively).
fn canonical(doc: &Value) -> Value {
    let mut sts: Vec<Value> = statements(doc)
        .into_iter()
        .map(canonical_statement)
        .collect();
    sts.sort_by_key(|s| s.to_string());
    json!({
        "Version": doc.get("Version").cloned().unwrap_or(Value::Null),
        "Statement": sts,
    })
}

fn canonical_statement(st: &Value) -> Value {
    let Value::Object(m) = st else {
        return st.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            "Sid" => continue,
            "Action" | "NotAction" => {
                let set: BTreeSet<String> = string_set(Some(v))
                    .into_iter()
                    .map(|a| a.to_ascii_lowercase())
                    .collect();
                json!(set)
            }
            "Resource" | "NotResource" => json!(string_set(Some(v))),
            "Principal" | "NotPrincipal" => match v {
                Value::Object(p) => Value::Object(
                    p.iter()
                        .map(|(k, v)| (k.clone(), json!(string_set(Some(v)))))
                        .collect(),
                ),
                other => other.clone(),
            },
            "Condition" => match v {
                Value::Object(ops) => Value::Object(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(ks) => Value::Object(
                                    ks.iter()
                                        .map(|(k, v)| (k.clone(), json!(string_set(Some(v)))))
                                        .collect(),
                                ),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// Whether two documents mean the same (order, one-element lists, Sids aside).
pub fn same_meaning(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// What differs between two permission documents, for people: actions and
/// resources added (`+`) or removed (`-`).
pub fn permission_diff(observed: &Value, desired: &Value) -> String {
    let collect = |doc: &Value, key: &str| -> BTreeSet<String> {
        statements(doc)
            .into_iter()
            .filter(|s| is_allow(s))
            .flat_map(|s| string_set(s.get(key)))
            .collect()
    };
    let mut parts = Vec::new();
    for (key, label) in [("Action", "actions"), ("Resource", "resources")] {
        let (have, want) = (collect(observed, key), collect(desired, key));
        let mut items: Vec<String> = want.difference(&have).map(|a| format!("+{a}")).collect();
        items.extend(have.difference(&want).map(|a| format!("-{a}")));
        if !items.is_empty() {
            parts.push(format!("{label} {}", items.join(" ")));
        }
    }
    if parts.is_empty() {
        "statement structure differs (Deny, NotAction or Condition statements)".to_string()
    } else {
        parts.join("; ")
    }
}

/// Whether every string the pattern `p` can match is matched by the pattern
/// `q` (both with `*` and `?` wildcards). Sound, not complete: `q`'s `*` may
/// absorb anything of `p`, `q`'s `?` one literal or `?` of `p` (never a `*`,
/// which can stand for several characters), and literals must be equal.
fn pattern_covers(q: &str, p: &str) -> bool {
    let (q, p): (Vec<char>, Vec<char>) = (q.chars().collect(), p.chars().collect());
    let (mut qi, mut pi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while pi < p.len() {
        if qi < q.len() && q[qi] == '*' {
            star = Some(qi);
            mark = pi;
            qi += 1;
        } else if qi < q.len()
            && (if q[qi] == '?' {
                p[pi] != '*'
            } else {
                q[qi] == p[pi]
            })
        {
            qi += 1;
            pi += 1;
        } else if let Some(s) = star {
            qi = s + 1;
            mark += 1;
            pi = mark;
        } else {
            return false;
        }
    }
    q[qi..].iter().all(|c| *c == '*')
}

/// No `Condition`, or an empty one: the statement applies to every request.
fn unconditioned(st: &Value) -> bool {
    match st.get("Condition") {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    }
}

fn bracketed(set: &BTreeSet<String>) -> String {
    format!("[{}]", set.iter().cloned().collect::<Vec<_>>().join(", "))
}

/// What `old` allows that `new` does not, as `"<action> on <resource>"` items,
/// sorted and without duplicates; empty when `new` covers all of `old`.
///
/// Conservative where unsure, so that "nothing beyond" can be trusted: only
/// unconditioned Allow statements of `new` with `Action` and `Resource` cover
/// (a condition or NotAction/NotResource of `new` is not reasoned about), and
/// an old NotAction or NotResource statement is always reported. Deny
/// statements only narrow, so they are ignored on both sides.
pub fn grants_beyond(old: &Value, new: &Value) -> Vec<String> {
    let cover: Vec<(BTreeSet<String>, BTreeSet<String>)> = statements(new)
        .into_iter()
        .filter(|st| {
            is_allow(st)
                && unconditioned(st)
                && st.get("NotAction").is_none()
                && st.get("NotResource").is_none()
        })
        .map(|st| (actions(st), string_set(st.get("Resource"))))
        .collect();
    let covered = |action: &str, resource: &str| {
        let action = action.to_ascii_lowercase();
        cover.iter().any(|(acts, ress)| {
            acts.iter().any(|q| pattern_covers(q, &action))
                && ress.iter().any(|q| pattern_covers(q, resource))
        })
    };
    // Keyed by lower-cased action (IAM action names ignore case) and resource
    // (ARNs do not), valued by the first spelling seen.
    let mut beyond: std::collections::BTreeMap<(String, String), String> = Default::default();
    let mut note = |action: &str, resource: &str| {
        beyond
            .entry((action.to_ascii_lowercase(), resource.to_string()))
            .or_insert_with(|| format!("{action} on {resource}"));
    };
    for st in statements(old).into_iter().filter(|st| is_allow(st)) {
        let (resources, literal) = match (st.get("Resource"), st.get("NotResource")) {
            (_, Some(not)) => (
                BTreeSet::from([format!("NotResource {}", bracketed(&string_set(Some(not))))]),
                false,
            ),
            (Some(r), None) => (string_set(Some(r)), true),
            // Neither: not a valid statement, and IAM grants nothing for it.
            (None, None) => continue,
        };
        if let Some(not) = st.get("NotAction") {
            let action = format!("NotAction {}", bracketed(&string_set(Some(not))));
            for resource in &resources {
                note(&action, resource);
            }
            continue;
        }
        for action in string_set(st.get("Action")) {
            for resource in &resources {
                if !(literal && covered(&action, resource)) {
                    note(&action, resource);
                }
            }
        }
    }
    beyond.into_values().collect()
}

// ---------------------------------------------------------------------------
// IRSA trust

/// One ServiceAccount trusted through the cluster's OIDC provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrsaSubject {
    pub provider_arn: String,
    /// The issuer without `https://`: the prefix of the condition keys.
    pub host_path: String,
    pub namespace: String,
    pub service_account: String,
}

impl IrsaSubject {
    pub fn subject(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
    fn sub_key(&self) -> String {
        format!("{}:sub", self.host_path)
    }
    fn aud_key(&self) -> String {
        format!("{}:aud", self.host_path)
    }

    /// The statement the tool writes: exactly this subject and audience.
    pub fn statement(&self) -> Value {
        json!({
            "Effect": "Allow",
            "Principal": {"Federated": self.provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                self.sub_key(): self.subject(),
                self.aud_key(): STS_AUDIENCE,
            }}
        })
    }

    pub fn trust_policy(&self) -> Value {
        json!({"Version": VERSION, "Statement": [self.statement()]})
    }

    /// Allow + this provider + AssumeRoleWithWebIdentity.
    fn grants_web_identity(&self, st: &Value) -> bool {
        is_allow(st)
            && st
                .get("Principal")
                .map(|p| string_set(p.get("Federated")).contains(&self.provider_arn))
                .unwrap_or(false)
            && actions(st)
                .iter()
                .any(|a| a == "sts:assumerolewithwebidentity" || a == "sts:*" || a == "*")
    }

    fn string_equals<'a>(&self, st: &'a Value) -> Option<&'a Map<String, Value>> {
        st.get("Condition")?.get("StringEquals")?.as_object()
    }

    /// How an existing trust document stands towards this subject.
    pub fn state(&self, doc: &Value) -> TrustState {
        let mut without_aud = None;
        for (i, st) in statements(doc).into_iter().enumerate() {
            if !self.grants_web_identity(st) {
                continue;
            }
            let Some(eq) = self.string_equals(st) else {
                continue;
            };
            if !string_set(eq.get(&self.sub_key())).contains(&self.subject()) {
                continue;
            }
            match eq.get(&self.aud_key()) {
                Some(aud) if string_set(Some(aud)).contains(STS_AUDIENCE) => {
                    return TrustState::Trusted;
                }
                Some(_) => {}
                None => without_aud = without_aud.or(Some(i)),
            }
        }
        match without_aud {
            Some(index) => TrustState::MissingAudience { index },
            None => TrustState::Missing,
        }
    }

    /// The document with this subject trusted; everything else kept. A
    /// statement for exactly this subject that lacks the audience condition
    /// (what the AWS guide's script writes) gets it; otherwise the subject
    /// joins the `sub` list of a statement that is exactly the recipe for
    /// other subjects (see `compactable`), or a statement is added.
    pub fn add_to(&self, doc: &Value) -> Value {
        let mut sts: Vec<Value> = statements(doc).into_iter().cloned().collect();
        match self.state(doc) {
            TrustState::Trusted => return doc.clone(),
            TrustState::MissingAudience { index } => {
                let only_us = sts
                    .get(index)
                    .and_then(|st| self.string_equals(st))
                    .map(|eq| string_set(eq.get(&self.sub_key())).len() == 1)
                    .unwrap_or(false);
                let eq = sts
                    .get_mut(index)
                    .and_then(|st| st.get_mut("Condition"))
                    .and_then(|c| c.get_mut("StringEquals"))
                    .and_then(Value::as_object_mut);
                match eq {
                    Some(eq) if only_us => {
                        eq.insert(self.aud_key(), Value::String(STS_AUDIENCE.into()));
                    }
                    // A shared list: adding aud there would narrow the others.
                    _ => self.add_statement(&mut sts),
                }
            }
            TrustState::Missing => self.add_statement(&mut sts),
        }
        with_statements(doc, sts)
    }

    /// Trust for this subject alone: in the `sub` list of the first compactable
    /// statement (IAM's 2,048-character trust quota fills fast when a role is
    /// shared by many ServiceAccounts, and a list entry costs a fraction of a
    /// statement), else as a statement of its own.
    fn add_statement(&self, sts: &mut Vec<Value>) {
        let sub_key = self.sub_key();
        let slot = sts.iter_mut().find_map(|st| {
            if !self.compactable(st) {
                return None;
            }
            st.get_mut("Condition")?
                .get_mut("StringEquals")?
                .get_mut(&sub_key)
        });
        let ours = Value::String(self.subject());
        match slot {
            Some(Value::Array(items)) => items.push(ours),
            Some(single) => *single = Value::Array(vec![single.take(), ours]),
            None => sts.push(self.statement()),
        }
    }

    /// A statement that is exactly the recipe but for its subjects: Allow, this
    /// provider alone, web identity alone, and a StringEquals of just `sub`
    /// (strings) and `aud` = sts.amazonaws.com; nothing else but a Sid. Adding
    /// our subject to its `sub` list then grants exactly what our own statement
    /// would, and nothing to anyone else.
    fn compactable(&self, st: &Value) -> bool {
        let Some(m) = st.as_object() else {
            return false;
        };
        let only = |v: Option<&Value>, want: &str, fold: bool| -> bool {
            let is = |s: &str| {
                if fold {
                    s.eq_ignore_ascii_case(want)
                } else {
                    s == want
                }
            };
            match v {
                Some(Value::String(s)) => is(s),
                Some(Value::Array(items)) => {
                    matches!(items.as_slice(), [Value::String(s)] if is(s))
                }
                _ => false,
            }
        };
        let known = ["Sid", "Effect", "Principal", "Action", "Condition"];
        let principal_ok = m
            .get("Principal")
            .and_then(Value::as_object)
            .is_some_and(|p| p.len() == 1 && only(p.get("Federated"), &self.provider_arn, false));
        let condition_ok = m
            .get("Condition")
            .and_then(Value::as_object)
            .filter(|c| c.len() == 1)
            .and_then(|c| c.get("StringEquals"))
            .and_then(Value::as_object)
            .is_some_and(|eq| {
                let subs_ok = match eq.get(&self.sub_key()) {
                    Some(Value::String(_)) => true,
                    Some(Value::Array(items)) => {
                        !items.is_empty() && items.iter().all(Value::is_string)
                    }
                    _ => false,
                };
                eq.len() == 2 && subs_ok && only(eq.get(&self.aud_key()), STS_AUDIENCE, false)
            });
        m.keys().all(|k| known.contains(&k.as_str()))
            && is_allow(st)
            && principal_ok
            && only(m.get("Action"), "sts:AssumeRoleWithWebIdentity", true)
            && condition_ok
    }

    /// The document without this subject: a statement for it alone goes, a
    /// subject list loses just this entry (the rest in their order; one left
    /// becomes a plain string again). Everything else is kept.
    pub fn remove_from(&self, doc: &Value) -> Value {
        let ours = self.subject();
        let mut out = Vec::new();
        for st in statements(doc) {
            let grants = self.grants_web_identity(st)
                && self
                    .string_equals(st)
                    .map(|eq| string_set(eq.get(&self.sub_key())).contains(&ours))
                    .unwrap_or(false);
            if !grants {
                out.push(st.clone());
                continue;
            }
            let mut st = st.clone();
            let sub = st
                .get_mut("Condition")
                .and_then(|c| c.get_mut("StringEquals"))
                .and_then(|eq| eq.get_mut(self.sub_key()));
            let Some(sub) = sub else {
                continue;
            };
            let mut rest: Vec<Value> = match sub.take() {
                Value::Array(items) => items
                    .into_iter()
                    .filter(|i| i.as_str() != Some(ours.as_str()))
                    .collect(),
                _ => Vec::new(),
            };
            match rest.len() {
                0 => continue,
                1 => *sub = rest.remove(0),
                _ => *sub = Value::Array(rest),
            }
            out.push(st);
        }
        with_statements(doc, out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustState {
    Trusted,
    /// Trusts the subject without the `aud` condition (statement index).
    MissingAudience {
        index: usize,
    },
    Missing,
}

/// Whether any statement names this principal as `Federated` (teardown of the
/// OIDC provider must not pull it from under a role that still uses it).
pub fn mentions_federated(doc: &Value, provider_arn: &str) -> bool {
    statements(doc).into_iter().any(|st| {
        st.get("Principal")
            .map(|p| string_set(p.get("Federated")).contains(provider_arn))
            .unwrap_or(false)
    })
}

// ---------------------------------------------------------------------------
// Trust findings: who else a role the tool did not create lets in

/// One statement of a trust policy that lets more in than the recipe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrustFinding {
    /// `Sid "x"`, or `statement #N` (1-based) for one without a Sid.
    pub statement: String,
    /// Who else can assume the role, in plain words.
    pub risk: String,
}

fn statement_name(st: &Value, index: usize) -> String {
    match st.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("Sid {sid:?}"),
        _ => format!("statement #{}", index + 1),
    }
}

/// Findings for the principals of an Allow statement, but those `skip`
/// accepts (principal type, value): the ones the caller reasons about itself.
fn principal_risks(st: &Value, skip: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let mut risks = Vec::new();
    if st.get("NotPrincipal").is_some() {
        risks.push("lets every principal but those in its NotPrincipal assume it".to_string());
    }
    match st.get("Principal") {
        Some(Value::String(s)) if s == "*" => {
            risks.push("lets anyone assume it (Principal \"*\")".to_string());
        }
        Some(Value::Object(p)) => {
            for (kind, v) in p {
                let values = match v {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        items.iter().filter_map(Value::as_str).collect()
                    }
                    other => {
                        risks.push(format!(
                            "has a {kind} principal the tool cannot read ({other}): it may let others assume it"
                        ));
                        continue;
                    }
                };
                for value in values {
                    if !skip(kind, value) {
                        risks.push(principal_risk(kind, value));
                    }
                }
            }
        }
        None if st.get("NotPrincipal").is_some() => {}
        None => risks.push("names no principal: the tool cannot tell who it lets in".to_string()),
        Some(other) => risks.push(format!(
            "has a Principal the tool cannot read ({other}): it may let others assume it"
        )),
    }
    risks
}

fn principal_risk(kind: &str, value: &str) -> String {
    match kind {
        "AWS" if value == "*" => {
            "lets any AWS principal assume it (Principal AWS \"*\")".to_string()
        }
        "AWS" => match aws_account(value) {
            Some(account) => format!("lets AWS account {account} assume it"),
            None => format!("lets AWS principal {value} assume it"),
        },
        "Service" => format!("lets service {value} assume it"),
        "Federated" => format!("lets another identity provider {value} assume it"),
        "CanonicalUser" => format!("lets canonical user {value} assume it"),
        _ => format!("lets {kind} principal {value} assume it"),
    }
}

/// The account an `AWS` principal stands for as a whole: `123456789012` or
/// `arn:<partition>:iam::123456789012:root` (then every principal of that
/// account its own policies allow).
fn aws_account(value: &str) -> Option<&str> {
    let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if is_account(value) {
        return Some(value);
    }
    let rest = value.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    is_account(account).then_some(account)
}

/// A condition operator as it bears on a key the request always carries:
/// `IfExists` changes nothing then. Set operators (`ForAnyValue:` …) and
/// negations are not reasoned about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Match {
    Equals,
    EqualsIgnoreCase,
    Like,
    Other,
}

fn match_kind(operator: &str) -> Match {
    match operator.strip_suffix("IfExists").unwrap_or(operator) {
        "StringEquals" => Match::Equals,
        "StringEqualsIgnoreCase" => Match::EqualsIgnoreCase,
        "StringLike" => Match::Like,
        _ => Match::Other,
    }
}

/// The values of one condition operator on one key.
struct Constraint {
    operator: String,
    kind: Match,
    /// None when the values are not strings (or numbers, booleans).
    values: Option<Vec<String>>,
}

/// Every constraint of a statement on `key` (condition keys ignore case).
fn constraints(st: &Value, key: &str) -> Vec<Constraint> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    let Some(cond) = st.get("Condition").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (operator, keys) in cond {
        let Some(keys) = keys.as_object() else {
            continue;
        };
        for (k, v) in keys {
            if !k.eq_ignore_ascii_case(key) {
                continue;
            }
            let values = match v {
                Value::Array(items) => items.iter().map(scalar).collect(),
                other => scalar(other).map(|s| vec![s]),
            };
            out.push(Constraint {
                operator: operator.clone(),
                kind: match_kind(operator),
                values,
            });
        }
    }
    out
}

impl Constraint {
    /// Whether this constraint alone lets only `want` through.
    fn only(&self, want: &str) -> bool {
        let Some(values) = &self.values else {
            return false;
        };
        match self.kind {
            Match::Equals => values.iter().all(|v| v == want),
            // Kubernetes names are lower case: a case variant names no other account.
            Match::EqualsIgnoreCase => values.iter().all(|v| v.eq_ignore_ascii_case(want)),
            Match::Like => values.iter().all(|v| v == want && !v.contains(['*', '?'])),
            Match::Other => false,
        }
    }
    fn admits(&self, value: &str) -> bool {
        let Some(values) = &self.values else {
            return true;
        };
        match self.kind {
            Match::Equals => values.iter().any(|v| v == value),
            Match::EqualsIgnoreCase => values.iter().any(|v| v.eq_ignore_ascii_case(value)),
            Match::Like => values.iter().any(|v| glob_match(v, value)),
            Match::Other => true,
        }
    }
}

/// Whom a statement of our provider lets through by `sub`.
enum SubScope {
    /// Only our subject (or nobody).
    OnlyUs,
    /// These subjects, ours perhaps among them (an equality list).
    Listed(Vec<String>),
    /// Patterns (StringLike) other than our exact subject.
    Patterns(Vec<String>),
    /// Only operators the tool does not reason about.
    Unreadable(Vec<String>),
    /// No `sub` condition at all.
    Unrestricted,
}

fn sub_scope(cs: &[Constraint], ours: &str) -> SubScope {
    // Operators of a statement are ANDed: one that lets only us through is enough.
    if cs.iter().any(|c| c.only(ours)) {
        return SubScope::OnlyUs;
    }
    let equality = cs
        .iter()
        .find(|c| matches!(c.kind, Match::Equals | Match::EqualsIgnoreCase) && c.values.is_some());
    if let Some(first) = equality {
        let listed: Vec<String> = first
            .values
            .iter()
            .flatten()
            .filter(|v| cs.iter().all(|c| c.admits(v)))
            .cloned()
            .collect();
        return if listed.iter().all(|v| v == ours) {
            SubScope::OnlyUs
        } else {
            SubScope::Listed(listed)
        };
    }
    let patterns: Vec<String> = cs
        .iter()
        .filter(|c| c.kind == Match::Like)
        .flat_map(|c| c.values.iter().flatten())
        .filter(|v| v.as_str() != ours)
        .cloned()
        .collect();
    if !patterns.is_empty() {
        return SubScope::Patterns(patterns);
    }
    if cs.is_empty() {
        SubScope::Unrestricted
    } else {
        SubScope::Unreadable(cs.iter().map(|c| c.operator.clone()).collect())
    }
}

/// `namespace/name` for a ServiceAccount subject, anything else as it is.
fn subject_label(sub: &str) -> String {
    match sub
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, name)) => format!("{ns}/{name}"),
        None => sub.to_string(),
    }
}

const WEB_IDENTITY: &str = "sts:assumerolewithwebidentity";

/// Whether a statement grants `needed` (lower case), recording as risks what
/// it grants besides the `expected` actions (a NotAction, or other actions),
/// worded for `to_whom`. Shared by the IRSA and Pod Identity findings.
pub(crate) fn action_reach(
    st: &Value,
    needed: &str,
    expected: &[&str],
    shown: &str,
    to_whom: &str,
    risks: &mut Vec<String>,
) -> bool {
    if let Some(not) = st.get("NotAction") {
        risks.push(format!(
            "allows every action but NotAction {} to {to_whom}",
            bracketed(&string_set(Some(not)))
        ));
        return !string_set(Some(not))
            .iter()
            .any(|a| pattern_covers(&a.to_ascii_lowercase(), needed));
    }
    let covers = actions(st).iter().any(|a| pattern_covers(a, needed));
    let beyond: Vec<String> = string_set(st.get("Action"))
        .into_iter()
        .filter(|a| !expected.iter().any(|e| a.eq_ignore_ascii_case(e)))
        .collect();
    if !beyond.is_empty() {
        let how = if covers { "as well as" } else { "instead of" };
        risks.push(format!(
            "allows {} {how} {shown} to {to_whom}",
            beyond.join(", ")
        ));
    }
    covers
}

impl IrsaSubject {
    /// The findings for one Allow statement (`index` 0-based) of `doc`; with
    /// `also_allowed`, Pod Identity is judged against that subject instead of
    /// being "another service".
    fn statement_risks(
        &self,
        doc: &Value,
        st: &Value,
        index: usize,
        also_allowed: Option<&PodIdentitySubject>,
    ) -> Vec<String> {
        let skip = |kind: &str, value: &str| {
            (kind == "Federated" && value == self.provider_arn)
                || (also_allowed.is_some() && kind == "Service" && value == POD_IDENTITY_SERVICE)
        };
        let mut risks = principal_risks(st, skip);
        if let Some(pi) = also_allowed {
            risks.extend(pi.pod_identity_risks(st));
        }
        risks.extend(self.web_identity_risks(st, self.fixes_audience(doc, index)));
        risks
    }

    /// The findings for what a statement lets this provider's tokens do;
    /// `audience_fixed` when the planner adds the aud condition to it itself.
    fn web_identity_risks(&self, st: &Value, audience_fixed: bool) -> Vec<String> {
        let mut risks = Vec::new();
        let through_provider = st
            .get("Principal")
            .and_then(|p| p.get("Federated"))
            .is_some_and(|f| string_set(Some(f)).contains(&self.provider_arn));
        if !through_provider {
            return risks;
        }
        // What the statement allows our provider's tokens to do.
        let web_identity = action_reach(
            st,
            WEB_IDENTITY,
            &[WEB_IDENTITY],
            "sts:AssumeRoleWithWebIdentity",
            "the cluster's ServiceAccounts",
            &mut risks,
        );
        if !web_identity {
            return risks;
        }
        let ours = self.subject();
        let scope = sub_scope(&constraints(st, &self.sub_key()), &ours);
        let trusted = match &scope {
            SubScope::OnlyUs => subject_label(&ours),
            SubScope::Listed(subs) => subs
                .iter()
                .map(|s| subject_label(s))
                .collect::<Vec<_>>()
                .join(", "),
            SubScope::Patterns(patterns) => patterns.join(", "),
            SubScope::Unreadable(_) | SubScope::Unrestricted => {
                "any ServiceAccount of the cluster".to_string()
            }
        };
        match &scope {
            SubScope::OnlyUs => {}
            SubScope::Listed(subs) => {
                let others: Vec<String> = subs
                    .iter()
                    .filter(|s| **s != ours)
                    .map(|s| subject_label(s))
                    .collect();
                risks.push(format!(
                    "lets other ServiceAccounts of the cluster assume it ({})",
                    others.join(", ")
                ));
            }
            SubScope::Patterns(patterns) => {
                let everyone = patterns
                    .iter()
                    .any(|p| pattern_covers(p, "system:serviceaccount:*:*"));
                let who = if everyone { "any" } else { "other" };
                let noun = if everyone { "ServiceAccount" } else { "ServiceAccounts" };
                risks.push(format!(
                    "lets {who} {noun} of the cluster assume it (StringLike sub {})",
                    patterns.join(", ")
                ));
            }
            SubScope::Unreadable(operators) => risks.push(format!(
                "limits sub only with {}, which the tool does not read: other ServiceAccounts of the cluster may assume it",
                operators.join(", ")
            )),
            SubScope::Unrestricted => risks.push(
                "has no sub condition: any ServiceAccount of the cluster can assume it".to_string(),
            ),
        }
        let auds = constraints(st, &self.aud_key());
        if auds.iter().any(|c| c.only(STS_AUDIENCE)) {
            return risks;
        }
        let other_audiences: BTreeSet<String> = auds
            .iter()
            .filter(|c| c.kind != Match::Other)
            .flat_map(|c| c.values.iter().flatten())
            .filter(|v| v.as_str() != STS_AUDIENCE)
            .cloned()
            .collect();
        if !other_audiences.is_empty() {
            risks.push(format!(
                "accepts tokens of {trusted} issued for audience {}, not only {STS_AUDIENCE}",
                other_audiences.into_iter().collect::<Vec<_>>().join(", ")
            ));
        } else if matches!(scope, SubScope::OnlyUs) && audience_fixed {
            // The planner adds the aud condition to this very statement.
        } else if auds.is_empty() {
            // Then a token minted for any other audience is exchanged as well.
            risks.push(format!("trusts {trusted} without the aud condition"));
        } else {
            let operators: Vec<&str> = auds.iter().map(|c| c.operator.as_str()).collect();
            risks.push(format!(
                "trusts {trusted} without an aud condition the tool can read ({})",
                operators.join(", ")
            ));
        }
        risks
    }

    /// Whether `add_to` puts the aud condition into statement `index` itself.
    fn fixes_audience(&self, doc: &Value, index: usize) -> bool {
        self.state(doc) == (TrustState::MissingAudience { index })
            && statements(doc)
                .get(index)
                .and_then(|st| self.string_equals(st))
                .is_some_and(|eq| string_set(eq.get(&self.sub_key())).len() == 1)
    }
}

/// Findings named after their statement, each risk once.
fn named(st: &Value, index: usize, risks: Vec<String>) -> Vec<TrustFinding> {
    let mut seen = BTreeSet::new();
    risks
        .into_iter()
        .filter(|r| seen.insert(r.clone()))
        .map(|risk| TrustFinding {
            statement: statement_name(st, index),
            risk,
        })
        .collect()
}

/// Every Allow statement of an IRSA trust that lets in more than "exactly
/// this subject, with aud sts.amazonaws.com, through this provider". The
/// statement the tool fixes itself (ours alone, lacking aud) is no finding.
pub fn irsa_trust_findings(doc: &Value, subject: &IrsaSubject) -> Vec<TrustFinding> {
    irsa_trust_findings_allowing(doc, subject, None)
}

/// `irsa_trust_findings`, but Pod Identity trust for exactly `also_allowed`
/// is no finding either (a role migrating between the two trusts both). The
/// allowance holds only for the IRSA subject's own namespace and
/// ServiceAccount: for another one it is ignored, lest it hide a wider trust.
pub fn irsa_trust_findings_allowing(
    doc: &Value,
    subject: &IrsaSubject,
    also_allowed: Option<&PodIdentitySubject>,
) -> Vec<TrustFinding> {
    let also_allowed = also_allowed.filter(|pi| {
        pi.namespace == subject.namespace && pi.service_account == subject.service_account
    });
    statements(doc)
        .into_iter()
        .enumerate()
        .filter(|(_, st)| is_allow(st))
        .flat_map(|(i, st)| named(st, i, subject.statement_risks(doc, st, i, also_allowed)))
        .collect()
}

/// Every Allow statement of a Fargate pod execution trust that lets in a
/// principal other than the Fargate service. The Fargate service itself,
/// whatever its SourceArn, is judged by `fargate_trust` (`source_arn` is not
/// needed here; it keeps the signature parallel to that check).
pub fn fargate_trust_findings(doc: &Value, _source_arn: &str) -> Vec<TrustFinding> {
    let fargate = |kind: &str, value: &str| kind == "Service" && value == FARGATE_SERVICE;
    statements(doc)
        .into_iter()
        .enumerate()
        .filter(|(_, st)| is_allow(st))
        .flat_map(|(i, st)| named(st, i, principal_risks(st, fargate)))
        .collect()
}

// ---------------------------------------------------------------------------
// Fargate pod execution trust

const SOURCE_ARN: &str = "aws:SourceArn";

/// `*` and `?` wildcards, as in ArnLike / StringLike.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        // `*` first: a `*` in the pattern is a wildcard even where the text
        // has a literal `*` (a Fargate SourceArn ends in `/*`).
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FargateTrust {
    /// A statement's SourceArn covers the cluster.
    Covered,
    /// A Fargate statement with no SourceArn condition: trusts every cluster
    /// (the confused-deputy risk of roles made before 2023).
    Unconditioned { index: usize },
    /// A Fargate statement whose SourceArn list does not cover the cluster.
    NotCovered { index: usize, sources: Vec<String> },
    /// No statement lets Fargate assume the role.
    NoStatement,
}

fn is_fargate_statement(st: &Value) -> bool {
    is_allow(st)
        && st
            .get("Principal")
            .map(|p| string_set(p.get("Service")).contains(FARGATE_SERVICE))
            .unwrap_or(false)
        && actions(st)
            .iter()
            .any(|a| a == "sts:assumerole" || a == "sts:*" || a == "*")
}

/// Condition operators a SourceArn is found under.
const SOURCE_OPERATORS: [&str; 4] = ["ArnLike", "ArnEquals", "StringLike", "StringEquals"];
/// Those that expand `*` and `?` in their values.
const WILDCARD_OPERATORS: [&str; 3] = ["ArnLike", "ArnEquals", "StringLike"];

/// SourceArn patterns of a statement, per condition operator. IAM ANDs the
/// operators of a statement and ORs the values of one.
fn source_arns_by_operator(st: &Value) -> Vec<(&'static str, BTreeSet<String>)> {
    let Some(cond) = st.get("Condition").and_then(Value::as_object) else {
        return Vec::new();
    };
    SOURCE_OPERATORS
        .iter()
        .filter_map(|&op| {
            let v = cond.get(op)?.get(SOURCE_ARN)?;
            Some((op, string_set(Some(v))))
        })
        .collect()
}

/// SourceArn patterns of a statement, under ArnLike/ArnEquals/StringLike/StringEquals.
fn source_arns(st: &Value) -> Option<BTreeSet<String>> {
    let by_operator = source_arns_by_operator(st);
    (!by_operator.is_empty()).then(|| by_operator.into_iter().flat_map(|(_, s)| s).collect())
}

pub fn fargate_statement(source_arn: &str) -> Value {
    json!({
        "Effect": "Allow",
        "Condition": {"ArnLike": {SOURCE_ARN: source_arn}},
        "Principal": {"Service": FARGATE_SERVICE},
        "Action": "sts:AssumeRole",
    })
}

pub fn fargate_trust_policy(source_arn: &str) -> Value {
    json!({"Version": VERSION, "Statement": [fargate_statement(source_arn)]})
}

/// How a trust document stands towards Fargate profiles of `source_arn`.
pub fn fargate_trust(doc: &Value, source_arn: &str) -> FargateTrust {
    let mut first_unconditioned = None;
    let mut first_listed = None;
    for (i, st) in statements(doc).into_iter().enumerate() {
        if !is_fargate_statement(st) {
            continue;
        }
        let by_operator = source_arns_by_operator(st);
        if by_operator.is_empty() {
            first_unconditioned = first_unconditioned.or(Some(i));
            continue;
        }
        // Every operator must let the SourceArn through.
        if by_operator
            .iter()
            .all(|(_, patterns)| patterns.iter().any(|p| glob_match(p, source_arn)))
        {
            return FargateTrust::Covered;
        }
        let patterns: BTreeSet<String> = by_operator.into_iter().flat_map(|(_, s)| s).collect();
        first_listed = first_listed.or(Some((i, patterns.into_iter().collect())));
    }
    match (first_listed, first_unconditioned) {
        (Some((index, sources)), _) => FargateTrust::NotCovered { index, sources },
        (None, Some(index)) => FargateTrust::Unconditioned { index },
        (None, None) => FargateTrust::NoStatement,
    }
}

/// The document with `source_arn` added to statement `index`'s SourceArn list
/// (a string becomes a list), under the operator that holds it; with no
/// SourceArn yet, an ArnLike one is added (`--harden`). Where the list cannot
/// take a pattern (StringEquals matches literally; several operators are
/// ANDed), a statement of its own is appended instead.
pub fn add_fargate_source(doc: &Value, index: usize, source_arn: &str) -> Value {
    let mut sts: Vec<Value> = statements(doc).into_iter().cloned().collect();
    let by_operator = sts.get(index).map(source_arns_by_operator);
    let operator = match by_operator.as_deref() {
        None | Some([]) => "ArnLike",
        Some([(op, _)]) if WILDCARD_OPERATORS.contains(op) => op,
        Some(_) => return add_fargate_statement(doc, source_arn),
    };
    if let Some(Value::Object(st)) = sts.get_mut(index) {
        let cond = st
            .entry("Condition")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(cond) = cond {
            let keys = cond
                .entry(operator)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(keys) = keys {
                // The guide adds the new line on top: keep existing order, prepend ours.
                let mut list = vec![Value::String(source_arn.into())];
                if let Some(existing) = keys.get(SOURCE_ARN) {
                    match existing {
                        Value::Array(items) => list.extend(items.iter().cloned()),
                        other => list.push(other.clone()),
                    }
                }
                let value = if list.len() == 1 {
                    list.remove(0)
                } else {
                    Value::Array(list)
                };
                keys.insert(SOURCE_ARN.into(), value);
            }
        }
    }
    with_statements(doc, sts)
}

/// The document with a Fargate statement for `source_arn` appended.
pub fn add_fargate_statement(doc: &Value, source_arn: &str) -> Value {
    let mut sts: Vec<Value> = statements(doc).into_iter().cloned().collect();
    sts.push(fargate_statement(source_arn));
    with_statements(doc, sts)
}

/// The document without `source_arn` in any Fargate statement; a statement
/// left with no SourceArn goes (it would otherwise trust every cluster).
/// Returns the document and how many Fargate SourceArns remain.
pub fn remove_fargate_source(doc: &Value, source_arn: &str) -> (Value, usize) {
    let mut remaining = 0;
    let mut out = Vec::new();
    for st in statements(doc) {
        if !is_fargate_statement(st) {
            out.push(st.clone());
            continue;
        }
        let Some(_) = source_arns(st) else {
            out.push(st.clone());
            remaining += 1;
            continue;
        };
        let mut st = st.clone();
        let mut left = 0;
        if let Some(Value::Object(cond)) = st.get_mut("Condition") {
            for op in SOURCE_OPERATORS {
                if let Some(Value::Object(o)) = cond.get_mut(op) {
                    if let Some(v) = o.get(SOURCE_ARN) {
                        let mut set = string_set(Some(v));
                        set.remove(source_arn);
                        if set.is_empty() {
                            o.remove(SOURCE_ARN);
                        } else {
                            left += set.len();
                            o.insert(SOURCE_ARN.into(), set_value(&set));
                        }
                    }
                }
            }
            cond.retain(|_, v| v.as_object().map(|o| !o.is_empty()).unwrap_or(true));
        }
        if left > 0 {
            remaining += left;
            out.push(st);
        }
    }
    (with_statements(doc, out), remaining)
}

// ---------------------------------------------------------------------------
// EKS Pod Identity trust (its own file: this one is long enough)

mod pod_identity;
pub use pod_identity::{
    POD_IDENTITY_SERVICE, PodIdentitySubject, PodIdentityTrust, pod_identity_trust_findings,
};

#[cfg(test)]
mod tests;
