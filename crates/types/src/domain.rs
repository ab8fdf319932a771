//! Values parsed once at the edge: past `parse`, a key prefix, an entity id or a feature name is
//! known to be valid, so the store never has to ask again.
//!
//! The separator `:` ties them together: a prefix ends with it and an id never contains it, so
//! an entity key `prefix + id` belongs to exactly one prefix. A store under `fs:` can never touch
//! `fs:user:u1`, and `fs:user` (no separator) is refused so it cannot match `fs:users:…`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The separator that ends a key prefix and never appears in an entity id.
pub const SEPARATOR: char = ':';
const MAX_NAME_CHARS: usize = 128;
const MAX_PREFIX_CHARS: usize = 64;

/// The prefix of every entity key of one store, such as `fs:user:`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty: an empty prefix would cover every key in Redis".into());
        }
        if !raw.ends_with(SEPARATOR) {
            return Err(format!(
                "must end with '{SEPARATOR}' (e.g. \"{}{SEPARATOR}\"), so it cannot match keys of a longer prefix",
                bounded(raw, 40)
            ));
        }
        if raw.chars().count() > MAX_PREFIX_CHARS {
            return Err(format!("must be at most {MAX_PREFIX_CHARS} characters"));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        Ok(KeyPrefix(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of an entity key under this prefix, if the key is one: the rest after the prefix
    /// must itself be a valid entity id.
    pub fn entity_of(&self, key: &str) -> Option<EntityId> {
        EntityId::parse(key.strip_prefix(self.as_str())?).ok()
    }
}

// Deserialized through `parse`: no value of this type exists unchecked.
impl TryFrom<String> for KeyPrefix {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        KeyPrefix::parse(&raw)
    }
}

impl From<KeyPrefix> for String {
    fn from(value: KeyPrefix) -> String {
        value.0
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of one entity (for the demo, a user such as `u0001`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntityId(String);

impl EntityId {
    /// Non-empty, at most 128 characters, no control characters and no `:`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        name_rule(raw)?;
        if raw.contains(SEPARATOR) {
            return Err(format!("must not contain '{SEPARATOR}'"));
        }
        Ok(EntityId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Deserialized through `parse`: no value of this type exists unchecked.
impl TryFrom<String> for EntityId {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        EntityId::parse(&raw)
    }
}

impl From<EntityId> for String {
    fn from(value: EntityId) -> String {
        value.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of one feature, that is one field of an entity's hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeatureName(String);

impl FeatureName {
    /// Non-empty, at most 128 characters, no control characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        name_rule(raw).map(|()| FeatureName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for FeatureName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Deserialized through `parse`: no value of this type exists unchecked.
impl TryFrom<String> for FeatureName {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        FeatureName::parse(&raw)
    }
}

impl From<FeatureName> for String {
    fn from(value: FeatureName) -> String {
        value.0
    }
}

impl fmt::Display for FeatureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn name_rule(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        Err("must not be empty".into())
    } else if raw.chars().count() > MAX_NAME_CHARS {
        Err(format!("must be at most {MAX_NAME_CHARS} characters"))
    } else if raw.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

/// `text` cut to at most `max` characters, with `…` where it was cut: what an error message may
/// echo of a caller's input, however long that input was.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_be_non_empty_and_end_with_the_separator() {
        assert!(KeyPrefix::parse("fs:user:").is_ok());
        assert!(KeyPrefix::parse("").unwrap_err().contains("empty"));
        assert!(KeyPrefix::parse("fs:user")
            .unwrap_err()
            .contains("end with ':'"));
        assert!(KeyPrefix::parse("fs: user:").is_err());
        assert!(KeyPrefix::parse(&format!("{}:", "x".repeat(64))).is_err());
    }

    #[test]
    fn a_key_belongs_to_a_prefix_only_as_prefix_plus_id() {
        let prefix = KeyPrefix::parse("fs:").unwrap();
        assert_eq!(prefix.entity_of("fs:u1").unwrap().as_str(), "u1");
        assert_eq!(prefix.entity_of("fs:user:u1"), None, "another store's key");
        assert_eq!(prefix.entity_of("fs:"), None);
        assert_eq!(prefix.entity_of("gs:u1"), None);
    }

    #[test]
    fn ids_and_names_are_checked() {
        assert!(EntityId::parse("u0001").is_ok());
        assert!(EntityId::parse("").is_err());
        assert!(EntityId::parse("a\nb").is_err());
        assert!(EntityId::parse("a:b").is_err());
        assert!(EntityId::parse(&"x".repeat(129)).is_err());
        assert!(FeatureName::parse("clicks_5m").is_ok());
        assert!(FeatureName::parse("").is_err());
    }

    #[test]
    fn echoed_input_is_bounded() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded(&"é".repeat(100), 3), "ééé…");
    }
}
