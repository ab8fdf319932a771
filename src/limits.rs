//! The numbers the server works by that the UI also names in its captions: defined once, so a
//! caption can never state a second, stale copy.

/// Entities per pipelined round trip of a bulk load or a batch read: bounded so a million rows
/// never build one giant buffer and every chunk answers well inside the client's timeout.
pub const PIPELINE_CHUNK: usize = 500;

/// The `COUNT` hint of each `SCAN` step of the background entity index.
pub const SCAN_COUNT: usize = 1000;
