//! The Postgres store: for teams and for more than one server process.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::sql::implement_store;
use super::{StoreError, CONNECT_TIMEOUT};

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

    /// Postgres locks rows, not the database: nonces are recorded side by side.
    async fn nonce_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }
}

implement_store!(
    PostgresStore,
    sqlx::Postgres,
    "postgres",
    "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE",
    "SELECT pg_advisory_xact_lock(7236345127406372213)",
    "strpos",
    Some("SELECT pg_notify('switchyard_published', $1)")
);

/// Listens for publishes announced by any server process on the database at `url`.
pub async fn listen_for_publishes(url: &str) -> Result<sqlx::postgres::PgListener, StoreError> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(super::PUBLISHED_CHANNEL).await?;
    Ok(listener)
}
