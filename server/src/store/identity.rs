//! Users and their roles: global roles and per-environment grants.

use async_trait::async_trait;
use switchyard_proto::{EnvironmentName, EnvironmentRole, Grant, Username};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use crate::domain::audit::AuditRecord;
use crate::domain::identity::{UserChange, UserRecord};

/// Users and what they may do, as kept.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// How many users exist.
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// Creates a user; the name must be new.
    async fn create_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<(), StoreError>;

    /// The user called `username`.
    async fn user_by_name(&self, username: &Username) -> Result<UserRecord, StoreError>;

    /// The user with id `id`.
    async fn user_by_id(&self, id: Uuid) -> Result<UserRecord, StoreError>;

    /// All users, by name.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Applies `change` to the user called `username` and returns the result. A change that
    /// sets `sessions_valid_after` revokes the user's refresh tokens too.
    async fn update_user(
        &self,
        username: &Username,
        change: &UserChange,
        audit: &AuditRecord,
    ) -> Result<UserRecord, StoreError>;

    /// Applies the `disabled` and `global_role` parts of `change`, unless that would leave no
    /// enabled admin ([`StoreError::LastAdmin`]); checked and changed as one.
    async fn update_user_keeping_an_admin(
        &self,
        username: &Username,
        change: &UserChange,
        audit: &AuditRecord,
    ) -> Result<UserRecord, StoreError>;

    /// The user's grants, by environment.
    async fn grants(&self, user_id: Uuid) -> Result<Vec<Grant>, StoreError>;

    /// Gives the user `role` on `environment`, replacing any role held there.
    async fn put_grant(
        &self,
        user_id: Uuid,
        environment: &EnvironmentName,
        role: EnvironmentRole,
        granted_at: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Takes the user's role on `environment` away; `false` if there was none.
    async fn remove_grant(
        &self,
        user_id: Uuid,
        environment: &EnvironmentName,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError>;
}

/// Implements [`IdentityStore`] for `$store` (a struct with a `pool` field) on database `$db`, with
/// the helpers `implement_store!` defines beside it (`sql.rs`). `$write_lock` makes a transaction
/// exclusive among writers, so that "at least one enabled admin remains" is checked and changed as
/// one.
macro_rules! implement_identity_store {
    ($store:ident, $db:ty, $write_lock:literal) => {
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

        #[async_trait::async_trait]
        impl $crate::store::IdentityStore for $store {
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
        }
    };
}

pub(super) use implement_identity_store;
