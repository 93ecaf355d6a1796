//! Wire types shared by the Switchyard server and agent.
//!
//! Everything that crosses the network is defined here once, so the server and the agent cannot
//! drift apart. Types that carry rules (such as [`EnvironmentName`]) check them in their
//! constructor and in deserialization, so an invalid value cannot be built on either side.

pub mod auth;
pub mod environment;
pub mod error;
pub mod identity;
pub mod meta;

pub use auth::{
    ApiToken, BoundedText, CreatedApiToken, GlobalRoleChange, GrantChange, LoginRequest,
    LogoutRequest, NewApiToken, PasswordReset, RefreshRequest, TokenName, TokenPair,
};
pub use environment::{
    Description, Environment, EnvironmentName, EnvironmentUpdate, InvalidValue, NewEnvironment,
};
pub use error::{ErrorBody, ErrorDetail, FieldProblem};
pub use identity::{EnvironmentRole, GlobalRole, Grant, NewUser, Password, User, Username};
pub use meta::{Health, VersionInfo};
