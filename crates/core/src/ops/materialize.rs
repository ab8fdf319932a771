//! Materializing views from their sources while the server runs (Feast's `/materialize` and
//! `/materialize-incremental`), one at a time with the other admin operations, so a reset never
//! runs in the middle of one.

use super::{Service, ServiceError};
use crate::materialize::{self, Effect, Span};
use crate::model::Materialized;
use crate::registry::View;

impl Service {
    /// Each of `views` over `span`, in turn; then the index sees the new entities.
    pub async fn materialize(
        &self,
        views: &[&View],
        span: Span,
    ) -> Result<Materialized, ServiceError> {
        let _admin = self.admin.lock().await;
        let mut done = Materialized { views: Vec::new() };
        for view in views {
            let report =
                materialize::run(self.store_of(view), view, span, Effect::Write, |_| {}).await?;
            tracing::info!(
                "materialized {}: {} rows read, {} written, {} older",
                view.name,
                report.rows_read,
                report.written,
                report.skipped_older
            );
            done.views.push(report);
        }
        self.refresh_indexes().await;
        Ok(done)
    }
}
