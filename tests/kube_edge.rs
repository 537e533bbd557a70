//! The kube-rs edge against a mock API server: exact requests, server-side
//! apply semantics (via the stateful stand-in), retries and error mapping.

#[path = "support/kube_standin.rs"]
mod kube_standin;

use std::collections::{BTreeMap, BTreeSet};

use amp_iam::cluster::kube::KubeCluster;
use amp_iam::cluster::{Cluster, FIELD_MANAGER, KubeErrorKind, Removal, ServiceAccount};
use k8s_openapi::api::core::v1::ServiceAccount as K8sServiceAccount;
use kube::api::{Patch, PatchParams};
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

fn managers(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
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
            annotation_managers: BTreeMap::from([
                (ROLE_ARN.to_string(), managers(&[FIELD_MANAGER])),
                ("meta.helm.sh/release-name".to_string(), managers(&["helm"])),
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
    // Credentials that fail are not a usage error: exit 1, as Unauthorized.
    assert!(
        matches!(&err, amp_iam::Error::Kube(k) if k.kind == KubeErrorKind::Unauthorized),
        "{text}"
    );
    assert_eq!(err.exit_code(), 1);
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

// --- Field ownership: managedFields, guarded removal, Update managers ---------

const THEIR_ARN: &str = "arn:aws:iam::123456789012:role/someone-elses-role";

fn owners(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(m, op)| (m.to_string(), op.to_string()))
        .collect()
}

fn service_accounts(uri: &str) -> kube::Api<K8sServiceAccount> {
    let uri = uri.parse().expect("mock server uri");
    let client = kube::Client::try_from(kube::Config::new(uri)).expect("client");
    kube::Api::namespaced(client, "ns")
}

/// A PATCH of `sa` in `ns` sent as is: `field_manager` None leaves the query
/// parameter out, so the server derives the manager from `user_agent`.
async fn raw_patch(
    uri: &str,
    patch: &Patch<serde_json::Value>,
    field_manager: Option<&str>,
    user_agent: Option<&str>,
    body: Option<&[u8]>,
) -> Result<serde_json::Value, kube::Error> {
    let url = uri.parse().expect("mock server uri");
    let client = kube::Client::try_from(kube::Config::new(url)).expect("client");
    let pp = PatchParams {
        field_manager: field_manager.map(str::to_string),
        ..PatchParams::default()
    };
    let mut request = kube::core::Request::new("/api/v1/namespaces/ns/serviceaccounts")
        .patch("sa", &pp, patch)
        .expect("request");
    if let Some(agent) = user_agent {
        request
            .headers_mut()
            .insert("user-agent", agent.parse().expect("header value"));
    }
    if let Some(body) = body {
        *request.body_mut() = body.to_vec();
    }
    client.request(request).await
}

fn api_status(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn guarded_removal_sends_one_json_patch_and_removes_our_annotation() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[("keep", "me")], &[], "helm");
    let c = cluster(&k8s.uri());
    c.apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    let writes = k8s.writes().await;

    let removal = c
        .remove_annotation("ns", "sa", ROLE_ARN, ARN)
        .await
        .expect("remove");
    assert_eq!(removal, Removal::Removed);
    let stored = k8s.service_account("ns", "sa").expect("kept");
    assert_eq!(annotations_of(&stored), json!({"keep": "me"}));
    let owners = k8s.field_managers("ns", "sa").expect("stored");
    assert!(
        !owners.contains_key(&format!("annotations/{ROLE_ARN}")),
        "{owners:?}"
    );

    assert_eq!(k8s.writes().await, writes + 1, "one request");
    let patches = k8s.requests_with_method("PATCH").await;
    let sent = patches.last().expect("the removal");
    assert_eq!(
        sent.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json-patch+json")
    );
    let query: BTreeMap<String, String> = sent.url.query_pairs().into_owned().collect();
    assert_eq!(query, map(&[("fieldManager", FIELD_MANAGER)]));
    let path = "/metadata/annotations/eks.amazonaws.com~1role-arn";
    assert_eq!(
        sent.body_json::<serde_json::Value>().expect("json body"),
        json!([{"op": "test", "path": path, "value": ARN}, {"op": "remove", "path": path}])
    );
}

#[tokio::test]
async fn guarded_removal_unescapes_slash_and_tilde_in_the_key() {
    let k8s = KubeStandin::start().await;
    let key = "example.com/odd~1key";
    k8s.put_service_account(
        "ns",
        "sa",
        &[(key, "v"), ("example.com/odd/key", "w")],
        &[],
        FIELD_MANAGER,
    );
    let removal = cluster(&k8s.uri())
        .remove_annotation("ns", "sa", key, "v")
        .await
        .expect("remove");
    assert_eq!(removal, Removal::Removed);
    assert_eq!(
        annotations_of(&k8s.service_account("ns", "sa").expect("kept")),
        json!({"example.com/odd/key": "w"}),
        "only the key with a literal ~1 is gone"
    );
}

#[tokio::test]
async fn empty_apply_leaves_an_annotation_kubectl_annotate_also_set_and_guarded_removal_removes_it()
{
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[], &[("app", "prometheus")], "helm");
    // The AWS guide's step: `kubectl annotate serviceaccount ... role-arn=...`.
    k8s.annotate("ns", "sa", ROLE_ARN, ARN, "kubectl-annotate")
        .expect("annotate");
    let c = cluster(&k8s.uri());
    // Our setup then applies the same value: both own it.
    let applied = c
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    assert_eq!(
        applied.annotation_managers.get(ROLE_ARN),
        Some(&managers(&[FIELD_MANAGER, "kubectl-annotate"]))
    );
    assert_eq!(
        k8s.field_owners("ns", "sa").expect("stored")[&format!("annotations/{ROLE_ARN}")],
        owners(&[(FIELD_MANAGER, "Apply"), ("kubectl-annotate", "Update")])
    );

    // An empty apply only releases our share: the annotation stays.
    let released = c
        .apply_service_account("ns", "sa", &BTreeMap::new(), &BTreeMap::new())
        .await
        .expect("empty apply");
    assert_eq!(
        released.annotations.get(ROLE_ARN).map(String::as_str),
        Some(ARN)
    );
    assert_eq!(
        released.annotation_managers.get(ROLE_ARN),
        Some(&managers(&["kubectl-annotate"]))
    );

    // The guarded JSON patch removes it whoever set it.
    let removal = c
        .remove_annotation("ns", "sa", ROLE_ARN, ARN)
        .await
        .expect("remove");
    assert_eq!(removal, Removal::Removed);
    let after = c
        .service_account("ns", "sa")
        .await
        .expect("get")
        .expect("kept");
    assert!(!after.annotations.contains_key(ROLE_ARN), "{after:?}");
    assert!(after.annotation_managers.is_empty(), "{after:?}");
    assert_eq!(after.labels, map(&[("app", "prometheus")]));
}

#[tokio::test]
async fn guarded_removal_of_a_changed_annotation_is_changed_and_leaves_it() {
    let k8s = KubeStandin::start().await;
    let c = cluster(&k8s.uri());
    k8s.add_namespace("ns");
    c.apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    k8s.annotate("ns", "sa", ROLE_ARN, THEIR_ARN, "kubectl-annotate")
        .expect("annotate");
    let before = k8s.service_account("ns", "sa").expect("stored");

    let removal = c
        .remove_annotation("ns", "sa", ROLE_ARN, ARN)
        .await
        .expect("changed is not an error");
    assert_eq!(removal, Removal::Changed);
    assert_eq!(k8s.service_account("ns", "sa"), Some(before), "untouched");
    assert_eq!(
        k8s.requests_with_method("PATCH").await.len(),
        2,
        "not retried"
    );

    // Gone altogether (the path is missing): changed too.
    k8s.put_service_account("ns", "other", &[("keep", "me")], &[], "helm");
    let gone_key = c
        .remove_annotation("ns", "other", ROLE_ARN, ARN)
        .await
        .expect("missing key");
    assert_eq!(gone_key, Removal::Changed);
}

#[tokio::test]
async fn guarded_removal_of_a_missing_service_account_is_gone() {
    let k8s = KubeStandin::start().await;
    let c = cluster(&k8s.uri());
    assert_eq!(
        c.remove_annotation("nope", "sa", ROLE_ARN, ARN).await,
        Ok(Removal::Gone),
        "no namespace"
    );
    k8s.add_namespace("ns");
    assert_eq!(
        c.remove_annotation("ns", "sa", ROLE_ARN, ARN).await,
        Ok(Removal::Gone),
        "no account"
    );
    assert!(
        k8s.service_account("ns", "sa").is_none(),
        "a patch creates nothing"
    );
}

#[tokio::test]
async fn a_422_that_is_not_a_failed_test_is_an_error() {
    // E.g. a ValidatingAdmissionPolicy refusing the patch: the annotation
    // still holds our value, so "someone changed it" would be a lie.
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[(ROLE_ARN, ARN)], &[], FIELD_MANAGER);
    k8s.fail_next("PATCH", 422, 1);
    let err = cluster(&k8s.uri())
        .remove_annotation("ns", "sa", ROLE_ARN, ARN)
        .await
        .expect_err("refused");
    assert_eq!(err.kind, KubeErrorKind::Invalid);
    assert_eq!(err.verb, "patch");
    assert_eq!(err.resource, "serviceaccounts ns/sa");
    assert!(err.message.contains("injected"), "{}", err.message);
    assert_eq!(
        annotations_of(&k8s.service_account("ns", "sa").expect("kept")),
        json!({ROLE_ARN: ARN})
    );
}

#[tokio::test]
async fn apply_returns_the_answered_object_with_managed_fields() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    let c = cluster(&k8s.uri());
    let labels = map(&[("app.kubernetes.io/managed-by", FIELD_MANAGER)]);
    let answered = c
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &labels)
        .await
        .expect("apply");
    assert_eq!(
        answered,
        ServiceAccount {
            annotations: map(&[(ROLE_ARN, ARN)]),
            labels: labels.clone(),
            annotation_managers: BTreeMap::from([(
                ROLE_ARN.to_string(),
                managers(&[FIELD_MANAGER])
            )]),
        }
    );
    assert_eq!(
        c.service_account("ns", "sa").await.expect("get"),
        Some(answered)
    );

    let stored = k8s.service_account("ns", "sa").expect("stored");
    let entries = stored["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields");
    assert_eq!(entries.len(), 1, "{stored}");
    let entry = &entries[0];
    assert_eq!(entry["manager"], FIELD_MANAGER);
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert!(entry["time"].is_string(), "{entry}");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:metadata": {
            "f:annotations": {format!("f:{ROLE_ARN}"): {}},
            "f:labels": {"f:app.kubernetes.io/managed-by": {}},
        }})
    );
}

#[tokio::test]
async fn unforced_apply_conflicts_with_an_update_manager_and_force_takes_over() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[], &[], "helm");
    k8s.annotate("ns", "sa", ROLE_ARN, THEIR_ARN, "kubectl-annotate")
        .expect("annotate");
    let body = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "sa", "namespace": "ns", "annotations": {ROLE_ARN: ARN}},
    });
    let unforced = service_accounts(&k8s.uri())
        .patch(
            "sa",
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&body),
        )
        .await;
    let status = api_status(unforced);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        format!(
            "Apply failed with 1 conflict: conflict with \"kubectl-annotate\" using v1: .metadata.annotations.{ROLE_ARN}"
        )
    );
    assert_eq!(
        annotations_of(&k8s.service_account("ns", "sa").expect("kept")),
        json!({ROLE_ARN: THEIR_ARN})
    );

    // Ours is always forced: it takes the key over.
    let answered = cluster(&k8s.uri())
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("forced apply");
    assert_eq!(
        answered.annotations.get(ROLE_ARN).map(String::as_str),
        Some(ARN)
    );
    assert_eq!(
        answered.annotation_managers.get(ROLE_ARN),
        Some(&managers(&[FIELD_MANAGER]))
    );
    assert_eq!(
        k8s.field_owners("ns", "sa").expect("stored")[&format!("annotations/{ROLE_ARN}")],
        owners(&[(FIELD_MANAGER, "Apply")])
    );
}

#[tokio::test]
async fn merge_patch_is_an_update_named_after_the_user_agent() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[("keep", "me")], &[], "helm");
    let uri = k8s.uri();
    // What `kubectl annotate --overwrite` sends.
    let set = Patch::Merge(json!({"metadata": {"annotations": {ROLE_ARN: THEIR_ARN}}}));
    raw_patch(
        &uri,
        &set,
        None,
        Some("kubectl-annotate/v1.33.0 (linux/amd64) kubernetes/abc"),
        None,
    )
    .await
    .expect("merge patch");
    let owned = k8s.field_owners("ns", "sa").expect("stored");
    assert_eq!(
        owned[&format!("annotations/{ROLE_ARN}")],
        owners(&[("kubectl-annotate", "Update")])
    );
    assert_eq!(owned["annotations/keep"], owners(&[("helm", "Apply")]));
    let rv =
        k8s.service_account("ns", "sa").expect("stored")["metadata"]["resourceVersion"].clone();

    // The same value again changes nothing, not even the resourceVersion.
    raw_patch(&uri, &set, Some("someone-else"), None, None)
        .await
        .expect("no-op");
    assert_eq!(
        k8s.service_account("ns", "sa").expect("stored")["metadata"]["resourceVersion"],
        rv
    );
    assert_eq!(
        k8s.field_owners("ns", "sa").expect("stored")[&format!("annotations/{ROLE_ARN}")],
        owners(&[("kubectl-annotate", "Update")])
    );

    // A strategic merge patch with `null` removes, from every owner; no
    // User-Agent and no fieldManager: "unknown".
    let drop = Patch::Strategic(json!({"metadata": {"annotations": {ROLE_ARN: null, "new": "x"}}}));
    raw_patch(&uri, &drop, None, None, None)
        .await
        .expect("strategic");
    let owned = k8s.field_owners("ns", "sa").expect("stored");
    assert!(
        !owned.contains_key(&format!("annotations/{ROLE_ARN}")),
        "{owned:?}"
    );
    assert_eq!(owned["annotations/new"], owners(&[("unknown", "Update")]));

    // Fields the stand-in does not model are refused, not silently dropped.
    let spec = Patch::Merge(json!({"automountServiceAccountToken": false}));
    assert_eq!(
        api_status(raw_patch(&uri, &spec, Some("x"), None, None).await).code,
        422
    );
}

#[tokio::test]
async fn json_patch_is_atomic_and_fails_like_kube_apiserver() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[], &[("team", "obs")], "helm");
    let uri = k8s.uri();
    let patch = |ops: serde_json::Value| Patch::Json(serde_json::from_value(ops).expect("patch"));

    // No annotations yet: adding a key to the missing map fails.
    let add_key = patch(json!([{"op": "add", "path": "/metadata/annotations/a~1b", "value": "1"}]));
    let status = api_status(raw_patch(&uri, &add_key, Some("tester"), None, None).await);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "the server rejected our request due to an error in our request"
    );

    // A failing op undoes the ones before it.
    let ops = patch(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}},
        {"op": "replace", "path": "/metadata/labels/team", "value": "platform"},
        {"op": "test", "path": "/metadata/labels/team", "value": "obs"},
    ]));
    let status = api_status(raw_patch(&uri, &ops, Some("tester"), None, None).await);
    assert_eq!(status.code, 422);
    let stored = k8s.service_account("ns", "sa").expect("stored");
    assert!(stored["metadata"].get("annotations").is_none(), "{stored}");
    assert_eq!(stored["metadata"]["labels"], json!({"team": "obs"}));

    // The same without the failing test goes through, owned by the patcher.
    let ops = patch(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}},
        {"op": "test", "path": "/metadata/annotations/a~1b", "value": "1"},
        {"op": "replace", "path": "/metadata/labels/team", "value": "platform"},
    ]));
    let answered = raw_patch(&uri, &ops, Some("tester"), None, None)
        .await
        .expect("patch");
    assert_eq!(answered["metadata"]["annotations"], json!({"a/b": "1"}));
    assert_eq!(answered["metadata"]["labels"], json!({"team": "platform"}));
    let owned = k8s.field_owners("ns", "sa").expect("stored");
    assert_eq!(owned["annotations/a/b"], owners(&[("tester", "Update")]));
    assert_eq!(
        owned["labels/team"],
        owners(&[("tester", "Update")]),
        "helm lost it"
    );
    let entries = answered["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields");
    assert!(
        entries
            .iter()
            .any(|e| e["manager"] == "tester" && e["operation"] == "Update"),
        "{answered}"
    );

    // Removing a key that is not there fails as well.
    let remove = patch(json!([{"op": "remove", "path": "/metadata/annotations/nope"}]));
    assert_eq!(
        api_status(raw_patch(&uri, &remove, Some("tester"), None, None).await).code,
        422
    );

    // Not a patch at all: 400.
    let bad = raw_patch(
        &uri,
        &remove,
        Some("tester"),
        None,
        Some(b"{\"op\": \"remove\"}"),
    )
    .await;
    assert_eq!(api_status(bad).code, 400);
}

#[tokio::test]
async fn apply_that_drops_a_key_keeps_it_while_an_update_manager_owns_it() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[("a", "1"), ("b", "2")], &[], FIELD_MANAGER);
    // Someone else changes `b`: it is theirs now, not ours.
    k8s.annotate("ns", "sa", "b", "3", "kubectl-annotate")
        .expect("annotate");
    let answered = cluster(&k8s.uri())
        .apply_service_account("ns", "sa", &BTreeMap::new(), &BTreeMap::new())
        .await
        .expect("empty apply");
    assert_eq!(answered.annotations, map(&[("b", "3")]));
    assert_eq!(
        answered.annotation_managers,
        BTreeMap::from([("b".to_string(), managers(&["kubectl-annotate"]))])
    );
    assert!(
        k8s.annotate("ns", "missing", "a", "1", "kubectl-annotate")
            .is_err()
    );
}
