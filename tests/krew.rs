//! The krew manifest and the release archives. A validator for krew's rules,
//! then the whole path: package the freshly built binary with
//! plugin/package.sh, render a manifest for it with plugin/render-manifest.sh,
//! and install the archive the way krew does, reaching the plugin through the
//! real kubectl.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_kubectl-amp_iam");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const PLATFORMS: [(&str, &str); 5] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
];

// ---------------------------------------------------------------------------
// krew's rules

fn keys_within(v: &Value, allowed: &[&str], at: &str, errors: &mut Vec<String>) {
    if let Some(map) = v.as_object() {
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                errors.push(format!("{at}: unknown field {k:?} (krew decodes strictly)"));
            }
        }
    } else {
        errors.push(format!("{at}: not a mapping"));
    }
}

fn text<'a>(v: &'a Value, key: &str, at: &str, errors: &mut Vec<String>) -> &'a str {
    match v.get(key).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s,
        _ => {
            errors.push(format!("{at}.{key}: required, a non-empty string"));
            ""
        }
    }
}

fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_safe_file_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '\\']) && s != "." && s != ".."
}

/// Every way `m` breaks krew's rules for a plugin manifest (empty: valid).
fn violations(m: &Value) -> Vec<String> {
    let mut e = Vec::new();
    keys_within(m, &["apiVersion", "kind", "metadata", "spec"], "", &mut e);
    if m["apiVersion"] != "krew.googlecontainertools.github.com/v1alpha2" {
        e.push(format!("apiVersion: {}", m["apiVersion"]));
    }
    if m["kind"] != "Plugin" {
        e.push(format!("kind: {}", m["kind"]));
    }
    let name = text(&m["metadata"], "name", "metadata", &mut e);
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !name_ok || name != "amp-iam" {
        e.push(format!(
            "metadata.name {name:?}: must be amp-iam (kubectl amp-iam)"
        ));
    }

    let spec = &m["spec"];
    keys_within(
        spec,
        &[
            "version",
            "homepage",
            "shortDescription",
            "description",
            "caveats",
            "platforms",
        ],
        "spec",
        &mut e,
    );
    let version = text(spec, "version", "spec", &mut e);
    match version.strip_prefix('v') {
        Some(v) if is_semver(v) => {
            if v != VERSION {
                e.push(format!(
                    "spec.version {version}: Cargo.toml says v{VERSION}"
                ));
            }
        }
        _ => e.push(format!("spec.version {version:?}: not v<semver>")),
    }
    let homepage = text(spec, "homepage", "spec", &mut e);
    if !homepage.starts_with("https://") {
        e.push(format!("spec.homepage {homepage:?}: not https"));
    }
    let short = text(spec, "shortDescription", "spec", &mut e);
    if short.contains('\n') {
        e.push("spec.shortDescription: one line".into());
    }
    text(spec, "description", "spec", &mut e);
    let caveats = text(spec, "caveats", "spec", &mut e);
    if !caveats.contains("kubectl amp-iam permissions") {
        e.push("spec.caveats: should say how to get the IAM permissions".into());
    }

    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    if platforms.is_empty() {
        e.push("spec.platforms: at least one".into());
    }
    let mut seen = BTreeSet::new();
    for (i, p) in platforms.iter().enumerate() {
        let at = format!("spec.platforms[{i}]");
        keys_within(
            p,
            &["selector", "uri", "sha256", "bin", "files"],
            &at,
            &mut e,
        );
        keys_within(
            &p["selector"],
            &["matchLabels"],
            &format!("{at}.selector"),
            &mut e,
        );
        let labels = &p["selector"]["matchLabels"];
        keys_within(
            labels,
            &["os", "arch"],
            &format!("{at}.selector.matchLabels"),
            &mut e,
        );
        let os = text(labels, "os", &at, &mut e);
        let arch = text(labels, "arch", &at, &mut e);
        if !["linux", "darwin", "windows"].contains(&os) {
            e.push(format!("{at}: os {os:?}"));
        }
        if !["amd64", "arm64", "386", "arm"].contains(&arch) {
            e.push(format!("{at}: arch {arch:?}"));
        }
        if !seen.insert((os.to_string(), arch.to_string())) {
            e.push(format!("{at}: a second platform for {os}/{arch}"));
        }
        let uri = text(p, "uri", &at, &mut e);
        if !uri.starts_with("https://") || uri.contains(char::is_whitespace) {
            e.push(format!("{at}.uri {uri:?}: not an https URL"));
        }
        let sha = text(p, "sha256", &at, &mut e);
        if !is_sha256(sha) {
            e.push(format!("{at}.sha256 {sha:?}: not 64 lowercase hex digits"));
        }
        let bin = text(p, "bin", &at, &mut e);
        if !is_safe_file_name(bin) {
            e.push(format!("{at}.bin {bin:?}: a file name in the install dir"));
        }
        if os == "windows" && !bin.ends_with(".exe") {
            e.push(format!("{at}.bin {bin:?}: windows needs .exe"));
        }
        let files = p["files"].as_array().cloned().unwrap_or_default();
        if files.is_empty() {
            e.push(format!("{at}.files: list the binary and LICENSE"));
        }
        let mut from = Vec::new();
        for (j, f) in files.iter().enumerate() {
            let fat = format!("{at}.files[{j}]");
            keys_within(f, &["from", "to"], &fat, &mut e);
            from.push(text(f, "from", &fat, &mut e).to_string());
            text(f, "to", &fat, &mut e);
        }
        if !from.iter().any(|f| f == bin) {
            e.push(format!("{at}: bin {bin:?} is not in files"));
        }
        if !from.iter().any(|f| f == "LICENSE") {
            e.push(format!("{at}: LICENSE is not in files"));
        }
    }
    e
}

fn load(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn platform<'a>(m: &'a Value, os: &str, arch: &str) -> &'a Value {
    m["spec"]["platforms"]
        .as_array()
        .and_then(|ps| {
            ps.iter().find(|p| {
                p["selector"]["matchLabels"]["os"] == os
                    && p["selector"]["matchLabels"]["arch"] == arch
            })
        })
        .unwrap_or_else(|| panic!("no {os}/{arch} platform"))
}

/// The real kubectl: /usr/bin/kubectl, else the first on PATH.
fn kubectl() -> PathBuf {
    let usr = PathBuf::from("/usr/bin/kubectl");
    if usr.is_file() {
        return usr;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl on PATH")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn script(name: &str) -> Command {
    Command::new(Path::new(ROOT).join("plugin").join(name))
}

fn archive_name(os: &str, arch: &str) -> String {
    let ext = if os == "windows" { "zip" } else { "tar.gz" };
    format!("kubectl-amp-iam_v{VERSION}_{os}_{arch}.{ext}")
}

// ---------------------------------------------------------------------------
// The validator itself

fn good_manifest() -> Value {
    serde_json::json!({
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "amp-iam"},
        "spec": {
            "version": format!("v{VERSION}"),
            "homepage": "https://example.com/amp-iam",
            "shortDescription": "short",
            "description": "long",
            "caveats": "run kubectl amp-iam permissions",
            "platforms": [{
                "selector": {"matchLabels": {"os": "linux", "arch": "amd64"}},
                "uri": "https://example.com/a.tar.gz",
                "sha256": "a".repeat(64),
                "bin": "kubectl-amp_iam",
                "files": [
                    {"from": "kubectl-amp_iam", "to": "."},
                    {"from": "LICENSE", "to": "."}
                ]
            }]
        }
    })
}

#[test]
fn the_validator_rejects_what_krew_rejects() {
    assert_eq!(violations(&good_manifest()), Vec::<String>::new());
    let p = "/spec/platforms/0";
    let cases: Vec<(String, Value, &str)> = vec![
        (
            "/apiVersion".to_string(),
            "krew.googlecontainertools.github.com/v1alpha1".into(),
            "apiVersion",
        ),
        (
            "/metadata/name".to_string(),
            "amp_iam".into(),
            "metadata.name",
        ),
        ("/spec/version".to_string(), VERSION.into(), "not v<semver>"),
        (
            "/spec/version".to_string(),
            "v99.0.0".into(),
            "Cargo.toml says",
        ),
        (
            "/spec/homepage".to_string(),
            "http://example.com".into(),
            "not https",
        ),
        (
            "/spec/caveats".to_string(),
            "none".into(),
            "IAM permissions",
        ),
        (
            "/spec/platforms".to_string(),
            serde_json::json!([]),
            "at least one",
        ),
        (
            format!("{p}/uri"),
            "http://example.com/a.tar.gz".into(),
            "not an https URL",
        ),
        (
            format!("{p}/sha256"),
            "A".repeat(64).into(),
            "64 lowercase hex",
        ),
        (
            format!("{p}/sha256"),
            "a".repeat(63).into(),
            "64 lowercase hex",
        ),
        (
            format!("{p}/bin"),
            "../kubectl-amp_iam".into(),
            "a file name",
        ),
        (format!("{p}/bin"), "other".into(), "is not in files"),
        (format!("{p}/selector/matchLabels/os"), "plan9".into(), "os"),
        (
            format!("{p}/selector/matchLabels"),
            serde_json::json!({"os": "linux", "arch": "amd64", "libc": "musl"}),
            "unknown field \"libc\"",
        ),
        (
            format!("{p}/selector"),
            serde_json::json!({"matchLabels": {"os": "linux", "arch": "amd64"}, "matchExpressions": []}),
            "unknown field \"matchExpressions\"",
        ),
        (
            format!("{p}/files"),
            serde_json::json!([{"from": "kubectl-amp_iam", "to": "."}]),
            "LICENSE is not in files",
        ),
    ];
    for (pointer, value, expected) in cases {
        let mut m = good_manifest();
        *m.pointer_mut(&pointer).unwrap() = value.clone();
        let errors = violations(&m);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{pointer} = {value}: expected {expected:?} in {errors:?}"
        );
    }
    let mut twice = good_manifest();
    let first = twice["spec"]["platforms"][0].clone();
    twice["spec"]["platforms"]
        .as_array_mut()
        .unwrap()
        .push(first);
    assert!(
        violations(&twice)
            .iter()
            .any(|e| e.contains("a second platform"))
    );
}

// ---------------------------------------------------------------------------
// The committed manifest

#[test]
fn the_committed_manifest_follows_krews_rules_and_the_checksums_file() {
    let m = load(&Path::new(ROOT).join("krew-manifest.yaml"));
    assert_eq!(violations(&m), Vec::<String>::new());
    // Each sha256 is the one recorded for its archive in plugin/checksums.txt.
    let sums = std::fs::read_to_string(Path::new(ROOT).join("plugin/checksums.txt"))
        .expect("plugin/checksums.txt");
    for p in m["spec"]["platforms"].as_array().unwrap() {
        let uri = p["uri"].as_str().unwrap();
        let archive = uri.rsplit('/').next().unwrap();
        let labels = &p["selector"]["matchLabels"];
        assert_eq!(
            archive,
            archive_name(
                labels["os"].as_str().unwrap(),
                labels["arch"].as_str().unwrap()
            )
        );
        assert_eq!(
            uri,
            format!(
                "https://github.com/kubectl-amp-iam/kubectl-amp-iam/releases/download/v{VERSION}/{archive}"
            )
        );
        let line = format!("{}  {archive}", p["sha256"].as_str().unwrap());
        assert!(
            sums.lines().any(|l| l == line),
            "{line} not in checksums.txt"
        );
    }
}

// ---------------------------------------------------------------------------
// Package, render, install

/// What krew does with a downloaded archive: check its sha256, unpack it,
/// move `files` into the install dir, and link `bin` as kubectl-<name> on PATH.
fn install_like_krew(archive: &Path, p: &Value, home: &Path) -> PathBuf {
    assert_eq!(
        sha256_of(archive),
        p["sha256"].as_str().unwrap(),
        "the download's sha256 differs from the manifest's"
    );
    let unpacked = home.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&unpacked));
    let store = home.join(format!("store/amp-iam/v{VERSION}"));
    for f in p["files"].as_array().unwrap() {
        let from = unpacked.join(f["from"].as_str().unwrap());
        // `to` is relative to the install dir ("." is the dir itself).
        let to = Path::new(f["to"].as_str().unwrap())
            .components()
            .fold(store.clone(), |dir, c| match c {
                std::path::Component::CurDir => dir,
                c => dir.join(c),
            });
        std::fs::create_dir_all(&to).unwrap();
        let name = from.file_name().unwrap();
        std::fs::rename(&from, to.join(name))
            .unwrap_or_else(|e| panic!("files: {} is not in the archive: {e}", from.display()));
    }
    let bin = store.join(p["bin"].as_str().unwrap());
    assert!(bin.is_file(), "bin {} not installed", bin.display());
    assert!(store.join("LICENSE").is_file(), "LICENSE not installed");
    let path = home.join("bin");
    std::fs::create_dir_all(&path).unwrap();
    std::os::unix::fs::symlink(&bin, path.join("kubectl-amp_iam")).unwrap();
    path
}

#[test]
fn a_rendered_manifest_installs_the_built_binary_like_krew() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    // The freshly built binary, as linux/amd64 (what this host runs) and as a
    // windows zip (the .exe name and zip path of the script).
    for p in ["linux/amd64", "x86_64-pc-windows-msvc"] {
        run(script("package.sh").arg(BIN).arg(p).arg(&dist));
    }
    let linux = dist.join(archive_name("linux", "amd64"));
    let windows = dist.join(archive_name("windows", "amd64"));
    let recorded = std::fs::read_to_string(dist.join("checksums.txt")).unwrap();
    assert_eq!(
        recorded,
        format!(
            "{}  {}\n{}  {}\n",
            sha256_of(&linux),
            archive_name("linux", "amd64"),
            sha256_of(&windows),
            archive_name("windows", "amd64")
        )
    );
    let listing = run(Command::new("unzip").arg("-Z1").arg(&windows)).stdout;
    assert_eq!(
        String::from_utf8_lossy(&listing)
            .lines()
            .collect::<Vec<_>>(),
        ["kubectl-amp_iam.exe", "LICENSE", "README.md"]
    );

    // The other platforms' sums come from a checksums file, as the release job writes it.
    let fake = |os: &str, arch: &str| {
        let digest = Sha256::digest(format!("test archive {os}/{arch}"));
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let checksums = tmp.path().join("checksums.txt");
    let lines: String = PLATFORMS
        .iter()
        .filter(|(os, _)| *os == "darwin")
        .chain([&("linux", "arm64")])
        .map(|(os, arch)| format!("{}  {}\n", fake(os, arch), archive_name(os, arch)))
        .collect();
    std::fs::write(&checksums, lines).unwrap();
    let manifest = tmp.path().join("amp-iam.yaml");
    run(script("render-manifest.sh")
        .arg("--dist")
        .arg(&dist)
        .arg("--checksums")
        .arg(&checksums)
        .arg("-o")
        .arg(&manifest));

    let m = load(&manifest);
    assert_eq!(violations(&m), Vec::<String>::new());
    let got: BTreeSet<(String, String)> = m["spec"]["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let l = &p["selector"]["matchLabels"];
            (
                l["os"].as_str().unwrap().into(),
                l["arch"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = PLATFORMS
        .iter()
        .map(|(o, a)| (o.to_string(), a.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        platform(&m, "windows", "amd64")["bin"],
        "kubectl-amp_iam.exe"
    );
    assert_eq!(
        platform(&m, "windows", "amd64")["sha256"],
        sha256_of(&windows)
    );
    assert_eq!(
        platform(&m, "darwin", "arm64")["sha256"],
        fake("darwin", "arm64")
    );
    assert_eq!(
        platform(&m, "linux", "arm64")["sha256"],
        fake("linux", "arm64")
    );

    // Install linux/amd64 like krew and run it through the real kubectl.
    let home = tmp.path().join("krew");
    let p = platform(&m, "linux", "amd64");
    let path = install_like_krew(&linux, p, &home);
    let out = run(Command::new(kubectl())
        .args(["amp-iam", "--version"])
        .env_clear()
        .env("HOME", &home)
        .env("PATH", format!("{}:/usr/bin:/bin", path.display())));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("kubectl amp-iam {VERSION}\n")
    );
    let list = run(Command::new(kubectl())
        .args(["plugin", "list"])
        .env_clear()
        .env("HOME", &home)
        .env("PATH", format!("{}:/usr/bin:/bin", path.display())));
    assert!(String::from_utf8_lossy(&list.stdout).contains("kubectl-amp_iam"));
}

#[test]
fn rendering_without_a_sum_for_a_platform_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("checksums.txt");
    std::fs::write(&empty, "").unwrap();
    let out = script("render-manifest.sh")
        .arg("--checksums")
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&archive_name("linux", "amd64")), "{stderr}");
    assert!(out.stdout.is_empty(), "no partial manifest on stdout");
}
