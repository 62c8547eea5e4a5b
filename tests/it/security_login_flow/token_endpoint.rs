//! The token endpoint misbehaving: each failure is a 400 or 502 and no session (and no
//! userinfo call, no redirect followed); `token_type` is compared case-insensitively; a
//! hanging endpoint is a 504 within the timeout while other requests are served.

use std::time::{Duration, Instant};

use super::assert_rejected;
use crate::support::Jar;
use crate::support::test_provider::{Faults, TokenFault, arrive, begin, setup, sign_in};

#[tokio::test]
async fn token_endpoint_failures_map_to_400_502_and_no_session() {
    let rows: Vec<(&str, TokenFault, u16)> = vec![
        ("500", TokenFault::Status(500), 502),
        ("503", TokenFault::Status(503), 502),
        ("HTML body", TokenFault::Html, 502),
        ("redirect", TokenFault::Redirect, 502),
        (
            "oversized, Content-Length declared",
            TokenFault::OversizedDeclared,
            502,
        ),
        ("oversized, chunked", TokenFault::OversizedStreamed, 502),
        (
            "invalid_grant (replayed or injected code)",
            TokenFault::OAuthError("invalid_grant"),
            400,
        ),
        (
            "another OAuth error",
            TokenFault::OAuthError("invalid_request"),
            502,
        ),
        ("no id_token", TokenFault::NoIdToken, 502),
        ("token_type mac", TokenFault::TokenType("mac"), 502),
    ];

    for (case, fault, status) in rows {
        let (provider, app) = setup(Faults {
            token: fault,
            ..Faults::default()
        })
        .await;
        let attempt = begin(&app, &provider, None).await;

        let response = arrive(&app, &attempt.callback, &attempt.jar).await;

        assert_rejected(case, response, status, &attempt).await;
        let calls = provider.calls();
        assert_eq!(calls.token, 1, "{case}");
        assert_eq!(calls.userinfo, 0, "{case}: no userinfo call");
        assert_eq!(calls.untrusted, 0, "{case}: no redirect followed");
    }
}

#[tokio::test]
async fn token_type_is_compared_case_insensitively() {
    let (provider, app) = setup(Faults {
        token: TokenFault::TokenType("bearer"),
        ..Faults::default()
    })
    .await;
    sign_in(&app, &provider).await;

    provider.set(|f| f.token = TokenFault::TokenType("BEARER"));
    sign_in(&app, &provider).await;
}

#[tokio::test]
async fn a_hanging_token_endpoint_is_504_within_the_timeout_while_other_requests_are_served() {
    let (provider, app) = setup(Faults {
        token: TokenFault::Hang(Duration::from_secs(5)),
        ..Faults::default()
    })
    .await;
    let attempt = begin(&app, &provider, None).await;
    let started = Instant::now();
    let callback = {
        let client = app.client.clone();
        let url = app.url(&format!(
            "/auth/callback?{}",
            attempt.callback.query().expect("query")
        ));
        let cookie = attempt.jar.header();
        tokio::spawn(async move { client.get(url).header("cookie", cookie).send().await })
    };

    // The callback is now waiting for the hanging token endpoint.
    provider.until_calls(|c| c.token == 1).await;
    let health_started = Instant::now();
    let health = app.get("/healthz", &Jar::default()).await;
    let health_took = health_started.elapsed();
    assert_eq!(health.status(), 200);
    assert!(
        health_took < Duration::from_millis(500),
        "healthz answered in {health_took:?} while the token call hangs"
    );
    assert!(!callback.is_finished(), "the callback is still waiting");

    let response = callback.await.expect("task").expect("callback");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "a 1 s timeout answers in {took:?}"
    );
    let page = assert_rejected("hang", response, 504, &attempt).await;
    assert!(page.contains("timed out"));
}
