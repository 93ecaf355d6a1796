//! The audit trail as read over the wire: events, pages of them, and the chain check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::profile::SettingChange;

/// What was done. The names are stable: filters and exports use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditAction {
    /// A login, successful or not.
    #[serde(rename = "auth.login")]
    Login,
    /// A session refreshed (its refresh token used up and replaced).
    #[serde(rename = "auth.refresh")]
    Refresh,
    /// A used refresh token presented again: its whole session was ended.
    #[serde(rename = "auth.refresh-reused")]
    RefreshReused,
    /// A session ended by its owner.
    #[serde(rename = "auth.logout")]
    Logout,
    /// A user created.
    #[serde(rename = "user.create")]
    UserCreate,
    /// A user's password, role or state changed.
    #[serde(rename = "user.update")]
    UserUpdate,
    /// A role on an environment given or changed.
    #[serde(rename = "grant.put")]
    GrantPut,
    /// A role on an environment taken away.
    #[serde(rename = "grant.remove")]
    GrantRemove,
    /// An API token created.
    #[serde(rename = "token.create")]
    TokenCreate,
    /// An API token revoked.
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// An environment created.
    #[serde(rename = "environment.create")]
    EnvironmentCreate,
    /// An environment's description or protection changed.
    #[serde(rename = "environment.update")]
    EnvironmentUpdate,
    /// A machine role created.
    #[serde(rename = "machine-role.create")]
    MachineRoleCreate,
    /// An environment variable that runs code or changes TLS checks allowed in an
    /// environment's profiles, or its reason changed.
    #[serde(rename = "variable.allow")]
    VariableAllow,
    /// Such an allowance withdrawn.
    #[serde(rename = "variable.withdraw")]
    VariableWithdraw,
    /// A profile draft edited.
    #[serde(rename = "profile.edit")]
    ProfileEdit,
    /// A profile version published from its draft.
    #[serde(rename = "profile.publish")]
    ProfilePublish,
    /// An old version's content published again.
    #[serde(rename = "profile.rollback")]
    ProfileRollback,
    /// A change request opened in a protected environment.
    #[serde(rename = "change-request.open")]
    ChangeRequestOpen,
    /// A change request approved, and so published.
    #[serde(rename = "change-request.approve")]
    ChangeRequestApprove,
    /// A change request rejected.
    #[serde(rename = "change-request.reject")]
    ChangeRequestReject,
    /// The first signing key made.
    #[serde(rename = "signing-key.create")]
    SigningKeyCreate,
    /// A new signing key made, the old one retired.
    #[serde(rename = "signing-key.rotate")]
    SigningKeyRotate,
    /// An enrollment token created.
    #[serde(rename = "enrollment-token.create")]
    EnrollmentTokenCreate,
    /// An enrollment token revoked.
    #[serde(rename = "enrollment-token.revoke")]
    EnrollmentTokenRevoke,
    /// A machine enrolled, successfully or not.
    #[serde(rename = "device.enroll")]
    DeviceEnroll,
    /// A machine's enrollment revoked.
    #[serde(rename = "device.revoke")]
    DeviceRevoke,
    /// A machine moved to another environment or machine role.
    #[serde(rename = "device.move")]
    DeviceMove,
    /// A rollout began: a version went to its first wave (`detail` holds the plan).
    #[serde(rename = "rollout.start")]
    RolloutStart,
    /// A rollout moved to its next wave, by its gate or by hand (`detail` holds the gate's figures).
    #[serde(rename = "rollout.promote")]
    RolloutPromote,
    /// A rollout's last gate passed, or ops promoted it past its last wave: every machine has the version.
    #[serde(rename = "rollout.complete")]
    RolloutComplete,
    /// A rollout's gate failed and it stopped with the cohort on the new version (`detail` holds the figures).
    #[serde(rename = "rollout.halt")]
    RolloutHalt,
    /// A rollout's gate failed and the previous version came back for the cohort.
    #[serde(rename = "rollout.revert")]
    RolloutRevert,
    /// Ops paused a rollout.
    #[serde(rename = "rollout.pause")]
    RolloutPause,
    /// Ops resumed a paused or halted rollout.
    #[serde(rename = "rollout.resume")]
    RolloutResume,
    /// Ops aborted a rollout: the previous version came back for the cohort.
    #[serde(rename = "rollout.abort")]
    RolloutAbort,
    /// In a protected environment, someone asked to promote a rollout by hand; a second person confirms.
    #[serde(rename = "rollout.promotion-request")]
    RolloutPromotionRequest,
    /// Ops changed a machine's labels.
    #[serde(rename = "device.label")]
    DeviceLabel,
    /// An override ended at its time: the version before it came back (`detail.end_version`).
    #[serde(rename = "profile.override-end")]
    OverrideEnd,
    /// A publish of the profile superseded a standing override before its end: nothing will come back for it.
    #[serde(rename = "profile.override-superseded")]
    OverrideSuperseded,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 40] = [
        AuditAction::Login,
        AuditAction::Refresh,
        AuditAction::RefreshReused,
        AuditAction::Logout,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::GrantPut,
        AuditAction::GrantRemove,
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::EnvironmentCreate,
        AuditAction::EnvironmentUpdate,
        AuditAction::MachineRoleCreate,
        AuditAction::VariableAllow,
        AuditAction::VariableWithdraw,
        AuditAction::ProfileEdit,
        AuditAction::ProfilePublish,
        AuditAction::ProfileRollback,
        AuditAction::ChangeRequestOpen,
        AuditAction::ChangeRequestApprove,
        AuditAction::ChangeRequestReject,
        AuditAction::SigningKeyCreate,
        AuditAction::SigningKeyRotate,
        AuditAction::EnrollmentTokenCreate,
        AuditAction::EnrollmentTokenRevoke,
        AuditAction::DeviceEnroll,
        AuditAction::DeviceRevoke,
        AuditAction::DeviceMove,
        AuditAction::RolloutStart,
        AuditAction::RolloutPromote,
        AuditAction::RolloutComplete,
        AuditAction::RolloutHalt,
        AuditAction::RolloutRevert,
        AuditAction::RolloutPause,
        AuditAction::RolloutResume,
        AuditAction::RolloutAbort,
        AuditAction::RolloutPromotionRequest,
        AuditAction::DeviceLabel,
        AuditAction::OverrideEnd,
        AuditAction::OverrideSuperseded,
    ];

    /// The stable name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "auth.login",
            AuditAction::Refresh => "auth.refresh",
            AuditAction::RefreshReused => "auth.refresh-reused",
            AuditAction::Logout => "auth.logout",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::GrantPut => "grant.put",
            AuditAction::GrantRemove => "grant.remove",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::EnvironmentCreate => "environment.create",
            AuditAction::EnvironmentUpdate => "environment.update",
            AuditAction::MachineRoleCreate => "machine-role.create",
            AuditAction::VariableAllow => "variable.allow",
            AuditAction::VariableWithdraw => "variable.withdraw",
            AuditAction::ProfileEdit => "profile.edit",
            AuditAction::ProfilePublish => "profile.publish",
            AuditAction::ProfileRollback => "profile.rollback",
            AuditAction::ChangeRequestOpen => "change-request.open",
            AuditAction::ChangeRequestApprove => "change-request.approve",
            AuditAction::ChangeRequestReject => "change-request.reject",
            AuditAction::SigningKeyCreate => "signing-key.create",
            AuditAction::SigningKeyRotate => "signing-key.rotate",
            AuditAction::EnrollmentTokenCreate => "enrollment-token.create",
            AuditAction::EnrollmentTokenRevoke => "enrollment-token.revoke",
            AuditAction::DeviceEnroll => "device.enroll",
            AuditAction::DeviceRevoke => "device.revoke",
            AuditAction::DeviceMove => "device.move",
            AuditAction::RolloutStart => "rollout.start",
            AuditAction::RolloutPromote => "rollout.promote",
            AuditAction::RolloutComplete => "rollout.complete",
            AuditAction::RolloutHalt => "rollout.halt",
            AuditAction::RolloutRevert => "rollout.revert",
            AuditAction::RolloutPause => "rollout.pause",
            AuditAction::RolloutResume => "rollout.resume",
            AuditAction::RolloutAbort => "rollout.abort",
            AuditAction::RolloutPromotionRequest => "rollout.promotion-request",
            AuditAction::DeviceLabel => "device.label",
            AuditAction::OverrideEnd => "profile.override-end",
            AuditAction::OverrideSuperseded => "profile.override-superseded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_and_named_as_in_json() {
        for action in AuditAction::ALL {
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, action.as_str());
            assert_eq!(serde_json::from_value::<AuditAction>(json).unwrap(), action);
        }
        let names: std::collections::BTreeSet<_> =
            AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ActorKind {
    /// A person logged in with a password session.
    User,
    /// A person's API token (the actor is its owner; `detail.token` its id).
    ApiToken,
    /// An enrolled machine.
    Device,
    /// The server itself (bootstrap, expiry).
    System,
    /// Someone not (yet) authenticated, such as a failed login.
    Anonymous,
}

impl ActorKind {
    /// The name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiToken => "api-token",
            ActorKind::Device => "device",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Success,
    /// Tried and refused (a wrong password, a reused token).
    Failure,
}

impl Outcome {
    /// The name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Position in the trail: 1, 2, 3... without gaps.
    pub seq: u64,
    /// Unique id.
    pub id: Uuid,
    /// Server time, UTC.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    /// What kind of actor.
    pub actor_kind: ActorKind,
    /// The user name (for users and API tokens), device id, `system`, or empty.
    pub actor: String,
    /// The client's address: the peer, or what a trusted proxy forwarded.
    pub source: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// What was done.
    pub action: AuditAction,
    /// The environment concerned, if any.
    pub environment: Option<String>,
    /// The machine role concerned, if any.
    pub machine_role: Option<String>,
    /// What was acted on, such as `user:alice`, `profile:production/baseline@7`.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// For changes, setting by setting; secrets read `(secret)`.
    pub changes: Vec<SettingChange>,
    /// Further facts, such as a message, a reason or a token id.
    pub detail: BTreeMap<String, String>,
    /// The hash of the event before (64 zeros for the first).
    pub previous_hash: String,
    /// SHA-256 of this event's canonical content, `previous_hash` included.
    pub hash: String,
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The audit trail's head: its newest event's position and hash. The server signs it into
/// every delivery (context [`crate::signing::AUDIT_HEAD_CONTEXT`]); each machine reports the
/// latest it accepted, so the machines witness the trail: `audit verify` finds history that
/// was cut from the end or rewritten (hashes recomputed and all) unless every machine's
/// memory was rewritten too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// The newest event's position (0: no event).
    pub seq: u64,
    /// Its hash (64 zeros: no event).
    pub hash: String,
}

impl AuditHead {
    /// The head signed by `key`, as deliveries carry it.
    pub fn sign(&self, key: &ed25519_dalek::SigningKey) -> crate::signing::Signed {
        crate::signing::Signed::sign(crate::signing::AUDIT_HEAD_CONTEXT, self, key)
    }

    /// The head `signed` holds, once its signature checks out with the key `trusted` finds
    /// for its key id.
    pub fn open(
        signed: &crate::signing::Signed,
        trusted: impl Fn(&str) -> Option<ed25519_dalek::VerifyingKey>,
    ) -> Result<Self, crate::signing::SignatureError> {
        let bytes = signed.open(crate::signing::AUDIT_HEAD_CONTEXT, trusted)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| crate::signing::SignatureError::Malformed(e.to_string()))
    }
}

/// What walking the chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditVerification {
    /// Whether every link holds.
    pub intact: bool,
    /// Events checked.
    pub events: u64,
    /// The last event's position and hash: write them down elsewhere, and a later check can
    /// show that no events were cut from the end.
    pub head_seq: u64,
    /// The last event's hash.
    pub head_hash: String,
    /// The first broken link, when there is one.
    pub first_broken: Option<BrokenLink>,
    /// How many witnessed heads were checked against the chain: the machines' (each the
    /// newest it was sent) and, from the command line, signed checkpoints from a log.
    #[serde(default)]
    pub witnesses: u64,
}

/// Where the chain breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrokenLink {
    /// The position of the first event that does not fit.
    pub seq: u64,
    /// What is wrong: edited, missing before it, out of order...
    pub problem: String,
}
