//! doorman: sign in with Google (or any OpenID Connect provider) and stay signed in with a
//! short-lived HS256 JWT in an HttpOnly cookie, or as a Bearer token for scripts and services.
//!
//! `App::new(config, deps)` composes the parts; `build_router(state)` is the HTTP surface
//! (no side effects); `server::serve` runs it. `main` and the integration tests share all three.

pub mod accounts;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dev_provider;
pub mod error;
pub mod gateway;
pub mod identity;
pub mod net;
pub mod oidc;
pub mod random;
pub mod routes;
pub mod server;
pub mod session;
pub mod store;
pub mod telemetry;
pub mod uri;

pub use app::{App, AppState, Deps};

/// The whole HTTP surface of `state`: the routes inside the per-request envelope. No side
/// effects: building it starts nothing.
pub fn build_router(state: AppState) -> routes::envelope::Envelope<axum::Router> {
    let routes = routes::router(state.clone());
    let front = gateway::proxy::Proxy::new(&state.config.gateway.routes, state.config.public_url())
        .map(|proxy| gateway::proxy::Front {
            gateway: state.gateway.clone(),
            proxy: std::sync::Arc::new(proxy),
        });
    routes::envelope::Envelope::new(routes.router, routes.templates, front, &state)
}
