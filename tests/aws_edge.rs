//! The SDK edge (`SdkAws`) against aws-smithy-mocks clients: request shapes,
//! decoding, pagination, error mapping and retries.
//!
//! Errors are mostly mocked as raw HTTP responses in each service's wire
//! format, so the SDK's own deserialisation (and the error code it extracts)
//! is exercised, as in production.
//!
//! Two tests run the edge against the end-to-end harness's moto (its
//! launcher emulates IAM's trust-policy quota and brings AMP closer to the
//! real API), so they need the project's `.venv` like tests/e2e.rs
//! (scripts/test.sh creates it).

#[path = "support/harness.rs"]
mod harness;
#[path = "support/kube_standin.rs"]
mod kube_standin;

use std::time::Duration;

use amp_iam::aws::sdk::SdkAws;
use amp_iam::aws::{Aws, AwsErrorKind, NewRole, Tags};
use aws_sdk_iam::config::retry::RetryConfig;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::DateTime;

/// Like `aws_smithy_mocks::mock_client!`, which calls `with_test_defaults_v2`
/// (absent from the SDK versions in Cargo.lock): test defaults (fixed test
/// credentials, static clock), a region, the mock HTTP client and the rules.
macro_rules! mock_client {
    ($krate:ident, $mode:expr, $rules:expr) => {
        mock_client!($krate, $mode, $rules, |c| c)
    };
    ($krate:ident, $mode:expr, $rules:expr, $configure:expr) => {{
        let mut interceptor = MockResponseInterceptor::new().rule_mode($mode);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        // Pins the closure's argument type, as the upstream macro does.
        fn coerce<F: Fn($krate::config::Builder) -> $krate::config::Builder>(f: F) -> F {
            f
        }
        let builder = $krate::Config::builder()
            .with_test_defaults()
            .region($krate::config::Region::new("us-east-1"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor);
        $krate::Client::from_conf(coerce($configure)(builder).build())
    }};
}

fn iam_aws(mode: RuleMode, rules: &[&Rule]) -> SdkAws {
    SdkAws::from_clients(
        mock_client!(aws_sdk_iam, mode, rules),
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
        no_amp(),
    )
}

fn eks_aws(mode: RuleMode, rules: &[&Rule]) -> SdkAws {
    SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, mode, rules),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
        no_amp(),
    )
}

fn sts_aws(rules: &[&Rule]) -> SdkAws {
    SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, rules),
        no_amp(),
    )
}

/// An AMP client with no rules, for tests of the other services.
fn no_amp() -> aws_sdk_amp::Client {
    mock_client!(aws_sdk_amp, RuleMode::Sequential, &[] as &[&Rule])
}

fn amp_aws(mode: RuleMode, rules: &[&Rule]) -> SdkAws {
    SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_amp, mode, rules),
    )
}

/// An IAM/STS (awsQuery) error response body.
fn query_error(code: &str, message: &str) -> Option<String> {
    Some(format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
           <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
           <RequestId>0f1e2d3c-0000-4000-8000-000000000000</RequestId>\
         </ErrorResponse>"
    ))
}

/// An EKS or AMP (restJson1) error response body.
fn json_error(code: &str, message: &str) -> Option<String> {
    Some(format!(r#"{{"__type":"{code}","message":"{message}"}}"#))
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
/// `TRUST` as IAM returns it: RFC 3986 URL-encoded.
const TRUST_ENCODED: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Federated%22%3A%22arn%3Aaws%3Aiam%3A%3A111122223333%3Aoidc-provider%2Foidc.eks.eu-west-1.amazonaws.com%2Fid%2FABC%22%7D%2C%22Action%22%3A%22sts%3AAssumeRoleWithWebIdentity%22%7D%5D%7D";

fn iam_role(name: &str, trust: &str) -> aws_sdk_iam::types::Role {
    aws_sdk_iam::types::Role::builder()
        .role_name(name)
        .role_id("AROAEXAMPLE")
        .arn(format!("arn:aws:iam::111122223333:role/amp/{name}"))
        .path("/amp/")
        .create_date(DateTime::from_secs(1_700_000_000))
        .assume_role_policy_document(trust)
        .tags(iam_tag("managed-by", "kubectl-amp-iam"))
        .build()
        .expect("role has its required fields")
}

fn iam_tag(key: &str, value: &str) -> aws_sdk_iam::types::Tag {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("tag has key and value")
}

fn policy(name: &str) -> aws_sdk_iam::types::Policy {
    aws_sdk_iam::types::Policy::builder()
        .policy_name(name)
        .arn(format!("arn:aws:iam::111122223333:policy/amp/{name}"))
        .path("/amp/")
        .default_version_id("v2")
        .attachment_count(1)
        .build()
}

#[tokio::test]
async fn get_role_no_such_entity_is_none() {
    let rule = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("missing"))
        .sequence()
        .http_status(
            404,
            query_error(
                "NoSuchEntity",
                "The role with name missing cannot be found.",
            ),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(aws.role("missing").await.unwrap(), None);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn get_role_decodes_the_trust_policy() {
    let rule = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("amp-ingest"))
        .then_output(|| {
            aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
                .role(iam_role("amp-ingest", TRUST_ENCODED))
                .build()
        });
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let role = aws.role("amp-ingest").await.unwrap().expect("role exists");
    assert_eq!(role.name, "amp-ingest");
    assert_eq!(role.arn, "arn:aws:iam::111122223333:role/amp/amp-ingest");
    assert_eq!(role.path, "/amp/");
    assert_eq!(role.trust_policy, TRUST);
    assert_eq!(
        role.tags,
        Tags::from([("managed-by".to_string(), "kubectl-amp-iam".to_string())])
    );
}

#[tokio::test]
async fn get_policy_version_decodes_the_document() {
    let rule = mock!(aws_sdk_iam::Client::get_policy_version)
        .match_requests(|r| {
            r.policy_arn() == Some("arn:aws:iam::111122223333:policy/amp/ingest")
                && r.version_id() == Some("v3")
        })
        .then_output(|| {
            aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput::builder()
                .policy_version(
                    aws_sdk_iam::types::PolicyVersion::builder()
                        .version_id("v3")
                        .is_default_version(true)
                        .document("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22aps%3ARemoteWrite%22%2C%22Resource%22%3A%22*%22%7D%5D%7D")
                        .build(),
                )
                .build()
        });
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let doc = aws
        .policy_document("arn:aws:iam::111122223333:policy/amp/ingest", "v3")
        .await
        .unwrap();
    assert_eq!(
        doc,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"aps:RemoteWrite","Resource":"*"}]}"#
    );
}

#[tokio::test]
async fn create_policy_already_exists() {
    let rule = mock!(aws_sdk_iam::Client::create_policy)
        .sequence()
        .http_status(
            409,
            query_error(
                "EntityAlreadyExists",
                "A policy called AMPIngest already exists.",
            ),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let err = aws
        .create_policy("AMPIngest", "/amp/", "{}", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AlreadyExists);
    assert_eq!(err.action, "iam:CreatePolicy");
    assert_eq!(err.resource, "AMPIngest");
    assert_eq!(err.code.as_deref(), Some("EntityAlreadyExists"));
    assert_eq!(err.message, "A policy called AMPIngest already exists.");
}

#[tokio::test]
async fn create_role_access_denied_names_action_and_role() {
    let rule = mock!(aws_sdk_iam::Client::create_role)
        .sequence()
        .http_status(
            403,
            query_error(
                "AccessDenied",
                "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: iam:CreateRole",
            ),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);
    let role = NewRole {
        name: "amp-ingest".into(),
        path: "/amp/".into(),
        trust_policy: TRUST.into(),
        description: "AMP ingest".into(),
        tags: Tags::new(),
        permissions_boundary: None,
    };

    let err = aws.create_role(&role).await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AccessDenied);
    assert_eq!(err.action, "iam:CreateRole");
    assert_eq!(err.resource, "amp-ingest");
    assert_eq!(err.code.as_deref(), Some("AccessDenied"));
    let shown = err.to_string();
    assert!(
        shown.starts_with("iam:CreateRole on amp-ingest failed (AccessDenied): User: arn:aws:iam::111122223333:user/alice is not authorized"),
        "{shown}"
    );
    assert!(
        shown.contains("Grant the caller iam:CreateRole on amp-ingest"),
        "{shown}"
    );
}

#[tokio::test]
async fn create_role_sends_the_whole_role() {
    let rule = mock!(aws_sdk_iam::Client::create_role)
        .match_requests(|r| {
            r.role_name() == Some("amp-ingest")
                && r.path() == Some("/amp/")
                && r.assume_role_policy_document() == Some(TRUST)
                && r.description() == Some("AMP ingest")
                && r.permissions_boundary() == Some("arn:aws:iam::111122223333:policy/boundary")
                && r.tags() == [iam_tag("managed-by", "kubectl-amp-iam")]
        })
        .then_output(|| {
            aws_sdk_iam::operation::create_role::CreateRoleOutput::builder()
                .role(iam_role("amp-ingest", TRUST_ENCODED))
                .build()
        });
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);
    let role = NewRole {
        name: "amp-ingest".into(),
        path: "/amp/".into(),
        trust_policy: TRUST.into(),
        description: "AMP ingest".into(),
        tags: Tags::from([("managed-by".into(), "kubectl-amp-iam".into())]),
        permissions_boundary: Some("arn:aws:iam::111122223333:policy/boundary".into()),
    };

    let arn = aws.create_role(&role).await.unwrap();
    assert_eq!(arn, "arn:aws:iam::111122223333:role/amp/amp-ingest");
}

#[tokio::test]
async fn create_oidc_provider_without_thumbprint() {
    let url = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC";
    let rule = mock!(aws_sdk_iam::Client::create_open_id_connect_provider)
        .match_requests(move |r| {
            r.url() == Some(url)
                && r.client_id_list() == ["sts.amazonaws.com".to_string()]
                && r.thumbprint_list().is_empty()
                && r.tags() == [iam_tag("alpha.eksctl.io/cluster-name", "prod")]
        })
        .then_output(|| {
            aws_sdk_iam::operation::create_open_id_connect_provider::CreateOpenIdConnectProviderOutput::builder()
                .open_id_connect_provider_arn(
                    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
                )
                .build()
        });
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let arn = aws
        .create_oidc_provider(
            url,
            &["sts.amazonaws.com".to_string()],
            &Tags::from([("alpha.eksctl.io/cluster-name".into(), "prod".into())]),
        )
        .await
        .unwrap();
    assert_eq!(
        arn,
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    );
}

#[tokio::test]
async fn describe_cluster_not_found_is_none() {
    let rule = mock!(aws_sdk_eks::Client::describe_cluster)
        .match_requests(|r| r.name() == Some("gone"))
        .sequence()
        .http_status(
            404,
            json_error(
                "ResourceNotFoundException",
                "No cluster found for name: gone.",
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(aws.cluster("gone").await.unwrap(), None);
}

#[tokio::test]
async fn describe_cluster_maps_issuer_and_status() {
    use aws_sdk_eks::types::{Cluster, ClusterStatus, Identity, Oidc};
    let rule = mock!(aws_sdk_eks::Client::describe_cluster).then_output(|| {
        aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder()
            .cluster(
                Cluster::builder()
                    .name("prod")
                    .arn("arn:aws:eks:eu-west-1:111122223333:cluster/prod")
                    .status(ClusterStatus::Active)
                    .identity(
                        Identity::builder()
                            .oidc(
                                Oidc::builder()
                                    .issuer("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let aws = eks_aws(RuleMode::Sequential, &[&rule]);

    let cluster = aws.cluster("prod").await.unwrap().expect("cluster exists");
    assert_eq!(cluster.name, "prod");
    assert_eq!(
        cluster.arn,
        "arn:aws:eks:eu-west-1:111122223333:cluster/prod"
    );
    assert_eq!(
        cluster.issuer.as_deref(),
        Some("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC")
    );
    assert_eq!(cluster.status, "ACTIVE");
}

#[tokio::test]
async fn nodegroup_roles_lists_all_pages_and_describes_each() {
    use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
    use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
    use aws_sdk_eks::types::Nodegroup;
    let page1 = mock!(aws_sdk_eks::Client::list_nodegroups)
        .match_requests(|r| r.cluster_name() == Some("prod") && r.next_token().is_none())
        .then_output(|| {
            ListNodegroupsOutput::builder()
                .nodegroups("ng-a")
                .next_token("t1")
                .build()
        });
    let page2 = mock!(aws_sdk_eks::Client::list_nodegroups)
        .match_requests(|r| r.next_token() == Some("t1"))
        .then_output(|| ListNodegroupsOutput::builder().nodegroups("ng-b").build());
    let describe = mock!(aws_sdk_eks::Client::describe_nodegroup)
        .match_requests(|r| r.cluster_name() == Some("prod"))
        .then_compute_output(|r| {
            let ng = r.nodegroup_name().unwrap_or_default();
            DescribeNodegroupOutput::builder()
                .nodegroup(
                    Nodegroup::builder()
                        .nodegroup_name(ng)
                        .node_role(format!("arn:aws:iam::111122223333:role/{ng}-node"))
                        .build(),
                )
                .build()
        });
    let aws = eks_aws(RuleMode::MatchAny, &[&page1, &page2, &describe]);

    let roles = aws.nodegroup_roles("prod").await.unwrap();
    let got: Vec<(&str, &str)> = roles
        .iter()
        .map(|r| (r.nodegroup.as_str(), r.role_arn.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("ng-a", "arn:aws:iam::111122223333:role/ng-a-node"),
            ("ng-b", "arn:aws:iam::111122223333:role/ng-b-node"),
        ]
    );
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test]
async fn list_policies_follows_the_marker() {
    use aws_sdk_iam::operation::list_policies::ListPoliciesOutput;
    use aws_sdk_iam::types::PolicyScopeType;
    let first = mock!(aws_sdk_iam::Client::list_policies)
        .match_requests(|r| {
            r.scope() == Some(&PolicyScopeType::Local)
                && r.max_items() == Some(1000)
                && r.marker().is_none()
        })
        .then_output(|| {
            ListPoliciesOutput::builder()
                .policies(policy("AMPIngest"))
                .is_truncated(true)
                .marker("page-2")
                .build()
        });
    let second = mock!(aws_sdk_iam::Client::list_policies)
        .match_requests(|r| {
            r.scope() == Some(&PolicyScopeType::Local) && r.marker() == Some("page-2")
        })
        .then_output(|| {
            ListPoliciesOutput::builder()
                .policies(policy("AMPQuery"))
                .is_truncated(false)
                .build()
        });
    let aws = iam_aws(RuleMode::Sequential, &[&first, &second]);

    let policies = aws.local_policies("/").await.unwrap();
    let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["AMPIngest", "AMPQuery"]);
    assert_eq!(
        policies[1].arn,
        "arn:aws:iam::111122223333:policy/amp/AMPQuery"
    );
    assert_eq!(policies[1].path, "/amp/");
    assert_eq!(policies[1].default_version, "v2");
    assert_eq!(policies[1].attachment_count, 1);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn attached_policies_of_a_missing_role_is_empty() {
    let rule = mock!(aws_sdk_iam::Client::list_attached_role_policies)
        .match_requests(|r| r.role_name() == Some("missing"))
        .sequence()
        .http_status(
            404,
            query_error(
                "NoSuchEntity",
                "The role with name missing cannot be found.",
            ),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(aws.attached_policies("missing").await.unwrap(), []);
}

#[tokio::test]
async fn policy_versions_keep_default_flag_and_creation_time() {
    use aws_sdk_iam::operation::list_policy_versions::ListPolicyVersionsOutput;
    use aws_sdk_iam::types::PolicyVersion;
    let rule = mock!(aws_sdk_iam::Client::list_policy_versions).then_output(|| {
        ListPolicyVersionsOutput::builder()
            .versions(
                PolicyVersion::builder()
                    .version_id("v2")
                    .is_default_version(true)
                    .create_date(DateTime::from_secs(1_700_000_200))
                    .build(),
            )
            .versions(
                PolicyVersion::builder()
                    .version_id("v1")
                    .create_date(DateTime::from_secs(1_700_000_100))
                    .build(),
            )
            .build()
    });
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let versions = aws
        .policy_versions("arn:aws:iam::111122223333:policy/amp/AMPIngest")
        .await
        .unwrap();
    let got: Vec<(&str, bool, i64)> = versions
        .iter()
        .map(|v| (v.id.as_str(), v.is_default, v.created))
        .collect();
    assert_eq!(
        got,
        [("v2", true, 1_700_000_200), ("v1", false, 1_700_000_100)]
    );
}

/// Retries need a retry config on the client (a bare `Config::builder()`
/// disables them); `load_config` sets one for real runs. Backoff is shortened
/// so the test does not sleep for a second.
fn retrying(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let rule = mock!(aws_sdk_iam::Client::list_open_id_connect_providers)
        .sequence()
        .http_status(400, query_error("Throttling", "Rate exceeded"))
        .output(|| {
            aws_sdk_iam::operation::list_open_id_connect_providers::ListOpenIdConnectProvidersOutput::builder()
                .open_id_connect_provider_list(
                    aws_sdk_iam::types::OpenIdConnectProviderListEntry::builder()
                        .arn("arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC")
                        .build(),
                )
                .build()
        })
        .build();
    let iam = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule], |c| c
        .retry_config(retrying(3)));
    let aws = SdkAws::from_clients(
        iam,
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
        no_amp(),
    );

    let arns = aws.oidc_provider_arns().await.unwrap();
    assert_eq!(
        arns,
        ["arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"]
    );
    assert_eq!(rule.num_calls(), 2, "one throttled attempt, one retry");
}

#[tokio::test]
async fn throttling_past_the_attempt_limit_is_throttled() {
    let rule = mock!(aws_sdk_iam::Client::list_open_id_connect_providers)
        .sequence()
        .http_status(400, query_error("Throttling", "Rate exceeded"))
        .times(2)
        .build();
    let iam = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule], |c| c
        .retry_config(retrying(2)));
    let aws = SdkAws::from_clients(
        iam,
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
        no_amp(),
    );

    let err = aws.oidc_provider_arns().await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Throttled);
    assert_eq!(err.action, "iam:ListOpenIDConnectProviders");
    assert_eq!(err.resource, "*");
    assert_eq!(err.message, "Rate exceeded");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn server_error_without_a_code_is_unavailable() {
    let rule = mock!(aws_sdk_iam::Client::delete_role)
        .sequence()
        .http_status(503, None)
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let err = aws.delete_role("amp-ingest").await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Unavailable);
    assert_eq!(err.action, "iam:DeleteRole");
    assert_eq!(err.code, None);
    assert!(err.message.starts_with("HTTP 503"), "{}", err.message);
}

#[tokio::test]
async fn expired_token_is_a_credentials_error() {
    let rule = mock!(aws_sdk_sts::Client::get_caller_identity)
        .sequence()
        .http_status(
            403,
            query_error(
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
        )
        .build();
    let aws = sts_aws(&[&rule]);

    let err = aws.caller().await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Credentials);
    assert_eq!(err.action, "sts:GetCallerIdentity");
    assert_eq!(err.code.as_deref(), Some("ExpiredToken"));
    assert_eq!(
        err.message,
        "The security token included in the request is expired"
    );
}

#[tokio::test]
async fn caller_identity() {
    let rule = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
            .account("111122223333")
            .arn("arn:aws:iam::111122223333:user/alice")
            .build()
    });
    let aws = sts_aws(&[&rule]);

    let caller = aws.caller().await.unwrap();
    assert_eq!(caller.account, "111122223333");
    assert_eq!(caller.arn, "arn:aws:iam::111122223333:user/alice");
}

#[tokio::test]
async fn missing_credentials_are_a_credentials_error() {
    // No credentials provider at all: the SDK fails before sending anything.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .http_client(create_mock_http_client())
            .build(),
    );
    let aws = SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        sts,
        no_amp(),
    );

    let err = aws.caller().await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Credentials);
    assert_eq!(err.action, "sts:GetCallerIdentity");
    assert_eq!(err.code, None);
    assert!(
        err.message.contains("no identity resolver"),
        "{}",
        err.message
    );
}

// ProfileFiles is deprecated for aws-runtime's EnvConfigFiles, which is not a dependency.
#[allow(deprecated)]
#[tokio::test]
async fn broken_profile_is_a_credentials_error_without_leaking_keys() {
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
    // A profile with a key id but no secret: the provider fails to load.
    let provider = ProfileFileCredentialsProvider::builder()
        .profile_files(
            ProfileFiles::builder()
                .with_contents(
                    ProfileFileKind::Credentials,
                    "[broken]\naws_access_key_id = AKIAEXAMPLELEAKCHECK\n",
                )
                .build(),
        )
        .profile_name("broken")
        .build();
    let provider = aws_sdk_sts::config::SharedCredentialsProvider::new(provider);
    // The mock picks its response before identity resolution, so it needs a
    // rule even though no request is ever sent. A modeled output would replace
    // the auth error at attempt completion; a raw HTTP one is only served if
    // the request is actually transmitted (and would map to Unavailable).
    let unreached = mock!(aws_sdk_sts::Client::get_caller_identity)
        .sequence()
        .http_status(500, None)
        .build();
    let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&unreached], |c| c
        .credentials_provider(provider.clone()));
    let aws = SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        sts,
        no_amp(),
    );

    let err = aws.caller().await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Credentials);
    assert!(
        err.message
            .contains("profile missing aws_secret_access_key"),
        "{}",
        err.message
    );
    assert!(!err.to_string().contains("AKIAEXAMPLELEAKCHECK"), "{err}");
}

/// An IAM client with test credentials talking to a real HTTP endpoint.
fn iam_at(
    endpoint: &str,
    configure: impl Fn(aws_sdk_iam::config::Builder) -> aws_sdk_iam::config::Builder,
) -> SdkAws {
    let iam = aws_sdk_iam::Client::from_conf(
        configure(
            aws_sdk_iam::Config::builder()
                .with_test_defaults()
                .region(aws_sdk_iam::config::Region::new("us-east-1"))
                .endpoint_url(endpoint),
        )
        .build(),
    );
    SdkAws::from_clients(
        iam,
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
        no_amp(),
    )
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // A port that was just free: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let aws = iam_at(&format!("http://127.0.0.1:{port}"), |c| c);

    let err = aws.role("amp-ingest").await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Unavailable);
    assert_eq!(err.action, "iam:GetRole");
    assert_eq!(err.resource, "amp-ingest");
    assert!(
        err.message.starts_with("dispatch failure"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn slow_endpoint_times_out_as_unavailable() {
    use aws_sdk_iam::config::timeout::TimeoutConfig;
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let aws = iam_at(&server.uri(), |c| {
        c.timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(100))
                .build(),
        )
    });

    let err = aws
        .delete_policy("arn:aws:iam::111122223333:policy/amp/AMPIngest")
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Unavailable);
    assert_eq!(err.action, "iam:DeletePolicy");
    assert_eq!(
        err.resource,
        "arn:aws:iam::111122223333:policy/amp/AMPIngest"
    );
    assert!(err.message.contains("timeout"), "{}", err.message);
}

// --- managed policies, their entities, the account's trust-policy quota ----

const INGEST_ARN: &str = "arn:aws:iam::111122223333:policy/amp/AMPIngest";

#[tokio::test]
async fn get_policy_no_such_entity_is_none() {
    let missing = "arn:aws:iam::111122223333:policy/Missing";
    let rule = mock!(aws_sdk_iam::Client::get_policy)
        .match_requests(move |r| r.policy_arn() == Some(missing))
        .sequence()
        .http_status(
            404,
            query_error(
                "NoSuchEntity",
                "Policy arn:aws:iam::111122223333:policy/Missing was not found.",
            ),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(aws.managed_policy(missing).await.unwrap(), None);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn get_policy_maps_customer_and_aws_managed_policies() {
    let fargate = "arn:aws:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy";
    // The wire format, as IAM answers for an AWS managed policy.
    let aws_managed = mock!(aws_sdk_iam::Client::get_policy)
        .match_requests(move |r| r.policy_arn() == Some(fargate))
        .sequence()
        .http_status(
            200,
            Some(format!(
                "<GetPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
                   <GetPolicyResult><Policy>\
                     <PolicyName>AmazonEKSFargatePodExecutionRolePolicy</PolicyName>\
                     <DefaultVersionId>v1</DefaultVersionId><PolicyId>ANPAEXAMPLE</PolicyId>\
                     <Path>/</Path><Arn>{fargate}</Arn><AttachmentCount>3</AttachmentCount>\
                     <IsAttachable>true</IsAttachable>\
                   </Policy></GetPolicyResult>\
                   <ResponseMetadata><RequestId>0f1e2d3c-0000-4000-8000-000000000001</RequestId></ResponseMetadata>\
                 </GetPolicyResponse>"
            )),
        )
        .build();
    let customer = mock!(aws_sdk_iam::Client::get_policy)
        .match_requests(|r| r.policy_arn() == Some(INGEST_ARN))
        .then_output(|| {
            aws_sdk_iam::operation::get_policy::GetPolicyOutput::builder()
                .policy(policy("AMPIngest"))
                .build()
        });
    let aws = iam_aws(RuleMode::MatchAny, &[&aws_managed, &customer]);

    let p = aws.managed_policy(fargate).await.unwrap().expect("exists");
    assert_eq!(p.name, "AmazonEKSFargatePodExecutionRolePolicy");
    assert_eq!(p.arn, fargate);
    assert_eq!(p.path, "/");
    assert_eq!(p.default_version, "v1");
    assert_eq!(p.attachment_count, 3);

    let p = aws
        .managed_policy(INGEST_ARN)
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        (p.name.as_str(), p.arn.as_str(), p.path.as_str()),
        ("AMPIngest", INGEST_ARN, "/amp/")
    );
    assert_eq!((p.default_version.as_str(), p.attachment_count), ("v2", 1));
}

#[tokio::test]
async fn list_entities_for_policy_follows_the_marker() {
    use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
    use aws_sdk_iam::types::{PolicyGroup, PolicyRole, PolicyUser};
    let role = |n: &str| PolicyRole::builder().role_name(n).role_id("AROAX").build();
    let first = mock!(aws_sdk_iam::Client::list_entities_for_policy)
        .match_requests(|r| r.policy_arn() == Some(INGEST_ARN) && r.marker().is_none())
        .then_output(move || {
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(role("amp-iamproxy-ingest-role"))
                .policy_roles(role("someone-elses-role"))
                .policy_users(PolicyUser::builder().user_name("alice").build())
                .is_truncated(true)
                .marker("page-2")
                .build()
        });
    let second = mock!(aws_sdk_iam::Client::list_entities_for_policy)
        .match_requests(|r| r.policy_arn() == Some(INGEST_ARN) && r.marker() == Some("page-2"))
        .then_output(move || {
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(role("third-role"))
                .policy_groups(PolicyGroup::builder().group_name("ops").build())
                .is_truncated(false)
                .build()
        });
    let aws = iam_aws(RuleMode::Sequential, &[&first, &second]);

    let entities = aws.policy_entities(INGEST_ARN).await.unwrap();
    assert_eq!(
        entities.roles,
        [
            "amp-iamproxy-ingest-role",
            "someone-elses-role",
            "third-role"
        ]
    );
    assert_eq!(entities.users, ["alice"]);
    assert_eq!(entities.groups, ["ops"]);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn list_entities_of_an_unattached_policy_is_empty() {
    let rule = mock!(aws_sdk_iam::Client::list_entities_for_policy).then_output(|| {
        aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput::builder()
            .is_truncated(false)
            .build()
    });
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    let entities = aws.policy_entities(INGEST_ARN).await.unwrap();
    assert_eq!(entities, amp_iam::aws::PolicyEntities::default());
    assert_eq!(rule.num_calls(), 1);
}

/// A GetAccountSummary answer in IAM's wire format with these entries (the
/// SDK decodes `AssumeRolePolicySizeQuota`, not in its enum, as an unknown key).
fn account_summary(entries: &[(&str, i32)]) -> Option<String> {
    let entries: String = entries
        .iter()
        .map(|(k, v)| format!("<entry><key>{k}</key><value>{v}</value></entry>"))
        .collect();
    Some(format!(
        "<GetAccountSummaryResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
           <GetAccountSummaryResult><SummaryMap>{entries}</SummaryMap></GetAccountSummaryResult>\
           <ResponseMetadata><RequestId>0f1e2d3c-0000-4000-8000-000000000002</RequestId></ResponseMetadata>\
         </GetAccountSummaryResponse>"
    ))
}

#[tokio::test]
async fn trust_policy_quota_reads_a_raised_quota() {
    let rule = mock!(aws_sdk_iam::Client::get_account_summary)
        .sequence()
        .http_status(
            200,
            account_summary(&[
                ("Roles", 12),
                ("RolesQuota", 1000),
                ("AssumeRolePolicySizeQuota", 4096),
                ("RolePolicySizeQuota", 10240),
            ]),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(aws.trust_policy_quota().await.unwrap(), 4096);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn trust_policy_quota_defaults_to_2048_when_absent() {
    let without_key = mock!(aws_sdk_iam::Client::get_account_summary)
        .sequence()
        .http_status(
            200,
            account_summary(&[("Roles", 12), ("RolePolicySizeQuota", 10240)]),
        )
        .build();
    let aws = iam_aws(RuleMode::Sequential, &[&without_key]);
    assert_eq!(aws.trust_policy_quota().await.unwrap(), 2048);

    let without_map = mock!(aws_sdk_iam::Client::get_account_summary).then_output(|| {
        aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput::builder().build()
    });
    let aws = iam_aws(RuleMode::Sequential, &[&without_map]);
    assert_eq!(aws.trust_policy_quota().await.unwrap(), 2048);
}

#[tokio::test]
async fn new_reads_access_denied_name_their_actions() {
    let denied = |action: &str| {
        query_error(
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: {action}"
            ),
        )
    };
    let get_policy = mock!(aws_sdk_iam::Client::get_policy)
        .sequence()
        .http_status(403, denied("iam:GetPolicy"))
        .build();
    let entities = mock!(aws_sdk_iam::Client::list_entities_for_policy)
        .sequence()
        .http_status(403, denied("iam:ListEntitiesForPolicy"))
        .build();
    let summary = mock!(aws_sdk_iam::Client::get_account_summary)
        .sequence()
        .http_status(403, denied("iam:GetAccountSummary"))
        .build();
    let aws = iam_aws(RuleMode::MatchAny, &[&get_policy, &entities, &summary]);

    let errors = [
        aws.managed_policy(INGEST_ARN).await.unwrap_err(),
        aws.policy_entities(INGEST_ARN).await.unwrap_err(),
        aws.trust_policy_quota().await.unwrap_err(),
    ];
    for (err, (action, resource)) in errors.iter().zip([
        ("iam:GetPolicy", INGEST_ARN),
        ("iam:ListEntitiesForPolicy", INGEST_ARN),
        ("iam:GetAccountSummary", "*"),
    ]) {
        assert_eq!(err.kind, AwsErrorKind::AccessDenied, "{err}");
        assert_eq!(err.action, action);
        assert_eq!(err.resource, resource);
        assert_eq!(err.code.as_deref(), Some("AccessDenied"));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "{action} on {resource} failed (AccessDenied): User: "
            )),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("Grant the caller {action} on {resource}")),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn describe_cluster_reads_the_api_endpoint() {
    // The wire format: the endpoint is absent while the cluster is created.
    let active = mock!(aws_sdk_eks::Client::describe_cluster)
        .match_requests(|r| r.name() == Some("prod"))
        .sequence()
        .http_status(
            200,
            Some(
                r#"{"cluster":{"name":"prod","arn":"arn:aws:eks:eu-west-1:111122223333:cluster/prod","status":"ACTIVE","endpoint":"https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com","identity":{"oidc":{"issuer":"https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}}}}"#
                    .into(),
            ),
        )
        .build();
    let creating = mock!(aws_sdk_eks::Client::describe_cluster)
        .match_requests(|r| r.name() == Some("new"))
        .sequence()
        .http_status(
            200,
            Some(
                r#"{"cluster":{"name":"new","arn":"arn:aws:eks:eu-west-1:111122223333:cluster/new","status":"CREATING"}}"#
                    .into(),
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::MatchAny, &[&active, &creating]);

    let cluster = aws.cluster("prod").await.unwrap().expect("cluster exists");
    assert_eq!(
        cluster.endpoint.as_deref(),
        Some("https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com")
    );
    assert_eq!(cluster.status, "ACTIVE");
    let cluster = aws.cluster("new").await.unwrap().expect("cluster exists");
    assert_eq!((cluster.endpoint, cluster.issuer), (None, None));
    assert_eq!(cluster.status, "CREATING");
}

// --- AMP workspaces ------------------------------------------------------------

const WS_ARN: &str = "arn:aws:aps:us-east-1:111122223333:workspace/ws-1";
const WS_ENDPOINT: &str = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/";

fn owned_tags() -> Tags {
    Tags::from([("managed-by".to_string(), "kubectl-amp-iam".to_string())])
}

/// An AMP ResourceNotFoundException body, with the fields AMP sends.
fn workspace_not_found(id: &str) -> Option<String> {
    Some(format!(
        r#"{{"__type":"ResourceNotFoundException","message":"Workspace not found","resourceId":"{id}","resourceType":"AWS::APS::Workspace"}}"#
    ))
}

fn summary(id: &str, alias: &str, status: &str) -> aws_sdk_amp::types::WorkspaceSummary {
    use aws_sdk_amp::types::{WorkspaceStatus, WorkspaceStatusCode, WorkspaceSummary};
    WorkspaceSummary::builder()
        .workspace_id(id)
        .alias(alias)
        .arn(format!("arn:aws:aps:us-east-1:111122223333:workspace/{id}"))
        .status(
            WorkspaceStatus::builder()
                .status_code(WorkspaceStatusCode::from(status))
                .build()
                .expect("status has its code"),
        )
        .created_at(DateTime::from_secs(1_700_000_000))
        .tags("managed-by", "kubectl-amp-iam")
        .build()
        .expect("summary has its required fields")
}

#[tokio::test]
async fn describe_workspace_reads_status_endpoint_and_tags() {
    // The wire format, so the SDK's own decoding of the answer is exercised.
    let rule = mock!(aws_sdk_amp::Client::describe_workspace)
        .match_requests(|r| r.workspace_id() == Some("ws-1"))
        .sequence()
        .http_status(
            200,
            Some(format!(
                r#"{{"workspace":{{"workspaceId":"ws-1","alias":"amp-iam","arn":"{WS_ARN}","status":{{"statusCode":"ACTIVE"}},"prometheusEndpoint":"{WS_ENDPOINT}","createdAt":1700000000,"tags":{{"managed-by":"kubectl-amp-iam"}}}}}}"#
            )),
        )
        .build();
    let aws = amp_aws(RuleMode::Sequential, &[&rule]);

    let ws = aws
        .workspace("ws-1")
        .await
        .unwrap()
        .expect("workspace exists");
    assert_eq!(ws.id, "ws-1");
    assert_eq!(ws.alias.as_deref(), Some("amp-iam"));
    assert_eq!(ws.arn, WS_ARN);
    assert_eq!(ws.status, "ACTIVE");
    assert_eq!(ws.endpoint.as_deref(), Some(WS_ENDPOINT));
    assert_eq!(ws.tags, owned_tags());
}

#[tokio::test]
async fn describe_workspace_not_found_is_none() {
    let rule = mock!(aws_sdk_amp::Client::describe_workspace)
        .match_requests(|r| r.workspace_id() == Some("ws-gone"))
        .sequence()
        .http_status(404, workspace_not_found("ws-gone"))
        .build();
    let aws = amp_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(aws.workspace("ws-gone").await.unwrap(), None);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn list_workspaces_by_alias_follows_the_next_token_and_keeps_exact_aliases() {
    use aws_sdk_amp::operation::list_workspaces::ListWorkspacesOutput;
    // AMP's alias filter is a prefix: `amp-iam-staging` comes back too.
    let first = mock!(aws_sdk_amp::Client::list_workspaces)
        .match_requests(|r| r.alias() == Some("amp-iam") && r.next_token().is_none())
        .then_output(|| {
            ListWorkspacesOutput::builder()
                .workspaces(summary("ws-1", "amp-iam", "ACTIVE"))
                .workspaces(summary("ws-2", "amp-iam-staging", "ACTIVE"))
                .next_token("t1")
                .build()
                .expect("workspaces are set")
        });
    let second = mock!(aws_sdk_amp::Client::list_workspaces)
        .match_requests(|r| r.alias() == Some("amp-iam") && r.next_token() == Some("t1"))
        .then_output(|| {
            ListWorkspacesOutput::builder()
                .workspaces(summary("ws-3", "amp-iam", "CREATING"))
                .build()
                .expect("workspaces are set")
        });
    let unfiltered = mock!(aws_sdk_amp::Client::list_workspaces)
        .match_requests(|r| r.alias().is_none() && r.next_token().is_none())
        .then_output(|| {
            ListWorkspacesOutput::builder()
                .workspaces(summary("ws-1", "amp-iam", "ACTIVE"))
                .workspaces(summary("ws-2", "amp-iam-staging", "ACTIVE"))
                .build()
                .expect("workspaces are set")
        });
    let aws = amp_aws(RuleMode::MatchAny, &[&first, &second, &unfiltered]);

    let found = aws.workspaces(Some("amp-iam")).await.unwrap();
    let got: Vec<(&str, Option<&str>, &str)> = found
        .iter()
        .map(|w| (w.id.as_str(), w.alias.as_deref(), w.status.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("ws-1", Some("amp-iam"), "ACTIVE"),
            ("ws-3", Some("amp-iam"), "CREATING")
        ]
    );
    assert!(found.iter().all(|w| w.endpoint.is_none()), "{found:?}");
    assert_eq!(found[0].arn, WS_ARN);
    assert_eq!(found[0].tags, owned_tags());
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));

    let all = aws.workspaces(None).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(unfiltered.num_calls(), 1);
}

#[tokio::test]
async fn create_workspace_sends_alias_and_tags_and_answers_creating() {
    let tagged = mock!(aws_sdk_amp::Client::create_workspace)
        .match_requests(|r| {
            r.alias() == Some("amp-iam")
                && r.tags().map(|t| t.get("managed-by").map(String::as_str))
                    == Some(Some("kubectl-amp-iam"))
        })
        .sequence()
        .http_status(
            202,
            Some(format!(
                r#"{{"workspaceId":"ws-1","arn":"{WS_ARN}","status":{{"statusCode":"CREATING"}},"tags":{{"managed-by":"kubectl-amp-iam"}}}}"#
            )),
        )
        .build();
    let untagged = mock!(aws_sdk_amp::Client::create_workspace)
        .match_requests(|r| r.alias() == Some("bare") && r.tags().is_none())
        .sequence()
        .http_status(
            202,
            Some(
                r#"{"workspaceId":"ws-2","arn":"arn:aws:aps:us-east-1:111122223333:workspace/ws-2","status":{"statusCode":"CREATING"}}"#
                    .into(),
            ),
        )
        .build();
    let aws = amp_aws(RuleMode::MatchAny, &[&tagged, &untagged]);

    let ws = aws
        .create_workspace("amp-iam", &owned_tags())
        .await
        .unwrap();
    assert_eq!(ws.id, "ws-1");
    assert_eq!(ws.alias.as_deref(), Some("amp-iam"));
    assert_eq!(ws.arn, WS_ARN);
    assert_eq!(ws.status, "CREATING");
    assert_eq!(ws.endpoint, None, "CreateWorkspace gives no endpoint");
    assert_eq!(ws.tags, owned_tags());
    // No tags: none are sent.
    let ws = aws.create_workspace("bare", &Tags::new()).await.unwrap();
    assert_eq!((ws.id.as_str(), ws.tags.len()), ("ws-2", 0));
    assert_eq!((tagged.num_calls(), untagged.num_calls()), (1, 1));
}

#[tokio::test]
async fn delete_workspace_sends_the_id() {
    let rule = mock!(aws_sdk_amp::Client::delete_workspace)
        .match_requests(|r| r.workspace_id() == Some("ws-1"))
        .sequence()
        .http_status(202, None)
        .build();
    let aws = amp_aws(RuleMode::Sequential, &[&rule]);

    aws.delete_workspace("ws-1").await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn list_workspaces_access_denied_names_the_action() {
    let rule = mock!(aws_sdk_amp::Client::list_workspaces)
        .sequence()
        .http_status(
            403,
            json_error(
                "AccessDeniedException",
                "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: aps:ListWorkspaces",
            ),
        )
        .build();
    let aws = amp_aws(RuleMode::Sequential, &[&rule]);

    let err = aws.workspaces(Some("amp-iam")).await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AccessDenied, "{err}");
    assert_eq!(err.action, "aps:ListWorkspaces");
    assert_eq!(err.resource, "*");
    assert_eq!(err.code.as_deref(), Some("AccessDeniedException"));
    let shown = err.to_string();
    assert!(
        shown.contains("Grant the caller aps:ListWorkspaces on *"),
        "{shown}"
    );
}

#[tokio::test]
async fn amp_error_codes_map_to_kinds() {
    let conflict = mock!(aws_sdk_amp::Client::delete_workspace)
        .match_requests(|r| r.workspace_id() == Some("ws-new"))
        .sequence()
        .http_status(
            409,
            Some(
                r#"{"__type":"ConflictException","message":"Workspace is in CREATING state","resourceId":"ws-new","resourceType":"AWS::APS::Workspace"}"#
                    .into(),
            ),
        )
        .build();
    let missing = mock!(aws_sdk_amp::Client::delete_workspace)
        .match_requests(|r| r.workspace_id() == Some("ws-gone"))
        .sequence()
        .http_status(404, workspace_not_found("ws-gone"))
        .build();
    let invalid = mock!(aws_sdk_amp::Client::create_workspace)
        .sequence()
        .http_status(
            400,
            Some(
                r#"{"__type":"ValidationException","message":"1 validation error detected","reason":"FIELD_VALIDATION_FAILED"}"#
                    .into(),
            ),
        )
        .build();
    let throttled = mock!(aws_sdk_amp::Client::describe_workspace)
        .sequence()
        .http_status(429, json_error("ThrottlingException", "Rate exceeded"))
        .build();
    let aws = amp_aws(
        RuleMode::MatchAny,
        &[&conflict, &missing, &invalid, &throttled],
    );

    let err = aws.delete_workspace("ws-new").await.unwrap_err();
    assert_eq!(
        (err.kind, err.action, err.resource.as_str()),
        (
            AwsErrorKind::ConcurrentModification,
            "aps:DeleteWorkspace",
            "ws-new"
        )
    );
    // Deleting is not a read: a missing workspace is an error, not "done".
    let err = aws.delete_workspace("ws-gone").await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
    let err = aws
        .create_workspace("amp-iam", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.action),
        (AwsErrorKind::Invalid, "aps:CreateWorkspace")
    );
    let err = aws.workspace("ws-1").await.unwrap_err();
    assert_eq!(
        (err.kind, err.action),
        (AwsErrorKind::Throttled, "aps:DescribeWorkspace")
    );
}

// --- EKS Pod Identity, add-ons, Fargate profiles ------------------------------

const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role";
const SA: &str = "amp-iamproxy-ingest-service-account";

fn association_arn(id: &str) -> String {
    format!("arn:aws:eks:us-east-1:111122223333:podidentityassociation/prod/{id}")
}

/// An association as EKS answers Create/Describe/Update/Delete (wire format).
fn association_json(id: &str, role: &str) -> Option<String> {
    Some(format!(
        r#"{{"association":{{"clusterName":"prod","namespace":"prometheus","serviceAccount":"{SA}","roleArn":"{role}","associationArn":"{arn}","associationId":"{id}","tags":{{"managed-by":"kubectl-amp-iam"}},"createdAt":1700000000,"modifiedAt":1700000000,"disableSessionTags":false}}}}"#,
        arn = association_arn(id)
    ))
}

fn association_summary(id: &str) -> aws_sdk_eks::types::PodIdentityAssociationSummary {
    aws_sdk_eks::types::PodIdentityAssociationSummary::builder()
        .cluster_name("prod")
        .namespace("prometheus")
        .service_account(SA)
        .association_arn(association_arn(id))
        .association_id(id)
        .build()
}

#[tokio::test]
async fn pod_identity_associations_list_all_pages_and_describe_each() {
    use aws_sdk_eks::operation::describe_pod_identity_association::DescribePodIdentityAssociationOutput;
    use aws_sdk_eks::operation::list_pod_identity_associations::ListPodIdentityAssociationsOutput;
    use aws_sdk_eks::types::PodIdentityAssociation;
    let filtered = |r: &aws_sdk_eks::operation::list_pod_identity_associations::ListPodIdentityAssociationsInput| {
        r.cluster_name() == Some("prod")
            && r.namespace() == Some("prometheus")
            && r.service_account() == Some(SA)
    };
    let page1 = mock!(aws_sdk_eks::Client::list_pod_identity_associations)
        .match_requests(move |r| filtered(r) && r.next_token().is_none())
        .then_output(|| {
            ListPodIdentityAssociationsOutput::builder()
                .associations(association_summary("a-1"))
                .next_token("t1")
                .build()
        });
    // The filters are sent with every page.
    let page2 = mock!(aws_sdk_eks::Client::list_pod_identity_associations)
        .match_requests(move |r| filtered(r) && r.next_token() == Some("t1"))
        .then_output(|| {
            ListPodIdentityAssociationsOutput::builder()
                .associations(association_summary("a-2"))
                .associations(association_summary("a-gone"))
                .build()
        });
    let describe = mock!(aws_sdk_eks::Client::describe_pod_identity_association)
        .match_requests(|r| {
            r.cluster_name() == Some("prod") && r.association_id() != Some("a-gone")
        })
        .then_compute_output(|r| {
            let id = r.association_id().unwrap_or_default();
            DescribePodIdentityAssociationOutput::builder()
                .association(
                    PodIdentityAssociation::builder()
                        .cluster_name("prod")
                        .namespace("prometheus")
                        .service_account(SA)
                        .role_arn(format!("arn:aws:iam::111122223333:role/{id}-role"))
                        .association_arn(association_arn(id))
                        .association_id(id)
                        .tags("managed-by", "kubectl-amp-iam")
                        .build(),
                )
                .build()
        });
    // Deleted between the list and the describe: left out, not an error.
    let gone = mock!(aws_sdk_eks::Client::describe_pod_identity_association)
        .match_requests(|r| r.association_id() == Some("a-gone"))
        .sequence()
        .http_status(
            404,
            json_error(
                "ResourceNotFoundException",
                "No Pod Identity Association found for id: a-gone",
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::MatchAny, &[&page1, &page2, &describe, &gone]);

    let found = aws
        .pod_identity_associations("prod", "prometheus", SA)
        .await
        .unwrap();
    let got: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|a| (a.id.as_str(), a.role_arn.as_str(), a.arn.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "a-1",
                "arn:aws:iam::111122223333:role/a-1-role",
                association_arn("a-1").as_str()
            ),
            (
                "a-2",
                "arn:aws:iam::111122223333:role/a-2-role",
                association_arn("a-2").as_str()
            ),
        ]
    );
    assert!(
        found.iter().all(|a| a.namespace == "prometheus"
            && a.service_account == SA
            && a.tags == owned_tags()),
        "{found:?}"
    );
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
    assert_eq!((describe.num_calls(), gone.num_calls()), (2, 1));
}

#[tokio::test]
async fn create_pod_identity_association_sends_role_and_tags() {
    let tagged = mock!(aws_sdk_eks::Client::create_pod_identity_association)
        .match_requests(|r| {
            r.cluster_name() == Some("prod")
                && r.namespace() == Some("prometheus")
                && r.service_account() == Some(SA)
                && r.role_arn() == Some(ROLE_ARN)
                && r.tags().map(|t| t.get("managed-by").map(String::as_str))
                    == Some(Some("kubectl-amp-iam"))
                // Filled by the SDK: a retried create is not a second association.
                && r.client_request_token().is_some_and(|t| !t.is_empty())
        })
        .sequence()
        .http_status(200, association_json("a-0123456789abcdefg", ROLE_ARN))
        .build();
    let untagged = mock!(aws_sdk_eks::Client::create_pod_identity_association)
        .match_requests(|r| r.service_account() == Some("bare") && r.tags().is_none())
        .sequence()
        .http_status(200, association_json("a-1", ROLE_ARN))
        .build();
    let aws = eks_aws(RuleMode::MatchAny, &[&tagged, &untagged]);

    let created = aws
        .create_pod_identity_association("prod", "prometheus", SA, ROLE_ARN, &owned_tags())
        .await
        .unwrap();
    assert_eq!(created.id, "a-0123456789abcdefg");
    assert_eq!(created.arn, association_arn("a-0123456789abcdefg"));
    assert_eq!(
        (created.namespace.as_str(), created.service_account.as_str()),
        ("prometheus", SA)
    );
    assert_eq!(created.role_arn, ROLE_ARN);
    assert_eq!(created.tags, owned_tags());
    // No tags: none are sent (tagging on create needs eks:TagResource).
    aws.create_pod_identity_association("prod", "prometheus", "bare", ROLE_ARN, &Tags::new())
        .await
        .unwrap();
    assert_eq!((tagged.num_calls(), untagged.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_second_association_for_a_service_account_already_exists() {
    let rule = mock!(aws_sdk_eks::Client::create_pod_identity_association)
        .sequence()
        .http_status(
            409,
            json_error(
                "ResourceInUseException",
                "Association already exists: prometheus/amp-iamproxy-ingest-service-account",
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::Sequential, &[&rule]);

    let err = aws
        .create_pod_identity_association("prod", "prometheus", SA, ROLE_ARN, &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AlreadyExists, "{err}");
    assert_eq!(err.action, "eks:CreatePodIdentityAssociation");
    assert_eq!(err.resource, format!("prod prometheus/{SA}"));
    assert_eq!(err.code.as_deref(), Some("ResourceInUseException"));
}

#[tokio::test]
async fn update_pod_identity_association_sends_the_new_role() {
    let other = "arn:aws:iam::111122223333:role/other";
    let rule = mock!(aws_sdk_eks::Client::update_pod_identity_association)
        .match_requests(move |r| {
            r.cluster_name() == Some("prod")
                && r.association_id() == Some("a-1")
                && r.role_arn() == Some(other)
        })
        .sequence()
        .http_status(200, association_json("a-1", other))
        .build();
    let aws = eks_aws(RuleMode::Sequential, &[&rule]);

    aws.update_pod_identity_association("prod", "a-1", other)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn delete_pod_identity_association_sends_the_id() {
    let rule = mock!(aws_sdk_eks::Client::delete_pod_identity_association)
        .match_requests(|r| r.cluster_name() == Some("prod") && r.association_id() == Some("a-1"))
        .sequence()
        .http_status(200, association_json("a-1", ROLE_ARN))
        .build();
    let missing = mock!(aws_sdk_eks::Client::delete_pod_identity_association)
        .match_requests(|r| r.association_id() == Some("a-gone"))
        .sequence()
        .http_status(
            404,
            json_error(
                "ResourceNotFoundException",
                "No Pod Identity Association found for id: a-gone",
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::MatchAny, &[&rule, &missing]);

    aws.delete_pod_identity_association("prod", "a-1")
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
    // Deleting is not a read: a missing association is an error, not "done".
    let err = aws
        .delete_pod_identity_association("prod", "a-gone")
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.action, err.resource.as_str()),
        (
            AwsErrorKind::NotFound,
            "eks:DeletePodIdentityAssociation",
            "prod/a-gone"
        )
    );
}

#[tokio::test]
async fn describe_addon_not_found_is_none() {
    let rule = mock!(aws_sdk_eks::Client::describe_addon)
        .match_requests(|r| {
            r.cluster_name() == Some("prod") && r.addon_name() == Some("eks-pod-identity-agent")
        })
        .sequence()
        .http_status(
            404,
            json_error(
                "ResourceNotFoundException",
                "No addon: eks-pod-identity-agent found in cluster: prod",
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::Sequential, &[&rule]);

    assert_eq!(
        aws.addon("prod", "eks-pod-identity-agent").await.unwrap(),
        None
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn describe_addon_reads_status_and_version() {
    let rule = mock!(aws_sdk_eks::Client::describe_addon)
        .sequence()
        .http_status(
            200,
            Some(
                r#"{"addon":{"addonName":"eks-pod-identity-agent","clusterName":"prod","status":"DEGRADED","addonVersion":"v1.3.4-eksbuild.1","health":{"issues":[{"code":"InsufficientNumberOfReplicas","message":"no nodes"}]},"addonArn":"arn:aws:eks:us-east-1:111122223333:addon/prod/eks-pod-identity-agent/0ac3","createdAt":1700000000,"modifiedAt":1700000000,"tags":{}}}"#
                    .into(),
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::Sequential, &[&rule]);

    let addon = aws
        .addon("prod", "eks-pod-identity-agent")
        .await
        .unwrap()
        .expect("add-on installed");
    assert_eq!(addon.name, "eks-pod-identity-agent");
    assert_eq!(addon.status, "DEGRADED");
    assert_eq!(addon.version.as_deref(), Some("v1.3.4-eksbuild.1"));
}

#[tokio::test]
async fn create_addon_sends_name_and_tags_and_no_version() {
    let rule = mock!(aws_sdk_eks::Client::create_addon)
        .match_requests(|r| {
            r.cluster_name() == Some("prod")
                && r.addon_name() == Some("eks-pod-identity-agent")
                && r.addon_version().is_none()
                && r.service_account_role_arn().is_none()
                && r.tags().map(|t| t.get("managed-by").map(String::as_str))
                    == Some(Some("kubectl-amp-iam"))
        })
        .sequence()
        .http_status(
            200,
            Some(
                r#"{"addon":{"addonName":"eks-pod-identity-agent","clusterName":"prod","status":"CREATING","addonVersion":"v1.3.4-eksbuild.1","health":{"issues":[]},"createdAt":1700000000,"modifiedAt":1700000000,"tags":{"managed-by":"kubectl-amp-iam"}}}"#
                    .into(),
            ),
        )
        .build();
    let in_use = mock!(aws_sdk_eks::Client::create_addon)
        .match_requests(|r| r.cluster_name() == Some("other"))
        .sequence()
        .http_status(
            409,
            json_error("ResourceInUseException", "Addon already exists."),
        )
        .build();
    let aws = eks_aws(RuleMode::MatchAny, &[&rule, &in_use]);

    aws.create_addon("prod", "eks-pod-identity-agent", &owned_tags())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
    let err = aws
        .create_addon("other", "eks-pod-identity-agent", &owned_tags())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.action, err.resource.as_str()),
        (
            AwsErrorKind::AlreadyExists,
            "eks:CreateAddon",
            "other/eks-pod-identity-agent"
        )
    );
}

#[tokio::test]
async fn fargate_selectors_of_every_profile_across_pages() {
    use aws_sdk_eks::operation::describe_fargate_profile::DescribeFargateProfileOutput;
    use aws_sdk_eks::operation::list_fargate_profiles::ListFargateProfilesOutput;
    use aws_sdk_eks::types::{FargateProfile, FargateProfileSelector};
    let page1 = mock!(aws_sdk_eks::Client::list_fargate_profiles)
        .match_requests(|r| r.cluster_name() == Some("prod") && r.next_token().is_none())
        .then_output(|| {
            ListFargateProfilesOutput::builder()
                .fargate_profile_names("fp-system")
                .next_token("t1")
                .build()
        });
    let page2 = mock!(aws_sdk_eks::Client::list_fargate_profiles)
        .match_requests(|r| r.cluster_name() == Some("prod") && r.next_token() == Some("t1"))
        .then_output(|| {
            ListFargateProfilesOutput::builder()
                .fargate_profile_names("fp-monitoring")
                .build()
        });
    let describe = mock!(aws_sdk_eks::Client::describe_fargate_profile)
        .match_requests(|r| r.cluster_name() == Some("prod"))
        .then_compute_output(|r| {
            let name = r.fargate_profile_name().unwrap_or_default();
            let selectors = match name {
                "fp-system" => vec![
                    FargateProfileSelector::builder()
                        .namespace("kube-system")
                        .build(),
                    FargateProfileSelector::builder()
                        .namespace("default")
                        .build(),
                ],
                _ => vec![
                    FargateProfileSelector::builder()
                        .namespace("prom*")
                        .labels("compute", "fargate")
                        .build(),
                ],
            };
            DescribeFargateProfileOutput::builder()
                .fargate_profile(
                    FargateProfile::builder()
                        .fargate_profile_name(name)
                        .cluster_name("prod")
                        .set_selectors(Some(selectors))
                        .build(),
                )
                .build()
        });
    let aws = eks_aws(RuleMode::MatchAny, &[&page1, &page2, &describe]);

    let selectors = aws.fargate_selectors("prod").await.unwrap();
    let got: Vec<(&str, &str, usize)> = selectors
        .iter()
        .map(|s| (s.profile.as_str(), s.namespace.as_str(), s.labels.len()))
        .collect();
    assert_eq!(
        got,
        [
            ("fp-system", "kube-system", 0),
            ("fp-system", "default", 0),
            ("fp-monitoring", "prom*", 1),
        ]
    );
    assert_eq!(
        selectors[2].labels,
        Tags::from([("compute".to_string(), "fargate".to_string())])
    );
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test]
async fn pod_identity_access_denied_names_the_action() {
    let denied = |action: &str| {
        json_error(
            "AccessDeniedException",
            &format!(
                "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: {action}"
            ),
        )
    };
    let list = mock!(aws_sdk_eks::Client::list_pod_identity_associations)
        .sequence()
        .http_status(403, denied("eks:ListPodIdentityAssociations"))
        .build();
    let update = mock!(aws_sdk_eks::Client::update_pod_identity_association)
        .sequence()
        .http_status(403, denied("eks:UpdatePodIdentityAssociation"))
        .build();
    let addon = mock!(aws_sdk_eks::Client::describe_addon)
        .sequence()
        .http_status(403, denied("eks:DescribeAddon"))
        .build();
    let create_addon = mock!(aws_sdk_eks::Client::create_addon)
        .sequence()
        .http_status(403, denied("eks:CreateAddon"))
        .build();
    let profiles = mock!(aws_sdk_eks::Client::list_fargate_profiles)
        .sequence()
        .http_status(403, denied("eks:ListFargateProfiles"))
        .build();
    let aws = eks_aws(
        RuleMode::MatchAny,
        &[&list, &update, &addon, &create_addon, &profiles],
    );

    let errors = [
        aws.pod_identity_associations("prod", "prometheus", SA)
            .await
            .unwrap_err(),
        aws.update_pod_identity_association("prod", "a-1", ROLE_ARN)
            .await
            .unwrap_err(),
        // A denied read is an error, not "not installed".
        aws.addon("prod", "eks-pod-identity-agent")
            .await
            .unwrap_err(),
        aws.create_addon("prod", "eks-pod-identity-agent", &Tags::new())
            .await
            .unwrap_err(),
        aws.fargate_selectors("prod").await.unwrap_err(),
    ];
    let sa_resource = format!("prod prometheus/{SA}");
    for (err, (action, resource)) in errors.iter().zip([
        ("eks:ListPodIdentityAssociations", sa_resource.as_str()),
        ("eks:UpdatePodIdentityAssociation", "prod/a-1"),
        ("eks:DescribeAddon", "prod/eks-pod-identity-agent"),
        ("eks:CreateAddon", "prod/eks-pod-identity-agent"),
        ("eks:ListFargateProfiles", "prod"),
    ]) {
        assert_eq!(err.kind, AwsErrorKind::AccessDenied, "{err}");
        assert_eq!((err.action, err.resource.as_str()), (action, resource));
        assert_eq!(err.code.as_deref(), Some("AccessDeniedException"));
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("Grant the caller {action} on {resource}")),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn eks_invalid_requests_are_invalid() {
    let bad_role = mock!(aws_sdk_eks::Client::create_pod_identity_association)
        .sequence()
        .http_status(
            400,
            json_error("InvalidParameterException", "Invalid Role Arn: 'nope'"),
        )
        .build();
    let not_ready = mock!(aws_sdk_eks::Client::create_addon)
        .sequence()
        .http_status(
            400,
            json_error(
                "InvalidRequestException",
                "Cluster 'prod' is not in ACTIVE status",
            ),
        )
        .build();
    let aws = eks_aws(RuleMode::MatchAny, &[&bad_role, &not_ready]);

    let err = aws
        .create_pod_identity_association("prod", "prometheus", SA, "nope", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Invalid, "{err}");
    assert_eq!(err.message, "Invalid Role Arn: 'nope'");
    let err = aws
        .create_addon("prod", "eks-pod-identity-agent", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Invalid, "{err}");
}

// --- the harness's moto: IAM's trust-policy quota, AMP -------------------------

/// The edge against a harness's moto.
async fn moto_aws(env: &harness::Env) -> SdkAws {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(harness::REGION))
        .endpoint_url(&env.moto_url)
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "aws_edge",
        ))
        .load()
        .await;
    SdkAws::new(&config)
}

/// A minified trust policy of exactly `chars` characters (a Sid pads it).
fn trust_of_length(chars: usize) -> String {
    let doc = |sid: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"}},"Action":"sts:AssumeRoleWithWebIdentity"}}]}}"#,
            harness::ACCOUNT
        )
    };
    let padded = doc(&"S".repeat(chars - doc("S").len() + 1));
    assert_eq!(padded.len(), chars);
    padded
}

/// `document` with whitespace added, which IAM does not count.
fn pretty(document: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(document).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

fn new_role(name: &str, trust: String) -> NewRole {
    NewRole {
        name: name.into(),
        path: "/".into(),
        trust_policy: trust,
        description: "quota check".into(),
        tags: Tags::new(),
        permissions_boundary: None,
    }
}

#[tokio::test]
async fn moto_launcher_reports_and_enforces_the_trust_quota() {
    if std::env::var_os("MOTO_SERVER").is_some() {
        // The override runs that moto as is, without the launcher's quota.
        eprintln!("skipped: MOTO_SERVER is set, so the quota is not emulated");
        return;
    }
    // IAM's default quota.
    let env = harness::Env::start().await;
    let aws = moto_aws(&env).await;
    assert_eq!(aws.trust_policy_quota().await.unwrap(), 2048);
    let at_quota = pretty(&trust_of_length(2048));
    assert!(at_quota.len() > 2048, "whitespace makes it longer");
    aws.create_role(&new_role("at-quota", at_quota))
        .await
        .unwrap();
    let err = aws
        .create_role(&new_role("over-quota", trust_of_length(2049)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::LimitExceeded, "{err}");
    assert_eq!(err.action, "iam:CreateRole");
    assert_eq!(err.resource, "over-quota");
    assert_eq!(err.code.as_deref(), Some("LimitExceeded"));
    assert_eq!(err.message, "Cannot exceed quota for ACLSizePerRole: 2048");
    assert_eq!(aws.role("over-quota").await.unwrap(), None);
    drop(env);

    // A raised quota: reported, and what is enforced.
    let env = harness::Env::start_with_trust_quota(4096).await;
    let aws = moto_aws(&env).await;
    assert_eq!(aws.trust_policy_quota().await.unwrap(), 4096);
    let big = trust_of_length(4096);
    aws.create_role(&new_role("big", big.clone()))
        .await
        .unwrap();
    let err = aws
        .update_trust("big", &trust_of_length(4097))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::LimitExceeded, "{err}");
    assert_eq!(err.action, "iam:UpdateAssumeRolePolicy");
    assert_eq!(err.message, "Cannot exceed quota for ACLSizePerRole: 4096");
    let role = aws.role("big").await.unwrap().expect("role exists");
    assert_eq!(role.trust_policy, big, "the refused update changed nothing");
    let smaller = trust_of_length(3000);
    aws.update_trust("big", &smaller).await.unwrap();
    let role = aws.role("big").await.unwrap().expect("role exists");
    assert_eq!(role.trust_policy, smaller);
    // A missing role is still NoSuchEntity, whatever the document's size.
    let err = aws
        .update_trust("missing", &trust_of_length(5000))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn moto_workspace_create_list_describe_delete() {
    if std::env::var_os("MOTO_SERVER").is_some() {
        // The override runs that moto as is, without the launcher's AMP fixes
        // (CREATING on create, the alias filter as a prefix).
        eprintln!("skipped: MOTO_SERVER is set, so AMP is moto's own");
        return;
    }
    let env = harness::Env::start().await;
    let aws = moto_aws(&env).await;
    let tags = Tags::from([
        ("managed-by".to_string(), "kubectl-amp-iam".to_string()),
        ("team".to_string(), "obs".to_string()),
    ]);

    let created = aws.create_workspace("amp-iam-demo", &tags).await.unwrap();
    assert!(created.id.starts_with("ws-"), "{created:?}");
    assert_eq!(
        created.arn,
        format!(
            "arn:aws:aps:{}:{}:workspace/{}",
            harness::REGION,
            harness::ACCOUNT,
            created.id
        )
    );
    assert_eq!(created.status, "CREATING");
    assert_eq!(created.alias.as_deref(), Some("amp-iam-demo"));
    assert_eq!(created.endpoint, None);
    assert_eq!(created.tags, tags);
    // Its alias starts with the other's: AMP's prefix filter returns both.
    let sibling = aws
        .create_workspace("amp-iam-demo-2", &Tags::new())
        .await
        .unwrap();

    let listed = aws.workspaces(Some("amp-iam-demo")).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, [created.id.as_str()]);
    assert_eq!(listed[0].endpoint, None);
    assert_eq!(listed[0].tags, tags);
    assert_eq!(aws.workspaces(None).await.unwrap().len(), 2);

    let described = aws
        .workspace(&created.id)
        .await
        .unwrap()
        .expect("workspace exists");
    assert_eq!(described.status, "ACTIVE");
    assert_eq!(
        described.endpoint,
        Some(format!(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{}/",
            created.id
        ))
    );
    assert_eq!(described.alias.as_deref(), Some("amp-iam-demo"));
    assert_eq!(described.tags, tags);

    aws.delete_workspace(&created.id).await.unwrap();
    assert_eq!(aws.workspace(&created.id).await.unwrap(), None);
    let err = aws.delete_workspace(&created.id).await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
    let left: Vec<String> = aws
        .workspaces(None)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(left, [sibling.id]);
}

#[tokio::test]
async fn moto_pod_identity_associations_addons_and_fargate_selectors() {
    if std::env::var_os("MOTO_SERVER").is_some() {
        // The override runs that moto as is: it has no Pod Identity or add-on API.
        eprintln!("skipped: MOTO_SERVER is set, so Pod Identity is not emulated");
        return;
    }
    let env = harness::Env::start().await;
    let aws = moto_aws(&env).await;
    let cluster = harness::CLUSTER;
    let role = |name: &str| format!("arn:aws:iam::{}:role/{name}", harness::ACCOUNT);
    let tags = Tags::from([
        ("managed-by".to_string(), "kubectl-amp-iam".to_string()),
        ("team".to_string(), "obs".to_string()),
    ]);

    // Associations: create, one per ServiceAccount, list (filtered), update, delete.
    assert_eq!(
        aws.pod_identity_associations(cluster, "prometheus", "ingest")
            .await
            .unwrap(),
        []
    );
    let created = aws
        .create_pod_identity_association(cluster, "prometheus", "ingest", &role("ingest"), &tags)
        .await
        .unwrap();
    assert!(
        created.id.len() == 19
            && created.id.starts_with("a-")
            && created.id[2..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{created:?}"
    );
    assert_eq!(
        created.arn,
        format!(
            "arn:aws:eks:{}:{}:podidentityassociation/{cluster}/{}",
            harness::REGION,
            harness::ACCOUNT,
            created.id
        )
    );
    assert_eq!(
        (created.role_arn.as_str(), &created.tags),
        (role("ingest").as_str(), &tags)
    );
    let err = aws
        .create_pod_identity_association(cluster, "prometheus", "ingest", &role("other"), &tags)
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AlreadyExists, "{err}");
    assert_eq!(err.code.as_deref(), Some("ResourceInUseException"));
    // Same name in another namespace, another name in the same: not listed.
    aws.create_pod_identity_association(cluster, "other", "ingest", &role("x"), &Tags::new())
        .await
        .unwrap();
    aws.create_pod_identity_association(cluster, "prometheus", "query", &role("q"), &Tags::new())
        .await
        .unwrap();
    let listed = aws
        .pod_identity_associations(cluster, "prometheus", "ingest")
        .await
        .unwrap();
    assert_eq!(
        listed,
        std::slice::from_ref(&created),
        "described: role and tags"
    );

    aws.update_pod_identity_association(cluster, &created.id, &role("newer"))
        .await
        .unwrap();
    let listed = aws
        .pod_identity_associations(cluster, "prometheus", "ingest")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role_arn, role("newer"));
    assert_eq!(listed[0].tags, tags);

    aws.delete_pod_identity_association(cluster, &created.id)
        .await
        .unwrap();
    assert_eq!(
        aws.pod_identity_associations(cluster, "prometheus", "ingest")
            .await
            .unwrap(),
        []
    );
    let err = aws
        .delete_pod_identity_association(cluster, &created.id)
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
    let err = aws
        .update_pod_identity_association(cluster, &created.id, &role("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
    let err = aws
        .pod_identity_associations("missing", "prometheus", "ingest")
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");
    let err = aws
        .create_pod_identity_association("missing", "prometheus", "ingest", &role("x"), &tags)
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");

    // The agent add-on: absent, created (CREATING), then ACTIVE.
    const AGENT: &str = "eks-pod-identity-agent";
    assert_eq!(aws.addon(cluster, AGENT).await.unwrap(), None);
    aws.create_addon(cluster, AGENT, &tags).await.unwrap();
    let addon = aws.addon(cluster, AGENT).await.unwrap().expect("installed");
    assert_eq!(
        (addon.name.as_str(), addon.status.as_str()),
        (AGENT, "ACTIVE")
    );
    assert!(addon.version.is_some(), "{addon:?}");
    let err = aws.create_addon(cluster, AGENT, &tags).await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AlreadyExists, "{err}");
    // EKS answers a missing cluster with the same ResourceNotFoundException
    // (the tool describes the cluster first).
    assert_eq!(aws.addon("missing", AGENT).await.unwrap(), None);

    // Fargate profiles are moto's own.
    assert_eq!(aws.fargate_selectors(cluster).await.unwrap(), []);
    for (name, selectors) in [
        (
            "fp-system",
            vec![
                aws_sdk_eks::types::FargateProfileSelector::builder()
                    .namespace("kube-system")
                    .build(),
            ],
        ),
        (
            "fp-monitoring",
            vec![
                aws_sdk_eks::types::FargateProfileSelector::builder()
                    .namespace("prom*")
                    .labels("compute", "fargate")
                    .build(),
                aws_sdk_eks::types::FargateProfileSelector::builder()
                    .namespace("grafana")
                    .build(),
            ],
        ),
    ] {
        env.eks
            .create_fargate_profile()
            .cluster_name(cluster)
            .fargate_profile_name(name)
            .pod_execution_role_arn(role("AmazonEKSFargatePodExecutionRole"))
            .set_selectors(Some(selectors))
            .send()
            .await
            .expect("create the Fargate profile in moto");
    }
    let mut got: Vec<(String, String, Tags)> = aws
        .fargate_selectors(cluster)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.profile, s.namespace, s.labels))
        .collect();
    got.sort();
    let labels = Tags::from([("compute".to_string(), "fargate".to_string())]);
    assert_eq!(
        got,
        [
            ("fp-monitoring".into(), "grafana".into(), Tags::new()),
            ("fp-monitoring".into(), "prom*".into(), labels),
            ("fp-system".into(), "kube-system".into(), Tags::new()),
        ]
    );
    let err = aws.fargate_selectors("missing").await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NotFound, "{err}");

    // What the harness records of these REST calls: method and path.
    let calls = env.aws_calls();
    let base = format!("clusters/{cluster}");
    for call in [
        format!("POST {base}/pod-identity-associations"),
        format!("GET {base}/pod-identity-associations?"),
        format!("GET {base}/pod-identity-associations/{}", created.id),
        format!("POST {base}/pod-identity-associations/{}", created.id),
        format!("DELETE {base}/pod-identity-associations/{}", created.id),
        format!("GET {base}/addons/{AGENT}"),
        format!("POST {base}/addons"),
        format!("GET {base}/fargate-profiles"),
    ] {
        assert!(
            calls.iter().any(|c| c.starts_with(&call)),
            "{call}: {calls:#?}"
        );
    }
    let writes = env.aws_writes();
    assert!(
        writes.contains(&format!(
            "DELETE {base}/pod-identity-associations/{}",
            created.id
        )) && writes.contains(&format!("POST {base}/addons")),
        "{writes:#?}"
    );
}

#[tokio::test]
async fn moto_launcher_preinstalls_the_addons_it_is_told() {
    if std::env::var_os("MOTO_SERVER").is_some() {
        eprintln!("skipped: MOTO_SERVER is set, so add-ons are not emulated");
        return;
    }
    let env = harness::Env::start_with(harness::EnvOptions {
        addons: vec!["eks-pod-identity-agent".into(), "vpc-cni".into()],
        ..harness::EnvOptions::default()
    })
    .await;
    let aws = moto_aws(&env).await;
    for name in ["eks-pod-identity-agent", "vpc-cni"] {
        let addon = aws
            .addon(harness::CLUSTER, name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} pre-installed"));
        assert_eq!(addon.status, "ACTIVE");
    }
    assert_eq!(aws.addon(harness::CLUSTER, "coredns").await.unwrap(), None);
    // On clusters created later too.
    env.create_cluster("second").await;
    assert!(
        aws.addon("second", "eks-pod-identity-agent")
            .await
            .unwrap()
            .is_some()
    );
    let err = aws
        .create_addon(harness::CLUSTER, "vpc-cni", &Tags::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::AlreadyExists, "{err}");
}
