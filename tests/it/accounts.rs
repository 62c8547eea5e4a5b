//! Local accounts and API clients end to end, against a real SQLite file: registration,
//! password sign-in (JSON, Basic, the home page's form), refresh-token rotation, sign-out,
//! roles and the admin API, `ADMIN_EMAILS`, and the `create-user` command.

use crate::support::accounts::*;
use crate::support::{Jar, TestApp, jwt_payload, location, set_cookies};
use reqwest::StatusCode;
use serde_json::{Value, json};

// ---------- registration ----------

#[tokio::test]
async fn registration_creates_a_local_account_and_never_returns_the_hash() {
    let app = spawn_accounts_app(&[]).await;

    let response = app.post_json("/api/register", &registration("ada_l")).await;

    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, user) = status_json(response).await;
    assert_eq!(status, 201, "{user}");
    assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(user["kind"], "local");
    assert_eq!(user["username"], "ada_l");
    assert_eq!(user["email"], "ada_l@example.com");
    assert_eq!(user["name"], "Test ada_l");
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["email_verified"], false, "nobody checked this email");
    let text = user.to_string();
    assert!(!text.contains("password"), "no password field: {text}");
    assert!(!text.contains("argon2"), "no hash: {text}");
    assert!(!text.contains(PASSWORD));
}

#[tokio::test]
async fn registration_refuses_each_bad_field_with_a_400_that_names_it() {
    let app = spawn_accounts_app(&[]).await;
    let base = registration("grace");
    let cases = [
        ("username", json!("ab"), "invalid_username"),
        ("username", json!("has space"), "invalid_username"),
        ("username", json!("x' OR '1'='1"), "invalid_username"),
        ("username", json!("a".repeat(33)), "invalid_username"),
        ("email", json!("not-an-email"), "invalid_email"),
        ("email", json!("a@b"), "invalid_email"),
        ("name", json!("   "), "invalid_name"),
        ("name", json!("x".repeat(101)), "invalid_name"),
        ("name", json!("tab\tinside"), "invalid_name"),
        ("password", json!("short"), "weak_password"),
        ("password", json!("password1234"), "weak_password"),
        ("password", json!("xx-grace-is-me-xx"), "weak_password"),
        ("password", json!("abababababababab"), "weak_password"),
        ("password", json!("é".repeat(1000)), "weak_password"),
    ];
    for (field, value, code) in cases {
        let mut body = base.clone();
        body[field] = value.clone();

        let (status, error) = status_json(app.post_json("/api/register", &body).await).await;

        assert_api_error(status, &error, 400, code);
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains(field),
            "{field}={value}: the message names the field: {message}"
        );
    }
    let (status, _) = status_json(app.post_json("/api/register", &base).await).await;
    assert_eq!(status, 201, "none of the refused attempts took the name");
}

#[tokio::test]
async fn the_weak_password_message_says_what_is_wrong() {
    let app = spawn_accounts_app(&[]).await;
    for (password, says) in [
        ("short", "at least 12"),
        ("Password1234", "too common"),
        ("my-name-is-grace!", "username"),
    ] {
        let mut body = registration("grace");
        body["password"] = json!(password);
        let (_, error) = status_json(app.post_json("/api/register", &body).await).await;
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(says)),
            "{password}: {error}"
        );
    }
}

#[tokio::test]
async fn a_taken_username_is_409_whatever_its_case() {
    let app = spawn_accounts_app(&[]).await;
    app.register("linus").await;

    for taken in ["linus", "LINUS", " Linus "] {
        let mut body = registration("other");
        body["username"] = json!(taken);
        let (status, error) = status_json(app.post_json("/api/register", &body).await).await;
        assert_api_error(status, &error, 409, "username_taken");
    }
}

#[tokio::test]
async fn registration_can_be_switched_off() {
    let app = spawn_accounts_app(&[("ALLOW_REGISTRATION", "false")]).await;

    let (status, error) =
        status_json(app.post_json("/api/register", &registration("ada_l")).await).await;

    assert_api_error(status, &error, 403, "registration_closed");
    let (status, _) = status_json(app.login_as("ada_l", PASSWORD).await).await;
    assert_eq!(status, 401, "no account was made");
}

// ---------- password sign-in ----------

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

// ---------- refresh and sign-out ----------

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

// ---------- roles and administration ----------

#[tokio::test]
async fn admin_emails_make_a_verified_provider_sign_in_an_admin() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "Boss@Example.com, other@example.com")]).await;

    let jar = app.sign_in("The Boss", "boss@example.com").await;

    let claims = jwt_payload(jar.get("access_token").expect("jwt"));
    assert_eq!(claims["roles"], json!(["admin"]));
    let me = app.get("/api/user", &jar).await;
    let (status, me) = status_json(me).await;
    assert_eq!(status, 200);
    assert_eq!(me["roles"], json!(["admin"]));
    assert!(me["uid"].as_i64().is_some(), "recorded in the store");

    let (status, users) = status_json(app.get("/api/admin/users", &jar).await).await;
    assert_eq!(status, 200, "{users}");
    let users = users.as_array().expect("a list");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["kind"], "oidc");
    assert_eq!(users[0]["email"], "boss@example.com");
    assert_eq!(users[0]["email_verified"], true);
    assert_eq!(users[0]["roles"], json!(["admin"]));
    assert!(
        users[0]["issuer"]
            .as_str()
            .is_some_and(|i| i.ends_with("/dev-oidc"))
    );
}

#[tokio::test]
async fn admin_emails_never_apply_to_a_self_registered_unverified_email() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let mut impostor = registration("boss");
    impostor["email"] = json!("boss@example.com");

    let (status, user) = status_json(app.post_json("/api/register", &impostor).await).await;

    assert_eq!(status, 201, "{user}");
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["email_verified"], false);
    let tokens = app.login("boss").await;
    assert_eq!(jwt_payload(access_token(&tokens))["roles"], json!([]));
    assert_eq!(
        app.get_bearer("/api/admin/users", access_token(&tokens))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn non_admins_get_403_insufficient_role_on_the_admin_api() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    app.register("ada_l").await;
    let tokens = app.login("ada_l").await;
    let provider_user = app.sign_in("Grace", "grace@example.com").await;

    let (status, error) = status_json(
        app.get_bearer("/api/admin/users", access_token(&tokens))
            .await,
    )
    .await;
    assert_api_error(status, &error, 403, "insufficient_role");
    assert_eq!(error["required"], "admin");

    let (status, error) = status_json(app.get("/api/admin/users", &provider_user).await).await;
    assert_api_error(status, &error, 403, "insufficient_role");

    for request in [
        app.client
            .put(app.url("/api/admin/users/1/roles"))
            .json(&json!({ "roles": ["admin"] })),
        app.client.delete(app.url("/api/admin/users/1")),
    ] {
        let response = request
            .bearer_auth(access_token(&tokens))
            .send()
            .await
            .expect("admin call");
        let (status, error) = status_json(response).await;
        assert_api_error(status, &error, 403, "insufficient_role");
    }

    let (status, error) = status_json(app.get("/api/admin/users", &Jar::default()).await).await;
    assert_api_error(status, &error, 401, "unauthorized");
}

#[tokio::test]
async fn the_admin_page_is_for_admins_a_403_page_for_others_and_sign_in_for_nobody() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let mut user = registration("bobby");
    user["name"] = json!("Bobby <b>Tables</b>'); DROP TABLE users;--");
    let (status, _) = status_json(app.post_json("/api/register", &user).await).await;
    assert_eq!(status, 201);
    let admin = app.sign_in("The Boss", "boss@example.com").await;
    let someone = app.sign_in("Grace", "grace@example.com").await;

    let page = app.get("/admin", &admin).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("html");
    assert!(html.contains("<code>bobby</code>"), "{html}");
    assert!(html.contains("boss@example.com"));
    assert!(html.contains(r#"<span class="badge">admin</span>"#));
    assert!(
        html.contains("Bobby &#60;b&#62;Tables&#60;/b&#62;")
            || html.contains("Bobby &lt;b&gt;Tables"),
        "names are escaped: {html}"
    );
    assert!(!html.contains("<b>Tables"));

    let refused = app.get("/admin", &someone).await;
    assert_eq!(refused.status(), 403);
    let html = refused.text().await.expect("html");
    assert!(html.contains("Not allowed"), "{html}");
    assert!(!html.contains("bobby"), "no user data on the refusal");

    let signed_out = app.get("/admin", &Jar::default()).await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(location(&signed_out), "/auth/login?next=%2Fadmin");
}

async fn put_roles(app: &TestApp, admin: &str, id: &Value, roles: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/admin/users/{id}/roles")))
        .bearer_auth(admin)
        .json(&json!({ "roles": roles }))
        .send()
        .await
        .expect("set roles");
    status_json(response).await
}

async fn delete_user(app: &TestApp, admin: &str, id: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .delete(app.url(&format!("/api/admin/users/{id}")))
        .bearer_auth(admin)
        .send()
        .await
        .expect("delete");
    status_json(response).await
}

#[tokio::test]
async fn a_role_change_ends_the_users_sessions_at_once_and_the_next_sign_in_carries_it() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let admin = app.admin_token("boss@example.com").await;
    let user = app.register("ada_l").await;
    let tokens = app.login("ada_l").await;

    let (status, updated) = put_roles(
        &app,
        &admin,
        &user["id"],
        json!(["editor", "admin", "editor"]),
    )
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

    let (status, _) = put_roles(&app, &admin, &user["id"], json!([])).await;
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
    put_roles(&app, &boss, &alice["id"], json!(["admin"])).await;
    let alice_token = access_token(&app.login("alice").await).to_owned();

    let (status, _) = put_roles(&app, &boss, &alice["id"], json!([])).await;
    assert_eq!(status, 200);
    let (status, _) = put_roles(&app, &alice_token, &alice["id"], json!(["admin"])).await;
    assert_eq!(status, 401, "her old token is dead");

    // Even a token minted by hand with the admin claim is checked against the store.
    let fresh = access_token(&app.login("alice").await).to_owned();
    let (status, body) = put_roles(&app, &fresh, &alice["id"], json!(["admin"])).await;
    assert_api_error(status, &body, 403, "insufficient_role");
}

#[tokio::test]
async fn a_deleted_users_tokens_stop_working_at_once() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let boss = app.admin_token("boss@example.com").await;
    let mallory = app.register("mallory").await;
    put_roles(&app, &boss, &mallory["id"], json!(["admin"])).await;
    let tokens = app.login("mallory").await;

    let (status, _) = delete_user(&app, &boss, &mallory["id"]).await;
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
async fn admin_emails_grant_admin_at_the_first_sign_in_only_so_a_demotion_sticks() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com,second@example.com")]).await;
    let boss = app.admin_token("boss@example.com").await;
    let second = app.admin_token("second@example.com").await;
    let (_, users) = status_json(app.get_bearer("/api/admin/users", &boss).await).await;
    let second_id = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "second@example.com")
        .expect("second")["id"]
        .clone();

    let (status, _) = put_roles(&app, &boss, &second_id, json!([])).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get_bearer("/api/admin/users", &second).await.status(),
        401
    );
    let again = app.admin_token("second@example.com").await;
    assert_eq!(jwt_payload(&again)["roles"], json!([]), "no admin again");
    assert_eq!(
        app.get_bearer("/api/admin/users", &again).await.status(),
        403
    );
}

#[tokio::test]
async fn the_last_admin_can_neither_drop_the_role_nor_be_deleted() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let boss = app.admin_token("boss@example.com").await;
    let (_, users) = status_json(app.get_bearer("/api/admin/users", &boss).await).await;
    let boss_id = users[0]["id"].clone();

    let (status, body) = put_roles(&app, &boss, &boss_id, json!(["viewer"])).await;
    assert_api_error(status, &body, 409, "last_admin");
    let (status, body) = delete_user(&app, &boss, &boss_id).await;
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

// ---------- the home page's password form ----------

fn form_post(
    app: &crate::support::TestApp,
    origin: Option<&str>,
    username: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    let mut request = app
        .client
        .post(app.url("/auth/password"))
        .form(&[("username", username), ("password", password)]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request
}

#[tokio::test]
async fn the_password_form_appears_only_once_local_accounts_exist() {
    let app = spawn_accounts_app(&[]).await;

    let html = app
        .get("/", &Jar::default())
        .await
        .text()
        .await
        .expect("html");
    assert!(!html.contains(r#"action="/auth/password""#), "{html}");
    assert!(html.contains(r#"id="sign-in""#));

    app.sign_in("Grace", "grace@example.com").await;
    let html = app
        .get("/", &Jar::default())
        .await
        .text()
        .await
        .expect("html");
    assert!(
        !html.contains(r#"action="/auth/password""#),
        "provider users are not local accounts"
    );

    app.register("ada_l").await;
    let html = app
        .get("/", &Jar::default())
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains(r#"<form class="stack login-form" method="post" action="/auth/password">"#)
    );
    assert!(html.contains(r#"name="username""#));
    assert!(html.contains(r#"name="password" type="password""#));
    assert!(
        html.contains(r#"id="sign-in""#),
        "beside the provider button"
    );
}

#[tokio::test]
async fn the_password_form_signs_in_with_the_same_session_cookie() {
    let app = spawn_accounts_app(&[]).await;
    let user = app.register("ada_l").await;

    let response = form_post(&app, Some(&app.base), "ada_l", PASSWORD)
        .send()
        .await
        .expect("form");

    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("access_token="))
        .expect("session cookie");
    let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"]
    );
    let mut jar = Jar::default();
    jar.absorb(response.headers());
    let claims = jwt_payload(jar.get("access_token").expect("jwt"));
    assert_eq!(claims["uid"], user["id"]);

    let html = app.get("/", &jar).await.text().await.expect("html");
    assert!(
        html.contains(r#"<span id="user-name">Test ada_l</span>"#),
        "{html}"
    );
    assert!(
        !html.contains(r#"action="/auth/password""#),
        "signed in: no form"
    );
    let (status, me) = status_json(app.get("/api/user", &jar).await).await;
    assert_eq!(status, 200);
    assert_eq!(me["uid"], user["id"]);
}

#[tokio::test]
async fn the_password_form_refuses_other_sites_and_wrong_passwords() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;

    for (origin, fetch_site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let mut request = form_post(&app, origin, "ada_l", PASSWORD);
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.expect("form");
        assert_eq!(response.status(), 403, "{origin:?} {fetch_site:?}");
        assert!(
            set_cookies(&response).is_empty(),
            "no session for a forged form"
        );
        let html = response.text().await.expect("html");
        assert!(html.contains("another site"), "{html}");
    }

    let response = form_post(&app, Some(&app.base), "ada_l", "not-the-password-1")
        .send()
        .await
        .expect("form");
    assert_eq!(response.status(), 401);
    assert!(set_cookies(&response).is_empty());
    let html = response.text().await.expect("html");
    assert!(html.contains("Wrong username or password"));
    assert!(
        !html.contains("not-the-password-1"),
        "the password is not echoed"
    );
}

// ---------- the create-user command ----------

fn create_user_command(database_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "off")
        .current_dir(std::env::temp_dir())
        .arg("create-user");
    command
}

#[tokio::test]
async fn create_user_makes_an_account_that_can_sign_in_with_its_roles() {
    let database = crate::support::temp_database();

    let output = create_user_command(&database)
        .args(["--username", "ci-bot", "--email", "ci@example.com"])
        .args(["--name", "CI Bot", "--role", "admin", "--role", "deployer"])
        .env("DOORMAN_PASSWORD", PASSWORD)
        .output()
        .expect("run doorman create-user");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}: {stdout} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("created user"), "{stdout}");
    assert!(stdout.contains("admin, deployer"), "{stdout}");
    assert!(!stdout.contains(PASSWORD));

    let app =
        spawn_accounts_app(&[("DATABASE_URL", &database), ("ALLOW_REGISTRATION", "false")]).await;
    let tokens = app.login("ci-bot").await;
    let claims = jwt_payload(access_token(&tokens));
    assert_eq!(claims["roles"], json!(["admin", "deployer"]));
    assert_eq!(claims["name"], "CI Bot");
    let (status, users) = status_json(
        app.get_bearer("/api/admin/users", access_token(&tokens))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users[0]["username"], "ci-bot");
}

#[tokio::test]
async fn create_user_reads_the_password_from_stdin() {
    use std::io::Write;
    let database = crate::support::temp_database();

    let mut child = create_user_command(&database)
        .args(["--username", "oncall", "--email", "oncall@example.com"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn doorman create-user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write the password");
    let output = child.wait_with_output().expect("wait");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let app = spawn_accounts_app(&[("DATABASE_URL", &database)]).await;
    let tokens = app.login("oncall").await;
    assert_eq!(jwt_payload(access_token(&tokens))["name"], "oncall");
}

#[tokio::test]
async fn create_user_refuses_weak_passwords_bad_input_and_taken_names_with_a_message() {
    let database = crate::support::temp_database();
    let run = |args: &[&str], password: &str| {
        create_user_command(&database)
            .args(args)
            .env("DOORMAN_PASSWORD", password)
            .output()
            .expect("run doorman create-user")
    };
    let ok = ["--username", "ci-bot", "--email", "ci@example.com"];

    let cases: [(&[&str], &str, &str); 5] = [
        (&ok, "short", "at least 12 characters"),
        (&ok, "password1234", "too common"),
        (&["--username", "ci-bot"], PASSWORD, "--email is required"),
        (
            &[
                "--username",
                "ci-bot",
                "--email",
                "ci@example.com",
                "--role",
                "Admin!",
            ],
            PASSWORD,
            "--role Admin!",
        ),
        (
            &["--username", "x' OR '1'='1", "--email", "ci@example.com"],
            PASSWORD,
            "username must be",
        ),
    ];
    for (args, password, says) in cases {
        let output = run(args, password);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "the password is never printed");
    }

    assert!(run(&ok, PASSWORD).status.success());
    let taken = run(&ok, PASSWORD);
    assert!(!taken.status.success(), "a taken username fails");
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("username_taken"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
}
