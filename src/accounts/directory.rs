//! Everybody doorman knows, for the admin pages and the home page: listing them, changing
//! their roles and deleting them. A change of roles or a deletion ends the person's sessions
//! at once (here, in the store, and so on every instance), so it applies to their very next
//! request; the store refuses to leave nobody with the admin role (`Conflict("last_admin")`).

use crate::session::Sessions;
use crate::store::{Store, StoreError, User};

/// Everybody, with their roles.
pub async fn list_users(store: &Store) -> Result<Vec<User>, StoreError> {
    store.list_users().await
}

/// Whether any local (username + password) account exists, so the password form is worth
/// offering.
pub async fn has_local_accounts(store: &Store) -> Result<bool, StoreError> {
    store.has_local_accounts().await
}

/// Replaces user `id`'s roles and ends their sessions.
pub async fn set_roles(
    store: &Store,
    sessions: &Sessions,
    id: i64,
    roles: Vec<String>,
) -> Result<User, StoreError> {
    let now = sessions.clock.now();
    let (user, revoked) = store
        .set_roles(id, roles, now, sessions.revocation_lifetime())
        .await?;
    sessions.apply(&revoked);
    sessions
        .metrics
        .sessions_revoked("roles_changed", revoked.len());
    Ok(user)
}

/// Deletes user `id` after ending their sessions (refresh tokens included).
pub async fn delete_user(store: &Store, sessions: &Sessions, id: i64) -> Result<(), StoreError> {
    let now = sessions.clock.now();
    let revoked = store
        .delete_user(id, now, sessions.revocation_lifetime())
        .await?;
    sessions.apply(&revoked);
    sessions
        .metrics
        .sessions_revoked("user_deleted", revoked.len());
    Ok(())
}
