//! Each command: a call or a few to the API, printed as a table for people or as JSON for
//! programs. The rules live on the server; these only ask and show.

use std::path::Path;
use std::time::Duration;

use clap::Subcommand;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use switchyard_proto::audit::{AuditPage, AuditVerification};
use switchyard_proto::devices::{CreatedEnrollmentToken, DeviceStatus};
use switchyard_proto::rollouts::Rollout;
use switchyard_proto::versions::{ChangeRequest, ProfileDiff, ProfileDraft, ProfileVersion};
use switchyard_proto::{ChangeMessage, Environment, MachineRole, User};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::api::{segment, Api, ApiError};
use crate::apply::{apply as apply_folder, ApplyError};
use crate::export::{export as export_folder, ExportError};
use crate::folder::{self, Format};
use crate::output::Out;
use crate::plan::{plan as plan_folder, Plan, PlanError, SecretPolicy};

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

fn time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn message(text: &str) -> Result<ChangeMessage, Failure> {
    ChangeMessage::parse(text).map_err(|e| Failure::Usage(format!("--message: {e}")))
}

fn env_path(environment: &str) -> String {
    format!("/environments/{}", segment(environment))
}

/// `whoami`.
pub fn whoami(api: &mut Api, out: Out) -> Result<(), Failure> {
    let me: User = api.get("/me")?;
    if out.is_json() {
        return Ok(out.json(&me)?);
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
    Ok(())
}

/// `env ...`.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// The environments you may read.
    List,
    /// One environment.
    Show {
        /// Its name.
        environment: String,
    },
    /// Create one (admins).
    Create {
        /// Its name.
        environment: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Changes need a second person's approval.
        #[arg(long)]
        protected: bool,
    },
}

/// `env ...`.
pub fn env(api: &mut Api, out: Out, command: EnvCommand) -> Result<u8, Failure> {
    match command {
        EnvCommand::List => {
            let environments: Vec<Environment> = api.get("/environments")?;
            if out.is_json() {
                out.json(&environments)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = environments
                .iter()
                .map(|e| {
                    vec![
                        e.name.to_string(),
                        e.protected.to_string(),
                        e.description.as_str().to_owned(),
                    ]
                })
                .collect();
            out.table(&["NAME", "PROTECTED", "DESCRIPTION"], &rows)?;
        }
        EnvCommand::Show { environment } => {
            let found: Environment = api.get(&env_path(&environment))?;
            match out.is_json() {
                true => out.json(&found)?,
                false => out.table(
                    &["NAME", "PROTECTED", "CREATED", "DESCRIPTION"],
                    &[vec![
                        found.name.to_string(),
                        found.protected.to_string(),
                        time(found.created_at),
                        found.description.as_str().to_owned(),
                    ]],
                )?,
            }
        }
        EnvCommand::Create {
            environment,
            description,
            protected,
        } => {
            let body =
                json!({ "name": environment, "description": description, "protected": protected });
            let (_, created) = api.send("POST", "/environments", Some(&body), None)?;
            match out.is_json() {
                true => out.json(&created)?,
                false => out.line(&format!("created the environment {environment}"))?,
            }
        }
    }
    Ok(0)
}

/// `role ...`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Every machine role.
    List,
    /// Create one (admins).
    Create {
        /// Its name.
        role: String,
        /// What its machines are.
        #[arg(long, default_value = "")]
        description: String,
    },
}

/// `role ...`.
pub fn role(api: &mut Api, out: Out, command: RoleCommand) -> Result<u8, Failure> {
    match command {
        RoleCommand::List => {
            let roles: Vec<MachineRole> = api.get("/machine-roles")?;
            if out.is_json() {
                out.json(&roles)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = roles
                .iter()
                .map(|r| vec![r.name.to_string(), r.description.as_str().to_owned()])
                .collect();
            out.table(&["NAME", "DESCRIPTION"], &rows)?;
        }
        RoleCommand::Create { role, description } => {
            let body = json!({ "name": role, "description": description });
            let (_, created) = api.send("POST", "/machine-roles", Some(&body), None)?;
            match out.is_json() {
                true => out.json(&created)?,
                false => out.line(&format!("created the machine role {role}"))?,
            }
        }
    }
    Ok(0)
}

/// `profile ...`; TARGET is `baseline` or a machine role.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// A profile's latest version (or another, or the draft), as a state file's TOML.
    Get {
        /// The environment.
        environment: String,
        /// `baseline` or a machine role.
        target: String,
        /// This version instead of the latest.
        #[arg(long, conflicts_with = "draft")]
        version: Option<u64>,
        /// The draft instead.
        #[arg(long)]
        draft: bool,
    },
    /// Edit the draft in $VISUAL or $EDITOR, as TOML; saved when the editor exits.
    Edit {
        /// The environment.
        environment: String,
        /// `baseline` or a machine role.
        target: String,
    },
    /// The settings that differ between two versions.
    Diff {
        /// The environment.
        environment: String,
        /// `baseline` or a machine role.
        target: String,
        /// The older version (0: nothing).
        from: u64,
        /// The newer version.
        to: u64,
    },
    /// Publish the draft (a change request in a protected environment).
    Publish {
        /// The environment.
        environment: String,
        /// `baseline` or a machine role.
        target: String,
        /// Why.
        #[arg(long, short)]
        message: String,
    },
    /// Publish an old version's content again.
    Rollback {
        /// The environment.
        environment: String,
        /// `baseline` or a machine role.
        target: String,
        /// The version whose content comes back.
        #[arg(long)]
        to: u64,
        /// Why.
        #[arg(long, short)]
        message: String,
    },
}

/// `profile ...`.
pub fn profile(api: &mut Api, out: Out, command: ProfileCommand) -> Result<u8, Failure> {
    let base = |environment: &str, target: &str| {
        format!("{}/profiles/{}", env_path(environment), segment(target))
    };
    match command {
        ProfileCommand::Get {
            environment,
            target,
            version,
            draft,
        } => {
            let base = base(&environment, &target);
            let profile = match (draft, version) {
                (true, _) => api.get::<ProfileDraft>(&format!("{base}/draft"))?.profile,
                (false, version) => {
                    let number = match version {
                        Some(number) => number,
                        None => {
                            let versions: Vec<Value> = api.get(&format!("{base}/versions"))?;
                            versions
                                .iter()
                                .filter_map(|v| v["version"].as_u64())
                                .max()
                                .ok_or_else(|| {
                                    Failure::Usage(format!(
                                        "{environment}/{target} has no published version yet; try --draft"
                                    ))
                                })?
                        }
                    };
                    api.get::<ProfileVersion>(&format!("{base}/versions/{number}"))?
                        .profile
                }
            };
            match out.is_json() {
                true => out.json(&profile)?,
                false => out.line(&folder::profile_text(&profile).map_err(Failure::Usage)?)?,
            }
        }
        ProfileCommand::Edit {
            environment,
            target,
        } => {
            let base = base(&environment, &target);
            edit_draft(api, out, &base, &format!("{environment}/{target}"))?;
        }
        ProfileCommand::Diff {
            environment,
            target,
            from,
            to,
        } => {
            let diff: ProfileDiff = api.get(&format!(
                "{}/diff?from={from}&to={to}",
                base(&environment, &target)
            ))?;
            match out.is_json() {
                true => out.json(&diff)?,
                false if diff.changes.is_empty() => out.line("no setting differs")?,
                false => {
                    for change in &diff.changes {
                        out.line(&change.to_string())?;
                    }
                }
            }
        }
        ProfileCommand::Publish {
            environment,
            target,
            message: text,
        } => {
            let base = base(&environment, &target);
            let draft: ProfileDraft = api.get(&format!("{base}/draft"))?;
            let body = json!({ "message": message(&text)?, "draft_revision": draft.revision });
            let (status, answer) =
                api.send("POST", &format!("{base}/publish"), Some(&body), None)?;
            published(out, status, &answer, &environment, &target)?;
        }
        ProfileCommand::Rollback {
            environment,
            target,
            to,
            message: text,
        } => {
            let base = base(&environment, &target);
            let versions: Vec<Value> = api.get(&format!("{base}/versions"))?;
            let latest = versions
                .iter()
                .filter_map(|v| v["version"].as_u64())
                .max()
                .unwrap_or(0);
            let body =
                json!({ "message": message(&text)?, "based_on_version": latest, "to_version": to });
            let (status, answer) =
                api.send("POST", &format!("{base}/rollback"), Some(&body), None)?;
            published(out, status, &answer, &environment, &target)?;
        }
    }
    Ok(0)
}

/// Opens the draft at `base` in the person's editor and saves what they wrote, from the
/// revision they started from (someone else's edit meanwhile is refused, not overwritten).
fn edit_draft(api: &mut Api, out: Out, base: &str, name: &str) -> Result<(), Failure> {
    let draft: ProfileDraft = api.get(&format!("{base}/draft"))?;
    let before = folder::profile_text(&draft.profile).map_err(Failure::Usage)?;
    let header = format!(
        "# The draft of {name} (revision {}). Secrets: {{ set = true }} keeps one, \n# {{ from_env = \"NAME\" }} or {{ from_file = \"path\" }} sets one. Save and quit to keep.\n",
        draft.revision
    );
    let path = std::env::temp_dir().join(format!(
        "switchyard-{}-{}.toml",
        name.replace('/', "-"),
        std::process::id()
    ));
    std::fs::write(&path, format!("{header}{before}"))
        .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    let edited = run_editor(&path).and_then(|()| {
        std::fs::read_to_string(&path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
    });
    let _ = std::fs::remove_file(&path);
    let edited = edited?;
    let wanted = folder::profile_from_text(&edited, name).map_err(Failure::Usage)?;
    if wanted.profile == draft.profile.clone().normalized()
        && wanted
            .secrets
            .iter()
            .all(|s| s.source == folder::SecretSource::Keep)
    {
        out.line(&format!(
            "no change: the draft of {name} stays at revision {}",
            draft.revision
        ))?;
        return Ok(());
    }
    // A `Secret` serializes as kept whatever it holds: values go in by their JSON pointer.
    let mut profile = serde_json::to_value(&wanted.profile).map_err(std::io::Error::other)?;
    let here = std::env::current_dir()?;
    for secret in wanted
        .secrets
        .iter()
        .filter(|s| s.source != folder::SecretSource::Keep)
    {
        let value = secret
            .source
            .read(&here)
            .map_err(|e| Failure::Usage(format!("{}: {e}", secret.path)))?;
        if let Some(slot) = profile.pointer_mut(&secret.path.json_pointer()) {
            *slot = json!({ "value": value });
        }
    }
    let (_, saved) = api.send(
        "PUT",
        &format!("{base}/draft"),
        Some(&profile),
        Some(draft.revision),
    )?;
    match out.is_json() {
        true => out.json(&saved)?,
        false => out.line(&format!(
            "saved the draft of {name} as revision {}; publish it with `switchyard profile publish {} -m WHY`",
            saved["revision"],
            name.replace('/', " ")
        ))?,
    }
    Ok(())
}

/// Runs `$VISUAL`, else `$EDITOR` (a program and its arguments), else `vi` (`notepad` on
/// Windows), on `path`, and waits for it.
fn run_editor(path: &Path) -> Result<(), Failure> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| match cfg!(windows) {
            true => "notepad".into(),
            false => "vi".into(),
        });
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(path)
        .status()
        .map_err(|e| {
            Failure::Usage(format!(
                "cannot run the editor {program}: {e}; set VISUAL or EDITOR"
            ))
        })?;
    match status.success() {
        true => Ok(()),
        false => Err(Failure::Usage(format!(
            "the editor {program} ended with {status}; the draft was not saved"
        ))),
    }
}

/// A publish's or rollback's answer: a version, or a change request (202).
fn published(
    out: Out,
    status: u16,
    answer: &Value,
    environment: &str,
    target: &str,
) -> Result<(), Failure> {
    if out.is_json() {
        return Ok(out.json(answer)?);
    }
    let line = match status {
        202 => format!(
            "proposed {environment}/{target}: change request {} waits for a second person",
            answer["id"].as_str().unwrap_or("?")
        ),
        _ => format!(
            "published {environment}/{target} as version {}",
            answer["version"]
        ),
    };
    Ok(out.line(&line)?)
}

/// `change-request ...`.
#[derive(Debug, Subcommand)]
pub enum ChangeRequestCommand {
    /// An environment's change requests.
    List {
        /// The environment.
        environment: String,
    },
    /// Approve one: it is published (you may not approve your own).
    Approve {
        /// The environment.
        environment: String,
        /// The change request's id.
        id: String,
        /// Why.
        #[arg(long, default_value = "Approved with switchyard")]
        reason: String,
    },
    /// Reject one.
    Reject {
        /// The environment.
        environment: String,
        /// The change request's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `change-request ...`.
pub fn change_request(
    api: &mut Api,
    out: Out,
    command: ChangeRequestCommand,
) -> Result<u8, Failure> {
    match command {
        ChangeRequestCommand::List { environment } => {
            let requests: Vec<ChangeRequest> =
                api.get(&format!("{}/change-requests", env_path(&environment)))?;
            if out.is_json() {
                out.json(&requests)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = requests
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.target.clone(),
                        format!("{:?}", r.status).to_lowercase(),
                        r.proposer.clone(),
                        r.changes.len().to_string(),
                        r.message.clone(),
                    ]
                })
                .collect();
            out.table(
                &["ID", "PROFILE", "STATUS", "PROPOSER", "CHANGES", "MESSAGE"],
                &rows,
            )?;
        }
        ChangeRequestCommand::Approve {
            environment,
            id,
            reason,
        } => decide(api, out, &environment, &id, &reason, "approve")?,
        ChangeRequestCommand::Reject {
            environment,
            id,
            reason,
        } => decide(api, out, &environment, &id, &reason, "reject")?,
    }
    Ok(0)
}

fn decide(
    api: &mut Api,
    out: Out,
    environment: &str,
    id: &str,
    reason: &str,
    decision: &str,
) -> Result<(), Failure> {
    let body = json!({ "reason": message(reason)? });
    let path = format!(
        "{}/change-requests/{}/{decision}",
        env_path(environment),
        segment(id)
    );
    let (_, answer) = api.send("POST", &path, Some(&body), None)?;
    match (out.is_json(), decision) {
        (true, _) => out.json(&answer)?,
        (false, "approve") => out.line(&format!(
            "approved: published as version {}",
            answer["version"]
        ))?,
        (false, _) => out.line("rejected")?,
    }
    Ok(())
}

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
            out.line(&format!("revoked {id}"))?;
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
    /// Every matching event, as JSON Lines or CSV, on standard output.
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
            let mut pairs = filters.query();
            pairs.push(("format", format));
            let text = api.get_text(&format!("/audit/export{}", query_string(&pairs)))?;
            out.line(text.trim_end())?;
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
    let body = json!({ "reason": message(&to_move.reason)? });
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

/// `plan DIR`: prints the plan; 2 when it changes anything.
pub fn plan(
    api: &mut Api,
    out: Out,
    dir: &Path,
    plan_file: Option<&Path>,
    policy: SecretPolicy,
) -> Result<u8, Failure> {
    let desired = folder::read(dir).map_err(Failure::Usage)?;
    let plan = plan_folder(api, &desired, policy)?;
    if let Some(path) = plan_file {
        let text = serde_json::to_string_pretty(&plan).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if out.is_json() {
        out.json(
            &json!({ "changes": plan.changes_anything(), "notes": plan.notes(), "plan": plan }),
        )?;
    } else {
        show_plan(out, &plan)?;
    }
    Ok(match plan.changes_anything() {
        true => 2,
        false => 0,
    })
}

fn show_plan(out: Out, plan: &Plan) -> Result<(), Failure> {
    let lines = plan.lines();
    if lines.is_empty() {
        out.line("no change: the server holds what the folder says")?;
        return Ok(());
    }
    for (mark, line) in &lines {
        out.line(&out.marked(*mark, line))?;
    }
    for note in plan.notes() {
        out.line(&format!("note: {note}"))?;
    }
    out.line(&format!("{} change(s)", lines.len()))?;
    Ok(())
}

/// `apply DIR`.
pub fn apply(
    api: &mut Api,
    out: Out,
    dir: &Path,
    plan_file: Option<&Path>,
    text: &str,
    policy: SecretPolicy,
) -> Result<u8, Failure> {
    let desired = folder::read(dir).map_err(Failure::Usage)?;
    let saved: Option<Plan> = match plan_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
            Some(serde_json::from_str(&text).map_err(|e| {
                Failure::Usage(format!("{} is not a plan file: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let applied = apply_folder(api, dir, &desired, saved.as_ref(), &message(text)?, policy)?;
    match out.is_json() {
        true => out.json(&json!({ "applied": applied }))?,
        false if applied.is_empty() => out.line("no change: nothing to apply")?,
        false => {
            for done in &applied {
                out.line(&done.to_string())?;
            }
        }
    }
    Ok(0)
}

/// `export DIR`.
pub fn export(
    api: &mut Api,
    out: Out,
    dir: &Path,
    format: Format,
    overwrite: bool,
) -> Result<u8, Failure> {
    let files = export_folder(api, dir, format, overwrite)?;
    match out.is_json() {
        true => out.json(&json!({ "files": files }))?,
        false => {
            for file in &files {
                out.line(&format!("wrote {}", file.display()))?;
            }
        }
    }
    Ok(0)
}
