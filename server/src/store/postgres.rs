//! The Postgres store: for teams and for more than one server process.

use async_trait::async_trait;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use switchyard_proto::{Environment, EnvironmentName, EnvironmentUpdate, NewEnvironment};
use time::OffsetDateTime;

use super::{
    is_unique_violation, parse_description, parse_name, sql, stored_precision, Store, StoreError,
    CONNECT_TIMEOUT,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A store on a Postgres database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(url)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }
}

fn environment_from_row(row: PgRow) -> Result<Environment, StoreError> {
    Ok(Environment {
        name: parse_name(row.try_get("name")?)?,
        description: parse_description(row.try_get("description")?)?,
        protected: row.try_get("protected")?,
        created_at: row.try_get::<OffsetDateTime, _>("created_at")?,
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    async fn create_environment(
        &self,
        new: &NewEnvironment,
        created_at: OffsetDateTime,
    ) -> Result<Environment, StoreError> {
        let row = sqlx::query(sql::INSERT_ENVIRONMENT)
            .bind(new.name.as_str())
            .bind(new.description.as_str())
            .bind(new.protected)
            .bind(stored_precision(created_at))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match is_unique_violation(&e) {
                true => StoreError::EnvironmentExists(new.name.clone()),
                false => e.into(),
            })?;
        environment_from_row(row)
    }

    async fn environment(&self, name: &EnvironmentName) -> Result<Environment, StoreError> {
        sqlx::query(sql::SELECT_ENVIRONMENT)
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(environment_from_row)
            .unwrap_or_else(|| Err(StoreError::EnvironmentNotFound(name.clone())))
    }

    async fn environments(&self) -> Result<Vec<Environment>, StoreError> {
        sqlx::query(sql::LIST_ENVIRONMENTS)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(environment_from_row)
            .collect()
    }

    async fn update_environment(
        &self,
        name: &EnvironmentName,
        update: &EnvironmentUpdate,
    ) -> Result<Environment, StoreError> {
        sqlx::query(sql::UPDATE_ENVIRONMENT)
            .bind(name.as_str())
            .bind(update.description.as_ref().map(|d| d.as_str()))
            .bind(update.protected)
            .fetch_optional(&self.pool)
            .await?
            .map(environment_from_row)
            .unwrap_or_else(|| Err(StoreError::EnvironmentNotFound(name.clone())))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
