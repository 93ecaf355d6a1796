//! The desired state as a folder: one file per environment, `NAME.toml` or `NAME.yaml`
//! (`.yml`), named after the environment. Each holds the environment's whole profile state:
//!
//! ```toml
//! description = "Where changes are tried first"   # optional: managed when present
//! protected = false                                # optional: managed when present
//!
//! [baseline]                     # every machine of the environment (a Profile, as the API's)
//! npm.registry = "https://npm.corp.example/"
//! npm.auth-tokens."https://npm.corp.example/" = { from_env = "NPM_TOKEN" }
//!
//! [roles.workstation]            # one machine role's overlay
//! pip.index-url = "https://pypi.corp.example/simple/"
//!
//! [grants]                       # optional: managed when present (admins only)
//! olivia = "ops"
//!
//! [labels]                       # optional: the machines named here, by id
//! "0b7c1a52-5d3e-4c1f-9a0e-2f4b8c6d1e3a" = { site = "office-b", ring = "canary" }
//! ```
//!
//! A profile left out is an empty one: the file is the whole state. Secrets are never in the
//! folder, only where they come from at apply time: `{ from_env = "NAME" }`, `{ from_file =
//! "path" }` (relative to the folder), or `{ set = true }` to keep the one the server holds.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use switchyard_proto::profile::{Secret, SecretPath};
use switchyard_proto::rollouts::Labels;
use switchyard_proto::{
    Description, EnvironmentName, EnvironmentRole, MachineRoleName, Profile, Username,
};
use uuid::Uuid;

/// Where a secret comes from when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable of the command.
    FromEnv(String),
    /// A file, relative to the folder.
    FromFile(PathBuf),
    /// Keep the one the server holds.
    Keep,
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::FromEnv(name) => write!(f, "from_env {name}"),
            SecretSource::FromFile(path) => write!(f, "from_file {}", path.display()),
            SecretSource::Keep => f.write_str("kept as set on the server"),
        }
    }
}

impl SecretSource {
    /// The secret's value, read now.
    ///
    /// # Errors
    /// An unset variable, an unreadable or empty file, or [`SecretSource::Keep`].
    pub fn read(&self, folder: &Path) -> Result<String, String> {
        let value = match self {
            SecretSource::FromEnv(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set"))?,
            SecretSource::FromFile(path) => {
                let joined = folder.join(path);
                let unreadable =
                    |e: std::io::Error| format!("cannot read {}: {e}", joined.display());
                // Inside the folder only, links resolved: a reviewed change of the folder must
                // not send some other file of the machine that applies it.
                let real = joined.canonicalize().map_err(unreadable)?;
                let root = folder.canonicalize().map_err(unreadable)?;
                if !real.starts_with(&root) {
                    return Err(format!(
                        "{} is outside the folder; from_file reads files in it only",
                        joined.display()
                    ));
                }
                let text = fs::read_to_string(&real).map_err(unreadable)?;
                // One line end closes the file; it is no part of the secret.
                let text = text.strip_suffix('\n').unwrap_or(&text);
                text.strip_suffix('\r').unwrap_or(text).to_owned()
            }
            SecretSource::Keep => return Err("the secret is kept, not sent".into()),
        };
        match value.is_empty() {
            true => Err(format!("the secret {self} is empty")),
            false => Ok(value),
        }
    }
}

/// A secret of a profile of the folder: where it sits and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredSecret {
    /// Its place in the profile (normalized, as the server names it).
    pub path: SecretPath,
    /// Where its value comes from.
    pub source: SecretSource,
}

/// A profile of the folder: its settings (each secret as "kept", for comparing) and where
/// each secret comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredProfile {
    /// The settings, normalized as the server normalizes them.
    pub profile: Profile,
    /// Each secret's source.
    pub secrets: Vec<DesiredSecret>,
}

impl DesiredProfile {
    /// The source of the secret at `path`.
    pub fn source(&self, path: &SecretPath) -> Option<&SecretSource> {
        self.secrets
            .iter()
            .find(|secret| &secret.path == path)
            .map(|secret| &secret.source)
    }
}

/// One environment as its file wants it.
#[derive(Debug, Clone)]
pub struct DesiredEnvironment {
    /// Its name, from the file's name.
    pub name: EnvironmentName,
    /// The file.
    pub file: PathBuf,
    /// Its description, when the file manages it.
    pub description: Option<Description>,
    /// Whether it is protected, when the file manages it.
    pub protected: Option<bool>,
    /// The baseline.
    pub baseline: DesiredProfile,
    /// Each machine role's overlay the file names.
    pub roles: BTreeMap<MachineRoleName, DesiredProfile>,
    /// Who has which role on it, when the file manages grants.
    pub grants: Option<BTreeMap<Username, EnvironmentRole>>,
    /// The labels of the machines the file names, by machine id (others are left as they are).
    pub labels: BTreeMap<Uuid, Labels>,
}

/// Reads every environment file of `folder`, by name.
///
/// # Errors
/// An unreadable folder or file, a file name that is no environment name, two files for one
/// environment, or a file that is not a valid state (each problem with the file and setting).
pub fn read(folder: &Path) -> Result<Vec<DesiredEnvironment>, String> {
    let entries = fs::read_dir(folder)
        .map_err(|e| format!("cannot read the folder {}: {e}", folder.display()))?;
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read the folder {}: {e}", folder.display()))?
            .path();
        let Some((stem, _)) = format_of(&path) else {
            continue;
        };
        if let Some(other) = found.insert(stem.clone(), path.clone()) {
            return Err(format!(
                "{} and {} both describe the environment {stem}; keep one",
                other.display(),
                path.display()
            ));
        }
    }
    if found.is_empty() {
        return Err(format!(
            "{} holds no environment file (NAME.toml or NAME.yaml); `switchyard export {}` writes the current state there",
            folder.display(),
            folder.display()
        ));
    }
    found.into_values().map(|path| read_file(&path)).collect()
}

/// The environment name and format of a state file, or `None` for any other file.
fn format_of(path: &Path) -> Option<(String, Format)> {
    if !path.is_file() {
        return None;
    }
    let stem = path.file_stem()?.to_str()?.to_owned();
    let format = match path.extension()?.to_str()? {
        "toml" => Format::Toml,
        "yaml" | "yml" => Format::Yaml,
        _ => return None,
    };
    (!stem.starts_with('.')).then_some((stem, format))
}

/// How a state file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML.
    Toml,
    /// YAML.
    Yaml,
}

fn read_file(path: &Path) -> Result<DesiredEnvironment, String> {
    let (stem, format) =
        format_of(path).ok_or_else(|| format!("{} is no state file", path.display()))?;
    let at = |problem: String| format!("{}: {problem}", path.display());
    let name = EnvironmentName::parse(stem.as_str())
        .map_err(|e| at(format!("the file's name must be the environment's: {e}")))?;
    let text = fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let document: Value = match format {
        Format::Toml => toml_edit::de::from_str(&text).map_err(|e| at(e.to_string()))?,
        Format::Yaml => serde_norway::from_str(&text).map_err(|e| at(e.to_string()))?,
    };
    let mut document = match document {
        // A key left empty in YAML (`grants:`) is as good as absent.
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        // An empty YAML file is no document at all: an environment with nothing set.
        Value::Null => Map::new(),
        _ => return Err(at("must be a table of settings".into())),
    };
    for key in document.keys() {
        if ![
            "description",
            "protected",
            "baseline",
            "roles",
            "grants",
            "labels",
        ]
        .contains(&key.as_str())
        {
            return Err(at(format!(
                "unknown key {key:?}; a state file has description, protected, baseline, roles, grants and labels"
            )));
        }
    }
    let description = match document.remove("description") {
        None => None,
        Some(Value::String(text)) => Some(Description::parse(text).map_err(|e| at(e.to_string()))?),
        Some(_) => return Err(at("description must be text".into())),
    };
    let protected = match document.remove("protected") {
        None => None,
        Some(Value::Bool(flag)) => Some(flag),
        Some(_) => return Err(at("protected must be true or false".into())),
    };
    let baseline = profile(
        document.remove("baseline").unwrap_or(Value::Null),
        "baseline",
    )
    .map_err(at)?;
    let mut roles = BTreeMap::new();
    match document.remove("roles") {
        None => {}
        Some(Value::Object(map)) => {
            for (role, value) in map {
                let role_name = MachineRoleName::parse(role.as_str())
                    .map_err(|e| at(format!("roles.{role}: {e}")))?;
                let overlay = profile(value, &format!("roles.{role}")).map_err(at)?;
                roles.insert(role_name, overlay);
            }
        }
        Some(_) => return Err(at("roles must be a table of machine roles".into())),
    }
    let grants = match document.remove("grants") {
        None => None,
        Some(Value::Object(map)) => {
            let mut grants = BTreeMap::new();
            for (user, role) in map {
                let username = Username::parse(user.as_str())
                    .map_err(|e| at(format!("grants.{user}: {e}")))?;
                let role = role
                    .as_str()
                    .and_then(|role| EnvironmentRole::parse(role).ok())
                    .ok_or_else(|| at(format!("grants.{user} must be \"ops\" or \"developer\"")))?;
                grants.insert(username, role);
            }
            Some(grants)
        }
        Some(_) => return Err(at("grants must be a table of user = role".into())),
    };
    let mut labels = BTreeMap::new();
    match document.remove("labels") {
        None => {}
        Some(Value::Object(map)) => {
            for (machine, value) in map {
                let id = Uuid::parse_str(&machine).map_err(|_| {
                    at(format!(
                        "labels.{machine}: a machine's id (`switchyard device list {name}`)"
                    ))
                })?;
                // Written `{ site = "office-b" }` or `"site=office-b, ring=canary"`.
                let read = match value {
                    Value::String(text) => text.parse::<Labels>().map_err(|e| e.to_string()),
                    other => serde_json::from_value::<Labels>(other).map_err(|e| e.to_string()),
                };
                labels.insert(id, read.map_err(|e| at(format!("labels.{machine}: {e}")))?);
            }
        }
        Some(_) => return Err(at("labels must be a table of machine id = labels".into())),
    }
    Ok(DesiredEnvironment {
        name,
        file: path.to_owned(),
        description,
        protected,
        baseline,
        roles,
        grants,
        labels,
    })
}

/// A profile from the TOML `text` of a state file's profile table (as `profile get` and
/// `profile edit` show it); `place` names it in errors.
///
/// # Errors
/// Text that is no TOML, or a profile the API's rules refuse.
pub fn profile_from_text(text: &str, place: &str) -> Result<DesiredProfile, String> {
    let value: Value = toml_edit::de::from_str(text).map_err(|e| format!("{place}: {e}"))?;
    profile(value, place)
}

/// Stands for a secret's source while the profile is read and normalized (normalizing may
/// rename the keys a secret sits under, such as a registry URL's), then gives way to "kept".
const SOURCE_MARK: &str = "switchyard-secret-source-";

/// A profile from the file's `value` at `place`: secret sources taken out (each left as
/// "kept"), then read and checked by the API's own rules.
fn profile(mut value: Value, place: &str) -> Result<DesiredProfile, String> {
    if value.is_null() {
        return Ok(DesiredProfile::default());
    }
    let mut sources = Vec::new();
    take_secrets(&mut value, String::new(), &mut sources).map_err(|e| format!("{place}{e}"))?;
    // The setting a wrong value sits at, named as the file names it.
    let read: Profile = serde_path_to_error::deserialize(value)
        .map_err(|e| format!("{place}.{}: {}", e.path(), e.inner()))?;
    let problems = read.validate();
    if !problems.is_empty() {
        let listed: Vec<String> = problems
            .iter()
            .map(|problem| format!("{place}.{}: {}", problem.path, problem.message))
            .collect();
        return Err(listed.join("; "));
    }
    let mut profile = read.normalized();
    let mut secrets = Vec::new();
    for (path, secret) in profile.secrets_mut() {
        let index = match &*secret {
            Secret::Value(text) => text
                .strip_prefix(SOURCE_MARK)
                .and_then(|index| index.parse::<usize>().ok()),
            Secret::Kept => None,
        };
        if let Some((_, source)) = index.and_then(|index| sources.get(index)) {
            secrets.push(DesiredSecret {
                path,
                source: source.clone(),
            });
            *secret = Secret::Kept;
        }
    }
    // A source anywhere but at a secret never reached one.
    if secrets.len() != sources.len() {
        let placed: Vec<&SecretSource> = secrets.iter().map(|secret| &secret.source).collect();
        let stray = sources
            .iter()
            .find(|(_, source)| !placed.contains(&source))
            .map_or_else(String::new, |(pointer, _)| dotted(pointer));
        return Err(format!(
            "{place}{stray}: only secrets take from_env, from_file or set"
        ));
    }
    Ok(DesiredProfile { profile, secrets })
}

/// Replaces each `{ from_env = ... }`, `{ from_file = ... }` or `{ set = true }` under
/// `value` with a marked secret value, noting its source (and where it was, for errors).
fn take_secrets(
    value: &mut Value,
    pointer: String,
    sources: &mut Vec<(String, SecretSource)>,
) -> Result<(), String> {
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            for (index, item) in items.iter_mut().enumerate() {
                take_secrets(item, format!("{pointer}/{index}"), sources)?;
            }
        }
        return Ok(());
    };
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    let source = match keys.as_slice() {
        ["from_env"] => match &map["from_env"] {
            // The command's own credential is never a profile's secret.
            // Windows reads variable names in any case.
            Value::String(name) if name.to_ascii_uppercase().starts_with("SWITCHYARD_") => {
                return Err(format!(
                    "{}: from_env may not read {name}, the command line's own setting",
                    dotted(&pointer)
                ))
            }
            Value::String(name) if !name.is_empty() => Some(SecretSource::FromEnv(name.clone())),
            _ => return Err(format!("{}: from_env names a variable", dotted(&pointer))),
        },
        ["from_file"] => match &map["from_file"] {
            Value::String(path) if Path::new(path).is_absolute() => {
                return Err(format!(
                    "{}: from_file names a file in the folder, by a relative path",
                    dotted(&pointer)
                ))
            }
            Value::String(path) if !path.is_empty() => {
                Some(SecretSource::FromFile(PathBuf::from(path)))
            }
            _ => return Err(format!("{}: from_file names a file", dotted(&pointer))),
        },
        ["set"] if map["set"] == Value::Bool(true) => Some(SecretSource::Keep),
        ["value"] => {
            return Err(format!(
                "{}: a secret's value is never kept in the folder; use from_env or from_file",
                dotted(&pointer)
            ))
        }
        _ => None,
    };
    if let Some(source) = source {
        *value = serde_json::json!({ "value": format!("{SOURCE_MARK}{}", sources.len()) });
        sources.push((pointer, source));
        return Ok(());
    }
    for (key, item) in map.iter_mut() {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        take_secrets(item, format!("{pointer}/{escaped}"), sources)?;
    }
    Ok(())
}

fn dotted(pointer: &str) -> String {
    pointer.replace('/', ".")
}

/// One environment's state as a file writes it: `profile` values as the API reads them
/// (secrets as `{ set = true }`, kept), empty profiles left out.
#[derive(Debug, Clone)]
pub struct ExportedEnvironment {
    /// Its description.
    pub description: Description,
    /// Whether it is protected.
    pub protected: bool,
    /// The baseline's latest version.
    pub baseline: Profile,
    /// Each overlay's latest version.
    pub roles: BTreeMap<MachineRoleName, Profile>,
    /// Who has which role, when the caller may read users.
    pub grants: Option<BTreeMap<Username, EnvironmentRole>>,
    /// The labels of its machines that have any, by id.
    pub labels: BTreeMap<Uuid, Labels>,
}

/// `environment` as the text of a state file in `format`.
///
/// # Errors
/// A profile that TOML or YAML cannot hold (never for a profile the API gave).
pub fn write(environment: &ExportedEnvironment, format: Format) -> Result<String, String> {
    let mut document = Map::new();
    document.insert(
        "description".into(),
        Value::String(environment.description.as_str().to_owned()),
    );
    document.insert("protected".into(), Value::Bool(environment.protected));
    let as_value = |profile: &Profile| -> Result<Value, String> {
        let mut value = serde_json::to_value(profile).map_err(|e| e.to_string())?;
        drop_nulls(&mut value);
        Ok(value)
    };
    if environment.baseline != Profile::default() {
        document.insert("baseline".into(), as_value(&environment.baseline)?);
    }
    let mut roles = Map::new();
    for (role, overlay) in &environment.roles {
        if *overlay != Profile::default() {
            roles.insert(role.to_string(), as_value(overlay)?);
        }
    }
    if !roles.is_empty() {
        document.insert("roles".into(), Value::Object(roles));
    }
    if let Some(grants) = &environment.grants {
        let grants = grants
            .iter()
            .map(|(user, role)| (user.to_string(), Value::String(role.as_str().to_owned())))
            .collect();
        document.insert("grants".into(), Value::Object(grants));
    }
    if !environment.labels.is_empty() {
        let labels = environment
            .labels
            .iter()
            .map(|(id, labels)| {
                let value = serde_json::to_value(labels).map_err(|e| e.to_string())?;
                Ok((id.to_string(), value))
            })
            .collect::<Result<Map<String, Value>, String>>()?;
        document.insert("labels".into(), Value::Object(labels));
    }
    let document = Value::Object(document);
    match format {
        Format::Toml => toml_edit::ser::to_string_pretty(&document).map_err(|e| e.to_string()),
        Format::Yaml => serde_norway::to_string(&document).map_err(|e| e.to_string()),
    }
}

/// One profile as a state file's TOML writes it (secrets as `{ set = true }`).
///
/// # Errors
/// A profile TOML cannot hold (never for one the API gave).
pub fn profile_text(profile: &Profile) -> Result<String, String> {
    let mut value = serde_json::to_value(profile).map_err(|e| e.to_string())?;
    drop_nulls(&mut value);
    toml_edit::ser::to_string_pretty(&value).map_err(|e| e.to_string())
}

/// TOML has no null: settings that are not set are left out.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, item| !item.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<DesiredEnvironment, String> {
        let folder = tempfile::tempdir().unwrap();
        fs::write(folder.path().join("staging.toml"), text).unwrap();
        read(folder.path()).map(|mut all| all.remove(0))
    }

    #[test]
    fn secrets_are_read_as_their_sources_at_the_place_the_server_names() {
        let staging = one("[baseline.npm]\nregistry = \"https://npm.corp.example\"\n\
             auth-tokens.\"https://npm.corp.example\" = { from_env = \"NPM_TOKEN\" }\n")
        .unwrap();
        let secrets = &staging.baseline.secrets;
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        assert_eq!(secrets[0].source, SecretSource::FromEnv("NPM_TOKEN".into()));
        let (path, secret) = staging.baseline.profile.secrets().remove(0);
        assert_eq!(path, secrets[0].path);
        assert_eq!(*secret, Secret::Kept);
    }
}
