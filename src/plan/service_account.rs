//! A recipe ServiceAccount: created, or annotated with the role (and the
//! optional webhook annotations) by server-side apply, everything else kept;
//! an annotation someone else set to another value is refused unless
//! `--overwrite`.

use super::{Action, Op, Plan, Resource};
use crate::observe::Observed;
use crate::ownership::service_account_is_ours;
use crate::recipe::{Desired, IrsaSpec, MANAGED_BY, MANAGER, ROLE_ARN_ANNOTATION};
use std::collections::BTreeMap;

/// What the ServiceAccount part of the plan tells the workload part.
pub(super) struct Planned {
    /// The change that writes the annotations, if any.
    pub step: Option<usize>,
    /// The role annotation is written (or would be) by this plan.
    pub changing: bool,
    /// When the current role annotation was written.
    pub since: Option<String>,
}

pub(super) fn plan_service_account(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    role_arn: &str,
    after: &[Option<usize>],
) -> Planned {
    let kind = Some(spec.kind);
    let ns = &desired.namespace;
    let name = format!("{ns}/{}", spec.service_account);
    let existing = observed
        .service_accounts
        .get(&spec.service_account)
        .and_then(Option::as_ref);
    let mut annotations = desired.options.sa_annotations.clone();
    annotations.insert(ROLE_ARN_ANNOTATION.to_string(), role_arn.to_string());
    // The label marks accounts this tool created (teardown deletes only those);
    // once applied it must be re-applied, or server-side apply would drop it.
    let ours = existing.map(service_account_is_ours).unwrap_or(true);
    let labels = if ours {
        BTreeMap::from([(MANAGED_BY.to_string(), MANAGER.to_string())])
    } else {
        BTreeMap::new()
    };
    let since = existing
        .and_then(|sa| sa.annotation_times.get(ROLE_ARN_ANNOTATION))
        .cloned();
    let unchanged = Planned {
        step: None,
        changing: false,
        since: since.clone(),
    };
    let Some(sa) = existing else {
        let detail = annotations
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let step = push(
            plan,
            desired,
            spec,
            &name,
            Action::Create,
            detail,
            annotations,
            labels,
            after,
        );
        return Planned {
            step: Some(step),
            changing: true,
            since: None,
        };
    };

    // Keys set to another value than wanted: the role, or a webhook option.
    let differing: Vec<(&String, &String, &String)> = annotations
        .iter()
        .filter_map(|(k, v)| match sa.annotations.get(k) {
            Some(current) if current != v => Some((k, current, v)),
            _ => None,
        })
        .collect();
    let missing: Vec<String> = annotations
        .iter()
        .filter(|(k, _)| !sa.annotations.contains_key(*k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if differing.is_empty() && missing.is_empty() {
        plan.unchanged(
            Resource::ServiceAccount,
            name,
            kind,
            format!("{ROLE_ARN_ANNOTATION}={role_arn}"),
        );
        return unchanged;
    }
    if !differing.is_empty() && !desired.options.overwrite {
        let what = differing
            .iter()
            .map(|(k, current, _)| format!("{k}={current}"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = if differing.iter().any(|(k, _, _)| *k == ROLE_ARN_ANNOTATION) {
            format!(
                "another role than {role_arn}: pass --overwrite to point it at {}",
                spec.role_name
            )
        } else {
            "set by someone else: pass --overwrite to change it, or leave out the flag".to_string()
        };
        plan.refuse(
            Resource::ServiceAccount,
            name,
            kind,
            Action::Update,
            format!(
                "ServiceAccount {ns}/{} is annotated {what}, {hint}",
                spec.service_account
            ),
        );
        return unchanged;
    }
    let mut parts: Vec<String> = differing
        .iter()
        .map(|(k, current, v)| format!("replace {k}={current} with {v} (--overwrite)"))
        .collect();
    if !missing.is_empty() {
        parts.push(format!("annotate {}", missing.join(", ")));
    }
    let changing = differing.iter().any(|(k, _, _)| *k == ROLE_ARN_ANNOTATION)
        || !sa.annotations.contains_key(ROLE_ARN_ANNOTATION);
    let detail = format!("{} (everything else kept)", parts.join("; "));
    let step = push(
        plan,
        desired,
        spec,
        &name,
        Action::Update,
        detail,
        annotations,
        labels,
        after,
    );
    Planned {
        step: Some(step),
        changing,
        since,
    }
}

#[allow(clippy::too_many_arguments)] // the fields of one change
fn push(
    plan: &mut Plan,
    desired: &Desired,
    spec: &IrsaSpec,
    name: &str,
    action: Action,
    detail: String,
    annotations: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    after: &[Option<usize>],
) -> usize {
    plan.push(
        Resource::ServiceAccount,
        name,
        Some(spec.kind),
        action,
        detail,
        Some(Op::ApplyServiceAccount {
            namespace: desired.namespace.clone(),
            name: spec.service_account.clone(),
            annotations,
            labels,
        }),
        after,
    )
}
