//! Reads of many entities at once, for every transport: batch scoring (`/api/batch-read`) and
//! Feast's `get-online-features`. One HMGET per entity, pipelined per node, under one admission,
//! one deadline, one latency series (`batch_read`) and one policy for a key that is not an
//! entity hash: that row fails, named, and the others are served.

use std::time::{Duration, Instant};

use super::{elapsed_ms, Service, ServiceError};
use crate::domain::{EntityId, FeatureName};
use crate::model::{
    BatchEntities, BatchFailure, BatchResult, BatchSample, FeatureStatus, OnlineValue,
};
use crate::registry::{Feature, View};
use crate::schema;
use crate::store::WrongType;

/// Rows of a batch read echoed back as a sample.
pub const BATCH_SAMPLE: usize = 10;

/// Per entity, in input order: one value or `None` per field asked for, or the entity's key
/// holds something other than a hash.
type Rows = Vec<Result<Vec<Option<String>>, WrongType>>;

impl Service {
    /// Batch scoring: the features `names` (by default the registry's batch read fields) of the
    /// entities asked for.
    pub async fn batch_read(
        &self,
        entities: BatchEntities,
        names: Option<Vec<FeatureName>>,
        deadline: Option<Duration>,
    ) -> Result<BatchResult, ServiceError> {
        let names: Vec<String> = match names {
            Some(names) => names.into_iter().map(String::from).collect(),
            None => self.registry.batch_read_default(),
        };
        let ids = match entities {
            BatchEntities::Ids(ids) => ids,
            BatchEntities::First(count) => self
                .index
                .snapshot()
                .ids
                .iter()
                .take(count)
                .cloned()
                .collect(),
        };
        let started = Instant::now();
        let rows = self.rows(&ids, &names, deadline).await?;
        let elapsed_ms = elapsed_ms(started);
        let mut served = Vec::with_capacity(rows.len());
        let mut failed = Vec::new();
        for (id, row) in ids.into_iter().zip(rows) {
            match row {
                Ok(values) => served.push((id, values)),
                Err(WrongType) => failed.push(self.failure(&id)),
            }
        }
        Ok(BatchResult {
            entity_count: served.len(),
            field_count: names.len(),
            elapsed_ms,
            sample: served
                .into_iter()
                .take(BATCH_SAMPLE)
                .map(|(id, values)| {
                    let values: Vec<(String, String)> = names
                        .iter()
                        .zip(values)
                        .filter_map(|(name, value)| Some((name.clone(), value?)))
                        .collect();
                    BatchSample {
                        id: id.to_string(),
                        field_count: values.len(),
                        values: values.into_iter().collect(),
                    }
                })
                .collect(),
            fields: names,
            failed,
        })
    }

    /// Feast's online read: for each entity (in order, repeats allowed) each of `features`
    /// (resolved in the registry by the caller) with its status and its view's event time.
    /// Features and event times come from one HMGET per entity. A row whose key is not an
    /// entity hash has every value `INVALID`, as Feast marks a value it cannot serve.
    pub async fn online_features(
        &self,
        ids: &[EntityId],
        features: &[(&View, &Feature)],
        deadline: Option<Duration>,
    ) -> Result<Vec<Vec<OnlineValue>>, ServiceError> {
        let mut fields: Vec<String> = features.iter().map(|(_, f)| f.name.clone()).collect();
        // Where each feature's event time sits among the fields read.
        let stamp_at: Vec<usize> = features
            .iter()
            .map(|(view, _)| {
                let stamp = view.stamp_field();
                fields.iter().position(|f| *f == stamp).unwrap_or_else(|| {
                    fields.push(stamp);
                    fields.len() - 1
                })
            })
            .collect();
        let rows = self.rows(ids, &fields, deadline).await?;
        let now_ms = crate::store::unix_ms_now();
        // One log line per read, not per row: a read of a thousand foreign keys is one event.
        let invalid = rows.iter().zip(ids).filter(|(row, _)| row.is_err());
        if let Some((_, first)) = invalid.clone().next() {
            let count = invalid.count();
            tracing::warn!("{count} rows not served: {}", self.failure(first).error);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let Ok(stored) = row else {
                    return features.iter().map(|_| OnlineValue::invalid()).collect();
                };
                features
                    .iter()
                    .zip(&stamp_at)
                    .enumerate()
                    .map(|(at, ((view, feature), &stamp))| {
                        let Some(raw) = stored[at].as_deref() else {
                            return OnlineValue::not_found();
                        };
                        let event_unix_ms: Option<u64> =
                            stored[stamp].as_deref().and_then(|ms| ms.parse().ok());
                        OnlineValue {
                            value: schema::decode(feature.value_type, raw),
                            status: status(event_unix_ms, view.ttl_seconds, now_ms),
                            event_unix_ms,
                        }
                    })
                    .collect()
            })
            .collect())
    }

    /// The one path both reads take: admitted, under the deadline, timed.
    async fn rows(
        &self,
        ids: &[EntityId],
        fields: &[String],
        deadline: Option<Duration>,
    ) -> Result<Rows, ServiceError> {
        let started = Instant::now();
        let cells = ids.len() * fields.len();
        let rows = self
            .admitted(cells, deadline, self.store.batch_read(ids, fields))
            .await;
        self.batch_read_latency.observe(started.elapsed());
        rows
    }

    /// A row whose key holds something other than an entity hash.
    fn failure(&self, id: &EntityId) -> BatchFailure {
        BatchFailure {
            error: format!("{} is not an entity hash", self.store.key(id)),
            id: id.to_string(),
        }
    }
}

/// The status of a value that is stored: `OUTSIDE_MAX_AGE` once its event is older than its
/// view's TTL (stored under a longer TTL than the registry's: a bulk load with its own, or a
/// server restarted with a shorter one), else `PRESENT`; a value without an event time is
/// present (written before event times were stored).
fn status(event_unix_ms: Option<u64>, ttl_seconds: u64, now_ms: u64) -> FeatureStatus {
    match event_unix_ms {
        Some(event) if now_ms.saturating_sub(event) > ttl_seconds.saturating_mul(1000) => {
            FeatureStatus::OutsideMaxAge
        }
        _ => FeatureStatus::Present,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_value_is_outside_its_max_age_only_past_its_views_ttl() {
        let now = 1_000_000_000;
        assert_eq!(status(Some(now), 60, now), FeatureStatus::Present);
        assert_eq!(status(Some(now - 60_000), 60, now), FeatureStatus::Present);
        assert_eq!(
            status(Some(now - 60_001), 60, now),
            FeatureStatus::OutsideMaxAge
        );
        // An event time in the future (a clock ahead) is not old.
        assert_eq!(status(Some(now + 5_000), 60, now), FeatureStatus::Present);
        assert_eq!(status(None, 60, now), FeatureStatus::Present);
        // The longest TTL does not overflow.
        assert_eq!(status(Some(0), u64::MAX, now), FeatureStatus::Present);
    }
}
