//! `kubectl amp-iam export`: what setup would make, as ACK manifests, read
//! back and validated strictly against the ACK CRDs (tests/fixtures/crds,
//! through tests/support/crd_schema.rs). Every run here gives the account,
//! cluster, region and (IRSA) issuer, so it must make no AWS call: AWS
//! points at a port where nothing listens and there are no credentials nor
//! kubeconfig, so any call fails the run (the control test shows it does);
//! and with `-v` no call may be logged either.

#[path = "support/crd_schema.rs"]
mod crd_schema;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-amp_iam");
const ACCOUNT: &str = "111122223333";
const CLUSTER: &str = "demo";
const REGION: &str = "eu-west-1";
const NS: &str = "monitoring";
const ISSUER_HOST: &str = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const MANAGER: &str = "kubectl-amp-iam";
const CLUSTER_TAG: &str = "kubectl-amp-iam/cluster";
const FARGATE_POLICY: &str = "arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy";
const BOUNDARY: &str = "arn:aws:iam::111122223333:policy/b";
const INGEST_SA: &str = "amp-iamproxy-ingest-service-account";
const QUERY_SA: &str = "amp-iamproxy-query-service-account";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `export ARGS` with no AWS and no cluster reachable.
fn export(args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("export")
        .args(args)
        .arg("-v")
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("none"))
        // Any AWS call would fail: nothing listens there, and there are no
        // credentials.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The target in flags: account, cluster, region, namespace, issuer.
fn target() -> Vec<String> {
    [
        "--account",
        ACCOUNT,
        "--cluster",
        CLUSTER,
        "--region",
        REGION,
        "-n",
        NS,
        "--oidc-issuer",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("https://{ISSUER_HOST}")])
    .collect()
}

fn export_with(extra: &[&str]) -> Run {
    let mut args = target();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    export(&args)
}

/// Succeeded, and `-v` logged no AWS or Kubernetes call (through the traced
/// edges: a call elsewhere fails the run instead).
fn assert_ok_without_calls(run: &Run) {
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    for line in run.stderr.lines() {
        assert!(
            !(line.contains(": ok in ") || line.contains(": failed in ")),
            "export made a call: {line}\nstderr:\n{}",
            run.stderr
        );
    }
}

/// The default output: a `---` separated YAML stream of objects.
fn stream(run: &Run) -> Vec<Value> {
    assert_ok_without_calls(run);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&run.stdout)
        .unwrap_or_else(|e| panic!("not a YAML stream ({e}):\n{}", run.stdout));
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let separators = run.stdout.lines().filter(|l| l.trim_end() == "---").count();
    assert_eq!(
        separators,
        docs.len(),
        "every document starts with ---:\n{}",
        run.stdout
    );
    docs
}

/// Every object valid, strictly; all errors at once.
fn assert_valid(objects: &[Value]) {
    let mut report = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if let Err(errors) = crd_schema::validate(o) {
            report.push(format!(
                "#{i} {} {}:\n  {}",
                o["kind"],
                o["metadata"]["name"],
                errors.join("\n  ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "export printed objects the ACK CRDs reject:\n{}\n\nobjects:\n{}",
        report.join("\n"),
        serde_json::to_string_pretty(objects).unwrap()
    );
}

fn counts(objects: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in objects {
        let kind = format!(
            "{} {}",
            o["apiVersion"].as_str().unwrap_or("?"),
            o["kind"].as_str().unwrap_or("?")
        );
        *counts.entry(kind).or_default() += 1;
    }
    counts
}

fn expect_counts(objects: &[Value], expected: &[(&str, usize)]) {
    let expected: BTreeMap<String, usize> =
        expected.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(counts(objects), expected);
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap()
}

/// A string or a list of strings (IAM allows both).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A JSON document held as a string (`assumeRolePolicyDocument`,
/// `policyDocument`): it must parse, with a Version and Statements.
fn document(o: &Value, field: &str) -> Value {
    let text = o["spec"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{} spec.{field} is not a string: {o}", name(o)));
    let doc: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{} spec.{field} is not JSON ({e}): {text}", name(o)));
    assert_eq!(doc["Version"], "2012-10-17", "{text}");
    assert!(
        doc["Statement"].as_array().is_some_and(|s| !s.is_empty()),
        "{text}"
    );
    doc
}

fn statements(doc: &Value) -> Vec<&Value> {
    doc["Statement"].as_array().unwrap().iter().collect()
}

/// IAM tags (`[{key, value}]`) or EKS tags (a map), as a map.
fn tags(o: &Value) -> BTreeMap<String, String> {
    match &o["spec"]["tags"] {
        Value::Array(list) => list
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap().to_string(),
                    t["value"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
        other => panic!("{} has no tags: {other}", name(o)),
    }
}

/// What every run must hold, whatever the mode.
fn check_common(objects: &[Value]) {
    assert_valid(objects);

    // Unique object names per kind: a stream applies as a whole.
    let mut seen = BTreeSet::new();
    for o in objects {
        assert!(
            seen.insert((o["kind"].to_string(), name(o).to_string())),
            "two {} named {}",
            o["kind"],
            name(o)
        );
    }

    // References resolve inside the stream.
    let policy_objects: BTreeMap<&str, &Value> = of_kind(objects, "Policy")
        .into_iter()
        .map(|p| (name(p), p))
        .collect();
    let role_objects: BTreeMap<&str, &Value> = of_kind(objects, "Role")
        .into_iter()
        .map(|r| (name(r), r))
        .collect();
    for role in role_objects.values() {
        for r in role["spec"]["policyRefs"].as_array().into_iter().flatten() {
            let target = r["from"]["name"].as_str().unwrap();
            let policy = policy_objects.get(target).unwrap_or_else(|| {
                panic!(
                    "Role {} refers to Policy {target}, not in the stream ({:?})",
                    name(role),
                    policy_objects.keys()
                )
            });
            if let Some(ns) = r["from"]["namespace"].as_str() {
                assert_eq!(policy["metadata"]["namespace"], ns, "{r}");
            }
        }
        document(role, "assumeRolePolicyDocument");
    }
    for a in of_kind(objects, "PodIdentityAssociation") {
        if let Some(target) = a["spec"]["roleRef"]["from"]["name"].as_str() {
            assert!(
                role_objects.contains_key(target),
                "PodIdentityAssociation {} refers to Role {target}, not in the stream",
                name(a)
            );
        } else {
            assert!(a["spec"]["roleARN"].is_string(), "no role: {a}");
        }
    }
    for p in policy_objects.values() {
        let doc = document(p, "policyDocument");
        for st in statements(&doc) {
            assert_eq!(st["Effect"], "Allow", "{doc}");
            assert!(
                strings(&st["Action"]).iter().all(|a| a.starts_with("aps:")),
                "{doc}"
            );
        }
    }

    // Ours, and for this cluster.
    for o in objects.iter().filter(|o| o["kind"] != "ServiceAccount") {
        let t = tags(o);
        assert_eq!(t.get(MANAGED_BY).map(String::as_str), Some(MANAGER), "{o}");
        assert_eq!(t.get(CLUSTER_TAG).map(String::as_str), Some(CLUSTER), "{o}");
    }
    for sa in of_kind(objects, "ServiceAccount") {
        assert_eq!(sa["metadata"]["namespace"], NS, "{sa}");
        assert_eq!(sa["metadata"]["labels"][MANAGED_BY], MANAGER, "{sa}");
    }
}

/// The Role whose IAM name is `role`.
fn role_named<'a>(objects: &'a [Value], role: &str) -> &'a Value {
    of_kind(objects, "Role")
        .into_iter()
        .find(|r| r["spec"]["name"] == role)
        .unwrap_or_else(|| panic!("no Role for {role}"))
}

/// IRSA: each ServiceAccount's annotation names a Role of the stream whose
/// trust is the provider of the stream, for exactly this ServiceAccount and
/// audience; returns the roles' names.
fn check_irsa(objects: &[Value], path: &str) -> Vec<String> {
    let provider_arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER_HOST}");
    let [provider] = of_kind(objects, "OpenIDConnectProvider")[..] else {
        panic!("not one OpenIDConnectProvider")
    };
    assert_eq!(provider["spec"]["url"], format!("https://{ISSUER_HOST}"));
    assert_eq!(
        provider["spec"]["clientIDs"],
        serde_json::json!(["sts.amazonaws.com"])
    );
    let mut roles = Vec::new();
    for sa in of_kind(objects, "ServiceAccount") {
        let arn = sa["metadata"]["annotations"][ROLE_ARN]
            .as_str()
            .unwrap_or_else(|| panic!("IRSA ServiceAccount without {ROLE_ARN}: {sa}"));
        let prefix = format!("arn:aws:iam::{ACCOUNT}:role{path}");
        let role_name = arn
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{arn} is not under {prefix}"));
        let role = role_named(objects, role_name);
        assert_eq!(role["spec"]["path"], path, "{role}");
        let trust = document(role, "assumeRolePolicyDocument");
        let subject = format!("system:serviceaccount:{NS}:{}", name(sa));
        let trusted = statements(&trust).into_iter().any(|st| {
            let eq = &st["Condition"]["StringEquals"];
            st["Effect"] == "Allow"
                && strings(&st["Principal"]["Federated"]) == [provider_arn.clone()]
                && strings(&st["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
                && strings(&eq[format!("{ISSUER_HOST}:sub")]) == [subject.clone()]
                && strings(&eq[format!("{ISSUER_HOST}:aud")]) == ["sts.amazonaws.com"]
        });
        assert!(trusted, "{role_name} does not trust {subject}: {trust}");
        // One Policy of ours, by reference.
        let refs = role["spec"]["policyRefs"].as_array().unwrap();
        assert_eq!(refs.len(), 1, "{role}");
        assert!(role["spec"].get("policies").is_none(), "{role}");
        roles.push(role_name.to_string());
    }
    roles
}

#[test]
fn irsa_ingest_and_query() {
    let objects = stream(&export_with(&[]));
    check_common(&objects);
    expect_counts(
        &objects,
        &[
            ("iam.services.k8s.aws/v1alpha1 OpenIDConnectProvider", 1),
            ("iam.services.k8s.aws/v1alpha1 Policy", 2),
            ("iam.services.k8s.aws/v1alpha1 Role", 2),
            ("v1 ServiceAccount", 2),
        ],
    );
    let mut roles = check_irsa(&objects, "/");
    roles.sort();
    assert_eq!(
        roles,
        ["amp-iamproxy-ingest-role", "amp-iamproxy-query-role"]
    );
    let accounts: BTreeSet<&str> = of_kind(&objects, "ServiceAccount")
        .into_iter()
        .map(name)
        .collect();
    assert_eq!(accounts, BTreeSet::from([INGEST_SA, QUERY_SA]));
    let policies: BTreeSet<&str> = of_kind(&objects, "Policy")
        .into_iter()
        .map(|p| p["spec"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        policies,
        BTreeSet::from(["AMPIngestPolicy", "AMPQueryPolicy"])
    );
    // Dependency order: what is referred to comes first.
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    let last = |k: &str| kinds.iter().rposition(|x| *x == k).unwrap();
    assert!(first("OpenIDConnectProvider") < first("Role"), "{kinds:?}");
    assert!(last("Policy") < first("Role"), "{kinds:?}");
}

#[test]
fn yaml_is_the_default_and_json_is_one_list_of_the_same_objects() {
    let yaml = stream(&export_with(&[]));
    assert_eq!(stream(&export_with(&["-o", "yaml"])), yaml);

    let run = export_with(&["-o", "json"]);
    assert_ok_without_calls(&run);
    let list: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", run.stdout));
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    check_common(items);
    assert_eq!(items, &yaml);
    assert_eq!(
        list.as_object().unwrap().keys().collect::<BTreeSet<_>>(),
        BTreeSet::from([&"apiVersion".to_string(), &"items".into(), &"kind".into()])
    );
}

#[test]
fn the_strict_check_has_teeth_on_what_export_prints() {
    // Each real object, with one field misspelt where it sits, is rejected
    // naming that field: the validator is not passing things vacuously.
    let mut objects = stream(&export_with(&["--tag", "team=obs"]));
    objects.extend(stream(&export(&[
        "--mode",
        "pod-identity",
        "--account",
        ACCOUNT,
        "--cluster",
        CLUSTER,
        "--region",
        REGION,
        "-n",
        NS,
    ])));
    assert_valid(&objects);
    for o in &objects {
        let mut bad = o.clone();
        let (parent, field) = if o["kind"] == "ServiceAccount" {
            ("", "metdata")
        } else {
            ("/spec", "nmae")
        };
        let target = bad.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        target.insert(field.into(), Value::from("x"));
        let errors = crd_schema::validate(&bad).unwrap_err();
        assert_eq!(
            errors,
            [format!(
                "{parent}/{field}: unknown field: the schema has no such property (the API server would drop it)"
            )],
            "{o}"
        );
    }
}

#[test]
fn fargate_is_one_role_with_the_aws_managed_policy() {
    let objects = stream(&export_with(&["fargate"]));
    check_common(&objects);
    expect_counts(&objects, &[("iam.services.k8s.aws/v1alpha1 Role", 1)]);
    let role = &objects[0];
    assert_eq!(role["spec"]["name"], "AmazonEKSFargatePodExecutionRole");
    assert_eq!(
        role["spec"]["policies"],
        serde_json::json!([FARGATE_POLICY])
    );
    assert!(role["spec"].get("policyRefs").is_none(), "{role}");
    let trust = document(role, "assumeRolePolicyDocument");
    let source = format!("arn:aws:eks:{REGION}:{ACCOUNT}:fargateprofile/{CLUSTER}/*");
    assert!(
        statements(&trust).into_iter().any(|st| {
            strings(&st["Principal"]["Service"]) == ["eks-fargate-pods.amazonaws.com"]
                && strings(&st["Action"]) == ["sts:AssumeRole"]
                && strings(&st["Condition"]["ArnLike"]["aws:SourceArn"]) == [source.clone()]
        }),
        "{trust}"
    );
}

#[test]
fn pod_identity_ingest_and_query() {
    // No issuer: Pod Identity needs none, and still no AWS call.
    let run = export(&[
        "--mode",
        "pod-identity",
        "--account",
        ACCOUNT,
        "--cluster",
        CLUSTER,
        "--region",
        REGION,
        "-n",
        NS,
        "--tag",
        "team=obs",
    ]);
    let objects = stream(&run);
    check_common(&objects);
    expect_counts(
        &objects,
        &[
            ("eks.services.k8s.aws/v1alpha1 PodIdentityAssociation", 2),
            ("iam.services.k8s.aws/v1alpha1 Policy", 2),
            ("iam.services.k8s.aws/v1alpha1 Role", 2),
            ("v1 ServiceAccount", 2),
        ],
    );
    for sa in of_kind(&objects, "ServiceAccount") {
        assert!(
            sa["metadata"]["annotations"].get(ROLE_ARN).is_none(),
            "Pod Identity needs no role-arn annotation: {sa}"
        );
    }
    let mut accounts = BTreeSet::new();
    for a in of_kind(&objects, "PodIdentityAssociation") {
        let spec = &a["spec"];
        assert_eq!(spec["clusterName"], CLUSTER, "{a}");
        assert_eq!(spec["namespace"], NS, "{a}");
        let sa = spec["serviceAccount"].as_str().unwrap();
        assert!(
            of_kind(&objects, "ServiceAccount")
                .into_iter()
                .any(|s| name(s) == sa),
            "{sa} has no ServiceAccount in the stream"
        );
        accounts.insert(sa);
        assert_eq!(tags(a).get("team").map(String::as_str), Some("obs"), "{a}");
        // The role it names trusts EKS Pod Identity.
        let role = match spec["roleRef"]["from"]["name"].as_str() {
            Some(object) => of_kind(&objects, "Role")
                .into_iter()
                .find(|r| name(r) == object)
                .unwrap(),
            None => {
                let arn = spec["roleARN"].as_str().unwrap();
                role_named(&objects, arn.rsplit('/').next().unwrap())
            }
        };
        let trust = document(role, "assumeRolePolicyDocument");
        assert!(
            statements(&trust).into_iter().any(|st| {
                let mut actions = strings(&st["Action"]);
                actions.sort();
                strings(&st["Principal"]["Service"]) == ["pods.eks.amazonaws.com"]
                    && actions == ["sts:AssumeRole", "sts:TagSession"]
            }),
            "{trust}"
        );
        assert!(!trust.to_string().contains("oidc-provider"), "{trust}");
    }
    assert_eq!(accounts, BTreeSet::from([INGEST_SA, QUERY_SA]));
}

#[test]
fn tags_boundary_and_path_reach_every_object() {
    let objects = stream(&export_with(&[
        "--tag",
        "team=obs",
        "--permissions-boundary",
        BOUNDARY,
        "--role-path",
        "/amp/",
    ]));
    check_common(&objects);
    assert_eq!(
        counts(&objects).values().sum::<usize>(),
        7,
        "{:?}",
        counts(&objects)
    );
    check_irsa(&objects, "/amp/");
    for o in objects.iter().filter(|o| o["kind"] != "ServiceAccount") {
        assert_eq!(tags(o).get("team").map(String::as_str), Some("obs"), "{o}");
    }
    for r in of_kind(&objects, "Role") {
        assert_eq!(r["spec"]["permissionsBoundary"], BOUNDARY, "{r}");
        assert_eq!(r["spec"]["path"], "/amp/", "{r}");
    }
    for p in of_kind(&objects, "Policy") {
        assert_eq!(p["spec"]["path"], "/amp/", "{p}");
    }
}

#[test]
fn names_follow_the_flags() {
    let objects = stream(&export_with(&[
        "ingest",
        "--service-account",
        "prom",
        "--role-name",
        "prom-writer",
        "--policy-name",
        "PromWrite",
    ]));
    check_common(&objects);
    assert_eq!(check_irsa(&objects, "/"), ["prom-writer"]);
    let [policy] = of_kind(&objects, "Policy")[..] else {
        panic!("not one Policy")
    };
    assert_eq!(policy["spec"]["name"], "PromWrite");
    let [sa] = of_kind(&objects, "ServiceAccount")[..] else {
        panic!("not one ServiceAccount")
    };
    assert_eq!(name(sa), "prom");
}

#[test]
fn without_the_issuer_irsa_needs_aws_and_fails_here() {
    // The control: this harness does catch a run that calls AWS.
    let run = export(&[
        "--account",
        ACCOUNT,
        "--cluster",
        CLUSTER,
        "--region",
        REGION,
    ]);
    assert_ne!(run.code, 0, "stdout:\n{}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("DescribeCluster"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--format", "nope"][..],
        &["--partition", "aws-cn"],
        &["--mode", "nope"],
        &["nope"],
    ] {
        let run = export(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn tag_values_that_look_typed_stay_strings_in_yaml() {
    // YAML would read these unquoted as numbers, booleans or null, which the
    // CRDs (string tag values) reject.
    let values = [
        "123", "true", "null", "yes", "1e3", "", "0x1F", "-", "- x", "a: b", "@x", " x ",
    ];
    let tag_args: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("t{i}={v}"))
        .collect();
    for mode in ["irsa", "pod-identity"] {
        let mut args = vec!["ingest", "--mode", mode];
        for t in &tag_args {
            args.extend(["--tag", t.as_str()]);
        }
        let objects = stream(&export_with(&args));
        check_common(&objects);
        for o in objects.iter().filter(|o| o["kind"] != "ServiceAccount") {
            let t = tags(o);
            for (i, v) in values.iter().enumerate() {
                assert_eq!(t.get(&format!("t{i}")).map(String::as_str), Some(*v), "{o}");
            }
        }
    }
}

/// Every string in `v` that starts with `arn:`, inside JSON documents held
/// as strings too.
fn arns(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("arn:") => out.push(s.clone()),
        Value::String(s) if s.starts_with('{') => {
            if let Ok(doc) = serde_json::from_str::<Value>(s) {
                arns(&doc, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| arns(x, out)),
        Value::Object(m) => m.values().for_each(|x| arns(x, out)),
        _ => {}
    }
}

#[test]
fn the_partition_reaches_every_arn() {
    for extra in [&["ingest", "fargate"][..], &["--mode", "pod-identity"]] {
        let mut args = vec![
            "--account",
            ACCOUNT,
            "--partition",
            "aws-cn",
            "--cluster",
            CLUSTER,
            "--region",
            "cn-north-1",
            "-n",
            NS,
            "--oidc-issuer",
            "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC",
        ];
        args.extend(extra);
        let objects = stream(&export(&args));
        check_common(&objects);
        let mut found = Vec::new();
        objects.iter().for_each(|o| arns(o, &mut found));
        assert!(found.len() >= 2, "{found:?}");
        for arn in &found {
            assert!(arn.starts_with("arn:aws-cn:"), "{arn} in {extra:?}");
        }
        if extra.contains(&"fargate") {
            assert!(
                found
                    .iter()
                    .any(|a| a
                        == "arn:aws-cn:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"),
                "{found:?}"
            );
        }
    }
}
