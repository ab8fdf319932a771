//! Feast's online answer: columns of values, statuses and event times, as Feast's feature server
//! writes them (protobuf's JSON), each distinct event time and each status written as JSON once
//! and copied into the answer as it is: most of an answer is these.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::request::EntityColumn;
use crate::model::{FeatureStatus, OnlineValue};
use crate::registry::{Feature, View};

/// Feast's timestamp for a value without one (the join key's column, a value not found).
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// `text` as a JSON string, ready to be copied into an answer.
fn json_text(text: &str) -> Box<RawValue> {
    RawValue::from_string(Value::from(text).to_string()).expect("a JSON string")
}

static EPOCH_JSON: LazyLock<Box<RawValue>> = LazyLock::new(|| json_text(EPOCH));

/// Each status as JSON, in the order of `STATUSES`.
const STATUSES: [FeatureStatus; 4] = [
    FeatureStatus::Present,
    FeatureStatus::NotFound,
    FeatureStatus::OutsideMaxAge,
    FeatureStatus::Invalid,
];
static STATUS_JSON: LazyLock<Vec<Box<RawValue>>> = LazyLock::new(|| {
    STATUSES
        .iter()
        .map(|status| serde_json::value::to_raw_value(status).expect("a status serializes"))
        .collect()
});

fn status_json(status: FeatureStatus) -> &'static RawValue {
    let at = STATUSES.iter().position(|s| *s == status).unwrap_or(0);
    &STATUS_JSON[at]
}

/// Feast's column-major answer, serialized straight from what the service read.
#[derive(Serialize)]
pub(super) struct OnlineAnswer<'a> {
    metadata: Metadata<'a>,
    results: Vec<Column<'a>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    feature_names: Vec<Cow<'a, str>>,
    /// Asked for by `include_feature_view_version_metadata`: each view read, by name. Feast
    /// adds its version too, omitted when 0 as this registry's views (unversioned) all are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    feature_view_metadata: Vec<ViewMetadata<'a>>,
}

#[derive(Serialize)]
struct ViewMetadata<'a> {
    name: &'a str,
}

impl<'a> OnlineAnswer<'a> {
    /// Names each view the features come from, once, in the order they are first asked.
    pub(super) fn name_views(&mut self, features: &[(&'a View, &'a Feature)]) {
        let listed = &mut self.metadata.feature_view_metadata;
        for (view, _) in features {
            if !listed.iter().any(|listed| listed.name == view.name) {
                listed.push(ViewMetadata { name: &view.name });
            }
        }
    }
}

/// One column across all rows: a join key's ids as sent (`PRESENT`, at the epoch), or a
/// feature's values. Written straight from the rows: a Vec per column and field was most of
/// the allocations of a wide read of one row.
enum Column<'a> {
    JoinKey(&'a [Value]),
    Feature {
        at: usize,
        rows: &'a [Vec<OnlineValue>],
        times: &'a EventTimes,
    },
}

impl Column<'_> {
    /// Its rows.
    fn len(&self) -> usize {
        match self {
            Column::JoinKey(ids) => ids.len(),
            Column::Feature { rows, .. } => rows.len(),
        }
    }
}

impl Serialize for Column<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut column = serializer.serialize_struct("Column", 3)?;
        match *self {
            Column::JoinKey(ids) => {
                let present = status_json(FeatureStatus::Present);
                column.serialize_field("values", ids)?;
                column.serialize_field("statuses", &Seq(|| ids.iter().map(|_| present)))?;
                column.serialize_field(
                    "event_timestamps",
                    &Seq(|| ids.iter().map(|_| &*EPOCH_JSON)),
                )?;
            }
            Column::Feature { at, rows, times } => {
                column.serialize_field("values", &Seq(|| rows.iter().map(|row| &row[at].value)))?;
                column.serialize_field(
                    "statuses",
                    &Seq(|| rows.iter().map(|row| status_json(row[at].status))),
                )?;
                column.serialize_field(
                    "event_timestamps",
                    &Seq(|| rows.iter().map(|row| times.of(&row[at]))),
                )?;
            }
        }
        column.end()
    }
}

/// A JSON list written from an iterator as it goes, never collected.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

impl IntoResponse for OnlineAnswer<'_> {
    fn into_response(self) -> Response {
        // Sized up front: an answer is mostly its values, statuses and times, under 48 bytes a
        // value, and growing a 30 KB buffer from a few bytes copied it a dozen times.
        let values: usize = self.results.iter().map(Column::len).sum();
        let mut body = Vec::with_capacity(256 + 48 * values);
        match serde_json::to_writer(&mut body, &self) {
            Ok(()) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// The join keys' columns, then one column per feature.
pub(super) fn columns<'a>(
    features: &[(&'a View, &'a Feature)],
    entities: &'a [EntityColumn],
    rows: &'a [Vec<OnlineValue>],
    times: &'a EventTimes,
    full_names: bool,
) -> OnlineAnswer<'a> {
    let mut feature_names = Vec::with_capacity(entities.len() + features.len());
    let mut results = Vec::with_capacity(entities.len() + features.len());
    for entity in entities {
        feature_names.push(Cow::Borrowed(entity.join_key));
        results.push(Column::JoinKey(entity.sent));
    }
    for (at, (view, feature)) in features.iter().enumerate() {
        feature_names.push(if full_names {
            Cow::Owned(format!("{}__{}", view.name, feature.name))
        } else {
            Cow::Borrowed(feature.name.as_str())
        });
        results.push(Column::Feature { at, rows, times });
    }
    OnlineAnswer {
        metadata: Metadata {
            feature_names,
            feature_view_metadata: Vec::new(),
        },
        results,
    }
}

/// Each distinct event time of an answer, formatted once: RFC 3339 UTC, with milliseconds when
/// it has them (`2026-12-01T10:00:00.250Z`), as protobuf's JSON writes a Timestamp. Entities
/// written apart have times of their own (a thousand in a large read), so they are kept by time.
pub(super) struct EventTimes {
    /// Each time as a JSON string.
    texts: Vec<Box<RawValue>>,
    /// Where each time's text is in `texts`.
    at: HashMap<u64, usize>,
    /// The last time looked up, and where its text is: neighbouring values mostly share one
    /// (the features of an entity's view; entities loaded in the same millisecond), and a hash
    /// lookup per value was a tenth of a 100-entity read.
    last: std::cell::Cell<Option<(u64, usize)>>,
}

impl EventTimes {
    pub(super) fn of_rows(rows: &[Vec<OnlineValue>]) -> Self {
        // Formatting a date is the dear part; the rows of one load share a few seconds.
        let mut seconds: HashMap<u64, String> = HashMap::new();
        let mut times = EventTimes {
            texts: Vec::new(),
            at: HashMap::new(),
            last: std::cell::Cell::new(None),
        };
        for value in rows.iter().flatten() {
            let Some(ms) = Self::unix_ms(value) else {
                continue;
            };
            if times.find(ms).is_some() {
                continue;
            }
            let second = seconds
                .entry(ms / 1000)
                .or_insert_with(|| rfc3339_second(ms / 1000));
            times.at.insert(ms, times.texts.len());
            times.texts.push(json_text(&with_millis(second, ms % 1000)));
        }
        times
    }

    /// Where the text of `ms` is, if it is known.
    fn find(&self, ms: u64) -> Option<usize> {
        if let Some((last, at)) = self.last.get() {
            if last == ms {
                return Some(at);
            }
        }
        let at = *self.at.get(&ms)?;
        self.last.set(Some((ms, at)));
        Some(at)
    }

    /// The event time of a found value's view.
    fn unix_ms(value: &OnlineValue) -> Option<u64> {
        match value.status {
            FeatureStatus::NotFound => None,
            _ => value.event_unix_ms,
        }
    }

    /// The view's event time of `value`; the epoch for a value not found or without one.
    fn of(&self, value: &OnlineValue) -> &RawValue {
        Self::unix_ms(value)
            .and_then(|ms| self.find(ms))
            .map_or(&EPOCH_JSON, |at| &self.texts[at])
    }
}

/// Unix milliseconds as RFC 3339 UTC; the fraction only when there is one.
#[cfg(test)]
fn rfc3339(ms: u64) -> String {
    with_millis(&rfc3339_second(ms / 1000), ms % 1000)
}

/// A Unix second as RFC 3339 UTC (`…T10:00:00Z`); the epoch if it is out of range.
fn rfc3339_second(second: u64) -> String {
    i64::try_from(second)
        .ok()
        .and_then(|second| time::OffsetDateTime::from_unix_timestamp(second).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| EPOCH.to_owned())
}

/// `second` (RFC 3339, ending in `Z`) with `millis` after it, when there are any.
fn with_millis(second: &str, millis: u64) -> String {
    match millis {
        0 => second.to_owned(),
        _ => format!("{}.{millis:03}Z", second.trim_end_matches('Z')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_answered_to_the_millisecond() {
        assert_eq!(rfc3339(978_307_200_000), "2001-01-01T00:00:00Z");
        assert_eq!(rfc3339(978_307_200_250), "2001-01-01T00:00:00.250Z");
        assert_eq!(rfc3339(5), "1970-01-01T00:00:00.005Z");
    }
}
