//! Registering a local account over `POST /api/register`: what is stored and answered (never
//! the hash), each refused field named in its 400, taken names whatever their case, and the
//! switch that closes registration.

use serde_json::json;

use crate::support::accounts::*;

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
