//! `NOTIFY doorman_revocations` is a hint, not a command: any role that can connect to the
//! database may send one, so an instance reads the id back from the `revocations` table and
//! applies only what is there, with the table's expiry. A forged notification revokes
//! nothing and does not grow any instance's set; a real sign-out still reaches the other
//! instance within a second. On real PostgreSQL (skipped with a notice without one).

use std::time::Duration;

use crate::support::TestApp;
use crate::support::accounts::access_token;
use crate::support::instances::{instances, refused_after};
use crate::support::jwt_payload;
use crate::support::postgres::database;

/// Another role on doorman's database (here the test's own superuser): it may `NOTIFY`.
async fn outsider(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

async fn notify(client: &tokio_postgres::Client, payload: &str) {
    client
        .execute("SELECT pg_notify('doorman_revocations', $1)", &[&payload])
        .await
        .expect("notify");
}

/// Signs a fresh session of `user` out on `a` and waits until `b` refuses it (at most a
/// second). Notifications are delivered in commit order, so once `b` refuses it, `b` has
/// handled every notification sent before.
async fn real_sign_out_reaches(a: &TestApp, b: &TestApp, user: &str) {
    let token = access_token(&a.login(user).await).to_owned();
    assert_eq!(b.get_bearer("/api/user", &token).await.status(), 200);
    assert_eq!(a.api_logout(&token).await, 204);
    let delay = refused_after(b, &token, Duration::from_secs(1)).await;
    eprintln!("a real sign-out on A reached B in {delay:?}");
}

fn sid(token: &str) -> String {
    jwt_payload(token)["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn a_forged_notification_revokes_nothing_and_does_not_grow_the_set() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("ida").await;
    let victim = access_token(&a.login("ida").await).to_owned();
    assert_eq!(b.get_bearer("/api/user", &victim).await.status(), 200);
    let held = b.state.sessions.revocations.len();

    let outsider = outsider(&url).await;
    let forever = i64::MAX;
    for payload in [
        // A real session's id, not in the table: a sign-out nobody made.
        format!("{} {forever}", sid(&victim)),
        // Ids nobody will ever present, to fill every instance's memory.
        format!("{} {forever}", doorman::random::token_id()),
        format!("{} {forever}", "a".repeat(7900)),
    ] {
        notify(&outsider, &payload).await;
    }
    real_sign_out_reaches(a, b, "ida").await;

    assert_eq!(
        b.get_bearer("/api/user", &victim).await.status(),
        200,
        "a notification alone signs nobody out"
    );
    assert_eq!(
        b.state.sessions.revocations.len(),
        held + 1,
        "only the real sign-out entered B's set"
    );
}

#[tokio::test]
async fn a_notification_cannot_keep_a_real_revocation_longer_than_its_row() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("joan").await;
    let token = access_token(&a.login("joan").await).to_owned();
    assert_eq!(a.api_logout(&token).await, 204);
    refused_after(b, &token, Duration::from_secs(1)).await;

    // The same id again, claiming it lasts for ever.
    notify(
        &outsider(&url).await,
        &format!("{} {}", sid(&token), i64::MAX),
    )
    .await;
    real_sign_out_reaches(a, b, "joan").await;

    // Past the lifetime the rows gave both revocations, B forgets them.
    let lifetime = b.state.sessions.revocation_lifetime();
    b.clock.advance(lifetime + 3600);
    b.state.maintain().await;
    assert_eq!(
        b.state.sessions.revocations.len(),
        0,
        "the forged expiry was not believed"
    );
}
