//! Password sign-in over `POST /api/login` (JSON or HTTP Basic): the bearer pair it returns
//! and the account its JWT carries, the one 401 for every bad credential, and malformed
//! requests refused with a 400 that names the problem.

use serde_json::json;

use crate::support::accounts::*;
use crate::support::{jwt_payload, set_cookies};

#[tokio::test]
async fn login_with_json_returns_a_bearer_pair_whose_jwt_carries_the_account() {
    let app = spawn_accounts_app(&[]).await;
    let user = app.register("ada_l").await;

    let response = app.login_as("ada_l", PASSWORD).await;

    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        set_cookies(&response).is_empty(),
        "API sign-in sets no cookie"
    );
    let (status, tokens) = status_json(response).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(refresh_token(&tokens).len() >= 43, "256 random bits");
    let claims = jwt_payload(access_token(&tokens));
    assert_eq!(claims["sub"], user["id"].to_string());
    assert_eq!(claims["uid"], user["id"]);
    assert_eq!(claims["idp"], app.base, "local accounts are doorman's own");
    assert_eq!(claims["roles"], json!([]));
    assert_eq!(claims["name"], "Test ada_l");
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        3600
    );
}

#[tokio::test]
async fn the_bearer_token_opens_the_protected_api() {
    let app = spawn_accounts_app(&[]).await;
    let user = app.register("ada_l").await;
    let tokens = app.login("ada_l").await;

    let (status, me) = status_json(app.get_bearer("/api/user", access_token(&tokens)).await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["uid"], user["id"]);
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["email"], "ada_l@example.com");

    let (status, resource) = status_json(
        app.get_bearer("/api/protected", access_token(&tokens))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{resource}");
    assert!(
        resource["message"]
            .as_str()
            .is_some_and(|m| m.contains("Test ada_l"))
    );

    let (status, error) = status_json(app.get_bearer("/api/user", "not.a.jwt").await).await;
    assert_api_error(status, &error, 401, "invalid_token");
}

#[tokio::test]
async fn login_with_http_basic_works_and_usernames_are_case_insensitive() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;

    let response = app
        .client
        .post(app.url("/api/login"))
        .basic_auth("ADA_L", Some(PASSWORD))
        .send()
        .await
        .expect("login");

    let (status, tokens) = status_json(response).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
}

#[tokio::test]
async fn bad_credentials_get_the_same_401_whether_or_not_the_user_exists() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;

    let wrong_password = app.login_as("ada_l", "not-the-password-1").await;
    let unknown_user = app.login_as("nobody_here", PASSWORD).await;
    let sql_user = app.login_as("' OR 1=1 --", PASSWORD).await;
    let sql_password = app.login_as("ada_l", "' OR '1'='1").await;
    let huge_user = app.login_as(&"x".repeat(60_000), PASSWORD).await;

    let mut bodies = Vec::new();
    for response in [
        wrong_password,
        unknown_user,
        sql_user,
        sql_password,
        huge_user,
    ] {
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="doorman""#
        );
        let (status, mut body) = status_json(response).await;
        assert_api_error(status, &body, 401, "invalid_credentials");
        body["request_id"] = json!(null);
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "indistinguishable: {bodies:?}"
    );
}

#[tokio::test]
async fn malformed_login_requests_are_400_naming_the_problem() {
    let app = spawn_accounts_app(&[]).await;

    let (status, error) = status_json(
        app.post_json("/api/login", &json!({ "username": "ada_l" }))
            .await,
    )
    .await;
    assert_api_error(status, &error, 400, "invalid_request");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("password"))
    );

    let (status, error) = status_json(
        app.post_json(
            "/api/login",
            &json!({ "username": "ada_l", "password": 12 }),
        )
        .await,
    )
    .await;
    assert_api_error(status, &error, 400, "invalid_request");

    let response = app
        .client
        .post(app.url("/api/login"))
        .header("authorization", "Basic %%%not-base64")
        .send()
        .await
        .expect("login");
    let (status, error) = status_json(response).await;
    assert_api_error(status, &error, 400, "invalid_request");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("Basic"))
    );

    let (status, error) = status_json(app.post_raw("/api/login", None, "").await).await;
    assert_api_error(status, &error, 415, "unsupported_media_type");
}
