//! Helm values for the prometheus-community `prometheus` chart: the server
//! runs as the ingest ServiceAccount (so as the ingest IRSA role) and remote
//! writes to the AMP workspace with SigV4, as the AWS guide configures it.

use crate::recipe::ROLE_ARN_ANNOTATION;
use serde::Serialize;
use std::collections::BTreeMap;

/// Stands for the workspace id when none is given.
pub const WORKSPACE_PLACEHOLDER: &str = "<WORKSPACE_ID>";

/// What the values say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub region: String,
    /// The ingest role's ARN.
    pub role_arn: String,
    /// The ingest ServiceAccount's name.
    pub service_account: String,
    /// None: [`WORKSPACE_PLACEHOLDER`].
    pub workspace: Option<String>,
    /// The workspace's own remote-write URL (its `prometheusEndpoint` +
    /// `api/v1/remote_write`), when it was looked up.
    pub remote_write_url: Option<String>,
    /// IRSA: the ServiceAccount carries the role-arn annotation; Pod Identity
    /// binds it by association instead (an annotation would win over it).
    pub annotate: bool,
}

/// The remote-write endpoint of a workspace.
pub fn remote_write_url(region: &str, workspace: &str) -> String {
    format!(
        "https://aps-workspaces.{region}.amazonaws.com/workspaces/{workspace}/api/v1/remote_write"
    )
}

/// The values document, in the order people read it (structs, not a map,
/// so the order does not depend on serde_json's features).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Values {
    #[serde(rename = "serviceAccounts")]
    pub service_accounts: ServiceAccounts,
    pub server: Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccounts {
    pub server: ServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccount {
    pub create: bool,
    pub name: String,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    #[serde(rename = "remoteWrite")]
    pub remote_write: Vec<RemoteWrite>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteWrite {
    pub url: String,
    pub sigv4: Sigv4,
    pub queue_config: QueueConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sigv4 {
    pub region: String,
}

/// The AWS guide's remote-write queue settings for AMP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueConfig {
    pub max_samples_per_send: u32,
    pub max_shards: u32,
    pub capacity: u32,
}

/// The values for `input`.
///
/// `serviceAccounts.server.create` is false: `kubectl amp-iam setup` makes
/// (and keeps annotated) the ServiceAccount, and Helm refuses to adopt an
/// object it did not create. The annotation is there too, so flipping
/// `create` to true gives the guide's chart-made ServiceAccount instead.
pub fn document(input: &Input) -> Values {
    let workspace = input.workspace.as_deref().unwrap_or(WORKSPACE_PLACEHOLDER);
    let url = input
        .remote_write_url
        .clone()
        .unwrap_or_else(|| remote_write_url(&input.region, workspace));
    Values {
        service_accounts: ServiceAccounts {
            server: ServiceAccount {
                create: false,
                name: input.service_account.clone(),
                annotations: if input.annotate {
                    BTreeMap::from([(ROLE_ARN_ANNOTATION.to_string(), input.role_arn.clone())])
                } else {
                    BTreeMap::new()
                },
            },
        },
        server: Server {
            remote_write: vec![RemoteWrite {
                url,
                sigv4: Sigv4 {
                    region: input.region.clone(),
                },
                queue_config: QueueConfig {
                    max_samples_per_send: 1000,
                    max_shards: 200,
                    capacity: 2500,
                },
            }],
        },
    }
}

/// Next steps for people (stderr).
pub fn notes(input: &Input, namespace: &str) -> Vec<String> {
    let mut out = Vec::new();
    if input.workspace.is_none() {
        out.push(format!(
            "no workspace: replace {WORKSPACE_PLACEHOLDER} with the workspace id (aws amp list-workspaces --region {}), or create one with `kubectl amp-iam setup ingest --create-workspace <alias>`",
            input.region
        ));
    }
    out.push(format!(
        "install into the namespace of the ServiceAccount, after `kubectl amp-iam setup ingest -n {namespace}`:\n  \
         helm upgrade --install prometheus prometheus-community/prometheus -n {namespace} -f <this file>"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn input(workspace: Option<&str>) -> Input {
        Input {
            region: "eu-west-1".into(),
            role_arn: "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role".into(),
            service_account: "amp-iamproxy-ingest-service-account".into(),
            workspace: workspace.map(str::to_string),
            remote_write_url: None,
            annotate: true,
        }
    }

    fn parsed(input: &Input) -> Value {
        let yaml = crate::output::to_yaml(&document(input)).unwrap();
        serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{e}:\n{yaml}"))
    }

    #[test]
    fn values_point_the_server_at_the_workspace_as_the_ingest_role() {
        let v = parsed(&input(Some("ws-1234abcd-12ab-34cd-56ef-1234567890ab")));
        let sa = &v["serviceAccounts"]["server"];
        assert_eq!(sa["name"], "amp-iamproxy-ingest-service-account");
        assert_eq!(sa["create"], false);
        assert_eq!(
            sa["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role"
        );
        let rw = v["server"]["remoteWrite"].as_array().unwrap();
        assert_eq!(rw.len(), 1);
        assert_eq!(
            rw[0]["url"],
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1234abcd-12ab-34cd-56ef-1234567890ab/api/v1/remote_write"
        );
        assert_eq!(rw[0]["sigv4"], json!({"region": "eu-west-1"}));
        assert_eq!(
            rw[0]["queue_config"],
            json!({"max_samples_per_send": 1000, "max_shards": 200, "capacity": 2500})
        );
    }

    #[test]
    fn the_url_stays_on_one_line() {
        let yaml = crate::output::to_yaml(&document(&input(None))).unwrap();
        assert!(
            yaml.lines().any(|l| l
                .trim_start_matches([' ', '-'])
                .starts_with("url: https://")
                && l.ends_with("/api/v1/remote_write")),
            "{yaml}"
        );
    }

    #[test]
    fn keys_come_in_reading_order() {
        let yaml = crate::output::to_yaml(&document(&input(Some("ws-1")))).unwrap();
        let at = |key: &str| yaml.find(key).unwrap_or_else(|| panic!("{key}:\n{yaml}"));
        assert!(
            at("serviceAccounts:") < at("server:\n  remoteWrite"),
            "{yaml}"
        );
        assert!(
            at("url:") < at("sigv4:") && at("sigv4:") < at("queue_config:"),
            "{yaml}"
        );
        let json: Value =
            serde_json::from_str(&crate::output::to_json(&document(&input(Some("ws-1")))).unwrap())
                .unwrap();
        let parsed: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(json, parsed);
    }

    #[test]
    fn without_a_workspace_the_url_has_a_placeholder_and_a_note_says_so() {
        let i = input(None);
        let v = parsed(&i);
        assert_eq!(
            v["server"]["remoteWrite"][0]["url"],
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/<WORKSPACE_ID>/api/v1/remote_write"
        );
        let notes = notes(&i, "prometheus");
        assert!(notes[0].contains("<WORKSPACE_ID>"), "{notes:?}");
        assert!(notes[1].contains("-n prometheus"), "{notes:?}");
        assert_eq!(super::notes(&input(Some("ws-1")), "p").len(), 1);
    }
}
