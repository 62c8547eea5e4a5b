//! Which provider a sign-in goes to: the one `?provider=ID` names, the only one there is, or
//! the person's choice on a server-rendered page (one button per provider, the one used last
//! on this browser first, narrowed to `?providers=a,b` when a policy admits only those). The
//! last one used is remembered in a cookie that holds only its id.

use askama::Template;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{AppError, PageError, PageResult, render_page};
use crate::oidc::SignInService;

/// Holds the id of the provider this browser signed in with last (nothing else).
pub(super) const LAST_PROVIDER_COOKIE: &str = "doorman_last_provider";
/// Browsers keep a cookie at most 400 days.
const LAST_PROVIDER_DAYS: i64 = 400;

/// Where a sign-in goes: a provider, or the page to choose one.
pub(super) enum Choice<'a> {
    Provider(&'a SignInService),
    Page(Response),
}

struct Button<'a> {
    id: &'a str,
    name: &'a str,
    href: String,
    last_used: bool,
}

#[derive(Template)]
#[template(path = "choose.html")]
struct ChooserPage<'a> {
    ctx: RequestContext,
    choices: Vec<Button<'a>>,
}

/// The provider for this `/auth/login` request, or the chooser to show instead.
pub(super) fn choose<'a>(
    state: &'a AppState,
    query: Option<&str>,
    jar: &CookieJar,
) -> PageResult<Choice<'a>> {
    let providers = &state.sign_in;
    if let Some(id) = super::auth::first_param(query, "provider") {
        return match providers.get(&id) {
            Some(provider) => Ok(Choice::Provider(provider)),
            None => Err(unknown_provider()),
        };
    }
    if let Some(only) = providers.only() {
        return Ok(Choice::Provider(only));
    }
    // `providers=a,b` (the gateway's, for a policy that admits only those); unknown ids are
    // left out, and if none is left, every provider is offered.
    // In the configured order, whatever the list's.
    let wanted = super::auth::first_param(query, "providers").unwrap_or_default();
    let narrowed: Vec<&SignInService> = providers
        .all()
        .iter()
        .filter(|p| wanted.split(',').any(|id| id.trim() == p.id))
        .collect();
    let mut offered: Vec<&SignInService> = if narrowed.is_empty() {
        providers.all().iter().collect()
    } else {
        narrowed
    };
    if let [only] = offered.as_slice() {
        return Ok(Choice::Provider(only));
    }
    let last = jar.get(LAST_PROVIDER_COOKIE).map(|c| c.value().to_owned());
    // The one used last first; the others in the configured order (a stable sort).
    offered.sort_by_key(|p| Some(p.id) != last.as_deref());
    let rest = query_without_provider(query);
    let choices = offered
        .into_iter()
        .map(|p| Button {
            id: p.id,
            name: &p.name,
            href: format!(
                "/auth/login?provider={}{}{rest}",
                p.id,
                if rest.is_empty() { "" } else { "&" }
            ),
            last_used: Some(p.id) == last.as_deref(),
        })
        .collect();
    render_page(&ChooserPage {
        ctx: context(),
        choices,
    })
    .map(Choice::Page)
}

/// The sign-in query's other parameters (`next`, `rd`), re-encoded, for the buttons' links.
fn query_without_provider(query: Option<&str>) -> String {
    let pairs = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "next" || k == "rd");
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(&k, &v);
    }
    out.finish()
}

fn unknown_provider() -> PageError {
    AppError::bad_request("unknown_provider", "No sign-in provider has this id.")
        .page(
            "Unknown sign-in provider",
            "The link names a sign-in provider this service does not have. Go back and choose one \
         of those offered.",
        )
        .offer_sign_in()
        .into()
}

/// The cookie remembering `id` as the provider this browser signed in with.
pub(super) fn last_provider_cookie(id: &str, https: bool) -> Cookie<'static> {
    Cookie::build((LAST_PROVIDER_COOKIE, id.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/auth/login")
        .max_age(time::Duration::days(LAST_PROVIDER_DAYS))
        .build()
}
