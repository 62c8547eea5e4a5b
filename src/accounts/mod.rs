//! Accounts: everybody doorman knows, local (username + password) or from the OpenID provider,
//! with their roles; refresh tokens for API clients; and the brakes on password guessing.

pub mod password;
pub mod store;
pub mod throttle;

pub use store::{AccountStore, NewLocalUser, OidcSignIn, RefreshOutcome, StoreError, User};
pub use throttle::LoginThrottle;

/// API clients' refresh tokens live 30 days; browsers sign in again after the session.
pub const REFRESH_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// Role names: short, lower-case, `[a-z0-9_-]`.
pub fn is_valid_role(role: &str) -> bool {
    (1..=32).contains(&role.len())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Usernames: 3 to 32 of `[A-Za-z0-9_.-]`, so they are safe in URLs, logs and pages.
pub fn is_valid_username(username: &str) -> bool {
    (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub fn is_plausible_email(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
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

/// The identity a session token is minted for. Local accounts are their own provider:
/// `idp` is doorman's `PUBLIC_URL`, `sub` the user id.
pub fn identity_of(user: &User, doorman_issuer: &str) -> crate::session::Identity {
    let (issuer, subject) = match (&user.issuer, &user.subject) {
        (Some(iss), Some(sub)) => (iss.clone(), sub.clone()),
        _ => (doorman_issuer.to_owned(), user.id.to_string()),
    };
    crate::session::Identity {
        issuer,
        subject,
        email: user.email.clone(),
        email_verified: user.email_verified,
        name: user.name.clone().or_else(|| user.username.clone()),
        picture: None,
        user_id: Some(user.id),
        roles: user.roles.clone(),
    }
}

/// Why a password sign-in did not succeed.
#[derive(Debug)]
pub enum PasswordLoginError {
    /// Unknown user or wrong password: the same answer for both.
    InvalidCredentials,
    /// Too many recent failures; try again after this many seconds.
    Throttled(u64),
    Store(StoreError),
}

impl From<StoreError> for PasswordLoginError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Checks a username and password, with the same cost whether or not the account exists,
/// and with failures slowed down per account and per client address.
pub async fn authenticate_password(
    store: &AccountStore,
    throttle: &LoginThrottle,
    username: &str,
    password: &str,
    client: std::net::IpAddr,
) -> Result<User, PasswordLoginError> {
    let now = crate::session::now_secs();
    // Only a well-formed username gets its own key: an attacker's 60 KiB or multi-line
    // "usernames" must not grow the throttle's memory or reach the log.
    let account_key = if is_valid_username(username) {
        format!("user:{}", username.to_ascii_lowercase())
    } else {
        "user:(malformed)".to_owned()
    };
    let client_key = format!("ip:{client}");
    let keys = [account_key.as_str(), client_key.as_str()];
    throttle
        .begin_attempt(&keys, now)
        .map_err(PasswordLoginError::Throttled)?;

    let found = if is_valid_username(username) && password.len() <= password::MAX_PASSWORD_BYTES {
        store.find_local(username).await?
    } else {
        None
    };
    let password = password.to_owned();
    let verified = tokio::task::spawn_blocking(move || match found {
        Some(creds) if password::verify(&password, &creds.password_hash) => Some(creds.user),
        Some(_) => None,
        None => {
            password::verify_against_dummy(&password);
            None
        }
    })
    .await
    .map_err(|e| StoreError::Internal(format!("password check: {e}")))?;

    match verified {
        Some(user) => {
            throttle.record_success(&[account_key.as_str()]);
            throttle.refund(&[client_key.as_str()]);
            store.record_login(user.id).await?;
            Ok(user)
        }
        None => {
            // Already counted by `begin_attempt`.
            tracing::warn!(username = %account_key, client = %client, "password sign-in failed");
            Err(PasswordLoginError::InvalidCredentials)
        }
    }
}
