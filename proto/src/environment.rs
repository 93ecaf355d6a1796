//! Environments: the named places (such as `staging` or `production`) that profiles belong to.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A value that breaks the rules of its type; the message says which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The name of an environment: 1 to 63 characters of lowercase ASCII letters, digits and `-`,
/// starting with a letter, not ending with `-` and without `--`.
///
/// The rules keep names safe in URLs, file names, log lines and DNS-like labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", example = "staging")
)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentName(String);

impl EnvironmentName {
    /// Longest name allowed.
    pub const MAX_LEN: usize = 63;

    /// Checks `name` against the rules.
    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidValue> {
        let name = name.into();
        check_name("environment", &name)?;
        Ok(Self(name))
    }
}

/// The naming rules of environments and machine roles: 1 to 63 characters of lowercase ASCII
/// letters, digits and `-`, starting with a letter, not ending with `-`, without `--`.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), InvalidValue> {
    let invalid = |why: &str| Err(InvalidValue(format!("{kind} name {name:?} {why}")));
    if name.is_empty() {
        return Err(InvalidValue(format!("{kind} name must not be empty")));
    }
    if name.len() > EnvironmentName::MAX_LEN {
        return invalid("is longer than 63 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("must start with a lowercase letter a-z");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return invalid(&format!(
            "contains {bad:?}; only lowercase letters a-z, digits and '-' are allowed"
        ));
    }
    if name.ends_with('-') {
        return invalid("must not end with '-'");
    }
    if name.contains("--") {
        return invalid("must not contain \"--\"");
    }
    Ok(())
}

/// A free-text description: at most 1,000 characters, no control characters but line feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, example = "Shared staging cluster")
)]
#[serde(try_from = "String", into = "String")]
pub struct Description(String);

impl Description {
    /// Longest description allowed, in characters.
    pub const MAX_CHARS: usize = 1000;

    /// Checks `text` against the rules.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "description is longer than {} characters",
                Self::MAX_CHARS
            )));
        }
        if let Some(bad) = text.chars().find(|c| c.is_control() && *c != '\n') {
            return Err(InvalidValue(format!(
                "description contains the control character {bad:?}"
            )));
        }
        if let Some(bad) = text.chars().find(|c| crate::text::is_bidi_control(*c)) {
            return Err(InvalidValue(format!(
                "description contains the text-reordering character {}",
                crate::text::describe(bad)
            )));
        }
        Ok(Self(text))
    }
}

checked_text!(EnvironmentName, display);
checked_text!(Description);

/// An environment as stored and as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Environment {
    /// Unique name.
    pub name: EnvironmentName,
    /// What the environment is for.
    pub description: Description,
    /// Whether changes need a second person's approval (production-like environments).
    pub protected: bool,
    /// When it was created (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// What is needed to create an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEnvironment {
    /// Unique name; it cannot be changed later.
    pub name: EnvironmentName,
    /// What the environment is for.
    #[serde(default)]
    pub description: Description,
    /// Whether changes need a second person's approval.
    #[serde(default)]
    pub protected: bool,
}

/// A change to an environment; fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvironmentUpdate {
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// New protection flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
}

/// An environment variable that profiles of one environment may set although it makes
/// programs run code or changes TLS checks ([`crate::profile::variables`]): allowed by an admin,
/// for a reason, in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariableAllowance {
    /// The variable's name, in upper case (names compare without regard to case).
    pub name: String,
    /// Why it is on the list: `runs-code` or `trust`.
    pub kind: String,
    /// Why it is allowed here.
    pub reason: crate::ChangeMessage,
    /// Who allowed it.
    pub allowed_by: String,
    /// When (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub allowed_at: OffsetDateTime,
}

/// What allowing a variable for an environment needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AllowVariable {
    /// Why profiles of this environment need it (kept in the audit trail).
    pub reason: crate::ChangeMessage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_names() {
        for name in ["a", "dev", "staging", "prod-eu-1", "x9"] {
            assert_eq!(EnvironmentName::parse(name).unwrap().as_str(), name);
        }
        assert!(EnvironmentName::parse("a".repeat(63)).is_ok());
    }

    #[test]
    fn refuses_names_that_break_a_rule() {
        let cases = [
            ("", "must not be empty"),
            ("Prod", "must start with a lowercase letter"),
            ("1prod", "must start with a lowercase letter"),
            ("-prod", "must start with a lowercase letter"),
            ("prod-", "must not end with '-'"),
            ("pr--od", "must not contain"),
            ("prod eu", "contains ' '"),
            ("prod\n", "contains '\\n'"),
            ("prod_eu", "contains '_'"),
            ("prodé", "contains 'é'"),
        ];
        for (name, why) in cases {
            let err = EnvironmentName::parse(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        assert!(EnvironmentName::parse("a".repeat(64))
            .unwrap_err()
            .to_string()
            .contains("longer than 63"));
    }

    #[test]
    fn deserialization_applies_the_rules() {
        let err = serde_json::from_str::<EnvironmentName>("\"Bad\"").unwrap_err();
        assert!(err
            .to_string()
            .contains("must start with a lowercase letter"));
        let ok: EnvironmentName = serde_json::from_str("\"good\"").unwrap();
        assert_eq!(ok.as_str(), "good");
    }

    #[test]
    fn descriptions_refuse_control_characters_and_excess_length() {
        assert!(Description::parse("two\nlines").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
        assert!(Description::parse("x".repeat(1000)).is_ok());
        assert!(Description::parse("x".repeat(1001)).is_err());
    }
}
