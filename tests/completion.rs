//! Shell completion: the static scripts, and `kubectl amp-iam <TAB>` through
//! the real kubectl, which runs plugin/kubectl_complete-amp_iam.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-amp_iam");

#[test]
fn completion_prints_a_script_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completion", shell])
            .output()
            .expect("run the binary");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(!script.trim().is_empty(), "{shell}: empty");
        assert!(script.contains("setup"), "{shell}: no setup");
        assert!(
            script.contains("kubectl-amp_iam"),
            "{shell}: not for kubectl-amp_iam"
        );
    }
    let out = Command::new(BIN)
        .args(["completion", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `kubectl __complete amp-iam <words>`: what kubectl's own completion asks.
fn kubectl_complete(words: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("kubectl-amp_iam")).unwrap();
    let completer = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin/kubectl_complete-amp_iam");
    std::os::unix::fs::symlink(&completer, bin.join("kubectl_complete-amp_iam")).unwrap();
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl on PATH");
    let out = Command::new(kubectl)
        .arg("__complete")
        .arg("amp-iam")
        .args(words)
        .env_clear()
        .env("HOME", tmp.path())
        .env("KUBECONFIG", tmp.path().join("none"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_completes_the_plugins_commands_kinds_and_flags() {
    let commands = kubectl_complete(&[""]);
    for c in [
        "setup",
        "status",
        "teardown",
        "permissions",
        "values",
        "completion",
    ] {
        assert!(
            commands.lines().any(|l| l.starts_with(&format!("{c}\t"))),
            "{c} missing:\n{commands}"
        );
    }
    assert_eq!(commands.lines().last(), Some(":4"), "{commands}");

    let kinds = kubectl_complete(&["setup", "fa"]);
    assert!(kinds.lines().any(|l| l.starts_with("fargate\t")), "{kinds}");
    let flags = kubectl_complete(&["teardown", "--include"]);
    assert!(
        flags
            .lines()
            .any(|l| l.starts_with("--include-oidc-provider\t")),
        "{flags}"
    );
}

#[test]
fn the_completer_runs_through_path_not_a_fixed_location() {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin/kubectl_complete-amp_iam"),
    )
    .unwrap();
    assert!(script.starts_with("#!/bin/sh\n"));
    assert!(script.contains("exec kubectl-amp_iam "), "{script}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin/kubectl_complete-amp_iam"),
    )
    .unwrap()
    .permissions()
    .mode();
    assert_eq!(mode & 0o111, 0o111, "not executable");
}
