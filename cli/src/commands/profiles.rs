//! `profile` and `change-request`: one profile read, compared, edited, published, rolled
//! back; protected environments' change requests decided.

use std::path::Path;

use clap::Subcommand;
use serde_json::{json, Value};
use switchyard_proto::versions::{ChangeRequest, ProfileDiff, ProfileDraft, ProfileVersion};

use super::{env_path, message, Failure};
use crate::api::{segment, Api};
use crate::folder;
use crate::output::Out;
use crate::profiles::{base, latest};

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
                (false, Some(number)) => {
                    api.get::<ProfileVersion>(&format!("{base}/versions/{number}"))?
                        .profile
                }
                (false, None) => match latest(api, &environment, &target)? {
                    (0, _) => {
                        return Err(Failure::Usage(format!(
                            "{environment}/{target} has no published version yet; try --draft"
                        )))
                    }
                    (_, profile) => profile,
                },
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
            let body =
                json!({ "message": message("message", &text)?, "draft_revision": draft.revision });
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
            let (based_on, _) = latest(api, &environment, &target)?;
            let body = json!({
                "message": message("message", &text)?,
                "based_on_version": based_on,
                "to_version": to,
            });
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
    // Made new, readable by its owner only, and removed when dropped: the draft's settings
    // are no one else's to read.
    let file = tempfile::Builder::new()
        .prefix("switchyard-draft-")
        .suffix(".toml")
        .tempfile()?;
    let path = file.path().to_owned();
    std::fs::write(&path, format!("{header}{before}"))?;
    run_editor(&path)?;
    let edited = std::fs::read_to_string(&path)?;
    let wanted = match folder::profile_from_text(&edited, name) {
        Ok(wanted) => wanted,
        // The edit is kept for another try, not thrown away with the mistake.
        Err(problem) => {
            let kept = file.keep().map_err(|e| e.error)?.1;
            return Err(Failure::Usage(format!(
                "{problem}\n  the edit is kept in {}; fix it and run `switchyard profile edit` again",
                kept.display()
            )));
        }
    };
    drop(file);
    if wanted.profile == draft.profile.clone().normalized()
        && wanted
            .secrets
            .iter()
            .all(|s| s.source == folder::SecretSource::Keep)
    {
        match out.is_json() {
            true => out.json(&draft)?,
            false => out.line(&format!(
                "no change: the draft of {name} stays at revision {}",
                draft.revision
            ))?,
        }
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
    let body = json!({ "reason": message("reason", reason)? });
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
