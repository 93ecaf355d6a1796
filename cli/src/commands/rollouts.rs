//! `rollout`: versions published in waves, followed and moved by hand.

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use switchyard_proto::rollouts::Rollout;
use switchyard_proto::versions::ProfileDraft;

use super::{env_path, message, Failure};
use crate::api::{segment, Api, ApiError};
use crate::output::Out;
use crate::profiles;

/// `rollout ...`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Publish a profile's draft in waves (in a protected environment: propose it).
    Start(Start),
    /// An environment's rollouts, newest first.
    List {
        /// The environment.
        environment: String,
    },
    /// One rollout with its current wave's gate; `--watch` follows it until it ends.
    Status {
        /// The environment.
        environment: String,
        /// The rollout's id.
        id: String,
        /// Print it again whenever it moves, until it ends.
        #[arg(long)]
        watch: bool,
        /// Seconds between reads when watching (5 to 3600).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(5..=3600))]
        interval: u64,
    },
    /// Promote to the next wave now (in a protected environment: ask, then a second person
    /// confirms).
    Promote(Move),
    /// Pause: the cohort keeps the new version.
    Pause(Move),
    /// Resume a paused or halted rollout.
    Resume(Move),
    /// Abort: the previous version comes back for the cohort.
    Abort(Move),
}

/// A draft published in waves: each wave a share of the machines, soaking, then gated.
#[derive(Debug, clap::Args)]
pub struct Start {
    /// The environment.
    environment: String,
    /// `baseline` or a machine role.
    target: String,
    /// Why, kept with the version and in the audit trail.
    #[arg(long, short)]
    message: String,
    /// The waves' shares of the machines in percent, in order: `10,50` (then all).
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "plan_file",
        required_unless_present = "plan_file"
    )]
    waves: Vec<u8>,
    /// Minutes each wave's machines run the version before its gate may pass.
    #[arg(long, default_value_t = 60)]
    soak_minutes: u64,
    /// Machines of a wave that must report on the version.
    #[arg(long, default_value_t = 1)]
    min_reported: u32,
    /// Most failed applies, in percent of a wave's reports.
    #[arg(long, default_value_t = 0)]
    max_failed_applies: u8,
    /// Most failed probes of changed endpoints, in percent.
    #[arg(long, default_value_t = 0)]
    max_failed_probes: u8,
    /// A failing gate brings the previous version back.
    #[arg(long)]
    revert_on_failure: bool,
    /// The whole plan as the API's JSON (waves with labels and named machines) instead.
    #[arg(long = "plan")]
    plan_file: Option<std::path::PathBuf>,
}

impl Start {
    /// The plan, as the API reads it (its rules are the server's).
    fn plan(&self) -> Result<serde_json::Value, Failure> {
        if let Some(path) = &self.plan_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
            return serde_json::from_str(&text)
                .map_err(|e| Failure::Usage(format!("{} is not JSON: {e}", path.display())));
        }
        let waves: Vec<serde_json::Value> = self
            .waves
            .iter()
            .map(|percent| {
                json!({
                    "percent": percent,
                    "soak_secs": self.soak_minutes.saturating_mul(60),
                    "gate": {
                        "min_reported": self.min_reported,
                        "max_failed_applies_percent": self.max_failed_applies,
                        "max_failed_probes_percent": self.max_failed_probes,
                    },
                })
            })
            .collect();
        Ok(json!({ "waves": waves, "revert_on_failure": self.revert_on_failure }))
    }
}

/// A rollout and why it is moved.
#[derive(Debug, clap::Args)]
pub struct Move {
    /// The environment.
    environment: String,
    /// The rollout's id.
    id: String,
    /// Why, for the audit trail.
    #[arg(long)]
    reason: String,
}

fn rollout_line(rollout: &Rollout) -> String {
    let mut line = format!(
        "{} {}: version {} -> {}, {}, wave {} of {}",
        rollout.id,
        rollout.target,
        rollout.from_version,
        rollout.to_version,
        rollout.state.as_str(),
        rollout.wave + 1,
        rollout.plan.waves.len()
    );
    if let Some(gate) = &rollout.gate {
        line.push_str(&format!(
            "; gate {}: {} ({} of {} reported, {} failed applies, {} of {} probes failed)",
            gate.verdict.as_str(),
            gate.reason,
            gate.reported,
            gate.added,
            gate.failed_applies,
            gate.failed_probes,
            gate.probes
        ));
    }
    if let Some(asker) = &rollout.promotion_requested_by {
        line.push_str(&format!("; promotion asked by {asker}"));
    }
    line
}

/// `rollout ...`.
pub fn rollout(api: &mut Api, out: Out, command: RolloutCommand) -> Result<u8, Failure> {
    let (to_move, step) = match command {
        RolloutCommand::Start(start) => {
            let base = profiles::base(&start.environment, &start.target);
            let draft: ProfileDraft = api.get(&format!("{base}/draft"))?;
            let body = json!({
                "message": message("message", &start.message)?,
                "draft_revision": draft.revision,
                "rollout": start.plan()?,
            });
            let (status, answer) =
                api.send("POST", &format!("{base}/publish"), Some(&body), None)?;
            match (out.is_json(), status) {
                (true, _) => out.json(&answer)?,
                (false, 202) => out.line(&format!(
                    "proposed {}/{} in waves: change request {} waits for a second person",
                    start.environment, start.target, answer["id"].as_str().unwrap_or("?")
                ))?,
                (false, _) => out.line(&format!(
                    "published {}/{} as version {}, rolling out in waves: `switchyard rollout list {}`",
                    start.environment, start.target, answer["version"], start.environment
                ))?,
            }
            return Ok(0);
        }
        RolloutCommand::List { environment } => {
            let rollouts: Vec<Rollout> =
                api.get(&format!("{}/rollouts", env_path(&environment)))?;
            match out.is_json() {
                true => out.json(&rollouts)?,
                false if rollouts.is_empty() => out.line("no rollout")?,
                false => {
                    for rollout in &rollouts {
                        out.line(&rollout_line(rollout))?;
                    }
                }
            }
            return Ok(0);
        }
        RolloutCommand::Status {
            environment,
            id,
            watch,
            interval,
        } => {
            let path = format!("{}/rollouts/{}", env_path(&environment), segment(&id));
            let mut last = String::new();
            loop {
                let rollout: Rollout = api.get(&path)?;
                let shown = match out.is_json() {
                    true => serde_json::to_string(&rollout).unwrap_or_default(),
                    false => rollout_line(&rollout),
                };
                // Printed when it moves: a watch shows progress, not the same line again.
                if shown != last {
                    out.line(&shown)?;
                    last = shown;
                }
                if !watch || !rollout.state.is_active() {
                    return Ok(0);
                }
                std::thread::sleep(Duration::from_secs(interval));
            }
        }
        RolloutCommand::Promote(to_move) => (to_move, "promote"),
        RolloutCommand::Pause(to_move) => (to_move, "pause"),
        RolloutCommand::Resume(to_move) => (to_move, "resume"),
        RolloutCommand::Abort(to_move) => (to_move, "abort"),
    };
    let path = format!(
        "{}/rollouts/{}/{step}",
        env_path(&to_move.environment),
        segment(&to_move.id)
    );
    let body = json!({ "reason": message("reason", &to_move.reason)? });
    let (status, answer) = api.send("POST", &path, Some(&body), None)?;
    let rollout: Rollout = serde_json::from_value(answer).map_err(|e| ApiError::Malformed {
        what: format!("POST {path}"),
        reason: e.to_string(),
    })?;
    match (out.is_json(), status) {
        (true, _) => out.json(&rollout)?,
        (false, 202) => out.line(&format!(
            "asked to promote {}: a second person confirms with `switchyard rollout promote {} {}`",
            rollout.id, to_move.environment, rollout.id
        ))?,
        (false, _) => out.line(&rollout_line(&rollout))?,
    }
    Ok(0)
}
