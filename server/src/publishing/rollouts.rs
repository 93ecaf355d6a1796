//! Rollouts: a published version that reaches a cohort first, wave by wave. A rollout starts
//! with its publish ([`Publishing::publish`] with a plan, or the approval of a change request
//! that carries one); its gates are checked by [`Publishing::check_rollouts`], which the
//! server runs at an interval; ops promote, pause, resume and abort by hand
//! ([`Publishing::move_rollout`]). Which machines a wave takes, what a gate decides and which
//! moves a state allows are `crate::domain::rollouts`'s rules; this reads what they need,
//! records what they decide, and tells the machines.

use std::collections::BTreeSet;

use switchyard_proto::devices::{EndpointKind, StatusReport, TargetState};
use switchyard_proto::rollouts::{GateFigures, GateVerdict, Rollout, RolloutPlan, RolloutState};
use switchyard_proto::{Environment, EnvironmentName};
use uuid::Uuid;

use super::{role_of, Publishing, PublishingError};
use crate::domain::audit::{AuditRecord, Origin};
use crate::domain::profiles::{ProfileTarget, Restore, VersionRecord};
use crate::domain::rollouts::{
    changed_endpoints, gate, Move, Observation, Observed, RolloutRecord, Transition,
};
use crate::events::ProfilePublished;
use crate::store::StoreError;

/// The plan as the audit trail keeps it.
pub(super) fn plan_text(plan: &RolloutPlan) -> String {
    serde_json::to_string(plan).unwrap_or_default()
}

/// A gate's figures as audit details.
fn with_figures(audit: AuditRecord, figures: &GateFigures) -> AuditRecord {
    audit
        .with_detail("cohort", figures.cohort.to_string())
        .with_detail("added", figures.added.to_string())
        .with_detail("reported", figures.reported.to_string())
        .with_detail("failed_applies", figures.failed_applies.to_string())
        .with_detail("probes", figures.probes.to_string())
        .with_detail("failed_probes", figures.failed_probes.to_string())
        .with_detail("gate", figures.reason.as_str())
}

impl Publishing {
    /// The version an abort or revert of `rollout` (moving to `after`) publishes: the old
    /// content again, as a rollback of the version before the rollout.
    async fn reverting(
        &self,
        origin: &Origin,
        rollout: &RolloutRecord,
        after: &RolloutRecord,
    ) -> Result<(Restore, AuditRecord), PublishingError> {
        let (environment, target) = (&rollout.environment, &rollout.target);
        let old = self
            .store
            .version(environment, target, rollout.from_version)
            .await?;
        let latest = self
            .store
            .latest_version(environment, target)
            .await?
            .ok_or(PublishingError::VersionNotFound(rollout.to_version))?;
        let message = format!(
            "rollout {} {}: {}",
            rollout.id,
            after.state.as_str(),
            after.reason
        );
        let (restore, audit) = self
            .restoring(
                origin,
                (environment, target),
                &latest,
                old,
                message,
                after.updated_at,
            )
            .await?;
        Ok((
            restore,
            audit.with_detail("rollout", rollout.id.to_string()),
        ))
    }

    /// The rollout `version` starts under `plan`: its first wave, from the version before.
    pub(super) fn starting(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: &VersionRecord,
        plan: RolloutPlan,
    ) -> RolloutRecord {
        let now = version.published_at;
        RolloutRecord {
            id: Uuid::new_v4(),
            environment: environment.clone(),
            target: target.clone(),
            from_version: version.version - 1,
            to_version: version.version,
            plan,
            state: RolloutState::Running,
            wave: 0,
            wave_started_at: now,
            revision: 1,
            started_by: origin.actor.clone(),
            started_at: now,
            updated_at: now,
            reason: version.message.clone(),
            promotion_requested_by: None,
            revert_version: None,
        }
    }

    /// The audit event of a rollout's start.
    pub(super) fn start_audit(&self, origin: &Origin, rollout: &RolloutRecord) -> AuditRecord {
        origin
            .record(
                switchyard_proto::AuditAction::RolloutStart,
                format!("rollout:{}", rollout.id),
                rollout.started_at,
            )
            .in_environment(rollout.environment.as_str())
            .for_role(role_of(&rollout.target))
            .with_detail("from_version", rollout.from_version.to_string())
            .with_detail("to_version", rollout.to_version.to_string())
            .with_detail("plan", plan_text(&rollout.plan))
    }

    /// The rollouts of an environment, newest first; active ones with their gate read now.
    pub async fn rollouts(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<Rollout>, PublishingError> {
        self.store.environment(environment).await?;
        let mut shown = Vec::new();
        for rollout in self.store.rollouts(environment).await? {
            shown.push(self.shown_rollout(rollout).await?);
        }
        Ok(shown)
    }

    /// One rollout of an environment, with its gate read now if it is active.
    pub async fn rollout(
        &self,
        environment: &EnvironmentName,
        id: Uuid,
    ) -> Result<Rollout, PublishingError> {
        let rollout = self.store.rollout(environment, id).await?;
        self.shown_rollout(rollout).await
    }

    async fn shown_rollout(&self, rollout: RolloutRecord) -> Result<Rollout, PublishingError> {
        let figures = match rollout.state.is_active() {
            true => Some(self.gate_of(&rollout).await?),
            false => None,
        };
        Ok(rollout.to_wire(figures))
    }

    /// The current wave's gate of `rollout`, from the machines' latest reports.
    async fn gate_of(&self, rollout: &RolloutRecord) -> Result<GateFigures, PublishingError> {
        let from = self
            .version_profile(&rollout.environment, &rollout.target, rollout.from_version)
            .await?;
        let to = self
            .version_profile(&rollout.environment, &rollout.target, rollout.to_version)
            .await?;
        let changed: BTreeSet<(EndpointKind, String)> = changed_endpoints(&from, &to);
        let machines: Vec<Observed> = self
            .store
            .devices(&rollout.environment)
            .await?
            .into_iter()
            .filter(|device| device.revoked_at.is_none() && rollout.concerns(&device.machine_role))
            .map(|device| {
                let report = device.last_report.as_ref().map(|kept| {
                    // A report that does not read back (it was checked when it came) counts
                    // as a failed apply rather than as nothing.
                    let sent = serde_json::from_str::<StatusReport>(&kept.report).ok();
                    Observation {
                        version: match rollout.target {
                            ProfileTarget::Baseline => kept.baseline_version,
                            ProfileTarget::Role(_) => kept.overlay_version,
                        },
                        failed: sent.as_ref().is_none_or(|sent| {
                            sent.targets.iter().any(|target| {
                                matches!(target.state, TargetState::Failed | TargetState::Restored)
                            })
                        }),
                        probes: sent.map(|sent| sent.probes).unwrap_or_default(),
                        reported_at: kept.reported_at,
                    }
                });
                Observed {
                    id: device.id,
                    labels: device.labels,
                    report,
                }
            })
            .collect();
        Ok(gate(rollout, &machines, &changed, self.now()))
    }

    /// Moves rollout `id` of `environment` by hand: promote, pause, resume or abort. In a
    /// protected environment a promotion by hand takes two people: the first asks, a second
    /// confirms.
    pub async fn move_rollout(
        &self,
        origin: &Origin,
        environment: &Environment,
        id: Uuid,
        requested: Move,
        reason: &str,
    ) -> Result<Rollout, PublishingError> {
        let rollout = self.store.rollout(&environment.name, id).await?;
        let moved = match (requested, &rollout.promotion_requested_by) {
            (Move::Promote, _) if !environment.protected => Move::Promote,
            (Move::Promote, Some(asker)) if *asker == origin.actor => {
                return Err(PublishingError::OwnPromotionRequest)
            }
            (Move::Promote, Some(_)) => Move::Promote,
            (Move::Promote, None) => Move::RequestPromotion,
            (other, _) => other,
        };
        // What the gate said when ops overrode it goes into the trail too.
        // Best effort: a gate that cannot be read must not stop an abort, the emergency brake.
        let figures = match rollout.state.is_active() {
            true => self.gate_of(&rollout).await.ok(),
            false => None,
        };
        let transition = rollout.moved(moved, &origin.actor, self.now(), reason.to_owned())?;
        let after = self
            .transition(origin, &rollout, transition, figures.as_ref())
            .await?;
        self.shown_rollout(after).await
    }

    /// Checks the gate of every running rollout, and promotes, halts or reverts those whose
    /// gate decided; answers how many moved. A rollout another server process moved first is
    /// left to it; one that cannot be checked (a database error) is logged and the others are
    /// checked still.
    pub async fn check_rollouts(&self) -> Result<usize, PublishingError> {
        let mut moved = 0;
        for rollout in self.store.active_rollouts().await? {
            if rollout.state != RolloutState::Running {
                continue;
            }
            match self.check_rollout(&rollout).await {
                Ok(true) => moved += 1,
                Ok(false) | Err(PublishingError::Store(StoreError::RolloutMoved(_))) => {}
                Err(error) => tracing::warn!(
                    rollout = %rollout.id, environment = %rollout.environment, %error,
                    "the rollout's gate cannot be checked"
                ),
            }
        }
        Ok(moved)
    }

    /// Checks `rollout`'s gate and moves it if the gate decided; answers whether it moved.
    async fn check_rollout(&self, rollout: &RolloutRecord) -> Result<bool, PublishingError> {
        let figures = self.gate_of(rollout).await?;
        let decided = match figures.verdict {
            GateVerdict::Waiting => return Ok(false),
            GateVerdict::Passing => Move::Pass,
            GateVerdict::Failing => Move::Fail,
        };
        let origin = Origin::system();
        let transition =
            rollout.moved(decided, &origin.actor, self.now(), figures.reason.clone())?;
        self.transition(&origin, rollout, transition, Some(&figures))
            .await?;
        Ok(true)
    }

    /// Keeps `transition` of `rollout` with its audit event (with the gate's `figures` when a
    /// gate decided it); an abort or revert publishes the old content again as the next
    /// version. Tells this process's waiting machines when what they are sent changes.
    async fn transition(
        &self,
        origin: &Origin,
        rollout: &RolloutRecord,
        transition: Transition,
        figures: Option<&GateFigures>,
    ) -> Result<RolloutRecord, PublishingError> {
        let Transition {
            mut after,
            action,
            reverts,
            changes_delivery,
        } = transition;
        let now = after.updated_at;
        let revert = match reverts {
            true => Some(self.reverting(origin, rollout, &after).await?),
            false => None,
        };
        after.revert_version = revert.as_ref().map(|(restore, _)| restore.version.version);
        let mut audit = origin
            .record(action, format!("rollout:{}", rollout.id), now)
            .in_environment(rollout.environment.as_str())
            .for_role(role_of(&rollout.target))
            .with_detail("reason", after.reason.as_str())
            .with_detail("wave", after.wave.to_string())
            .with_detail("state", after.state.as_str());
        if let Some(figures) = figures {
            audit = with_figures(audit, figures);
        }
        if let Some(number) = after.revert_version {
            audit = audit.with_detail("revert_version", number.to_string());
        }
        let mut audits = vec![audit];
        let revert = revert.map(|(version, published)| {
            audits.push(published);
            version
        });
        self.store
            .transition_rollout(&after, revert.as_ref(), changes_delivery, &audits)
            .await?;
        tracing::info!(
            by = %origin.actor, environment = %rollout.environment, rollout = %rollout.id,
            action = action.as_str(), wave = after.wave, reason = %after.reason, "rollout moved"
        );
        if changes_delivery {
            self.events.profile_published(ProfilePublished {
                environment: rollout.environment.clone(),
                target: rollout.target.clone(),
                version: after.revert_version.unwrap_or(after.to_version),
            });
        }
        Ok(after)
    }
}
