//! The bootstrap file of `setup|status|teardown -f FILE`: the clusters of a fleet run.
//!
//! A file is a YAML stream; each document (`---`) is one of:
//! - the tool's own Fleet file (`apiVersion: amp-iam/v1alpha1`, `kind: Fleet`, both
//!   optional): `defaults` merged into every entry of `clusters`. Strict: an unknown
//!   key is an error.
//! - an eksctl `ClusterConfig` (`kind: ClusterConfig`, `apiVersion: eksctl.io/…`): its
//!   IRSA ServiceAccounts and Pod Identity associations that attach an AMP managed
//!   policy become entries; what says more than the tool can carry (inline policies,
//!   other ARNs, an existing role, …) is refused; ServiceAccounts not about AMP are
//!   skipped with a note; the rest of the config is ignored.
//!
//! Every error is `FILE:LINE:COLUMN: reason`, the line counted in the whole stream.
//! Locations come from serde-saphyr: its own errors carry one (an unknown key's is the
//! key's, a type error's the value's), and every value is read as a [`Spanned`] so the
//! checks made after parsing point at the value, the entry, or (for the refused eksctl
//! keys, recorded by `Keyed`) the key.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde_saphyr::{Location, MessageFormatter, Spanned};

use crate::error::Error;
use crate::recipe::{IdentityMode, Kind};

/// The `apiVersion` of a Fleet document.
pub const API_VERSION: &str = "amp-iam/v1alpha1";
const FLEET_KIND: &str = "Fleet";
const EKSCTL_KIND: &str = "ClusterConfig";
const EKSCTL_API_PREFIX: &str = "eksctl.io/";
const EKSCTL_API_VERSION: &str = "eksctl.io/v1alpha5";
/// The top-level keys of a Fleet document.
const FLEET_KEYS: &[&str] = &["apiVersion", "kind", "defaults", "clusters"];
const INGEST_POLICY: &str = "AmazonPrometheusRemoteWriteAccess";
const QUERY_POLICY: &str = "AmazonPrometheusQueryAccess";
const KIND_NAMES: &[&str] = &["ingest", "query", "fargate"];
const MODE_NAMES: &[&str] = &["irsa", "pod-identity"];

/// One cluster of a bootstrap file, with the file's `defaults` merged in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetEntry {
    /// Where it came from, for messages: "fleet.yaml clusters[2]" or
    /// "eks.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[0]".
    pub origin: String,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub namespace: Option<String>,
    /// Empty: the default kinds.
    pub kinds: Vec<Kind>,
    pub mode: Option<IdentityMode>,
    pub service_account: Option<String>,
    /// May hold a name template ({cluster}, {region}, {namespace}, {kind}); checked
    /// later, not here.
    pub role_name: Option<String>,
    pub policy_name: Option<String>,
    pub workspace: Option<String>,
    pub create_workspace: Option<String>,
    pub role_path: Option<String>,
    pub tags: Vec<(String, String)>,
    pub permissions_boundary: Option<String>,
    pub restart: Option<bool>,
    pub overwrite: Option<bool>,
    pub install_agent: Option<bool>,
}

/// What a bootstrap file says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub entries: Vec<FleetEntry>,
    /// Said on stderr by the caller: what was skipped and why.
    pub notes: Vec<String>,
}

/// Reads a bootstrap file. `file` is the name used in messages (the path, or "-" for
/// stdin, said "(stdin)").
pub fn parse(text: &str, file: &str) -> Result<Parsed, Error> {
    let ctx = Ctx {
        file: if file == "-" { "(stdin)" } else { file }.to_owned(),
        text,
    };
    let docs: Vec<Spanned<RawDoc>> =
        serde_saphyr::from_multiple(text).map_err(|e| ctx.yaml_error(&e))?;
    if docs.is_empty() {
        return Err(ctx.at_start(
            "no clusters: the file is empty; list them under `clusters:` (a Fleet file: \
             `- context: NAME` or `- cluster: NAME` with `region:`), or give an eksctl \
             ClusterConfig",
        ));
    }
    let many = docs.len() > 1;
    let mut parsed = Parsed::default();
    for (n, doc) in docs.into_iter().enumerate() {
        let root = doc.referenced;
        let doc = doc.value;
        match ctx.format_of(&doc)? {
            Format::Fleet => {
                let label = if many {
                    format!("{} (document {})", ctx.file, n + 1)
                } else {
                    ctx.file.clone()
                };
                parsed.entries.extend(ctx.fleet(doc, root, &label)?);
            }
            Format::Eksctl => ctx.eksctl(doc, root, &mut parsed)?,
        }
    }
    Ok(parsed)
}

// ---------------------------------------------------------------------------
// What is read: a Fleet document's and an eksctl ClusterConfig's parts.

type Str = Spanned<String>;

/// The scalar methods of a visitor that takes any scalar, as text, into `$wrap`.
macro_rules! scalars_into {
    ($wrap:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(($wrap)(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(($wrap)(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(($wrap)(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(($wrap)(v.to_string()))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(($wrap)(v.to_owned()))
        }
    };
}

/// What was found where something else belongs, for messages.
fn quoted(text: String) -> String {
    format!("`{text}`")
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<String, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok("a list".to_owned())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<String, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok("a mapping".to_owned())
}

/// The keys of a cluster entry (`context`, `cluster` and the rest) and of `defaults`
/// (the rest): two structs, so that each reports its own accepted keys.
macro_rules! fleet_settings {
    ($(#[$meta:meta])* struct $name:ident { $($extra:ident),* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct $name {
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
    struct RawDefaults {}
}

fleet_settings! {
    /// One entry of `clusters:`.
    struct RawEntry { context, cluster }
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

/// `tags:` as written, in order (a value may be missing); `Err`: what was found
/// instead of a mapping. Checked later.
#[derive(Debug)]
struct RawTags(Result<Vec<(Str, Option<Str>)>, String>);

impl<'de> Deserialize<'de> for RawTags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of tag keys to values")
            }
            scalars_into!(|s| RawTags(Err(quoted(s))));
            fn visit_unit<E: de::Error>(self) -> Result<RawTags, E> {
                Ok(RawTags(Ok(Vec::new())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawTags, A::Error> {
                skip_seq(seq).map(|found| RawTags(Err(found)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTags, A::Error> {
                let mut tags = Vec::new();
                while let Some(key) = map.next_key::<Str>()? {
                    let value = map.next_value::<Option<Str>>()?;
                    tags.push((key, value));
                }
                Ok(RawTags(Ok(tags)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `metadata:` of a ClusterConfig; other keys ignored.
#[derive(Debug, Deserialize)]
struct EksMetadata {
    name: Option<Str>,
    region: Option<Str>,
}

/// `iam:` of a ClusterConfig; other keys (withOIDC, serviceRoleARN, …) ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksIam {
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

/// A list item that should be a mapping: `Err` is what was found instead, to be
/// refused at the item's location (checked later, not by the deserializer, whose
/// location for an error raised here would be a guess).
#[derive(Debug)]
struct Item<T>(Result<T, String>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Item<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            scalars_into!(|s| Item(Err(quoted(s))));
            fn visit_unit<E: de::Error>(self) -> Result<Item<T>, E> {
                Ok(Item(Err("nothing".to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item<T>, A::Error> {
                skip_seq(seq).map(|found| Item(Err(found)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|v| Item(Ok(v)))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A `T` read from a mapping, with where each of its keys is: errors about a key
/// point at it. Not for `deny_unknown_fields` types (their unknown-key error would
/// lose serde-saphyr's location).
#[derive(Debug)]
struct Keyed<T> {
    value: T,
    keys: Vec<Str>,
}

impl<T> Keyed<T> {
    fn key(&self, name: &str) -> Option<Location> {
        self.keys
            .iter()
            .find(|k| k.value == name)
            .map(|k| k.referenced)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Keyed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Keyed<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Keyed<T>, A::Error> {
                let mut keys = Vec::new();
                let recorder = KeyRecorder {
                    map,
                    keys: &mut keys,
                };
                let value = T::deserialize(MapAccessDeserializer::new(recorder))?;
                Ok(Keyed { value, keys })
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A mapping's keys read as [`Spanned`] and kept, then handed on as plain strings.
struct KeyRecorder<'k, A> {
    map: A,
    keys: &'k mut Vec<Str>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for KeyRecorder<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key::<Str>()? else {
            return Ok(None);
        };
        let name: de::value::StrDeserializer<'_, A::Error> = key.value.as_str().into_deserializer();
        let value = seed.deserialize(name)?;
        self.keys.push(key);
        Ok(Some(value))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// One document as read: the parts of both formats, each read in the shape of the
/// format the document shows so far (by `apiVersion`/`kind`, which come first in
/// practice); which format it is is decided once it is read.
#[derive(Debug, Default)]
struct RawDoc {
    /// Every top-level key, in order.
    keys: Vec<Str>,
    api_version: Option<Str>,
    kind: Option<Str>,
    defaults: Option<RawDefaults>,
    clusters: Option<Vec<Spanned<Item<RawEntry>>>>,
    metadata: Option<EksMetadata>,
    iam: Option<EksIam>,
}

impl RawDoc {
    fn key(&self, name: &str) -> Option<Location> {
        self.keys
            .iter()
            .find(|k| k.value == name)
            .map(|k| k.referenced)
    }

    fn says(field: &Option<Str>, pred: impl Fn(&str) -> bool) -> bool {
        field.as_ref().is_some_and(|f| pred(&f.value))
    }

    fn looks_eksctl(&self) -> bool {
        Self::says(&self.kind, |k| k == EKSCTL_KIND)
            || Self::says(&self.api_version, |a| a.starts_with(EKSCTL_API_PREFIX))
    }

    fn looks_fleet(&self) -> bool {
        Self::says(&self.kind, |k| k == FLEET_KIND)
            || Self::says(&self.api_version, |a| a.starts_with("amp-iam/"))
    }
}

impl<'de> Deserialize<'de> for RawDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a Fleet document (a mapping with `clusters:`) or an eksctl ClusterConfig",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDoc, A::Error> {
                let mut doc = RawDoc::default();
                while let Some(key) = map.next_key::<Str>()? {
                    match key.value.as_str() {
                        "apiVersion" => doc.api_version = map.next_value()?,
                        "kind" => doc.kind = map.next_value()?,
                        "defaults" if !doc.looks_eksctl() => doc.defaults = map.next_value()?,
                        "clusters" if !doc.looks_eksctl() => doc.clusters = map.next_value()?,
                        "metadata" if !doc.looks_fleet() => doc.metadata = map.next_value()?,
                        "iam" if !doc.looks_fleet() => doc.iam = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    doc.keys.push(key);
                }
                Ok(doc)
            }
        }
        d.deserialize_any(V)
    }
}

enum Format {
    Fleet,
    Eksctl,
}

// ---------------------------------------------------------------------------
// Checking what was read.

struct Ctx<'a> {
    /// The file's name in messages.
    file: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn error(&self, line: u64, column: u64, reason: String) -> Error {
        let to_usize = |n: u64| usize::try_from(n.max(1)).unwrap_or(usize::MAX);
        Error::BootstrapFile {
            file: self.file.clone(),
            line: to_usize(line),
            column: to_usize(column),
            reason,
        }
    }

    fn at(&self, loc: Location, reason: impl Into<String>) -> Error {
        self.error(loc.line(), loc.column(), reason.into())
    }

    fn at_start(&self, reason: impl Into<String>) -> Error {
        self.error(1, 1, reason.into())
    }

    /// An error of serde-saphyr (YAML syntax, a type that does not fit, an unknown key
    /// of a Fleet mapping) in the tool's words, at its location.
    fn yaml_error(&self, e: &serde_saphyr::Error) -> Error {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .filter(|&(line, _)| line > 0)
            .unwrap_or((1, 1));
        let inner = e.without_snippet();
        let subject = || match key_at(self.text, line, column) {
            Some(key) => format!("`{key}`"),
            None => "this value".to_owned(),
        };
        use serde_saphyr::Error as Yaml;
        let reason = match inner {
            Yaml::SerdeUnknownField {
                field, expected, ..
            } => unknown_key(field, expected),
            Yaml::DuplicateMappingKey { key: Some(key), .. } => {
                format!("`{key}` is given twice in the same mapping: keep one")
            }
            Yaml::SerdeInvalidType {
                unexpected,
                expected,
                ..
            } => match key_at(self.text, line, column) {
                Some(key) => format!("`{key}`: expected {expected}, got {unexpected}"),
                None => format!("expected {expected}, got {unexpected}"),
            },
            Yaml::Unexpected { expected, .. } => match *expected {
                "sequence start" => {
                    format!("{} must be a list (`- item` lines, or `[a, b]`)", subject())
                }
                "mapping start" => {
                    format!("{} must be a mapping (`key: value` lines)", subject())
                }
                "string scalar" | "scalar" => format!(
                    "{} must be a single value, not a list or a mapping",
                    subject()
                ),
                _ => cannot_read(inner),
            },
            _ => cannot_read(inner),
        };
        self.error(line, column, reason)
    }

    fn format_of(&self, doc: &RawDoc) -> Result<Format, Error> {
        let api = doc.api_version.as_ref();
        match doc.kind.as_ref() {
            Some(kind) if kind.value == EKSCTL_KIND => match api {
                Some(a) if a.value.starts_with(EKSCTL_API_PREFIX) => Ok(Format::Eksctl),
                Some(a) => Err(self.at(
                    a.referenced,
                    format!(
                        "apiVersion `{}` with kind: ClusterConfig: an eksctl ClusterConfig has \
                         apiVersion: {EKSCTL_API_VERSION}; fix the apiVersion",
                        a.value
                    ),
                )),
                None => Err(self.at(
                    kind.referenced,
                    format!(
                        "kind: ClusterConfig without apiVersion: an eksctl ClusterConfig has \
                         apiVersion: {EKSCTL_API_VERSION}; add it"
                    ),
                )),
            },
            Some(kind) if kind.value != FLEET_KIND => Err(self.at(
                kind.referenced,
                format!(
                    "unknown kind `{}`: a bootstrap file holds kind: {FLEET_KIND} (this tool's \
                     fleet file) or kind: {EKSCTL_KIND} (an eksctl config); fix the kind",
                    kind.value
                ),
            )),
            kind => match api {
                None => Ok(Format::Fleet),
                Some(a) if a.value == API_VERSION => Ok(Format::Fleet),
                Some(a) if a.value.starts_with(EKSCTL_API_PREFIX) => Err(self.at(
                    a.referenced,
                    format!(
                        "apiVersion `{}` but {}: only an eksctl ClusterConfig is read; set \
                         kind: {EKSCTL_KIND}",
                        a.value,
                        if kind.is_some() {
                            "kind: Fleet"
                        } else {
                            "no kind"
                        }
                    ),
                )),
                Some(a) => Err(self.at(
                    a.referenced,
                    format!(
                        "unknown apiVersion `{}`: a Fleet file has apiVersion: {API_VERSION} \
                         (or none); an eksctl config has kind: {EKSCTL_KIND} and apiVersion: \
                         {EKSCTL_API_VERSION}",
                        a.value
                    ),
                )),
            },
        }
    }

    /// A Fleet document's entries, `defaults` merged in.
    fn fleet(&self, doc: RawDoc, root: Location, label: &str) -> Result<Vec<FleetEntry>, Error> {
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

    /// An eksctl ClusterConfig's AMP ServiceAccounts and associations.
    fn eksctl(&self, doc: RawDoc, root: Location, parsed: &mut Parsed) -> Result<(), Error> {
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
        let at = raw.referenced;
        let keyed = match raw.value.0 {
            Ok(keyed) => keyed,
            Err(found) => {
                return Err(self.at(
                    at,
                    format!(
                        "{path} must be a mapping (`metadata:`, `attachPolicyARNs:`, …), not \
                         {found}"
                    ),
                ));
            }
        };
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
        let Some(kind) = self.amp_kind(&who, sa.attach_policy_arns.as_deref())? else {
            parsed.notes.push(format!(
                "{}: {who} attaches no AMP policy: not this tool's, skipped",
                self.file
            ));
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
        let at = raw.referenced;
        let keyed = match raw.value.0 {
            Ok(keyed) => keyed,
            Err(found) => {
                return Err(self.at(
                    at,
                    format!(
                        "{path} must be a mapping (`namespace:`, `serviceAccountName:`, \
                         `permissionPolicyARNs:`, …), not {found}"
                    ),
                ));
            }
        };
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
        let Some(kind) = self.amp_kind(&who, pia.permission_policy_arns.as_deref())? else {
            parsed.notes.push(format!(
                "{}: {who} attaches no AMP policy: not this tool's, skipped",
                self.file
            ));
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

    /// A string value; empty is an error (leave the key out instead).
    fn text(&self, key: &str, value: Option<Str>) -> Result<Option<String>, Error> {
        match value {
            Some(v) if v.value.trim().is_empty() => Err(self.at(
                v.referenced,
                format!("`{key}` is empty: give a value, or leave the key out"),
            )),
            Some(v) => Ok(Some(v.value)),
            None => Ok(None),
        }
    }

    fn flag(&self, key: &str, value: Option<Str>) -> Result<Option<bool>, Error> {
        let Some(v) = value else { return Ok(None) };
        match v.value.as_str() {
            "true" | "True" | "TRUE" => Ok(Some(true)),
            "false" | "False" | "FALSE" => Ok(Some(false)),
            other => Err(self.at(
                v.referenced,
                format!("`{key}` must be true or false, not `{other}`"),
            )),
        }
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

    fn tags(&self, value: Option<Spanned<RawTags>>) -> Result<Vec<(String, String)>, Error> {
        let Some(raw) = value else {
            return Ok(Vec::new());
        };
        let raw_tags = match raw.value.0 {
            Ok(tags) => tags,
            Err(found) => {
                return Err(self.at(
                    raw.referenced,
                    format!(
                        "`tags` must be a mapping of tag keys to values (`team: obs`), not {found}"
                    ),
                ));
            }
        };
        let mut tags = Vec::with_capacity(raw_tags.len());
        for (key, value) in raw_tags {
            if key.value.trim().is_empty() {
                return Err(self.at(key.referenced, "a tag key is empty: give it a name"));
            }
            let Some(value) = value else {
                return Err(self.at(
                    key.referenced,
                    format!(
                        "tag `{}` has no value: give one (\"\" for an empty value)",
                        key.value
                    ),
                ));
            };
            tags.push((key.value, value.value));
        }
        Ok(tags)
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
        workspace: or(entry.workspace, &defaults.workspace),
        create_workspace: or(entry.create_workspace, &defaults.create_workspace),
        role_path: or(entry.role_path, &defaults.role_path),
        tags,
        permissions_boundary: or(entry.permissions_boundary, &defaults.permissions_boundary),
        restart: or(entry.restart, &defaults.restart),
        overwrite: or(entry.overwrite, &defaults.overwrite),
        install_agent: or(entry.install_agent, &defaults.install_agent),
    }
}

/// The kind an AWS managed AMP policy's ARN means, in any partition.
fn amp_policy_kind(arn: &str) -> Option<Kind> {
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

/// serde-saphyr's unknown-field error, in the tool's words.
fn unknown_key(field: &str, expected: &[&str]) -> String {
    let place = if expected.contains(&"context") {
        "a clusters entry"
    } else if expected.contains(&"serviceAccount") {
        if field == "context" || field == "cluster" {
            return format!(
                "`{field}` cannot be in defaults: it names one cluster; put it in a clusters \
                 entry"
            );
        }
        "defaults"
    } else {
        "this mapping"
    };
    unknown_key_reason(field, place, expected)
}

fn unknown_key_reason(field: &str, place: &str, accepted: &[&str]) -> String {
    let list = accepted.join(", ");
    match suggest(field, accepted) {
        Some(s) => format!("unknown key `{field}` in {place}: did you mean `{s}`? (keys: {list})"),
        None => {
            format!("unknown key `{field}` in {place}: remove it, or use one of the keys: {list}")
        }
    }
}

/// Any other serde-saphyr error (YAML syntax, mostly), its message without location.
fn cannot_read(e: &serde_saphyr::Error) -> String {
    let message = serde_saphyr::DefaultMessageFormatter.format_message(e);
    let message: String = message.chars().flat_map(char::escape_debug).collect();
    format!("the YAML cannot be read here: {message}")
}

/// The accepted name closest to `name` (case, `_` and `-` aside), if it is close.
fn suggest<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let name = norm(name);
    accepted
        .iter()
        .map(|a| (edit_distance(&name, &norm(a)), *a))
        .filter(|&(d, a)| d <= 2 && d * 3 <= a.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The key whose value starts at `line`:`column` (1-based), read from the text: the
/// `key:` before it on its line or, for a value on its own lines, on the line above.
/// Only for wording messages; the location itself comes from serde-saphyr.
fn key_at(text: &str, line: u64, column: u64) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?.saturating_sub(1);
    let prefix: String = lines.get(index)?.chars().take(column).collect();
    if let Some(key) = key_of(&prefix) {
        return Some(key);
    }
    if !prefix.trim().is_empty() {
        return None;
    }
    lines[..index]
        .iter()
        .map(|l| l.split(" #").next().unwrap_or(l).trim_end())
        .rfind(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .and_then(key_of)
}

/// `key` from a line's text ending in `key:`.
fn key_of(prefix: &str) -> Option<String> {
    let before = prefix.trim_end().strip_suffix(':')?;
    let token = before
        .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',')
        .next()?
        .trim_matches(|c| c == '"' || c == '\'');
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error's line, column and reason.
    fn error(text: &str) -> (usize, usize, String) {
        match parse(text, "fleet.yaml") {
            Err(Error::BootstrapFile {
                file,
                line,
                column,
                reason,
            }) => {
                assert_eq!(file, "fleet.yaml");
                (line, column, reason)
            }
            other => panic!("expected a bootstrap file error, got {other:?}"),
        }
    }

    fn entries(text: &str) -> Vec<FleetEntry> {
        match parse(text, "fleet.yaml") {
            Ok(parsed) => {
                assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
                parsed.entries
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const FULL: &str = "\
apiVersion: amp-iam/v1alpha1
kind: Fleet
defaults:
  namespace: prometheus
  kinds: [ingest, query]
  mode: irsa
  profile: prod
  region: eu-west-1
  serviceAccount: amp-ingest
  roleName: \"amp-{cluster}-{kind}\"
  policyName: \"AMP-{kind}-{cluster}\"
  workspace: ws-1234
  createWorkspace: metrics
  rolePath: /amp/
  tags: {team: obs, cost-center: 0123}
  permissionsBoundary: arn:aws:iam::123456789012:policy/b
  restart: true
  overwrite: false
  installAgent: false
clusters:
  - context: prod-eu
  - cluster: prod-us
    context: us-ctx
    region: us-east-1
    namespace: monitoring
    kinds: fargate
    mode: pod-identity
    profile: us
    serviceAccount: sa
    roleName: r
    policyName: p
    workspace: ws-9
    createWorkspace: other
    rolePath: /
    tags: {team: us, owner: me}
    permissionsBoundary: arn:aws:iam::123456789012:policy/c
    restart: false
    overwrite: true
    installAgent: true
";

    #[test]
    fn full_fleet_file_with_defaults_and_overrides() {
        let got = entries(FULL);
        let first = FleetEntry {
            origin: "fleet.yaml clusters[0]".into(),
            context: s("prod-eu"),
            cluster: None,
            region: s("eu-west-1"),
            profile: s("prod"),
            namespace: s("prometheus"),
            kinds: vec![Kind::Ingest, Kind::Query],
            mode: Some(IdentityMode::Irsa),
            service_account: s("amp-ingest"),
            role_name: s("amp-{cluster}-{kind}"),
            policy_name: s("AMP-{kind}-{cluster}"),
            workspace: s("ws-1234"),
            create_workspace: s("metrics"),
            role_path: s("/amp/"),
            tags: tags(&[("team", "obs"), ("cost-center", "0123")]),
            permissions_boundary: s("arn:aws:iam::123456789012:policy/b"),
            restart: Some(true),
            overwrite: Some(false),
            install_agent: Some(false),
        };
        let second = FleetEntry {
            origin: "fleet.yaml clusters[1]".into(),
            context: s("us-ctx"),
            cluster: s("prod-us"),
            region: s("us-east-1"),
            profile: s("us"),
            namespace: s("monitoring"),
            kinds: vec![Kind::Fargate],
            mode: Some(IdentityMode::PodIdentity),
            service_account: s("sa"),
            role_name: s("r"),
            policy_name: s("p"),
            workspace: s("ws-9"),
            create_workspace: s("other"),
            role_path: s("/"),
            tags: tags(&[("team", "us"), ("cost-center", "0123"), ("owner", "me")]),
            permissions_boundary: s("arn:aws:iam::123456789012:policy/c"),
            restart: Some(false),
            overwrite: Some(true),
            install_agent: Some(true),
        };
        assert_eq!(got, vec![first, second]);
    }

    #[test]
    fn minimal_fleet_file_without_header_or_defaults() {
        let got = entries("clusters:\n  - context: a\n");
        assert_eq!(
            got,
            vec![FleetEntry {
                origin: "fleet.yaml clusters[0]".into(),
                context: s("a"),
                ..FleetEntry::default()
            }]
        );
    }

    #[test]
    fn single_string_kinds() {
        let got = entries(
            "defaults:\n  kinds: query\nclusters:\n  - context: a\n  - context: b\n    kinds: INGEST\n",
        );
        assert_eq!(got[0].kinds, vec![Kind::Query]);
        assert_eq!(got[1].kinds, vec![Kind::Ingest]);
    }

    #[test]
    fn repeated_kinds_are_said_once() {
        let got = entries("clusters:\n  - context: a\n    kinds: [query, ingest, query]\n");
        assert_eq!(got[0].kinds, vec![Kind::Query, Kind::Ingest]);
    }

    #[test]
    fn tags_merge_entry_wins_per_key() {
        let got = entries(
            "defaults:\n  tags:\n    team: obs\n    env: prod\nclusters:\n  - context: a\n    tags:\n      env: dev\n      owner: me\n  - context: b\n",
        );
        assert_eq!(
            got[0].tags,
            tags(&[("team", "obs"), ("env", "dev"), ("owner", "me")])
        );
        assert_eq!(got[1].tags, tags(&[("team", "obs"), ("env", "prod")]));
    }

    #[test]
    fn stdin_is_named_stdin() {
        match parse("clusters: []\n", "-") {
            Err(Error::BootstrapFile { file, .. }) => assert_eq!(file, "(stdin)"),
            other => panic!("{other:?}"),
        }
        let parsed = parse("clusters:\n  - context: a\n", "-").unwrap();
        assert_eq!(parsed.entries[0].origin, "(stdin) clusters[0]");
    }

    #[test]
    fn error_display_is_file_line_column_reason() {
        let e = parse("clusters: []\n", "f.yaml").unwrap_err();
        assert!(
            e.to_string().starts_with("f.yaml:1:1: `clusters` is empty"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_in_an_entry_is_at_the_key() {
        let (line, column, reason) =
            error("clusters:\n  - context: a\n  - context: b\n    namspace: x\n");
        assert_eq!((line, column), (4, 5));
        assert!(
            reason.starts_with(
                "unknown key `namspace` in a clusters entry: did you mean `namespace`?"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("context, cluster, region, profile"),
            "{reason}"
        );
        assert!(reason.contains("installAgent"), "{reason}");
    }

    #[test]
    fn unknown_key_in_a_flow_entry_is_at_the_key() {
        let (line, column, reason) = error("clusters:\n  - {context: a, bogus: 1}\n");
        assert_eq!((line, column), (2, 18));
        assert!(
            reason.contains("unknown key `bogus` in a clusters entry: remove it"),
            "{reason}"
        );
    }

    #[test]
    fn unknown_key_in_defaults_is_at_the_key() {
        let (line, column, reason) = error(
            "kind: Fleet\ndefaults:\n  region: x\n  service_account: y\nclusters:\n  - context: a\n",
        );
        assert_eq!((line, column), (4, 3));
        assert!(
            reason.starts_with(
                "unknown key `service_account` in defaults: did you mean `serviceAccount`?"
            ),
            "{reason}"
        );
        assert!(!reason.contains("context"), "{reason}");
    }

    #[test]
    fn context_in_defaults_is_refused() {
        let (line, column, reason) = error("defaults:\n  context: x\nclusters:\n  - cluster: a\n");
        assert_eq!((line, column), (2, 3));
        assert!(reason.contains("cannot be in defaults"), "{reason}");
    }

    #[test]
    fn unknown_top_level_key_is_at_the_key() {
        let (line, column, reason) =
            error("apiVersion: amp-iam/v1alpha1\nclusters:\n  - context: a\ncluster: b\n");
        assert_eq!((line, column), (4, 1));
        assert_eq!(
            reason,
            "unknown key `cluster` in a Fleet document's top level: did you mean `clusters`? \
             (keys: apiVersion, kind, defaults, clusters)"
        );
    }

    #[test]
    fn eksctl_keys_without_kind_are_unknown() {
        let (line, column, reason) =
            error("metadata:\n  name: a\n  region: b\nclusters:\n  - context: a\n");
        assert_eq!((line, column), (1, 1));
        assert!(reason.contains("unknown key `metadata`"), "{reason}");
        assert!(reason.contains("kind: ClusterConfig"), "{reason}");
    }

    #[test]
    fn entry_without_context_or_cluster_is_at_the_entry() {
        let (line, column, reason) =
            error("defaults:\n  region: x\nclusters:\n  - context: a\n  - region: us-east-1\n");
        assert_eq!((line, column), (5, 5));
        assert!(
            reason.starts_with("clusters[1] names no cluster"),
            "{reason}"
        );
    }

    #[test]
    fn entry_that_is_not_a_mapping() {
        let (line, column, reason) = error("clusters:\n  - context: a\n  - prod-eu\n");
        assert_eq!((line, column), (3, 5));
        assert!(
            reason.starts_with("clusters[1] must be a cluster entry"),
            "{reason}"
        );
        assert!(reason.ends_with("not `prod-eu`"), "{reason}");

        let (line, column, reason) = error("clusters:\n  - [a, b]\n");
        assert_eq!((line, column), (2, 5));
        assert!(reason.ends_with("not a list"), "{reason}");

        let (line, column, reason) = error("clusters:\n  -\n  - context: a\n");
        assert_eq!(line, 2, "{column}");
        assert!(reason.ends_with("not nothing"), "{reason}");
    }

    #[test]
    fn wrong_types_are_at_the_value() {
        let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: 3\n");
        assert_eq!((line, column), (3, 12));
        assert!(reason.starts_with("unknown kind `3`"), "{reason}");

        let (line, column, reason) = error("clusters:\n  - context: a\n    restart: maybe\n");
        assert_eq!((line, column), (3, 14));
        assert_eq!(reason, "`restart` must be true or false, not `maybe`");

        let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: {a: b}\n");
        assert_eq!((line, column), (3, 12));
        assert_eq!(
            reason,
            "`kinds` must be a kind (ingest, query or fargate) or a list of kinds, not a mapping"
        );

        let (line, column, reason) = error("clusters:\n  - context: a\n    region: [x]\n");
        assert_eq!((line, column), (3, 13));
        assert_eq!(
            reason,
            "`region` must be a single value, not a list or a mapping"
        );

        let (line, column, reason) = error("clusters:\n  - context: a\n    region:\n      - x\n");
        assert_eq!((line, column), (4, 7));
        assert_eq!(
            reason,
            "`region` must be a single value, not a list or a mapping"
        );

        let (line, column, reason) = error("clusters: prod\n");
        assert_eq!((line, column), (1, 11));
        assert!(reason.starts_with("`clusters` must be a list"), "{reason}");

        let (line, column, reason) = error("defaults: 3\nclusters:\n  - context: a\n");
        assert_eq!((line, column), (1, 11));
        assert!(
            reason.starts_with("`defaults` must be a mapping"),
            "{reason}"
        );

        let (line, column, reason) = error("clusters:\n  - context: a\n    tags: [x]\n");
        assert_eq!((line, column), (3, 11));
        assert!(
            reason.starts_with("`tags` must be a mapping of tag keys to values"),
            "{reason}"
        );
        assert!(reason.ends_with("not a list"), "{reason}");

        let (line, column, reason) = error("clusters:\n  - context: a\n    tags: {team: }\n");
        assert_eq!((line, column), (3, 12));
        assert!(reason.starts_with("tag `team` has no value"), "{reason}");
    }

    #[test]
    fn unknown_kind_and_mode_are_at_the_value() {
        let (line, column, reason) =
            error("clusters:\n  - context: a\n    kinds: [query, ingets]\n");
        assert_eq!((line, column), (3, 20));
        assert_eq!(
            reason,
            "unknown kind `ingets`: did you mean `ingest`? the kinds are ingest, query and fargate"
        );

        let (line, column, reason) = error("defaults:\n  mode: oidc\nclusters:\n  - context: a\n");
        assert_eq!((line, column), (2, 9));
        assert_eq!(
            reason,
            "unknown mode `oidc`: the modes are irsa and pod-identity"
        );

        let (_, _, reason) = error("clusters:\n  - context: a\n    kinds: ingest,query\n");
        assert!(reason.contains("write a list"), "{reason}");
    }

    #[test]
    fn empty_values_are_errors() {
        let (line, column, reason) = error("clusters:\n  - context: \"\"\n");
        assert_eq!((line, column), (2, 14));
        assert_eq!(
            reason,
            "`context` is empty: give a value, or leave the key out"
        );

        let (line, column, reason) = error("clusters:\n  - context: a\n    kinds: []\n");
        assert_eq!((line, column), (3, 12));
        assert!(reason.starts_with("`kinds` is an empty list"), "{reason}");
    }

    #[test]
    fn empty_or_missing_clusters() {
        let (line, column, reason) = error("kind: Fleet\nclusters: []\n");
        assert_eq!((line, column), (2, 1));
        assert!(reason.starts_with("`clusters` is empty"), "{reason}");

        let (line, column, _) = error("kind: Fleet\nclusters:\n");
        assert_eq!((line, column), (2, 1));

        let (line, column, reason) = error("kind: Fleet\ndefaults:\n  region: x\n");
        assert_eq!((line, column), (1, 1));
        assert!(reason.starts_with("no clusters"), "{reason}");
    }

    #[test]
    fn empty_file_has_no_clusters() {
        for text in ["", "\n", "# nothing\n", "---\n...\n"] {
            let (line, column, reason) = error(text);
            assert_eq!((line, column), (1, 1));
            assert!(reason.starts_with("no clusters"), "{reason}");
        }
    }

    #[test]
    fn wrong_api_version_or_kind() {
        let (line, column, reason) = error("apiVersion: amp-iam/v1\nclusters:\n  - context: a\n");
        assert_eq!((line, column), (1, 13));
        assert!(
            reason.starts_with("unknown apiVersion `amp-iam/v1`"),
            "{reason}"
        );

        let (line, column, reason) =
            error("apiVersion: amp-iam/v1alpha1\nkind: Fleets\nclusters:\n  - context: a\n");
        assert_eq!((line, column), (2, 7));
        assert!(reason.starts_with("unknown kind `Fleets`"), "{reason}");

        let (line, column, reason) = error("apiVersion: v1\nkind: ClusterConfig\n");
        assert_eq!((line, column), (1, 13));
        assert!(reason.contains("eksctl.io/v1alpha5"), "{reason}");

        let (line, column, reason) = error("kind: ClusterConfig\nmetadata: {name: a}\n");
        assert_eq!((line, column), (1, 7));
        assert!(reason.contains("without apiVersion"), "{reason}");

        let (line, column, reason) = error("apiVersion: eksctl.io/v1alpha5\nmetadata: {name: a}\n");
        assert_eq!((line, column), (1, 13));
        assert!(reason.contains("set kind: ClusterConfig"), "{reason}");
    }

    #[test]
    fn duplicate_key_and_yaml_syntax() {
        let (line, column, reason) = error("clusters:\n  - context: a\n    context: b\n");
        assert_eq!((line, column), (3, 5));
        assert_eq!(
            reason,
            "`context` is given twice in the same mapping: keep one"
        );

        let (line, _, reason) = error("clusters:\n  - context: \"a\n");
        assert!(line >= 2, "{line}");
        assert!(
            reason.starts_with("the YAML cannot be read here: "),
            "{reason}"
        );

        let (line, column, reason) = error("- context: a\n");
        assert_eq!((line, column), (1, 1));
        assert!(reason.starts_with("expected a Fleet document"), "{reason}");
    }

    const EKSCTL: &str = "\
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata:
  name: prod
  region: eu-west-1
  version: \"1.33\"
vpc:
  cidr: 10.0.0.0/16
managedNodeGroups:
  - name: ng
iam:
  withOIDC: true
  serviceAccounts:
    - metadata:
        name: amp-ingest
        namespace: prometheus
        labels: {app: prometheus}
      attachPolicyARNs:
        - arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess
      roleName: prod-amp-ingest
      permissionsBoundary: arn:aws:iam::123456789012:policy/b
      tags: {team: obs}
    - metadata:
        name: aws-load-balancer-controller
        namespace: kube-system
      wellKnownPolicies:
        awsLoadBalancerController: true
    - metadata:
        name: grafana
      attachPolicyARNs: [\"arn:aws-us-gov:iam::aws:policy/AmazonPrometheusQueryAccess\"]
  podIdentityAssociations:
    - namespace: monitoring
      serviceAccountName: collector
      roleName: collector-role
      permissionPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]
      permissionsBoundaryARN: arn:aws:iam::123456789012:policy/pb
      tags: {owner: me}
      createServiceAccount: true
fargateProfiles:
  - name: fp
";

    #[test]
    fn eksctl_cluster_config() {
        let parsed = parse(EKSCTL, "eks.yaml").unwrap();
        let base = FleetEntry {
            cluster: s("prod"),
            region: s("eu-west-1"),
            ..FleetEntry::default()
        };
        assert_eq!(
            parsed.entries,
            vec![
                FleetEntry {
                    origin: "eks.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[0]".into(),
                    namespace: s("prometheus"),
                    kinds: vec![Kind::Ingest],
                    mode: Some(IdentityMode::Irsa),
                    service_account: s("amp-ingest"),
                    role_name: s("prod-amp-ingest"),
                    permissions_boundary: s("arn:aws:iam::123456789012:policy/b"),
                    tags: tags(&[("team", "obs")]),
                    ..base.clone()
                },
                FleetEntry {
                    origin: "eks.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[2]".into(),
                    namespace: s("default"),
                    kinds: vec![Kind::Query],
                    mode: Some(IdentityMode::Irsa),
                    service_account: s("grafana"),
                    ..base.clone()
                },
                FleetEntry {
                    origin: "eks.yaml (eksctl ClusterConfig prod) iam.podIdentityAssociations[0]"
                        .into(),
                    namespace: s("monitoring"),
                    kinds: vec![Kind::Ingest],
                    mode: Some(IdentityMode::PodIdentity),
                    service_account: s("collector"),
                    role_name: s("collector-role"),
                    permissions_boundary: s("arn:aws:iam::123456789012:policy/pb"),
                    tags: tags(&[("owner", "me")]),
                    ..base
                },
            ]
        );
        assert_eq!(
            parsed.notes,
            vec![
                "eks.yaml: iam.serviceAccounts[1] (kube-system/aws-load-balancer-controller) \
                 attaches no AMP policy: not this tool's, skipped"
            ]
        );
    }

    fn eksctl_error(sa: &str) -> (usize, usize, String) {
        let text = format!(
            "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: prod\n  region: eu-west-1\niam:\n  serviceAccounts:\n{sa}"
        );
        error(&text)
    }

    #[test]
    fn eksctl_refuses_attach_policy_at_the_key() {
        let (line, column, reason) = eksctl_error(
            "    - metadata: {name: amp, namespace: obs}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]\n      attachPolicy:\n        Version: \"2012-10-17\"\n",
        );
        assert_eq!((line, column), (10, 7));
        assert!(
            reason.starts_with("iam.serviceAccounts[0] (obs/amp) sets `attachPolicy`"),
            "{reason}"
        );
        assert!(
            reason.contains("keep this ServiceAccount in eksctl, or drop the key"),
            "{reason}"
        );
    }

    #[test]
    fn eksctl_refuses_other_keys_at_the_key() {
        let amp = "    - metadata: {name: amp}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n";
        for (extra, what) in [
            (
                "      wellKnownPolicies: {autoScaler: true}\n",
                "`wellKnownPolicies`",
            ),
            (
                "      attachRoleARN: arn:aws:iam::1:role/r\n",
                "`attachRoleARN`",
            ),
            ("      roleOnly: true\n", "`roleOnly: true`"),
        ] {
            let (line, column, reason) = eksctl_error(&format!("{amp}{extra}"));
            assert_eq!((line, column), (10, 7), "{extra}");
            assert!(reason.contains(what), "{reason}");
        }
        // roleOnly: false says nothing more than the tool does.
        let text = format!(
            "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {{name: p, region: r}}\niam:\n  serviceAccounts:\n{amp}      roleOnly: false\n"
        );
        assert_eq!(entries(&text).len(), 1);
    }

    #[test]
    fn eksctl_refuses_both_amp_policies_at_the_second() {
        let (line, column, reason) = eksctl_error(
            "    - metadata: {name: amp}\n      attachPolicyARNs:\n        - arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess\n        - arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess\n",
        );
        assert_eq!((line, column), (11, 11));
        assert!(
            reason.starts_with("iam.serviceAccounts[0] (default/amp) attaches both"),
            "{reason}"
        );
    }

    #[test]
    fn eksctl_refuses_amp_and_another_arn_at_the_other() {
        let (line, column, reason) = eksctl_error(
            "    - metadata: {name: amp}\n      attachPolicyARNs:\n        - arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy\n        - arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess\n",
        );
        assert_eq!((line, column), (10, 11));
        assert!(
            reason.contains("attaches `arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy` beside the AMP policy"),
            "{reason}"
        );
    }

    #[test]
    fn eksctl_refuses_pod_identity_role_arn() {
        let text = "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: p, region: r}\niam:\n  podIdentityAssociations:\n    - namespace: n\n      serviceAccountName: s\n      permissionPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]\n      roleARN: arn:aws:iam::1:role/r\n";
        let (line, column, reason) = error(text);
        assert_eq!((line, column), (9, 7));
        assert!(
            reason.starts_with("iam.podIdentityAssociations[0] (n/s) sets `roleARN`"),
            "{reason}"
        );
    }

    #[test]
    fn eksctl_without_amp_or_metadata() {
        let (line, column, reason) = error(
            "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: prod, region: r}\niam:\n  serviceAccounts:\n    - metadata: {name: x}\n      attachPolicyARNs: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n",
        );
        assert_eq!((line, column), (1, 1));
        assert!(
            reason.starts_with("eksctl ClusterConfig prod declares no AMP ServiceAccount"),
            "{reason}"
        );

        let (line, column, reason) =
            error("apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: prod\n");
        assert_eq!((line, column), (3, 1));
        assert!(reason.contains("without metadata.region"), "{reason}");

        let (line, column, reason) = error(
            "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: p, region: r}\niam:\n  serviceAccounts:\n    - attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n",
        );
        assert_eq!((line, column), (6, 7));
        assert!(reason.contains("without metadata.name"), "{reason}");
    }

    #[test]
    fn eksctl_entries_of_the_wrong_shape() {
        let (line, column, reason) = eksctl_error("    - amp-ingest\n");
        assert_eq!((line, column), (8, 7));
        assert!(
            reason.starts_with("iam.serviceAccounts[0] must be a mapping"),
            "{reason}"
        );

        let (line, column, reason) = eksctl_error(
            "    - metadata: {name: amp}\n      attachPolicyARNs: arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess\n",
        );
        assert_eq!((line, column), (9, 25));
        assert!(
            reason.starts_with("`attachPolicyARNs` must be a list"),
            "{reason}"
        );

        let (line, column, reason) = error(
            "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: p, region: r}\niam:\n  podIdentityAssociations:\n    - namespace: n\n      permissionPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusQueryAccess]\n",
        );
        assert_eq!((line, column), (6, 7));
        assert!(
            reason.starts_with(
                "iam.podIdentityAssociations[0] needs `namespace:` and `serviceAccountName:`"
            ),
            "{reason}"
        );
    }

    #[test]
    fn stream_mixing_both_formats() {
        let text = "\
clusters:
  - context: a
---
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: prod, region: eu-west-1}
iam:
  serviceAccounts:
    - metadata: {name: amp-ingest, namespace: prometheus}
      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]
---
kind: Fleet
clusters:
  - cluster: b
    region: r
";
        let got = entries(text);
        let origins: Vec<&str> = got.iter().map(|e| e.origin.as_str()).collect();
        assert_eq!(
            origins,
            vec![
                "fleet.yaml (document 1) clusters[0]",
                "fleet.yaml (eksctl ClusterConfig prod) iam.serviceAccounts[0]",
                "fleet.yaml (document 3) clusters[0]",
            ]
        );
        assert_eq!(got[1].kinds, vec![Kind::Ingest]);
        assert_eq!(got[2].cluster, s("b"));
    }

    #[test]
    fn stream_errors_count_lines_of_the_whole_file() {
        let text = "\
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: prod, region: eu-west-1}
iam:
  serviceAccounts:
    - metadata: {name: amp-ingest, namespace: prometheus}
      attachPolicyARNs: [arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess]
---
clusters:
  - context: a
    restart: maybe
";
        let (line, column, reason) = error(text);
        assert_eq!((line, column), (11, 14));
        assert_eq!(reason, "`restart` must be true or false, not `maybe`");

        let text = "clusters:\n  - context: a\n---\nclusters:\n  - context: b\n    bogus: 1\n";
        let (line, column, _) = error(text);
        assert_eq!((line, column), (6, 5));
    }

    #[test]
    fn amp_policy_arns_in_every_partition() {
        assert_eq!(
            amp_policy_kind("arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess"),
            Some(Kind::Ingest)
        );
        assert_eq!(
            amp_policy_kind("arn:aws-cn:iam::aws:policy/AmazonPrometheusQueryAccess"),
            Some(Kind::Query)
        );
        assert_eq!(
            amp_policy_kind("arn:aws:iam::123456789012:policy/AmazonPrometheusQueryAccess"),
            None
        );
        assert_eq!(amp_policy_kind("AmazonPrometheusQueryAccess"), None);
    }

    #[test]
    fn key_at_reads_the_key_before_a_value() {
        let text = "a:\n  b: [1]\n  c:\n    - x\n  - {d: 1}\n";
        assert_eq!(key_at(text, 2, 6).as_deref(), Some("b"));
        assert_eq!(key_at(text, 4, 5).as_deref(), Some("c"));
        assert_eq!(key_at(text, 5, 9).as_deref(), Some("d"));
        assert_eq!(key_at(text, 9, 1), None);
    }
}
