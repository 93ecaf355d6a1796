//! The server's signing keys, one per key-set version.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::audit::AuditRecord;
use crate::domain::signing::SigningKeyRecord;

/// Signing keys, as kept.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The signing keys, oldest key-set version first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// The newest signing key, if any.
    async fn latest_signing_key(&self) -> Result<Option<SigningKeyRecord>, StoreError>;

    /// Adds the signing key of the next key-set version. A version taken meanwhile (another
    /// process rotated first) is [`StoreError::SigningKeyTaken`].
    async fn add_signing_key(
        &self,
        record: &SigningKeyRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
}

/// Implements [`KeyStore`] for `$store` (a struct with a `pool` field) on database `$db`, with
/// the helpers `implement_store!` defines beside it (`sql.rs`).
macro_rules! implement_key_store {
    ($store:ident, $db:ty) => {
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

        #[async_trait::async_trait]
        impl $crate::store::KeyStore for $store {
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
        }
    };
}

pub(super) use implement_key_store;
