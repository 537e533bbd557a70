//! EKS Pod Identity for an IRSA-style kind (ingest, query), and migrations
//! between the modes. Pod Identity needs no OIDC provider and no annotation:
//! a role trusted by pods.eks.amazonaws.com (narrowed to this account,
//! cluster, namespace and ServiceAccount), and an association binding the
//! ServiceAccount to it. A migration adds the new mode first (trust, then
//! association or annotation), then takes the old one away, so every step
//! can be interrupted and the next run finishes the job.

use super::setup::{Before, create_kind_role, judge_role, plan_attachment, update_trust};
use super::workloads::{self, Annotation};
use super::{Action, KindSummary, Op, Plan, Resource, TrustGrant, service_account};
use crate::observe::{Observed, ObservedRole};
use crate::ownership::{RoleRecipe, is_ours, service_account_is_ours};
use crate::policy::{self, IrsaSubject, PodIdentitySubject, PodIdentityTrust, TrustState};
use crate::recipe::{
    Desired, IdentityMode, IrsaSpec, MANAGED_BY, MANAGER, POD_IDENTITY_AGENT, ROLE_ARN_ANNOTATION,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The kind's Pod Identity subject: this account, cluster, namespace, ServiceAccount.
pub(super) fn subject(
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
) -> PodIdentitySubject {
    PodIdentitySubject {
        account: observed.account.id.clone(),
        cluster_arn: observed.cluster.arn.clone(),
        namespace: desired.namespace.clone(),
        service_account: spec.service_account.clone(),
    }
}

/// Setup in Pod Identity mode, or `migrate --to MODE`, for one kind.
pub(super) fn plan_kind(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    policy_arn: &str,
    policy_step: Option<usize>,
    before: Before,
) {
    let kind = Some(spec.kind);
    let ns = &desired.namespace;
    let who = format!("{ns}/{}", spec.service_account);
    let to_pod_identity = desired.mode == IdentityMode::PodIdentity;
    let pi = subject(desired, observed, spec);
    let irsa = observed.irsa_subject(ns, &spec.service_account);
    let observed_role = observed.roles.get(&spec.role_name).and_then(Option::as_ref);
    let role_arn = observed_role
        .map(|r| r.role.arn.clone())
        .unwrap_or_else(|| {
            observed
                .account
                .role(&desired.options.role_path, &spec.role_name)
        });

    // The role, trusted the new mode's way (others' statements kept).
    let (role_step, trust_step, trust_after_add) = match observed_role {
        None => {
            let (doc, grant, detail, after) = if to_pod_identity {
                (
                    pi.trust_policy(),
                    TrustGrant::PodIdentity(pi.clone()),
                    format!(
                        "trusted by {} for {who} (Pod Identity)",
                        policy::POD_IDENTITY_SERVICE
                    ),
                    None,
                )
            } else {
                (
                    irsa.trust_policy(),
                    TrustGrant::Irsa(irsa.clone()),
                    format!("trusted by {who} (sub and aud)"),
                    before.provider,
                )
            };
            let Some(step) = create_kind_role(
                plan,
                desired,
                observed,
                spec,
                doc.clone(),
                grant,
                detail,
                after,
            ) else {
                return;
            };
            (Some(step), None, doc)
        }
        Some(role) => {
            plan.unchanged(Resource::Role, &spec.role_name, kind, "exists");
            let recipe = if to_pod_identity {
                RoleRecipe::PodIdentity(&pi)
            } else {
                RoleRecipe::Irsa(&irsa, Some(&pi))
            };
            judge_role(
                plan,
                &spec.role_name,
                kind,
                role,
                &recipe,
                &spec.policy_name,
            );
            let (added, step) = add_trust(
                plan,
                observed,
                spec,
                role,
                &pi,
                &irsa,
                to_pod_identity,
                &who,
                before.provider,
            );
            (None, step, added)
        }
    };
    let attach_step = plan_attachment(
        plan,
        spec,
        observed_role,
        policy_arn,
        &[role_step, policy_step],
    );
    let trusted = [role_step, trust_step, attach_step, policy_step];

    let (switch_step, sa_since) = if to_pod_identity {
        // The association needs only the role: it goes beside the attachment,
        // so a fresh setup is three round trips deep.
        let association = plan_association(
            plan,
            desired,
            observed,
            spec,
            &role_arn,
            &[role_step, trust_step],
        );
        let annotation = plan_pod_identity_service_account(
            plan,
            desired,
            observed,
            spec,
            &role_arn,
            before.namespace,
            association,
        );
        plan_agent(plan, desired, observed);
        warn_fargate(plan, desired, observed);
        (annotation.or(association), None)
    } else {
        let sa = service_account::plan_service_account(
            plan,
            desired,
            observed,
            spec,
            &role_arn,
            &[
                trusted[0],
                trusted[1],
                trusted[2],
                trusted[3],
                before.namespace,
            ],
        );
        let gone = plan_association_removal(plan, desired, observed, spec, &role_arn, sa.step);
        (gone.or(sa.step), sa.since)
    };

    // The old mode's statement goes last, and only when asked.
    if desired.migrating && desired.options.remove_old_trust {
        let removed = if to_pod_identity {
            irsa.remove_from(&trust_after_add)
        } else {
            pi.remove_from(&trust_after_add)
        };
        let old = if to_pod_identity {
            "IRSA"
        } else {
            "Pod Identity"
        };
        if removed != trust_after_add && observed_role.is_some() {
            plan.push(
                Resource::Trust,
                &spec.role_name,
                kind,
                Action::Update,
                format!("remove the {old} statement for {who} (--remove-old-trust)"),
                Some(Op::UpdateTrust {
                    role: spec.role_name.clone(),
                    document: policy::minify(&removed),
                }),
                &[switch_step, trust_step],
            );
        } else {
            plan.unchanged(
                Resource::Trust,
                &spec.role_name,
                kind,
                format!("no {old} statement for {who}"),
            );
        }
    }

    // Pods keep the credentials they started with.
    let changing = plan.changes.iter().any(|c| {
        c.op.is_some()
            && matches!(c.resource, Resource::ServiceAccount | Resource::Association)
            && c.kind == kind
    });
    workloads::plan_workloads(
        plan,
        desired,
        observed,
        spec,
        &Annotation {
            role_arn: &role_arn,
            changing,
            since: sa_since.as_deref(),
            mode: desired.mode,
        },
        &[switch_step, role_step, trust_step, attach_step, policy_step],
    );

    plan.kinds.insert(
        spec.kind,
        KindSummary {
            role_arn,
            policy_arn: Some(policy_arn.to_string()),
            service_account: Some(who),
            source_arn: None,
        },
    );
}

/// Adds the target mode's statement to an existing role's trust. Returns the
/// trust as it will be, and the change that writes it.
#[allow(clippy::too_many_arguments)] // the two subjects and where they come from
fn add_trust(
    plan: &mut Plan,
    observed: &Observed,
    spec: &IrsaSpec,
    role: &ObservedRole,
    pi: &PodIdentitySubject,
    irsa: &IrsaSubject,
    to_pod_identity: bool,
    who: &str,
    provider: Option<usize>,
) -> (Value, Option<usize>) {
    let kind = Some(spec.kind);
    let (added, detail, after) = if to_pod_identity {
        match pi.state(&role.trust) {
            PodIdentityTrust::Trusted => {
                plan.unchanged(
                    Resource::Trust,
                    &spec.role_name,
                    kind,
                    format!("trusted by {} for {who}", policy::POD_IDENTITY_SERVICE),
                );
                return (role.trust.clone(), None);
            }
            PodIdentityTrust::OtherCluster { .. } => (
                pi.add_to(&role.trust),
                format!(
                    "add cluster {} to the Pod Identity statement for {who}",
                    pi.cluster_arn
                ),
                None,
            ),
            PodIdentityTrust::Missing => (
                pi.add_to(&role.trust),
                format!(
                    "add a Pod Identity statement for {who} (keeping {} existing statement(s))",
                    policy::statements(&role.trust).len()
                ),
                None,
            ),
        }
    } else {
        match irsa.state(&role.trust) {
            TrustState::Trusted => {
                plan.unchanged(
                    Resource::Trust,
                    &spec.role_name,
                    kind,
                    format!("trusted by {who}"),
                );
                return (role.trust.clone(), None);
            }
            _ => (
                irsa.add_to(&role.trust),
                format!("add IRSA trust for {who}"),
                provider,
            ),
        }
    };
    match update_trust(
        plan,
        observed,
        &spec.role_name,
        spec.kind,
        added.clone(),
        detail,
        after,
    ) {
        Some(step) => (added, Some(step)),
        None => (role.trust.clone(), None),
    }
}

/// The association of the ServiceAccount: created (tagged as the tool's),
/// unchanged, or repointed only with `--overwrite`.
fn plan_association(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    role_arn: &str,
    after: &[Option<usize>],
) -> Option<usize> {
    let kind = Some(spec.kind);
    let who = format!("{}/{}", desired.namespace, spec.service_account);
    let found = observed
        .associations
        .get(&spec.service_account)
        .and_then(|a| a.first());
    match found {
        None => Some(plan.push(
            Resource::Association,
            &who,
            kind,
            Action::Create,
            format!("{who} → {role_arn}"),
            Some(Op::CreateAssociation {
                cluster: desired.cluster.clone(),
                namespace: desired.namespace.clone(),
                service_account: spec.service_account.clone(),
                role_arn: role_arn.to_string(),
                tags: desired.tags(),
            }),
            after,
        )),
        Some(a) if a.role_arn == role_arn => {
            plan.unchanged(
                Resource::Association,
                &who,
                kind,
                format!("{} → {role_arn}", a.id),
            );
            None
        }
        Some(a) if desired.options.overwrite => Some(plan.push(
            Resource::Association,
            &who,
            kind,
            Action::Update,
            format!(
                "repoint {} from {} to {role_arn} (--overwrite)",
                a.id, a.role_arn
            ),
            Some(Op::UpdateAssociation {
                cluster: desired.cluster.clone(),
                id: a.id.clone(),
                role_arn: role_arn.to_string(),
            }),
            after,
        )),
        Some(a) => {
            plan.refuse(
                Resource::Association,
                &who,
                kind,
                Action::Update,
                format!(
                    "the Pod Identity association {} binds {who} to {}, another role than {role_arn}: pass --overwrite to repoint it",
                    a.id, a.role_arn
                ),
            );
            None
        }
    }
}

/// Pod Identity mode's ServiceAccount: created when missing (no annotation).
/// An IRSA annotation wins in the SDKs' credential chain: a migration removes
/// it (guarded) once the association is in place; setup says so.
fn plan_pod_identity_service_account(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    role_arn: &str,
    namespace_step: Option<usize>,
    association: Option<usize>,
) -> Option<usize> {
    let kind = Some(spec.kind);
    let ns = &desired.namespace;
    let who = format!("{ns}/{}", spec.service_account);
    let existing = observed
        .service_accounts
        .get(&spec.service_account)
        .and_then(Option::as_ref);
    let Some(sa) = existing else {
        return Some(plan.push(
            Resource::ServiceAccount,
            &who,
            kind,
            Action::Create,
            "no annotation: Pod Identity binds it by association",
            Some(Op::ApplyServiceAccount {
                namespace: ns.clone(),
                name: spec.service_account.clone(),
                annotations: BTreeMap::new(),
                labels: BTreeMap::from([(MANAGED_BY.to_string(), MANAGER.to_string())]),
            }),
            &[namespace_step],
        ));
    };
    let Some(current) = sa.annotations.get(ROLE_ARN_ANNOTATION) else {
        plan.unchanged(Resource::ServiceAccount, &who, kind, "no IRSA annotation");
        return None;
    };
    if !desired.migrating {
        plan.warnings.push(format!(
            "ServiceAccount {who} is annotated {ROLE_ARN_ANNOTATION}={current}: IRSA wins in the AWS SDKs' credential chain, so its pods keep using IRSA until the annotation goes (`kubectl amp-iam migrate {} --to pod-identity -n {ns}` removes it once the association is in place)",
            spec.kind
        ));
        plan.unchanged(
            Resource::ServiceAccount,
            &who,
            kind,
            format!("{ROLE_ARN_ANNOTATION}={current}"),
        );
        return None;
    }
    if current != role_arn && !desired.options.overwrite {
        plan.refuse(
            Resource::ServiceAccount,
            &who,
            kind,
            Action::Update,
            format!(
                "ServiceAccount {who} is annotated {ROLE_ARN_ANNOTATION}={current}, another role than {role_arn}: pass --overwrite to remove it anyway"
            ),
        );
        return None;
    }
    Some(plan.push(
        Resource::ServiceAccount,
        &who,
        kind,
        Action::Update,
        format!(
            "remove {ROLE_ARN_ANNOTATION} (IRSA would win over Pod Identity); the account stays"
        ),
        Some(Op::RemoveAnnotation {
            namespace: ns.clone(),
            name: spec.service_account.clone(),
            key: ROLE_ARN_ANNOTATION.to_string(),
            expected: current.clone(),
        }),
        &[association],
    ))
}

/// `migrate --to irsa`: the association goes once the annotation is in
/// place; one the tool did not create is left alone (IRSA wins anyway).
fn plan_association_removal(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    role_arn: &str,
    annotated: Option<usize>,
) -> Option<usize> {
    let kind = Some(spec.kind);
    let who = format!("{}/{}", desired.namespace, spec.service_account);
    let Some(a) = observed
        .associations
        .get(&spec.service_account)
        .and_then(|a| a.first())
    else {
        plan.unchanged(Resource::Association, &who, kind, "none");
        return None;
    };
    if a.role_arn != role_arn || !(is_ours(&a.tags) || desired.options.force) {
        plan.unchanged(
            Resource::Association,
            &who,
            kind,
            format!("{} kept (not made by kubectl-amp-iam for {role_arn})", a.id),
        );
        plan.warnings.push(format!(
            "the Pod Identity association {} of {who} was left in place: IRSA takes precedence in the SDKs, delete it with `aws eks delete-pod-identity-association --cluster-name {} --association-id {}` when no longer needed",
            a.id, desired.cluster, a.id
        ));
        return None;
    }
    Some(plan.push(
        Resource::Association,
        &who,
        kind,
        Action::Delete,
        format!("{} (IRSA from now on)", a.id),
        Some(Op::DeleteAssociation {
            cluster: desired.cluster.clone(),
            id: a.id.clone(),
        }),
        &[annotated],
    ))
}

/// The node agent that hands out Pod Identity credentials; only once a run.
fn plan_agent(plan: &mut Plan, desired: &Desired, observed: &Observed) {
    if plan.changes.iter().any(|c| c.resource == Resource::Addon) {
        return;
    }
    match &observed.agent {
        None => {}
        Some(Some(a)) if a.status == "ACTIVE" => {
            plan.unchanged(Resource::Addon, POD_IDENTITY_AGENT, None, "ACTIVE");
        }
        Some(Some(a)) => {
            plan.unchanged(Resource::Addon, POD_IDENTITY_AGENT, None, a.status.clone());
            if a.status != "CREATING" && a.status != "UPDATING" {
                plan.find(
                    Resource::Addon,
                    POD_IDENTITY_AGENT,
                    None,
                    None,
                    format!(
                        "is {}: pods get no Pod Identity credentials until it is ACTIVE",
                        a.status
                    ),
                );
            }
        }
        Some(None) if desired.options.install_agent => {
            plan.push(
                Resource::Addon,
                POD_IDENTITY_AGENT,
                None,
                Action::Create,
                "not installed (--install-agent)",
                Some(Op::CreateAddon {
                    cluster: desired.cluster.clone(),
                    name: POD_IDENTITY_AGENT.to_string(),
                    tags: desired.tags(),
                }),
                &[],
            );
        }
        Some(None) => {
            plan.find(
                Resource::Addon,
                POD_IDENTITY_AGENT,
                None,
                None,
                format!(
                    "is not installed on cluster {}: pods get no Pod Identity credentials (pass --install-agent, or ignore this if you run the agent yourself)",
                    desired.cluster
                ),
            );
        }
    }
}

/// Pod Identity does not work for pods that run on Fargate.
fn warn_fargate(plan: &mut Plan, desired: &Desired, observed: &Observed) {
    for s in &observed.fargate_selectors {
        let warning = format!(
            "Fargate profile {} selects namespace {}: Pod Identity does not work on Fargate pods, use --mode irsa for the ones that run there",
            s.profile, s.namespace
        );
        if policy::glob_match(&s.namespace, &desired.namespace) && !plan.warnings.contains(&warning)
        {
            plan.warnings.push(warning);
        }
    }
}

/// What teardown does with the ServiceAccount's association.
pub(super) enum AssociationFate {
    /// None binds the role.
    Absent,
    /// Ours: deleted by this change; the role's statement may go after it.
    Deleted(usize),
    /// Someone else's binds the role: the role and its statement stay.
    Kept,
}

/// Teardown in Pod Identity mode: the association the tool made goes first,
/// then the statement, then (as for IRSA) a role that trusts nothing else.
pub(super) fn plan_association_teardown(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    role_arn: &str,
) -> AssociationFate {
    let kind = Some(spec.kind);
    let who = format!("{}/{}", desired.namespace, spec.service_account);
    let Some(a) = observed
        .associations
        .get(&spec.service_account)
        .and_then(|a| a.first())
    else {
        plan.unchanged(Resource::Association, &who, kind, "does not exist");
        return AssociationFate::Absent;
    };
    if a.role_arn != role_arn {
        plan.unchanged(
            Resource::Association,
            &who,
            kind,
            format!("{} binds another role ({}): kept", a.id, a.role_arn),
        );
        return AssociationFate::Absent;
    }
    if !is_ours(&a.tags) && !desired.options.force {
        plan.unchanged(
            Resource::Association,
            &who,
            kind,
            "not tagged as made by kubectl-amp-iam: skipped (pass --force to remove it)",
        );
        plan.warnings.push(format!(
            "association {} of {who} was not made by kubectl-amp-iam: left alone, and role {} with it (it still binds it); --force removes both",
            a.id, spec.role_name
        ));
        return AssociationFate::Kept;
    }
    AssociationFate::Deleted(plan.push(
        Resource::Association,
        &who,
        kind,
        Action::Delete,
        format!("{} → {role_arn}, made by kubectl-amp-iam", a.id),
        Some(Op::DeleteAssociation {
            cluster: desired.cluster.clone(),
            id: a.id.clone(),
        }),
        &[],
    ))
}

/// Teardown: a ServiceAccount the tool created goes; others stay untouched
/// (Pod Identity wrote nothing on them).
pub(super) fn plan_service_account_teardown(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
) -> Option<usize> {
    let kind = Some(spec.kind);
    let who = format!("{}/{}", desired.namespace, spec.service_account);
    match observed
        .service_accounts
        .get(&spec.service_account)
        .and_then(Option::as_ref)
    {
        Some(sa) if service_account_is_ours(sa) => Some(plan.push(
            Resource::ServiceAccount,
            &who,
            kind,
            Action::Delete,
            "created by kubectl-amp-iam",
            Some(Op::DeleteServiceAccount {
                namespace: desired.namespace.clone(),
                name: spec.service_account.clone(),
            }),
            &[],
        )),
        Some(_) => {
            plan.unchanged(
                Resource::ServiceAccount,
                &who,
                kind,
                "not created by kubectl-amp-iam: kept",
            );
            None
        }
        None => {
            plan.unchanged(Resource::ServiceAccount, &who, kind, "does not exist");
            None
        }
    }
}
