//! The web crate's `Backend`, served by the core's service: what a server function calls.

use std::sync::Arc;
use std::time::Duration;

use feature_store_web::backend::{Answer, Backend};

use crate::api::error::ApiError;
use crate::domain::{EntityId, FeatureName};
use crate::http::error::api_error;
use crate::http::request_id;
use crate::materialize::{Span, Window};
use crate::model::{
    BatchEntities, BatchResult, BulkLoaded, Health, Inspection, MaterializeAccepted, ReadResult,
    ResetDone, StoreState, WorkerAction, WorkerToggled,
};
use crate::ops::{Service, ServiceError};
use crate::registry::Registry;

/// The process's service, behind the server functions.
pub struct ServiceBackend(pub Arc<Service>);

/// The API's error for a failed operation of the request being served.
fn answered<T>(result: Result<T, ServiceError>) -> Result<T, ApiError> {
    result.map_err(|e| api_error(e, request_id::current().as_deref()))
}

impl Backend for ServiceBackend {
    fn health(&self) -> Answer<'_, Health> {
        Box::pin(async { answered(self.0.ready().await) })
    }

    fn registry(&self) -> Registry {
        self.0.registry().clone()
    }

    fn state(&self) -> Answer<'_, StoreState> {
        Box::pin(async { answered(self.0.state().await) })
    }

    fn bulk_load(&self, count: u64, ttl_seconds: u64) -> Answer<'_, BulkLoaded> {
        Box::pin(async move { answered(self.0.bulk_load(count, ttl_seconds).await) })
    }

    fn switch_worker(&self, action: WorkerAction) -> Answer<'_, WorkerToggled> {
        Box::pin(async move { answered(self.0.switch_worker(action).await) })
    }

    fn read(
        &self,
        entity: Option<String>,
        id: EntityId,
        fields: Vec<FeatureName>,
        deadline: Option<Duration>,
    ) -> Answer<'_, ReadResult> {
        Box::pin(
            async move { answered(self.0.read(entity.as_deref(), &id, &fields, deadline).await) },
        )
    }

    fn batch_read(
        &self,
        entity: Option<String>,
        entities: BatchEntities,
        fields: Option<Vec<FeatureName>>,
        deadline: Option<Duration>,
    ) -> Answer<'_, BatchResult> {
        Box::pin(async move {
            answered(
                self.0
                    .batch_read(entity.as_deref(), entities, fields, deadline)
                    .await,
            )
        })
    }

    fn inspect(&self, entity: Option<String>, id: EntityId) -> Answer<'_, Inspection> {
        Box::pin(async move { answered(self.0.inspect(entity.as_deref(), &id).await) })
    }

    fn reset(&self) -> Answer<'_, ResetDone> {
        Box::pin(async { answered(self.0.reset().await) })
    }

    fn materialize(
        &self,
        views: Option<Vec<String>>,
        start_ms: Option<u64>,
        end_ms: u64,
    ) -> Answer<'_, MaterializeAccepted> {
        Box::pin(async move {
            let span = match start_ms {
                Some(start_ms) => Span::Window(Window { start_ms, end_ms }),
                None => Span::Incremental { end_ms },
            };
            let accepted = match self.0.views_to_materialize(views.as_deref()) {
                Ok(views) => self.0.materialize_in_background(&views, span, false).await,
                Err(e) => Err(e),
            };
            answered(accepted).map(|feature_views| MaterializeAccepted {
                feature_views,
                start_unix_ms: start_ms,
                end_unix_ms: end_ms,
            })
        })
    }
}
