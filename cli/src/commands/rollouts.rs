//! `rollout`: versions published in waves, followed and moved by hand.

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use switchyard_proto::rollouts::Rollout;

use super::{env_path, message, Failure};
use crate::api::{segment, Api, ApiError};
use crate::output::Out;

/// `rollout ...`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
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
