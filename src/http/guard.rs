//! What every request passes before it reaches the app: only this server's own pages may change
//! state, a body is JSON and bounded, and a query string is valid UTF-8. Each refusal is an
//! `ApiError`, answered with its status like every other API error.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

/// The largest request body accepted. The biggest legitimate one, a batch read of 1,000 ids of
/// 128 characters with 64 field names, is about 140 KB.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// Paths whose unknown children are API calls, never pages: ours and Feast's feature server's.
const API_PREFIXES: [&str; 6] = [
    "/api",
    "/get-online-features",
    "/push",
    "/write-to-online-store",
    "/materialize",
    "/health",
];

/// A JSON 404 for a request no route matched, when it is an API call: under an API prefix, or
/// any method but GET and HEAD (pages and files are fetched). `None` for the app's own 404
/// page. An unknown path is the caller's problem: one DEBUG line, the path cut to 200 bytes.
pub fn api_not_found(method: &axum::http::Method, path: &str) -> Option<Response> {
    let under_api = API_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if !under_api && (method == axum::http::Method::GET || method == axum::http::Method::HEAD) {
        return None;
    }
    let path = crate::domain::bounded(path, 200);
    tracing::debug!("no route for {method} {path}");
    Some(error_response(&ApiError::not_found(format!(
        "no such endpoint: {method} {path}"
    ))))
}

/// An `ApiError` as an HTTP response, outside server functions.
pub fn error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(error)).into_response();
    retry_after(&mut response, error.retry_after_seconds());
    response
}

/// Tells the caller when to try again, if there is a time to tell.
pub fn retry_after(response: &mut Response, seconds: Option<u32>) {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}

/// The request, its body read and checked, or why it is refused.
pub async fn check(request: Request) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    if let Some(query) = parts.uri.query() {
        if percent_encoding::percent_decode_str(query)
            .decode_utf8()
            .is_err()
        {
            return Err(ApiError::bad_request("the query string is not valid UTF-8"));
        }
    }
    if !parts.method.is_safe() {
        same_origin(&parts.headers)?;
    }
    let too_large = || ApiError::PayloadTooLarge {
        message: format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    };
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;
    if !bytes.is_empty() && !is_json(&parts.headers) {
        return Err(ApiError::UnsupportedMediaType {
            message:
                "a request body must be JSON, sent as content-type: application/json (or none)"
                    .into(),
        });
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// A state-changing request must come from this server's own pages, or from no page at all
/// (curl, a model server). Browsers say where a request comes from in `Sec-Fetch-Site` and
/// `Origin`; a request from another site, even another port of the same host, is refused.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = |why: &str| ApiError::Forbidden {
        message: format!("cross-origin request refused: {why}"),
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(forbidden("sent from another site"));
        }
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin_authority = origin.to_str().ok().and_then(|origin| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
    });
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    match (origin_authority, host) {
        (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(forbidden("its Origin is not this server")),
    }
}

/// Declared as JSON, or not declared at all: the Feast SDK posts its JSON without a content
/// type. A form or `text/plain` (what a cross-site page can send without asking) is refused.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(declared) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    declared
        .to_str()
        .ok()
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
