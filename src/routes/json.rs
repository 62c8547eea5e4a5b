//! Request bodies, read with a limit (64 KiB: no request carries more than a form), and
//! JSON bodies for `/api/*` with errors a client can act on: the wrong content type is 415,
//! a body too large is 413, broken JSON and missing, unknown or mistyped fields are 400
//! naming the field.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, AppError, PageError};

/// No request doorman serves carries more than a small form or JSON document.
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;

pub(super) struct ApiJson<T>(pub T);

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
pub(super) struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state).await.map(ApiBody)
    }
}

/// A form's body for a page route, refused past `MAX_BODY_BYTES` with a 413 page.
pub(super) struct FormBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = PageError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, PageError> {
        limited(req)
            .await
            .map(FormBody)
            .map_err(|err| PageError(err.0))
    }
}

/// The whole body, refused past `MAX_BODY_BYTES` (413).
pub(super) async fn read_body<S: Send + Sync>(req: Request, _state: &S) -> Result<Bytes, ApiError> {
    limited(req).await
}

/// A body found too large is still read, and thrown away, up to this much in all: the client,
/// still sending it, then reads its 413 instead of a reset connection. Past it doorman stops
/// reading and the connection closes (the work a flood can cause stays bounded).
const DISCARD_BYTES: usize = 1024 * 1024;

async fn limited(req: Request) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = req.into_body();
    if let Some(len) = declared.filter(|&len| len > MAX_BODY_BYTES) {
        if len <= DISCARD_BYTES {
            discard(body, len).await;
        }
        return Err(too_large());
    }
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::from(AppError::bad_request(
                "invalid_body",
                "the request body could not be read",
            )));
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                discard(body, DISCARD_BYTES - buf.len() - data.len()).await;
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Reads and drops up to `limit` more bytes of `body` (the body's stall timeout still applies).
async fn discard(mut body: Body, mut limit: usize) {
    while let Some(Ok(frame)) = body.frame().await {
        let len = frame.data_ref().map_or(0, |data| data.len());
        if len >= limit {
            return;
        }
        limit -= len;
    }
}

fn too_large() -> ApiError {
    ApiError::from(AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than 64 KiB",
    ))
}

pub(super) fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
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
        return Err(ApiError::from(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a JSON body with Content-Type: application/json",
        )));
    }
    serde_json::from_slice(body).map_err(|err| {
        ApiError::from(if err.is_data() {
            AppError::bad_request("invalid_request", err.to_string())
        } else {
            AppError::bad_request("invalid_json", format!("the body is not valid JSON: {err}"))
        })
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
        assert_eq!(missing.0.status, StatusCode::BAD_REQUEST);
        assert!(
            missing.0.message.contains("password"),
            "{}",
            missing.0.message
        );
        let unknown = parse_json::<Login>(
            &json_headers(),
            br#"{"username":"a","password":"b","admin":true}"#,
        )
        .expect_err("unknown");
        assert!(unknown.0.message.contains("admin"));
        let broken = parse_json::<Login>(&json_headers(), b"{").expect_err("broken");
        assert_eq!(broken.0.code, "invalid_json");
        let wrong_type =
            parse_json::<Login>(&HeaderMap::new(), b"{}").expect_err("no content type");
        assert_eq!(wrong_type.0.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
