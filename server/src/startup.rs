//! Builds the application once, so the binary and the tests run exactly the same server.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::HttpServer;
use actix_web_prom::PrometheusMetricsBuilder;

use std::sync::Arc;

use crate::auth::bootstrap::{self, Bootstrap};
use crate::auth::jwt::{self, AccessTokens};
use crate::auth::password::PasswordHasher;
use crate::auth::throttle::{LoginThrottle, ThrottlePolicy};
use crate::auth::Auth;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::delivery::Delivery;
use crate::domain::sealing::SecretBox;
use crate::events::Events;
use crate::fleet_metrics::FleetMetrics;
use crate::http::capability::Gate;
use crate::http::{self, AppState, BodyLimit, Shared};
use crate::publishing::Publishing;
use crate::store::{self, DatabaseUrl, SharedStore, StoreError};

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
    /// A setting names something unusable.
    #[error("{0}")]
    Settings(String),
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
    bootstrap: Bootstrap,
    events: Events,
    /// Hears publishes of other server processes (Postgres only).
    /// The publishing rules, for the rollout gates' own task.
    publishing: Publishing,
    /// The fleet's gauges, refreshed by a task of their own.
    fleet: FleetMetrics,
    /// Tasks that run beside the server (hearing other processes, checking rollouts): stopped
    /// with it.
    tasks: Vec<tokio::task::JoinHandle<()>>,
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
        let auth = build_auth(settings)?;
        let bootstrap = bootstrap::ensure_admin(
            store.as_ref(),
            &auth.passwords,
            clock.as_ref(),
            settings.admin_password.as_ref(),
        )
        .await
        .map_err(|e| StartupError::Setup(format!("cannot create the first admin user: {e}")))?;
        let sealer =
            SecretBox::load_or_create(&settings.profile_key_path()).map_err(|problem| {
                StartupError::Settings(format!(
                    "setting profile_key_file (SWITCHYARD_PROFILE_KEY_FILE): {problem}"
                ))
            })?;
        crate::keys::ensure_signing_key(store.as_ref(), &sealer, clock.now())
            .await
            .map_err(|e| StartupError::Setup(format!("signing key: {e}")))?;
        let sealer = Arc::new(sealer);
        let mut app = Self::with_store(
            settings,
            database,
            store,
            clock,
            Arc::new(auth),
            sealer.clone(),
        )?;
        app.bootstrap = bootstrap;
        app.hear_other_processes().await?;
        app.watch_rollouts(settings.rollout_check_secs.get());
        if settings.fleet_metrics_secs.get() > std::time::Duration::ZERO {
            app.refresh_fleet_metrics(settings.fleet_metrics_secs.get());
        }
        if settings.audit_checkpoint_secs.get() > std::time::Duration::ZERO {
            app.write_audit_checkpoints(settings.audit_checkpoint_secs.get(), sealer);
        }
        Ok(app)
    }

    fn with_store(
        settings: &Settings,
        database: DatabaseUrl,
        store: SharedStore,
        clock: SharedClock,
        auth: Arc<Auth>,
        sealer: Arc<SecretBox>,
    ) -> Result<Self, StartupError> {
        let listen_error = |source| StartupError::Listen {
            address: settings.listen,
            source,
        };
        let listener = TcpListener::bind(settings.listen).map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        let registry = prometheus::Registry::new();
        let waiting = prometheus::IntGauge::new(
            "switchyard_agents_waiting",
            "Machines waiting in a long-poll for their profile to change",
        )
        .and_then(|gauge| registry.register(Box::new(gauge.clone())).map(|()| gauge))
        .map_err(|e| StartupError::Setup(e.to_string()))?;
        let unknown_methods = prometheus::IntCounter::new(
            "switchyard_http_requests_unknown_method_total",
            "Requests refused with 501 for a method no route has (not in \
             switchyard_http_requests_total, where each invented method would open a series)",
        )
        .and_then(|counter| {
            registry
                .register(Box::new(counter.clone()))
                .map(|()| counter)
        })
        .map_err(|e| StartupError::Setup(e.to_string()))?;
        let readings = prometheus::IntCounter::new(
            "switchyard_delivery_readings_total",
            "Readings of what machines are sent (each a signature), shared by the machines of \
             one environment and role",
        )
        .and_then(|counter| {
            registry
                .register(Box::new(counter.clone()))
                .map(|()| counter)
        })
        .map_err(|e| StartupError::Setup(e.to_string()))?;
        let fleet =
            FleetMetrics::register(&registry).map_err(|e| StartupError::Setup(e.to_string()))?;
        let metrics = PrometheusMetricsBuilder::new("switchyard")
            .registry(registry)
            .endpoint("/metrics")
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| StartupError::Setup(e.to_string()))?;
        let events = Events::new();
        let publishing = Publishing::new(
            store.clone(),
            sealer.clone(),
            clock.clone(),
            events.clone(),
            settings.change_request_ttl_secs.as_time(),
        );
        let delivery = Delivery::new(
            store.clone(),
            sealer.clone(),
            clock.clone(),
            events.clone(),
            settings.delivery_ttl_secs.as_time(),
            readings,
        );
        let state = AppState {
            gate: Gate::new(
                store.clone(),
                publishing.clone(),
                Arc::new(delivery),
                sealer,
                auth,
            ),
            clock,
            trusted_proxies: settings.trusted_proxies.clone(),
            agent_max_wait: settings.agent_max_wait_secs.get(),
            waiting,
            unknown_methods,
            device_checks: Arc::new(tokio::sync::Semaphore::new(
                settings.database_max_connections as usize,
            )),
        };
        let shared =
            Shared::new(state, BodyLimit(settings.max_body_bytes), metrics).map_err(|e| {
                StartupError::Setup(format!("cannot render the OpenAPI description: {e}"))
            })?;
        let server = HttpServer::new(move || http::app(shared.clone()))
            // Signals are handled by the caller, so Ctrl-C and SIGTERM both stop gracefully.
            .disable_signals()
            .shutdown_timeout(settings.shutdown_timeout().as_secs())
            .listen(listener)
            .map_err(listen_error)?
            .run();
        Ok(Self {
            address,
            database,
            store,
            server,
            bootstrap: Bootstrap::NotNeeded,
            events,
            publishing,
            fleet,
            tasks: Vec::new(),
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

    /// What the first start did about the admin user. Taking it leaves `NotNeeded`, so a
    /// generated password is handed out once.
    pub fn take_bootstrap(&mut self) -> Bootstrap {
        std::mem::replace(&mut self.bootstrap, Bootstrap::NotNeeded)
    }

    /// The server's event channel, to subscribe to what it publishes.
    pub fn events(&self) -> Events {
        self.events.clone()
    }

    /// A handle that stops the server; `stop(true)` lets in-flight requests finish.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then closes the database.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.tasks {
            task.abort();
        }
        self.store.close().await;
        result
    }

    /// Passes publishes announced by the other server processes on the same database to
    /// this process's events, so machines waiting here hear of them.
    async fn hear_other_processes(&mut self) -> Result<(), StartupError> {
        let listening =
            self.store
                .listen_for_publishes()
                .await
                .map_err(|source| StartupError::Database {
                    url: self.database.to_string(),
                    source,
                })?;
        let Some(mut listener) = listening else {
            return Ok(());
        };
        let events = self.events.clone();
        self.tasks.push(tokio::spawn(async move {
            loop {
                match listener.next().await {
                    Ok(published) => events.profile_published(published),
                    Err(error) => {
                        tracing::warn!(%error, "lost the publish announcements; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        }));
        Ok(())
    }

    /// Checks the gates of running rollouts every `every`, promoting, halting or reverting
    /// them, and ends the overrides whose time has come. Every server process on a database
    /// checks; each transition is made once (`RolloutStore::transition_rollout`,
    /// `OverrideStore::end_override`), whichever process comes first.
    fn watch_rollouts(&mut self, every: std::time::Duration) {
        let publishing = self.publishing.clone();
        self.repeat(every, move || {
            let publishing = publishing.clone();
            async move {
                match publishing.check_rollouts().await {
                    Ok(0) => {}
                    Ok(moved) => tracing::debug!(moved, "rollout gates checked"),
                    Err(error) => tracing::warn!(%error, "checking the rollouts' gates failed"),
                }
                if let Err(error) = publishing.end_overrides().await {
                    tracing::warn!(%error, "ending the overrides that are due failed");
                }
            }
        });
    }

    /// Writes a signed checkpoint of the audit trail's head to the log every `every`
    /// ([`crate::audit_checkpoints`]), the first at once.
    fn write_audit_checkpoints(&mut self, every: std::time::Duration, sealer: Arc<SecretBox>) {
        let store = self.store.clone();
        self.repeat(every, move || {
            let (store, sealer) = (store.clone(), sealer.clone());
            async move {
                if let Err(error) = crate::audit_checkpoints::write(store.as_ref(), &sealer).await {
                    tracing::warn!(%error, "the audit checkpoint cannot be written");
                }
            }
        });
    }

    /// Reads the fleet's gauges from the store every `every`.
    fn refresh_fleet_metrics(&mut self, every: std::time::Duration) {
        let (fleet, store) = (self.fleet.clone(), self.store.clone());
        let publishing = self.publishing.clone();
        self.repeat(every, move || {
            let (fleet, store, publishing) = (fleet.clone(), store.clone(), publishing.clone());
            async move {
                if let Err(error) = fleet.refresh(&store, &publishing).await {
                    tracing::warn!(%error, "the fleet's gauges cannot be read");
                }
            }
        });
    }

    /// Runs `work` every `every` (the first time at once) beside the server, until it stops;
    /// a round that overruns delays the next rather than bunching them.
    fn repeat<F, R>(&mut self, every: std::time::Duration, work: F)
    where
        F: Fn() -> R + Send + 'static,
        R: std::future::Future<Output = ()> + Send,
    {
        self.tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                work().await;
            }
        }));
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

fn build_auth(settings: &Settings) -> Result<Auth, StartupError> {
    let secret = jwt::load_or_create_secret(&settings.jwt_secret_path()).map_err(|problem| {
        StartupError::Settings(format!(
            "setting jwt_secret_file (SWITCHYARD_JWT_SECRET_FILE): {problem}"
        ))
    })?;
    let passwords = PasswordHasher::new().map_err(|e| StartupError::Setup(e.to_string()))?;
    Ok(Auth {
        passwords,
        tokens: AccessTokens::new(&secret, settings.access_token_ttl_secs.as_time()),
        throttle: LoginThrottle::new(ThrottlePolicy {
            lockout_failures: settings.login_lockout_failures,
            lockout: settings.login_lockout_secs.as_time(),
        }),
        refresh_lifetime: settings.refresh_token_ttl_secs.as_time(),
    })
}

fn create_dir(path: &std::path::Path) -> Result<(), StartupError> {
    std::fs::create_dir_all(path).map_err(|source| StartupError::DataDir {
        path: path.display().to_string(),
        source,
    })
}
