//! Administration: listing users, setting their roles, deleting them. Admins only.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::json::ApiJson;
use crate::AppState;
use crate::accounts::{User, is_valid_role};
use crate::error::{ApiError, PageError, RequestContext, request_context};
use crate::session::{Admin, RequireRole};

const MAX_ROLES: usize = 16;

pub async fn list_users(
    _admin: RequireRole<Admin>,
    State(state): State<AppState>,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.accounts.list_users().await?))
}

fn user_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request("invalid_id", "the user id must be a positive whole number")
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    roles: Vec<String>,
}

/// `PUT /api/admin/users/{id}/roles` with `{"roles":[...]}`: replaces the user's roles. They
/// apply from the user's next token (sign-in or refresh).
pub async fn set_roles(
    admin: RequireRole<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RolesRequest>,
) -> Result<Json<User>, ApiError> {
    let id = user_id(&id)?;
    if req.roles.len() > MAX_ROLES || !req.roles.iter().all(|r| is_valid_role(r)) {
        return Err(ApiError::bad_request(
            "invalid_roles",
            "roles must be at most 16 names of 1 to 32 characters from a-z, 0-9, '_' and '-'",
        ));
    }
    let user = state.accounts.set_roles(id, req.roles).await?;
    tracing::info!(admin = %admin.0.claims.sub, user_id = id, roles = ?user.roles, "roles changed");
    Ok(Json(user))
}

/// `DELETE /api/admin/users/{id}` → 204; the user's refresh tokens go too.
pub async fn delete_user(
    admin: RequireRole<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = user_id(&id)?;
    state.accounts.delete_user(id).await?;
    tracing::info!(admin = %admin.0.claims.sub, user_id = id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    ctx: RequestContext,
    users: Vec<User>,
}

/// `GET /admin`: everybody doorman knows, with their roles.
pub async fn admin_page(
    _admin: RequireRole<Admin>,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let users = state.accounts.list_users().await?;
    AdminPage {
        ctx: request_context(),
        users,
    }
    .render()
    .map(|html| Html(html).into_response())
    .map_err(|e| PageError::internal(format!("template: {e}")))
}
