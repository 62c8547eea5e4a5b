//! JSON request bodies for `/api/*`, with errors a client can act on: the wrong content type
//! is 415, a body too large is 413, broken JSON and missing, unknown or mistyped fields are 400
//! naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let body = read_body(req, state).await?;
        parse_json(&headers, &body).map(ApiJson)
    }
}

/// The raw body of an `/api` request, refused like [`ApiJson`]'s when too large (413 JSON),
/// for handlers that read the headers before deciding how to parse it.
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state).await.map(ApiBody)
    }
}

pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than 64 KiB",
            )
        } else {
            ApiError::bad_request("invalid_body", "the request body could not be read")
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a JSON body with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|err| {
        if err.is_data() {
            ApiError::bad_request("invalid_request", err.to_string())
        } else {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {err}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be parsed")]
    struct Login {
        username: String,
        password: String,
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    #[test]
    fn errors_name_the_problem_and_the_field() {
        let missing =
            parse_json::<Login>(&json_headers(), br#"{"username":"a"}"#).expect_err("missing");
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert!(missing.message.contains("password"), "{}", missing.message);
        let unknown = parse_json::<Login>(
            &json_headers(),
            br#"{"username":"a","password":"b","admin":true}"#,
        )
        .expect_err("unknown");
        assert!(unknown.message.contains("admin"));
        let broken = parse_json::<Login>(&json_headers(), b"{").expect_err("broken");
        assert_eq!(broken.error, "invalid_json");
        let wrong_type =
            parse_json::<Login>(&HeaderMap::new(), b"{}").expect_err("no content type");
        assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
