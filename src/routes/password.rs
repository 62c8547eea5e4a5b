//! `POST /auth/password`: the home page's password form. It sets the same session cookie as
//! the OpenID flow; failures are pages.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use super::json::FormBody;
use super::outcomes::{login_failed, login_succeeded};
use crate::accounts::{self, identity_of};
use crate::app::AppState;
use crate::error::{AppError, PageError, PageResult};
use crate::net::ClientIp;
use crate::session::{SameOrigin, session_cookie};
use crate::telemetry::events::LoginMethod;

pub(super) async fn form_login(
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
    .await
    .map_err(|err| login_failed(&state, LoginMethod::Password, PageError::from(err)))?;
    let identity = identity_of(&user, state.config.public_url().origin());
    let minted = state.sessions.start(&identity, None).await?;
    login_succeeded(&state, LoginMethod::Password, &minted.claims.sub);
    Ok((
        CookieJar::new().add(session_cookie(
            minted.token,
            state.sessions.tokens.ttl_secs(),
            &state.sessions.cookie,
        )),
        Redirect::to("/"),
    )
        .into_response())
}
