//! Every request gets an id: the caller's `x-request-id` when it is a short plain token, else a
//! fresh one. It comes back as a response header, names the span every log line about the
//! request is in, and is quoted in the answer to an internal error, so a user can point an
//! operator at the log line.

use axum::extract::Request;
use axum::http::HeaderValue;

pub const HEADER: &str = "x-request-id";
/// Longest incoming id kept; a longer or odd one is replaced, never logged.
const MAX_LEN: usize = 64;

/// The id of a request, as an axum extension of it: what an internal error's answer quotes.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives `request` its id (header and extension); returns the header value the response
/// carries back and the span every log line about the request is in.
pub fn assign(request: &mut Request) -> (HeaderValue, tracing::Span) {
    let (id, value) = incoming(request).unwrap_or_else(fresh);
    request.headers_mut().insert(HEADER, value.clone());
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    request.extensions_mut().insert(RequestId(id));
    (value, span)
}

/// The id of the request being served, from inside a server function.
pub fn current() -> Option<String> {
    leptos::prelude::with_context::<axum::http::request::Parts, _>(|parts| {
        Some(parts.extensions.get::<RequestId>()?.0.clone())
    })?
}

fn is_token(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The caller's id, kept as it came when it is a short plain token.
fn incoming(request: &Request) -> Option<(String, HeaderValue)> {
    let value = request.headers().get(HEADER)?;
    let id = value.to_str().ok().filter(|id| is_token(id))?;
    Some((id.to_owned(), value.clone()))
}

/// A new id: a random number, which is always a valid header value.
fn fresh() -> (String, HeaderValue) {
    let id = rand::random::<u64>();
    (id.to_string(), HeaderValue::from(id))
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
        let (id, value) = fresh();
        assert!(is_token(&id) && value.to_str().unwrap() == id);
    }
}
