//! Validation of names, tags and ARNs against Kubernetes, IAM, EKS and AMP rules.
//!
//! Every validator is pure and total: any `&str` (empty, huge, unicode,
//! control characters) gives `Ok` or an error ([`Error::InvalidName`], or
//! [`Error::Usage`] for too many tags), never a panic. The error's `why`
//! states what is allowed, then what was wrong.

use std::collections::BTreeMap;

use crate::aws::Tags;
use crate::error::Error;

const NAMESPACE_RULE: &str = "a namespace is a DNS-1123 label: at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit";
const SERVICE_ACCOUNT_RULE: &str = "a ServiceAccount name is a DNS-1123 subdomain: at most 253 characters, dot-separated parts of lowercase letters, digits or '-', each starting and ending with a letter or digit";
const ROLE_RULE: &str =
    "an IAM role name is 1 to 64 characters, each a letter, a digit or one of + = , . @ _ -";
const POLICY_RULE: &str =
    "an IAM policy name is 1 to 128 characters, each a letter, a digit or one of + = , . @ _ -";
const PATH_RULE: &str = "an IAM path is \"/\" or starts and ends with \"/\", at most 512 printable ASCII characters without spaces or '*'";
const WORKSPACE_RULE: &str = "an AMP workspace id is at most 64 characters: \"ws-\" followed by letters, digits, '-', '.' or '_' (e.g. ws-12345678-abcd-1234-abcd-123456789012)";

/// Longest value quoted back in an error, in characters.
const MAX_QUOTED: usize = 300;

fn invalid(what: &'static str, value: &str, rule: &str, problem: impl AsRef<str>) -> Error {
    let value = if value.chars().count() > MAX_QUOTED {
        let mut v: String = value.chars().take(MAX_QUOTED).collect();
        v.push('…');
        v
    } else {
        value.to_owned()
    };
    Error::InvalidName {
        what,
        value,
        why: format!("{rule} ({})", problem.as_ref()),
    }
}

fn first_bad(s: &str, ok: impl Fn(char) -> bool) -> Option<char> {
    s.chars().find(|&c| !ok(c))
}

fn describe_char(c: char) -> String {
    format!("{c:?} is not allowed")
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Checks one DNS-1123 label without a length limit; returns the problem.
fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("it has an empty part".into());
    }
    if let Some(c) = first_bad(label, is_label_char) {
        return Some(describe_char(c));
    }
    // Only ASCII from here on, so byte indexing is safe.
    let bytes = label.as_bytes();
    if !is_alnum_lower(bytes[0] as char) {
        return Some(format!("{label:?} starts with {:?}", bytes[0] as char));
    }
    if !is_alnum_lower(bytes[bytes.len() - 1] as char) {
        return Some(format!(
            "{label:?} ends with {:?}",
            bytes[bytes.len() - 1] as char
        ));
    }
    None
}

/// A Kubernetes namespace: a DNS-1123 label (1–63 chars of `[a-z0-9-]`,
/// starting and ending with a letter or digit).
pub fn namespace(s: &str) -> Result<(), Error> {
    const WHAT: &str = "namespace";
    if s.is_empty() {
        return Err(invalid(WHAT, s, NAMESPACE_RULE, "it is empty"));
    }
    if let Some(c) = first_bad(s, is_label_char) {
        return Err(invalid(WHAT, s, NAMESPACE_RULE, describe_char(c)));
    }
    if s.len() > 63 {
        return Err(invalid(
            WHAT,
            s,
            NAMESPACE_RULE,
            format!("it has {} characters", s.len()),
        ));
    }
    if let Some(p) = label_problem(s) {
        return Err(invalid(WHAT, s, NAMESPACE_RULE, p));
    }
    Ok(())
}

/// A ServiceAccount name: a DNS-1123 subdomain (1–253 chars; dot-separated
/// labels of `[a-z0-9-]`, each starting and ending with a letter or digit).
/// Like Kubernetes, the parts themselves have no 63-character limit.
pub fn service_account(s: &str) -> Result<(), Error> {
    const WHAT: &str = "ServiceAccount name";
    if s.is_empty() {
        return Err(invalid(WHAT, s, SERVICE_ACCOUNT_RULE, "it is empty"));
    }
    if let Some(c) = first_bad(s, |c| is_label_char(c) || c == '.') {
        return Err(invalid(WHAT, s, SERVICE_ACCOUNT_RULE, describe_char(c)));
    }
    if s.len() > 253 {
        return Err(invalid(
            WHAT,
            s,
            SERVICE_ACCOUNT_RULE,
            format!("it has {} characters", s.len()),
        ));
    }
    for label in s.split('.') {
        if let Some(p) = label_problem(label) {
            return Err(invalid(WHAT, s, SERVICE_ACCOUNT_RULE, p));
        }
    }
    Ok(())
}

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

fn iam_name(what: &'static str, rule: &str, max: usize, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(invalid(what, s, rule, "it is empty"));
    }
    if let Some(c) = first_bad(s, is_iam_name_char) {
        return Err(invalid(what, s, rule, describe_char(c)));
    }
    if s.len() > max {
        return Err(invalid(
            what,
            s,
            rule,
            format!("it has {} characters", s.len()),
        ));
    }
    Ok(())
}

/// An IAM role name: 1–64 chars of `[A-Za-z0-9+=,.@_-]`.
pub fn role_name(s: &str) -> Result<(), Error> {
    iam_name("IAM role name", ROLE_RULE, 64, s)
}

/// An IAM (customer managed or inline) policy name: 1–128 chars of `[A-Za-z0-9+=,.@_-]`.
pub fn policy_name(s: &str) -> Result<(), Error> {
    iam_name("IAM policy name", POLICY_RULE, 128, s)
}

/// An IAM path: `/`, or 1–512 chars of `\u{21}`–`\u{7E}` starting and ending
/// with `/` (IAM's pattern `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`, so `//`
/// is not a path but `///` is), without `*`: the path is also that of the
/// policies created, and CreatePolicy refuses an asterisk in a path.
pub fn iam_path(s: &str) -> Result<(), Error> {
    const WHAT: &str = "IAM path";
    if s.is_empty() {
        return Err(invalid(WHAT, s, PATH_RULE, "it is empty"));
    }
    if let Some(c) = first_bad(s, |c| ('\u{21}'..='\u{7E}').contains(&c) && c != '*') {
        return Err(invalid(WHAT, s, PATH_RULE, describe_char(c)));
    }
    if s.len() > 512 {
        return Err(invalid(
            WHAT,
            s,
            PATH_RULE,
            format!("it has {} characters", s.len()),
        ));
    }
    if s == "/" {
        return Ok(());
    }
    if !s.starts_with('/') {
        return Err(invalid(WHAT, s, PATH_RULE, "it does not start with \"/\""));
    }
    if !s.ends_with('/') {
        return Err(invalid(WHAT, s, PATH_RULE, "it does not end with \"/\""));
    }
    if s.len() < 3 {
        return Err(invalid(
            WHAT,
            s,
            PATH_RULE,
            "it has nothing between the slashes",
        ));
    }
    Ok(())
}

/// An AMP workspace alias: 1 to 100 characters, no control characters
/// (AMP allows any other text; aliases need not be unique).
pub fn workspace_alias(s: &str) -> Result<(), Error> {
    const RULE: &str = "an AMP workspace alias is 1 to 100 characters without control characters";
    let n = s.chars().count();
    if n == 0 {
        return Err(invalid("workspace alias", s, RULE, "it is empty"));
    }
    if n > 100 {
        return Err(invalid(
            "workspace alias",
            s,
            RULE,
            format!("it has {n} characters"),
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(invalid("workspace alias", s, RULE, describe_char(c)));
    }
    Ok(())
}

/// An Amazon Managed Service for Prometheus workspace id: AMP's
/// `[0-9A-Za-z][-.0-9A-Z_a-z]*` of 1–64 characters, and (as every id AMP
/// generates does, and no alias or ARN does) starting with `ws-`.
pub fn workspace_id(s: &str) -> Result<(), Error> {
    const WHAT: &str = "AMP workspace id";
    let Some(rest) = s.strip_prefix("ws-") else {
        return Err(invalid(
            WHAT,
            s,
            WORKSPACE_RULE,
            "it does not start with \"ws-\"",
        ));
    };
    if rest.is_empty() {
        return Err(invalid(WHAT, s, WORKSPACE_RULE, "nothing follows \"ws-\""));
    }
    if let Some(c) = first_bad(rest, |c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        return Err(invalid(WHAT, s, WORKSPACE_RULE, describe_char(c)));
    }
    if s.len() > 64 {
        return Err(invalid(
            WHAT,
            s,
            WORKSPACE_RULE,
            format!("it has {} characters", s.len()),
        ));
    }
    Ok(())
}

const ACCOUNT_RULE: &str = "an AWS account id is 12 digits";
const PARTITION_RULE: &str = "an AWS partition is \"aws\" or \"aws-\" followed by lowercase words joined by '-' (aws-cn, aws-us-gov, ...)";

/// An AWS account id: exactly 12 digits.
pub fn account_id(s: &str) -> Result<(), Error> {
    const WHAT: &str = "AWS account id";
    if let Some(c) = first_bad(s, |c| c.is_ascii_digit()) {
        return Err(invalid(WHAT, s, ACCOUNT_RULE, describe_char(c)));
    }
    if s.len() != 12 {
        return Err(invalid(
            WHAT,
            s,
            ACCOUNT_RULE,
            format!("it has {} digits", s.len()),
        ));
    }
    Ok(())
}

/// An AWS partition: `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
pub fn partition(s: &str) -> Result<(), Error> {
    let mut parts = s.split('-');
    let ok = parts.next() == Some("aws")
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && s.len() <= 32;
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "AWS partition",
            s,
            PARTITION_RULE,
            "it does not look like one",
        ))
    }
}

/// What [`region`] accepts, for error messages.
pub const REGION_RULE: &str =
    "an AWS region looks like us-east-1, eu-central-2, cn-north-1 or us-gov-west-1";

/// Whether `s` looks like an AWS region code: lowercase letter groups joined
/// by '-' and ending in a number, e.g. `us-east-1`, `cn-north-1`,
/// `us-gov-west-1`, `ap-southeast-4`, `us-isob-east-1`, `eusc-de-east-1`.
/// A heuristic to reject garbage (`local`, `us-east1`, `US-EAST-1`, `aws-global`),
/// not a list of regions.
pub fn region(s: &str) -> bool {
    if s.len() > 32 {
        return false;
    }
    let parts: Vec<&str> = s.split('-').collect();
    let (Some((last, rest)), true) = (parts.split_last(), (3..=5).contains(&parts.len())) else {
        return false;
    };
    let Some((first, middle)) = rest.split_first() else {
        return false;
    };
    let letters = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase())
    };
    letters(first, 2, 4)
        && middle.iter().all(|p| letters(p, 2, 10))
        && (1..=2).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_digit())
}

const CLUSTER_RULE: &str = "an EKS cluster name is 1 to 100 characters, each a letter, a digit, '-' or '_', starting with a letter or digit";

/// An EKS cluster name: 1–100 chars of `[A-Za-z0-9_-]`, starting with a
/// letter or digit (EKS's `^[0-9A-Za-z][A-Za-z0-9\-_]*$`). Such a name is
/// also a valid IAM tag value and fits in a role description.
pub fn cluster_name(s: &str) -> Result<(), Error> {
    const WHAT: &str = "EKS cluster name";
    if s.is_empty() {
        return Err(invalid(WHAT, s, CLUSTER_RULE, "it is empty"));
    }
    if let Some(c) = first_bad(s, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid(WHAT, s, CLUSTER_RULE, describe_char(c)));
    }
    if s.len() > 100 {
        return Err(invalid(
            WHAT,
            s,
            CLUSTER_RULE,
            format!("it has {} characters", s.len()),
        ));
    }
    // ASCII from here on.
    if let Some(first) = s.chars().next().filter(|c| !c.is_ascii_alphanumeric()) {
        return Err(invalid(
            WHAT,
            s,
            CLUSTER_RULE,
            format!("it starts with {first:?}"),
        ));
    }
    Ok(())
}

const DESCRIPTION_RULE: &str = "an IAM role description is at most 1000 characters, each printable ASCII, a tab, a line break or a Latin-1 character from U+00A1 to U+00FF";

/// An IAM role description: at most 1000 chars of IAM's
/// `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`.
pub fn role_description(s: &str) -> Result<(), Error> {
    const WHAT: &str = "IAM role description";
    let ok = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{A1}'..='\u{FF}');
    if let Some(c) = first_bad(s, ok) {
        return Err(invalid(WHAT, s, DESCRIPTION_RULE, describe_char(c)));
    }
    let n = s.chars().count();
    if n > 1000 {
        return Err(invalid(
            WHAT,
            s,
            DESCRIPTION_RULE,
            format!("it has {n} characters"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Permissions boundary
// ---------------------------------------------------------------------------

const BOUNDARY_RULE: &str = "a permissions boundary is the ARN of a managed policy, arn:<partition>:iam::<12-digit account id, or aws>:policy/<path><name>, e.g. arn:aws:iam::111122223333:policy/boundary or the AWS managed arn:aws:iam::aws:policy/PowerUserAccess";

/// The `why` of an [`Error::InvalidName`] (the rule and the problem).
fn why_of(e: Error) -> String {
    match e {
        Error::InvalidName { why, .. } => why,
        other => other.to_string(),
    }
}

/// A permissions boundary: the ARN of a managed policy,
/// `arn:<partition>:iam::<account>:policy<path><name>`, where the account is
/// 12 digits or `aws` (AWS managed policies), the path follows [`iam_path`]
/// and the name [`policy_name`]. Whether the partition is the caller's and the
/// policy exists is for AWS to say (see [`crate::arn::partition_of`]).
pub fn permissions_boundary(arn: &str) -> Result<(), Error> {
    const WHAT: &str = "permissions boundary";
    let bad = |problem: String| Err(invalid(WHAT, arn, BOUNDARY_RULE, problem));
    // A policy path may itself contain ':', so the resource is the rest.
    let mut parts = arn.splitn(6, ':');
    let fields = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    );
    let (
        Some(prefix),
        Some(partition_),
        Some(service),
        Some(region),
        Some(account),
        Some(resource),
    ) = fields
    else {
        return bad("it does not have the six ':'-separated parts of an ARN".into());
    };
    if prefix != "arn" {
        return bad("it does not start with \"arn:\"".into());
    }
    if partition(partition_).is_err() {
        return bad(format!(
            "its partition {partition_:?} is not an AWS partition (aws, aws-cn, aws-us-gov, ...)"
        ));
    }
    if service != "iam" {
        return bad(format!("it is an ARN of service {service:?}, not of IAM"));
    }
    if !region.is_empty() {
        return bad(format!(
            "IAM ARNs have no region, but this one has {region:?}"
        ));
    }
    if account != "aws" && account_id(account).is_err() {
        return bad(format!(
            "its account {account:?} is neither 12 digits nor \"aws\""
        ));
    }
    let Some(path_and_name) = resource
        .strip_prefix("policy")
        .filter(|r| r.starts_with('/'))
    else {
        return bad(match resource.split('/').next().unwrap_or(resource) {
            "" => "it names no resource after the account".into(),
            "policy" => format!("its resource {resource:?} is not policy/<path><name>"),
            kind => format!("it is the ARN of a {kind:?}, not of a managed policy"),
        });
    };
    // '/' is one byte, so both sides of it are char boundaries.
    let cut = path_and_name.rfind('/').map_or(0, |i| i + 1);
    let (path, name) = path_and_name.split_at(cut);
    if let Err(e) = iam_path(path) {
        return bad(format!("its path {path:?} is invalid: {}", why_of(e)));
    }
    if let Err(e) = policy_name(name) {
        return bad(format!(
            "its policy name {name:?} is invalid: {}",
            why_of(e)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------

/// The most tags IAM allows on one role, customer managed policy or OIDC
/// provider, the tool's own included.
pub const MAX_TAGS: usize = 50;
const TAG_KEY_MAX: usize = 128;
const TAG_VALUE_MAX: usize = 256;
const TAG_RULE: &str = "an IAM tag key is 1 to 128 characters and its value 0 to 256, each a Unicode letter, digit or space, or one of _ . : / = + - @";

/// IAM's `\p{Z}`: the Unicode space separators (Zs) and the line (Zl) and
/// paragraph (Zp) separators. Tabs and newlines are not among them.
fn is_space_separator(c: char) -> bool {
    let zs = [
        '\u{20}', '\u{A0}', '\u{1680}', '\u{202F}', '\u{205F}', '\u{3000}',
    ];
    zs.contains(&c) || ('\u{2000}'..='\u{200A}').contains(&c) || c == '\u{2028}' || c == '\u{2029}'
}

/// IAM's `[\p{L}\p{Z}\p{N}_.:/=+\-@]`. `is_numeric` is exactly `\p{N}`;
/// `is_alphabetic` is `\p{L}` plus `\p{Nl}` (allowed anyway) and the
/// combining vowel signs and circled letters of Unicode's Other_Alphabetic
/// (e.g. Devanagari U+093F), which IAM refuses: std has no general-category
/// test, and those are left for IAM to refuse.
fn is_tag_char(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric() || is_space_separator(c) || "_.:/=+-@".contains(c)
}

/// What is wrong with one tag's characters or lengths, if anything.
fn tag_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() {
        return Some("the key is empty".into());
    }
    if let Some(c) = first_bad(key, is_tag_char) {
        return Some(format!("{c:?} is not allowed in the key"));
    }
    let n = key.chars().count();
    if n > TAG_KEY_MAX {
        return Some(format!("the key has {n} characters"));
    }
    if let Some(c) = first_bad(value, is_tag_char) {
        return Some(format!("{c:?} is not allowed in the value"));
    }
    let n = value.chars().count();
    if n > TAG_VALUE_MAX {
        return Some(format!("the value has {n} characters"));
    }
    None
}

/// The user's `--tag`s, checked against IAM's rules for tags on roles,
/// policies and OIDC providers, as the tags to add to the tool's own
/// (`reserved`, the keys the tool sets itself).
///
/// - keys 1–128 and values 0–256 characters (not bytes) of Unicode letters,
///   digits, space separators and `_ . : / = + - @`;
/// - no key starting with `aws:` in any case (IAM reserves it);
/// - no key that is one of `reserved`, in any case: IAM compares role tag
///   keys ignoring case, so `Kubectl-Amp-Iam/Cluster` would replace the tool's;
/// - each key once: the same `key=value` twice counts once; the same key with
///   another value, or spelt in another case, is an error (IAM: "Duplicate
///   tag keys found");
/// - at most [`MAX_TAGS`] with the `reserved.len()` the tool adds
///   ([`Error::Usage`]).
///
/// Each other error is an [`Error::InvalidName`] naming the tag as given.
pub fn tags(user: &[(String, String)], reserved: &[&str]) -> Result<Tags, Error> {
    const WHAT: &str = "tag";
    let mut out = Tags::new();
    // Lowercased key -> the first (key, value) given with it.
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (key, value) in user {
        let tag = format!("{key}={value}");
        if let Some(p) = tag_problem(key, value) {
            return Err(invalid(WHAT, &tag, TAG_RULE, p));
        }
        if let Some(prefix) = key.get(..4).filter(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(invalid(
                WHAT,
                &tag,
                "IAM reserves tag keys that start with aws:, in any case, for AWS's own tags",
                format!("the key starts with {prefix:?}; choose another key"),
            ));
        }
        let folded = key.to_lowercase();
        if let Some(own) = reserved.iter().find(|r| r.to_lowercase() == folded) {
            let rule = format!(
                "kubectl-amp-iam sets the tags {} itself: they mark what it made and for which cluster, which status and teardown rely on, so --tag cannot set them",
                reserved.join(", ")
            );
            let problem = if key == own {
                format!("the key is {own}; choose another key")
            } else {
                format!(
                    "the key is {own} to IAM, which compares role tag keys ignoring case; choose another key"
                )
            };
            return Err(invalid(WHAT, &tag, &rule, problem));
        }
        match seen.get(&folded) {
            Some(&(k, v)) if k == key && v == value => {}
            Some(&(k, v)) if k == key => {
                return Err(invalid(
                    WHAT,
                    &tag,
                    "each tag key has one value",
                    format!("{key} is also given as {k}={v}; give it once"),
                ));
            }
            Some(&(k, v)) => {
                return Err(invalid(
                    WHAT,
                    &tag,
                    "each tag key has one value, and IAM compares role tag keys ignoring case",
                    format!("{key} is the same key as {k} in {k}={v}; give it once, spelt one way"),
                ));
            }
            None => {
                seen.insert(folded, (key, value));
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let (given, own) = (out.len(), reserved.len());
    let total = given.saturating_add(own);
    if total > MAX_TAGS {
        return Err(Error::Usage(format!(
            "too many tags: {given} + {own} = {total} > {MAX_TAGS}: IAM allows {MAX_TAGS} tags on a role, policy or OIDC provider, and kubectl-amp-iam adds its own {own} ({}) to the {given} given with --tag. Give at most {} different --tag keys",
            reserved.join(", "),
            MAX_TAGS.saturating_sub(own)
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(account_id("111122223333").is_ok());
        assert!(why(account_id("11112222333")).contains("11 digits"));
        assert!(why(account_id("1111-2222-3333")).contains("'-' is not allowed"));
        assert!(account_id("").is_err());
        assert!(account_id("*").is_err());
    }

    #[test]
    fn partitions_start_with_aws() {
        for p in ["aws", "aws-cn", "aws-us-gov", "aws-iso-b", "aws-eusc"] {
            assert!(partition(p).is_ok(), "{p}");
        }
        for p in ["", "AWS", "aws-", "azure", "aws--cn", "aws-cn1", "arn:aws"] {
            assert!(partition(p).is_err(), "{p}");
        }
    }

    fn why(r: Result<(), Error>) -> String {
        match r {
            Err(Error::InvalidName { why, .. }) => why,
            other => panic!("expected InvalidName, got {other:?}"),
        }
    }

    // --- namespace ---

    #[test]
    fn namespace_accepts_dns1123_labels() {
        for ok in [
            "default",
            "a",
            "0",
            "kube-system",
            "amp-1",
            "a1-b2",
            &"a".repeat(63),
        ] {
            assert!(namespace(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn namespace_length_boundary_is_63() {
        assert!(namespace(&"n".repeat(63)).is_ok());
        let w = why(namespace(&"n".repeat(64)));
        assert!(w.contains("64 characters"), "{w}");
    }

    #[test]
    fn namespace_rejects_bad_labels() {
        for bad in [
            "", "Default", "-a", "a-", "a.b", "a_b", "a b", " a", "a\n", "ns/x", "é", "名前",
            "a\u{0}",
        ] {
            assert!(namespace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespace_error_explains_the_rule_and_names_the_value() {
        let err = namespace("Prod").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("invalid namespace \"Prod\""), "{msg}");
        assert!(msg.contains("DNS-1123 label"), "{msg}");
        assert!(msg.contains("'P' is not allowed"), "{msg}");
        assert_eq!(err.exit_code(), crate::error::exit::USAGE);
    }

    #[test]
    fn namespace_error_reports_bad_start_and_end() {
        assert!(why(namespace("-ab")).contains("starts with '-'"));
        assert!(why(namespace("ab-")).contains("ends with '-'"));
    }

    #[test]
    fn huge_value_is_truncated_in_the_error() {
        let Err(Error::InvalidName { value, .. }) = namespace(&"x".repeat(10_000)) else {
            panic!("expected InvalidName");
        };
        assert_eq!(value.chars().count(), MAX_QUOTED + 1);
        assert!(value.ends_with('…'));
    }

    // --- service_account ---

    #[test]
    fn service_account_accepts_dns1123_subdomains() {
        for ok in [
            "amp-iamproxy-ingest-service-account",
            "a",
            "a.b",
            "prometheus.server-1",
            "1.2.3",
        ] {
            assert!(service_account(ok).is_ok(), "{ok:?}");
        }
        // Kubernetes applies no 63-character limit to the parts of a subdomain.
        assert!(service_account(&"a".repeat(100)).is_ok());
    }

    #[test]
    fn service_account_length_boundary_is_253() {
        let ok = format!("{}.{}", "a".repeat(126), "b".repeat(126));
        assert_eq!(ok.len(), 253);
        assert!(service_account(&ok).is_ok());
        let long = format!("{ok}c");
        assert!(why(service_account(&long)).contains("254 characters"));
    }

    #[test]
    fn service_account_rejects_bad_subdomains() {
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a.-b",
            "a-.b",
            "A",
            "a_b",
            "a b",
            "ü",
            "sa\u{202e}",
        ] {
            assert!(service_account(bad).is_err(), "{bad:?}");
        }
        assert!(why(service_account("a..b")).contains("empty part"));
    }

    // --- role_name / policy_name ---

    #[test]
    fn role_name_accepts_iam_names() {
        for ok in ["amp-ingest", "A", "Role_1+=,.@-", &"r".repeat(64)] {
            assert!(role_name(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn role_name_length_boundary_is_64() {
        assert!(role_name(&"r".repeat(64)).is_ok());
        let w = why(role_name(&"r".repeat(65)));
        assert!(w.contains("65 characters") && w.contains("1 to 64"), "{w}");
    }

    #[test]
    fn role_name_rejects_other_characters() {
        for bad in ["", "a b", "a/b", "a:b", "a*", "rôle", "🦀", "a\t"] {
            assert!(role_name(bad).is_err(), "{bad:?}");
        }
        assert!(why(role_name("a/b")).contains("'/' is not allowed"));
    }

    #[test]
    fn policy_name_length_boundary_is_128() {
        assert!(policy_name(&"p".repeat(128)).is_ok());
        let w = why(policy_name(&"p".repeat(129)));
        assert!(
            w.contains("129 characters") && w.contains("1 to 128"),
            "{w}"
        );
    }

    #[test]
    fn policy_name_accepts_iam_names_and_rejects_others() {
        assert!(policy_name("AMPIngest.Policy@v1").is_ok());
        for bad in ["", "a b", "a/b", "política"] {
            assert!(policy_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unicode_length_is_not_mistaken_for_a_length_problem() {
        // 40 two-byte characters: the complaint is the character, not the length.
        let w = why(role_name(&"é".repeat(40)));
        assert!(w.contains("'é' is not allowed"), "{w}");
    }

    // --- iam_path ---

    #[test]
    fn iam_path_accepts_slash_and_slash_delimited_paths() {
        for ok in ["/", "/amp/", "/a/b/c/", "/x!~/", "///"] {
            assert!(iam_path(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn iam_path_length_boundary_is_512() {
        let ok = format!("/{}/", "p".repeat(510));
        assert_eq!(ok.len(), 512);
        assert!(iam_path(&ok).is_ok());
        let long = format!("/{}/", "p".repeat(511));
        assert!(why(iam_path(&long)).contains("513 characters"));
    }

    #[test]
    fn iam_path_rejects_bad_paths() {
        for bad in [
            "",
            "amp",
            "/amp",
            "amp/",
            "//",
            "/a b/",
            "/é/",
            "/a\u{7f}/",
            "/\t/",
            "/*/",
            "/a*b/",
        ] {
            assert!(iam_path(bad).is_err(), "{bad:?}");
        }
        assert!(why(iam_path("/team*/")).contains("'*' is not allowed"));
        assert!(why(iam_path("/amp")).contains("does not end"));
        assert!(why(iam_path("amp/")).contains("does not start"));
    }

    // --- workspace_id ---

    #[test]
    fn workspace_id_accepts_amp_ids() {
        for ok in [
            "ws-12345678-abcd-1234-abcd-123456789012",
            "ws-a",
            "ws-ABC-def",
            "ws-a.b_c",
            &format!("ws-{}", "a".repeat(61)),
        ] {
            assert!(workspace_id(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn workspace_id_length_boundary_is_64_with_the_prefix() {
        // AMP's limit is on the whole id, "ws-" included.
        assert!(workspace_id(&format!("ws-{}", "1".repeat(61))).is_ok());
        let w = why(workspace_id(&format!("ws-{}", "1".repeat(62))));
        assert!(
            w.contains("65 characters") && w.contains("at most 64"),
            "{w}"
        );
    }

    #[test]
    fn workspace_id_rejects_bad_ids() {
        for bad in [
            "",
            "ws-",
            "ws",
            "WS-123",
            "12345678",
            "ws_123",
            "ws-12 34",
            "ws-é",
            "ws-a/b",
            "ws-a*",
            "ws-a:b",
            "arn:aws:aps:us-east-1:111122223333:workspace/ws-1",
        ] {
            assert!(workspace_id(bad).is_err(), "{bad:?}");
        }
        assert!(why(workspace_id("ws-")).contains("nothing follows"));
    }

    // --- region ---

    #[test]
    fn region_accepts_real_region_codes() {
        for ok in [
            "us-east-1",
            "us-west-2",
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "eu-central-2",
            "ap-southeast-4",
            "il-central-1",
            "mx-central-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
        ] {
            assert!(region(ok), "{ok:?}");
        }
    }

    #[test]
    fn region_rejects_things_that_are_not_region_codes() {
        for bad in [
            "",
            "local",
            "aws-global",
            "us-east",
            "us-east1",
            "useast-1",
            "US-EAST-1",
            "us-east-1a",
            "us-east-123",
            "us--1",
            "-us-east-1",
            "us-east-1-",
            "us-east-١",
            "ü-east-1",
            "us east-1",
            &format!("us-{}-1", "e".repeat(40)),
        ] {
            assert!(!region(bad), "{bad:?}");
        }
    }

    // --- cluster_name / role_description ---

    #[test]
    fn cluster_name_follows_eks_rules() {
        for ok in [
            "demo",
            "a",
            "0",
            "gov_cluster-1",
            "Prod-EKS_2",
            &"c".repeat(100),
        ] {
            assert!(cluster_name(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "-a", "_a", "a.b", "a b", "a/b", "é", "a:b", "🦀"] {
            assert!(cluster_name(bad).is_err(), "{bad:?}");
        }
        assert!(why(cluster_name(&"c".repeat(101))).contains("101 characters"));
        assert!(why(cluster_name("-a")).contains("starts with '-'"));
    }

    #[test]
    fn the_tools_longest_role_description_is_valid() {
        // What plan::setup writes for an IRSA role, with the longest names allowed.
        let who = format!("{}/{}", "n".repeat(63), "s".repeat(253));
        let longest = format!("AMP ingest for {who} on EKS cluster {}", "c".repeat(100));
        assert!(role_description(&longest).is_ok());
        assert!(role_description("EKS Fargate pod execution role").is_ok());
        assert!(role_description("").is_ok());
        assert!(role_description("tab\tnew\nline\r, café ÿ").is_ok());
    }

    #[test]
    fn role_description_rejects_what_iam_does() {
        assert!(role_description(&"d".repeat(1000)).is_ok());
        assert!(why(role_description(&"d".repeat(1001))).contains("1001 characters"));
        for bad in ["名前", "a\u{0}", "\u{7f}", "\u{a0}", "Ā", "🦀"] {
            assert!(role_description(bad).is_err(), "{bad:?}");
        }
    }

    // --- permissions_boundary ---

    #[test]
    fn permissions_boundary_accepts_managed_policy_arns() {
        for ok in [
            "arn:aws:iam::111122223333:policy/boundary",
            "arn:aws:iam::aws:policy/PowerUserAccess",
            "arn:aws:iam::aws:policy/service-role/AmazonEKSFargatePodExecutionRolePolicy",
            "arn:aws-cn:iam::111122223333:policy/teams/obs/Boundary+v1@x.y=z,w_-",
            "arn:aws-us-gov:iam::111122223333:policy/a:b/Boundary",
            &format!("arn:aws:iam::111122223333:policy/{}", "p".repeat(128)),
        ] {
            assert!(permissions_boundary(ok).is_ok(), "{ok:?}");
        }
    }

    fn boundary_why(arn: &str) -> String {
        why(permissions_boundary(arn))
    }

    #[test]
    fn permissions_boundary_rejects_what_is_not_a_managed_policy_arn() {
        for (bad, problem) in [
            ("not-an-arn", "six ':'-separated parts"),
            ("", "six ':'-separated parts"),
            (
                "arm:aws:iam::111122223333:policy/b",
                "does not start with \"arn:\"",
            ),
            (
                "arn:azure:iam::111122223333:policy/b",
                "partition \"azure\"",
            ),
            ("arn:aws:s3::111122223333:policy/b", "service \"s3\""),
            (
                "arn:aws:iam:us-east-1:111122223333:policy/b",
                "have no region",
            ),
            ("arn:aws:iam::1111:policy/b", "account \"1111\""),
            ("arn:aws:iam:::policy/b", "account \"\""),
            ("arn:aws:iam::AWS:policy/b", "account \"AWS\""),
            ("arn:aws:iam::111122223333:role/b", "ARN of a \"role\""),
            ("arn:aws:iam::111122223333:", "no resource"),
            (
                "arn:aws:iam::111122223333:policy",
                "not policy/<path><name>",
            ),
            ("arn:aws:iam::111122223333:policyb", "ARN of a \"policyb\""),
            ("arn:aws:iam::111122223333:policy/", "policy name \"\""),
            (
                "arn:aws:iam::111122223333:policy/teams/",
                "policy name \"\"",
            ),
            (
                "arn:aws:iam::111122223333:policy/a b",
                "policy name \"a b\"",
            ),
            ("arn:aws:iam::111122223333:policy/*", "'*' is not allowed"),
            ("arn:aws:iam::111122223333:policy//b", "path \"//\""),
            ("arn:aws:iam::111122223333:policy/a*/b", "path \"/a*/\""),
            ("arn:aws:iam::111122223333:policy/é/b", "path \"/é/\""),
        ] {
            let w = boundary_why(bad);
            assert!(w.contains(problem), "{bad:?}: {w}");
            assert!(w.contains("arn:aws:iam::aws:policy/PowerUserAccess"), "{w}");
        }
        let long_name = format!("arn:aws:iam::111122223333:policy/{}", "p".repeat(129));
        assert!(boundary_why(&long_name).contains("129 characters"));
        let long_path = format!("arn:aws:iam::111122223333:policy/{}/b", "p".repeat(511));
        assert!(boundary_why(&long_path).contains("513 characters"));
    }

    #[test]
    fn permissions_boundary_error_names_the_value_and_exits_2() {
        let err = permissions_boundary("not-an-arn").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid permissions boundary \"not-an-arn\": "),
            "{msg}"
        );
        assert!(
            msg.contains("arn:aws:iam::111122223333:policy/boundary"),
            "{msg}"
        );
        assert_eq!(err.exit_code(), crate::error::exit::USAGE);
    }

    // --- tags ---

    const OWN: [&str; 2] = ["app.kubernetes.io/managed-by", "kubectl-amp-iam/cluster"];

    fn t(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tag_why(pairs: &[(&str, &str)]) -> String {
        match tags(&t(pairs), &OWN) {
            Err(Error::InvalidName { what, value, why }) => {
                assert_eq!(what, "tag");
                let last = pairs.last().map(|(k, v)| format!("{k}={v}"));
                assert_eq!(Some(value), last, "the error names the offending tag");
                why
            }
            other => panic!("expected InvalidName, got {other:?}"),
        }
    }

    fn n_tags(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    }

    #[test]
    fn tags_are_returned_as_a_map() {
        let got = tags(&t(&[("team", "obs"), ("env", "")]), &OWN).unwrap();
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            [("env".into(), "".into()), ("team".into(), "obs".into())]
        );
        assert!(tags(&[], &OWN).unwrap().is_empty());
    }

    #[test]
    fn forty_eight_tags_fit_next_to_the_tools_two() {
        assert_eq!(tags(&n_tags(48), &OWN).unwrap().len(), 48);
    }

    #[test]
    fn forty_nine_tags_are_too_many() {
        let err = tags(&n_tags(49), &OWN).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        assert!(msg.contains("49 + 2 = 51 > 50"), "{msg}");
        assert!(msg.contains("app.kubernetes.io/managed-by"), "{msg}");
        assert!(msg.contains("at most 48"), "{msg}");
        assert_eq!(err.exit_code(), crate::error::exit::USAGE);
        // Without reserved keys all 50 fit.
        assert!(tags(&n_tags(50), &[]).is_ok());
        assert!(tags(&n_tags(51), &[]).is_err());
    }

    #[test]
    fn the_limit_counts_distinct_tags() {
        let mut many = n_tags(48);
        many.extend(n_tags(48));
        assert_eq!(tags(&many, &OWN).unwrap().len(), 48);
    }

    #[test]
    fn aws_prefix_is_reserved_in_any_case() {
        for key in [
            "aws:foo",
            "AWS:foo",
            "Aws:cloudformation:stack-name",
            "aws:",
        ] {
            let w = tag_why(&[(key, "x")]);
            assert!(w.contains("reserves") && w.contains("aws:"), "{key}: {w}");
        }
        // Only the prefix: these are ordinary keys.
        assert!(
            tags(
                &t(&[("awsx:foo", "1"), ("my-aws:foo", "2"), ("aws", "3")]),
                &OWN
            )
            .is_ok()
        );
        // A value may start with aws:.
        assert!(tags(&t(&[("source", "aws:cfn")]), &OWN).is_ok());
    }

    #[test]
    fn key_length_is_1_to_128_characters() {
        assert!(tags(&t(&[(&"k".repeat(128), "v")]), &OWN).is_ok());
        assert!(tag_why(&[(&"k".repeat(129), "v")]).contains("the key has 129 characters"));
        assert!(tag_why(&[("", "v")]).contains("the key is empty"));
        // Characters, not bytes: 128 two-byte letters are fine.
        assert!(tags(&t(&[(&"é".repeat(128), "v")]), &OWN).is_ok());
        assert!(tag_why(&[(&"é".repeat(129), "v")]).contains("129 characters"));
    }

    #[test]
    fn value_length_is_0_to_256_characters() {
        assert!(tags(&t(&[("k", &"v".repeat(256))]), &OWN).is_ok());
        assert!(tags(&t(&[("k", "")]), &OWN).is_ok());
        assert!(tag_why(&[("k", &"v".repeat(257))]).contains("the value has 257 characters"));
        assert!(tags(&t(&[("k", &"ü".repeat(256))]), &OWN).is_ok());
        assert!(tag_why(&[("k", &"ü".repeat(257))]).contains("257 characters"));
    }

    #[test]
    fn only_letters_digits_spaces_and_some_symbols_are_allowed() {
        let ok = [
            ("équipe", "données"),
            ("チーム", "観測"),
            ("команда", "наблюдение"),
            ("Cost Center", "41 200"),
            ("a_b.c:d/e=f+g-h@i", "_.:/=+-@"),
            ("n²", "½ Ⅻ ٣"),
            ("nbsp\u{a0}key", "ideographic\u{3000}space"),
            ("em\u{2003}space", "line\u{2028}para\u{2029}sep"),
        ];
        assert!(tags(&t(&ok), &OWN).is_ok());
        for (k, v, problem) in [
            ("k", "a#b", "'#' is not allowed in the value"),
            ("k", "hi!", "'!' is not allowed in the value"),
            ("k#", "v", "'#' is not allowed in the key"),
            ("k", "a,b", "','"),
            ("k", "a*", "'*'"),
            ("k", "tab\there", "'\\t'"),
            ("k", "line\nbreak", "'\\n'"),
            ("k", "🦀", "'🦀'"),
            ("k", "a\u{0}", "'\\0'"),
            ("k\u{200b}", "v", "key"),
            ("k", "\"quoted\"", "'\"'"),
            ("k", "a;b", "';'"),
        ] {
            let w = tag_why(&[(k, v)]);
            assert!(w.contains(problem), "{k:?}={v:?}: {w}");
            assert!(w.starts_with(TAG_RULE), "{w}");
        }
    }

    #[test]
    fn the_tools_own_keys_are_refused_in_any_case() {
        for key in [
            "app.kubernetes.io/managed-by",
            "kubectl-amp-iam/cluster",
            "Kubectl-Amp-Iam/Cluster",
            "APP.KUBERNETES.IO/MANAGED-BY",
        ] {
            let w = tag_why(&[("team", "obs"), (key, "me")]);
            assert!(
                w.contains("kubectl-amp-iam sets the tags app.kubernetes.io/managed-by, kubectl-amp-iam/cluster itself"),
                "{w}"
            );
            assert!(w.contains("status and teardown"), "{w}");
            assert!(w.contains("choose another key"), "{w}");
        }
        assert!(tag_why(&[("Kubectl-Amp-Iam/Cluster", "x")]).contains("ignoring case"));
        // Not reserved when the caller reserves nothing.
        assert!(tags(&t(&[("kubectl-amp-iam/cluster", "x")]), &[]).is_ok());
    }

    #[test]
    fn a_key_twice_with_the_same_value_counts_once() {
        let got = tags(
            &t(&[("team", "obs"), ("env", "prod"), ("team", "obs")]),
            &OWN,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got["team"], "obs");
    }

    #[test]
    fn a_key_twice_with_different_values_is_an_error() {
        let w = tag_why(&[("team", "obs"), ("env", "prod"), ("team", "sre")]);
        assert!(w.contains("one value") && w.contains("team=obs"), "{w}");
    }

    #[test]
    fn keys_differing_only_in_case_are_the_same_key_to_iam() {
        for value in ["obs", "sre"] {
            let w = tag_why(&[("Team", "obs"), ("team", value)]);
            assert!(w.contains("ignoring case") && w.contains("Team=obs"), "{w}");
        }
    }

    #[test]
    fn rule_errors_come_before_the_count() {
        let mut many = n_tags(60);
        many.push(("bad#key".into(), "v".into()));
        assert!(matches!(
            tags(&many, &OWN),
            Err(Error::InvalidName { what: "tag", .. })
        ));
    }

    // --- totality ---

    /// Odd strings: empty, huge, control characters, combining marks, lone
    /// multi-byte characters at cut points, RTL overrides, NULs.
    fn weird_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            " ",
            ":",
            "::::::",
            "/",
            "//",
            "=",
            "arn:",
            "arn:::::",
            "arn:aws:iam::aws:",
            "arn:aws:iam::aws:policy",
            "arn:aws:iam::aws:policy/",
            "ws-",
            "aws:",
            "AWS:",
            "aw",
            "é",
            "aé:",
            "\u{0}",
            "\u{7f}",
            "\u{feff}",
            "\u{202e}",
            "e\u{301}",
            "\u{93f}",
            "🦀",
            "名前",
            "\n",
            "\r\n",
            "\t",
            "-",
            "a-",
            "-a",
            "..",
            "a..b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for base in [
            "a",
            "é",
            "🦀",
            "/",
            ":",
            "-",
            "ab/",
            "arn:aws:iam::aws:policy/",
        ] {
            for n in [
                1, 3, 4, 63, 64, 65, 100, 101, 128, 129, 253, 254, 256, 257, 512, 513, 1001, 3000,
            ] {
                v.push(base.repeat(n));
            }
        }
        v.push(format!(
            "arn:aws:iam::111122223333:policy/{}",
            "é".repeat(40)
        ));
        v.push(format!("ws-{}", "é".repeat(40)));
        v
    }

    #[test]
    fn validators_are_total() {
        let reserved: [&str; 3] = ["x", "é", ""];
        for s in weird_strings() {
            let _ = namespace(&s);
            let _ = service_account(&s);
            let _ = role_name(&s);
            let _ = policy_name(&s);
            let _ = iam_path(&s);
            let _ = workspace_id(&s);
            let _ = account_id(&s);
            let _ = partition(&s);
            let _ = region(&s);
            let _ = cluster_name(&s);
            let _ = role_description(&s);
            let _ = permissions_boundary(&s);
            for other in ["", "v", "aws:", "é"] {
                let pairs = [
                    (s.clone(), other.to_string()),
                    (other.to_string(), s.clone()),
                ];
                for r in [&reserved[..], &OWN[..], &[]] {
                    if let Err(e) = tags(&pairs, r) {
                        // One line, and not the whole input quoted back.
                        let msg = e.to_string();
                        assert!(msg.chars().count() < 2000, "{}", msg.len());
                    }
                }
            }
        }
    }
}
