//! The home page's password form (`POST /auth/password`): shown once local accounts exist,
//! signing in with the same session cookie as a provider sign-in, refusing other sites' forms
//! and wrong passwords without echoing them.

use crate::support::accounts::*;
use crate::support::{Jar, jwt_payload, location, set_cookies};

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

    let response = app
        .form_post(Some(&app.base), "ada_l", PASSWORD)
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
        let mut request = app.form_post(origin, "ada_l", PASSWORD);
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

    let response = app
        .form_post(Some(&app.base), "ada_l", "not-the-password-1")
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
