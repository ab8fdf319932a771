//! What the server and the browser share, and nothing that needs a runtime: the domain's
//! validated newtypes, the feature registry and its value types, and the wire types every
//! transport answers with.

pub mod domain;
pub mod limits;
pub mod model;
pub mod registry;
pub mod schema;
