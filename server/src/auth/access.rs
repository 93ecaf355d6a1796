//! Who is calling and what they may do. Permissions are looked up afresh for every request, so
//! disabling a user or revoking a grant takes effect on the next request, whatever tokens the
//! user holds.

use switchyard_proto::{EnvironmentName, EnvironmentRole, GlobalRole, Grant};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::identity::UserRecord;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token from a login.
    Session {
        /// The token's id.
        jti: Uuid,
        /// When the token expires.
        expires_at: OffsetDateTime,
    },
    /// An API token.
    ApiToken {
        /// The token's id.
        id: Uuid,
    },
}

/// An authenticated caller with their current permissions.
#[derive(Debug, Clone)]
pub struct Access {
    /// The user (for an API token, its owner).
    pub user: UserRecord,
    /// How they authenticated.
    pub credential: Credential,
    /// Their roles on single environments.
    pub grants: Vec<Grant>,
}

impl Access {
    /// Global admin.
    pub fn is_admin(&self) -> bool {
        self.user.global_role == Some(GlobalRole::Admin)
    }

    /// Admin or auditor: may read everything.
    pub fn reads_everything(&self) -> bool {
        self.user.global_role.is_some()
    }

    /// The caller's role on `environment`, if granted one.
    pub fn role_on(&self, environment: &EnvironmentName) -> Option<EnvironmentRole> {
        self.grants
            .iter()
            .find(|grant| &grant.environment == environment)
            .map(|grant| grant.role)
    }

    /// May read `environment`: admin, auditor, or any grant on it.
    pub fn can_read(&self, environment: &EnvironmentName) -> bool {
        self.reads_everything() || self.role_on(environment).is_some()
    }

    /// May change `environment`'s settings: admin, or ops on it.
    pub fn can_operate(&self, environment: &EnvironmentName) -> bool {
        self.is_admin() || self.role_on(environment) == Some(EnvironmentRole::Ops)
    }
}
