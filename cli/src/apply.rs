//! Making a plan's changes: exactly those, or none when the server or the folder moved since
//! the plan. Environments are created and changed first (so a protection the folder adds
//! holds for its own publishes), then each changed profile's draft is replaced (from the
//! draft revision the plan saw) and published, or proposed where the environment is
//! protected; grants last.

use std::path::Path;

use serde::{Deserialize, Serialize};
use switchyard_proto::rollouts::Labels;
use switchyard_proto::versions::ProfileDraft;
use switchyard_proto::ChangeMessage;
use uuid::Uuid;

use crate::api::{segment, Api, ApiError};
use crate::folder::{DesiredEnvironment, DesiredProfile};
use crate::plan::{plan, EnvironmentPlan, Plan, PlanError, ProfilePlan, SecretPolicy, PLAN_FORMAT};

/// What applying did to one thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Applied {
    /// An environment was created.
    Created {
        /// Its name.
        environment: String,
    },
    /// An environment's description or protection changed.
    Changed {
        /// Its name.
        environment: String,
    },
    /// A profile was published.
    Published {
        /// The environment.
        environment: String,
        /// `baseline` or the machine role.
        target: String,
        /// The new version.
        version: u64,
    },
    /// A profile's draft was replaced but not published (a later step failed).
    DraftSaved {
        /// The environment.
        environment: String,
        /// `baseline` or the machine role.
        target: String,
    },
    /// A profile already held what was sent (only rotated secrets, the same values).
    Unchanged {
        /// The environment.
        environment: String,
        /// `baseline` or the machine role.
        target: String,
    },
    /// A profile's change waits for a second person (a protected environment).
    Proposed {
        /// The environment.
        environment: String,
        /// `baseline` or the machine role.
        target: String,
        /// The change request.
        change_request: Uuid,
    },
    /// A machine's labels were set.
    Labelled {
        /// The environment.
        environment: String,
        /// The machine's id.
        machine: String,
        /// Its labels now, `site=office-b, ...`.
        labels: String,
    },
    /// A user's grant on an environment was given, changed or taken away.
    Granted {
        /// The environment.
        environment: String,
        /// The user.
        user: String,
        /// Their role now, none when taken away.
        role: Option<String>,
    },
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Applied::Created { environment } => write!(f, "created the environment {environment}"),
            Applied::Changed { environment } => write!(f, "changed the environment {environment}"),
            Applied::Published {
                environment,
                target,
                version,
            } => write!(f, "published {environment}/{target} as version {version}"),
            Applied::DraftSaved {
                environment,
                target,
            } => write!(
                f,
                "saved the draft of {environment}/{target}, not published"
            ),
            Applied::Unchanged {
                environment,
                target,
            } => write!(
                f,
                "{environment}/{target} already held what was sent; nothing published"
            ),
            Applied::Proposed {
                environment,
                target,
                change_request,
            } => write!(
                f,
                "proposed {environment}/{target}: change request {change_request} waits for a second person (`switchyard change-request approve {environment} {change_request}`)"
            ),
            Applied::Labelled {
                environment,
                machine,
                labels,
            } => write!(f, "the machine {machine} in {environment} is labelled {labels:?}"),
            Applied::Granted {
                environment,
                user,
                role: Some(role),
            } => write!(f, "{user} is {role} on {environment}"),
            Applied::Granted {
                environment,
                user,
                role: None,
            } => write!(f, "{user} has no role on {environment} any more"),
        }
    }
}

/// Why nothing (or not everything) was applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan could not be made again.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The server or the folder is not what the plan saw: nothing was applied.
    #[error("{0}\n  nothing was applied; run `switchyard plan` again and review it")]
    Moved(String),
    /// A secret's source could not be read: nothing was applied.
    #[error("{0}\n  nothing was applied")]
    Secret(String),
    /// A call failed after `done` were made.
    #[error("{error}{}", partial(.done))]
    Failed {
        /// What was applied before.
        done: Vec<Applied>,
        /// The failure.
        error: Box<ApiError>,
    },
}

fn partial(done: &[Applied]) -> String {
    match done.is_empty() {
        true => "\n  nothing was applied".into(),
        false => {
            let lines: Vec<String> = done.iter().map(|d| format!("\n    {d}")).collect();
            format!("\n  applied before the failure:{}", lines.concat())
        }
    }
}

/// Applies `saved` (or, without one, a plan made now) for the folder's `desired` state.
///
/// # Errors
/// [`ApplyError::Moved`] when the server's versions or drafts, or the folder, differ from
/// what the plan saw; [`ApplyError::Secret`] for an unreadable secret; [`ApplyError::Failed`]
/// with what was done when a call fails midway.
pub fn apply(
    api: &mut Api,
    folder: &Path,
    desired: &[DesiredEnvironment],
    saved: Option<&Plan>,
    message: &ChangeMessage,
    policy: SecretPolicy,
) -> Result<Vec<Applied>, ApplyError> {
    let now = plan(api, desired, policy)?;
    let plan = match saved {
        Some(saved) => {
            check_unmoved(saved, &now)?;
            saved
        }
        None => &now,
    };
    // Every secret is read before anything changes: a missing one stops the whole apply.
    let mut sent = Vec::new();
    for environment in &plan.environments {
        let Some(wanted) = desired
            .iter()
            .find(|d| d.name.as_str() == environment.environment)
        else {
            continue;
        };
        for profile in environment.profiles.iter().filter(|p| p.changes_anything()) {
            let overlay = match profile.target.as_str() {
                "baseline" => Some(&wanted.baseline),
                role => wanted
                    .roles
                    .iter()
                    .find(|(name, _)| name.as_str() == role)
                    .map(|(_, overlay)| overlay),
            };
            let empty = DesiredProfile::default();
            let body = to_send(overlay.unwrap_or(&empty), profile, folder).map_err(|problem| {
                ApplyError::Secret(format!(
                    "{}/{}: {problem}",
                    environment.environment, profile.target
                ))
            })?;
            sent.push((
                environment.environment.clone(),
                profile.target.clone(),
                body,
            ));
        }
    }
    let mut done = Vec::new();
    let result = run(api, plan, message, sent, &mut done);
    match result {
        Ok(()) => Ok(done),
        Err(error) => Err(ApplyError::Failed {
            done,
            error: Box::new(error),
        }),
    }
}

/// Refuses a plan that no longer describes the server and the folder.
fn check_unmoved(saved: &Plan, now: &Plan) -> Result<(), ApplyError> {
    if saved.format != PLAN_FORMAT {
        return Err(ApplyError::Moved(format!(
            "the plan file has format {}, this switchyard reads {PLAN_FORMAT}",
            saved.format
        )));
    }
    if saved.server != now.server {
        return Err(ApplyError::Moved(format!(
            "the plan was made against {}, not {}",
            saved.server, now.server
        )));
    }
    if saved.update_secrets != now.update_secrets {
        return Err(ApplyError::Moved(format!(
            "the plan was made {} --update-secrets; apply the same way",
            match saved.update_secrets {
                true => "with",
                false => "without",
            }
        )));
    }
    if saved.folder_digest != now.folder_digest {
        return Err(ApplyError::Moved(
            "the folder changed since the plan".into(),
        ));
    }
    for environment in &saved.environments {
        let Some(current) = now
            .environments
            .iter()
            .find(|e| e.environment == environment.environment)
        else {
            continue;
        };
        if environment.create && !current.create {
            return Err(ApplyError::Moved(format!(
                "the environment {} was created since the plan",
                environment.environment
            )));
        }
        for profile in &environment.profiles {
            let seen = current.profiles.iter().find(|p| p.target == profile.target);
            let (version, revision) = seen.map_or((0, 0), |p| (p.latest_version, p.draft_revision));
            if (version, revision) != (profile.latest_version, profile.draft_revision) {
                return Err(ApplyError::Moved(format!(
                    "{}/{} moved since the plan: it was at version {} (draft revision {}), it is at version {version} (draft revision {revision})",
                    environment.environment,
                    profile.target,
                    profile.latest_version,
                    profile.draft_revision
                )));
            }
        }
    }
    if saved != now {
        return Err(ApplyError::Moved(
            "the server changed since the plan (an environment's settings, a grant or a machine role)".into(),
        ));
    }
    Ok(())
}

/// The profile to put in the draft, as JSON: the secrets the plan sends with their values
/// from their sources, every other one kept. (A `Secret` serializes as kept whatever it
/// holds, so that no value leaves by accident: values are put in by their JSON pointer.)
fn to_send(
    wanted: &DesiredProfile,
    planned: &ProfilePlan,
    folder: &Path,
) -> Result<serde_json::Value, String> {
    let mut body = serde_json::to_value(&wanted.profile).map_err(|e| e.to_string())?;
    for secret in &wanted.secrets {
        let named = secret.path.to_string();
        if !planned.secrets_sent.contains(&named) {
            continue;
        }
        let value = secret
            .source
            .read(folder)
            .map_err(|e| format!("{named}: {e}"))?;
        let slot = body
            .pointer_mut(&secret.path.json_pointer())
            .ok_or_else(|| format!("{named}: no such place in the profile"))?;
        *slot = serde_json::json!({ "value": value });
    }
    Ok(body)
}

fn run(
    api: &mut Api,
    plan: &Plan,
    message: &ChangeMessage,
    sent: Vec<(String, String, serde_json::Value)>,
    done: &mut Vec<Applied>,
) -> Result<(), ApiError> {
    // Protection added holds for this apply's own publishes; protection taken away only
    // after them, so no change skips the second person it was planned under.
    let (unprotecting, first): (Vec<_>, Vec<_>) = plan.environments.iter().partition(|e| {
        !e.create
            && e.settings
                .iter()
                .any(|c| c.path == "protected" && c.new.as_deref() == Some("false"))
    });
    for environment in first {
        environment_settings(api, environment, done)?;
    }
    for (environment, target, body) in sent {
        let planned = plan
            .environments
            .iter()
            .find(|e| e.environment == environment)
            .and_then(|e| e.profiles.iter().find(|p| p.target == target));
        let revision = planned.map_or(0, |p| p.draft_revision);
        let base = format!(
            "/environments/{}/profiles/{}",
            segment(&environment),
            segment(&target)
        );
        let draft: ProfileDraft =
            api.send_as("PUT", &format!("{base}/draft"), Some(&body), Some(revision))?;
        done.push(Applied::DraftSaved {
            environment: environment.clone(),
            target: target.clone(),
        });
        let publish = serde_json::json!({
            "message": message,
            "draft_revision": draft.revision,
        });
        let published = api.send("POST", &format!("{base}/publish"), Some(&publish), None);
        let outcome = match published {
            // Only secrets were sent, and the server already held those values.
            Err(ApiError::Refused { code, .. }) if code == "no_changes" => Applied::Unchanged {
                environment,
                target,
            },
            Err(error) => return Err(error),
            Ok((202, answer)) => Applied::Proposed {
                environment,
                target,
                change_request: field(&answer, "id", &base)?
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .ok_or_else(|| malformed(&base, "id"))?,
            },
            Ok((_, answer)) => Applied::Published {
                environment,
                target,
                version: field(&answer, "version", &base)?
                    .as_u64()
                    .ok_or_else(|| malformed(&base, "version"))?,
            },
        };
        done.pop();
        done.push(outcome);
    }
    for environment in &plan.environments {
        for grant in &environment.grants {
            let path = format!(
                "/users/{}/grants/{}",
                segment(&grant.path),
                segment(&environment.environment)
            );
            match &grant.new {
                Some(role) => {
                    let body = serde_json::json!({ "role": role });
                    api.send("PUT", &path, Some(&body), None)?;
                }
                None => {
                    api.send::<()>("DELETE", &path, None, None)?;
                }
            }
            done.push(Applied::Granted {
                environment: environment.environment.clone(),
                user: grant.path.clone(),
                role: grant.new.clone(),
            });
        }
    }
    for environment in &plan.environments {
        for change in &environment.labels {
            let labels: Labels = change.new.as_deref().unwrap_or_default().parse().map_err(
                |e: switchyard_proto::InvalidValue| ApiError::Malformed {
                    what: "the plan's labels".into(),
                    reason: e.to_string(),
                },
            )?;
            let path = format!(
                "/environments/{}/devices/{}/labels",
                segment(&environment.environment),
                segment(&change.path)
            );
            api.send(
                "PUT",
                &path,
                Some(&serde_json::json!({ "labels": labels })),
                None,
            )?;
            done.push(Applied::Labelled {
                environment: environment.environment.clone(),
                machine: change.path.clone(),
                labels: labels.to_string(),
            });
        }
    }
    for environment in unprotecting {
        environment_settings(api, environment, done)?;
    }
    Ok(())
}

fn malformed(base: &str, what: &str) -> ApiError {
    ApiError::Malformed {
        what: format!("POST {base}/publish"),
        reason: format!("no {what} in the answer"),
    }
}

fn field<'a>(
    answer: &'a serde_json::Value,
    name: &str,
    base: &str,
) -> Result<&'a serde_json::Value, ApiError> {
    answer.get(name).ok_or_else(|| malformed(base, name))
}

/// Creates the environment or changes its description and protection, as planned (the
/// values the plan shows).
fn environment_settings(
    api: &mut Api,
    planned: &EnvironmentPlan,
    done: &mut Vec<Applied>,
) -> Result<(), ApiError> {
    let name = &planned.environment;
    let planned_value = |path: &str| {
        planned
            .settings
            .iter()
            .find(|change| change.path == path)
            .and_then(|change| change.new.clone())
    };
    let description = planned_value("description");
    let protected = planned_value("protected").map(|flag| flag == "true");
    if planned.create {
        let body = serde_json::json!({
            "name": name,
            "description": description.unwrap_or_default(),
            "protected": protected.unwrap_or(false),
        });
        api.send("POST", "/environments", Some(&body), None)?;
        done.push(Applied::Created {
            environment: name.clone(),
        });
        return Ok(());
    }
    if planned.settings.is_empty() {
        return Ok(());
    }
    let mut body = serde_json::Map::new();
    if let Some(description) = description {
        body.insert("description".into(), description.into());
    }
    if let Some(protected) = protected {
        body.insert("protected".into(), protected.into());
    }
    api.send(
        "PATCH",
        &format!("/environments/{}", segment(name)),
        Some(&serde_json::Value::Object(body)),
        None,
    )?;
    done.push(Applied::Changed {
        environment: name.clone(),
    });
    Ok(())
}
