//! The operations that change the whole store, one at a time under the admin lock (bulk load,
//! reset), and the worker switch, under its own.

use std::time::Instant;

use super::bootstrap::{self, Seeding};
use super::{elapsed_ms, Service, ServiceError};
use crate::model::{BulkLoaded, EntityLoaded, ResetDone, WorkerAction, WorkerToggled};
use crate::store::EventRule;

impl Service {
    /// Materializes `count` synthetic entities with a `ttl_seconds` key TTL, then waits for the
    /// index to see them.
    pub async fn bulk_load(
        &self,
        count: u64,
        ttl_seconds: u64,
    ) -> Result<BulkLoaded, ServiceError> {
        let _admin = self.admin.lock().await;
        let started = Instant::now();
        let seeding = Seeding {
            count,
            seed: self.seed,
            ttl_seconds: Some(ttl_seconds),
            rule: EventRule::NewerOnly,
        };
        let seeded = bootstrap::seed(&self.first().store, &self.registry, seeding, |_| {}).await?;
        self.refresh_indexes().await;
        Ok(BulkLoaded {
            loaded: seeded.written() as u64,
            entities: seeded
                .loads
                .iter()
                .map(|load| EntityLoaded {
                    entity: load.entity.clone(),
                    loaded: load.report.written as u64,
                })
                .collect(),
            skipped: seeded.not_hashes() as u64,
            ttl_seconds,
            elapsed_ms: elapsed_ms(started),
        })
    }

    /// Does what `action` asks of the stream, idempotently, whichever server holds the lease,
    /// and says where it stands.
    pub async fn switch_worker(&self, action: WorkerAction) -> Result<WorkerToggled, ServiceError> {
        let _switch = self.switch.lock().await;
        match action {
            WorkerAction::Start | WorkerAction::Resume => self.worker.run().await?,
            WorkerAction::Pause => self.worker.pause().await?,
        }
        let stats = self.stream().await?;
        Ok(WorkerToggled {
            running: stats.running,
            paused: stats.paused,
        })
    }

    /// Deletes every entity under the prefix (and the views' materialization marks) with the
    /// worker held still, resets the counters, and waits for the index to see the empty store.
    pub async fn reset(&self) -> Result<ResetDone, ServiceError> {
        let _admin = self.admin.lock().await;
        self.worker.hold();
        self.worker.wait_for_idle().await;
        let deleted = bootstrap::reset(&self.first().store, &self.registry).await;
        self.first().store.reset_stats();
        self.worker.forget_recent();
        self.refresh_indexes().await;
        self.worker.unhold();
        Ok(ResetDone { deleted: deleted? })
    }
}
