//! Sessions that end with the provider's, in one process against the test provider:
//! Back-Channel Logout 1.0 (`POST /auth/backchannel-logout` ends the sessions a valid logout
//! token names, by `sid` or by `sub`; every rule broken alone is a 400 that revokes nothing; a
//! replay does nothing; a token signed with a key published after start is accepted; on two
//! instances sharing PostgreSQL, within a second) and RP-Initiated Logout 1.0 (signing out continues at the provider's `end_session_endpoint`
//! with the ID token as `id_token_hint`, which the store keeps only sealed, and comes back to
//! a page that checks the `state`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::instances::refused_after;
use crate::support::postgres::database;
use crate::support::provider_sessions::{
    logout_claims, post_logout_token, signed_logout, two_instances,
};
use crate::support::test_provider::{
    CLIENT_ID, CLIENT_SECRET, Faults, SUBJECT, TestProvider, hs256, key, patch, sign_in,
    spawn_app_for,
};
use crate::support::{Jar, TestApp, location, set_cookies, temp_database};

/// A provider whose ID tokens name the provider session `sid`.
async fn provider_with_sid(sid: &'static str) -> TestProvider {
    TestProvider::start(Faults {
        claims_patch: Some(patch(move |c| c["sid"] = json!(sid))),
        ..Faults::default()
    })
    .await
}

async fn post_form(app: &TestApp, content_type: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/auth/backchannel-logout"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("back-channel logout")
}

async fn signed_in(app: &TestApp, jar: &Jar) -> bool {
    match app.get("/api/user", jar).await.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("/api/user answered {other}"),
    }
}

#[tokio::test]
async fn a_logout_token_naming_the_provider_session_ends_it_with_200_and_no_store() {
    let provider = provider_with_sid("op-session-1").await;
    let app = spawn_app_for(&provider, &[]).await;
    let jar = sign_in(&app, &provider).await;
    assert!(signed_in(&app, &jar).await);

    let response = post_logout_token(
        &app,
        &signed_logout(&logout_claims(&provider, app.now(), "op-session-1")),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(!signed_in(&app, &jar).await, "the session ended at once");
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains(r#"doorman_backchannel_logouts_total{result="ended"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"doorman_sessions_revoked_total{cause="backchannel_logout"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_logout_token_with_only_sub_ends_every_session_of_that_person_and_only_theirs() {
    let provider = provider_with_sid("op-session-1").await;
    let app = spawn_app_for(&provider, &[]).await;
    let laptop = sign_in(&app, &provider).await;
    let phone = sign_in(&app, &provider).await;
    provider.set(|f| f.claims_patch = Some(patch(|c| c["sub"] = json!("someone-else"))));
    let other = sign_in(&app, &provider).await;

    let mut claims = logout_claims(&provider, app.now(), "unused");
    claims.as_object_mut().expect("object").remove("sid");
    claims["sub"] = json!(SUBJECT);
    assert_eq!(
        post_logout_token(&app, &signed_logout(&claims))
            .await
            .status(),
        200
    );
    assert!(!signed_in(&app, &laptop).await);
    assert!(!signed_in(&app, &phone).await);
    assert!(
        signed_in(&app, &other).await,
        "another person keeps their session"
    );
}

#[tokio::test]
async fn a_logout_token_for_another_provider_session_ends_nothing_and_still_answers_200() {
    let provider = provider_with_sid("op-session-1").await;
    let app = spawn_app_for(&provider, &[]).await;
    let jar = sign_in(&app, &provider).await;
    let token = signed_logout(&logout_claims(&provider, app.now(), "op-session-2"));
    assert_eq!(post_logout_token(&app, &token).await.status(), 200);
    assert!(signed_in(&app, &jar).await);
}

/// Answers 400 `invalid_request` (with `error_description`), and the session lives on.
async fn refused(app: &TestApp, jar: &Jar, response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), 400, "{case}");
    assert_eq!(response.headers()["cache-control"], "no-store", "{case}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request", "{case}: {body}");
    assert!(body["error_description"].is_string(), "{case}: {body}");
    assert!(signed_in(app, jar).await, "{case}: nothing was revoked");
}

#[tokio::test]
async fn each_logout_token_rule_broken_alone_is_a_400_that_revokes_nothing() {
    let provider = provider_with_sid("op-1").await;
    let app = spawn_app_for(&provider, &[]).await;
    let jar = sign_in(&app, &provider).await;
    let now = app.now();
    let good = || logout_claims(&provider, now, "op-1");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good();
        change(&mut claims);
        signed_logout(&claims)
    };
    let remove = |name: &'static str| {
        with(&move |c: &mut Value| {
            c.as_object_mut().expect("object").remove(name);
        })
    };
    let header = |header: Value| key(0).sign_with_header(&header, &good());
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong iss",
            with(&|c| c["iss"] = json!("https://evil.example.com")),
        ),
        ("wrong aud", with(&|c| c["aud"] = json!("another-client"))),
        ("no iat", remove("iat")),
        ("iat from long ago", with(&|c| c["iat"] = json!(now - 3600))),
        ("no exp", remove("exp")),
        ("expired", with(&|c| c["exp"] = json!(now - 120))),
        ("no events", remove("events")),
        (
            "another event",
            with(&|c| c["events"] = json!({"http://schemas.openid.net/event/other": {}})),
        ),
        ("a nonce", with(&|c| c["nonce"] = json!("n-1"))),
        ("no jti", remove("jti")),
        (
            "neither sub nor sid",
            with(&|c| {
                c.as_object_mut().expect("object").remove("sid");
            }),
        ),
        (
            "typ of another token",
            header(json!({"alg": "RS256", "typ": "at+jwt", "kid": key(0).kid()})),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "logout+jwt"})),
                b64(&good())
            ),
        ),
        (
            "HS256 with the client secret",
            hs256(
                &json!({"alg": "HS256", "typ": "logout+jwt"}),
                &good(),
                CLIENT_SECRET.as_bytes(),
            ),
        ),
        (
            "a key the provider never published",
            key(2).sign_with_header(
                &json!({"alg": "RS256", "typ": "logout+jwt", "kid": key(0).kid()}),
                &good(),
            ),
        ),
        (
            "a jku header",
            header(
                json!({"alg": "RS256", "kid": key(0).kid(), "jku": "https://evil.example.com/jwks"}),
            ),
        ),
        ("not a JWS", "a.b.c.d.e".to_owned()),
        ("empty", String::new()),
    ];
    for (case, token) in cases {
        let response = post_logout_token(&app, &token).await;
        refused(&app, &jar, response, case).await;
    }

    let token = signed_logout(&good());
    let form = "application/x-www-form-urlencoded";
    let encoded = crate::support::urlencode(&token);
    let twice = format!("logout_token={encoded}&logout_token={encoded}");
    refused(
        &app,
        &jar,
        post_form(&app, form, twice).await,
        "two logout_token fields",
    )
    .await;
    let json_body = format!(r#"{{"logout_token":"{token}"}}"#);
    refused(
        &app,
        &jar,
        post_form(&app, "application/json", json_body).await,
        "JSON",
    )
    .await;
    let huge = format!("logout_token={encoded}&pad={}", "a".repeat(20 * 1024));
    refused(
        &app,
        &jar,
        post_form(&app, form, huge).await,
        "a 20 KiB body",
    )
    .await;
    refused(
        &app,
        &jar,
        post_form(&app, form, "other=1".into()).await,
        "no logout_token",
    )
    .await;
    let get = app.get("/auth/backchannel-logout", &Jar::default()).await;
    refused(&app, &jar, get, "GET").await;

    // And the well-formed one still works afterwards.
    assert_eq!(post_logout_token(&app, &token).await.status(), 200);
    assert!(!signed_in(&app, &jar).await);
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains(r#"doorman_backchannel_logouts_total{result="invalid"} 23"#),
        "{metrics}"
    );
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_replayed_logout_token_has_no_second_effect() {
    let provider = provider_with_sid("op-1").await;
    let app = spawn_app_for(&provider, &[]).await;
    let first = sign_in(&app, &provider).await;
    let token = signed_logout(&logout_claims(&provider, app.now(), "op-1"));
    assert_eq!(post_logout_token(&app, &token).await.status(), 200);
    assert!(!signed_in(&app, &first).await);

    // A new sign-in in the same provider session, then the same token again.
    let second = sign_in(&app, &provider).await;
    let replay = post_logout_token(&app, &token).await;
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");
    assert!(signed_in(&app, &second).await, "the replay ended nothing");
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains(r#"doorman_backchannel_logouts_total{result="replayed"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_logout_token_signed_with_a_key_published_after_start_is_accepted_after_one_fetch() {
    let provider = provider_with_sid("op-1").await;
    let app = spawn_app_for(&provider, &[]).await;
    let jar = sign_in(&app, &provider).await;
    provider.set(|f| f.published_keys = vec![0, 1]);
    let fetched = provider.calls().jwks;
    let signer = key(1);
    let token = signer.sign_with_header(
        &json!({"alg": "RS256", "typ": "logout+jwt", "kid": signer.kid()}),
        &logout_claims(&provider, app.now(), "op-1"),
    );
    assert_eq!(post_logout_token(&app, &token).await.status(), 200);
    assert_eq!(provider.calls().jwks, fetched + 1, "one JWKS fetch");
    assert!(!signed_in(&app, &jar).await);
}

#[tokio::test]
async fn a_backchannel_logout_at_one_instance_ends_the_session_on_the_other_within_a_second() {
    let Some(url) = database().await else { return };
    let provider = provider_with_sid("op-shared").await;
    let (a, b) = two_instances(&provider, &url, &[]).await;
    let jar = sign_in(&a, &provider).await;
    let token = jar
        .get("access_token")
        .expect("the session cookie")
        .to_owned();
    assert_eq!(b.get_bearer("/api/user", &token).await.status(), 200);

    let logout = signed_logout(&logout_claims(&provider, b.now(), "op-shared"));
    assert_eq!(post_logout_token(&b, &logout).await.status(), 200);
    assert_eq!(
        b.get_bearer("/api/user", &token).await.status(),
        401,
        "at once where it landed"
    );
    let took = refused_after(&a, &token, Duration::from_secs(1)).await;
    eprintln!("a back-channel logout on B ended the session on A after {took:?}");
    assert_eq!(
        post_logout_token(&a, &logout).await.status(),
        400,
        "the other instance knows the token was used"
    );
}

// ---------- RP-Initiated Logout ----------

/// A provider that advertises `end_session_endpoint`.
async fn provider_with_end_session() -> TestProvider {
    let provider = TestProvider::start(Faults::default()).await;
    let endpoint = provider.url("/logout?tenant=main");
    provider.set(move |f| {
        f.discovery_patch = Some(patch(move |d| d["end_session_endpoint"] = json!(endpoint)))
    });
    provider
}

async fn sign_out(app: &TestApp, jar: &Jar) -> reqwest::Response {
    app.client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.base)
        .send()
        .await
        .expect("logout")
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn signing_out_continues_at_the_provider_with_the_id_token_hint_and_a_state() {
    let provider = provider_with_end_session().await;
    let database = temp_database();
    let app = spawn_app_for(&provider, &[("DATABASE_URL", &database)]).await;
    let jar = sign_in(&app, &provider).await;
    let id_token = provider
        .record()
        .id_tokens
        .last()
        .cloned()
        .expect("an ID token");

    let stored = rusqlite::Connection::open(&database).expect("open the store");
    let hint: String = stored
        .query_row("SELECT id_token_hint FROM sessions", [], |r| r.get(0))
        .expect("the session keeps a hint");
    assert!(
        !hint.contains(&id_token) && !hint.contains(id_token.split('.').nth(1).expect("claims")),
        "the store keeps the ID token sealed, never in the clear"
    );

    let response = sign_out(&app, &jar).await;
    assert_eq!(response.status(), 303);
    let to = location(&response);
    assert!(
        to.starts_with(&provider.url("/logout?tenant=main&")),
        "{to}"
    );
    let params = query(&to);
    assert_eq!(params["id_token_hint"], id_token);
    assert_eq!(params["client_id"], CLIENT_ID);
    let back = format!("{}/auth/signed-out", app.public_url.trim_end_matches('/'));
    assert_eq!(params["post_logout_redirect_uri"], back);
    let state = &params["state"];
    assert!(state.len() >= 43, "a random state: {state}");
    let cookies = set_cookies(&response);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("access_token=") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let state_cookie = cookies
        .iter()
        .find(|c| c.starts_with("doorman_logout_state="))
        .expect("the state travels in a cookie");
    assert!(
        state_cookie.contains("HttpOnly") && state_cookie.contains("Path=/auth/signed-out"),
        "{state_cookie}"
    );
    assert!(
        !signed_in(&app, &jar).await,
        "doorman's session ended first"
    );
    let kept: Option<String> = stored
        .query_row("SELECT id_token_hint FROM sessions", [], |r| r.get(0))
        .expect("the session row");
    assert_eq!(kept, None, "the ID token is deleted with the session");

    // Back from the provider with the state: signed out there too.
    let mut back_jar = Jar::default();
    back_jar.absorb(response.headers());
    let page = app
        .get(&format!("/auth/signed-out?state={state}"), &back_jar)
        .await;
    assert_eq!(page.status(), 200);
    let removed = set_cookies(&page);
    assert!(
        removed
            .iter()
            .any(|c| c.starts_with("doorman_logout_state=") && c.contains("Max-Age=0")),
        "{removed:?}"
    );
    let html = page.text().await.expect("page");
    assert!(html.contains("and so has your session at"), "{html}");

    // A wrong or missing state is never a command: the same page, without the claim.
    for path in ["/auth/signed-out?state=forged", "/auth/signed-out"] {
        let page = app.get(path, &back_jar).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("page");
        assert!(
            html.contains("You are signed out") && !html.contains("and so has"),
            "{html}"
        );
    }
}

#[tokio::test]
async fn signing_out_stays_local_with_oidc_logout_local_or_without_an_end_session_endpoint() {
    let provider = provider_with_end_session().await;
    let local = spawn_app_for(&provider, &[("OIDC_LOGOUT", "local")]).await;
    let jar = sign_in(&local, &provider).await;
    let response = sign_out(&local, &jar).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    assert!(!signed_in(&local, &jar).await);

    let plain = TestProvider::start(Faults::default()).await;
    let app = spawn_app_for(&plain, &[]).await;
    let jar = sign_in(&app, &plain).await;
    let response = sign_out(&app, &jar).await;
    assert_eq!(
        location(&response),
        "/",
        "Google advertises none: local sign-out"
    );
    assert!(
        !set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("doorman_logout_state=")),
        "no state without a trip to the provider"
    );
}
