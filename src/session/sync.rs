//! Keeping this instance's revocation set in step with a shared store (PostgreSQL), in the
//! background; the hot path only ever reads memory. In order, per connection:
//!
//! 1. migrate (once), with backoff while the store is unreachable;
//! 2. `LISTEN` for revocations, *then* read every revocation in force: anything committed
//!    between the two arrives twice, which is harmless, and nothing falls in a gap;
//! 3. as notifications come, read the ids they name back from the table and apply what is
//!    there (a notification is a hint: any role that can connect may send one); and every
//!    `REVOCATION_POLL_SECS` read what changed since the last read (a cursor on the database's
//!    clock, with an overlap): a notification lost with a dropped connection is repaired
//!    within one poll. Each successful read marks the set fresh; the outbox of revocations the
//!    store refused earlier is written then too.
//!
//! When the listening connection ends, it starts again at 2. Until 2 has succeeded once, the
//! set is not ready: signed-in requests answer 503 rather than trust an empty set.
//!
//! Whatever comes from the store is bounded before it enters the set: an id longer than
//! doorman's own is never one of its tokens and is ignored, and no revocation is kept longer
//! than a token it covers could live (`revocation_lifetime`, plus `CLOCK_SKEW_SECS` for
//! instances whose clocks differ a little).

use std::time::Duration;

use super::Sessions;
use crate::random::TOKEN_ID_LEN;
use crate::store::Revocation;

/// The longest wait between two attempts to reach the store.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// While no listener connects, polling carries on alone and listening is tried again after
/// this many polls.
const POLLS_BEFORE_LISTENING_AGAIN: u32 = 6;
/// How far another instance's clock may be ahead of this one's for its revocations to be
/// kept as long as it asked.
const CLOCK_SKEW_SECS: u64 = 60;

/// The expiry to keep for `r`, read from the store, when it is kept at all: ids of doorman's
/// length only, expiries no later than `latest`.
fn admissible(r: &Revocation, latest: u64) -> Option<u64> {
    (!r.id.is_empty() && r.id.len() <= TOKEN_ID_LEN).then(|| r.expires_at.min(latest))
}

impl Sessions {
    /// Starts keeping the revocation set in step with the shared store, reading changes
    /// every `poll`. Only for a shared store: SQLite's one instance makes every revocation.
    pub fn spawn_sync(&self, poll: Duration) {
        let sessions = self.clone();
        tokio::spawn(async move { sessions.sync_forever(poll).await });
    }

    async fn sync_forever(&self, poll: Duration) {
        self.migrate_when_reachable().await;
        let mut backoff = Duration::from_millis(200);
        loop {
            let feed = match self.store.listen_revocations().await {
                Ok(feed) => feed,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for revocations; polling only");
                    None
                }
            };
            let cursor = match self.store.revocations_changed(None, self.clock.now()).await {
                Ok((live, cursor)) => {
                    let now = self.clock.now();
                    self.apply_from_store(&live);
                    let first = !self.revocations.is_ready();
                    self.revocations.mark_synced(now);
                    if first {
                        tracing::info!(
                            revocations = live.len(),
                            "revocation set synced with the store"
                        );
                    }
                    backoff = Duration::from_millis(200);
                    cursor
                }
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "cannot read revocations from the store");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            self.follow(feed, cursor, poll).await;
        }
    }

    async fn migrate_when_reachable(&self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.store.migrate(self.clock.now()).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "the store is not reachable yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Applies notifications and polls until the listening connection ends (or, without one,
    /// for a few polls); then the caller listens and resyncs again.
    async fn follow(
        &self,
        mut feed: Option<crate::store::RevocationFeed>,
        mut cursor: i64,
        poll: Duration,
    ) {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut polls_without_feed = 0;
        loop {
            tokio::select! {
                hints = async { feed.as_mut()?.next_hints().await }, if feed.is_some() => {
                    let (Some(ids), Some(listening)) = (hints, feed.as_ref()) else { return };
                    match listening.confirm(&ids, self.clock.now()).await {
                        Ok(found) => self.apply_from_store(&found),
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot read back notified revocations; listening again");
                            return;
                        }
                    }
                }
                _ = tick.tick() => {
                    self.flush().await;
                    match self.store.revocations_changed(Some(cursor), self.clock.now()).await {
                        Ok((changed, next)) => {
                            self.apply_from_store(&changed);
                            self.revocations.mark_synced(self.clock.now());
                            cursor = next;
                        }
                        Err(err) => tracing::warn!(error = %err, age_secs = self.revocations.age(self.clock.now()), "cannot poll revocations; serving the last synced set"),
                    }
                    if feed.is_none() {
                        polls_without_feed += 1;
                        if polls_without_feed >= POLLS_BEFORE_LISTENING_AGAIN {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Refuses `revocations`, read from the shared store, within the bounds above.
    fn apply_from_store(&self, revocations: &[Revocation]) {
        let now = self.clock.now();
        let latest = now + self.revocation_lifetime() + CLOCK_SKEW_SECS;
        for r in revocations {
            if let Some(expires_at) = admissible(r, latest) {
                self.revocations.revoke(&r.id, expires_at, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation(id: &str, expires_at: u64) -> Revocation {
        Revocation {
            id: id.into(),
            expires_at,
        }
    }

    #[test]
    fn what_the_store_says_is_kept_no_longer_than_a_token_could_live() {
        let sid = crate::random::token_id();
        assert_eq!(admissible(&revocation(&sid, 5_000), 9_000), Some(5_000));
        assert_eq!(admissible(&revocation(&sid, u64::MAX), 9_000), Some(9_000));
        assert_eq!(admissible(&revocation(&sid, 9_001), 9_000), Some(9_000));
    }

    #[test]
    fn ids_longer_than_doormans_are_not_kept() {
        assert_eq!(
            admissible(&revocation(&"a".repeat(7900), 5_000), 9_000),
            None
        );
        assert_eq!(admissible(&revocation(&"a".repeat(33), 5_000), 9_000), None);
        assert_eq!(admissible(&revocation("", 5_000), 9_000), None);
        assert_eq!(
            admissible(&revocation(&"a".repeat(32), 5_000), 9_000),
            Some(5_000)
        );
    }
}
