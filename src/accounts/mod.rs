//! Accounts: everybody doorman knows, local (username + password) or from the OpenID provider,
//! with their roles; registration and password sign-in, and the brakes on both (a bounded
//! hashing service, a failure throttle); the admission of a provider account (`admission`),
//! API clients' token pairs (`api_tokens`) and the admin's view (`directory`). Persistence is
//! the store's job; sessions are `session`'s, started and ended from here.

mod admission;
mod api_tokens;
pub mod device;
mod directory;
pub mod hasher;
pub mod password;
pub mod throttle;

use std::net::IpAddr;

pub use admission::{admit_provider_account, grant_group_roles};
pub use api_tokens::{
    Refreshed, TokenPair, end_session_of_refresh_token, refresh_api_session, start_api_session,
};
pub use directory::{delete_user, has_local_accounts, list_users, set_roles};
pub use hasher::{HashError, PasswordHasher};
pub use throttle::{AttemptKeys, LoginThrottle};

use axum::http::StatusCode;

use crate::config::AccessLists;
use crate::error::AppError;
use crate::identity::{Identity, is_plausible_email};
use crate::store::{NewLocalUser, Store, StoreError, User};

/// API clients' refresh tokens live 30 days; browsers sign in again after the session.
pub const REFRESH_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// Usernames: 3 to 32 of `[A-Za-z0-9_.-]`, so they are safe in URLs, logs and pages.
pub fn is_valid_username(username: &str) -> bool {
    (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks a new local account's fields; `Err((code, message))` names the first problem.
pub fn validate_new_account(
    username: &str,
    email: &str,
    name: &str,
    password: &str,
) -> Result<(), (&'static str, &'static str)> {
    if !is_valid_username(username) {
        return Err((
            "invalid_username",
            "username must be 3 to 32 letters, digits, '.', '_' or '-'",
        ));
    }
    if !is_plausible_email(email) {
        return Err((
            "invalid_email",
            "email must be an address such as ada@example.com",
        ));
    }
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(("invalid_name", "name must be 1 to 100 characters"));
    }
    password::check_policy(username, password).map_err(|why| ("weak_password", why))
}

/// The provider's `role_from_groups` pairs for an issuer (`AppState::roles_from_groups`).
pub trait GroupRoles: Sync {
    fn for_issuer(&self, issuer: &str) -> &[(String, String)];
}

/// A session resumed outside the browser (a refresh, a device grant) with `groups`: they
/// are set, and the roles the provider's `role_from_groups` grants for them added, as a
/// sign-in through the provider does.
pub fn with_groups(identity: &mut Identity, groups: Vec<String>, roles: &dyn GroupRoles) {
    identity.groups = groups;
    for (role, group) in roles.for_issuer(&identity.issuer) {
        if identity.groups.iter().any(|g| g == group) && !identity.roles.iter().any(|r| r == role) {
            identity.roles.push(role.clone());
        }
    }
}

/// The identity a session token is minted for. Local accounts are their own provider: `idp`
/// is doorman's `PUBLIC_URL`, `sub` the user id, and their self-typed email is never verified.
pub fn identity_of(user: &User, doorman_issuer: &str) -> Identity {
    let (issuer, subject, email_verified) = match (&user.issuer, &user.subject) {
        (Some(iss), Some(sub)) => (iss.clone(), sub.clone(), user.email_verified),
        _ => (doorman_issuer.to_owned(), user.id.to_string(), false),
    };
    Identity {
        issuer,
        subject,
        email: user.email.clone(),
        email_verified,
        name: user.name.clone().or_else(|| user.username.clone()),
        picture: None,
        user_id: Some(user.id),
        roles: user.roles.clone(),
        groups: Vec::new(),
    }
}

impl From<HashError> for AppError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => AppError::busy(2),
            HashError::Failed(reason) => AppError::internal(reason),
        }
    }
}

/// Why a registration did not create an account.
#[derive(Debug)]
pub enum RegistrationError {
    /// A field is refused: (code, message).
    Invalid(&'static str, &'static str),
    /// The email is outside the sign-in allow-lists.
    NotAllowed,
    Taken,
    Hashing(HashError),
    Store(StoreError),
}

impl From<StoreError> for RegistrationError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<RegistrationError> for AppError {
    fn from(err: RegistrationError) -> Self {
        match err {
            RegistrationError::Invalid(code, message) => AppError::bad_request(code, message),
            RegistrationError::NotAllowed => AppError::forbidden(
                "registration_not_allowed",
                "this email is not one that may register here",
            ),
            RegistrationError::Taken => AppError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "that username is already registered",
            ),
            RegistrationError::Hashing(err) => err.into(),
            RegistrationError::Store(err) => err.into(),
        }
    }
}

crate::error::renders_as_app_error!(RegistrationError);

/// A self-registration request, already trimmed.
pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password: String,
}

/// Creates a local account: cheap checks first (fields, allow-lists, a taken name), the
/// expensive hash last.
pub async fn register(
    store: &Store,
    hasher: &PasswordHasher,
    lists: &AccessLists,
    req: Registration<'_>,
    now: u64,
) -> Result<User, RegistrationError> {
    validate_new_account(req.username, req.email, req.name, &req.password)
        .map_err(|(code, message)| RegistrationError::Invalid(code, message))?;
    if !lists.email.names(req.email) {
        return Err(RegistrationError::NotAllowed);
    }
    if store.username_taken(req.username).await? {
        return Err(RegistrationError::Taken);
    }
    let hash = hasher
        .hash(req.password)
        .await
        .map_err(RegistrationError::Hashing)?;
    let created = store
        .create_local(
            NewLocalUser {
                username: req.username,
                email: req.email,
                name: req.name,
                password_hash: &hash,
                roles: &[],
            },
            now,
        )
        .await;
    match created {
        Err(StoreError::Conflict(_)) => Err(RegistrationError::Taken),
        other => Ok(other?),
    }
}

/// Why a password sign-in did not succeed.
#[derive(Debug)]
pub enum PasswordLoginError {
    /// Unknown user or wrong password: the same answer for both.
    InvalidCredentials,
    /// Longer than any password doorman accepts; nothing was hashed.
    PasswordTooLong,
    /// Too many recent failures; try again after this many seconds.
    Throttled(u64),
    Hashing(HashError),
    Store(StoreError),
}

impl From<StoreError> for PasswordLoginError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// One answer whether the account is unknown or the password wrong; the page and the API say
/// the same thing in their own words.
impl From<PasswordLoginError> for AppError {
    fn from(err: PasswordLoginError) -> Self {
        match err {
            PasswordLoginError::InvalidCredentials => AppError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong username or password",
            )
            .page(
                "Wrong username or password",
                "The username or password is not right. Check them and try again.",
            ),
            PasswordLoginError::PasswordTooLong => {
                AppError::bad_request("invalid_request", "the password is longer than 1024 bytes")
            }
            PasswordLoginError::Throttled(seconds) => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed sign-in attempts; wait before trying again",
            )
            .page(
                "Too many attempts",
                "There were too many sign-in attempts. Wait a little, then try again.",
            )
            .retry_after(seconds),
            PasswordLoginError::Hashing(err) => err.into(),
            PasswordLoginError::Store(err) => err.into(),
        }
    }
}

crate::error::renders_as_app_error!(PasswordLoginError);

/// The brakes password sign-in runs through.
pub struct PasswordCheck<'a> {
    pub store: &'a Store,
    pub hasher: &'a PasswordHasher,
    pub throttle: &'a LoginThrottle,
}

/// Checks a username and password, with the same cost whether or not the account exists, and
/// with failures slowed down per (account, client) and per client.
pub async fn authenticate_password(
    check: PasswordCheck<'_>,
    username: &str,
    password: String,
    client: IpAddr,
    now: u64,
) -> Result<User, PasswordLoginError> {
    if password.len() > password::MAX_PASSWORD_BYTES {
        return Err(PasswordLoginError::PasswordTooLong);
    }
    // Only a well-formed username gets its own key: an attacker's 60 KiB or multi-line
    // "usernames" must not grow the throttle's memory or reach the log.
    let well_formed = is_valid_username(username);
    let account = if well_formed {
        username.to_ascii_lowercase()
    } else {
        "(malformed)".to_owned()
    };
    let keys = AttemptKeys::new(&account, client);
    check
        .throttle
        .begin_attempt(&keys, now)
        .await?
        .map_err(PasswordLoginError::Throttled)?;

    let found = if well_formed {
        check.store.find_local(username).await?
    } else {
        None
    };
    let (user, stored) = match found {
        Some(creds) => (Some(creds.user), Some(creds.password_hash)),
        None => (None, None),
    };
    let matched = check
        .hasher
        .verify(password, stored)
        .await
        .map_err(PasswordLoginError::Hashing)?;
    match user.filter(|_| matched) {
        Some(user) => {
            check.throttle.succeeded(&keys).await?;
            check.store.record_login(user.id, now).await?;
            Ok(user)
        }
        // Already counted by `begin_attempt`; logged once, as the error's line. The username
        // is never logged: people type passwords into that field.
        None => Err(PasswordLoginError::InvalidCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailList;

    #[tokio::test]
    async fn a_taken_name_or_a_refused_email_is_answered_before_any_hash() {
        let store = Store::open(":memory:", 0).expect("store");
        store
            .create_local(
                NewLocalUser {
                    username: "ada",
                    email: "ada@example.com",
                    name: "Ada",
                    password_hash: "x",
                    roles: &[],
                },
                0,
            )
            .await
            .expect("created");
        let hasher = PasswordHasher::unavailable();
        let request = |username| Registration {
            username,
            email: "someone@example.com",
            name: "Someone",
            password: "violet-Orbit-7-lantern".into(),
        };
        let open = AccessLists::default();
        assert!(matches!(
            register(&store, &hasher, &open, request("ADA"), 0).await,
            Err(RegistrationError::Taken)
        ));
        let closed = AccessLists {
            email: EmailList::new(["other@example.com"], Vec::<String>::new()),
            ..AccessLists::default()
        };
        assert!(matches!(
            register(&store, &hasher, &closed, request("bob"), 0).await,
            Err(RegistrationError::NotAllowed)
        ));
        assert!(
            matches!(
                register(&store, &hasher, &open, request("bob"), 0).await,
                Err(RegistrationError::Hashing(_))
            ),
            "only a request that passes every cheap check reaches the hasher"
        );
    }

    #[test]
    fn a_local_accounts_email_is_never_verified_in_its_identity() {
        let user = User {
            id: 7,
            kind: "local",
            username: Some("ada".into()),
            email: Some("ceo@corp.example".into()),
            email_verified: true,
            name: None,
            issuer: None,
            subject: None,
            roles: vec![],
            created_at: 0,
            last_login_at: None,
        };
        let id = identity_of(&user, "https://auth.example.com");
        assert!(!id.email_verified);
        assert_eq!(id.issuer, "https://auth.example.com");
        assert_eq!(id.subject, "7");
    }
}
