//! What every request shares: the store, the worker, and the lock that keeps admin operations
//! from interleaving.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::store::FeatureStore;
use crate::worker::StreamingWorker;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<FeatureStore>,
    pub worker: Arc<StreamingWorker>,
    /// Held by bulk-load, reset and worker toggle, so they run one at a time.
    pub admin: Arc<Mutex<()>>,
    /// Seed of the synthetic users that bulk-load writes.
    pub seed: u64,
}
