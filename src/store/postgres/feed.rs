//! Revocations as they happen, for every instance's in-memory set: a dedicated connection
//! that `LISTEN`s on `doorman_revocations` (a notification is delivered only once its
//! transaction commits), and a cursor on the database's clock to read what changed since the
//! last poll, so a notification missed while the connection was down is repaired. The
//! ordering that makes it correct (listen first, then read everything) is the caller's
//! (`session::sync`).

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::super::{Revocation, StoreError};
use super::sessions::CHANNEL;
use super::{PgStore, bounded, secs, unsigned};

/// Notifications buffered at most; past this they are dropped (the next poll repairs).
const FEED_BUFFER: usize = 10_000;
/// Re-read this much of the past at each poll: a row's `changed_at` is when its transaction
/// began, which may be before the previous poll even though it committed after.
const OVERLAP_MICROS: i64 = 30_000_000;

/// A live `LISTEN`: revocations as they are committed, until the connection ends.
pub struct RevocationFeed {
    rx: mpsc::Receiver<Revocation>,
    _client: tokio_postgres::Client,
}

impl RevocationFeed {
    /// The next revocation; `None` when the connection has ended (listen again, then resync).
    pub async fn next(&mut self) -> Option<Revocation> {
        self.rx.recv().await
    }
}

fn parse(payload: &str) -> Option<Revocation> {
    let (id, expires_at) = payload.split_once(' ')?;
    Some(Revocation {
        id: id.to_owned(),
        expires_at: expires_at.parse().ok()?,
    })
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
                        if let Some(revocation) = parse(n.payload()) {
                            let _ = tx.try_send(revocation);
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
        Ok(RevocationFeed {
            rx,
            _client: client,
        })
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
    fn payloads_are_an_id_and_an_expiry() {
        assert_eq!(
            parse("abc 1800000000"),
            Some(Revocation {
                id: "abc".into(),
                expires_at: 1_800_000_000
            })
        );
        assert_eq!(parse("no-expiry"), None);
        assert_eq!(parse("abc soon"), None);
    }
}
