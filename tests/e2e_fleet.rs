//! End-to-end (issue 13, fleets): many clusters in one run, through the real
//! kubectl, against moto and one Kubernetes API stand-in per cluster.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/iam_reads.rs"]
mod iam_reads;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use harness::{ACCOUNT, CLUSTER, Env, REGION};
use iam_reads::{INGEST_ROLE, INGEST_SA, ROLE_ARN, trust_of};
use kube_standin::KubeStandin;
use serde_json::Value;

const WEST: &str = "us-west-2";

/// Three clusters: `demo` and `second` in us-east-1, `west` in us-west-2,
/// one account, each with its own API server; a kubeconfig with a context
/// for each. Returns the stand-ins of `second` and `west`, and the contexts.
async fn fleet(env: &Env) -> (KubeStandin, KubeStandin, Vec<String>) {
    fleet_of(env, false).await
}

/// [`fleet`], plus a fourth context for cluster `gone`, which EKS no longer has.
async fn fleet_with_a_gone_cluster(env: &Env) -> (KubeStandin, KubeStandin, Vec<String>) {
    fleet_of(env, true).await
}

async fn fleet_of(env: &Env, gone: bool) -> (KubeStandin, KubeStandin, Vec<String>) {
    env.create_cluster("second").await;
    env.create_cluster_in("west", WEST).await;
    let (second, west) = (KubeStandin::start().await, KubeStandin::start().await);
    let (kube, second_uri, west_uri) = (env.kube.uri(), second.uri(), west.uri());
    let mut members = vec![
        (CLUSTER, REGION, kube.as_str(), "prometheus"),
        ("second", REGION, second_uri.as_str(), "prometheus"),
        ("west", WEST, west_uri.as_str(), "monitoring"),
    ];
    if gone {
        members.push(("gone", REGION, west_uri.as_str(), "prometheus"));
    }
    let contexts = env.write_fleet_kubeconfig(&members);
    env.reset_calls();
    (second, west, contexts)
}

/// `args`, then `--context C` for each context.
fn with_contexts<'a>(args: &[&'a str], contexts: &'a [String]) -> Vec<&'a str> {
    let each = contexts.iter().flat_map(|c| ["--context", c.as_str()]);
    args.iter().copied().chain(each).collect()
}

/// `fleet.yaml` in the test's directory; its path.
fn write_fleet_file(env: &Env, text: &str) -> String {
    let file = env.dir.path().join("fleet.yaml");
    std::fs::write(&file, text).expect("write fleet.yaml");
    file.to_string_lossy().to_string()
}

/// `kubectl amp-iam ARGS` with `stdin` on its standard input.
async fn run_with_stdin(env: &Env, args: &[&str], stdin: String) -> std::process::Output {
    let mut cmd = env.command(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join")
}

fn count(calls: &[String], action: &str) -> usize {
    calls.iter().filter(|c| c.as_str() == action).count()
}

fn annotation(kube: &KubeStandin, ns: &str, sa: &str) -> Option<String> {
    kube.service_account(ns, sa).and_then(|v| {
        v["metadata"]["annotations"][ROLE_ARN]
            .as_str()
            .map(String::from)
    })
}

#[tokio::test]
async fn three_contexts_in_one_run_share_the_guides_roles_without_losing_a_statement() {
    let env = Env::start().await;
    let (second, west, contexts) = fleet(&env).await;
    let args = with_contexts(&["setup", "-o", "json"], &contexts);
    let out = env.run(&args).await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    let clusters = doc["clusters"].as_array().expect("clusters[]");
    assert_eq!(clusters.len(), 3, "{doc:#}");
    for (c, name) in clusters.iter().zip([CLUSTER, "second", "west"]) {
        assert_eq!(c["cluster"], name, "{c:#}");
        assert_eq!(c["exit_code"], 0, "{c:#}");
        assert!(
            c["changes"].is_array(),
            "each entry is today's document: {c:#}"
        );
    }
    assert_eq!(clusters[2]["region"], WEST);
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["total"]["failed"], 0);
    let calls = env.aws_calls();

    // One role shared by three clusters: every cluster's statement is in it.
    let trust = trust_of(&env, INGEST_ROLE).await.to_string();
    for (cluster, region) in [(CLUSTER, REGION), ("second", REGION), ("west", WEST)] {
        let host = env.issuer_host_in(cluster, region).await;
        assert!(
            trust.contains(&host),
            "{cluster} ({host}) missing from {trust}"
        );
    }
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{INGEST_ROLE}");
    assert_eq!(
        annotation(&env.kube, "prometheus", INGEST_SA),
        Some(role.clone())
    );
    assert_eq!(
        annotation(&second, "prometheus", INGEST_SA),
        Some(role.clone())
    );
    assert_eq!(annotation(&west, "monitoring", INGEST_SA), Some(role));
    let notes = doc["notes"].to_string();
    assert!(notes.contains("one after another"), "{notes}");
    // The guide's policies are the same for every cluster: made once each.
    assert_eq!(count(&calls, "CreatePolicy"), 2, "{calls:?}");
    assert_eq!(count(&calls, "CreateOpenIDConnectProvider"), 3, "{calls:?}");

    // status across the fleet: all in sync, in one table.
    let status = with_contexts(&["status"], &contexts);
    let out = env.run(&status).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("CLUSTER"), "{out:?}");
    // One row per cluster, named by the cluster.
    for name in [CLUSTER, "second", "west"] {
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")));
        assert!(
            row.is_some_and(|r| r.ends_with("in sync")),
            "{name}: {out:?}"
        );
    }
    assert!(out.stdout.contains("3 clusters: 3 ok"), "{out:?}");

    // Teardown of the fleet: chained too, so the last cluster out removes
    // the shared roles and policies.
    let teardown = with_contexts(&["teardown"], &contexts);
    let out = env.run(&teardown).await;
    assert_eq!(out.code, 0, "{out:?}");
    let role = env.iam.get_role().role_name(INGEST_ROLE).send().await;
    assert!(role.is_err(), "the shared role is gone: {out:?}");
    let policy = env
        .iam
        .get_policy()
        .policy_arn(iam_reads::policy_arn(iam_reads::INGEST_POLICY))
        .send()
        .await;
    assert!(policy.is_err(), "the shared policy is gone: {out:?}");
    assert_eq!(annotation(&west, "monitoring", INGEST_SA), None);
}

#[tokio::test]
async fn a_name_template_gives_each_cluster_its_roles_and_reads_the_account_once() {
    let env = Env::start().await;
    let (second, _west, _) = fleet(&env).await;
    let out = env
        .run(&[
            "setup",
            "--all-contexts",
            "--role-name",
            "amp-{cluster}-{kind}",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["clusters"].as_array().map(Vec::len), Some(3), "{doc:#}");
    // What the run sent (before this test's own reads below).
    let calls = env.aws_calls();
    for (cluster, region) in [(CLUSTER, REGION), ("second", REGION), ("west", WEST)] {
        for kind in ["ingest", "query"] {
            let trust = trust_of(&env, &format!("amp-{cluster}-{kind}"))
                .await
                .to_string();
            assert!(
                trust.contains(&env.issuer_host_in(cluster, region).await),
                "amp-{cluster}-{kind}: {trust}"
            );
        }
    }
    assert_eq!(
        annotation(&second, "prometheus", INGEST_SA).as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/amp-second-ingest").as_str())
    );
    // Account-level reads once for the fleet, not once per cluster.
    assert_eq!(count(&calls, "GetCallerIdentity"), 1, "{calls:?}");
    assert_eq!(count(&calls, "ListOpenIDConnectProviders"), 1, "{calls:?}");
    assert_eq!(count(&calls, "GetPolicy"), 2, "{calls:?}");
    assert_eq!(count(&calls, "CreatePolicy"), 2, "{calls:?}");
    assert_eq!(count(&calls, "CreateRole"), 6, "{calls:?}");
    assert_eq!(count(&calls, "CreateOpenIDConnectProvider"), 3, "{calls:?}");
    for cluster in [CLUSTER, "second", "west"] {
        let describe = format!("GET clusters/{cluster}");
        assert_eq!(count(&calls, &describe), 1, "{calls:?}");
    }
    assert!(
        doc["notes"].to_string().contains("one write for clusters"),
        "{doc:#}"
    );
    // Sent: the caller, the providers, 2 policies, 6 roles and their
    // attachments (16); answered from the first cluster's reads: the
    // caller, the providers and the policies for the other two (8).
    assert_eq!(doc["total"]["account_reads"]["sent"], 16, "{doc:#}");
    assert_eq!(doc["total"]["account_reads"]["shared"], 8, "{doc:#}");

    // A re-run writes nothing.
    env.reset_calls();
    let again = env
        .run(&[
            "setup",
            "--all-contexts",
            "--role-name",
            "amp-{cluster}-{kind}",
        ])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
    assert!(again.stdout.contains("3 clusters: 3 ok"), "{again:?}");

    // And a fleet teardown removes every cluster's roles.
    let out = env
        .run(&[
            "teardown",
            "--all-contexts",
            "--role-name",
            "amp-{cluster}-{kind}",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    for cluster in [CLUSTER, "second", "west"] {
        let gone = env
            .iam
            .get_role()
            .role_name(format!("amp-{cluster}-ingest"))
            .send()
            .await;
        assert!(gone.is_err(), "amp-{cluster}-ingest still there");
    }
    // The guide's policy, which all three roles used: the last cluster out deletes it.
    let policy = env
        .iam
        .get_policy()
        .policy_arn(iam_reads::policy_arn(iam_reads::INGEST_POLICY))
        .send()
        .await;
    assert!(policy.is_err(), "the shared policy is gone: {out:?}");
}

#[tokio::test]
async fn a_template_too_long_for_one_cluster_is_refused_before_any_call() {
    let env = Env::start().await;
    let (_second, _west, contexts) = fleet(&env).await;
    let out = env
        .run(&[
            "setup",
            "--context",
            &contexts[0],
            "--context",
            &contexts[1],
            "--role-name",
            "prometheus-remote-write-role-for-amp-in-this-account-{cluster}-{kind}",
        ])
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    // 64 characters for demo's ingest role, 66 for second's.
    assert!(out.stderr.contains("for cluster second"), "{out:?}");
    assert!(!out.stderr.contains("for cluster demo"), "{out:?}");
    assert!(out.stderr.contains("64"), "{out:?}");
    assert_eq!(env.aws_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_bootstrap_file_with_a_bad_cluster_sets_up_the_others_and_names_it() {
    let env = Env::start().await;
    let (second, _west, contexts) = fleet_with_a_gone_cluster(&env).await;
    let path = write_fleet_file(
        &env,
        &format!(
            "apiVersion: amp-iam/v1alpha1\nkind: Fleet\ndefaults:\n  kinds: [ingest]\n  roleName: \"amp-{{cluster}}-{{kind}}\"\nclusters:\n  - context: {}\n  - context: {}\n    namespace: metrics\n  - cluster: gone\n    region: {REGION}\n    namespace: prometheus\n",
            contexts[0], contexts[1]
        ),
    );
    let out = env.run(&["setup", "-f", &path, "-o", "json"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let doc = out.json();
    let clusters = doc["clusters"].as_array().expect("clusters[]");
    assert_eq!(clusters.len(), 3, "{doc:#}");
    assert_eq!(clusters[0]["exit_code"], 0, "{doc:#}");
    assert_eq!(clusters[1]["exit_code"], 0, "{doc:#}");
    assert_eq!(clusters[2]["error"]["kind"], "cluster_not_found", "{doc:#}");
    assert_eq!(clusters[2]["exit_code"], 1);
    assert!(
        clusters[2]["origin"]
            .as_str()
            .unwrap_or_default()
            .contains("clusters[2]")
    );
    assert_eq!(doc["total"]["failed"], 1);
    assert!(out.stderr.contains("gone"), "{out:?}");
    assert_eq!(clusters[2]["cluster"], "gone", "{doc:#}");
    assert_eq!(
        annotation(&second, "metrics", INGEST_SA).as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/amp-second-ingest").as_str())
    );
}

#[tokio::test]
async fn an_unknown_key_in_the_bootstrap_file_is_refused_with_its_line_before_any_call() {
    let env = Env::start().await;
    let (_second, _west, contexts) = fleet(&env).await;
    let text = format!(
        "clusters:\n  - context: {}\n    namepsace: prometheus\n",
        contexts[0]
    );
    let out = run_with_stdin(&env, &["setup", "-f", "-", "-o", "json"], text).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":3:5"), "line 3, column 5: {stderr}");
    assert!(stderr.contains("namepsace"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["error"]["kind"], "bootstrap_file");
    assert_eq!(env.aws_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn an_eksctl_cluster_config_on_stdin_sets_up_its_amp_service_accounts() {
    let env = Env::start().await;
    let (second, _west, _) = fleet(&env).await;
    let config = format!(
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: second\n  region: {REGION}\nmanagedNodeGroups:\n  - name: ng-1\niam:\n  withOIDC: true\n  serviceAccounts:\n    - metadata: {{name: amp-ingest, namespace: metrics}}\n      roleName: second-amp-ingest\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]\n    - metadata: {{name: adot-collector, namespace: metrics}}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]\n    - metadata: {{name: grafana, namespace: dashboards}}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n    - metadata: {{name: aws-load-balancer-controller, namespace: kube-system}}\n      wellKnownPolicies: {{awsLoadBalancerController: true}}\n"
    );
    let out = run_with_stdin(&env, &["setup", "-f", "-"], config).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("aws-load-balancer-controller") && stderr.contains("skipped"),
        "{stderr}"
    );
    assert_eq!(
        annotation(&second, "metrics", "amp-ingest").as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/second-amp-ingest").as_str())
    );
    assert_eq!(
        annotation(&second, "dashboards", "grafana").as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/amp-iamproxy-query-role").as_str())
    );
    // A second remote writer in the same namespace is another ServiceAccount, not a duplicate.
    assert_eq!(
        annotation(&second, "metrics", "adot-collector").as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/amp-iamproxy-ingest-role").as_str())
    );
    // Nothing went to the current context's cluster (demo).
    assert!(env.kube.service_account("metrics", "amp-ingest").is_none());
    assert!(stdout.contains("3 clusters: 3 ok"), "{stdout}");
}

const OTHER_ACCOUNT: &str = "222233334444";

#[tokio::test]
async fn a_named_profile_uses_its_own_credentials_not_the_environments() {
    let env = Env::start().await;
    // The environment's keys act in 123456789012, the context's account;
    // profile `other` acts in 222233334444.
    let other = env.credentials_in(OTHER_ACCOUNT).await;
    env.write_aws_profile("other", &other);
    env.reset_calls();
    let out = env.run(&["setup", "--profile", "other"]).await;
    // The profile's account is not the context's: refused before any write.
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains(OTHER_ACCOUNT), "{out:?}");
    assert!(out.stderr.contains("--profile other"), "{out:?}");
    assert_eq!(env.aws_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_fleet_across_two_accounts_uses_each_entrys_profile_and_reads_each_account_once() {
    let env = Env::start().await;
    let other = env.credentials_in(OTHER_ACCOUNT).await;
    env.write_aws_profile("other", &other);
    let other_config = env.sdk_config(REGION, Some(&other)).await;
    aws_sdk_eks::Client::new(&other_config)
        .create_cluster()
        .name("elsewhere")
        .role_arn(format!("arn:aws:iam::{OTHER_ACCOUNT}:role/eks-cluster"))
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
        .send()
        .await
        .expect("a cluster in the other account");
    let elsewhere = KubeStandin::start().await;
    let mut contexts = env.write_fleet_kubeconfig(&[
        (CLUSTER, REGION, &env.kube.uri(), "prometheus"),
        ("elsewhere", REGION, &elsewhere.uri(), "prometheus"),
    ]);
    // The second context names the other account, as update-kubeconfig would.
    let kubeconfig = std::fs::read_to_string(env.kubeconfig()).expect("kubeconfig");
    let moved = format!("arn:aws:eks:{REGION}:{OTHER_ACCOUNT}:cluster/elsewhere");
    std::fs::write(env.kubeconfig(), kubeconfig.replace(&contexts[1], &moved)).expect("write");
    contexts[1] = moved;
    let path = write_fleet_file(
        &env,
        &format!(
            "clusters:\n  - context: {}\n  - context: {}\n    profile: other\n",
            contexts[0], contexts[1]
        ),
    );
    env.reset_calls();
    let out = env.run(&["setup", "-f", &path, "-o", "json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["clusters"][0]["account"], ACCOUNT, "{doc:#}");
    assert_eq!(doc["clusters"][1]["account"], OTHER_ACCOUNT, "{doc:#}");
    let calls = env.aws_calls();
    // One caller per profile; nothing shared across accounts.
    assert_eq!(count(&calls, "GetCallerIdentity"), 2, "{calls:?}");
    assert_eq!(count(&calls, "CreatePolicy"), 2 * 2, "{calls:?}");
    // Each account got its own roles; the other cluster's ServiceAccount names the other account's.
    let other_iam = aws_sdk_iam::Client::new(&other_config);
    let role = other_iam.get_role().role_name(INGEST_ROLE).send().await;
    assert!(role.is_ok(), "{role:?}");
    assert_eq!(
        annotation(&elsewhere, "prometheus", INGEST_SA).as_deref(),
        Some(format!("arn:aws:iam::{OTHER_ACCOUNT}:role/{INGEST_ROLE}").as_str())
    );
    assert_eq!(
        annotation(&env.kube, "prometheus", INGEST_SA).as_deref(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/{INGEST_ROLE}").as_str())
    );
}

#[tokio::test]
async fn the_fix_status_suggests_keeps_the_name_template() {
    let env = Env::start().await;
    let out = env
        .run(&[
            "status",
            "--role-name",
            "amp-{cluster}-{kind}",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.code, 3, "{out:?}");
    let fix = out.json()["fix"].as_str().unwrap_or_default().to_string();
    assert!(
        fix.contains("--role-name 'amp-{cluster}-{kind}'"),
        "running it must make the same roles: {fix}"
    );
}
