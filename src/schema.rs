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

/// How the demo's synthesizer draws a value of a feature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Demo {
    /// One of these, each as likely.
    OneOf(&'static [&'static str]),
    /// One of these, with integer weights.
    Weighted(&'static [(&'static str, u32)]),
    /// A whole number in this inclusive range.
    Int(u32, u32),
    /// An amount with two decimals in this range.
    Amount(f64, f64),
    /// The time of the event, in Unix milliseconds.
    EventTime,
}

/// One feature of the schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feature {
    pub name: &'static str,
    pub kind: FeatureKind,
    pub value_type: ValueType,
    pub demo: Demo,
}

const fn feature(
    name: &'static str,
    kind: FeatureKind,
    value_type: ValueType,
    demo: Demo,
) -> Feature {
    Feature {
        name,
        kind,
        value_type,
        demo,
    }
}

pub const COUNTRIES: [&str; 10] = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "CA", "NL"];
const DEVICES: [&str; 7] = [
    "ios-1a4c",
    "ios-9f02",
    "and-7b21",
    "and-2d18",
    "web-chr-1",
    "web-saf-1",
    "web-ff-2",
];

/// Every default feature, batch first, in display order.
pub const FEATURES: [Feature; 11] = {
    use FeatureKind::{Batch, Streaming};
    use {Demo as D, ValueType as T};
    [
        feature("country_iso", Batch, T::String, D::OneOf(&COUNTRIES)),
        feature(
            "risk_segment",
            Batch,
            T::String,
            D::Weighted(&[("low", 70), ("medium", 25), ("high", 5)]),
        ),
        feature("account_age_days", Batch, T::Int, D::Int(7, 2400)),
        feature("tx_count_7d", Batch, T::Int, D::Int(0, 80)),
        feature("avg_amount_30d", Batch, T::Float, D::Amount(5.0, 350.0)),
        feature(
            "chargeback_count_180d",
            Batch,
            T::Int,
            D::Weighted(&[("0", 85), ("1", 10), ("2", 4), ("3", 1)]),
        ),
        feature("last_login_ts", Streaming, T::TimestampMs, D::EventTime),
        feature("last_device_id", Streaming, T::String, D::OneOf(&DEVICES)),
        feature("tx_count_5m", Streaming, T::Int, D::Int(0, 12)),
        feature(
            "failed_logins_15m",
            Streaming,
            T::Int,
            D::Weighted(&[("0", 70), ("1", 20), ("2", 8), ("5", 2)]),
        ),
        feature(
            "session_country",
            Streaming,
            T::String,
            D::OneOf(&COUNTRIES),
        ),
    ]
};

/// What the Read panel starts with: batch and streaming features mixed, as a model would ask.
pub const READ_BY_DEFAULT: [&str; 5] = [
    FEATURES[1].name,
    FEATURES[3].name,
    FEATURES[4].name,
    FEATURES[8].name,
    FEATURES[9].name,
];

/// What batch scoring reads when no fields are given: the risk segment and every streaming
/// feature.
pub fn batch_read_default() -> impl Iterator<Item = &'static str> {
    std::iter::once(FEATURES[1].name).chain(names_of(FeatureKind::Streaming))
}

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
    }
}
