//! Revocations as they happen, for every instance's in-memory set: a dedicated connection
//! that `LISTEN`s on `doorman_revocations` (a notification is delivered only once its
//! transaction commits), and a cursor on the database's clock to read what changed since the
//! last poll, so a notification missed while the connection was down is repaired. The
//! ordering that makes it correct (listen first, then read everything) is the caller's
//! (`session::sync`).
//!
//! A notification is only a hint. Any role that can connect may `NOTIFY`, so its payload is
//! never applied as it is: the ids it names (no longer than doorman's own) are read back from
//! the `revocations` table, on the listening connection, and only the rows found there, with
//! their own expiry, are revocations. Writing that table needs privileges `NOTIFY` does not.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::super::{Revocation, StoreError};
use super::sessions::CHANNEL;
use super::{PgStore, bounded, secs, unsigned};
use crate::random::TOKEN_ID_LEN;

/// Notifications buffered at most; past this they are dropped (the next poll repairs).
const FEED_BUFFER: usize = 10_000;
/// Hints checked against the table in one query at most.
const HINTS_PER_READ: usize = 256;
/// Re-read this much of the past at each poll: a row's `changed_at` is when its transaction
/// began, which may be before the previous poll even though it committed after.
const OVERLAP_MICROS: i64 = 30_000_000;

/// A live `LISTEN`: the ids other instances announce as revoked, until the connection ends.
pub struct RevocationFeed {
    rx: mpsc::Receiver<String>,
    client: tokio_postgres::Client,
}

impl RevocationFeed {
    /// The ids announced since the last call (waiting for at least one, then taking what has
    /// arrived, up to a batch), unchecked; `None` when the connection has ended (listen
    /// again, then resync).
    pub async fn next_hints(&mut self) -> Option<Vec<String>> {
        let mut ids = vec![self.rx.recv().await?];
        while ids.len() < HINTS_PER_READ {
            match self.rx.try_recv() {
                Ok(id) if ids.contains(&id) => {}
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
        }
        Some(ids)
    }

    /// The revocations in force at `now` that the table holds for `ids`: what a notification
    /// may be believed about.
    pub async fn confirm(&self, ids: &[String], now: u64) -> Result<Vec<Revocation>, StoreError> {
        bounded(async {
            let rows = self
                .client
                .query(
                    "SELECT id, expires_at FROM revocations WHERE id = ANY($1) AND expires_at > $2",
                    &[&ids, &secs(now)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| Revocation {
                    id: r.get(0),
                    expires_at: unsigned(r.get(1)),
                })
                .collect())
        })
        .await
    }
}

/// The id a payload (`<id> <expires_at>`, as `tokens::record_revocations` sends it) names, if
/// it could be one of doorman's. The expiry is the sender's word and is not read.
fn parse(payload: &str) -> Option<&str> {
    let id = payload.split(' ').next()?;
    (!id.is_empty() && id.len() <= TOKEN_ID_LEN).then_some(id)
}

impl PgStore {
    /// A new connection of its own (never one from the pool) listening for revocations.
    pub async fn listen_revocations(&self) -> Result<RevocationFeed, StoreError> {
        let mut config = self.config.clone();
        let name = format!(
            "{}-listen",
            config.get_application_name().unwrap_or("doorman")
        );
        config.application_name(&name);
        let (client, mut connection) =
            bounded(async { Ok(config.connect(self.tls.clone()).await?) }).await?;
        let (tx, rx) = mpsc::channel(FEED_BUFFER);
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if let Some(id) = parse(n.payload()) {
                            let _ = tx.try_send(id.to_owned());
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "the revocation listener lost its connection");
                        break;
                    }
                }
            }
        });
        bounded(async {
            client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
            Ok(())
        })
        .await?;
        Ok(RevocationFeed { rx, client })
    }

    /// The revocations in force at `now` that changed since `cursor` (the database's clock, in
    /// microseconds; `None` = all of them), and the cursor for next time.
    pub async fn revocations_changed(
        &self,
        cursor: Option<i64>,
        now: u64,
    ) -> Result<(Vec<Revocation>, i64), StoreError> {
        let c = self.client().await?;
        bounded(async {
            let next: i64 = c
                .query_one("SELECT (extract(epoch FROM now()) * 1000000)::bigint", &[])
                .await?
                .get(0);
            let rows = match cursor {
                None => {
                    c.query(
                        "SELECT id, expires_at FROM revocations WHERE expires_at > $1",
                        &[&secs(now)],
                    )
                    .await?
                }
                Some(cursor) => {
                    let since = (cursor - OVERLAP_MICROS) as f64;
                    c.query(
                        "SELECT id, expires_at FROM revocations
                         WHERE expires_at > $1 AND changed_at > to_timestamp($2::float8 / 1000000)",
                        &[&secs(now), &since],
                    )
                    .await?
                }
            };
            let revocations = rows
                .iter()
                .map(|r| Revocation {
                    id: r.get(0),
                    expires_at: unsigned(r.get(1)),
                })
                .collect();
            Ok((revocations, next))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_gives_only_an_id_of_doormans_length_and_never_an_expiry() {
        let sid = crate::random::token_id();
        assert_eq!(parse(&format!("{sid} 1800000000")), Some(sid.as_str()));
        assert_eq!(
            parse(&format!("{sid} 18446744073709551615")),
            Some(sid.as_str())
        );
        assert_eq!(parse(&sid), Some(sid.as_str()), "an expiry is not needed");
        assert_eq!(parse(&format!("{} 1800000000", "a".repeat(7900))), None);
        assert_eq!(
            parse(&format!("{sid}0 1800000000")),
            None,
            "one character too long"
        );
        assert_eq!(parse(" 1800000000"), None);
        assert_eq!(parse(""), None);
    }
}
