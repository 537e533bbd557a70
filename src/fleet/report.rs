//! A fleet run's report: each cluster's own report, then a table and a
//! total (text); or one document with `clusters[]`, each the document a
//! single-cluster run prints (`-o json|yaml`). The exit code is the worst.

use crate::aws::shared::ReadStats;
use crate::error::{Result as RunResult, exit};
use crate::output::{self, Format};
use crate::plan::Status;
use crate::run::cluster::Outcome;
use crate::run::{render_document, write_stdout};
use serde_json::{Value, json};

/// One cluster's line of the report.
pub struct Result {
    pub label: String,
    pub origin: Option<String>,
    pub outcome: Outcome,
}

/// Worse first: a failure, a usage error, a refusal, drift, then success.
fn severity(code: i32) -> u8 {
    match code {
        exit::OK => 0,
        exit::DRIFT => 1,
        exit::REFUSED => 2,
        exit::USAGE => 3,
        _ => 4,
    }
}

/// The fleet's exit code: the worst of its clusters'.
pub fn worst(codes: impl IntoIterator<Item = i32>) -> i32 {
    codes
        .into_iter()
        .max_by_key(|&c| severity(c))
        .unwrap_or(exit::OK)
}

/// What came of a cluster, in a few words.
fn result_word(o: &Outcome) -> String {
    if let Some(e) = &o.error {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or_default().to_string();
        let kind = if o.code == exit::REFUSED {
            "refused"
        } else {
            "failed"
        };
        return format!("{kind}: {first}");
    }
    let Some(plan) = &o.plan else {
        return "failed".into();
    };
    let applied = plan
        .changes
        .iter()
        .filter(|c| c.status == Status::Applied)
        .count();
    match (plan.command, plan.dry_run) {
        ("status", _) if o.code == exit::OK => "in sync".into(),
        ("status", _) => "drift".into(),
        (_, true) if plan.writes() == 0 => "in sync".into(),
        (_, true) => format!("would make {} changes", plan.writes()),
        _ if applied == 0 => "in sync".into(),
        _ => format!("applied {applied}"),
    }
}

fn changes(o: &Outcome) -> String {
    o.plan
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| p.writes().to_string())
}

/// Prints the report; returns the fleet's exit code.
pub fn print(
    format: Format,
    command: &str,
    results: &[Result],
    notes: &[String],
    reads: &[ReadStats],
) -> RunResult<i32> {
    let code = worst(results.iter().map(|r| r.outcome.code));
    let reads = reads.iter().fold(ReadStats::default(), |a, b| ReadStats {
        calls: a.calls + b.calls,
        shared: a.shared + b.shared,
    });
    let count = |f: &dyn Fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    let failed = count(&|o| o.code != exit::OK && o.code != exit::DRIFT && o.code != exit::REFUSED);
    let refused = count(&|o| o.code == exit::REFUSED);
    let drift = count(&|o| o.code == exit::DRIFT);
    let applied: usize = results
        .iter()
        .filter_map(|r| r.outcome.plan.as_ref())
        .map(|p| {
            p.changes
                .iter()
                .filter(|c| c.status == Status::Applied)
                .count()
        })
        .sum();
    for r in results {
        if let Some(e) = &r.outcome.error {
            let text = e.to_string();
            eprintln!(
                "error: {}: {}",
                r.label,
                text.lines().next().unwrap_or_default()
            );
        }
    }
    if format != Format::Text {
        let clusters: Vec<Value> = results.iter().map(cluster_document).collect();
        let doc = json!({
            "command": command,
            "clusters": clusters,
            "notes": notes,
            "total": {
                "clusters": results.len(),
                "ok": results.len() - failed - refused - drift,
                "failed": failed,
                "refused": refused,
                "drift": drift,
                "changes_applied": applied,
                // STS and IAM reads sent, and those answered by another cluster's.
                "account_reads": { "sent": reads.calls, "shared": reads.shared },
            },
            "exit_code": code,
        });
        write_stdout(&render_document(&doc, format)?)?;
        return Ok(code);
    }
    let mut out = String::new();
    for r in results {
        out.push_str(&format!("== {} ==\n", heading(r)));
        if let Some(plan) = &r.outcome.plan {
            let text = output::render(plan, Format::Text, &r.outcome.extras, None, code)?;
            out.push_str(&text);
        }
        if let Some(e) = &r.outcome.error {
            out.push_str(&format!("error: {e}\n"));
        }
        out.push('\n');
    }
    for n in notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    out.push_str(&table(results));
    out.push_str(&format!(
        "{} clusters: {} ok, {drift} drift, {refused} refused, {failed} failed; {applied} changes applied; STS/IAM reads: {} sent, {} answered by another cluster's; exit {code}\n",
        results.len(),
        results.len() - failed - refused - drift,
        reads.calls,
        reads.shared,
    ));
    write_stdout(&out)?;
    Ok(code)
}

fn heading(r: &Result) -> String {
    let k = &r.outcome.known;
    let mut h = r.label.clone();
    if let Some(a) = &k.account {
        h.push_str(&format!(": account {a}"));
    }
    if let Some(region) = &k.region {
        h.push_str(&format!(", {region}"));
    }
    if let Some(ns) = &k.namespace {
        h.push_str(&format!(", namespace {ns}"));
    }
    if let Some(o) = &r.origin {
        h.push_str(&format!(" ({o})"));
    }
    h
}

/// The per-cluster table: columns padded to their widest cell.
fn table(results: &[Result]) -> String {
    let mut rows = vec![[
        "CLUSTER".to_string(),
        "ACCOUNT".to_string(),
        "REGION".to_string(),
        "NAMESPACE".to_string(),
        "CHANGES".to_string(),
        "RESULT".to_string(),
    ]];
    for r in results {
        let k = &r.outcome.known;
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        rows.push([
            r.label.clone(),
            dash(&k.account),
            dash(&k.region),
            dash(&k.namespace),
            changes(&r.outcome),
            result_word(&r.outcome),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, v)| match c {
                5 => v.clone(),
                _ => format!("{v:<w$}", w = widths[c]),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A cluster's entry of `clusters[]`: the single-cluster document, plus
/// where the entry came from.
fn cluster_document(r: &Result) -> Value {
    let o = &r.outcome;
    let mut doc = match (&o.plan, &o.error) {
        (Some(plan), error) => output::document(plan, &o.extras, error.as_ref(), o.code),
        (None, Some(e)) => output::error_document(&o.known, e, o.code),
        (None, None) => json!({ "exit_code": o.code }),
    };
    if let Value::Object(m) = &mut doc {
        m.insert("label".into(), r.label.clone().into());
        if let Some(origin) = &r.origin {
            m.insert("origin".into(), origin.clone().into());
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_code_wins_failure_over_refusal_over_drift() {
        assert_eq!(worst([0, 3, 0]), 3);
        assert_eq!(worst([3, 4, 0]), 4);
        assert_eq!(worst([4, 1, 3]), 1);
        assert_eq!(worst([2, 4]), 2);
        assert_eq!(worst([0, 0]), 0);
        assert_eq!(worst(Vec::<i32>::new()), 0);
    }
}
