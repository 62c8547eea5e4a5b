//! `/api/*`: JSON for scripts and services, authenticated by cookie or Bearer token.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::error::ApiError;
use crate::session::CurrentUser;

/// The identity `/api/user` returns: the session claims a caller may rely on.
#[derive(Serialize)]
pub struct UserIdentity<'a> {
    sub: &'a str,
    idp: &'a str,
    email: Option<&'a str>,
    email_verified: bool,
    name: Option<&'a str>,
    picture: Option<&'a str>,
    /// doorman's user id, when the accounts store knows the person.
    uid: Option<i64>,
    roles: &'a [String],
    iss: &'a str,
    iat: u64,
    exp: u64,
}

pub async fn current_user(user: CurrentUser) -> impl IntoResponse {
    let c = &user.claims;
    Json(UserIdentity {
        sub: &c.sub,
        idp: &c.idp,
        email: c.email.as_deref(),
        email_verified: c.email_verified,
        name: c.name.as_deref(),
        picture: c.picture.as_deref(),
        uid: c.uid,
        roles: &c.roles,
        iss: &c.iss,
        iat: c.iat,
        exp: c.exp,
    })
    .into_response()
}

#[derive(Serialize)]
struct ProtectedResource<'a> {
    message: String,
    sub: &'a str,
}

/// An example of a resource only signed-in callers may see.
pub async fn protected(user: CurrentUser) -> impl IntoResponse {
    let who = user
        .claims
        .name
        .as_deref()
        .or(user.claims.email.as_deref())
        .unwrap_or("there");
    Json(ProtectedResource {
        message: format!("Hello, {who}. This resource is only for signed-in callers."),
        sub: &user.claims.sub,
    })
    .into_response()
}

pub async fn not_found(method: Method) -> ApiError {
    if method == Method::GET || method == Method::HEAD {
        ApiError::not_found()
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API endpoint or method",
        )
    }
}
