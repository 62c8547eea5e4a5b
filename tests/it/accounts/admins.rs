//! Who is an admin: `ADMIN_EMAILS` makes a verified provider sign-in one (at the first sign-in
//! only, so a demotion sticks) and never a self-registered email; everybody else gets a 403
//! from the admin API and page, and nobody signed in is sent to sign in.

use serde_json::json;

use crate::support::accounts::*;
use crate::support::{Jar, jwt_payload, location};

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

    let (status, _) = app.put_roles(&boss, &second_id, json!([])).await;
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
