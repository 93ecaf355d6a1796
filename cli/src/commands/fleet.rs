//! `device` and `enroll-token`: the machines of an environment and how they join.

use clap::Subcommand;
use serde_json::json;
use switchyard_proto::devices::{CreatedEnrollmentToken, DeviceStatus};

use super::{env_path, time, Failure};
use crate::api::{segment, Api, ApiError};
use crate::output::Out;

/// `device ...`.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// An environment's machines with their health and applied versions.
    List {
        /// The environment.
        environment: String,
    },
    /// Revoke a machine: its next request is refused.
    Revoke {
        /// The environment.
        environment: String,
        /// The machine's id.
        id: String,
    },
    /// Move a machine to another environment or machine role.
    Move {
        /// The environment it is in.
        environment: String,
        /// The machine's id.
        id: String,
        /// The environment it goes to.
        #[arg(long = "to-environment")]
        to_environment: String,
        /// Its machine role there.
        #[arg(long = "to-role")]
        to_role: String,
    },
}

/// `device ...`.
pub fn device(api: &mut Api, out: Out, command: DeviceCommand) -> Result<u8, Failure> {
    match command {
        DeviceCommand::List { environment } => {
            let devices: Vec<DeviceStatus> =
                api.get(&format!("{}/devices", env_path(&environment)))?;
            if out.is_json() {
                out.json(&devices)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = devices
                .iter()
                .map(|status| {
                    let device = &status.device;
                    let health = match (device.revoked_at, status.healthy) {
                        (Some(_), _) => "revoked",
                        (None, Some(true)) => "healthy",
                        (None, Some(false)) => "unhealthy",
                        (None, None) => "never reported",
                    };
                    let applied = status.report.as_ref().map_or_else(
                        || "-".to_owned(),
                        |r| format!("{}/{}", r.baseline_version, r.overlay_version),
                    );
                    vec![
                        device.id.to_string(),
                        device.hostname.clone(),
                        device.machine_role.clone(),
                        health.to_owned(),
                        applied,
                        device.last_seen_at.map_or_else(|| "never".into(), time),
                    ]
                })
                .collect();
            out.table(
                &["ID", "HOST", "ROLE", "HEALTH", "APPLIED", "LAST SEEN"],
                &rows,
            )?;
        }
        DeviceCommand::Revoke { environment, id } => {
            let path = format!("{}/devices/{}/revoke", env_path(&environment), segment(&id));
            api.send::<()>("POST", &path, None, None)?;
            match out.is_json() {
                true => out.json(&json!({ "revoked": id }))?,
                false => out.line(&format!("revoked {id}"))?,
            }
        }
        DeviceCommand::Move {
            environment,
            id,
            to_environment,
            to_role,
        } => {
            let path = format!("{}/devices/{}/move", env_path(&environment), segment(&id));
            let body = json!({ "environment": to_environment, "machine_role": to_role });
            let (_, moved) = api.send("POST", &path, Some(&body), None)?;
            match out.is_json() {
                true => out.json(&moved)?,
                false => out.line(&format!("moved {id} to {to_environment} as {to_role}"))?,
            }
        }
    }
    Ok(0)
}

/// `enroll-token ...`.
#[derive(Debug, Subcommand)]
pub enum EnrollTokenCommand {
    /// Make one; its secret is printed this once.
    Create {
        /// The environment machines enroll in.
        environment: String,
        /// Their machine role.
        #[arg(long)]
        role: String,
        /// Hours it stays valid (1 to 720).
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Machines it may enroll (1 to 10000).
        #[arg(long, default_value_t = 1)]
        max_uses: u32,
        /// Labels of the machines it enrolls: `site=office-b,team=web`.
        #[arg(long, default_value = "")]
        labels: String,
    },
}

/// `enroll-token ...`.
pub fn enroll_token(api: &mut Api, out: Out, command: EnrollTokenCommand) -> Result<u8, Failure> {
    let EnrollTokenCommand::Create {
        environment,
        role,
        hours,
        max_uses,
        labels,
    } = command;
    let labels: switchyard_proto::rollouts::Labels = labels
        .parse()
        .map_err(|e| Failure::Usage(format!("--labels: {e}")))?;
    let body = json!({
        "machine_role": role,
        "expires_in_hours": hours,
        "max_uses": max_uses,
        "labels": labels,
    });
    let path = format!("{}/enrollment-tokens", env_path(&environment));
    let (_, created) = api.send("POST", &path, Some(&body), None)?;
    let created: CreatedEnrollmentToken =
        serde_json::from_value(created).map_err(|e| ApiError::Malformed {
            what: format!("POST {path}"),
            reason: e.to_string(),
        })?;
    match out.is_json() {
        true => out.json(&created)?,
        false => {
            out.line(&created.secret)?;
            out.line(&format!(
                "  (for {} in {}, {} use(s), until {}; shown this once: on a machine, run `switchyard-agent enroll --server {} --token SECRET`)",
                created.token.machine_role,
                environment,
                created.token.max_uses,
                time(created.token.expires_at),
                api.base()
            ))?;
        }
    }
    Ok(0)
}
