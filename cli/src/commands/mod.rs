//! Each command: a call or a few to the API, printed as a table for people or as JSON for
//! programs. The rules live on the server; these only ask and show. One module per group.

mod audit;
mod catalog;
mod fleet;
mod profiles;
mod rollouts;
mod state;

use switchyard_proto::{ChangeMessage, User};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::api::{segment, Api, ApiError};
use crate::apply::ApplyError;
use crate::export::ExportError;
use crate::output::Out;
use crate::plan::PlanError;

pub use audit::{audit, AuditCommand};
pub use catalog::{env, role, EnvCommand, RoleCommand};
pub use fleet::{device, enroll_token, DeviceCommand, EnrollTokenCommand};
pub use profiles::{change_request, profile, ChangeRequestCommand, ProfileCommand};
pub use rollouts::{rollout, RolloutCommand};
pub use state::{apply, export, plan};

/// Why a command failed; printed after `switchyard: `, exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A plan could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// An apply stopped.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// An export stopped.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The command cannot run as given.
    #[error("{0}")]
    Usage(String),
    /// Printing failed (a closed pipe).
    #[error("cannot print: {0}")]
    Io(#[from] std::io::Error),
}

pub(crate) fn time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// The reason given with the flag `flag`, checked as the API checks it.
pub(crate) fn message(flag: &str, text: &str) -> Result<ChangeMessage, Failure> {
    ChangeMessage::parse(text).map_err(|e| Failure::Usage(format!("--{flag}: {e}")))
}

pub(crate) fn env_path(environment: &str) -> String {
    format!("/environments/{}", segment(environment))
}

/// `whoami`.
pub fn whoami(api: &mut Api, out: Out) -> Result<u8, Failure> {
    let me: User = api.get("/me")?;
    if out.is_json() {
        out.json(&me)?;
        return Ok(0);
    }
    let role = me.global_role.map_or("none", |role| role.as_str());
    out.line(&format!(
        "{} at {} (global role: {role})",
        me.username,
        api.base()
    ))?;
    for grant in &me.grants {
        out.line(&format!(
            "  {} on {}",
            grant.role.as_str(),
            grant.environment
        ))?;
    }
    Ok(0)
}
