//! Security conformance, section C of `shared/security.md`: web hygiene. Return-to paths,
//! cross-site logout, response headers, escaping of provider-supplied claims, and error pages.

use crate::support::test_provider::{
    CLIENT_SECRET, Faults, LEAK_MARKER, TestProvider, TokenFault, arrive, begin, patch, setup,
    sign_in, spawn_https_app_for,
};
use crate::support::{Jar, STRONG_SECRET, location, set_cookies};
use serde_json::{Value, json};

/// What doorman sends; `shared/security.md` asks for the four directives after `img-src`,
/// which is there so https profile pictures (Google's) can load.
const CSP: &str = "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; \
                   object-src 'none'; base-uri 'none'";

#[tokio::test]
async fn a_hostile_next_falls_back_to_root_after_the_real_sign_in() {
    let rows = [
        "//evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "https://evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "/%2F%2Fevil.example",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "%2F%2Fevil.example",
        "/\tevil.example",
        "/a\r\nSet-Cookie: x=1",
        "/\u{0}evil",
        "evil.example",
        " /profile",
        "/auth/logout",
    ];
    let (provider, app) = setup(Faults::default()).await;

    for next in rows {
        let attempt = begin(&app, &provider, Some(next)).await;
        let response = arrive(&app, &attempt.callback, &attempt.jar).await;

        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), "/", "{next:?}");
    }

    let attempt = begin(&app, &provider, Some("/profile?tab=keys#x")).await;
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_eq!(
        location(&response),
        "/profile?tab=keys#x",
        "a same-site path is kept"
    );
}

#[tokio::test]
async fn logout_cannot_be_triggered_cross_site() {
    let (provider, app) = setup(Faults::default()).await;
    let jar = sign_in(&app, &provider).await;
    let rows: &[(&str, &str, &str)] = &[
        ("foreign Origin", "origin", "https://evil.example"),
        ("Origin null", "origin", "null"),
        (
            "our origin with another port",
            "origin",
            "http://127.0.0.1:1",
        ),
        ("Sec-Fetch-Site cross-site", "sec-fetch-site", "cross-site"),
        ("Sec-Fetch-Site same-site", "sec-fetch-site", "same-site"),
    ];

    for (case, name, value) in rows {
        let response = app
            .client
            .post(app.url("/auth/logout"))
            .header("cookie", jar.header())
            .header(*name, *value)
            .send()
            .await
            .expect("logout");

        assert_eq!(response.status(), 403, "{case}");
        assert!(set_cookies(&response).is_empty(), "{case}: cookie kept");
        assert!(
            response
                .text()
                .await
                .expect("page")
                .contains("sent from another site"),
            "{case}"
        );
        assert_eq!(
            app.get("/api/user", &jar).await.status(),
            200,
            "{case}: the session still works"
        );
    }

    let confirm = app.get("/auth/logout", &jar).await;
    assert_eq!(confirm.status(), 200);
    assert!(set_cookies(&confirm).is_empty(), "GET does not sign out");
    assert!(
        confirm
            .text()
            .await
            .expect("page")
            .contains(r#"<form method="post" action="/auth/logout">"#)
    );
    assert_eq!(app.get("/api/user", &jar).await.status(), 200);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_only_the_stylesheet_may_be_cached() {
    let (provider, app) = setup(Faults::default()).await;
    let jar = sign_in(&app, &provider).await;
    let bad_callback = "/auth/callback?code=x&state=y";
    let rows: &[(&str, bool, bool)] = &[
        // path, signed in, must be no-store
        ("/", false, true),
        ("/", true, true),
        ("/healthz", false, true),
        ("/static/style.css", false, false),
        ("/no-such-page", false, true),
        ("/profile", true, true),
        ("/profile", false, true),
        ("/api/user", true, true),
        ("/api/user", false, true),
        ("/api/nothing-here", false, true),
        ("/auth/login", false, true),
        ("/auth/logout", true, true),
        (bad_callback, false, true),
    ];

    for (path, signed_in, private) in rows {
        let cookies = if *signed_in { &jar } else { &Jar::default() };
        let response = app.get(path, cookies).await;
        let h = response.headers();

        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let sign_in_url = path.starts_with("/auth/login") || path.starts_with("/auth/callback");
        let referrer = if sign_in_url {
            "no-referrer"
        } else {
            "same-origin"
        };
        assert_eq!(h["referrer-policy"], referrer, "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h.get("server").is_none(), "{path}: no server banner");
        assert!(h.get("x-powered-by").is_none(), "{path}: no banner");
        assert!(
            h.get("strict-transport-security").is_none(),
            "{path}: no HSTS over plain http"
        );
        if *private {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        } else {
            assert_ne!(
                h.get("cache-control").map(|v| v.to_str().unwrap_or("")),
                Some("no-store"),
                "{path}: public"
            );
        }
    }
    for directive in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(CSP.contains(directive), "{directive}");
    }
}

#[tokio::test]
async fn an_https_public_url_turns_on_hsts_everywhere() {
    let provider = TestProvider::start(Faults::default()).await;
    let app = spawn_https_app_for(&provider, &[]).await;

    for path in ["/", "/healthz", "/auth/login", "/api/user", "/no-such-page"] {
        let response = app.get(path, &Jar::default()).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

#[tokio::test]
async fn provider_supplied_claims_are_rendered_escaped() {
    let (provider, app) = setup(Faults {
        profile_in_id_token: true,
        claims_patch: Some(patch(|c| {
            c["name"] = json!("<script>alert(1)</script>");
            c["email"] = json!("\"><img src=x onerror=alert(2)>@example.com");
        })),
        ..Faults::default()
    })
    .await;
    let jar = sign_in(&app, &provider).await;

    for path in ["/", "/profile"] {
        let html = app.get(path, &jar).await.text().await.expect("html");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: the name is shown, escaped"
        );
        assert!(!html.contains("<script>alert(1)"), "{path}");
        assert!(!html.contains("<img src=x"), "{path}");
    }
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(
        user["name"], "<script>alert(1)</script>",
        "JSON carries it as data"
    );
}

#[tokio::test]
async fn a_picture_is_shown_only_when_it_is_https() {
    let rows: Vec<(&str, &str, bool)> = vec![
        ("https", "https://pictures.example.com/a.png", true),
        ("plain http", "http://tracker.example/p.png", false),
        ("javascript", "javascript:alert(1)", false),
        ("data", "data:image/png;base64,AAAA", false),
        ("protocol-relative", "//tracker.example/p.png", false),
    ];
    for (case, picture, shown) in rows {
        let picture = picture.to_owned();
        let (provider, app) = setup(Faults {
            userinfo_patch: Some(patch(move |u| u["picture"] = json!(picture.clone()))),
            ..Faults::default()
        })
        .await;
        let attempt = begin(&app, &provider, None).await;
        let mut jar = attempt.jar.clone();
        let response = arrive(&app, &attempt.callback, &attempt.jar).await;
        assert_eq!(
            response.status(),
            303,
            "{case}: a bad picture is no reason to refuse"
        );
        jar.absorb(response.headers());

        let html = app.get("/profile", &jar).await.text().await.expect("html");
        assert_eq!(html.contains(r#"id="avatar""#), shown, "{case}");
        let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
        assert_eq!(user["picture"].is_string(), shown, "{case}");
    }
}

#[tokio::test]
async fn error_pages_never_show_tokens_secrets_config_or_provider_bodies() {
    let rows: Vec<(&str, Faults)> = vec![
        (
            "token endpoint 500 with a body",
            Faults {
                token: TokenFault::Status(500),
                ..Faults::default()
            },
        ),
        (
            "invalid_grant with a description",
            Faults {
                token: TokenFault::OAuthError("invalid_grant"),
                ..Faults::default()
            },
        ),
        (
            "a bad ID token",
            Faults {
                claims_patch: Some(patch(|c| c["aud"] = json!("someone-else"))),
                ..Faults::default()
            },
        ),
        (
            "userinfo 500",
            Faults {
                userinfo_status: Some(500),
                ..Faults::default()
            },
        ),
    ];
    for (case, faults) in rows {
        let (provider, app) = setup(faults).await;
        let attempt = begin(&app, &provider, None).await;

        let response = arrive(&app, &attempt.callback, &attempt.jar).await;

        assert!(response.status().is_client_error() || response.status().is_server_error());
        let html = response.text().await.expect("page");
        let record = provider.record();
        let mut secrets: Vec<String> = vec![
            LEAK_MARKER.into(),
            CLIENT_SECRET.into(),
            STRONG_SECRET.into(),
            provider.issuer.clone(),
            attempt.param("code").expect("code"),
            attempt.param("state").expect("state"),
        ];
        secrets.extend(record.id_tokens);
        secrets.extend(record.access_tokens);
        secrets.extend(record.pkce_verifiers);
        for secret in &secrets {
            assert!(
                !html.contains(secret.as_str()),
                "{case}: page shows {secret}"
            );
        }
        for internal in ["panicked", "backtrace", "src/", "Error(", "reqwest"] {
            assert!(!html.contains(internal), "{case}: page shows {internal}");
        }
        assert!(html.contains("Request id"), "{case}: a request id to quote");
    }
}

#[tokio::test]
async fn pages_that_show_a_user_are_never_stored_by_a_cache() {
    let app = crate::support::spawn_app_with(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let jar = app.sign_in("The Boss", "boss@example.com").await;
    for path in ["/", "/profile", "/admin"] {
        let response = app.get(path, &jar).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        let html = response.text().await.expect("page");
        assert!(html.contains("boss@example.com"), "{path} shows the user");
    }
}

#[tokio::test]
async fn at_most_three_sign_in_attempts_keep_a_cookie_and_the_oldest_give_way() {
    let app = crate::support::spawn_app().await;
    let mut jar = Jar::default();
    let mut names = Vec::new();
    for i in 0..5 {
        app.clock.advance(1);
        let response = app.get("/auth/login", &jar).await;
        assert_eq!(response.status(), 303, "attempt {i}");
        jar.absorb(response.headers());
        let flows: Vec<String> = jar
            .0
            .keys()
            .filter(|k| k.starts_with("doorman_flow_"))
            .cloned()
            .collect();
        assert!(flows.len() <= 3, "attempt {i}: {flows:?}");
        names.push(flows);
    }
    let last = names.last().expect("attempts");
    assert_eq!(last.len(), 3);
    assert!(
        !last
            .iter()
            .any(|n| names[1].contains(n) && !names[2].contains(n)),
        "the oldest went first"
    );
    assert!(
        !last.contains(&names[0][0]),
        "the very first attempt's cookie is gone"
    );
}

#[tokio::test]
async fn a_long_next_is_not_carried_into_the_flow_cookie() {
    let app = crate::support::spawn_app().await;
    let long = format!("/{}", "a".repeat(2040));
    let (authorize, jar) = app.start_login(Some(&long)).await;
    let cookie = jar
        .0
        .iter()
        .find(|(k, _)| k.starts_with("doorman_flow_"))
        .expect("a flow cookie");
    assert!(
        cookie.1.len() < 1024,
        "the cookie stays small: {}",
        cookie.1.len()
    );
    let callback = app
        .dev_provider_approves(&authorize, "Ada", "ada@example.com")
        .await;
    let response = app.get_absolute(&callback, &jar).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/",
        "an over-long next falls back to the start"
    );
}

#[tokio::test]
async fn sign_in_starts_and_callbacks_are_rate_limited_per_client() {
    let app = crate::support::spawn_app_with(&[("RATE_LIMIT_SIGN_IN_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        assert_eq!(app.get("/auth/login", &Jar::default()).await.status(), 303);
    }
    let refused = app
        .get("/auth/callback?code=a&state=b", &Jar::default())
        .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let html = refused.text().await.expect("page");
    assert!(html.contains("Too many sign-in attempts"), "{html}");
    app.clock.advance(60);
    assert_eq!(app.get("/auth/login", &Jar::default()).await.status(), 303);
}
