//! Planning `setup`: from what exists to what AMP needs, adding and never
//! taking away.

use super::{
    Action, KindSummary, Op, Plan, Resource, TrustGrant, service_account, workloads, workspace,
};
use crate::aws::NewRole;
use crate::observe::{Observed, ObservedPolicy, ObservedRole};
use crate::ownership::{self, PolicyStanding, RoleRecipe, RoleStanding};
use crate::policy::{self, FargateTrust, IrsaSubject, TrustState};
use crate::recipe::{Desired, FARGATE_MANAGED_POLICY, FargateSpec, IdentityMode, IrsaSpec, Kind};
use serde_json::Value;

pub fn setup(desired: &Desired, observed: &Observed) -> Plan {
    let mut plan = Plan::new("setup", desired, observed);
    // Pod Identity needs no OIDC provider (nor does a migration to it).
    let provider = (!desired.irsa.is_empty() && desired.mode == IdentityMode::Irsa)
        .then(|| plan_provider(&mut plan, desired, observed));
    let namespace = (!desired.irsa.is_empty())
        .then(|| plan_namespace(&mut plan, desired, observed))
        .flatten();
    let scope = workspace::plan_workspace(&mut plan, desired, observed);
    for spec in &desired.irsa {
        plan_irsa(
            &mut plan,
            desired,
            observed,
            spec,
            Before {
                provider: provider.flatten(),
                namespace,
                workspace: scope.1,
            },
            &scope.0,
        );
    }
    if let Some(fargate) = &desired.fargate {
        plan_fargate(&mut plan, desired, observed, fargate);
    }
    plan
}

/// The IAM OIDC provider for the cluster's issuer. Returns the index of the
/// change that roles must wait for, if any.
fn plan_provider(plan: &mut Plan, desired: &Desired, observed: &Observed) -> Option<usize> {
    let name = observed.issuer_host.clone();
    let audience = policy::STS_AUDIENCE.to_string();
    match &observed.oidc_provider {
        None => Some(plan.push(
            Resource::OidcProvider,
            name,
            None,
            Action::Create,
            format!("client id {audience}"),
            Some(Op::CreateOidcProvider {
                arn: observed.provider_arn(),
                url: format!("https://{}", observed.issuer_host),
                client_id: audience,
                tags: desired.tags(),
            }),
            &[],
        )),
        Some(p) if !p.client_ids.contains(&audience) => {
            let kept = if p.client_ids.is_empty() {
                String::new()
            } else {
                format!(" (keeping {})", p.client_ids.join(", "))
            };
            Some(plan.push(
                Resource::OidcProvider,
                name,
                None,
                Action::Update,
                format!("add client id {audience}{kept}"),
                Some(Op::AddOidcClientId {
                    arn: p.arn.clone(),
                    client_id: audience,
                }),
                &[],
            ))
        }
        Some(_) => {
            plan.unchanged(
                Resource::OidcProvider,
                name,
                None,
                format!("exists with client id {audience}"),
            );
            None
        }
    }
}

fn plan_namespace(plan: &mut Plan, desired: &Desired, observed: &Observed) -> Option<usize> {
    match observed.namespace_exists {
        Some(false) => Some(plan.push(
            Resource::Namespace,
            desired.namespace.clone(),
            None,
            Action::Create,
            "does not exist yet",
            Some(Op::CreateNamespace {
                name: desired.namespace.clone(),
            }),
            &[],
        )),
        _ => None,
    }
}

/// Trust, size-checked against the account's quota. Returns the new
/// document, or None after a refusal. Over IAM's default and with the real
/// quota not read yet, the plan asks for it (and is made again once read).
pub(super) fn checked_trust(
    plan: &mut Plan,
    observed: &Observed,
    role: &str,
    kind: Kind,
    doc: Value,
) -> Option<String> {
    let text = policy::minify(&doc);
    // IAM counts characters of the minified document.
    let size = text.chars().count();
    let quota = observed.trust_quota.unwrap_or(policy::TRUST_POLICY_LIMIT);
    if size <= quota {
        return Some(text);
    }
    if observed.trust_quota.is_none() {
        plan.needs_trust_quota = true;
    }
    plan.refuse(
        Resource::Trust,
        role,
        Some(kind),
        Action::Update,
        format!(
            "the trust policy of role {role} would be {size} characters, over this account's quota of \
             {quota} (IAM AssumeRolePolicySizeQuota, from GetAccountSummary): remove statements it no \
             longer needs, or raise the quota \"Role trust policy length\" in Service Quotas (IAM, up \
             to 4,096), then run again"
        ),
    );
    None
}

/// A role's new trust, size-checked (None after a refusal), written after `after`.
pub(super) fn update_trust(
    plan: &mut Plan,
    observed: &Observed,
    role_name: &str,
    kind: Kind,
    document: Value,
    detail: String,
    after: Option<usize>,
) -> Option<usize> {
    let document = checked_trust(plan, observed, role_name, kind, document)?;
    Some(plan.push(
        Resource::Trust,
        role_name,
        Some(kind),
        Action::Update,
        detail,
        Some(Op::UpdateTrust {
            role: role_name.to_string(),
            document,
        }),
        &[after],
    ))
}

/// The role of an IRSA-style kind, created with `trust` (size-checked; None
/// after a refusal). Both modes, and migrations, create it this way.
#[allow(clippy::too_many_arguments)] // the fields of one change
pub(super) fn create_kind_role(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    trust: Value,
    grant: TrustGrant,
    detail: String,
    after: Option<usize>,
) -> Option<usize> {
    let who = format!("{}/{}", desired.namespace, spec.service_account);
    let trust = checked_trust(plan, observed, &spec.role_name, spec.kind, trust)?;
    Some(plan.push(
        Resource::Role,
        &spec.role_name,
        Some(spec.kind),
        Action::Create,
        detail,
        Some(Op::CreateRole {
            role: new_role(
                desired,
                &spec.role_name,
                trust,
                format!(
                    "AMP {} for {who} on EKS cluster {}",
                    spec.kind, desired.cluster
                ),
            ),
            grant,
        }),
        &[after],
    ))
}

pub(super) fn new_role(
    desired: &Desired,
    name: &str,
    trust: String,
    description: String,
) -> NewRole {
    NewRole {
        name: name.to_string(),
        path: desired.options.role_path.clone(),
        trust_policy: trust,
        description,
        tags: desired.tags(),
        permissions_boundary: desired.options.permissions_boundary.clone(),
    }
}

/// The shared steps an IRSA kind's changes wait for.
pub(super) struct Before {
    pub provider: Option<usize>,
    pub namespace: Option<usize>,
    /// The workspace this plan creates (the policies name its id).
    pub workspace: Option<usize>,
}

fn plan_irsa(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    before: Before,
    resource: &str,
) {
    let kind = Some(spec.kind);
    let account = &observed.account;
    let ns = &desired.namespace;
    let provider = before.provider;

    let (policy_arn, policy_step) =
        plan_permission_policy(plan, desired, observed, spec, resource, before.workspace);
    if desired.mode == IdentityMode::PodIdentity || desired.migrating {
        super::pod_identity::plan_kind(
            plan,
            desired,
            observed,
            spec,
            &policy_arn,
            policy_step,
            before,
        );
        return;
    }

    // The role and its trust for exactly this ServiceAccount.
    let subject = IrsaSubject {
        provider_arn: observed.provider_arn(),
        host_path: observed.issuer_host.clone(),
        namespace: ns.clone(),
        service_account: spec.service_account.clone(),
    };
    let who = format!("{ns}/{}", spec.service_account);
    let observed_role = observed.roles.get(&spec.role_name).and_then(Option::as_ref);
    let role_arn = observed_role
        .map(|r| r.role.arn.clone())
        .unwrap_or_else(|| account.role(&desired.options.role_path, &spec.role_name));
    let role_step = match observed_role {
        None => {
            let Some(step) = create_kind_role(
                plan,
                desired,
                observed,
                spec,
                subject.trust_policy(),
                TrustGrant::Irsa(subject.clone()),
                format!("trusted by {who} (sub and aud)"),
                provider,
            ) else {
                return;
            };
            Some(step)
        }
        Some(role) => {
            plan.unchanged(Resource::Role, &spec.role_name, kind, "exists");
            judge_role(
                plan,
                &spec.role_name,
                kind,
                role,
                &RoleRecipe::Irsa(
                    &subject,
                    Some(&super::pod_identity::subject(desired, observed, spec)),
                ),
                &spec.policy_name,
            );
            plan_irsa_trust(plan, observed, spec, role, &subject, &who, provider)
        }
    };

    let attach_step = plan_attachment(
        plan,
        spec,
        observed_role,
        &policy_arn,
        &[role_step, policy_step],
    );

    let sa = service_account::plan_service_account(
        plan,
        desired,
        observed,
        spec,
        &role_arn,
        &[role_step, before.namespace],
    );
    // Pods pick the role up when they start: after the annotation, the trust
    // and the permissions are all in place.
    workloads::plan_workloads(
        plan,
        desired,
        observed,
        spec,
        &workloads::Annotation {
            role_arn: &role_arn,
            changing: sa.changing,
            since: sa.since.as_deref(),
            mode: IdentityMode::Irsa,
        },
        &[sa.step, role_step, attach_step, policy_step],
    );

    plan.kinds.insert(
        spec.kind,
        KindSummary {
            role_arn,
            policy_arn: Some(policy_arn),
            service_account: Some(who),
            source_arn: None,
        },
    );
}

/// The AMP permission policy of a kind (both modes): created, unchanged, or
/// given a new default version. Returns its ARN and the change that makes it.
pub(super) fn plan_permission_policy(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    spec: &IrsaSpec,
    resource: &str,
    workspace_step: Option<usize>,
) -> (String, Option<usize>) {
    let kind = Some(spec.kind);
    let account = &observed.account;
    // The permission policy, scoped to the workspace when there is one.
    let wanted = policy::permission_policy(&spec.actions, resource);
    let observed_policy = observed
        .policies
        .get(&spec.policy_name)
        .and_then(Option::as_ref);
    let policy_arn = observed_policy
        .map(|p| p.summary.arn.clone())
        .unwrap_or_else(|| account.policy(&desired.options.role_path, &spec.policy_name));
    plan.policy_documents
        .insert(policy_arn.clone(), policy::minify(&wanted));
    let summary = format!(
        "{} on {}",
        spec.actions.join(", "),
        resource.replace(super::CREATED_WORKSPACE, "<the workspace created above>")
    );
    let policy_step = match observed_policy {
        None => Some(plan.push(
            Resource::Policy,
            &spec.policy_name,
            kind,
            Action::Create,
            summary,
            Some(Op::CreatePolicy {
                name: spec.policy_name.clone(),
                path: desired.options.role_path.clone(),
                arn: policy_arn.clone(),
                document: policy::minify(&wanted),
                tags: desired.tags(),
            }),
            &[workspace_step],
        )),
        Some(p) => plan_policy_update(plan, desired, spec, p, &wanted, summary, workspace_step),
    };

    (policy_arn, policy_step)
}

/// The policy attached to the kind's role (both modes), after `after`.
pub(super) fn plan_attachment(
    plan: &mut Plan,
    spec: &IrsaSpec,
    role: Option<&ObservedRole>,
    policy_arn: &str,
    after: &[Option<usize>],
) -> Option<usize> {
    let kind = Some(spec.kind);
    let attached = role
        .map(|r| r.attached.iter().any(|a| a.arn == policy_arn))
        .unwrap_or(false);
    if attached {
        plan.unchanged(
            Resource::Attachment,
            &spec.role_name,
            kind,
            format!("{} attached", spec.policy_name),
        );
        return None;
    }
    Some(plan.push(
        Resource::Attachment,
        &spec.role_name,
        kind,
        Action::Create,
        format!("attach {}", spec.policy_name),
        Some(Op::AttachPolicy {
            role: spec.role_name.clone(),
            policy_arn: policy_arn.to_string(),
        }),
        after,
    ))
}

/// An existing permission policy: unchanged when it says what the recipe says;
/// a new default version when it is ours or nobody else's (deleting older
/// versions that grant more); refused when it is someone else's and shared.
fn plan_policy_update(
    plan: &mut Plan,
    desired: &Desired,
    spec: &IrsaSpec,
    p: &ObservedPolicy,
    wanted: &Value,
    summary: String,
    workspace_step: Option<usize>,
) -> Option<usize> {
    let kind = Some(spec.kind);
    let name = &spec.policy_name;
    let standing = ownership::policy_standing(p, &spec.role_name, wanted);
    if let PolicyStanding::Shared { others, beyond } = &standing {
        let grants = if beyond.is_empty() {
            String::new()
        } else {
            format!("; it grants {} beyond the recipe", beyond.join(", "))
        };
        plan.find(
            Resource::Policy,
            name,
            kind,
            None,
            format!(
                "was not made by kubectl-amp-iam, differs from the recipe and is attached to {}{grants}: a new default version would change their permissions",
                others.join(", ")
            ),
        );
    }
    if policy::same_meaning(&p.document, wanted) {
        plan.unchanged(Resource::Policy, name, kind, summary);
        return None;
    }
    if let PolicyStanding::Shared { others, .. } = &standing
        && !desired.options.overwrite
    {
        plan.refuse(
            Resource::Policy,
            name,
            kind,
            Action::Update,
            format!(
                "policy {name} was not made by kubectl-amp-iam, differs from the recipe ({}) and is also attached to {}: rewriting it would change their permissions. Pass --overwrite to rewrite it anyway, or choose another --policy-name",
                policy::permission_diff(&p.document, wanted),
                others.join(", ")
            ),
        );
        return None;
    }
    let more = ownership::versions_granting_more(p, wanted);
    let mut delete_after: Vec<String> = more.iter().map(|(id, _)| id.clone()).collect();
    // IAM keeps at most 5 versions: one must go first. A version that grants
    // more goes anyway; else the oldest non-default one.
    let delete_first = (p.versions.len() >= 5)
        .then(|| {
            let non_default = |id: &String| p.versions.iter().any(|v| &v.id == id && !v.is_default);
            delete_after
                .iter()
                .find(|id| non_default(id))
                .cloned()
                .or_else(|| {
                    p.versions
                        .iter()
                        .filter(|v| !v.is_default)
                        .min_by_key(|v| v.created)
                        .map(|v| v.id.clone())
                })
        })
        .flatten();
    delete_after.retain(|id| Some(id) != delete_first.as_ref());
    let mut detail = format!(
        "new default version: {}",
        policy::permission_diff(&p.document, wanted)
    );
    if let Some(v) = &delete_first {
        detail.push_str(&format!(" (deletes version {v} first: IAM keeps 5)"));
    }
    if !more.is_empty() {
        let listed: Vec<String> = more
            .iter()
            .map(|(id, beyond)| format!("{id} ({})", beyond.join(", ")))
            .collect();
        detail.push_str(&format!(
            "; deletes the versions that grant more: {}",
            listed.join("; ")
        ));
    }
    if matches!(standing, PolicyStanding::Shared { .. }) {
        detail.push_str(" (--overwrite)");
    } else if matches!(standing, PolicyStanding::Adoptable) {
        detail.push_str(" (not made by kubectl-amp-iam; attached to no one else)");
    }
    Some(plan.push(
        Resource::Policy,
        name,
        kind,
        Action::Update,
        detail,
        Some(Op::UpdatePolicy {
            arn: p.summary.arn.clone(),
            document: policy::minify(wanted),
            delete_first,
            delete_after,
        }),
        &[workspace_step],
    ))
}

/// A role the tool did not create, judged against the recipe: each statement
/// that lets someone else in is a finding (and a warning at setup).
pub(super) fn judge_role(
    plan: &mut Plan,
    role_name: &str,
    kind: Option<Kind>,
    role: &ObservedRole,
    recipe: &RoleRecipe<'_>,
    policy_name: &str,
) {
    if let RoleStanding::Wider(findings) = ownership::role_standing(role, recipe) {
        for f in findings {
            plan.find(
                Resource::Role,
                role_name,
                kind,
                Some(f.statement.clone()),
                format!(
                    "{} (the role was not made by kubectl-amp-iam: {policy_name} on it grants its permissions to them too)",
                    f.risk
                ),
            );
        }
    }
}

fn plan_irsa_trust(
    plan: &mut Plan,
    observed: &Observed,
    spec: &IrsaSpec,
    role: &ObservedRole,
    subject: &IrsaSubject,
    who: &str,
    provider: Option<usize>,
) -> Option<usize> {
    let kind = Some(spec.kind);
    let detail = match subject.state(&role.trust) {
        TrustState::Trusted => {
            plan.unchanged(
                Resource::Trust,
                &spec.role_name,
                kind,
                format!("trusted by {who}"),
            );
            return None;
        }
        TrustState::MissingAudience { .. } => {
            format!("add the aud = {} condition for {who}", policy::STS_AUDIENCE)
        }
        TrustState::Missing => {
            let others = policy::statements(&role.trust).len();
            format!("add trust for {who} (keeping {others} existing statement(s))")
        }
    };
    update_trust(
        plan,
        observed,
        &spec.role_name,
        spec.kind,
        subject.add_to(&role.trust),
        detail,
        provider,
    )
}

fn plan_fargate(plan: &mut Plan, desired: &Desired, observed: &Observed, spec: &FargateSpec) {
    let kind = Some(Kind::Fargate);
    let account = &observed.account;
    let source = spec.source_arn(account, &desired.region, &desired.cluster);
    let role_name = &spec.role_name;
    let observed_role = observed.roles.get(role_name).and_then(Option::as_ref);
    let role_arn = observed_role
        .map(|r| r.role.arn.clone())
        .unwrap_or_else(|| account.role(&desired.options.role_path, role_name));
    let managed = account.aws_managed_policy(FARGATE_MANAGED_POLICY);
    if spec.all_regions || spec.all_clusters {
        let widened = match (spec.all_regions, spec.all_clusters) {
            (true, true) => "every cluster in every region",
            (true, false) => "this cluster's name in every region",
            _ => "every cluster in this region",
        };
        plan.warnings.push(format!(
            "the Fargate trust covers {widened} of account {} ({source})",
            account.id
        ));
    }

    // The pod execution role must not be a node group's instance role.
    if let Some(ng) = observed
        .nodegroup_roles
        .iter()
        .find(|ng| ng.role_arn == role_arn || ng.role_arn.ends_with(&format!("/{role_name}")))
    {
        plan.refuse(
            Resource::Role,
            role_name,
            kind,
            Action::Update,
            format!(
                "role {role_name} is the instance role of node group {}: the Fargate pod execution \
                 role must be a different role (choose another --role-name)",
                ng.nodegroup
            ),
        );
        return;
    }

    let role_step = match observed_role {
        None => {
            let trust = policy::minify(&policy::fargate_trust_policy(&source));
            Some(plan.push(
                Resource::Role,
                role_name,
                kind,
                Action::Create,
                format!("trusted by eks-fargate-pods.amazonaws.com for {source}"),
                Some(Op::CreateRole {
                    role: new_role(
                        desired,
                        role_name,
                        trust,
                        "EKS Fargate pod execution role".to_string(),
                    ),
                    grant: TrustGrant::Fargate {
                        source_arn: source.clone(),
                    },
                }),
                &[],
            ))
        }
        Some(role) => {
            plan.unchanged(Resource::Role, role_name, kind, "exists");
            judge_role(
                plan,
                role_name,
                kind,
                role,
                &RoleRecipe::Fargate {
                    source_arn: &source,
                },
                FARGATE_MANAGED_POLICY,
            );
            plan_fargate_trust(plan, desired, observed, role_name, role, &source)
        }
    };

    let attached = observed_role
        .map(|r| r.attached.iter().any(|a| a.arn == managed))
        .unwrap_or(false);
    if attached {
        plan.unchanged(
            Resource::Attachment,
            role_name,
            kind,
            format!("{FARGATE_MANAGED_POLICY} attached"),
        );
    } else {
        plan.push(
            Resource::Attachment,
            role_name,
            kind,
            Action::Create,
            format!("attach {FARGATE_MANAGED_POLICY}"),
            Some(Op::AttachPolicy {
                role: role_name.clone(),
                policy_arn: managed.clone(),
            }),
            &[role_step],
        );
    }
    plan.kinds.insert(
        Kind::Fargate,
        KindSummary {
            role_arn,
            policy_arn: Some(managed),
            service_account: None,
            source_arn: Some(source),
        },
    );
}

fn plan_fargate_trust(
    plan: &mut Plan,
    desired: &Desired,
    observed: &Observed,
    role_name: &str,
    role: &ObservedRole,
    source: &str,
) -> Option<usize> {
    let kind = Some(Kind::Fargate);
    let (document, detail) = match policy::fargate_trust(&role.trust, source) {
        FargateTrust::Covered => {
            plan.unchanged(Resource::Trust, role_name, kind, format!("covers {source}"));
            return None;
        }
        FargateTrust::NotCovered { index, sources } => (
            policy::add_fargate_source(&role.trust, index, source),
            format!(
                "add {source} to aws:SourceArn (keeping {})",
                sources.join(", ")
            ),
        ),
        FargateTrust::Unconditioned { index } => {
            let risk = format!(
                "role {role_name} lets Fargate pods of any cluster assume it (no aws:SourceArn \
                 condition: a confused-deputy risk)"
            );
            if !desired.options.harden {
                plan.warnings.push(format!(
                    "{risk}; pass --harden to restrict it to {source} (other clusters that use the role then need their own entry)"
                ));
                plan.unchanged(
                    Resource::Trust,
                    role_name,
                    kind,
                    "covers every cluster (no aws:SourceArn)",
                );
                return None;
            }
            (
                policy::add_fargate_source(&role.trust, index, source),
                format!("restrict to aws:SourceArn {source} (--harden)"),
            )
        }
        FargateTrust::NoStatement if desired.options.overwrite => (
            policy::add_fargate_statement(&role.trust, source),
            format!("add a Fargate statement for {source}, keeping the others (--overwrite)"),
        ),
        FargateTrust::NoStatement => {
            plan.refuse(
                Resource::Trust,
                role_name,
                kind,
                Action::Update,
                format!(
                    "role {role_name} has no statement letting {} assume it (made for something \
                     else?): pass --overwrite to add one, keeping its other statements, or choose another --role-name",
                    policy::FARGATE_SERVICE
                ),
            );
            return None;
        }
    };
    update_trust(
        plan,
        observed,
        role_name,
        Kind::Fargate,
        document,
        detail,
        None,
    )
}
