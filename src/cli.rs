//! The command line (clap derive). Flags keep kubectl's meanings.

use crate::output::Format;
use crate::recipe::{IdentityMode, Kind};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # ingest + query roles, ServiceAccounts in the context's namespace
  kubectl amp-iam setup -n prometheus

  # only ingest, scoped to one AMP workspace, preview first
  kubectl amp-iam setup ingest -n prometheus --workspace ws-0123abcd-... --dry-run

  # create the AMP workspace, and restart the pods that still lack the role
  kubectl amp-iam setup -n prometheus --create-workspace prod --restart

  # EKS Pod Identity instead of IRSA, or move existing ServiceAccounts to it
  kubectl amp-iam setup -n prometheus --mode pod-identity --install-agent
  kubectl amp-iam migrate -n prometheus --to pod-identity --dry-run

  # the same as ACK manifests for GitOps
  kubectl amp-iam export -n prometheus > amp-iam.yaml

  # many clusters in one run: contexts, every EKS context, or a bootstrap file
  kubectl amp-iam setup -n prometheus --context prod-eu --context prod-us
  kubectl amp-iam status --all-contexts --role-name 'amp-{cluster}-{kind}'
  kubectl amp-iam setup -f fleet.yaml        # or an eksctl ClusterConfig; - for stdin

  # the Fargate pod execution role for this cluster
  kubectl amp-iam setup fargate

  # check (exit 3 when something is missing), then undo
  kubectl amp-iam status -o json
  kubectl amp-iam teardown --dry-run

  # the IAM policy the operator needs; Helm values for Prometheus
  kubectl amp-iam permissions --teardown > amp-iam-operator.json
  kubectl amp-iam values --workspace ws-0123abcd-... > prometheus-values.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl amp-iam",
    bin_name = "kubectl amp-iam",
    version,
    about = "Wire an EKS cluster to Amazon Managed Service for Prometheus: OIDC provider, IRSA roles, ServiceAccounts, Fargate pod execution role",
    long_about = "Wire an EKS cluster to Amazon Managed Service for Prometheus (AMP).\n\n\
        Works out the cluster, region and namespace from the kubeconfig context (or the flags), \
        reads what exists in AWS and the cluster, and makes only the changes AMP still needs: \
        the IAM OIDC provider, the ingest and query IRSA roles with their policies, the annotated \
        ServiceAccounts, and the Fargate pod execution role. Runs are idempotent: a second run \
        changes nothing and says so.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context); setup,
    /// status and teardown take it several times for a fleet run
    #[arg(long, global = true, value_name = "NAME", action = clap::ArgAction::Append)]
    pub context: Vec<String>,
    /// Namespace of the ServiceAccounts (default: the context's, else "default")
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// EKS cluster name (default: inferred from the context)
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// AWS region of the cluster (default: inferred from the context, else AWS_REGION / the profile's)
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile (default: AWS_PROFILE, else the default credential chain)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Output format: text for people, json or yaml for scripts (one document on stdout)
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Print each AWS and Kubernetes call (operation, resource, duration) on stderr; -vv for more
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or fix what AMP needs (default KINDs: ingest and query)
    Setup(SetupArgs),
    /// Check, read-only, that everything setup makes is in place (exit 3 if not)
    Status(StatusArgs),
    /// Remove what setup made (resources not made by this tool are skipped unless --force)
    Teardown(TeardownArgs),
    /// Print the least-privilege IAM policy the operator needs (JSON on stdout; Kubernetes RBAC on stderr)
    Permissions(PermissionsArgs),
    /// Print Helm values for the prometheus-community `prometheus` chart: remote write to AMP as the ingest role
    Values(ValuesArgs),
    /// Print a shell completion script for kubectl-amp_iam (bash, zsh or fish)
    Completion(CompletionArgs),
    /// Move ServiceAccounts between IRSA and EKS Pod Identity, safely and re-runnably
    Migrate(MigrateArgs),
    /// Print what setup would make as manifests for ACK (AWS Controllers for Kubernetes), for GitOps; writes nothing
    Export(ExportArgs),
}

/// The manifest formats `export` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// ACK's iam-controller (Role, Policy, OpenIDConnectProvider) and
    /// eks-controller (PodIdentityAssociation) objects, plus the ServiceAccounts
    Ack,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// The manifest format
    #[arg(long, value_enum, default_value_t = ExportFormat::Ack)]
    pub format: ExportFormat,
    /// AWS account id of the target (with --oidc-issuer, or in Pod Identity mode: no AWS call)
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// AWS partition with --account: aws, aws-cn, aws-us-gov, ...
    #[arg(long, value_name = "NAME", default_value = "aws", requires = "account")]
    pub partition: String,
    /// The cluster's OIDC issuer URL (default: from DescribeCluster)
    #[arg(long, value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// Extra tag on everything, KEY=VALUE (repeatable), as for setup
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Permissions boundary of the roles, as for setup
    #[arg(long, value_name = "ARN")]
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// The mode to move to
    #[arg(long, value_enum, value_name = "MODE")]
    pub to: IdentityMode,
    /// Also take the old mode's statement out of the role's trust (IRSA's with
    /// --to pod-identity, Pod Identity's with --to irsa)
    #[arg(long, alias = "remove-irsa-trust", alias = "remove-pod-identity-trust")]
    pub remove_old_trust: bool,
    /// Print the plan and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Repoint an association or annotation that names another role
    #[arg(long)]
    pub overwrite: bool,
    /// With --to pod-identity: create the eks-pod-identity-agent add-on when missing
    #[arg(long)]
    pub install_agent: bool,
    /// Restart the workloads whose pods still run with the old mode's credentials
    #[arg(long)]
    pub restart: bool,
}

/// Which KINDs and which names.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// What to work on: ingest, query, fargate (default: ingest and query)
    #[arg(value_enum, value_name = "KIND")]
    pub kinds: Vec<Kind>,
    /// ServiceAccount name (only with exactly one KIND)
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// IAM role name (only with exactly one KIND), or a template such as
    /// `amp-{cluster}-{kind}` ({cluster}, {region}, {namespace}, {kind})
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,
    /// IAM policy name (only with exactly one KIND), or a template as for --role-name
    #[arg(long, value_name = "NAME")]
    pub policy_name: Option<String>,
    /// The AMP workspace, by id (ws-...) or alias: resolved in the cluster's region
    /// (exit 2 when none or several match); the AMP policies are scoped to it
    #[arg(long, value_name = "ID|ALIAS")]
    pub workspace: Option<String>,
    /// IAM path for roles and policies created
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub role_path: String,
    /// Fargate: trust Fargate profiles of this cluster name in every region (`*` for the region)
    #[arg(long)]
    pub all_regions: bool,
    /// Fargate: trust Fargate profiles of every cluster in the account (`*` for the cluster)
    #[arg(long)]
    pub all_clusters: bool,
    /// How pods get the role: irsa (default; works on Fargate) or pod-identity (EKS Pod Identity)
    #[arg(long, value_enum, default_value_t = IdentityMode::Irsa)]
    pub mode: IdentityMode,
}

/// Many clusters in one run (setup, status, teardown).
#[derive(Debug, Clone, Default, Args)]
pub struct FleetArgs {
    /// Every context of the kubeconfig that names an EKS cluster
    #[arg(long, conflicts_with = "files")]
    pub all_contexts: bool,
    /// A bootstrap file listing the clusters (YAML, see the README; an eksctl
    /// ClusterConfig works too); `-` reads stdin; repeatable
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How many clusters a fleet run works on at once
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Print the plan and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace a role-arn annotation that points at another role; add a Fargate statement to a role that has none
    #[arg(long)]
    pub overwrite: bool,
    /// Fargate: add an aws:SourceArn condition to a statement that trusts every cluster
    #[arg(long)]
    pub harden: bool,
    /// Extra tag on everything created, KEY=VALUE (repeatable)
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Permissions boundary for roles created
    #[arg(long, value_name = "ARN")]
    pub permissions_boundary: Option<String>,
    /// Create an AMP workspace with this alias when none has it (tagged as the
    /// tool's), and scope the policies to it
    #[arg(long, value_name = "ALIAS", conflicts_with = "workspace")]
    pub create_workspace: Option<String>,
    /// Restart (as `kubectl rollout restart`) the Deployments, StatefulSets and
    /// DaemonSets whose pods run the ServiceAccounts without the role, once it is in place
    #[arg(long)]
    pub restart: bool,
    /// With --restart: also delete bare pods (no controller brings them back)
    #[arg(long, requires = "restart")]
    pub force: bool,
    /// Pod Identity: create the eks-pod-identity-agent add-on when the cluster lacks it
    #[arg(long)]
    pub install_agent: bool,
    /// Annotate the ServiceAccounts eks.amazonaws.com/sts-regional-endpoints=true
    /// (pods use their region's STS endpoint)
    #[arg(long)]
    pub sts_regional_endpoints: bool,
    /// Annotate the ServiceAccounts eks.amazonaws.com/token-expiration (seconds, 3600 to 86400)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(3600..=86400))]
    pub token_expiration: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Print the plan and delete nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove roles, policies and providers not tagged as made by this tool
    #[arg(long)]
    pub force: bool,
    /// Also delete the cluster's IAM OIDC provider when no role trusts it any more
    #[arg(long)]
    pub include_oidc_provider: bool,
    /// Also delete the --workspace if kubectl-amp-iam created it
    #[arg(long, requires = "workspace")]
    pub include_workspace: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PermissionsArgs {
    /// The mode setup uses (pod-identity adds the EKS association, add-on and iam:PassRole grants)
    #[arg(long, value_enum, default_value_t = IdentityMode::Irsa)]
    pub mode: IdentityMode,
    /// What the policy is for: ingest, query, fargate (default: ingest and query)
    #[arg(value_enum, value_name = "KIND")]
    pub kinds: Vec<Kind>,
    /// Also allow what teardown needs (deletes, and --include-oidc-provider's ListRoles)
    #[arg(long)]
    pub teardown: bool,
    /// AWS account id in the resource ARNs (default: `*`; no AWS call is made)
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// AWS partition in the resource ARNs: aws, aws-cn, aws-us-gov, ...
    #[arg(long, value_name = "NAME", default_value = "aws")]
    pub partition: String,
    /// IAM role name, as given to setup (only with exactly one KIND)
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,
    /// IAM policy name, as given to setup (only with exactly one KIND)
    #[arg(long, value_name = "NAME")]
    pub policy_name: Option<String>,
    /// IAM path of the roles and policies, as given to setup
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub role_path: String,
}

#[derive(Debug, Clone, Args)]
pub struct ValuesArgs {
    /// How the ServiceAccount gets the role (pod-identity: no role-arn annotation)
    #[arg(long, value_enum, default_value_t = IdentityMode::Irsa)]
    pub mode: IdentityMode,
    /// The AMP workspace Prometheus writes to, by id or alias (default: the
    /// region's only workspace; a placeholder when there is none)
    #[arg(long, value_name = "ID|ALIAS")]
    pub workspace: Option<String>,
    /// The ingest ServiceAccount, as given to setup
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// The ingest IAM role name, as given to setup
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,
    /// IAM path of the ingest role, as given to setup
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub role_path: String,
    /// AWS account id of the role (default: the caller's, from STS GetCallerIdentity)
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// AWS partition of the role ARN with --account (default: aws)
    #[arg(long, value_name = "NAME", requires = "account")]
    pub partition: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub shell: crate::completion::Shell,
}

/// Splits `KEY=VALUE` at the first `=` (the value may be empty, `k=`, or hold
/// more `=`). Only the shape: IAM's tag rules are `names::tags`'s, so every
/// tag error comes from one place.
fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| {
            format!("expected KEY=VALUE (e.g. team=observability, or team= for an empty value), got {s:?}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn kinds_and_flags_parse() {
        let cli = Cli::try_parse_from([
            "kubectl-amp_iam",
            "setup",
            "ingest",
            "-n",
            "prometheus",
            "--workspace",
            "ws-1",
            "--dry-run",
            "-o",
            "json",
            "--tag",
            "team=obs",
        ])
        .unwrap();
        let Command::Setup(s) = cli.command else {
            panic!("setup expected")
        };
        assert_eq!(s.selection.kinds, vec![Kind::Ingest]);
        assert!(s.dry_run);
        assert_eq!(s.tags, vec![("team".to_string(), "obs".to_string())]);
        assert_eq!(cli.global.namespace.as_deref(), Some("prometheus"));
        assert_eq!(cli.global.output, Format::Json);
    }

    #[test]
    fn unknown_kind_is_a_usage_error() {
        let err = Cli::try_parse_from(["kubectl-amp_iam", "setup", "ingets"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("ingets"));
    }

    #[test]
    fn global_flags_work_after_the_subcommand_too() {
        let cli = Cli::try_parse_from(["x", "status", "--context", "c", "--region", "eu-west-1"])
            .unwrap();
        assert_eq!(cli.global.context, ["c"]);
        assert_eq!(cli.global.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn tag_without_equals_is_rejected() {
        for bad in ["novalue", "", "team:obs"] {
            let err = parse_tag(bad).unwrap_err();
            assert!(err.contains("expected KEY=VALUE"), "{err}");
        }
        let err = Cli::try_parse_from(["x", "setup", "--tag", "novalue"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn tag_is_split_at_the_first_equals_only() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(parse_tag("a=b=c").unwrap(), pair("a", "b=c"));
        assert_eq!(parse_tag("k=").unwrap(), pair("k", ""));
        assert_eq!(
            parse_tag("équipe=données").unwrap(),
            pair("équipe", "données")
        );
        // The rules (empty key, lengths, characters, aws:) are names::tags's.
        assert_eq!(parse_tag("=x").unwrap(), pair("", "x"));
        assert_eq!(parse_tag("aws:x=a#b").unwrap(), pair("aws:x", "a#b"));
        let long = format!("{}={}", "k".repeat(200), "v".repeat(300));
        assert!(parse_tag(&long).is_ok());
    }
}
