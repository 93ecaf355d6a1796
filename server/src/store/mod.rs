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
use switchyard_proto::{
    AuditEvent, AuditVerification, Environment, EnvironmentName, EnvironmentRole,
    EnvironmentUpdate, Grant, MachineRole, MachineRoleName, NewEnvironment, Username,
};
use time::OffsetDateTime;
use uuid::Uuid;

pub use postgres::{PostgresStore, PublishListener, PUBLISHED_CHANNEL};
pub use sqlite::SqliteStore;
pub use timestamp::Timestamp;

use crate::config::DatabaseUrl;
use crate::domain::audit::{AuditFilter, AuditRecord, ChainCheck};
use crate::domain::devices::{DeviceRecord, EnrollmentTokenRecord, ReportRecord};
use crate::domain::identity::{
    ApiTokenRecord, RefreshTokenRecord, RefreshUse, UserChange, UserRecord,
};
use crate::domain::profiles::{
    ChangeRequestRecord, DraftRecord, ProfileTarget, PublishKind, VersionRecord,
};
use crate::domain::signing::SigningKeyRecord;

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
        audit: &AuditRecord,
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
        audit: &AuditRecord,
    ) -> Result<Environment, StoreError>;

    /// How many users exist.
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// Creates a user; the name must be new.
    async fn create_user(&self, user: &UserRecord, audit: &AuditRecord) -> Result<(), StoreError>;

    /// The user called `username`.
    async fn user_by_name(&self, username: &Username) -> Result<UserRecord, StoreError>;

    /// The user with id `id`.
    async fn user_by_id(&self, id: Uuid) -> Result<UserRecord, StoreError>;

    /// All users, by name.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Applies `change` to the user called `username` and returns the result. A change that
    /// sets `sessions_valid_after` revokes the user's refresh tokens too.
    async fn update_user(
        &self,
        username: &Username,
        change: &UserChange,
        audit: &AuditRecord,
    ) -> Result<UserRecord, StoreError>;

    /// Applies the `disabled` and `global_role` parts of `change`, unless that would leave no
    /// enabled admin ([`StoreError::LastAdmin`]); checked and changed as one.
    async fn update_user_keeping_an_admin(
        &self,
        username: &Username,
        change: &UserChange,
        audit: &AuditRecord,
    ) -> Result<UserRecord, StoreError>;

    /// The user's grants, by environment.
    async fn grants(&self, user_id: Uuid) -> Result<Vec<Grant>, StoreError>;

    /// Gives the user `role` on `environment`, replacing any role held there.
    async fn put_grant(
        &self,
        user_id: Uuid,
        environment: &EnvironmentName,
        role: EnvironmentRole,
        granted_at: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Takes the user's role on `environment` away; `false` if there was none.
    async fn remove_grant(
        &self,
        user_id: Uuid,
        environment: &EnvironmentName,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError>;

    /// Keeps a new refresh token.
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// What the refresh token with hash `token_hash` is now: valid (and unused), used before,
    /// or neither. Nothing changes.
    async fn refresh_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RefreshUse, StoreError>;

    /// Uses up the refresh token `used_hash` and keeps `next`, its successor, as one change: at
    /// most once even under concurrency. A token used, revoked or expired meanwhile is
    /// [`StoreError::RefreshTokenSpent`].
    async fn rotate_refresh_token(
        &self,
        used_hash: &str,
        next: &RefreshTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Ends every refresh token of one login session.
    async fn revoke_refresh_family(
        &self,
        family: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Ends a login session of user `user_id`: its access token `jti` stops working before its
    /// expiry and, when its refresh token is given (and is that user's), the session cannot
    /// be refreshed either.
    async fn end_session(
        &self,
        jti: Uuid,
        expires_at: OffsetDateTime,
        session: Option<(&str, Uuid)>,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Whether the access token `jti` was ended.
    async fn access_token_revoked(&self, jti: Uuid) -> Result<bool, StoreError>;

    /// Keeps a new API token.
    async fn create_api_token(
        &self,
        token: &ApiTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The API token whose secret hashes to `token_hash`, if any.
    async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ApiTokenRecord>, StoreError>;

    /// The API token with id `id`.
    async fn api_token(&self, id: Uuid) -> Result<ApiTokenRecord, StoreError>;

    /// API tokens, newest first: of one owner, or of everyone.
    async fn api_tokens(&self, owner_id: Option<Uuid>) -> Result<Vec<ApiTokenRecord>, StoreError>;

    /// Revokes the API token `id` (again revoking a revoked one changes nothing).
    async fn revoke_api_token(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<ApiTokenRecord, StoreError>;

    /// Creates a machine role; its name must be new.
    async fn create_machine_role(
        &self,
        role: &MachineRole,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// All machine roles, by name.
    async fn machine_roles(&self) -> Result<Vec<MachineRole>, StoreError>;

    /// The machine role called `name`.
    async fn machine_role(&self, name: &MachineRoleName) -> Result<MachineRole, StoreError>;

    /// The draft of a profile, if it was ever edited.
    async fn draft(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Option<DraftRecord>, StoreError>;

    /// Saves a draft edit made on revision `expected_revision` (0: no draft yet); the draft
    /// gets revision `expected_revision + 1`. A draft changed since is [`StoreError::StaleDraft`].
    async fn save_draft(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        expected_revision: u64,
        draft: &DraftRecord,
        audit: &AuditRecord,
    ) -> Result<DraftRecord, StoreError>;

    /// The published versions of a profile, oldest first.
    async fn versions(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Vec<VersionRecord>, StoreError>;

    /// One published version.
    async fn version(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: u64,
    ) -> Result<VersionRecord, StoreError>;

    /// The newest published version, if any.
    async fn latest_version(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Option<VersionRecord>, StoreError>;

    /// Adds `version` in one transaction with what `kind` implies: a draft publish needs the
    /// draft still at its revision; a rollback or an approval makes the draft the version's
    /// content, and an approval closes its change request (which must still be open). A
    /// version number already taken is [`StoreError::VersionTaken`]: someone published first.
    async fn publish(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: &VersionRecord,
        kind: &PublishKind,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Keeps a new change request.
    async fn create_change_request(
        &self,
        environment: &EnvironmentName,
        request: &ChangeRequestRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// One change request of an environment.
    async fn change_request(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
    ) -> Result<ChangeRequestRecord, StoreError>;

    /// The change requests of an environment, newest first.
    async fn change_requests(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<ChangeRequestRecord>, StoreError>;

    /// Rejects an open change request.
    async fn reject_change_request(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
        decided_by: &str,
        reason: &str,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The signing keys, oldest key-set version first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// The newest signing key, if any.
    async fn latest_signing_key(&self) -> Result<Option<SigningKeyRecord>, StoreError>;

    /// Adds the signing key of the next key-set version. A version taken meanwhile (another
    /// process rotated first) is [`StoreError::SigningKeyTaken`].
    async fn add_signing_key(
        &self,
        record: &SigningKeyRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Keeps a new enrollment token.
    async fn create_enrollment_token(
        &self,
        token: &EnrollmentTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The enrollment tokens of an environment, newest first.
    async fn enrollment_tokens(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<EnrollmentTokenRecord>, StoreError>;

    /// The enrollment token whose secret hashes to `token_hash`, if any.
    async fn enrollment_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<EnrollmentTokenRecord>, StoreError>;

    /// Revokes an enrollment token of `environment` (revoking a revoked one changes nothing).
    async fn revoke_enrollment_token(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Enrolls `device` with its enrollment token, using up one of the token's uses: both or
    /// neither, at most `max_uses` times even under concurrency. A token that no longer admits
    /// anyone is [`StoreError::EnrollmentTokenSpent`]; a public key enrolled already is
    /// [`StoreError::DeviceKeyTaken`].
    async fn enroll_device(
        &self,
        device: &DeviceRecord,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// The enrolled machine with id `id`.
    async fn device(&self, id: Uuid) -> Result<DeviceRecord, StoreError>;

    /// The machines enrolled in `environment`, by host name.
    async fn devices(&self, environment: &EnvironmentName)
        -> Result<Vec<DeviceRecord>, StoreError>;

    /// The ids of the machines of `environment` and `machine_role` not revoked: those a
    /// delivery to them is signed for.
    async fn active_device_ids(
        &self,
        environment: &EnvironmentName,
        machine_role: &MachineRoleName,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Keeps a machine's latest status report (reports are not audited: they change no
    /// setting, and machines send one at every apply).
    async fn record_report(&self, device_id: Uuid, report: &ReportRecord)
        -> Result<(), StoreError>;

    /// Revokes a machine: its requests get 401 from now on.
    async fn revoke_device(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Moves a machine to another environment and machine role.
    async fn move_device(
        &self,
        id: Uuid,
        environment: &EnvironmentName,
        machine_role: &MachineRoleName,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Admits one signed request of a machine: its nonce must be new (it is kept until
    /// `nonce_expires_at`; a nonce seen before is [`StoreError::NonceReused`]). With
    /// [`Seen::Now`] the machine is also marked as seen and its expired nonces are pruned;
    /// otherwise recording the nonce is one statement.
    async fn admit_device_request(
        &self,
        device_id: Uuid,
        seen: Seen,
        nonce: &str,
        nonce_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The position of the newest audit event (0 with none).
    async fn audit_head(&self) -> Result<u64, StoreError>;

    /// Appends an event that records no change of its own (a failed login).
    async fn record_audit(&self, audit: &AuditRecord) -> Result<AuditEvent, StoreError>;

    /// Audit events matching `filter`, newest first, at most `filter.limit`.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// Audit events after position `after_seq`, oldest first, at most `limit`: the chain as
    /// stored, for checking. A row that cannot be read is [`StoreError::CorruptAuditEvent`].
    async fn audit_chain(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;

    /// Hears the publishes other server processes make on this database, not this one's own;
    /// `None` where no other process can share it (SQLite).
    async fn listen_for_publishes(&self) -> Result<Option<PublishListener>, StoreError>;

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

/// Walks the whole audit trail from its first event, page by page, and says whether every
/// link holds and, if not, which is the first broken one.
pub async fn verify_audit_trail(store: &dyn Store) -> Result<AuditVerification, StoreError> {
    const PAGE: u32 = 1000;
    let mut check = ChainCheck::default();
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
