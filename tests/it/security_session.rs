//! Security conformance, section B of `shared/security.md`: the session JWT, its cookie, and
//! the secret that signs it.

use crate::support::test_provider::{self, Faults, patch, setup, sign_in, spawn_https_app_for};
use crate::support::{
    Jar, STRONG_SECRET, TestApp, location, session_tokens, set_cookies, spawn_app_with,
};
use base64::Engine;
use doorman::clock::system_now as now_secs;
use doorman::session::SessionClaims;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

const OTHER_SECRET: &str = "another-secret-Zq3v9Jb1xK7mN2pR5sT8uW0yA4cE6gH1jL3nP5rS7tV9xZ";

const EXPIRED_CHALLENGE: &str =
    r#"Bearer error="invalid_token", error_description="token expired""#;
const INVALID_CHALLENGE: &str =
    r#"Bearer error="invalid_token", error_description="invalid token""#;

async fn app() -> TestApp {
    spawn_app_with(&[("SESSION_SECRET", STRONG_SECRET)]).await
}

/// Session claims as `app` would mint them, issued `age` seconds ago and living `ttl`.
fn claims(app: &TestApp, age: u64, ttl: u64) -> SessionClaims {
    let iat = now_secs() - age;
    serde_json::from_value(json!({
        "iss": app.public_url,
        "aud": app.public_url,
        "sub": "user-1",
        "idp": "https://idp.example",
        "email": "ada@example.com",
        "email_verified": true,
        "name": "Ada",
        "iat": iat,
        "exp": iat + ttl,
        "jti": doorman::random::token_id(),
    }))
    .expect("session claims")
}

fn mint(app: &TestApp, secret: &str, claims: &SessionClaims) -> String {
    session_tokens(&app.public_url, secret)
        .mint(claims)
        .expect("mint")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS with any header and claims and an HS256-sized MAC under `secret`.
fn forge(header: &Value, claims: &Value, secret: &[u8]) -> String {
    test_provider::hs256(header, claims, secret)
}

async fn api_user(app: &TestApp, headers: HeaderMap) -> reqwest::Response {
    app.client
        .get(app.url("/api/user"))
        .headers(headers)
        .send()
        .await
        .expect("request")
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    h
}

/// 401 with exactly this JSON error and challenge.
async fn assert_401(case: &str, response: reqwest::Response, message: &str, challenge: &str) {
    assert_eq!(response.status(), 401, "{case}");
    assert_eq!(response.headers()["www-authenticate"], challenge, "{case}");
    assert_eq!(response.headers()["cache-control"], "no-store", "{case}");
    let body: Value = response.json().await.expect("json");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["error", "message", "request_id"], "{case}");
    assert_eq!(body["error"], "invalid_token", "{case}");
    assert_eq!(body["message"], message, "{case}");
}

#[tokio::test]
async fn an_expired_token_is_told_apart_from_an_invalid_one() {
    let app = app().await;
    let expired = mint(&app, STRONG_SECRET, &claims(&app, 7200, 3600));
    let valid = mint(&app, STRONG_SECRET, &claims(&app, 0, 3600));

    assert_eq!(api_user(&app, bearer(&valid)).await.status(), 200);
    assert_401(
        "expired",
        api_user(&app, bearer(&expired)).await,
        "token expired",
        EXPIRED_CHALLENGE,
    )
    .await;
    let mut tampered = valid.clone();
    tampered.insert(tampered.len() - 3, 'x');
    assert_401(
        "tampered",
        api_user(&app, bearer(&tampered)).await,
        "invalid token",
        INVALID_CHALLENGE,
    )
    .await;
    let none = api_user(&app, HeaderMap::new()).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn forged_tokens_are_invalid_and_never_expired() {
    let app = app().await;
    let expired = serde_json::to_value(claims(&app, 7200, 3600)).expect("json");
    let fresh = serde_json::to_value(claims(&app, 0, 3600)).expect("json");
    let with = |base: &Value, change: fn(&mut Value)| {
        let mut c = base.clone();
        change(&mut c);
        c
    };
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let secret = STRONG_SECRET.as_bytes();
    let rows: Vec<(&str, String)> = vec![
        (
            "expired and signed with another secret",
            forge(&hs256, &expired, OTHER_SECRET.as_bytes()),
        ),
        (
            "expired, alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(expired.to_string().as_bytes())
            ),
        ),
        (
            "expired, alg HS512 in the header",
            forge(&json!({"alg": "HS512"}), &expired, secret),
        ),
        (
            "fresh, alg RS256 in the header over an HS256 MAC",
            forge(&json!({"alg": "RS256"}), &fresh, secret),
        ),
        (
            "fresh, alg none with a real MAC",
            forge(&json!({"alg": "none"}), &fresh, secret),
        ),
        (
            "expired, wrong iss",
            forge(
                &hs256,
                &with(&expired, |c| c["iss"] = json!("https://evil.example")),
                secret,
            ),
        ),
        (
            "fresh, wrong iss",
            forge(
                &hs256,
                &with(&fresh, |c| c["iss"] = json!("https://evil.example")),
                secret,
            ),
        ),
        (
            "fresh, wrong aud",
            forge(
                &hs256,
                &with(&fresh, |c| c["aud"] = json!("https://evil.example")),
                secret,
            ),
        ),
        (
            "fresh, no jti",
            forge(
                &hs256,
                &with(&fresh, |c| {
                    c.as_object_mut().expect("object").remove("jti");
                }),
                secret,
            ),
        ),
        (
            "fresh, no iat",
            forge(
                &hs256,
                &with(&fresh, |c| {
                    c.as_object_mut().expect("object").remove("iat");
                }),
                secret,
            ),
        ),
        (
            "fresh, no sub",
            forge(
                &hs256,
                &with(&fresh, |c| {
                    c.as_object_mut().expect("object").remove("sub");
                }),
                secret,
            ),
        ),
        (
            "fresh, empty sub",
            forge(&hs256, &with(&fresh, |c| c["sub"] = json!("")), secret),
        ),
        (
            "fresh, nbf an hour ahead",
            forge(
                &hs256,
                &with(&fresh, |c| c["nbf"] = json!(now_secs() + 3600)),
                secret,
            ),
        ),
        (
            "fresh, iat an hour ahead",
            forge(
                &hs256,
                &with(&fresh, |c| c["iat"] = json!(now_secs() + 3600)),
                secret,
            ),
        ),
    ];

    for (case, token) in rows {
        assert_401(
            case,
            api_user(&app, bearer(&token)).await,
            "invalid token",
            INVALID_CHALLENGE,
        )
        .await;
        let mut jar = Jar::default();
        jar.0.insert("access_token".into(), token);
        let page = app.get("/profile", &jar).await;
        assert_eq!(page.status(), 303, "{case}: pages send to sign-in");
        assert_eq!(location(&page), "/auth/login?next=%2Fprofile", "{case}");
    }
}

/// Header values no client should send; each must get 400 or 401, never 500.
/// A named case: the headers (name, raw value) a request carries.
type HeaderCase = (&'static str, Vec<(&'static str, Vec<u8>)>);

fn malformed_headers() -> Vec<HeaderCase> {
    let auth = |v: &str| vec![("authorization", v.as_bytes().to_vec())];
    let cookie = |v: &str| vec![("cookie", v.as_bytes().to_vec())];
    vec![
        ("empty Authorization", auth("")),
        ("scheme only", auth("Bearer")),
        ("scheme and a space", auth("Bearer ")),
        ("two segments", auth("Bearer abc.def")),
        ("four segments", auth("Bearer a.b.c.d")),
        ("one dot-less blob", auth("Bearer abcdef")),
        ("bad base64", auth("Bearer !!!.###.$$$")),
        (
            "base64 of non-JSON",
            auth("Bearer bm90IGpzb24.bm90IGpzb24.c2ln"),
        ),
        ("JSON that is not an object", auth("Bearer WzFd.WzFd.c2ln")),
        ("empty JSON objects", auth("Bearer e30.e30.")),
        (
            "huge token (100 KB)",
            auth(&format!("Bearer {}", "a".repeat(100_000))),
        ),
        ("Basic scheme", auth("Basic dXNlcjpwYXNz")),
        ("unknown scheme", auth("Token abc")),
        ("token with an inner space", auth("Bearer abc def")),
        (
            "comma-separated credentials",
            auth("Bearer a.b.c, Bearer d.e.f"),
        ),
        (
            "non-UTF-8 bytes",
            vec![("authorization", b"Bearer \xff\xfe.\x80.\x81".to_vec())],
        ),
        (
            "two Authorization headers",
            vec![
                ("authorization", b"Bearer a.b.c".to_vec()),
                ("authorization", b"Bearer d.e.f".to_vec()),
            ],
        ),
        ("quoted cookie", cookie("access_token=\"a.b.c\"")),
        (
            "duplicated cookie",
            cookie("access_token=a.b.c; access_token=d.e.f"),
        ),
        (
            "cookie in two headers",
            vec![
                ("cookie", b"access_token=a.b.c".to_vec()),
                ("cookie", b"access_token=d.e.f".to_vec()),
            ],
        ),
        ("cookie with garbage", cookie("access_token=%%%; x")),
        (
            "cookie of 5000 bytes",
            cookie(&format!("access_token={}", "b".repeat(5000))),
        ),
        (
            "cookie with non-UTF-8",
            vec![("cookie", b"access_token=\xff\xfe".to_vec())],
        ),
        ("cookie without a value", cookie("access_token")),
    ]
}

#[tokio::test]
async fn malformed_credentials_of_every_kind_are_401_or_400_never_500() {
    let app = app().await;

    for (case, headers) in malformed_headers() {
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            map.append(
                *name,
                HeaderValue::from_bytes(value).expect("a sendable header value"),
            );
        }
        let api = api_user(&app, map.clone()).await;
        let status = api.status().as_u16();
        assert!(
            matches!(status, 400 | 401),
            "{case}: /api/user gave {status}"
        );
        if status == 401 {
            let body: Value = api.json().await.expect("{case}: JSON");
            assert!(body["error"].is_string(), "{case}");
        }
        for (path, expected) in [("/", 200), ("/profile", 303)] {
            let page = app
                .client
                .get(app.url(path))
                .headers(map.clone())
                .send()
                .await
                .expect("request");
            assert_eq!(page.status(), expected, "{case}: {path}");
        }
    }
}

#[tokio::test]
async fn a_request_too_big_for_the_server_is_refused_without_a_500() {
    let app = app().await;
    let response = api_user(&app, bearer(&"a".repeat(1_000_000))).await;
    assert!(
        response.status().is_client_error(),
        "a 1 MB header gets a 4xx, got {}",
        response.status()
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = app().await;
    let token = mint(&app, STRONG_SECRET, &claims(&app, 0, 3600));
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("{scheme} {token}")).expect("header"),
        );
        assert_eq!(api_user(&app, h).await.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let app = app().await;
    let token = mint(&app, STRONG_SECRET, &claims(&app, 0, 3600));

    for name in ["access_token", "token", "jwt"] {
        let response = app
            .client
            .get(app.url(&format!("/api/user?{name}={token}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer",
            "{name}: treated as no credentials"
        );
    }
}

#[tokio::test]
async fn the_session_cookie_is_httponly_lax_path_root_with_max_age_equal_to_the_lifetime() {
    let provider = test_provider::TestProvider::start(Faults::default()).await;
    let app = test_provider::spawn_app_for(&provider, &[("SESSION_TTL_MINUTES", "5")]).await;
    let attempt = test_provider::begin(&app, &provider, None).await;

    let response = test_provider::arrive(&app, &attempt.callback, &attempt.jar).await;

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("access_token="))
        .expect("session cookie");
    let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=300"]
    );
    let jwt = cookie
        .split(';')
        .next()
        .and_then(|p| p.strip_prefix("access_token="))
        .expect("value");
    let payload = crate::support::jwt_payload(jwt);
    let lifetime = payload["exp"].as_u64().expect("exp") - payload["iat"].as_u64().expect("iat");
    assert_eq!(lifetime, 300, "Max-Age equals the token lifetime");
    for claim in ["iss", "aud", "sub", "iat", "exp", "jti"] {
        assert!(payload.get(claim).is_some(), "{claim} present");
    }
}

#[tokio::test]
async fn on_an_https_public_url_the_cookies_are_secure_and_host_prefixed() {
    let provider = test_provider::TestProvider::start(Faults::default()).await;
    let app = spawn_https_app_for(&provider, &[]).await;
    assert!(app.public_url.starts_with("https://localhost:"));

    let attempt = test_provider::begin(&app, &provider, None).await;
    assert!(
        attempt
            .jar
            .0
            .keys()
            .all(|k| k.starts_with("__Host-doorman_flow_")),
        "the flow cookie is __Host- too: {:?}",
        attempt.jar.0.keys()
    );
    let response = test_provider::arrive(&app, &attempt.callback, &attempt.jar).await;

    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("__Host-access_token="))
        .expect("__Host- session cookie");
    let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=3600"
        ]
    );
    let jwt = cookie
        .split(';')
        .next()
        .and_then(|p| p.strip_prefix("__Host-access_token="))
        .expect("value")
        .to_owned();

    let mut jar = Jar::default();
    jar.0.insert("__Host-access_token".into(), jwt.clone());
    assert_eq!(app.get("/profile", &jar).await.status(), 200);
    let mut plain = Jar::default();
    plain.0.insert("access_token".into(), jwt);
    assert_eq!(
        app.get("/profile", &plain).await.status(),
        303,
        "on https only the __Host- cookie counts"
    );
}

#[tokio::test]
async fn the_whole_set_cookie_stays_under_4096_bytes_with_the_largest_claims() {
    type ClaimTamper = (&'static str, fn(&mut Value));
    let rows: Vec<ClaimTamper> = vec![
        ("ASCII at every limit", |c| {
            c["sub"] = json!("s".repeat(255));
            c["name"] = json!("n".repeat(5000));
            c["email"] = json!(format!("{}@example.com", "e".repeat(242)));
            c["picture"] = json!(format!("https://p.example/{}", "p".repeat(1000)));
        }),
        ("four-byte characters", |c| {
            c["sub"] = json!("s".repeat(255));
            c["name"] = json!("😀".repeat(1000));
            c["email"] = json!(format!("{}@example.com", "é".repeat(240)));
            c["picture"] = json!(format!("https://p.example/{}", "p".repeat(1000)));
        }),
        ("characters JSON must escape", |c| {
            c["sub"] = json!("s".repeat(255));
            c["name"] = json!("\u{1}\"\\".repeat(700));
            c["email"] = json!(format!("{}@example.com", "\"".repeat(240)));
            c["picture"] = json!(format!("https://p.example/{}", "p".repeat(1000)));
        }),
    ];
    for (case, change) in rows {
        let (provider, app) = setup(Faults {
            profile_in_id_token: true,
            claims_patch: Some(patch(change)),
            ..Faults::default()
        })
        .await;
        let attempt = test_provider::begin(&app, &provider, None).await;

        let response = test_provider::arrive(&app, &attempt.callback, &attempt.jar).await;

        assert_eq!(response.status(), 303, "{case}");
        let cookie = set_cookies(&response)
            .into_iter()
            .find(|c| c.starts_with("access_token="))
            .expect("session cookie");
        assert!(
            cookie.len() < 4096,
            "{case}: Set-Cookie is {} bytes",
            cookie.len()
        );
        let mut jar = Jar::default();
        jar.absorb(response.headers());
        assert_eq!(
            app.get("/api/user", &jar).await.status(),
            200,
            "{case}: the minted token verifies"
        );
    }
}

#[tokio::test]
async fn logout_revokes_the_token_so_a_replayed_cookie_or_bearer_gets_401() {
    let (provider, app) = setup(Faults::default()).await;
    let jar = sign_in(&app, &provider).await;
    let token = jar.get("access_token").expect("jwt").to_owned();

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .send()
        .await
        .expect("logout");

    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let removal = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("access_token=;"))
        .expect("the cookie is removed");
    assert!(removal.contains("Max-Age=0"));
    assert_401(
        "replayed cookie",
        app.get("/api/user", &jar).await,
        "invalid token",
        INVALID_CHALLENGE,
    )
    .await;
    assert_401(
        "replayed Bearer",
        api_user(&app, bearer(&token)).await,
        "invalid token",
        INVALID_CHALLENGE,
    )
    .await;
    assert_eq!(app.get("/profile", &jar).await.status(), 303);
}

#[tokio::test]
async fn the_previous_secret_verifies_tokens_but_never_signs_them() {
    let rotated = spawn_app_with(&[
        ("SESSION_SECRET", OTHER_SECRET),
        ("SESSION_SECRET_PREVIOUS", STRONG_SECRET),
    ])
    .await;
    let not_rotated = spawn_app_with(&[("SESSION_SECRET", OTHER_SECRET)]).await;
    let minted_before = mint(&rotated, STRONG_SECRET, &claims(&rotated, 0, 3600));
    let expired_before = mint(&rotated, STRONG_SECRET, &claims(&rotated, 7200, 3600));

    assert_eq!(
        api_user(&rotated, bearer(&minted_before)).await.status(),
        200,
        "a token from before the rotation still works"
    );
    assert_401(
        "expired token from before the rotation",
        api_user(&rotated, bearer(&expired_before)).await,
        "token expired",
        EXPIRED_CHALLENGE,
    )
    .await;
    let without_previous = mint(&not_rotated, STRONG_SECRET, &claims(&not_rotated, 0, 3600));
    assert_401(
        "old secret, no SESSION_SECRET_PREVIOUS",
        api_user(&not_rotated, bearer(&without_previous)).await,
        "invalid token",
        INVALID_CHALLENGE,
    )
    .await;

    // What the rotated app mints is signed with the new secret only.
    let jar = rotated.sign_in("Ada", "ada@example.com").await;
    let fresh = jar.get("access_token").expect("jwt");
    let now = now_secs();
    assert!(
        session_tokens(&rotated.public_url, OTHER_SECRET)
            .verify(fresh, now)
            .is_ok()
    );
    assert!(
        session_tokens(&rotated.public_url, STRONG_SECRET)
            .verify(fresh, now)
            .is_err(),
        "never signed with the previous secret"
    );
}

#[test]
fn weak_or_missing_secrets_are_configuration_errors() {
    let base = [("OIDC_CLIENT_ID", "id"), ("OIDC_CLIENT_SECRET", "s")];
    let rows: &[(&str, &str, &str)] = &[
        ("missing", "SESSION_SECRET", ""),
        (
            "31 bytes",
            "SESSION_SECRET",
            "0123456789abcdefghijklmnopqrstu",
        ),
        (
            "well known",
            "SESSION_SECRET",
            "replace-me-with-the-output-of-openssl-rand-base64-48",
        ),
        (
            "low entropy",
            "SESSION_SECRET",
            "abababababababababababababababababab",
        ),
        ("previous too short", "SESSION_SECRET_PREVIOUS", "short"),
    ];
    for (case, variable, value) in rows {
        let mut vars: Vec<(&str, &str)> = base.to_vec();
        if *variable == "SESSION_SECRET_PREVIOUS" {
            vars.push(("SESSION_SECRET", STRONG_SECRET));
        }
        vars.push((variable, value));
        let map: std::collections::HashMap<&str, &str> = vars.into_iter().collect();
        let err = doorman::config::Config::from_lookup(|n| map.get(n).map(|v| (*v).to_owned()))
            .err()
            .unwrap_or_else(|| panic!("{case}: refused"));
        assert_eq!(err.variable, *variable, "{case}");
        assert!(
            !err.to_string().contains(value) || value.is_empty(),
            "{case}: the message does not echo the secret"
        );
    }
}

#[test]
fn the_binary_refuses_to_start_with_a_weak_secret_and_says_why() {
    let dir = std::env::temp_dir().join(format!("doorman-no-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"))
        .current_dir(&dir)
        .env_clear()
        .env("OIDC_CLIENT_ID", "id")
        .env("OIDC_CLIENT_SECRET", "secret")
        .env("SESSION_SECRET", "too-short")
        .env("BIND_ADDR", "127.0.0.1:0")
        .output()
        .expect("run doorman");

    assert!(!output.status.success(), "non-zero exit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SESSION_SECRET"), "{stderr}");
    assert!(
        stderr.contains("openssl rand"),
        "says how to fix it: {stderr}"
    );
    assert!(!stderr.contains("too-short"), "does not echo the secret");
}

#[tokio::test]
async fn a_well_signed_token_living_longer_than_a_session_is_refused() {
    let app = app().await;
    let forever = mint(&app, STRONG_SECRET, &claims(&app, 0, 100 * 365 * 86400));
    assert_401(
        "a 100-year token",
        api_user(&app, bearer(&forever)).await,
        "invalid token",
        INVALID_CHALLENGE,
    )
    .await;
}

#[tokio::test]
async fn a_logged_out_session_stays_refused_after_a_restart() {
    let database = crate::support::temp_database();
    let vars = [
        ("DATABASE_URL", database.as_str()),
        ("SESSION_SECRET", STRONG_SECRET),
    ];
    let first = spawn_app_with(&vars).await;
    let jar = first.sign_in("Ada", "ada@example.com").await;
    let token = jar.get("access_token").expect("jwt").to_owned();
    let response = first
        .client
        .post(first.url("/auth/logout"))
        .header("cookie", jar.header())
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 303);

    let restarted = spawn_app_with(&vars).await;
    // The token is for the first instance's origin; mint one like it for the second and
    // prove the revocation list, not the origin, refuses it.
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let mut claims = crate::support::jwt_payload(&token);
    claims["iss"] = json!(restarted.public_url);
    claims["aud"] = json!(restarted.public_url);
    let same_session = forge(&header, &claims, STRONG_SECRET.as_bytes());
    assert_401(
        "a revoked session after a restart",
        api_user(&restarted, bearer(&same_session)).await,
        "invalid token",
        INVALID_CHALLENGE,
    )
    .await;
    let mut other = claims.clone();
    other["sid"] = json!("another-session");
    assert_eq!(
        api_user(
            &restarted,
            bearer(&forge(&header, &other, STRONG_SECRET.as_bytes()))
        )
        .await
        .status(),
        200,
        "only that session"
    );
}

#[tokio::test]
async fn an_api_logout_by_cookie_must_come_from_this_site() {
    let app = spawn_app_with(&[]).await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let cross = app
        .client
        .post(app.url("/api/logout"))
        .header("cookie", jar.header())
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("logout");
    assert_eq!(cross.status(), 403);
    assert_eq!(
        app.get("/api/user", &jar).await.status(),
        200,
        "still signed in"
    );
    let same = app
        .client
        .post(app.url("/api/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .send()
        .await
        .expect("logout");
    assert_eq!(same.status(), 204);
    assert_eq!(app.get("/api/user", &jar).await.status(), 401);
}
