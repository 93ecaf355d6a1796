//! `audit`: the trail queried, exported and verified.

use clap::Subcommand;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use switchyard_proto::audit::{AuditPage, AuditVerification};

use super::{time, Failure};
use crate::api::Api;
use crate::output::Out;

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Events, newest first, by the API's filters.
    Query {
        #[command(flatten)]
        filters: AuditFilters,
        /// Events per page (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Older than the event this came from (`next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Every matching event on standard output, as JSON Lines or CSV (whatever `--output`
    /// says: the export has its own format).
    Export {
        #[command(flatten)]
        filters: AuditFilters,
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
    /// Walk the chain and say whether every link holds (exit 1 when one does not).
    Verify,
}

/// The audit trail's filters, as the API names them.
#[derive(Debug, clap::Args)]
pub struct AuditFilters {
    /// Acted by this user or device.
    #[arg(long)]
    actor: Option<String>,
    /// This action, such as `profile.publish`.
    #[arg(long)]
    action: Option<String>,
    /// Concerning this environment.
    #[arg(long)]
    environment: Option<String>,
    /// Concerning this machine role.
    #[arg(long)]
    role: Option<String>,
    /// Changing this setting or one under it.
    #[arg(long)]
    setting: Option<String>,
    /// At or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl AuditFilters {
    fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("environment", &self.environment),
            ("role", &self.role),
            ("setting", &self.setting),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
        .collect()
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let joined: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
        .collect();
    match joined.is_empty() {
        true => String::new(),
        false => format!("?{}", joined.join("&")),
    }
}

/// `audit ...`.
pub fn audit(api: &mut Api, out: Out, command: AuditCommand) -> Result<u8, Failure> {
    match command {
        AuditCommand::Query {
            filters,
            limit,
            cursor,
        } => {
            let mut pairs = filters.query();
            pairs.push(("limit", limit.to_string()));
            if let Some(cursor) = cursor {
                pairs.push(("cursor", cursor));
            }
            let page: AuditPage = api.get(&format!("/audit{}", query_string(&pairs)))?;
            if out.is_json() {
                out.json(&page)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = page
                .events
                .iter()
                .map(|event| {
                    vec![
                        event.seq.to_string(),
                        time(event.at),
                        event.actor.clone(),
                        event.action.as_str().to_owned(),
                        event.target.clone(),
                        event.changes.len().to_string(),
                    ]
                })
                .collect();
            out.table(
                &["SEQ", "AT", "ACTOR", "ACTION", "TARGET", "CHANGES"],
                &rows,
            )?;
            if let Some(next) = page.next_cursor {
                out.line(&format!("older: --cursor {next}"))?;
            }
        }
        AuditCommand::Export { filters, format } => {
            // The export's own format (JSON Lines or CSV), streamed: a trail has no bound.
            let mut pairs = filters.query();
            pairs.push(("format", format));
            let mut stdout = std::io::stdout().lock();
            api.get_into(
                &format!("/audit/export{}", query_string(&pairs)),
                &mut stdout,
            )?;
        }
        AuditCommand::Verify => {
            let verification: AuditVerification = api.get("/audit/verify")?;
            match out.is_json() {
                true => out.json(&verification)?,
                false => match &verification.first_broken {
                    None => out.line(&format!(
                        "intact: {} events, head #{} {}",
                        verification.events, verification.head_seq, verification.head_hash
                    ))?,
                    Some(broken) => out.line(&format!(
                        "BROKEN at event #{}: {}",
                        broken.seq, broken.problem
                    ))?,
                },
            }
            return Ok(match verification.intact {
                true => 0,
                false => 1,
            });
        }
    }
    Ok(0)
}
