//! Test harness: the real Switchyard server on a loopback port, against a fresh database of
//! either store, talked to over HTTP.
//!
//! Postgres comes from `DATABASE_URL` (an administrative connection, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); every test gets a database of its own, dropped
//! when the test ends. SQLite databases live in a temporary folder. A test that cannot reach
//! Postgres fails with a message saying how to get one; it never skips.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stderr)]

pub mod browser;
pub mod flaky_port;
pub mod own_postgres;
pub mod recorder;
pub mod registries;
pub mod relay;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use switchyard_proto::{AuditAction, Password, TokenPair};
use switchyard_server::clock::{Clock, SystemClock};
use switchyard_server::config::{SettingDuration, Settings};
use switchyard_server::domain::audit::{AuditRecord, Origin};
use switchyard_server::startup::Application;
use switchyard_server::store::DatabaseUrl;
use switchyard_server::store::{self, SharedStore};
use tempfile::TempDir;

/// The password of `admin` in every test server.
pub const ADMIN_PASSWORD: &str = "admin password for tests";

/// The password of every user the helpers create.
pub const USER_PASSWORD: &str = "user password for tests";

/// An audit record for store calls whose event is not what a test looks at.
pub fn audit() -> AuditRecord {
    Origin::system().record(
        AuditAction::EnvironmentUpdate,
        "test",
        time::OffsetDateTime::UNIX_EPOCH,
    )
}

/// Where the Postgres half of the suite connects to create its databases.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The two stores every storage and API test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the test Postgres server.
    Postgres,
}

/// Runs each named `async fn(Backend)` once per store, as `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! for_each_store {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: DatabaseUrl,
    _folder: TempDir,
    _postgres: Option<PostgresDatabase>,
}

impl TestDatabase {
    /// Creates an empty database of `backend`.
    pub async fn create(backend: Backend) -> Self {
        let folder = tempfile::tempdir().expect("create a temporary folder");
        match backend {
            Backend::Sqlite => Self {
                url: DatabaseUrl::Sqlite(folder.path().join("switchyard.db")),
                _folder: folder,
                _postgres: None,
            },
            Backend::Postgres => {
                let postgres = PostgresDatabase::create().await;
                Self {
                    url: DatabaseUrl::Postgres(postgres.url.clone()),
                    _folder: folder,
                    _postgres: Some(postgres),
                }
            }
        }
    }

    /// The database's URL, as the server's `database_url` setting takes it.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Opens the store on this database, applying the migrations.
    pub async fn open_store(&self) -> SharedStore {
        store::open(&self.url, 5).await.expect("open the store")
    }

    /// Runs `statements` on the database directly, behind the server's back: what someone
    /// with access to the database could do.
    pub async fn execute(&self, statements: &str) {
        if let Err(error) = self.try_execute(statements).await {
            panic!("{statements}: {error}");
        }
    }

    /// Like [`TestDatabase::execute`], returning the database's refusal instead of failing.
    pub async fn try_execute(&self, statements: &str) -> Result<(), String> {
        let outcome = match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let url = format!("sqlite://{}", path.display());
                let mut connection = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect to the SQLite file");
                sqlx::raw_sql(statements)
                    .execute(&mut connection)
                    .await
                    .map(drop)
            }
            DatabaseUrl::Postgres(url) => {
                let mut connection = PgConnection::connect(url)
                    .await
                    .expect("connect to the test database");
                sqlx::raw_sql(statements)
                    .execute(&mut connection)
                    .await
                    .map(drop)
            }
        };
        outcome.map_err(|error| error.to_string())
    }
}

/// The administrative URL of the test Postgres server.
pub fn postgres_admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A Postgres database of one test's own, dropped (connections and all) when it goes.
#[derive(Debug)]
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create() -> Self {
        let admin_url = postgres_admin_url();
        let name = format!("switchyard_test_{}", uuid::Uuid::new_v4().simple());
        let mut connection = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "cannot reach the test Postgres at {admin_url}: {error}\n\
                 The Postgres half of the suite needs one. Run the README's test command \
                 (scripts/test), which starts a throwaway Postgres when none runs, or set \
                 DATABASE_URL to an administrative connection URL."
                )
            });
        connection
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        // Drop runs outside async code; a thread of its own may block on its own runtime.
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&admin_url).await?;
                connection.execute(statement.as_str()).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(outcome, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// The real server, running on a loopback port against a fresh database.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The address the server listens on.
    pub address: SocketAddr,
    /// A client without proxies or cookies.
    pub client: reqwest::Client,
    /// The store the server uses, for looking behind its back.
    pub store: SharedStore,
    /// The server's events, to see what it announces.
    pub events: switchyard_server::events::Events,
    /// The server's data folder.
    pub data_dir: TempDir,
    handle: ServerHandle,
    database: Arc<TestDatabase>,
}

impl TestApp {
    /// Starts the server with default settings on `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the server on `backend` after `adjust` has changed its settings.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_with_clock(backend, Arc::new(SystemClock), adjust).await
    }

    /// Starts the server on `backend` with the given clock and settings.
    pub async fn spawn_with_clock(
        backend: Backend,
        clock: Arc<dyn Clock>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let database = Arc::new(TestDatabase::create(backend).await);
        Self::start(database, clock, adjust).await
    }

    /// A second server process on this one's database, sharing its keys: what running
    /// several replicas behind a load balancer looks like.
    pub async fn spawn_beside(&self) -> Self {
        self.spawn_beside_with(|_| {}).await
    }

    /// [`TestApp::spawn_beside`] with settings changed by `adjust`; after [`TestApp::stop`],
    /// this server restarted.
    pub async fn spawn_beside_with(&self, adjust: impl FnOnce(&mut Settings)) -> Self {
        let keys = self.data_dir.path().to_owned();
        Self::start(
            self.database.clone(),
            Arc::new(SystemClock),
            move |settings| {
                settings.jwt_secret_file = Some(keys.join("jwt-secret"));
                settings.profile_key_file = Some(keys.join("profile-key"));
                adjust(settings);
            },
        )
        .await
    }

    async fn start(
        database: Arc<TestDatabase>,
        clock: Arc<dyn Clock>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("create a data folder");
        let mut settings = Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.path().to_owned(),
            database_url: Some(database.url().clone()),
            shutdown_timeout_secs: SettingDuration::seconds(1),
            admin_password: Some(Password::parse(ADMIN_PASSWORD).expect("a valid password")),
            ..Settings::default()
        };
        adjust(&mut settings);
        let app = Application::build(&settings, clock)
            .await
            .expect("the server starts");
        let address = app.address();
        let store = app.store();
        let events = app.events();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            base_url: format!("http://{address}"),
            address,
            client: client(),
            store,
            events,
            data_dir,
            handle,
            database,
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the server answers")
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the server answers")
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Logs in; panics unless it works.
    pub async fn login(&self, username: &str, password: &str) -> TokenPair {
        let response = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({ "username": username, "password": password })),
            )
            .await;
        assert_eq!(response.status(), 200, "login as {username}");
        response.json().await.expect("a token pair")
    }

    /// An access token of the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await.access_token
    }

    /// Creates a user (as admin) with [`USER_PASSWORD`] and an optional global role, and
    /// returns their access token.
    pub async fn user_token(&self, username: &str, global_role: Option<&str>) -> String {
        let admin = self.admin_token().await;
        let response = self
            .call(
                reqwest::Method::POST,
                "/api/v1/users",
                Some(&admin),
                Some(&json!({
                    "username": username,
                    "password": USER_PASSWORD,
                    "global_role": global_role,
                })),
            )
            .await;
        assert_eq!(response.status(), 201, "create user {username}");
        self.login(username, USER_PASSWORD).await.access_token
    }

    /// Creates an environment (as admin).
    pub async fn create_environment(&self, name: &str, protected: bool) {
        let admin = self.admin_token().await;
        let response = self
            .call(
                reqwest::Method::POST,
                "/api/v1/environments",
                Some(&admin),
                Some(&json!({ "name": name, "protected": protected })),
            )
            .await;
        assert_eq!(response.status(), 201, "create environment {name}");
    }

    /// Gives `username` `role` on `environment` (as admin).
    pub async fn grant(&self, username: &str, environment: &str, role: &str) {
        let admin = self.admin_token().await;
        let response = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/users/{username}/grants/{environment}"),
                Some(&admin),
                Some(&json!({ "role": role })),
            )
            .await;
        assert_eq!(
            response.status(),
            200,
            "grant {role} on {environment} to {username}"
        );
    }

    /// The test database behind the server.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The command is sent at once; the server's threads end on their own.
        drop(self.handle.stop(false));
    }
}

/// An HTTP client that never goes through a proxy, whatever the environment says.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build an HTTP client")
}

/// The repository's root folder.
pub fn repository_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
}

/// `PATH` with the folders of the package clients scripts/test installs (pinned, under
/// `target/clients`: uv, pnpm, Yarn) in front of the test's own, so that the tests and the
/// agent they run ask those.
pub fn clients_path() -> String {
    let installed = repository_root().join("target/clients");
    let mut folders = vec![
        installed.join("uv/bin"),
        installed.join("node/node_modules/.bin"),
    ];
    folders.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(folders)
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A clock the test moves by hand; it starts at the real time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<std::sync::Mutex<time::OffsetDateTime>>);

impl ManualClock {
    /// A clock showing the current time until moved.
    pub fn new() -> Self {
        Self(Arc::new(std::sync::Mutex::new(SystemClock.now())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A machine as the agent will be: its own Ed25519 key, enrolled with a token, signing every
/// request, checking every delivery.
#[derive(Debug)]
pub struct TestDevice {
    /// Its device id.
    pub id: uuid::Uuid,
    /// Its key.
    pub key: ed25519_dalek::SigningKey,
    /// The server keys it trusts.
    pub trusted: switchyard_proto::delivery::TrustedKeys,
}

impl TestDevice {
    /// A new key, not enrolled yet.
    pub fn new_key() -> ed25519_dalek::SigningKey {
        let mut seed = [0_u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        ed25519_dalek::SigningKey::from_bytes(&seed)
    }

    /// The enrollment request a machine with `key` sends.
    pub fn enroll_request(key: &ed25519_dalek::SigningKey, token: &str) -> Value {
        json!({
            "token": token,
            "public_key": switchyard_proto::signing::encode_public_key(&key.verifying_key()),
            "hostname": "build-07.corp.example",
            "os": "linux",
            "user": "dev",
        })
    }

    /// Enrolls with `token`; on refusal, the status and body.
    pub async fn enroll(app: &TestApp, token: &str) -> Result<Self, (u16, Value)> {
        let key = Self::new_key();
        let response = app
            .call(
                reqwest::Method::POST,
                "/api/v1/agent/enroll",
                None,
                Some(&Self::enroll_request(&key, token)),
            )
            .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON answer");
        if status != 201 {
            return Err((status, body));
        }
        let enrollment: switchyard_proto::devices::Enrollment =
            serde_json::from_value(body).expect("an enrollment");
        let trusted = switchyard_proto::delivery::TrustedKeys::from_chain(&enrollment.key_sets)
            .expect("a valid key-set chain");
        Ok(Self {
            id: enrollment.device_id,
            key,
            trusted,
        })
    }

    /// The `Authorization` value for one request, signed now.
    pub fn authorization(&self, method: &str, path_and_query: &str, body: &[u8]) -> String {
        let mut nonce = [0_u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let nonce =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, nonce);
        let request = switchyard_proto::signing::DeviceRequest {
            method,
            path_and_query,
            body,
        };
        let now = SystemClock.now().unix_timestamp();
        switchyard_proto::signing::DeviceAuthorization::sign(
            self.id, &self.key, &request, now, nonce,
        )
        .to_header()
    }

    /// A signed request.
    pub async fn call(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
        if_none_match: Option<&str>,
    ) -> reqwest::Response {
        let bytes = body
            .map(|body| body.to_string().into_bytes())
            .unwrap_or_default();
        let mut request = app
            .client
            .request(method.clone(), app.url(path_and_query))
            .header(
                "authorization",
                self.authorization(method.as_str(), path_and_query, &bytes),
            );
        if body.is_some() {
            request = request
                .header("content-type", "application/json")
                .body(bytes);
        }
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        request.send().await.expect("the request is sent")
    }

    /// Opens a delivery as the agent must.
    pub fn open(
        &self,
        envelope: &switchyard_proto::delivery::Envelope,
        last_sequence: Option<u64>,
    ) -> Result<switchyard_proto::delivery::Delivery, switchyard_proto::delivery::EnvelopeError>
    {
        switchyard_proto::delivery::open_envelope(
            envelope,
            &self.trusted,
            &switchyard_proto::delivery::Expectations {
                device_id: self.id,
                now: SystemClock.now(),
                last_sequence,
                clock_skew: switchyard_proto::delivery::DEFAULT_CLOCK_SKEW,
            },
        )
    }
}

impl TestApp {
    /// Creates a machine role (as admin).
    pub async fn create_machine_role(&self, name: &str) {
        let admin = self.admin_token().await;
        let response = self
            .call(
                reqwest::Method::POST,
                "/api/v1/machine-roles",
                Some(&admin),
                Some(&json!({ "name": name })),
            )
            .await;
        assert_eq!(response.status(), 201, "create machine role {name}");
    }

    /// Replaces the draft of `target` (`baseline` or a role) in the unprotected `environment`
    /// with `profile` and publishes it (as admin).
    pub async fn publish_profile(&self, environment: &str, target: &str, profile: Value) {
        let admin = self.admin_token().await;
        self.publish_profile_as(&admin, environment, target, profile)
            .await;
    }

    /// [`TestApp::publish_profile`] with an admin's token already at hand (a login costs a
    /// password hash).
    pub async fn publish_profile_as(
        &self,
        admin: &str,
        environment: &str,
        target: &str,
        profile: Value,
    ) {
        let path = format!("/api/v1/environments/{environment}/profiles/{target}");
        let draft: Value = self
            .get_as(admin, &format!("{path}/draft"))
            .await
            .json()
            .await
            .unwrap();
        let revision = draft["revision"].as_u64().unwrap();
        let saved = self
            .client
            .put(self.url(&format!("{path}/draft")))
            .bearer_auth(admin)
            .header("if-match", format!("\"{revision}\""))
            .json(&profile)
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200, "save the draft of {path}");
        let published = self
            .call(
                reqwest::Method::POST,
                &format!("{path}/publish"),
                Some(admin),
                Some(&json!({ "message": "test", "draft_revision": revision + 1 })),
            )
            .await;
        assert_eq!(published.status(), 201, "publish {path}");
    }

    /// The machines enrolled in `environment`, as the admin's fleet list shows them.
    pub async fn devices<T: serde::de::DeserializeOwned>(&self, environment: &str) -> Vec<T> {
        let admin = self.admin_token().await;
        self.get_as(
            &admin,
            &format!("/api/v1/environments/{environment}/devices"),
        )
        .await
        .json()
        .await
        .expect("the fleet list")
    }

    /// An enrollment token for `role` in `environment`, made by the admin; its secret.
    pub async fn enrollment_token(&self, environment: &str, role: &str, max_uses: u32) -> String {
        let admin = self.admin_token().await;
        let response = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/environments/{environment}/enrollment-tokens"),
                Some(&admin),
                Some(&json!({ "machine_role": role, "max_uses": max_uses })),
            )
            .await;
        assert_eq!(response.status(), 201, "create an enrollment token");
        let created: Value = response.json().await.unwrap();
        created["secret"].as_str().unwrap().to_owned()
    }
}
