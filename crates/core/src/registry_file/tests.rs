//! The registry file's rules, each refusal checked with the line it names.

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
fn the_built_in_registry_is_the_demo_of_two_entities_in_two_views_each() {
    let demo = crate::registry_file::demo();
    let names: Vec<_> = demo.views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "user_batch",
            "user_stream",
            "merchant_batch",
            "merchant_stream"
        ]
    );
    let users = demo.of_entity(demo.entity());
    assert_eq!(users.names_of(FeatureKind::Batch).count(), 6);
    assert_eq!(users.names_of(FeatureKind::Streaming).count(), 5);
    assert_eq!(
        demo.pushed_by("user_stream_push").unwrap().name,
        "user_stream"
    );
    assert_eq!(users.ttl_of(FeatureKind::Streaming), Some(300));
    assert_eq!(demo.entity().join_key, "user_id");
    let merchant_batch = demo.view("merchant_batch").unwrap();
    assert_eq!(demo.entity_of(merchant_batch).1.join_key, "merchant_id");
    assert_eq!(
        demo.service_features("fraud_model").unwrap().len(),
        demo.service("fraud_model").unwrap().features.len()
    );
}

#[test]
fn several_entities_keep_their_keys_apart_and_each_view_names_its_own() {
    let entities = |second_prefix: &str, second_key: &str| {
        format!(
            "[[entities]]\nname = \"user\"\njoin_key = \"user_id\"\nkey_prefix = \"fs:user:\"\n\
             [[entities]]\nname = \"merchant\"\njoin_key = \"{second_key}\"\nkey_prefix = \"{second_prefix}\"\n"
        )
    };
    let view = |name: &str, entity: &str, feature: &str| {
        format!("[[views]]\nname = \"{name}\"\n{entity}kind = \"batch\"\nttl_seconds = 5\nfeatures = [{{ name = \"{feature}\", type = \"int\" }}]\n")
    };
    let two = entities("fs:merchant:", "merchant_id");
    // The same feature name in two entities' views: two hashes, no clash.
    let valid = format!(
        "{two}{}{}",
        view("u", "entity = \"user\"\n", "count"),
        view("m", "entity = \"merchant\"\n", "count")
    );
    let registry = parse(&valid, "f.toml").unwrap();
    assert_eq!(registry.entities.len(), 2);
    assert_eq!(registry.view("m").unwrap().entity, "merchant");
    for (text, rule) in [
        (
            format!(
                "{}{}",
                entities("fs:user:m:", "merchant_id"),
                view("u", "", "a")
            ),
            "overlap",
        ),
        (
            format!("{}{}", entities("fs:m:", "user_id"), view("u", "", "a")),
            "share a name or a join key",
        ),
        (
            format!("{two}{}", view("u", "", "a")),
            "view \"u\" must name its entity",
        ),
        (
            format!("{two}{}", view("u", "entity = \"card\"\n", "a")),
            "view \"u\": no entity \"card\"",
        ),
        (
            format!("{two}{}", view("u", "entity = \"user\"\n", "a")),
            "entity \"merchant\" needs at least one view of kind \"batch\"",
        ),
        (
            format!(
                "[entity]\nname = \"e\"\njoin_key = \"k\"\nkey_prefix = \"p:\"\n{two}{}",
                view("u", "", "a")
            ),
            "not both",
        ),
    ] {
        let message = refusal(&text);
        assert!(message.contains(rule), "{message}\n  expected: {rule}");
    }
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
        (&view("name = \"v\"\nkind = \"streaming\"\nttl_seconds = 5\nfeatures = [{ name = \"a\", type = \"int\" }]"), "f.toml:1: entity \"user\" needs at least one view of kind \"batch\""),
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
    assert!(refusal(&two_ttls).starts_with(
        "f.toml:14: every batch view of entity \"user\" must have the same ttl_seconds"
    ));
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
        .with_overrides(Some(&prefix), None, Some(3))
        .unwrap();
    assert_eq!(registry.entity().key_prefix.as_str(), "t:");
    assert_eq!(registry.entities[1].key_prefix.as_str(), "t.merchant:");
    assert_eq!(registry.ttl_of(FeatureKind::Batch), Some(86_400));
    assert_eq!(registry.ttl_of(FeatureKind::Streaming), Some(3));
    // A prefix the other entity's could not be made from is refused, not replaced silently by
    // the file's (two servers would then share that entity's keys).
    let long = crate::domain::KeyPrefix::parse(&format!("{}:", "p".repeat(60))).unwrap();
    let refused = crate::registry_file::demo()
        .as_ref()
        .clone()
        .with_overrides(Some(&long), None, None)
        .unwrap_err();
    assert!(
        refused.starts_with("entity \"merchant\"'s prefix"),
        "{refused}"
    );
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
