//! The registry file: TOML in, a checked `Registry` out, or one error naming the line and the
//! rule it breaks.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use toml::Spanned;

mod rules;

use crate::registry::Registry;
use crate::schema::{Draw, FeatureKind, ValueType};
use rules::{check_entities, check_services, check_views};

/// The demo's registry, `features.toml` at the root of the repository, built in.
pub const DEFAULT_FILE: &str = include_str!("../../../../features.toml");

/// Why a registry file was refused: where, and which rule.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read the feature registry {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {rule}")]
    Invalid {
        origin: String,
        line: usize,
        rule: String,
    },
    /// `--key-prefix` cannot give every entity a prefix of its own.
    #[error("--key-prefix: {0}")]
    KeyPrefix(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    /// One entity (`[entity]`), or several (`[[entities]]`).
    entity: Option<Spanned<RawEntity>>,
    entities: Option<Spanned<Vec<Spanned<RawEntity>>>>,
    views: Vec<RawView>,
    #[serde(default)]
    services: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    /// `view:feature`, or a view's name for all of its features.
    features: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    name: Spanned<String>,
    join_key: Spanned<String>,
    key_prefix: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawView {
    name: Spanned<String>,
    /// Which entity's hash holds the view; needed only when there are several.
    entity: Option<Spanned<String>>,
    kind: Spanned<FeatureKind>,
    ttl_seconds: Spanned<u64>,
    push_source: Option<Spanned<String>>,
    source: Option<Spanned<RawSource>>,
    features: Spanned<Vec<RawFeature>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    path: String,
    entity_column: Option<String>,
    #[serde(default = "default_timestamp_column")]
    timestamp_column: String,
    created_column: Option<String>,
    #[serde(default)]
    columns: std::collections::BTreeMap<String, String>,
}

/// Feast's name for it, and what its SDK writes.
fn default_timestamp_column() -> String {
    "event_timestamp".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    name: Spanned<String>,
    #[serde(rename = "type")]
    value_type: ValueType,
    #[serde(default)]
    read_by_default: bool,
    #[serde(default)]
    batch_read_by_default: bool,
    draw: Option<Spanned<Draw>>,
}

/// The built-in demo registry, parsed once.
pub fn demo() -> Arc<Registry> {
    static DEMO: OnceLock<Arc<Registry>> = OnceLock::new();
    Arc::clone(DEMO.get_or_init(|| {
        Arc::new(parse(DEFAULT_FILE, "features.toml").expect("the built-in registry is valid"))
    }))
}

/// The file at `path`, or the built-in one.
pub fn load(path: Option<&Path>) -> Result<Registry, RegistryError> {
    let Some(path) = path else {
        return Ok(demo().as_ref().clone());
    };
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
        path: origin.clone(),
        source,
    })?;
    parse(&text, &origin)
}

/// Parses and checks a registry; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Registry, RegistryError> {
    let at = |offset: usize, rule: String| RegistryError::Invalid {
        origin: origin.to_owned(),
        line: text[..offset.min(text.len())].matches('\n').count() + 1,
        rule,
    };
    let raw: RawRegistry = toml::from_str(text).map_err(|e| {
        at(
            e.span().map_or(0, |span| span.start),
            e.message().trim().to_owned(),
        )
    })?;
    let raw_entities = match (raw.entity, raw.entities) {
        (Some(one), None) => vec![one],
        (None, Some(several)) => several.into_inner(),
        (Some(one), Some(_)) => {
            return Err(at(
                one.span().start,
                "give [entity] or [[entities]], not both".into(),
            ))
        }
        (None, None) => {
            return Err(at(
                0,
                "an [entity] (or [[entities]]) with name, join_key and key_prefix is required"
                    .into(),
            ))
        }
    };
    let entities = check_entities(raw_entities).map_err(|(offset, rule)| at(offset, rule))?;
    // Paths in the file are read against its own directory.
    let base = Path::new(origin).parent().unwrap_or(Path::new(""));
    let views =
        check_views(raw.views, &entities, base).map_err(|(offset, rule)| at(offset, rule))?;
    let services =
        check_services(raw.services, &views).map_err(|(offset, rule)| at(offset, rule))?;
    Ok(Registry {
        entities,
        views,
        services,
        lookup: Default::default(),
    })
}

#[cfg(test)]
mod tests;
