//! The input encoding of the JSON endpoints: JSON, but strict. The body must be one JSON object,
//! and a field the endpoint does not take is refused by name instead of ignored, so a misspelt
//! `ttl_second` can never fall back to the default silently.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::error::ApiError;

pub struct StrictJsonEncoding;

/// `POST` with a strict JSON body.
pub type StrictJson = Post<StrictJsonEncoding>;

impl ContentType for StrictJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for StrictJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for StrictJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<leptos::server_fn::Bytes, Self::Error> {
        serde_json::to_vec(output).map(Into::into)
    }
}

/// A body the endpoint refuses. server_fn hands decode errors on as text only, so the text is
/// the `ApiError` itself, serialized; `ApiError::from_server_fn_error` reads it back.
#[derive(Debug)]
pub struct Refused(ApiError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(&self.0).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

impl<T: DeserializeOwned> Decodes<T> for StrictJsonEncoding {
    type Error = Refused;

    fn decode(bytes: leptos::server_fn::Bytes) -> Result<T, Self::Error> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Refused(ApiError::bad_request(
                "the request body must be a JSON object",
            )));
        }
        // A well-formed body decodes once, untracked; only a refused one is decoded again with
        // each value's path tracked (an allocation per key), to name the field at fault.
        if let Some(value) = well_formed(&bytes) {
            return Ok(value);
        }
        let mut unknown = Vec::new();
        let mut note_unknown = |path: serde_ignored::Path| unknown.push(path.to_string());
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let decoded = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
            &mut json,
            &mut note_unknown,
        ));
        let decoded = match decoded {
            Ok(value) => json.end().map(|()| value).map_err(|e| (String::new(), e)),
            Err(e) => Err((e.path().to_string(), e.into_inner())),
        };
        // An unknown field explains a missing one (`ttl_second` for `ttl_seconds`): name it first.
        if let Some(field) = unknown.first() {
            return Err(Refused(ApiError::invalid(
                field,
                "is not a field of this request",
            )));
        }
        decoded.map_err(|(path, e)| {
            Refused(match path.as_str() {
                // A value of the wrong type: its field named, without serde_json's position.
                field if e.is_data() && !matches!(field, "" | ".") => {
                    let text = e.to_string();
                    let rule = text.split(" at line ").next().unwrap_or(&text);
                    ApiError::invalid(field, rule)
                }
                // The body as a whole: malformed or cut-off JSON (wherever it breaks off), a
                // missing argument.
                _ => ApiError::bad_request(format!("the request body does not decode: {e}")),
            })
        })
    }
}

/// The body decoded, if it decodes whole with no field the endpoint does not take.
fn well_formed<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut unknown = false;
    let mut note_unknown = |_: serde_ignored::Path| unknown = true;
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(serde_ignored::Deserializer::new(
        &mut json,
        &mut note_unknown,
    ))
    .ok()?;
    (json.end().is_ok() && !unknown).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Load {
        count: i64,
        #[serde(default)]
        ttl_seconds: Option<i64>,
    }

    fn decoded(body: &str) -> Result<Load, ApiError> {
        <StrictJsonEncoding as Decodes<Load>>::decode(body.as_bytes().to_vec().into())
            .map_err(|Refused(e)| e)
    }

    #[test]
    fn only_a_whole_object_of_known_fields_decodes() {
        assert_eq!(
            decoded(r#" {"count": 5} "#),
            Ok(Load {
                count: 5,
                ttl_seconds: None
            })
        );
        let field_of = |body| match decoded(body) {
            Err(ApiError::InvalidInput { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(field_of(r#"{"count": 5, "ttl_second": 60}"#), "ttl_second");
        assert_eq!(field_of(r#"{"count": "5"}"#), "count");
        for body in [r#"{"count": 5} {}"#, r#"{"count": 5"#, "[5]", "{}"] {
            assert!(
                matches!(decoded(body), Err(ApiError::BadRequest { .. })),
                "{body}"
            );
        }
    }
}
