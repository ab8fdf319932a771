//! Reads of many entities at once, for every transport: batch scoring (`/api/batch-read`) and
//! Feast's `get-online-features`. One HMGET per entity (HGETALL where most of a wide row is
//! asked: `reads_whole_hash`), pipelined per node, under one admission, one deadline, one
//! latency series (`batch_read`) and one policy for a key that is not an entity hash: that row
//! fails, named, and the others are served.

use std::time::{Duration, Instant};

use super::{elapsed_ms, Service, ServiceError};
use crate::domain::{EntityId, FeatureName};
use crate::model::{
    BatchEntities, BatchFailure, BatchResult, BatchSample, FeatureStatus, OnlineValue,
};
use crate::registry::{Feature, View};
use crate::schema;
use crate::store::{reads_whole_hash, HashRead, WrongType};

/// Rows of a batch read echoed back as a sample.
pub const BATCH_SAMPLE: usize = 10;

impl Service {
    /// Batch scoring of one entity (`entity` names which; the first when `None`): the features `names` (by default the registry's batch read fields) of the
    /// entities asked for.
    pub async fn batch_read(
        &self,
        entity: Option<&str>,
        entities: BatchEntities,
        names: Option<Vec<FeatureName>>,
        deadline: Option<Duration>,
    ) -> Result<BatchResult, ServiceError> {
        let served = self.served(entity)?;
        let names: Vec<String> = match names {
            Some(names) => names.into_iter().map(String::from).collect(),
            None => served.registry.batch_read_default(),
        };
        let ids = match entities {
            BatchEntities::Ids(ids) => ids,
            BatchEntities::First(count) => served
                .index
                .snapshot()
                .ids
                .iter()
                .take(count)
                .cloned()
                .collect(),
        };
        let started = Instant::now();
        let cells = ids.len() * names.len();
        let rows = self
            .timed_read(cells, deadline, served.store.batch_read(&ids, &names))
            .await?;
        let elapsed_ms = elapsed_ms(started);
        let mut answered = Vec::with_capacity(rows.len());
        let mut failed = Vec::new();
        for (id, row) in ids.into_iter().zip(rows) {
            match row {
                Ok(values) => answered.push((id, values)),
                Err(WrongType) => failed.push(BatchFailure {
                    error: format!("{} is not an entity hash", served.store.key(&id)),
                    id: id.to_string(),
                }),
            }
        }
        Ok(BatchResult {
            entity_count: answered.len(),
            field_count: names.len(),
            elapsed_ms,
            sample: answered
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

    /// Feast's online read: for each row (in order, repeats allowed) each of `features`
    /// (resolved in the registry by the caller) with its status and its view's event time.
    /// `ids` gives, for each entity the features' views belong to (by its position in the
    /// registry), that entity's id in each row; the lists are aligned. One HMGET per entity per
    /// row reads its features and its views' event times, every HMGET of the request in one
    /// pipeline per node. A row whose key of an entity is not an entity hash has every value of
    /// that entity `INVALID`, as Feast marks a value it cannot serve.
    pub async fn online_features(
        &self,
        ids: &[(usize, Vec<EntityId>)],
        features: &[(&View, &Feature)],
        deadline: Option<Duration>,
    ) -> Result<Vec<Vec<OnlineValue>>, ServiceError> {
        // The views read, each with the request's entity (its slot in `ids`) that holds it, and
        // per feature its view. A request names few views, most features next to others of
        // their view: the last view found is tried first, then a walk over the few.
        let mut views: Vec<(usize, &View)> = Vec::new();
        let mut view_of: Vec<usize> = Vec::with_capacity(features.len());
        for (view, _) in features {
            let known = match views.last() {
                Some((_, last)) if std::ptr::eq(*last, *view) => Some(views.len() - 1),
                _ => views
                    .iter()
                    .position(|(_, seen)| std::ptr::eq(*seen, *view)),
            };
            let at = match known {
                Some(at) => at,
                None => {
                    let entity = self.registry.entity_of(view).0;
                    let Some(slot) = ids.iter().position(|(e, _)| *e == entity) else {
                        return Err(ServiceError::MissingEntity(
                            self.registry.entities[entity].join_key.clone(),
                        ));
                    };
                    views.push((slot, view));
                    views.len() - 1
                }
            };
            view_of.push(at);
        }
        let stamps: Vec<String> = views.iter().map(|(_, view)| view.stamp_field()).collect();
        // Per entity of the request, the fields its HMGET reads: the features (a feature's name
        // is its field, one per entity), then each view's event time once; where each feature,
        // and each view's event time, is among its read's fields.
        let mut fields: Vec<Vec<&str>> = vec![Vec::new(); ids.len()];
        let value_at: Vec<usize> = features
            .iter()
            .zip(&view_of)
            .map(|((_, feature), &view)| {
                let read = &mut fields[views[view].0];
                read.push(&feature.name);
                read.len() - 1
            })
            .collect();
        let stamp_at: Vec<usize> = views
            .iter()
            .zip(&stamps)
            .map(|(&(slot, _), stamp)| {
                fields[slot].push(stamp);
                fields[slot].len() - 1
            })
            .collect();
        // Per entity, whether its reads take the whole hash: most of a wide row asked for.
        let whole: Vec<bool> = ids
            .iter()
            .zip(&fields)
            .map(|((entity, _), fields)| {
                reads_whole_hash(fields.len(), self.registry.row_fields(*entity))
            })
            .collect();
        let rows = ids.first().map_or(0, |(_, ids)| ids.len());
        let mut reads: Vec<HashRead<'_, &str>> = Vec::with_capacity(rows * ids.len());
        for row in 0..rows {
            for (((entity, ids), fields), &whole) in ids.iter().zip(&fields).zip(&whole) {
                reads.push(HashRead {
                    key: self.served[*entity].store.key(&ids[row]),
                    names: fields,
                    whole,
                });
            }
        }
        let cells = reads.iter().map(|read| read.names.len()).sum();
        let replies = self
            .timed_read(cells, deadline, self.first().store.read_keys(&reads))
            .await?;
        // One log line per read, not per row: a read of a thousand foreign keys is one event.
        let invalid = replies
            .iter()
            .zip(&reads)
            .filter(|(reply, _)| reply.is_err());
        if let Some((_, read)) = invalid.clone().next() {
            let key = &read.key;
            let count = invalid.count();
            tracing::warn!("{count} rows not served: {key} is not an entity hash");
        }
        let now_ms = crate::store::unix_ms_now();
        // Each view's event time and status, once a row: all of the view's values share them.
        let mut events: Vec<(Option<u64>, FeatureStatus)> = Vec::with_capacity(views.len());
        Ok(replies
            .chunks(ids.len().max(1))
            .map(|stored| {
                events.clear();
                events.extend(views.iter().zip(&stamp_at).map(|(&(slot, view), &stamp)| {
                    let event: Option<u64> = stored[slot]
                        .as_ref()
                        .ok()
                        .and_then(|fields| fields[stamp].as_deref())
                        .and_then(|ms| ms.parse().ok());
                    (event, status(event, view.ttl_seconds, now_ms))
                }));
                features
                    .iter()
                    .zip(view_of.iter().zip(&value_at))
                    .map(|((_, feature), (&view, &value))| {
                        let Ok(stored) = &stored[views[view].0] else {
                            return OnlineValue::invalid();
                        };
                        let Some(raw) = stored[value].as_deref() else {
                            return OnlineValue::not_found();
                        };
                        let (event_unix_ms, status) = events[view];
                        OnlineValue {
                            value: schema::decode(feature.value_type, raw),
                            status,
                            event_unix_ms,
                        }
                    })
                    .collect()
            })
            .collect())
    }

    /// The one path both reads take: admitted, under the deadline, timed.
    async fn timed_read<T>(
        &self,
        cells: usize,
        deadline: Option<Duration>,
        read: impl std::future::Future<Output = Result<T, crate::store::StoreError>>,
    ) -> Result<T, ServiceError> {
        let started = Instant::now();
        let rows = self.admitted(cells, deadline, read).await;
        self.batch_read_latency.observe(started.elapsed());
        rows
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
