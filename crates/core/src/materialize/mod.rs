//! Materialize: a batch view's offline rows (the Parquet or CSV files its registry `source`
//! names) into the store, as Feast's `materialize` does: the rows whose event time lies in the
//! window, the latest per entity winning (a tie going to the later `created`). Files are read a
//! batch at a time on a blocking thread while the previous batch is written, so memory is
//! bounded by the batch size, never by the files. "Latest per entity" is not worked out in
//! memory: each row goes through the batch write script, which writes it only if it is newer
//! than what is stored, in the same step. So a run killed half-way and run again ends in the
//! same state, and two runs over overlapping windows agree.

mod files;
mod rows;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use redis::cmd;

use crate::model::ViewMaterialized;
use crate::registry::{Source, View};
use crate::store::{unix_ms_now, EntityRow, EventRule, FeatureStore, StoreError};

pub(crate) use files::check;

/// Rows per record batch read, and per pipelined write.
const BATCH_ROWS: usize = 8_192;
/// Batches read ahead of the one being written.
const READ_AHEAD: usize = 2;

/// The event times a materialization takes, in Unix ms, both ends included (as Feast's file
/// source reads them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Which rows a materialization takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    Window(Window),
    /// From the view's watermark (the end of its last incremental run) to `end_ms`, which
    /// becomes its watermark once the run has finished: a run killed half-way starts from the
    /// same place again.
    Incremental {
        end_ms: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    #[error("view {0:?} has no source to materialize from")]
    NoSource(String),
    #[error("no view of the registry has a source to materialize from")]
    NoSourcedView,
    #[error("the window's start is after its end")]
    EmptyWindow,
    /// A file went missing or broke since the registry was loaded.
    #[error("{0}")]
    File(String),
    /// The mark of where the last incremental run ended was written by someone else.
    #[error(
        "{key}, where the last incremental run of {view} ended, holds something other than a \
         time: delete it, and the next incremental run starts one TTL back"
    )]
    UnreadableWatermark { view: String, key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a run writes, or only reads and checks what it would write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Every row sent to Redis, at most `max_rows_per_second` when given (see `Pace`).
    Write {
        max_rows_per_second: Option<NonZeroU32>,
    },
    /// Nothing written, the watermark left where it is.
    DryRun,
}

/// Slices a second of a paced run: each slice of rows is sent when the run's rate allows it.
const PACED_SLICES_PER_SECOND: u32 = 100;

/// A cap on the rows a run sends a second, for a load into a Redis that serves reads: Redis
/// is one thread, and a load at full speed keeps it busy nine tenths of the time, so reads
/// wait behind the load's scripts. Paced, the rows go in slices (a hundredth of the second's
/// rows each), each sent no sooner than its share of the second after the one before, so
/// Redis is idle between them; a slice that took longer than its share is not caught up with
/// a burst.
struct Pace {
    per_second: NonZeroU32,
    /// When the next slice may be sent; `None` before the first.
    next: Option<tokio::time::Instant>,
}

impl Pace {
    fn new(per_second: NonZeroU32) -> Self {
        Pace {
            per_second,
            next: None,
        }
    }

    /// Rows a slice takes.
    fn slice(&self) -> usize {
        (self.per_second.get() / PACED_SLICES_PER_SECOND).clamp(1, BATCH_ROWS as u32) as usize
    }

    /// Waits until a slice of `rows` may be sent.
    async fn wait_for(&mut self, rows: usize) {
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
        let share = Duration::from_secs_f64(rows as f64 / f64::from(self.per_second.get()));
        self.next = Some(tokio::time::Instant::now() + share);
    }
}

/// Rows a dry run shows.
const DRY_RUN_SAMPLE: usize = 3;

/// Materializes `view` over `span`; `progress` sees the report once its window is known, then
/// after each batch (and each slice of a paced run).
pub async fn run(
    store: &FeatureStore,
    view: &View,
    span: Span,
    effect: Effect,
    progress: impl FnMut(&ViewMaterialized),
) -> Result<ViewMaterialized, MaterializeError> {
    let window = match span {
        Span::Window(window) => window,
        Span::Incremental { end_ms } => incremental_window(store, view, end_ms).await?,
    };
    let report = materialize(store, view, window, effect, progress).await?;
    if let (Span::Incremental { end_ms }, Effect::Write { .. }) = (span, effect) {
        advance_watermark(store, view, end_ms).await?;
    }
    Ok(report)
}

/// Materializes `view` over `window`; `progress` sees the report before the first batch, then
/// after each.
async fn materialize(
    store: &FeatureStore,
    view: &View,
    window: Window,
    effect: Effect,
    mut progress: impl FnMut(&ViewMaterialized),
) -> Result<ViewMaterialized, MaterializeError> {
    let source = view
        .source
        .clone()
        .ok_or_else(|| MaterializeError::NoSource(view.name.clone()))?;
    if window.start_ms > window.end_ms {
        return Err(MaterializeError::EmptyWindow);
    }
    let started = Instant::now();
    let files = files::resolve(&source).map_err(MaterializeError::File)?;
    let mut report = ViewMaterialized {
        view: view.name.clone(),
        start_unix_ms: window.start_ms,
        end_unix_ms: window.end_ms,
        files: files.len(),
        rows_in_files: files::row_count(&files),
        dry_run: effect == Effect::DryRun,
        ..ViewMaterialized::default()
    };
    // The window and the files are known before the first row: say so, a large file takes a
    // while to give its first batch.
    progress(&report);
    let mut pace = match effect {
        Effect::Write {
            max_rows_per_second: Some(per_second),
        } => Some(Pace::new(per_second)),
        _ => None,
    };
    // One load however many batches and slices: its script loaded once, the store's last load
    // the run's rows so far.
    let mut load = store.bulk_load_in_parts(None, EventRule::NewerOnly);
    let (batches, mut read) = tokio::sync::mpsc::channel(READ_AHEAD);
    let reader = {
        let (view, read_side) = (view.clone(), report.clone());
        tokio::task::spawn_blocking(move || {
            read_files(&files, &source, &view, window, read_side, batches)
        })
    };
    while let Some(next) = read.recv().await {
        let Converted { rows, read } = next.map_err(MaterializeError::File)?;
        report.rows_read = read.rows_read;
        report.outside_window = read.outside_window;
        report.refused = read.refused;
        if effect == Effect::DryRun {
            report.written += rows.len() as u64;
            let shown = DRY_RUN_SAMPLE.saturating_sub(report.sample.len());
            report
                .sample
                .extend(rows.iter().take(shown).map(sample_text));
        } else {
            let slice = pace.as_ref().map_or(rows.len(), Pace::slice);
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let slice: Vec<EntityRow> = rows.by_ref().take(slice).collect();
                if let Some(pace) = pace.as_mut() {
                    pace.wait_for(slice.len()).await;
                }
                let part = load.write(slice, |_| {}).await?;
                report.written += part.written as u64;
                report.skipped_older += part.older.len() as u64;
                report.not_hashes += part.not_hashes.len() as u64;
                // A paced batch takes seconds (8 at 1,000 rows/s): said after each slice.
                if pace.is_some() {
                    report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                    progress(&report);
                }
            }
        }
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        progress(&report);
    }
    // The reader stops at its first failure, which was sent above; a panic is not expected.
    let _ = reader.await;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

/// A row as a dry run shows it: `id: feature=value, …, cleared=null`, the store's own fields
/// (event and write times) left out.
fn sample_text(row: &EntityRow) -> String {
    let values = row
        .fields
        .iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, value)| format!("{name}={value}"))
        .chain(row.cleared.iter().map(|name| format!("{name}=null")));
    format!("{}: {}", row.id, values.collect::<Vec<_>>().join(", "))
}

/// One batch's rows in the window, and what the reader has counted so far (rows read, outside
/// the window, refused).
struct Converted {
    rows: Vec<EntityRow>,
    read: ViewMaterialized,
}

/// Reads every file's batches and converts them into rows, on this (blocking) thread so
/// Redis never waits for a conversion, sending them into `batches` until done, a failure, or
/// the receiver is gone. `read` starts the reader's counts.
fn read_files(
    files: &[PathBuf],
    source: &Source,
    view: &View,
    window: Window,
    mut read: ViewMaterialized,
    batches: tokio::sync::mpsc::Sender<Result<Converted, String>>,
) {
    let columns = files::needed_columns(source, view);
    for path in files {
        let file = path.display().to_string();
        let reader = match files::batches(path, &columns, BATCH_ROWS) {
            Ok(reader) => reader,
            Err(e) => {
                let _ = batches.blocking_send(Err(e));
                return;
            }
        };
        let mut first_row = 1;
        for batch in reader {
            let next = batch.map(|batch| {
                let at = rows::At {
                    file: &file,
                    first_row,
                };
                first_row += batch.num_rows() as u64;
                let rows =
                    rows::convert(&batch, view, source, window, &at, unix_ms_now(), &mut read);
                Converted {
                    rows,
                    read: read.clone(),
                }
            });
            let failed = next.is_err();
            if batches.blocking_send(next).is_err() || failed {
                return;
            }
        }
    }
}

/// The key holding the end of the last incremental materialization of `view`: beside the
/// data, so a run from another machine continues where this one stopped. A string, not an
/// entity hash, so the index and reset never take it for an entity.
fn watermark_key(store: &FeatureStore, view: &View) -> String {
    format!("{}_materialized:{}", store.config().key_prefix, view.name)
}

/// Where the last incremental run of a view ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watermark {
    /// None has run yet: the next starts one view TTL before its end.
    Never,
    At(u64),
    /// The key holds something other than a time (written by someone else, of any type).
    Unreadable,
}

/// Where the last incremental run of `view` ended.
pub async fn watermark(store: &FeatureStore, view: &View) -> Result<Watermark, StoreError> {
    let key = watermark_key(store, view);
    match (store.query_key::<Option<Vec<u8>>>(&key, cmd("GET").arg(&key))).await {
        Ok(None) => Ok(Watermark::Never),
        Ok(Some(value)) => Ok((std::str::from_utf8(&value).ok())
            .and_then(|text| text.parse().ok())
            .map_or(Watermark::Unreadable, Watermark::At)),
        Err(e) if e.is_wrong_type() => Ok(Watermark::Unreadable),
        Err(e) => Err(e),
    }
}

/// Where the next incremental run of `view` starts: the end of the last one, else one view
/// TTL before `end_ms` (as Feast starts a view never materialized).
async fn incremental_window(
    store: &FeatureStore,
    view: &View,
    end_ms: u64,
) -> Result<Window, MaterializeError> {
    let start_ms = match watermark(store, view).await? {
        Watermark::At(ms) => ms,
        Watermark::Never => end_ms.saturating_sub(view.ttl_seconds * 1000),
        Watermark::Unreadable => {
            return Err(MaterializeError::UnreadableWatermark {
                view: view.name.clone(),
                key: watermark_key(store, view),
            })
        }
    };
    Ok(Window { start_ms, end_ms })
}

/// Forgets where the incremental runs of `views` stopped, as `reset` deletes what they wrote:
/// the next run starts as on a view never materialized, not after data that is gone. How many
/// marks there were.
pub async fn forget_watermarks(store: &FeatureStore, views: &[&View]) -> Result<u64, StoreError> {
    let mut forgotten = 0;
    for view in views {
        let key = watermark_key(store, view);
        forgotten += store
            .query_key::<u64>(&key, cmd("UNLINK").arg(&key))
            .await?;
    }
    Ok(forgotten)
}

/// Records that `view` is materialized up to `end_ms`.
async fn advance_watermark(
    store: &FeatureStore,
    view: &View,
    end_ms: u64,
) -> Result<(), MaterializeError> {
    let key = watermark_key(store, view);
    store
        .query_key::<()>(&key, cmd("SET").arg(&key).arg(end_ms))
        .await?;
    Ok(())
}
