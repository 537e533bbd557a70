//! Ownership: the one rule set setup, status and teardown share.
//!
//! - What the tool created carries its tag (IAM) or label (Kubernetes): it is
//!   the tool's to change and to delete.
//! - What it did not create it adopts only when that is no wider than the
//!   recipe: a role whose trust lets nobody else in, a policy that says what
//!   the recipe says or that no other entity uses.
//! - Anything wider is a finding (setup warns, status exits 3) or, where the
//!   tool's write would change someone else's permissions, a refusal before
//!   any write (exit 4) unless `--overwrite`.

use crate::aws::{PolicyEntities, Tags};
use crate::cluster::ServiceAccount;
use crate::observe::{ObservedPolicy, ObservedRole};
use crate::policy::{self, IrsaSubject, TrustFinding};
use crate::recipe::{MANAGED_BY, MANAGER};
use serde_json::Value;

/// Whether IAM tags mark a resource as made by this tool.
pub fn is_ours(tags: &Tags) -> bool {
    tags.get(MANAGED_BY).map(String::as_str) == Some(MANAGER)
}

/// Whether a ServiceAccount was created by this tool (teardown deletes only those).
pub fn service_account_is_ours(sa: &ServiceAccount) -> bool {
    sa.labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGER)
}

/// Who a role is meant to be assumable by, in the recipe.
pub enum RoleRecipe<'a> {
    /// IRSA for this subject; the same ServiceAccount's Pod Identity recipe is
    /// no wider (a role mid-migration trusts both).
    Irsa(&'a IrsaSubject, Option<&'a policy::PodIdentitySubject>),
    PodIdentity(&'a policy::PodIdentitySubject),
    Fargate {
        source_arn: &'a str,
    },
}

/// How an existing role stands towards the recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleStanding {
    /// Tagged as made by this tool.
    Ours,
    /// Not made by the tool, but trusting nobody beyond the recipe.
    Adopted,
    /// Not made by the tool, and its trust lets others in: attaching AMP
    /// permissions to it would hand them to those principals too.
    Wider(Vec<TrustFinding>),
}

pub fn role_standing(role: &ObservedRole, recipe: &RoleRecipe<'_>) -> RoleStanding {
    if is_ours(&role.role.tags) {
        return RoleStanding::Ours;
    }
    let findings = match recipe {
        RoleRecipe::Irsa(subject, also) => {
            policy::irsa_trust_findings_allowing(&role.trust, subject, *also)
        }
        RoleRecipe::PodIdentity(subject) => {
            policy::pod_identity_trust_findings(&role.trust, subject)
        }
        RoleRecipe::Fargate { source_arn } => {
            policy::fargate_trust_findings(&role.trust, source_arn)
        }
    };
    if findings.is_empty() {
        RoleStanding::Adopted
    } else {
        RoleStanding::Wider(findings)
    }
}

/// How an existing permission policy stands towards the recipe's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyStanding {
    /// Tagged as made by this tool: its document is the tool's to set.
    Ours,
    /// Not made by the tool; says what the recipe says, or is used by no one
    /// but the recipe's role, so rewriting it changes nobody else.
    Adoptable,
    /// Not made by the tool, differs from the recipe, and is attached to
    /// others: a new default version would change their permissions.
    Shared {
        /// Roles, users and groups other than the recipe's role.
        others: Vec<String>,
        /// What the current document grants beyond the recipe.
        beyond: Vec<String>,
    },
}

/// `our_role`: the recipe's role name; `wanted`: the recipe's document.
pub fn policy_standing(p: &ObservedPolicy, our_role: &str, wanted: &Value) -> PolicyStanding {
    if is_ours(&p.tags) {
        return PolicyStanding::Ours;
    }
    if policy::same_meaning(&p.document, wanted) {
        return PolicyStanding::Adoptable;
    }
    let others = p
        .entities
        .as_ref()
        .map(|e| others_than(e, our_role))
        .unwrap_or_default();
    if others.is_empty() {
        PolicyStanding::Adoptable
    } else {
        PolicyStanding::Shared {
            others,
            beyond: policy::grants_beyond(&p.document, wanted),
        }
    }
}

/// Entities other than `our_role`, each named with its type.
fn others_than(e: &PolicyEntities, our_role: &str) -> Vec<String> {
    let roles = e
        .roles
        .iter()
        .filter(|r| *r != our_role)
        .map(|r| format!("role {r}"));
    let users = e.users.iter().map(|u| format!("user {u}"));
    let groups = e.groups.iter().map(|g| format!("group {g}"));
    roles.chain(users).chain(groups).collect()
}

/// Which non-default versions of a policy grant more than `new_default`
/// (they stay one SetDefaultPolicyVersion away), plus the current default when
/// it does: after an update those are deleted. Oldest first.
pub fn versions_granting_more(
    p: &ObservedPolicy,
    new_default: &Value,
) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(i64, String, Vec<String>)> = p
        .versions
        .iter()
        .filter_map(|v| {
            let doc = if v.is_default {
                Some(&p.document)
            } else {
                p.version_documents.get(&v.id)
            };
            // A version whose document could not be read might grant anything.
            let beyond = match doc {
                Some(doc) => policy::grants_beyond(doc, new_default),
                None => vec!["an unreadable document".to_string()],
            };
            (!beyond.is_empty()).then(|| (v.created, v.id.clone(), beyond))
        })
        .collect();
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    out.into_iter()
        .map(|(_, id, beyond)| (id, beyond))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{PolicySummary, PolicyVersion, Role};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn subject() -> IrsaSubject {
        IrsaSubject {
            provider_arn:
                "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
                    .into(),
            host_path: "oidc.eks.us-east-1.amazonaws.com/id/ABC".into(),
            namespace: "prometheus".into(),
            service_account: "amp".into(),
        }
    }

    fn role(trust: Value, tags: &[(&str, &str)]) -> ObservedRole {
        ObservedRole {
            role: Role {
                name: "r".into(),
                arn: "arn:aws:iam::111122223333:role/r".into(),
                path: "/".into(),
                trust_policy: trust.to_string(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            trust,
            attached: vec![],
        }
    }

    fn ingest(resource: &str) -> Value {
        policy::permission_policy(&["aps:RemoteWrite", "aps:GetSeries"], resource)
    }

    fn observed_policy(document: Value, tags: &[(&str, &str)], roles: &[&str]) -> ObservedPolicy {
        ObservedPolicy {
            summary: PolicySummary {
                name: "AMPIngestPolicy".into(),
                arn: "arn:aws:iam::111122223333:policy/AMPIngestPolicy".into(),
                path: "/".into(),
                default_version: "v2".into(),
                attachment_count: roles.len() as i32,
            },
            document,
            versions: vec![
                PolicyVersion {
                    id: "v1".into(),
                    is_default: false,
                    created: 1,
                },
                PolicyVersion {
                    id: "v2".into(),
                    is_default: true,
                    created: 2,
                },
            ],
            version_documents: BTreeMap::from([(
                "v1".to_string(),
                policy::permission_policy(&["iam:*"], "*"),
            )]),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            entities: Some(PolicyEntities {
                roles: roles.iter().map(|r| r.to_string()).collect(),
                ..PolicyEntities::default()
            }),
        }
    }

    #[test]
    fn a_tagged_role_is_ours_whatever_it_trusts() {
        let r = role(
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}),
            &[(MANAGED_BY, MANAGER)],
        );
        assert_eq!(
            role_standing(&r, &RoleRecipe::Irsa(&subject(), None)),
            RoleStanding::Ours
        );
    }

    #[test]
    fn a_foreign_role_trusting_only_the_recipe_is_adopted_and_a_wider_one_is_not() {
        let s = subject();
        let exact = role(s.trust_policy(), &[]);
        assert_eq!(
            role_standing(&exact, &RoleRecipe::Irsa(&s, None)),
            RoleStanding::Adopted
        );
        let mut wide = s.trust_policy();
        wide["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"}));
        let RoleStanding::Wider(findings) =
            role_standing(&role(wide, &[]), &RoleRecipe::Irsa(&s, None))
        else {
            panic!("wider expected");
        };
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].risk.contains("444455556666"), "{findings:?}");
    }

    #[test]
    fn a_foreign_policy_differing_and_attached_elsewhere_is_shared() {
        let wide = policy::permission_policy(&["aps:*", "iam:*"], "*");
        let p = observed_policy(wide, &[], &["amp-iamproxy-ingest-role", "billing-exporter"]);
        match policy_standing(&p, "amp-iamproxy-ingest-role", &ingest("*")) {
            PolicyStanding::Shared { others, beyond } => {
                assert_eq!(others, ["role billing-exporter"]);
                assert!(beyond.iter().any(|b| b.starts_with("iam:*")), "{beyond:?}");
            }
            other => panic!("shared expected, got {other:?}"),
        }
    }

    #[test]
    fn a_foreign_policy_used_by_our_role_alone_or_saying_the_same_is_adoptable() {
        let wide = policy::permission_policy(&["aps:*"], "*");
        let alone = observed_policy(wide, &[], &["amp-iamproxy-ingest-role"]);
        assert_eq!(
            policy_standing(&alone, "amp-iamproxy-ingest-role", &ingest("*")),
            PolicyStanding::Adoptable
        );
        let same = observed_policy(ingest("*"), &[], &["a", "b"]);
        assert_eq!(
            policy_standing(&same, "amp-iamproxy-ingest-role", &ingest("*")),
            PolicyStanding::Adoptable
        );
        let ours = observed_policy(
            policy::permission_policy(&["iam:*"], "*"),
            &[(MANAGED_BY, MANAGER)],
            &["x"],
        );
        assert_eq!(
            policy_standing(&ours, "amp-iamproxy-ingest-role", &ingest("*")),
            PolicyStanding::Ours
        );
    }

    #[test]
    fn versions_granting_more_than_the_new_default_are_found_oldest_first() {
        let p = observed_policy(policy::permission_policy(&["aps:*"], "*"), &[], &[]);
        let found = versions_granting_more(&p, &ingest("*"));
        let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["v1", "v2"]);
        // A new default that grants everything leaves nothing to delete.
        assert!(versions_granting_more(&p, &policy::permission_policy(&["*"], "*")).is_empty());
    }

    #[test]
    fn service_accounts_are_ours_by_label() {
        let mut sa = ServiceAccount::default();
        assert!(!service_account_is_ours(&sa));
        sa.labels.insert(MANAGED_BY.into(), MANAGER.into());
        assert!(service_account_is_ours(&sa));
    }
}
