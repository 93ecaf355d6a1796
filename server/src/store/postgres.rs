//! The Postgres store: for teams and for more than one server process.
//!
//! Processes on one database tell each other of publishes with `NOTIFY` on
//! [`PUBLISHED_CHANNEL`], sent in the publish's own transaction so it is heard only once the
//! version can be read. Every announcement names the store that made it, so a process hears
//! the others' publishes and not its own (it told its own waiting machines already).

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use switchyard_proto::EnvironmentName;
use uuid::Uuid;

use super::sql::implement_store;
use super::{StoreError, CONNECT_TIMEOUT};
use crate::domain::profiles::ProfileTarget;
use crate::events::ProfilePublished;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The Postgres channel publishes are announced on.
pub const PUBLISHED_CHANNEL: &str = "switchyard_published";

/// A store on a Postgres database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Names this store (so this server process) in the announcements it makes.
    announcer: Uuid,
}

/// What one server process tells the others when it publishes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Announcement {
    /// The store that published; missing in the announcements of a server from before it was
    /// named (during a rolling upgrade), which are another process's.
    #[serde(default)]
    announcer: Option<Uuid>,
    /// The environment.
    environment: String,
    /// `""` for the baseline, else the machine role.
    target: String,
    /// The new version.
    version: u64,
}

impl Announcement {
    /// The publish it tells of; `None` for a payload that is not an announcement.
    fn published(payload: &str) -> Option<(Option<Uuid>, ProfilePublished)> {
        let announcement: Announcement = serde_json::from_str(payload).ok()?;
        let target = match announcement.target.as_str() {
            "" => ProfileTarget::Baseline,
            role => ProfileTarget::parse(role).ok()?,
        };
        Some((
            announcement.announcer,
            ProfilePublished {
                environment: EnvironmentName::parse(announcement.environment).ok()?,
                target,
                version: announcement.version,
            },
        ))
    }
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
        Ok(Self {
            pool,
            announcer: Uuid::new_v4(),
        })
    }

    /// Postgres locks rows, not the database: nonces are recorded side by side.
    async fn nonce_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// Tells the other server processes, when `connection`'s transaction commits, that
    /// `version` of `target` in `environment` was published.
    async fn announce(
        &self,
        connection: &mut sqlx::PgConnection,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: u64,
    ) -> Result<(), StoreError> {
        let announcement = Announcement {
            announcer: Some(self.announcer),
            environment: environment.to_string(),
            target: target.key().to_owned(),
            version,
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PUBLISHED_CHANNEL)
            .bind(serde_json::to_string(&announcement).unwrap_or_default())
            .execute(connection)
            .await?;
        Ok(())
    }

    /// Hears the publishes of the other server processes on this database.
    async fn listen(&self) -> Result<Option<PublishListener>, StoreError> {
        // A connection of its own, not one of the pool's: it is held for as long as the
        // server runs.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with((*self.pool.connect_options()).clone());
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(PUBLISHED_CHANNEL).await?;
        Ok(Some(PublishListener {
            listener,
            announcer: self.announcer,
        }))
    }
}

implement_store!(
    PostgresStore,
    sqlx::Postgres,
    "postgres",
    "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE",
    "SELECT pg_advisory_xact_lock(7236345127406372213)",
    "strpos"
);

/// The publishes other server processes announce on one database, as they come.
#[derive(Debug)]
pub struct PublishListener {
    listener: PgListener,
    /// This process's store: its own announcements come back and are passed over.
    announcer: Uuid,
}

impl PublishListener {
    /// The next publish another process announces. After a lost connection the listener
    /// reconnects by itself on the next call; publishes made meanwhile are missed (waiting
    /// machines see them at their next poll), and the error says so.
    pub async fn next(&mut self) -> Result<ProfilePublished, StoreError> {
        loop {
            let notification = self.listener.recv().await?;
            match Announcement::published(notification.payload()) {
                Some((announcer, _)) if announcer == Some(self.announcer) => {}
                Some((_, published)) => return Ok(published),
                None => tracing::warn!(
                    payload = notification.payload(),
                    "an announcement that is not a publish"
                ),
            }
        }
    }
}
