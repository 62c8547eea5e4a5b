//! `OIDC_REFRESH`: sessions keep the provider's refresh token and, at a renewal past
//! `OIDC_RECHECK_MINUTES`, ask the provider first (fake clock, the test provider's
//! refresh-token grant): its current groups and roles reach the renewed token; an account
//! disabled there (`invalid_grant`) loses access at that request; a provider that is down
//! leaves the session running without renewal (or, strict, ends it); the refresh token is kept
//! sealed and deleted at sign-out; and two instances renewing at once refresh once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::postgres::database;
use crate::support::provider_sessions::{renewed, two_instances, with_token};
use crate::support::test_provider::{
    Faults, TestProvider, TokenFault, patch, sign_in, spawn_app_for,
};
use crate::support::{TestApp, jwt_payload, temp_database};

const MINUTE: u64 = 60;

async fn provider() -> TestProvider {
    TestProvider::start(Faults {
        issue_refresh_tokens: true,
        profile_in_id_token: true,
        claims_patch: Some(patch(|c| c["groups"] = json!(["sre"]))),
        ..Faults::default()
    })
    .await
}

async fn app_for(provider: &TestProvider, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("OIDC_REFRESH", "true"), ("ROLE_FROM_GROUPS", "ops=sre")];
    vars.extend_from_slice(extra);
    spawn_app_for(provider, &vars).await
}

/// The provider's refreshed ID tokens follow `app`'s fake clock.
fn follow_clock(provider: &TestProvider, app: &TestApp) {
    let ahead = app.now().saturating_sub(doorman::clock::system_now());
    provider.set(|f| f.refresh_clock_offset = ahead);
}

#[tokio::test]
async fn a_renewal_rechecks_at_the_provider_and_carries_its_groups_and_roles_now() {
    let provider = provider().await;
    let app = app_for(&provider, &[]).await;
    let jar = sign_in(&app, &provider).await;
    let asked = provider
        .record()
        .authorize_requests
        .last()
        .cloned()
        .expect("authorize");
    assert!(
        asked["scope"].split(' ').any(|s| s == "offline_access"),
        "{asked:?}"
    );
    let before: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(before["groups"], json!(["sre"]));
    assert!(
        before["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("ops"))
    );

    provider.set(|f| f.claims_patch = Some(patch(|c| c["groups"] = json!(["platform"]))));
    app.clock.advance(20 * MINUTE);
    assert_eq!(renewed(&app.get("/api/user", &jar).await), None);
    assert_eq!(provider.calls().refresh, 0, "no recheck before a renewal");
    app.clock.advance(11 * MINUTE);
    follow_clock(&provider, &app);
    let due = app.get("/api/user", &jar).await;
    assert_eq!(due.status(), 200);
    assert_eq!(provider.calls().refresh, 1);
    let token = renewed(&due).expect("renewed");
    let claims = jwt_payload(&token);
    assert_eq!(claims["groups"], json!(["platform"]));
    assert!(
        !claims["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("ops")),
        "{claims}"
    );
    let after: Value = app
        .get("/api/user", &with_token(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        after["groups"],
        json!(["platform"]),
        "the provider's groups, now"
    );
}

#[tokio::test]
async fn an_account_disabled_at_the_provider_loses_access_at_its_next_recheck() {
    let provider = provider().await;
    let app = app_for(&provider, &[]).await;
    let jar = sign_in(&app, &provider).await;
    provider.set(|f| f.refresh_error = Some("invalid_grant"));
    app.clock.advance(31 * MINUTE);
    let refused = app.get("/api/user", &jar).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(renewed(&refused), None);
    assert_eq!(app.get("/", &jar).await.status(), 200);
    assert_eq!(
        app.get("/api/user", &jar).await.status(),
        401,
        "ended everywhere, not only once"
    );
    assert!(
        app.state
            .metrics
            .render()
            .contains(r#"doorman_sessions_revoked_total{cause="provider_recheck"} 1"#),
        "{}",
        app.state.metrics.render()
    );
}

#[tokio::test]
async fn a_provider_that_is_down_leaves_the_session_without_renewal_and_strict_ends_it() {
    let provider = provider().await;
    let app = app_for(&provider, &[]).await;
    let strict = app_for(&provider, &[("OIDC_RECHECK_STRICT", "true")]).await;
    let jar = sign_in(&app, &provider).await;
    let other = sign_in(&app, &provider).await;
    let strict_jar = sign_in(&strict, &provider).await;
    provider.set(|f| f.token = TokenFault::Status(503));
    app.clock.advance(31 * MINUTE);
    strict.clock.advance(31 * MINUTE);
    for jar in [&jar, &other] {
        let kept = app.get("/api/user", jar).await;
        assert_eq!(kept.status(), 200, "the session runs on");
        assert_eq!(renewed(&kept), None, "but is not renewed");
    }
    assert_eq!(
        strict.get("/api/user", &strict_jar).await.status(),
        401,
        "strict: ended"
    );

    // Back up: a recheck 30 s later succeeds and renews (not at every request meanwhile).
    provider.set(|f| f.token = TokenFault::None);
    app.clock.advance(31);
    follow_clock(&provider, &app);
    let again = app.get("/api/user", &jar).await;
    assert!(
        renewed(&again).is_some(),
        "renewed once the provider answers"
    );
    // Down for good: the other session ends at its token's expiry, never later.
    provider.set(|f| f.token = TokenFault::Status(503));
    app.clock.advance(28 * MINUTE);
    assert_eq!(app.get("/api/user", &other).await.status(), 200);
    app.clock.advance(2 * MINUTE);
    assert_eq!(app.get("/api/user", &other).await.status(), 401);
}

#[tokio::test]
async fn rechecks_wait_for_oidc_recheck_minutes() {
    let provider = provider().await;
    let app = app_for(&provider, &[("OIDC_RECHECK_MINUTES", "45")]).await;
    let jar = sign_in(&app, &provider).await;
    app.clock.advance(31 * MINUTE);
    let first = renewed(&app.get("/api/user", &jar).await).expect("renewed");
    assert_eq!(
        provider.calls().refresh,
        0,
        "checked at sign-in 31 minutes ago"
    );
    app.clock.advance(31 * MINUTE);
    follow_clock(&provider, &app);
    let second = renewed(&app.get("/api/user", &with_token(&first)).await).expect("renewed");
    assert_eq!(
        provider.calls().refresh,
        1,
        "62 minutes since the last check"
    );
    assert_eq!(jwt_payload(&second)["sid"], jwt_payload(&first)["sid"]);
}

#[tokio::test]
async fn the_provider_refresh_token_is_kept_sealed_and_deleted_at_sign_out() {
    let provider = provider().await;
    let database = temp_database();
    let app = app_for(&provider, &[("DATABASE_URL", &database)]).await;
    let jar = sign_in(&app, &provider).await;
    let stored = || {
        rusqlite::Connection::open(&database)
            .expect("open")
            .query_row("SELECT provider_refresh FROM sessions", [], |r| {
                r.get::<_, Option<String>>(0)
            })
            .expect("a session")
    };
    let sealed = stored().expect("kept");
    assert!(sealed.len() > 43, "sealed: nonce, ciphertext, tag");
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.base)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    assert_eq!(stored(), None, "deleted with the session");
}

#[tokio::test]
async fn two_instances_renewing_the_same_session_at_once_refresh_at_the_provider_once() {
    let Some(url) = database().await else { return };
    let provider = provider().await;
    let refresh = [("OIDC_REFRESH", "true"), ("ROLE_FROM_GROUPS", "ops=sre")];
    let (a, b) = two_instances(&provider, &url, &refresh).await;
    let jar = sign_in(&a, &provider).await;
    a.clock.advance(31 * MINUTE);
    b.clock.set(a.now());
    follow_clock(&provider, &a);
    let requests = (0..10).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let jar = jar.clone();
        async move { app.get("/api/user", &jar).await.status() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        provider.calls().refresh,
        1,
        "one refresh, however many renewals"
    );
}

#[tokio::test]
async fn a_group_change_at_a_recheck_closes_the_stream_and_tunnel_opened_under_the_old_groups() {
    let routes = crate::tunnels::routes_file(crate::proxy::upstream().await);
    let provider = provider().await;
    let app = app_for(
        &provider,
        &[
            ("DOORMAN_CONFIG", &routes),
            ("WEBSOCKET_IDLE_SECS", "86400"),
        ],
    )
    .await;
    let jar = sign_in(&app, &provider).await;
    let cookie = format!(
        "access_token={}",
        jar.get("access_token").expect("signed in")
    );
    let mut stream =
        crate::streams::events(&app, "/app/events/forever", &[("cookie", &cookie)]).await;
    let mut tunnel = crate::tunnels::open(&app, "/app/ws", &[("cookie", &cookie)]).await;
    crate::tunnels::echoes(&mut tunnel).await;

    provider.set(|f| f.claims_patch = Some(patch(|c| c["groups"] = json!(["platform"]))));
    app.clock.advance(31 * MINUTE);
    follow_clock(&provider, &app);
    let due = app.get("/api/user", &jar).await;
    let token = renewed(&due).expect("renewed with the new groups");
    assert_eq!(jwt_payload(&token)["groups"], json!(["platform"]));
    let cut = crate::streams::ends_within(&mut stream, Duration::from_secs(1)).await;
    let closed = crate::tunnels::closed_within(&mut tunnel, Duration::from_secs(1)).await;
    eprintln!(
        "the group change cut the stream after {cut:?} and closed the tunnel after {closed:?}"
    );
    crate::tunnels::counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="changed"} 1"#,
    )
    .await;

    // Opened with the renewed cookie, after the change: it stays.
    let renewed_cookie = format!("access_token={token}");
    let mut after = crate::tunnels::open(&app, "/app/ws", &[("cookie", &renewed_cookie)]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    crate::tunnels::echoes(&mut after).await;
}
