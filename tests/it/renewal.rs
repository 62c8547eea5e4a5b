//! Browser sessions renew while they are used, on a fake clock: past half its lifetime a
//! cookie session gets a fresh token of the same session in a `Set-Cookie` on whatever
//! answers (doorman's API, a gateway decision, a proxied service), once per half-lifetime,
//! up to `SESSION_MAX_HOURS` after the sign-in; a Bearer token never renews; and a renewed
//! session is still found by what ends sessions after its first token's expiry.

use serde_json::{Value, json};

use crate::support::front::echo;
use crate::support::provider_sessions::{
    logout_claims, post_logout_token, renewed, signed_logout, with_token,
};
use crate::support::test_provider::{Faults, TestProvider, patch, sign_in, spawn_app_for};
use crate::support::{Jar, TestApp, jwt_payload, set_cookies};

const MINUTE: u64 = 60;

fn cookie_of(response: &reqwest::Response) -> String {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with("access_token="))
        .expect("a session cookie")
}

async fn signed_in_app(extra: &[(&str, &str)]) -> (TestProvider, TestApp, Jar) {
    let provider = TestProvider::start(Faults {
        claims_patch: Some(patch(|c| c["sid"] = json!("op-session"))),
        ..Faults::default()
    })
    .await;
    let app = spawn_app_for(&provider, extra).await;
    let jar = sign_in(&app, &provider).await;
    (provider, app, jar)
}

#[tokio::test]
async fn a_cookie_session_past_half_its_lifetime_gets_a_fresh_token_of_the_same_session() {
    let (_provider, app, jar) = signed_in_app(&[]).await;
    let first = jar.get("access_token").expect("signed in").to_owned();
    let before = jwt_payload(&first);
    let signed_in_at = app.now();

    app.clock.advance(29 * MINUTE);
    let early = app.get("/api/user", &jar).await;
    assert_eq!(early.status(), 200);
    assert_eq!(
        renewed(&early),
        None,
        "more than half its lifetime left: no renewal"
    );

    app.clock.advance(2 * MINUTE);
    let due = app.get("/api/user", &jar).await;
    assert_eq!(due.status(), 200);
    let cookie = cookie_of(&due);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Max-Age=3600"),
        "{cookie}"
    );
    let token = renewed(&due).expect("a renewed token");
    let after = jwt_payload(&token);
    assert_eq!(after["sid"], before["sid"], "the same session");
    assert_eq!(after["sub"], before["sub"]);
    assert_ne!(after["jti"], before["jti"]);
    assert_eq!(after["iat"], json!(app.now()));
    assert_eq!(
        after["exp"],
        json!(app.now() + 60 * MINUTE),
        "the token keeps its lifetime"
    );
    assert_eq!(
        after["auth_time"],
        json!(signed_in_at),
        "when the session began"
    );

    let again = app.get("/api/user", &jar).await;
    assert_eq!(
        renewed(&again).as_deref(),
        Some(token.as_str()),
        "the old token again gets the same renewal: one signature, one store write"
    );
    let fresh = app.get("/api/user", &with_token(&token)).await;
    assert_eq!(fresh.status(), 200);
    assert_eq!(renewed(&fresh), None, "the new token is not due");
    assert!(
        app.state
            .metrics
            .render()
            .contains("doorman_sessions_renewed_total 1"),
        "{}",
        app.state.metrics.render()
    );

    app.clock.advance(40 * MINUTE);
    assert_eq!(
        app.get("/api/user", &jar).await.status(),
        401,
        "the first token ended on time"
    );
    assert_eq!(
        app.get("/api/user", &with_token(&token)).await.status(),
        200
    );
}

#[tokio::test]
async fn renewals_stop_at_session_max_hours_and_then_the_session_ends() {
    let (_provider, app, jar) = signed_in_app(&[("SESSION_MAX_HOURS", "2")]).await;
    let start = app.now();
    app.clock.advance(31 * MINUTE);
    let one = renewed(&app.get("/api/user", &jar).await).expect("renewed");
    assert_eq!(jwt_payload(&one)["exp"], json!(start + 91 * MINUTE));
    app.clock.advance(31 * MINUTE);
    let two = renewed(&app.get("/api/user", &with_token(&one)).await).expect("renewed");
    assert_eq!(
        jwt_payload(&two)["exp"],
        json!(start + 120 * MINUTE),
        "the last token ends SESSION_MAX_HOURS after the sign-in"
    );
    app.clock.advance(33 * MINUTE);
    let late = app.get("/api/user", &with_token(&two)).await;
    assert_eq!(late.status(), 200);
    assert_eq!(renewed(&late), None, "nothing past the limit");
    app.clock.advance(26 * MINUTE);
    assert_eq!(app.get("/api/user", &with_token(&two)).await.status(), 401);
    let home = app.get("/", &with_token(&two)).await;
    assert_eq!(renewed(&home), None, "an ended session is never renewed");
}

#[tokio::test]
async fn a_bearer_token_never_renews() {
    let (_provider, app, jar) = signed_in_app(&[]).await;
    let token = jar.get("access_token").expect("signed in").to_owned();
    app.clock.advance(45 * MINUTE);
    let response = app.get_bearer("/api/user", &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(renewed(&response), None, "API clients have refresh tokens");
}

#[tokio::test]
async fn a_renewed_session_is_still_ended_by_a_provider_logout_after_its_first_tokens_expiry() {
    let (provider, app, jar) = signed_in_app(&[]).await;
    app.clock.advance(31 * MINUTE);
    let token = renewed(&app.get("/api/user", &jar).await).expect("renewed");
    app.clock.advance(35 * MINUTE);
    assert_eq!(
        app.get("/api/user", &with_token(&token)).await.status(),
        200
    );
    let logout = signed_logout(&logout_claims(&provider, app.now(), "op-session"));
    let answer = post_logout_token(&app, &logout).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        app.get("/api/user", &with_token(&token)).await.status(),
        401,
        "the store knew the session lasts longer now"
    );
}

#[tokio::test]
async fn a_gateway_decision_and_a_proxied_answer_carry_the_renewed_cookie() {
    let up = echo("renewal").await;
    let path = std::path::PathBuf::from(crate::support::config_file(
        "renewal",
        &format!("[[gateway.route]]\npath_prefix = \"/app\"\nupstream = \"http://{up}\"\n"),
    ));
    let config = path.to_string_lossy().into_owned();
    let (_provider, app, jar) = signed_in_app(&[
        ("DOORMAN_CONFIG", &config),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    let cookie = format!(
        "access_token={}",
        jar.get("access_token").expect("signed in")
    );
    app.clock.advance(31 * MINUTE);

    let decision = app
        .client
        .get(app.url("/.doorman/auth-request/default"))
        .header("x-original-url", "https://app.example.com/x")
        .header("x-original-method", "GET")
        .header("cookie", &cookie)
        .send()
        .await
        .expect("auth request");
    let status = decision.status();
    if status != 200 {
        panic!("{status}: {}", decision.text().await.unwrap_or_default());
    }
    let from_gateway = renewed(&decision).expect("the auth answer carries the renewal");

    let proxied = app.get("/app/page", &jar).await;
    assert_eq!(proxied.status(), 200);
    assert_eq!(
        proxied.headers()["cache-control"],
        "private, no-store",
        "an answer carrying a session cookie is never for a shared cache"
    );
    assert_eq!(
        renewed(&proxied).as_deref(),
        Some(from_gateway.as_str()),
        "the proxied answer carries it too (the same renewal)"
    );
    let report: Value = proxied.json().await.expect("echo");
    assert!(
        !report.to_string().contains(&from_gateway),
        "the service never sees the session token"
    );
}
