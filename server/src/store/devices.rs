//! Enrollment tokens and enrolled machines: enrolling, status reports, revocation, moves, and the
//! nonces of machines' signed requests.

use async_trait::async_trait;
use switchyard_proto::rollouts::Labels;
use switchyard_proto::{EnvironmentName, MachineRoleName};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Seen, StoreError};
use crate::domain::audit::AuditRecord;
use crate::domain::devices::{DeviceRecord, EnrollmentTokenRecord, ReportRecord};

/// Enrollment tokens and machines, as kept.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Keeps a new enrollment token.
    async fn create_enrollment_token(
        &self,
        token: &EnrollmentTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The enrollment tokens of an environment, newest first.
    async fn enrollment_tokens(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<EnrollmentTokenRecord>, StoreError>;

    /// The enrollment token whose secret hashes to `token_hash`, if any.
    async fn enrollment_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<EnrollmentTokenRecord>, StoreError>;

    /// Revokes an enrollment token of `environment` (revoking a revoked one changes nothing).
    async fn revoke_enrollment_token(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Enrolls `device` with its enrollment token, using up one of the token's uses: both or
    /// neither, at most `max_uses` times even under concurrency. A token that no longer admits
    /// anyone is [`StoreError::EnrollmentTokenSpent`]; a public key enrolled already is
    /// [`StoreError::DeviceKeyTaken`].
    async fn enroll_device(
        &self,
        device: &DeviceRecord,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The enrolled machine with id `id`.
    async fn device(&self, id: Uuid) -> Result<DeviceRecord, StoreError>;

    /// The machines enrolled in `environment`, by host name.
    async fn devices(&self, environment: &EnvironmentName)
        -> Result<Vec<DeviceRecord>, StoreError>;

    /// The machines of `environment` and `machine_role` not revoked, with their labels: those
    /// a delivery to them is signed for, and what a rollout splits them by.
    async fn active_devices(
        &self,
        environment: &EnvironmentName,
        machine_role: &MachineRoleName,
    ) -> Result<Vec<(Uuid, Labels)>, StoreError>;

    /// Replaces the labels of machine `id`, if it is (still) in `environment`.
    async fn set_device_labels(
        &self,
        id: Uuid,
        environment: &EnvironmentName,
        labels: &Labels,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Keeps a machine's latest status report (reports are not audited: they change no
    /// setting, and machines send one at every apply).
    async fn record_report(&self, device_id: Uuid, report: &ReportRecord)
        -> Result<(), StoreError>;

    /// Revokes a machine: its requests get 401 from now on.
    async fn revoke_device(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Moves a machine to another environment and machine role.
    async fn move_device(
        &self,
        id: Uuid,
        environment: &EnvironmentName,
        machine_role: &MachineRoleName,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Admits one signed request of a machine: its nonce must be new (it is kept until
    /// `nonce_expires_at`; a nonce seen before is [`StoreError::NonceReused`]). With
    /// [`Seen::Now`] the machine is also marked as seen and its expired nonces are pruned;
    /// otherwise recording the nonce is one statement.
    async fn admit_device_request(
        &self,
        device_id: Uuid,
        seen: Seen,
        nonce: &str,
        nonce_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Implements [`DeviceStore`] for `$store` (a struct with a `pool` field) on database `$db`, with
/// the helpers `implement_store!` defines beside it (`sql.rs`).
macro_rules! implement_device_store {
    ($store:ident, $db:ty) => {
        fn enrollment_token_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::devices::EnrollmentTokenRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::domain::devices::EnrollmentTokenRecord {
                id: row.try_get("id")?,
                token_hash: row.try_get("token_hash")?,
                environment: $crate::store::parse_name(row.try_get("environment")?)?,
                machine_role: $crate::store::parse_role_name(row.try_get("machine_role")?)?,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get::<$crate::store::Timestamp, _>("created_at")?.get(),
                expires_at: row.try_get::<$crate::store::Timestamp, _>("expires_at")?.get(),
                max_uses: $crate::store::counter(row.try_get("max_uses")?)?,
                uses: $crate::store::counter(row.try_get("uses")?)?,
                revoked_at: row
                    .try_get::<Option<$crate::store::Timestamp>, _>("revoked_at")?
                    .map($crate::store::Timestamp::get),
                labels: $crate::store::parse_json("labels", &row.try_get::<String, _>("labels")?)?,
            })
        }

        fn device_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::devices::DeviceRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            let optional_time = |column: &str| -> Result<Option<time::OffsetDateTime>, $crate::store::StoreError> {
                Ok(row
                    .try_get::<Option<$crate::store::Timestamp>, _>(column)?
                    .map($crate::store::Timestamp::get))
            };
            Ok($crate::domain::devices::DeviceRecord {
                id: row.try_get("id")?,
                public_key: row.try_get("public_key")?,
                hostname: row.try_get("hostname")?,
                os: row.try_get("os")?,
                username: row.try_get("username")?,
                environment: $crate::store::parse_name(row.try_get("environment")?)?,
                machine_role: $crate::store::parse_role_name(row.try_get("machine_role")?)?,
                enrollment_token: row.try_get("enrollment_token")?,
                enrolled_at: row.try_get::<$crate::store::Timestamp, _>("enrolled_at")?.get(),
                last_seen_at: optional_time("last_seen_at")?,
                revoked_at: optional_time("revoked_at")?,
                labels: $crate::store::parse_json("labels", &row.try_get::<String, _>("labels")?)?,
                last_report: match optional_time("reported_at")? {
                    None => None,
                    Some(reported_at) => Some($crate::domain::devices::ReportRecord {
                        report: row.try_get::<Option<String>, _>("report")?.unwrap_or_default(),
                        reported_at,
                        sequence: $crate::store::counter(
                            row.try_get::<Option<i64>, _>("applied_sequence")?.unwrap_or_default(),
                        )?,
                        baseline_version: $crate::store::counter(
                            row.try_get::<Option<i64>, _>("applied_baseline")?.unwrap_or_default(),
                        )?,
                        overlay_version: $crate::store::counter(
                            row.try_get::<Option<i64>, _>("applied_overlay")?.unwrap_or_default(),
                        )?,
                        healthy: row.try_get::<Option<bool>, _>("healthy")?.unwrap_or_default(),
                        witnessed: match row.try_get::<Option<i64>, _>("witnessed_seq")? {
                            None => None,
                            Some(seq) => Some(switchyard_proto::AuditHead {
                                seq: $crate::store::counter(seq)?,
                                hash: row
                                    .try_get::<Option<String>, _>("witnessed_hash")?
                                    .unwrap_or_default(),
                            }),
                        },
                    }),
                },
            })
        }

        #[async_trait::async_trait]
        impl $crate::store::DeviceStore for $store {
            async fn create_enrollment_token(
                &self,
                token: &$crate::domain::devices::EnrollmentTokenRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO enrollment_tokens (id, token_hash, environment, machine_role, \
                     created_by, created_at, expires_at, max_uses, uses, labels) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)",
                )
                .bind(token.id)
                .bind(&token.token_hash)
                .bind(token.environment.as_str())
                .bind(token.machine_role.as_str())
                .bind(&token.created_by)
                .bind($crate::store::Timestamp::from(token.created_at))
                .bind($crate::store::Timestamp::from(token.expires_at))
                .bind($crate::store::stored_counter(token.max_uses))
                .bind($crate::store::stored_json(&token.labels))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn enrollment_tokens(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Vec<$crate::domain::devices::EnrollmentTokenRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT * FROM enrollment_tokens WHERE environment = $1 \
                     ORDER BY created_at DESC, id",
                )
                .bind(environment.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(enrollment_token_from_row)
                .collect()
            }

            async fn enrollment_token_by_hash(
                &self,
                token_hash: &str,
            ) -> Result<Option<$crate::domain::devices::EnrollmentTokenRecord>, $crate::store::StoreError>
            {
                sqlx::query("SELECT * FROM enrollment_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(enrollment_token_from_row)
                    .transpose()
            }

            async fn revoke_enrollment_token(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                id: uuid::Uuid,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let exists = sqlx::query(
                    "SELECT revoked_at FROM enrollment_tokens WHERE environment = $1 AND id = $2",
                )
                .bind(environment.as_str())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::store::StoreError::EnrollmentTokenNotFound(id))?;
                let revoked: Option<$crate::store::Timestamp> =
                    sqlx::Row::try_get(&exists, "revoked_at")?;
                // Revoking a revoked token changes nothing, so it records nothing either.
                if revoked.is_none() {
                    sqlx::query("UPDATE enrollment_tokens SET revoked_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind($crate::store::Timestamp::from(now))
                        .execute(&mut *tx)
                        .await?;
                    append_audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn enroll_device(
                &self,
                device: &$crate::domain::devices::DeviceRecord,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let used = sqlx::query(
                    "UPDATE enrollment_tokens SET uses = uses + 1 \
                     WHERE id = $1 AND uses < max_uses AND revoked_at IS NULL AND expires_at > $2",
                )
                .bind(device.enrollment_token)
                .bind($crate::store::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                if used.rows_affected() == 0 {
                    return Err($crate::store::StoreError::EnrollmentTokenSpent);
                }
                sqlx::query(
                    "INSERT INTO devices (id, public_key, hostname, os, username, environment, \
                     machine_role, enrollment_token, enrolled_at, labels) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(device.id)
                .bind(&device.public_key)
                .bind(&device.hostname)
                .bind(&device.os)
                .bind(&device.username)
                .bind(device.environment.as_str())
                .bind(device.machine_role.as_str())
                .bind(device.enrollment_token)
                .bind($crate::store::Timestamp::from(device.enrolled_at))
                .bind($crate::store::stored_json(&device.labels))
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::DeviceKeyTaken,
                    false => e.into(),
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn device(
                &self,
                id: uuid::Uuid,
            ) -> Result<$crate::domain::devices::DeviceRecord, $crate::store::StoreError> {
                sqlx::query("SELECT * FROM devices WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(device_from_row)
                    .unwrap_or_else(|| Err($crate::store::StoreError::DeviceNotFound(id)))
            }

            async fn devices(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Vec<$crate::domain::devices::DeviceRecord>, $crate::store::StoreError> {
                sqlx::query("SELECT * FROM devices WHERE environment = $1 ORDER BY hostname, id")
                    .bind(environment.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(device_from_row)
                    .collect()
            }

            async fn active_devices(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                machine_role: &switchyard_proto::MachineRoleName,
            ) -> Result<Vec<(uuid::Uuid, switchyard_proto::rollouts::Labels)>, $crate::store::StoreError> {
                use sqlx::Row as _;
                sqlx::query(
                    "SELECT id, labels FROM devices \
                     WHERE environment = $1 AND machine_role = $2 AND revoked_at IS NULL",
                )
                .bind(environment.as_str())
                .bind(machine_role.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| {
                    let labels: String = row.try_get("labels")?;
                    Ok((row.try_get("id")?, $crate::store::parse_json("labels", &labels)?))
                })
                .collect()
            }

            async fn set_device_labels(
                &self,
                id: uuid::Uuid,
                environment: &switchyard_proto::EnvironmentName,
                labels: &switchyard_proto::rollouts::Labels,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let changed = sqlx::query(
                    "UPDATE devices SET labels = $2 WHERE id = $1 AND environment = $3",
                )
                .bind(id)
                .bind($crate::store::stored_json(labels))
                .bind(environment.as_str())
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() == 0 {
                    return Err($crate::store::StoreError::DeviceNotFound(id));
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_report(
                &self,
                device_id: uuid::Uuid,
                report: &$crate::domain::devices::ReportRecord,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE devices SET report = $2, reported_at = $3, applied_sequence = $4, \
                     applied_baseline = $5, applied_overlay = $6, healthy = $7 WHERE id = $1",
                )
                .bind(device_id)
                .bind(&report.report)
                .bind($crate::store::Timestamp::from(report.reported_at))
                .bind($crate::store::stored_counter(report.sequence))
                .bind($crate::store::stored_counter(report.baseline_version))
                .bind($crate::store::stored_counter(report.overlay_version))
                .bind(report.healthy)
                .execute(&self.pool)
                .await?;
                if let Some(head) = &report.witnessed {
                    // A machine's witness only moves forward: an older head reported again
                    // (a restored state folder) keeps the newer one.
                    sqlx::query(
                        "UPDATE devices SET witnessed_seq = $2, witnessed_hash = $3 \
                         WHERE id = $1 AND (witnessed_seq IS NULL OR witnessed_seq <= $2)",
                    )
                    .bind(device_id)
                    .bind($crate::store::stored_counter(head.seq))
                    .bind(&head.hash)
                    .execute(&self.pool)
                    .await?;
                }
                Ok(())
            }

            async fn revoke_device(
                &self,
                id: uuid::Uuid,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let revoked = sqlx::query(
                    "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind($crate::store::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                // Revoking a revoked machine changes nothing, so it records nothing either.
                if revoked.rows_affected() > 0 {
                    append_audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn move_device(
                &self,
                id: uuid::Uuid,
                environment: &switchyard_proto::EnvironmentName,
                machine_role: &switchyard_proto::MachineRoleName,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let moved = sqlx::query(
                    "UPDATE devices SET environment = $2, machine_role = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(environment.as_str())
                .bind(machine_role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_foreign_key_violation(&e) {
                    true => $crate::store::StoreError::EnvironmentNotFound(environment.clone()),
                    false => e.into(),
                })?;
                if moved.rows_affected() == 0 {
                    return Err($crate::store::StoreError::DeviceNotFound(id));
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn admit_device_request(
                &self,
                device_id: uuid::Uuid,
                seen: $crate::store::Seen,
                nonce: &str,
                nonce_expires_at: time::OffsetDateTime,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                let insert = sqlx::query(
                    "INSERT INTO device_nonces (device_id, nonce, expires_at) VALUES ($1, $2, $3)",
                )
                .bind(device_id)
                .bind(nonce)
                .bind($crate::store::Timestamp::from(nonce_expires_at));
                let reused = |e: sqlx::Error| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::NonceReused,
                    false => e.into(),
                };
                let _turn = self.nonce_write_turn().await;
                if seen == $crate::store::Seen::Recently {
                    insert.execute(&self.pool).await.map_err(reused)?;
                    return Ok(());
                }
                let now = $crate::store::Timestamp::from(now);
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM device_nonces WHERE device_id = $1 AND expires_at < $2")
                    .bind(device_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                insert.execute(&mut *tx).await.map_err(reused)?;
                sqlx::query("UPDATE devices SET last_seen_at = $2 WHERE id = $1")
                    .bind(device_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use implement_device_store;
