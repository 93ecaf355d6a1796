//! Machine roles, profile drafts and published versions, as sent over the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::environment::check_name;
use crate::profile::{Origin, Profile, SettingChange};
use crate::{Description, EnvironmentName, InvalidValue};

/// The name of a machine role (`backend`, `data-science`): the rules of environment names, and
/// not `baseline`, which names an environment's own profile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", example = "backend")
)]
#[serde(try_from = "String", into = "String")]
pub struct MachineRoleName(String);

impl MachineRoleName {
    /// Checks `name` against the rules.
    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidValue> {
        let name = name.into();
        check_name("machine role", &name)?;
        if name == "baseline" {
            return Err(InvalidValue(
                "machine role name \"baseline\" is reserved for the environment's own profile"
                    .into(),
            ));
        }
        Ok(Self(name))
    }
}

checked_text!(MachineRoleName, display);

/// A population of machines a profile overlay targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineRole {
    /// Unique name.
    pub name: MachineRoleName,
    /// What the machines are.
    pub description: Description,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// What is needed to create a machine role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMachineRole {
    /// Unique name.
    pub name: MachineRoleName,
    /// What the machines are.
    #[serde(default)]
    pub description: Description,
}

/// The draft of a profile: what the next publish will make a version of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileDraft {
    /// The settings (secrets read as `{"set": true}`).
    pub profile: Profile,
    /// Counts edits; send it back in `If-Match` to edit, and in `draft_revision` to publish.
    /// 0 means there has been no edit since the last publish (or ever).
    pub revision: u64,
    /// The published version the draft started from (0: none yet).
    pub based_on_version: u64,
}

/// A short text saying why a change was made: 1 to 500 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "Use the new Go proxy"))]
#[serde(try_from = "String", into = "String")]
pub struct ChangeMessage(String);

impl ChangeMessage {
    /// Checks `text` against the rules.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(InvalidValue("message must not be empty".into()));
        }
        if text.chars().count() > 500 {
            return Err(InvalidValue("message is longer than 500 characters".into()));
        }
        if text.chars().any(char::is_control) {
            return Err(InvalidValue(
                "message must not contain control characters".into(),
            ));
        }
        // An auditor reads it: it must not reorder itself on the screen.
        if let Some(bad) = text.chars().find(|c| crate::text::is_bidi_control(*c)) {
            return Err(InvalidValue(format!(
                "message contains the text-reordering character {}",
                crate::text::describe(bad)
            )));
        }
        Ok(Self(text))
    }
}

checked_text!(ChangeMessage);

/// `POST .../publish`: make the draft the next version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Why.
    pub message: ChangeMessage,
    /// The draft revision being published, as last read; a newer one means someone edited
    /// since, and the publish is refused with 409.
    pub draft_revision: u64,
    /// Roll the version out wave by wave instead of sending it to every machine at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollouts::RolloutPlan>,
    /// An override: at this time (RFC 3339, within 30 days) the version before comes back by
    /// itself, unless someone published since. Not with `rollout`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<OffsetDateTime>,
}

/// `POST .../rollback`: publish an old version's content as a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version whose content comes back.
    pub to_version: u64,
    /// The latest version as last read; a newer one means someone published since (409).
    pub based_on_version: u64,
    /// Why.
    pub message: ChangeMessage,
}

/// One published version, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    /// 1, 2, 3...
    pub version: u64,
    /// Who published it.
    pub author: String,
    /// Why.
    pub message: String,
    /// SHA-256 of the content, in hex.
    pub content_hash: String,
    /// For a rollback: the version whose content it brought back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub published_at: OffsetDateTime,
}

/// One published version with its content. Versions never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileVersion {
    /// Who, when, why.
    #[serde(flatten)]
    pub summary: VersionSummary,
    /// The settings (secrets read as `{"set": true}`).
    pub profile: Profile,
}

/// The settings that differ between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileDiff {
    /// The older side (0: nothing).
    pub from: u64,
    /// The newer side.
    pub to: u64,
    /// Each changed setting; `text` has the same as lines such as `go.proxy: a -> b`.
    pub changes: Vec<SettingChange>,
    /// The changes as lines for people.
    pub text: String,
}

/// What a machine of one role in one environment gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveProfile {
    /// The environment.
    pub environment: EnvironmentName,
    /// The machine role, if one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_role: Option<MachineRoleName>,
    /// The baseline version used (0: none published).
    pub baseline_version: u64,
    /// The overlay version used (0: none published).
    pub overlay_version: u64,
    /// The baseline with the overlay applied.
    pub profile: Profile,
    /// Where each setting comes from.
    pub origins: BTreeMap<String, Origin>,
}

/// Where a change request stands. An open request past its expiry reads `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeRequestStatus {
    /// Waiting for a second person.
    Open,
    /// Approved and published as `version`.
    Approved,
    /// Turned down.
    Rejected,
    /// Nobody decided in time.
    Expired,
}

/// A proposed publish or rollback in a protected environment, waiting for a second person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeRequest {
    /// Its id.
    pub id: uuid::Uuid,
    /// The environment.
    pub environment: EnvironmentName,
    /// `baseline` or the machine role.
    pub target: String,
    /// Who proposed it.
    pub proposer: String,
    /// Why.
    pub message: String,
    /// The latest version when it was proposed; approval needs it still to be the latest.
    pub base_version: u64,
    /// For a proposed rollback: the version whose content would come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// What would change, against the base version.
    pub changes: Vec<SettingChange>,
    /// Where it stands.
    pub status: ChangeRequestStatus,
    /// When it was proposed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When it expires if nobody decides.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    /// Who approved or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Their reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The version it became, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The rollout that starts when it is approved, if the publish asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollouts::RolloutPlan>,
    /// For an override: when the version before comes back.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<OffsetDateTime>,
}

/// `POST .../approve` or `.../reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why.
    pub reason: ChangeMessage,
}
