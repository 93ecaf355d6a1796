//! Wire types shared by the Switchyard server and agent.
//!
//! Everything that crosses the network is defined here once, so the server and the agent cannot
//! drift apart. Types that carry rules (such as [`EnvironmentName`]) check them in their
//! constructor and in deserialization, so an invalid value cannot be built on either side.

/// Implements the conversions of a text type whose rules live in its `parse`:
/// `TryFrom<String>` (for serde), `From<T> for String`, and `as_str` (`display` adds `Display`;
/// `secret` leaves out `as_str`, so the text is only reached on purpose).
macro_rules! checked_text {
    ($type:ident, secret) => {
        impl TryFrom<String> for $type {
            type Error = $crate::InvalidValue;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$type> for String {
            fn from(value: $type) -> Self {
                value.0
            }
        }
    };
    ($type:ident) => {
        checked_text!($type, secret);

        impl $type {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
    ($type:ident, display) => {
        checked_text!($type);

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub mod audit;
pub mod auth;
pub mod delivery;
pub mod devices;
pub mod environment;
pub mod error;
pub mod identity;
pub mod merkle;
pub mod meta;
pub mod profile;
pub mod rollouts;
pub mod signing;
pub mod text;
pub mod versions;

pub use audit::{
    ActorKind, AuditAction, AuditEvent, AuditHead, AuditPage, AuditVerification, BrokenLink,
    Outcome,
};
pub use auth::{
    ApiToken, BoundedText, CreatedApiToken, GlobalRoleChange, GrantChange, LoginRequest,
    LogoutRequest, NewApiToken, PasswordReset, RefreshRequest, TokenName, TokenPair,
};
pub use environment::{
    AllowVariable, Description, Environment, EnvironmentName, EnvironmentUpdate, InvalidValue,
    NewEnvironment, VariableAllowance,
};
pub use error::{ErrorBody, ErrorDetail, FieldProblem};
pub use identity::{EnvironmentRole, GlobalRole, Grant, NewUser, Password, User, Username};
pub use meta::{Health, VersionInfo};
pub use profile::Profile;
pub use versions::{
    ChangeMessage, ChangeRequest, ChangeRequestStatus, Decision, EffectiveProfile, MachineRole,
    MachineRoleName, NewMachineRole, ProfileDiff, ProfileDraft, ProfileVersion, PublishRequest,
    RollbackRequest, VersionSummary,
};
