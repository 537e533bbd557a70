//! ARNs, built for the caller's partition (`aws`, `aws-cn`, `aws-us-gov`, …).

use crate::aws::Caller;
use serde::Serialize;

/// Account-scoped ARN builder. The partition comes from the caller's ARN, never
/// assumed, so every ARN the tool writes is right in China and GovCloud too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub partition: String,
}

/// The partition of an ARN (`arn:<partition>:…`), if it is one.
pub fn partition_of(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some("arn"), Some(p)) if !p.is_empty() => Some(p),
        _ => None,
    }
}

/// The partition a region belongs to (`cn-…` China, `us-gov-…` GovCloud,
/// `us-iso…` the isolated ones), for ARNs built before any AWS answer.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// IAM paths are `/` or `/a/b/`; a name goes right after the path.
fn with_path(path: &str, name: &str) -> String {
    format!("{path}{name}")
}

impl Account {
    /// The caller's account, in the partition its ARN names (`aws` if unreadable).
    pub fn of_caller(caller: &Caller) -> Account {
        Account {
            id: caller.account.clone(),
            partition: partition_of(&caller.arn).unwrap_or("aws").to_string(),
        }
    }

    pub fn iam(&self, resource: &str) -> String {
        format!("arn:{}:iam::{}:{resource}", self.partition, self.id)
    }
    pub fn role(&self, path: &str, name: &str) -> String {
        self.iam(&format!("role{}", with_path(path, name)))
    }
    pub fn policy(&self, path: &str, name: &str) -> String {
        self.iam(&format!("policy{}", with_path(path, name)))
    }
    /// `host_path` is the issuer without `https://`.
    pub fn oidc_provider(&self, host_path: &str) -> String {
        self.iam(&format!("oidc-provider/{host_path}"))
    }
    /// An AWS managed policy, e.g. `AmazonEKSFargatePodExecutionRolePolicy`.
    pub fn aws_managed_policy(&self, name: &str) -> String {
        format!("arn:{}:iam::aws:policy/{name}", self.partition)
    }
    pub fn amp_workspace(&self, region: &str, workspace: &str) -> String {
        format!(
            "arn:{}:aps:{region}:{}:workspace/{workspace}",
            self.partition, self.id
        )
    }
    /// The Fargate profiles of a cluster; `*` may stand for region or cluster.
    pub fn fargate_profiles(&self, region: &str, cluster: &str) -> String {
        format!(
            "arn:{}:eks:{region}:{}:fargateprofile/{cluster}/*",
            self.partition, self.id
        )
    }
}

/// The issuer without its scheme: the OIDC provider's "host path" used in
/// provider ARNs and trust condition keys.
pub fn issuer_host_path(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://")
        .unwrap_or(issuer)
        .trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_of_regions() {
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("us-iso-east-1"), "aws-iso");
    }

    fn acct(p: &str) -> Account {
        Account {
            id: "111122223333".into(),
            partition: p.into(),
        }
    }

    #[test]
    fn arns_use_the_callers_partition() {
        for p in ["aws", "aws-cn", "aws-us-gov"] {
            let a = acct(p);
            assert_eq!(
                a.role("/", "r"),
                format!("arn:{p}:iam::111122223333:role/r")
            );
            assert_eq!(
                a.policy("/team/", "P"),
                format!("arn:{p}:iam::111122223333:policy/team/P")
            );
            assert_eq!(
                a.aws_managed_policy("AmazonEKSFargatePodExecutionRolePolicy"),
                format!("arn:{p}:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy")
            );
            assert_eq!(
                a.fargate_profiles("*", "demo"),
                format!("arn:{p}:eks:*:111122223333:fargateprofile/demo/*")
            );
            assert_eq!(
                a.amp_workspace("us-east-1", "ws-1"),
                format!("arn:{p}:aps:us-east-1:111122223333:workspace/ws-1")
            );
        }
    }

    #[test]
    fn china_issuer_host_path() {
        let issuer = "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABCDEF";
        let host = issuer_host_path(issuer);
        assert_eq!(host, "oidc.eks.cn-north-1.amazonaws.com.cn/id/ABCDEF");
        assert_eq!(
            acct("aws-cn").oidc_provider(host),
            "arn:aws-cn:iam::111122223333:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/ABCDEF"
        );
    }

    #[test]
    fn partition_from_caller_arn() {
        assert_eq!(
            partition_of("arn:aws-us-gov:iam::1:user/x"),
            Some("aws-us-gov")
        );
        assert_eq!(
            partition_of("arn:aws-cn:sts::1:assumed-role/r/s"),
            Some("aws-cn")
        );
        assert_eq!(partition_of("nonsense"), None);
        assert_eq!(partition_of("arn::x"), None);
    }
}
