//! The records the store hands out and takes in: users, credentials, sign-ins, refresh
//! outcomes, revocations, purge counts and throttle counters. Plain data, no behaviour.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub kind: &'static str,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub roles: Vec<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// A local account with its password hash, for verification only.
pub struct LocalCredentials {
    pub user: User,
    pub password_hash: String,
}

pub struct NewLocalUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub roles: &'a [String],
}

pub struct OidcSignIn<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub name: Option<&'a str>,
    /// Grant `admin` if this sign-in creates the user (`ADMIN_EMAILS` is bootstrap-only: an
    /// admin's later removal of the role sticks).
    pub admin_if_new: bool,
}

/// What presenting a refresh token proved.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid and now spent; the new token continues the session.
    Rotated {
        user: Box<User>,
        new_token: String,
        sid: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: someone is replaying it, so the whole session was revoked.
    Reused { sid: String },
}

/// An id (a session's `sid`, or a lone token's `jti`) refused until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub id: String,
    pub expires_at: u64,
}

/// How many rows a purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub revocations: usize,
    pub refresh_tokens: usize,
    pub sessions: usize,
    pub used_states: usize,
    pub counters: usize,
}

/// A named counter (the throttle's failures): `count` events, the last at `last`. A counter
/// that does not exist reads as zero at time zero; one set back to zero is deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub count: u32,
    pub last: u64,
}

/// A session to record at sign-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewSession<'a> {
    pub sid: &'a str,
    pub user_id: i64,
    pub expires_at: u64,
    /// A JSON array, when the session's token does not carry its groups.
    pub groups: Option<&'a str>,
    /// The provider's session id (the ID token's `sid`), which a back-channel logout names.
    pub provider_sid: Option<&'a str>,
    /// The ID token, sealed (`session::Sealer`), sent back as `id_token_hint` at sign-out.
    pub id_token_hint: Option<&'a str>,
    /// The provider's refresh token, sealed (`OIDC_REFRESH`); the provider counts as checked
    /// at the session's start.
    pub provider_refresh: Option<&'a str>,
}

/// A provider's back-channel logout, as the store carries it out: the sessions of the person
/// `subject` at `issuer` (all of them, or only those of the provider session
/// `provider_sid`; at least one of the two is set), once per token (`jti_digest`, remembered
/// until `jti_expires_at`).
#[derive(Clone, Copy, Debug)]
pub struct ProviderLogout<'a> {
    pub issuer: &'a str,
    pub subject: Option<&'a str>,
    pub provider_sid: Option<&'a str>,
    pub jti_digest: [u8; 32],
    pub jti_expires_at: u64,
}
