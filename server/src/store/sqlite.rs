//! The SQLite store: the zero-setup default, one file in the data folder.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

use super::sql::implement_store;
use super::{StoreError, CONNECT_TIMEOUT};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// A store in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one write lock per file, and a connection that finds it taken sleeps and
    /// retries: thousands of machines' requests at once (each records its nonce) would spend
    /// their time asleep. They take turns here instead.
    nonce_writes: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies the migrations.
    /// The file is readable by its owner alone (Unix), as the keys beside it are: it holds
    /// sealed secrets, password hashes and the audit trail. SQLite gives its `-wal` and `-shm`
    /// files the database file's permissions.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        owner_only(path)?;
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
        Ok(Self {
            pool,
            nonce_writes: Default::default(),
        })
    }

    /// One process per file: there is nobody else to tell of a publish.
    async fn announce(
        &self,
        _: &mut sqlx::SqliteConnection,
        _: &switchyard_proto::EnvironmentName,
        _: &crate::domain::profiles::ProfileTarget,
        _: u64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nobody else publishes on this file.
    async fn listen(&self) -> Result<Option<super::PublishListener>, StoreError> {
        Ok(None)
    }

    /// Waits for this process's turn to record a nonce.
    async fn nonce_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.nonce_writes.lock().await)
    }
}

/// Creates the database file owner-only if it is missing, and takes group and world access
/// away from one that has it.
fn owner_only(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let io = StoreError::File;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(io)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

// A write statement takes SQLite's one write lock at the start of the transaction.
implement_store!(
    SqliteStore,
    sqlx::Sqlite,
    "sqlite",
    "UPDATE users SET disabled = disabled WHERE 0 = 1",
    "UPDATE users SET disabled = disabled WHERE 0 = 1",
    "instr"
);
