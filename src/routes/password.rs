//! `POST /auth/password`: the home page's password form. It sets the same session cookie as
//! the OpenID flow; failures are pages.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use super::json::FormBody;
use crate::accounts::{self, identity_of};
use crate::app::AppState;
use crate::error::{AppError, PageError, PageResult};
use crate::net::ClientIp;
use crate::session::{SameOrigin, session_cookie};

pub async fn form_login(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    ClientIp(client): ClientIp,
    FormBody(body): FormBody,
) -> PageResult<Response> {
    state
        .limits
        .login
        .check(client, state.clock.now())
        .map_err(|wait| PageError::from(AppError::rate_limited(wait)))?;
    let mut username = String::new();
    let mut password = String::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "username" => username = value.into_owned(),
            "password" => password = value.into_owned(),
            _ => {}
        }
    }
    let user = accounts::authenticate_password(
        state.password_check(),
        username.trim(),
        password,
        client,
        state.clock.now(),
    )
    .await?;
    let identity = identity_of(&user, state.config.public_url().origin());
    let minted = state.sessions.start(&identity, None).await?;
    tracing::info!(user_id = user.id, "password sign-in (form)");
    Ok((
        CookieJar::new().add(session_cookie(
            minted.token,
            state.sessions.tokens.ttl_secs(),
            state.https(),
        )),
        Redirect::to("/"),
    )
        .into_response())
}
