//! Revoked sessions, in memory: the set every authenticated request consults. It is a cache
//! of the store's `revocations` table (loaded at start, written through on every revocation,
//! and, on a shared store, kept in step with the other instances by `sync`), so a restart
//! forgets nothing. It also knows whether it has been filled yet and when it last was: a set
//! never synced is never trusted.
//!
//! Bounded and cheap: lookups are one hash probe under a read lock (none at all while the set
//! is empty), insertions O(log n), and expired entries leave in small batches ordered by
//! expiry, so no operation ever scans the set under a lock the hot path takes.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// At most this many entries leave per write-lock hold while purging.
const PURGE_BATCH: usize = 1024;
/// How long the signal that a session changed (its groups or roles, at a recheck) stays in
/// the set: long enough for every instance to hear of it and every open tunnel and stream to
/// look.
pub const CHANGE_SIGNAL_SECS: u64 = 120;

/// The id under which a change of session `sid` is signalled (never a token's: a digest).
pub fn change_id(sid: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"doorman session changed\0")
        .chain_update(sid.as_bytes())
        .finalize();
    crate::random::hex(&digest[..16])
}

#[derive(Default)]
struct Entries {
    /// id → expires_at
    by_id: HashMap<Box<str>, u64>,
    /// (expires_at, id), for purging in expiry order.
    by_expiry: BTreeSet<(u64, Box<str>)>,
}

/// Ids (a session's `sid`, or a lone token's `jti`) refused until their expiry.
#[derive(Default)]
pub struct RevocationSet {
    entries: RwLock<Entries>,
    len: AtomicUsize,
    /// Filled from the store at least once.
    ready: AtomicBool,
    /// When it last matched the store (seconds, the application's clock).
    synced_at: AtomicU64,
}

impl RevocationSet {
    /// The set now holds everything the store held at `now`.
    pub fn mark_synced(&self, now: u64) {
        self.synced_at.store(now, Ordering::Release);
        self.ready.store(true, Ordering::Release);
    }

    /// Whether it has been filled from the store yet.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Seconds since it last matched the store.
    pub fn age(&self, now: u64) -> u64 {
        now.saturating_sub(self.synced_at.load(Ordering::Acquire))
    }

    /// Refuses `id` until `expires_at`; a later expiry extends an existing entry.
    pub fn revoke(&self, id: &str, expires_at: u64, now: u64) {
        if expires_at <= now {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let Entries { by_id, by_expiry } = &mut *entries;
        match by_id.get_mut(id) {
            Some(current) if *current >= expires_at => {}
            Some(current) => {
                by_expiry.remove(&(*current, Box::from(id)));
                *current = expires_at;
                by_expiry.insert((expires_at, Box::from(id)));
            }
            None => {
                by_id.insert(Box::from(id), expires_at);
                by_expiry.insert((expires_at, Box::from(id)));
            }
        }
        self.len.store(by_id.len(), Ordering::Release);
    }

    /// Whether the session whose change signal is `change_id` changed after `since` (a
    /// token's `iat`: the renewal that carries the change is issued at it, so only older
    /// tokens are covered). The signal is recorded as lasting `CHANGE_SIGNAL_SECS`.
    pub fn changed_since(&self, change_id: &str, since: u64, now: u64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .by_id
            .get(change_id)
            .is_some_and(|exp| *exp > now && exp.saturating_sub(CHANGE_SIGNAL_SECS) > since)
    }

    pub fn is_revoked(&self, id: &str, now: u64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.by_id.get(id).is_some_and(|exp| *exp > now)
    }

    /// Drops entries that expired by `now`, a batch per lock hold; returns how many left.
    pub fn purge(&self, now: u64) -> usize {
        let mut removed = 0;
        loop {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            let mut batch = 0;
            while batch < PURGE_BATCH {
                let Some((exp, _)) = entries.by_expiry.first() else {
                    break;
                };
                if *exp > now {
                    break;
                }
                if let Some((_, id)) = entries.by_expiry.pop_first() {
                    entries.by_id.remove(&id);
                }
                batch += 1;
            }
            self.len.store(entries.by_id.len(), Ordering::Release);
            removed += batch;
            if batch < PURGE_BATCH {
                return removed;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_id_is_refused_until_its_expiry() {
        let set = RevocationSet::default();
        set.revoke("abc", 1_000, 500);
        assert!(set.is_revoked("abc", 999));
        assert!(!set.is_revoked("abc", 1_000));
        assert!(!set.is_revoked("other", 600));
    }

    #[test]
    fn expired_entries_are_purged_in_expiry_order_and_only_those() {
        let set = RevocationSet::default();
        for i in 0..3000u64 {
            set.revoke(&format!("old-{i}"), 100 + i % 10, 0);
        }
        set.revoke("new", 10_000, 0);
        assert_eq!(set.purge(50), 0);
        assert_eq!(set.purge(200), 3000, "several batches");
        assert_eq!(set.len(), 1);
        assert!(set.is_revoked("new", 200));
    }

    #[test]
    fn a_later_expiry_extends_and_an_earlier_one_does_not_shorten() {
        let set = RevocationSet::default();
        set.revoke("a", 100, 0);
        set.revoke("a", 200, 0);
        set.revoke("a", 150, 0);
        assert!(set.is_revoked("a", 199));
        assert_eq!(set.purge(150), 0);
        assert_eq!(set.purge(200), 1);
        assert!(set.is_empty());
    }

    #[test]
    fn a_change_signal_covers_what_was_opened_before_it_only() {
        let set = RevocationSet::default();
        let id = change_id("sid-1");
        assert_eq!(id.len(), 32);
        assert_ne!(id, change_id("sid-2"));
        set.revoke(&id, 1_000 + CHANGE_SIGNAL_SECS, 1_000);
        assert!(
            set.changed_since(&id, 990, 1_001),
            "a token issued before the change"
        );
        assert!(
            !set.changed_since(&id, 1_000, 1_001),
            "the renewal that carries it"
        );
        assert!(
            !set.changed_since(&id, 1_001, 1_002),
            "a token issued after it"
        );
        assert!(!set.changed_since(&change_id("sid-2"), 0, 1_001));
        assert!(
            !set.changed_since(&id, 0, 1_000 + CHANGE_SIGNAL_SECS),
            "the signal ends"
        );
    }

    #[test]
    fn already_expired_ids_are_not_stored() {
        let set = RevocationSet::default();
        set.revoke("gone", 100, 100);
        assert!(set.is_empty());
    }
}
