//! Planning `teardown`: a plan towards absence that removes only what this
//! tool made, and lists (without touching) what it did not, unless `--force`.

use super::{Action, Op, Plan, Resource, pod_identity};
use crate::observe::{Observed, ObservedRole};
use crate::ownership::{is_ours, service_account_is_ours};
use crate::policy::{self, PodIdentityTrust, TrustState};
use crate::recipe::{
    Desired, FARGATE_MANAGED_POLICY, IdentityMode, Kind, MANAGED_BY, MANAGER, ROLE_ARN_ANNOTATION,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// What happens to a role's trust in this plan.
enum RoleFate {
    Deleted(usize),
    Updated(usize, Value),
    Kept,
}

pub fn teardown(desired: &Desired, observed: &Observed) -> Plan {
    let mut plan = Plan::new("teardown", desired, observed);
    let force = desired.options.force;
    let account = &observed.account;
    let provider_arn = observed.provider_arn();
    let mut fates: BTreeMap<String, RoleFate> = BTreeMap::new();

    for spec in &desired.irsa {
        let kind = Some(spec.kind);
        let ns = &desired.namespace;
        let who = format!("{ns}/{}", spec.service_account);
        let role = observed.roles.get(&spec.role_name).and_then(Option::as_ref);
        let role_arn = role
            .map(|r| r.role.arn.clone())
            .unwrap_or_else(|| account.role(&desired.options.role_path, &spec.role_name));

        let role_step = if desired.mode == IdentityMode::PodIdentity {
            // The association first: pods stop getting the role.
            let sa_step =
                pod_identity::plan_service_account_teardown(&mut plan, desired, observed, spec);
            let association = pod_identity::plan_association_teardown(
                &mut plan, desired, observed, spec, &role_arn,
            );
            let subject = pod_identity::subject(desired, observed, spec);
            let association = match association {
                pod_identity::AssociationFate::Kept => {
                    plan.unchanged(
                        Resource::Role,
                        &spec.role_name,
                        kind,
                        "kept: an association kubectl-amp-iam did not make still binds it",
                    );
                    fates.insert(spec.role_name.clone(), RoleFate::Kept);
                    continue;
                }
                pod_identity::AssociationFate::Deleted(i) => Some(i),
                pod_identity::AssociationFate::Absent => None,
            };
            remove_subject(
                &mut plan,
                Removal {
                    kind,
                    role_name: &spec.role_name,
                    role,
                    trusts: &|doc| subject.state(doc) != PodIdentityTrust::Missing,
                    remaining: &|doc| subject.remove_from(doc),
                    what: format!("the Pod Identity trust for {who}"),
                    not_trusted: format!("does not trust {who} through Pod Identity"),
                    force,
                    after: &[sa_step, association],
                },
                &mut fates,
            )
        } else {
            // The ServiceAccount first: pods stop being pointed at the role.
            let sa_step = match observed
                .service_accounts
                .get(&spec.service_account)
                .and_then(Option::as_ref)
            {
                None => {
                    plan.unchanged(Resource::ServiceAccount, &who, kind, "does not exist");
                    None
                }
                Some(sa) if service_account_is_ours(sa) => Some(plan.push(
                    Resource::ServiceAccount,
                    &who,
                    kind,
                    Action::Delete,
                    "created by kubectl-amp-iam",
                    Some(Op::DeleteServiceAccount {
                        namespace: ns.clone(),
                        name: spec.service_account.clone(),
                    }),
                    &[],
                )),
                Some(sa) if sa.annotations.get(ROLE_ARN_ANNOTATION) == Some(&role_arn) => {
                    Some(plan.push(
                        Resource::ServiceAccount,
                        &who,
                        kind,
                        Action::Update,
                        format!(
                            "remove {ROLE_ARN_ANNOTATION} (the account and its other fields stay)"
                        ),
                        // A guarded JSON patch, not an empty apply: an apply only
                        // releases this manager's share, and the annotation would
                        // stay wherever kubectl, Helm or eksctl also set it.
                        Some(Op::RemoveAnnotation {
                            namespace: ns.clone(),
                            name: spec.service_account.clone(),
                            key: ROLE_ARN_ANNOTATION.to_string(),
                            expected: role_arn.clone(),
                        }),
                        &[],
                    ))
                }
                Some(_) => {
                    plan.unchanged(
                        Resource::ServiceAccount,
                        &who,
                        kind,
                        format!("not annotated with {role_arn}"),
                    );
                    None
                }
            };

            // The role: this subject leaves its trust; a role left trusting nothing goes.
            let subject = observed.irsa_subject(ns, &spec.service_account);
            remove_subject(
                &mut plan,
                Removal {
                    kind,
                    role_name: &spec.role_name,
                    role,
                    trusts: &|doc| subject.state(doc) != TrustState::Missing,
                    remaining: &|doc| subject.remove_from(doc),
                    what: format!("trust for {who}"),
                    not_trusted: format!("does not trust {who}"),
                    force,
                    after: &[sa_step],
                },
                &mut fates,
            )
        };

        // The policy: ours, and attached to no role that stays.
        match observed
            .policies
            .get(&spec.policy_name)
            .and_then(Option::as_ref)
        {
            None => {
                plan.unchanged(Resource::Policy, &spec.policy_name, kind, "does not exist");
            }
            Some(p) if !is_ours(&p.tags) && !force => {
                skip_foreign(&mut plan, Resource::Policy, &spec.policy_name, kind)
            }
            Some(p) => {
                let attached_here = role
                    .map(|r| r.attached.iter().any(|a| a.arn == p.summary.arn))
                    .unwrap_or(false);
                let role_goes = matches!(fates.get(&spec.role_name), Some(RoleFate::Deleted(_)));
                let elsewhere = p.summary.attachment_count - i32::from(attached_here && role_goes);
                if elsewhere > 0 {
                    plan.unchanged(
                        Resource::Policy,
                        &spec.policy_name,
                        kind,
                        format!("still attached to {elsewhere} role(s): kept"),
                    );
                } else {
                    let versions: Vec<String> = p
                        .versions
                        .iter()
                        .filter(|v| !v.is_default)
                        .map(|v| v.id.clone())
                        .collect();
                    plan.push(
                        Resource::Policy,
                        &spec.policy_name,
                        kind,
                        Action::Delete,
                        match versions.len() {
                            0 => "made by kubectl-amp-iam, attached to no other role".to_string(),
                            n => format!(
                                "made by kubectl-amp-iam, attached to no other role; its {n} older version(s) first"
                            ),
                        },
                        Some(Op::DeletePolicy {
                            arn: p.summary.arn.clone(),
                            versions,
                        }),
                        &[role_step],
                    );
                }
            }
        }
    }

    if let Some(spec) = &desired.fargate {
        let kind = Some(Kind::Fargate);
        let source = spec.source_arn(account, &desired.region, &desired.cluster);
        match observed.roles.get(&spec.role_name).and_then(Option::as_ref) {
            None => {
                plan.unchanged(Resource::Role, &spec.role_name, kind, "does not exist");
            }
            Some(r) => {
                let (remaining, _) = policy::remove_fargate_source(&r.trust, &source);
                if remaining == r.trust || policy::same_meaning(&remaining, &r.trust) {
                    plan.unchanged(
                        Resource::Trust,
                        &spec.role_name,
                        kind,
                        format!("does not list {source}"),
                    );
                } else {
                    let what = format!("{source} ({FARGATE_MANAGED_POLICY} goes with the role)");
                    plan_role_removal(
                        &mut plan,
                        kind,
                        &spec.role_name,
                        r,
                        remaining,
                        &what,
                        force,
                        &[],
                        &mut fates,
                    );
                }
            }
        }
    }

    plan_provider(&mut plan, desired, observed, &provider_arn, &fates);
    super::workspace::plan_workspace_removal(&mut plan, desired, observed);
    plan
}

/// One subject leaving a role's trust, in either mode.
struct Removal<'a> {
    kind: Option<Kind>,
    role_name: &'a str,
    role: Option<&'a ObservedRole>,
    /// Whether a trust document trusts the subject.
    trusts: &'a dyn Fn(&Value) -> bool,
    /// The document without the subject.
    remaining: &'a dyn Fn(&Value) -> Value,
    what: String,
    not_trusted: String,
    force: bool,
    after: &'a [Option<usize>],
}

/// The subject leaves the role's trust; a role left trusting nothing goes.
fn remove_subject(
    plan: &mut Plan,
    r: Removal<'_>,
    fates: &mut BTreeMap<String, RoleFate>,
) -> Option<usize> {
    match r.role {
        None => {
            plan.unchanged(Resource::Role, r.role_name, r.kind, "does not exist");
            None
        }
        Some(role) if !(r.trusts)(&role.trust) => {
            plan.unchanged(Resource::Trust, r.role_name, r.kind, r.not_trusted);
            None
        }
        Some(role) => plan_role_removal(
            plan,
            r.kind,
            r.role_name,
            role,
            (r.remaining)(&role.trust),
            &r.what,
            r.force,
            r.after,
            fates,
        ),
    }
}

fn skip_foreign(plan: &mut Plan, resource: Resource, name: &str, kind: Option<Kind>) {
    plan.unchanged(
        resource,
        name,
        kind,
        "not tagged as made by kubectl-amp-iam: skipped (pass --force to remove it)",
    );
    plan.warnings.push(format!(
        "{} {name} was not made by kubectl-amp-iam (no {MANAGED_BY}={MANAGER} tag): left alone; --force removes it",
        resource.label()
    ));
}

/// Removes `what` from a role's trust (`remaining` is the trust without it):
/// deletes the role when nothing else is trusted, updates it otherwise.
#[allow(clippy::too_many_arguments)]
fn plan_role_removal(
    plan: &mut Plan,
    kind: Option<Kind>,
    role_name: &str,
    role: &ObservedRole,
    remaining: Value,
    what: &str,
    force: bool,
    after: &[Option<usize>],
    fates: &mut BTreeMap<String, RoleFate>,
) -> Option<usize> {
    if !is_ours(&role.role.tags) && !force {
        skip_foreign(plan, Resource::Role, role_name, kind);
        fates.insert(role_name.to_string(), RoleFate::Kept);
        return None;
    }
    if policy::statements(&remaining).is_empty() {
        let detach: Vec<String> = role.attached.iter().map(|a| a.arn.clone()).collect();
        let names: Vec<&str> = role.attached.iter().map(|a| a.name.as_str()).collect();
        let detail = if names.is_empty() {
            format!("nothing else trusted after removing {what}")
        } else {
            format!(
                "nothing else trusted after removing {what}; detach {} first",
                names.join(", ")
            )
        };
        let i = plan.push(
            Resource::Role,
            role_name,
            kind,
            Action::Delete,
            detail,
            Some(Op::DeleteRole {
                role: role_name.to_string(),
                detach,
            }),
            after,
        );
        fates.insert(role_name.to_string(), RoleFate::Deleted(i));
        Some(i)
    } else {
        let i = plan.push(
            Resource::Trust,
            role_name,
            kind,
            Action::Update,
            format!(
                "remove {what}; {} other statement(s) stay",
                policy::statements(&remaining).len()
            ),
            Some(Op::UpdateTrust {
                role: role_name.to_string(),
                document: policy::minify(&remaining),
            }),
            after,
        );
        fates.insert(role_name.to_string(), RoleFate::Updated(i, remaining));
        Some(i)
    }
}

/// The OIDC provider goes only when asked, and only when no role in the
/// account (as it will be after this plan) still trusts it.
fn plan_provider(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    provider_arn: &str,
    fates: &BTreeMap<String, RoleFate>,
) {
    if desired.irsa.is_empty() {
        return;
    }
    let name = observed.issuer_host.clone();
    let Some(provider) = &observed.oidc_provider else {
        plan.unchanged(Resource::OidcProvider, name, None, "does not exist");
        return;
    };
    if !desired.options.include_oidc_provider {
        plan.unchanged(
            Resource::OidcProvider,
            name,
            None,
            "kept (pass --include-oidc-provider to delete it)",
        );
        return;
    }
    if !is_ours(&provider.tags) && !desired.options.force {
        skip_foreign(plan, Resource::OidcProvider, &name, None);
        return;
    }
    // Not read: nothing says no role uses it, so it stays.
    let Some(role_trusts) = &observed.role_trusts else {
        plan.unchanged(
            Resource::OidcProvider,
            name,
            None,
            "kept: the account's roles were not read",
        );
        return;
    };
    let mut trusting = Vec::new();
    let mut after = Vec::new();
    for rt in role_trusts {
        let doc = match fates.get(&rt.name) {
            Some(RoleFate::Deleted(i)) => {
                after.push(Some(*i));
                continue;
            }
            Some(RoleFate::Updated(i, doc)) => {
                after.push(Some(*i));
                doc.clone()
            }
            _ => match serde_json::from_str(&rt.trust_policy) {
                Ok(doc) => doc,
                // An unreadable trust policy might name the provider: keep it.
                Err(_) => {
                    trusting.push(rt.name.clone());
                    continue;
                }
            },
        };
        if policy::mentions_federated(&doc, provider_arn) {
            trusting.push(rt.name.clone());
        }
    }
    if trusting.is_empty() {
        plan.push(
            Resource::OidcProvider,
            name,
            None,
            Action::Delete,
            "no role trusts it any more",
            Some(Op::DeleteOidcProvider {
                arn: provider.arn.clone(),
            }),
            &after,
        );
    } else {
        plan.unchanged(
            Resource::OidcProvider,
            name,
            None,
            format!("kept: still trusted by {}", trusting.join(", ")),
        );
    }
}
