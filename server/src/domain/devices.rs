//! Enrollment tokens and enrolled machines as the server keeps them.

use switchyard_proto::devices::{Device, EnrollmentToken};
use switchyard_proto::rollouts::Labels;
use switchyard_proto::{EnvironmentName, MachineRoleName};
use time::OffsetDateTime;
use uuid::Uuid;

/// An enrollment token as kept: its secret only as a hash.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentTokenRecord {
    /// Its id.
    pub id: Uuid,
    /// SHA-256 of its secret.
    pub token_hash: String,
    /// Where machines enroll.
    pub environment: EnvironmentName,
    /// As what.
    pub machine_role: MachineRoleName,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
    /// Until when it works.
    pub expires_at: OffsetDateTime,
    /// How many machines may enroll with it.
    pub max_uses: u64,
    /// How many have.
    pub uses: u64,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// The labels machines enrolled with it get.
    pub labels: Labels,
}

/// The hash stays out of logs.
impl std::fmt::Debug for EnrollmentTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentTokenRecord")
            .field("id", &self.id)
            .field("environment", &self.environment)
            .field("machine_role", &self.machine_role)
            .finish_non_exhaustive()
    }
}

/// Why an enrollment token does not admit a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Past its expiry.
    #[error("the enrollment token has expired")]
    Expired,
    /// As many machines enrolled as it allows.
    #[error("the enrollment token has been used as often as it allows")]
    UsedUp,
    /// Revoked by ops.
    #[error("the enrollment token was revoked")]
    Revoked,
}

impl EnrollmentTokenRecord {
    /// The token as the API lists it.
    pub fn to_wire(&self) -> EnrollmentToken {
        EnrollmentToken {
            id: self.id,
            environment: self.environment.to_string(),
            machine_role: self.machine_role.to_string(),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_uses: self.max_uses,
            uses: self.uses,
            revoked_at: self.revoked_at,
            labels: self.labels.clone(),
        }
    }

    /// Whether it admits one more machine at `now`.
    pub fn check_usable(&self, now: OffsetDateTime) -> Result<(), Unusable> {
        if self.revoked_at.is_some() {
            return Err(Unusable::Revoked);
        }
        if self.expires_at <= now {
            return Err(Unusable::Expired);
        }
        if self.uses >= self.max_uses {
            return Err(Unusable::UsedUp);
        }
        Ok(())
    }
}

/// An enrolled machine as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Its id.
    pub id: Uuid,
    /// Its Ed25519 public key, base64url.
    pub public_key: String,
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// The user its agent runs as.
    pub username: String,
    /// Its environment.
    pub environment: EnvironmentName,
    /// Its machine role.
    pub machine_role: MachineRoleName,
    /// The token it enrolled with.
    pub enrollment_token: Uuid,
    /// When it enrolled.
    pub enrolled_at: OffsetDateTime,
    /// When it last made a request.
    pub last_seen_at: Option<OffsetDateTime>,
    /// When its enrollment was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Its labels, which rollouts choose cohorts by.
    pub labels: Labels,
    /// What it last reported.
    pub last_report: Option<ReportRecord>,
}

/// A machine's status report as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// The report as sent (JSON).
    pub report: String,
    /// When it came.
    pub reported_at: OffsetDateTime,
    /// The delivery sequence applied.
    pub sequence: u64,
    /// The baseline version applied.
    pub baseline_version: u64,
    /// The overlay version applied.
    pub overlay_version: u64,
    /// Whether all was well.
    pub healthy: bool,
    /// The audit trail's head the machine was last sent, its signature checked: kept when
    /// it is not older than the one kept.
    pub witnessed: Option<switchyard_proto::AuditHead>,
}

impl DeviceRecord {
    /// The machine as the API lists it.
    pub fn to_wire(&self) -> Device {
        Device {
            id: self.id,
            hostname: self.hostname.clone(),
            os: self.os.clone(),
            username: self.username.clone(),
            environment: self.environment.to_string(),
            machine_role: self.machine_role.to_string(),
            enrolled_at: self.enrolled_at,
            last_seen_at: self.last_seen_at,
            revoked_at: self.revoked_at,
            labels: self.labels.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    #[test]
    fn a_token_admits_machines_until_it_expires_is_used_up_or_revoked() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let token = EnrollmentTokenRecord {
            id: Uuid::new_v4(),
            token_hash: "hash".into(),
            environment: EnvironmentName::parse("dev").unwrap(),
            machine_role: MachineRoleName::parse("backend").unwrap(),
            created_by: "olivia".into(),
            created_at: now,
            expires_at: now + Duration::hours(1),
            max_uses: 2,
            uses: 1,
            revoked_at: None,
            labels: Labels::default(),
        };
        assert_eq!(token.check_usable(now), Ok(()));
        assert_eq!(
            token.check_usable(now + Duration::hours(1)),
            Err(Unusable::Expired)
        );
        let used_up = EnrollmentTokenRecord {
            uses: 2,
            ..token.clone()
        };
        assert_eq!(used_up.check_usable(now), Err(Unusable::UsedUp));
        let revoked = EnrollmentTokenRecord {
            revoked_at: Some(now),
            ..token.clone()
        };
        assert_eq!(revoked.check_usable(now), Err(Unusable::Revoked));
        assert!(!format!("{token:?}").contains("hash"));
    }
}
