//! What every request shares: the store, the worker, and the lock that keeps admin operations
//! from interleaving.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::index::EntityIndex;
use crate::store::FeatureStore;
use crate::worker::StreamingWorker;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<FeatureStore>,
    pub worker: Arc<StreamingWorker>,
    /// What requests know about the whole store, kept by one background task.
    pub index: Arc<EntityIndex>,
    /// Held by bulk-load, reset and worker toggle, so they run one at a time.
    pub admin: Arc<Mutex<()>>,
    /// Seed of the synthetic users that bulk-load writes.
    pub seed: u64,
}
