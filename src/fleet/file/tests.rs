use super::eksctl::amp_policy_kind;
use super::location::key_at;
use super::*;

/// The error's line, column and reason.
fn error(text: &str) -> (usize, usize, String) {
    match parse(text, "fleet.yaml") {
        Err(Error::BootstrapFile {
            file,
            line,
            column,
            reason,
        }) => {
            assert_eq!(file, "fleet.yaml");
            (line, column, reason)
        }
        other => panic!("expected a bootstrap file error, got {other:?}"),
    }
}

fn entries(text: &str) -> Vec<FleetEntry> {
    match parse(text, "fleet.yaml") {
        Ok(parsed) => {
            assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
            parsed.entries
        }
        Err(e) => panic!("{e}"),
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const FULL: &str = "\
apiVersion: amp-iam/v1alpha1
kind: Fleet
defaults:
  namespace: prometheus
  kinds: [ingest, query]
  mode: irsa
  profile: prod
  region: eu-west-1
  serviceAccount: amp-ingest
  roleName: \"amp-{cluster}-{kind}\"
  policyName: \"AMP-{kind}-{cluster}\"
  workspace: ws-1234
  createWorkspace: metrics
  rolePath: /amp/
  tags: {team: obs, cost-center: 0123}
  permissionsBoundary: arn:aws:iam::123456789012:policy/b
  restart: true
  overwrite: false
  installAgent: false
clusters:
  - context: prod-eu
  - cluster: prod-us
    context: us-ctx
    region: us-east-1
    namespace: monitoring
    kinds: fargate
    mode: pod-identity
    profile: us
    serviceAccount: sa
    roleName: r
    policyName: p
    workspace: ws-9
    createWorkspace: other
    rolePath: /
    tags: {team: us, owner: me}
    permissionsBoundary: arn:aws:iam::123456789012:policy/c
    restart: false
    overwrite: true
    installAgent: true
";

#[test]
fn full_fleet_file_with_defaults_and_overrides() {
    let got = entries(FULL);
    let first = FleetEntry {
        origin: "fleet.yaml clusters[0]".into(),
        context: s("prod-eu"),
        cluster: None,
        region: s("eu-west-1"),
        profile: s("prod"),
        namespace: s("prometheus"),
        kinds: vec![Kind::Ingest, Kind::Query],
        mode: Some(IdentityMode::Irsa),
        service_account: s("amp-ingest"),
        role_name: s("amp-{cluster}-{kind}"),
        policy_name: s("AMP-{kind}-{cluster}"),
        workspace: s("ws-1234"),
        create_workspace: s("metrics"),
        role_path: s("/amp/"),
        tags: tags(&[("team", "obs"), ("cost-center", "0123")]),
        permissions_boundary: s("arn:aws:iam::123456789012:policy/b"),
        restart: Some(true),
        overwrite: Some(false),
        install_agent: Some(false),
    };
    let second = FleetEntry {
        origin: "fleet.yaml clusters[1]".into(),
        context: s("us-ctx"),
        cluster: s("prod-us"),
        region: s("us-east-1"),
        profile: s("us"),
        namespace: s("monitoring"),
        kinds: vec![Kind::Fargate],
        mode: Some(IdentityMode::PodIdentity),
        service_account: s("sa"),
        role_name: s("r"),
        policy_name: s("p"),
        workspace: s("ws-9"),
        create_workspace: s("other"),
        role_path: s("/"),
        tags: tags(&[("team", "us"), ("cost-center", "0123"), ("owner", "me")]),
        permissions_boundary: s("arn:aws:iam::123456789012:policy/c"),
        restart: Some(false),
        overwrite: Some(true),
        install_agent: Some(true),
    };
    assert_eq!(got, vec![first, second]);
}

#[test]
fn minimal_fleet_file_without_header_or_defaults() {
    let got = entries("clusters:\n  - context: a\n");
    assert_eq!(
        got,
        vec![FleetEntry {
            origin: "fleet.yaml clusters[0]".into(),
            context: s("a"),
            ..FleetEntry::default()
        }]
    );
}

#[test]
fn single_string_kinds() {
    let got = entries(
        "defaults:\n  kinds: query\nclusters:\n  - context: a\n  - context: b\n    kinds: INGEST\n",
    );
    assert_eq!(got[0].kinds, vec![Kind::Query]);
    assert_eq!(got[1].kinds, vec![Kind::Ingest]);
}

#[test]
fn repeated_kinds_are_said_once() {
    let got = entries("clusters:\n  - context: a\n    kinds: [query, ingest, query]\n");
    assert_eq!(got[0].kinds, vec![Kind::Query, Kind::Ingest]);
}

#[test]
fn tags_merge_entry_wins_per_key() {
    let got = entries(
        "defaults:\n  tags:\n    team: obs\n    env: prod\nclusters:\n  - context: a\n    tags:\n      env: dev\n      owner: me\n  - context: b\n",
    );
    assert_eq!(
        got[0].tags,
        tags(&[("team", "obs"), ("env", "dev"), ("owner", "me")])
    );
    assert_eq!(got[1].tags, tags(&[("team", "obs"), ("env", "prod")]));
}

#[test]
fn stdin_is_named_stdin() {
    match parse("clusters: []\n", "-") {
        Err(Error::BootstrapFile { file, .. }) => assert_eq!(file, "(stdin)"),
        other => panic!("{other:?}"),
    }
    let parsed = parse("clusters:\n  - context: a\n", "-").unwrap();
    assert_eq!(parsed.entries[0].origin, "(stdin) clusters[0]");
}

#[test]
fn error_display_is_file_line_column_reason() {
    let e = parse("clusters: []\n", "f.yaml").unwrap_err();
    assert!(
        e.to_string().starts_with("f.yaml:1:1: `clusters` is empty"),
        "{e}"
    );
}

#[test]
fn unknown_key_in_an_entry_is_at_the_key() {
    let (line, column, reason) =
        error("clusters:\n  - context: a\n  - context: b\n    namspace: x\n");
    assert_eq!((line, column), (4, 5));
    assert!(
        reason.starts_with("unknown key `namspace` in a clusters entry: did you mean `namespace`?"),
        "{reason}"
    );
    assert!(
        reason.contains("context, cluster, region, profile"),
        "{reason}"
    );
    assert!(reason.contains("installAgent"), "{reason}");
}

#[test]
fn unknown_key_in_a_flow_entry_is_at_the_key() {
    let (line, column, reason) = error("clusters:\n  - {context: a, bogus: 1}\n");
    assert_eq!((line, column), (2, 18));
    assert!(
        reason.contains("unknown key `bogus` in a clusters entry: remove it"),
        "{reason}"
    );
}

#[test]
fn unknown_key_in_defaults_is_at_the_key() {
    let (line, column, reason) = error(
        "kind: Fleet\ndefaults:\n  region: x\n  service_account: y\nclusters:\n  - context: a\n",
    );
    assert_eq!((line, column), (4, 3));
    assert!(
        reason.starts_with(
            "unknown key `service_account` in defaults: did you mean `serviceAccount`?"
        ),
        "{reason}"
    );
    assert!(!reason.contains("context"), "{reason}");
}

#[test]
fn context_in_defaults_is_refused() {
    let (line, column, reason) = error("defaults:\n  context: x\nclusters:\n  - cluster: a\n");
    assert_eq!((line, column), (2, 3));
    assert!(reason.contains("cannot be in defaults"), "{reason}");
}

#[test]
fn unknown_top_level_key_is_at_the_key() {
    let (line, column, reason) =
        error("apiVersion: amp-iam/v1alpha1\nclusters:\n  - context: a\ncluster: b\n");
    assert_eq!((line, column), (4, 1));
    assert_eq!(
        reason,
        "unknown key `cluster` in a Fleet document's top level: did you mean `clusters`? \
         (keys: apiVersion, kind, defaults, clusters)"
    );
}

#[test]
fn eksctl_keys_without_kind_are_unknown() {
    let (line, column, reason) =
        error("metadata:\n  name: a\n  region: b\nclusters:\n  - context: a\n");
    assert_eq!((line, column), (1, 1));
    assert!(reason.contains("unknown key `metadata`"), "{reason}");
    assert!(reason.contains("kind: ClusterConfig"), "{reason}");
}

#[test]
fn entry_without_context_or_cluster_is_at_the_entry() {
    let (line, column, reason) =
        error("defaults:\n  region: x\nclusters:\n  - context: a\n  - region: us-east-1\n");
    assert_eq!((line, column), (5, 5));
    assert!(
        reason.starts_with("clusters[1] names no cluster"),
        "{reason}"
    );
}

#[test]
fn entry_that_is_not_a_mapping() {
    let (line, column, reason) = error("clusters:\n  - context: a\n  - prod-eu\n");
    assert_eq!((line, column), (3, 5));
    assert!(
        reason.starts_with("clusters[1] must be a cluster entry"),
        "{reason}"
    );
    assert!(reason.ends_with("not `prod-eu`"), "{reason}");

    let (line, column, reason) = error("clusters:\n  - [a, b]\n");
    assert_eq!((line, column), (2, 5));
    assert!(reason.ends_with("not a list"), "{reason}");

    let (line, column, reason) = error("clusters:\n  -\n  - context: a\n");
    assert_eq!(line, 2, "{column}");
    assert!(reason.ends_with("not nothing"), "{reason}");
}

#[test]
fn wrong_types_are_at_the_value() {
    let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: 3\n");
    assert_eq!((line, column), (3, 12));
    assert!(reason.starts_with("unknown kind `3`"), "{reason}");

    let (line, column, reason) = error("clusters:\n  - context: a\n    restart: maybe\n");
    assert_eq!((line, column), (3, 14));
    assert_eq!(reason, "`restart` must be true or false, not `maybe`");

    let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: {a: b}\n");
    assert_eq!((line, column), (3, 12));
    assert_eq!(
        reason,
        "`kinds` must be a kind (ingest, query or fargate) or a list of kinds, not a mapping"
    );

    let (line, column, reason) = error("clusters:\n  - context: a\n    region: [x]\n");
    assert_eq!((line, column), (3, 13));
    assert_eq!(
        reason,
        "`region` must be a single value, not a list or a mapping"
    );

    let (line, column, reason) = error("clusters:\n  - context: a\n    region:\n      - x\n");
    assert_eq!((line, column), (4, 7));
    assert_eq!(
        reason,
        "`region` must be a single value, not a list or a mapping"
    );

    let (line, column, reason) = error("clusters: prod\n");
    assert_eq!((line, column), (1, 11));
    assert!(reason.starts_with("`clusters` must be a list"), "{reason}");

    let (line, column, reason) = error("defaults: 3\nclusters:\n  - context: a\n");
    assert_eq!((line, column), (1, 11));
    assert!(
        reason.starts_with("`defaults` must be a mapping"),
        "{reason}"
    );

    let (line, column, reason) = error("clusters:\n  - context: a\n    tags: [x]\n");
    assert_eq!((line, column), (3, 11));
    assert!(
        reason.starts_with("`tags` must be a mapping of tag keys to values"),
        "{reason}"
    );
    assert!(reason.ends_with("not a list"), "{reason}");

    let (line, column, reason) = error("clusters:\n  - context: a\n    tags: {team: }\n");
    assert_eq!((line, column), (3, 12));
    assert!(reason.starts_with("tag `team` has no value"), "{reason}");
}

#[test]
fn unknown_kind_and_mode_are_at_the_value() {
    let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: [query, ingets]\n");
    assert_eq!((line, column), (3, 20));
    assert_eq!(
        reason,
        "unknown kind `ingets`: did you mean `ingest`? the kinds are ingest, query and fargate"
    );

    let (line, column, reason) = error("defaults:\n  mode: oidc\nclusters:\n  - context: a\n");
    assert_eq!((line, column), (2, 9));
    assert_eq!(
        reason,
        "unknown mode `oidc`: the modes are irsa and pod-identity"
    );

    let (_, _, reason) = error("clusters:\n  - context: a\n    kinds: ingest,query\n");
    assert!(reason.contains("write a list"), "{reason}");
}

#[test]
fn empty_values_are_errors() {
    let (line, column, reason) = error("clusters:\n  - context: \"\"\n");
    assert_eq!((line, column), (2, 14));
    assert_eq!(
        reason,
        "`context` is empty: give a value, or leave the key out"
    );

    let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: []\n");
    assert_eq!((line, column), (3, 12));
    assert!(reason.starts_with("`kinds` is an empty list"), "{reason}");
}

#[test]
fn empty_or_missing_clusters() {
    let (line, column, reason) = error("kind: Fleet\nclusters: []\n");
    assert_eq!((line, column), (2, 1));
    assert!(reason.starts_with("`clusters` is empty"), "{reason}");

    let (line, column, _) = error("kind: Fleet\nclusters:\n");
    assert_eq!((line, column), (2, 1));

    let (line, column, reason) = error("kind: Fleet\ndefaults:\n  region: x\n");
    assert_eq!((line, column), (1, 1));
    assert!(reason.starts_with("no clusters"), "{reason}");
}

#[test]
fn empty_file_has_no_clusters() {
    for text in ["", "\n", "# nothing\n", "---\n...\n"] {
        let (line, column, reason) = error(text);
        assert_eq!((line, column), (1, 1));
        assert!(reason.starts_with("no clusters"), "{reason}");
    }
}

#[test]
fn wrong_api_version_or_kind() {
    let (line, column, reason) = error("apiVersion: amp-iam/v1\nclusters:\n  - context: a\n");
    assert_eq!((line, column), (1, 13));
    assert!(
        reason.starts_with("unknown apiVersion `amp-iam/v1`"),
        "{reason}"
    );

    let (line, column, reason) =
        error("apiVersion: amp-iam/v1alpha1\nkind: Fleets\nclusters:\n  - context: a\n");
    assert_eq!((line, column), (2, 7));
    assert!(reason.starts_with("unknown kind `Fleets`"), "{reason}");

    let (line, column, reason) = error("apiVersion: v1\nkind: ClusterConfig\n");
    assert_eq!((line, column), (1, 13));
    assert!(reason.contains("eksctl.io/v1alpha5"), "{reason}");

    let (line, column, reason) = error("kind: ClusterConfig\nmetadata: {name: a}\n");
    assert_eq!((line, column), (1, 7));
    assert!(reason.contains("without apiVersion"), "{reason}");

    let (line, column, reason) = error("apiVersion: eksctl.io/v1alpha5\nmetadata: {name: a}\n");
    assert_eq!((line, column), (1, 13));
    assert!(reason.contains("set kind: ClusterConfig"), "{reason}");
}

#[test]
fn duplicate_key_and_yaml_syntax() {
    let (line, column, reason) = error("clusters:\n  - context: a\n    context: b\n");
    assert_eq!((line, column), (3, 5));
    assert_eq!(
        reason,
        "`context` is given twice in the same mapping: keep one"
    );

    let (line, _, reason) = error("clusters:\n  - context: \"a\n");
    assert!(line >= 2, "{line}");
    assert!(
        reason.starts_with("the YAML cannot be read here: "),
        "{reason}"
    );

    let (line, column, reason) = error("- context: a\n");
    assert_eq!((line, column), (1, 1));
    assert!(reason.starts_with("expected a Fleet document"), "{reason}");
}

const EKSCTL: &str = "\
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata:
  name: prod
  region: eu-west-1
  version: \"1.33\"
vpc:
  cidr: 10.0.0.0/16
managedNodeGroups:
  - name: ng
iam:
  withOIDC: true
  serviceAccounts:
    - metadata:
        name: amp-ingest
        namespace: prometheus
        labels: {app: prometheus}
      attachPolicyARNs:
        - arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess
      roleName: prod-amp-ingest
      permissionsBoundary: arn:aws:iam::123456789012:policy/b
      tags: {team: obs}
    - metadata:
        name: aws-load-balancer-controller
        namespace: kube-system
      wellKnownPolicies:
        awsLoadBalancerController: true
    - metadata:
        name: grafana
      attachPolicyARNs: [\"arn:aws-us-gov:iam::aws:policy/AmazonPrometheusQueryAccess\"]
  podIdentityAssociations:
    - namespace: monitoring
      serviceAccountName: collector
      roleName: collector-role
      permissionPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]
      permissionsBoundaryARN: arn:aws:iam::123456789012:policy/pb
      tags: {owner: me}
      createServiceAccount: true
fargateProfiles:
  - name: fp
";

#[test]
fn eksctl_cluster_config() {
    let parsed = parse(EKSCTL, "eks.yaml").unwrap();
    let base = FleetEntry {
        cluster: s("prod"),
        region: s("eu-west-1"),
        ..FleetEntry::default()
    };
    assert_eq!(
        parsed.entries,
        vec![
            FleetEntry {
                origin: "eks.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[0]".into(),
                namespace: s("prometheus"),
                kinds: vec![Kind::Ingest],
                mode: Some(IdentityMode::Irsa),
                service_account: s("amp-ingest"),
                role_name: s("prod-amp-ingest"),
                permissions_boundary: s("arn:aws:iam::123456789012:policy/b"),
                tags: tags(&[("team", "obs")]),
                ..base.clone()
            },
            FleetEntry {
                origin: "eks.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[2]".into(),
                namespace: s("default"),
                kinds: vec![Kind::Query],
                mode: Some(IdentityMode::Irsa),
                service_account: s("grafana"),
                ..base.clone()
            },
            FleetEntry {
                origin: "eks.yaml (eksctl ClusterConfig prod) iam.podIdentityAssociations[0]"
                    .into(),
                namespace: s("monitoring"),
                kinds: vec![Kind::Ingest],
                mode: Some(IdentityMode::PodIdentity),
                service_account: s("collector"),
                role_name: s("collector-role"),
                permissions_boundary: s("arn:aws:iam::123456789012:policy/pb"),
                tags: tags(&[("owner", "me")]),
                ..base
            },
        ]
    );
    assert_eq!(
        parsed.notes,
        vec![
            "eks.yaml: iam.serviceAccounts[1] (kube-system/aws-load-balancer-controller) \
             attaches no AMP policy: not this tool's, skipped"
        ]
    );
}

fn eksctl_error(sa: &str) -> (usize, usize, String) {
    let text = format!(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: prod\n  region: eu-west-1\niam:\n  serviceAccounts:\n{sa}"
    );
    error(&text)
}

#[test]
fn eksctl_refuses_attach_policy_at_the_key() {
    let (line, column, reason) = eksctl_error(
        "    - metadata: {name: amp, namespace: obs}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]\n      attachPolicy:\n        Version: \"2012-10-17\"\n",
    );
    assert_eq!((line, column), (10, 7));
    assert!(
        reason.starts_with("iam.serviceAccounts[0] (obs/amp) sets `attachPolicy`"),
        "{reason}"
    );
    assert!(
        reason.contains("keep this ServiceAccount in eksctl, or drop the key"),
        "{reason}"
    );
}

#[test]
fn eksctl_refuses_other_keys_at_the_key() {
    let amp = "    - metadata: {name: amp}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n";
    for (extra, what) in [
        (
            "      wellKnownPolicies: {autoScaler: true}\n",
            "`wellKnownPolicies`",
        ),
        (
            "      attachRoleARN: arn:aws:iam::1:role/r\n",
            "`attachRoleARN`",
        ),
        ("      roleOnly: true\n", "`roleOnly: true`"),
    ] {
        let (line, column, reason) = eksctl_error(&format!("{amp}{extra}"));
        assert_eq!((line, column), (10, 7), "{extra}");
        assert!(reason.contains(what), "{reason}");
    }
    // roleOnly: false says nothing more than the tool does.
    let text = format!(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {{name: p, region: r}}\niam:\n  serviceAccounts:\n{amp}      roleOnly: false\n"
    );
    assert_eq!(entries(&text).len(), 1);
}

#[test]
fn eksctl_refuses_both_amp_policies_at_the_second() {
    let (line, column, reason) = eksctl_error(
        "    - metadata: {name: amp}\n      attachPolicyARNs:\n        - arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess\n        - arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess\n",
    );
    assert_eq!((line, column), (11, 11));
    assert!(
        reason.starts_with("iam.serviceAccounts[0] (default/amp) attaches both"),
        "{reason}"
    );
}

#[test]
fn eksctl_refuses_amp_and_another_arn_at_the_other() {
    let (line, column, reason) = eksctl_error(
        "    - metadata: {name: amp}\n      attachPolicyARNs:\n        - arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy\n        - arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess\n",
    );
    assert_eq!((line, column), (10, 11));
    assert!(
        reason.contains(
            "attaches `arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy` beside the AMP policy"
        ),
        "{reason}"
    );
}

#[test]
fn eksctl_refuses_pod_identity_role_arn() {
    let text = "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: p, region: r}\niam:\n  podIdentityAssociations:\n    - namespace: n\n      serviceAccountName: s\n      permissionPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]\n      roleARN: arn:aws:iam::1:role/r\n";
    let (line, column, reason) = error(text);
    assert_eq!((line, column), (9, 7));
    assert!(
        reason.starts_with("iam.podIdentityAssociations[0] (n/s) sets `roleARN`"),
        "{reason}"
    );
}

#[test]
fn eksctl_without_amp_or_metadata() {
    let (line, column, reason) = error(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: prod, region: r}\niam:\n  serviceAccounts:\n    - metadata: {name: x}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n",
    );
    assert_eq!((line, column), (1, 1));
    assert!(
        reason.starts_with("eksctl ClusterConfig prod declares no AMP ServiceAccount"),
        "{reason}"
    );

    let (line, column, reason) =
        error("apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: prod\n");
    assert_eq!((line, column), (3, 1));
    assert!(reason.contains("without metadata.region"), "{reason}");

    let (line, column, reason) = error(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: p, region: r}\niam:\n  serviceAccounts:\n    - attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n",
    );
    assert_eq!((line, column), (6, 7));
    assert!(reason.contains("without metadata.name"), "{reason}");
}

#[test]
fn eksctl_entries_of_the_wrong_shape() {
    let (line, column, reason) = eksctl_error("    - amp-ingest\n");
    assert_eq!((line, column), (8, 7));
    assert!(
        reason.starts_with("iam.serviceAccounts[0] must be a mapping"),
        "{reason}"
    );

    let (line, column, reason) = eksctl_error(
        "    - metadata: {name: amp}\n      attachPolicyARNs: arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess\n",
    );
    assert_eq!((line, column), (9, 25));
    assert!(
        reason.starts_with("`attachPolicyARNs` must be a list"),
        "{reason}"
    );

    let (line, column, reason) = error(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: p, region: r}\niam:\n  podIdentityAssociations:\n    - namespace: n\n      permissionPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n",
    );
    assert_eq!((line, column), (6, 7));
    assert!(
        reason.starts_with(
            "iam.podIdentityAssociations[0] needs `namespace:` and `serviceAccountName:`"
        ),
        "{reason}"
    );
}

#[test]
fn stream_mixing_both_formats() {
    let text = "\
clusters:
  - context: a
---
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: prod, region: eu-west-1}
iam:
  serviceAccounts:
    - metadata: {name: amp-ingest, namespace: prometheus}
      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]
---
kind: Fleet
clusters:
  - cluster: b
    region: r
";
    let got = entries(text);
    let origins: Vec<&str> = got.iter().map(|e| e.origin.as_str()).collect();
    assert_eq!(
        origins,
        vec![
            "fleet.yaml (document 1) clusters[0]",
            "fleet.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[0]",
            "fleet.yaml (document 3) clusters[0]",
        ]
    );
    assert_eq!(got[1].kinds, vec![Kind::Ingest]);
    assert_eq!(got[2].cluster, s("b"));
}

#[test]
fn stream_errors_count_lines_of_the_whole_file() {
    let text = "\
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: prod, region: eu-west-1}
iam:
  serviceAccounts:
    - metadata: {name: amp-ingest, namespace: prometheus}
      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]
---
clusters:
  - context: a
    restart: maybe
";
    let (line, column, reason) = error(text);
    assert_eq!((line, column), (11, 14));
    assert_eq!(reason, "`restart` must be true or false, not `maybe`");

    let text = "clusters:\n  - context: a\n---\nclusters:\n  - context: b\n    bogus: 1\n";
    let (line, column, _) = error(text);
    assert_eq!((line, column), (6, 5));
}

#[test]
fn amp_policy_arns_in_every_partition() {
    assert_eq!(
        amp_policy_kind("arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess"),
        Some(Kind::Ingest)
    );
    assert_eq!(
        amp_policy_kind("arn:aws-cn:iam::aws:policy/AmazonPrometheusQueryAccess"),
        Some(Kind::Query)
    );
    assert_eq!(
        amp_policy_kind("arn:aws:iam::123456789012:policy/AmazonPrometheusQueryAccess"),
        None
    );
    assert_eq!(amp_policy_kind("AmazonPrometheusQueryAccess"), None);
}

#[test]
fn key_at_reads_the_key_before_a_value() {
    let text = "a:\n  b: [1]\n  c:\n    - x\n  - {d: 1}\n";
    assert_eq!(key_at(text, 2, 6).as_deref(), Some("b"));
    assert_eq!(key_at(text, 4, 5).as_deref(), Some("c"));
    assert_eq!(key_at(text, 5, 9).as_deref(), Some("d"));
    assert_eq!(key_at(text, 9, 1), None);
}

#[test]
fn an_entrys_workspace_replaces_a_default_create_workspace() {
    let parsed = parse(
        "defaults:\n  createWorkspace: prod\nclusters:\n  - context: a\n    workspace: ws-1\n  - context: b\n",
        "fleet.yaml",
    )
    .unwrap();
    assert_eq!(parsed.entries[0].workspace.as_deref(), Some("ws-1"));
    assert_eq!(parsed.entries[0].create_workspace, None);
    assert_eq!(parsed.entries[1].create_workspace.as_deref(), Some("prod"));
    assert_eq!(parsed.entries[1].workspace, None);
}
