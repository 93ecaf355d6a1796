//! Builds the application once, so the binary and the tests run exactly the same server.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::HttpServer;
use actix_web_prom::PrometheusMetricsBuilder;

use crate::clock::SharedClock;
use crate::config::{DatabaseUrl, Settings};
use crate::http::{self, AppState, BodyLimit, Shared};
use crate::store::{self, SharedStore, StoreError};

/// Why the server could not start; each names the setting to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The data folder cannot be created.
    #[error("setting data_dir (SWITCHYARD_DATA_DIR): cannot create {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be opened, reached or migrated.
    #[error("setting database_url (SWITCHYARD_DATABASE_URL): cannot use {url}: {source}")]
    Database {
        url: String,
        #[source]
        source: StoreError,
    },
    /// The listen address cannot be bound.
    #[error("setting listen (SWITCHYARD_LISTEN): cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Metrics or the API description could not be set up: a bug.
    #[error("cannot set up the server: {0}")]
    Setup(String),
}

/// A built server, bound to its address and ready to run.
pub struct Application {
    address: SocketAddr,
    database: DatabaseUrl,
    store: SharedStore,
    server: Server,
}

impl Application {
    /// Creates the data folder, opens and migrates the database and binds the listen address.
    pub async fn build(settings: &Settings, clock: SharedClock) -> Result<Self, StartupError> {
        create_dir(&settings.data_dir)?;
        let database = settings.database();
        if let DatabaseUrl::Sqlite(path) = &database {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| StartupError::Database {
                    url: database.to_string(),
                    source: StoreError::Folder(source),
                })?;
            }
        }
        let store = store::open(&database, settings.database_max_connections)
            .await
            .map_err(|source| StartupError::Database {
                url: database.to_string(),
                source,
            })?;
        Self::with_store(settings, database, store, clock)
    }

    fn with_store(
        settings: &Settings,
        database: DatabaseUrl,
        store: SharedStore,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        let listen_error = |source| StartupError::Listen {
            address: settings.listen,
            source,
        };
        let listener = TcpListener::bind(settings.listen).map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        let metrics = PrometheusMetricsBuilder::new("switchyard")
            .endpoint("/metrics")
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| StartupError::Setup(e.to_string()))?;
        let state = AppState {
            store: store.clone(),
            clock,
        };
        let shared =
            Shared::new(state, BodyLimit(settings.max_body_bytes), metrics).map_err(|e| {
                StartupError::Setup(format!("cannot render the OpenAPI description: {e}"))
            })?;
        let server = HttpServer::new(move || http::app(shared.clone()))
            // Signals are handled by the caller, so Ctrl-C and SIGTERM both stop gracefully.
            .disable_signals()
            .shutdown_timeout(settings.shutdown_timeout_secs)
            .listen(listener)
            .map_err(listen_error)?
            .run();
        Ok(Self {
            address,
            database,
            store,
            server,
        })
    }

    /// The address the server listens on (with the real port when configured with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The database in use, with any password hidden.
    pub fn database(&self) -> &DatabaseUrl {
        &self.database
    }

    /// The store, for callers that need it besides the server.
    pub fn store(&self) -> SharedStore {
        self.store.clone()
    }

    /// A handle that stops the server; `stop(true)` lets in-flight requests finish.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then closes the database.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.store.close().await;
        result
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

fn create_dir(path: &std::path::Path) -> Result<(), StartupError> {
    std::fs::create_dir_all(path).map_err(|source| StartupError::DataDir {
        path: path.display().to_string(),
        source,
    })
}
