//! The HTTP edges every route shares: which hosts and origins are served, request ids, the
//! API's error answers and probes.

pub mod edge;
pub mod error;
pub mod guard;
pub mod hosts;
pub mod probes;
pub mod request_id;
pub mod unique_keys;
