//! Where things are, shared by both formats: values read with their location
//! ([`Spanned`], and `Keyed` for a mapping's keys), list items and tags kept as written
//! to be refused at their location, the errors placed there (`FILE:LINE:COLUMN:
//! reason`), serde-saphyr's own errors in the tool's words, and the checks of the
//! values both formats read.

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

// ---------------------------------------------------------------------------
// What is read, with where it is.

pub(super) type Str = Spanned<String>;

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
pub(super) use scalars_into;

/// What was found where something else belongs, for messages.
fn quoted(text: String) -> String {
    format!("`{text}`")
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<String, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok("a list".to_owned())
}

pub(super) fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<String, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok("a mapping".to_owned())
}

/// `tags:` as written, in order (a value may be missing); `Err`: what was found
/// instead of a mapping. Checked later.
#[derive(Debug)]
pub(super) struct RawTags(Result<Vec<(Str, Option<Str>)>, String>);

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

/// A list item that should be a mapping: `Err` is what was found instead, to be
/// refused at the item's location (checked later, not by the deserializer, whose
/// location for an error raised here would be a guess).
#[derive(Debug)]
pub(super) struct Item<T>(pub(super) Result<T, String>);

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
pub(super) struct Keyed<T> {
    pub(super) value: T,
    pub(super) keys: Vec<Str>,
}

impl<T> Keyed<T> {
    pub(super) fn key(&self, name: &str) -> Option<Location> {
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

// ---------------------------------------------------------------------------
// Errors at a location, and the checks of shared values.

pub(super) struct Ctx<'a> {
    /// The file's name in messages.
    pub(super) file: String,
    pub(super) text: &'a str,
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

    pub(super) fn at(&self, loc: Location, reason: impl Into<String>) -> Error {
        self.error(loc.line(), loc.column(), reason.into())
    }

    pub(super) fn at_start(&self, reason: impl Into<String>) -> Error {
        self.error(1, 1, reason.into())
    }

    /// An error of serde-saphyr (YAML syntax, a type that does not fit, an unknown key
    /// of a Fleet mapping) in the tool's words, at its location.
    pub(super) fn yaml_error(&self, e: &serde_saphyr::Error) -> Error {
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

    /// A string value; empty is an error (leave the key out instead).
    pub(super) fn text(&self, key: &str, value: Option<Str>) -> Result<Option<String>, Error> {
        match value {
            Some(v) if v.value.trim().is_empty() => Err(self.at(
                v.referenced,
                format!("`{key}` is empty: give a value, or leave the key out"),
            )),
            Some(v) => Ok(Some(v.value)),
            None => Ok(None),
        }
    }

    pub(super) fn flag(&self, key: &str, value: Option<Str>) -> Result<Option<bool>, Error> {
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

    pub(super) fn tags(
        &self,
        value: Option<Spanned<RawTags>>,
    ) -> Result<Vec<(String, String)>, Error> {
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

pub(super) fn unknown_key_reason(field: &str, place: &str, accepted: &[&str]) -> String {
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
pub(super) fn suggest<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
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
pub(super) fn key_at(text: &str, line: u64, column: u64) -> Option<String> {
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
