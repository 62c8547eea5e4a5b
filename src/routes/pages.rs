//! Server-rendered pages for people in a browser: the start page, the profile, and the
//! pages' own 404 and 405.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::accounts;
use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{AppError, PageError, PageResult, render_page};
use crate::session::{Claims, PageUser};

/// The signed-in person as pages show them, borrowed from the claims; only https pictures
/// are shown.
pub(super) struct UserView<'a> {
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub picture: Option<&'a str>,
    pub initials: String,
    pub sub: &'a str,
    pub idp: &'a str,
}

impl<'a> UserView<'a> {
    pub(super) fn from_claims(c: &'a Claims) -> Self {
        let display_name = c.name().or(c.email()).unwrap_or("Signed in");
        Self {
            initials: initials(display_name),
            display_name,
            email: c.email(),
            email_verified: c.email_verified,
            picture: c.picture().filter(|p| p.starts_with("https://")),
            sub: c.sub(),
            idp: c.idp(),
        }
    }
}

/// Up to two initials from the first and last words: "Ada King Lovelace" → "AL".
pub(super) fn initials(name: &str) -> String {
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
struct HomePage<'a> {
    ctx: RequestContext,
    user: Option<UserView<'a>>,
    /// The only provider's name; `None` with several (the button leads to the chooser).
    provider_name: Option<&'a str>,
    ttl_minutes: u64,
    /// Local accounts exist, so the password form is offered beside the provider.
    password_sign_in: bool,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage<'a> {
    ctx: RequestContext,
    user: UserView<'a>,
    expires_at: String,
    expires_in_minutes: u64,
}

/// `GET /`: the sign-in button(s), or the signed-in person and a Sign out button.
pub(super) async fn home(
    State(state): State<AppState>,
    user: Option<PageUser>,
) -> PageResult<Response> {
    let signed_out = user.is_none();
    render_page(&HomePage {
        ctx: context(),
        user: user.as_ref().map(|u| UserView::from_claims(&u.claims)),
        provider_name: state.sign_in.only().map(|p| p.name.as_str()),
        ttl_minutes: state.sessions.tokens.ttl_secs() / 60,
        password_sign_in: signed_out && accounts::has_local_accounts(&state.store).await.unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot tell whether local accounts exist; hiding the password form");
            false
        }),
    })
}

/// `GET /profile`: the signed-in person and when the session ends.
pub(super) async fn profile(State(state): State<AppState>, user: PageUser) -> PageResult<Response> {
    let exp = user.claims.exp;
    let expires_at = chrono::DateTime::from_timestamp(i64::try_from(exp).unwrap_or(i64::MAX), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    render_page(&ProfilePage {
        ctx: context(),
        user: UserView::from_claims(&user.claims),
        expires_at,
        expires_in_minutes: exp.saturating_sub(state.clock.now()).div_ceil(60),
    })
}

pub(super) async fn not_found() -> PageError {
    PageError::from(AppError::not_found())
}

pub(super) async fn method_not_allowed() -> PageError {
    PageError::from(AppError::method_not_allowed())
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
