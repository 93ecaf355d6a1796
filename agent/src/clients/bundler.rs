//! Bundler: where it reads its mirror of rubygems.org and the mirror's login, and how the
//! agent asks it.
//!
//! Order (Bundler 2.3 `settings.rb`, `Bundler::Settings#[]`; each point seen with Bundler
//! 2.3.15): the command line; the application's `.bundle/config` (beside its `Gemfile`);
//! `BUNDLE_*` variables; the user's file (`BUNDLE_USER_CONFIG`, else `config` in
//! `BUNDLE_USER_HOME`, else `~/.bundle/config`). Bundler has no machine-wide file. A mirror
//! written as a URL (`mirror.https://rubygems.org/`, kept as
//! `BUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/`) is taken over one written as a host
//! (`BUNDLE_MIRROR__RUBYGEMS__ORG`), wherever each is set. A host's login is kept under its name
//! (`BUNDLE_GEMS__CORP__EXAMPLE: "user:password"`), percent-decoded as a form is.
//!
//! The file is not YAML, though it looks like it (`yaml_serializer.rb`): one `KEY: value` line
//! a key, the value's quotes dropped and nothing unescaped, a line that starts with a blank
//! breaks every command. The agent writes `KEY: "value"` lines through the flat editor (every
//! other line kept), values without quotes, backslashes or `: `.
//!
//! Asked with `bundle config get --parseable KEY` in an empty folder of the user's (no
//! application's file), for the mirror and the login (compared, never shown).

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_proto::profile::{RubygemsClient, Secret};
use switchyard_proto::Profile;

use super::run::Ran;
use super::{set_before, Asking, Check, Client, EmptyFolder, Surroundings};
use crate::formats::flat::{self, single_line, FlatSyntax};
use crate::formats::lines::Lines;
use crate::formats::{Editor, FormatError};
use crate::plan::{flat, userinfo, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// The key of the mirror of rubygems.org, as `bundle config set mirror.https://rubygems.org/`
/// keeps it.
const MIRROR: &str = "BUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/";

/// Bundler's `config` lines.
#[derive(Debug)]
pub struct BundleConfig;

impl FlatSyntax for BundleConfig {
    fn key_of(&self, line: &str) -> Option<String> {
        let (key, _) = line.split_once(": ")?;
        let valid = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
        valid.then(|| key.to_owned())
    }

    /// The value, one quote dropped at each end, nothing unescaped (`HASH_REGEX`).
    fn value_of(&self, line: &str) -> Option<String> {
        let (_, value) = line.split_once(": ")?;
        let value = value.strip_prefix(['"', '\'']).unwrap_or(value);
        let value = value.strip_suffix(['"', '\'']).unwrap_or(value);
        Some(value.to_owned())
    }

    fn line(&self, key: &str, value: &str) -> Result<String, FormatError> {
        single_line(key, value)?;
        if value.contains(['"', '\\']) || value.contains(": ") || value.trim() != value {
            return Err(FormatError::unsafe_value(
                key,
                "holds a quote, a backslash, \": \" or blanks at an end, which Bundler would read otherwise",
            ));
        }
        Ok(format!("{key}: \"{value}\""))
    }
}

/// Bundler's `config` as an [`Editor`]: the flat editor, and a file Bundler cannot read left
/// alone.
#[derive(Debug)]
pub struct BundleConfigFile;

impl Editor for BundleConfigFile {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let edits: Vec<(String, Option<String>)> = changes
            .iter()
            .map(|(setting, values)| (setting.key.clone(), values.as_ref().map(|v| v.join(" "))))
            .collect();
        flat::apply(&BundleConfig, content, &edits)
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        flat::get(&BundleConfig, content, &setting.key).map(|value| vec![value])
    }

    /// A line that starts with a blank stops every Bundler command (it is no `KEY: value`).
    fn unreadable(&self, content: &str) -> Option<(&'static str, String)> {
        let lines = Lines::parse(content);
        lines
            .0
            .iter()
            .position(|line| line.text.starts_with([' ', '\t']))
            .map(|at| {
                (
                    "Bundler",
                    format!(
                        "line {} starts with a blank, which Bundler cannot read",
                        at + 1
                    ),
                )
            })
    }
}

/// The key Bundler keeps a host's login under: `BUNDLE_` and the host, `.` as `__`, `-` as
/// `___`, in capitals (`Bundler::Settings#key_for`).
fn login_key(host: &str) -> String {
    format!(
        "BUNDLE_{}",
        host.replace('-', "___")
            .replace('.', "__")
            .to_ascii_uppercase()
    )
}

/// What the agent writes in Bundler's `config` for `profile` (normalized): the mirror of
/// rubygems.org and its login, from `rubygems` with `clients.bundler` over it.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let Some(rubygems) = profile.rubygems_for(RubygemsClient::Bundler) else {
        return Vec::new();
    };
    let Some(source) = &rubygems.source else {
        return Vec::new();
    };
    let mut found = vec![flat(MIRROR, source.clone(), false)];
    let host = url::Url::parse(source)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    if let (Some(host), Some(username), Some(Secret::Value(password))) =
        (host, &rubygems.username, &rubygems.password)
    {
        let login = format!("{}:{}", userinfo(username), userinfo(password));
        found.push(flat(&login_key(&host), login, true));
    }
    found
}

/// The variables of `env` Bundler reads over the user's file for `settings`: a login's key
/// (the mirror's, a URL, cannot be a variable).
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    settings
        .iter()
        .filter_map(|setting| {
            let (name, value) = env.get_key_value(&setting.key)?;
            (!value.is_empty()).then_some((name.as_str(), value.as_str(), setting))
        })
        .collect()
}

/// What Bundler reads over the user's file: variables, and an application's `.bundle/config`
/// with its own mirror in the folder the agent runs in or above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found: Vec<String> = variables(settings, around.env)
        .into_iter()
        .map(|(name, value, setting)| set_before(name, value, setting, "Bundler"))
        .collect();
    let ours = around.paths.files.get(&Target::Bundler);
    for folder in around.cwd.into_iter().flat_map(std::path::Path::ancestors) {
        let file = folder.join(".bundle").join("config");
        if Some(&file) == ours || !folder.join("Gemfile").is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if flat::get(&BundleConfig, &text, MIRROR).is_some() {
            found.push(format!(
                "Bundler reads the mirror in {} over the user's file",
                file.display()
            ));
        }
    }
    found
}

/// The user's file: `BUNDLE_USER_CONFIG`, else `config` in `BUNDLE_USER_HOME`, else
/// `~/.bundle/config` (`Bundler::Settings.global_config_file`).
fn user_file(home: &std::path::Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(file) = platform::set(env, "BUNDLE_USER_CONFIG") {
        return PathBuf::from(file);
    }
    platform::set(env, "BUNDLE_USER_HOME")
        .map_or_else(|| home.join(".bundle"), PathBuf::from)
        .join("config")
}

/// The name `bundle config` takes for a key of the file (`BUNDLE_GEMS__CORP__EXAMPLE` is
/// `gems.corp.example`, the mirror `mirror.https://rubygems.org/`).
fn config_name(key: &str) -> String {
    key.trim_start_matches("BUNDLE_")
        .replace("___", "-")
        .replace("__", ".")
        .to_ascii_lowercase()
}

/// What Bundler reads for `settings`.
pub fn check(asking: &Asking) -> Check {
    let folder = match EmptyFolder::new("bundler", &asking.runner.cwd) {
        Ok(folder) => folder,
        Err(error) => return Check::Failed(format!("no empty folder to ask Bundler in: {error}")),
    };
    let mut runner = asking.runner.clone();
    runner.cwd = folder.path().to_owned();
    let mut differences = Vec::new();
    for setting in asking.settings {
        let name = config_name(&setting.key);
        let said = match runner.run("bundle", &["config", "get", "--parseable", &name]) {
            Ran::Missing => return Check::NotInstalled,
            Ran::Failed(problem) => return Check::Failed(problem),
            Ran::Said(said) => said,
        };
        let read = said
            .lines()
            .find_map(|line| line.split_once('=').map(|(_, value)| value.to_owned()));
        let published = &setting.values[0];
        if read.as_deref() != Some(published.as_str()) {
            let shown = match (setting.secret, &read) {
                (_, None) => "nothing".to_owned(),
                (true, Some(_)) => "another value".to_owned(),
                (false, Some(read)) => read.clone(),
            };
            differences.push(format!("Bundler reads {name} = {shown}"));
        }
    }
    Check::Read(differences)
}

/// Bundler as a [`Client`].
#[derive(Debug)]
pub struct Bundler;

impl Client for Bundler {
    fn target(&self) -> Target {
        Target::Bundler
    }

    fn name(&self) -> &'static str {
        "Bundler"
    }

    fn editor(&self) -> &'static dyn Editor {
        &BundleConfigFile
    }

    /// The user's `config`; none for the machine: Bundler has no such file.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => Some(user_file(home, env)),
            Dirs::Machine { .. } => None,
        }
    }

    fn variables<'a>(
        &self,
        settings: &'a [Setting],
        env: &'a BTreeMap<String, String>,
    ) -> Option<Vec<(&'a str, &'a str, &'a Setting)>> {
        Some(variables(settings, env))
    }

    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String> {
        modelled(settings, around)
    }

    fn settings(&self, profile: &Profile, _os: Os) -> Vec<Setting> {
        settings(profile)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_as_bundler_keeps_them() {
        assert_eq!(
            login_key("gems.corp-eu.example"),
            "BUNDLE_GEMS__CORP___EU__EXAMPLE"
        );
        assert_eq!(
            config_name("BUNDLE_GEMS__CORP___EU__EXAMPLE"),
            "gems.corp-eu.example"
        );
        assert_eq!(config_name(MIRROR), "mirror.https://rubygems.org/");
        let user = "---\nBUNDLE_JOBS: \"4\"\nBUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/: 'https://old.example/'\n";
        let mirror = flat(MIRROR, "https://gems.corp.example/".into(), false);
        let written = BundleConfigFile
            .render(user, &[(&mirror, Some(mirror.values.clone()))])
            .unwrap();
        assert_eq!(
            written,
            "---\nBUNDLE_JOBS: \"4\"\nBUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/: \"https://gems.corp.example/\"\n"
        );
        assert_eq!(
            BundleConfigFile.current(user, &mirror),
            Some(vec!["https://old.example/".to_owned()])
        );
        assert!(BundleConfigFile
            .unreadable("---\n  BUNDLE_JOBS: 4\n")
            .is_some());
        let quoted = flat("BUNDLE_X", "a\"b".into(), false);
        assert!(BundleConfigFile
            .render("", &[(&quoted, Some(quoted.values.clone()))])
            .is_err());
    }

    #[test]
    fn the_login_goes_under_the_mirrors_host() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "rubygems": {"source": "https://gems.corp.example:8443/", "username": "ada",
                         "password": {"value": "p@ss+w"}}
        }))
        .unwrap();
        let found: Vec<(String, String)> = settings(&profile.normalized())
            .into_iter()
            .map(|s| (s.key, s.values[0].clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    MIRROR.to_owned(),
                    "https://gems.corp.example:8443/".to_owned()
                ),
                (
                    "BUNDLE_GEMS__CORP__EXAMPLE".to_owned(),
                    "ada:p%40ss%2Bw".to_owned()
                ),
            ]
        );
    }
}
