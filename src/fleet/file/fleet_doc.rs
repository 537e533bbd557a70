//! The tool's own Fleet document (`apiVersion: amp-iam/v1alpha1`, `kind: Fleet`, both
//! optional): `defaults` merged into every entry of `clusters`. Strict: an unknown key
//! is an error.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::location::{Ctx, RawTags, Str, scalars_into, skip_map, suggest, unknown_key_reason};
use super::{EKSCTL_API_VERSION, EKSCTL_KIND, FleetEntry, RawDoc};
use crate::error::Error;
use crate::recipe::{IdentityMode, Kind};

/// The top-level keys of a Fleet document.
const FLEET_KEYS: &[&str] = &["apiVersion", "kind", "defaults", "clusters"];
const KIND_NAMES: &[&str] = &["ingest", "query", "fargate"];
const MODE_NAMES: &[&str] = &["irsa", "pod-identity"];

/// The keys of a cluster entry (`context`, `cluster` and the rest) and of `defaults`
/// (the rest): two structs, so that each reports its own accepted keys.
macro_rules! fleet_settings {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($extra:ident),* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        $vis struct $name {
            $($extra: Option<Str>,)*
            region: Option<Str>,
            profile: Option<Str>,
            namespace: Option<Str>,
            kinds: Option<Spanned<RawKinds>>,
            mode: Option<Str>,
            service_account: Option<Str>,
            role_name: Option<Str>,
            policy_name: Option<Str>,
            workspace: Option<Str>,
            create_workspace: Option<Str>,
            role_path: Option<Str>,
            tags: Option<Spanned<RawTags>>,
            permissions_boundary: Option<Str>,
            restart: Option<Str>,
            overwrite: Option<Str>,
            install_agent: Option<Str>,
        }

        impl $name {
            /// The values, checked; `origin` is left empty.
            fn resolve(self, ctx: &Ctx<'_>) -> Result<FleetEntry, Error> {
                Ok(FleetEntry {
                    $($extra: ctx.text(stringify!($extra), self.$extra)?,)*
                    region: ctx.text("region", self.region)?,
                    profile: ctx.text("profile", self.profile)?,
                    namespace: ctx.text("namespace", self.namespace)?,
                    kinds: ctx.kinds(self.kinds)?,
                    mode: ctx.mode(self.mode)?,
                    service_account: ctx.text("serviceAccount", self.service_account)?,
                    role_name: ctx.text("roleName", self.role_name)?,
                    policy_name: ctx.text("policyName", self.policy_name)?,
                    workspace: ctx.text("workspace", self.workspace)?,
                    create_workspace: ctx.text("createWorkspace", self.create_workspace)?,
                    role_path: ctx.text("rolePath", self.role_path)?,
                    tags: ctx.tags(self.tags)?,
                    permissions_boundary: ctx
                        .text("permissionsBoundary", self.permissions_boundary)?,
                    restart: ctx.flag("restart", self.restart)?,
                    overwrite: ctx.flag("overwrite", self.overwrite)?,
                    install_agent: ctx.flag("installAgent", self.install_agent)?,
                    ..FleetEntry::default()
                })
            }
        }
    };
}

fleet_settings! {
    /// `defaults:` of a Fleet document.
    pub(super) struct RawDefaults {}
}

fleet_settings! {
    /// One entry of `clusters:`.
    pub(super) struct RawEntry { context, cluster }
}

/// `kinds:` as written: one name, or a list of them; anything else is kept as what it
/// is, to be refused at its location. Checked later.
#[derive(Debug)]
enum RawKinds {
    One(String),
    Many(Vec<Str>),
    Other(String),
}

impl<'de> Deserialize<'de> for RawKinds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKinds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a kind (ingest, query or fargate) or a list of kinds")
            }
            scalars_into!(RawKinds::One);
            fn visit_unit<E: de::Error>(self) -> Result<RawKinds, E> {
                Ok(RawKinds::Many(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKinds, A::Error> {
                let mut kinds = Vec::new();
                while let Some(kind) = seq.next_element::<Str>()? {
                    kinds.push(kind);
                }
                Ok(RawKinds::Many(kinds))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawKinds, A::Error> {
                skip_map(map).map(RawKinds::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl Ctx<'_> {
    /// A Fleet document's entries, `defaults` merged in.
    pub(super) fn fleet(
        &self,
        doc: RawDoc,
        root: Location,
        label: &str,
    ) -> Result<Vec<FleetEntry>, Error> {
        if let Some(key) = doc
            .keys
            .iter()
            .find(|k| !FLEET_KEYS.contains(&k.value.as_str()))
        {
            let hint = if key.value == "metadata" || key.value == "iam" {
                format!(
                    " (an eksctl config needs kind: {EKSCTL_KIND} and apiVersion: \
                     {EKSCTL_API_VERSION})"
                )
            } else {
                String::new()
            };
            return Err(self.at(
                key.referenced,
                format!(
                    "{}{hint}",
                    unknown_key_reason(&key.value, "a Fleet document's top level", FLEET_KEYS)
                ),
            ));
        }
        let clusters_key = doc.key("clusters");
        let defaults = match doc.defaults {
            Some(d) => d.resolve(self)?,
            None => FleetEntry::default(),
        };
        let clusters = match (doc.clusters, clusters_key) {
            (Some(c), _) if !c.is_empty() => c,
            (_, Some(key)) => {
                return Err(self.at(
                    key,
                    "`clusters` is empty: list at least one cluster (`- context: NAME`, or \
                     `- cluster: NAME` with `region:`)",
                ));
            }
            (_, None) => {
                return Err(self.at(
                    root,
                    "no clusters: a Fleet document lists them under `clusters:` \
                     (`- context: NAME`, or `- cluster: NAME` with `region:`); add it",
                ));
            }
        };
        let mut entries = Vec::with_capacity(clusters.len());
        for (i, raw) in clusters.into_iter().enumerate() {
            let at = raw.referenced;
            let entry = match raw.value.0 {
                Ok(entry) => entry.resolve(self)?,
                Err(found) => {
                    return Err(self.at(
                        at,
                        format!(
                            "clusters[{i}] must be a cluster entry, a mapping with `context:` (a \
                             kubeconfig context) or `cluster:` (an EKS cluster name), not {found}"
                        ),
                    ));
                }
            };
            if entry.context.is_none() && entry.cluster.is_none() {
                return Err(self.at(
                    at,
                    format!(
                        "clusters[{i}] names no cluster: give `context:` (a kubeconfig \
                         context) or `cluster:` (an EKS cluster name, with `region:`)"
                    ),
                ));
            }
            let mut entry = merge(entry, &defaults);
            entry.origin = format!("{label} clusters[{i}]");
            entries.push(entry);
        }
        Ok(entries)
    }

    fn kinds(&self, value: Option<Spanned<RawKinds>>) -> Result<Vec<Kind>, Error> {
        let Some(raw) = value else {
            return Ok(Vec::new());
        };
        let names = match raw.value {
            RawKinds::One(name) => vec![(name, raw.referenced)],
            RawKinds::Other(found) => {
                return Err(self.at(
                    raw.referenced,
                    format!(
                        "`kinds` must be a kind (ingest, query or fargate) or a list of kinds, \
                         not {found}"
                    ),
                ));
            }
            RawKinds::Many(names) if names.is_empty() => {
                return Err(self.at(
                    raw.referenced,
                    "`kinds` is an empty list: name at least one of ingest, query, fargate, or \
                     leave the key out for the default kinds",
                ));
            }
            RawKinds::Many(names) => names.into_iter().map(|n| (n.value, n.referenced)).collect(),
        };
        let mut kinds = Vec::with_capacity(names.len());
        for (name, at) in names {
            let kind = <Kind as clap::ValueEnum>::from_str(name.trim(), true).map_err(|_| {
                let hint = match suggest(&name, KIND_NAMES) {
                    Some(s) => format!("did you mean `{s}`? "),
                    None if name.contains(',') => "write a list, `[ingest, query]`; ".to_owned(),
                    None => String::new(),
                };
                self.at(
                    at,
                    format!("unknown kind `{name}`: {hint}the kinds are ingest, query and fargate"),
                )
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }

    fn mode(&self, value: Option<Str>) -> Result<Option<IdentityMode>, Error> {
        let Some(v) = value else { return Ok(None) };
        <IdentityMode as clap::ValueEnum>::from_str(v.value.trim(), true)
            .map(Some)
            .map_err(|_| {
                let hint = suggest(&v.value, MODE_NAMES)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                self.at(
                    v.referenced,
                    format!(
                        "unknown mode `{}`: {hint}the modes are irsa and pod-identity",
                        v.value
                    ),
                )
            })
    }
}

/// An entry's values over the defaults; tags merge, the entry's winning per key.
fn merge(entry: FleetEntry, defaults: &FleetEntry) -> FleetEntry {
    fn or<T: Clone>(value: Option<T>, default: &Option<T>) -> Option<T> {
        value.or_else(|| default.clone())
    }
    let mut tags = defaults.tags.clone();
    for (key, value) in entry.tags {
        match tags.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => tags.push((key, value)),
        }
    }
    // workspace and createWorkspace are one setting: an entry that gives
    // either one replaces the defaults' (whichever it is).
    let (workspace, create_workspace) = match (&entry.workspace, &entry.create_workspace) {
        (None, None) => (
            defaults.workspace.clone(),
            defaults.create_workspace.clone(),
        ),
        _ => (entry.workspace.clone(), entry.create_workspace.clone()),
    };
    FleetEntry {
        origin: entry.origin,
        context: or(entry.context, &defaults.context),
        cluster: or(entry.cluster, &defaults.cluster),
        region: or(entry.region, &defaults.region),
        profile: or(entry.profile, &defaults.profile),
        namespace: or(entry.namespace, &defaults.namespace),
        kinds: if entry.kinds.is_empty() {
            defaults.kinds.clone()
        } else {
            entry.kinds
        },
        mode: or(entry.mode, &defaults.mode),
        service_account: or(entry.service_account, &defaults.service_account),
        role_name: or(entry.role_name, &defaults.role_name),
        policy_name: or(entry.policy_name, &defaults.policy_name),
        workspace,
        create_workspace,
        role_path: or(entry.role_path, &defaults.role_path),
        tags,
        permissions_boundary: or(entry.permissions_boundary, &defaults.permissions_boundary),
        restart: or(entry.restart, &defaults.restart),
        overwrite: or(entry.overwrite, &defaults.overwrite),
        install_agent: or(entry.install_agent, &defaults.install_agent),
    }
}
