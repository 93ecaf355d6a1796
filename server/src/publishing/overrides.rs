//! Time-boxed overrides: an emergency version published with an end time
//! ([`Release::Until`](super::Release::Until)). At that time [`Publishing::end_overrides`],
//! which the server runs at an interval, publishes the version before again, audited as the
//! system; a publish of the profile before then supersedes the override, audited with it.

use switchyard_proto::rollouts::{Override, OverrideState};
use switchyard_proto::{AuditAction, EnvironmentName};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{role_of, Publishing, PublishingError};
use crate::domain::audit::{AuditRecord, Origin};
use crate::domain::overrides::{self, OverrideRecord};
use crate::domain::profiles::{ProfileTarget, VersionRecord};
use crate::events::ProfilePublished;
use crate::store::StoreError;

/// `at` as the audit trail and messages write it (RFC 3339).
pub(super) fn time_text(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// Checks an override's end time at `now` ([`overrides::check_end`]).
pub(super) fn check_end(until: OffsetDateTime, now: OffsetDateTime) -> Result<(), PublishingError> {
    overrides::check_end(until, now).map_err(PublishingError::BadEnd)
}

impl Publishing {
    /// The override `version` starts, ending at `ends_at`.
    pub(super) fn overriding(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: &VersionRecord,
        ends_at: OffsetDateTime,
    ) -> OverrideRecord {
        OverrideRecord {
            id: Uuid::new_v4(),
            environment: environment.clone(),
            target: target.clone(),
            version: version.version,
            restore_version: version.version - 1,
            ends_at,
            state: OverrideState::Active,
            started_by: origin.actor.clone(),
            started_at: version.published_at,
            ended_at: None,
            end_version: None,
        }
    }

    /// The audit event of `superseded`, which `version` replaces before its end.
    pub(super) fn superseded_audit(
        &self,
        origin: &Origin,
        superseded: &OverrideRecord,
        version: &VersionRecord,
    ) -> AuditRecord {
        origin
            .record(
                AuditAction::OverrideSuperseded,
                format!("override:{}", superseded.id),
                version.published_at,
            )
            .in_environment(superseded.environment.as_str())
            .for_role(role_of(&superseded.target))
            .with_detail("version", superseded.version.to_string())
            .with_detail("superseded_by", version.version.to_string())
            .with_detail("until", time_text(superseded.ends_at))
    }

    /// The overrides of an environment, newest first.
    pub async fn overrides(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<Override>, PublishingError> {
        self.store.environment(environment).await?;
        Ok(self
            .store
            .overrides(environment)
            .await?
            .iter()
            .map(OverrideRecord::to_wire)
            .collect())
    }

    /// Ends every override whose time has come: the version before it is published again (as
    /// a rollback of it, by the system) and machines are told. Answers how many ended; one
    /// another server process ended first is left to it, and one that cannot be ended now (a
    /// database error) is logged and tried again at the next round, the others still ended.
    pub async fn end_overrides(&self) -> Result<usize, PublishingError> {
        let mut ended = 0;
        for until in self.store.due_overrides(self.now()).await? {
            match self.end_override(&until).await {
                Ok(true) => ended += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    override_id = %until.id, environment = %until.environment, %error,
                    "the override cannot be ended now"
                ),
            }
        }
        Ok(ended)
    }

    /// Ends `until`; answers whether this process did (not another one, or a publish first).
    async fn end_override(&self, until: &OverrideRecord) -> Result<bool, PublishingError> {
        let now = self.now();
        let (environment, target) = (&until.environment, &until.target);
        let old = self
            .store
            .version(environment, target, until.restore_version)
            .await?;
        let standing = self
            .store
            .version(environment, target, until.version)
            .await?;
        let message = format!(
            "override {} ended at {}: version {} again",
            until.id,
            time_text(until.ends_at),
            until.restore_version
        );
        let (restore, rollback) = self
            .restoring(
                &Origin::system(),
                (environment, target),
                &standing,
                old,
                message,
                now,
            )
            .await?;
        let version = &restore.version;
        let closed = OverrideRecord {
            state: OverrideState::Ended,
            ended_at: Some(now),
            end_version: Some(version.version),
            ..until.clone()
        };
        let ended = Origin::system()
            .record(
                AuditAction::OverrideEnd,
                format!("override:{}", until.id),
                now,
            )
            .in_environment(environment.as_str())
            .for_role(role_of(target))
            .with_detail("version", until.version.to_string())
            .with_detail("end_version", version.version.to_string())
            .with_detail("rollback_of", until.restore_version.to_string())
            .with_detail("until", time_text(until.ends_at))
            .with_detail("started_by", until.started_by.as_str());
        let rollback = rollback.with_detail("override", until.id.to_string());
        match self
            .store
            .end_override(&closed, &restore, &[ended, rollback])
            .await
        {
            Ok(()) => {}
            // Another server process ended it, or someone published meanwhile (which
            // superseded it): either way, nothing is left to do.
            Err(StoreError::OverrideMoved(_) | StoreError::VersionTaken(_)) => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        tracing::info!(
            %environment, profile = %target, version = version.version, "override ended"
        );
        self.events.profile_published(ProfilePublished {
            environment: environment.clone(),
            target: target.clone(),
            version: version.version,
        });
        Ok(true)
    }
}
