//! Request values parsed into domain types at the edge: past this point every count, TTL and
//! id is known to be valid. Out-of-range input is rejected, never clamped.

use crate::api::error::ApiError;
use crate::domain::{bounded, EntityId, FeatureName};

pub const BULK_COUNT: (i64, i64) = (1, 100_000);
pub const TTL_SECONDS: (i64, i64) = (5, 172_800);
pub const BATCH_COUNT: (i64, i64) = (1, 1_000);
/// A caller's own read deadline, in milliseconds.
pub const DEADLINE_MS: (i64, i64) = (1, 60_000);
const MAX_FIELDS: usize = 64;

/// Checks that `value` lies in `bounds`, inclusive, and names the field when it does not.
pub fn in_range(field: &str, value: i64, (min, max): (i64, i64)) -> Result<u64, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value as u64)
    } else {
        Err(ApiError::invalid(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ))
    }
}

/// An entity id, or an error naming `field` and the rule it breaks.
pub fn entity_id(field: &str, raw: &str) -> Result<EntityId, ApiError> {
    EntityId::parse(raw).map_err(|rule| ApiError::invalid(field, rule))
}

/// Entity ids to read, as many as `bounds` allow; each one a valid id.
pub fn entity_ids(
    field: &str,
    ids: Vec<String>,
    (min, max): (i64, i64),
) -> Result<Vec<EntityId>, ApiError> {
    if !(min..=max).contains(&(ids.len() as i64)) {
        return Err(ApiError::invalid(
            field,
            format!("between {min} and {max} ids, got {}", ids.len()),
        ));
    }
    ids.iter()
        .map(|id| {
            EntityId::parse(id)
                .map_err(|rule| ApiError::invalid(field, format!("{:?}: {rule}", bounded(id, 40))))
        })
        .collect()
}

/// Feature names to read: each one a valid name, at most 64 of them.
pub fn feature_names(field: &str, names: Vec<String>) -> Result<Vec<FeatureName>, ApiError> {
    if names.len() > MAX_FIELDS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_FIELDS} fields, got {}", names.len()),
        ));
    }
    names
        .iter()
        .map(|name| {
            FeatureName::parse(name).map_err(|rule| {
                ApiError::invalid(field, format!("{:?}: {rule}", bounded(name, 40)))
            })
        })
        .collect()
}

/// An event time as a push gives it, in Unix milliseconds: RFC 3339, or the same without a
/// zone (`2026-12-01 10:00:00.25`, as Python's `str(datetime)` writes it, or `2026-12-01
/// 10:00`), taken as UTC, or a date alone. Nothing before 1970.
pub fn event_unix_ms(text: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let mut iso = match text.len() {
        10 => format!("{text}T00:00:00"),
        // Hours and minutes alone (`2026-12-01 10:00`), as Python's `fromisoformat` reads them.
        16 => format!("{}:00", text.replacen(' ', "T", 1)),
        _ => text.replacen(' ', "T", 1),
    };
    let zoned =
        iso.ends_with(['Z', 'z']) || iso.get(19..).is_some_and(|zone| zone.contains(['+', '-']));
    if !zoned {
        iso.push('Z');
    }
    let time = time::OffsetDateTime::parse(&iso, &Rfc3339).ok()?;
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A time as Feast's clients write it, and as `build-features` and the UI take one, in Unix ms.
pub fn parse_time(text: &str) -> Result<u64, String> {
    event_unix_ms(text).ok_or_else(|| {
        format!(
            "{:?} is not a date and time such as 2026-12-01, 2026-12-01 10:00 (UTC) or RFC 3339",
            bounded(text, 40)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_never_clamped() {
        assert_eq!(in_range("count", 1, BULK_COUNT), Ok(1));
        assert_eq!(in_range("count", 100_000, BULK_COUNT), Ok(100_000));
        let err = in_range("count", 0, BULK_COUNT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid count: must be between 1 and 100000, got 0"
        );
        assert!(in_range("ttl_seconds", 4, TTL_SECONDS).is_err());
        assert!(in_range("count", 1001, BATCH_COUNT).is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(entity_id("user", "u0001").is_ok());
        assert!(entity_id("user", "").is_err());
        assert!(entity_id("user", "a\nb").is_err());
        assert!(entity_id("user", &"x".repeat(129)).is_err());
        assert!(feature_names("fields", vec!["ok".into(), "".into()]).is_err());
        let long = feature_names("fields", vec!["x".repeat(100_000)]).unwrap_err();
        assert!(long.to_string().len() < 300, "echo is bounded: {long}");
    }

    #[test]
    fn event_times_are_read_as_feast_clients_write_them() {
        let ms = event_unix_ms;
        assert_eq!(ms("2001-01-01T00:00:00Z"), Some(978_307_200_000));
        assert_eq!(ms("2001-01-01 00:00:00"), Some(978_307_200_000));
        assert_eq!(ms("2001-01-01"), Some(978_307_200_000));
        assert_eq!(ms("2001-01-01 00:01"), Some(978_307_260_000));
        assert_eq!(ms("2001-01-01T01:00:00.250+01:00"), Some(978_307_200_250));
        assert_eq!(ms("2001-01-01 00:00:00.123456"), Some(978_307_200_123));
        assert_eq!(ms("1969-12-31T23:59:59Z"), None);
        assert_eq!(ms("yesterday"), None);
        assert_eq!(ms(""), None);
    }
}
