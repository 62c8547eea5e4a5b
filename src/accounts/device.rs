//! The device authorization grant (RFC 8628) for doorman's own tokens: a terminal asks for a
//! pair of codes, a signed-in person approves the short one in a browser, and the terminal,
//! polling with the long one, receives a token pair for that person, a session of its own.
//! The device code is kept only as a digest; the user code is 8 letters from an alphabet
//! without vowels or look-alikes (20^8 ≈ 2.6·10^10), and guessing it is throttled per person and
//! per address (`throttle`).

use rand::Rng;
use sha2::{Digest, Sha256};

use super::{GroupRoles, REFRESH_TOKEN_TTL_SECS, TokenPair, identity_of, with_groups};
use crate::session::{SessionError, Sessions};
use crate::store::{DeviceDecision, DeviceGrant, DevicePoll, NewDeviceGrant, Store, StoreError};

/// The only client: doorman's own command-line client (a public client, RFC 8628 §5.6).
pub const CLI_CLIENT_ID: &str = "doorman-cli";
/// How long a terminal's request waits for the person.
pub const DEVICE_CODE_TTL_SECS: u64 = 600;
/// How often a terminal may poll, to begin with.
pub const POLL_INTERVAL_SECS: u64 = 5;
/// The user code's letters: consonants only (no words), none that look alike.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// The longest user agent kept to show on the approval page.
const MAX_AGENT_LEN: usize = 200;

/// A new request's codes, for the terminal.
pub struct Started {
    pub device_code: String,
    /// Normalised (no dash); `display` shows it as `XXXX-XXXX`.
    pub user_code: String,
}

/// Who is asking, for the approval page.
pub struct Requester<'a> {
    pub address: String,
    pub agent: &'a str,
}

/// What a terminal's poll is answered.
pub enum Polled {
    Pending,
    SlowDown,
    Denied,
    Expired,
    /// Unknown or used.
    Invalid,
    Tokens(Box<TokenPair>),
}

/// A fresh user code, normalised.
fn user_code() -> String {
    let mut rng = rand::thread_rng();
    (0..USER_CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// `BCDFGHJK` as people read it: `BCDF-GHJK`.
pub fn display(user_code: &str) -> String {
    let (a, b) = user_code.split_at(user_code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// What a person typed as a user code, normalised: case, dashes and spaces do not matter;
/// `None` unless it is 8 letters of the alphabet.
pub fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn digest(device_code: &str) -> [u8; 32] {
    Sha256::digest(device_code.as_bytes()).into()
}

/// Starts a request from `requester` at `now`: a device code (256 bits) and a user code (a
/// new one is drawn should it collide with a live one).
pub async fn start(
    store: &Store,
    requester: Requester<'_>,
    now: u64,
) -> Result<Started, StoreError> {
    let agent: String = requester
        .agent
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_AGENT_LEN)
        .collect();
    let mut last = StoreError::Conflict("user code");
    for _ in 0..5 {
        let device_code = crate::random::secret_token();
        let user_code = user_code();
        let new = NewDeviceGrant {
            device_hash: digest(&device_code),
            user_code: user_code.clone(),
            expires_at: now + DEVICE_CODE_TTL_SECS,
            interval_secs: POLL_INTERVAL_SECS,
            client_address: requester.address.clone(),
            client_agent: agent.clone(),
        };
        match store.create_device_grant(new, now).await {
            Ok(()) => {
                return Ok(Started {
                    device_code,
                    user_code,
                });
            }
            Err(err @ StoreError::Conflict(_)) => last = err,
            Err(err) => return Err(err),
        }
    }
    Err(last)
}

/// The request `user_code` names (normalised), for the approval page.
pub async fn find(store: &Store, user_code: &str) -> Result<Option<DeviceGrant>, StoreError> {
    store.device_grant(user_code).await
}

/// Approves (for `user_id`, with the approving session's `groups`) or denies a pending
/// request; `false` when it was no longer pending (decided, expired).
pub async fn decide(
    store: &Store,
    user_code: &str,
    decision: DeviceDecision,
    now: u64,
) -> Result<bool, StoreError> {
    store.decide_device_grant(user_code, decision, now).await
}

/// A terminal's poll with `device_code`: the RFC's answer, or, once approved, a token pair
/// for the person who approved (their roles now, the groups and provider of the session that
/// approved), in a session of its own that lasts as long as its refresh token.
pub async fn poll(
    store: &Store,
    sessions: &Sessions,
    device_code: &str,
    issuer: &str,
    roles: &dyn GroupRoles,
    now: u64,
) -> Result<Polled, SessionError> {
    let polled = store.poll_device_grant(digest(device_code), now).await?;
    Ok(match polled {
        DevicePoll::Unknown => Polled::Invalid,
        DevicePoll::Expired => Polled::Expired,
        DevicePoll::SlowDown { .. } => Polled::SlowDown,
        DevicePoll::Pending => Polled::Pending,
        DevicePoll::Denied => Polled::Denied,
        DevicePoll::Approved { user_id, groups } => {
            let user = match store.user(user_id).await {
                Ok(user) => user,
                Err(StoreError::NotFound) => return Ok(Polled::Invalid),
                Err(err) => return Err(err.into()),
            };
            let mut identity = identity_of(&user, issuer);
            let groups = groups
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok())
                .unwrap_or_default();
            with_groups(&mut identity, groups, roles);
            let access = sessions
                .start(&identity, Some(now + REFRESH_TOKEN_TTL_SECS))
                .await?;
            let sid = access.claims.sid.clone().unwrap_or_default();
            let refresh_token = store
                .issue_refresh_token(user.id, &sid, REFRESH_TOKEN_TTL_SECS, now)
                .await?;
            Polled::Tokens(Box::new(TokenPair {
                access,
                refresh_token,
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_and_typed_in_any_case_with_or_without_the_dash() {
        for _ in 0..100 {
            let code = user_code();
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
            assert_eq!(
                normalize(&display(&code).to_lowercase()).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(normalize(" bcdf - ghjk ").as_deref(), Some("BCDFGHJK"));
        for wrong in [
            "",
            "BCDFGHJ",
            "BCDFGHJKL",
            "ABCDEFGH",
            "BCDF_GHJK",
            "BCDFGHJ1",
            "ßCDFGHJK",
        ] {
            assert_eq!(normalize(wrong), None, "{wrong:?}");
        }
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
    }
}
