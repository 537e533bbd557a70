//! EKS Pod Identity trust. The service `pods.eks.amazonaws.com` assumes the
//! role and tags the session with the association's cluster, namespace and
//! ServiceAccount, so a trust narrows to one ServiceAccount by conditions on
//! those request tags, where IRSA narrows by the token's `sub`.
//!
//! `aws:SourceAccount` is written but never required: EKS associates only a
//! role of the cluster's own account (another account's role is reached
//! through the association's target role, whose own trust names this role),
//! so its absence widens nothing, whether or not the cluster ARN is pinned.

use super::{
    IrsaSubject, Match, SubScope, TrustFinding, VERSION, action_reach, actions, constraints,
    glob_match, is_allow, named, pattern_covers, principal_risks, statements, string_set,
    sub_scope, with_statements,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub const POD_IDENTITY_SERVICE: &str = "pods.eks.amazonaws.com";

const SOURCE_ACCOUNT: &str = "aws:SourceAccount";
const CLUSTER_ARN: &str = "aws:RequestTag/eks-cluster-arn";
const CLUSTER_NAME: &str = "aws:RequestTag/eks-cluster-name";
const NAMESPACE: &str = "aws:RequestTag/kubernetes-namespace";
const SERVICE_ACCOUNT: &str = "aws:RequestTag/kubernetes-service-account";
/// Lower case, as `actions` returns them.
const ASSUME_ROLE: &str = "sts:assumerole";
const TAG_SESSION: &str = "sts:tagsession";

/// One ServiceAccount of one cluster, trusted through EKS Pod Identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentitySubject {
    /// The cluster's account, which is the role's too.
    pub account: String,
    pub cluster_arn: String,
    pub namespace: String,
    pub service_account: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodIdentityTrust {
    /// A statement lets this subject in (perhaps with others:
    /// `pod_identity_trust_findings` tells).
    Trusted,
    /// Statement `index` is the recipe for this namespace, ServiceAccount and
    /// account on other clusters: ours can join its cluster ARN list.
    OtherCluster {
        index: usize,
    },
    Missing,
}

impl PodIdentitySubject {
    /// The statement the tool writes: exactly this association's session tags.
    pub fn statement(&self) -> Value {
        json!({
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_SERVICE},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {
                SOURCE_ACCOUNT: self.account,
                CLUSTER_ARN: self.cluster_arn,
                NAMESPACE: self.namespace,
                SERVICE_ACCOUNT: self.service_account,
            }}
        })
    }

    pub fn trust_policy(&self) -> Value {
        json!({"Version": VERSION, "Statement": [self.statement()]})
    }

    /// The last part of the cluster ARN (`…:cluster/<name>`), as EKS tags it.
    fn cluster_name(&self) -> Option<&str> {
        self.cluster_arn
            .rsplit_once(":cluster/")
            .map(|(_, name)| name)
            .filter(|name| !name.is_empty())
    }

    /// What EKS puts under `key` when it assumes the role for this subject,
    /// for the keys the tool reasons about (condition keys ignore case).
    fn request_value(&self, key: &str) -> Option<&str> {
        let is = |k: &str| key.eq_ignore_ascii_case(k);
        if is(SOURCE_ACCOUNT) {
            Some(&self.account)
        } else if is(CLUSTER_ARN) {
            Some(&self.cluster_arn)
        } else if is(CLUSTER_NAME) {
            self.cluster_name()
        } else if is(NAMESPACE) {
            Some(&self.namespace)
        } else if is(SERVICE_ACCOUNT) {
            Some(&self.service_account)
        } else {
            None
        }
    }

    /// Whether every condition of `st` surely lets this subject's request
    /// through. An operator the tool does not evaluate, or a key whose value
    /// it does not know, counts as shutting us out: `Trusted` must be safe to
    /// rely on, and at worst the tool adds a statement of its own.
    fn conditions_admit(&self, st: &Value) -> bool {
        let cond = match st.get("Condition") {
            None | Some(Value::Null) => return true,
            Some(Value::Object(c)) => c,
            Some(_) => return false,
        };
        cond.iter().all(|(operator, keys)| {
            keys.as_object().is_some_and(|keys| {
                keys.iter().all(
                    |(key, values)| match (self.request_value(key), scalars(values)) {
                        (Some(ours), Some(values)) => operator_admits(operator, &values, ours),
                        _ => false,
                    },
                )
            })
        })
    }

    /// How an existing trust document stands towards this subject.
    pub fn state(&self, doc: &Value) -> PodIdentityTrust {
        let mut other_cluster = None;
        for (i, st) in statements(doc).into_iter().enumerate() {
            if grants_pod_identity(st) && self.conditions_admit(st) {
                return PodIdentityTrust::Trusted;
            }
            if other_cluster.is_none() && self.reusable(st) {
                other_cluster = Some(i);
            }
        }
        match other_cluster {
            Some(index) => PodIdentityTrust::OtherCluster { index },
            None => PodIdentityTrust::Missing,
        }
    }

    /// The document with this subject trusted; everything else kept. Our
    /// cluster joins the list of a statement that is the recipe for other
    /// clusters (one role serving a ServiceAccount on many clusters is what
    /// Pod Identity is for, and a list entry is far shorter than a
    /// statement), or our statement is appended.
    pub fn add_to(&self, doc: &Value) -> Value {
        let mut sts: Vec<Value> = statements(doc).into_iter().cloned().collect();
        match self.state(doc) {
            PodIdentityTrust::Trusted => return doc.clone(),
            PodIdentityTrust::OtherCluster { index } => {
                let slot = sts
                    .get_mut(index)
                    .and_then(string_equals_mut)
                    .and_then(|eq| get_ci_mut(eq, CLUSTER_ARN));
                let ours = Value::String(self.cluster_arn.clone());
                match slot {
                    Some(Value::Array(items)) => items.push(ours),
                    Some(single) => *single = Value::Array(vec![single.take(), ours]),
                    // `reusable` vouched for the slot; should it be gone, a
                    // statement of our own still trusts exactly us.
                    None => sts.push(self.statement()),
                }
            }
            PodIdentityTrust::Missing => sts.push(self.statement()),
        }
        with_statements(doc, sts)
    }

    /// Exactly the recipe but for its cluster ARNs: Allow, the Pod Identity
    /// service alone, the two actions alone, and a StringEquals of just our
    /// account, namespace and ServiceAccount and a list of cluster ARNs
    /// (strings); nothing else but a Sid. Our cluster in its list then grants
    /// exactly what our own statement would, and nothing to anyone else.
    fn reusable(&self, st: &Value) -> bool {
        let Some(m) = st.as_object() else {
            return false;
        };
        let known = ["Sid", "Effect", "Principal", "Action", "Condition"];
        let principal_ok = m
            .get("Principal")
            .and_then(Value::as_object)
            .is_some_and(|p| p.len() == 1 && only(p.get("Service"), POD_IDENTITY_SERVICE));
        let actions_ok = match m.get("Action") {
            Some(Value::Array(items)) => {
                items.iter().all(Value::is_string)
                    && actions(st) == BTreeSet::from([ASSUME_ROLE.into(), TAG_SESSION.into()])
            }
            _ => false,
        };
        let condition_ok = m
            .get("Condition")
            .and_then(Value::as_object)
            .filter(|c| c.len() == 1)
            .and_then(|c| c.get("StringEquals"))
            .and_then(Value::as_object)
            .is_some_and(|eq| {
                let clusters_ok = match get_ci(eq, CLUSTER_ARN) {
                    Some(Value::String(_)) => true,
                    Some(Value::Array(items)) => {
                        !items.is_empty() && items.iter().all(Value::is_string)
                    }
                    _ => false,
                };
                // Four entries, the four keys found: nothing else in there.
                eq.len() == 4
                    && clusters_ok
                    && only(get_ci(eq, SOURCE_ACCOUNT), &self.account)
                    && only(get_ci(eq, NAMESPACE), &self.namespace)
                    && only(get_ci(eq, SERVICE_ACCOUNT), &self.service_account)
            });
        m.keys().all(|k| known.contains(&k.as_str()))
            && is_allow(st)
            && principal_ok
            && actions_ok
            && condition_ok
    }

    /// Allow, the Pod Identity service its only principal, and a StringEquals
    /// of exactly our namespace and ServiceAccount whose cluster ARNs hold
    /// ours: whatever else it says only narrows, so dropping our cluster
    /// takes trust from this subject alone.
    fn only_for_us(&self, st: &Value) -> bool {
        let principal_ok = st
            .get("Principal")
            .and_then(Value::as_object)
            .is_some_and(|p| p.len() == 1 && all_are(p.get("Service"), POD_IDENTITY_SERVICE));
        let conditions_ok = st
            .get("Condition")
            .and_then(|c| c.get("StringEquals"))
            .and_then(Value::as_object)
            .is_some_and(|eq| {
                let ours = self.cluster_arn.as_str();
                let has_cluster = match get_ci(eq, CLUSTER_ARN) {
                    Some(Value::String(s)) => s == ours,
                    Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(ours)),
                    _ => false,
                };
                has_cluster
                    && all_are(get_ci(eq, NAMESPACE), &self.namespace)
                    && all_are(get_ci(eq, SERVICE_ACCOUNT), &self.service_account)
            });
        is_allow(st) && st.get("NotPrincipal").is_none() && principal_ok && conditions_ok
    }

    /// The document without this subject: a statement for it alone goes, a
    /// cluster ARN list loses just our cluster (the rest in their order; one
    /// left becomes a plain string again). Everything else is kept.
    pub fn remove_from(&self, doc: &Value) -> Value {
        let mut out = Vec::new();
        for st in statements(doc) {
            if !self.only_for_us(st) {
                out.push(st.clone());
                continue;
            }
            let mut st = st.clone();
            let Some(slot) = string_equals_mut(&mut st).and_then(|eq| get_ci_mut(eq, CLUSTER_ARN))
            else {
                out.push(st);
                continue;
            };
            let mut rest: Vec<Value> = match slot.take() {
                Value::Array(items) => items
                    .into_iter()
                    .filter(|i| i.as_str() != Some(self.cluster_arn.as_str()))
                    .collect(),
                _ => Vec::new(),
            };
            match rest.len() {
                0 => continue,
                1 => *slot = rest.remove(0),
                _ => *slot = Value::Array(rest),
            }
            out.push(st);
        }
        with_statements(doc, out)
    }

    /// The IRSA subject of our namespace and ServiceAccount through
    /// `provider`, when that is an EKS cluster's OIDC provider in our account:
    /// a role migrating between IRSA and Pod Identity trusts both. Other
    /// issuers (CI systems, say) stay "another identity provider".
    fn irsa_peer(&self, provider: &str) -> Option<IrsaSubject> {
        let rest = provider.strip_prefix("arn:")?;
        let (_partition, rest) = rest.split_once(':')?;
        let (account, host_path) = rest.strip_prefix("iam::")?.split_once(":oidc-provider/")?;
        (account == self.account && host_path.starts_with("oidc.eks.")).then(|| IrsaSubject {
            provider_arn: provider.to_string(),
            host_path: host_path.to_string(),
            namespace: self.namespace.clone(),
            service_account: self.service_account.clone(),
        })
    }

    /// The findings for one Allow statement in Pod Identity mode.
    fn statement_risks(&self, st: &Value) -> Vec<String> {
        let skip = |kind: &str, value: &str| {
            (kind == "Service" && value == POD_IDENTITY_SERVICE)
                || (kind == "Federated" && self.irsa_peer(value).is_some())
        };
        let mut risks = principal_risks(st, skip);
        risks.extend(self.pod_identity_risks(st));
        let federated = st.get("Principal").and_then(|p| p.get("Federated"));
        for provider in string_set(federated) {
            if let Some(peer) = self.irsa_peer(&provider) {
                // Nobody adds aud to an IRSA statement in Pod Identity mode.
                risks.extend(peer.web_identity_risks(st, false));
            }
        }
        risks
    }

    /// What a statement lets the Pod Identity service do beyond "exactly this
    /// subject"; nothing when the service is not among its principals.
    pub(super) fn pod_identity_risks(&self, st: &Value) -> Vec<String> {
        let mut risks = Vec::new();
        if !names_pod_identity(st) {
            return risks;
        }
        let assumes = action_reach(
            st,
            ASSUME_ROLE,
            &[ASSUME_ROLE, TAG_SESSION],
            "sts:AssumeRole and sts:TagSession",
            "Pod Identity associations",
            &mut risks,
        );
        // Without AssumeRole the service gets no credentials from it; a
        // statement ruling our account out applies to no association that
        // can name the role.
        if !assumes
            || constraints(st, SOURCE_ACCOUNT)
                .iter()
                .any(|c| !c.admits(&self.account))
        {
            return risks;
        }
        let account = &self.account;
        let mut cluster = Dimension {
            label: "cluster ARN",
            others: "of other clusters",
            any: format!("of any cluster of account {account}"),
            scope: sub_scope(&constraints(st, CLUSTER_ARN), &self.cluster_arn),
            ours: &self.cluster_arn,
        };
        // The name only where the ARN is not pinned: the ARN says more.
        let by_name = constraints(st, CLUSTER_NAME);
        let name = self.cluster_name().unwrap_or_default();
        let by_name_only = matches!(cluster.scope, SubScope::Unrestricted) && !by_name.is_empty();
        if by_name_only {
            cluster.label = "cluster name";
            cluster.scope = sub_scope(&by_name, name);
            cluster.ours = name;
        }
        let namespace = Dimension {
            label: "namespace",
            others: "in other namespaces",
            any: "in any namespace".into(),
            scope: sub_scope(&constraints(st, NAMESPACE), &self.namespace),
            ours: &self.namespace,
        };
        let service_account = Dimension {
            label: "ServiceAccount",
            others: "of other ServiceAccounts",
            any: "of any ServiceAccount".into(),
            scope: sub_scope(&constraints(st, SERVICE_ACCOUNT), &self.service_account),
            ours: &self.service_account,
        };
        let dimensions = [cluster, namespace, service_account];
        if dimensions
            .iter()
            .all(|d| matches!(d.scope, SubScope::Unrestricted))
        {
            risks.push(format!(
                "lets any Pod Identity association of account {account} assume it"
            ));
            return risks;
        }
        if by_name_only && matches!(dimensions[0].scope, SubScope::OnlyUs) {
            // Names are unique per region only.
            risks.push(format!(
                "names the cluster only by eks-cluster-name: Pod Identity associations of clusters named {name} in other regions of account {account} can assume it"
            ));
        }
        risks.extend(dimensions.iter().filter_map(Dimension::risk));
        // With session tags disabled on an association, EKS sends no tags,
        // and an IfExists (or negated) condition lets the request through.
        let tag_constraints: Vec<_> = [CLUSTER_ARN, CLUSTER_NAME, NAMESPACE, SERVICE_ACCOUNT]
            .iter()
            .flat_map(|key| constraints(st, key))
            .collect();
        let demands_tags = tag_constraints.iter().any(|c| {
            !c.operator.ends_with("IfExists")
                && matches!(
                    c.kind,
                    Match::Equals | Match::EqualsIgnoreCase | Match::Like
                )
        });
        if !tag_constraints.is_empty() && !demands_tags {
            let operators: BTreeSet<&str> = tag_constraints
                .iter()
                .map(|c| c.operator.as_str())
                .collect();
            risks.push(format!(
                "conditions the session tags only with {}: a Pod Identity association with session tags disabled passes unchecked",
                operators.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        risks
    }
}

/// One of the things a Pod Identity request names (cluster, namespace,
/// ServiceAccount), and whom a statement lets through by it.
struct Dimension<'a> {
    label: &'static str,
    others: &'static str,
    any: String,
    scope: SubScope,
    ours: &'a str,
}

impl Dimension<'_> {
    fn risk(&self) -> Option<String> {
        let Dimension {
            label, others, any, ..
        } = self;
        Some(match &self.scope {
            SubScope::OnlyUs => return None,
            SubScope::Listed(values) => {
                let named: Vec<&str> = values
                    .iter()
                    .map(String::as_str)
                    .filter(|v| *v != self.ours)
                    .collect();
                format!(
                    "lets Pod Identity associations {others} assume it ({})",
                    named.join(", ")
                )
            }
            SubScope::Patterns(patterns) => {
                let everyone = patterns.iter().any(|p| pattern_covers(p, "*"));
                let who = if everyone { any.as_str() } else { others };
                format!(
                    "lets Pod Identity associations {who} assume it (StringLike {label} {})",
                    patterns.join(", ")
                )
            }
            SubScope::Unreadable(operators) => format!(
                "limits the {label} only with {}, which the tool does not read: Pod Identity associations {others} may assume it",
                operators.join(", ")
            ),
            SubScope::Unrestricted => {
                format!("has no {label} condition: Pod Identity associations {any} can assume it")
            }
        })
    }
}

/// Every Allow statement of a Pod Identity trust that lets in more than
/// "exactly this subject through pods.eks.amazonaws.com". IRSA trust for
/// exactly this namespace and ServiceAccount (with aud) through an OIDC
/// provider of this account is no finding: a migrating role trusts both.
pub fn pod_identity_trust_findings(doc: &Value, subject: &PodIdentitySubject) -> Vec<TrustFinding> {
    statements(doc)
        .into_iter()
        .enumerate()
        .filter(|(_, st)| is_allow(st))
        .flat_map(|(i, st)| named(st, i, subject.statement_risks(st)))
        .collect()
}

/// Allow, the Pod Identity service among its principals, and both actions
/// EKS needs (it tags every session it opens).
fn grants_pod_identity(st: &Value) -> bool {
    let acts = actions(st);
    is_allow(st)
        && names_pod_identity(st)
        && [ASSUME_ROLE, TAG_SESSION]
            .iter()
            .all(|want| acts.iter().any(|a| pattern_covers(a, want)))
}

fn names_pod_identity(st: &Value) -> bool {
    st.get("Principal")
        .is_some_and(|p| string_set(p.get("Service")).contains(POD_IDENTITY_SERVICE))
}

/// Whether `operator` with these values lets `ours` through (`IfExists`
/// changes nothing: EKS sends the key).
fn operator_admits(operator: &str, values: &[String], ours: &str) -> bool {
    let equal = || values.iter().any(|v| v == ours);
    let folded = || values.iter().any(|v| v.eq_ignore_ascii_case(ours));
    let like = || values.iter().any(|v| glob_match(v, ours));
    match operator.strip_suffix("IfExists").unwrap_or(operator) {
        "StringEquals" => equal(),
        "StringNotEquals" => !equal(),
        "StringEqualsIgnoreCase" => folded(),
        "StringNotEqualsIgnoreCase" => !folded(),
        "StringLike" | "ArnEquals" | "ArnLike" => like(),
        "StringNotLike" | "ArnNotEquals" | "ArnNotLike" => !like(),
        // "false": the key must be there, and it is.
        "Null" => values.iter().all(|v| v == "false"),
        _ => false,
    }
}

/// A condition value as strings (IAM compares numbers and booleans as text);
/// None for anything else.
fn scalars(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

/// `want` alone: the string, or a list of just it.
fn only(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::String(s)) => s == want,
        Some(Value::Array(items)) => matches!(items.as_slice(), [Value::String(s)] if s == want),
        _ => false,
    }
}

/// `want` and nothing else, however often listed.
fn all_are(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::String(s)) => s == want,
        Some(Value::Array(items)) => {
            !items.is_empty() && items.iter().all(|i| i.as_str() == Some(want))
        }
        _ => false,
    }
}

/// The value of a condition key, its name in any case (IAM ignores case).
fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn get_ci_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    m.iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn string_equals_mut(st: &mut Value) -> Option<&mut Map<String, Value>> {
    st.get_mut("Condition")?
        .get_mut("StringEquals")?
        .as_object_mut()
}
