//! A store the previous version made (each refresh token's session in a column named
//! `family`) is migrated at start, on both backends, and the refresh tokens API clients already
//! hold keep working: they rotate within their session, and reuse still revokes it.

use sha2::{Digest, Sha256};

use super::*;

/// The schema as the previous version left it, migration by migration.
const OLD_SQLITE: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_accounts.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_sessions.sql"),
    ),
];
const OLD_POSTGRES: &str = include_str!("../../../migrations/postgres/0001_schema.sql");

/// A refresh token an API client received from the previous version.
const HELD: &str = "a-refresh-token-an-api-client-holds";

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// What the previous version wrote for one password sign-in of an API client.
const OLD_ROWS: &str = "
    INSERT INTO users (username, email, password_hash, created_at)
        VALUES ('ada', 'ada@example.com', '$argon2id$dummy', 1800000000);
    INSERT INTO sessions (sid, user_id, created_at, expires_at)
        VALUES ('sid-old', 1, 1800000000, 1800003600);";

async fn the_held_token_keeps_working(s: Store) {
    assert_eq!(
        s.refresh_token_session(HELD).await.expect("lookup"),
        Some("sid-old".into())
    );
    let RefreshOutcome::Rotated {
        user,
        new_token,
        sid,
    } = s
        .rotate_refresh_token(HELD, 3600, NOW + 1, 3600)
        .await
        .expect("rotate")
    else {
        panic!("a token the previous version issued rotates");
    };
    assert_eq!(
        (user.username.as_deref(), sid.as_str()),
        (Some("ada"), "sid-old")
    );
    assert_eq!(
        s.refresh_token_session(&new_token).await.expect("lookup"),
        Some("sid-old".into()),
        "its successor belongs to the same session"
    );
    assert_eq!(
        s.rotate_refresh_token(HELD, 3600, NOW + 2, 3600)
            .await
            .expect("reuse"),
        RefreshOutcome::Reused {
            sid: "sid-old".into()
        }
    );
    assert_eq!(
        s.rotate_refresh_token(&new_token, 3600, NOW + 3, 3600)
            .await
            .expect("after reuse"),
        RefreshOutcome::Invalid,
        "reuse still ends the whole session"
    );
}

#[tokio::test]
async fn an_old_sqlite_store_is_migrated_and_its_refresh_tokens_keep_working() {
    let dir = std::env::temp_dir().join(format!("doorman-old-{}", crate::random::token_id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("old.db").to_string_lossy().into_owned();
    {
        let c = rusqlite::Connection::open(&path).expect("open");
        c.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .expect("migrations table");
        for (version, sql) in OLD_SQLITE {
            c.execute_batch(sql).expect("old migration");
            c.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
                [version],
            )
            .expect("recorded");
        }
        c.execute_batch(OLD_ROWS).expect("old rows");
        c.execute(
            "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at)
             VALUES (1, 'sid-old', ?1, 1800000000, 1800003600)",
            [digest(HELD)],
        )
        .expect("old refresh token");
    }
    the_held_token_keeps_working(Store::open(&path, NOW).expect("migrated at open")).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_old_postgres_store_is_migrated_and_its_refresh_tokens_keep_working() {
    let Some(url) = empty_postgres().await else {
        return;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
             {OLD_POSTGRES}
             INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0);
             {OLD_ROWS}"
        ))
        .await
        .expect("the previous version's schema and rows");
    client
        .execute(
            "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at)
             VALUES (1, 'sid-old', $1, 1800000000, 1800003600)",
            &[&digest(HELD)],
        )
        .await
        .expect("old refresh token");
    let store = Store::open(&url, NOW).expect("a pool");
    store.migrate(NOW).await.expect("migrated");
    the_held_token_keeps_working(store).await;
}
