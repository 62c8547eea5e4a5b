//! The gateway endpoints as a reverse proxy calls them (the proxy is played here by the test,
//! sending exactly the headers nginx and Caddy send; `tests/gateway/` runs the real ones):
//! trust, the request rebuilt, browsers told from programs, policies, identity headers, the
//! signed assertion and its keys, revocation, and where a sign-in may return to.

mod passthrough;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;

use crate::support::test_provider::{Faults, TestProvider, arrive};
use crate::support::{Jar, STRONG_SECRET, TestApp, location, spawn_app_with};

const APP: &str = "https://app.example.com";

fn policy_file(text: &str) -> String {
    crate::support::config_file("policies", text)
}

async fn gateway(extra: &[(&str, &str)]) -> TestApp {
    let policies = policy_file(
        "[gateway.policy.admins]\nroles = [\"admin\"]\n\n\
         [gateway.policy.open]\npublic = true\n\n\
         [gateway.policy.api]\napi = true\ncors_preflight = true\n\n\
         [gateway.policy.team]\ndomains = [\"example.com\"]\n",
    );
    let mut vars = vec![
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("SESSION_SECRET", STRONG_SECRET),
        (
            "ALLOWED_REDIRECT_HOSTS",
            "app.example.com,*.tools.example.com",
        ),
    ];
    vars.extend_from_slice(extra);
    let path = policies.clone();
    let mut owned: Vec<(&str, String)> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    owned.push(("DOORMAN_CONFIG", path));
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(&borrowed).await
}

/// What nginx's `auth_request` sends for a request to `url`, with the client's `headers`.
async fn auth_request(
    app: &TestApp,
    policy: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/.doorman/auth-request/{policy}")))
        .header("x-original-url", url)
        .header("x-original-method", "GET");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("auth request")
}

/// What Caddy's or Traefik's forward-auth sends for `method path` on app.example.com.
async fn forward_auth(
    app: &TestApp,
    policy: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/.doorman/forward-auth/{policy}")))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", path)
        .header("x-forwarded-method", method);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("forward auth")
}

fn cookie(token: &str) -> String {
    format!("access_token={token}")
}

const NAVIGATION: (&str, &str) = ("sec-fetch-mode", "navigate");
const CURL: (&str, &str) = ("accept", "*/*");

fn login_url(app: &TestApp, target: &str) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    format!("{}/auth/login?rd={rd}", app.public_url)
}

#[tokio::test]
async fn only_a_trusted_proxy_is_believed_and_missing_headers_are_named() {
    let untrusted = spawn_app_with(&[]).await;
    let response = auth_request(&untrusted, "default", &format!("{APP}/"), &[]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "untrusted_proxy");

    let app = gateway(&[]).await;
    let bare = app
        .client
        .get(app.url("/.doorman/forward-auth/default"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("bare");
    assert_eq!(bare.status(), 400);
    let body: Value = bare.json().await.expect("json");
    assert_eq!(body["error"], "bad_forward_request");
    assert_eq!(
        body["missing"],
        serde_json::json!(["X-Forwarded-Host", "X-Forwarded-Uri"])
    );

    let unknown = auth_request(&app, "nope", &format!("{APP}/"), &[]).await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(
        unknown.json::<Value>().await.expect("json")["error"],
        "unknown_policy"
    );
}

#[tokio::test]
async fn programs_get_401_json_and_browsers_are_sent_to_sign_in_and_back() {
    let app = gateway(&[]).await;
    let target = format!("{APP}/dash?x=1");

    let api = auth_request(&app, "default", &target, &[CURL]).await;
    assert_eq!(api.status(), 401);
    assert!(
        api.headers().get("location").is_none(),
        "curl is never redirected"
    );
    assert_eq!(
        api.headers()["www-authenticate"],
        r#"Bearer realm="doorman""#
    );
    assert!(api.headers().get("set-cookie").is_none());
    let body: Value = api.json().await.expect("json");
    assert_eq!(body["error"], "unauthenticated");
    assert_eq!(body["login_url"], login_url(&app, &target));

    // nginx cannot pass a 3xx on: the navigation's 401 carries the Location.
    let nav = auth_request(&app, "default", &target, &[NAVIGATION]).await;
    assert_eq!(nav.status(), 401);
    assert_eq!(location(&nav), login_url(&app, &target));
    let old_browser = auth_request(
        &app,
        "default",
        &target,
        &[("accept", "text/html,application/xhtml+xml")],
    )
    .await;
    assert_eq!(location(&old_browser), login_url(&app, &target));

    // Traefik and Caddy pass the answer on: a redirect, 303 for a non-GET navigation.
    let fwd = forward_auth(&app, "default", "GET", "/dash?x=1", &[NAVIGATION]).await;
    assert_eq!(fwd.status(), 302);
    assert_eq!(location(&fwd), login_url(&app, &target));
    let post = forward_auth(&app, "default", "POST", "/form", &[NAVIGATION]).await;
    assert_eq!(post.status(), 303);
    let fetch = forward_auth(
        &app,
        "default",
        "GET",
        "/data",
        &[("sec-fetch-mode", "cors"), ("accept", "text/html")],
    )
    .await;
    assert_eq!(fetch.status(), 401);
    assert!(fetch.headers().get("location").is_none());
    let xhr = forward_auth(
        &app,
        "default",
        "GET",
        "/data",
        &[
            ("accept", "text/html"),
            ("x-requested-with", "XMLHttpRequest"),
        ],
    )
    .await;
    assert_eq!(xhr.status(), 401);
    // An api policy never redirects.
    let api_policy = forward_auth(&app, "api", "GET", "/v1", &[NAVIGATION]).await;
    assert_eq!(api_policy.status(), 401);
}

#[tokio::test]
async fn a_signed_in_caller_passes_with_identity_headers_and_a_verifiable_assertion() {
    let app = gateway(&[]).await;
    let jar = app.sign_in("Zoë Lovelace", "ada@example.com").await;
    let token = jar.get("access_token").expect("session").to_owned();
    let response = auth_request(
        &app,
        "default",
        &format!("{APP}/x"),
        &[("cookie", &cookie(&token))],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let h = response.headers().clone();
    let sub = crate::support::jwt_payload(&token)["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    assert_eq!(h["x-doorman-user"], sub.as_str());
    assert_eq!(h["x-doorman-email"], "ada@example.com");
    assert_eq!(h["x-doorman-name"], "Zo%C3%AB%20Lovelace");
    assert_eq!(h["x-doorman-roles"], "");
    assert!(
        h.get("remote-user").is_none(),
        "compatibility names only when configured"
    );

    let assertion = h["x-doorman-jwt-assertion"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let header = jsonwebtoken::decode_header(&assertion).expect("a JWS");
    assert_eq!(header.alg, Algorithm::ES256);
    let jwks_response = app.get("/.well-known/jwks.json", &Jar::default()).await;
    assert_eq!(
        jwks_response.headers()["cache-control"],
        "public, max-age=300"
    );
    let jwks: JwkSet = jwks_response.json().await.expect("jwks");
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[APP]);
    validation.set_issuer(&[app.public_url.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    let verified = jsonwebtoken::decode::<Value>(
        &assertion,
        &DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the assertion verifies with a standard library");
    let claims = verified.claims;
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Zoë Lovelace");
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        60
    );
    assert!(claims["sid"].is_string() && claims["jti"].is_string());

    // Another audience (another protected host) gets its own assertion.
    let other = auth_request(
        &app,
        "default",
        "https://grafana.tools.example.com/",
        &[("cookie", &cookie(&token))],
    )
    .await;
    let other = other.headers()["x-doorman-jwt-assertion"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let mut grafana = Validation::new(Algorithm::ES256);
    grafana.set_audience(&["https://grafana.tools.example.com"]);
    grafana.set_issuer(&[app.public_url.as_str()]);
    assert!(
        jsonwebtoken::decode::<Value>(&other, &DecodingKey::from_jwk(jwk).expect("key"), &grafana)
            .is_ok()
    );
    assert!(
        jsonwebtoken::decode::<Value>(
            &assertion,
            &DecodingKey::from_jwk(jwk).expect("key"),
            &grafana
        )
        .is_err()
    );
}

#[tokio::test]
async fn bearer_tokens_are_doormans_other_schemes_are_left_for_the_service() {
    let app = gateway(&[]).await;
    let token = app.session_for(Some(7), &[]);
    let bearer = auth_request(
        &app,
        "default",
        &format!("{APP}/"),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(bearer.status(), 200);
    let bad = auth_request(
        &app,
        "default",
        &format!("{APP}/"),
        &[("authorization", "Bearer not-a-token"), NAVIGATION],
    )
    .await;
    assert_eq!(bad.status(), 401, "a bad doorman token is never a redirect");
    assert!(bad.headers().get("location").is_none());
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains(r#"error="invalid_token""#)
    );
    let basic = auth_request(
        &app,
        "default",
        &format!("{APP}/"),
        &[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", &cookie(&token)),
        ],
    )
    .await;
    assert_eq!(
        basic.status(),
        200,
        "Basic is the service's business; the cookie decides"
    );
}

#[tokio::test]
async fn policies_admit_by_role_and_email_and_the_query_cannot_choose_one() {
    let app = gateway(&[]).await;
    let viewer = cookie(&app.session_for(Some(2), &["viewer"]));
    let admin = cookie(&app.session_for(Some(1), &["admin"]));
    let denied = auth_request(
        &app,
        "admins",
        &format!("{APP}/admin"),
        &[("cookie", &viewer)],
    )
    .await;
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.expect("json");
    assert_eq!(body["reason"], "role_required");
    assert_eq!(body["required"], serde_json::json!(["admin"]));
    assert_eq!(
        auth_request(
            &app,
            "admins",
            &format!("{APP}/admin"),
            &[("cookie", &admin)]
        )
        .await
        .status(),
        200
    );

    // The endpoint ignores its own query string: only the path names the policy.
    let sneaky = app
        .client
        .get(app.url("/.doorman/auth-request/admins?policy=default&public=1"))
        .header("x-original-url", format!("{APP}/admin?policy=default"))
        .header("cookie", &viewer)
        .send()
        .await
        .expect("sneaky");
    assert_eq!(sneaky.status(), 403);

    // A navigation through forward-auth gets a page, a program JSON.
    let page = forward_auth(
        &app,
        "admins",
        "GET",
        "/admin",
        &[("cookie", &viewer), NAVIGATION],
    )
    .await;
    assert_eq!(page.status(), 403);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );

    // Emails count only when verified: a local account's is not.
    let team = auth_request(&app, "team", &format!("{APP}/"), &[("cookie", &viewer)]).await;
    assert_eq!(team.status(), 403);
    assert_eq!(
        team.json::<Value>().await.expect("json")["reason"],
        "email_not_allowed"
    );
    let jar = app.sign_in("Grace", "grace@example.com").await;
    let grace = cookie(jar.get("access_token").expect("session"));
    assert_eq!(
        auth_request(&app, "team", &format!("{APP}/"), &[("cookie", &grace)])
            .await
            .status(),
        200
    );
    let other = app.sign_in("Eve", "eve@example.org").await;
    let eve = cookie(other.get("access_token").expect("session"));
    assert_eq!(
        auth_request(&app, "team", &format!("{APP}/"), &[("cookie", &eve)])
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn a_public_policy_passes_anonymous_callers_with_empty_identity_headers() {
    let app = gateway(&[("IDENTITY_HEADERS", "doorman,authelia,oauth2-proxy")]).await;
    let anonymous = auth_request(&app, "open", &format!("{APP}/"), &[CURL]).await;
    assert_eq!(anonymous.status(), 200);
    for name in [
        "x-doorman-user",
        "x-doorman-jwt-assertion",
        "remote-user",
        "x-auth-request-user",
    ] {
        assert_eq!(
            anonymous.headers()[name],
            "",
            "{name} is sent empty, so the proxy overwrites a client's copy"
        );
    }
    let token = app.session_for(Some(3), &["ops", "viewer"]);
    let known = auth_request(
        &app,
        "open",
        &format!("{APP}/"),
        &[("cookie", &cookie(&token))],
    )
    .await;
    assert_eq!(known.headers()["x-doorman-user"], "3");
    assert_eq!(known.headers()["remote-user"], "3");
    assert_eq!(known.headers()["remote-groups"], "ops,viewer");
    assert_eq!(known.headers()["x-doorman-roles"], "ops,viewer");
}

#[tokio::test]
async fn a_cors_preflight_passes_only_where_the_policy_allows_it() {
    let app = gateway(&[]).await;
    let ask = |policy: &'static str, origin: bool| {
        let request = app
            .client
            .get(app.url(&format!("/.doorman/forward-auth/{policy}")))
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", "/v1/items")
            .header("x-forwarded-method", "OPTIONS")
            .header("access-control-request-method", "POST");
        if origin {
            request.header("origin", "https://web.example.com").send()
        } else {
            request.send()
        }
    };
    assert_eq!(ask("api", true).await.expect("preflight").status(), 200);
    assert_eq!(ask("default", true).await.expect("preflight").status(), 401);
    // A browser's preflight always carries its Origin; without one it is an ordinary OPTIONS.
    assert_eq!(ask("api", false).await.expect("options").status(), 401);
}

#[tokio::test]
async fn a_signed_out_session_is_refused_at_the_next_request() {
    let app = gateway(&[]).await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let session = cookie(jar.get("access_token").expect("session"));
    assert_eq!(
        auth_request(&app, "default", &format!("{APP}/"), &[("cookie", &session)])
            .await
            .status(),
        200
    );
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    let after = auth_request(
        &app,
        "default",
        &format!("{APP}/"),
        &[("cookie", &session), CURL],
    )
    .await;
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn sign_in_returns_to_an_allowed_host_and_never_to_another() {
    let provider = TestProvider::start(Faults::default()).await;
    let app = crate::support::test_provider::spawn_app_for(
        &provider,
        &[("ALLOWED_REDIRECT_HOSTS", "app.example.com")],
    )
    .await;
    for (rd, expected) in [
        (
            "https://app.example.com/dash?x=1",
            "https://app.example.com/dash?x=1",
        ),
        ("https://evil.example/steal", "/"),
        ("https://app.example.com.evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        let response = app
            .client
            .get(app.url(&format!("/auth/login?rd={encoded}")))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 303);
        let mut jar = Jar::default();
        jar.absorb(response.headers());
        let authorize = reqwest::Url::parse(&location(&response)).expect("url");
        let callback = provider.authorize(&authorize).await;
        let done = arrive(&app, &callback, &jar).await;
        assert_eq!(done.status(), 303);
        assert_eq!(location(&done), expected, "rd={rd}");
    }
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains("doorman_redirects_rejected_total{reason=\"host_not_allowed\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_metadata_names_the_endpoints_and_decisions_are_counted() {
    let app = gateway(&[]).await;
    let meta: Value = app
        .get("/.well-known/doorman", &Jar::default())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.public_url)
    );
    let _ = auth_request(&app, "default", &format!("{APP}/"), &[CURL]).await;
    let session = cookie(&app.session_for(Some(5), &[]));
    for _ in 0..2 {
        let allowed =
            auth_request(&app, "default", &format!("{APP}/"), &[("cookie", &session)]).await;
        assert_eq!(allowed.status(), 200);
    }
    let metrics = app.state.metrics.render();
    for line in [
        "doorman_authz_decisions_total{endpoint=\"auth_request\",decision=\"unauthenticated\",reason=\"no_session\"} 1",
        "doorman_authz_decisions_total{endpoint=\"auth_request\",decision=\"allow\",reason=\"signed_in\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn every_policy_is_counted_under_its_endpoint_template_not_its_own_path() {
    let app = gateway(&[]).await;
    for policy in ["default", "admins", "nope"] {
        let response = auth_request(&app, policy, &format!("{APP}/x"), &[]).await;
        assert!(response.status().is_client_error(), "{policy}");
    }
    let response = forward_auth(&app, "default", "GET", "/x", &[]).await;
    assert_eq!(response.status(), 401);
    let text = app.state.metrics.render();
    let count = |route: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("doorman_http_requests_total{"))
            .filter(|l| l.contains(&format!("route=\"{route}\"")))
            .filter(|l| l.contains("status_class=\"4xx\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(count("/.doorman/auth-request/{policy}"), 3.0, "{text}");
    assert_eq!(count("/.doorman/forward-auth/{policy}"), 1.0);
    assert!(
        !text.contains("route=\"/.doorman/auth-request/default\""),
        "a policy's own path is never a label"
    );
}
