//! `kubectl amp-iam values`: Helm values for the prometheus chart, read back
//! as YAML. With --account (and the region from the flags or the context) it
//! makes no AWS call; tests/e2e.rs covers the STS path against moto.

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-amp_iam");
const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn values(kubeconfig: &std::path::Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .arg("values")
        .args(args)
        .env_clear()
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .env("KUBECONFIG", kubeconfig)
        // Any AWS call would fail: nothing listens there.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn yaml(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_saphyr::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not YAML ({e}):\n{}", run.stdout))
}

/// What `aws eks update-kubeconfig` writes, with a namespace on the context.
fn update_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let arn = "arn:aws:eks:ap-southeast-2:111122223333:cluster/demo";
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:1\n  name: {arn}\n\
             contexts:\n- context:\n    cluster: {arn}\n    user: {arn}\n    namespace: monitoring\n  name: {arn}\n\
             current-context: {arn}\nusers:\n- name: {arn}\n  user:\n    token: x\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn flags_alone_give_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let run = values(
        &tmp.path().join("none"),
        &[
            "--account",
            "111122223333",
            "--region",
            "eu-west-1",
            "--workspace",
            "ws-1234abcd-12ab-34cd-56ef-1234567890ab",
        ],
    );
    let v = yaml(&run);
    let sa = &v["serviceAccounts"]["server"];
    assert_eq!(sa["name"], "amp-iamproxy-ingest-service-account");
    assert_eq!(
        sa["annotations"][ROLE_ARN],
        "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role"
    );
    let rw = &v["server"]["remoteWrite"][0];
    assert_eq!(
        rw["url"],
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1234abcd-12ab-34cd-56ef-1234567890ab/api/v1/remote_write"
    );
    assert_eq!(rw["sigv4"]["region"], "eu-west-1");
    assert_eq!(rw["queue_config"]["max_samples_per_send"], 1000);
    assert_eq!(rw["queue_config"]["max_shards"], 200);
    assert_eq!(rw["queue_config"]["capacity"], 2500);
    assert!(!run.stderr.contains("WORKSPACE_ID"), "{}", run.stderr);
}

#[test]
fn the_context_gives_region_and_namespace_and_names_follow_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = update_kubeconfig(tmp.path());
    let run = values(
        &kubeconfig,
        &[
            "--account",
            "111122223333",
            "--partition",
            "aws-cn",
            "--service-account",
            "prom",
            "--role-name",
            "prom-writer",
            "--role-path",
            "/amp/",
        ],
    );
    let v = yaml(&run);
    assert_eq!(v["serviceAccounts"]["server"]["name"], "prom");
    assert_eq!(
        v["serviceAccounts"]["server"]["annotations"][ROLE_ARN],
        "arn:aws-cn:iam::111122223333:role/amp/prom-writer"
    );
    assert_eq!(
        v["server"]["remoteWrite"][0]["url"],
        "https://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/<WORKSPACE_ID>/api/v1/remote_write"
    );
    assert!(run.stderr.contains("<WORKSPACE_ID>"), "{}", run.stderr);
    assert!(run.stderr.contains("-n monitoring"), "{}", run.stderr);
}

#[test]
fn json_output_is_the_same_document() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--account", "111122223333", "--region", "us-east-1"];
    let y = yaml(&values(&tmp.path().join("none"), &args));
    let j = values(
        &tmp.path().join("none"),
        &[&args[..], &["-o", "json"]].concat(),
    );
    assert_eq!(j.code, 0, "{}", j.stderr);
    let j: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(y, j);
}

#[test]
fn bad_names_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let none = tmp.path().join("none");
    for args in [
        &["--account", "12", "--region", "us-east-1"][..],
        &[
            "--workspace",
            "1234",
            "--account",
            "111122223333",
            "--region",
            "us-east-1",
        ][..],
        &[
            "--service-account",
            "Prom",
            "--account",
            "111122223333",
            "--region",
            "us-east-1",
        ][..],
        &["--partition", "aws-cn"][..],
    ] {
        let run = values(&none, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn pod_identity_values_carry_no_role_annotation() {
    let tmp = tempfile::tempdir().unwrap();
    let run = values(
        &tmp.path().join("none"),
        &[
            "--account",
            "111122223333",
            "--region",
            "us-east-1",
            "--mode",
            "pod-identity",
        ],
    );
    let v = yaml(&run);
    let sa = &v["serviceAccounts"]["server"];
    assert_eq!(sa["name"], "amp-iamproxy-ingest-service-account");
    assert!(
        sa["annotations"]
            .as_object()
            .is_none_or(|a| !a.contains_key(ROLE_ARN)),
        "an IRSA annotation would win over Pod Identity: {sa}"
    );
}
