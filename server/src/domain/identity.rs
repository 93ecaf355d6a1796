//! Users, sessions and API tokens as the server keeps them.

use switchyard_proto::{ApiToken, GlobalRole, Grant, TokenName, User, Username};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user with the secrets the API never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id; tokens name the user by it.
    pub id: Uuid,
    /// Login name.
    pub username: Username,
    /// argon2id hash in PHC format.
    pub password_hash: String,
    /// Role across all environments.
    pub global_role: Option<GlobalRole>,
    /// Disabled users cannot log in and their tokens stop working.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: OffsetDateTime,
    /// Access tokens issued before this are refused (set by a password reset).
    pub sessions_valid_after: Option<OffsetDateTime>,
}

impl UserRecord {
    /// The user as the API shows it, with `grants`.
    pub fn to_wire(&self, grants: Vec<Grant>) -> User {
        User {
            username: self.username.clone(),
            global_role: self.global_role,
            disabled: self.disabled,
            grants,
            created_at: self.created_at,
        }
    }
}

/// The hash is a secret too: never in logs.
impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("global_role", &self.global_role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A change to a user; fields left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New disabled flag.
    pub disabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New global role (`Some(None)` removes it).
    pub global_role: Option<Option<GlobalRole>>,
    /// Refuse access tokens issued before this time.
    pub sessions_valid_after: Option<OffsetDateTime>,
}

/// One refresh token of a session. Every refresh replaces it with a new one of the same
/// family; a family is one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The login session it belongs to.
    pub family: Uuid,
    /// Whose session.
    pub user_id: Uuid,
    /// When it was handed out.
    pub issued_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Valid and now used up: hand out the next one.
    Fresh(RefreshTokenRecord),
    /// Used before: someone replays it, so the whole session must end.
    Replayed {
        /// The session to end.
        family: Uuid,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// An API token as kept: its secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Token id.
    pub id: Uuid,
    /// The user it acts as.
    pub owner_id: Uuid,
    /// The owner's name, for listings.
    pub owner: Username,
    /// What it is for.
    pub name: TokenName,
    /// SHA-256 of the secret.
    pub token_hash: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiTokenRecord {
    /// The token as the API lists it.
    pub fn to_wire(&self) -> ApiToken {
        ApiToken {
            id: self.id,
            name: self.name.clone(),
            owner: self.owner.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked: self.revoked_at.is_some(),
        }
    }
}
