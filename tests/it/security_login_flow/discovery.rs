//! Discovery: a provider down at start-up makes sign-in a 503 until discovery succeeds,
//! unusable documents keep it unavailable, and real documents (Google's, an ES256 provider's)
//! get the algorithms they should, S256 PKCE even where `plain` is offered.

use std::time::Duration;

use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use serde_json::{Value, json};

use crate::support::test_provider::{Faults, TestProvider, patch, setup, sign_in, spawn_app_for};
use crate::support::{Jar, TestApp, set_cookies};

#[tokio::test]
async fn a_provider_down_at_start_up_gives_503_until_discovery_succeeds() {
    let (provider, app) = setup(Faults {
        discovery_down: true,
        ..Faults::default()
    })
    .await;

    let health: Value = app
        .get("/healthz", &Jar::default())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["provider"], "discovering", "the service started");
    let response = app.get("/auth/login", &Jar::default()).await;
    assert_eq!(response.status(), 503);
    assert!(set_cookies(&response).is_empty(), "no flow cookie");
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("Sign-in is unavailable")
    );

    provider.set(|f| f.discovery_down = false);
    // The background discovery retries on its own; wait for it to succeed.
    tokio::time::timeout(
        Duration::from_secs(5),
        app.state.sign_in.first().provider.discovered(),
    )
    .await
    .expect("discovery is retried");
    let response = app.get("/auth/login", &Jar::default()).await;
    assert_eq!(response.status(), 303);
    sign_in(&app, &provider).await;
}

#[tokio::test]
async fn unusable_discovery_documents_keep_sign_in_unavailable() {
    let rows: Vec<(&str, Faults)> = vec![
        (
            "issuer mismatch",
            Faults {
                discovery_patch: Some(patch(|d| d["issuer"] = json!("https://evil.example"))),
                ..Faults::default()
            },
        ),
        (
            "token endpoint over plain http, not loopback",
            Faults {
                discovery_patch: Some(patch(|d| {
                    d["token_endpoint"] = json!("http://idp.example.com/token");
                })),
                ..Faults::default()
            },
        ),
        (
            "jwks over plain http, not loopback",
            Faults {
                discovery_patch: Some(patch(|d| {
                    d["jwks_uri"] = json!("http://idp.example.com/jwks");
                })),
                ..Faults::default()
            },
        ),
    ];
    for (case, faults) in rows {
        let (provider, app) = setup(faults).await;

        let response = app.get("/auth/login", &Jar::default()).await;

        assert_eq!(response.status(), 503, "{case}");
        assert!(set_cookies(&response).is_empty(), "{case}: no flow cookie");
        assert_eq!(provider.calls().authorize, 0, "{case}");
        assert_eq!(provider.calls().token, 0, "{case}");
    }
}

const GOOGLE_FIXTURE: &str = include_str!("../fixtures/google-openid-configuration.json");

#[test]
fn googles_published_discovery_document_parses_and_gets_rs256_only() {
    let metadata: CoreProviderMetadata =
        serde_json::from_str(GOOGLE_FIXTURE).expect("Google's metadata parses");

    assert_eq!(metadata.issuer().as_str(), "https://accounts.google.com");
    assert_eq!(
        doorman::oidc::metadata::allowed_algs(&metadata),
        [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    );
    assert!(metadata.token_endpoint().is_some());
    assert!(metadata.userinfo_endpoint().is_some());
}

#[test]
fn an_es256_provider_gets_es256_and_nobody_gets_a_mac_or_none() {
    let mut document: Value = serde_json::from_str(GOOGLE_FIXTURE).expect("json");
    document["id_token_signing_alg_values_supported"] = json!(["ES256", "HS256", "none"]);
    let metadata: CoreProviderMetadata = serde_json::from_value(document).expect("parses");

    assert_eq!(
        doorman::oidc::metadata::allowed_algs(&metadata),
        [CoreJwsSigningAlgorithm::EcdsaP256Sha256]
    );
}

#[test]
fn the_legacy_google_issuer_is_accepted_only_when_the_issuer_is_google() {
    use doorman::config::Issuer;
    use doorman::oidc::issuer_matches;
    let google = Issuer::parse("https://accounts.google.com").expect("valid");
    let other = Issuer::parse("https://idp.example.com").expect("valid");
    assert!(issuer_matches(&google, "https://accounts.google.com"));
    assert!(issuer_matches(&google, "accounts.google.com"));
    assert!(!issuer_matches(
        &google,
        "https://accounts.google.com.evil.example"
    ));
    assert!(!issuer_matches(&other, "accounts.google.com"));
    assert!(!issuer_matches(&other, "idp.example.com"));
}

#[tokio::test]
async fn googles_document_shape_served_locally_signs_in_with_s256_despite_plain_being_offered() {
    let provider = TestProvider::start(Faults::default()).await;
    let rewritten = GOOGLE_FIXTURE
        .replace(
            "https://accounts.google.com/o/oauth2/v2/auth",
            &provider.url("/authorize"),
        )
        .replace(
            "https://oauth2.googleapis.com/token",
            &provider.url("/token"),
        )
        .replace(
            "https://openidconnect.googleapis.com/v1/userinfo",
            &provider.url("/userinfo"),
        )
        .replace(
            "https://www.googleapis.com/oauth2/v3/certs",
            &provider.url("/jwks"),
        )
        .replace("https://accounts.google.com", &provider.issuer);
    provider.set(|f| {
        f.discovery_document = Some(serde_json::from_str(&rewritten).expect("json"));
    });
    let app: TestApp = spawn_app_for(&provider, &[]).await;

    sign_in(&app, &provider).await;

    let authorize = &provider.record().authorize_requests[0];
    assert_eq!(authorize["code_challenge_method"], "S256");
}
