//! The numbers the server works by that the UI also names in its captions: defined once, so a
//! caption can never state a second, stale copy.

/// Entities per pipelined round trip of a bulk load or a batch read: bounded so a million rows
/// never build one giant buffer and every chunk answers well inside the client's timeout.
pub const PIPELINE_CHUNK: usize = 500;

/// The `COUNT` hint of each `SCAN` step of the background entity index. Redis serves nothing
/// else while a step runs, so a step's length is the most a read can wait behind the index: at
/// a million keys COUNT 1000 held Redis about 1 ms a step, COUNT 100 about 0.14 ms.
pub const SCAN_COUNT: usize = 100;

/// The longest TTL of either layer, in seconds (100 years). Redis refuses a hash field expiry
/// past 2^48 ms since the epoch (year 10889) and a key expiry whose milliseconds overflow; this
/// one bound is far inside both, for every flag, registry file and request. The write scripts
/// check it too (`lua/*.lua`), before they write anything.
pub const MAX_TTL_SECONDS: u64 = 3_153_600_000;
