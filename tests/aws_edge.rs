//! The SDK edge (`SdkAws`) against aws-smithy-mocks clients: request shapes,
//! decoding, pagination, error mapping and retries.
//!
//! Errors are mostly mocked as raw HTTP responses in each service's wire
//! format, so the SDK's own deserialisation (and the error code it extracts)
//! is exercised, as in production.

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
    )
}

fn eks_aws(mode: RuleMode, rules: &[&Rule]) -> SdkAws {
    SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, mode, rules),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, &[] as &[&Rule]),
    )
}

fn sts_aws(rules: &[&Rule]) -> SdkAws {
    SdkAws::from_clients(
        mock_client!(aws_sdk_iam, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_eks, RuleMode::Sequential, &[] as &[&Rule]),
        mock_client!(aws_sdk_sts, RuleMode::Sequential, rules),
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

/// An EKS (restJson1) error response body.
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

    let policies = aws.local_policies().await.unwrap();
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
