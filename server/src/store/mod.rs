//! Storage: one [`Store`] trait with a Postgres and a SQLite implementation.
//!
//! Both pass the same conformance suite (`tests/tests/suite/store.rs`), so every feature works the
//! same on either. Queries are checked at run time (`query`, not `query!`) so the build needs no
//! live database.

mod postgres;
mod sql;
mod sqlite;
mod timestamp;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_proto::{Environment, EnvironmentName, EnvironmentUpdate, NewEnvironment};
use time::OffsetDateTime;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use timestamp::Timestamp;

use crate::config::DatabaseUrl;

/// How long to wait for a database connection before calling the database unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the server keeps.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// `postgres` or `sqlite`.
    fn kind(&self) -> &'static str;

    /// Checks that the database answers and holds the schema.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates an environment; its name must be new.
    async fn create_environment(
        &self,
        new: &NewEnvironment,
        created_at: OffsetDateTime,
    ) -> Result<Environment, StoreError>;

    /// The environment called `name`.
    async fn environment(&self, name: &EnvironmentName) -> Result<Environment, StoreError>;

    /// All environments, by name.
    async fn environments(&self) -> Result<Vec<Environment>, StoreError>;

    /// Applies `update` to the environment called `name` and returns the result.
    async fn update_environment(
        &self,
        name: &EnvironmentName,
        update: &EnvironmentUpdate,
    ) -> Result<Environment, StoreError>;

    /// Closes every connection; later calls fail.
    async fn close(&self);
}

/// Shared handle to the store.
pub type SharedStore = Arc<dyn Store>;

/// Opens the database `url` names, creating the SQLite file if needed, and applies the
/// migrations.
pub async fn open(url: &DatabaseUrl, max_connections: u32) -> Result<SharedStore, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(path, max_connections).await?),
        DatabaseUrl::Postgres(url) => Arc::new(PostgresStore::open(url, max_connections).await?),
    })
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No environment has that name.
    #[error("environment {0} does not exist")]
    EnvironmentNotFound(EnvironmentName),
    /// The name is taken.
    #[error("environment {0} already exists")]
    EnvironmentExists(EnvironmentName),
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The folder for a database file cannot be created.
    #[error("cannot create the database's folder: {0}")]
    Folder(#[source] std::io::Error),
    /// A stored value breaks the rules of its type: someone edited the database by hand.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub(crate) fn parse_name(name: String) -> Result<EnvironmentName, StoreError> {
    EnvironmentName::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_description(text: String) -> Result<switchyard_proto::Description, StoreError> {
    switchyard_proto::Description::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
