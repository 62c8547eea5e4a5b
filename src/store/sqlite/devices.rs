//! Device authorization grants in SQLite: created by a terminal, decided by a person, polled
//! until they are handed out once (the decision rule is `model::poll_device`).

use rusqlite::{OptionalExtension, params};

use super::super::model::{DeviceRow, DeviceUpdate, poll_device};
use super::super::{DeviceDecision, DeviceGrant, DevicePoll, NewDeviceGrant, StoreError};
use super::{SqliteStore, secs};

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl SqliteStore {
    pub async fn create_device_grant(
        &self,
        new: NewDeviceGrant,
        now: u64,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO device_grants (device_hash, user_code, created_at, expires_at, interval_secs, client_address, client_agent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    new.device_hash.as_slice(),
                    new.user_code,
                    secs(now),
                    secs(new.expires_at),
                    secs(new.interval_secs),
                    new.client_address,
                    new.client_agent
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn device_grant(&self, user_code: &str) -> Result<Option<DeviceGrant>, StoreError> {
        let user_code = user_code.to_owned();
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT created_at, expires_at, client_address, client_agent, status
                 FROM device_grants WHERE user_code = ?1",
                [&user_code],
                |r| {
                    Ok(DeviceGrant {
                        created_at: unsigned(r.get(0)?),
                        expires_at: unsigned(r.get(1)?),
                        client_address: r.get(2)?,
                        client_agent: r.get(3)?,
                        status: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    pub async fn decide_device_grant(
        &self,
        user_code: &str,
        decision: DeviceDecision,
        now: u64,
    ) -> Result<bool, StoreError> {
        let user_code = user_code.to_owned();
        self.write(move |tx| {
            let changed = match decision {
                DeviceDecision::Approve { user_id, groups } => tx.execute(
                    "UPDATE device_grants SET status = 'approved', user_id = ?2, groups = ?3, decided_at = ?4
                     WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?4",
                    params![user_code, user_id, groups, secs(now)],
                )?,
                DeviceDecision::Deny => tx.execute(
                    "UPDATE device_grants SET status = 'denied', decided_at = ?2
                     WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?2",
                    params![user_code, secs(now)],
                )?,
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
        self.write(move |tx| {
            let row = tx
                .query_row(
                    "SELECT status, expires_at, polled_at, interval_secs, user_id, groups
                     FROM device_grants WHERE device_hash = ?1",
                    [device_hash.as_slice()],
                    |r| {
                        Ok(DeviceRow {
                            status: r.get(0)?,
                            expires_at: unsigned(r.get(1)?),
                            polled_at: r.get::<_, Option<i64>>(2)?.map(unsigned),
                            interval_secs: unsigned(r.get(3)?),
                            user_id: r.get(4)?,
                            groups: r.get(5)?,
                        })
                    },
                )
                .optional()?;
            let Some(row) = row else {
                return Ok(DevicePoll::Unknown);
            };
            let (poll, update) = poll_device(&row, now);
            match update {
                DeviceUpdate::None => {}
                DeviceUpdate::Polled { at, interval_secs } => {
                    tx.execute(
                        "UPDATE device_grants SET polled_at = ?2, interval_secs = ?3 WHERE device_hash = ?1",
                        params![device_hash.as_slice(), secs(at), secs(interval_secs)],
                    )?;
                }
                DeviceUpdate::Used => {
                    tx.execute(
                        "UPDATE device_grants SET status = 'used', groups = NULL WHERE device_hash = ?1",
                        [device_hash.as_slice()],
                    )?;
                }
            }
            Ok(poll)
        })
        .await
    }
}
