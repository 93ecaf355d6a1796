//! Login sessions and credentials: refresh tokens (rotated, and ended as a family when one is
//! reused), ended access tokens, and API tokens.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use crate::domain::audit::AuditRecord;
use crate::domain::identity::{ApiTokenRecord, RefreshTokenRecord, RefreshUse};

/// Sessions and API tokens, as kept.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Keeps a new refresh token.
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// What the refresh token with hash `token_hash` is now: valid (and unused), used before,
    /// or neither. Nothing changes.
    async fn refresh_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RefreshUse, StoreError>;

    /// Uses up the refresh token `used_hash` and keeps `next`, its successor, as one change: at
    /// most once even under concurrency. A token used, revoked or expired meanwhile is
    /// [`StoreError::RefreshTokenSpent`].
    async fn rotate_refresh_token(
        &self,
        used_hash: &str,
        next: &RefreshTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Ends every refresh token of one login session.
    async fn revoke_refresh_family(
        &self,
        family: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Ends a login session of user `user_id`: its access token `jti` stops working before its
    /// expiry and, when its refresh token is given (and is that user's), the session cannot
    /// be refreshed either.
    async fn end_session(
        &self,
        jti: Uuid,
        expires_at: OffsetDateTime,
        session: Option<(&str, Uuid)>,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Whether the access token `jti` was ended: logged out itself, or its login session
    /// `session` ended (any of the session's refresh tokens revoked: a reuse, a logout, a
    /// password reset).
    async fn access_token_ended(
        &self,
        jti: Uuid,
        session: Option<Uuid>,
    ) -> Result<bool, StoreError>;

    /// Keeps a new API token.
    async fn create_api_token(
        &self,
        token: &ApiTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The API token whose secret hashes to `token_hash`, if any.
    async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ApiTokenRecord>, StoreError>;

    /// The API token with id `id`.
    async fn api_token(&self, id: Uuid) -> Result<ApiTokenRecord, StoreError>;

    /// API tokens, newest first: of one owner, or of everyone.
    async fn api_tokens(&self, owner_id: Option<Uuid>) -> Result<Vec<ApiTokenRecord>, StoreError>;

    /// Revokes the API token `id` (again revoking a revoked one changes nothing).
    async fn revoke_api_token(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<ApiTokenRecord, StoreError>;
}

/// Implements [`SessionStore`] for `$store` (a struct with a `pool` field) on database `$db`, with
/// the helpers `implement_store!` defines beside it (`sql.rs`).
macro_rules! implement_session_store {
    ($store:ident, $db:ty) => {
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
        impl $crate::store::SessionStore for $store {
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

            async fn access_token_ended(
                &self,
                jti: uuid::Uuid,
                session: Option<uuid::Uuid>,
            ) -> Result<bool, $crate::store::StoreError> {
                // A revoked session's rows outlive its access tokens: a refresh token lives
                // longer than the access token issued beside it.
                let found = sqlx::query(
                    "SELECT 1 FROM revoked_access_tokens WHERE jti = $1                      UNION ALL SELECT 1 FROM refresh_tokens                      WHERE family = $2 AND revoked_at IS NOT NULL",
                )
                .bind(jti)
                .bind(session)
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
        }
    };
}

pub(super) use implement_session_store;
