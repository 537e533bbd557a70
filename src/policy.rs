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
    /// (what the AWS guide's script writes) gets it; otherwise a statement is added.
    pub fn add_to(&self, doc: &Value) -> Value {
        let mut sts: Vec<Value> = statements(doc).into_iter().cloned().collect();
        match self.state(doc) {
            TrustState::Trusted => return doc.clone(),
            TrustState::MissingAudience { index } => {
                let only_us = self
                    .string_equals(&sts[index])
                    .map(|eq| string_set(eq.get(&self.sub_key())).len() == 1)
                    .unwrap_or(false);
                if only_us {
                    if let Some(eq) = sts[index]
                        .get_mut("Condition")
                        .and_then(|c| c.get_mut("StringEquals"))
                        .and_then(Value::as_object_mut)
                    {
                        eq.insert(self.aud_key(), Value::String(STS_AUDIENCE.into()));
                    }
                } else {
                    sts.push(self.statement());
                }
            }
            TrustState::Missing => sts.push(self.statement()),
        }
        with_statements(doc, sts)
    }

    /// The document without this subject: a statement for it alone goes, a
    /// subject list loses just this entry. Everything else is kept.
    pub fn remove_from(&self, doc: &Value) -> Value {
        let mut out = Vec::new();
        for st in statements(doc) {
            let grants = self.grants_web_identity(st)
                && self
                    .string_equals(st)
                    .map(|eq| string_set(eq.get(&self.sub_key())).contains(&self.subject()))
                    .unwrap_or(false);
            if !grants {
                out.push(st.clone());
                continue;
            }
            let mut subs = self
                .string_equals(st)
                .map(|eq| string_set(eq.get(&self.sub_key())))
                .unwrap_or_default();
            subs.remove(&self.subject());
            if subs.is_empty() {
                continue;
            }
            let mut st = st.clone();
            if let Some(eq) = st
                .get_mut("Condition")
                .and_then(|c| c.get_mut("StringEquals"))
                .and_then(Value::as_object_mut)
            {
                eq.insert(self.sub_key(), set_value(&subs));
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
// Fargate pod execution trust

const SOURCE_ARN: &str = "aws:SourceArn";

/// `*` and `?` wildcards, as in ArnLike / StringLike.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
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

#[cfg(test)]
mod tests;
