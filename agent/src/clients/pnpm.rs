//! pnpm: where it reads the npm registry's settings, and how the agent asks it.
//!
//! Order, each over the ones after it (pnpm 12 `crates/config/src/lib.rs`,
//! `Config::current_inner`, and `crates/config-dir`; each point seen with pnpm 12.4.2): the
//! command line; `PNPM_CONFIG_*` variables (pnpm reads no `npm_config_*` but the token ones,
//! `npm_config_//host/:_authToken`); the workspace's `pnpm-workspace.yaml`; the global
//! `config.yaml` (`registry`, `registries`, `httpsProxy`, `proxy`, `_auth`); the project's
//! `.npmrc`; `auth.ini` in pnpm's config folder; the user's `.npmrc` (or the file
//! `NPM_CONFIG_USERCONFIG` names). The config folder is `$XDG_CONFIG_HOME/pnpm` wherever that
//! is set, else `%LOCALAPPDATA%\pnpm\config` on Windows and `~/.config/pnpm` on Linux. pnpm
//! has no machine-wide file and reads no `$PREFIX/etc/npmrc`. `strict-ssl`, `proxy` and
//! `https-proxy` count from the `.npmrc`-form files alone (`npmrc_auth.rs`).
//!
//! The agent writes pnpm's values (the npm registry's, with `clients.pnpm` over them) to
//! `auth.ini`, in the form npm's `.npmrc` takes (`formats::npmrc`): pnpm reads it over the
//! user's `.npmrc`, where npm's go, and npm never reads it.
//!
//! Asked with `pnpm config get registry` and `pnpm config get registries` (every scope's
//! registry, as JSON) and, for a token, `pnpm config get //host/:_authToken`. pnpm does not
//! show what it reads for `strict-ssl` and the proxies from those files, nor a token
//! `config.yaml` gives (which it sends): for those the documented order is followed, over
//! pnpm's own files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_proto::profile::NpmClient;
use switchyard_proto::Profile;

use super::run::{Ran, Runner};
use super::{set_before, variable, Asking, Check, Client, Surroundings};
use crate::formats::npmrc::Npmrc;
use crate::formats::{Editor, Flat};
use crate::plan::{Setting, Target};
use crate::platform::{self, Dirs, Os};

/// pnpm's config folder for a user: `$XDG_CONFIG_HOME/pnpm`, else `%LOCALAPPDATA%\pnpm\config`
/// (Windows; `~/.config/pnpm` without it) or `pnpm` under the config folder
/// (`crates/config-dir`).
fn config_folder(
    os: Os,
    (home, config): (&Path, &Path),
    env: &dyn Fn(&str) -> Option<String>,
) -> PathBuf {
    if let Some(xdg) = platform::set(env, "XDG_CONFIG_HOME") {
        return PathBuf::from(xdg).join("pnpm");
    }
    match (os, platform::set(env, "LOCALAPPDATA")) {
        (Os::Windows, Some(local)) => PathBuf::from(local).join("pnpm").join("config"),
        (Os::Windows, None) => home.join(".config").join("pnpm"),
        (Os::Unix, _) => config.join("pnpm"),
    }
}

/// The variables of `env` pnpm reads instead of its files for `settings`:
/// `PNPM_CONFIG_REGISTRY`, `PNPM_CONFIG_PROXY`, `PNPM_CONFIG_HTTPS_PROXY` (any case) and, for a
/// token, `npm_config_<key>` or `pnpm_config_<key>` with the key as written.
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    settings
        .iter()
        .filter_map(|setting| {
            let found = match setting.key.starts_with("//") {
                true => variable(env, &format!("pnpm_config_{}", setting.key))
                    .or_else(|| variable(env, &format!("npm_config_{}", setting.key))),
                // Measured: pnpm reads these three of its variables, and no `strict-ssl`
                // nor scope.
                false if matches!(setting.key.as_str(), "registry" | "proxy" | "https-proxy") => {
                    variable(
                        env,
                        &format!("pnpm_config_{}", setting.key.replace('-', "_")),
                    )
                }
                false => None,
            };
            found.map(|(name, value)| (name, value, setting))
        })
        .collect()
}

/// The keys pnpm's `config.yaml` in `folder` sets over its ini files, for `settings`:
/// `registry`, `registries` (naming a scope of `settings`), `httpsProxy`, `proxy`, each a
/// top-level key; with `asked`, only those pnpm does not show (the proxies).
fn set_in_config_yaml(settings: &[Setting], folder: &Path, asked: bool) -> Vec<String> {
    let file = folder.join("config.yaml");
    let Ok(content) = std::fs::read_to_string(&file) else {
        return Vec::new();
    };
    let top_level = |key: &str| {
        content.lines().any(|line| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
    };
    let mut found = Vec::new();
    for setting in settings {
        let (yaml_key, shown) = match setting.key.as_str() {
            "registry" => ("registry", true),
            "https-proxy" => ("httpsProxy", false),
            "proxy" => ("proxy", false),
            key => match key.strip_suffix(":registry") {
                Some(scope) if content.contains(scope) => ("registries", true),
                _ => continue,
            },
        };
        if (!asked || !shown) && top_level(yaml_key) {
            found.push(format!(
                "{} sets {yaml_key}, which pnpm reads over {}",
                file.display(),
                setting.name
            ));
        }
    }
    found.dedup();
    found
}

/// What pnpm reads before its `auth.ini`, by the order above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found: Vec<String> = variables(settings, around.env)
        .into_iter()
        .map(|(name, value, setting)| set_before(name, value, setting, "pnpm"))
        .collect();
    if let Some(folder) = around
        .paths
        .files
        .get(&Target::Pnpm)
        .and_then(|f| f.parent())
    {
        found.extend(set_in_config_yaml(settings, folder, false));
    }
    found
}

/// A registry URL as pnpm lists it: with a `/` at its end (pnpm adds one).
fn with_slash(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

/// What pnpm reads for `settings`, written to `file`.
pub fn check(runner: &Runner, settings: &[Setting], file: &Path) -> Check {
    // pnpm takes the `.npmrc` of the folder it starts in as the project's, read over its
    // `auth.ini`; in a user's home that is the user's own `.npmrc`, where npm's values go.
    let folder = match super::EmptyFolder::new("pnpm", &runner.cwd) {
        Ok(folder) => folder,
        Err(error) => return Check::Failed(format!("no empty folder to ask pnpm in: {error}")),
    };
    let mut runner = runner.clone();
    runner.cwd = folder.path().to_owned();
    let get = |key: &str| match runner.run("pnpm", &["config", "get", key]) {
        Ran::Said(said) => Ok(Some(said.trim().to_owned())),
        Ran::Missing => Ok(None),
        Ran::Failed(problem) => Err(problem),
    };
    let registries = match get("registries") {
        Ok(Some(said)) => said,
        Ok(None) => return Check::NotInstalled,
        Err(problem) => return Check::Failed(problem),
    };
    let Ok(registries) = serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&registries)
    else {
        return Check::Failed("pnpm config get registries printed something else than JSON".into());
    };
    // The registry pnpm uses for a scope (`@` for unscoped packages).
    let registry_of = |scope: &str| {
        registries.iter().find_map(|(url, route)| {
            let scopes = route["scopes"].as_array()?;
            scopes
                .iter()
                .any(|s| s.as_str() == Some(scope))
                .then(|| url.clone())
        })
    };
    let mut differences = Vec::new();
    for setting in settings {
        let published = &setting.values[0];
        let scope = match setting.key.as_str() {
            "registry" => Some("@"),
            key => key.strip_suffix(":registry"),
        };
        if let Some(scope) = scope {
            match registry_of(scope) {
                Some(url) if with_slash(&url) == with_slash(published) => {}
                Some(url) => differences.push(format!("pnpm uses {url} for {}", setting.name)),
                None => differences.push(format!("pnpm reads no {}", setting.name)),
            }
        } else if setting.key.ends_with(":_authToken") {
            match get(&setting.key) {
                Ok(Some(value)) if value == *published => {}
                Ok(_) => differences.push(format!("pnpm reads another {}", setting.name)),
                Err(problem) => return Check::Failed(problem),
            }
        }
    }
    if let Some(folder) = file.parent() {
        differences.extend(set_in_config_yaml(settings, folder, true));
    }
    differences.extend(
        variables(settings, &runner.env)
            .into_iter()
            .filter(|(_, value, setting)| setting.values[0] != *value)
            .map(|(name, value, setting)| set_before(name, value, setting, "pnpm")),
    );
    Check::Read(differences)
}

/// pnpm as a [`Client`].
#[derive(Debug)]
pub struct Pnpm;

impl Client for Pnpm {
    fn target(&self) -> Target {
        Target::Pnpm
    }

    fn name(&self) -> &'static str {
        "pnpm"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Flat<Npmrc> = Flat(Npmrc);
        &EDITOR
    }

    /// `auth.ini` in pnpm's config folder; none for the machine: pnpm has no such file.
    fn file(&self, os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, config } => {
                Some(config_folder(os, (home, config), env).join("auth.ini"))
            }
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
        super::npm::settings(profile, NpmClient::Pnpm)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking.runner, asking.settings, asking.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnpms_folder_follows_xdg_everywhere_and_local_app_data_on_windows() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let config = (Path::new("/home/ada"), Path::new("/home/ada/.config"));
        assert_eq!(
            config_folder(Os::Unix, config, &env(&[])),
            Path::new("/home/ada/.config/pnpm")
        );
        assert_eq!(
            config_folder(Os::Windows, config, &env(&[("LOCALAPPDATA", "C:\\L")])),
            Path::new("C:\\L").join("pnpm").join("config")
        );
        assert_eq!(
            config_folder(Os::Windows, config, &env(&[])),
            Path::new("/home/ada/.config/pnpm")
        );
        assert_eq!(
            config_folder(
                Os::Windows,
                config,
                &env(&[("LOCALAPPDATA", "C:\\L"), ("XDG_CONFIG_HOME", "C:\\X")])
            ),
            Path::new("C:\\X").join("pnpm")
        );
    }

    #[test]
    fn pnpm_reads_its_own_variables_and_npms_only_for_tokens() {
        use crate::clients::setting;
        let settings = [
            setting("registry", "https://r/"),
            setting("//r/:_authToken", "t"),
        ];
        let env = BTreeMap::from([
            ("npm_config_registry".to_owned(), "https://npm/".to_owned()),
            (
                "PNPM_CONFIG_REGISTRY".to_owned(),
                "https://pnpm/".to_owned(),
            ),
            ("npm_config_//r/:_authToken".to_owned(), "other".to_owned()),
        ]);
        let found: Vec<&str> = variables(&settings, &env)
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        assert_eq!(
            found,
            ["PNPM_CONFIG_REGISTRY", "npm_config_//r/:_authToken"]
        );
    }
}
