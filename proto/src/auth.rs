//! Logging in, sessions and API tokens, as sent over the wire.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::identity::{EnvironmentRole, GlobalRole, Password, Username};
use crate::InvalidValue;

/// `POST /api/v1/auth/login`. The username is not checked against the naming rules here, so
/// a malformed name gets the same answer as an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: BoundedText,
    /// Password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: BoundedText,
}

/// Free text of at most 1,024 characters, for fields checked later (a login's username and
/// password): longer input is refused before any work is done on it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String))]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText(String);

impl BoundedText {
    /// Most characters allowed.
    pub const MAX_CHARS: usize = 1024;

    /// Checks the length of `text`.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "must have at most {} characters",
                Self::MAX_CHARS
            )));
        }
        Ok(Self(text))
    }
}

impl std::fmt::Debug for BoundedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // It may be a password.
        f.write_str("BoundedText(***)")
    }
}

checked_text!(BoundedText);

/// Tokens handed out at login and refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    /// Short-lived access token (a JWT); send it as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single-use token that buys a new pair at `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: BoundedText,
}

/// `POST /api/v1/auth/logout`: ends the access token used for the call and, if given, the
/// refresh token's whole session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// The session's refresh token.
    #[serde(default)]
    pub refresh_token: Option<BoundedText>,
}

/// `PUT /api/v1/users/{username}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password.
    pub password: Password,
}

/// `PUT /api/v1/users/{username}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GlobalRoleChange {
    /// The new global role; `null` removes it.
    pub global_role: Option<GlobalRole>,
}

/// `PUT /api/v1/users/{username}/grants/{environment}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantChange {
    /// The role on the environment.
    pub role: EnvironmentRole,
}

/// The name of an API token: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "ci-publish"))]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    /// Checks `name` against the rules.
    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidValue> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(InvalidValue("token name must not be empty".into()));
        }
        if name.chars().count() > 100 {
            return Err(InvalidValue(
                "token name is longer than 100 characters".into(),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidValue(
                "token name must not contain control characters".into(),
            ));
        }
        Ok(Self(name))
    }
}

checked_text!(TokenName);

/// `POST /api/v1/tokens`: an API token acting with its owner's permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// What the token is for.
    pub name: TokenName,
    /// Days until it expires: 1 to 365, 90 when left out.
    #[serde(default = "default_token_days")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 365, default = 90))]
    pub expires_in_days: u16,
}

fn default_token_days() -> u16 {
    90
}

/// An API token as listed; its secret is shown only once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// Token id, for revoking it.
    pub id: Uuid,
    /// What the token is for.
    pub name: TokenName,
    /// The user it acts as.
    pub owner: Username,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// The answer to creating an API token: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    /// The token.
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret: send it as `Authorization: Bearer ...`. It cannot be shown again.
    pub secret: String,
}
