//! The top floor: thin handlers (extract, call one service function, return a typed
//! response) and the route table that maps every path to one. Nothing but `lib.rs` imports
//! this room.
//!
//! Routes are flat (no nested routers, so the URI is never rebuilt). API routes answer
//! their own 404 and 405 in JSON; everything else falls back to an HTML page.

mod accounts;
mod admin;
mod api;
mod auth;
mod chooser;
mod device;
mod device_page;
pub mod envelope;
mod gateway;
mod health;
mod json;
mod logout;
mod outcomes;
mod pages;
mod password;
mod security_headers;
mod templates;

use axum::Router;
use axum::routing::{MethodRouter, any, delete, get, post, put};
use tower_http::services::ServeDir;

use crate::app::AppState;
use crate::gateway::Endpoint;

/// An API route: unknown methods get a JSON 405.
fn api_route(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(api::method_not_allowed)
}

/// The router and, in the same order, the template of each route (for metrics and logs).
pub struct Routes {
    pub router: Router,
    pub templates: Vec<&'static str>,
}

/// The table as it is built: every route is added with its template recorded.
struct Table {
    router: Router<AppState>,
    templates: Vec<&'static str>,
}

impl Table {
    fn route(mut self, template: &'static str, route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(template, route);
        self.templates.push(template);
        self
    }
}

/// Every route of doorman.
pub fn router(state: AppState) -> Routes {
    let table = Table {
        router: Router::new(),
        templates: Vec::new(),
    }
    .route("/", get(pages::home))
    .route("/profile", get(pages::profile))
    .route("/admin", get(admin::admin_page))
    .route("/healthz", get(health::healthz))
    .route("/readyz", get(health::readyz))
    .route("/auth/login", get(auth::start_login))
    .route("/auth/callback", get(auth::finish_login))
    .route("/auth/callback/{id}", get(auth::finish_login))
    .route(
        "/auth/logout",
        get(logout::confirm_logout).post(logout::logout),
    )
    .route(logout::SIGNED_OUT_PATH, get(logout::signed_out))
    .route(
        "/auth/backchannel-logout",
        api_route(post(logout::backchannel_logout).get(logout::backchannel_logout_get)),
    )
    .route("/auth/password", post(password::form_login))
    .route("/auth/device", api_route(post(device::start)))
    .route("/auth/device/token", api_route(post(device::token)))
    .route("/auth/revoke", api_route(post(device::revoke)))
    .route(
        "/device",
        get(device_page::approval_page).post(device_page::decide),
    )
    .route("/api/user", api_route(get(api::current_user)))
    .route("/api/protected", api_route(get(api::protected)))
    .route("/api/register", api_route(post(accounts::register)))
    .route("/api/login", api_route(post(accounts::password_login)))
    .route("/api/token/refresh", api_route(post(accounts::refresh)))
    .route("/api/logout", api_route(post(accounts::api_logout)))
    .route("/api/admin/users", api_route(get(admin::list_users)))
    .route(
        "/api/admin/users/{id}/roles",
        api_route(put(admin::set_roles)),
    )
    .route(
        "/api/admin/users/{id}",
        api_route(delete(admin::delete_user)),
    )
    .route(
        "/.doorman/auth-request/{policy}",
        get(gateway::auth_request),
    )
    .route(
        "/.doorman/forward-auth/{policy}",
        get(gateway::forward_auth),
    )
    .route("/.well-known/jwks.json", get(gateway::jwks))
    .route("/.well-known/doorman", get(gateway::metadata))
    .route("/api", any(api::not_found))
    .route("/api/{*rest}", any(api::not_found));
    let Table {
        mut router,
        mut templates,
    } = table;
    // Each configured policy's endpoints as static routes (the metrics keep the templates).
    for name in state.config.gateway.policies.keys() {
        for (prefix, endpoint) in [
            ("/.doorman/auth-request/", Endpoint::AuthRequest),
            ("/.doorman/forward-auth/", Endpoint::ForwardAuth),
        ] {
            router = router.route(
                &format!("{prefix}{name}"),
                gateway::for_policy(endpoint, name),
            );
        }
    }
    router = router
        .nest_service(
            "/static",
            ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        )
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::method_not_allowed);
    templates.push("/static/{*file}");
    if let Some(dev) = &state.dev {
        router = router.nest("/dev-oidc", dev.clone().router());
        templates.push("/dev-oidc/{*endpoint}");
    }
    templates.push(envelope::UNMATCHED);
    // No body-limit layer: every body is read through `json::read_body` or `FormBody`,
    // which stop at 64 KiB, so no route pays for a layer it does not need.
    Routes {
        router: router.with_state(state),
        templates,
    }
}
