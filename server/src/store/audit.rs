//! The audit trail: reading it, and appending an event that records no change of its own. Every
//! other change appends its event in its own transaction (`sql.rs`).

use async_trait::async_trait;
use switchyard_proto::{AuditEvent, AuditHead};

use super::StoreError;
use crate::domain::audit::{AuditFilter, AuditRecord};

/// The audit trail, as kept.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The newest audit event's position and hash (0 and the genesis hash with none).
    async fn audit_head(&self) -> Result<AuditHead, StoreError>;

    /// The newest head of the trail each machine was sent and reported back (its signature
    /// checked when reported), revoked machines' too: their witness still holds.
    async fn witnessed_heads(&self) -> Result<Vec<(uuid::Uuid, AuditHead)>, StoreError>;

    /// Appends an event that records no change of its own (a failed login).
    async fn record_audit(&self, audit: &AuditRecord) -> Result<AuditEvent, StoreError>;

    /// Audit events matching `filter`, newest first, at most `filter.limit`.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// Audit events after position `after_seq`, oldest first, at most `limit`: the chain as
    /// stored, for checking. A row that cannot be read is [`StoreError::CorruptAuditEvent`].
    async fn audit_chain(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Implements [`AuditStore`] for `$store` (a struct with a `pool` field) on database `$db`, with
/// the helpers `implement_store!` defines beside it (`sql.rs`). `$position` is the SQL function
/// giving the place of one text in another (0 when absent).
macro_rules! implement_audit_store {
    ($store:ident, $db:ty, $position:literal) => {
        fn audit_event_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<switchyard_proto::AuditEvent, $crate::store::StoreError> {
            use sqlx::Row as _;
            use $crate::store::{audit_json, audit_name};
            let seq = $crate::store::counter(row.try_get("seq")?)?;
            let event = switchyard_proto::AuditEvent {
                seq,
                id: row.try_get("id")?,
                at: row.try_get::<$crate::store::Timestamp, _>("at")?.get(),
                actor_kind: audit_name(seq, "actor_kind", row.try_get("actor_kind")?)?,
                actor: row.try_get("actor")?,
                source: row.try_get("source")?,
                user_agent: row.try_get("user_agent")?,
                request_id: row.try_get("request_id")?,
                action: audit_name(seq, "action", row.try_get("action")?)?,
                environment: row.try_get("environment")?,
                machine_role: row.try_get("machine_role")?,
                target: row.try_get("target")?,
                outcome: audit_name(seq, "outcome", row.try_get("outcome")?)?,
                changes: audit_json(seq, "changes", row.try_get("changes")?)?,
                detail: audit_json(seq, "detail", row.try_get("detail")?)?,
                previous_hash: row.try_get("previous_hash")?,
                hash: row.try_get("hash")?,
            };
            let paths: String = row.try_get("paths")?;
            if paths != $crate::domain::audit::path_index(&event.changes) {
                return Err($crate::store::StoreError::CorruptAuditEvent {
                    seq,
                    problem: "its setting index does not match its changes".into(),
                });
            }
            Ok(event)
        }

        #[async_trait::async_trait]
        impl $crate::store::AuditStore for $store {
            async fn audit_head(
                &self,
            ) -> Result<switchyard_proto::AuditHead, $crate::store::StoreError> {
                use sqlx::Row as _;
                let row =
                    sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    Some(row) => Ok(switchyard_proto::AuditHead {
                        seq: $crate::store::counter(row.try_get("seq")?)?,
                        hash: row.try_get("hash")?,
                    }),
                    None => Ok(switchyard_proto::AuditHead {
                        seq: 0,
                        hash: $crate::domain::audit::GENESIS_HASH.to_owned(),
                    }),
                }
            }

            async fn witnessed_heads(
                &self,
            ) -> Result<Vec<(uuid::Uuid, switchyard_proto::AuditHead)>, $crate::store::StoreError>
            {
                use sqlx::Row as _;
                sqlx::query(
                    "SELECT id, witnessed_seq, witnessed_hash FROM devices \
                     WHERE witnessed_seq IS NOT NULL ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| {
                    Ok((
                        row.try_get("id")?,
                        switchyard_proto::AuditHead {
                            seq: $crate::store::counter(row.try_get("witnessed_seq")?)?,
                            hash: row.try_get("witnessed_hash")?,
                        },
                    ))
                })
                .collect()
            }

            async fn record_audit(
                &self,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<switchyard_proto::AuditEvent, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let event = append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(event)
            }

            async fn audit_events(
                &self,
                filter: &$crate::domain::audit::AuditFilter,
            ) -> Result<Vec<switchyard_proto::AuditEvent>, $crate::store::StoreError> {
                let mut query =
                    sqlx::QueryBuilder::<$db>::new("SELECT * FROM audit_events WHERE 1 = 1");
                if let Some(visible) = &filter.visible_environments {
                    if visible.is_empty() {
                        return Ok(Vec::new());
                    }
                    query.push(" AND environment IN (");
                    let mut names = query.separated(", ");
                    for name in visible {
                        names.push_bind(name.clone());
                    }
                    query.push(")");
                }
                for (column, value) in [
                    ("actor", &filter.actor),
                    ("environment", &filter.environment),
                    ("machine_role", &filter.machine_role),
                ] {
                    if let Some(value) = value {
                        query
                            .push(format!(" AND {column} = "))
                            .push_bind(value.clone());
                    }
                }
                if let Some(action) = filter.action {
                    query.push(" AND action = ").push_bind(action.as_str());
                }
                if let Some(setting) = &filter.setting {
                    // The setting itself, or any setting under it, by its name now or by a
                    // name it had when older events were recorded.
                    let names = std::iter::once(setting.clone())
                        .chain(switchyard_proto::profile::former_paths(setting));
                    query.push(" AND (FALSE");
                    for name in names {
                        query
                            .push(concat!(" OR ", $position, "(paths, "))
                            .push_bind(format!("\n{name}\n"))
                            .push(concat!(") > 0 OR ", $position, "(paths, "))
                            .push_bind(format!("\n{name}."))
                            .push(") > 0");
                    }
                    query.push(")");
                }
                if let Some(since) = filter.since {
                    query
                        .push(" AND at >= ")
                        .push_bind($crate::store::Timestamp::from(since));
                }
                if let Some(until) = filter.until {
                    query
                        .push(" AND at < ")
                        .push_bind($crate::store::Timestamp::from(until));
                }
                if let Some(before) = filter.before_seq {
                    query
                        .push(" AND seq < ")
                        .push_bind($crate::store::stored_counter(before));
                }
                let limit = filter
                    .limit
                    .min($crate::domain::audit::MOST_EVENTS_PER_QUERY);
                query
                    .push(" ORDER BY seq DESC LIMIT ")
                    .push_bind(i64::from(limit));
                query
                    .build()
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(audit_event_from_row)
                    .collect()
            }

            async fn audit_chain(
                &self,
                after_seq: u64,
                limit: u32,
            ) -> Result<Vec<switchyard_proto::AuditEvent>, $crate::store::StoreError> {
                sqlx::query("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind($crate::store::stored_counter(after_seq))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(audit_event_from_row)
                    .collect()
            }
        }
    };
}

pub(super) use implement_audit_store;
