//! The registry file: TOML in, a checked `Registry` out, or one error naming the line and the
//! rule it breaks.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use toml::Spanned;

mod rules;

use crate::registry::Registry;
use crate::schema::{Draw, FeatureKind, ValueType};
use rules::{check_entity, check_services, check_views};

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    entity: RawEntity,
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
    let entity = check_entity(&raw.entity).map_err(|(offset, rule)| at(offset, rule))?;
    // Paths in the file are read against its own directory.
    let base = Path::new(origin).parent().unwrap_or(Path::new(""));
    let views = check_views(raw.views, &entity.join_key, base)
        .map_err(|(offset, rule)| at(offset, rule))?;
    let services =
        check_services(raw.services, &views).map_err(|(offset, rule)| at(offset, rule))?;
    Ok(Registry {
        entity,
        views,
        services,
    })
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
    fn a_service_lists_features_of_the_registry_and_expands_a_view() {
        let views = "[[views]]\nname = \"v\"\nkind = \"batch\"\nttl_seconds = 5\nfeatures = [{ name = \"a\", type = \"int\" }, { name = \"b\", type = \"int\" }]\n";
        let service = |features: &str| {
            format!("{ENTITY}\n{views}[[services]]\nname = \"s\"\nfeatures = [{features}]\n")
        };
        let registry = parse(&service("\"v:b\", \"v:a\""), "f.toml").unwrap();
        assert_eq!(registry.services[0].features, ["v:b", "v:a"]);
        let registry = parse(&service("\"v\""), "f.toml").unwrap();
        assert_eq!(registry.service("s").unwrap().features, ["v:a", "v:b"]);
        for (features, rule) in [
            ("\"w:a\"", "service \"s\": no view \"w\""),
            ("\"v:c\"", "service \"s\": view \"v\" has no feature \"c\""),
            ("\"v\", \"v:a\"", "service \"s\" lists v:a twice"),
            ("", "service \"s\" has no features"),
        ] {
            let message = refusal(&service(features));
            assert!(message.ends_with(rule), "{features}: {message}");
        }
    }

    #[test]
    fn flags_override_the_file() {
        let prefix = crate::domain::KeyPrefix::parse("t:").unwrap();
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
