//! The one implementation of [`Store`](super::Store), written once and instantiated for each
//! database by [`implement_store!`]. SQLite accepts Postgres' `$N` placeholders and
//! [`Timestamp`](super::Timestamp) binds the same way on both, so the same text serves both;
//! what differs (opening, pools) stays in `postgres.rs` and `sqlite.rs`. Each aggregate's
//! statements sit beside its trait (`identity.rs`, `profiles.rs` ...); this holds what they
//! share: appending to the audit trail, which every change does in its own transaction.

/// Implements `Store` and every aggregate's trait for `$store` (a struct with a `pool` field)
/// on database `$db`. `$write_lock` is a statement that, first in a transaction, makes it
/// exclusive among writers: changes that must see a consistent set of admins take it.
/// `$chain_lock` does the same among writers to the audit trail, which every change is.
/// `$position` is the SQL function giving the place of one text in another (0 when absent).
/// The store's own `announce` and `listen` tell other server processes of a publish when its
/// transaction commits, and hear theirs, where the database can.
macro_rules! implement_store {
    (
        $store:ident,
        $db:ty,
        $kind:literal,
        $write_lock:literal,
        $chain_lock:literal,
        $position:literal
    ) => {
        /// Begins a transaction that will append to the audit trail. It takes the trail's lock
        /// first, so events are numbered in the order their transactions commit, and writers
        /// always take locks in the same order.
        async fn begin_audited(
            pool: &sqlx::Pool<$db>,
        ) -> Result<sqlx::Transaction<'static, $db>, $crate::store::StoreError> {
            let mut tx = pool.begin().await?;
            sqlx::query($chain_lock).execute(&mut *tx).await?;
            Ok(tx)
        }

        /// Appends `record` to the audit trail within the caller's transaction, which holds
        /// the trail's lock ([`begin_audited`]).
        async fn append_audit(
            connection: &mut <$db as sqlx::Database>::Connection,
            record: &$crate::domain::audit::AuditRecord,
        ) -> Result<switchyard_proto::AuditEvent, $crate::store::StoreError> {
            use sqlx::Row as _;
            let head = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *connection)
                .await?;
            let (seq, previous_hash) = match head {
                Some(row) => (
                    $crate::store::counter(row.try_get("seq")?)? + 1,
                    row.try_get::<String, _>("hash")?,
                ),
                None => (1, $crate::domain::audit::GENESIS_HASH.to_owned()),
            };
            let event = record.chain(seq, &previous_hash);
            sqlx::query(
                "INSERT INTO audit_events (seq, id, at, actor_kind, actor, source, user_agent,                  request_id, action, environment, machine_role, target, outcome, changes, paths,                  detail, previous_hash, hash)                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,                  $17, $18)",
            )
            .bind($crate::store::stored_counter(event.seq))
            .bind(event.id)
            .bind($crate::store::Timestamp::from(event.at))
            .bind(event.actor_kind.as_str())
            .bind(&event.actor)
            .bind(&event.source)
            .bind(&event.user_agent)
            .bind(&event.request_id)
            .bind(event.action.as_str())
            .bind(&event.environment)
            .bind(&event.machine_role)
            .bind(&event.target)
            .bind(event.outcome.as_str())
            .bind(serde_json::to_string(&event.changes).unwrap_or_default())
            .bind($crate::domain::audit::path_index(&event.changes))
            .bind(serde_json::to_string(&event.detail).unwrap_or_default())
            .bind(&event.previous_hash)
            .bind(&event.hash)
            .execute(&mut *connection)
            .await?;
            Ok(event)
        }

        $crate::store::identity::implement_identity_store!($store, $db, $write_lock);
        $crate::store::sessions::implement_session_store!($store, $db);
        $crate::store::environments::implement_environment_store!($store, $db);
        $crate::store::profiles::implement_profile_store!($store, $db);
        $crate::store::devices::implement_device_store!($store, $db);
        $crate::store::keys::implement_key_store!($store, $db);
        $crate::store::audit::implement_audit_store!($store, $db, $position);
        $crate::store::rollouts::implement_rollout_store!($store, $db);
        $crate::store::overrides::implement_override_store!($store, $db);

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1 FROM _sqlx_migrations LIMIT 1")
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

pub(super) use implement_store;
