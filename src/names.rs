//! Validation of names against Kubernetes and IAM rules.
//!
//! Every validator is pure and total: any `&str` (empty, huge, unicode,
//! control characters) gives `Ok(())` or [`Error::InvalidName`], never a panic.
//! The error's `why` states what is allowed, then what was wrong.

use crate::error::Error;

const NAMESPACE_RULE: &str = "a namespace is a DNS-1123 label: at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit";
const SERVICE_ACCOUNT_RULE: &str = "a ServiceAccount name is a DNS-1123 subdomain: at most 253 characters, dot-separated parts of lowercase letters, digits or '-', each starting and ending with a letter or digit";
const ROLE_RULE: &str =
    "an IAM role name is 1 to 64 characters, each a letter, a digit or one of + = , . @ _ -";
const POLICY_RULE: &str =
    "an IAM policy name is 1 to 128 characters, each a letter, a digit or one of + = , . @ _ -";
const PATH_RULE: &str = "an IAM path is \"/\" or starts and ends with \"/\", at most 512 printable ASCII characters without spaces";
const WORKSPACE_RULE: &str = "an AMP workspace id is \"ws-\" followed by 1 to 64 letters, digits or '-' (e.g. ws-12345678-abcd-1234-abcd-123456789012)";

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
/// is not a path but `///` is).
pub fn iam_path(s: &str) -> Result<(), Error> {
    const WHAT: &str = "IAM path";
    if s.is_empty() {
        return Err(invalid(WHAT, s, PATH_RULE, "it is empty"));
    }
    if let Some(c) = first_bad(s, |c| ('\u{21}'..='\u{7E}').contains(&c)) {
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

/// An Amazon Managed Service for Prometheus workspace id: `ws-` followed by
/// 1–64 chars of `[a-zA-Z0-9-]`.
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
    if let Some(c) = first_bad(rest, |c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid(WHAT, s, WORKSPACE_RULE, describe_char(c)));
    }
    if rest.len() > 64 {
        return Err(invalid(
            WHAT,
            s,
            WORKSPACE_RULE,
            format!("{} characters follow \"ws-\"", rest.len()),
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
        ] {
            assert!(iam_path(bad).is_err(), "{bad:?}");
        }
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
            &format!("ws-{}", "a".repeat(64)),
        ] {
            assert!(workspace_id(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn workspace_id_length_boundary_is_64_after_prefix() {
        assert!(workspace_id(&format!("ws-{}", "1".repeat(64))).is_ok());
        assert!(why(workspace_id(&format!("ws-{}", "1".repeat(65)))).contains("65 characters"));
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
            "ws-a.b",
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
}
