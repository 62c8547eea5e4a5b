//! Server-rendered pages for people in a browser.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::error::{PageError, RequestContext, request_context};
use crate::session::{CurrentUser, SessionClaims};

/// The signed-in person as pages show them; only https pictures are shown.
pub struct UserView {
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub picture: Option<String>,
    pub initials: String,
    pub sub: String,
    pub idp: String,
}

impl UserView {
    pub fn from_claims(c: &SessionClaims) -> Self {
        let display_name = c
            .name
            .clone()
            .or_else(|| c.email.clone())
            .unwrap_or_else(|| "Signed in".to_owned());
        Self {
            initials: initials(&display_name),
            display_name,
            email: c.email.clone(),
            email_verified: c.email_verified,
            picture: c.picture.clone().filter(|p| p.starts_with("https://")),
            sub: c.sub.clone(),
            idp: c.idp.clone(),
        }
    }
}

/// Up to two initials from the first and last words: "Ada King Lovelace" → "AL".
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let first = words.first().and_then(|w| w.chars().next());
    let last = if words.len() > 1 {
        words.last().and_then(|w| w.chars().next())
    } else {
        None
    };
    first
        .into_iter()
        .chain(last)
        .flat_map(char::to_uppercase)
        .collect()
}

#[derive(Template)]
#[template(path = "index.html")]
struct HomePage {
    ctx: RequestContext,
    user: Option<UserView>,
    provider_name: &'static str,
    ttl_minutes: u64,
    /// Local accounts exist, so the password form is offered beside the provider.
    password_sign_in: bool,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    ctx: RequestContext,
    user: UserView,
    expires_at: String,
    expires_in_minutes: u64,
}

fn render(page: impl Template) -> Result<Response, PageError> {
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError::internal(format!("template: {e}")))
}

pub async fn home(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let signed_out = user.is_none();
    render(HomePage {
        ctx: request_context(),
        user: user.map(|u| UserView::from_claims(&u.claims)),
        provider_name: state.provider_name,
        ttl_minutes: state.session.tokens.ttl_secs() / 60,
        password_sign_in: signed_out && state.store.has_local_accounts().await.unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot tell whether local accounts exist; hiding the password form");
            false
        }),
    })
}

pub async fn profile(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PageError> {
    let exp = user.claims.exp;
    let expires_at = chrono::DateTime::from_timestamp(i64::try_from(exp).unwrap_or(i64::MAX), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    render(ProfilePage {
        ctx: request_context(),
        user: UserView::from_claims(&user.claims),
        expires_at,
        expires_in_minutes: exp.saturating_sub(state.clock.now()).div_ceil(60),
    })
}

pub async fn not_found() -> PageError {
    PageError::not_found()
}

pub async fn method_not_allowed(
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Response {
    if uri.path().starts_with("/api/") {
        crate::error::ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept that method",
        )
        .into_response()
    } else {
        PageError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "This page cannot be used that way. Go back to the start page.",
        )
        .reason("method_not_allowed")
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_come_from_the_first_and_last_words() {
        assert_eq!(initials("Ada King Lovelace"), "AL");
        assert_eq!(initials("grace"), "G");
        assert_eq!(initials("  "), "");
        assert_eq!(initials("élodie durand"), "ÉD");
    }
}
