//! Name templates: `--role-name 'amp-{cluster}-{kind}'` gives each cluster
//! (and KIND) of one account its own role, so clusters do not share one
//! role's trust policy (and its size quota). Expanded per cluster before any
//! call, and the result checked against IAM's name rules.

use crate::error::{Error, Result};
use crate::names;
use crate::recipe::{Desired, Kind};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 4] = ["{cluster}", "{region}", "{namespace}", "{kind}"];

/// Whether a name is a template (has a brace) rather than a literal name.
pub fn is_template(name: &str) -> bool {
    name.contains('{') || name.contains('}')
}

/// Whether the template differs per KIND, so one can serve several KINDs.
pub fn varies_by_kind(name: &str) -> bool {
    name.contains("{kind}")
}

/// Checks a template's placeholders (not the expanded name, which needs the target).
pub fn check(template: &str, what: &'static str) -> Result<()> {
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        let tail = &rest[open..];
        let placeholder = PLACEHOLDERS.iter().find(|p| tail.starts_with(**p));
        match placeholder {
            Some(p) => rest = &tail[p.len()..],
            None => {
                let shown: String = tail.chars().take_while(|&c| c != '}').collect();
                return Err(Error::InvalidName {
                    what,
                    value: template.to_string(),
                    why: format!(
                        "{shown}}} is not a placeholder: a template may use {}",
                        PLACEHOLDERS.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// What the placeholders stand for in one cluster's run.
pub struct Values<'a> {
    pub cluster: &'a str,
    pub region: &'a str,
    pub namespace: &'a str,
}

fn expand(template: &str, values: &Values, kind: Kind) -> String {
    template
        .replace("{cluster}", values.cluster)
        .replace("{region}", values.region)
        .replace("{namespace}", values.namespace)
        .replace("{kind}", kind.as_str())
}

/// Expands the role and policy name templates of `desired` for its cluster,
/// region, namespace and each KIND, and checks each result against IAM's
/// rules (64 characters for a role, 128 for a policy): a template that is too
/// long for one cluster fails here, before any call.
pub fn apply(
    desired: &mut Desired,
    role_name: Option<&str>,
    policy_name: Option<&str>,
) -> Result<()> {
    let values = Values {
        cluster: &desired.cluster.clone(),
        region: &desired.region.clone(),
        namespace: &desired.namespace.clone(),
    };
    if let Some(t) = role_name.filter(|t| is_template(t)) {
        for spec in &mut desired.irsa {
            spec.role_name = expanded(t, &values, spec.kind, "role name", names::role_name)?;
        }
        if let Some(f) = &mut desired.fargate {
            f.role_name = expanded(t, &values, Kind::Fargate, "role name", names::role_name)?;
        }
    }
    if let Some(t) = policy_name.filter(|t| is_template(t)) {
        for spec in &mut desired.irsa {
            spec.policy_name = expanded(t, &values, spec.kind, "policy name", names::policy_name)?;
        }
    }
    Ok(())
}

fn expanded(
    template: &str,
    values: &Values,
    kind: Kind,
    what: &'static str,
    rule: fn(&str) -> Result<()>,
) -> Result<String> {
    let name = expand(template, values, kind);
    rule(&name).map_err(|e| match e {
        Error::InvalidName { why, .. } => Error::InvalidName {
            what,
            value: template.to_string(),
            why: format!(
                "for cluster {} ({}, namespace {}) it gives {name:?}: {why}",
                values.cluster, values.region, values.namespace
            ),
        },
        other => other,
    })?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::{NameOverrides, Options};

    fn desired(kinds: &[Kind], cluster: &str) -> Desired {
        Desired::new(
            kinds,
            &NameOverrides::default(),
            (false, false),
            (cluster, "eu-west-1", "prometheus"),
            None,
            Options::default(),
        )
    }

    #[test]
    fn each_kind_gets_its_own_expanded_role_and_policy() {
        let mut d = desired(&[Kind::Ingest, Kind::Query, Kind::Fargate], "prod");
        apply(
            &mut d,
            Some("amp-{cluster}-{region}-{kind}"),
            Some("AMP-{kind}-{cluster}-{namespace}"),
        )
        .unwrap();
        let roles: Vec<&str> = d.irsa.iter().map(|s| s.role_name.as_str()).collect();
        assert_eq!(
            roles,
            ["amp-prod-eu-west-1-ingest", "amp-prod-eu-west-1-query"]
        );
        let policies: Vec<&str> = d.irsa.iter().map(|s| s.policy_name.as_str()).collect();
        assert_eq!(
            policies,
            ["AMP-ingest-prod-prometheus", "AMP-query-prod-prometheus"]
        );
        assert_eq!(
            d.fargate.as_ref().unwrap().role_name,
            "amp-prod-eu-west-1-fargate"
        );
    }

    #[test]
    fn a_literal_name_is_left_to_the_recipe() {
        let mut d = desired(&[Kind::Ingest], "prod");
        let before = d.irsa[0].role_name.clone();
        apply(&mut d, Some("literal-name"), None).unwrap();
        assert_eq!(d.irsa[0].role_name, before);
    }

    #[test]
    fn a_name_over_64_characters_for_one_cluster_names_the_cluster_and_result() {
        let long_cluster = "c".repeat(50);
        let mut d = desired(&[Kind::Ingest], &long_cluster);
        let err = apply(&mut d, Some("amp-{cluster}-{kind}-role"), None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("amp-{cluster}-{kind}-role"), "{text}");
        assert!(
            text.contains(&format!("for cluster {long_cluster}")),
            "{text}"
        );
        assert!(text.contains("64"), "{text}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_refused() {
        for bad in ["amp-{clutser}", "amp-{cluster", "amp-}x", "{account}-x"] {
            let err = check(bad, "role name").unwrap_err();
            assert!(
                err.to_string().contains("is not a placeholder"),
                "{bad}: {err}"
            );
        }
        for good in ["amp-{cluster}-{kind}", "{region}{namespace}", "plain"] {
            check(good, "role name").unwrap();
        }
        assert!(varies_by_kind("x-{kind}") && !varies_by_kind("x-{cluster}"));
        assert!(is_template("a{") && !is_template("plain"));
    }
}
