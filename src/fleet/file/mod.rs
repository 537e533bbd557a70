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
//!
//! The parts: `fleet_doc` reads the tool's own Fleet document, `eksctl` an eksctl
//! ClusterConfig, and `location` holds what both share: the wrappers that keep where a
//! value is, the errors placed there, and serde-saphyr's errors in the tool's words.
//! Here: the public API, and the dispatch of each document to its format.

mod eksctl;
mod fleet_doc;
mod location;

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::error::Error;
use crate::recipe::{IdentityMode, Kind};
use eksctl::{EksIam, EksMetadata};
use fleet_doc::{RawDefaults, RawEntry};
use location::{Ctx, Item, Str};

/// The `apiVersion` of a Fleet document.
pub const API_VERSION: &str = "amp-iam/v1alpha1";
const FLEET_KIND: &str = "Fleet";
const EKSCTL_KIND: &str = "ClusterConfig";
const EKSCTL_API_PREFIX: &str = "eksctl.io/";
const EKSCTL_API_VERSION: &str = "eksctl.io/v1alpha5";

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
// One document, and which format it is.

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

impl Ctx<'_> {
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
}

#[cfg(test)]
mod tests;
