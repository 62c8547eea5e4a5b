//! Keeping this instance's revocation set in step with a shared store (PostgreSQL), in the
//! background; the hot path only ever reads memory. In order, per connection:
//!
//! 1. migrate (once), with backoff while the store is unreachable;
//! 2. `LISTEN` for revocations, *then* read every revocation in force: anything committed
//!    between the two arrives twice, which is harmless, and nothing falls in a gap;
//! 3. apply notifications as they come, and every `REVOCATION_POLL_SECS` read what changed
//!    since the last read (a cursor on the database's clock, with an overlap): a notification
//!    lost with a dropped connection is repaired within one poll. Each successful read marks
//!    the set fresh; the outbox of revocations the store refused earlier is written then too.
//!
//! When the listening connection ends, it starts again at 2. Until 2 has succeeded once, the
//! set is not ready: signed-in requests answer 503 rather than trust an empty set.

use std::time::Duration;

use super::Sessions;

/// The longest wait between two attempts to reach the store.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// While no listener connects, polling carries on alone and listening is tried again after
/// this many polls.
const POLLS_BEFORE_LISTENING_AGAIN: u32 = 6;

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
                    self.apply(&live);
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
                revocation = async { feed.as_mut()?.next().await }, if feed.is_some() => {
                    match revocation {
                        Some(r) => self.revocations.revoke(&r.id, r.expires_at, self.clock.now()),
                        None => return,
                    }
                }
                _ = tick.tick() => {
                    self.flush().await;
                    match self.store.revocations_changed(Some(cursor), self.clock.now()).await {
                        Ok((changed, next)) => {
                            self.apply(&changed);
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
}
