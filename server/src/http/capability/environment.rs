//! What the capabilities on one environment open: its profiles and its machines, bound to the
//! environment the path names, so a handler holding one cannot reach another environment.
//! Reading needs [`ReadEnvironment`]; changing needs [`OperateEnvironment`].

use std::ops::Deref;

use switchyard_proto::rollouts::{Labels, Override, Rollout};
use switchyard_proto::{
    ChangeRequest, Environment, EnvironmentName, MachineRole, MachineRoleName, Profile,
    ProfileDraft, VersionSummary,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{OperateEnvironment, ReadEnvironment};
use crate::auth::Access;
use crate::domain::audit::{AuditRecord, Origin};
use crate::domain::devices::{DeviceRecord, EnrollmentTokenRecord};
use crate::domain::profiles::ProfileTarget;
use crate::domain::rollouts::Move;
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;
use crate::publishing::{Effective, Publication, Publishing, Release};
use crate::store::Store;

impl ReadEnvironment {
    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The environment from the path.
    pub fn environment(&self) -> &EnvironmentName {
        &self.environment
    }

    /// The environment itself.
    pub async fn details(&self) -> Result<Environment, ApiError> {
        Ok(self.gate.store.environment(&self.environment).await?)
    }

    /// Every machine role, by name: each may have a profile here.
    pub async fn machine_roles(&self) -> Result<Vec<MachineRole>, ApiError> {
        Ok(self.gate.store.machine_roles().await?)
    }

    /// Its profiles, to read.
    pub fn profiles(&self) -> EnvironmentProfiles<'_> {
        EnvironmentProfiles {
            publishing: &self.gate.publishing,
            environment: &self.environment,
        }
    }

    /// Its machines, to read.
    pub fn devices(&self) -> EnvironmentDevices<'_> {
        EnvironmentDevices {
            store: self.gate.store.as_ref(),
            environment: &self.environment,
        }
    }
}

impl OperateEnvironment {
    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// What an operator of the environment may also do: read it.
    pub fn reader(&self) -> ReadEnvironment {
        ReadEnvironment {
            access: self.access.clone(),
            environment: self.environment.clone(),
            gate: self.gate.clone(),
        }
    }

    /// Every machine role, by name.
    pub async fn machine_roles(&self) -> Result<Vec<MachineRole>, ApiError> {
        Ok(self.gate.store.machine_roles().await?)
    }

    /// The environment from the path.
    pub fn environment(&self) -> &EnvironmentName {
        &self.environment
    }

    /// Its profiles, to read and change; the changes are recorded as the caller's, made from
    /// `from`.
    pub fn profiles(&self, from: &RequestOrigin) -> OperatedProfiles<'_> {
        OperatedProfiles {
            read: EnvironmentProfiles {
                publishing: &self.gate.publishing,
                environment: &self.environment,
            },
            origin: from.by(&self.access),
        }
    }

    /// Its enrollment tokens and machines, to read and change.
    pub fn devices(&self) -> OperatedDevices<'_> {
        OperatedDevices {
            read: EnvironmentDevices {
                store: self.gate.store.as_ref(),
                environment: &self.environment,
            },
            access: &self.access,
        }
    }
}

/// The profiles of one environment, to read.
#[derive(Debug, Clone, Copy)]
pub struct EnvironmentProfiles<'a> {
    publishing: &'a Publishing,
    environment: &'a EnvironmentName,
}

impl EnvironmentProfiles<'_> {
    /// The environment, checked to exist.
    pub async fn environment(&self) -> Result<Environment, ApiError> {
        self.checked(&ProfileTarget::Baseline).await
    }

    /// The environment, checked to exist with `target`'s machine role.
    pub async fn checked(&self, target: &ProfileTarget) -> Result<Environment, ApiError> {
        Ok(self
            .publishing
            .checked_environment(self.environment, target)
            .await?)
    }

    /// The draft of `target` as it stands.
    pub async fn draft(&self, target: &ProfileTarget) -> Result<ProfileDraft, ApiError> {
        self.checked(target).await?;
        Ok(self.publishing.draft(self.environment, target).await?)
    }

    /// The published versions of `target`, oldest first.
    pub async fn versions(&self, target: &ProfileTarget) -> Result<Vec<VersionSummary>, ApiError> {
        self.checked(target).await?;
        Ok(self.publishing.versions(self.environment, target).await?)
    }

    /// The newest version number of `target` (0: none yet).
    pub async fn latest_version(&self, target: &ProfileTarget) -> Result<u64, ApiError> {
        self.checked(target).await?;
        Ok(self
            .publishing
            .latest_version(self.environment, target)
            .await?)
    }

    /// Version `number` of `target` and its profile.
    pub async fn version(
        &self,
        target: &ProfileTarget,
        number: u64,
    ) -> Result<(VersionSummary, Profile), ApiError> {
        self.checked(target).await?;
        Ok(self
            .publishing
            .version(self.environment, target, number)
            .await?)
    }

    /// What changes between two versions of `target` ([`Publishing::diff`]).
    pub async fn diff(
        &self,
        target: &ProfileTarget,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<(u64, u64, Vec<switchyard_proto::profile::SettingChange>), ApiError> {
        self.checked(target).await?;
        Ok(self
            .publishing
            .diff(self.environment, target, from, to)
            .await?)
    }

    /// What a machine of `role` (or of none) gets.
    pub async fn effective(&self, role: Option<&MachineRoleName>) -> Result<Effective, ApiError> {
        Ok(self.publishing.effective(self.environment, role).await?)
    }

    /// The change requests, newest first.
    pub async fn change_requests(&self) -> Result<Vec<ChangeRequest>, ApiError> {
        Ok(self.publishing.change_requests(self.environment).await?)
    }

    /// One change request.
    pub async fn change_request(&self, id: Uuid) -> Result<ChangeRequest, ApiError> {
        Ok(self.publishing.change_request(self.environment, id).await?)
    }

    /// The rollouts, newest first, active ones with their gate read now.
    pub async fn rollouts(&self) -> Result<Vec<Rollout>, ApiError> {
        Ok(self.publishing.rollouts(self.environment).await?)
    }

    /// One rollout.
    pub async fn rollout(&self, id: Uuid) -> Result<Rollout, ApiError> {
        Ok(self.publishing.rollout(self.environment, id).await?)
    }

    /// The overrides, newest first.
    pub async fn overrides(&self) -> Result<Vec<Override>, ApiError> {
        Ok(self.publishing.overrides(self.environment).await?)
    }

    /// The variables an admin allowed in the profiles, by name.
    pub async fn variable_allowances(
        &self,
    ) -> Result<Vec<switchyard_proto::VariableAllowance>, ApiError> {
        Ok(self
            .publishing
            .variable_allowances(self.environment)
            .await?)
    }
}

/// The profiles of one environment, to read and change as one caller.
#[derive(Debug)]
pub struct OperatedProfiles<'a> {
    read: EnvironmentProfiles<'a>,
    origin: Origin,
}

impl<'a> Deref for OperatedProfiles<'a> {
    type Target = EnvironmentProfiles<'a>;

    fn deref(&self) -> &Self::Target {
        &self.read
    }
}

impl OperatedProfiles<'_> {
    /// Replaces the draft of `target` edited at revision `expected`.
    pub async fn save_draft(
        &self,
        target: &ProfileTarget,
        expected: u64,
        edited: Profile,
    ) -> Result<ProfileDraft, ApiError> {
        self.checked(target).await?;
        let environment = self.read.environment;
        Ok(self
            .read
            .publishing
            .save_draft(&self.origin, environment, target, expected, edited)
            .await?)
    }

    /// Publishes the draft of `target` (or proposes it, in a protected environment), released
    /// as `release`.
    pub async fn publish(
        &self,
        target: &ProfileTarget,
        draft_revision: u64,
        message: &str,
        release: Release,
    ) -> Result<Publication, ApiError> {
        let environment = self.checked(target).await?;
        Ok(self
            .read
            .publishing
            .publish(
                &self.origin,
                &environment,
                target,
                draft_revision,
                message,
                release,
            )
            .await?)
    }

    /// Promotes, pauses, resumes or aborts rollout `id` by hand.
    pub async fn move_rollout(
        &self,
        id: Uuid,
        requested: Move,
        reason: &str,
    ) -> Result<Rollout, ApiError> {
        let environment = self.environment().await?;
        Ok(self
            .read
            .publishing
            .move_rollout(&self.origin, &environment, id, requested, reason)
            .await?)
    }

    /// Publishes version `to_version`'s content of `target` again (or proposes it).
    pub async fn rollback(
        &self,
        target: &ProfileTarget,
        based_on_version: u64,
        to_version: u64,
        message: &str,
    ) -> Result<Publication, ApiError> {
        let environment = self.checked(target).await?;
        Ok(self
            .read
            .publishing
            .rollback(
                &self.origin,
                &environment,
                target,
                based_on_version,
                to_version,
                message,
            )
            .await?)
    }

    /// Approves change request `id`, which publishes it.
    pub async fn approve(
        &self,
        id: Uuid,
        reason: &str,
    ) -> Result<(ProfileTarget, VersionSummary), ApiError> {
        let environment = self.read.environment;
        Ok(self
            .read
            .publishing
            .approve(&self.origin, environment, id, reason)
            .await?)
    }

    /// Rejects change request `id`.
    pub async fn reject(&self, id: Uuid, reason: &str) -> Result<ChangeRequest, ApiError> {
        let environment = self.read.environment;
        Ok(self
            .read
            .publishing
            .reject(&self.origin, environment, id, reason)
            .await?)
    }
}

/// The machines of one environment, to read.
#[derive(Debug, Clone, Copy)]
pub struct EnvironmentDevices<'a> {
    store: &'a dyn Store,
    environment: &'a EnvironmentName,
}

impl EnvironmentDevices<'_> {
    /// The machines enrolled here, by host name.
    pub async fn devices(&self) -> Result<Vec<DeviceRecord>, ApiError> {
        self.store.environment(self.environment).await?;
        Ok(self.store.devices(self.environment).await?)
    }
}

/// The enrollment tokens and machines of one environment, to read and change.
#[derive(Debug, Clone, Copy)]
pub struct OperatedDevices<'a> {
    read: EnvironmentDevices<'a>,
    access: &'a Access,
}

impl<'a> Deref for OperatedDevices<'a> {
    type Target = EnvironmentDevices<'a>;

    fn deref(&self) -> &Self::Target {
        &self.read
    }
}

impl OperatedDevices<'_> {
    fn store(&self) -> &dyn Store {
        self.read.store
    }

    /// Keeps a new enrollment token, which must be for this environment.
    pub async fn create_enrollment_token(
        &self,
        token: &EnrollmentTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        if &token.environment != self.read.environment {
            return Err(ApiError::Forbidden(format!(
                "an enrollment token for {} needs the ops role there",
                token.environment
            )));
        }
        self.store().environment(self.read.environment).await?;
        self.store().machine_role(&token.machine_role).await?;
        Ok(self.store().create_enrollment_token(token, audit).await?)
    }

    /// The enrollment tokens, newest first.
    pub async fn enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>, ApiError> {
        self.store().environment(self.read.environment).await?;
        Ok(self
            .store()
            .enrollment_tokens(self.read.environment)
            .await?)
    }

    /// Revokes enrollment token `id`.
    pub async fn revoke_enrollment_token(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        Ok(self
            .store()
            .revoke_enrollment_token(self.read.environment, id, now, audit)
            .await?)
    }

    /// The machine `id`, if it is enrolled here: a machine of another environment is as good
    /// as unknown.
    pub async fn device(&self, id: Uuid) -> Result<DeviceRecord, ApiError> {
        let device = self.store().device(id).await?;
        match &device.environment == self.read.environment {
            true => Ok(device),
            false => Err(ApiError::DeviceNotFound(id.to_string())),
        }
    }

    /// Revokes machine `id` of this environment.
    pub async fn revoke_device(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        let device = self.device(id).await?;
        Ok(self.store().revoke_device(device.id, now, audit).await?)
    }

    /// Replaces the labels of machine `id` of this environment; answers the machine.
    pub async fn set_labels(
        &self,
        id: Uuid,
        labels: &Labels,
        audit: &AuditRecord,
    ) -> Result<DeviceRecord, ApiError> {
        let device = self.device(id).await?;
        self.store()
            .set_device_labels(device.id, self.read.environment, labels, audit)
            .await?;
        Ok(self.store().device(device.id).await?)
    }

    /// Moves machine `id` of this environment to `environment` and `machine_role`, which
    /// needs the ops role there too; answers the machine as moved.
    pub async fn move_device(
        &self,
        id: Uuid,
        environment: &EnvironmentName,
        machine_role: &MachineRoleName,
        audit: &AuditRecord,
    ) -> Result<DeviceRecord, ApiError> {
        let device = self.device(id).await?;
        if !self.access.can_operate(environment) {
            return Err(ApiError::Forbidden(format!(
                "moving a machine to {environment} needs the ops role there too"
            )));
        }
        self.store().environment(environment).await?;
        self.store().machine_role(machine_role).await?;
        self.store()
            .move_device(device.id, environment, machine_role, audit)
            .await?;
        Ok(self.store().device(device.id).await?)
    }
}
