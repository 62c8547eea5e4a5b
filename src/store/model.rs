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
    pub device_grants: usize,
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

/// A terminal's device authorization request (RFC 8628), as it is kept: the digest of its
/// device code, never the code.
#[derive(Clone, Debug)]
pub struct NewDeviceGrant {
    pub device_hash: [u8; 32],
    /// Normalised: 8 letters, no dash.
    pub user_code: String,
    pub expires_at: u64,
    pub interval_secs: u64,
    pub client_address: String,
    pub client_agent: String,
}

/// What the approval page shows of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceGrant {
    pub created_at: u64,
    pub expires_at: u64,
    pub client_address: String,
    pub client_agent: String,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
}

/// What the person at the approval page decided.
#[derive(Clone, Debug)]
pub enum DeviceDecision {
    /// For `user_id`, with the groups (JSON) of the session that approved.
    Approve {
        user_id: i64,
        groups: Option<String>,
    },
    Deny,
}

/// What a terminal's poll found (RFC 8628 §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevicePoll {
    /// No such device code, or one already used.
    Unknown,
    Expired,
    /// Polled before its interval passed: the interval is now this.
    SlowDown {
        interval_secs: u64,
    },
    Pending,
    Denied,
    /// Approved, and now used: tokens are due to `user_id`.
    Approved {
        user_id: i64,
        groups: Option<String>,
    },
}

/// A device grant's row, as a poll reads it.
#[derive(Clone, Debug)]
pub(super) struct DeviceRow {
    pub status: String,
    pub expires_at: u64,
    pub polled_at: Option<u64>,
    pub interval_secs: u64,
    pub user_id: Option<i64>,
    pub groups: Option<String>,
}

/// What a poll changes in the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DeviceUpdate {
    None,
    /// A pending poll: when it was made, and the interval from now on.
    Polled {
        at: u64,
        interval_secs: u64,
    },
    /// Approved: its tokens are being handed out, once.
    Used,
}

/// RFC 8628 §3.5 for one poll at `now`, the same in both backends: a used code is unknown, an
/// expired one says so, a decided one answers its decision (an approval only once), and a
/// pending one polled before its interval passed gets `slow_down` and 5 s more to wait.
pub(super) fn poll_device(row: &DeviceRow, now: u64) -> (DevicePoll, DeviceUpdate) {
    const SLOW_DOWN_SECS: u64 = 5;
    match row.status.as_str() {
        "used" => return (DevicePoll::Unknown, DeviceUpdate::None),
        _ if now >= row.expires_at => return (DevicePoll::Expired, DeviceUpdate::None),
        "approved" => {
            return match row.user_id {
                Some(user_id) => (
                    DevicePoll::Approved {
                        user_id,
                        groups: row.groups.clone(),
                    },
                    DeviceUpdate::Used,
                ),
                None => (DevicePoll::Unknown, DeviceUpdate::Used),
            };
        }
        "denied" => return (DevicePoll::Denied, DeviceUpdate::None),
        _ => {}
    }
    if row.polled_at.is_some_and(|at| now < at + row.interval_secs) {
        let interval_secs = row.interval_secs + SLOW_DOWN_SECS;
        return (
            DevicePoll::SlowDown { interval_secs },
            DeviceUpdate::Polled {
                at: now,
                interval_secs,
            },
        );
    }
    (
        DevicePoll::Pending,
        DeviceUpdate::Polled {
            at: now,
            interval_secs: row.interval_secs,
        },
    )
}
