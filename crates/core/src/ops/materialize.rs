//! Materializing views from their sources while the server runs (Feast's `/materialize` and
//! `/materialize-incremental`), one at a time with the other admin operations, so a reset never
//! runs in the middle of one.

use super::{Service, ServiceError};
use crate::materialize::{self, Window};
use crate::model::Materialized;
use crate::registry::View;

impl Service {
    /// Each of `views` over `window`, in turn; then the index sees the new entities.
    pub async fn materialize(
        &self,
        views: &[&View],
        window: Window,
    ) -> Result<Materialized, ServiceError> {
        let _admin = self.admin.lock().await;
        let mut done = Materialized { views: Vec::new() };
        for view in views {
            let report = materialize::materialize(&self.store, view, window, |_| {}).await?;
            tracing::info!(
                "materialized {}: {} rows read, {} written, {} older",
                view.name,
                report.rows_read,
                report.written,
                report.skipped_older
            );
            done.views.push(report);
        }
        self.index.refresh().await;
        Ok(done)
    }

    /// Each of `views` from where its last incremental run ended up to `end_ms`, moving its
    /// watermark only once its run has finished.
    pub async fn materialize_incremental(
        &self,
        views: &[&View],
        end_ms: u64,
    ) -> Result<Materialized, ServiceError> {
        let _admin = self.admin.lock().await;
        let mut done = Materialized { views: Vec::new() };
        for view in views {
            let window = materialize::incremental_window(&self.store, view, end_ms).await?;
            let report = materialize::materialize(&self.store, view, window, |_| {}).await?;
            materialize::advance_watermark(&self.store, view, end_ms).await?;
            done.views.push(report);
        }
        self.index.refresh().await;
        Ok(done)
    }
}
