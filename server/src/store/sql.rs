//! The one implementation of [`Store`](super::Store), written once and instantiated for each
//! database by [`implement_store!`]. SQLite accepts Postgres' `$N` placeholders and
//! [`Timestamp`](super::Timestamp) binds the same way on both, so the same text serves both;
//! what differs (opening, pools) stays in `postgres.rs` and `sqlite.rs`.

/// Implements `Store` for `$store` (a struct with a `pool` field) on database `$db`.
macro_rules! implement_store {
    ($store:ident, $db:ty, $kind:literal) => {
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
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                let row = sqlx::query(
                    "INSERT INTO environments (name, description, protected, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     RETURNING name, description, protected, created_at",
                )
                .bind(new.name.as_str())
                .bind(new.description.as_str())
                .bind(new.protected)
                .bind($crate::store::Timestamp::from(created_at))
                .fetch_one(&self.pool)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::EnvironmentExists(new.name.clone()),
                    false => e.into(),
                })?;
                environment_from_row(row)
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
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE environments \
                     SET description = COALESCE($2, description), \
                         protected = COALESCE($3, protected) \
                     WHERE name = $1 RETURNING name, description, protected, created_at",
                )
                .bind(name.as_str())
                .bind(update.description.as_ref().map(|d| d.as_str()))
                .bind(update.protected)
                .fetch_optional(&self.pool)
                .await?
                .map(environment_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::EnvironmentNotFound(name.clone()))
                })
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

pub(crate) use implement_store;
