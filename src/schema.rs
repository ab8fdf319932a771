//! The feature schema: the single list of default features that the worker, the synthesizer,
//! the API and the UI all read, so a feature is named and typed in exactly one place.

use serde::{Deserialize, Serialize};

/// Which write path owns a feature, and therefore which TTL layer protects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Bulk-loaded; lives as long as the entity's key-level TTL.
    Batch,
    /// Written by the worker with its own per-field TTL.
    Streaming,
}

impl FeatureKind {
    pub fn label(self) -> &'static str {
        match self {
            FeatureKind::Batch => "batch",
            FeatureKind::Streaming => "streaming",
        }
    }
}

/// How a stored string decodes into typed JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    Int,
    Float,
    String,
    Bool,
    TimestampMs,
}

/// One feature of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub kind: FeatureKind,
    pub value_type: ValueType,
}

const fn feature(name: &'static str, kind: FeatureKind, value_type: ValueType) -> Feature {
    Feature {
        name,
        kind,
        value_type,
    }
}

/// Every default feature, batch first, in display order.
pub const FEATURES: [Feature; 11] = [
    feature("country_iso", FeatureKind::Batch, ValueType::String),
    feature("risk_segment", FeatureKind::Batch, ValueType::String),
    feature("account_age_days", FeatureKind::Batch, ValueType::Int),
    feature("tx_count_7d", FeatureKind::Batch, ValueType::Int),
    feature("avg_amount_30d", FeatureKind::Batch, ValueType::Float),
    feature("chargeback_count_180d", FeatureKind::Batch, ValueType::Int),
    feature(
        "last_login_ts",
        FeatureKind::Streaming,
        ValueType::TimestampMs,
    ),
    feature("last_device_id", FeatureKind::Streaming, ValueType::String),
    feature("tx_count_5m", FeatureKind::Streaming, ValueType::Int),
    feature("failed_logins_15m", FeatureKind::Streaming, ValueType::Int),
    feature("session_country", FeatureKind::Streaming, ValueType::String),
];

/// Looks a feature up by name; `None` for a field the schema does not know.
pub fn find(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// The names of every feature of one kind, in schema order.
pub fn names_of(kind: FeatureKind) -> impl Iterator<Item = &'static str> {
    FEATURES
        .iter()
        .filter(move |f| f.kind == kind)
        .map(|f| f.name)
}

/// Decodes a stored string into typed JSON. A value that does not parse as its declared type
/// is returned as a string rather than dropped, so a bad writer is visible, not hidden.
pub fn decode(value_type: ValueType, raw: &str) -> serde_json::Value {
    use serde_json::Value;
    let parsed = match value_type {
        ValueType::Int | ValueType::TimestampMs => raw.parse::<i64>().ok().map(Value::from),
        ValueType::Float => raw.parse::<f64>().ok().map(Value::from),
        ValueType::Bool => raw.parse::<bool>().ok().map(Value::from),
        ValueType::String => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// Decodes a field by name: schema fields by their type, unknown fields as strings.
pub fn decode_field(name: &str, raw: &str) -> serde_json::Value {
    match find(name) {
        Some(f) => decode(f.value_type, raw),
        None => serde_json::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_six_batch_and_five_streaming_features() {
        assert_eq!(names_of(FeatureKind::Batch).count(), 6);
        assert_eq!(names_of(FeatureKind::Streaming).count(), 5);
    }

    #[test]
    fn decode_follows_the_declared_type() {
        assert_eq!(decode(ValueType::Int, "42"), serde_json::json!(42));
        assert_eq!(decode(ValueType::Float, "92.4"), serde_json::json!(92.4));
        assert_eq!(decode(ValueType::Bool, "true"), serde_json::json!(true));
        assert_eq!(
            decode(ValueType::TimestampMs, "1700000000000"),
            serde_json::json!(1_700_000_000_000_i64)
        );
        assert_eq!(decode(ValueType::Int, "x"), serde_json::json!("x"));
        assert_eq!(decode_field("nope", "7"), serde_json::json!("7"));
    }
}
