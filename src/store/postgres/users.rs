//! Users and their roles in PostgreSQL. Races between instances end in the database: a
//! username is unique whatever its case (an index on `lower(username)`), a provider account
//! becomes one row (`ON CONFLICT (issuer, subject)`), and the last-admin rule reads the admins
//! under a row lock.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::{LocalCredentials, NewLocalUser, OidcSignIn, Revocation, StoreError, User};
use super::sessions::revoke_user_sessions;
use super::{PgStore, bounded, secs};
use crate::identity::ADMIN_ROLE;

const USER_COLUMNS: &str =
    "id, username, email, email_verified, name, issuer, subject, created_at, last_login_at";

fn user_from_row(row: &Row, roles: Vec<String>) -> User {
    let issuer: Option<String> = row.get(5);
    User {
        id: row.get(0),
        kind: if issuer.is_some() { "oidc" } else { "local" },
        username: row.get(1),
        email: row.get(2),
        email_verified: row.get(3),
        name: row.get(4),
        issuer,
        subject: row.get(6),
        roles,
        created_at: row.get(7),
        last_login_at: row.get(8),
    }
}

async fn roles_of(c: &impl GenericClient, id: i64) -> Result<Vec<String>, StoreError> {
    Ok(c.query(
        "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
        &[&id],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

pub(super) async fn user_by_id(c: &impl GenericClient, id: i64) -> Result<User, StoreError> {
    let roles = roles_of(c, id).await?;
    let row = c
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            &[&id],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(user_from_row(&row, roles))
}

/// Refuses a change that would take the admin role from the only user who has it. The admin
/// rows are locked, so two admins demoting each other at once cannot both succeed.
async fn ensure_an_admin_remains(c: &impl GenericClient, id: i64) -> Result<(), StoreError> {
    let admins: Vec<i64> = c
        .query(
            "SELECT user_id FROM user_roles WHERE role = $1 ORDER BY user_id FOR UPDATE",
            &[&ADMIN_ROLE],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if admins.contains(&id) && admins.len() <= 1 {
        return Err(StoreError::Conflict("last_admin"));
    }
    Ok(())
}

impl PgStore {
    pub async fn has_local_accounts(&self) -> Result<bool, StoreError> {
        let c = self.client().await?;
        bounded(async {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM users WHERE password_hash IS NOT NULL)",
                &[],
            )
            .await?
            .get(0))
        })
        .await
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        bounded(async {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1))",
                &[&username],
            )
            .await?
            .get(0))
        })
        .await
    }

    pub async fn create_local(&self, new: NewLocalUser<'_>, now: u64) -> Result<User, StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            let inserted = tx
                .query_one(
                    "INSERT INTO users (username, email, name, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[
                        &new.username,
                        &new.email,
                        &new.name,
                        &new.password_hash,
                        &secs(now),
                    ],
                )
                .await;
            let id: i64 = match inserted {
                Ok(row) => row.get(0),
                Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "23505") => {
                    return Err(StoreError::Conflict("username_taken"));
                }
                Err(e) => return Err(e.into()),
            };
            for role in new.roles {
                tx.execute(
                    "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, role],
                )
                .await?;
            }
            let user = user_by_id(&tx, id).await?;
            tx.commit().await?;
            Ok(user)
        })
        .await
    }

    pub async fn find_local(&self, username: &str) -> Result<Option<LocalCredentials>, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let row = c
                .query_opt(
                    "SELECT id, password_hash FROM users
                     WHERE lower(username) = lower($1) AND password_hash IS NOT NULL",
                    &[&username],
                )
                .await?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(LocalCredentials {
                    user: user_by_id(&c, row.get(0)).await?,
                    password_hash: row.get(1),
                })),
            }
        })
        .await
    }

    pub async fn record_login(&self, id: i64, now: u64) -> Result<(), StoreError> {
        let c = self.client().await?;
        bounded(async {
            c.execute(
                "UPDATE users SET last_login_at = $1 WHERE id = $2",
                &[&secs(now), &id],
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// One statement: two instances signing the same person in at once make one row.
    pub async fn upsert_oidc(&self, sign_in: OidcSignIn<'_>, now: u64) -> Result<User, StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            let row = tx
                .query_one(
                    "INSERT INTO users (issuer, subject, email, email_verified, name, created_at, last_login_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)
                     ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email,
                         email_verified = excluded.email_verified, name = excluded.name,
                         last_login_at = excluded.last_login_at
                     RETURNING id, (xmax = 0) AS created",
                    &[
                        &sign_in.issuer,
                        &sign_in.subject,
                        &sign_in.email,
                        &sign_in.email_verified,
                        &sign_in.name,
                        &secs(now),
                    ],
                )
                .await?;
            let (id, created): (i64, bool) = (row.get(0), row.get(1));
            if created && sign_in.admin_if_new {
                tx.execute(
                    "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, &ADMIN_ROLE],
                )
                .await?;
            }
            let user = user_by_id(&tx, id).await?;
            tx.commit().await?;
            Ok(user)
        })
        .await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let mut roles: std::collections::HashMap<i64, Vec<String>> = Default::default();
            for row in c
                .query(
                    "SELECT user_id, role FROM user_roles ORDER BY user_id, role",
                    &[],
                )
                .await?
            {
                roles.entry(row.get(0)).or_default().push(row.get(1));
            }
            let rows = c
                .query(
                    &format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"),
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| {
                    let id: i64 = row.get(0);
                    user_from_row(row, roles.remove(&id).unwrap_or_default())
                })
                .collect())
        })
        .await
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        let c = self.client().await?;
        bounded(user_by_id(&c, id)).await
    }

    pub async fn current_roles(&self, id: i64) -> Result<Option<Vec<String>>, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let exists: bool = c
                .query_one("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", &[&id])
                .await?
                .get(0);
            Ok(if exists {
                Some(roles_of(&c, id).await?)
            } else {
                None
            })
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
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            user_by_id(&tx, id).await?;
            if !roles.iter().any(|r| r == ADMIN_ROLE) {
                ensure_an_admin_remains(&tx, id).await?;
            }
            tx.execute("DELETE FROM user_roles WHERE user_id = $1", &[&id])
                .await?;
            for role in &roles {
                tx.execute(
                    "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, role],
                )
                .await?;
            }
            let revoked = revoke_user_sessions(&tx, id, now, revoke_for).await?;
            let user = user_by_id(&tx, id).await?;
            tx.commit().await?;
            Ok((user, revoked))
        })
        .await
    }

    pub async fn delete_user(
        &self,
        id: i64,
        now: u64,
        revoke_for: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            user_by_id(&tx, id).await?;
            ensure_an_admin_remains(&tx, id).await?;
            let revoked = revoke_user_sessions(&tx, id, now, revoke_for).await?;
            tx.execute("DELETE FROM users WHERE id = $1", &[&id])
                .await?;
            tx.commit().await?;
            Ok(revoked)
        })
        .await
    }
}
