//! The store's behaviour, backend by backend: every test here runs against SQLite and against
//! PostgreSQL (a database of its own on the server `DOORMAN_TEST_DATABASE_URL` names; without
//! one the PostgreSQL half is skipped with a notice, except under `CI=true`, where it fails).

use super::*;

const NOW: u64 = 1_800_000_000;

/// Records session `sid` of `user_id`, started at `now`, as a sign-in would.
async fn add_session(
    s: &Store,
    sid: &str,
    user_id: i64,
    now: u64,
    expires_at: u64,
    groups: Option<&str>,
) -> Result<(), StoreError> {
    let new = NewSession {
        sid,
        user_id,
        expires_at,
        groups,
        ..NewSession::default()
    };
    s.create_session(new, now).await
}

fn sqlite() -> Store {
    Store::open(":memory:", NOW).expect("in-memory store")
}

/// A fresh, migrated PostgreSQL database, or `None` (with a notice) when there is no server.
async fn postgres() -> Option<Store> {
    let url = empty_postgres().await?;
    let store = Store::open(&url, NOW).expect("a pool");
    store.migrate(NOW).await.expect("migrated");
    Some(store)
}

/// The URL of a new, empty PostgreSQL database, or `None` (with a notice) when there is no
/// server.
async fn empty_postgres() -> Option<String> {
    let Ok(admin) = std::env::var("DOORMAN_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but DOORMAN_TEST_DATABASE_URL is unset: the PostgreSQL tests must run in CI \
             (source .ci/stores.sh && pg_up)"
        );
        skipped_notice("the PostgreSQL half of the store suite");
        return None;
    };
    let name = format!("doorman_t_{}", crate::random::token_id());
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("the test server answers");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    Some(with_database(&admin, &name))
}

/// `url` (`postgres://user@host/db?…`) naming database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = path.find('?').map_or("", |i| &path[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

/// Each test, once per backend: `name::sqlite` and `name::postgres`.
macro_rules! on_both_backends {
    ($(async fn $name:ident($s:ident: Store) $body:block)*) => {
        $(
            mod $name {
                use super::*;

                async fn run($s: Store) $body

                #[tokio::test]
                async fn sqlite() {
                    run(super::sqlite()).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(store) = super::postgres().await {
                        run(store).await;
                    }
                }
            }
        )*
    };
}

async fn local(store: &Store, username: &str, roles: &[String]) -> User {
    store
        .create_local(
            NewLocalUser {
                username,
                email: "a@example.com",
                name: "A",
                password_hash: "$argon2id$dummy",
                roles,
            },
            NOW,
        )
        .await
        .expect("created")
}

fn oidc<'a>(issuer: &'a str, subject: &'a str, email: &'a str, admin: bool) -> OidcSignIn<'a> {
    OidcSignIn {
        issuer,
        subject,
        email: Some(email),
        email_verified: true,
        name: Some("X"),
        admin_if_new: admin,
    }
}

mod accounts;
mod devices;
mod migration;
mod provider_sessions;
mod tokens;

/// Says once per test binary, on the real stderr (test output capture does not hide it),
/// which PostgreSQL tests were skipped and how to run them.
fn skipped_notice(what: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: skipped {what} against PostgreSQL: DOORMAN_TEST_DATABASE_URL is not set.\n      \
             Run them with: source .ci/stores.sh && pg_up && cargo test   (pg_down stops it)\n"
        );
    });
}
