//! What a feature is: its kind, its value type and how a stored string decodes, and how the
//! synthesizer draws it. Which features exist, and how each is drawn, is the registry's to say.

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
    /// Unix milliseconds.
    Timestamp,
}

impl ValueType {
    /// What a value of this type must be, for a refusal.
    pub fn rule(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Int => "whole number from -2^63 to 2^63-1",
            ValueType::Float => "number",
            ValueType::Bool => "true or false",
            ValueType::Timestamp => "timestamp (whole Unix milliseconds, fitting 64 bits)",
        }
    }
}

/// How the synthesizer draws a feature's values, as the registry file says (`draw = …`); a
/// feature without one gets values drawn by its type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Draw {
    /// One of these, each as likely.
    OneOf(Vec<String>),
    /// One of these, each with a whole weight: `[["low", 70], ["high", 5]]`.
    Weighted(Vec<(String, u32)>),
    /// A number from the first to the second, inclusive: whole for an int, with two decimals
    /// for a float.
    Between(f64, f64),
}

/// A JSON value as the store keeps it, if it is of `value_type`: an int or a timestamp must fit
/// an i64, as Redis's integers and Feast's Int64 columns do.
pub fn encode(value_type: ValueType, value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (value_type, value) {
        (ValueType::String, Value::String(text)) => Some(text.clone()),
        (ValueType::Int | ValueType::Timestamp, Value::Number(n)) => {
            n.as_i64().map(|n| n.to_string())
        }
        (ValueType::Float, Value::Number(n)) => n.as_f64().map(|f| f.to_string()),
        (ValueType::Bool, Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// Decodes a stored string into typed JSON. A value that does not parse as its declared type
/// is returned as a string rather than dropped, so a bad writer is visible, not hidden.
pub fn decode(value_type: ValueType, raw: &str) -> serde_json::Value {
    use serde_json::Value;
    let parsed = match value_type {
        ValueType::Int | ValueType::Timestamp => raw.parse::<i64>().ok().map(Value::from),
        // JSON has no NaN or infinity (serde_json would make them null): kept as written.
        ValueType::Float => raw
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from),
        ValueType::Bool => raw.parse::<bool>().ok().map(Value::from),
        ValueType::String => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_takes_only_values_of_the_declared_type() {
        use serde_json::json;
        assert_eq!(
            encode(ValueType::Int, &json!(i64::MAX)).as_deref(),
            Some("9223372036854775807")
        );
        assert_eq!(encode(ValueType::Int, &json!(u64::MAX)), None);
        assert_eq!(
            encode(ValueType::Timestamp, &json!(-1)).as_deref(),
            Some("-1")
        );
        assert_eq!(encode(ValueType::Int, &json!(1.5)), None);
        assert_eq!(encode(ValueType::Float, &json!(2)).as_deref(), Some("2"));
        assert_eq!(encode(ValueType::Bool, &json!("true")), None);
    }

    #[test]
    fn decode_follows_the_declared_type() {
        assert_eq!(decode(ValueType::Int, "42"), serde_json::json!(42));
        assert_eq!(decode(ValueType::Float, "92.4"), serde_json::json!(92.4));
        assert_eq!(decode(ValueType::Bool, "true"), serde_json::json!(true));
        assert_eq!(
            decode(ValueType::Timestamp, "1700000000000"),
            serde_json::json!(1_700_000_000_000_i64)
        );
        assert_eq!(decode(ValueType::Int, "x"), serde_json::json!("x"));
        for not_finite in ["NaN", "inf", "-infinity", "1e400"] {
            assert_eq!(
                decode(ValueType::Float, not_finite),
                serde_json::json!(not_finite)
            );
        }
    }
}
