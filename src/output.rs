//! Rendering a plan (or what applying it did): text for people, one JSON or
//! YAML document for scripts.

use crate::error::{Error, Result};
use crate::plan::{Action, Change, Plan, Status};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

/// What a run reports beyond the plan itself.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// `status`: the command that fixes what is missing.
    pub fix: Option<String>,
    /// Next steps for people (text only).
    pub hints: Vec<String>,
}

/// The document scripts read: the plan plus derived facts, the exit code,
/// and the error when the run failed or refused.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    /// Changes that write (planned, or applied/failed/skipped).
    changes_needed: usize,
    /// Nothing to write, nothing refused, nothing wider than the recipe.
    in_sync: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
    exit_code: i32,
}

/// `error` in a document: what failed, on which resource.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    /// e.g. `usage`, `kubeconfig`, `wrong_account`, `aws_access_denied`, `refused`.
    pub kind: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl ErrorBody {
    pub fn of(e: &Error) -> ErrorBody {
        ErrorBody {
            kind: e.kind(),
            message: e.to_string(),
            resource: e.resource(),
        }
    }
}

/// The target fields a run had worked out when it failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KnownTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The one document of a run that failed before it had a plan to print.
pub fn error_document(known: &KnownTarget, e: &Error, exit_code: i32) -> serde_json::Value {
    let mut known = known.clone();
    if let Some(account) = e.account() {
        known.account = Some(account.to_string());
    }
    let mut doc = serde_json::to_value(&known).unwrap_or_else(|_| serde_json::json!({}));
    if let serde_json::Value::Object(m) = &mut doc {
        m.insert(
            "error".into(),
            serde_json::to_value(ErrorBody::of(e)).unwrap_or_default(),
        );
        m.insert("exit_code".into(), exit_code.into());
    }
    doc
}

/// `-o json|yaml` in raw arguments (for usage errors clap rejects before
/// the flags are parsed): `-o json`, `-ojson`, `-o=json`, `--output json`,
/// `--output=json`. The last one given wins, as clap would take it.
pub fn format_in_args(args: &[std::ffi::OsString]) -> Option<Format> {
    let mut found = None;
    let mut iter = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.as_ref() {
            "-o" | "--output" => iter.next().map(|v| v.into_owned()),
            other => other
                .strip_prefix("--output=")
                .or_else(|| other.strip_prefix("-o="))
                .or_else(|| other.strip_prefix("-o"))
                .map(str::to_string),
        };
        match value.as_deref() {
            Some("json") => found = Some(Format::Json),
            Some("yaml") => found = Some(Format::Yaml),
            Some("text") => found = None,
            _ => {}
        }
    }
    found
}

/// Pretty JSON, newline-terminated.
pub fn to_json<T: Serialize>(doc: &T) -> Result<String> {
    serde_json::to_string_pretty(doc)
        .map(|s| s + "\n")
        .map_err(|e| Error::Output(e.to_string()))
}

/// YAML with each string on one line (no folded `>-` blocks), so values can be
/// found with grep and edited in place.
pub fn to_yaml<T: Serialize>(doc: &T) -> Result<String> {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(doc, options).map_err(|e| Error::Output(e.to_string()))
}

impl<'a> Document<'a> {
    fn new(plan: &'a Plan, extras: &'a Extras, error: Option<&Error>, exit_code: i32) -> Self {
        Document {
            plan,
            changes_needed: plan.writes(),
            in_sync: plan.is_converged(),
            fix: extras.fix.as_deref(),
            error: error.map(ErrorBody::of),
            exit_code,
        }
    }
}

/// The plan's document as a value (a fleet run's `clusters[]` entry).
pub fn document(
    plan: &Plan,
    extras: &Extras,
    error: Option<&Error>,
    exit_code: i32,
) -> serde_json::Value {
    serde_json::to_value(Document::new(plan, extras, error, exit_code)).unwrap_or_default()
}

pub fn render(
    plan: &Plan,
    format: Format,
    extras: &Extras,
    error: Option<&Error>,
    exit_code: i32,
) -> Result<String> {
    let doc = Document::new(plan, extras, error, exit_code);
    match format {
        Format::Json => to_json(&doc),
        Format::Yaml => to_yaml(&doc),
        Format::Text => Ok(text(plan, extras)),
    }
}

fn verb(action: Action) -> (&'static str, &'static str, &'static str) {
    // (symbol, future, past)
    match action {
        Action::Create => ("+", "create", "created"),
        Action::Update => ("~", "update", "updated"),
        Action::Delete => ("-", "delete", "deleted"),
        Action::None => ("=", "unchanged", "unchanged"),
    }
}

/// The word in front of a change's detail.
fn state_word(plan: &Plan, c: &Change) -> String {
    let (_, future, past) = verb(c.action);
    let status = plan.command == "status";
    match c.status {
        Status::Unchanged if status => "ok".into(),
        Status::Unchanged => "unchanged".into(),
        Status::Planned if status => match c.action {
            Action::Create => "missing".into(),
            _ => "differs".into(),
        },
        Status::Planned => format!("would {future}"),
        Status::Refused if status => "differs".into(),
        Status::Refused => "refused".into(),
        Status::Applied => past.into(),
        Status::Failed => "FAILED".into(),
        Status::Skipped => "skipped".into(),
    }
}

fn text(plan: &Plan, extras: &Extras) -> String {
    let mode = match plan.mode {
        crate::recipe::IdentityMode::PodIdentity => ", Pod Identity",
        crate::recipe::IdentityMode::Irsa if plan.command == "migrate" => ", to IRSA",
        crate::recipe::IdentityMode::Irsa => "",
    };
    let mut out = format!(
        "{}: cluster {} in {}, account {}, namespace {}{mode}{}\n",
        plan.command,
        plan.cluster,
        plan.region,
        plan.account,
        plan.namespace,
        if plan.dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    let rows: Vec<(String, String, String, String)> = plan
        .changes
        .iter()
        .map(|c| {
            let (symbol, _, _) = verb(c.action);
            let symbol = if c.status == Status::Unchanged {
                "="
            } else {
                symbol
            };
            let mut detail = format!("{}: {}", state_word(plan, c), c.detail);
            if let Some(e) = &c.error {
                detail = format!("{}: {e}", state_word(plan, c));
            }
            (
                symbol.to_string(),
                c.resource.label().to_string(),
                c.name.clone(),
                detail,
            )
        })
        .collect();
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
    for (symbol, resource, name, detail) in &rows {
        out.push_str(&format!(
            "  {symbol} {resource:<w1$}  {name:<w2$}  {detail}\n"
        ));
    }
    let label = if plan.command == "status" {
        "finding"
    } else {
        "warning"
    };
    for f in &plan.findings {
        out.push_str(&format!("{label}: {}\n", f.line()));
    }
    for w in &plan.workloads {
        let done = plan.changes.iter().any(|c| {
            c.resource == crate::plan::Resource::Workload
                && c.name == w.id()
                && c.status == Status::Applied
        });
        let what = match (w.action, done) {
            ("restart", true) => " (restarted)",
            ("delete", true) => " (deleted)",
            ("restart" | "delete", false) if plan.dry_run => " (would be handled above)",
            ("restart" | "delete", false) => " (see above)",
            _ => "",
        };
        out.push_str(&format!(
            "stale: {} runs {} without the role: {}{what}\n",
            w.id(),
            w.service_account,
            w.reason
        ));
    }
    if let Some(url) = plan
        .workspace
        .as_ref()
        .and_then(|w| w.remote_write_url.as_ref())
    {
        out.push_str(&format!("remote write: {url}\n"));
    }
    for w in &plan.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&summary(plan, extras));
    for h in &extras.hints {
        out.push_str(h);
        out.push('\n');
    }
    out
}

fn summary(plan: &Plan, extras: &Extras) -> String {
    let count = |s: Status| plan.changes.iter().filter(|c| c.status == s).count();
    let unchanged = count(Status::Unchanged);
    if plan.command == "status" {
        let off =
            plan.writes() + count(Status::Refused) + plan.findings.len() + plan.workloads.len();
        return if off == 0 {
            format!("In sync: all {unchanged} items are in place.\n")
        } else {
            let fix = extras.fix.as_deref().unwrap_or("kubectl amp-iam setup");
            format!(
                "{off} of {} items need attention: run `{fix}` (add --dry-run to preview).\n",
                plan.changes.len() + plan.findings.len() + plan.workloads.len()
            )
        };
    }
    if plan.writes() == 0
        && plan.refusals.is_empty()
        && plan.findings.is_empty()
        && plan.workloads.is_empty()
    {
        return format!(
            "Nothing to do: all {unchanged} items already in place, nothing was written.\n"
        );
    }
    if !plan.refusals.is_empty() && count(Status::Applied) == 0 {
        return format!(
            "Refused: nothing was written. {} change(s) would be made once the refusal(s) above are resolved.\n",
            plan.writes()
        );
    }
    if plan.dry_run {
        return format!(
            "{} change(s) would be made, {unchanged} item(s) already in place. Run without --dry-run to apply.\n",
            plan.writes()
        );
    }
    let (applied, failed, skipped) = (
        count(Status::Applied),
        count(Status::Failed),
        count(Status::Skipped),
    );
    let mut s = format!("{applied} change(s) made, {unchanged} item(s) already in place");
    if failed + skipped > 0 {
        s.push_str(&format!(", {failed} failed, {skipped} not attempted"));
    }
    s.push_str(".\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Resource};
    use std::collections::BTreeMap;

    fn plan(command: &'static str, changes: Vec<Change>) -> Plan {
        Plan {
            command,
            dry_run: false,
            mode: Default::default(),
            cluster: "demo".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            partition: "aws".into(),
            namespace: "prometheus".into(),
            changes,
            kinds: BTreeMap::new(),
            refusals: vec![],
            findings: vec![],
            workspace: None,
            workloads: vec![],
            warnings: vec![],
            needs_trust_quota: false,
            policy_documents: Default::default(),
        }
    }

    fn change(action: Action, status: Status, with_op: bool) -> Change {
        Change {
            resource: Resource::Role,
            name: "amp-iamproxy-ingest-role".into(),
            kind: None,
            action,
            detail: "trusted by prometheus/sa".into(),
            status,
            error: None,
            op: with_op.then(|| crate::plan::Op::CreateNamespace { name: "x".into() }),
            after: vec![],
        }
    }

    #[test]
    fn json_is_one_document_with_changes_and_sync_state() {
        let p = plan("setup", vec![change(Action::Create, Status::Applied, true)]);
        let out = render(&p, Format::Json, &Extras::default(), None, 0).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["cluster"], "demo");
        assert_eq!(v["changes"][0]["action"], "create");
        assert_eq!(v["changes"][0]["status"], "applied");
        assert_eq!(v["changes"][0]["resource"], "role");
        assert_eq!(v["changes_needed"], 1);
        assert_eq!(v["in_sync"], false);
    }

    #[test]
    fn yaml_parses_back_to_the_same_document() {
        let p = plan(
            "setup",
            vec![change(Action::None, Status::Unchanged, false)],
        );
        let yaml = render(&p, Format::Yaml, &Extras::default(), None, 0).unwrap();
        let json = render(&p, Format::Json, &Extras::default(), None, 0).unwrap();
        let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let from_json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(from_yaml, from_json);
        assert_eq!(from_yaml["in_sync"], true);
    }

    #[test]
    fn text_says_when_nothing_was_written() {
        let p = plan(
            "setup",
            vec![change(Action::None, Status::Unchanged, false)],
        );
        let out = render(&p, Format::Text, &Extras::default(), None, 0).unwrap();
        assert!(out.contains("= role"), "{out}");
        assert!(out.contains("Nothing to do"), "{out}");
    }

    #[test]
    fn status_text_names_missing_items_and_the_fix() {
        let p = plan(
            "status",
            vec![change(Action::Create, Status::Planned, true)],
        );
        let extras = Extras {
            fix: Some("kubectl amp-iam setup ingest".into()),
            hints: vec![],
        };
        let out = render(&p, Format::Text, &extras, None, 0).unwrap();
        assert!(out.contains("missing: trusted by"), "{out}");
        assert!(out.contains("run `kubectl amp-iam setup ingest`"), "{out}");
    }

    #[test]
    fn dry_run_text_uses_would() {
        let mut p = plan("setup", vec![change(Action::Create, Status::Planned, true)]);
        p.dry_run = true;
        let out = render(&p, Format::Text, &Extras::default(), None, 0).unwrap();
        assert!(out.contains("would create"), "{out}");
        assert!(out.contains("dry run"), "{out}");
    }
}
