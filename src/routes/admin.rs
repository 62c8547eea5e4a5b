//! Administration: listing users, setting their roles, deleting them. Admins only, checked
//! against the store on every request.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::json::ApiJson;
use crate::accounts;
use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{ApiError, ApiResult, AppError, PageResult, render_page};
use crate::identity::is_valid_role;
use crate::session::{Admin, PageUser, RequireRole};
use crate::store::User;

const MAX_ROLES: usize = 16;

/// `GET /api/admin/users`: everybody doorman knows, with their roles.
pub(super) async fn list_users(
    _admin: RequireRole<Admin>,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(accounts::list_users(&state.store).await?))
}

fn user_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::from(AppError::bad_request(
            "invalid_id",
            "the user id must be a positive whole number",
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RolesRequest {
    roles: Vec<String>,
}

/// `PUT /api/admin/users/{id}/roles` with `{"roles":[...]}`: replaces the user's roles and ends
/// their sessions, so the change applies to their very next request. The last admin keeps
/// the role (409 `last_admin`).
pub(super) async fn set_roles(
    admin: RequireRole<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RolesRequest>,
) -> ApiResult<Json<User>> {
    let id = user_id(&id)?;
    if req.roles.len() > MAX_ROLES || !req.roles.iter().all(|r| is_valid_role(r)) {
        return Err(ApiError::from(AppError::bad_request(
            "invalid_roles",
            "roles must be at most 16 names of 1 to 32 characters from a-z, 0-9, '_' and '-'",
        )));
    }
    let user = accounts::set_roles(&state.store, &state.sessions, id, req.roles).await?;
    tracing::info!(admin = %admin.0.claims.sub(), user_id = id, roles = ?user.roles, "roles changed");
    Ok(Json(user))
}

/// `DELETE /api/admin/users/{id}` → 204; the user's sessions and refresh tokens end at once.
/// The last admin cannot be deleted (409 `last_admin`).
pub(super) async fn delete_user(
    admin: RequireRole<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = user_id(&id)?;
    accounts::delete_user(&state.store, &state.sessions, id).await?;
    tracing::info!(admin = %admin.0.claims.sub(), user_id = id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    ctx: RequestContext,
    users: Vec<User>,
}

/// `GET /admin`: everybody doorman knows, with their roles.
pub(super) async fn admin_page(
    _admin: RequireRole<Admin, PageUser>,
    State(state): State<AppState>,
) -> PageResult<Response> {
    let users = accounts::list_users(&state.store).await?;
    render_page(&AdminPage {
        ctx: context(),
        users,
    })
}
