//! `kubectl amp-iam permissions` covers every AWS call the tool can make.
//!
//! The actions are not listed here: they are read from src/aws/sdk.rs, where
//! every SDK call is labelled with its IAM action as a string literal, so a
//! new call without a matching grant fails this test.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const SDK: &str = include_str!("../src/aws/sdk.rs");
const BIN: &str = env!("CARGO_BIN_EXE_kubectl-amp_iam");
/// Needed because creation passes tags (or an association passes its role),
/// not called on their own.
const IMPLIED_ACTIONS: [&str; 6] = [
    "iam:TagRole",
    "iam:TagPolicy",
    "iam:TagOpenIDConnectProvider",
    "aps:TagResource",
    "eks:TagResource",
    "iam:PassRole",
];
/// Setup's identity modes: each needs its own calls, together they are all.
const MODES: [&str; 2] = ["irsa", "pod-identity"];
/// The services the SDK edge calls, by IAM prefix.
const SERVICES: [&str; 4] = ["iam", "eks", "sts", "aps"];

/// Every `"iam:X"`, `"eks:X"`, `"sts:X"` or `"aps:X"` string literal in `source`.
fn labelled_actions(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let literal = &after[..end];
        if let Some((service, action)) = literal.split_once(':') {
            if SERVICES.contains(&service)
                && !action.is_empty()
                && action.bytes().all(|b| b.is_ascii_alphabetic())
            {
                found.insert(literal.to_string());
            }
        }
        rest = &after[end + 1..];
    }
    found
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn permissions(args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .arg("permissions")
        .args(args)
        .env_clear()
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        // Any AWS call would fail: nothing listens there.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_REGION", "us-east-1")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("run the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn policy(args: &[&str]) -> Value {
    let run = permissions(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not pure JSON ({e}):\n{}", run.stdout))
}

fn actions(doc: &Value) -> BTreeSet<String> {
    doc["Statement"]
        .as_array()
        .expect("Statement is a list")
        .iter()
        .flat_map(|st| match &st["Action"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
            other => panic!("Action: {other}"),
        })
        .collect()
}

#[test]
fn the_scanner_finds_the_labelled_calls() {
    let found = labelled_actions(SDK);
    for a in [
        "sts:GetCallerIdentity",
        "eks:DescribeCluster",
        "iam:CreateRole",
        "aps:DescribeWorkspace",
        "aps:ListWorkspaces",
        "aps:CreateWorkspace",
        "aps:DeleteWorkspace",
    ] {
        assert!(found.contains(a), "{a} not found in {found:?}");
    }
    assert!(found.len() >= 24, "only {found:?}");
    assert_eq!(
        labelled_actions(r#"x("iam:GetRole", "iam:", "s3:GetObject", "eks:List-x") "sts:A""#),
        BTreeSet::from(["iam:GetRole".to_string(), "sts:A".to_string()])
    );
}

#[test]
fn teardown_policies_of_all_kinds_cover_every_call_in_the_sdk_edge() {
    let mut printed = BTreeSet::new();
    for mode in MODES {
        for kind in ["ingest", "query", "fargate"] {
            printed.extend(actions(&policy(&["--mode", mode, kind, "--teardown"])));
        }
    }
    let needed: BTreeSet<String> = labelled_actions(SDK)
        .into_iter()
        .chain(IMPLIED_ACTIONS.iter().map(|s| s.to_string()))
        .collect();
    let missing: Vec<&String> = needed.difference(&printed).collect();
    assert!(missing.is_empty(), "not granted: {missing:?}");
    // And nothing more: least privilege.
    let extra: Vec<&String> = printed.difference(&needed).collect();
    assert!(extra.is_empty(), "granted but never called: {extra:?}");
    // All KINDs at once is the same set.
    let mut all_kinds = BTreeSet::new();
    for mode in MODES {
        all_kinds.extend(actions(&policy(&[
            "--mode",
            mode,
            "ingest",
            "query",
            "fargate",
            "--teardown",
        ])));
    }
    assert_eq!(all_kinds, printed);
}

/// What only teardown calls: deletes, detaches, and the ListRoles of
/// `--include-oidc-provider`.
const TEARDOWN_ONLY: [&str; 7] = [
    "aps:DeleteWorkspace",
    "eks:DeletePodIdentityAssociation",
    "iam:DeleteOpenIDConnectProvider",
    "iam:DeletePolicy",
    "iam:DeleteRole",
    "iam:DetachRolePolicy",
    "iam:ListRoles",
];

#[test]
fn setup_policies_of_all_kinds_cover_every_call_but_teardowns() {
    let mut printed = BTreeSet::new();
    for mode in MODES {
        for kind in ["ingest", "query", "fargate"] {
            printed.extend(actions(&policy(&["--mode", mode, kind])));
        }
    }
    let needed: BTreeSet<String> = labelled_actions(SDK)
        .into_iter()
        .chain(IMPLIED_ACTIONS.iter().map(|s| s.to_string()))
        .filter(|a| !TEARDOWN_ONLY.contains(&a.as_str()))
        .collect();
    assert_eq!(printed, needed);
    // Reads setup relies on, the version pruning, and --create-workspace.
    for a in [
        "aps:ListWorkspaces",
        "aps:DescribeWorkspace",
        "aps:CreateWorkspace",
        "aps:TagResource",
        "iam:GetAccountSummary",
        "iam:GetPolicy",
        "iam:ListEntitiesForPolicy",
        "iam:ListPolicyTags",
        "iam:DeletePolicyVersion",
        // Pod Identity: the associations, the agent and --install-agent.
        "eks:ListPodIdentityAssociations",
        "eks:DescribePodIdentityAssociation",
        "eks:CreatePodIdentityAssociation",
        "eks:UpdatePodIdentityAssociation",
        "eks:DescribeAddon",
        "eks:CreateAddon",
        "eks:ListFargateProfiles",
        "eks:DescribeFargateProfile",
    ] {
        assert!(printed.contains(a), "{a} not in {printed:?}");
    }
}

#[test]
fn pod_identity_passes_only_the_recipes_roles_only_to_eks_pod_identity() {
    let doc = policy(&[
        "--mode",
        "pod-identity",
        "ingest",
        "--account",
        "111122223333",
        "--region",
        "eu-west-1",
        "--cluster",
        "demo",
    ]);
    let statements = doc["Statement"].as_array().expect("Statement is a list");
    let sid = |name: &str| {
        statements
            .iter()
            .find(|st| st["Sid"] == name)
            .unwrap_or_else(|| panic!("a {name} statement in {doc}"))
    };
    let pass = sid("PassRoleToPodIdentity");
    assert_eq!(pass["Action"], serde_json::json!(["iam:PassRole"]));
    assert_eq!(
        pass["Resource"],
        "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role"
    );
    assert_eq!(
        pass["Condition"],
        serde_json::json!({"StringEquals": {"iam:PassedToService": "pods.eks.amazonaws.com"}})
    );
    assert_eq!(
        sid("PodIdentityAssociations")["Resource"],
        "arn:aws:eks:eu-west-1:111122223333:podidentityassociation/demo/*"
    );
    // --install-agent's CreateAddon stands alone, on the cluster.
    let install = sid("InstallAgentOnlyCreateAddon");
    assert_eq!(install["Action"], serde_json::json!(["eks:CreateAddon"]));
    assert_eq!(
        install["Resource"],
        "arn:aws:eks:eu-west-1:111122223333:cluster/demo"
    );
    assert_eq!(
        sid("InstallAgentOnlyTagAddon")["Resource"],
        "arn:aws:eks:eu-west-1:111122223333:addon/demo/eks-pod-identity-agent/*"
    );
}

#[test]
fn the_boundary_lookup_is_scoped_to_the_account_and_aws_managed_policies() {
    let doc = policy(&["fargate", "--account", "111122223333"]);
    let st = doc["Statement"]
        .as_array()
        .expect("Statement is a list")
        .iter()
        .find(|st| st["Sid"] == "PermissionsBoundary")
        .expect("a PermissionsBoundary statement");
    assert_eq!(st["Action"], serde_json::json!(["iam:GetPolicy"]));
    assert_eq!(
        st["Resource"],
        serde_json::json!([
            "arn:aws:iam::111122223333:policy/*",
            "arn:aws:iam::aws:policy/*"
        ])
    );
}

#[test]
fn setup_needs_no_delete() {
    let setup = actions(&policy(&[]));
    assert!(
        setup
            .iter()
            .all(|a| !a.contains(":Delete") || a == "iam:DeletePolicyVersion"),
        "{setup:?}"
    );
    assert!(setup.contains("iam:CreateRole") && setup.contains("iam:TagRole"));
}

#[test]
fn stdout_is_the_policy_and_stderr_the_rbac_note() {
    let run = permissions(&["ingest", "--account", "111122223333", "-n", "prometheus"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).expect("pure JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    assert!(
        run.stdout
            .contains("arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role")
    );
    assert!(
        run.stderr
            .contains("serviceaccounts: get, patch in namespace prometheus"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("namespaces: get, create"),
        "{}",
        run.stderr
    );
    for rule in [
        "pods: list in namespace prometheus",
        "replicasets.apps: get in namespace prometheus",
        "jobs.batch: get in namespace prometheus",
        "deployments.apps: get, patch in namespace prometheus (Role), for setup --restart",
        "pods: delete in namespace prometheus (Role), only for setup --restart --force",
    ] {
        assert!(run.stderr.contains(rule), "{rule}: {}", run.stderr);
    }
}

#[test]
fn workspace_grants_are_scoped_to_the_accounts_workspaces() {
    let doc = policy(&[
        "ingest",
        "--teardown",
        "--account",
        "111122223333",
        "--region",
        "eu-west-1",
    ]);
    let statements = doc["Statement"].as_array().expect("Statement is a list");
    let sid = |name: &str| {
        statements
            .iter()
            .find(|st| st["Sid"] == name)
            .unwrap_or_else(|| panic!("a {name} statement"))
    };
    let ws = sid("AmpWorkspaces");
    assert_eq!(
        ws["Resource"],
        "arn:aws:aps:eu-west-1:111122223333:workspace/*"
    );
    assert_eq!(
        ws["Action"],
        serde_json::json!([
            "aps:DeleteWorkspace",
            "aps:DescribeWorkspace",
            "aps:TagResource"
        ])
    );
    // Neither has a resource type in AMP: `*` is the only Resource IAM accepts.
    let create = sid("AmpWorkspaceCreate");
    assert_eq!(create["Resource"], "*");
    assert_eq!(
        create["Condition"]["StringEquals"]["aws:RequestTag/app.kubernetes.io/managed-by"],
        "kubectl-amp-iam"
    );
    assert!(
        actions(&serde_json::json!({"Statement": [sid("Discover")]}))
            .contains("aps:ListWorkspaces")
    );
}

#[test]
fn bad_account_or_partition_is_a_usage_error() {
    for args in [
        &["--account", "1234"][..],
        &["--partition", "azure"][..],
        &["--role-name", "r"][..],
        &["--region", "mars-1"][..],
    ] {
        let run = permissions(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_mode_flag_adds_pod_identity_grants_only_when_asked() {
    let irsa = actions(&policy(&[]));
    let pod_identity = actions(&policy(&["--mode", "pod-identity"]));
    for a in [
        "eks:CreatePodIdentityAssociation",
        "eks:DescribeAddon",
        "iam:PassRole",
    ] {
        assert!(pod_identity.contains(a), "{a} with --mode pod-identity");
        assert!(!irsa.contains(a), "{a} not for IRSA");
    }
    assert!(irsa.is_subset(&pod_identity), "migrations need both");
}
