//! The development provider signs anybody in as anybody, so it answers only a browser on this
//! machine talking to doorman directly: `PUBLIC_URL`'s host, no forwarding headers.

use crate::support::{Jar, spawn_app};

#[tokio::test]
async fn a_newcomer_with_no_configuration_still_signs_in() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    assert_eq!(app.get("/api/user", &jar).await.status(), 200);
}

#[tokio::test]
async fn requests_through_a_proxy_or_for_another_host_are_refused_with_a_page() {
    let app = spawn_app().await;
    let (authorize, _) = app.start_login(None).await;
    let cases: [(&str, &str, &str); 5] = [
        ("host", "auth.public.example", "another Host"),
        ("x-forwarded-for", "203.0.113.9", "X-Forwarded-For"),
        (
            "x-forwarded-host",
            "auth.public.example",
            "X-Forwarded-Host",
        ),
        ("forwarded", "for=203.0.113.9", "Forwarded"),
        ("x-real-ip", "203.0.113.9", "X-Real-IP"),
    ];
    for (name, value, case) in cases {
        for url in [
            authorize.to_string(),
            app.url("/dev-oidc/.well-known/openid-configuration"),
            app.url("/auth/login"),
            app.url("/auth/callback?code=x&state=y"),
        ] {
            let response = app
                .client
                .get(&url)
                .header(name, value)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 403, "{case} on {url}");
            let html = response.text().await.expect("page");
            assert!(
                html.contains("Development sign-in refused"),
                "{case}: {html}"
            );
        }
    }
    let token = app
        .client
        .post(app.url("/dev-oidc/token"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("token");
    assert_eq!(token.status(), 403, "the token endpoint too");
    assert_eq!(
        app.get("/", &Jar::default()).await.status(),
        200,
        "other pages are not affected"
    );
}
