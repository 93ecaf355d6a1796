//! Time-boxed overrides: started in the transaction that publishes their version
//! (`profiles.rs`), superseded by any later publish of the profile, and ended at their time by
//! publishing the version before again, once, whichever server process comes first.

use async_trait::async_trait;
use switchyard_proto::EnvironmentName;
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::audit::AuditRecord;
use crate::domain::overrides::OverrideRecord;
use crate::domain::profiles::{ProfileTarget, Restore};

/// Overrides, as kept.
#[async_trait]
pub trait OverrideStore: Send + Sync {
    /// The override standing over a profile now, if any.
    async fn active_override(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Option<OverrideRecord>, StoreError>;

    /// The overrides of `environment`, newest first.
    async fn overrides(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<OverrideRecord>, StoreError>;

    /// The overrides still standing whose end time is at or before `now`, in any environment.
    async fn due_overrides(&self, now: OffsetDateTime) -> Result<Vec<OverrideRecord>, StoreError>;

    /// Ends `ended` (state, time and end version set) if it still stands, else
    /// [`StoreError::OverrideMoved`]: publishes `restore` (the old content again) in the same
    /// transaction, and moves an untouched draft along with it. `audits` are appended in order.
    async fn end_override(
        &self,
        ended: &OverrideRecord,
        restore: &Restore,
        audits: &[AuditRecord],
    ) -> Result<(), StoreError>;
}

/// Implements [`OverrideStore`] for `$store` on database `$db`, with the helpers
/// `implement_store!` and `implement_profile_store!` define beside it. Defines
/// `insert_override` and `supersede_override`, which a publish uses.
macro_rules! implement_override_store {
    ($store:ident, $db:ty) => {
        fn override_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::overrides::OverrideRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            let target = $crate::store::parse_target(row.try_get("machine_role")?)?;
            let state: String = row.try_get("state")?;
            Ok($crate::domain::overrides::OverrideRecord {
                id: row.try_get("id")?,
                environment: $crate::store::parse_name(row.try_get("environment")?)?,
                target,
                version: $crate::store::counter(row.try_get("version")?)?,
                restore_version: $crate::store::counter(row.try_get("restore_version")?)?,
                ends_at: row.try_get::<$crate::store::Timestamp, _>("ends_at")?.get(),
                state: switchyard_proto::rollouts::OverrideState::parse(&state).ok_or_else(|| {
                    $crate::store::StoreError::Corrupt(format!("override state {state}"))
                })?,
                started_by: row.try_get("started_by")?,
                started_at: row.try_get::<$crate::store::Timestamp, _>("started_at")?.get(),
                ended_at: row
                    .try_get::<Option<$crate::store::Timestamp>, _>("ended_at")?
                    .map($crate::store::Timestamp::get),
                end_version: row
                    .try_get::<Option<i64>, _>("end_version")?
                    .map($crate::store::counter)
                    .transpose()?,
            })
        }

        /// Starts `until` within the caller's transaction (after any standing override of the
        /// profile was superseded).
        async fn insert_override(
            connection: &mut <$db as sqlx::Database>::Connection,
            until: &$crate::domain::overrides::OverrideRecord,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "INSERT INTO overrides (id, environment, machine_role, version, restore_version, \
                 ends_at, state, started_by, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8)",
            )
            .bind(until.id)
            .bind(until.environment.as_str())
            .bind(until.target.key())
            .bind($crate::store::stored_counter(until.version))
            .bind($crate::store::stored_counter(until.restore_version))
            .bind($crate::store::Timestamp::from(until.ends_at))
            .bind(&until.started_by)
            .bind($crate::store::Timestamp::from(until.started_at))
            .execute(&mut *connection)
            .await?;
            Ok(())
        }

        /// Marks the override standing over a profile, if any, superseded at `now`: a newer
        /// version was published within the caller's transaction.
        async fn supersede_override(
            connection: &mut <$db as sqlx::Database>::Connection,
            environment: &switchyard_proto::EnvironmentName,
            target: &$crate::domain::profiles::ProfileTarget,
            now: time::OffsetDateTime,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "UPDATE overrides SET state = 'superseded', ended_at = $3 \
                 WHERE environment = $1 AND machine_role = $2 AND state = 'active'",
            )
            .bind(environment.as_str())
            .bind(target.key())
            .bind($crate::store::Timestamp::from(now))
            .execute(&mut *connection)
            .await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::OverrideStore for $store {
            async fn active_override(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
            ) -> Result<Option<$crate::domain::overrides::OverrideRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT * FROM overrides WHERE environment = $1 AND machine_role = $2 \
                     AND state = 'active'",
                )
                .bind(environment.as_str())
                .bind(target.key())
                .fetch_optional(&self.pool)
                .await?
                .map(override_from_row)
                .transpose()
            }

            async fn overrides(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Vec<$crate::domain::overrides::OverrideRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT * FROM overrides WHERE environment = $1 \
                     ORDER BY started_at DESC, version DESC, id",
                )
                .bind(environment.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(override_from_row)
                .collect()
            }

            async fn due_overrides(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<Vec<$crate::domain::overrides::OverrideRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT * FROM overrides WHERE state = 'active' AND ends_at <= $1 \
                     ORDER BY ends_at, id",
                )
                .bind($crate::store::Timestamp::from(now))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(override_from_row)
                .collect()
            }

            async fn end_override(
                &self,
                ended: &$crate::domain::overrides::OverrideRecord,
                restore: &$crate::domain::profiles::Restore,
                audits: &[$crate::domain::audit::AuditRecord],
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let closed = sqlx::query(
                    "UPDATE overrides SET state = $2, ended_at = $3, end_version = $4 \
                     WHERE id = $1 AND state = 'active'",
                )
                .bind(ended.id)
                .bind(ended.state.as_str())
                .bind(ended.ended_at.map($crate::store::Timestamp::from))
                .bind(ended.end_version.map($crate::store::stored_counter))
                .execute(&mut *tx)
                .await?;
                if closed.rows_affected() == 0 {
                    return Err($crate::store::StoreError::OverrideMoved(ended.id));
                }
                insert_version(&mut tx, &ended.environment, &ended.target, &restore.version)
                    .await?;
                follow_untouched_draft(&mut tx, &ended.environment, &ended.target, restore).await?;
                self.announce(
                    &mut tx,
                    &ended.environment,
                    &ended.target,
                    restore.version.version,
                )
                .await?;
                for audit in audits {
                    append_audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use implement_override_store;
