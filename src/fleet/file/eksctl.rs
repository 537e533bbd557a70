//! An eksctl `ClusterConfig` (`kind: ClusterConfig`, `apiVersion: eksctl.io/…`): its
//! IRSA ServiceAccounts and Pod Identity associations that attach an AMP managed policy
//! become entries; what says more than the tool can carry (inline policies, other ARNs,
//! an existing role, …) is refused; ServiceAccounts not about AMP are skipped with a
//! note; the rest of the config is ignored.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::{Location, Spanned};

use super::location::{Ctx, Item, Keyed, RawTags, Str};
use super::{FleetEntry, Parsed, RawDoc};
use crate::error::Error;
use crate::recipe::{IdentityMode, Kind};

const INGEST_POLICY: &str = "AmazonPrometheusRemoteWriteAccess";
const QUERY_POLICY: &str = "AmazonPrometheusQueryAccess";

/// `metadata:` of a ClusterConfig; other keys ignored.
#[derive(Debug, Deserialize)]
pub(super) struct EksMetadata {
    name: Option<Str>,
    region: Option<Str>,
}

/// `iam:` of a ClusterConfig; other keys (withOIDC, serviceRoleARN, …) ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EksIam {
    service_accounts: Option<Vec<Spanned<Item<Keyed<EksServiceAccount>>>>>,
    pod_identity_associations: Option<Vec<Spanned<Item<Keyed<EksPodIdentity>>>>>,
}

/// `metadata:` of an `iam.serviceAccounts` entry; labels, annotations ignored.
#[derive(Debug, Deserialize)]
struct EksObjectMeta {
    name: Option<Str>,
    namespace: Option<Str>,
}

/// An `iam.serviceAccounts` entry (IRSA). The keys the tool cannot carry are read
/// only to refuse them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksServiceAccount {
    metadata: Option<EksObjectMeta>,
    #[serde(rename = "attachPolicyARNs")]
    attach_policy_arns: Option<Vec<Str>>,
    attach_policy: Option<IgnoredAny>,
    well_known_policies: Option<IgnoredAny>,
    #[serde(rename = "attachRoleARN")]
    attach_role_arn: Option<IgnoredAny>,
    role_only: Option<Str>,
    role_name: Option<Str>,
    permissions_boundary: Option<Str>,
    tags: Option<Spanned<RawTags>>,
}

/// An `iam.podIdentityAssociations` entry (EKS Pod Identity).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksPodIdentity {
    namespace: Option<Str>,
    service_account_name: Option<Str>,
    role_name: Option<Str>,
    #[serde(rename = "permissionPolicyARNs")]
    permission_policy_arns: Option<Vec<Str>>,
    permission_policy: Option<IgnoredAny>,
    well_known_policies: Option<IgnoredAny>,
    #[serde(rename = "roleARN")]
    role_arn: Option<IgnoredAny>,
    #[serde(rename = "targetRoleARN")]
    target_role_arn: Option<IgnoredAny>,
    tags: Option<Spanned<RawTags>>,
    #[serde(rename = "permissionsBoundaryARN")]
    permissions_boundary_arn: Option<Str>,
}

impl Ctx<'_> {
    /// An eksctl ClusterConfig's AMP ServiceAccounts and associations.
    pub(super) fn eksctl(
        &self,
        doc: RawDoc,
        root: Location,
        parsed: &mut Parsed,
    ) -> Result<(), Error> {
        let metadata_at = doc.key("metadata").unwrap_or(root);
        let (name, region) = match doc.metadata {
            Some(m) => (
                self.text("metadata.name", m.name)?,
                self.text("metadata.region", m.region)?,
            ),
            None => (None, None),
        };
        let Some(name) = name else {
            return Err(self.at(
                metadata_at,
                "eksctl ClusterConfig without metadata.name: add the cluster's name",
            ));
        };
        let Some(region) = region else {
            return Err(self.at(
                metadata_at,
                format!(
                    "eksctl ClusterConfig {name} without metadata.region: add the cluster's \
                     region"
                ),
            ));
        };
        let label = format!("{} (eksctl ClusterConfig {name})", self.file);
        let base = FleetEntry {
            cluster: Some(name.clone()),
            region: Some(region),
            ..FleetEntry::default()
        };
        let (service_accounts, associations) = match doc.iam {
            Some(iam) => (
                iam.service_accounts.unwrap_or_default(),
                iam.pod_identity_associations.unwrap_or_default(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let before = parsed.entries.len();
        for (i, sa) in service_accounts.into_iter().enumerate() {
            let path = format!("iam.serviceAccounts[{i}]");
            if let Some(entry) = self.service_account(&path, sa, &base, parsed)? {
                parsed.entries.push(FleetEntry {
                    origin: format!("{label} {path}"),
                    ..entry
                });
            }
        }
        for (i, pia) in associations.into_iter().enumerate() {
            let path = format!("iam.podIdentityAssociations[{i}]");
            if let Some(entry) = self.pod_identity(&path, pia, &base, parsed)? {
                parsed.entries.push(FleetEntry {
                    origin: format!("{label} {path}"),
                    ..entry
                });
            }
        }
        if parsed.entries.len() == before {
            return Err(self.at(
                root,
                format!(
                    "eksctl ClusterConfig {name} declares no AMP ServiceAccount: none of its \
                     iam.serviceAccounts (attachPolicyARNs) or iam.podIdentityAssociations \
                     (permissionPolicyARNs) attaches arn:aws:iam::aws:policy/{INGEST_POLICY} or \
                     arn:aws:iam::aws:policy/{QUERY_POLICY}; add one, or list the cluster in a \
                     Fleet file"
                ),
            ));
        }
        Ok(())
    }

    fn service_account(
        &self,
        path: &str,
        raw: Spanned<Item<Keyed<EksServiceAccount>>>,
        base: &FleetEntry,
        parsed: &mut Parsed,
    ) -> Result<Option<FleetEntry>, Error> {
        let (keyed, at) = self.mapping(path, raw, "`metadata:`, `attachPolicyARNs:`, …")?;
        let (sa_name, namespace) = match &keyed.value.metadata {
            Some(m) => (
                self.text("metadata.name", m.name.clone())?,
                self.text("metadata.namespace", m.namespace.clone())?,
            ),
            None => (None, None),
        };
        let Some(sa_name) = sa_name else {
            return Err(self.at(
                keyed.key("metadata").unwrap_or(at),
                format!("{path} without metadata.name: add the ServiceAccount's name"),
            ));
        };
        let namespace = namespace.unwrap_or_else(|| "default".to_owned());
        let who = format!("{path} ({namespace}/{sa_name})");
        let sa = &keyed.value;
        let Some(kind) = self.amp_kind_or_skip(&who, sa.attach_policy_arns.as_deref(), parsed)?
        else {
            return Ok(None);
        };
        for key in &keyed.keys {
            let refused = match key.value.as_str() {
                "attachPolicy" if sa.attach_policy.is_some() => "`attachPolicy` (an inline policy)",
                "wellKnownPolicies" if sa.well_known_policies.is_some() => "`wellKnownPolicies`",
                "attachRoleARN" if sa.attach_role_arn.is_some() => {
                    "`attachRoleARN` (an existing role, which this tool would not own)"
                }
                "roleOnly" if self.flag("roleOnly", sa.role_only.clone())? == Some(true) => {
                    "`roleOnly: true` (a role without its ServiceAccount)"
                }
                _ => continue,
            };
            return Err(self.at(key.referenced, refuse(&who, refused)));
        }
        let sa = keyed.value;
        Ok(Some(FleetEntry {
            namespace: Some(namespace),
            kinds: vec![kind],
            mode: Some(IdentityMode::Irsa),
            service_account: Some(sa_name),
            role_name: self.text("roleName", sa.role_name)?,
            permissions_boundary: self.text("permissionsBoundary", sa.permissions_boundary)?,
            tags: self.tags(sa.tags)?,
            ..base.clone()
        }))
    }

    fn pod_identity(
        &self,
        path: &str,
        raw: Spanned<Item<Keyed<EksPodIdentity>>>,
        base: &FleetEntry,
        parsed: &mut Parsed,
    ) -> Result<Option<FleetEntry>, Error> {
        let (keyed, at) = self.mapping(
            path,
            raw,
            "`namespace:`, `serviceAccountName:`, `permissionPolicyARNs:`, …",
        )?;
        let pia = &keyed.value;
        let namespace = self.text("namespace", pia.namespace.clone())?;
        let sa_name = self.text("serviceAccountName", pia.service_account_name.clone())?;
        let (Some(namespace), Some(sa_name)) = (namespace, sa_name) else {
            return Err(self.at(
                at,
                format!("{path} needs `namespace:` and `serviceAccountName:`; add them"),
            ));
        };
        let who = format!("{path} ({namespace}/{sa_name})");
        let Some(kind) =
            self.amp_kind_or_skip(&who, pia.permission_policy_arns.as_deref(), parsed)?
        else {
            return Ok(None);
        };
        for key in &keyed.keys {
            let refused = match key.value.as_str() {
                "permissionPolicy" if pia.permission_policy.is_some() => {
                    "`permissionPolicy` (an inline policy)"
                }
                "wellKnownPolicies" if pia.well_known_policies.is_some() => "`wellKnownPolicies`",
                "roleARN" if pia.role_arn.is_some() => {
                    "`roleARN` (an existing role, which this tool would not own)"
                }
                "targetRoleARN" if pia.target_role_arn.is_some() => {
                    "`targetRoleARN` (a role in another account, assumed from this one)"
                }
                _ => continue,
            };
            return Err(self.at(key.referenced, refuse(&who, refused)));
        }
        let pia = keyed.value;
        Ok(Some(FleetEntry {
            namespace: Some(namespace),
            kinds: vec![kind],
            mode: Some(IdentityMode::PodIdentity),
            service_account: Some(sa_name),
            role_name: self.text("roleName", pia.role_name)?,
            permissions_boundary: self
                .text("permissionsBoundaryARN", pia.permissions_boundary_arn)?,
            tags: self.tags(pia.tags)?,
            ..base.clone()
        }))
    }

    /// A list entry that must be a mapping (`expected` names its keys), with
    /// where it is.
    fn mapping<T>(
        &self,
        path: &str,
        raw: Spanned<Item<T>>,
        expected: &str,
    ) -> Result<(T, Location), Error> {
        let at = raw.referenced;
        match raw.value.0 {
            Ok(value) => Ok((value, at)),
            Err(found) => Err(self.at(
                at,
                format!("{path} must be a mapping ({expected}), not {found}"),
            )),
        }
    }

    /// [`Self::amp_kind`], with a note in `parsed` when the entry is not
    /// about AMP (it is skipped).
    fn amp_kind_or_skip(
        &self,
        who: &str,
        arns: Option<&[Str]>,
        parsed: &mut Parsed,
    ) -> Result<Option<Kind>, Error> {
        let kind = self.amp_kind(who, arns)?;
        if kind.is_none() {
            parsed.notes.push(format!(
                "{}: {who} attaches no AMP policy: not this tool's, skipped",
                self.file
            ));
        }
        Ok(kind)
    }

    /// The kind an eksctl entry's policy ARNs say: `None` when none is an AMP managed
    /// policy (not this tool's); an error when they say more than one AMP policy, or
    /// another policy beside one.
    fn amp_kind(&self, who: &str, arns: Option<&[Str]>) -> Result<Option<Kind>, Error> {
        let arns = arns.unwrap_or_default();
        let mut kind: Option<Kind> = None;
        for arn in arns {
            match (amp_policy_kind(&arn.value), kind) {
                (Some(k), Some(seen)) if k != seen => {
                    return Err(self.at(
                        arn.referenced,
                        format!(
                            "{who} attaches both {INGEST_POLICY} and {QUERY_POLICY}: the tool \
                             makes one role per kind; give ingest and query their own \
                             ServiceAccounts, or keep this one in eksctl"
                        ),
                    ));
                }
                (Some(k), _) => kind = Some(k),
                (None, _) => {}
            }
        }
        let other = kind.and(arns.iter().find(|a| amp_policy_kind(&a.value).is_none()));
        if let Some(other) = other {
            return Err(self.at(
                other.referenced,
                format!(
                    "{who} attaches `{}` beside the AMP policy: this tool writes its own \
                     least-privilege AMP policy and cannot attach others; keep this \
                     ServiceAccount in eksctl, or drop that ARN",
                    other.value
                ),
            ));
        }
        Ok(kind)
    }
}

/// The kind an AWS managed AMP policy's ARN means, in any partition.
pub(super) fn amp_policy_kind(arn: &str) -> Option<Kind> {
    let rest = arn.trim().strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    match rest.strip_prefix("iam::aws:policy/")? {
        INGEST_POLICY => Some(Kind::Ingest),
        QUERY_POLICY => Some(Kind::Query),
        _ => None,
    }
}

fn refuse(who: &str, what: &str) -> String {
    format!(
        "{who} sets {what}, which this tool cannot carry (it writes its own least-privilege \
         AMP policy and role); keep this ServiceAccount in eksctl, or drop the key"
    )
}
