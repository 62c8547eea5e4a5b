//! Several doorman instances on one PostgreSQL database, driven over HTTP: a sign-out on one
//! reaches the others within a second (and closes a WebSocket tunnel open on another), a
//! callback's state is accepted once across all of them, the throttle counts across them,
//! refresh rotation and registration race safely, and the store going away (at start, or
//! mid-run, by killing the server) gives 503s, never 500s, while signed-in requests keep being
//! answered from memory, and everything recovers when it comes back. Skipped (with a notice)
//! without a PostgreSQL server, except under `CI=true`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::accounts::{PASSWORD, access_token, refresh_token, registration, status_json};
use crate::support::instances::{instances, instances_joining, refused_after, until_ready};
use crate::support::postgres::{PgServer, database};
use crate::support::test_provider::{Faults, TestProvider, arrive, begin, spawn_app_for};
use crate::support::{Jar, STRONG_SECRET, spawn_app_with};

#[tokio::test]
async fn a_sign_out_on_one_instance_is_refused_on_the_other_within_a_second() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("ada").await;
    let mut delays = Vec::new();
    for _ in 0..5 {
        let token = access_token(&a.login("ada").await).to_owned();
        assert_eq!(b.get_bearer("/api/user", &token).await.status(), 200);
        assert_eq!(a.api_logout(&token).await, 204);
        assert_eq!(
            a.get_bearer("/api/user", &token).await.status(),
            401,
            "at once where it happened"
        );
        delays.push(refused_after(b, &token, Duration::from_secs(1)).await);
    }
    delays.sort();
    eprintln!(
        "logout propagation A -> B over 5 logouts: median {:?}, max {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

#[tokio::test]
async fn a_sign_out_on_one_instance_closes_a_tunnel_open_on_the_other_within_a_second() {
    let Some(url) = database().await else { return };
    let routes = crate::tunnels::routes_file(crate::proxy::upstream().await);
    let apps = instances(&url, 2, &[("DOORMAN_CONFIG", &routes)]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("ada").await;
    let token = access_token(&a.login("ada").await).to_owned();
    let auth = format!("Bearer {token}");
    let mut tunnel = crate::tunnels::open(b, "/app/ws", &[("authorization", &auth)]).await;
    crate::tunnels::echoes(&mut tunnel).await;
    assert_eq!(a.api_logout(&token).await, 204);
    let took = crate::tunnels::closed_within(&mut tunnel, Duration::from_secs(1)).await;
    eprintln!("a sign-out on A closed the tunnel on B after {took:?}");
    let metrics = b.state.metrics.render();
    assert!(
        metrics.contains(r#"doorman_websocket_tunnels_closed_total{reason="revoked"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn listeners_reconnect_and_a_revocation_without_a_notification_arrives_by_the_poll() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("grace").await;
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    // Cut every listening connection: each instance listens again, then reads everything.
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '%-listen' AND datname = current_database()",
            &[],
        )
        .await
        .expect("terminate listeners");
    assert_eq!(killed.len(), 2, "both instances were listening");
    let token = access_token(&a.login("grace").await).to_owned();
    assert_eq!(b.get_bearer("/api/user", &token).await.status(), 200);
    assert_eq!(a.api_logout(&token).await, 204);
    let delay = refused_after(b, &token, Duration::from_secs(5)).await;
    eprintln!("after the listeners were cut, a logout reached B in {delay:?}");

    // A revocation written with no notification at all (by hand, or one that was lost):
    // only the poll (every second here) can bring it.
    let other = access_token(&a.login("grace").await).to_owned();
    assert_eq!(b.get_bearer("/api/user", &other).await.status(), 200);
    let sid = crate::support::jwt_payload(&other)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    admin
        .execute(
            "INSERT INTO revocations (id, expires_at, revoked_at) VALUES ($1, $2, $2)",
            &[&sid, &i64::try_from(b.now() + 3600).expect("i64")],
        )
        .await
        .expect("insert");
    let delay = refused_after(b, &other, Duration::from_secs(5)).await;
    eprintln!("a revocation without a notification reached B by the poll in {delay:?}");
}

#[tokio::test]
async fn a_callback_state_is_accepted_once_across_instances() {
    let Some(url) = database().await else { return };
    let provider = TestProvider::start(Faults::default()).await;
    let a = spawn_app_for(&provider, &[("DATABASE_URL", &url)]).await;
    // Behind one load balancer: the same public URL and secret.
    let b = spawn_app_for(
        &provider,
        &[
            ("DATABASE_URL", &url),
            ("PUBLIC_URL", a.public_url.as_str()),
        ],
    )
    .await;
    until_ready(&a, Duration::from_secs(20)).await;
    until_ready(&b, Duration::from_secs(20)).await;
    let attempt = begin(&a, &provider, None).await;
    let finished = arrive(&b, &attempt.callback, &attempt.jar).await;
    assert_eq!(finished.status(), 303, "a sign-in begun on A finishes on B");
    let replayed = arrive(&a, &attempt.callback, &attempt.jar).await;
    assert_eq!(replayed.status(), 400, "and its callback is spent on A too");
}

#[tokio::test]
async fn the_password_throttle_counts_across_instances() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    apps[0].register("bob").await;
    // Five failures are free per account and client, wherever they land.
    for i in 0..5 {
        let app = &apps[i % 2];
        assert_eq!(app.login_as("bob", "wrong-password-1").await.status(), 401);
    }
    for app in &apps {
        let (status, body) = status_json(app.login_as("bob", "wrong-password-1").await).await;
        assert_eq!(
            status, 429,
            "the sixth failure is throttled on every instance: {body}"
        );
        assert_eq!(body["error"], "too_many_attempts");
    }
}

#[tokio::test]
async fn of_two_parallel_refreshes_one_wins_and_reuse_ends_the_session_everywhere() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("carol").await;
    let tokens = a.login("carol").await;
    let first = refresh_token(&tokens).to_owned();
    let (one, two) = tokio::join!(a.refresh(&first), b.refresh(&first));
    let outcomes = [one.0, two.0];
    assert_eq!(
        outcomes.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one rotation: {outcomes:?} {} {}",
        one.1,
        two.1
    );
    assert_eq!(outcomes.iter().filter(|s| **s == 401).count(), 1);
    // The loser presented a spent token: the whole session is over, on both instances.
    let winner: &Value = if one.0 == 200 { &one.1 } else { &two.1 };
    for app in [a, b] {
        // (Both were good until the reuse; the checks below only wait for the refusal.)
        assert_eq!(app.refresh(refresh_token(winner)).await.0, 401);
        refused_after(app, access_token(winner), Duration::from_secs(1)).await;
        refused_after(app, access_token(&tokens), Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn registering_one_name_on_two_instances_at_once_creates_one_account() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    let (lower, upper) = (registration("dora"), registration("DORA"));
    let (one, two) = tokio::join!(
        a.post_json("/api/register", &lower),
        b.post_json("/api/register", &upper)
    );
    let mut statuses = [one.status().as_u16(), two.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
}

#[tokio::test]
async fn one_person_signing_in_on_two_instances_at_once_is_one_user() {
    let Some(url) = database().await else { return };
    let provider = TestProvider::start(Faults::default()).await;
    let a = spawn_app_for(&provider, &[("DATABASE_URL", &url)]).await;
    let b = spawn_app_for(
        &provider,
        &[
            ("DATABASE_URL", &url),
            ("PUBLIC_URL", a.public_url.as_str()),
        ],
    )
    .await;
    until_ready(&a, Duration::from_secs(20)).await;
    until_ready(&b, Duration::from_secs(20)).await;
    let (first, second) = tokio::join!(begin(&a, &provider, None), begin(&b, &provider, None));
    let (x, y) = tokio::join!(
        arrive(&a, &first.callback, &first.jar),
        arrive(&b, &second.callback, &second.jar)
    );
    assert_eq!((x.status().as_u16(), y.status().as_u16()), (303, 303));
    let users = a.state.store.list_users().await.expect("users");
    assert_eq!(users.len(), 1, "{users:?}");
}

#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 3, &[]).await;
    assert_eq!(apps.len(), 3);
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let rows = admin
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .expect("migrations");
    // One row per migration file (the schema, then the `sid` rename): none applied twice.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the migrations")
        .count();
    assert_eq!(
        rows.len(),
        migrations,
        "each migration applied exactly once"
    );
}

#[tokio::test]
async fn with_the_store_down_at_start_doorman_waits_and_then_recovers() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let url = server.database().await;
    server.crash().await;
    let app = spawn_app_with(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", STRONG_SECRET),
        ("ALLOW_REGISTRATION", "true"),
        ("REVOCATION_POLL_SECS", "1"),
    ])
    .await;
    // Nothing to wait for: `crash` returned once the server was down, so the set has never
    // been read and no attempt can succeed until `up`.
    let token = app.session_for(Some(1), &[]);
    let body: Value = app
        .get("/readyz", &Jar::default())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["store"]["ok"], false);
    assert_eq!(body["checks"]["revocations"]["ok"], false);
    let (status, body) = status_json(app.get_bearer("/api/user", &token).await).await;
    assert_eq!(
        status, 503,
        "never trusted with an empty revocation set: {body}"
    );
    let (status, body) =
        status_json(app.post_json("/api/register", &registration("eve")).await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "store_unavailable");
    let page = app
        .get(
            "/profile",
            &Jar(std::iter::once(("access_token".to_owned(), token.clone())).collect()),
        )
        .await;
    assert_eq!(page.status(), 503);
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("Temporarily unavailable")
    );

    server.up().await;
    until_ready(&app, Duration::from_secs(20)).await;
    assert_eq!(app.get_bearer("/api/user", &token).await.status(), 200);
    app.register("eve").await;
}

#[tokio::test]
async fn with_the_store_down_mid_run_sessions_keep_working_and_nothing_is_lost() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let url = server.database().await;
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    let strict =
        instances_joining(Some(a), &url, 1, &[("REVOCATION_MAX_STALENESS_SECS", "2")]).await;
    let strict = &strict[0];
    a.register("frank").await;
    let leaving = a.login("frank").await;
    let staying = a.login("frank").await;
    let (leaving, staying) = (
        access_token(&leaving).to_owned(),
        access_token(&staying).to_owned(),
    );
    let refresh_later = refresh_token(&a.login("frank").await).to_owned();

    server.crash().await;
    // Signed-in requests are answered from memory.
    for app in [a, b, strict] {
        assert_eq!(app.get_bearer("/api/user", &staying).await.status(), 200);
    }
    // A sign-out still ends the session where it happens, at once.
    assert_eq!(a.api_logout(&leaving).await, 204);
    assert_eq!(a.get_bearer("/api/user", &leaving).await.status(), 401);
    // Everything that needs the store answers 503, never 500.
    for (what, response) in [
        ("password sign-in", b.login_as("frank", PASSWORD).await),
        (
            "registration",
            b.post_json("/api/register", &registration("gina")).await,
        ),
        (
            "refresh",
            b.post_json(
                "/api/token/refresh",
                &json!({"refresh_token": refresh_later}),
            )
            .await,
        ),
    ] {
        let (status, body) = status_json(response).await;
        assert_eq!(status, 503, "{what}: {body}");
        assert_eq!(body["error"], "store_unavailable", "{what}");
    }
    // Strict mode refuses once its set is older than allowed (its clock moves on; with the
    // server down, which `crash` waited for, no poll can mark the set fresh).
    strict.clock.advance(5);
    assert_eq!(strict.get_bearer("/api/user", &staying).await.status(), 503);
    assert_eq!(b.get_bearer("/api/user", &staying).await.status(), 200);

    server.up().await;
    // The sign-out made during the outage reaches B, with nothing restarted.
    refused_after(b, &leaving, Duration::from_secs(15)).await;
    until_ready(strict, Duration::from_secs(15)).await;
    assert_eq!(strict.get_bearer("/api/user", &staying).await.status(), 200);
    assert_eq!(
        b.refresh(&refresh_later).await.0,
        200,
        "the refresh token survived"
    );
    b.login("frank").await;
}
