//! Four-eyes approval. In a protected environment a publish or rollback becomes a change
//! request; a different person with ops on the environment (or an admin) approves it, which
//! publishes it, or rejects it. A request whose base version is no longer the latest cannot be
//! approved, and requests expire ([`ChangeRequestRecord::status_at`]).

use switchyard_proto::profile::SettingChange;
use switchyard_proto::{
    AuditAction, ChangeRequest, ChangeRequestStatus, EnvironmentName, VersionSummary,
};
use uuid::Uuid;

use super::{overrides, role_of, NextVersion, Publishing, PublishingError, Release};
use crate::domain::audit::Origin;
use crate::domain::profiles::{ChangeRequestRecord, ProfileTarget, PublishKind, VersionRecord};

impl Publishing {
    /// The request as people see it, with what it would change against its base version.
    pub(super) fn shown(
        &self,
        environment: &EnvironmentName,
        request: &ChangeRequestRecord,
        changes: Vec<SettingChange>,
    ) -> ChangeRequest {
        ChangeRequest {
            id: request.id,
            environment: environment.clone(),
            target: request.target.to_string(),
            proposer: request.proposer.clone(),
            message: request.message.clone(),
            base_version: request.base_version,
            rollback_of: request.rollback_of,
            changes,
            status: request.status_at(self.now()),
            created_at: request.created_at,
            expires_at: request.expires_at,
            decided_by: request.decided_by.clone(),
            reason: request.reason.clone(),
            version: request.version,
            rollout: request.rollout.clone(),
            until: request.until,
        }
    }

    /// `request` as people see it: its changes read from its base version.
    async fn show(
        &self,
        environment: &EnvironmentName,
        request: &ChangeRequestRecord,
    ) -> Result<ChangeRequest, PublishingError> {
        let base = self
            .version_profile(environment, &request.target, request.base_version)
            .await?;
        let changes = base.diff(&self.open(&request.document)?);
        Ok(self.shown(environment, request, changes))
    }

    /// The change requests of an environment, newest first.
    pub async fn change_requests(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<ChangeRequest>, PublishingError> {
        self.store.environment(environment).await?;
        let mut shown = Vec::new();
        for request in self.store.change_requests(environment).await? {
            shown.push(self.show(environment, &request).await?);
        }
        Ok(shown)
    }

    /// One change request of an environment.
    pub async fn change_request(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
    ) -> Result<ChangeRequest, PublishingError> {
        let request = self.store.change_request(environment, id).await?;
        self.show(environment, &request).await
    }

    /// The request `id` if it can still be decided.
    async fn open_request(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
    ) -> Result<ChangeRequestRecord, PublishingError> {
        self.store.environment(environment).await?;
        let request = self.store.change_request(environment, id).await?;
        match request.status_at(self.now()) {
            ChangeRequestStatus::Open => Ok(request),
            _ => Err(PublishingError::ChangeRequestClosed(request.id)),
        }
    }

    /// Approves change request `id`, which publishes it: not by its proposer, not once its
    /// base version is no longer the latest, nor after it expired. Answers the profile it
    /// published and the new version.
    pub async fn approve(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        id: Uuid,
        reason: &str,
    ) -> Result<(ProfileTarget, VersionSummary), PublishingError> {
        let request = self.open_request(environment, id).await?;
        if origin.actor == request.proposer {
            return Err(PublishingError::OwnChangeRequest);
        }
        let latest = self
            .store
            .latest_version(environment, &request.target)
            .await?;
        let latest_number = VersionRecord::number(latest.as_ref());
        if latest_number != request.base_version {
            return Err(PublishingError::StaleVersion {
                latest: latest_number,
            });
        }
        let latest_hash = match &latest {
            Some(version) => self.hash_of(&version.document)?,
            None => String::new(),
        };
        let request_hash = self.hash_of(&request.document)?;
        let draft_revision = self
            .untouched_draft_revision(environment, &request.target, &[&latest_hash, &request_hash])
            .await?;
        let proposed = self.open(&request.document)?;
        // Allowed when it was proposed, perhaps withdrawn since.
        self.check_variables(environment, &proposed).await?;
        let next = NextVersion {
            previous: self.open_version(latest.as_ref())?,
            profile: proposed,
            record: VersionRecord {
                version: latest_number + 1,
                document: request.document,
                content_hash: request_hash,
                author: request.proposer,
                message: request.message,
                rollback_of: request.rollback_of,
                published_at: self.now(),
            },
        };
        let kind = PublishKind::Approval {
            draft_revision,
            change_request: request.id,
            decided_by: origin.actor.clone(),
            reason: reason.to_owned(),
        };
        let release = Release::of(request.rollout, request.until);
        if let Release::Until(until) = release {
            overrides::check_end(until, self.now())?;
        }
        let target = request.target;
        let published = self
            .record(origin, environment, &target, next, &kind, release)
            .await?;
        Ok((target, published))
    }

    /// Rejects change request `id`, with a reason.
    pub async fn reject(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        id: Uuid,
        reason: &str,
    ) -> Result<ChangeRequest, PublishingError> {
        let request = self.open_request(environment, id).await?;
        let now = self.now();
        let audit = origin
            .record(
                AuditAction::ChangeRequestReject,
                format!("change-request:{}", request.id),
                now,
            )
            .in_environment(environment.as_str())
            .for_role(role_of(&request.target))
            .with_detail("proposer", request.proposer.as_str())
            .with_detail("reason", reason);
        self.store
            .reject_change_request(environment, request.id, &origin.actor, reason, now, &audit)
            .await?;
        tracing::info!(by = %origin.actor, %environment, change_request = %request.id, "change rejected");
        let decided = self.store.change_request(environment, request.id).await?;
        self.show(environment, &decided).await
    }
}
