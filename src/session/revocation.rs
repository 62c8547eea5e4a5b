//! Revoked session ids. Logout records the token's `jti` until the token would have expired
//! anyway, so a copied cookie or Bearer token stops working the moment its owner signs out.

use std::collections::HashMap;
use std::sync::RwLock;

/// Where revoked token ids live. The in-memory store serves one instance; a shared store
/// (Redis, a database) can implement this to serve several.
pub trait RevocationStore: Send + Sync + 'static {
    /// Remembers `jti` as revoked until `expires_at` (seconds since the epoch).
    fn revoke(&self, jti: &str, expires_at: u64, now: u64);
    fn is_revoked(&self, jti: &str, now: u64) -> bool;
}

/// Bounded by construction: entries leave when their tokens expire, and the map is swept on
/// every insertion that finds it over its soft limit.
#[derive(Default)]
pub struct InMemoryRevocations {
    entries: RwLock<HashMap<String, u64>>,
}

/// Above this many entries an insertion first sweeps out the expired ones.
const SWEEP_THRESHOLD: usize = 10_000;

impl RevocationStore for InMemoryRevocations {
    fn revoke(&self, jti: &str, expires_at: u64, now: u64) {
        if expires_at <= now {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_THRESHOLD {
            entries.retain(|_, exp| *exp > now);
        }
        entries.insert(jti.to_owned(), expires_at);
    }

    fn is_revoked(&self, jti: &str, now: u64) -> bool {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(jti).is_some_and(|exp| *exp > now)
    }
}

impl InMemoryRevocations {
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_id_is_refused_until_its_token_expires() {
        let store = InMemoryRevocations::default();
        store.revoke("abc", 1_000, 500);
        assert!(store.is_revoked("abc", 999));
        assert!(!store.is_revoked("abc", 1_000));
        assert!(!store.is_revoked("other", 600));
    }

    #[test]
    fn expired_entries_are_swept_so_the_store_stays_bounded() {
        let store = InMemoryRevocations::default();
        for i in 0..SWEEP_THRESHOLD {
            store.revoke(&format!("old-{i}"), 100, 0);
        }
        store.revoke("new", 10_000, 200);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn already_expired_tokens_are_not_stored() {
        let store = InMemoryRevocations::default();
        store.revoke("gone", 100, 100);
        assert!(store.is_empty());
    }
}
