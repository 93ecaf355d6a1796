//! Rollouts as the server keeps them, and their rules: which machines a wave takes, what a
//! gate decides from the machines' reports, and which moves each state allows. No HTTP, no
//! SQL, no clock: the callers pass the time.

use std::collections::BTreeSet;

use sha2::{Digest as _, Sha256};
use switchyard_proto::devices::{EndpointKind, EndpointProbe};
use switchyard_proto::rollouts::{
    GateFigures, GateVerdict, Labels, Rollout, RolloutPlan, RolloutState, RolloutWave,
};
use switchyard_proto::{EnvironmentName, MachineRoleName, Profile};
use time::OffsetDateTime;
use uuid::Uuid;

use super::profiles::ProfileTarget;

/// A rollout as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRecord {
    /// Its id, which also seeds the share of machines each wave takes.
    pub id: Uuid,
    /// The environment.
    pub environment: EnvironmentName,
    /// Which profile it rolls out.
    pub target: ProfileTarget,
    /// The version machines outside the cohort keep.
    pub from_version: u64,
    /// The version the cohort gets.
    pub to_version: u64,
    /// Its waves and what happens on failure.
    pub plan: RolloutPlan,
    /// Where it stands.
    pub state: RolloutState,
    /// The current wave, from 0.
    pub wave: u32,
    /// When the current wave began (or was resumed).
    pub wave_started_at: OffsetDateTime,
    /// Counts transitions; each is made only on the revision it read.
    pub revision: u64,
    /// Who started it.
    pub started_by: String,
    /// When.
    pub started_at: OffsetDateTime,
    /// When it last moved.
    pub updated_at: OffsetDateTime,
    /// Why it last moved.
    pub reason: String,
    /// In a protected environment: who asked to promote by hand.
    pub promotion_requested_by: Option<String>,
    /// After an abort or revert: the version that brought the old content back.
    pub revert_version: Option<u64>,
}

/// Where a machine falls in `rollout`'s waves: `0..10_000`, from the first eight bytes of
/// SHA-256 over the rollout's id and the machine's id. A wave of `p` percent takes the
/// machines below `p × 100`, so a growing share keeps the machines it had, and each rollout
/// picks its own canaries.
pub fn share_bucket(rollout: Uuid, device: Uuid) -> u32 {
    let digest = Sha256::new()
        .chain_update(rollout.as_bytes())
        .chain_update(device.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 10_000) as u32
}

/// Whether `wave` of rollout `rollout` takes machine `device` with `labels`: named in it, or
/// carrying its labels and within its share.
fn takes(wave: &RolloutWave, rollout: Uuid, device: Uuid, labels: &Labels) -> bool {
    wave.machines.contains(&device)
        || (labels.matches(&wave.labels)
            && share_bucket(rollout, device) < u32::from(wave.percent) * 100)
}

/// A transition: the state after it, why, and whether the old content comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The rollout as it will be kept.
    pub after: RolloutRecord,
    /// What the audit trail calls it.
    pub action: switchyard_proto::AuditAction,
    /// Whether the previous version comes back for the cohort (abort, revert).
    pub reverts: bool,
    /// Whether what machines are sent changes (the cohort grows, everyone gets the version,
    /// or the old content comes back): a pause, halt, resume or request changes nothing.
    pub changes_delivery: bool,
}

/// A move a rollout's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {state} rollout cannot be {moved}")]
pub struct NotAllowed {
    /// The state it is in.
    pub state: &'static str,
    /// What was asked.
    pub moved: &'static str,
}

/// What ops (or a gate) ask of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Its gate passed.
    Pass,
    /// Its gate failed.
    Fail,
    /// Promote by hand.
    Promote,
    /// Ask for a promotion by hand, which a second person confirms (protected environments).
    RequestPromotion,
    /// Stop by hand, keeping the cohort on the new version.
    Pause,
    /// Go on after a pause or halt: the wave soaks again from now.
    Resume,
    /// Stop by hand, bringing the old version back.
    Abort,
}

impl Move {
    fn verb(self) -> &'static str {
        match self {
            Move::Pass => "passed",
            Move::Fail => "failed",
            Move::Promote => "promoted",
            Move::RequestPromotion => "asked to be promoted",
            Move::Pause => "paused",
            Move::Resume => "resumed",
            Move::Abort => "aborted",
        }
    }
}

impl RolloutRecord {
    /// Whether it rolls out a profile machines of `role` get.
    pub fn concerns(&self, role: &MachineRoleName) -> bool {
        match &self.target {
            ProfileTarget::Baseline => true,
            ProfileTarget::Role(target) => target == role,
        }
    }

    /// Whether machine `device` with `labels` is in the cohort now: taken by the current wave
    /// or an earlier one, while the rollout splits machines at all.
    pub fn includes(&self, device: Uuid, labels: &Labels) -> bool {
        self.state.is_active() && self.taken_by(self.wave as usize + 1, device, labels)
    }

    /// Whether one of the first `waves` waves takes `device` with `labels`. Labels are read
    /// as they are now: a machine relabelled during a rollout joins or leaves its cohort.
    fn taken_by(&self, waves: usize, device: Uuid, labels: &Labels) -> bool {
        self.plan
            .waves
            .iter()
            .take(waves)
            .any(|wave| takes(wave, self.id, device, labels))
    }

    /// The wave it is in.
    pub fn current_wave(&self) -> &RolloutWave {
        let last = self.plan.waves.len() - 1;
        &self.plan.waves[(self.wave as usize).min(last)]
    }

    /// The rollout after `moved` by `by` at `now`, with `reason`; a move its state does not
    /// allow is refused. A pass or a promotion goes to the next wave, or completes after the
    /// last; a failure halts, or reverts when the plan says so.
    pub fn moved(
        &self,
        moved: Move,
        by: &str,
        now: OffsetDateTime,
        reason: String,
    ) -> Result<Transition, NotAllowed> {
        use switchyard_proto::AuditAction as Action;
        use RolloutState::*;
        let refused = || NotAllowed {
            state: self.state.as_str(),
            moved: moved.verb(),
        };
        let mut after = RolloutRecord {
            revision: self.revision + 1,
            updated_at: now,
            reason,
            promotion_requested_by: None,
            ..self.clone()
        };
        let (action, reverts) = match (moved, self.state) {
            (Move::Pass, Running) | (Move::Promote, Running | Paused | Halted) => {
                if (self.wave as usize) + 1 < self.plan.waves.len() {
                    after.wave += 1;
                    after.wave_started_at = now;
                    after.state = Running;
                    (Action::RolloutPromote, false)
                } else {
                    after.state = Completed;
                    (Action::RolloutComplete, false)
                }
            }
            (Move::Fail, Running) if self.plan.revert_on_failure => {
                after.state = Reverted;
                (Action::RolloutRevert, true)
            }
            (Move::Fail, Running) => {
                after.state = Halted;
                (Action::RolloutHalt, false)
            }
            (Move::RequestPromotion, Running | Paused | Halted) => {
                after.promotion_requested_by = Some(by.to_owned());
                (Action::RolloutPromotionRequest, false)
            }
            (Move::Pause, Running) => {
                after.state = Paused;
                (Action::RolloutPause, false)
            }
            (Move::Resume, Paused | Halted) => {
                after.state = Running;
                after.wave_started_at = now;
                (Action::RolloutResume, false)
            }
            (Move::Abort, Running | Paused | Halted) => {
                after.state = Aborted;
                (Action::RolloutAbort, true)
            }
            _ => return Err(refused()),
        };
        let changes_delivery =
            reverts || matches!(action, Action::RolloutPromote | Action::RolloutComplete);
        Ok(Transition {
            after,
            action,
            reverts,
            changes_delivery,
        })
    }

    /// The rollout as the API shows it, with its gate as read now if given.
    pub fn to_wire(&self, gate: Option<GateFigures>) -> Rollout {
        Rollout {
            id: self.id,
            environment: self.environment.to_string(),
            target: self.target.to_string(),
            from_version: self.from_version,
            to_version: self.to_version,
            plan: self.plan.clone(),
            state: self.state,
            wave: self.wave,
            wave_started_at: self.wave_started_at,
            started_by: self.started_by.clone(),
            started_at: self.started_at,
            updated_at: self.updated_at,
            reason: self.reason.clone(),
            promotion_requested_by: self.promotion_requested_by.clone(),
            revert_version: self.revert_version,
            gate,
        }
    }
}

/// The endpoints a version changes, by kind and URL: those `to` names that `from` does not,
/// or all that `to` names when the way machines reach them changed (the proxies, their logins,
/// `no_proxy`, npm's and git's own proxies): what a gate watches. Both profiles as stored
/// (normalized), the rolled-out profile alone (a baseline or an overlay).
pub fn changed_endpoints(from: &Profile, to: &Profile) -> BTreeSet<(EndpointKind, String)> {
    let routes = |profile: &Profile| {
        (
            profile.proxy.clone(),
            profile
                .npm
                .as_ref()
                .map(|npm| (npm.proxy.clone(), npm.https_proxy.clone())),
            profile.git.as_ref().map(|git| git.http_proxy.clone()),
        )
    };
    let rerouted = routes(from) != routes(to);
    let before: BTreeSet<_> = from.endpoints().into_iter().collect();
    to.endpoints()
        .into_iter()
        .filter(|endpoint| rerouted || !before.contains(endpoint))
        .map(|endpoint| (endpoint.kind, endpoint.url.to_owned()))
        .collect()
}

/// A machine's latest report, as a gate reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The version of the rollout's profile it applied (baseline or overlay).
    pub version: u64,
    /// Whether a target failed (or was restored): the version did not apply.
    pub failed: bool,
    /// Its probes.
    pub probes: Vec<EndpointProbe>,
    /// When the server received it.
    pub reported_at: OffsetDateTime,
}

/// A machine of the rollout's environment (and role, for an overlay) as a gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Its id.
    pub id: Uuid,
    /// Its labels.
    pub labels: Labels,
    /// Its latest report, if any.
    pub report: Option<Observation>,
}

/// `machine`'s report if it is on `rollout`'s new version and made since the wave began.
fn fresh<'a>(machine: &'a Observed, rollout: &RolloutRecord) -> Option<&'a Observation> {
    machine.report.as_ref().filter(|report| {
        report.version == rollout.to_version && report.reported_at >= rollout.wave_started_at
    })
}

/// The current wave's gate over `machines` at `now`.
///
/// It reads the reports made on the new version since the wave began (or was resumed): the
/// waves before judged the older ones, and a resumed wave is judged afresh. It decides once the
/// wave soaked and at least `min_reported` of the machines this wave added reported (all of
/// them, when it added fewer; of the whole cohort when it added none; never while the cohort is
/// empty): it passes if failed applies stay within their share of the
/// reports and failed probes of `changed` endpoints within theirs of the probes, and fails
/// otherwise. Before then it fails as soon as it can no longer pass, however the rest of the
/// cohort fares (each share counted out of all the cohort could report): waiting cannot undo
/// failures the cohort already has.
pub fn gate(
    rollout: &RolloutRecord,
    machines: &[Observed],
    changed: &BTreeSet<(EndpointKind, String)>,
    now: OffsetDateTime,
) -> GateFigures {
    let wave = rollout.current_wave();
    let rule = wave.gate;
    let waves = rollout.wave as usize + 1;
    let cohort: Vec<&Observed> = machines
        .iter()
        .filter(|machine| rollout.taken_by(waves, machine.id, &machine.labels))
        .collect();
    let reports: Vec<&Observation> = cohort
        .iter()
        .filter_map(|machine| fresh(machine, rollout))
        .collect();
    let added: Vec<&&Observed> = cohort
        .iter()
        .filter(|machine| !rollout.taken_by(waves - 1, machine.id, &machine.labels))
        .collect();
    // The machines this wave added must show it; a wave that added none (its share already
    // taken by earlier waves) is judged on the whole cohort's fresh reports instead.
    let (judged, judged_reported) = match added.is_empty() {
        true => (cohort.len(), reports.len()),
        false => (
            added.len(),
            added
                .iter()
                .filter_map(|machine| fresh(machine, rollout))
                .count(),
        ),
    };
    let (judged, judged_reported) = (judged as u64, judged_reported as u64);
    let reported = reports.len() as u64;
    let failed_applies = reports.iter().filter(|report| report.failed).count() as u64;
    let watched: Vec<&EndpointProbe> = reports
        .iter()
        .flat_map(|report| report.probes.iter())
        .filter(|probe| changed.contains(&(probe.kind, probe.endpoint.as_str().to_owned())))
        .collect();
    let probes = watched.len() as u64;
    let failed_probes = watched
        .iter()
        .filter(|probe| !probe.outcome.reachable())
        .count() as u64;
    let soak = time::Duration::seconds(i64::try_from(wave.soak_secs).unwrap_or(i64::MAX));
    let soaked = now >= rollout.wave_started_at + soak;
    let needed = u64::from(rule.min_reported).min(judged);
    let over = |failed: u64, out_of: u64, percent: u8| failed * 100 > u64::from(percent) * out_of;
    // Until the gate can decide, a share is counted out of what the whole cohort could still
    // report: failing then means it can no longer pass, however the others fare.
    let decides = !cohort.is_empty() && soaked && judged_reported >= needed;
    let (applies_out_of, probes_out_of) = match decides {
        true => (reported, probes),
        false => (
            reported.max(cohort.len() as u64),
            probes.max(cohort.len() as u64 * changed.len() as u64),
        ),
    };
    let (verdict, reason) = if over(
        failed_applies,
        applies_out_of,
        rule.max_failed_applies_percent,
    ) {
        (
            GateVerdict::Failing,
            format!(
                "{failed_applies} of {reported} machines failed to apply version {} (at most {} % allowed)",
                rollout.to_version, rule.max_failed_applies_percent
            ),
        )
    } else if over(failed_probes, probes_out_of, rule.max_failed_probes_percent) {
        (
            GateVerdict::Failing,
            format!(
                "{failed_probes} of {probes} probes of endpoints version {} changed failed (at most {} % allowed)",
                rollout.to_version, rule.max_failed_probes_percent
            ),
        )
    } else if cohort.is_empty() {
        // Nothing to judge by: a mistyped machine id or labels nobody carries. It is not a
        // pass; ops look, then promote by hand or abort.
        (
            GateVerdict::Waiting,
            "the waves so far take no machine (check their machines and labels): promote by hand or abort"
                .to_owned(),
        )
    } else if judged_reported < needed {
        (
            GateVerdict::Waiting,
            format!(
                "{judged_reported} of the {needed} machines needed from this wave's {judged} reported on version {}",
                rollout.to_version
            ),
        )
    } else if !soaked {
        (
            GateVerdict::Waiting,
            format!(
                "soaking for {} seconds from the wave's start",
                wave.soak_secs
            ),
        )
    } else {
        (
            GateVerdict::Passing,
            format!(
                "{reported} machines reported on version {}: {failed_applies} failed applies, {failed_probes} of {probes} probes failed",
                rollout.to_version
            ),
        )
    };
    GateFigures {
        cohort: cohort.len() as u64,
        added: added.len() as u64,
        reported,
        failed_applies,
        probes,
        failed_probes,
        soaked,
        verdict,
        reason,
    }
}

#[cfg(test)]
mod tests;
