//! What writes and the admin operations answer: bulk loads, pushes, resets, the worker switch.

use serde::{Deserialize, Serialize};

/// A materialization from the views' sources, accepted to run in the background.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterializeAccepted {
    /// The views it materializes, in turn.
    pub feature_views: Vec<String>,
    /// The window's start, in Unix milliseconds; `None`: each view from where its last
    /// incremental run ended.
    pub start_unix_ms: Option<u64>,
    pub end_unix_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkLoaded {
    /// Entities written, every entity of the registry together.
    pub loaded: u64,
    /// Per entity of the registry, in its order: its name and how many were written.
    pub entities: Vec<EntityLoaded>,
    /// Rows left out because their key holds something other than an entity hash.
    pub skipped: u64,
    pub ttl_seconds: u64,
    pub elapsed_ms: f64,
}

/// How many of one entity a bulk load wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityLoaded {
    pub entity: String,
    pub loaded: u64,
}

/// What a caller asks of the worker. Each says the outcome it wants, so a request sent from a
/// stale page can never do the opposite: `pause` never starts the worker, `start` and `resume`
/// never pause it, and asking for the state it is already in changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerAction {
    /// Stopped → running; a paused worker resumes.
    Start,
    /// Running → paused; the task stays, no tick writes.
    Pause,
    /// Paused → running; a stopped worker starts.
    Resume,
}

impl WorkerAction {
    const NAMES: [(&'static str, WorkerAction); 3] = [
        ("start", WorkerAction::Start),
        ("pause", WorkerAction::Pause),
        ("resume", WorkerAction::Resume),
    ];
}

/// By name, and a refusal that lists the names whatever was sent (a number, say), which serde's
/// derived enum cannot say.
impl<'de> Deserialize<'de> for WorkerAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl serde::de::Visitor<'_> for Names {
            type Value = WorkerAction;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"one of "start", "pause", "resume""#)
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<WorkerAction, E> {
                WorkerAction::NAMES
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, action)| *action)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(name), &self))
            }
        }
        deserializer.deserialize_str(Names)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerToggled {
    pub running: bool,
    pub paused: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDone {
    pub deleted: u64,
}

/// What a push wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub view: String,
    /// Entities written, each row in one atomic command.
    pub written: u64,
    /// Rows not written, and why: a streaming push never creates an entity.
    pub skipped: Vec<PushSkipped>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSkipped {
    pub id: String,
    pub reason: String,
}

/// What a materialization did, view by view (`POST /materialize`, `build-features materialize`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Materialized {
    pub views: Vec<ViewMaterialized>,
}

/// One view's materialization: the window, and what became of each row read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewMaterialized {
    pub view: String,
    /// The window, both ends included (as Feast's file source reads it), in Unix ms.
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
    pub files: usize,
    pub rows_read: u64,
    /// Rows written: the newest of their entity so far.
    pub written: u64,
    /// Rows not written because a newer event (or the same event created later) is stored.
    pub skipped_older: u64,
    /// Rows whose event time lies outside the window.
    pub outside_window: u64,
    /// Rows whose key holds something other than an entity hash (left untouched).
    pub not_hashes: u64,
    /// Values that do not fit their column's type, per column; a row with a refused entity id or
    /// event time is not written, a refused feature value is left out of its row.
    pub refused: Vec<Refused>,
    pub elapsed_ms: f64,
    /// The rows the files hold, when their metadata says so (Parquet; not CSV): what the
    /// progress line's ETA counts towards.
    pub rows_in_files: Option<u64>,
    /// A dry run: nothing was written; `written` counts the rows that would be sent (those
    /// older than what is stored would still be skipped), `sample` shows the first few.
    pub dry_run: bool,
    /// A dry run's first rows as they would be written: `id: feature=value, …`.
    pub sample: Vec<String>,
}

/// The values of one column that were refused, and where the first few are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub column: String,
    /// What a value of this column must be.
    pub rule: String,
    pub count: u64,
    /// The first few, as `file row N` (N counts data rows from 1).
    pub first: Vec<String>,
}
