//! The kube-rs edge against a mock API server: exact requests, server-side
//! apply semantics (via the stateful stand-in), retries and error mapping.

#[path = "support/kube_standin.rs"]
mod kube_standin;

use std::collections::{BTreeMap, BTreeSet};

use amp_iam::cluster::kube::KubeCluster;
use amp_iam::cluster::{
    Cluster, FIELD_MANAGER, KubeErrorKind, Owner, Pod, Removal, ServiceAccount,
};
use k8s_openapi::api::core::v1::ServiceAccount as K8sServiceAccount;
use kube::api::{Patch, PatchParams};
use kube_standin::{KubeStandin, StandinPod};
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
            // The stand-in's clock counts writes: namespace, create, helm, re-apply.
            annotation_times: map(&[
                (ROLE_ARN, "2024-01-01T00:00:04Z"),
                ("meta.helm.sh/release-name", "2024-01-01T00:00:03Z"),
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
            annotation_times: map(&[(ROLE_ARN, "2024-01-01T00:00:02Z")]),
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

// --- Pods, owners, restarts ---------------------------------------------------

const SA: &str = "amp-iamproxy-ingest-service-account";
const TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

fn owner(kind: &str, name: &str) -> Owner {
    Owner {
        kind: kind.to_string(),
        name: name.to_string(),
    }
}

fn by_name(pods: Vec<Pod>) -> BTreeMap<String, Pod> {
    pods.into_iter().map(|p| (p.name.clone(), p)).collect()
}

/// The stand-in's pods of `ns` owned by `kind`/`name`.
fn pods_of(k8s: &KubeStandin, ns: &str, kind: &str, name: &str) -> Vec<StandinPod> {
    k8s.pods(ns)
        .into_iter()
        .filter(|p| p.owner == Some((kind.to_string(), name.to_string())))
        .collect()
}

#[tokio::test]
async fn pods_map_every_field() {
    let k8s = KubeStandin::start().await;
    let rs = k8s.add_deployment("ns", "prometheus-server", SA, 1);
    // As the webhook leaves a pod: env in every container, init ones too, and the volume.
    k8s.put_pod(
        "ns",
        json!({
            "metadata": {
                "name": "injected",
                "creationTimestamp": "2024-02-03T04:05:06Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                     "uid": "u", "controller": true}],
            },
            "spec": {
                "serviceAccountName": SA,
                "initContainers": [{"name": "init", "env": [
                    {"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/init"}
                ]}],
                "containers": [{"name": "app", "env": [
                    {"name": "AWS_ROLE_ARN", "value": ARN},
                    {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": TOKEN_FILE},
                ]}],
                "volumes": [{"name": "aws-iam-token", "projected": {"sources": [
                    {"serviceAccountToken": {"audience": "sts.amazonaws.com", "path": "token"}}
                ]}}],
            },
            "status": {"phase": "Running"},
        }),
    );
    // Only an init container has the role; no service account named at all.
    k8s.put_pod(
        "ns",
        json!({
            "metadata": {"name": "init-only", "creationTimestamp": "2024-02-03T04:05:07Z"},
            "spec": {
                "initContainers": [{"name": "init", "env": [{"name": "AWS_ROLE_ARN", "value": THEIR_ARN}]}],
                "containers": [{"name": "app"}],
                "volumes": [{"name": "aws-iam-token", "emptyDir": {}}],
            },
            "status": {"phase": "Succeeded"},
        }),
    );
    // Elsewhere: not listed.
    k8s.add_bare_pod("other", "elsewhere", SA, Some(ARN));

    let pods = by_name(cluster(&k8s.uri()).pods("ns").await.expect("list"));
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert_eq!(
        pods["injected"],
        Pod {
            name: "injected".to_string(),
            service_account: SA.to_string(),
            owner: Some(owner("StatefulSet", "db")),
            role_arn_env: Some(ARN.to_string()),
            token_volume: true,
            container_credentials: false,
            created: Some("2024-02-03T04:05:06Z".to_string()),
            phase: Some("Running".to_string()),
        }
    );
    assert_eq!(
        pods["init-only"],
        Pod {
            name: "init-only".to_string(),
            service_account: "default".to_string(),
            owner: None,
            role_arn_env: Some(THEIR_ARN.to_string()),
            token_volume: false,
            container_credentials: false,
            created: Some("2024-02-03T04:05:07Z".to_string()),
            phase: Some("Succeeded".to_string()),
        }
    );
    let seeded = pods
        .values()
        .find(|p| p.owner == Some(owner("ReplicaSet", &rs)))
        .expect("the deployment's pod");
    assert_eq!(seeded.service_account, SA);
    assert_eq!(
        (seeded.role_arn_env.as_deref(), seeded.token_volume),
        (None, false)
    );
    assert_eq!(seeded.phase.as_deref(), Some("Running"));
    assert!(
        seeded
            .created
            .as_deref()
            .is_some_and(|c| c.starts_with("2024-01-01T")),
        "{seeded:?}"
    );

    // One request, a page of 500, in the namespace's path.
    let gets = k8s.requests_with_method("GET").await;
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].url.path(), "/api/v1/namespaces/ns/pods");
    let query: BTreeMap<String, String> = gets[0].url.query_pairs().into_owned().collect();
    assert_eq!(query, map(&[("limit", "500")]));

    // A namespace with no pods (or none at all) lists empty, as the API does.
    assert_eq!(cluster(&k8s.uri()).pods("nope").await, Ok(vec![]));
}

#[tokio::test]
async fn pods_are_listed_in_pages_with_continue_tokens() {
    let k8s = KubeStandin::start().await;
    k8s.add_deployment("big", "web", "default", 1001);
    let pods = cluster(&k8s.uri()).pods("big").await.expect("list");
    assert_eq!(pods.len(), 1001);
    let names: BTreeSet<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 1001, "no pod twice");

    let gets = k8s.requests_with_method("GET").await;
    assert_eq!(gets.len(), 3, "pages of 500, 500 and 1");
    let queries: Vec<BTreeMap<String, String>> = gets
        .iter()
        .map(|r| r.url.query_pairs().into_owned().collect())
        .collect();
    assert!(!queries[0].contains_key("continue"));
    assert!(
        queries
            .iter()
            .all(|q| q.get("limit").map(String::as_str) == Some("500"))
    );
    assert!(queries[1].contains_key("continue") && queries[2].contains_key("continue"));
    assert_ne!(queries[1]["continue"], queries[2]["continue"]);
}

#[tokio::test]
async fn an_expired_continue_token_falls_back_to_one_full_list() {
    let k8s = KubeStandin::start().await;
    k8s.add_deployment("big", "web", "default", 600);
    k8s.compact_during_next_list();
    let pods = cluster(&k8s.uri()).pods("big").await.expect("list");
    assert_eq!(pods.len(), 600);
    let queries: Vec<BTreeMap<String, String>> = k8s
        .requests_with_method("GET")
        .await
        .iter()
        .map(|r| r.url.query_pairs().into_owned().collect())
        .collect();
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert!(queries[1].contains_key("continue"), "the page that got 410");
    assert!(
        queries[2].is_empty(),
        "then everything at once: {queries:?}"
    );
}

#[tokio::test]
async fn a_forbidden_pod_list_names_the_rbac_check() {
    let k8s = KubeStandin::start().await;
    k8s.fail_next("GET", 403, 1);
    let err = cluster(&k8s.uri()).pods("ns").await.expect_err("forbidden");
    assert_eq!(err.kind, KubeErrorKind::Forbidden);
    assert_eq!((err.verb, err.resource.as_str()), ("list", "pods ns"));
    assert!(
        err.message.contains("cannot list resource \"pods\""),
        "{}",
        err.message
    );
    assert!(
        err.to_string().contains("kubectl auth can-i list pods"),
        "{err}"
    );
}

#[tokio::test]
async fn owner_of_walks_one_step_up() {
    let k8s = KubeStandin::start().await;
    let rs = k8s.add_deployment("ns", "prometheus-server", SA, 1);
    k8s.add_job("ns", "compact-28910", SA, Some("compact"));
    k8s.add_job("ns", "once", SA, None);
    let c = cluster(&k8s.uri());

    assert_eq!(
        c.owner_of("ns", "ReplicaSet", &rs).await,
        Ok(Some(owner("Deployment", "prometheus-server")))
    );
    assert_eq!(
        c.owner_of("ns", "Job", "compact-28910").await,
        Ok(Some(owner("CronJob", "compact")))
    );
    assert_eq!(c.owner_of("ns", "Job", "once").await, Ok(None), "no owner");
    assert_eq!(
        c.owner_of("ns", "Deployment", "prometheus-server").await,
        Ok(None),
        "a top-level workload"
    );
    assert_eq!(
        c.owner_of("ns", "ReplicaSet", "gone").await,
        Ok(None),
        "404"
    );
    let sent = k8s.requests().await.len();
    assert_eq!(c.owner_of("ns", "CronJob", "compact").await, Ok(None));
    assert_eq!(c.owner_of("ns", "Rollout", "argo").await, Ok(None));
    assert_eq!(
        k8s.requests().await.len(),
        sent,
        "other kinds are not fetched"
    );

    let paths: Vec<String> = k8s
        .requests()
        .await
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        paths[..2],
        [
            format!("/apis/apps/v1/namespaces/ns/replicasets/{rs}"),
            "/apis/batch/v1/namespaces/ns/jobs/compact-28910".to_string(),
        ]
    );

    k8s.fail_next("GET", 403, 1);
    let err = c
        .owner_of("ns", "ReplicaSet", &rs)
        .await
        .expect_err("forbidden");
    assert_eq!(err.kind, KubeErrorKind::Forbidden);
    assert_eq!(
        (err.verb, err.resource),
        ("get", format!("replicasets ns/{rs}"))
    );
    assert!(
        err.message.contains("in API group \"apps\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn restart_sends_rollout_restarts_patch_and_new_pods_get_the_role() {
    let k8s = KubeStandin::start().await;
    let old_rs = k8s.add_deployment("prometheus", "prometheus-server", SA, 2);
    let c = cluster(&k8s.uri());
    let sa = c
        .apply_service_account("prometheus", SA, &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    let annotated = sa.annotation_times[ROLE_ARN].clone();
    let before = k8s.pods("prometheus");
    assert!(
        before.iter().all(|p| p.created < annotated),
        "seeded before: {before:?}"
    );
    assert!(before.iter().all(|p| !p.env.contains_key("AWS_ROLE_ARN")));

    let at = "2024-06-01T12:00:00Z";
    c.restart("prometheus", &owner("Deployment", "prometheus-server"), at)
        .await
        .expect("restart");

    let patches = k8s.requests_with_method("PATCH").await;
    let sent = patches.last().expect("the restart");
    assert_eq!(
        sent.url.path(),
        "/apis/apps/v1/namespaces/prometheus/deployments/prometheus-server"
    );
    assert_eq!(
        sent.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/strategic-merge-patch+json")
    );
    let query: BTreeMap<String, String> = sent.url.query_pairs().into_owned().collect();
    assert_eq!(query, map(&[("fieldManager", FIELD_MANAGER)]));
    assert_eq!(
        sent.body_json::<serde_json::Value>().expect("json body"),
        json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}})
    );
    assert_eq!(k8s.workload_patches(), 1);
    assert_eq!(
        k8s.restarted("prometheus", "Deployment", "prometheus-server")
            .as_deref(),
        Some(at)
    );

    // The controller replaced both pods through a new ReplicaSet; the
    // webhook injected the account's role into them.
    assert!(pods_of(&k8s, "prometheus", "ReplicaSet", &old_rs).is_empty());
    let after = k8s.pods("prometheus");
    assert_eq!(after.len(), 2, "{after:?}");
    let new_rs = after[0].owner.clone().expect("owned").1;
    assert_ne!(new_rs, old_rs);
    assert_eq!(
        c.owner_of("prometheus", "ReplicaSet", &new_rs).await,
        Ok(Some(owner("Deployment", "prometheus-server")))
    );
    for pod in &after {
        assert_eq!(pod.owner, Some(("ReplicaSet".to_string(), new_rs.clone())));
        assert_eq!(pod.env.get("AWS_ROLE_ARN").map(String::as_str), Some(ARN));
        assert_eq!(
            pod.env
                .get("AWS_WEB_IDENTITY_TOKEN_FILE")
                .map(String::as_str),
            Some(TOKEN_FILE)
        );
        assert!(pod.token_volume);
        assert!(pod.created > annotated, "{} after {annotated}", pod.created);
        assert_eq!(pod.restarted_at.as_deref(), Some(at));
    }
    let seen = by_name(c.pods("prometheus").await.expect("list"));
    assert!(
        seen.values()
            .all(|p| p.role_arn_env.as_deref() == Some(ARN) && p.token_volume)
    );
    let old = k8s
        .workload("prometheus", "ReplicaSet", &old_rs)
        .expect("kept as history");
    assert_eq!(old["spec"]["replicas"], 0);
    let deployment = k8s
        .workload("prometheus", "Deployment", "prometheus-server")
        .expect("stored");
    assert_eq!(deployment["metadata"]["generation"], 2);

    // The same restart again changes nothing: no new pods.
    c.restart("prometheus", &owner("Deployment", "prometheus-server"), at)
        .await
        .expect("again");
    let names = |pods: Vec<StandinPod>| pods.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(k8s.pods("prometheus")), names(after));
}

#[tokio::test]
async fn restart_without_the_webhook_injects_nothing() {
    let k8s = KubeStandin::start().await;
    k8s.set_webhook(false);
    k8s.add_deployment("ns", "prometheus-server", SA, 2);
    k8s.put_service_account("ns", SA, &[(ROLE_ARN, ARN)], &[], FIELD_MANAGER);
    let c = cluster(&k8s.uri());
    c.restart(
        "ns",
        &owner("Deployment", "prometheus-server"),
        "2024-06-01T12:00:00Z",
    )
    .await
    .expect("restart");
    let pods = c.pods("ns").await.expect("list");
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p.role_arn_env.is_none() && !p.token_volume),
        "{pods:?}"
    );
    assert!(pods.iter().all(|p| p.created.is_some()));
}

#[tokio::test]
async fn restart_of_statefulsets_and_daemonsets_replaces_their_pods() {
    let k8s = KubeStandin::start().await;
    k8s.add_statefulset("ns", "prometheus-server", SA, 2);
    k8s.add_daemonset("ns", "node-exporter", "exporter", 3);
    k8s.put_service_account("ns", SA, &[(ROLE_ARN, ARN)], &[], FIELD_MANAGER);
    // An account without a role: its pods restart with nothing injected.
    k8s.put_service_account("ns", "exporter", &[], &[], "helm");
    let c = cluster(&k8s.uri());
    let before = k8s.pods("ns");
    let at = "2024-06-01T12:00:00Z";

    c.restart("ns", &owner("StatefulSet", "prometheus-server"), at)
        .await
        .expect("statefulset");
    c.restart("ns", &owner("DaemonSet", "node-exporter"), at)
        .await
        .expect("daemonset");
    assert_eq!(k8s.workload_patches(), 2);
    let paths: Vec<String> = k8s
        .requests_with_method("PATCH")
        .await
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/apis/apps/v1/namespaces/ns/statefulsets/prometheus-server",
            "/apis/apps/v1/namespaces/ns/daemonsets/node-exporter",
        ]
    );

    let set = pods_of(&k8s, "ns", "StatefulSet", "prometheus-server");
    let names: Vec<&str> = set.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["prometheus-server-0", "prometheus-server-1"],
        "ordinals kept"
    );
    for pod in &set {
        let old = before
            .iter()
            .find(|b| b.name == pod.name)
            .expect("same name");
        assert!(pod.created > old.created, "recreated");
        assert_eq!(pod.env.get("AWS_ROLE_ARN").map(String::as_str), Some(ARN));
    }
    let daemons = pods_of(&k8s, "ns", "DaemonSet", "node-exporter");
    assert_eq!(daemons.len(), 3);
    assert!(
        daemons
            .iter()
            .all(|p| !before.iter().any(|b| b.name == p.name))
    );
    assert!(daemons.iter().all(|p| p.env.is_empty() && !p.token_volume));
    assert_eq!(
        k8s.restarted("ns", "DaemonSet", "node-exporter").as_deref(),
        Some(at)
    );
}

#[tokio::test]
async fn restart_of_a_missing_deployment_is_not_found() {
    let k8s = KubeStandin::start().await;
    k8s.add_namespace("ns");
    let err = cluster(&k8s.uri())
        .restart(
            "ns",
            &owner("Deployment", "prometheus-server"),
            "2024-06-01T12:00:00Z",
        )
        .await
        .expect_err("missing");
    assert_eq!(err.kind, KubeErrorKind::NotFound);
    assert_eq!(
        (err.verb, err.resource.as_str()),
        ("patch", "deployments ns/prometheus-server")
    );
    assert!(
        err.message
            .contains("deployments.apps \"prometheus-server\" not found"),
        "{}",
        err.message
    );
    assert_eq!(
        k8s.requests_with_method("PATCH").await.len(),
        1,
        "not retried"
    );
    assert_eq!(k8s.workload_patches(), 0);
}

#[tokio::test]
async fn restart_of_other_kinds_is_invalid_and_sends_nothing() {
    let k8s = KubeStandin::start().await;
    let rs = k8s.add_deployment("ns", "web", "default", 1);
    let c = cluster(&k8s.uri());
    for (kind, name) in [
        ("ReplicaSet", rs.as_str()),
        ("Job", "once"),
        ("CronJob", "nightly"),
    ] {
        let err = c
            .restart("ns", &owner(kind, name), "2024-06-01T12:00:00Z")
            .await
            .expect_err("not restartable");
        assert_eq!(err.kind, KubeErrorKind::Invalid, "{kind}");
        assert_eq!(err.verb, "patch");
        assert!(err.message.contains(kind), "{}", err.message);
        assert!(
            err.resource.ends_with(&format!(" ns/{name}")),
            "{}",
            err.resource
        );
    }
    assert_eq!(k8s.requests().await.len(), 0);
}

#[tokio::test]
async fn restart_answered_without_the_annotation_is_an_error() {
    // E.g. a mutating admission webhook that strips template annotations.
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/apis/apps/v1/namespaces/ns/deployments/web"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}},
            },
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = cluster(&server.uri())
        .restart("ns", &owner("Deployment", "web"), "2024-06-01T12:00:00Z")
        .await
        .expect_err("not restarted");
    assert_eq!(
        (err.verb, err.resource.as_str()),
        ("patch", "deployments ns/web")
    );
    assert!(
        err.message
            .contains("kubectl.kubernetes.io/restartedAt unset"),
        "{}",
        err.message
    );
    server.verify().await;
}

#[tokio::test]
async fn restart_conflicts_are_retried() {
    let k8s = KubeStandin::start().await;
    k8s.add_deployment("ns", "web", "default", 1);
    k8s.fail_next("PATCH", 409, 1);
    cluster(&k8s.uri())
        .restart("ns", &owner("Deployment", "web"), "2024-06-01T12:00:00Z")
        .await
        .expect("second attempt");
    assert_eq!(k8s.requests_with_method("PATCH").await.len(), 2);
    assert_eq!(k8s.workload_patches(), 1);
}

#[tokio::test]
async fn pods_started_before_their_account_exists_wait_for_it() {
    // Admission refuses pods whose ServiceAccount is missing; the controller
    // retries, so they appear, injected, once the account is there.
    let k8s = KubeStandin::start().await;
    k8s.add_deployment("ns", "prometheus-server", SA, 2);
    let c = cluster(&k8s.uri());
    c.restart(
        "ns",
        &owner("Deployment", "prometheus-server"),
        "2024-06-01T12:00:00Z",
    )
    .await
    .expect("restart");
    assert_eq!(
        c.pods("ns").await,
        Ok(vec![]),
        "refused for want of the account"
    );

    c.apply_service_account("ns", SA, &map(&[(ROLE_ARN, ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    let pods = c.pods("ns").await.expect("list");
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| p.role_arn_env.as_deref() == Some(ARN)));
}

#[tokio::test]
async fn delete_pod_is_idempotent_and_controllers_replace_their_pods() {
    let k8s = KubeStandin::start().await;
    k8s.add_bare_pod("ns", "debug", SA, None);
    let rs = k8s.add_deployment("ns", "web", "default", 1);
    let c = cluster(&k8s.uri());

    c.delete_pod("ns", "debug").await.expect("delete");
    assert!(k8s.pod("ns", "debug").is_none());
    c.delete_pod("ns", "debug").await.expect("already gone");
    let deletes = k8s.requests_with_method("DELETE").await;
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[0].url.path(), "/api/v1/namespaces/ns/pods/debug");

    // A ReplicaSet's pod comes back under another name (the stand-in's controller).
    let old = pods_of(&k8s, "ns", "ReplicaSet", &rs);
    c.delete_pod("ns", &old[0].name).await.expect("delete");
    let new = pods_of(&k8s, "ns", "ReplicaSet", &rs);
    assert_eq!(new.len(), 1);
    assert_ne!(new[0].name, old[0].name);

    k8s.fail_next("DELETE", 403, 1);
    let err = c.delete_pod("ns", "x").await.expect_err("forbidden");
    assert_eq!((err.verb, err.resource.as_str()), ("delete", "pods ns/x"));
    assert_eq!(err.kind, KubeErrorKind::Forbidden);
}

#[tokio::test]
async fn annotation_times_come_from_managed_fields() {
    let k8s = KubeStandin::start().await;
    k8s.put_service_account("ns", "sa", &[("owner", "team")], &[], "helm");
    k8s.annotate("ns", "sa", ROLE_ARN, THEIR_ARN, "kubectl-annotate")
        .expect("annotate");
    let c = cluster(&k8s.uri());
    let first = c
        .service_account("ns", "sa")
        .await
        .expect("get")
        .expect("exists");
    let stored = k8s.service_account("ns", "sa").expect("stored");
    let time_of = |manager: &str| {
        stored["metadata"]["managedFields"]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
            .and_then(|e| e["time"].as_str())
            .map(str::to_string)
            .expect("entry")
    };
    assert_eq!(first.annotation_times["owner"], time_of("helm"));
    assert_eq!(
        first.annotation_times[ROLE_ARN],
        time_of("kubectl-annotate")
    );
    assert!(first.annotation_times["owner"] < first.annotation_times[ROLE_ARN]);

    // Our apply of the same value shares the key: the later write counts.
    let applied = c
        .apply_service_account("ns", "sa", &map(&[(ROLE_ARN, THEIR_ARN)]), &BTreeMap::new())
        .await
        .expect("apply");
    assert!(applied.annotation_times[ROLE_ARN] > first.annotation_times[ROLE_ARN]);
    assert_eq!(
        applied.annotation_times["owner"],
        first.annotation_times["owner"]
    );
}

#[tokio::test]
async fn the_standin_lists_workloads_by_label() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod as K8sPod;
    use kube::api::ListParams;

    let k8s = KubeStandin::start().await;
    k8s.add_deployment("ns", "web", "default", 2);
    k8s.add_deployment("ns", "api", "default", 1);
    let uri = k8s.uri().parse().expect("uri");
    let client = kube::Client::try_from(kube::Config::new(uri)).expect("client");
    let pods: kube::Api<K8sPod> = kube::Api::namespaced(client.clone(), "ns");
    let web = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=web"))
        .await
        .expect("list");
    assert_eq!(web.items.len(), 2);
    let not_web = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name!=web,pod-template-hash"))
        .await
        .expect("list");
    assert_eq!(not_web.items.len(), 1);
    let sets: kube::Api<ReplicaSet> = kube::Api::namespaced(client, "ns");
    let api_sets = sets
        .list(&ListParams::default().labels("app.kubernetes.io/name=api"))
        .await
        .expect("list");
    assert_eq!(api_sets.items.len(), 1);
    let spec = api_sets.items[0].spec.as_ref().expect("spec");
    let hash = &spec.selector.match_labels.as_ref().expect("labels")["pod-template-hash"];
    assert!(
        api_sets.items[0]
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.ends_with(hash.as_str()))
    );
}
