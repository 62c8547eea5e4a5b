//! Self-registration cannot become a back door: off unless switched on, held to the same
//! allow-lists as provider sign-in, bounded per client, and its accounts never pass for
//! provider-verified ones.

use serde_json::json;

use crate::support::accounts::*;
use crate::support::{jwt_payload, spawn_app};

#[tokio::test]
async fn registration_is_closed_unless_an_operator_opens_it() {
    let app = spawn_app().await;
    let (status, error) =
        status_json(app.post_json("/api/register", &registration("eve")).await).await;
    assert_api_error(status, &error, 403, "registration_closed");
}

#[tokio::test]
async fn a_registration_outside_the_allow_lists_is_refused() {
    let app = spawn_accounts_app(&[
        ("ALLOWED_EMAIL_DOMAINS", "corp.example"),
        ("ALLOWED_EMAILS", "guest@partner.example"),
    ])
    .await;
    let eve = json!({
        "username": "eve", "email": "eve@evil.example", "password": PASSWORD, "name": "Eve",
    });
    let (status, error) = status_json(app.post_json("/api/register", &eve).await).await;
    assert_api_error(status, &error, 403, "registration_not_allowed");
    let lookalike = json!({
        "username": "eve2", "email": "ceo@corp.example.evil.example", "password": PASSWORD,
        "name": "Eve",
    });
    let (status, _) = status_json(app.post_json("/api/register", &lookalike).await).await;
    assert_eq!(status, 403);

    for (username, email) in [
        ("ada", "ada@corp.example"),
        ("guest", "guest@partner.example"),
    ] {
        let body = json!({
            "username": username, "email": email, "password": PASSWORD, "name": username,
        });
        let (status, user) = status_json(app.post_json("/api/register", &body).await).await;
        assert_eq!(status, 201, "{email}: {user}");
    }
}

#[tokio::test]
async fn a_local_accounts_token_says_its_email_is_unverified_and_doorman_vouches_for_it() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let tokens = app.login("ada_l").await;
    let claims = jwt_payload(access_token(&tokens));
    assert_eq!(claims["email_verified"], false);
    assert_eq!(
        claims["idp"],
        app.public_url.as_str(),
        "doorman's own issuer"
    );
    assert_eq!(claims["iss"], app.public_url.as_str());
    let (_, me) = status_json(app.get_bearer("/api/user", access_token(&tokens)).await).await;
    assert_eq!(me["email_verified"], false);
}

#[tokio::test]
async fn registrations_per_client_are_rate_limited() {
    let app = spawn_accounts_app(&[("RATE_LIMIT_REGISTER_PER_HOUR", "2")]).await;
    app.register("first").await;
    app.register("second").await;
    let response = app.post_json("/api/register", &registration("third")).await;
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After");
    assert!((1..=1800).contains(&retry), "{retry}");
    let (status, error) = status_json(response).await;
    assert_api_error(status, &error, 429, "rate_limited");

    app.clock.advance(1800);
    app.register("third").await;
}

#[tokio::test]
async fn password_sign_ins_per_client_are_rate_limited() {
    let app = spawn_accounts_app(&[("RATE_LIMIT_LOGIN_PER_MINUTE", "3")]).await;
    app.register("ada_l").await;
    for _ in 0..3 {
        app.login("ada_l").await;
    }
    let (status, error) = status_json(app.login_as("ada_l", PASSWORD).await).await;
    assert_api_error(status, &error, 429, "rate_limited");
    app.clock.advance(20);
    app.login("ada_l").await;
}

#[tokio::test]
async fn an_overlong_password_is_400_and_never_hashed() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let long = "x".repeat(1025);
    let (status, error) = status_json(app.login_as("ada_l", &long).await).await;
    assert_api_error(status, &error, 400, "invalid_request");
    let body = json!({
        "username": "bob_b", "email": "bob@example.com", "password": long, "name": "Bob",
    });
    let (status, error) = status_json(app.post_json("/api/register", &body).await).await;
    assert_api_error(status, &error, 400, "weak_password");
}
