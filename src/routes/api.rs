//! `/api/user` and `/api/protected`: JSON for scripts and services, authenticated by cookie
//! or Bearer token; and the API's own 404 and 405.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use axum::extract::State;

use crate::app::AppState;
use crate::error::{ApiError, AppError};
use crate::session::{ApiUser, GroupsJson, RolesJson};

/// Headers on a JSON response: its content type and the envelope's eight.
const RESPONSE_HEADERS: usize = 12;

/// The identity `/api/user` returns: the session claims a caller may rely on.
#[derive(Serialize)]
struct UserIdentity<'a> {
    sub: &'a str,
    idp: &'a str,
    /// The provider's id in doorman's configuration (`local` for a local account).
    provider: &'a str,
    email: Option<&'a str>,
    email_verified: bool,
    name: Option<&'a str>,
    picture: Option<&'a str>,
    /// doorman's user id, when the accounts store knows the person.
    uid: Option<i64>,
    roles: RolesJson<'a>,
    /// The provider's groups (empty for local accounts and providers that send none).
    groups: GroupsJson<'a>,
    iss: &'a str,
    iat: u64,
    exp: u64,
}

/// A small JSON body, serialised once into a buffer sized for it, in a response whose header
/// map has room for everything the envelope adds (no regrowth).
pub(super) fn json(body: &impl Serialize) -> Response {
    match serialised(body) {
        Ok(buf) => json_response(Bytes::from(buf)),
        Err(err) => ApiError::from(AppError::internal(err.to_string())).into_response(),
    }
}

fn serialised(body: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    serde_json::to_writer(&mut buf, body)?;
    Ok(buf)
}

fn json_response(body: Bytes) -> Response {
    let mut headers = HeaderMap::with_capacity(RESPONSE_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
}

/// `GET /api/user`: who is calling. The body is a function of the verified claims alone, so
/// it is serialised once per session token and thread and kept with the claims.
pub(super) async fn current_user(State(state): State<AppState>, user: ApiUser) -> Response {
    let body = user.claims.rendered(|c| {
        serialised(&UserIdentity {
            sub: c.sub(),
            idp: c.idp(),
            provider: state.sessions.provider_ids.of(c.idp()),
            email: c.email(),
            email_verified: c.email_verified,
            name: c.name(),
            picture: c.picture(),
            uid: c.uid,
            roles: c.roles_json(),
            groups: c.groups_json(),
            iss: c.iss(),
            iat: c.iat,
            exp: c.exp,
        })
        .ok()
        .map(Bytes::from)
    });
    match body {
        Some(body) => json_response(body),
        None => ApiError::from(AppError::internal("the identity could not be serialised"))
            .into_response(),
    }
}

#[derive(Serialize)]
struct ProtectedResource<'a> {
    message: String,
    sub: &'a str,
}

/// An example of a resource only signed-in callers may see.
pub(super) async fn protected(user: ApiUser) -> Response {
    let who = user
        .claims
        .name()
        .or(user.claims.email())
        .unwrap_or("there");
    json(&ProtectedResource {
        message: format!("Hello, {who}. This resource is only for signed-in callers."),
        sub: user.claims.sub(),
    })
}

pub(super) async fn not_found() -> ApiError {
    ApiError::from(AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API endpoint",
    ))
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::from(AppError::method_not_allowed())
}
