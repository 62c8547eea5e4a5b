//! The whole sign-in flow against the built-in development provider, as a user sees it.

use crate::support::{Jar, jwt_payload, location, set_cookies, spawn_app};

#[tokio::test]
async fn login_redirects_to_the_provider_with_pkce_state_nonce_and_the_exact_redirect_uri() {
    let app = spawn_app().await;

    let (authorize, jar) = app.start_login(Some("/profile")).await;

    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(authorize.path(), "/dev-oidc/authorize");
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "doorman-development");
    assert_eq!(params["redirect_uri"], app.url("/auth/callback"));
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43, "a SHA-256 challenge");
    let scopes: Vec<&str> = params["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert!(scopes.contains(&scope), "scope {scope}");
    }
    assert!(
        params["state"].len() >= 22,
        "state carries at least 128 bits"
    );
    assert!(
        params["nonce"].len() >= 22,
        "nonce carries at least 128 bits"
    );
    assert_eq!(jar.0.len(), 1, "exactly one flow cookie");
    let (name, value) = jar.0.iter().next().expect("flow cookie");
    assert!(name.starts_with("doorman_flow_"));
    assert!(
        !value.contains(&params["state"]),
        "the flow cookie is encrypted"
    );
}

#[tokio::test]
async fn the_flow_cookie_is_httponly_lax_and_short_lived() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/auth/login"))
        .send()
        .await
        .expect("login");
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    let cookie = &cookies[0];
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(cookie.contains("Max-Age=600"));
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_completed_sign_in_sets_the_session_cookie_and_returns_to_next() {
    let app = spawn_app().await;
    let (authorize, mut jar) = app.start_login(Some("/profile?tab=1")).await;
    let callback = app
        .dev_provider_approves(&authorize, "Ada Lovelace", "ada@example.com")
        .await;

    let response = app.get_absolute(&callback, &jar).await;

    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/profile?tab=1");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("access_token="))
        .expect("session cookie");
    let attributes: Vec<&str> = session.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"]
    );
    assert!(session.len() < 4096);
    jar.absorb(response.headers());
    assert!(
        !jar.0.keys().any(|k| k.starts_with("doorman_flow_")),
        "the flow cookie is consumed"
    );

    let claims = jwt_payload(jar.get("access_token").expect("jwt"));
    assert_eq!(claims["iss"], app.base);
    assert_eq!(claims["aud"], app.base);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["idp"], app.url("/dev-oidc"));
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(claims["jti"].as_str().is_some_and(|s| s.len() >= 32));
    let iat = claims["iat"].as_u64().expect("iat");
    assert_eq!(claims["exp"].as_u64().expect("exp") - iat, 3600);
}

#[tokio::test]
async fn the_jwt_header_pins_hs256() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let jwt = jar.get("access_token").expect("jwt");
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().expect("header"))
        .expect("base64");
    let header: serde_json::Value = serde_json::from_slice(&header).expect("json");
    assert_eq!(header["alg"], "HS256");
}

#[tokio::test]
async fn the_home_page_shows_sign_in_when_signed_out_and_the_person_when_signed_in() {
    let app = spawn_app().await;

    let signed_out = app.get("/", &Jar::default()).await;
    assert_eq!(signed_out.status(), 200);
    let html = signed_out.text().await.expect("html");
    assert!(html.contains(r#"id="sign-in""#));
    assert!(
        html.contains("Development sign-in"),
        "the development banner is visible"
    );

    let jar = app.sign_in("Grace Hopper", "grace@example.com").await;
    let html = app.get("/", &jar).await.text().await.expect("html");
    assert!(html.contains(r#"<span id="user-name">Grace Hopper</span>"#));
    assert!(html.contains(r#"<span id="user-email">grace@example.com</span>"#));
    assert!(
        html.contains(r#"id="avatar-initials""#),
        "no picture: initials instead"
    );
    assert!(html.contains(">GH<"));
    assert!(html.contains(r#"id="sign-out""#));
    assert!(!html.contains(r#"id="sign-in""#));
}

#[tokio::test]
async fn the_profile_page_requires_a_session_and_shows_its_expiry() {
    let app = spawn_app().await;

    let anonymous = app.get("/profile", &Jar::default()).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(location(&anonymous), "/auth/login?next=%2Fprofile");

    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let response = app.get("/profile", &jar).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.expect("html");
    assert!(html.contains("Ada Lovelace"));
    assert!(html.contains(r#"id="session-expires""#));
    assert!(html.contains("(in 60 min)"));
}

#[tokio::test]
async fn api_user_answers_with_the_cookie_and_with_a_bearer_token() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let jwt = jar.get("access_token").expect("jwt").to_owned();

    let by_cookie = app.get("/api/user", &jar).await;
    assert_eq!(by_cookie.status(), 200);
    assert_eq!(by_cookie.headers()["cache-control"], "no-store");
    let identity: serde_json::Value = by_cookie.json().await.expect("json");
    for field in [
        "sub",
        "email",
        "email_verified",
        "name",
        "picture",
        "iss",
        "iat",
        "exp",
    ] {
        assert!(identity.get(field).is_some(), "field {field}");
    }
    assert_eq!(identity["email"], "ada@example.com");
    assert_eq!(identity["email_verified"], true);

    let by_bearer = app
        .client
        .get(app.url("/api/user"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("request");
    assert_eq!(by_bearer.status(), 200);
    let same: serde_json::Value = by_bearer.json().await.expect("json");
    assert_eq!(same, identity);

    let protected = app.get("/api/protected", &jar).await;
    assert_eq!(protected.status(), 200);
    let body: serde_json::Value = protected.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Ada Lovelace"))
    );
}

#[tokio::test]
async fn api_user_answers_each_session_with_its_own_identity_when_their_requests_interleave() {
    let app = spawn_app().await;
    let ada = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let grace = app.sign_in("Grace Hopper", "grace@example.com").await;
    // Over one kept-alive client, so both sessions land on the same serving threads and the
    // body each thread keeps for a session is asked for again and again.
    for round in 0..20 {
        for (jar, email) in [(&ada, "ada@example.com"), (&grace, "grace@example.com")] {
            let identity: serde_json::Value =
                app.get("/api/user", jar).await.json().await.expect("json");
            assert_eq!(identity["email"], email, "round {round}");
        }
    }
    let claims = jwt_payload(ada.get("access_token").expect("jwt"));
    let identity: serde_json::Value = app.get("/api/user", &ada).await.json().await.expect("json");
    for field in ["sub", "iat", "exp"] {
        assert_eq!(identity[field], claims[field], "{field}");
    }
}

#[tokio::test]
async fn api_without_credentials_is_401_json_with_a_bare_bearer_challenge() {
    let app = spawn_app().await;
    let response = app.get("/api/user", &Jar::default()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn a_tampered_token_is_invalid_not_expired() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let jwt = jar.get("access_token").expect("jwt");
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut claims = jwt_payload(jwt);
    claims["email"] = "mallory@example.com".into();
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");

    let response = app
        .client
        .get(app.url("/api/user"))
        .bearer_auth(&forged)
        .send()
        .await
        .expect("req");

    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="invalid token""#
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["message"], "invalid token");
}

#[tokio::test]
async fn sign_out_revokes_the_session_and_removes_the_cookie() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let stolen = jar.clone();

    let confirm = app.get("/auth/logout", &jar).await;
    assert_eq!(confirm.status(), 200);
    assert!(
        confirm
            .text()
            .await
            .expect("html")
            .contains(r#"<form method="post" action="/auth/logout">"#)
    );
    assert_eq!(
        app.get("/api/user", &jar).await.status(),
        200,
        "GET does not sign out"
    );

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.base)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let removal = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("access_token="))
        .expect("removal");
    assert!(removal.contains("Max-Age=0"));

    let replay = app.get("/api/user", &stolen).await;
    assert_eq!(
        replay.status(),
        401,
        "the revoked token is refused even if replayed"
    );
    let home = app.get("/", &stolen).await.text().await.expect("html");
    assert!(home.contains(r#"id="sign-in""#));
}

#[tokio::test]
async fn cancelling_at_the_provider_shows_a_sign_in_cancelled_page_and_no_session() {
    let app = spawn_app().await;
    let (authorize, jar) = app.start_login(None).await;
    let response = app
        .client
        .post(authorize.as_str())
        .form(&[("decision", "deny")])
        .send()
        .await
        .expect("deny");
    let callback = location(&response);
    assert!(callback.contains("error=access_denied"));

    let response = app.get_absolute(&callback, &jar).await;

    assert_eq!(response.status(), 403);
    assert!(
        !set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("access_token="))
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("<h1>Sign-in cancelled</h1>"));
    assert!(html.contains("Try signing in again"));
}

#[tokio::test]
async fn two_tabs_signing_in_at_once_both_succeed() {
    let app = spawn_app().await;
    let (first, first_jar) = app.start_login(Some("/profile")).await;
    let (second, second_jar) = app.start_login(None).await;
    let mut browser = Jar::default();
    browser.0.extend(first_jar.0);
    browser.0.extend(second_jar.0);
    assert_eq!(browser.0.len(), 2, "each attempt has its own flow cookie");

    let second_callback = app
        .dev_provider_approves(&second, "Tab Two", "two@example.com")
        .await;
    let first_callback = app
        .dev_provider_approves(&first, "Tab One", "one@example.com")
        .await;

    let r2 = app.get_absolute(&second_callback, &browser).await;
    assert_eq!(r2.status(), 303);
    browser.absorb(r2.headers());
    let r1 = app.get_absolute(&first_callback, &browser).await;
    assert_eq!(r1.status(), 303);
    assert_eq!(location(&r1), "/profile");
    browser.absorb(r1.headers());
    let claims = jwt_payload(browser.get("access_token").expect("session"));
    assert_eq!(
        claims["email"], "one@example.com",
        "the last finished sign-in wins"
    );
}

#[tokio::test]
async fn the_development_provider_rejects_a_foreign_redirect_uri_without_redirecting() {
    let app = spawn_app().await;
    let (authorize, _) = app.start_login(None).await;
    let mut evil = authorize.clone();
    let pairs: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    evil.query_pairs_mut().clear();
    for (k, v) in pairs {
        let v = if k == "redirect_uri" {
            "https://evil.example/cb".to_owned()
        } else {
            v
        };
        evil.query_pairs_mut().append_pair(&k, &v);
    }
    let response = app
        .client
        .get(evil.as_str())
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn unknown_pages_and_api_routes_get_a_404_in_their_own_format() {
    let app = spawn_app().await;
    let page = app.get("/nope", &Jar::default()).await;
    assert_eq!(page.status(), 404);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(page.text().await.expect("html").contains("Page not found"));

    let api = app.get("/api/nope", &Jar::default()).await;
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.expect("json");
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn healthz_reports_the_provider_state_and_static_files_are_served() {
    let app = spawn_app().await;
    let health = app.get("/healthz", &Jar::default()).await;
    assert_eq!(health.status(), 200);
    let css = app.get("/static/style.css", &Jar::default()).await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/css")
    );
}
