//! The SQLite store: the zero-setup default, one file in the data folder.

use std::path::Path;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};
use switchyard_proto::{Environment, EnvironmentName, EnvironmentUpdate, NewEnvironment};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{
    is_unique_violation, parse_description, parse_name, sql, stored_precision, Store, StoreError,
    CONNECT_TIMEOUT,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Fixed-width UTC text, so stored times sort as they read.
const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A store in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies the migrations.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL lets readers go on while one connection writes.
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(CONNECT_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }
}

fn format_time(time: OffsetDateTime) -> Result<String, StoreError> {
    stored_precision(time)
        .format(TIME_FORMAT)
        .map_err(|e| StoreError::Corrupt(format!("cannot format time {time}: {e}")))
}

fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    PrimitiveDateTime::parse(text, TIME_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| StoreError::Corrupt(format!("stored time {text:?} is invalid: {e}")))
}

fn environment_from_row(row: SqliteRow) -> Result<Environment, StoreError> {
    Ok(Environment {
        name: parse_name(row.try_get("name")?)?,
        description: parse_description(row.try_get("description")?)?,
        protected: row.try_get("protected")?,
        created_at: parse_time(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
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
            .bind(format_time(created_at)?)
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
