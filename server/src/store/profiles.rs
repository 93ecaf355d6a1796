//! Profiles: drafts, immutable versions, publishing and change requests. The rules are
//! `crate::publishing`'s; this keeps what they decide, each change in one transaction with its
//! audit event.
//!
//! Past 500 lines on purpose: a publish is one transaction (version, draft, change request,
//! announcement, audit event) that reads best in one piece, beside the rows it reads back.

use async_trait::async_trait;
use switchyard_proto::EnvironmentName;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PublishListener, StoreError};
use crate::domain::audit::AuditRecord;
use crate::domain::profiles::{
    ChangeRequestRecord, DraftRecord, ProfileTarget, PublishKind, Reach, VersionRecord,
};

/// Drafts, versions and change requests, as kept.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// The draft of a profile, if it was ever edited.
    async fn draft(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Option<DraftRecord>, StoreError>;

    /// Saves a draft edit made on revision `expected_revision` (0: no draft yet); the draft
    /// gets revision `expected_revision + 1`. A draft changed since is [`StoreError::StaleDraft`].
    async fn save_draft(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        expected_revision: u64,
        draft: &DraftRecord,
        audit: &AuditRecord,
    ) -> Result<DraftRecord, StoreError>;

    /// The published versions of a profile, oldest first.
    async fn versions(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Vec<VersionRecord>, StoreError>;

    /// One published version.
    async fn version(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: u64,
    ) -> Result<VersionRecord, StoreError>;

    /// The newest published version, if any.
    async fn latest_version(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Option<VersionRecord>, StoreError>;

    /// Adds `version` in one transaction with what `kind` implies: a draft publish needs the
    /// draft still at its revision; a rollback or an approval makes the draft the version's
    /// content, and an approval closes its change request (which must still be open). A
    /// version number already taken is [`StoreError::VersionTaken`]: someone published first.
    /// `reach` says whom it goes to: everyone, a rollout's first wave, or everyone until an
    /// override ends. While a rollout of this profile is in progress, or (starting one) any
    /// rollout of the environment, the publish is [`StoreError::RolloutInProgress`]. An
    /// override standing over the profile is superseded. `audits` are appended in order: the
    /// publish's event first, then those of what it starts or ends.
    async fn publish(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: &VersionRecord,
        kind: &PublishKind,
        reach: Reach<'_>,
        audits: &[AuditRecord],
    ) -> Result<(), StoreError>;

    /// Keeps a new change request.
    async fn create_change_request(
        &self,
        environment: &EnvironmentName,
        request: &ChangeRequestRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// One change request of an environment.
    async fn change_request(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
    ) -> Result<ChangeRequestRecord, StoreError>;

    /// The change requests of an environment, newest first.
    async fn change_requests(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<ChangeRequestRecord>, StoreError>;

    /// Rejects an open change request.
    async fn reject_change_request(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
        decided_by: &str,
        reason: &str,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Hears the publishes other server processes make on this database, not this one's own;
    /// `None` where no other process can share it (SQLite).
    async fn listen_for_publishes(&self) -> Result<Option<PublishListener>, StoreError>;
}

/// Implements [`ProfileStore`] for `$store` (a struct with a `pool` field) on database `$db`, with
/// the helpers `implement_store!` defines beside it (`sql.rs`).
macro_rules! implement_profile_store {
    ($store:ident, $db:ty) => {
        fn version_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::profiles::VersionRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::domain::profiles::VersionRecord {
                version: $crate::store::counter(row.try_get("version")?)?,
                document: row.try_get("document")?,
                content_hash: row.try_get("content_hash")?,
                author: row.try_get("author")?,
                message: row.try_get("message")?,
                rollback_of: row
                    .try_get::<Option<i64>, _>("rollback_of")?
                    .map($crate::store::counter)
                    .transpose()?,
                published_at: row
                    .try_get::<$crate::store::Timestamp, _>("published_at")?
                    .get(),
            })
        }

        fn change_request_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::profiles::ChangeRequestRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            let target = $crate::store::parse_target(row.try_get("machine_role")?)?;
            let optional_counter = |value: Option<i64>| value.map($crate::store::counter).transpose();
            Ok($crate::domain::profiles::ChangeRequestRecord {
                id: row.try_get("id")?,
                target,
                document: row.try_get("document")?,
                content_hash: row.try_get("content_hash")?,
                base_version: $crate::store::counter(row.try_get("base_version")?)?,
                rollback_of: optional_counter(row.try_get("rollback_of")?)?,
                proposer: row.try_get("proposer")?,
                message: row.try_get("message")?,
                created_at: row.try_get::<$crate::store::Timestamp, _>("created_at")?.get(),
                expires_at: row.try_get::<$crate::store::Timestamp, _>("expires_at")?.get(),
                state: {
                    let state: String = row.try_get("status")?;
                    $crate::domain::profiles::ChangeRequestState::parse(&state).ok_or_else(|| {
                        $crate::store::StoreError::Corrupt(format!("change request status {state}"))
                    })?
                },
                decided_by: row.try_get("decided_by")?,
                reason: row.try_get("reason")?,
                version: optional_counter(row.try_get("version")?)?,
                rollout: row
                    .try_get::<Option<String>, _>("rollout_plan")?
                    .map(|plan| $crate::store::parse_json("rollout_plan", &plan))
                    .transpose()?,
                until: row
                    .try_get::<Option<$crate::store::Timestamp>, _>("override_until")?
                    .map($crate::store::Timestamp::get),
            })
        }

        /// The revision of a profile's draft, 0 when it has none: what a stale writer is told.
        async fn current_draft_revision(
            connection: &mut <$db as sqlx::Database>::Connection,
            environment: &switchyard_proto::EnvironmentName,
            target: &$crate::domain::profiles::ProfileTarget,
        ) -> Result<u64, $crate::store::StoreError> {
            let revision: Option<i64> = sqlx::query_scalar(
                "SELECT revision FROM profile_drafts WHERE environment = $1 AND machine_role = $2",
            )
            .bind(environment.as_str())
            .bind(target.key())
            .fetch_optional(&mut *connection)
            .await?;
            revision.map_or(Ok(0), $crate::store::counter)
        }

        /// Adds `version` of `target` within the caller's transaction; a number already taken
        /// is [`StoreError::VersionTaken`](crate::store::StoreError::VersionTaken): someone
        /// published first. Versions are immutable: nothing else writes them.
        async fn insert_version(
            connection: &mut <$db as sqlx::Database>::Connection,
            environment: &switchyard_proto::EnvironmentName,
            target: &$crate::domain::profiles::ProfileTarget,
            version: &$crate::domain::profiles::VersionRecord,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "INSERT INTO profile_versions (environment, machine_role, version, document, \
                 content_hash, author, message, rollback_of, published_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(environment.as_str())
            .bind(target.key())
            .bind($crate::store::stored_counter(version.version))
            .bind(&version.document)
            .bind(&version.content_hash)
            .bind(&version.author)
            .bind(&version.message)
            .bind(version.rollback_of.map($crate::store::stored_counter))
            .bind($crate::store::Timestamp::from(version.published_at))
            .execute(&mut *connection)
            .await
            .map_err(|e| match $crate::store::is_unique_violation(&e) {
                true => $crate::store::StoreError::VersionTaken(version.version),
                false => e.into(),
            })?;
            Ok(())
        }

        /// Makes the draft of `target` the content of `restore`'s version if it is still at the
        /// revision the rules found untouched: what the server brings back by itself (a
        /// reverted rollout, an ended override) must not come back again with the next publish
        /// of an untouched draft, while edits are never overwritten.
        async fn follow_untouched_draft(
            connection: &mut <$db as sqlx::Database>::Connection,
            environment: &switchyard_proto::EnvironmentName,
            target: &$crate::domain::profiles::ProfileTarget,
            restore: &$crate::domain::profiles::Restore,
        ) -> Result<(), $crate::store::StoreError> {
            let Some(revision) = restore.draft_revision else {
                return Ok(());
            };
            let version = &restore.version;
            sqlx::query(
                "UPDATE profile_drafts SET document = $4, revision = revision + 1, \
                 based_on_version = $5, updated_by = $6, updated_at = $7 \
                 WHERE environment = $1 AND machine_role = $2 AND revision = $3",
            )
            .bind(environment.as_str())
            .bind(target.key())
            .bind($crate::store::stored_counter(revision))
            .bind(&version.document)
            .bind($crate::store::stored_counter(version.version))
            .bind(&version.author)
            .bind($crate::store::Timestamp::from(version.published_at))
            .execute(&mut *connection)
            .await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::ProfileStore for $store {
            async fn draft(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
            ) -> Result<Option<$crate::domain::profiles::DraftRecord>, $crate::store::StoreError>
            {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT document, revision, based_on_version, updated_by, updated_at \
                     FROM profile_drafts WHERE environment = $1 AND machine_role = $2",
                )
                .bind(environment.as_str())
                .bind(target.key())
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some($crate::domain::profiles::DraftRecord {
                    document: row.try_get("document")?,
                    revision: $crate::store::counter(row.try_get("revision")?)?,
                    based_on_version: $crate::store::counter(row.try_get("based_on_version")?)?,
                    updated_by: row.try_get("updated_by")?,
                    updated_at: row.try_get::<$crate::store::Timestamp, _>("updated_at")?.get(),
                }))
            }

            async fn save_draft(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
                expected_revision: u64,
                draft: &$crate::domain::profiles::DraftRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<$crate::domain::profiles::DraftRecord, $crate::store::StoreError> {
                let revision = expected_revision + 1;
                let mut tx = begin_audited(&self.pool).await?;
                // Each branch is one statement that succeeds only on the expected revision, so
                // two editors of one revision cannot both win.
                let query = match expected_revision {
                    0 => sqlx::query(
                        "INSERT INTO profile_drafts (environment, machine_role, document, \
                         revision, based_on_version, updated_by, updated_at) \
                         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE $8 = 0 \
                         ON CONFLICT (environment, machine_role) DO NOTHING",
                    ),
                    _ => sqlx::query(
                        "UPDATE profile_drafts SET document = $3, revision = $4, \
                         based_on_version = $5, updated_by = $6, updated_at = $7 \
                         WHERE environment = $1 AND machine_role = $2 AND revision = $8",
                    ),
                };
                let result = query
                    .bind(environment.as_str())
                    .bind(target.key())
                    .bind(&draft.document)
                    .bind($crate::store::stored_counter(revision))
                    .bind($crate::store::stored_counter(draft.based_on_version))
                    .bind(&draft.updated_by)
                    .bind($crate::store::Timestamp::from(draft.updated_at))
                    .bind($crate::store::stored_counter(expected_revision))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match $crate::store::is_foreign_key_violation(&e) {
                        true => $crate::store::StoreError::EnvironmentNotFound(environment.clone()),
                        false => e.into(),
                    })?;
                if result.rows_affected() == 0 {
                    let current = current_draft_revision(&mut tx, environment, target).await?;
                    return Err($crate::store::StoreError::StaleDraft { current });
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok($crate::domain::profiles::DraftRecord {
                    revision,
                    ..draft.clone()
                })
            }

            async fn versions(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
            ) -> Result<Vec<$crate::domain::profiles::VersionRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT version, document, content_hash, author, message, rollback_of, \
                     published_at FROM profile_versions \
                     WHERE environment = $1 AND machine_role = $2 ORDER BY version",
                )
                .bind(environment.as_str())
                .bind(target.key())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(version_from_row)
                .collect()
            }

            async fn version(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
                version: u64,
            ) -> Result<$crate::domain::profiles::VersionRecord, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT version, document, content_hash, author, message, rollback_of, \
                     published_at FROM profile_versions \
                     WHERE environment = $1 AND machine_role = $2 AND version = $3",
                )
                .bind(environment.as_str())
                .bind(target.key())
                .bind($crate::store::stored_counter(version))
                .fetch_optional(&self.pool)
                .await?
                .map(version_from_row)
                .unwrap_or_else(|| Err($crate::store::StoreError::VersionNotFound(version)))
            }

            async fn latest_version(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
            ) -> Result<Option<$crate::domain::profiles::VersionRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT version, document, content_hash, author, message, rollback_of, \
                     published_at FROM profile_versions \
                     WHERE environment = $1 AND machine_role = $2 \
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(environment.as_str())
                .bind(target.key())
                .fetch_optional(&self.pool)
                .await?
                .map(version_from_row)
                .transpose()
            }

            async fn publish(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                target: &$crate::domain::profiles::ProfileTarget,
                version: &$crate::domain::profiles::VersionRecord,
                kind: &$crate::domain::profiles::PublishKind,
                reach: $crate::domain::profiles::Reach<'_>,
                audits: &[$crate::domain::audit::AuditRecord],
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::domain::profiles::PublishKind;
                let mut tx = begin_audited(&self.pool).await?;
                if let Some(active) = active_rollout_on(&mut tx, environment, Some(target)).await? {
                    return Err($crate::store::StoreError::RolloutInProgress(active));
                }
                insert_version(&mut tx, environment, target, version).await?;
                if let PublishKind::Approval {
                    change_request,
                    decided_by,
                    reason,
                    ..
                } = kind
                {
                    let closed = sqlx::query(
                        "UPDATE change_requests SET status = 'approved', decided_by = $2, \
                         decided_at = $3, reason = $4, version = $5 \
                         WHERE id = $1 AND status = 'open' AND expires_at > $3",
                    )
                    .bind(*change_request)
                    .bind(decided_by)
                    .bind($crate::store::Timestamp::from(version.published_at))
                    .bind(reason)
                    .bind($crate::store::stored_counter(version.version))
                    .execute(&mut *tx)
                    .await?;
                    if closed.rows_affected() == 0 {
                        return Err($crate::store::StoreError::ChangeRequestClosed(*change_request));
                    }
                }
                match kind {
                    PublishKind::Draft { revision: expected } => {
                        let expected = *expected;
                        let current = current_draft_revision(&mut tx, environment, target).await?;
                        if current != expected {
                            return Err($crate::store::StoreError::StaleDraft { current });
                        }
                        sqlx::query(
                            "UPDATE profile_drafts SET based_on_version = $3 \
                             WHERE environment = $1 AND machine_role = $2",
                        )
                        .bind(environment.as_str())
                        .bind(target.key())
                        .bind($crate::store::stored_counter(version.version))
                        .execute(&mut *tx)
                        .await?;
                    }
                    PublishKind::Rollback { draft_revision }
                    | PublishKind::Approval { draft_revision, .. } => {
                        // The draft becomes the version's content, but only if nobody edited
                        // it since it was read: unpublished edits are never lost silently.
                        let expected = *draft_revision;
                        let query = match expected {
                            0 => sqlx::query(
                                "INSERT INTO profile_drafts (environment, machine_role, document, \
                                 revision, based_on_version, updated_by, updated_at) \
                                 SELECT $1, $2, $3, $7 + 1, $4, $5, $6 WHERE $7 = 0 \
                                 ON CONFLICT (environment, machine_role) DO NOTHING",
                            ),
                            _ => sqlx::query(
                                "UPDATE profile_drafts SET document = $3, revision = $7 + 1, \
                                 based_on_version = $4, updated_by = $5, updated_at = $6 \
                                 WHERE environment = $1 AND machine_role = $2 AND revision = $7",
                            ),
                        };
                        let moved = query
                            .bind(environment.as_str())
                            .bind(target.key())
                            .bind(&version.document)
                            .bind($crate::store::stored_counter(version.version))
                            .bind(&version.author)
                            .bind($crate::store::Timestamp::from(version.published_at))
                            .bind($crate::store::stored_counter(expected))
                            .execute(&mut *tx)
                            .await?;
                        if moved.rows_affected() == 0 {
                            let current = current_draft_revision(&mut tx, environment, target).await?;
                            return Err($crate::store::StoreError::StaleDraft { current });
                        }
                    }
                }
                supersede_override(&mut tx, environment, target, version.published_at).await?;
                match reach {
                    $crate::domain::profiles::Reach::Everyone => {}
                    $crate::domain::profiles::Reach::Rollout(rollout) => {
                        insert_rollout(&mut tx, rollout).await?
                    }
                    $crate::domain::profiles::Reach::Override(until) => {
                        insert_override(&mut tx, until).await?
                    }
                }
                self.announce(&mut tx, environment, target, version.version)
                    .await?;
                for audit in audits {
                    append_audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn create_change_request(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                request: &$crate::domain::profiles::ChangeRequestRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO change_requests (id, environment, machine_role, document, \
                     content_hash, base_version, rollback_of, proposer, message, created_at, \
                     expires_at, status, rollout_plan, override_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13)",
                )
                .bind(request.id)
                .bind(environment.as_str())
                .bind(request.target.key())
                .bind(&request.document)
                .bind(&request.content_hash)
                .bind($crate::store::stored_counter(request.base_version))
                .bind(request.rollback_of.map($crate::store::stored_counter))
                .bind(&request.proposer)
                .bind(&request.message)
                .bind($crate::store::Timestamp::from(request.created_at))
                .bind($crate::store::Timestamp::from(request.expires_at))
                .bind(request.rollout.as_ref().map($crate::store::stored_json))
                .bind(request.until.map($crate::store::Timestamp::from))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn change_request(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                id: uuid::Uuid,
            ) -> Result<$crate::domain::profiles::ChangeRequestRecord, $crate::store::StoreError>
            {
                sqlx::query("SELECT * FROM change_requests WHERE environment = $1 AND id = $2")
                    .bind(environment.as_str())
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(change_request_from_row)
                    .unwrap_or_else(|| Err($crate::store::StoreError::ChangeRequestNotFound(id)))
            }

            async fn change_requests(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Vec<$crate::domain::profiles::ChangeRequestRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT * FROM change_requests WHERE environment = $1 \
                     ORDER BY created_at DESC, id",
                )
                .bind(environment.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(change_request_from_row)
                .collect()
            }

            async fn reject_change_request(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                id: uuid::Uuid,
                decided_by: &str,
                reason: &str,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let result = sqlx::query(
                    "UPDATE change_requests SET status = 'rejected', decided_by = $3, \
                     decided_at = $4, reason = $5 \
                     WHERE environment = $1 AND id = $2 AND status = 'open'",
                )
                .bind(environment.as_str())
                .bind(id)
                .bind(decided_by)
                .bind($crate::store::Timestamp::from(now))
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                if result.rows_affected() == 0 {
                    return Err($crate::store::StoreError::ChangeRequestClosed(id));
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn listen_for_publishes(
                &self,
            ) -> Result<Option<$crate::store::PublishListener>, $crate::store::StoreError> {
                self.listen().await
            }
        }
    };
}

pub(super) use implement_profile_store;
