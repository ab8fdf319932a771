//! The API layer's one error type. Every failure a caller can see is one of these, mapped once to an
//! HTTP status (in `ser`, which server_fn calls for every error response) and a message a user
//! can act on.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::domain::bounded;

/// Characters of a caller's input that an error message echoes at most.
const ECHO_CHARS: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ApiError {
    /// A value the caller sent breaks a rule; nothing was changed.
    #[error("invalid {field}: {rule}")]
    InvalidInput { field: String, rule: String },

    /// The request itself could not be decoded (malformed JSON, a missing argument).
    #[error("bad request: {message}")]
    BadRequest { message: String },

    /// Something the request names does not exist (a feature view, a feature, a push source).
    #[error("{message}")]
    NotFound { message: String },

    /// The key of the entity asked for holds something other than an entity hash.
    #[error("{message}")]
    Conflict { message: String },

    /// A state-changing request from another site (its `Origin` is not this server).
    #[error("{message}")]
    Forbidden { message: String },

    /// A `Host` this server does not answer to (DNS rebinding, or a name missing from
    /// `--allowed-hosts`).
    #[error("{message}")]
    MisdirectedRequest { message: String },

    /// The body is larger than the server accepts.
    #[error("{message}")]
    PayloadTooLarge { message: String },

    /// A body that is not `application/json`.
    #[error("{message}")]
    UnsupportedMediaType { message: String },

    /// Redis did not answer within the read's deadline.
    #[error("{message}")]
    Timeout { message: String },

    /// Redis cannot be reached right now; the server reconnects by itself.
    #[error("{message}")]
    Unavailable { message: String },

    /// The server sheds this request: reads in flight hold all it admits at once. Retry after a
    /// second.
    #[error("{message}")]
    Overloaded { message: String },

    /// The feature-store server itself did not answer (stopped, or the network between): made
    /// by the browser when a call gets no HTTP answer at all, never sent by the server.
    #[error("{message}")]
    Unreachable { message: String },

    /// Anything else. The cause is in the server log, never in the answer.
    #[error("{message}")]
    Internal { message: String },
}

impl ApiError {
    /// A rule broken by `field`. Both are cut to a bounded length: they may echo input.
    pub fn invalid(field: &str, rule: impl AsRef<str>) -> Self {
        ApiError::InvalidInput {
            field: bounded(field, ECHO_CHARS),
            rule: bounded(rule.as_ref(), ECHO_CHARS),
        }
    }

    /// A request that does not decode; the message is cut to a bounded length.
    pub fn bad_request(message: impl AsRef<str>) -> Self {
        ApiError::BadRequest {
            message: bounded(message.as_ref(), ECHO_CHARS),
        }
    }

    /// A name the request uses that does not exist; the name is cut to a bounded length.
    pub fn not_found(message: impl AsRef<str>) -> Self {
        ApiError::NotFound {
            message: bounded(message.as_ref(), ECHO_CHARS),
        }
    }

    /// Redis cannot be reached; the cause is logged where it was seen.
    pub fn redis_unavailable() -> Self {
        ApiError::Unavailable {
            message: "Redis is unavailable; the server reconnects on its own, try again shortly"
                .into(),
        }
    }

    /// The answer for a failure whose cause only the server log should see, under the
    /// request's id.
    pub fn internal(request: Option<&str>) -> Self {
        let message = match request {
            Some(id) => format!("internal error; the server log has the cause under request {id}"),
            None => "internal error; the server log has the cause".into(),
        };
        ApiError::Internal { message }
    }

    /// When a caller may try again, for a `Retry-After` header.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        matches!(self, ApiError::Overloaded { .. }).then_some(1)
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidInput { .. } => 422,
            ApiError::BadRequest { .. } => 400,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::MisdirectedRequest { .. } => 421,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Unavailable { .. } | ApiError::Overloaded { .. } => 503,
            ApiError::Timeout { .. } => 504,
            ApiError::Unreachable { .. } => 502,
            ApiError::Internal { .. } => 500,
        }
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                ApiError::bad_request(value.to_string())
            }
            // On the server this is a request body that did not decode (malformed JSON, a
            // wrong type, a field the endpoint does not take: `codec::Refused` carries the
            // error itself); in the browser it would be a response that did not: Internal.
            ServerFnErrorErr::Deserialization(cause) if cfg!(feature = "ssr") => {
                serde_json::from_str(&cause).unwrap_or_else(|_| {
                    ApiError::bad_request(format!("the request body does not decode: {cause}"))
                })
            }
            // The browser's own words ("TypeError: Failed to fetch") tell a user nothing.
            ServerFnErrorErr::Request(_) => ApiError::Unreachable {
                message: "the feature-store server does not answer; is it running? The page \
                          asks again every second"
                    .into(),
            },
            other => ApiError::Internal {
                message: other.to_string(),
            },
        }
    }

    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = axum::http::StatusCode::from_u16(self.status()) {
                response.set_status(status);
            }
            if let Some(seconds) = self.retry_after_seconds() {
                response.insert_header(axum::http::header::RETRY_AFTER, seconds.into());
            }
        }
        serde_json::to_vec(self)
            .map(Into::into)
            .unwrap_or_else(|e| format!(r#"{{"error":"internal","message":"{e}"}}"#).into())
    }
}
