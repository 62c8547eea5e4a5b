//! A session's provider groups. A few fit in its token (`groups`, the usual case); more would
//! push the cookie past the 4 KiB a browser keeps, so then the token carries their digest
//! (`gref`) and the list is kept with the session in the store. Each instance keeps the lists
//! it has seen in memory (`GroupDirectory`), and a verified token's claims keep theirs once
//! resolved, so only the first request of such a session on an instance reads the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{Claims, SessionProblem, Sessions};

/// Groups whose JSON array is at most this long travel in the token.
pub const GROUPS_IN_TOKEN_BYTES: usize = 1200;
/// Lists kept in memory at most; when full, a tenth of them make room.
const DIRECTORY_ENTRIES: usize = 10_000;
/// The longest a request waits for the store to name a session's groups.
const LOAD_TIMEOUT: Duration = Duration::from_secs(3);

/// The digest a token names its session's groups by: SHA-256 of their JSON array, base64url.
pub(super) fn digest(groups: &[String]) -> String {
    let json = serde_json::to_vec(groups).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&json))
}

/// Whether `groups` travel in the token (else by digest, kept with the session).
pub fn fit_in_token(groups: &[String]) -> bool {
    serde_json::to_vec(groups).is_ok_and(|json| json.len() <= GROUPS_IN_TOKEN_BYTES)
}

/// The group lists this instance has seen, by session id.
#[derive(Default)]
pub struct GroupDirectory {
    lists: Mutex<HashMap<Box<str>, Arc<[String]>>>,
}

impl GroupDirectory {
    fn lists(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<[String]>>> {
        // Entries are inserted or removed whole: a poisoned map is still a consistent one.
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, sid: &str) -> Option<Arc<[String]>> {
        self.lists().get(sid).cloned()
    }

    pub fn put(&self, sid: &str, groups: Arc<[String]>) {
        let mut lists = self.lists();
        if lists.len() >= DIRECTORY_ENTRIES && !lists.contains_key(sid) {
            let victims: Vec<Box<str>> =
                lists.keys().take(DIRECTORY_ENTRIES / 10).cloned().collect();
            for victim in victims {
                lists.remove(&victim);
            }
        }
        lists.insert(sid.into(), groups);
    }

    pub fn len(&self) -> usize {
        self.lists().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sessions {
    /// Makes `claims.groups()` whole: for a token that names its groups by digest, the list
    /// from memory, else (once per instance) from the store. A list that is not the one the
    /// token names makes the token invalid; a store that does not answer, a 503.
    pub async fn resolve_groups(&self, claims: &Claims) -> Result<(), SessionProblem> {
        let Some(wanted) = claims.groups_ref().filter(|_| !claims.groups_resolved()) else {
            return Ok(());
        };
        let sid = claims
            .sid()
            .ok_or(SessionProblem::Token(super::TokenError::Invalid))?;
        if let Some(list) = self.groups.get(sid).filter(|l| digest(l) == wanted) {
            claims.resolve_groups(list);
            return Ok(());
        }
        let stored = tokio::time::timeout(LOAD_TIMEOUT, self.store.session_groups(sid)).await;
        let json = match stored {
            Ok(Ok(Some(json))) => json,
            Ok(Ok(None)) => return Err(SessionProblem::Token(super::TokenError::Invalid)),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot read a session's groups from the store");
                return Err(SessionProblem::Unavailable);
            }
            Err(_) => {
                tracing::warn!("the store did not name a session's groups in time");
                return Err(SessionProblem::Unavailable);
            }
        };
        let list: Vec<String> = serde_json::from_str(&json).unwrap_or_default();
        if digest(&list) != wanted {
            tracing::warn!("a session's stored groups are not the ones its token names");
            return Err(SessionProblem::Token(super::TokenError::Invalid));
        }
        let list: Arc<[String]> = list.into();
        self.groups.put(sid, list.clone());
        claims.resolve_groups(list);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_budget_counts_what_json_makes_of_the_groups() {
        let exact = |groups: &[String]| serde_json::to_vec(groups).expect("json").len();
        let small: Vec<String> = (0..20).map(|i| format!("team-{i}")).collect();
        assert!(fit_in_token(&small) && exact(&small) <= GROUPS_IN_TOKEN_BYTES);
        let big: Vec<String> = (0..500).map(|i| format!("{i:0>250}")).collect();
        assert!(!fit_in_token(&big));
        // Quotes are escaped, and the escapes count.
        let quoted = vec!["\"".repeat(GROUPS_IN_TOKEN_BYTES / 2)];
        assert!(exact(&quoted) > GROUPS_IN_TOKEN_BYTES && !fit_in_token(&quoted));
    }

    #[test]
    fn the_digest_tells_lists_apart_by_order_and_content() {
        let a = vec!["a".to_owned(), "b".into()];
        let b = vec!["b".to_owned(), "a".into()];
        let c = vec!["a,b".to_owned()];
        assert_ne!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&c));
        assert_eq!(digest(&a), digest(&a.clone()));
    }

    #[test]
    fn the_directory_stays_bounded() {
        let d = GroupDirectory::default();
        let list: Arc<[String]> = vec!["g".to_owned()].into();
        for i in 0..DIRECTORY_ENTRIES + 5 {
            d.put(&format!("sid-{i}"), list.clone());
        }
        assert!(d.len() <= DIRECTORY_ENTRIES);
        assert!(d.get(&format!("sid-{}", DIRECTORY_ENTRIES + 4)).is_some());
    }
}
