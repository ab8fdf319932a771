//! The registry file: TOML in, a checked `Registry` out, or one error naming the line and the
//! rule it breaks.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use toml::Spanned;

use crate::domain::{FeatureName, KeyPrefix};
use crate::limits::MAX_TTL_SECONDS;
use crate::registry::{EntityDef, Feature, Registry, View, STAMP_PREFIX};
use crate::schema::{encode, Draw, FeatureKind, ValueType};

/// The demo's registry, `features.toml` at the root of the repository, built in.
pub const DEFAULT_FILE: &str = include_str!("../../../features.toml");

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    entity: RawEntity,
    views: Vec<RawView>,
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
    kind: Spanned<FeatureKind>,
    ttl_seconds: Spanned<u64>,
    push_source: Option<Spanned<String>>,
    features: Spanned<Vec<RawFeature>>,
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
    let entity = check_entity(&raw.entity).map_err(|(offset, rule)| at(offset, rule))?;
    let views = check_views(raw.views).map_err(|(offset, rule)| at(offset, rule))?;
    Ok(Registry { entity, views })
}

type Refusal = (usize, String);

/// The most features of one kind: a write of that kind passes all of them, with two times per
/// view, to one script, and Redis's Lua unpacks at most about 8,000 values.
const MAX_FEATURES_PER_KIND: usize = 1_000;

fn check_entity(raw: &RawEntity) -> Result<EntityDef, Refusal> {
    for (field, value) in [("name", &raw.name), ("join_key", &raw.join_key)] {
        identifier(value).map_err(|rule| (value.span().start, format!("entity {field} {rule}")))?;
    }
    let key_prefix = KeyPrefix::parse(raw.key_prefix.get_ref()).map_err(|rule| {
        (
            raw.key_prefix.span().start,
            format!("entity key_prefix {rule}"),
        )
    })?;
    Ok(EntityDef {
        name: raw.name.get_ref().clone(),
        join_key: raw.join_key.get_ref().clone(),
        key_prefix,
    })
}

/// Letters, digits, `_` and `-`, not empty: safe in a `view:feature` reference and a URL.
fn identifier(value: &Spanned<String>) -> Result<(), String> {
    let name = value.get_ref();
    if name.is_empty() || name.len() > 128 {
        return Err(format!("{name:?} must be 1 to 128 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{name:?} may hold only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

fn check_views(raw: Vec<RawView>) -> Result<Vec<View>, Refusal> {
    let mut views = Vec::with_capacity(raw.len());
    let mut view_names = HashSet::new();
    let mut feature_names = HashSet::new();
    let mut push_sources = HashSet::new();
    let mut ttls: [Option<u64>; 2] = [None, None];
    let mut features_of_kind = [0_usize; 2];
    for view in raw {
        let name = &view.name;
        identifier(name).map_err(|rule| (name.span().start, format!("view name {rule}")))?;
        if !view_names.insert(name.get_ref().clone()) {
            return Err((
                name.span().start,
                format!("view {:?} is defined twice", name.get_ref()),
            ));
        }
        let kind = *view.kind.get_ref();
        let ttl = *view.ttl_seconds.get_ref();
        if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err((
                view.ttl_seconds.span().start,
                format!("ttl_seconds must be from 1 to {MAX_TTL_SECONDS} (100 years)"),
            ));
        }
        let shared = &mut ttls[kind as usize];
        match *shared {
            Some(other) if other != ttl => {
                let why = match kind {
                    FeatureKind::Batch => "a hash has one key TTL",
                    FeatureKind::Streaming => "the worker and /push write them in one HSETEX",
                };
                return Err((
                    view.ttl_seconds.span().start,
                    format!("every {} view must have the same ttl_seconds ({why}): {other} before, {ttl} here", kind.label()),
                ));
            }
            _ => *shared = Some(ttl),
        }
        if let Some(source) = &view.push_source {
            identifier(source)
                .map_err(|rule| (source.span().start, format!("push_source {rule}")))?;
            if !push_sources.insert(source.get_ref().clone()) {
                return Err((
                    source.span().start,
                    format!("push source {:?} feeds two views", source.get_ref()),
                ));
            }
        }
        if view.features.get_ref().is_empty() {
            return Err((
                view.features.span().start,
                format!("view {:?} has no features", name.get_ref()),
            ));
        }
        let mut features = Vec::new();
        for feature in view.features.into_inner() {
            let at = feature.name.span().start;
            let feature_name = feature.name.into_inner();
            FeatureName::parse(&feature_name)
                .map_err(|rule| (at, format!("feature name {rule}")))?;
            if feature_name.starts_with('_') || feature_name.contains(':') {
                return Err((at, format!("feature {feature_name:?} must not start with '_' (reserved for {STAMP_PREFIX}<view>) nor contain ':'")));
            }
            if !feature_names.insert(feature_name.clone()) {
                return Err((at, format!("feature {feature_name:?} is in two views: an entity's hash holds one field per name")));
            }
            features_of_kind[kind as usize] += 1;
            if features_of_kind[kind as usize] > MAX_FEATURES_PER_KIND {
                return Err((at, format!("more than {MAX_FEATURES_PER_KIND} {} features: one write carries them all, and Redis's Lua cannot unpack so many values", kind.label())));
            }
            if let Some(draw) = &feature.draw {
                check_draw(draw.get_ref(), feature.value_type).map_err(|rule| {
                    (
                        draw.span().start,
                        format!("feature {feature_name:?}: draw {rule}"),
                    )
                })?;
            }
            features.push(Feature {
                name: feature_name,
                value_type: feature.value_type,
                read_by_default: feature.read_by_default,
                batch_read_by_default: feature.batch_read_by_default,
                draw: feature.draw.map(Spanned::into_inner),
            });
        }
        views.push(View {
            name: view.name.into_inner(),
            kind,
            ttl_seconds: ttl,
            push_source: view.push_source.map(Spanned::into_inner),
            features,
        });
    }
    if ttls[FeatureKind::Batch as usize].is_none() {
        return Err((0, "at least one view must be of kind \"batch\": only the batch path creates an entity, with its key TTL".into()));
    }
    Ok(views)
}

/// A draw the synthesizer can always make, of values of the feature's type.
fn check_draw(draw: &Draw, value_type: ValueType) -> Result<(), String> {
    let fits = |value: &str| {
        let json = match value_type {
            ValueType::String => serde_json::Value::from(value),
            _ => serde_json::from_str(value).unwrap_or(serde_json::Value::Null),
        };
        encode(value_type, &json).is_some()
    };
    match draw {
        Draw::OneOf(values) if values.is_empty() => Err("one_of needs at least one value".into()),
        Draw::Weighted(values) if values.iter().all(|(_, weight)| *weight == 0) => {
            Err("weighted needs a value with a weight above 0".into())
        }
        Draw::Between(low, high) => match value_type {
            _ if !(low.is_finite() && high.is_finite() && low <= high) => Err(format!(
                "between [{low}, {high}] needs finite bounds, the lower first"
            )),
            ValueType::Int if low.fract() != 0.0 || high.fract() != 0.0 => {
                Err("between of an int feature takes whole bounds".into())
            }
            ValueType::Int | ValueType::Float => Ok(()),
            other => Err(format!("between draws numbers, not {}", other.rule())),
        },
        Draw::OneOf(values) => match values.iter().find(|value| !fits(value)) {
            Some(value) => Err(format!("value {value:?} is not a {}", value_type.rule())),
            None => Ok(()),
        },
        Draw::Weighted(values) => match values.iter().find(|(value, _)| !fits(value)) {
            Some((value, _)) => Err(format!("value {value:?} is not a {}", value_type.rule())),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        crate::registry_file::parse(text, "f.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_draw_the_synthesizer_cannot_make_is_refused_with_its_line() {
        let with = |feature: &str| {
            format!(
                "[entity]\nname = \"e\"\njoin_key = \"e_id\"\nkey_prefix = \"e:\"\n\
                 [[views]]\nname = \"v\"\nkind = \"batch\"\nttl_seconds = 60\nfeatures = [\n{feature}\n]\n"
            )
        };
        for (feature, rule) in [
            (
                r#"{ name = "n", type = "int", draw = { one_of = [] } }"#,
                "one_of needs at least one value",
            ),
            (
                r#"{ name = "n", type = "int", draw = { one_of = ["x"] } }"#,
                r#"value "x" is not a whole number"#,
            ),
            (
                r#"{ name = "n", type = "int", draw = { weighted = [["1", 0]] } }"#,
                "a weight above 0",
            ),
            (
                r#"{ name = "n", type = "int", draw = { between = [5, 1] } }"#,
                "the lower first",
            ),
            (
                r#"{ name = "n", type = "int", draw = { between = [0.5, 1] } }"#,
                "whole bounds",
            ),
            (
                r#"{ name = "s", type = "string", draw = { between = [0, 1] } }"#,
                "draws numbers",
            ),
        ] {
            let refused = refusal(&with(feature));
            assert!(refused.starts_with("f.toml:10: "), "{refused}");
            assert!(refused.contains(rule), "{refused}");
        }
        assert!(crate::registry_file::parse(
            &with(r#"{ name = "n", type = "float", read_by_default = true, draw = { between = [0, 1.5] } }"#),
            "f.toml"
        )
        .is_ok());
    }

    const ENTITY: &str =
        "[entity]\nname = \"user\"\njoin_key = \"user_id\"\nkey_prefix = \"fs:user:\"\n";

    #[test]
    fn the_built_in_registry_is_the_demo_in_two_views() {
        let demo = crate::registry_file::demo();
        let names: Vec<_> = demo.views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["user_batch", "user_stream"]);
        assert_eq!(demo.names_of(FeatureKind::Batch).count(), 6);
        assert_eq!(demo.names_of(FeatureKind::Streaming).count(), 5);
        assert_eq!(
            demo.pushed_by("user_stream_push").unwrap().name,
            "user_stream"
        );
        assert_eq!(demo.ttl_of(FeatureKind::Streaming), Some(300));
        assert_eq!(demo.entity.join_key, "user_id");
    }

    #[test]
    fn each_broken_rule_names_its_line() {
        let view = |body: &str| format!("{ENTITY}\n[[views]]\n{body}");
        let cases = [
            ("[entity]\nname = \"user\"\n", "f.toml:1: missing field `join_key`"),
            (&view("name = \"v\"\nkind = \"hourly\"\nttl_seconds = 5\nfeatures = [{ name = \"a\", type = \"int\" }]"), "f.toml:8: unknown variant `hourly`"),
            (&view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [{ name = \"a\", type = \"decimal\" }]"), "f.toml:10: unknown variant `decimal`"),
            (&view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 0\nfeatures = [{ name = \"a\", type = \"int\" }]"), "f.toml:9: ttl_seconds must be from 1 to 3153600000"),
            (&view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 9223372036854775807\nfeatures = [{ name = \"a\", type = \"int\" }]"), "f.toml:9: ttl_seconds must be from 1 to 3153600000"),
            (&view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [\n{ name = \"a\", type = \"int\" },\n{ name = \"a\", type = \"int\" }]"), "f.toml:12: feature \"a\" is in two views"),
            (&view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [{ name = \"_ts\", type = \"int\" }]"), "f.toml:10: feature \"_ts\" must not start with '_'"),
            (&view("name = \"v\"\nkind = \"streaming\"\nttl_seconds = 5\nfeatures = [{ name = \"a\", type = \"int\" }]"), "f.toml:1: at least one view must be of kind \"batch\""),
            (&view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nextra = 1\nfeatures = [{ name = \"a\", type = \"int\" }]"), "f.toml:10: unknown field `extra`"),
        ];
        for (text, expected) in cases {
            let error = refusal(text);
            assert!(
                error.starts_with(expected),
                "{error}\n  expected: {expected}"
            );
        }
        let many: String = (0..1_001)
            .map(|n| format!("{{ name = \"f{n}\", type = \"int\" }},\n"))
            .collect();
        let too_many = view(&format!(
            "name = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [\n{many}]"
        ));
        assert!(
            refusal(&too_many).starts_with("f.toml:1011: more than 1000 batch features"),
            "{}",
            refusal(&too_many)
        );
        let two_ttls = view("name = \"a\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [{ name = \"x\", type = \"int\" }]\n[[views]]\nname = \"b\"\nkind = \"batch\"\nttl_seconds = 6\nfeatures = [{ name = \"y\", type = \"int\" }]");
        assert!(refusal(&two_ttls)
            .starts_with("f.toml:14: every batch view must have the same ttl_seconds"));
        let valid = view("name = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [{ name = \"a\", type = \"int\" }]");
        assert!(crate::registry_file::parse(&valid, "f.toml").is_ok());
        let error = refusal(&valid.replace("fs:user:", ""));
        assert!(
            error.starts_with("f.toml:4: entity key_prefix must not be empty"),
            "{error}"
        );
    }

    #[test]
    fn flags_override_the_file() {
        let prefix = KeyPrefix::parse("t:").unwrap();
        let registry = crate::registry_file::demo()
            .as_ref()
            .clone()
            .with_overrides(Some(&prefix), None, Some(3));
        assert_eq!(registry.entity.key_prefix.as_str(), "t:");
        assert_eq!(registry.ttl_of(FeatureKind::Batch), Some(86_400));
        assert_eq!(registry.ttl_of(FeatureKind::Streaming), Some(3));
    }

    #[test]
    fn a_row_takes_kind_and_type_from_the_registry() {
        let registry = demo();
        let name = "account_age_days".to_owned();
        let row = crate::model::FeatureValue::new(
            &registry,
            name,
            Some("42".into()),
            crate::model::Ttl::Persistent,
        );
        assert_eq!(row.typed, Some(serde_json::json!(42)));
        assert_eq!(row.kind, Some(crate::schema::FeatureKind::Batch));
        let extra = crate::model::FeatureValue::new(
            &registry,
            "extra".into(),
            Some("7".into()),
            crate::model::Ttl::Left(1),
        );
        assert_eq!(
            (extra.kind, extra.typed),
            (None, Some(serde_json::json!("7")))
        );
    }
}
