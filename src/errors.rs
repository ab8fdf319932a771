//! The API's one error type. Every failure a caller can see is one of these, mapped once to an
//! HTTP status (in `ser`, which server_fn calls for every error response) and a message a user
//! can act on.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ApiError {
    /// A value the caller sent breaks a rule; nothing was changed.
    #[error("invalid {field}: {rule}")]
    InvalidInput { field: String, rule: String },

    /// The request itself could not be decoded (malformed JSON, a missing argument).
    #[error("bad request: {message}")]
    BadRequest { message: String },

    /// Redis cannot be reached right now; the server reconnects by itself.
    #[error("{message}")]
    Unavailable { message: String },

    /// Anything else; the message says what failed.
    #[error("{message}")]
    Internal { message: String },
}

impl ApiError {
    pub fn invalid(field: &str, rule: impl Into<String>) -> Self {
        ApiError::InvalidInput {
            field: field.to_owned(),
            rule: rule.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidInput { .. } => 422,
            ApiError::BadRequest { .. } => 400,
            ApiError::Unavailable { .. } => 503,
            ApiError::Internal { .. } => 500,
        }
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => ApiError::BadRequest {
                message: value.to_string(),
            },
            // On the server this is a request body that did not decode (malformed JSON, a
            // wrong type); in the browser it would be a response that did not: Internal.
            ServerFnErrorErr::Deserialization(cause) if cfg!(feature = "ssr") => {
                ApiError::BadRequest {
                    message: format!("the request body does not decode: {cause}"),
                }
            }
            ServerFnErrorErr::Request(_) => ApiError::Unavailable {
                message: format!(
                    "the feature-store server did not answer ({value}); is it running?"
                ),
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
        }
        serde_json::to_vec(self)
            .map(Into::into)
            .unwrap_or_else(|e| format!(r#"{{"error":"internal","message":"{e}"}}"#).into())
    }
}

#[cfg(feature = "ssr")]
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable {
                message: format!(
                    "Redis is unavailable ({e}); the server reconnects on its own, try again shortly"
                ),
            }
        } else {
            ApiError::Internal {
                message: e.to_string(),
            }
        }
    }
}
