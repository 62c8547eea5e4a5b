//! The hot path, measured in-process: `cargo bench --bench api_user`.
//!
//! A counting global allocator wraps the system one, so every figure comes with its
//! allocations. It reports, for doorman as shipped (access log on, in JSON, into a sink;
//! metrics recorded):
//! - session-token verification alone (µs and allocations per token);
//! - `GET /api/user` and `GET /` through the whole application (envelope, router, extractor,
//!   handler), with an empty revocation set and with 100 000 revoked sessions in it (a logout
//!   flood must not slow everyone else down);
//! - how long revoking one more session takes with 100 000 already revoked;
//! - what a renewal costs: `GET /api/user` with a cookie past half its lifetime (one store
//!   write and one signature, the new cookie on the answer), and again with that old cookie
//!   (the same renewal handed out: neither is repeated).
//!
//! Throughput beside other servers is `../shared/bench/run.sh`'s job (wrk over loopback, the
//! same machine, ratios within one run); this is the in-process view. Timings are printed,
//! never asserted: `tests/allocations.rs` guards the allocation budget deterministically.

use std::alloc::System;
use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use doorman::clock::system_now;
use doorman::config::Config;
use doorman::identity::Identity;
use doorman::{App, AppState, Deps};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
const REVOKED: usize = 100_000;

fn config() -> Config {
    let db = std::env::temp_dir().join(format!("doorman-bench-{}.db", std::process::id()));
    let vars: HashMap<&str, String> = HashMap::from([
        ("PUBLIC_URL", "http://127.0.0.1:8000".to_owned()),
        ("SESSION_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", db.to_string_lossy().into_owned()),
    ]);
    Config::from_lookup(|name| vars.get(name).cloned()).expect("bench config")
}

fn identity() -> Identity {
    Identity {
        issuer: "https://accounts.google.com".into(),
        subject: "110169484474386276334".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        name: Some("Ada Lovelace".into()),
        picture: Some("https://lh3.googleusercontent.com/a/ACg8ocJ=s96-c".into()),
        user_id: Some(1),
        roles: vec!["admin".into()],
        groups: Vec::new(),
    }
}

/// Time and allocations per call of `f`, over `rounds` calls.
fn measure(rounds: u32, mut f: impl FnMut()) -> (f64, f64) {
    let region = Region::new(GLOBAL);
    let started = Instant::now();
    for _ in 0..rounds {
        f();
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let stats = region.change();
    let allocations = (stats.allocations + stats.reallocations) as f64 / f64::from(rounds);
    (micros, allocations)
}

/// `GET /api/user` once with each of `tokens`, per request.
async fn each_once(state: &AppState, tokens: &[String]) -> (f64, f64) {
    let mut service = doorman::build_router(state.clone());
    let requests: Vec<_> = tokens
        .iter()
        .map(|token| {
            Request::get("/api/user")
                .header("host", "127.0.0.1:8000")
                .header("cookie", format!("access_token={token}"))
                .body(Body::empty())
                .expect("request")
        })
        .collect();
    let region = Region::new(GLOBAL);
    let started = Instant::now();
    for request in requests {
        let response = service.ready().await.expect("ready").call(request).await;
        let response = response.expect("call");
        assert!(response.headers().contains_key("set-cookie"), "renewed");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        std::hint::black_box(body.expect("body"));
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64;
    let stats = region.change();
    let allocations = (stats.allocations + stats.reallocations) as f64 / tokens.len() as f64;
    (micros, allocations)
}

/// `sessions` recorded sessions, each with a token past half its lifetime.
async fn due_tokens(state: &AppState, sessions: usize) -> Vec<String> {
    let now = system_now();
    let user = state
        .store
        .upsert_oidc(
            doorman::store::OidcSignIn {
                issuer: "https://accounts.google.com",
                subject: "110169484474386276334",
                email: Some("ada@example.com"),
                email_verified: true,
                name: Some("Ada Lovelace"),
                admin_if_new: false,
            },
            now,
        )
        .await
        .expect("user");
    let mut who = identity();
    who.user_id = Some(user.id);
    let mut tokens = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let mut claims = state
            .sessions
            .start(&who, None)
            .await
            .expect("session")
            .claims;
        let ttl = state.sessions.tokens.ttl_secs();
        claims.iat = now - ttl + 600;
        claims.exp = now + 600;
        claims.jti = doorman::random::token_id();
        tokens.push(state.sessions.tokens.mint(&claims).expect("mint"));
    }
    tokens
}

/// `GET path` with the session cookie through the whole application, per request.
async fn request(state: &AppState, path: &str, token: &str, rounds: usize) -> (f64, f64) {
    let mut service = doorman::build_router(state.clone());
    let make = || {
        Request::get(path)
            .header("host", "127.0.0.1:8000")
            .header("cookie", format!("access_token={token}"))
            .body(Body::empty())
            .expect("request")
    };
    for _ in 0..1_000 {
        let response = service.ready().await.expect("ready").call(make()).await;
        assert_eq!(response.expect("call").status(), 200, "{path}");
    }
    let requests: Vec<_> = (0..rounds).map(|_| make()).collect();
    let region = Region::new(GLOBAL);
    let started = Instant::now();
    for request in requests {
        let response = service.ready().await.expect("ready").call(request).await;
        let body = axum::body::to_bytes(response.expect("call").into_body(), 1 << 20).await;
        std::hint::black_box(body.expect("body"));
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let stats = region.change();
    let allocations = (stats.allocations + stats.reallocations) as f64 / rounds as f64;
    (micros, allocations)
}

fn row(what: &str, (micros, allocations): (f64, f64)) {
    println!("{what:<46} {micros:>8.2} µs   {allocations:>6.1} allocations");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (layer, _guard) = doorman::telemetry::logs::LogLayer::new(
        doorman::telemetry::logs::Style::Json,
        Box::new(std::io::sink()),
    );
    doorman::telemetry::access::write_directly_to(&layer);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("doorman=info"))
        .with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    runtime.block_on(run());
}

async fn run() {
    let state: AppState = App::new(config(), Deps::default())
        .await
        .expect("app")
        .into();
    let tokens = state.sessions.tokens.clone();
    let now = system_now();
    let token = tokens
        .mint(&tokens.claims_for(
            &identity(),
            now,
            doorman::random::token_id(),
            Some(doorman::random::token_id()),
        ))
        .expect("mint");

    println!(
        "doorman {} — in-process, one thread",
        env!("CARGO_PKG_VERSION")
    );
    row(
        "session token verify (HS256, claims parsed)",
        measure(200_000, || {
            std::hint::black_box(tokens.verify(std::hint::black_box(&token), now).ok());
        }),
    );
    row(
        "GET /api/user (whole app)",
        request(&state, "/api/user", &token, 50_000).await,
    );
    row(
        "GET / (whole app)",
        request(&state, "/", &token, 20_000).await,
    );

    let due = due_tokens(&state, 2_000).await;
    row(
        "GET /api/user renewing its session (write+sign)",
        each_once(&state, &due).await,
    );
    row(
        "GET /api/user with the renewed-from cookie again",
        each_once(&state, &due).await,
    );

    let revocations = &state.sessions.revocations;
    for i in 0..REVOKED {
        revocations.revoke(&format!("{i:032x}"), now + 3_600, now);
    }
    let mut next = REVOKED;
    row(
        "revoke one more session (100 000 revoked)",
        measure(10_000, || {
            next += 1;
            revocations.revoke(&format!("{next:032x}"), now + 3_600, now);
        }),
    );
    row(
        "GET /api/user (100 000 revoked sessions)",
        request(&state, "/api/user", &token, 50_000).await,
    );
    println!("revocation set: {} entries", revocations.len());
}
