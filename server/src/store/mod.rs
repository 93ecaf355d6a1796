//! Storage: one [`Store`] trait with a Postgres and a SQLite implementation.
//!
//! Both pass the same conformance suite (`tests/tests/suite/store.rs`), so every feature works the
//! same on either. Queries are checked at run time (`query`, not `query!`) so the build needs no
//! live database.

mod audit;
mod devices;
mod environments;
mod identity;
mod keys;
mod overrides;
mod postgres;
mod profiles;
mod rollouts;
mod sessions;
mod sql;
mod sqlite;
mod timestamp;
mod url;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_proto::{
    AuditVerification, EnvironmentName, EnvironmentRole, MachineRoleName, Username,
};
use time::OffsetDateTime;
use uuid::Uuid;

pub use audit::AuditStore;
pub use devices::DeviceStore;
pub use environments::EnvironmentStore;
pub use identity::IdentityStore;
pub use keys::KeyStore;
pub use overrides::OverrideStore;
pub use postgres::{PostgresStore, PublishListener, PUBLISHED_CHANNEL};
pub use profiles::ProfileStore;
pub use rollouts::RolloutStore;
pub use sessions::SessionStore;
pub use sqlite::SqliteStore;
pub use timestamp::Timestamp;
pub use url::DatabaseUrl;

use crate::domain::audit::ChainCheck;

/// How long to wait for a database connection before calling the database unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the server keeps.
#[async_trait]
pub trait Store:
    IdentityStore
    + SessionStore
    + EnvironmentStore
    + ProfileStore
    + DeviceStore
    + KeyStore
    + AuditStore
    + RolloutStore
    + OverrideStore
    + Send
    + Sync
    + fmt::Debug
{
    /// `postgres` or `sqlite`.
    fn kind(&self) -> &'static str;

    /// Checks that the database answers and holds the schema.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection; later calls fail.
    async fn close(&self);
}

/// Shared handle to the store.
pub type SharedStore = Arc<dyn Store>;

/// Whether a machine's signed request also marks it as seen. `last_seen_at` is kept to the
/// minute ([`SEEN_RESOLUTION`]), so that most requests write nothing but their nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Mark the machine as seen now (and prune its expired nonces).
    Now,
    /// It was marked less than [`SEEN_RESOLUTION`] ago: record the nonce only.
    Recently,
}

/// How stale a machine's `last_seen_at` may be before a request of its marks it again.
pub const SEEN_RESOLUTION: time::Duration = time::Duration::minutes(1);

impl Seen {
    /// Whether a request at `now` marks a machine last seen at `last_seen`.
    pub fn at(now: OffsetDateTime, last_seen: Option<OffsetDateTime>) -> Self {
        match last_seen {
            Some(seen) if (now - seen).abs() < SEEN_RESOLUTION => Self::Recently,
            _ => Self::Now,
        }
    }
}

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
    /// No user has that name or id.
    #[error("user {0} does not exist")]
    UserNotFound(String),
    /// The username is taken.
    #[error("user {0} already exists")]
    UserExists(Username),
    /// The change would leave no enabled administrator.
    #[error("no enabled administrator would remain")]
    LastAdmin,
    /// No API token has that id.
    #[error("API token {0} does not exist")]
    ApiTokenNotFound(Uuid),
    /// No machine role has that name.
    #[error("machine role {0} does not exist")]
    MachineRoleNotFound(MachineRoleName),
    /// The machine role name is taken.
    #[error("machine role {0} already exists")]
    MachineRoleExists(MachineRoleName),
    /// No such profile version.
    #[error("version {0} does not exist")]
    VersionNotFound(u64),
    /// The draft changed since it was read.
    #[error("the draft is at revision {current}")]
    StaleDraft { current: u64 },
    /// No enrollment token has that id in that environment.
    #[error("enrollment token {0} does not exist")]
    EnrollmentTokenNotFound(Uuid),
    /// The enrollment token expired, was used up or revoked meanwhile.
    #[error("the enrollment token no longer admits machines")]
    EnrollmentTokenSpent,
    /// A machine with that public key is enrolled already.
    #[error("a machine with this public key is enrolled already")]
    DeviceKeyTaken,
    /// No enrolled machine has that id.
    #[error("device {0} does not exist")]
    DeviceNotFound(Uuid),
    /// A signed request's nonce was seen before: a replay.
    #[error("this request was seen before")]
    NonceReused,
    /// Another process added a signing key of that version first.
    #[error("signing key version {0} was made by another process first")]
    SigningKeyTaken(u64),
    /// The refresh token was used, revoked or expired meanwhile.
    #[error("the refresh token is no longer valid")]
    RefreshTokenSpent,
    /// The version number is taken: someone published first.
    #[error("version {0} was published by someone else first")]
    VersionTaken(u64),
    /// No change request has that id in that environment.
    #[error("change request {0} does not exist")]
    ChangeRequestNotFound(Uuid),
    /// The change request was decided already.
    #[error("change request {0} is no longer open")]
    ChangeRequestClosed(Uuid),
    /// No rollout has that id in that environment.
    #[error("rollout {0} does not exist")]
    RolloutNotFound(Uuid),
    /// A rollout splits the environment's machines already, or the profile is being rolled
    /// out: it must complete or be aborted first.
    #[error("rollout {0} is in progress in this environment")]
    RolloutInProgress(Uuid),
    /// The override ended or was superseded since it was read.
    #[error("override {0} ended since it was read")]
    OverrideMoved(Uuid),
    /// The variable is not allowed in that environment.
    #[error("{0} is not allowed in this environment")]
    AllowanceNotFound(String),
    /// The rollout moved (another process or person) since it was read.
    #[error("rollout {0} moved since it was read")]
    RolloutMoved(Uuid),
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The folder for a database file cannot be created.
    #[error("cannot create the database's folder: {0}")]
    Folder(#[source] std::io::Error),
    /// The database file cannot be created, or made readable by its owner alone.
    #[error("cannot create the database file or make it owner-only: {0}")]
    File(#[source] std::io::Error),
    /// A stored value breaks the rules of its type: someone edited the database by hand.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// An audit event cannot be read back: someone edited the database by hand.
    #[error("audit event {seq} cannot be read: {problem}")]
    CorruptAuditEvent { seq: u64, problem: String },
}

/// The SQLSTATEs of a database that is away (PostgreSQL's `errcodes.txt`): the connection
/// exceptions but a protocol violation (`08000`, `08001`, `08003`, `08004`, `08006`), and the
/// operator's interventions but a cancelled query (`57P01` admin shutdown, `57P02` crash
/// shutdown, `57P03` cannot connect now).
const UNAVAILABLE: [&str; 8] = [
    "08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03",
];

impl StoreError {
    /// Whether the database is away rather than the request at fault: no connection to be had
    /// (refused, timed out, the pool closed), a connection cut, or Postgres shutting down,
    /// crashing or starting up ([`UNAVAILABLE`]). Asking again later may work.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            sqlx::Error::Database(error) => error
                .code()
                .is_some_and(|code| UNAVAILABLE.contains(&code.as_ref())),
            _ => false,
        }
    }
}

/// Walks the whole audit trail from its first event, page by page, and says whether every
/// link holds, and every head a machine was sent is in it ([`ChainCheck::witnessed_by`]),
/// and, if not, which is the first broken one.
pub async fn verify_audit_trail(store: &dyn AuditStore) -> Result<AuditVerification, StoreError> {
    verify_audit_trail_against(store, Vec::new()).await
}

/// [`verify_audit_trail`], holding the chain against `more` heads too (signed checkpoints
/// from a log, by where they were found).
pub async fn verify_audit_trail_against(
    store: &dyn AuditStore,
    more: Vec<(String, switchyard_proto::AuditHead)>,
) -> Result<AuditVerification, StoreError> {
    const PAGE: u32 = 1000;
    let mut heads: Vec<(String, switchyard_proto::AuditHead)> = store
        .witnessed_heads()
        .await?
        .into_iter()
        .map(|(machine, head)| (format!("machine {machine}, which was sent it,"), head))
        .collect();
    heads.extend(more);
    let mut check = ChainCheck::witnessed_by(heads);
    let mut after = 0;
    loop {
        let page = match store.audit_chain(after, PAGE).await {
            Ok(page) => page,
            Err(StoreError::CorruptAuditEvent { seq, problem }) => {
                check.broken(seq, format!("it cannot be read: {problem}"));
                break;
            }
            Err(error) => return Err(error),
        };
        let Some(last) = page.last() else { break };
        after = last.seq;
        if !page.iter().all(|event| check.next(event)) {
            break;
        }
    }
    Ok(check.finish())
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

pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

pub(crate) fn parse_role_name(name: String) -> Result<MachineRoleName, StoreError> {
    MachineRoleName::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A JSON column holding `T` (labels, a rollout plan): a value that does not read back is
/// corrupt.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// `value` as a JSON column.
pub(crate) fn stored_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The profile a stored `machine_role` key names: empty for the baseline
/// ([`ProfileTarget::key`](crate::domain::profiles::ProfileTarget::key)).
pub(crate) fn parse_target(
    key: String,
) -> Result<crate::domain::profiles::ProfileTarget, StoreError> {
    use crate::domain::profiles::ProfileTarget;
    match key.as_str() {
        "" => Ok(ProfileTarget::Baseline),
        _ => parse_role_name(key).map(ProfileTarget::Role),
    }
}

/// Versions and revisions are kept as signed 64-bit integers by both databases.
pub(crate) fn counter(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative counter {value}")))
}

pub(crate) fn stored_counter(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn parse_username(name: String) -> Result<Username, StoreError> {
    Username::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_token_name(name: String) -> Result<switchyard_proto::TokenName, StoreError> {
    switchyard_proto::TokenName::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_global_role(
    role: Option<String>,
) -> Result<Option<switchyard_proto::GlobalRole>, StoreError> {
    role.map(|role| switchyard_proto::GlobalRole::parse(&role))
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_environment_role(role: String) -> Result<EnvironmentRole, StoreError> {
    EnvironmentRole::parse(&role).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An audit event's name-like column (`action`, `outcome`...), as its type.
pub(crate) fn audit_name<T: serde::de::DeserializeOwned>(
    seq: u64,
    column: &str,
    text: String,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| {
        StoreError::CorruptAuditEvent {
            seq,
            problem: format!("{column}: {e}"),
        }
    })
}

/// An audit event's JSON column (`changes`, `detail`), as its type.
pub(crate) fn audit_json<T: serde::de::DeserializeOwned>(
    seq: u64,
    column: &str,
    text: String,
) -> Result<T, StoreError> {
    serde_json::from_str(&text).map_err(|e| StoreError::CorruptAuditEvent {
        seq,
        problem: format!("{column}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::{Seen, SEEN_RESOLUTION};

    #[test]
    fn a_machine_is_marked_again_once_its_mark_is_a_minute_old_or_ahead_of_the_clock() {
        let now = datetime!(2026-11-25 12:00 UTC);
        assert_eq!(Seen::at(now, None), Seen::Now);
        assert_eq!(
            Seen::at(now, Some(now - time::Duration::seconds(59))),
            Seen::Recently
        );
        assert_eq!(Seen::at(now, Some(now - SEEN_RESOLUTION)), Seen::Now);
        // A mark from a clock that has since been set back is not trusted for long either.
        assert_eq!(
            Seen::at(now, Some(now + time::Duration::minutes(5))),
            Seen::Now
        );
    }
}
