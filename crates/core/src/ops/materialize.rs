//! Materializing views from their sources while the server runs (Feast's `/materialize` and
//! `/materialize-incremental`, the UI's `/api/materialize`), one at a time with the other admin
//! operations, so a reset never runs in the middle of one. A run is answered when done, or
//! (Feast's `?async=true`) accepted at once and run in the background by a task the service
//! owns and stops. Either way it is kept in the book of runs (`super::runs`), so one that fails
//! where nobody waits for it still shows.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tracing::Instrument;

use super::runs::{Asked, MaterializeCounts, RunGuard};
use super::{Service, ServiceError};
use crate::materialize::{self, Effect, MaterializeError, Span, Watermark};
use crate::model::{MaterializeRun, Materialized, ViewWatermark};
use crate::registry::View;
use crate::store::StoreError;

/// How long a background run's start waits to hear of the other servers' runs.
const ELSEWHERE_WAIT: Duration = Duration::from_millis(200);

impl Service {
    /// The views a materialization of `names` runs, each with a source, each once (a name
    /// repeated a thousand times would hold the admin lock for a thousand runs); every view
    /// that has one when `None`, as Feast materializes every view.
    pub fn views_to_materialize(
        &self,
        names: Option<&[String]>,
    ) -> Result<Vec<&View>, ServiceError> {
        let Some(names) = names else {
            let views: Vec<&View> = (self.registry.views.iter())
                .filter(|view| view.source.is_some())
                .collect();
            if views.is_empty() {
                return Err(MaterializeError::NoSourcedView.into());
            }
            return Ok(views);
        };
        let mut views: Vec<&View> = Vec::new();
        for name in names {
            let view = (self.registry.view(name))
                .ok_or_else(|| ServiceError::UnknownView(crate::domain::bounded(name, 60)))?;
            if view.source.is_none() {
                return Err(MaterializeError::NoSource(view.name.clone()).into());
            }
            if !views.iter().any(|seen| seen.name == view.name) {
                views.push(view);
            }
        }
        Ok(views)
    }

    /// Each of `views` over `span`, in turn; then the index sees the new entities.
    pub async fn materialize(
        &self,
        views: &[&View],
        span: Span,
    ) -> Result<Materialized, ServiceError> {
        let run = self.runs.begin(views, span, Asked::Now, &[])?;
        self.run_materialize(views, span, run).await
    }

    /// Starts `views` over `span` in the background and answers the views' names at once, as
    /// Feast's `?async=true`. Refused while a run of one of them goes on, here or on another
    /// server as it last said (within a second or so), unless `force`: the forced run then
    /// waits for the one before it here.
    pub async fn materialize_in_background(
        self: &Arc<Self>,
        views: &[&View],
        span: Span,
        force: bool,
    ) -> Result<Vec<String>, ServiceError> {
        let elsewhere = match force {
            true => Vec::new(),
            false => self.runs.others_going(ELSEWHERE_WAIT).await,
        };
        let run = (self.runs).begin(views, span, Asked::Background { force }, &elsewhere)?;
        let owned: Vec<View> = views.iter().map(|&view| view.clone()).collect();
        let service = Arc::clone(self);
        let mut tasks = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Finished tasks' results are nothing; reap them so the set holds only live ones.
        while tasks.try_join_next().is_some() {}
        // In the request's span: the run's log lines carry the id of the request that asked.
        tasks.spawn(
            async move {
                let views: Vec<&View> = owned.iter().collect();
                // The run's record and the log say how it ended.
                let _ = service.run_materialize(&views, span, run).await;
            }
            .in_current_span(),
        );
        Ok(views.iter().map(|view| view.name.clone()).collect())
    }

    /// Stops the background runs (at shutdown); each one cut short says so in the log and, once
    /// more, to the other servers.
    pub async fn stop_background(&self) {
        let mut tasks = std::mem::take(
            &mut *self
                .background
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        self.runs.stop_publishing().await;
    }

    /// How many runs go on here, and how many ended done or failed since start, for `/metrics`.
    pub fn materialize_counts(&self) -> MaterializeCounts {
        self.runs.counts()
    }

    /// This server's runs going on, then its last finished.
    pub(super) fn own_materializations(&self) -> Vec<MaterializeRun> {
        self.runs.own()
    }

    /// Every server's runs, for `/api/state`: a page behind a load balancer lists the same runs
    /// whichever server answers its poll.
    pub(super) async fn materializations(&self) -> Result<Vec<MaterializeRun>, StoreError> {
        self.runs.all().await
    }

    /// Where an incremental run of each view with a source starts, for `/api/state`.
    pub(super) async fn watermarks(&self) -> Result<Vec<ViewWatermark>, StoreError> {
        let sourced = (self.registry.views.iter()).filter(|view| view.source.is_some());
        futures::future::try_join_all(sourced.map(|view| async move {
            let mark = materialize::watermark(self.store_of(view), view).await?;
            Ok(ViewWatermark {
                view: view.name.clone(),
                ended_unix_ms: match mark {
                    Watermark::At(ms) => Some(ms),
                    Watermark::Never | Watermark::Unreadable => None,
                },
                unreadable: mark == Watermark::Unreadable,
            })
        }))
        .await
    }

    async fn run_materialize(
        &self,
        views: &[&View],
        span: Span,
        mut run: RunGuard,
    ) -> Result<Materialized, ServiceError> {
        let _admin = self.admin.lock().await;
        run.started(self.materialize_max_rows_per_second);
        let mut done = Materialized { views: Vec::new() };
        for view in views {
            // Rows of the views done before this one.
            let before = done.views.iter().fold((0, 0), |(read, written), report| {
                (read + report.rows_read, written + report.written)
            });
            let report = materialize::run(
                self.store_of(view),
                view,
                span,
                Effect::Write {
                    max_rows_per_second: self.materialize_max_rows_per_second,
                },
                |so_far| {
                    run.progress(
                        before.0 + so_far.rows_read,
                        before.1 + so_far.written,
                        so_far,
                    )
                },
            )
            .await;
            let report = match report {
                Ok(report) => report,
                Err(e) => return Err(run.failed(e.into())),
            };
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
        run.finished(None);
        Ok(done)
    }
}
