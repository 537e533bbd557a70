//! The kube-rs edge against a mock API server: exact requests, server-side
//! apply semantics (via the stateful stand-in), retries and error mapping.

#[path = "support/kube_standin.rs"]
mod kube_standin;

use std::collections::BTreeMap;

use amp_iam::cluster::kube::KubeCluster;
use amp_iam::cluster::{Cluster, FIELD_MANAGER, KubeErrorKind, ServiceAccount};
use kube_standin::KubeStandin;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";
const ARN: &str = "arn:aws:iam::123456789012:role/amp-iamproxy-ingest-role";

fn cluster(uri: &str) -> KubeCluster {
    let uri = uri.parse().expect("mock server uri");
    let client = kube::Client::try_from(kube::Config::new(uri)).expect("client");
    KubeCluster::from_client(client)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn annotations_of(object: &serde_json::Value) -> serde_json::Value {
    object["metadata"]["annotations"].clone()
}

#[tokio::test]
async fn apply_sends_one_forced_server_side_apply_with_only_our_fields() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/namespaces/ns/serviceaccounts/sa"))
        .and(query_param("fieldManager", FIELD_MANAGER))
        .and(query_param("fieldManager", "kubectl-amp-iam"))
        .and(query_param("force", "true"))
        .and(header("content-type", "application/apply-patch+yaml"))
        .and(body_json(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "sa",
                "namespace": "ns",
                "annotations": {ROLE_ARN: ARN},
            },
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "sa", "namespace": "ns", "annotations": {ROLE_ARN: ARN}},
        })))
        .expect(1)
        .mount(&server)
        .await;

    cluster(&server.uri())
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");

    server.verify().await;
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1, "exactly one request: {requests:?}");
    let query: BTreeMap<String, String> = requests[0].url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        map(&[("fieldManager", "kubectl-amp-iam"), ("force", "true")]),
        "no other query parameters (no dryRun)"
    );
}

#[tokio::test]
async fn reapply_keeps_foreign_annotation_and_label() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    let c = cluster(&k8s.uri());
    let ours = map(&[("app.kubernetes.io/managed-by", "kubectl-amp-iam")]);

    c.apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &ours)
        .await
        .expect("create");
    // Another tool adds its own annotation and label to the same account.
    k8s.put_service_account(
        "ns",
        "sa",
        &[("meta.helm.sh/release-name", "prom")],
        &[("team", "observability")],
        "helm",
    );
    let new_arn = "arn:aws:iam::123456789012:role/other";
    c.apply_service_account("ns", "sa", &map(&[(ROLE_ARN, new_arn)]), &ours)
        .await
        .expect("re-apply");

    let sa = c.service_account("ns", "sa").await.expect("get");
    assert_eq!(
        sa,
        Some(ServiceAccount {
            annotations: map(&[(ROLE_ARN, new_arn), ("meta.helm.sh/release-name", "prom")]),
            labels: map(&[
                ("app.kubernetes.io/managed-by", "kubectl-amp-iam"),
                ("team", "observability")
            ]),
        })
    );
    let owners = k8s.field_managers("ns", "sa").expect("stored");
    assert!(owners[&format!("annotations/{ROLE_ARN}")].contains(FIELD_MANAGER));
    assert!(owners["labels/team"].contains("helm"));
    assert!(!owners["labels/team"].contains(FIELD_MANAGER));
}

#[tokio::test]
async fn apply_with_no_annotations_releases_ours_and_keeps_foreign() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account(
        "ns",
        "sa",
        &[("owner", "platform-team")],
        &[("team", "obs")],
        "kubectl-client-side-apply",
    );
    let c = cluster(&k8s.uri());

    c.apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    assert_eq!(
        annotations_of(&k8s.service_account("ns", "sa").expect("stored")),
        json!({ROLE_ARN: ARN, "owner": "platform-team"})
    );

    c.apply_service_account("ns", "sa", &BTreeMap::new(), &BTreeMap::new())
        .await
        .expect("apply nothing");
    let stored = k8s.service_account("ns", "sa").expect("still there");
    assert_eq!(annotations_of(&stored), json!({"owner": "platform-team"}));
    assert_eq!(stored["metadata"]["labels"], json!({"team": "obs"}));

    // The second body listed no annotations at all (empty maps are omitted).
    let patches = k8s.requests_with_method("PATCH").await;
    let body: serde_json::Value = patches[1].body_json().expect("json body");
    assert_eq!(
        body,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "ns"}})
    );
}

#[tokio::test]
async fn missing_service_account_and_namespace_read_as_absent() {
    let k8s = KubeStandin::start().await;
    let c = cluster(&k8s.uri());
    assert!(!c.namespace_exists("ns").await.expect("get ns"));
    k8s.add_namespace("ns");
    assert!(c.namespace_exists("ns").await.expect("get ns"));
    assert_eq!(c.service_account("ns", "sa").await.expect("get sa"), None);
    assert_eq!(k8s.writes().await, 0);
}

#[tokio::test]
async fn forbidden_patch_is_not_retried_and_names_the_rbac_check() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    k8s.fail_next("PATCH", 403, 1);
    let err = cluster(&k8s.uri())
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect_err("forbidden");
    assert_eq!(err.kind, KubeErrorKind::Forbidden);
    assert_eq!(err.verb, "patch");
    assert_eq!(err.resource, "serviceaccounts ns/sa");
    let text = err.to_string();
    assert!(
        text.contains("kubectl auth can-i patch serviceaccounts"),
        "{text}"
    );
    assert!(text.contains("is forbidden"), "{text}");
    assert_eq!(k8s.requests_with_method("PATCH").await.len(), 1);
    assert!(k8s.service_account("ns", "sa").is_none());
}

#[tokio::test]
async fn conflicts_are_retried_until_the_apply_goes_through() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    k8s.fail_next("PATCH", 409, 2);
    cluster(&k8s.uri())
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("third attempt succeeds");
    assert_eq!(k8s.requests_with_method("PATCH").await.len(), 3);
    assert_eq!(
        annotations_of(&k8s.service_account("ns", "sa").expect("created")),
        json!({ROLE_ARN: ARN})
    );
}

#[tokio::test]
async fn server_errors_give_up_after_bounded_attempts() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    k8s.fail_next("PATCH", 500, usize::MAX);
    let err = cluster(&k8s.uri())
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect_err("keeps failing");
    assert_eq!(err.kind, KubeErrorKind::Unreachable);
    assert_eq!(err.verb, "patch");
    assert!(err.message.contains("after 4 attempts"), "{}", err.message);
    assert_eq!(k8s.requests_with_method("PATCH").await.len(), 4);
}

#[tokio::test]
async fn unauthorized_read_is_reported_at_once() {
    let k8s = KubeStandin::start().await;
    k8s.fail_next("GET", 401, 1);
    let err = cluster(&k8s.uri())
        .service_account("ns", "sa")
        .await
        .expect_err("unauthorized");
    assert_eq!(err.kind, KubeErrorKind::Unauthorized);
    assert_eq!(err.verb, "get");
    assert_eq!(k8s.requests().await.len(), 1);
}

#[tokio::test]
async fn apply_into_a_missing_namespace_is_not_found() {
    let k8s = KubeStandin::start().await;
    let err = cluster(&k8s.uri())
        .apply_service_account("nope", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect_err("no namespace");
    assert_eq!(err.kind, KubeErrorKind::NotFound);
    assert!(
        err.message.contains("namespaces \"nope\" not found"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn namespace_create_is_idempotent() {
    let k8s = KubeStandin::start().await;
    let c = cluster(&k8s.uri());
    c.create_namespace("prometheus").await.expect("create");
    assert!(k8s.has_namespace("prometheus"));
    // Second time the server answers 409 AlreadyExists: success, not retried.
    c.create_namespace("prometheus").await.expect("exists");
    assert_eq!(k8s.requests_with_method("POST").await.len(), 2);

    // A 409 that is a real conflict is retried.
    k8s.fail_next("POST", 409, 1);
    c.create_namespace("other")
        .await
        .expect("create after conflict");
    assert!(k8s.has_namespace("other"));
    assert_eq!(k8s.requests_with_method("POST").await.len(), 4);
}

#[tokio::test]
async fn delete_is_idempotent() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[(ROLE_ARN, ARN)], &[], FIELD_MANAGER);
    let c = cluster(&k8s.uri());
    c.delete_service_account("ns", "sa").await.expect("delete");
    assert!(k8s.service_account("ns", "sa").is_none());
    c.delete_service_account("ns", "sa")
        .await
        .expect("already gone");
    assert_eq!(k8s.writes().await, 2);
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let err = cluster(&format!("http://127.0.0.1:{port}"))
        .namespace_exists("ns")
        .await
        .expect_err("nobody there");
    assert_eq!(err.kind, KubeErrorKind::Unreachable);
    assert_eq!(err.resource, "namespaces ns");
}

fn exec_kubeconfig(server: &str, script: &str) -> kube::config::Kubeconfig {
    let yaml = format!(
        r#"
apiVersion: v1
kind: Config
current-context: eks
clusters:
- name: eks
  cluster:
    server: {server}
contexts:
- name: eks
  context:
    cluster: eks
    user: eks
users:
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: sh
      args: ["-c", {script:?}]
      interactiveMode: Never
"#
    );
    kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig")
}

#[tokio::test]
async fn connect_runs_the_exec_credential_plugin() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    let script = r#"echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"k8s-aws-v1.secret"}}'"#;
    let c = KubeCluster::connect(exec_kubeconfig(&k8s.uri(), script), Some("eks"))
        .await
        .expect("connect");
    assert!(c.namespace_exists("ns").await.expect("get"));
    let requests = k8s.requests().await;
    assert_eq!(
        requests[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer k8s-aws-v1.secret")
    );

    // Rejected credentials: the message does not echo the token.
    k8s.fail_next("GET", 401, 1);
    let err = c.namespace_exists("ns").await.expect_err("401");
    assert_eq!(err.kind, KubeErrorKind::Unauthorized);
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn failing_exec_plugin_is_reported_without_its_stdout() {
    let k8s = KubeStandin::start().await;
    let script = "echo k8s-aws-v1.secret; echo 'Unable to locate credentials' >&2; exit 255";
    // kube-rs fetches the first token while building the client.
    let err = KubeCluster::connect(exec_kubeconfig(&k8s.uri(), script), None)
        .await
        .err()
        .expect("no credentials");
    let text = err.to_string();
    assert!(matches!(err, amp_iam::Error::Kubeconfig { .. }), "{text}");
    assert!(text.contains("Unable to locate credentials"), "{text}");
    assert!(text.contains("`sh`"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains("KUBERNETES_EXEC_INFO"), "{text}");
    assert_eq!(k8s.requests().await.len(), 0);
}

#[tokio::test]
async fn failing_token_refresh_is_unauthorized_without_its_stdout() {
    let k8s = KubeStandin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mark = dir.path().join("ran-once");
    // First run: a token that is already expired; every later run fails.
    let script = format!(
        r#"if [ -e '{mark}' ]; then echo k8s-aws-v1.secret; echo 'ExpiredToken: refresh your SSO session' >&2; exit 255; fi; touch '{mark}'; echo '{{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{{"token":"k8s-aws-v1.old","expirationTimestamp":"2000-01-01T00:00:00Z"}}}}'"#,
        mark = mark.display()
    );
    let c = KubeCluster::connect(exec_kubeconfig(&k8s.uri(), &script), None)
        .await
        .expect("first token");
    let err = c.namespace_exists("ns").await.expect_err("refresh fails");
    assert_eq!(err.kind, KubeErrorKind::Unauthorized);
    let text = err.to_string();
    assert!(text.contains("ExpiredToken"), "{text}");
    assert!(text.contains("`sh`"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(k8s.requests().await.len(), 0, "not retried, nothing sent");
}

#[tokio::test]
async fn connect_names_an_unknown_context() {
    let err = KubeCluster::connect(exec_kubeconfig("https://127.0.0.1:1", "true"), Some("prod"))
        .await
        .err()
        .expect("unknown context");
    match err {
        amp_iam::Error::UnknownContext { name, available } => {
            assert_eq!(name, "prod");
            assert_eq!(available, "eks");
        }
        other => panic!("unexpected {other}"),
    }
}
