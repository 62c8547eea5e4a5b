//! What a sign-in with a well-behaved provider looks like: the authorization request (code,
//! PKCE S256, fresh state and nonce, the configured redirect URI), client_secret_basic at the
//! token endpoint, profile claims from userinfo or the ID token, an issuer compared exactly
//! (trailing slash included), and two attempts at once.

use serde_json::Value;

use crate::support::test_provider::{
    CLIENT_ID, Calls, EMAIL, Faults, NAME, SUBJECT, TestProvider, arrive, begin, setup, sign_in,
    spawn_app_for,
};
use crate::support::{Jar, location};

#[tokio::test]
async fn the_authorization_request_has_code_pkce_s256_fresh_state_and_nonce_and_the_configured_redirect_uri()
 {
    let (provider, app) = setup(Faults::default()).await;

    // A forged Host or X-Forwarded-Host must not change the redirect URI.
    let response = app
        .client
        .get(app.url("/auth/login"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303);
    let first = reqwest::Url::parse(&location(&response)).expect("provider URL");
    let (second, _) = app.start_login(None).await;

    let params = |url: &reqwest::Url| -> std::collections::HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    };
    let (a, b) = (params(&first), params(&second));
    assert!(first.as_str().starts_with(&provider.url("/authorize?")));
    assert_eq!(a["response_type"], "code");
    assert_eq!(a["client_id"], CLIENT_ID);
    assert_eq!(a["redirect_uri"], app.url("/auth/callback"));
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(a["code_challenge"].len(), 43);
    let scopes: Vec<&str> = a["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert!(scopes.contains(&scope), "scope {scope}");
    }
    for name in ["state", "nonce"] {
        // 128 bits are 22 base64url characters.
        assert!(a[name].len() >= 22, "{name} has at least 128 bits");
        assert_ne!(a[name], b[name], "{name} is fresh per attempt");
    }
    assert_ne!(a["code_challenge"], b["code_challenge"]);
}

#[tokio::test]
async fn a_well_behaved_provider_signs_in_with_basic_auth_pkce_and_profile_claims_from_userinfo() {
    let (provider, app) = setup(Faults::default()).await;

    let jar = sign_in(&app, &provider).await;

    let record = provider.record();
    let basic = &record.token_authorization[0];
    assert!(basic.starts_with("Basic "), "client_secret_basic: {basic}");
    assert_eq!(
        record.userinfo_authorization,
        [format!("Bearer {}", record.access_tokens[0])],
        "userinfo is called with the Bearer header, once"
    );
    assert_eq!(
        provider.calls(),
        Calls {
            discovery: 1,
            jwks: 1,
            authorize: 1,
            token: 1,
            userinfo: 1,
            refresh: 0,
            untrusted: 0
        }
    );
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["sub"], SUBJECT);
    assert_eq!(
        user["idp"], provider.issuer,
        "users are keyed by (iss, sub)"
    );
    assert_eq!(user["name"], NAME, "the name came from userinfo");
    assert_eq!(user["email"], EMAIL);
}

#[tokio::test]
async fn an_issuer_with_a_trailing_slash_is_discovered_and_compared_exactly() {
    let provider = TestProvider::start_with_issuer(Faults::default(), "/").await;
    assert!(provider.issuer.ends_with('/'));
    let app = spawn_app_for(&provider, &[]).await;

    let jar = sign_in(&app, &provider).await;
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["idp"], provider.issuer, "kept exactly, slash included");

    // The same provider configured without the slash is another issuer: discovery refuses.
    let trimmed = provider.issuer.trim_end_matches('/').to_owned();
    let other = spawn_app_for(&provider, &[("OIDC_ISSUER_URL", trimmed.as_str())]).await;
    let response = other.get("/auth/login", &Jar::default()).await;
    assert_eq!(response.status(), 503, "discovery names another issuer");
}

#[tokio::test]
async fn profile_claims_in_the_id_token_need_no_userinfo_call() {
    let (provider, app) = setup(Faults {
        profile_in_id_token: true,
        ..Faults::default()
    })
    .await;

    let jar = sign_in(&app, &provider).await;

    assert_eq!(provider.calls().userinfo, 0);
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["name"], NAME);
}

#[tokio::test]
async fn two_attempts_at_once_both_succeed_in_any_order() {
    let (provider, app) = setup(Faults::default()).await;
    let first = begin(&app, &provider, Some("/first")).await;
    let second = begin(&app, &provider, Some("/second")).await;
    let mut both = first.jar.clone();
    both.0.extend(second.jar.0.clone());

    let second_done = arrive(&app, &second.callback, &both).await;
    let first_done = arrive(&app, &first.callback, &both).await;

    assert_eq!(second_done.status(), 303);
    assert_eq!(location(&second_done), "/second");
    assert_eq!(first_done.status(), 303);
    assert_eq!(location(&first_done), "/first");
}
