//! Rollouts: their state and its transitions. A rollout starts in the transaction that
//! publishes its version (`profiles.rs`); each later transition is made only on the revision
//! it read, in one transaction with its audit event and, for an abort or revert, the version
//! that brings the old content back. Two server processes (or one restarted) that decide the
//! same transition make it once: the second finds the revision moved.

use async_trait::async_trait;
use switchyard_proto::EnvironmentName;
use uuid::Uuid;

use super::StoreError;
use crate::domain::audit::AuditRecord;
use crate::domain::profiles::Restore;
use crate::domain::rollouts::RolloutRecord;

/// The states in which a rollout splits machines, as SQL (`implement_rollout_store!`).
pub(super) const ACTIVE_STATES: &str = "('running', 'paused', 'halted')";

/// Rollouts, as kept.
#[async_trait]
pub trait RolloutStore: Send + Sync {
    /// The rollout splitting `environment`'s machines now, if any.
    async fn active_rollout(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Option<RolloutRecord>, StoreError>;

    /// Every rollout splitting machines now, in any environment: what the gates watch.
    async fn active_rollouts(&self) -> Result<Vec<RolloutRecord>, StoreError>;

    /// The rollouts of `environment`, newest first.
    async fn rollouts(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<RolloutRecord>, StoreError>;

    /// One rollout of `environment`.
    async fn rollout(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
    ) -> Result<RolloutRecord, StoreError>;

    /// Keeps `after` if the rollout is still at revision `after.revision - 1`, else
    /// [`StoreError::RolloutMoved`]. With `revert`, that version (the old content again) is
    /// published in the same transaction, `after` names it, and an untouched draft follows it. With `announce`, the other
    /// server processes hear of it when it commits, to tell their waiting machines. `audits`
    /// are appended in order: the transition's event, then the revert version's.
    async fn transition_rollout(
        &self,
        after: &RolloutRecord,
        revert: Option<&Restore>,
        announce: bool,
        audits: &[AuditRecord],
    ) -> Result<(), StoreError>;
}

/// Implements [`RolloutStore`] for `$store` (a struct with a `pool` field) on database `$db`,
/// with the helpers `implement_store!` defines beside it (`sql.rs`). Defines `insert_rollout`
/// and `active_rollout_on`, which a publish uses.
macro_rules! implement_rollout_store {
    ($store:ident, $db:ty) => {
        fn rollout_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::rollouts::RolloutRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            let target = $crate::store::parse_target(row.try_get("machine_role")?)?;
            let state: String = row.try_get("state")?;
            let plan: String = row.try_get("plan")?;
            Ok($crate::domain::rollouts::RolloutRecord {
                id: row.try_get("id")?,
                environment: $crate::store::parse_name(row.try_get("environment")?)?,
                target,
                from_version: $crate::store::counter(row.try_get("from_version")?)?,
                to_version: $crate::store::counter(row.try_get("to_version")?)?,
                plan: $crate::store::parse_json("plan", &plan)?,
                state: switchyard_proto::rollouts::RolloutState::parse(&state).ok_or_else(|| {
                    $crate::store::StoreError::Corrupt(format!("rollout state {state}"))
                })?,
                wave: u32::try_from($crate::store::counter(row.try_get("wave")?)?)
                    .map_err(|_| $crate::store::StoreError::Corrupt("rollout wave".into()))?,
                wave_started_at: row
                    .try_get::<$crate::store::Timestamp, _>("wave_started_at")?
                    .get(),
                revision: $crate::store::counter(row.try_get("revision")?)?,
                started_by: row.try_get("started_by")?,
                started_at: row.try_get::<$crate::store::Timestamp, _>("started_at")?.get(),
                updated_at: row.try_get::<$crate::store::Timestamp, _>("updated_at")?.get(),
                reason: row.try_get("reason")?,
                promotion_requested_by: row.try_get("promotion_requested_by")?,
                revert_version: row
                    .try_get::<Option<i64>, _>("revert_version")?
                    .map($crate::store::counter)
                    .transpose()?,
            })
        }

        /// Starts `rollout` within the caller's transaction; one splitting the environment
        /// already is [`StoreError::RolloutInProgress`].
        async fn insert_rollout(
            connection: &mut <$db as sqlx::Database>::Connection,
            rollout: &$crate::domain::rollouts::RolloutRecord,
        ) -> Result<(), $crate::store::StoreError> {
            if let Some(active) = active_rollout_on(connection, &rollout.environment, None).await? {
                return Err($crate::store::StoreError::RolloutInProgress(active));
            }
            sqlx::query(
                "INSERT INTO rollouts (id, environment, machine_role, from_version, to_version, \
                 plan, state, wave, wave_started_at, revision, started_by, started_at, \
                 updated_at, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(rollout.id)
            .bind(rollout.environment.as_str())
            .bind(rollout.target.key())
            .bind($crate::store::stored_counter(rollout.from_version))
            .bind($crate::store::stored_counter(rollout.to_version))
            .bind($crate::store::stored_json(&rollout.plan))
            .bind(rollout.state.as_str())
            .bind(i64::from(rollout.wave))
            .bind($crate::store::Timestamp::from(rollout.wave_started_at))
            .bind($crate::store::stored_counter(rollout.revision))
            .bind(&rollout.started_by)
            .bind($crate::store::Timestamp::from(rollout.started_at))
            .bind($crate::store::Timestamp::from(rollout.updated_at))
            .bind(&rollout.reason)
            .execute(&mut *connection)
            .await
            .map_err(|e| match $crate::store::is_unique_violation(&e) {
                // Another process started one between the look and the insert.
                true => $crate::store::StoreError::RolloutInProgress(rollout.id),
                false => e.into(),
            })?;
            Ok(())
        }

        /// The rollout splitting `environment`'s machines (of `target`'s profile, if given).
        async fn active_rollout_on(
            connection: &mut <$db as sqlx::Database>::Connection,
            environment: &switchyard_proto::EnvironmentName,
            target: Option<&$crate::domain::profiles::ProfileTarget>,
        ) -> Result<Option<uuid::Uuid>, $crate::store::StoreError> {
            let found: Option<uuid::Uuid> = sqlx::query_scalar(&format!(
                "SELECT id FROM rollouts WHERE environment = $1 \
                 AND ($2 IS NULL OR machine_role = $2) AND state IN {}",
                $crate::store::rollouts::ACTIVE_STATES
            ))
            .bind(environment.as_str())
            .bind(target.map(|target| target.key().to_owned()))
            .fetch_optional(&mut *connection)
            .await?;
            Ok(found)
        }

        #[async_trait::async_trait]
        impl $crate::store::RolloutStore for $store {
            async fn active_rollout(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Option<$crate::domain::rollouts::RolloutRecord>, $crate::store::StoreError>
            {
                sqlx::query(&format!(
                    "SELECT * FROM rollouts WHERE environment = $1 AND state IN {}",
                    $crate::store::rollouts::ACTIVE_STATES
                ))
                .bind(environment.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(rollout_from_row)
                .transpose()
            }

            async fn active_rollouts(
                &self,
            ) -> Result<Vec<$crate::domain::rollouts::RolloutRecord>, $crate::store::StoreError>
            {
                sqlx::query(&format!(
                    "SELECT * FROM rollouts WHERE state IN {} ORDER BY started_at, id",
                    $crate::store::rollouts::ACTIVE_STATES
                ))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(rollout_from_row)
                .collect()
            }

            async fn rollouts(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Vec<$crate::domain::rollouts::RolloutRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT * FROM rollouts WHERE environment = $1 \
                     ORDER BY started_at DESC, to_version DESC, id",
                )
                .bind(environment.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(rollout_from_row)
                .collect()
            }

            async fn rollout(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                id: uuid::Uuid,
            ) -> Result<$crate::domain::rollouts::RolloutRecord, $crate::store::StoreError> {
                sqlx::query("SELECT * FROM rollouts WHERE environment = $1 AND id = $2")
                    .bind(environment.as_str())
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(rollout_from_row)
                    .unwrap_or_else(|| Err($crate::store::StoreError::RolloutNotFound(id)))
            }

            async fn transition_rollout(
                &self,
                after: &$crate::domain::rollouts::RolloutRecord,
                revert: Option<&$crate::domain::profiles::Restore>,
                announce: bool,
                audits: &[$crate::domain::audit::AuditRecord],
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let moved = sqlx::query(
                    "UPDATE rollouts SET state = $3, wave = $4, wave_started_at = $5, \
                     revision = $6, updated_at = $7, reason = $8, promotion_requested_by = $9, \
                     revert_version = $10 WHERE id = $1 AND revision = $2",
                )
                .bind(after.id)
                .bind($crate::store::stored_counter(after.revision.saturating_sub(1)))
                .bind(after.state.as_str())
                .bind(i64::from(after.wave))
                .bind($crate::store::Timestamp::from(after.wave_started_at))
                .bind($crate::store::stored_counter(after.revision))
                .bind($crate::store::Timestamp::from(after.updated_at))
                .bind(&after.reason)
                .bind(&after.promotion_requested_by)
                .bind(after.revert_version.map($crate::store::stored_counter))
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 0 {
                    return Err($crate::store::StoreError::RolloutMoved(after.id));
                }
                let mut announced = after.to_version;
                if let Some(restore) = revert {
                    insert_version(&mut tx, &after.environment, &after.target, &restore.version)
                        .await?;
                    follow_untouched_draft(&mut tx, &after.environment, &after.target, restore)
                        .await?;
                    announced = restore.version.version;
                }
                if announce {
                    self.announce(&mut tx, &after.environment, &after.target, announced)
                        .await?;
                }
                for audit in audits {
                    append_audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use implement_rollout_store;
