//! The router called in-process (`tower::ServiceExt::oneshot`, no served connection, so no
//! TCP peer) is never taken for a trusted proxy, even with `TRUSTED_PROXIES=127.0.0.1`: its
//! forward-auth and nginx auth requests are refused as untrusted, its `X-Request-Id` and
//! `X-Forwarded-For` are not believed (one rate-limit bucket for every such caller), and the
//! front door forwards no chain it sent.

use axum::body::Body;
use axum::http::{Request, Response};
use serde_json::Value;
use tower::ServiceExt;

use crate::proxy::upstream;
use crate::support::{STRONG_SECRET, TestApp, spawn_app_with};
use crate::tunnels::routes_file;

/// An app that trusts loopback as its proxy (as behind nginx on the same host), with a front
/// door on `/app` and one login attempt per address per minute.
async fn trusting_loopback() -> TestApp {
    let routes = routes_file(upstream().await);
    spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1,::1"),
        ("DOORMAN_CONFIG", &routes),
        ("SESSION_SECRET", STRONG_SECRET),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "1"),
    ])
    .await
}

/// `request` through the whole application, in-process.
async fn in_process(app: &TestApp, request: Request<Body>) -> (Response<Body>, Value) {
    let response = doorman::build_router(app.state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Response::from_parts(parts, Body::empty()), json)
}

#[tokio::test]
async fn forward_auth_and_auth_requests_without_a_known_peer_are_refused_as_untrusted() {
    let app = trusting_loopback().await;
    let cookie = format!("access_token={}", app.session_for(Some(1), &[]));
    let nginx = Request::get("/.doorman/auth-request/default")
        .header("cookie", &cookie)
        .header("x-original-url", "https://app.example.com/reports")
        .header("x-original-method", "GET")
        .header("x-forwarded-for", "203.0.113.9")
        .body(Body::empty())
        .expect("request");
    let traefik = Request::get("/.doorman/forward-auth/default")
        .header("cookie", &cookie)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/reports")
        .header("x-forwarded-method", "GET")
        .body(Body::empty())
        .expect("request");
    for request in [nginx, traefik] {
        let path = request.uri().path().to_owned();
        let (response, body) = in_process(&app, request).await;
        assert_eq!(response.status(), 400, "{path}: {body}");
        assert_eq!(body["error"], "untrusted_proxy", "{path}: {body}");
    }
}

#[tokio::test]
async fn without_a_known_peer_the_request_id_and_forwarded_for_are_not_believed() {
    let app = trusting_loopback().await;
    let (response, _) = in_process(
        &app,
        Request::get("/healthz")
            .header("x-request-id", "chosen-by-the-client")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_ne!(response.headers()["x-request-id"], "chosen-by-the-client");
    // Two addresses claimed in X-Forwarded-For are one caller: the second attempt waits.
    let mut statuses = Vec::new();
    for claimed in ["203.0.113.1", "203.0.113.2"] {
        let login = Request::post("/api/login")
            .header("content-type", "application/json")
            .header("x-forwarded-for", claimed)
            .body(Body::from(
                r#"{"username":"nobody","password":"wrong-password"}"#,
            ))
            .expect("request");
        statuses.push(in_process(&app, login).await.0.status().as_u16());
    }
    assert_ne!(statuses[0], 429, "{statuses:?}");
    assert_eq!(statuses[1], 429, "{statuses:?}");
}

#[tokio::test]
async fn the_front_door_forwards_no_chain_or_host_from_a_caller_without_a_known_peer() {
    let app = trusting_loopback().await;
    let token = app.session_for(Some(2), &[]);
    let request = Request::get("/app/x")
        .header("host", app.addr.to_string())
        .header("authorization", format!("Bearer {token}"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-host", "evil.example")
        .body(Body::empty())
        .expect("request");
    let (response, seen) = in_process(&app, request).await;
    assert_eq!(response.status(), 200, "{seen}");
    let headers = &seen["headers"];
    // No address is invented: the service gets no chain and no client address at all.
    assert!(headers.get("x-forwarded-for").is_none(), "{headers}");
    assert!(headers.get("x-real-ip").is_none(), "{headers}");
    assert_ne!(headers["x-forwarded-host"], "evil.example", "{headers}");
}
