//! What the server functions need from the server, as a trait: the server implements it over the
//! core's service and provides it in the request context, so this crate never depends on Redis.
//! Inputs arrive parsed into domain types; every answer is the API's own error type.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::api::error::ApiError;
use crate::domain::{EntityId, FeatureName};
use crate::model::{
    BatchEntities, BatchResult, BulkLoaded, Health, Inspection, MaterializeAccepted, ReadResult,
    ResetDone, StoreState, WorkerAction, WorkerToggled,
};
use crate::registry::Registry;

/// An answer on its way.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// One method per server function. `entity` names which of the registry's entities a read
/// serves; the first when `None`.
pub trait Backend: Send + Sync + 'static {
    fn health(&self) -> Answer<'_, Health>;
    fn registry(&self) -> Registry;
    fn state(&self) -> Answer<'_, StoreState>;
    fn bulk_load(&self, count: u64, ttl_seconds: u64) -> Answer<'_, BulkLoaded>;
    fn switch_worker(&self, action: WorkerAction) -> Answer<'_, WorkerToggled>;
    fn read(
        &self,
        entity: Option<String>,
        id: EntityId,
        fields: Vec<FeatureName>,
        deadline: Option<Duration>,
    ) -> Answer<'_, ReadResult>;
    fn batch_read(
        &self,
        entity: Option<String>,
        entities: BatchEntities,
        fields: Option<Vec<FeatureName>>,
        deadline: Option<Duration>,
    ) -> Answer<'_, BatchResult>;
    fn inspect(&self, entity: Option<String>, id: EntityId) -> Answer<'_, Inspection>;
    fn reset(&self) -> Answer<'_, ResetDone>;
    /// Starts a background materialization of `views` (every view with a source when `None`)
    /// over `[start_ms, end_ms]`, or incrementally up to `end_ms` when `start_ms` is `None`.
    fn materialize(
        &self,
        views: Option<Vec<String>>,
        start_ms: Option<u64>,
        end_ms: u64,
    ) -> Answer<'_, MaterializeAccepted>;
}

/// The backend the server put in the request context.
pub fn current() -> Result<Arc<dyn Backend>, ApiError> {
    leptos::prelude::use_context::<Arc<dyn Backend>>().ok_or_else(|| {
        tracing::error!("the backend is missing from the request context");
        ApiError::internal(None)
    })
}
