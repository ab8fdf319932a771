//! The inference read: one entity, the features asked for, with their freshness.

use std::time::{Duration, Instant};

use super::{Service, ServiceError};
use crate::domain::{EntityId, FeatureName};
use crate::model::{FeatureValue, ReadResult};

impl Service {
    /// The inference read of one entity (`entity` names which; the first when `None`), with the freshness of every field asked for, within `deadline` (or
    /// the server's own, whichever is shorter).
    pub async fn read(
        &self,
        entity: Option<&str>,
        id: &EntityId,
        names: &[FeatureName],
        deadline: Option<Duration>,
    ) -> Result<ReadResult, ServiceError> {
        let served = self.served(entity)?;
        let started = Instant::now();
        let read = self
            .admitted(
                names.len(),
                deadline,
                served.store.read_with_ttls(id, names),
            )
            .await;
        self.read_latency.observe(started.elapsed());
        let read = read?;
        let fields: Vec<FeatureValue> = names
            .iter()
            .zip(read.values)
            .zip(read.field_ttls)
            .map(|((name, value), ttl)| {
                FeatureValue::new(&served.registry, name.to_string(), value, ttl)
            })
            .collect();
        Ok(ReadResult {
            user: id.to_string(),
            returned_count: fields.iter().filter(|f| f.value.is_some()).count(),
            fields,
            key_ttl_seconds: read.key_ttl,
            elapsed_ms: read.elapsed_ms,
        })
    }
}
