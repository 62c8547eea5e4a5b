//! Device authorization grants in PostgreSQL, shared by every instance: a terminal may ask
//! one, the person approve on another and the terminal poll a third. A poll locks its row
//! (`FOR UPDATE`), so an approval is handed out once (the rule is `model::poll_device`).

use super::super::model::{DeviceRow, DeviceUpdate, poll_device};
use super::super::{DeviceDecision, DeviceGrant, DevicePoll, NewDeviceGrant, StoreError};
use super::{PgStore, bounded, secs, unsigned};

impl PgStore {
    pub async fn create_device_grant(
        &self,
        new: NewDeviceGrant,
        now: u64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        bounded(async {
            c.execute(
                "INSERT INTO device_grants (device_hash, user_code, created_at, expires_at, interval_secs, client_address, client_agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &new.device_hash.as_slice(),
                    &new.user_code,
                    &secs(now),
                    &secs(new.expires_at),
                    &secs(new.interval_secs),
                    &new.client_address,
                    &new.client_agent,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn device_grant(&self, user_code: &str) -> Result<Option<DeviceGrant>, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let row = c
                .query_opt(
                    "SELECT created_at, expires_at, client_address, client_agent, status
                     FROM device_grants WHERE user_code = $1",
                    &[&user_code],
                )
                .await?;
            Ok(row.map(|r| DeviceGrant {
                created_at: unsigned(r.get(0)),
                expires_at: unsigned(r.get(1)),
                client_address: r.get(2),
                client_agent: r.get(3),
                status: r.get(4),
            }))
        })
        .await
    }

    pub async fn decide_device_grant(
        &self,
        user_code: &str,
        decision: DeviceDecision,
        now: u64,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let changed = match decision {
                DeviceDecision::Approve { user_id, groups } => {
                    c.execute(
                        "UPDATE device_grants SET status = 'approved', user_id = $2, groups = $3, decided_at = $4
                         WHERE user_code = $1 AND status = 'pending' AND expires_at > $4",
                        &[&user_code, &user_id, &groups, &secs(now)],
                    )
                    .await?
                }
                DeviceDecision::Deny => {
                    c.execute(
                        "UPDATE device_grants SET status = 'denied', decided_at = $2
                         WHERE user_code = $1 AND status = 'pending' AND expires_at > $2",
                        &[&user_code, &secs(now)],
                    )
                    .await?
                }
            };
            Ok(changed == 1)
        })
        .await
    }

    pub async fn poll_device_grant(
        &self,
        device_hash: [u8; 32],
        now: u64,
    ) -> Result<DevicePoll, StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            let row = tx
                .query_opt(
                    "SELECT status, expires_at, polled_at, interval_secs, user_id, groups
                     FROM device_grants WHERE device_hash = $1 FOR UPDATE",
                    &[&device_hash.as_slice()],
                )
                .await?;
            let Some(row) = row else {
                return Ok(DevicePoll::Unknown);
            };
            let row = DeviceRow {
                status: row.get(0),
                expires_at: unsigned(row.get(1)),
                polled_at: row.get::<_, Option<i64>>(2).map(unsigned),
                interval_secs: unsigned(row.get(3)),
                user_id: row.get(4),
                groups: row.get(5),
            };
            let (poll, update) = poll_device(&row, now);
            match update {
                DeviceUpdate::None => {}
                DeviceUpdate::Polled { at, interval_secs } => {
                    tx.execute(
                        "UPDATE device_grants SET polled_at = $2, interval_secs = $3 WHERE device_hash = $1",
                        &[&device_hash.as_slice(), &secs(at), &secs(interval_secs)],
                    )
                    .await?;
                }
                DeviceUpdate::Used => {
                    tx.execute(
                        "UPDATE device_grants SET status = 'used', groups = NULL WHERE device_hash = $1",
                        &[&device_hash.as_slice()],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(poll)
        })
        .await
    }
}
