//! Refresh-token rotation (a reused token revokes its whole family) and sign-out over
//! `POST /api/logout`, with and without a refresh token in the body.

use serde_json::json;

use crate::support::accounts::*;
use crate::support::jwt_payload;

#[tokio::test]
async fn refresh_rotates_the_pair_and_reuse_revokes_the_whole_family() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let first = app.login("ada_l").await;
    let other_login = app.login("ada_l").await;

    let (status, second) = app.refresh(refresh_token(&first)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"], 3600);
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_ne!(
        jwt_payload(access_token(&second))["jti"],
        jwt_payload(access_token(&first))["jti"]
    );
    let (status, _) = status_json(app.get_bearer("/api/user", access_token(&second)).await).await;
    assert_eq!(status, 200);

    let (status, error) = app.refresh(refresh_token(&first)).await;
    assert_api_error(status, &error, 401, "invalid_grant");

    let (status, error) = app.refresh(refresh_token(&second)).await;
    assert_api_error(status, &error, 401, "invalid_grant");
    assert_eq!(
        app.refresh(refresh_token(&second)).await.0,
        401,
        "the successor died with its family"
    );

    let (status, _) = app.refresh(refresh_token(&other_login)).await;
    assert_eq!(status, 200, "another login's family is untouched");
}

#[tokio::test]
async fn made_up_empty_or_huge_refresh_tokens_are_invalid_grant() {
    let app = spawn_accounts_app(&[]).await;
    for token in [String::new(), "made-up".to_owned(), "A".repeat(5000)] {
        let (status, error) = app.refresh(&token).await;
        assert_api_error(status, &error, 401, "invalid_grant");
    }
    let (status, error) = status_json(app.post_json("/api/token/refresh", &json!({})).await).await;
    assert_api_error(status, &error, 400, "invalid_request");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("refresh_token"))
    );
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_the_refresh_family() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let tokens = app.login("ada_l").await;
    let (_, rotated) = app.refresh(refresh_token(&tokens)).await;

    let response = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(access_token(&rotated))
        .json(&json!({ "refresh_token": refresh_token(&rotated) }))
        .send()
        .await
        .expect("logout");

    assert_eq!(response.status(), 204);
    let (status, error) =
        status_json(app.get_bearer("/api/user", access_token(&rotated)).await).await;
    assert_api_error(status, &error, 401, "invalid_token");
    let (status, error) = app.refresh(refresh_token(&rotated)).await;
    assert_api_error(status, &error, 401, "invalid_grant");

    let again = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(access_token(&rotated))
        .send()
        .await
        .expect("logout again");
    assert_eq!(again.status(), 204, "signing out twice is not an error");
}

#[tokio::test]
async fn logout_without_a_body_ends_the_whole_session_refresh_tokens_included() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let tokens = app.login("ada_l").await;
    let other_session = app.login("ada_l").await;

    let response = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(access_token(&tokens))
        .send()
        .await
        .expect("logout");

    assert_eq!(response.status(), 204);
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        401
    );
    let (status, body) = app.refresh(refresh_token(&tokens)).await;
    assert_api_error(status, &body, 401, "invalid_grant");
    assert_eq!(
        app.get_bearer("/api/user", access_token(&other_session))
            .await
            .status(),
        200,
        "another sign-in of the same account is another session"
    );
}

#[tokio::test]
async fn logout_with_a_bad_body_is_refused_and_revokes_nothing() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let tokens = app.login("ada_l").await;

    let response = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(access_token(&tokens))
        .header("content-type", "text/plain")
        .body(refresh_token(&tokens).to_owned())
        .send()
        .await
        .expect("logout");
    let (status, error) = status_json(response).await;
    assert_api_error(status, &error, 415, "unsupported_media_type");

    let response = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(access_token(&tokens))
        .json(&json!({ "refresh_token": refresh_token(&tokens), "everything": true }))
        .send()
        .await
        .expect("logout");
    let (status, error) = status_json(response).await;
    assert_api_error(status, &error, 400, "invalid_request");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("everything"))
    );

    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        200
    );
}
