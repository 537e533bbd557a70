//! AWS SDK implementation of [`super::Aws`].
//!
//! Every call maps its SDK error through [`sdk_err`], which names the IAM
//! action and the resource so a failure tells the operator what to grant.
//! Those action literals are also what `tests/permissions.rs` checks the
//! operator policy against.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::types::{PolicyScopeType, Tag};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::future::try_join_all;
use percent_encoding::percent_decode_str;

use super::{
    Addon, AttachedPolicy, Aws, AwsError, AwsErrorKind, Caller, EksCluster, FargateSelector,
    NewRole, NodegroupRole, OidcProvider, PodIdentityAssociation, PolicyEntities, PolicySummary,
    PolicyVersion, Role, RoleTrust, Tags, Workspace,
};

/// Attempts per call: enough to ride out IAM's low throttling limits with the
/// SDK's exponential backoff, bounded so a dead endpoint fails in minutes.
const MAX_ATTEMPTS: u32 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// ListPolicies' maximum page size: fewer round trips in busy accounts.
const LIST_POLICIES_PAGE: i32 = 1000;
/// What GetAccountSummary omits: IAM's default quota for a role trust policy.
const DEFAULT_TRUST_QUOTA: i32 = 2048;

/// [`Aws`] backed by the AWS SDK clients for IAM, EKS, STS and AMP.
#[derive(Clone)]
pub struct SdkAws {
    iam: aws_sdk_iam::Client,
    eks: aws_sdk_eks::Client,
    sts: aws_sdk_sts::Client,
    amp: aws_sdk_amp::Client,
}

impl SdkAws {
    /// Clients from one shared config (so one retry and timeout policy), and so
    /// `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_IAM` / `_EKS` /
    /// `_STS` / `_AMP` are honoured.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            iam: aws_sdk_iam::Client::new(config),
            eks: aws_sdk_eks::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            amp: aws_sdk_amp::Client::new(config),
        }
    }

    /// From ready-made clients (tests use mock clients).
    pub fn from_clients(
        iam: aws_sdk_iam::Client,
        eks: aws_sdk_eks::Client,
        sts: aws_sdk_sts::Client,
        amp: aws_sdk_amp::Client,
    ) -> Self {
        Self { iam, eks, sts, amp }
    }

    /// The standard credential/region chain, optionally pinned to a profile and
    /// region, with bounded retries (throttling and 5xx back off) and timeouts
    /// so an unreachable endpoint cannot hang the tool.
    pub async fn load_config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(profile) = profile {
            // A named profile's own credentials: the default chain would take
            // AWS_ACCESS_KEY_ID from the environment first, and act in that
            // account while the run says it uses the profile.
            let credentials = ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build();
            loader = loader
                .profile_name(profile)
                .credentials_provider(credentials);
        }
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        loader.load().await
    }
}

impl Aws for SdkAws {
    async fn caller(&self) -> Result<Caller, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(sdk_err("sts:GetCallerIdentity", "*"))?;
        Ok(Caller {
            account: out.account().unwrap_or_default().to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }

    async fn cluster(&self, name: &str) -> Result<Option<EksCluster>, AwsError> {
        let out = self
            .eks
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(sdk_err("eks:DescribeCluster", name))
            .found()?;
        Ok(out.as_ref().and_then(|o| o.cluster()).map(|c| EksCluster {
            name: c.name().unwrap_or(name).to_owned(),
            arn: c.arn().unwrap_or_default().to_owned(),
            issuer: c
                .identity()
                .and_then(|i| i.oidc())
                .and_then(|o| o.issuer())
                .map(str::to_owned),
            status: c
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            endpoint: c.endpoint().map(str::to_owned),
        }))
    }

    async fn nodegroup_roles(&self, cluster: &str) -> Result<Vec<NodegroupRole>, AwsError> {
        let names = self
            .eks
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("eks:ListNodegroups", cluster))?;
        let described = try_join_all(names.iter().map(|ng| async move {
            self.eks
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(ng)
                .send()
                .await
                .map_err(sdk_err("eks:DescribeNodegroup", format!("{cluster}/{ng}")))
                // A node group deleted between the list and the describe is simply gone.
                .found()
        }))
        .await?;
        Ok(names
            .iter()
            .zip(described)
            .filter_map(|(name, out)| {
                // Every managed node group has an instance role; one without
                // (never seen in practice) has nothing to report.
                let role = out?.nodegroup()?.node_role()?.to_owned();
                Some(NodegroupRole {
                    nodegroup: name.clone(),
                    role_arn: role,
                })
            })
            .collect())
    }

    async fn oidc_provider_arns(&self) -> Result<Vec<String>, AwsError> {
        let out = self
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(sdk_err("iam:ListOpenIDConnectProviders", "*"))?;
        Ok(out
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn().map(str::to_owned))
            .collect())
    }

    async fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>, AwsError> {
        let out = self
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(sdk_err("iam:GetOpenIDConnectProvider", arn))
            .found()?;
        Ok(out.map(|o| OidcProvider {
            arn: arn.to_owned(),
            client_ids: o.client_id_list().to_vec(),
            tags: tag_map(o.tags()),
        }))
    }

    async fn role(&self, name: &str) -> Result<Option<Role>, AwsError> {
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(sdk_err("iam:GetRole", name))
            .found()?;
        Ok(out.as_ref().and_then(|o| o.role()).map(|r| Role {
            name: r.role_name().to_owned(),
            arn: r.arn().to_owned(),
            path: r.path().to_owned(),
            trust_policy: url_decode(r.assume_role_policy_document().unwrap_or_default()),
            tags: tag_map(r.tags()),
        }))
    }

    async fn attached_policies(&self, role: &str) -> Result<Vec<AttachedPolicy>, AwsError> {
        let policies = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("iam:ListAttachedRolePolicies", role))
            .found()?
            .unwrap_or_default();
        Ok(policies
            .iter()
            .map(|p| AttachedPolicy {
                name: p.policy_name().unwrap_or_default().to_owned(),
                arn: p.policy_arn().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    async fn role_trusts(&self) -> Result<Vec<RoleTrust>, AwsError> {
        let roles = self
            .iam
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("iam:ListRoles", "*"))?;
        Ok(roles
            .iter()
            .map(|r| RoleTrust {
                name: r.role_name().to_owned(),
                trust_policy: url_decode(r.assume_role_policy_document().unwrap_or_default()),
            })
            .collect())
    }

    async fn local_policies(&self, path_prefix: &str) -> Result<Vec<PolicySummary>, AwsError> {
        let policies = self
            .iam
            .list_policies()
            .scope(PolicyScopeType::Local)
            .path_prefix(path_prefix)
            .max_items(LIST_POLICIES_PAGE)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("iam:ListPolicies", "*"))?;
        Ok(policies
            .iter()
            .map(|p| PolicySummary {
                name: p.policy_name().unwrap_or_default().to_owned(),
                arn: p.arn().unwrap_or_default().to_owned(),
                path: p.path().unwrap_or_default().to_owned(),
                default_version: p.default_version_id().unwrap_or_default().to_owned(),
                attachment_count: p.attachment_count().unwrap_or_default(),
            })
            .collect())
    }

    async fn policy_document(&self, arn: &str, version: &str) -> Result<String, AwsError> {
        let out = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(sdk_err("iam:GetPolicyVersion", arn))?;
        let document = out
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default();
        Ok(url_decode(document))
    }

    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        let versions = self
            .iam
            .list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("iam:ListPolicyVersions", arn))?;
        Ok(versions
            .iter()
            .map(|v| PolicyVersion {
                id: v.version_id().unwrap_or_default().to_owned(),
                is_default: v.is_default_version(),
                created: v.create_date().map(|d| d.secs()).unwrap_or_default(),
            })
            .collect())
    }

    async fn policy_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let tags = self
            .iam
            .list_policy_tags()
            .policy_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("iam:ListPolicyTags", arn))?;
        Ok(tag_map(&tags))
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<PolicySummary>, AwsError> {
        let out = self
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(sdk_err("iam:GetPolicy", arn))
            .found()?;
        Ok(out
            .as_ref()
            .and_then(|o| o.policy())
            .map(|p| PolicySummary {
                name: p.policy_name().unwrap_or_default().to_owned(),
                arn: p.arn().unwrap_or(arn).to_owned(),
                path: p.path().unwrap_or_default().to_owned(),
                default_version: p.default_version_id().unwrap_or_default().to_owned(),
                attachment_count: p.attachment_count().unwrap_or_default(),
            }))
    }

    async fn policy_entities(&self, arn: &str) -> Result<PolicyEntities, AwsError> {
        const ACTION: &str = "iam:ListEntitiesForPolicy";
        let mut entities = PolicyEntities::default();
        let mut pages = self
            .iam
            .list_entities_for_policy()
            .policy_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err(ACTION, arn))?;
            entities.roles.extend(
                page.policy_roles()
                    .iter()
                    .filter_map(|r| r.role_name().map(str::to_owned)),
            );
            entities.users.extend(
                page.policy_users()
                    .iter()
                    .filter_map(|u| u.user_name().map(str::to_owned)),
            );
            entities.groups.extend(
                page.policy_groups()
                    .iter()
                    .filter_map(|g| g.group_name().map(str::to_owned)),
            );
        }
        Ok(entities)
    }

    async fn trust_policy_quota(&self) -> Result<usize, AwsError> {
        const ACTION: &str = "iam:GetAccountSummary";
        let out = self
            .iam
            .get_account_summary()
            .send()
            .await
            .map_err(sdk_err(ACTION, "*"))?;
        let quota = out
            .summary_map()
            // Not one of the SDK's SummaryKeyType variants: matched by name.
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.as_str() == "AssumeRolePolicySizeQuota")
                    .map(|(_, v)| *v)
            })
            .unwrap_or(DEFAULT_TRUST_QUOTA);
        Ok(usize::try_from(quota).unwrap_or(crate::policy::TRUST_POLICY_LIMIT))
    }

    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, AwsError> {
        let out = self
            .amp
            .describe_workspace()
            .workspace_id(id)
            .send()
            .await
            .map_err(sdk_err("aps:DescribeWorkspace", id))
            .found()?;
        Ok(out.as_ref().and_then(|o| o.workspace()).map(|w| Workspace {
            id: w.workspace_id().to_owned(),
            alias: w.alias().map(str::to_owned),
            arn: w.arn().to_owned(),
            status: workspace_status(w.status()),
            endpoint: w.prometheus_endpoint().map(str::to_owned),
            tags: map_tags(w.tags()),
        }))
    }

    async fn workspaces(&self, alias: Option<&str>) -> Result<Vec<Workspace>, AwsError> {
        // AMP filters by alias prefix (and trims it, as it trims aliases on
        // create): the exact match is kept here. An empty alias, which AMP
        // would refuse as a filter, matches nothing.
        let alias = alias.map(str::trim);
        let summaries = self
            .amp
            .list_workspaces()
            .set_alias(alias.filter(|a| !a.is_empty()).map(str::to_owned))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("aps:ListWorkspaces", "*"))?;
        Ok(summaries
            .iter()
            .filter(|w| alias.is_none() || w.alias() == alias)
            .map(|w| Workspace {
                id: w.workspace_id().to_owned(),
                alias: w.alias().map(str::to_owned),
                arn: w.arn().to_owned(),
                status: workspace_status(w.status()),
                endpoint: None,
                tags: map_tags(w.tags()),
            })
            .collect())
    }

    async fn create_workspace(&self, alias: &str, tags: &Tags) -> Result<Workspace, AwsError> {
        let out = self
            .amp
            .create_workspace()
            .alias(alias)
            // Tags only when there are some: tagging on create is what needs aps:TagResource.
            .set_tags((!tags.is_empty()).then(|| tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(sdk_err("aps:CreateWorkspace", alias))?;
        Ok(Workspace {
            id: out.workspace_id().to_owned(),
            alias: Some(alias.trim().to_owned()),
            arn: out.arn().to_owned(),
            status: workspace_status(out.status()),
            // Not in CreateWorkspace's answer: DescribeWorkspace gives it.
            endpoint: None,
            tags: out
                .tags()
                .map_or_else(|| tags.clone(), |t| map_tags(Some(t))),
        })
    }

    async fn delete_workspace(&self, id: &str) -> Result<(), AwsError> {
        self.amp
            .delete_workspace()
            .workspace_id(id)
            .send()
            .await
            .map_err(sdk_err("aps:DeleteWorkspace", id))?;
        Ok(())
    }

    async fn pod_identity_associations(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Vec<PodIdentityAssociation>, AwsError> {
        let who = format!("{cluster} {namespace}/{service_account}");
        let summaries = self
            .eks
            .list_pod_identity_associations()
            .cluster_name(cluster)
            .namespace(namespace)
            .service_account(service_account)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("eks:ListPodIdentityAssociations", who))?;
        // Summaries carry neither the role nor the tags: each is described.
        let ids: Vec<&str> = summaries
            .iter()
            .filter_map(|s| s.association_id())
            .collect();
        let described = try_join_all(ids.iter().map(|&id| async move {
            self.eks
                .describe_pod_identity_association()
                .cluster_name(cluster)
                .association_id(id)
                .send()
                .await
                .map_err(sdk_err(
                    "eks:DescribePodIdentityAssociation",
                    format!("{cluster}/{id}"),
                ))
                // Deleted between the list and the describe: simply gone.
                .found()
        }))
        .await?;
        Ok(ids
            .iter()
            .zip(described)
            .filter_map(|(&id, out)| Some(association(out?.association()?, id)))
            .collect())
    }

    async fn create_pod_identity_association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        role_arn: &str,
        tags: &Tags,
    ) -> Result<PodIdentityAssociation, AwsError> {
        const ACTION: &str = "eks:CreatePodIdentityAssociation";
        let who = format!("{cluster} {namespace}/{service_account}");
        // The SDK fills clientRequestToken, so a retried create is not a duplicate.
        let out = self
            .eks
            .create_pod_identity_association()
            .cluster_name(cluster)
            .namespace(namespace)
            .service_account(service_account)
            .role_arn(role_arn)
            // Tags only when there are some: tagging on create needs eks:TagResource.
            .set_tags((!tags.is_empty()).then(|| tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(sdk_err(ACTION, who.as_str()))?;
        out.association()
            .map(|a| association(a, ""))
            .ok_or_else(|| {
                AwsError::new(
                    ACTION,
                    who,
                    AwsErrorKind::Other,
                    None,
                    "the answer has no association",
                )
            })
    }

    async fn update_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
        role_arn: &str,
    ) -> Result<(), AwsError> {
        self.eks
            .update_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .role_arn(role_arn)
            .send()
            .await
            .map_err(sdk_err(
                "eks:UpdatePodIdentityAssociation",
                format!("{cluster}/{id}"),
            ))?;
        Ok(())
    }

    async fn delete_pod_identity_association(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<(), AwsError> {
        self.eks
            .delete_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .send()
            .await
            .map_err(sdk_err(
                "eks:DeletePodIdentityAssociation",
                format!("{cluster}/{id}"),
            ))?;
        Ok(())
    }

    async fn addon(&self, cluster: &str, name: &str) -> Result<Option<Addon>, AwsError> {
        let out = self
            .eks
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
            .map_err(sdk_err("eks:DescribeAddon", format!("{cluster}/{name}")))
            .found()?;
        Ok(out.as_ref().and_then(|o| o.addon()).map(|a| Addon {
            name: a.addon_name().unwrap_or(name).to_owned(),
            status: a
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            version: a.addon_version().map(str::to_owned),
        }))
    }

    async fn create_addon(&self, cluster: &str, name: &str, tags: &Tags) -> Result<(), AwsError> {
        // No version: EKS installs its default for the cluster's Kubernetes version.
        self.eks
            .create_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .set_tags((!tags.is_empty()).then(|| tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(sdk_err("eks:CreateAddon", format!("{cluster}/{name}")))?;
        Ok(())
    }

    async fn fargate_selectors(&self, cluster: &str) -> Result<Vec<FargateSelector>, AwsError> {
        let names = self
            .eks
            .list_fargate_profiles()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("eks:ListFargateProfiles", cluster))?;
        let described = try_join_all(names.iter().map(|profile| async move {
            self.eks
                .describe_fargate_profile()
                .cluster_name(cluster)
                .fargate_profile_name(profile)
                .send()
                .await
                .map_err(sdk_err(
                    "eks:DescribeFargateProfile",
                    format!("{cluster}/{profile}"),
                ))
                // Deleted between the list and the describe: simply gone.
                .found()
        }))
        .await?;
        Ok(names
            .iter()
            .zip(described)
            .flat_map(|(profile, out)| {
                let selectors = out
                    .and_then(|o| o.fargate_profile)
                    .and_then(|p| p.selectors)
                    .unwrap_or_default();
                selectors.into_iter().map(move |s| FargateSelector {
                    profile: profile.clone(),
                    namespace: s.namespace.unwrap_or_default(),
                    labels: s
                        .labels
                        .map(|l| l.into_iter().collect())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn create_oidc_provider(
        &self,
        url: &str,
        client_ids: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const ACTION: &str = "iam:CreateOpenIDConnectProvider";
        // No thumbprint: IAM trusts the issuer's certificate chain itself.
        let out = self
            .iam
            .create_open_id_connect_provider()
            .url(url)
            .set_client_id_list(Some(client_ids.to_vec()))
            .set_tags(Some(iam_tags(tags, ACTION, url)?))
            .send()
            .await
            .map_err(sdk_err(ACTION, url))?;
        Ok(out
            .open_id_connect_provider_arn()
            .unwrap_or_default()
            .to_owned())
    }

    async fn add_oidc_client_id(&self, arn: &str, client_id: &str) -> Result<(), AwsError> {
        self.iam
            .add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .client_id(client_id)
            .send()
            .await
            .map_err(sdk_err("iam:AddClientIDToOpenIDConnectProvider", arn))?;
        Ok(())
    }

    async fn delete_oidc_provider(&self, arn: &str) -> Result<(), AwsError> {
        self.iam
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(sdk_err("iam:DeleteOpenIDConnectProvider", arn))?;
        Ok(())
    }

    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        const ACTION: &str = "iam:CreatePolicy";
        let out = self
            .iam
            .create_policy()
            .policy_name(name)
            .path(path)
            .policy_document(document)
            .set_tags(Some(iam_tags(tags, ACTION, name)?))
            .send()
            .await
            .map_err(sdk_err(ACTION, name))?;
        Ok(out
            .policy()
            .and_then(|p| p.arn())
            .unwrap_or_default()
            .to_owned())
    }

    async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        self.iam
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document)
            .set_as_default(true)
            .send()
            .await
            .map_err(sdk_err("iam:CreatePolicyVersion", arn))?;
        Ok(())
    }

    async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        self.iam
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(sdk_err("iam:DeletePolicyVersion", arn))?;
        Ok(())
    }

    async fn delete_policy(&self, arn: &str) -> Result<(), AwsError> {
        self.iam
            .delete_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(sdk_err("iam:DeletePolicy", arn))?;
        Ok(())
    }

    async fn create_role(&self, role: &NewRole) -> Result<String, AwsError> {
        const ACTION: &str = "iam:CreateRole";
        let out = self
            .iam
            .create_role()
            .role_name(&role.name)
            .path(&role.path)
            .assume_role_policy_document(&role.trust_policy)
            .description(&role.description)
            .set_tags(Some(iam_tags(&role.tags, ACTION, &role.name)?))
            .set_permissions_boundary(role.permissions_boundary.clone())
            .send()
            .await
            .map_err(sdk_err(ACTION, &role.name))?;
        Ok(out.role().map(|r| r.arn().to_owned()).unwrap_or_default())
    }

    async fn update_trust(&self, role: &str, document: &str) -> Result<(), AwsError> {
        self.iam
            .update_assume_role_policy()
            .role_name(role)
            .policy_document(document)
            .send()
            .await
            .map_err(sdk_err("iam:UpdateAssumeRolePolicy", role))?;
        Ok(())
    }

    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        self.iam
            .delete_role()
            .role_name(role)
            .send()
            .await
            .map_err(sdk_err("iam:DeleteRole", role))?;
        Ok(())
    }

    async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(sdk_err("iam:AttachRolePolicy", role))?;
        Ok(())
    }

    async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.iam
            .detach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(sdk_err("iam:DetachRolePolicy", role))?;
        Ok(())
    }
}

/// For reads where absence is a normal observation: NotFound becomes `None`.
trait FoundExt<T> {
    fn found(self) -> Result<Option<T>, AwsError>;
}

impl<T> FoundExt<T> for Result<T, AwsError> {
    fn found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind == AwsErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A `map_err` adapter: turns an SDK error of `action` on `resource` into an [`AwsError`].
fn sdk_err<E>(
    action: &'static str,
    resource: impl Into<String>,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    move |err| to_aws_error(action, resource.into(), &err)
}

fn to_aws_error<E>(
    action: &'static str,
    resource: String,
    err: &SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let meta = err.as_service_error();
            let code = meta.and_then(|e| e.code()).map(str::to_owned);
            let kind = match code.as_deref().map(kind_for_code) {
                Some(kind) if kind != AwsErrorKind::Other => kind,
                // Unmodelled codes (or an unparseable body): fall back on the status.
                _ => match status {
                    Some(429) => AwsErrorKind::Throttled,
                    Some(s) if s >= 500 => AwsErrorKind::Unavailable,
                    _ => AwsErrorKind::Other,
                },
            };
            let message = match (meta.and_then(|e| e.message()), status) {
                (Some(m), _) if !m.is_empty() => m.to_owned(),
                (_, Some(s)) => format!("HTTP {s}: {}", source_chain(err)),
                _ => source_chain(err),
            };
            AwsError::new(action, resource, kind, code, message)
        }
        // No response: the request was never built, never sent, or timed out.
        // Missing or expired credentials surface here (identity resolution
        // happens before sending), recognisable only by their messages.
        _ => {
            let message = source_chain(err);
            let kind = if mentions_credentials(&message) {
                AwsErrorKind::Credentials
            } else if matches!(
                err,
                SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
            ) {
                AwsErrorKind::Unavailable
            } else {
                AwsErrorKind::Other
            };
            AwsError::new(action, resource, kind, None, message)
        }
    }
}

/// The tool's view of a service error code (IAM, EKS, STS and AMP spell them differently).
fn kind_for_code(code: &str) -> AwsErrorKind {
    use AwsErrorKind::*;
    match code {
        "NoSuchEntity" | "NoSuchEntityException" | "ResourceNotFoundException" => NotFound,
        // EKS's ResourceInUseException: e.g. a second Pod Identity association
        // for a ServiceAccount, or an add-on already installed.
        "EntityAlreadyExists" | "EntityAlreadyExistsException" | "ResourceInUseException" => {
            AlreadyExists
        }
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnauthorizedException" => AccessDenied,
        "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidAccessKeyId"
        | "IncompleteSignature" => Credentials,
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => Throttled,
        "MalformedPolicyDocument"
        | "MalformedPolicyDocumentException"
        | "ValidationError"
        | "InvalidInput"
        | "InvalidInputException"
        | "InvalidParameterException"
        | "InvalidRequestException"
        | "ValidationException" => Invalid,
        "LimitExceeded" | "LimitExceededException" | "ServiceQuotaExceededException" => {
            LimitExceeded
        }
        // AMP's ConflictException: the workspace is mid-transition (e.g.
        // deleted while still CREATING); aliases need not be unique, so it
        // never means AlreadyExists.
        "ConcurrentModification" | "ConcurrentModificationException" | "ConflictException" => {
            ConcurrentModification
        }
        "ServiceFailure"
        | "ServiceFailureException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "ServerException"
        | "InternalServerException"
        | "InternalFailure" => Unavailable,
        _ => Other,
    }
}

/// Credential problems before dispatch only show in the error text: "no
/// providers in chain provided credentials", "no identity resolver", ...
fn mentions_credentials(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("credential") || m.contains("identity resolver")
}

/// A short Display of the error and its sources ("dispatch failure: io error:
/// connection refused"). Display only: Debug could print requests and headers.
fn source_chain(err: &(dyn StdError + 'static)) -> String {
    const MAX_DEPTH: usize = 6;
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current.take() {
        let text = e.to_string();
        // Wrappers often repeat their source's text; keep each piece once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        if parts.len() >= MAX_DEPTH {
            break;
        }
        current = e.source();
    }
    parts.join(": ")
}

/// IAM returns policy documents RFC 3986 URL-encoded.
fn url_decode(document: &str) -> String {
    percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// AMP's and EKS's tags are a plain map (absent when the resource has none).
fn map_tags(tags: Option<&std::collections::HashMap<String, String>>) -> Tags {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// An association as EKS describes it; `id` stands in for an answer without one.
fn association(a: &aws_sdk_eks::types::PodIdentityAssociation, id: &str) -> PodIdentityAssociation {
    PodIdentityAssociation {
        id: a.association_id().unwrap_or(id).to_owned(),
        arn: a.association_arn().unwrap_or_default().to_owned(),
        namespace: a.namespace().unwrap_or_default().to_owned(),
        service_account: a.service_account().unwrap_or_default().to_owned(),
        role_arn: a.role_arn().unwrap_or_default().to_owned(),
        tags: map_tags(a.tags()),
    }
}

/// The API's `statusCode` string (`ACTIVE`, `CREATING`, ...); empty when absent.
fn workspace_status(status: Option<&aws_sdk_amp::types::WorkspaceStatus>) -> String {
    status
        .map(|s| s.status_code().as_str().to_owned())
        .unwrap_or_default()
}

fn iam_tags(tags: &Tags, action: &'static str, resource: &str) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(key, value)| {
            Tag::builder().key(key).value(value).build().map_err(|e| {
                AwsError::new(
                    action,
                    resource,
                    AwsErrorKind::Invalid,
                    None,
                    format!("bad tag {key:?}: {e}"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_all_four_services_map_to_kinds() {
        use AwsErrorKind::*;
        for (code, kind) in [
            ("NoSuchEntity", NotFound),
            ("ResourceNotFoundException", NotFound),
            ("EntityAlreadyExists", AlreadyExists),
            ("AccessDeniedException", AccessDenied),
            ("ExpiredToken", Credentials),
            ("InvalidClientTokenId", Credentials),
            ("ThrottlingException", Throttled),
            ("MalformedPolicyDocument", Invalid),
            ("LimitExceeded", LimitExceeded),
            ("ConcurrentModification", ConcurrentModification),
            ("ServiceFailure", Unavailable),
            ("DeleteConflict", Other),
            // AMP's.
            ("ValidationException", Invalid),
            ("ConflictException", ConcurrentModification),
            ("ServiceQuotaExceededException", LimitExceeded),
            ("InternalServerException", Unavailable),
            // EKS's.
            ("ResourceInUseException", AlreadyExists),
            ("InvalidParameterException", Invalid),
            ("InvalidRequestException", Invalid),
            ("ServerException", Unavailable),
        ] {
            assert_eq!(kind_for_code(code), kind, "{code}");
        }
    }

    #[test]
    fn url_decode_survives_invalid_utf8() {
        assert_eq!(url_decode("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(url_decode("a%FFb"), "a\u{FFFD}b");
    }

    #[test]
    fn found_turns_only_not_found_into_none() {
        let err = |kind| AwsError::new("iam:GetRole", "r", kind, None, "m");
        assert_eq!(Ok::<_, AwsError>(1).found(), Ok(Some(1)));
        assert_eq!(Err::<i32, _>(err(AwsErrorKind::NotFound)).found(), Ok(None));
        assert_eq!(
            Err::<i32, _>(err(AwsErrorKind::AccessDenied)).found(),
            Err(err(AwsErrorKind::AccessDenied))
        );
    }

    #[test]
    fn credential_failures_are_recognised_by_their_text() {
        assert!(mentions_credentials(
            "dispatch failure: other: no providers in chain provided credentials"
        ));
        assert!(!mentions_credentials(
            "dispatch failure: io error: Connection refused (os error 111)"
        ));
    }
}
