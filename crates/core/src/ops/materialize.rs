//! Materializing views from their sources while the server runs (Feast's `/materialize` and
//! `/materialize-incremental`), one at a time with the other admin operations, so a reset never
//! runs in the middle of one. A run is answered when done, or (Feast's `?async=true`) accepted
//! at once and run in the background by a task the service owns and stops. Either way the runs
//! going on and the last few finished are kept for `/api/state`, so one that fails where nobody
//! waits for it still shows.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::Instrument;

use super::{Service, ServiceError};
use crate::materialize::{self, Effect, MaterializeError, Span};
use crate::model::{MaterializeRun, Materialized};
use crate::registry::View;
use crate::store::unix_ms_now;

/// Finished runs kept for `/api/state`.
const FINISHED_KEPT: usize = 5;
/// Runs going on or waiting at once: each one waiting holds its request's views, and a flood of
/// forced background runs would otherwise queue without end.
const MAX_RUNS: usize = 8;
/// The longest error text a run keeps (a file's path and a parser's message can be long).
const ERROR_CHARS: usize = 300;

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
        let run = self.runs.begin(views, span, Asked::Now)?;
        self.run_materialize(views, span, run).await
    }

    /// Starts `views` over `span` in the background and answers the views' names at once, as
    /// Feast's `?async=true`. Refused while a run of one of them goes on, unless `force`: the
    /// forced run then waits for the one before it.
    pub fn materialize_in_background(
        self: &Arc<Self>,
        views: &[&View],
        span: Span,
        force: bool,
    ) -> Result<Vec<String>, ServiceError> {
        let run = self.runs.begin(views, span, Asked::Background { force })?;
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

    /// Stops the background runs (at shutdown); each one cut short says so in the log.
    pub async fn stop_background(&self) {
        let mut tasks = std::mem::take(
            &mut *self
                .background
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// How many runs go on, and how many ended done or failed since start, for `/metrics`.
    pub fn materialize_counts(&self) -> MaterializeCounts {
        let book = self.runs.lock();
        MaterializeCounts {
            running: book.running.len() as u64,
            done: book.done_total,
            failed: book.failed_total,
        }
    }

    /// The runs going on, then the last finished, for `/api/state`.
    pub(super) fn materializations(&self) -> Vec<MaterializeRun> {
        self.runs.snapshot()
    }

    async fn run_materialize(
        &self,
        views: &[&View],
        span: Span,
        mut run: RunGuard,
    ) -> Result<Materialized, ServiceError> {
        let _admin = self.admin.lock().await;
        run.started();
        let mut done = Materialized { views: Vec::new() };
        for view in views {
            // Rows of the views done before this one.
            let before = done.views.iter().fold((0, 0), |(read, written), report| {
                (read + report.rows_read, written + report.written)
            });
            let report =
                materialize::run(self.store_of(view), view, span, Effect::Write, |so_far| {
                    run.progress(before.0 + so_far.rows_read, before.1 + so_far.written)
                })
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

/// How a run was asked for: answered when done, or in the background (Feast's `?async=true`,
/// with its `?force=true`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    Now,
    Background { force: bool },
}

/// The materializations of this server, running and recently finished.
#[derive(Default)]
pub(super) struct Runs {
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    next_id: u64,
    running: Vec<(u64, MaterializeRun)>,
    finished: VecDeque<MaterializeRun>,
    done_total: u64,
    failed_total: u64,
}

/// Materializations of this server: going on, and ended since start by how.
pub struct MaterializeCounts {
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a run of `views`, unless as many as the server takes are going on already, or
    /// (a background run not forced) one of them is materializing.
    fn begin(
        self: &Arc<Self>,
        views: &[&View],
        span: Span,
        asked: Asked,
    ) -> Result<RunGuard, ServiceError> {
        let mut book = self.lock();
        if book.running.len() >= MAX_RUNS {
            return Err(ServiceError::MaterializeQueueFull(MAX_RUNS));
        }
        if asked == (Asked::Background { force: false }) {
            let busy: Vec<String> = views
                .iter()
                .filter(|view| (book.running.iter()).any(|(_, run)| run.views.contains(&view.name)))
                .map(|view| view.name.clone())
                .collect();
            if !busy.is_empty() {
                return Err(ServiceError::AlreadyMaterializing(busy));
            }
        }
        book.next_id += 1;
        let id = book.next_id;
        let background = asked != Asked::Now;
        book.running.push((
            id,
            MaterializeRun {
                views: views.iter().map(|view| view.name.clone()).collect(),
                incremental: matches!(span, Span::Incremental { .. }),
                background,
                asked_unix_ms: unix_ms_now(),
                waiting: true,
                ..MaterializeRun::default()
            },
        ));
        Ok(RunGuard {
            runs: Arc::clone(self),
            id,
            background,
            ended: false,
        })
    }

    fn snapshot(&self) -> Vec<MaterializeRun> {
        let book = self.lock();
        (book.running.iter().map(|(_, run)| run))
            .chain(&book.finished)
            .cloned()
            .collect()
    }

    /// Changes run `id`'s record while it runs.
    fn edit(&self, id: u64, change: impl FnOnce(&mut MaterializeRun)) {
        let mut book = self.lock();
        if let Some((_, run)) = book.running.iter_mut().find(|(at, _)| *at == id) {
            change(run);
        }
    }

    /// Moves run `id` to the finished runs, ended with `error` if any; its record as ended.
    fn end(&self, id: u64, error: Option<String>) -> Option<MaterializeRun> {
        let mut book = self.lock();
        let at = book.running.iter().position(|(run, _)| *run == id)?;
        let (_, mut run) = book.running.remove(at);
        match error {
            None => book.done_total += 1,
            Some(_) => book.failed_total += 1,
        }
        run.error = error.map(|e| crate::domain::bounded(&e, ERROR_CHARS));
        run.finished_unix_ms = Some(unix_ms_now());
        run.waiting = false;
        book.finished.push_front(run.clone());
        book.finished.truncate(FINISHED_KEPT);
        Some(run)
    }
}

/// One run while it runs; whatever ends it (done, failed, or dropped: its request cancelled,
/// the server stopping) moves its record to the finished runs.
struct RunGuard {
    runs: Arc<Runs>,
    id: u64,
    background: bool,
    ended: bool,
}

impl RunGuard {
    fn started(&mut self) {
        self.runs.edit(self.id, |run| run.waiting = false);
    }

    fn progress(&mut self, rows_read: u64, written: u64) {
        self.runs.edit(self.id, |run| {
            run.rows_read = rows_read;
            run.written = written;
        });
    }

    fn failed(mut self, e: ServiceError) -> ServiceError {
        self.finished(Some(e.to_string()));
        e
    }

    /// Ends the run; a background one's end is logged (nobody else hears of it), a run
    /// answered to its caller is logged by the caller's error mapping.
    fn finished(&mut self, error: Option<String>) {
        self.ended = true;
        if let Some(run) = self.runs.end(self.id, error) {
            if self.background {
                log_end(&run);
            }
        }
    }
}

fn log_end(run: &MaterializeRun) {
    let views = run.views.join(", ");
    let (read, written) = (run.rows_read, run.written);
    match &run.error {
        None => tracing::info!(
            "background materialization of {views} done: {read} rows read, {written} written"
        ),
        Some(error) => tracing::warn!(
            "materialization of {views} stopped after {read} rows read, {written} written: \
             {error}"
        ),
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.ended = true;
            let cut = "stopped before it ended: its request was cancelled or the server \
                       stopped; the rows written stay, run it again for the rest";
            // Logged whichever way it was asked: nobody hears of it otherwise.
            if let Some(run) = self.runs.end(self.id, Some(cut.to_owned())) {
                log_end(&run);
            }
        }
    }
}
