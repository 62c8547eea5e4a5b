//! The hot path's allocation budget, counted (not timed): a counting global allocator wraps
//! the system one, and `GET /api/user`, `GET /` and nginx's auth request with a valid session
//! cookie (and once more with the app's own cookies beside it) go through the whole application (envelope, router, extractor, handler) in-process. A change that adds
//! allocations per request fails here, deterministically, long before a benchmark notices.
//! Its own test binary, since the global allocator is per binary.

use std::alloc::System;
use std::collections::HashMap;

use axum::body::Body;
use axum::http::Request;
use doorman::config::Config;
use doorman::identity::Identity;
use doorman::{App, AppState, Deps};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceExt};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations per request the hot paths may make (the budget a change must not exceed).
const API_USER_BUDGET: f64 = 16.0;
const HOME_PAGE_BUDGET: f64 = 18.0;
const AUTH_REQUEST_BUDGET: f64 = 11.0;
/// The same with the app's own cookies beside the session: one more, the `X-Doorman-Cookie`
/// value the app gets (the session cookie alone, or no cookie, costs nothing).
const AUTH_REQUEST_WITH_APP_COOKIES_BUDGET: f64 = AUTH_REQUEST_BUDGET + 1.0;

async fn app() -> (AppState, String) {
    let db = std::env::temp_dir().join(format!("doorman-alloc-{}.db", std::process::id()));
    let vars = HashMap::from([
        (
            "SESSION_SECRET",
            "allocation-budget-secret-0123456789abcdefghij".to_owned(),
        ),
        ("DATABASE_URL", db.to_string_lossy().into_owned()),
        ("PUBLIC_URL", "http://127.0.0.1:8000".to_owned()),
        // The in-process requests come from loopback (`from_loopback`), as nginx's would.
        ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let state: AppState = App::new(config, Deps::default()).await.expect("app").into();
    let identity = Identity {
        issuer: "https://accounts.google.com".into(),
        subject: "104892318420394857123".into(),
        email: Some("ada.lovelace@example.com".into()),
        email_verified: true,
        name: Some("Ada Lovelace".into()),
        picture: Some("https://lh3.googleusercontent.com/a/ACg8ocExample=s96-c".into()),
        user_id: Some(1),
        roles: vec!["admin".into()],
        groups: Vec::new(),
    };
    let tokens = &state.sessions.tokens;
    let claims = tokens.claims_for(
        &identity,
        state.clock.now(),
        doorman::random::token_id(),
        Some(doorman::random::token_id()),
    );
    let token = tokens.mint(&claims).expect("mint");
    (state, token)
}

/// Average allocations of one `GET path` with the session cookie and `headers`, after a
/// warm-up.
async fn allocations_per_request(path: &str, headers: &[(&str, &str)]) -> f64 {
    let (state, token) = app().await;
    let mut service = doorman::build_router(state);
    let request = || {
        let mut request = Request::get(path)
            .header("host", "127.0.0.1:8000")
            .header("cookie", format!("access_token={token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::empty()).expect("request")
    };
    for _ in 0..200 {
        let response = service
            .ready()
            .await
            .expect("ready")
            .call(request())
            .await
            .expect("call");
        assert_eq!(response.status(), 200, "{path}");
    }
    const ROUNDS: usize = 1000;
    let requests: Vec<_> = (0..ROUNDS).map(|_| request()).collect();
    let region = Region::new(GLOBAL);
    for req in requests {
        let response = service
            .ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("call");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        std::hint::black_box(body);
    }
    let stats = region.change();
    (stats.allocations + stats.reallocations) as f64 / ROUNDS as f64
}

/// Runs `requests` as if on a connection from nginx on loopback: the server sets the peer once
/// per connection, so no request pays for it (and without one, no peer is trusted).
async fn from_loopback<F: std::future::Future>(requests: F) -> F::Output {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let slot = slots.try_acquire_owned().expect("a slot");
    let (_close, closing) = tokio::sync::watch::channel(false);
    let peer = "127.0.0.1:40000".parse().expect("addr");
    let connection = doorman::error::context::Connection::new(
        peer,
        doorman::error::context::Lease::new(slot, closing),
    );
    doorman::error::context::CONNECTION
        .scope(connection, requests)
        .await
}

/// One test, so nothing else allocates while a path is counted (the counter is global).
/// Measured as shipped: the access log on (JSON, into a sink), metrics recorded.
#[tokio::test(flavor = "current_thread")]
async fn the_hot_paths_stay_within_their_allocation_budgets() {
    use tracing_subscriber::layer::SubscriberExt;
    let (layer, _guard) = doorman::telemetry::logs::LogLayer::new(
        doorman::telemetry::logs::Style::Json,
        Box::new(std::io::sink()),
    );
    doorman::telemetry::access::write_directly_to(&layer);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("doorman=info"))
        .with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    assert!(
        tracing::enabled!(target: "doorman::access", tracing::Level::INFO),
        "the access log is on, as shipped"
    );
    // What nginx's `auth_request` sends (deploy/nginx/doorman-auth-request.conf).
    let nginx: &[(&str, &str)] = &[
        ("x-original-url", "https://app.example.com/reports/2026?q=1"),
        ("x-original-method", "GET"),
        ("x-forwarded-for", "203.0.113.9"),
    ];
    // A browser's request carries the app's cookies too (here on a second `Cookie` line).
    let with_cookies = &[nginx, &[("cookie", "theme=dark; lang=en-GB")]].concat();
    for (path, headers, budget) in [
        ("/api/user", &[][..], API_USER_BUDGET),
        ("/", &[], HOME_PAGE_BUDGET),
        ("/.doorman/auth-request/default", nginx, AUTH_REQUEST_BUDGET),
        (
            "/.doorman/auth-request/default",
            with_cookies,
            AUTH_REQUEST_WITH_APP_COOKIES_BUDGET,
        ),
    ] {
        let per_request = from_loopback(allocations_per_request(path, headers)).await;
        println!("GET {path}: {per_request:.3} allocations per request (budget {budget})");
        // A few allocations per thousand requests are the log buffer growing: amortised.
        assert!(
            per_request <= budget + 0.05,
            "GET {path} allocates {per_request:.1} times per request (budget {budget})"
        );
    }
}
