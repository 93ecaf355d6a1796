//! Users, their roles and their grants, as sent over the wire.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{EnvironmentName, InvalidValue};

/// A user's login name: 1 to 64 characters of lowercase ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[a-z][a-z0-9._-]{0,63}$", example = "ada")
)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// Longest name allowed.
    pub const MAX_LEN: usize = 64;

    /// Checks `name` against the rules.
    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidValue> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidValue("username must not be empty".into()));
        }
        if name.len() > Self::MAX_LEN {
            return Err(InvalidValue(format!(
                "username is longer than {} characters",
                Self::MAX_LEN
            )));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(InvalidValue(format!(
                "username {name:?} must start with a lowercase letter a-z"
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c)))
        {
            return Err(InvalidValue(format!(
                "username {name:?} contains {bad:?}; only a-z, 0-9, '.', '_' and '-' are allowed"
            )));
        }
        Ok(Self(name))
    }
}

/// A new password: 12 to 1,024 characters, no control characters. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, format = Password)
)]
#[serde(try_from = "String", into = "String")]
pub struct Password(String);

impl Password {
    /// Fewest characters allowed.
    pub const MIN_CHARS: usize = 12;
    /// Most characters allowed; longer inputs only cost hashing time.
    pub const MAX_CHARS: usize = 1024;

    /// Checks `text` against the rules.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        let chars = text.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(InvalidValue(format!(
                "password must have at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "password must have at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(InvalidValue(
                "password must not contain control characters".into(),
            ));
        }
        Ok(Self(text))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

checked_text!(Username, display);
checked_text!(Password, secret);

/// A role that holds across all environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GlobalRole {
    /// Everything: users, grants, signing keys, every environment.
    Admin,
    /// Reads everything, including the audit log; writes nothing.
    Auditor,
}

impl GlobalRole {
    /// The role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            GlobalRole::Admin => "admin",
            GlobalRole::Auditor => "auditor",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        match name {
            "admin" => Ok(GlobalRole::Admin),
            "auditor" => Ok(GlobalRole::Auditor),
            other => Err(InvalidValue(format!("unknown global role {other:?}"))),
        }
    }
}

/// A role on one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentRole {
    /// Edits and publishes profiles, creates enrollment tokens, approves others' changes.
    Ops,
    /// Reads profiles, versions and their own devices.
    Developer,
}

impl EnvironmentRole {
    /// The role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentRole::Ops => "ops",
            EnvironmentRole::Developer => "developer",
        }
    }

    /// The role called `name`.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        match name {
            "ops" => Ok(EnvironmentRole::Ops),
            "developer" => Ok(EnvironmentRole::Developer),
            other => Err(InvalidValue(format!("unknown environment role {other:?}"))),
        }
    }
}

/// A user's role on one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    /// The environment.
    pub environment: EnvironmentName,
    /// What the user may do there.
    pub role: EnvironmentRole,
}

/// A user as the API shows it; the password hash never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Login name.
    pub username: Username,
    /// Role across all environments, if any.
    pub global_role: Option<GlobalRole>,
    /// Disabled users cannot log in, and their tokens stop working.
    pub disabled: bool,
    /// Roles on single environments.
    pub grants: Vec<Grant>,
    /// When the user was created (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// What is needed to create a user. New users have no grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name; it cannot be changed later.
    pub username: Username,
    /// Initial password.
    pub password: Password,
    /// Role across all environments, if any.
    #[serde(default)]
    pub global_role: Option<GlobalRole>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for good in ["a", "ada", "ada.lovelace", "ci_bot-2"] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Ada", "1ada", "ada lovelace", "ada\n", "ädа"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse("a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_have_a_minimum_length_and_are_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("twelve chars").is_ok());
        assert!(Password::parse("tab\tinside password").is_err());
        assert!(Password::parse("x".repeat(1025)).is_err());
        let password = Password::parse("correct horse battery").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }
}
