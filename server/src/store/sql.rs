//! The one implementation of [`Store`](super::Store), written once and instantiated for each
//! database by [`implement_store!`]. SQLite accepts Postgres' `$N` placeholders and
//! [`Timestamp`](super::Timestamp) binds the same way on both, so the same text serves both;
//! what differs (opening, pools) stays in `postgres.rs` and `sqlite.rs`.

/// Implements `Store` for `$store` (a struct with a `pool` field) on database `$db`.
/// `$write_lock` is a statement that, first in a transaction, makes it exclusive among
/// writers: changes that must see a consistent set of admins take it. `$chain_lock` does the
/// same among writers to the audit trail, which every change is. `$position` is the SQL
/// function giving the place of one text in another (0 when absent). The store's own
/// `announce` and `listen` tell other server processes of a publish when its transaction
/// commits, and hear theirs, where the database can.
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
                    }),
                },
            })
        }

        fn signing_key_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::signing::SigningKeyRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::domain::signing::SigningKeyRecord {
                version: $crate::store::counter(row.try_get("version")?)?,
                key_id: row.try_get("key_id")?,
                public_key: row.try_get("public_key")?,
                sealed_private_key: row.try_get("sealed_private_key")?,
                key_set: row.try_get("key_set")?,
                created_at: row.try_get::<$crate::store::Timestamp, _>("created_at")?.get(),
            })
        }

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

        fn environment_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok(switchyard_proto::Environment {
                name: $crate::store::parse_name(row.try_get("name")?)?,
                description: $crate::store::parse_description(row.try_get("description")?)?,
                protected: row.try_get("protected")?,
                created_at: row
                    .try_get::<$crate::store::Timestamp, _>("created_at")?
                    .get(),
            })
        }

        fn user_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::identity::UserRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::domain::identity::UserRecord {
                id: row.try_get("id")?,
                username: $crate::store::parse_username(row.try_get("username")?)?,
                password_hash: row.try_get("password_hash")?,
                global_role: $crate::store::parse_global_role(row.try_get("global_role")?)?,
                disabled: row.try_get("disabled")?,
                created_at: row.try_get::<$crate::store::Timestamp, _>("created_at")?.get(),
                sessions_valid_after: row
                    .try_get::<Option<$crate::store::Timestamp>, _>("sessions_valid_after")?
                    .map($crate::store::Timestamp::get),
            })
        }

        fn api_token_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::identity::ApiTokenRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok($crate::domain::identity::ApiTokenRecord {
                id: row.try_get("id")?,
                owner_id: row.try_get("owner_id")?,
                owner: $crate::store::parse_username(row.try_get("owner")?)?,
                name: $crate::store::parse_token_name(row.try_get("name")?)?,
                token_hash: row.try_get("token_hash")?,
                created_at: row.try_get::<$crate::store::Timestamp, _>("created_at")?.get(),
                expires_at: row.try_get::<$crate::store::Timestamp, _>("expires_at")?.get(),
                revoked_at: row
                    .try_get::<Option<$crate::store::Timestamp>, _>("revoked_at")?
                    .map($crate::store::Timestamp::get),
            })
        }

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

        fn machine_role_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<switchyard_proto::MachineRole, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok(switchyard_proto::MachineRole {
                name: $crate::store::parse_role_name(row.try_get("name")?)?,
                description: $crate::store::parse_description(row.try_get("description")?)?,
                created_at: row.try_get::<$crate::store::Timestamp, _>("created_at")?.get(),
            })
        }

        fn change_request_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<$crate::domain::profiles::ChangeRequestRecord, $crate::store::StoreError> {
            use sqlx::Row as _;
            let key: String = row.try_get("machine_role")?;
            let target = match key.as_str() {
                "" => $crate::domain::profiles::ProfileTarget::Baseline,
                name => $crate::domain::profiles::ProfileTarget::Role(
                    $crate::store::parse_role_name(name.to_owned())?,
                ),
            };
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

        /// Keeps a new refresh token, and forgets expired ones (they can neither be used nor
        /// replayed).
        async fn keep_refresh_token(
            connection: &mut <$db as sqlx::Database>::Connection,
            token: &$crate::domain::identity::RefreshTokenRecord,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family, user_id, issued_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&token.token_hash)
            .bind(token.family)
            .bind(token.user_id)
            .bind($crate::store::Timestamp::from(token.issued_at))
            .bind($crate::store::Timestamp::from(token.expires_at))
            .execute(&mut *connection)
            .await?;
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                .bind($crate::store::Timestamp::from(token.issued_at))
                .execute(&mut *connection)
                .await?;
            Ok(())
        }

        /// When a user change ends their sessions, their refresh tokens end with it.
        async fn end_refresh_tokens(
            connection: &mut <$db as sqlx::Database>::Connection,
            user: &$crate::domain::identity::UserRecord,
            change: &$crate::domain::identity::UserChange,
        ) -> Result<(), $crate::store::StoreError> {
            if let Some(now) = change.sessions_valid_after {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 \
                     WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(user.id)
                .bind($crate::store::Timestamp::from(now))
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        }

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

            async fn create_environment(
                &self,
                new: &switchyard_proto::NewEnvironment,
                created_at: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let row = sqlx::query(
                    "INSERT INTO environments (name, description, protected, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     RETURNING name, description, protected, created_at",
                )
                .bind(new.name.as_str())
                .bind(new.description.as_str())
                .bind(new.protected)
                .bind($crate::store::Timestamp::from(created_at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::EnvironmentExists(new.name.clone()),
                    false => e.into(),
                })?;
                let environment = environment_from_row(row)?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(environment)
            }

            async fn environment(
                &self,
                name: &switchyard_proto::EnvironmentName,
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT name, description, protected, created_at FROM environments \
                     WHERE name = $1",
                )
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(environment_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::EnvironmentNotFound(name.clone()))
                })
            }

            async fn environments(
                &self,
            ) -> Result<Vec<switchyard_proto::Environment>, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT name, description, protected, created_at FROM environments \
                     ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(environment_from_row)
                .collect()
            }

            async fn update_environment(
                &self,
                name: &switchyard_proto::EnvironmentName,
                update: &switchyard_proto::EnvironmentUpdate,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let environment = sqlx::query(
                    "UPDATE environments \
                     SET description = COALESCE($2, description), \
                         protected = COALESCE($3, protected) \
                     WHERE name = $1 RETURNING name, description, protected, created_at",
                )
                .bind(name.as_str())
                .bind(update.description.as_ref().map(|d| d.as_str()))
                .bind(update.protected)
                .fetch_optional(&mut *tx)
                .await?
                .map(environment_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::EnvironmentNotFound(name.clone()))
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(environment)
            }

            async fn count_users(&self) -> Result<u64, $crate::store::StoreError> {
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(count).unwrap_or_default())
            }

            async fn create_user(
                &self,
                user: &$crate::domain::identity::UserRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO users \
                     (id, username, password_hash, global_role, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(user.id)
                .bind(user.username.as_str())
                .bind(&user.password_hash)
                .bind(user.global_role.map(|role| role.as_str()))
                .bind(user.disabled)
                .bind($crate::store::Timestamp::from(user.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::UserExists(user.username.clone()),
                    false => e.into(),
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn user_by_name(
                &self,
                username: &switchyard_proto::Username,
            ) -> Result<$crate::domain::identity::UserRecord, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT id, username, password_hash, global_role, disabled, created_at, \
                     sessions_valid_after \
                     FROM users WHERE username = $1",
                )
                .bind(username.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(user_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::UserNotFound(username.to_string()))
                })
            }

            async fn user_by_id(
                &self,
                id: uuid::Uuid,
            ) -> Result<$crate::domain::identity::UserRecord, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT id, username, password_hash, global_role, disabled, created_at, \
                     sessions_valid_after \
                     FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(user_from_row)
                .unwrap_or_else(|| Err($crate::store::StoreError::UserNotFound(id.to_string())))
            }

            async fn users(
                &self,
            ) -> Result<Vec<$crate::domain::identity::UserRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT id, username, password_hash, global_role, disabled, created_at, \
                     sessions_valid_after \
                     FROM users ORDER BY username",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(user_from_row)
                .collect()
            }

            async fn update_user(
                &self,
                username: &switchyard_proto::Username,
                change: &$crate::domain::identity::UserChange,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<$crate::domain::identity::UserRecord, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let user = sqlx::query(
                    "UPDATE users SET disabled = COALESCE($2, disabled), \
                     password_hash = COALESCE($3, password_hash), \
                     global_role = CASE WHEN $4 THEN $5 ELSE global_role END, \
                     sessions_valid_after = COALESCE($6, sessions_valid_after) \
                     WHERE username = $1 \
                     RETURNING id, username, password_hash, global_role, disabled, created_at, \
                     sessions_valid_after",
                )
                .bind(username.as_str())
                .bind(change.disabled)
                .bind(change.password_hash.as_deref())
                .bind(change.global_role.is_some())
                .bind(change.global_role.flatten().map(|role| role.as_str()))
                .bind(change.sessions_valid_after.map($crate::store::Timestamp::from))
                .fetch_optional(&mut *tx)
                .await?
                .map(user_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::UserNotFound(username.to_string()))
                })?;
                end_refresh_tokens(&mut tx, &user, change).await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn update_user_keeping_an_admin(
                &self,
                username: &switchyard_proto::Username,
                change: &$crate::domain::identity::UserChange,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<$crate::domain::identity::UserRecord, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                // Exclusive among writers, so two admins demoting each other at once cannot
                // both see the other as the one who remains.
                sqlx::query($write_lock).execute(&mut *tx).await?;
                let row = sqlx::query(
                    "UPDATE users SET disabled = COALESCE($2, disabled), \
                     global_role = CASE WHEN $3 THEN $4 ELSE global_role END, \
                     sessions_valid_after = COALESCE($5, sessions_valid_after) \
                     WHERE username = $1 \
                     RETURNING id, username, password_hash, global_role, disabled, created_at, \
                     sessions_valid_after",
                )
                .bind(username.as_str())
                .bind(change.disabled)
                .bind(change.global_role.is_some())
                .bind(change.global_role.flatten().map(|role| role.as_str()))
                .bind(change.sessions_valid_after.map($crate::store::Timestamp::from))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| $crate::store::StoreError::UserNotFound(username.to_string()))?;
                let user = user_from_row(row)?;
                let admins: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE global_role = 'admin' AND NOT disabled",
                )
                .fetch_one(&mut *tx)
                .await?;
                if admins == 0 {
                    return Err($crate::store::StoreError::LastAdmin);
                }
                end_refresh_tokens(&mut tx, &user, change).await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn grants(
                &self,
                user_id: uuid::Uuid,
            ) -> Result<Vec<switchyard_proto::Grant>, $crate::store::StoreError> {
                use sqlx::Row as _;
                sqlx::query(
                    "SELECT environment, role FROM grants WHERE user_id = $1 \
                     ORDER BY environment",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| {
                    Ok(switchyard_proto::Grant {
                        environment: $crate::store::parse_name(row.try_get("environment")?)?,
                        role: $crate::store::parse_environment_role(row.try_get("role")?)?,
                    })
                })
                .collect()
            }

            async fn put_grant(
                &self,
                user_id: uuid::Uuid,
                environment: &switchyard_proto::EnvironmentName,
                role: switchyard_proto::EnvironmentRole,
                granted_at: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO grants (user_id, environment, role, granted_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, environment) \
                     DO UPDATE SET role = excluded.role, granted_at = excluded.granted_at",
                )
                .bind(user_id)
                .bind(environment.as_str())
                .bind(role.as_str())
                .bind($crate::store::Timestamp::from(granted_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_foreign_key_violation(&e) {
                    true => $crate::store::StoreError::EnvironmentNotFound(environment.clone()),
                    false => e.into(),
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_grant(
                &self,
                user_id: uuid::Uuid,
                environment: &switchyard_proto::EnvironmentName,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let result =
                    sqlx::query("DELETE FROM grants WHERE user_id = $1 AND environment = $2")
                        .bind(user_id)
                        .bind(environment.as_str())
                        .execute(&mut *tx)
                        .await?;
                if result.rows_affected() == 0 {
                    return Ok(false);
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_refresh_token(
                &self,
                token: &$crate::domain::identity::RefreshTokenRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                keep_refresh_token(&mut tx, token).await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn refresh_token(
                &self,
                token_hash: &str,
                now: time::OffsetDateTime,
            ) -> Result<$crate::domain::identity::RefreshUse, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::domain::identity::{RefreshTokenRecord, RefreshUse};
                let row = sqlx::query(
                    "SELECT token_hash, family, user_id, issued_at, expires_at, used_at, \
                     revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else {
                    return Ok(RefreshUse::Invalid);
                };
                let time = |column: &str| -> Result<Option<time::OffsetDateTime>, $crate::store::StoreError> {
                    Ok(row
                        .try_get::<Option<$crate::store::Timestamp>, _>(column)?
                        .map($crate::store::Timestamp::get))
                };
                let record = RefreshTokenRecord {
                    token_hash: row.try_get("token_hash")?,
                    family: row.try_get("family")?,
                    user_id: row.try_get("user_id")?,
                    issued_at: row.try_get::<$crate::store::Timestamp, _>("issued_at")?.get(),
                    expires_at: row.try_get::<$crate::store::Timestamp, _>("expires_at")?.get(),
                };
                Ok(match (time("used_at")?, time("revoked_at")?) {
                    (Some(_), _) => RefreshUse::Replayed {
                        family: record.family,
                    },
                    (None, None) if record.expires_at > now => RefreshUse::Fresh(record),
                    _ => RefreshUse::Invalid,
                })
            }

            async fn rotate_refresh_token(
                &self,
                used_hash: &str,
                next: &$crate::domain::identity::RefreshTokenRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let now = $crate::store::Timestamp::from(next.issued_at);
                let mut tx = begin_audited(&self.pool).await?;
                // The condition and the update are one statement, so two concurrent uses of
                // one token cannot both succeed.
                let used = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
                     AND expires_at > $2",
                )
                .bind(used_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if used.rows_affected() == 0 {
                    return Err($crate::store::StoreError::RefreshTokenSpent);
                }
                keep_refresh_token(&mut tx, next).await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_refresh_family(
                &self,
                family: uuid::Uuid,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 \
                     WHERE family = $1 AND revoked_at IS NULL",
                )
                .bind(family)
                .bind($crate::store::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn end_session(
                &self,
                jti: uuid::Uuid,
                expires_at: time::OffsetDateTime,
                session: Option<(&str, uuid::Uuid)>,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind($crate::store::Timestamp::from(expires_at))
                .execute(&mut *tx)
                .await?;
                // A revoked token past its expiry is refused anyway: forget it. Every entry
                // expires within one access-token lifetime, so the table stays small.
                sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < $1")
                    .bind($crate::store::Timestamp::from(
                        expires_at - time::Duration::days(1),
                    ))
                    .execute(&mut *tx)
                    .await?;
                if let Some((refresh_token_hash, user_id)) = session {
                    // Only the caller's own session: a stranger's refresh token changes nothing.
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $3 \
                         WHERE revoked_at IS NULL AND family = \
                         (SELECT family FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)",
                    )
                    .bind(refresh_token_hash)
                    .bind(user_id)
                    .bind($crate::store::Timestamp::from(now))
                    .execute(&mut *tx)
                    .await?;
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn access_token_revoked(
                &self,
                jti: uuid::Uuid,
            ) -> Result<bool, $crate::store::StoreError> {
                let found = sqlx::query("SELECT 1 FROM revoked_access_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(found.is_some())
            }

            async fn create_api_token(
                &self,
                token: &$crate::domain::identity::ApiTokenRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO api_tokens \
                     (id, owner_id, name, token_hash, created_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(token.id)
                .bind(token.owner_id)
                .bind(token.name.as_str())
                .bind(&token.token_hash)
                .bind($crate::store::Timestamp::from(token.created_at))
                .bind($crate::store::Timestamp::from(token.expires_at))
                .bind(token.revoked_at.map($crate::store::Timestamp::from))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn api_token_by_hash(
                &self,
                token_hash: &str,
            ) -> Result<Option<$crate::domain::identity::ApiTokenRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT t.id, t.owner_id, u.username AS owner, t.name, t.token_hash, \
                     t.created_at, t.expires_at, t.revoked_at \
                     FROM api_tokens t JOIN users u ON u.id = t.owner_id \
                     WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?
                .map(api_token_from_row)
                .transpose()
            }

            async fn api_token(
                &self,
                id: uuid::Uuid,
            ) -> Result<$crate::domain::identity::ApiTokenRecord, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT t.id, t.owner_id, u.username AS owner, t.name, t.token_hash, \
                     t.created_at, t.expires_at, t.revoked_at \
                     FROM api_tokens t JOIN users u ON u.id = t.owner_id WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(api_token_from_row)
                .unwrap_or_else(|| Err($crate::store::StoreError::ApiTokenNotFound(id)))
            }

            async fn api_tokens(
                &self,
                owner_id: Option<uuid::Uuid>,
            ) -> Result<Vec<$crate::domain::identity::ApiTokenRecord>, $crate::store::StoreError>
            {
                sqlx::query(
                    "SELECT t.id, t.owner_id, u.username AS owner, t.name, t.token_hash, \
                     t.created_at, t.expires_at, t.revoked_at \
                     FROM api_tokens t JOIN users u ON u.id = t.owner_id \
                     WHERE $1 IS NULL OR t.owner_id = $1 \
                     ORDER BY t.created_at DESC, t.id",
                )
                .bind(owner_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(api_token_from_row)
                .collect()
            }

            async fn revoke_api_token(
                &self,
                id: uuid::Uuid,
                now: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<$crate::domain::identity::ApiTokenRecord, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let revoked = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind($crate::store::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                // Revoking a revoked token changes nothing, so it records nothing either.
                if revoked.rows_affected() > 0 {
                    append_audit(&mut tx, audit).await?;
                    tx.commit().await?;
                }
                self.api_token(id).await
            }

            async fn create_machine_role(
                &self,
                role: &switchyard_proto::MachineRole,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO machine_roles (name, description, created_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(role.name.as_str())
                .bind(role.description.as_str())
                .bind($crate::store::Timestamp::from(role.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::MachineRoleExists(role.name.clone()),
                    false => e.into(),
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn machine_roles(
                &self,
            ) -> Result<Vec<switchyard_proto::MachineRole>, $crate::store::StoreError> {
                sqlx::query("SELECT name, description, created_at FROM machine_roles ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(machine_role_from_row)
                    .collect()
            }

            async fn machine_role(
                &self,
                name: &switchyard_proto::MachineRoleName,
            ) -> Result<switchyard_proto::MachineRole, $crate::store::StoreError> {
                sqlx::query("SELECT name, description, created_at FROM machine_roles WHERE name = $1")
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(machine_role_from_row)
                    .unwrap_or_else(|| {
                        Err($crate::store::StoreError::MachineRoleNotFound(name.clone()))
                    })
            }

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
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::domain::profiles::PublishKind;
                let mut tx = begin_audited(&self.pool).await?;
                // The insert comes first so a taken number ends the transaction at once.
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
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::VersionTaken(version.version),
                    false => e.into(),
                })?;
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
                self.announce(&mut tx, environment, target, version.version)
                    .await?;
                append_audit(&mut tx, audit).await?;
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
                     expires_at, status) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open')",
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

            async fn signing_keys(
                &self,
            ) -> Result<Vec<$crate::domain::signing::SigningKeyRecord>, $crate::store::StoreError>
            {
                sqlx::query("SELECT * FROM signing_keys ORDER BY version")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(signing_key_from_row)
                    .collect()
            }

            async fn latest_signing_key(
                &self,
            ) -> Result<Option<$crate::domain::signing::SigningKeyRecord>, $crate::store::StoreError>
            {
                sqlx::query("SELECT * FROM signing_keys ORDER BY version DESC LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await?
                    .map(signing_key_from_row)
                    .transpose()
            }

            async fn add_signing_key(
                &self,
                record: &$crate::domain::signing::SigningKeyRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO signing_keys (version, key_id, public_key, sealed_private_key, \
                     key_set, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind($crate::store::stored_counter(record.version))
                .bind(&record.key_id)
                .bind(&record.public_key)
                .bind(&record.sealed_private_key)
                .bind(&record.key_set)
                .bind($crate::store::Timestamp::from(record.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::SigningKeyTaken(record.version),
                    false => e.into(),
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_enrollment_token(
                &self,
                token: &$crate::domain::devices::EnrollmentTokenRecord,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO enrollment_tokens (id, token_hash, environment, machine_role, \
                     created_by, created_at, expires_at, max_uses, uses) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
                )
                .bind(token.id)
                .bind(&token.token_hash)
                .bind(token.environment.as_str())
                .bind(token.machine_role.as_str())
                .bind(&token.created_by)
                .bind($crate::store::Timestamp::from(token.created_at))
                .bind($crate::store::Timestamp::from(token.expires_at))
                .bind($crate::store::stored_counter(token.max_uses))
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
                     machine_role, enrollment_token, enrolled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

            async fn active_device_ids(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                machine_role: &switchyard_proto::MachineRoleName,
            ) -> Result<Vec<uuid::Uuid>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM devices \
                     WHERE environment = $1 AND machine_role = $2 AND revoked_at IS NULL",
                )
                .bind(environment.as_str())
                .bind(machine_role.as_str())
                .fetch_all(&self.pool)
                .await?)
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

            async fn audit_head(&self) -> Result<u64, $crate::store::StoreError> {
                let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events")
                    .fetch_one(&self.pool)
                    .await?;
                head.map_or(Ok(0), $crate::store::counter)
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
                let mut query = sqlx::QueryBuilder::<$db>::new("SELECT * FROM audit_events WHERE 1 = 1");
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
                        query.push(format!(" AND {column} = ")).push_bind(value.clone());
                    }
                }
                if let Some(action) = filter.action {
                    query.push(" AND action = ").push_bind(action.as_str());
                }
                if let Some(setting) = &filter.setting {
                    // The setting itself, or any setting under it.
                    query
                        .push(concat!(" AND (", $position, "(paths, "))
                        .push_bind(format!("\n{setting}\n"))
                        .push(concat!(") > 0 OR ", $position, "(paths, "))
                        .push_bind(format!("\n{setting}."))
                        .push(") > 0)");
                }
                if let Some(since) = filter.since {
                    query.push(" AND at >= ").push_bind($crate::store::Timestamp::from(since));
                }
                if let Some(until) = filter.until {
                    query.push(" AND at < ").push_bind($crate::store::Timestamp::from(until));
                }
                if let Some(before) = filter.before_seq {
                    query.push(" AND seq < ").push_bind($crate::store::stored_counter(before));
                }
                let limit = filter.limit.min($crate::domain::audit::MOST_EVENTS_PER_QUERY);
                query.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit));
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

            async fn listen_for_publishes(
                &self,
            ) -> Result<Option<$crate::store::PublishListener>, $crate::store::StoreError> {
                self.listen().await
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

pub(crate) use implement_store;
