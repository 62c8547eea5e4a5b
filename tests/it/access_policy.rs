//! Who may sign in through the provider: the optional allow-lists, end to end through the
//! development provider (which vouches for the email it is given, as verified).

use crate::support::{Jar, location, set_cookies, spawn_app_with};

/// Runs a sign-in as `email` and returns the callback's response.
async fn sign_in_as(app: &crate::support::TestApp, email: &str) -> reqwest::Response {
    let (authorize, jar) = app.start_login(None).await;
    let callback = app
        .dev_provider_approves(&authorize, "Someone", email)
        .await;
    app.get_absolute(&callback, &jar).await
}

fn sets_a_session(response: &reqwest::Response) -> bool {
    set_cookies(response)
        .iter()
        .any(|c| c.starts_with("access_token=") && !c.contains("Max-Age=0"))
}

#[tokio::test]
async fn an_email_domain_allow_list_admits_its_domain_and_refuses_others_with_403() {
    let app = spawn_app_with(&[("ALLOWED_EMAIL_DOMAINS", "example.com, @example.org")]).await;

    for email in ["ada@example.com", "grace@EXAMPLE.org"] {
        let admitted = sign_in_as(&app, email).await;
        assert_eq!(admitted.status(), 303, "{email}");
        assert_eq!(location(&admitted), "/");
        assert!(sets_a_session(&admitted), "{email}");
    }

    for email in [
        "eve@evil.test",
        "eve@example.com.evil.test",
        "eve@sub.example.com",
    ] {
        let refused = sign_in_as(&app, email).await;
        assert_eq!(refused.status(), 403, "{email}");
        assert!(!sets_a_session(&refused), "{email}: no session");
        let html = refused.text().await.expect("html");
        assert!(html.contains("<h1>Not allowed to sign in</h1>"), "{email}");
        assert!(!html.contains("evil"), "the page does not echo the email");
    }
}

#[tokio::test]
async fn an_email_allow_list_admits_exactly_those_emails() {
    let app = spawn_app_with(&[("ALLOWED_EMAILS", "ada@example.com")]).await;
    assert_eq!(sign_in_as(&app, "Ada@Example.com").await.status(), 303);
    assert_eq!(sign_in_as(&app, "grace@example.com").await.status(), 403);
}

#[tokio::test]
async fn a_hosted_domain_allow_list_refuses_accounts_without_a_matching_hd_claim() {
    // The development provider never sends `hd`, like a personal Google account.
    let app = spawn_app_with(&[("ALLOWED_HOSTED_DOMAINS", "example.com")]).await;
    let refused = sign_in_as(&app, "ada@example.com").await;
    assert_eq!(refused.status(), 403);
    assert!(!sets_a_session(&refused));
}

#[tokio::test]
async fn without_allow_lists_everybody_the_provider_vouches_for_may_sign_in() {
    let app = spawn_app_with(&[]).await;
    let response = sign_in_as(&app, "anyone@anywhere.test").await;
    assert_eq!(response.status(), 303);
    let mut jar = Jar::default();
    jar.absorb(response.headers());
    assert_eq!(app.get("/api/user", &jar).await.status(), 200);
}
