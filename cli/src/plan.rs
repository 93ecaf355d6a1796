//! What applying a folder would change, setting by setting: the folder's state against what
//! the server holds now (each profile's latest published version), with the versions and
//! draft revisions it saw, so that `apply` makes exactly these changes or none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_proto::devices::DeviceStatus;
use switchyard_proto::profile::SettingChange;
use switchyard_proto::rollouts::Labels;
use switchyard_proto::versions::ProfileDraft;
use switchyard_proto::{
    ChangeRequest, ChangeRequestStatus, Environment, EnvironmentRole, GlobalRole, MachineRole,
    Profile, User,
};

use crate::api::{segment, Api, ApiError};
use crate::folder::{DesiredEnvironment, DesiredProfile, DesiredSecret, SecretSource};
use crate::profiles::{base, latest};

/// The plan file's format; a plan of another format is refused.
pub const PLAN_FORMAT: u32 = 1;

/// What applying a folder would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT`].
    pub format: u32,
    /// The server it was made against.
    pub server: String,
    /// SHA-256 of the folder's state as read (secrets by their sources), in hex: a folder
    /// edited after the plan no longer matches it.
    pub folder_digest: String,
    /// Whether every secret with a source is sent again (`--update-secrets`).
    pub update_secrets: bool,
    /// Each environment of the folder, by name.
    pub environments: Vec<EnvironmentPlan>,
}

/// What changes in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentPlan {
    /// Its name.
    pub environment: String,
    /// Whether it is created (admins only).
    pub create: bool,
    /// Whether a publish there opens a change request for a second person.
    pub protected: bool,
    /// Changes of its description and protection.
    pub settings: Vec<SettingChange>,
    /// Each profile the folder or the server has, baseline first.
    pub profiles: Vec<ProfilePlan>,
    /// Grants given, changed or taken away.
    pub grants: Vec<SettingChange>,
    /// Machines' labels that change, by machine id (`new` as `site=office-b, ...`).
    #[serde(default)]
    pub labels: Vec<SettingChange>,
}

/// What changes in one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePlan {
    /// `baseline` or the machine role of the overlay.
    pub target: String,
    /// The latest published version seen (0: none yet).
    pub latest_version: u64,
    /// The draft's revision seen; apply edits the draft from it.
    pub draft_revision: u64,
    /// Whether the draft held edits not yet published, which apply replaces.
    pub draft_edited: bool,
    /// Each setting that changes.
    pub changes: Vec<SettingChange>,
    /// The secrets whose values apply sends (from their sources), by setting: new on the
    /// server, sent somewhere else now, or rotated; every other secret is kept.
    pub secrets_sent: Vec<String>,
    /// Open change requests of this profile, which apply does not replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_requests: Vec<String>,
}

impl ProfilePlan {
    /// Whether applying changes this profile.
    pub fn changes_anything(&self) -> bool {
        !self.changes.is_empty()
    }
}

impl EnvironmentPlan {
    /// Whether applying changes this environment.
    pub fn changes_anything(&self) -> bool {
        self.create
            || !self.settings.is_empty()
            || !self.grants.is_empty()
            || !self.labels.is_empty()
            || self.profiles.iter().any(ProfilePlan::changes_anything)
    }
}

impl Plan {
    /// Whether applying changes anything.
    pub fn changes_anything(&self) -> bool {
        self.environments
            .iter()
            .any(EnvironmentPlan::changes_anything)
    }

    /// Every change as lines for people: `~ staging/baseline npm.registry: a -> b`.
    pub fn lines(&self) -> Vec<(Mark, String)> {
        let mut lines = Vec::new();
        for environment in &self.environments {
            let name = &environment.environment;
            if environment.create {
                lines.push((Mark::Add, format!("environment {name} is created")));
            }
            for change in &environment.settings {
                lines.push((Mark::of(change), format!("{name} {change}")));
            }
            for profile in &environment.profiles {
                for change in &profile.changes {
                    lines.push((
                        Mark::of(change),
                        format!("{name}/{} {change}", profile.target),
                    ));
                }
            }
            for change in &environment.grants {
                lines.push((Mark::of(change), format!("{name} grant {change}")));
            }
            for change in &environment.labels {
                lines.push((
                    Mark::of(change),
                    format!("{name} labels of machine {change}"),
                ));
            }
        }
        lines
    }

    /// Warnings for people: drafts whose unpublished edits apply replaces, publishes that wait
    /// for a second person.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for environment in &self.environments {
            for profile in environment.profiles.iter().filter(|p| p.changes_anything()) {
                if profile.draft_edited {
                    notes.push(format!(
                        "{}/{} has unpublished draft edits (revision {}); apply replaces them",
                        environment.environment, profile.target, profile.draft_revision
                    ));
                }
            }
            for profile in &environment.profiles {
                for id in &profile.open_requests {
                    notes.push(format!(
                        "{}/{} already has an open change request ({id}); apply proposes another",
                        environment.environment, profile.target
                    ));
                }
            }
            let publishes = environment
                .profiles
                .iter()
                .any(ProfilePlan::changes_anything);
            if environment.protected && publishes {
                notes.push(format!(
                    "{} is protected: apply opens change requests for a second person to approve",
                    environment.environment
                ));
            }
        }
        notes
    }
}

/// How a change shows: added, changed or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `+`.
    Add,
    /// `~`.
    Change,
    /// `-`.
    Remove,
}

impl Mark {
    fn of(change: &SettingChange) -> Self {
        match (&change.old, &change.new) {
            (None, _) => Mark::Add,
            (_, None) => Mark::Remove,
            _ => Mark::Change,
        }
    }

    /// Its sign.
    pub fn sign(self) -> char {
        match self {
            Mark::Add => '+',
            Mark::Change => '~',
            Mark::Remove => '-',
        }
    }
}

/// How plans treat secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretPolicy {
    /// Send every secret that has a source again, though the server holds one (rotation).
    pub update_secrets: bool,
}

/// What the server holds of one profile.
struct Observed {
    latest_version: u64,
    profile: Profile,
    draft: ProfileDraft,
}

impl Observed {
    /// A profile of an environment that does not exist yet.
    fn nothing() -> Self {
        Self {
            latest_version: 0,
            profile: Profile::default(),
            draft: ProfileDraft {
                profile: Profile::default(),
                revision: 0,
                based_on_version: 0,
            },
        }
    }
}

fn observe(api: &mut Api, environment: &str, target: &str) -> Result<Observed, ApiError> {
    let (latest_version, profile) = latest(api, environment, target)?;
    let draft: ProfileDraft = api.get(&format!("{}/draft", base(environment, target)))?;
    // Older versions may predate a normalisation rule: compared as the folder is, normalized.
    Ok(Observed {
        latest_version,
        profile: profile.normalized(),
        draft,
    })
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The server refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The folder asks for something the server or the caller cannot do.
    #[error("{0}")]
    Folder(String),
}

/// The plan for `desired` against the server `api` reaches now.
///
/// # Errors
/// A server error; an environment or machine role that does not exist (environments are
/// created for admins only); grants managed by someone who is no admin; a secret kept
/// (`{ set = true }`) that the server does not hold.
pub fn plan(
    api: &mut Api,
    desired: &[DesiredEnvironment],
    policy: SecretPolicy,
) -> Result<Plan, PlanError> {
    let me: User = api.get("/me")?;
    let admin = me.global_role == Some(GlobalRole::Admin);
    let existing: Vec<Environment> = api.get("/environments")?;
    let roles: Vec<MachineRole> = api.get("/machine-roles")?;
    let users: Option<Vec<User>> = match desired.iter().any(|e| e.grants.is_some()) {
        true if admin => Some(api.get("/users")?),
        true => {
            return Err(PlanError::Folder(
                "the folder manages grants, which only admins change; remove the grants tables or ask an admin to apply".into(),
            ))
        }
        false => None,
    };
    let mut environments = Vec::new();
    for wanted in desired {
        let found = existing.iter().find(|e| e.name == wanted.name);
        environments.push(environment_plan(
            api,
            wanted,
            found,
            admin,
            &roles,
            users.as_deref(),
            policy,
        )?);
    }
    Ok(Plan {
        format: PLAN_FORMAT,
        server: api.base().to_owned(),
        folder_digest: digest(desired),
        update_secrets: policy.update_secrets,
        environments,
    })
}

/// The plan of one environment: `wanted` against what the server holds (`found`, `None`
/// when it does not exist yet).
fn environment_plan(
    api: &mut Api,
    wanted: &DesiredEnvironment,
    found: Option<&Environment>,
    admin: bool,
    roles: &[MachineRole],
    users: Option<&[User]>,
    policy: SecretPolicy,
) -> Result<EnvironmentPlan, PlanError> {
    let name = wanted.name.as_str();
    let file = wanted.file.display();
    if found.is_none() && !admin {
        return Err(PlanError::Folder(format!(
            "{file}: the environment {name} does not exist (or you have no role on it); an admin creates it, by applying this folder or with `switchyard env create {name}`"
        )));
    }
    if let Some(role) = wanted
        .roles
        .keys()
        .find(|role| !roles.iter().any(|r| &r.name == *role))
    {
        return Err(PlanError::Folder(format!(
            "{file}: the machine role {role} does not exist; an admin creates it with `switchyard role create {role}`"
        )));
    }
    let settings = setting_changes(wanted, found);
    if !settings.is_empty() && !admin {
        return Err(PlanError::Folder(format!(
            "{file}: an environment's description and protection are changed by admins only; make them match the server's (`switchyard export`) or leave them out"
        )));
    }
    // Whether this apply's publishes wait for a second person: protection added holds for
    // them, protection taken away only after them.
    let protected = found.is_some_and(|e| e.protected) || wanted.protected == Some(true);
    let mut profiles = profile_plans(api, wanted, found.is_some(), roles, policy)?;
    if protected && found.is_some() {
        let requests: Vec<ChangeRequest> =
            api.get(&format!("/environments/{}/change-requests", segment(name)))?;
        for request in requests
            .iter()
            .filter(|r| r.status == ChangeRequestStatus::Open)
        {
            if let Some(profile) = profiles.iter_mut().find(|p| p.target == request.target) {
                profile.open_requests.push(request.id.to_string());
            }
        }
    }
    let grants = match (&wanted.grants, users) {
        (Some(grants), Some(users)) => {
            if let Some(unknown) = grants
                .keys()
                .find(|name| !users.iter().any(|user| &user.username == *name))
            {
                return Err(PlanError::Folder(format!(
                    "{file}: grants.{unknown}: no such user; an admin creates users first"
                )));
            }
            grant_changes(users, wanted, grants)
        }
        _ => Vec::new(),
    };
    let labels = match (wanted.labels.is_empty(), found) {
        (true, _) => Vec::new(),
        (false, None) => {
            return Err(PlanError::Folder(format!(
                "{file}: labels name machines, and a new environment has none yet"
            )))
        }
        (false, Some(_)) => label_changes(api, wanted)?,
    };
    Ok(EnvironmentPlan {
        environment: name.to_owned(),
        create: found.is_none(),
        protected,
        settings,
        profiles,
        grants,
        labels,
    })
}

/// The environment's description and protection where the file manages them and they
/// differ from `found`'s.
fn setting_changes(wanted: &DesiredEnvironment, found: Option<&Environment>) -> Vec<SettingChange> {
    let mut settings = Vec::new();
    if let Some(description) = &wanted.description {
        let old = found.map(|e| e.description.as_str().to_owned());
        let new = Some(description.as_str().to_owned());
        if old != new {
            settings.push(SettingChange {
                path: "description".into(),
                old,
                new,
            });
        }
    }
    if let Some(protected) = wanted.protected {
        let old = found.map(|e| e.protected);
        if old != Some(protected) {
            settings.push(SettingChange {
                path: "protected".into(),
                old: old.map(|flag| flag.to_string()),
                new: Some(protected.to_string()),
            });
        }
    }
    settings
}

/// The plan of each profile: the baseline, then every role the folder or the server has an
/// overlay for (`exists`: whether the environment does yet).
fn profile_plans(
    api: &mut Api,
    wanted: &DesiredEnvironment,
    exists: bool,
    roles: &[MachineRole],
    policy: SecretPolicy,
) -> Result<Vec<ProfilePlan>, PlanError> {
    let targets = std::iter::once(("baseline".to_owned(), Some(&wanted.baseline))).chain(
        roles
            .iter()
            .map(|role| (role.name.to_string(), wanted.roles.get(&role.name))),
    );
    let mut profiles = Vec::new();
    for (target, overlay) in targets {
        let empty = DesiredProfile::default();
        let observed = match exists {
            true => observe(api, wanted.name.as_str(), &target)?,
            false => Observed::nothing(),
        };
        // Revisions count on across publishes: the draft's content tells whether it holds
        // edits of its own.
        let draft_edited = observed.draft.profile.clone().normalized() != observed.profile;
        let wanted_profile = overlay.unwrap_or(&empty);
        let (changes, secrets_sent) =
            profile_changes(&observed.profile, wanted_profile, policy, draft_edited).map_err(
                |problem| {
                    PlanError::Folder(format!("{}: {target}.{problem}", wanted.file.display()))
                },
            )?;
        // A role without overlay on either side is no profile to list.
        if overlay.is_none() && observed.latest_version == 0 && changes.is_empty() {
            continue;
        }
        profiles.push(ProfilePlan {
            target,
            latest_version: observed.latest_version,
            draft_revision: observed.draft.revision,
            draft_edited,
            changes,
            secrets_sent,
            open_requests: Vec::new(),
        });
    }
    Ok(profiles)
}

/// The changes from `current` to `wanted`, setting by setting (secrets by whether they are
/// set), and the secrets apply sends. A secret with a source is sent where the server holds
/// none there, where it would now be sent somewhere else, where the draft holds edits of its
/// own (the server keeps a secret from the draft, which may differ from the version), and on
/// rotation; each such send the settings do not show is planned as a change of its own.
///
/// # Errors
/// A secret kept (`{ set = true }`) that would not be the version's: none held, sent
/// somewhere else now, or the draft edited; as `path: problem`.
fn profile_changes(
    current: &Profile,
    wanted: &DesiredProfile,
    policy: SecretPolicy,
    draft_edited: bool,
) -> Result<(Vec<SettingChange>, Vec<String>), String> {
    let held: Vec<String> = current
        .secrets()
        .into_iter()
        .map(|(path, _)| path.to_string())
        .collect();
    // Why a secret is sent, the draft aside.
    let reason = |secret: &DesiredSecret| {
        if !held.contains(&secret.path.to_string()) {
            return Some("not held");
        }
        if current.secret_destination(&secret.path)
            != wanted.profile.secret_destination(&secret.path)
        {
            return Some("sent somewhere else now");
        }
        // A kept secret has no source to rotate from.
        (policy.update_secrets && secret.source != SecretSource::Keep).then_some("rotated")
    };
    let mut changes = current.diff(&wanted.profile);
    // The draft matters only to a profile that is written: the server keeps a secret from it.
    let written = !changes.is_empty() || wanted.secrets.iter().any(|s| reason(s).is_some());
    let mut sent = Vec::new();
    for secret in &wanted.secrets {
        let why = match reason(secret) {
            Some(why) => why,
            None if written && draft_edited => "the draft holds other edits",
            None => continue,
        };
        let path = secret.path.to_string();
        if secret.source == SecretSource::Keep {
            let draft = match draft_edited {
                true => ", or publish or discard the draft's edits first",
                false => "",
            };
            return Err(format!(
                "{path}: {{ set = true }} keeps a secret, but the server's would not do ({why}); give from_env or from_file{draft}"
            ));
        }
        if held.contains(&path) {
            changes.push(SettingChange {
                path: path.clone(),
                old: Some("(secret)".into()),
                new: Some(format!("(secret, {}: {why})", secret.source)),
            });
        }
        sent.push(path);
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((changes, sent))
}

/// The labels of the machines `wanted` names that change; each must be a machine of the
/// environment that is not revoked.
fn label_changes(
    api: &mut Api,
    wanted: &DesiredEnvironment,
) -> Result<Vec<SettingChange>, PlanError> {
    let machines: Vec<DeviceStatus> = api.get(&format!(
        "/environments/{}/devices",
        segment(wanted.name.as_str())
    ))?;
    let mut changes = Vec::new();
    for (id, labels) in &wanted.labels {
        let machine = machines
            .iter()
            .find(|m| m.device.id == *id && m.device.revoked_at.is_none())
            .ok_or_else(|| {
                PlanError::Folder(format!(
                    "{}: labels.{id}: no such machine in {} (or it is revoked); `switchyard device list {}` lists them",
                    wanted.file.display(),
                    wanted.name,
                    wanted.name
                ))
            })?;
        if &machine.device.labels != labels {
            let shown = |labels: &Labels| match labels.is_empty() {
                true => None,
                false => Some(labels.to_string()),
            };
            changes.push(SettingChange {
                path: id.to_string(),
                old: shown(&machine.device.labels),
                new: shown(labels).or_else(|| Some(String::new())),
            });
        }
    }
    Ok(changes)
}

/// The grants on `wanted`'s environment that change, by user.
fn grant_changes(
    users: &[User],
    wanted: &DesiredEnvironment,
    grants: &BTreeMap<switchyard_proto::Username, EnvironmentRole>,
) -> Vec<SettingChange> {
    let current: BTreeMap<String, EnvironmentRole> = users
        .iter()
        .filter_map(|user| {
            let grant = user.grants.iter().find(|g| g.environment == wanted.name)?;
            Some((user.username.to_string(), grant.role))
        })
        .collect();
    let wanted: BTreeMap<String, EnvironmentRole> = grants
        .iter()
        .map(|(user, role)| (user.to_string(), *role))
        .collect();
    let mut names: Vec<&String> = current.keys().chain(wanted.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (current.get(name), wanted.get(name));
            (old != new).then(|| SettingChange {
                path: name.clone(),
                old: old.map(|role| role.as_str().to_owned()),
                new: new.map(|role| role.as_str().to_owned()),
            })
        })
        .collect()
}

/// SHA-256 over the folder's state as read, in hex.
fn digest(desired: &[DesiredEnvironment]) -> String {
    let mut hasher = Sha256::new();
    for environment in desired {
        let profiles = std::iter::once(("baseline".to_owned(), &environment.baseline)).chain(
            environment
                .roles
                .iter()
                .map(|(role, overlay)| (role.to_string(), overlay)),
        );
        let mut state = serde_json::Map::new();
        for (target, profile) in profiles {
            let secrets: Vec<String> = profile
                .secrets
                .iter()
                .map(|secret| format!("{} {}", secret.path, secret.source))
                .collect();
            state.insert(
                target,
                serde_json::json!({ "profile": profile.profile, "secrets": secrets }),
            );
        }
        let grants = environment.grants.as_ref().map(|grants| {
            grants
                .iter()
                .map(|(user, role)| (user.to_string(), role.as_str()))
                .collect::<BTreeMap<_, _>>()
        });
        let whole = serde_json::json!({
            "environment": environment.name,
            "description": environment.description.as_ref().map(|d| d.as_str()),
            "protected": environment.protected,
            "profiles": state,
            "grants": grants,
            "labels": environment.labels,
        });
        hasher.update(whole.to_string().as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
