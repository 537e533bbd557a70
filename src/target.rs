//! Working out cluster, region and namespace from the kubeconfig and flags.
//!
//! [`load_kubeconfig`] finds and merges kubeconfig files the way kubectl does;
//! [`infer`] is a pure function from (kubeconfig, flags) to a [`Target`].
//!
//! The cluster name and region come from the flags if given, else from what the
//! usual tools write into a kubeconfig, in this order:
//! 1. `aws eks update-kubeconfig`: context (or its cluster entry) named
//!    `arn:<partition>:eks:<region>:<account>:cluster/<name>`;
//! 2. eksctl: context `<user>@<name>.<region>.eksctl.io` (cluster entry
//!    `<name>.<region>.eksctl.io`);
//! 3. the context user's exec credential plugin: `--cluster-name`/`--region`
//!    (`aws eks get-token`), `-i`/`--cluster-id` (`aws-iam-authenticator`),
//!    and `AWS_REGION`/`AWS_DEFAULT_REGION` in its env.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use kube::config::{ExecConfig, Kubeconfig, KubeconfigError, NamedContext};

use crate::error::Error;
use crate::names;

/// The flags that choose the target.
#[derive(Debug, Clone, Default)]
pub struct TargetArgs {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub cluster: Option<String>,
    pub region: Option<String>,
}

/// The EKS cluster, region and namespace a run works on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// The kubeconfig context used for the cluster part of a run, if any.
    pub context: Option<String>,
    pub cluster: String,
    /// None: fall back to the AWS SDK's default region.
    pub region: Option<String>,
    pub namespace: String,
    /// The account in an `arn:…:eks:…` context or cluster name, when that ARN
    /// names the target cluster.
    pub account_hint: Option<String>,
    /// Where cluster and region came from, for humans, e.g.
    /// `context arn:aws:eks:us-east-1:111122223333:cluster/demo` or `--cluster/--region`.
    pub source: String,
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Loads the kubeconfig the way kubectl does: the `--kubeconfig` path (which
/// must exist), else the files listed in `KUBECONFIG` (separated by the OS
/// path-list separator; missing files are skipped), else `~/.kube/config`.
/// Several files are merged with kubectl's rules: the first file to define a
/// named cluster/user/context wins (the whole entry), and the first non-empty
/// `current-context` wins.
///
/// `Ok(None)` when no file exists at all. A file that exists but cannot be
/// read or parsed is an error naming the file.
pub fn load_kubeconfig(explicit: Option<&Path>) -> Result<Option<Kubeconfig>, Error> {
    if let Some(path) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return match read_one(path)? {
            Some(kc) => Ok(Some(kc)),
            None => Err(kubeconfig_error(path, "the file does not exist")),
        };
    }
    let env = std::env::var_os("KUBECONFIG");
    let paths = kubeconfig_paths(env.as_deref(), home_dir().as_deref());
    load_from_paths(&paths)
}

#[allow(deprecated)] // un-deprecated in Rust 1.87, correct since 1.85 (our MSRV)
fn home_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|h| !h.as_os_str().is_empty())
}

/// kubectl's file list when there is no `--kubeconfig`: a non-empty
/// `KUBECONFIG` is split on the path-list separator (empty entries dropped;
/// `~/.kube/config` is then *not* consulted), else `<home>/.kube/config`.
fn kubeconfig_paths(kubeconfig_env: Option<&OsStr>, home: Option<&Path>) -> Vec<PathBuf> {
    match kubeconfig_env {
        Some(list) if !list.is_empty() => std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        _ => home
            .map(|h| vec![h.join(".kube").join("config")])
            .unwrap_or_default(),
    }
}

/// Reads and merges `paths` in order (first wins), skipping files that do not
/// exist. `Ok(None)` when none exists.
fn load_from_paths(paths: &[PathBuf]) -> Result<Option<Kubeconfig>, Error> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let Some(next) = read_one(path)? else {
            continue;
        };
        merged = Some(match merged {
            None => next,
            Some(acc) => acc
                .merge(next)
                .map_err(|e| kubeconfig_error(path, reason(e)))?,
        });
    }
    Ok(merged)
}

/// One file; `Ok(None)` if it does not exist. A directory (or anything else
/// that cannot be read) is an error naming it, never skipped.
fn read_one(path: &Path) -> Result<Option<Kubeconfig>, Error> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(kubeconfig_error(path, e.to_string())),
        // Checked first: reading a directory fails differently per OS
        // (EISDIR on Unix, access denied on Windows).
        Ok(meta) if meta.is_dir() => {
            return Err(kubeconfig_error(
                path,
                "it is a directory, not a kubeconfig file",
            ));
        }
        Ok(_) => {}
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(kubeconfig_error(path, e.to_string())),
    };
    // kube's reader indexes UTF-16 text two bytes at a time and panics on an
    // odd length; refuse such a file here instead.
    if matches!(bytes.as_slice(), [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..]) && bytes.len() % 2 != 0 {
        return Err(kubeconfig_error(
            path,
            "invalid UTF-16 text (odd number of bytes)",
        ));
    }
    // read_from (rather than from_yaml on the bytes above) also makes
    // relative certificate, key, token-file and exec-command paths absolute
    // against the file's directory, as kubectl does.
    let mut kc = Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(path, reason(e)))?;
    // kubectl treats `current-context: ""` as unset, so a later file's value
    // applies; kube's merge would keep the empty string.
    if kc.current_context.as_deref() == Some("") {
        kc.current_context = None;
    }
    Ok(Some(kc))
}

fn reason(e: KubeconfigError) -> String {
    match e {
        KubeconfigError::ReadConfig(io, _) if io.kind() == std::io::ErrorKind::InvalidData => {
            "it is not UTF-8 or UTF-16 text".into()
        }
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        // Bad YAML and YAML of another shape (`contexts: 5`) both land here.
        KubeconfigError::Parse(p) => {
            let p = p.to_string();
            let p = p.trim_start();
            format!(
                "malformed YAML or not a kubeconfig: {}",
                p.strip_prefix("error: ").unwrap_or(p)
            )
        }
        KubeconfigError::KindMismatch => {
            "its `kind` differs from the kubeconfig files before it".into()
        }
        KubeconfigError::ApiVersionMismatch => {
            "its `apiVersion` differs from the kubeconfig files before it".into()
        }
        other => other.to_string(),
    }
}

fn kubeconfig_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Kubeconfig {
        path: path.display().to_string(),
        // Parsers add multi-line source snippets: the first line says it all.
        reason: reason
            .into()
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("unknown error")
            .trim_end_matches(':')
            .to_string(),
    }
}

// ---------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------

/// Where a derived value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin<'a> {
    Flag(&'static str),
    ContextName(&'a str),
    ClusterEntry { context: &'a str, cluster: &'a str },
    Exec { context: &'a str, user: &'a str },
}

impl Origin<'_> {
    fn describe(self) -> String {
        match self {
            Origin::Flag(f) => f.to_owned(),
            Origin::ContextName(c) => format!("context {c}"),
            Origin::ClusterEntry { context, cluster } => {
                format!("cluster {cluster} of context {context}")
            }
            Origin::Exec { context, user } => {
                format!("exec credentials of user {user} (context {context})")
            }
        }
    }
}

/// What one source says; `region` is only ever a valid-looking region.
#[derive(Debug, Default, PartialEq, Eq)]
struct Clues {
    cluster: Option<String>,
    region: Option<String>,
    account: Option<String>,
}

/// Works out the target from the kubeconfig (None: no file) and the flags.
/// Pure: no I/O, no environment.
pub fn infer(kubeconfig: Option<&Kubeconfig>, args: &TargetArgs) -> Result<Target, Error> {
    let flag_cluster = match args.cluster.as_deref() {
        Some(c) if c.trim().is_empty() => {
            return Err(Error::Usage("--cluster must not be empty".into()));
        }
        c => c,
    };
    let flag_region = match args.region.as_deref() {
        Some(r) if !names::region(r) => {
            return Err(Error::InvalidName {
                what: "region",
                value: r.to_owned(),
                why: names::REGION_RULE.to_owned(),
            });
        }
        r => r,
    };

    // kubectl treats `--context ""` as not given.
    let requested = args.context.as_deref().filter(|c| !c.is_empty());
    let entry = resolve_context(kubeconfig, requested)?;
    let context_name = entry.map(|e| e.name.as_str());

    // Clues from the kubeconfig, in priority order.
    let clues = match (kubeconfig, entry) {
        (Some(kc), Some(entry)) => context_clues(kc, entry),
        _ => Vec::new(),
    };

    let (cluster, cluster_origin) = match flag_cluster {
        Some(c) => (c.to_owned(), Origin::Flag("--cluster")),
        None => clues
            .iter()
            .find_map(|(o, c)| c.cluster.clone().map(|v| (v, *o)))
            .ok_or_else(|| Error::TargetUnknown {
                what: "cluster name",
                from: match (kubeconfig, context_name) {
                    (_, Some(name)) => format!("context {name}"),
                    (None, None) => "no kubeconfig".into(),
                    (Some(_), None) => "the kubeconfig, which has no current-context".into(),
                },
                flag: "cluster",
            })?,
    };
    let region = match flag_region {
        Some(r) => Some((r.to_owned(), Origin::Flag("--region"))),
        None => clues
            .iter()
            .find_map(|(o, c)| c.region.clone().map(|v| (v, *o))),
    };
    // Only a hint about the cluster actually targeted.
    let account_hint = clues
        .iter()
        .find_map(|(_, c)| match (&c.cluster, &c.account) {
            (Some(name), Some(account)) if *name == cluster => Some(account.clone()),
            _ => None,
        });

    let namespace = match (&args.namespace, entry.and_then(|e| e.context.as_ref())) {
        (Some(ns), _) => ns.clone(),
        (None, Some(ctx)) => ctx
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".into()),
        (None, None) => "default".into(),
    };
    names::namespace(&namespace)?;

    let source = describe_source(cluster_origin, region.as_ref().map(|(_, o)| *o));
    Ok(Target {
        context: context_name.map(str::to_owned),
        cluster,
        region: region.map(|(r, _)| r),
        namespace,
        account_hint,
        source,
    })
}

fn describe_source(cluster: Origin, region: Option<Origin>) -> String {
    match region {
        Some(Origin::Flag(_)) if matches!(cluster, Origin::Flag(_)) => "--cluster/--region".into(),
        Some(r) if r == cluster => cluster.describe(),
        Some(r) => format!("{}; region from {}", cluster.describe(), r.describe()),
        None => format!(
            "{}; no region there, so the AWS default region applies",
            cluster.describe()
        ),
    }
}

/// The contexts that name an EKS cluster (by ARN, eksctl's naming or an
/// `aws eks get-token` user), in kubeconfig order, one per cluster:
/// `--all-contexts`. Also returns each context left out, with the earlier
/// one that names the same cluster (in the same region and account).
pub fn eks_contexts(kubeconfig: &Kubeconfig) -> (Vec<String>, Vec<(String, String)>) {
    // (context, cluster, region, account) of each context kept.
    type Kept = (String, String, Option<String>, Option<String>);
    let mut kept: Vec<Kept> = Vec::new();
    let mut skipped = Vec::new();
    for entry in &kubeconfig.contexts {
        let clues = context_clues(kubeconfig, entry);
        let Some(cluster) = clues.iter().find_map(|(_, c)| c.cluster.clone()) else {
            continue;
        };
        let region = clues.iter().find_map(|(_, c)| c.region.clone());
        let account = clues.iter().find_map(|(_, c)| c.account.clone());
        let same = kept.iter().find(|(_, c, r, a)| {
            *c == cluster
                && (r.is_none() || region.is_none() || *r == region)
                && (a.is_none() || account.is_none() || *a == account)
        });
        match same {
            Some((first, ..)) => skipped.push((entry.name.clone(), first.clone())),
            None => kept.push((entry.name.clone(), cluster, region, account)),
        }
    }
    (kept.into_iter().map(|(name, ..)| name).collect(), skipped)
}

/// The contexts that name EKS cluster `cluster` (in `region`, when given):
/// a fleet entry that names a cluster without a context reaches its API
/// server through one of them, never through the current context.
pub fn contexts_for(kubeconfig: &Kubeconfig, cluster: &str, region: Option<&str>) -> Vec<String> {
    kubeconfig
        .contexts
        .iter()
        .filter(|entry| {
            let clues = context_clues(kubeconfig, entry);
            let named = clues
                .iter()
                .find_map(|(_, c)| c.cluster.as_deref())
                .is_some_and(|c| c == cluster);
            let in_region = match region {
                None => true,
                Some(want) => clues
                    .iter()
                    .find_map(|(_, c)| c.region.as_deref())
                    .is_none_or(|r| r == want),
            };
            named && in_region
        })
        .map(|entry| entry.name.clone())
        .collect()
}

/// The context to use: the requested one, else current-context. Either must
/// exist in the kubeconfig (kubectl refuses a dangling current-context too).
fn resolve_context<'a>(
    kubeconfig: Option<&'a Kubeconfig>,
    requested: Option<&str>,
) -> Result<Option<&'a NamedContext>, Error> {
    let Some(kc) = kubeconfig else {
        return match requested {
            Some(name) => Err(Error::UnknownContext {
                name: name.to_owned(),
                available: "none, no kubeconfig file was found".into(),
            }),
            None => Ok(None),
        };
    };
    let Some(name) = requested.or(kc.current_context.as_deref().filter(|c| !c.is_empty())) else {
        return Ok(None);
    };
    match kc.contexts.iter().find(|c| c.name == name) {
        Some(entry) => Ok(Some(entry)),
        None => Err(Error::UnknownContext {
            name: name.to_owned(),
            available: if kc.contexts.is_empty() {
                "none".into()
            } else {
                kc.contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}

/// The clues a context gives, highest priority first.
fn context_clues<'a>(kc: &'a Kubeconfig, entry: &'a NamedContext) -> Vec<(Origin<'a>, Clues)> {
    let ctx_name = entry.name.as_str();
    let cluster_entry = entry
        .context
        .as_ref()
        .map(|c| c.cluster.as_str())
        .filter(|c| !c.is_empty() && *c != ctx_name);
    let by_name = Origin::ContextName(ctx_name);
    let by_cluster = cluster_entry.map(|cluster| {
        (
            Origin::ClusterEntry {
                context: ctx_name,
                cluster,
            },
            cluster,
        )
    });

    let mut out = Vec::new();
    out.push((by_name, parse_eks_arn(ctx_name)));
    if let Some((o, n)) = by_cluster {
        out.push((o, parse_eks_arn(n)));
    }
    out.push((by_name, parse_eksctl(ctx_name)));
    if let Some((o, n)) = by_cluster {
        out.push((o, parse_eksctl(n)));
    }
    let user = entry.context.as_ref().and_then(|c| c.user.as_deref());
    if let Some(user) = user {
        let exec = kc
            .auth_infos
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.auth_info.as_ref())
            .and_then(|a| a.exec.as_ref());
        if let Some(exec) = exec {
            out.push((
                Origin::Exec {
                    context: ctx_name,
                    user,
                },
                parse_exec(exec),
            ));
        }
    }
    out.retain(|(_, c)| *c != Clues::default());
    out
}

/// `arn:<partition>:eks:<region>:<12-digit account>:cluster/<name>`.
/// An odd-looking region is dropped; the cluster name is kept.
fn parse_eks_arn(s: &str) -> Clues {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("eks"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Clues::default();
    };
    let Some(name) = resource.strip_prefix("cluster/") else {
        return Clues::default();
    };
    if !partition.starts_with("aws")
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
        || !plausible_cluster(name)
    {
        return Clues::default();
    }
    Clues {
        cluster: Some(name.to_owned()),
        region: valid_region(region),
        account: Some(account.to_owned()),
    }
}

/// `[<user>@]<name>.<region>.eksctl.io`; the name may contain dots, the user
/// may contain '@'. Only taken when the region label looks like a region.
fn parse_eksctl(s: &str) -> Clues {
    let Some(rest) = s.strip_suffix(".eksctl.io") else {
        return Clues::default();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    match rest.rsplit_once('.') {
        Some((name, region)) if names::region(region) && plausible_cluster(name) => Clues {
            cluster: Some(name.to_owned()),
            region: Some(region.to_owned()),
            account: None,
        },
        _ => Clues::default(),
    }
}

/// Clues in an exec credential plugin's command line and env.
fn parse_exec(exec: &ExecConfig) -> Clues {
    let args: &[String] = exec.args.as_deref().unwrap_or(&[]);
    let authenticator = std::iter::once(exec.command.as_deref().unwrap_or(""))
        .chain(args.iter().map(String::as_str))
        .any(is_aws_iam_authenticator);

    let mut cluster = flag_value(args, &["--cluster-name"]);
    if cluster.is_none() && authenticator {
        // `aws eks get-token --cluster-id` (EKS local clusters on Outposts) takes
        // a cluster *id*, not a name, so only aws-iam-authenticator's is used.
        cluster = flag_value(args, &["-i", "--cluster-id"]);
    }
    let cluster = cluster.filter(|c| plausible_cluster(c));

    let env = |key: &str| -> Option<String> {
        exec.env
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .rev() // like exec: a later duplicate wins
            .find(|e| e.get("name").map(String::as_str) == Some(key))
            .and_then(|e| e.get("value"))
            .and_then(|v| valid_region(v))
    };
    let region = flag_value(args, &["--region"])
        .and_then(valid_region)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"));

    Clues {
        cluster: cluster.map(str::to_owned),
        region,
        account: None,
    }
}

fn is_aws_iam_authenticator(s: &str) -> bool {
    let base = s.rsplit(['/', '\\']).next().unwrap_or(s);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    base == "aws-iam-authenticator"
}

/// The value of the last `--flag value` or `--flag=value` among `names`.
/// A following argument that starts with '-' is not a value.
fn flag_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut found = None;
    for (i, arg) in args.iter().enumerate() {
        for name in names {
            if arg == name {
                if let Some(v) = args.get(i + 1).filter(|v| !v.starts_with('-')) {
                    found = Some(v.as_str());
                }
            } else if let Some(v) = arg.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                found = Some(v);
            }
        }
    }
    found.filter(|v| !v.is_empty())
}

fn valid_region(s: &str) -> Option<String> {
    names::region(s).then(|| s.to_owned())
}

/// Loose: a cluster name the tools above could have written (non-empty,
/// no whitespace, control characters or slashes).
fn plausible_cluster(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
}

/// The API server URL the kubeconfig gives for `context` (or the current
/// context): compared with the endpoint EKS reports for the cluster.
pub fn api_server(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    let cluster = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()?
        .cluster
        .clone();
    kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster)?
        .cluster
        .as_ref()?
        .server
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:eks:us-east-1:111122223333:cluster/demo";

    fn kc(yaml: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(yaml).expect("test kubeconfig parses")
    }

    fn infer_ok(kc: Option<&Kubeconfig>, args: &TargetArgs) -> Target {
        infer(kc, args).expect("inference succeeds")
    }

    /// What `aws eks update-kubeconfig --name <name> --region <region>` writes
    /// (context, cluster and user all named by the ARN).
    fn update_kubeconfig(arn: &str, region: &str, name: &str) -> String {
        format!(
            r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://0123456789ABCDEF0123456789ABCDEF.gr7.{region}.eks.amazonaws.com
  name: {arn}
contexts:
- context:
    cluster: {arn}
    user: {arn}
  name: {arn}
current-context: {arn}
kind: Config
preferences: {{}}
users:
- name: {arn}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - {region}
      - eks
      - get-token
      - --cluster-name
      - {name}
      - --output
      - json
      command: aws
"#
        )
    }

    /// What `eksctl utils write-kubeconfig` writes.
    fn eksctl(user: &str, name: &str, region: &str) -> String {
        format!(
            r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://0123456789ABCDEF.yl4.{region}.eks.amazonaws.com
  name: {name}.{region}.eksctl.io
contexts:
- context:
    cluster: {name}.{region}.eksctl.io
    user: {user}@{name}.{region}.eksctl.io
  name: {user}@{name}.{region}.eksctl.io
current-context: {user}@{name}.{region}.eksctl.io
kind: Config
preferences: {{}}
users:
- name: {user}@{name}.{region}.eksctl.io
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - eks
      - get-token
      - --output
      - json
      - --cluster-name
      - {name}
      - --region
      - {region}
      command: aws
      env:
      - name: AWS_STS_REGIONAL_ENDPOINTS
        value: regional
      provideClusterInfo: false
"#
        )
    }

    /// A context named "prod" on cluster entry "prod-cluster" whose user's exec
    /// section is `exec_yaml` (indented for `user:`), so only the exec can tell.
    fn plain_with_exec(exec_yaml: &str) -> Kubeconfig {
        kc(&format!(
            r#"apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://api.example.com
  name: prod-cluster
contexts:
- context:
    cluster: prod-cluster
    user: prod-user
  name: prod
current-context: prod
users:
- name: prod-user
  user:
    exec:
{exec_yaml}"#
        ))
    }

    // --- aws eks update-kubeconfig ---

    #[test]
    fn update_kubeconfig_arn_context_gives_cluster_region_and_account() {
        let k = kc(&update_kubeconfig(ARN, "us-east-1", "demo"));
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some(ARN.into()),
                cluster: "demo".into(),
                region: Some("us-east-1".into()),
                namespace: "default".into(),
                account_hint: Some("111122223333".into()),
                source: format!("context {ARN}"),
            }
        );
    }

    #[test]
    fn update_kubeconfig_in_aws_cn_partition() {
        let arn = "arn:aws-cn:eks:cn-north-1:111122223333:cluster/demo-cn";
        let k = kc(&update_kubeconfig(arn, "cn-north-1", "demo-cn"));
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some(arn.into()),
                cluster: "demo-cn".into(),
                region: Some("cn-north-1".into()),
                namespace: "default".into(),
                account_hint: Some("111122223333".into()),
                source: format!("context {arn}"),
            }
        );
    }

    #[test]
    fn update_kubeconfig_in_aws_us_gov_partition() {
        let arn = "arn:aws-us-gov:eks:us-gov-west-1:444455556666:cluster/gov_cluster-1";
        let k = kc(&update_kubeconfig(arn, "us-gov-west-1", "gov_cluster-1"));
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some(arn.into()),
                cluster: "gov_cluster-1".into(),
                region: Some("us-gov-west-1".into()),
                namespace: "default".into(),
                account_hint: Some("444455556666".into()),
                source: format!("context {arn}"),
            }
        );
    }

    #[test]
    fn update_kubeconfig_alias_context_uses_the_arn_cluster_entry() {
        // `aws eks update-kubeconfig --alias prod` renames only the context.
        let yaml = update_kubeconfig(ARN, "us-east-1", "demo")
            .replace(
                &format!("  name: {ARN}\ncurrent-context"),
                "  name: prod\ncurrent-context",
            )
            .replace(&format!("current-context: {ARN}"), "current-context: prod");
        let k = kc(&yaml);
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some("prod".into()),
                cluster: "demo".into(),
                region: Some("us-east-1".into()),
                namespace: "default".into(),
                account_hint: Some("111122223333".into()),
                source: format!("cluster {ARN} of context prod"),
            }
        );
    }

    // --- eksctl ---

    #[test]
    fn eksctl_context_gives_cluster_and_region() {
        let k = kc(&eksctl("alice", "demo", "eu-west-1"));
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some("alice@demo.eu-west-1.eksctl.io".into()),
                cluster: "demo".into(),
                region: Some("eu-west-1".into()),
                namespace: "default".into(),
                account_hint: None,
                source: "context alice@demo.eu-west-1.eksctl.io".into(),
            }
        );
    }

    #[test]
    fn eksctl_context_with_dotted_cluster_name_and_at_in_user() {
        let k = kc(&eksctl("alice@example.com", "team.demo", "ap-southeast-4"));
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(
            t,
            Target {
                context: Some("alice@example.com@team.demo.ap-southeast-4.eksctl.io".into()),
                cluster: "team.demo".into(),
                region: Some("ap-southeast-4".into()),
                namespace: "default".into(),
                account_hint: None,
                source: "context alice@example.com@team.demo.ap-southeast-4.eksctl.io".into(),
            }
        );
    }

    #[test]
    fn eksctl_cluster_entry_is_used_when_the_context_was_renamed() {
        let yaml = eksctl("alice", "demo", "eu-central-2")
            .replace(
                "  name: alice@demo.eu-central-2.eksctl.io\ncurrent",
                "  name: work\ncurrent",
            )
            .replace(
                "current-context: alice@demo.eu-central-2.eksctl.io",
                "current-context: work",
            );
        let t = infer_ok(Some(&kc(&yaml)), &TargetArgs::default());
        assert_eq!(t.cluster, "demo");
        assert_eq!(t.region.as_deref(), Some("eu-central-2"));
        assert_eq!(
            t.source,
            "cluster demo.eu-central-2.eksctl.io of context work"
        );
    }

    // --- exec credential plugins ---

    #[test]
    fn exec_args_cluster_name_and_region_space_form() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, eu-central-2, eks, get-token, --cluster-name, payments, --output, json]
",
        );
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some("prod".into()),
                cluster: "payments".into(),
                region: Some("eu-central-2".into()),
                namespace: "default".into(),
                account_hint: None,
                source: "exec credentials of user prod-user (context prod)".into(),
            }
        );
    }

    #[test]
    fn exec_args_equals_form() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name=payments, --region=ap-southeast-4]
",
        );
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(t.cluster, "payments");
        assert_eq!(t.region.as_deref(), Some("ap-southeast-4"));
    }

    #[test]
    fn exec_args_through_a_wrapper_like_aws_vault() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws-vault
      args: [exec, prod-admin, --, aws, eks, get-token, --cluster-name, payments, --region, us-west-2]
",
        );
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(
            (t.cluster.as_str(), t.region.as_deref()),
            ("payments", Some("us-west-2"))
        );
    }

    #[test]
    fn aws_iam_authenticator_dash_i_with_aws_region_env() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws-iam-authenticator
      args: [token, -i, legacy]
      env:
      - name: AWS_PROFILE
        value: ops
      - name: AWS_REGION
        value: us-west-2
",
        );
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()),
            Target {
                context: Some("prod".into()),
                cluster: "legacy".into(),
                region: Some("us-west-2".into()),
                namespace: "default".into(),
                account_hint: None,
                source: "exec credentials of user prod-user (context prod)".into(),
            }
        );
    }

    #[test]
    fn aws_iam_authenticator_cluster_id_long_forms_and_full_path() {
        for args in [
            "[token, --cluster-id, legacy]",
            "[token, --cluster-id=legacy]",
        ] {
            let k = plain_with_exec(&format!(
                "      apiVersion: client.authentication.k8s.io/v1beta1
      command: /usr/local/bin/aws-iam-authenticator
      args: {args}
"
            ));
            let t = infer_ok(Some(&k), &TargetArgs::default());
            assert_eq!(t.cluster, "legacy", "{args}");
            assert_eq!(t.region, None);
        }
    }

    #[test]
    fn aws_cli_cluster_id_is_an_outposts_id_not_a_name() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, us-west-2, eks, get-token, --cluster-id, 0a1b2c3d-4e5f-6789-abcd-ef0123456789]
",
        );
        let err = infer(Some(&k), &TargetArgs::default()).unwrap_err();
        assert!(matches!(err, Error::TargetUnknown { .. }), "{err:?}");
    }

    #[test]
    fn exec_env_aws_default_region_and_precedence() {
        let exec = |env: &str, args: &str| {
            plain_with_exec(&format!(
                "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: {args}
      env:
{env}"
            ))
        };
        let default_only = exec(
            "      - name: AWS_DEFAULT_REGION\n        value: eu-north-1\n",
            "[eks, get-token, --cluster-name, c]",
        );
        let t = infer_ok(Some(&default_only), &TargetArgs::default());
        assert_eq!(t.region.as_deref(), Some("eu-north-1"));

        let both = exec(
            "      - name: AWS_DEFAULT_REGION\n        value: eu-north-1\n      - name: AWS_REGION\n        value: sa-east-1\n",
            "[eks, get-token, --cluster-name, c]",
        );
        let t = infer_ok(Some(&both), &TargetArgs::default());
        assert_eq!(
            t.region.as_deref(),
            Some("sa-east-1"),
            "AWS_REGION beats AWS_DEFAULT_REGION"
        );

        let arg_and_env = exec(
            "      - name: AWS_REGION\n        value: sa-east-1\n",
            "[--region, me-south-1, eks, get-token, --cluster-name, c]",
        );
        let t = infer_ok(Some(&arg_and_env), &TargetArgs::default());
        assert_eq!(
            t.region.as_deref(),
            Some("me-south-1"),
            "--region beats env"
        );
    }

    #[test]
    fn exec_without_region_leaves_region_to_the_sdk() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, payments]
",
        );
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(t.cluster, "payments");
        assert_eq!(t.region, None);
        assert_eq!(
            t.source,
            "exec credentials of user prod-user (context prod); no region there, so the AWS default region applies"
        );
    }

    // --- invalid regions are ignored ---

    #[test]
    fn invalid_region_in_arn_is_ignored_and_exec_region_used() {
        let arn = "arn:aws:eks:useast1:111122223333:cluster/demo";
        let k = kc(&update_kubeconfig(arn, "us-east-2", "demo"));
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(t.cluster, "demo");
        assert_eq!(t.region.as_deref(), Some("us-east-2"));
        assert_eq!(t.account_hint.as_deref(), Some("111122223333"));
        assert_eq!(
            t.source,
            format!("context {arn}; region from exec credentials of user {arn} (context {arn})")
        );
    }

    #[test]
    fn invalid_exec_region_is_ignored_in_favour_of_env() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, local, eks, get-token, --cluster-name, payments]
      env:
      - name: AWS_REGION
        value: us-east-2
",
        );
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(t.region.as_deref(), Some("us-east-2"));
    }

    #[test]
    fn invalid_regions_everywhere_give_no_region() {
        let k = plain_with_exec(
            "      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, US-EAST-1, eks, get-token, --cluster-name, payments]
      env:
      - name: AWS_REGION
        value: ''
",
        );
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!((t.cluster.as_str(), t.region), ("payments", None));
    }

    #[test]
    fn eksctl_lookalike_with_invalid_region_is_not_eksctl() {
        let k = kc(
            "contexts:\n- name: alice@demo.nowhere.eksctl.io\n  context: {cluster: x}\ncurrent-context: alice@demo.nowhere.eksctl.io\n",
        );
        let err = infer(Some(&k), &TargetArgs::default()).unwrap_err();
        assert!(matches!(err, Error::TargetUnknown { .. }), "{err:?}");
    }

    // --- flags ---

    #[test]
    fn flags_override_the_context() {
        let k = kc(&update_kubeconfig(ARN, "us-east-1", "demo"));
        let args = TargetArgs {
            cluster: Some("other".into()),
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        assert_eq!(
            infer_ok(Some(&k), &args),
            Target {
                context: Some(ARN.into()),
                cluster: "other".into(),
                region: Some("eu-west-1".into()),
                namespace: "default".into(),
                // The ARN is about another cluster.
                account_hint: None,
                source: "--cluster/--region".into(),
            }
        );
    }

    #[test]
    fn cluster_flag_alone_takes_the_region_from_the_context() {
        let k = kc(&update_kubeconfig(ARN, "us-east-1", "demo"));
        let args = TargetArgs {
            cluster: Some("demo".into()),
            ..Default::default()
        };
        let t = infer_ok(Some(&k), &args);
        assert_eq!(t.region.as_deref(), Some("us-east-1"));
        assert_eq!(t.account_hint.as_deref(), Some("111122223333"));
        assert_eq!(t.source, format!("--cluster; region from context {ARN}"));
    }

    #[test]
    fn region_flag_alone_overrides_the_context_region() {
        let k = kc(&eksctl("alice", "demo", "eu-west-1"));
        let args = TargetArgs {
            region: Some("eu-west-2".into()),
            ..Default::default()
        };
        let t = infer_ok(Some(&k), &args);
        assert_eq!(
            (t.cluster.as_str(), t.region.as_deref()),
            ("demo", Some("eu-west-2"))
        );
        assert_eq!(
            t.source,
            "context alice@demo.eu-west-1.eksctl.io; region from --region"
        );
    }

    #[test]
    fn flags_without_a_kubeconfig() {
        let args = TargetArgs {
            cluster: Some("demo".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        assert_eq!(
            infer_ok(None, &args),
            Target {
                context: None,
                cluster: "demo".into(),
                region: Some("us-east-1".into()),
                namespace: "default".into(),
                account_hint: None,
                source: "--cluster/--region".into(),
            }
        );
    }

    #[test]
    fn invalid_region_flag_is_an_error() {
        let args = TargetArgs {
            cluster: Some("demo".into()),
            region: Some("us-east1".into()),
            ..Default::default()
        };
        let err = infer(None, &args).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidName { what: "region", value, .. } if value == "us-east1"),
            "{err:?}"
        );
    }

    #[test]
    fn empty_cluster_flag_is_a_usage_error() {
        let args = TargetArgs {
            cluster: Some(" ".into()),
            ..Default::default()
        };
        assert!(matches!(infer(None, &args), Err(Error::Usage(_))));
    }

    // --- context selection ---

    const TWO_CONTEXTS: &str = r#"
contexts:
- name: dev
  context:
    cluster: arn:aws:eks:eu-west-1:111122223333:cluster/dev
    user: dev
- name: staging
  context:
    cluster: arn:aws:eks:eu-west-1:111122223333:cluster/staging
    user: staging
    namespace: monitoring
current-context: dev
"#;

    #[test]
    fn context_flag_selects_another_context() {
        let k = kc(TWO_CONTEXTS);
        let args = TargetArgs {
            context: Some("staging".into()),
            ..Default::default()
        };
        let t = infer_ok(Some(&k), &args);
        assert_eq!(t.context.as_deref(), Some("staging"));
        assert_eq!(t.cluster, "staging");
        assert_eq!(t.namespace, "monitoring");
    }

    #[test]
    fn empty_context_flag_means_current_context() {
        let k = kc(TWO_CONTEXTS);
        let args = TargetArgs {
            context: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(infer_ok(Some(&k), &args).context.as_deref(), Some("dev"));
    }

    #[test]
    fn unknown_context_flag_lists_available_contexts() {
        let k = kc(TWO_CONTEXTS);
        let args = TargetArgs {
            context: Some("prod".into()),
            ..Default::default()
        };
        match infer(Some(&k), &args) {
            Err(Error::UnknownContext { name, available }) => {
                assert_eq!(name, "prod");
                assert_eq!(available, "dev, staging");
            }
            other => panic!("expected UnknownContext, got {other:?}"),
        }
    }

    #[test]
    fn context_flag_without_a_kubeconfig_is_unknown() {
        let args = TargetArgs {
            context: Some("prod".into()),
            cluster: Some("demo".into()),
            ..Default::default()
        };
        assert!(matches!(
            infer(None, &args),
            Err(Error::UnknownContext { .. })
        ));
    }

    #[test]
    fn dangling_current_context_is_unknown() {
        let k = kc("contexts:\n- name: dev\n  context: {cluster: dev}\ncurrent-context: gone\n");
        match infer(Some(&k), &TargetArgs::default()) {
            Err(Error::UnknownContext { name, available }) => {
                assert_eq!((name.as_str(), available.as_str()), ("gone", "dev"));
            }
            other => panic!("expected UnknownContext, got {other:?}"),
        }
    }

    // --- namespace ---

    #[test]
    fn context_namespace_is_used() {
        let t = infer_ok(
            Some(&kc(TWO_CONTEXTS)),
            &TargetArgs {
                context: Some("staging".into()),
                ..Default::default()
            },
        );
        assert_eq!(t.namespace, "monitoring");
    }

    #[test]
    fn namespace_flag_beats_context_namespace() {
        let t = infer_ok(
            Some(&kc(TWO_CONTEXTS)),
            &TargetArgs {
                context: Some("staging".into()),
                namespace: Some("prometheus".into()),
                ..Default::default()
            },
        );
        assert_eq!(t.namespace, "prometheus");
    }

    #[test]
    fn namespace_defaults_to_default() {
        let t = infer_ok(Some(&kc(TWO_CONTEXTS)), &TargetArgs::default());
        assert_eq!(t.namespace, "default");
        let k = kc(
            "contexts:\n- name: c\n  context: {cluster: 'arn:aws:eks:us-east-1:111122223333:cluster/x', namespace: ''}\ncurrent-context: c\n",
        );
        assert_eq!(
            infer_ok(Some(&k), &TargetArgs::default()).namespace,
            "default"
        );
    }

    #[test]
    fn invalid_namespace_is_rejected() {
        let args = TargetArgs {
            cluster: Some("demo".into()),
            namespace: Some("Monitoring".into()),
            ..Default::default()
        };
        assert!(matches!(
            infer(None, &args),
            Err(Error::InvalidName {
                what: "namespace",
                ..
            })
        ));
        let k = kc(
            "contexts:\n- name: c\n  context: {cluster: 'arn:aws:eks:us-east-1:111122223333:cluster/x', namespace: 'bad_ns'}\ncurrent-context: c\n",
        );
        assert!(matches!(
            infer(Some(&k), &TargetArgs::default()),
            Err(Error::InvalidName {
                what: "namespace",
                ..
            })
        ));
    }

    // --- nothing to go on ---

    #[test]
    fn no_cluster_derivable_is_target_unknown() {
        let k = kc(r#"
clusters:
- name: minikube
  cluster: {server: "https://192.168.49.2:8443"}
contexts:
- name: minikube
  context: {cluster: minikube, user: minikube, namespace: default}
current-context: minikube
users:
- name: minikube
  user: {client-certificate: /home/u/.minikube/profiles/minikube/client.crt}
"#);
        match infer(Some(&k), &TargetArgs::default()) {
            Err(Error::TargetUnknown { what, from, flag }) => {
                assert_eq!(
                    (what, from.as_str(), flag),
                    ("cluster name", "context minikube", "cluster")
                );
            }
            other => panic!("expected TargetUnknown, got {other:?}"),
        }
    }

    #[test]
    fn no_kubeconfig_and_no_flags_is_target_unknown() {
        match infer(None, &TargetArgs::default()) {
            Err(Error::TargetUnknown { from, .. }) => assert_eq!(from, "no kubeconfig"),
            other => panic!("expected TargetUnknown, got {other:?}"),
        }
    }

    #[test]
    fn empty_kubeconfig_needs_flags() {
        let k = kc("");
        match infer(Some(&k), &TargetArgs::default()) {
            Err(Error::TargetUnknown { from, .. }) => {
                assert_eq!(from, "the kubeconfig, which has no current-context")
            }
            other => panic!("expected TargetUnknown, got {other:?}"),
        }
        let args = TargetArgs {
            cluster: Some("demo".into()),
            ..Default::default()
        };
        let t = infer_ok(Some(&k), &args);
        assert_eq!(t.context, None);
        assert_eq!(t.region, None);
        assert_eq!(
            t.source,
            "--cluster; no region there, so the AWS default region applies"
        );
    }

    #[test]
    fn malformed_names_and_args_never_panic() {
        let names = [
            "",
            "arn",
            "arn:",
            "arn:aws:eks",
            "arn:aws:eks:::",
            "arn:aws:eks:us-east-1:111122223333:cluster/",
            "arn:aws:eks:us-east-1:111122223333:cluster/a/b",
            "arn:aws:eks:us-east-1:1111222233334:cluster/x",
            "arn:aws:eks:us-east-1:11112222333é:cluster/x",
            "arn:other:eks:us-east-1:111122223333:cluster/x",
            "arn:aws:iam::111122223333:role/x",
            ".eksctl.io",
            "@.eksctl.io",
            "a@.us-east-1.eksctl.io",
            "@us-east-1.eksctl.io",
            "x.us-east-1.eksctl.io@",
            "é@ü.us-east-1.eksctl.io",
            "🦀",
        ];
        let arg_lists = [
            "[]",
            "[--cluster-name]",
            "[--cluster-name=]",
            "[--region]",
            "[--region=, --cluster-name, --region]",
            "[-i]",
            "[aws-iam-authenticator, -i]",
            "['--cluster-name= ', '--region=é']",
        ];
        for name in names {
            for args in arg_lists {
                let yaml = format!(
                    "contexts:\n- name: {name:?}\n  context: {{cluster: {name:?}, user: u}}\ncurrent-context: {name:?}\nusers:\n- name: u\n  user:\n    exec: {{command: aws, args: {args}}}\n"
                );
                let k = kc(&yaml);
                match infer(Some(&k), &TargetArgs::default()) {
                    // Anything derived is usable: a name, and a region only if it looks like one.
                    Ok(t) => {
                        assert!(!t.cluster.trim().is_empty(), "{name:?} {args}: {t:?}");
                        assert!(
                            t.region.as_deref().is_none_or(crate::names::region),
                            "{name:?} {args}: {t:?}"
                        );
                    }
                    Err(e) => assert!(
                        matches!(
                            e,
                            Error::TargetUnknown { .. }
                                | Error::UnknownContext { .. }
                                | Error::InvalidName { .. }
                                | Error::Usage(_)
                        ),
                        "{name:?} {args}: {e}"
                    ),
                }
            }
        }
    }

    #[test]
    fn context_entry_without_body_or_user_is_handled() {
        let k = kc(
            "contexts:\n- name: arn:aws:eks:us-east-1:111122223333:cluster/bare\ncurrent-context: arn:aws:eks:us-east-1:111122223333:cluster/bare\n",
        );
        let t = infer_ok(Some(&k), &TargetArgs::default());
        assert_eq!(
            (t.cluster.as_str(), t.namespace.as_str()),
            ("bare", "default")
        );
        let k = kc(
            "contexts:\n- name: c\n  context: {cluster: c, user: missing}\ncurrent-context: c\n",
        );
        assert!(matches!(
            infer(Some(&k), &TargetArgs::default()),
            Err(Error::TargetUnknown { .. })
        ));
    }

    #[test]
    fn flag_value_takes_the_last_occurrence_and_skips_flags_as_values() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            flag_value(&a(&["--region", "a", "--region=b"]), &["--region"]),
            Some("b")
        );
        assert_eq!(
            flag_value(&a(&["--region", "--output"]), &["--region"]),
            None
        );
        assert_eq!(flag_value(&a(&["--regions=x"]), &["--region"]), None);
        assert_eq!(
            flag_value(&a(&["-i", "x"]), &["-i", "--cluster-id"]),
            Some("x")
        );
    }

    // --- loading ---

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn loads_an_explicit_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "config", &update_kubeconfig(ARN, "us-east-1", "demo"));
        let k = load_kubeconfig(Some(&p)).unwrap().expect("a kubeconfig");
        assert_eq!(k.current_context.as_deref(), Some(ARN));
        assert_eq!(infer_ok(Some(&k), &TargetArgs::default()).cluster, "demo");
    }

    #[test]
    fn missing_explicit_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope");
        match load_kubeconfig(Some(&p)) {
            Err(Error::Kubeconfig { path, reason }) => {
                assert_eq!(path, p.display().to_string());
                assert!(reason.contains("does not exist"), "{reason}");
            }
            other => panic!("expected Kubeconfig error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "bad",
            "contexts: [\n  - name: x\n  this is: : not yaml\n",
        );
        let err = load_from_paths(std::slice::from_ref(&p)).unwrap_err();
        match &err {
            Error::Kubeconfig { path, reason } => {
                assert_eq!(*path, p.display().to_string());
                assert!(reason.starts_with("malformed YAML"), "{reason}");
            }
            other => panic!("expected Kubeconfig error, got {other:?}"),
        }
        assert!(err.to_string().contains(&p.display().to_string()));
        // Also through the explicit path.
        assert!(matches!(
            load_kubeconfig(Some(&p)),
            Err(Error::Kubeconfig { .. })
        ));
    }

    #[test]
    fn wrong_shape_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "shape", "contexts: 5\n");
        assert!(matches!(
            load_from_paths(&[p]),
            Err(Error::Kubeconfig { .. })
        ));
    }

    #[test]
    fn two_files_merge_first_wins() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(
            &dir,
            "first",
            "contexts:\n- name: shared\n  context: {cluster: 'arn:aws:eks:us-east-1:111122223333:cluster/one'}\n- name: only-first\n  context: {cluster: a}\ncurrent-context: shared\n",
        );
        let second = write(
            &dir,
            "second",
            "contexts:\n- name: shared\n  context: {cluster: 'arn:aws:eks:eu-west-1:444455556666:cluster/two', namespace: ns}\n- name: only-second\n  context: {cluster: b}\ncurrent-context: only-second\n",
        );
        let k = load_from_paths(&[first, second]).unwrap().unwrap();
        assert_eq!(k.current_context.as_deref(), Some("shared"));
        let names: Vec<_> = k.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["shared", "only-first", "only-second"]);
        let t = infer_ok(Some(&k), &TargetArgs::default());
        // The whole first entry wins: no namespace from the second file's entry.
        assert_eq!(
            (t.cluster.as_str(), t.namespace.as_str()),
            ("one", "default")
        );
        assert_eq!(t.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn empty_current_context_does_not_shadow_a_later_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(&dir, "first", "current-context: \"\"\ncontexts: []\n");
        let second = write(
            &dir,
            "second",
            "contexts:\n- name: c\n  context: {cluster: c}\ncurrent-context: c\n",
        );
        let k = load_from_paths(&[first, second]).unwrap().unwrap();
        assert_eq!(k.current_context.as_deref(), Some("c"));
    }

    #[test]
    fn missing_files_in_the_list_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let present = write(
            &dir,
            "present",
            "contexts:\n- name: c\n  context: {cluster: c}\n",
        );
        let k = load_from_paths(&[dir.path().join("missing"), present])
            .unwrap()
            .unwrap();
        assert_eq!(k.contexts.len(), 1);
        assert!(
            load_from_paths(&[dir.path().join("a"), dir.path().join("b")])
                .unwrap()
                .is_none()
        );
        assert!(load_from_paths(&[]).unwrap().is_none());
    }

    #[test]
    fn empty_file_is_an_empty_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "empty", "");
        let k = load_from_paths(&[p]).unwrap().unwrap();
        assert!(k.contexts.is_empty() && k.current_context.is_none());
    }

    #[test]
    fn odd_length_utf16_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("utf16");
        std::fs::write(&p, [0xFF, 0xFE, b'a', 0, b'b']).unwrap();
        assert!(matches!(
            load_from_paths(&[p]),
            Err(Error::Kubeconfig { .. })
        ));
    }

    /// A `Kubeconfig` error naming `path`, on one line, exiting 2; its reason.
    fn kubeconfig_reason(result: Result<Option<Kubeconfig>, Error>, path: &Path) -> String {
        match result {
            Err(err @ Error::Kubeconfig { .. }) => {
                let msg = err.to_string();
                assert_eq!(msg.lines().count(), 1, "{msg}");
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert_eq!(err.exit_code(), crate::error::exit::USAGE, "{msg}");
                let Error::Kubeconfig {
                    path: named,
                    reason,
                } = err
                else {
                    unreachable!()
                };
                assert_eq!(named, path.display().to_string());
                reason
            }
            other => panic!("expected a Kubeconfig error, got {other:?}"),
        }
    }

    #[test]
    fn directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let reason = kubeconfig_reason(load_from_paths(&[dir.path().to_path_buf()]), dir.path());
        assert!(reason.contains("is a directory"), "{reason}");
    }

    #[test]
    fn kubeconfig_flag_naming_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let reason = kubeconfig_reason(load_kubeconfig(Some(dir.path())), dir.path());
        assert!(reason.contains("is a directory"), "{reason}");
    }

    #[test]
    fn kubeconfig_env_naming_a_directory_is_an_error_not_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let present = write(&dir, "present", "contexts: []\n");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        // KUBECONFIG=<dir>, as load_kubeconfig reads it (without touching the
        // process environment, which tests share).
        let paths = kubeconfig_paths(Some(sub.as_os_str()), None);
        let reason = kubeconfig_reason(load_from_paths(&paths), &sub);
        assert!(reason.contains("is a directory"), "{reason}");
        // Also in a list, before or after a good file and a missing one.
        let missing = dir.path().join("missing");
        for list in [
            vec![present.clone(), missing.clone(), sub.clone()],
            vec![sub.clone(), present.clone()],
        ] {
            let joined = std::env::join_paths(&list).unwrap();
            let paths = kubeconfig_paths(Some(&joined), None);
            let reason = kubeconfig_reason(load_from_paths(&paths), &sub);
            assert!(reason.contains("is a directory"), "{reason}");
        }
    }

    #[test]
    fn binary_file_is_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("latin1", &b"current-context: caf\xe9\n"[..]),
            ("elf", &b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x00"[..]),
            ("gzip", &b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb"[..]),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let reason = kubeconfig_reason(load_from_paths(std::slice::from_ref(&p)), &p);
            assert!(reason.contains("not UTF-8"), "{name}: {reason}");
            let reason = kubeconfig_reason(load_kubeconfig(Some(&p)), &p);
            assert!(reason.contains("not UTF-8"), "{name}: {reason}");
        }
    }

    #[test]
    fn yaml_of_the_wrong_shape_is_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in [
            "contexts: 5\n",
            "hello\n",
            "- a\n- b\n",
            "clusters: {a: 1}\n",
            "current-context: [1, 2]\n",
            "contexts:\n- name: [x]\n",
            "users:\n- name: u\n  user: {exec: {args: 7}}\n",
            "\u{0}\u{1}\u{2}\n",
            "{{{{\n",
            "a: b\n  c: d\n",
        ]
        .iter()
        .enumerate()
        {
            let p = write(&dir, &format!("shape{i}"), text);
            let reason = kubeconfig_reason(load_from_paths(std::slice::from_ref(&p)), &p);
            assert!(!reason.is_empty(), "{text:?}");
            kubeconfig_reason(load_kubeconfig(Some(&p)), &p);
        }
    }

    #[test]
    fn whitespace_or_comments_only_is_an_empty_kubeconfig_like_kubectl() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["\n\n", "# nothing here\n", "---\n"] {
            let p = write(&dir, "blank", text);
            let k = load_kubeconfig(Some(&p)).unwrap().unwrap();
            assert!(
                k.contexts.is_empty() && k.current_context.is_none(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fuzz");
        let mut seed: u32 = 0x2545_f491;
        let mut next = move || {
            // xorshift32: deterministic, no dependency.
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let alphabet = b"abc:- \n\t{}[]\"'#&*!|>%@`,?\\\xff\xfe\x00\xc3\xa9";
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[next() as usize % alphabet.len()])
                .collect();
            std::fs::write(&p, &bytes).unwrap();
            match load_from_paths(std::slice::from_ref(&p)) {
                Ok(_) => {}
                Err(e) => {
                    kubeconfig_reason(Err(e), &p);
                }
            }
        }
        for bom in [
            &[0xFF, 0xFE][..],
            &[0xFE, 0xFF][..],
            &[0xEF, 0xBB, 0xBF][..],
        ] {
            for tail in [&b""[..], b"a", b"ab", b"\x00\xd8", b"\xd8\x00\x00"] {
                std::fs::write(&p, [bom, tail].concat()).unwrap();
                if let Err(e) = load_from_paths(std::slice::from_ref(&p)) {
                    kubeconfig_reason(Err(e), &p);
                }
            }
        }
    }

    #[test]
    fn kubeconfig_env_list_is_split_and_replaces_the_home_file() {
        let home = Path::new("/home/u");
        let sep = if cfg!(windows) { ";" } else { ":" };
        let list = format!("/a/one{sep}{sep}/b/two");
        assert_eq!(
            kubeconfig_paths(Some(OsStr::new(&list)), Some(home)),
            [PathBuf::from("/a/one"), PathBuf::from("/b/two")]
        );
        // Only separators: no files at all, and no fallback to ~/.kube/config.
        assert!(kubeconfig_paths(Some(OsStr::new(sep)), Some(home)).is_empty());
    }

    #[test]
    fn unset_or_empty_kubeconfig_env_means_the_home_file() {
        let home = Path::new("/home/u");
        let expected = [home.join(".kube").join("config")];
        assert_eq!(kubeconfig_paths(None, Some(home)), expected);
        assert_eq!(kubeconfig_paths(Some(OsStr::new("")), Some(home)), expected);
        assert!(kubeconfig_paths(None, None).is_empty());
    }
    const FLEET: &str = r#"apiVersion: v1
kind: Config
clusters:
- {cluster: {server: "https://a"}, name: arn:aws:eks:us-east-1:111122223333:cluster/demo}
- {cluster: {server: "https://a"}, name: demo.us-east-1.eksctl.io}
- {cluster: {server: "https://b"}, name: arn:aws:eks:eu-west-1:111122223333:cluster/demo}
- {cluster: {server: "https://c"}, name: kind-local}
contexts:
- {context: {cluster: arn:aws:eks:us-east-1:111122223333:cluster/demo, user: u}, name: arn:aws:eks:us-east-1:111122223333:cluster/demo}
- {context: {cluster: demo.us-east-1.eksctl.io, user: u}, name: alice@demo.us-east-1.eksctl.io}
- {context: {cluster: arn:aws:eks:eu-west-1:111122223333:cluster/demo, user: u}, name: arn:aws:eks:eu-west-1:111122223333:cluster/demo}
- {context: {cluster: kind-local, user: u}, name: kind-local}
users:
- {name: u, user: {}}
"#;

    #[test]
    fn all_contexts_are_the_eks_ones_one_per_cluster_and_region() {
        let (kept, skipped) = eks_contexts(&kc(FLEET));
        assert_eq!(
            kept,
            [
                "arn:aws:eks:us-east-1:111122223333:cluster/demo",
                "arn:aws:eks:eu-west-1:111122223333:cluster/demo"
            ]
        );
        // The eksctl context names the first's cluster; kind-local names none.
        assert_eq!(
            skipped,
            [(
                "alice@demo.us-east-1.eksctl.io".to_string(),
                "arn:aws:eks:us-east-1:111122223333:cluster/demo".to_string()
            )]
        );
    }

    #[test]
    fn the_contexts_for_a_cluster_are_those_naming_it_in_its_region() {
        let kc = kc(FLEET);
        assert_eq!(
            contexts_for(&kc, "demo", Some("eu-west-1")),
            ["arn:aws:eks:eu-west-1:111122223333:cluster/demo"]
        );
        assert_eq!(contexts_for(&kc, "demo", Some("us-east-1")).len(), 2);
        assert!(contexts_for(&kc, "other", None).is_empty());
    }
}
