//! Every request gets an id: the caller's `x-request-id` when it is a short plain token, else a
//! fresh one. It comes back as a response header, names the span every log line about the
//! request is in, and is quoted in the answer to an internal error, so a user can point an
//! operator at the log line.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// Longest incoming id kept; a longer or odd one is replaced, never logged.
const MAX_LEN: usize = 64;

/// The id of a request, as an axum extension of it: what an internal error's answer quotes.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The axum middleware.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_token(id))
        .map_or_else(fresh, str::to_owned);
    let value = HeaderValue::from_str(&id).expect("an id is a visible ASCII token");
    request.headers_mut().insert(HEADER, value.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(HEADER, value);
    response
}

/// The id of the request being served, from inside a server function.
pub fn current() -> Option<String> {
    let parts = leptos::prelude::use_context::<axum::http::request::Parts>()?;
    Some(parts.extensions.get::<RequestId>()?.0.clone())
}

fn is_token(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn fresh() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_tokens_are_kept() {
        assert!(is_token("4bf92f3577b34da6-a3ce929d0e0e4736"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("x\u{7f}"));
        assert!(!is_token(&"a".repeat(65)));
        assert_eq!(fresh().len(), 16);
    }
}
