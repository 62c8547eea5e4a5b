//! Users and their roles in SQLite.

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::super::{LocalCredentials, NewLocalUser, OidcSignIn, Revocation, StoreError, User};
use super::sessions::revoke_user_sessions;
use super::{SqliteStore, secs};
use crate::identity::ADMIN_ROLE;

const USER_COLUMNS: &str =
    "id, username, email, email_verified, name, issuer, subject, created_at, last_login_at";

fn user_from_row(row: &rusqlite::Row<'_>, roles: Vec<String>) -> rusqlite::Result<User> {
    let issuer: Option<String> = row.get(5)?;
    Ok(User {
        id: row.get(0)?,
        kind: if issuer.is_some() { "oidc" } else { "local" },
        username: row.get(1)?,
        email: row.get(2)?,
        email_verified: row.get(3)?,
        name: row.get(4)?,
        issuer,
        subject: row.get(6)?,
        roles,
        created_at: row.get(7)?,
        last_login_at: row.get(8)?,
    })
}

fn roles_of(conn: &Connection, id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT role FROM user_roles WHERE user_id = ?1 ORDER BY role")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

pub(super) fn user_by_id(conn: &Connection, id: i64) -> Result<User, StoreError> {
    let roles = roles_of(conn, id)?;
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id],
        |row| user_from_row(row, roles),
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

fn is_admin(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM user_roles WHERE user_id = ?1 AND role = ?2)",
        params![id, ADMIN_ROLE],
        |r| r.get(0),
    )
}

/// Refuses a change that would take the admin role from the only user who has it.
fn ensure_an_admin_remains(conn: &Connection, id: i64) -> Result<(), StoreError> {
    if !is_admin(conn, id)? {
        return Ok(());
    }
    let admins: i64 = conn.query_row(
        "SELECT count(*) FROM user_roles WHERE role = ?1",
        [ADMIN_ROLE],
        |r| r.get(0),
    )?;
    if admins <= 1 {
        return Err(StoreError::Conflict("last_admin"));
    }
    Ok(())
}

impl SqliteStore {
    pub async fn has_local_accounts(&self) -> Result<bool, StoreError> {
        self.run(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE password_hash IS NOT NULL)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool, StoreError> {
        let username = username.to_owned();
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1)",
                [&username],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn create_local(&self, new: NewLocalUser<'_>, now: u64) -> Result<User, StoreError> {
        let (username, email, name, hash, roles) = (
            new.username.to_owned(),
            new.email.to_owned(),
            new.name.to_owned(),
            new.password_hash.to_owned(),
            new.roles.to_vec(),
        );
        self.write(move |tx| {
            let inserted = tx.execute(
                "INSERT INTO users (username, email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![username, email, name, hash, secs(now)],
            );
            match inserted {
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    return Err(StoreError::Conflict("username_taken"));
                }
                other => other?,
            };
            let id = tx.last_insert_rowid();
            for role in &roles {
                tx.execute(
                    "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)",
                    params![id, role],
                )?;
            }
            user_by_id(tx, id)
        })
        .await
    }

    pub async fn find_local(&self, username: &str) -> Result<Option<LocalCredentials>, StoreError> {
        let username = username.to_owned();
        self.run(move |c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT id, password_hash FROM users WHERE username = ?1 AND password_hash IS NOT NULL",
                    [&username],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            row.map(|(id, password_hash)| Ok(LocalCredentials { user: user_by_id(c, id)?, password_hash }))
                .transpose()
        })
        .await
    }

    pub async fn record_login(&self, id: i64, now: u64) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "UPDATE users SET last_login_at = ?1 WHERE id = ?2",
                params![secs(now), id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn upsert_oidc(&self, sign_in: OidcSignIn<'_>, now: u64) -> Result<User, StoreError> {
        let issuer = sign_in.issuer.to_owned();
        let subject = sign_in.subject.to_owned();
        let email = sign_in.email.map(str::to_owned);
        let name = sign_in.name.map(str::to_owned);
        let (verified, admin_if_new) = (sign_in.email_verified, sign_in.admin_if_new);
        self.write(move |tx| {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM users WHERE issuer = ?1 AND subject = ?2",
                    params![issuer, subject],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match existing {
                Some(id) => {
                    tx.execute(
                        "UPDATE users SET email = ?1, email_verified = ?2, name = ?3, last_login_at = ?4 WHERE id = ?5",
                        params![email, verified, name, secs(now), id],
                    )?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO users (issuer, subject, email, email_verified, name, created_at, last_login_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        params![issuer, subject, email, verified, name, secs(now)],
                    )?;
                    let id = tx.last_insert_rowid();
                    if admin_if_new {
                        tx.execute(
                            "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)",
                            params![id, ADMIN_ROLE],
                        )?;
                    }
                    id
                }
            };
            user_by_id(tx, id)
        })
        .await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|c| {
            let mut roles: std::collections::HashMap<i64, Vec<String>> = Default::default();
            let mut stmt =
                c.prepare("SELECT user_id, role FROM user_roles ORDER BY user_id, role")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
                let (id, role) = row?;
                roles.entry(id).or_default().push(role);
            }
            let mut stmt = c.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
            let users = stmt
                .query_map([], |row| {
                    let id: i64 = row.get(0)?;
                    user_from_row(row, roles.remove(&id).unwrap_or_default())
                })?
                .collect::<Result<_, _>>()?;
            Ok(users)
        })
        .await
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        self.run(move |c| user_by_id(c, id)).await
    }

    pub async fn current_roles(&self, id: i64) -> Result<Option<Vec<String>>, StoreError> {
        self.run(move |c| {
            let exists: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )?;
            Ok(if exists { Some(roles_of(c, id)?) } else { None })
        })
        .await
    }

    pub async fn set_roles(
        &self,
        id: i64,
        roles: Vec<String>,
        now: u64,
        revoke_for: u64,
    ) -> Result<(User, Vec<Revocation>), StoreError> {
        self.write(move |tx| {
            user_by_id(tx, id)?;
            if !roles.iter().any(|r| r == ADMIN_ROLE) {
                ensure_an_admin_remains(tx, id)?;
            }
            tx.execute("DELETE FROM user_roles WHERE user_id = ?1", [id])?;
            for role in &roles {
                tx.execute(
                    "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)",
                    params![id, role],
                )?;
            }
            let revoked = revoke_user_sessions(tx, id, now, revoke_for)?;
            Ok((user_by_id(tx, id)?, revoked))
        })
        .await
    }

    pub async fn delete_user(
        &self,
        id: i64,
        now: u64,
        revoke_for: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.write(move |tx| {
            user_by_id(tx, id)?;
            ensure_an_admin_remains(tx, id)?;
            let revoked = revoke_user_sessions(tx, id, now, revoke_for)?;
            tx.execute("DELETE FROM users WHERE id = ?1", [id])?;
            Ok(revoked)
        })
        .await
    }
}
