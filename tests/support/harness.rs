//! End-to-end harness: a moto server (a real AWS emulator) on a free loopback
//! port, the Kubernetes API stand-in, a kubeconfig like the ones
//! `aws eks update-kubeconfig` and eksctl write (with an exec credential
//! helper), and the built binary reached through the real `kubectl`.
#![allow(dead_code)]

use crate::kube_standin::KubeStandin;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const CLUSTER: &str = "demo";

/// How moto is started: `MOTO_SERVER` as is (a `moto_server` executable; the
/// trust-policy quota is then moto's own: reported, never enforced), else
/// tests/support/moto_server.py, which emulates IAM's trust-policy quota, run
/// by the project's `.venv` Python (created by `scripts/test.sh` / `.ci/run`).
fn moto_server() -> Command {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Command::new(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} not found: run scripts/test.sh (it creates .venv with moto[server]) or set MOTO_SERVER",
        python.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg(root.join("tests/support/moto_server.py"));
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Temporary credentials (another account's, from moto's AssumeRole).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

pub struct Env {
    moto: Child,
    pub moto_url: String,
    pub kube: KubeStandin,
    pub dir: tempfile::TempDir,
    recording: PathBuf,
    pub iam: aws_sdk_iam::Client,
    pub eks: aws_sdk_eks::Client,
    pub amp: aws_sdk_amp::Client,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}

/// How a test wants the emulated AWS account; `Default` is what [`Env::start`] gives.
#[derive(Debug, Clone, Default)]
pub struct EnvOptions {
    /// The account's quota for a role trust policy, in characters: what
    /// GetAccountSummary reports as `AssumeRolePolicySizeQuota`, and what
    /// CreateRole / UpdateAssumeRolePolicy enforce (409 `LimitExceeded`).
    /// None: IAM's default, 2,048.
    pub trust_quota: Option<usize>,
    /// EKS add-ons installed (ACTIVE) on every cluster from the start, e.g.
    /// `eks-pod-identity-agent` (the launcher's `MOTO_EKS_ADDONS`). Empty: none.
    pub addons: Vec<String>,
}

impl Env {
    /// moto with cluster `demo` in us-east-1, the API stand-in, and an
    /// update-kubeconfig style kubeconfig whose context namespace is `prometheus`.
    pub async fn start() -> Env {
        Env::start_with(EnvOptions::default()).await
    }

    /// [`Env::start`] in an account whose trust-policy quota was raised (or lowered) to `quota`.
    pub async fn start_with_trust_quota(quota: usize) -> Env {
        Env::start_with(EnvOptions {
            trust_quota: Some(quota),
            ..EnvOptions::default()
        })
        .await
    }

    /// [`Env::start`] with `options`.
    pub async fn start_with(options: EnvOptions) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let recording = dir.path().join("moto-recording");
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).expect("create moto.log");
        let mut cmd = moto_server();
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(Stdio::null())
            .stderr(log);
        match options.trust_quota {
            Some(quota) => cmd.env("MOTO_TRUST_POLICY_QUOTA", quota.to_string()),
            None => cmd.env_remove("MOTO_TRUST_POLICY_QUOTA"),
        };
        match options.addons.as_slice() {
            [] => cmd.env_remove("MOTO_EKS_ADDONS"),
            addons => cmd.env("MOTO_EKS_ADDONS", addons.join(",")),
        };
        let mut moto = cmd.spawn().expect("start moto");
        let moto_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = moto.try_wait().ok().flatten();
            let late = Instant::now() >= deadline;
            if exited.is_some() || late {
                let _ = moto.kill();
                let _ = moto.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let how = exited.map_or("did not start".to_string(), |s| format!("exited ({s})"));
                panic!("moto {how} on port {port}; its stderr:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&moto_url)
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                "testing", "testing", None, None, "e2e",
            ))
            .load()
            .await;
        let env = Env {
            moto,
            moto_url,
            kube: KubeStandin::start().await,
            dir,
            recording,
            iam: aws_sdk_iam::Client::new(&config),
            eks: aws_sdk_eks::Client::new(&config),
            amp: aws_sdk_amp::Client::new(&config),
        };
        env.create_cluster(CLUSTER).await;
        env.install_plugin();
        env.write_update_kubeconfig(CLUSTER, Some("prometheus"));
        env.start_recording();
        env
    }

    pub async fn create_cluster(&self, name: &str) {
        self.eks
            .create_cluster()
            .name(name)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .expect("create the EKS cluster in moto");
    }

    /// An SDK configuration for moto in `region`, as the harness (account
    /// 123456789012) or with other credentials (another account's).
    pub async fn sdk_config(
        &self,
        region: &str,
        as_: Option<&Credentials>,
    ) -> aws_config::SdkConfig {
        let credentials = match as_ {
            Some(c) => aws_sdk_iam::config::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                Some(c.session_token.clone()),
                None,
                "e2e-other-account",
            ),
            None => aws_sdk_iam::config::Credentials::new("testing", "testing", None, None, "e2e"),
        };
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(&self.moto_url)
            .credentials_provider(credentials)
            .load()
            .await
    }

    /// An EKS client for another region of the account.
    pub async fn eks_in(&self, region: &str) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk_config(region, None).await)
    }

    /// Credentials that act in `account`: moto's AssumeRole switches accounts
    /// (the role need not exist).
    pub async fn credentials_in(&self, account: &str) -> Credentials {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config(REGION, None).await);
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/e2e"))
            .role_session_name("e2e")
            .send()
            .await
            .expect("assume a role in the other account");
        let c = out.credentials().expect("credentials");
        Credentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().to_string(),
        }
    }

    /// `[name]` in the plugin's `~/.aws/credentials` (HOME is the test's dir).
    pub fn write_aws_profile(&self, name: &str, c: &Credentials) {
        let dir = self.dir.path().join(".aws");
        std::fs::create_dir_all(&dir).expect("~/.aws");
        let path = dir.join("credentials");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&format!(
            "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            c.access_key_id, c.secret_access_key, c.session_token
        ));
        std::fs::write(path, text).expect("write ~/.aws/credentials");
    }

    /// An EKS cluster in another region of the account.
    pub async fn create_cluster_in(&self, name: &str, region: &str) {
        self.eks_in(region)
            .await
            .create_cluster()
            .name(name)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .expect("create the EKS cluster in moto");
    }

    /// A kubeconfig with one `aws eks update-kubeconfig` style context per
    /// (cluster, region, API server URL, namespace); the first is current.
    /// Returns the context names (the clusters' ARNs).
    pub fn write_fleet_kubeconfig(&self, members: &[(&str, &str, &str, &str)]) -> Vec<String> {
        let mut clusters = String::new();
        let mut contexts = String::new();
        let mut users = String::new();
        let mut names = Vec::new();
        for (cluster, region, server, namespace) in members {
            let arn = format!("arn:aws:eks:{region}:{ACCOUNT}:cluster/{cluster}");
            clusters.push_str(&format!(
                "- cluster:\n    server: {server}\n  name: {arn}\n"
            ));
            contexts.push_str(&format!(
                "- context:\n    cluster: {arn}\n    user: {arn}\n    namespace: {namespace}\n  name: {arn}\n"
            ));
            users.push_str(&format!(
                "- name: {arn}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n\
                 \x20     args: [--region, {region}, eks, get-token, --cluster-name, {cluster}, --output, json]\n"
            ));
            names.push(arn);
        }
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n{clusters}contexts:\n{contexts}current-context: {}\nusers:\n{users}",
            names[0]
        );
        std::fs::write(self.kubeconfig(), text).expect("write kubeconfig");
        names
    }

    /// An AMP workspace made by someone else (no tags), with this alias; its id.
    pub async fn create_workspace(&self, alias: &str) -> String {
        self.amp
            .create_workspace()
            .alias(alias)
            .send()
            .await
            .expect("create the AMP workspace in moto")
            .workspace_id()
            .to_string()
    }

    pub async fn issuer_host(&self) -> String {
        self.issuer_host_in(CLUSTER, REGION).await
    }

    /// A cluster's issuer without `https://`, in `region`.
    pub async fn issuer_host_in(&self, cluster: &str, region: &str) -> String {
        let c = self
            .eks_in(region)
            .await
            .describe_cluster()
            .name(cluster)
            .send()
            .await
            .expect("describe");
        let issuer = c
            .cluster()
            .and_then(|c| c.identity())
            .and_then(|i| i.oidc())
            .and_then(|o| o.issuer())
            .expect("issuer");
        issuer.trim_start_matches("https://").to_string()
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// `kubectl-amp_iam` on a PATH of its own, plus an `aws` that answers
    /// `aws eks get-token` like the real CLI does.
    fn install_plugin(&self) {
        let bin = self.bin();
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_kubectl-amp_iam"),
            bin.join("kubectl-amp_iam"),
        )
        .expect("link the plugin");
        let aws = bin.join("aws");
        std::fs::write(
            &aws,
            "#!/bin/sh\n# stand-in for `aws eks get-token`\n\
             echo '{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"spec\":{},\
             \"status\":{\"expirationTimestamp\":\"2099-01-01T00:00:00Z\",\"token\":\"k8s-aws-v1.e2e\"}}'\n",
        )
        .expect("write aws stub");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// What `aws eks update-kubeconfig --name <cluster>` writes.
    pub fn write_update_kubeconfig(&self, cluster: &str, namespace: Option<&str>) {
        let arn = format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{cluster}");
        let ns = namespace
            .map(|n| format!("\n    namespace: {n}"))
            .unwrap_or_default();
        let text = format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:\n- cluster:\n    server: {server}\n  name: {arn}\n\
             contexts:\n- context:\n    cluster: {arn}\n    user: {arn}{ns}\n  name: {arn}\ncurrent-context: {arn}\n\
             users:\n- name: {arn}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n\
             \x20     args:\n      - --region\n      - {REGION}\n      - eks\n      - get-token\n      - --cluster-name\n      - {cluster}\n      - --output\n      - json\n",
            server = self.kube.uri()
        );
        std::fs::write(self.kubeconfig(), text).expect("write kubeconfig");
    }

    /// What `eksctl utils write-kubeconfig` writes: context `<user>@<cluster>.<region>.eksctl.io`.
    pub fn write_eksctl_kubeconfig(&self, cluster: &str) {
        let name = format!("{cluster}.{REGION}.eksctl.io");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {server}\n  name: {name}\n\
             contexts:\n- context:\n    cluster: {name}\n    user: alice@{name}\n  name: alice@{name}\ncurrent-context: alice@{name}\n\
             users:\n- name: alice@{name}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n\
             \x20     args: [eks, get-token, --output, json, --cluster-name, {cluster}, --region, {REGION}]\n",
            server = self.kube.uri()
        );
        std::fs::write(self.kubeconfig(), text).expect("write kubeconfig");
    }

    /// Runs `kubectl amp-iam <args>` against moto and the stand-in.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        // The stand-in is served by this test's runtime: don't block it.
        tokio::task::spawn_blocking(move || {
            let out = cmd.output().expect("run kubectl");
            Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("join")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("kubectl");
        cmd.arg("amp-iam")
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.kubeconfig())
            .env("AWS_ENDPOINT_URL", &self.moto_url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret-value")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    // --- what AWS saw -----------------------------------------------------

    fn start_recording(&self) {
        let _ = std::fs::remove_file(&self.recording);
    }

    /// Every AWS action moto received since the harness finished seeding
    /// (IAM/STS `Action=`, EKS as `METHOD path`).
    pub fn aws_calls(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(&self.recording) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|e| {
                let raw = e["body"].as_str().unwrap_or_default();
                let body = if e["body_encoded"] == true {
                    String::from_utf8_lossy(
                        &aws_smithy_types::base64::decode(raw).unwrap_or_default(),
                    )
                    .into_owned()
                } else {
                    raw.to_string()
                };
                match body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
                    Some(action) => action.to_string(),
                    None => format!(
                        "{} {}",
                        e["method"].as_str().unwrap_or_default(),
                        e["url"]
                            .as_str()
                            .unwrap_or_default()
                            .split("://")
                            .nth(1)
                            .and_then(|u| u.split_once('/'))
                            .map(|(_, p)| p)
                            .unwrap_or_default()
                    ),
                }
            })
            .collect()
    }

    /// The AWS calls that change something.
    pub fn aws_writes(&self) -> Vec<String> {
        const WRITES: [&str; 9] = [
            "Create", "Update", "Attach", "Detach", "Delete", "Add", "Remove", "Tag", "Put",
        ];
        self.aws_calls()
            .into_iter()
            .filter(|a| {
                WRITES.iter().any(|w| a.starts_with(w))
                    || a.starts_with("POST")
                    || a.starts_with("DELETE")
            })
            .collect()
    }

    /// Forgets the calls so far (e.g. between a setup and its re-run).
    pub fn reset_calls(&self) {
        self.start_recording();
    }
}
