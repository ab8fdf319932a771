//! The book of materializations: this server's, going on and recently ended, and those of the
//! other servers sharing its lease, as they publish theirs. Each server publishes its own book
//! to one hash beside the lease (`store::lease`, a field per server: its last word's time and
//! its runs), so a page behind a load balancer lists the same runs whichever server answers
//! its poll, and a run whose server fell silent shows as lost, not as running for ever.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ServiceError;
use crate::domain::bounded;
use crate::materialize::Span;
use crate::model::{MaterializeRun, RunWindow, ViewMaterialized};
use crate::registry::View;
use crate::store::{unix_ms_now, FeatureStore, StoreError};

/// Finished runs kept for `/api/state`.
const FINISHED_KEPT: usize = 5;
/// Runs going on or waiting at once: each one waiting holds its request's views, and a flood of
/// forced background runs would otherwise queue without end.
const MAX_RUNS: usize = 8;
/// The longest error text a run keeps (a file's path and a parser's message can be long).
const ERROR_CHARS: usize = 300;

/// How often a server says its runs go on while one does; a run of another server whose last
/// word is older than `LOST_AFTER_MS` shows as ended there.
const HEARTBEAT: Duration = Duration::from_secs(1);
const LOST_AFTER_MS: u64 = 10_000;
/// At most one word this often while a run's counts move (every batch of rows moves them).
const PUBLISH_GAP: Duration = Duration::from_millis(250);
/// An idle server that has run something says so again this often, and whoever publishes
/// drops the fields of servers silent for `FORGET_AFTER_MS` (one per process ever started).
const IDLE_REPUBLISH: Duration = Duration::from_secs(600);
const FORGET_AFTER_MS: u64 = 3_600_000;
/// The others' runs are read at most once a second, whatever the number of state polls.
const OTHERS_FOR: Duration = Duration::from_secs(1);
/// Bounds on what is read of others: anyone who can write to Redis can write there.
const SERVERS_READ: usize = 32;
const WORD_BYTES: usize = 64 * 1024;
const NAME_CHARS: usize = 100;
const VIEWS_READ: usize = 64;

/// How a run was asked for: answered when done, or in the background (Feast's `?async=true`,
/// with its `?force=true`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    Now,
    Background { force: bool },
}

/// The materializations of this server, and of the others as last read.
pub(super) struct Runs {
    book: Mutex<Book>,
    /// This server, as the lease names it.
    server: String,
    /// Where the book is published: the lease's group, on its Redis.
    store: Arc<FeatureStore>,
    group: String,
    /// Told of every change of the book; the publisher waits on it.
    changed: watch::Sender<()>,
    /// Started by the first run, stopped at shutdown.
    publisher: Mutex<Option<JoinHandle<()>>>,
    /// The others' runs as last read, and when; one read at a time.
    others: Mutex<Option<(Instant, Vec<MaterializeRun>)>>,
    reading: tokio::sync::Mutex<()>,
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
    /// The book of `server`, published to `group`'s hash on `store`'s Redis.
    pub(super) fn new(store: Arc<FeatureStore>, group: String, server: String) -> Self {
        Runs {
            book: Mutex::default(),
            server,
            store,
            group,
            changed: watch::Sender::new(()),
            publisher: Mutex::default(),
            others: Mutex::default(),
            reading: tokio::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a run of `views`, unless as many as the server takes are going on already, or
    /// (a background run not forced) one of them is materializing here or in `elsewhere`
    /// (the other servers' runs going on).
    pub(super) fn begin(
        self: &Arc<Self>,
        views: &[&View],
        span: Span,
        asked: Asked,
        elsewhere: &[MaterializeRun],
    ) -> Result<RunGuard, ServiceError> {
        let mut book = self.lock();
        if book.running.len() >= MAX_RUNS {
            return Err(ServiceError::MaterializeQueueFull(MAX_RUNS));
        }
        if asked == (Asked::Background { force: false }) {
            let going = (book.running.iter().map(|(_, run)| run)).chain(elsewhere);
            let busy: Vec<String> = views
                .iter()
                .filter(|view| going.clone().any(|run| run.views.contains(&view.name)))
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
                server: self.server.clone(),
                incremental: matches!(span, Span::Incremental { .. }),
                windows: match span {
                    Span::Window(window) => (views.iter())
                        .map(|view| RunWindow {
                            view: view.name.clone(),
                            start_unix_ms: window.start_ms,
                            end_unix_ms: window.end_ms,
                        })
                        .collect(),
                    Span::Incremental { .. } => Vec::new(),
                },
                background,
                asked_unix_ms: unix_ms_now(),
                waiting: true,
                ..MaterializeRun::default()
            },
        ));
        drop(book);
        self.publish_from_now();
        self.changed.send_replace(());
        Ok(RunGuard {
            runs: Arc::clone(self),
            id,
            background,
            ended: false,
        })
    }

    /// How many runs go on here, and how many ended since start, by how.
    pub(super) fn counts(&self) -> MaterializeCounts {
        let book = self.lock();
        MaterializeCounts {
            running: book.running.len() as u64,
            done: book.done_total,
            failed: book.failed_total,
        }
    }

    /// This server's runs going on (oldest first), then its last finished (newest first).
    pub(super) fn own(&self) -> Vec<MaterializeRun> {
        let book = self.lock();
        (book.running.iter().map(|(_, run)| run))
            .chain(&book.finished)
            .cloned()
            .collect()
    }

    /// Every server's runs going on (oldest first), then the last finished (newest first):
    /// this server's as they are, the others' as they last published them.
    pub(super) async fn all(&self) -> Result<Vec<MaterializeRun>, StoreError> {
        let others = self.others().await?;
        let (mut runs, mut ended): (Vec<_>, Vec<_>) = (self.own().into_iter())
            .chain(others)
            .partition(|run| run.finished_unix_ms.is_none());
        // Stable: this server's own order holds among runs of the same millisecond.
        runs.sort_by_key(|run| run.asked_unix_ms);
        ended.sort_by_key(|run| Reverse(run.finished_unix_ms));
        ended.truncate(FINISHED_KEPT);
        runs.extend(ended);
        Ok(runs)
    }

    /// The other servers' runs, read at most once a second.
    async fn others(&self) -> Result<Vec<MaterializeRun>, StoreError> {
        let _reading = self.reading.lock().await;
        if let Some(runs) = self.others_read_within(OTHERS_FOR) {
            return Ok(runs);
        }
        let (now, words) = self.store.read_runs(&self.group).await?;
        let runs: Vec<MaterializeRun> = (words.iter())
            .filter(|(server, _)| *server != self.server)
            .take(SERVERS_READ)
            .flat_map(|(server, word)| published(server, word, now))
            .collect();
        *self.others.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), runs.clone()));
        Ok(runs)
    }

    /// The other servers' runs going on, for a run about to start: read now if Redis answers
    /// within `wait`, else as last read if that is recent; none when neither (Redis down or
    /// frozen: the run is accepted on this server's word alone, as before the others spoke).
    pub(super) async fn others_going(&self, wait: Duration) -> Vec<MaterializeRun> {
        let runs = match tokio::time::timeout(wait, self.others()).await {
            Ok(Ok(runs)) => runs,
            _ => {
                (self.others_read_within(Duration::from_millis(LOST_AFTER_MS))).unwrap_or_default()
            }
        };
        (runs.into_iter())
            .filter(|run| run.finished_unix_ms.is_none())
            .collect()
    }

    /// The others' runs as last read, if that was less than `age` ago.
    fn others_read_within(&self, age: Duration) -> Option<Vec<MaterializeRun>> {
        let last = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        (last.as_ref())
            .filter(|(read_at, _)| read_at.elapsed() < age)
            .map(|(_, runs)| runs.clone())
    }

    /// Changes run `id`'s record while it runs.
    fn edit(&self, id: u64, change: impl FnOnce(&mut MaterializeRun)) {
        let mut book = self.lock();
        if let Some((_, run)) = book.running.iter_mut().find(|(at, _)| *at == id) {
            change(run);
        }
        drop(book);
        self.changed.send_replace(());
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
        run.error = error.map(|e| bounded(&e, ERROR_CHARS));
        run.finished_unix_ms = Some(unix_ms_now());
        run.waiting = false;
        book.finished.push_front(run.clone());
        book.finished.truncate(FINISHED_KEPT);
        drop(book);
        self.changed.send_replace(());
        Some(run)
    }

    /// Starts publishing this server's book, once: a server that never materializes never
    /// writes it.
    fn publish_from_now(self: &Arc<Self>) {
        let mut publisher = self
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if publisher.is_none() {
            let changed = self.changed.subscribe();
            *publisher = Some(tokio::spawn(publish(Arc::downgrade(self), changed)));
        }
    }

    /// Stops publishing, having said once more how this server's runs stand (at shutdown,
    /// those cut short say so): the others show them ended, not lost.
    pub(super) async fn stop_publishing(&self) {
        let publisher = self
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(publisher) = publisher {
            publisher.abort();
            let last = tokio::time::timeout(HEARTBEAT * 2, self.publish_now()).await;
            if let Ok(Err(e)) = last {
                tracing::warn!(
                    "could not tell the other servers how this one's materializations ended: {}",
                    crate::chain(&e)
                );
            }
        }
    }

    /// Publishes this server's book; whether a run of it goes on (its next word is due soon).
    async fn publish_now(&self) -> Result<bool, StoreError> {
        let runs = self.own();
        let going = runs.iter().any(|run| run.finished_unix_ms.is_none());
        let runs = serde_json::to_string(&runs).unwrap_or_else(|_| "[]".to_owned());
        (self.store)
            .publish_runs(&self.group, &self.server, &runs, FORGET_AFTER_MS)
            .await?;
        Ok(going)
    }
}

/// Publishes `runs`' book at each change (at most every `PUBLISH_GAP`), every `HEARTBEAT` while
/// a run goes on, every `IDLE_REPUBLISH` else; ends with the book.
async fn publish(runs: Weak<Runs>, mut changed: watch::Receiver<()>) {
    let mut failing = false;
    loop {
        let Some(book) = runs.upgrade() else {
            return;
        };
        let going = match book.publish_now().await {
            Ok(going) => {
                failing = false;
                going
            }
            Err(e) => {
                // Once an outage, not once a second.
                if !failing {
                    tracing::warn!(
                        "cannot tell the other servers how this one's materializations go: {}",
                        crate::chain(&e)
                    );
                }
                failing = true;
                true
            }
        };
        drop(book);
        tokio::time::sleep(PUBLISH_GAP).await;
        let quiet = if going {
            HEARTBEAT - PUBLISH_GAP
        } else {
            IDLE_REPUBLISH
        };
        if let Ok(Err(_)) = tokio::time::timeout(quiet, changed.changed()).await {
            return;
        }
    }
}

/// The runs `server` published in `word` (`<Unix ms> <JSON>`), bounded; those it left going
/// on and has said nothing of for `LOST_AFTER_MS` as ended when it fell silent. Both times are
/// Redis's clock. Nothing from a word that does not read.
fn published(server: &str, word: &str, now: u64) -> Vec<MaterializeRun> {
    let Some((said, runs)) = word.split_once(' ').filter(|_| word.len() <= WORD_BYTES) else {
        return Vec::new();
    };
    let (Ok(said), Ok(runs)) = (
        said.parse::<u64>(),
        serde_json::from_str::<Vec<MaterializeRun>>(runs),
    ) else {
        return Vec::new();
    };
    let silent = now.saturating_sub(said) > LOST_AFTER_MS;
    (runs.into_iter().take(MAX_RUNS + FINISHED_KEPT))
        .map(|mut run| {
            run.server = bounded(server, NAME_CHARS);
            run.views = (run.views.iter().take(VIEWS_READ))
                .map(|view| bounded(view, NAME_CHARS))
                .collect();
            run.windows.truncate(VIEWS_READ);
            for window in &mut run.windows {
                window.view = bounded(&window.view, NAME_CHARS);
            }
            run.error = run.error.map(|error| bounded(&error, ERROR_CHARS));
            if run.finished_unix_ms.is_none() && silent {
                run.finished_unix_ms = Some(said);
                run.waiting = false;
                run.error = Some(
                    "its server has said nothing of it since: it stopped or lost Redis; the rows \
                     written stay, run it again for the rest"
                        .to_owned(),
                );
            }
            run
        })
        .collect()
}

/// One run while it runs; whatever ends it (done, failed, or dropped: its request cancelled,
/// the server stopping) moves its record to the finished runs.
pub(super) struct RunGuard {
    runs: Arc<Runs>,
    id: u64,
    background: bool,
    ended: bool,
}

impl RunGuard {
    /// The run goes on from waiting, sending at most `max_rows_per_second` when given.
    pub(super) fn started(&mut self, max_rows_per_second: Option<NonZeroU32>) {
        self.runs.edit(self.id, |run| {
            run.waiting = false;
            run.max_rows_per_second = max_rows_per_second.map(NonZeroU32::get);
        });
    }

    /// The run's rows so far, every view's together, and the window of the view it is at.
    pub(super) fn progress(&mut self, rows_read: u64, written: u64, at: &ViewMaterialized) {
        self.runs.edit(self.id, |run| {
            run.rows_read = rows_read;
            run.written = written;
            if !run.windows.iter().any(|window| window.view == at.view) {
                run.windows.push(RunWindow {
                    view: at.view.clone(),
                    start_unix_ms: at.start_unix_ms,
                    end_unix_ms: at.end_unix_ms,
                });
            }
        });
    }

    /// Ends the run with `e` and every cause under it ("Redis error" alone says nothing).
    pub(super) fn failed(mut self, e: ServiceError) -> ServiceError {
        self.finished(Some(crate::chain(&e)));
        e
    }

    /// Ends the run; a background one's end is logged (nobody else hears of it), a run
    /// answered to its caller is logged by the caller's error mapping.
    pub(super) fn finished(&mut self, error: Option<String>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn word(said: u64, runs: &serde_json::Value) -> String {
        format!("{said} {runs}")
    }

    #[test]
    fn another_servers_run_reads_as_it_said_until_it_falls_silent() {
        let now = 1_764_114_074_000;
        let running = serde_json::json!([
            {"views": ["user_batch"], "server": "forged", "incremental": false, "background": true,
             "asked_unix_ms": now - 20_000, "waiting": false, "rows_read": 7, "written": 5,
             "finished_unix_ms": null, "error": null}
        ]);
        let fresh = published("b:8094#1-ab", &word(now - 2_000, &running), now);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].server, "b:8094#1-ab", "the field names the server");
        assert_eq!((fresh[0].finished_unix_ms, &fresh[0].error), (None, &None));

        let silent = published("b:8094#1-ab", &word(now - 11_000, &running), now);
        assert_eq!(silent[0].finished_unix_ms, Some(now - 11_000));
        assert!(silent[0].error.as_deref().unwrap().contains("said nothing"));
        assert_eq!(silent[0].rows_read, 7);
    }

    #[test]
    fn what_another_server_wrote_is_bounded_or_ignored() {
        let now = 1_764_114_074_000;
        for unreadable in ["", "soon []", "1 {", "1 [{\"views\": 3}]"] {
            assert!(published("b", unreadable, now).is_empty(), "{unreadable}");
        }
        let huge = format!("{now} [{}]", "1".repeat(WORD_BYTES));
        assert!(published("b", &huge, now).is_empty());

        let run = |views: Vec<String>, error: String| {
            serde_json::json!({"views": views, "asked_unix_ms": now, "finished_unix_ms": now,
                "background": true, "error": error})
        };
        let many = serde_json::Value::Array(vec![run(vec!["v".into()], "e".into()); 50]);
        let runs = published("s", &word(now, &many), now);
        assert_eq!(runs.len(), MAX_RUNS + FINISHED_KEPT);
        let long = run(vec!["v".repeat(150); 100], "e".repeat(5_000));
        let runs = published(
            &"s".repeat(1_000),
            &word(now, &serde_json::json!([long])),
            now,
        );
        assert!(runs[0].server.chars().count() <= NAME_CHARS + 1);
        assert_eq!(runs[0].views.len(), VIEWS_READ);
        assert!(runs[0].views[0].chars().count() <= NAME_CHARS + 1);
        assert!(runs[0].error.as_ref().unwrap().chars().count() <= ERROR_CHARS + 1);
    }
}
