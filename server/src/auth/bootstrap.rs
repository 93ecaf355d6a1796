//! The first administrator: created on the first start, when there are no users.

use switchyard_proto::{AuditAction, GlobalRole, Password, Username};
use uuid::Uuid;

use super::password::PasswordHasher;
use super::secret;
use crate::clock::Clock;
use crate::domain::audit::Origin;
use crate::domain::identity::UserRecord;
use crate::store::{Store, StoreError};

/// Name of the first administrator.
pub const ADMIN_USERNAME: &str = "admin";

/// What the first start did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users existed already: nothing was done.
    NotNeeded,
    /// `admin` was created with the configured password.
    CreatedWithConfiguredPassword,
    /// `admin` was created with this generated password, to be shown once.
    CreatedWithGeneratedPassword(String),
}

/// Why the first administrator could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] super::password::HashError),
}

/// Creates `admin` if there are no users: with `configured` as password, or a generated one.
pub async fn ensure_admin(
    store: &dyn Store,
    hasher: &PasswordHasher,
    clock: &dyn Clock,
    configured: Option<&Password>,
) -> Result<Bootstrap, BootstrapError> {
    if store.count_users().await? > 0 {
        return Ok(Bootstrap::NotNeeded);
    }
    let (password, outcome) = match configured {
        Some(password) => (password.clone(), Bootstrap::CreatedWithConfiguredPassword),
        None => {
            let generated = secret::generate("");
            let password = Password::parse(generated.clone())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            (password, Bootstrap::CreatedWithGeneratedPassword(generated))
        }
    };
    let admin = UserRecord {
        id: Uuid::new_v4(),
        username: Username::parse(ADMIN_USERNAME)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        password_hash: hasher.hash(&password)?,
        global_role: Some(GlobalRole::Admin),
        disabled: false,
        created_at: clock.now(),
        sessions_valid_after: None,
    };
    let audit = Origin::system()
        .record(
            AuditAction::UserCreate,
            format!("user:{}", admin.username),
            admin.created_at,
        )
        .with_detail("global_role", "admin")
        .with_detail("reason", "first start: no users yet");
    match store.create_user(&admin, &audit).await {
        Ok(()) => Ok(outcome),
        // Another server process on the same database was first.
        Err(StoreError::UserExists(_)) => Ok(Bootstrap::NotNeeded),
        Err(error) => Err(error.into()),
    }
}
