//! What the admin API does to accounts: a role change or a deletion ends the user's sessions
//! and tokens at once (an old admin token cannot undo a demotion), the last admin stays one,
//! and bad ids, bad roles and unknown users are refused without changing anything.

use serde_json::json;

use crate::support::accounts::*;
use crate::support::jwt_payload;

#[tokio::test]
async fn a_role_change_ends_the_users_sessions_at_once_and_the_next_sign_in_carries_it() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let admin = app.admin_token("boss@example.com").await;
    let user = app.register("ada_l").await;
    let tokens = app.login("ada_l").await;

    let (status, updated) = app
        .put_roles(&admin, &user["id"], json!(["editor", "admin", "editor"]))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["roles"], json!(["admin", "editor"]));

    let (status, body) =
        status_json(app.get_bearer("/api/user", access_token(&tokens)).await).await;
    assert_api_error(status, &body, 401, "invalid_token");
    let (status, body) = app.refresh(refresh_token(&tokens)).await;
    assert_api_error(status, &body, 401, "invalid_grant");

    let next = app.login("ada_l").await;
    assert_eq!(
        jwt_payload(access_token(&next))["roles"],
        json!(["admin", "editor"])
    );
    assert_eq!(
        app.get_bearer("/api/admin/users", access_token(&next))
            .await
            .status(),
        200,
        "the promoted user is an admin now"
    );

    let (status, _) = app.put_roles(&admin, &user["id"], json!([])).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get_bearer("/api/admin/users", access_token(&next))
            .await
            .status(),
        401,
        "the demoted user's admin token stops working on the next request"
    );
}

#[tokio::test]
async fn a_demoted_admin_cannot_use_an_old_token_to_promote_themselves_back() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let boss = app.admin_token("boss@example.com").await;
    let alice = app.register("alice").await;
    app.put_roles(&boss, &alice["id"], json!(["admin"])).await;
    let alice_token = access_token(&app.login("alice").await).to_owned();

    let (status, _) = app.put_roles(&boss, &alice["id"], json!([])).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .put_roles(&alice_token, &alice["id"], json!(["admin"]))
        .await;
    assert_eq!(status, 401, "her old token is dead");

    // Even a token minted by hand with the admin claim is checked against the store.
    let fresh = access_token(&app.login("alice").await).to_owned();
    let (status, body) = app.put_roles(&fresh, &alice["id"], json!(["admin"])).await;
    assert_api_error(status, &body, 403, "insufficient_role");
}

#[tokio::test]
async fn a_deleted_users_tokens_stop_working_at_once() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let boss = app.admin_token("boss@example.com").await;
    let mallory = app.register("mallory").await;
    app.put_roles(&boss, &mallory["id"], json!(["admin"])).await;
    let tokens = app.login("mallory").await;

    let (status, _) = app.delete_user(&boss, &mallory["id"]).await;
    assert_eq!(status, 204);
    assert_eq!(
        app.get_bearer("/api/admin/users", access_token(&tokens))
            .await
            .status(),
        401
    );
    let (status, _) = app.refresh(refresh_token(&tokens)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_last_admin_can_neither_drop_the_role_nor_be_deleted() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let boss = app.admin_token("boss@example.com").await;
    let (_, users) = status_json(app.get_bearer("/api/admin/users", &boss).await).await;
    let boss_id = users[0]["id"].clone();

    let (status, body) = app.put_roles(&boss, &boss_id, json!(["viewer"])).await;
    assert_api_error(status, &body, 409, "last_admin");
    let (status, body) = app.delete_user(&boss, &boss_id).await;
    assert_api_error(status, &body, 409, "last_admin");
    assert_eq!(
        app.get_bearer("/api/admin/users", &boss).await.status(),
        200,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_admin_api_refuses_bad_ids_bad_roles_and_unknown_users() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let admin = app.admin_token("boss@example.com").await;
    let user = app.register("ada_l").await;
    let roles_url = |id: &str| app.url(&format!("/api/admin/users/{id}/roles"));
    let put = |url: String, body: serde_json::Value| {
        app.client.put(url).bearer_auth(&admin).json(&body).send()
    };
    let id = user["id"].to_string();

    for bad in ["abc", "0", "-1", "1%20OR%201=1", "99999999999999999999"] {
        let (status, error) = status_json(
            put(roles_url(bad), json!({ "roles": [] }))
                .await
                .expect("put"),
        )
        .await;
        assert_api_error(status, &error, 400, "invalid_id");
    }
    for roles in [
        json!(["Admin"]),
        json!(["admin'; DROP TABLE user_roles;--"]),
        json!([""]),
        json!(["x".repeat(33)]),
        json!((0..17).map(|i| format!("r{i}")).collect::<Vec<_>>()),
    ] {
        let (status, error) = status_json(
            put(roles_url(&id), json!({ "roles": roles }))
                .await
                .expect("put"),
        )
        .await;
        assert_api_error(status, &error, 400, "invalid_roles");
    }
    let (status, error) = status_json(
        put(roles_url(&id), json!({ "roles": "admin" }))
            .await
            .expect("put"),
    )
    .await;
    assert_api_error(status, &error, 400, "invalid_request");
    let (status, error) = status_json(
        put(roles_url(&id), json!({ "roles": [], "admin": true }))
            .await
            .expect("put"),
    )
    .await;
    assert_api_error(status, &error, 400, "invalid_request");

    let (status, error) = status_json(
        put(roles_url("424242"), json!({ "roles": [] }))
            .await
            .expect("put"),
    )
    .await;
    assert_api_error(status, &error, 404, "not_found");

    let (_, users) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    let ada = users
        .as_array()
        .expect("list")
        .iter()
        .find(|u| u["username"] == "ada_l")
        .expect("ada is listed");
    assert_eq!(ada["roles"], json!([]), "no refused request changed a role");
}

#[tokio::test]
async fn deleting_a_user_ends_their_password_and_refresh_tokens() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let admin = app.admin_token("boss@example.com").await;
    let user = app.register("ada_l").await;
    let tokens = app.login("ada_l").await;
    let url = app.url(&format!("/api/admin/users/{}", user["id"]));

    let response = app
        .client
        .delete(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");

    assert_eq!(response.status(), 204);
    let (status, error) = app.refresh(refresh_token(&tokens)).await;
    assert_api_error(status, &error, 401, "invalid_grant");
    let (status, _) = status_json(app.login_as("ada_l", PASSWORD).await).await;
    assert_eq!(status, 401);
    let (_, users) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    assert!(
        !users.to_string().contains("ada_l"),
        "gone from the list: {users}"
    );
    let again = app
        .client
        .delete(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete again");
    let (status, error) = status_json(again).await;
    assert_api_error(status, &error, 404, "not_found");
    app.register("ada_l").await;
}
