//! npm: where it reads its settings, and how the agent asks it what it read.
//!
//! Order, each level over the ones after it (npm docs `configuring-npm/npmrc.md` and
//! @npmcli/config `lib/index.js`, `load`): the command line; the environment
//! (`npm_config_<key>`, any case); the project's `.npmrc` (the nearest folder with a
//! `package.json` or `node_modules`); the user file (`NPM_CONFIG_USERCONFIG`, else
//! `~/.npmrc`); the global file (`$PREFIX/etc/npmrc`); npm's builtin file. Keys after a
//! `[section]` line are not read (see `formats::npmrc`). A token is bound to a registry by
//! `//host[:port]/path/:_authToken`, host lower-cased and default port dropped
//! (npm-registry-fetch `lib/auth.js`).
//!
//! Asked with `npm config list`, which names each level's file and marks what a higher level
//! overrides; token values show as `(protected)`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_proto::profile::{NpmClient, Secret};
use switchyard_proto::Profile;

use super::run::{Ran, Runner};
use super::{set_before, variable, Asking, Check, Client, Surroundings};
use crate::formats::npmrc::Npmrc;
use crate::formats::{flat, Editor, Flat};
use crate::plan::{self, flat, is_secret_url, with_login, Decoded, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// What npm reads before the user file, by the order above: `npm_config_*` variables, and a
/// project's `.npmrc` in the folder the agent runs in.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value, setting) in variables(settings, around.env) {
        found.push(set_before(name, value, setting, "npm"));
    }
    let ours = around.paths.files.get(&Target::Npmrc);
    if let Some(project) = around
        .cwd
        .map(|dir| dir.join(".npmrc"))
        .filter(|project| Some(project) != ours)
    {
        if let Ok(content) = std::fs::read_to_string(&project) {
            for setting in settings {
                if flat::get(&Npmrc, &content, &setting.key).is_some() {
                    found.push(format!(
                        "{} sets {} for the project there",
                        project.display(),
                        setting.key
                    ));
                }
            }
        }
    }
    found
}

/// The keys npm reads as active, with their value as listed and the level's name and file.
fn active(listing: &str) -> BTreeMap<String, (String, String)> {
    let mut found = BTreeMap::new();
    let mut level = String::new();
    for line in listing.lines() {
        if let Some(header) = line.strip_prefix("; \"") {
            if let Some((name, place)) = header.split_once("\" config from ") {
                level = format!("{name} config ({place})");
            }
            continue;
        }
        if line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        if let Some((key, value)) = line.split_once(" = ") {
            let value = serde_json::from_str::<String>(value).unwrap_or_else(|_| value.to_owned());
            found.insert(key.trim().to_owned(), (value, level.clone()));
        }
    }
    found
}

/// The variables of `env` npm reads instead of its files for `settings` (`npm_config_<key>`,
/// `-` as `_`, in any case): (name, value, setting). Keys with `:` or `/` cannot be carried by
/// a variable's name.
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    settings
        .iter()
        .filter(|s| !s.key.starts_with(['@', '/']))
        .filter_map(|setting| {
            let wanted = format!("npm_config_{}", setting.key.replace('-', "_"));
            let (name, value) = variable(env, &wanted)?;
            Some((name, value, setting))
        })
        .collect()
}

/// A URL without its password: npm lists a proxy's as `***` (@npmcli/redact), so the rest is
/// what can be compared. Anything that is no URL with a password stays as it is.
fn without_password(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => value.to_owned(),
    }
}

/// What npm reads for `settings`, which the agent wrote to `file`.
pub fn check(runner: &Runner, settings: &[Setting], file: &Path) -> Check {
    let listing = match runner.run("npm", &["config", "list"]) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(listing) => listing,
    };
    let active = active(&listing);
    let ours = super::same_file(file);
    let mut differences = Vec::new();
    for setting in settings {
        let expected = without_password(&setting.values.join(" "));
        match active.get(&setting.key) {
            None => differences.push(format!("npm reads no {}", setting.name)),
            // npm shows no token: it must at least come from the agent's file.
            Some((_, level)) if setting.secret && setting.key.ends_with(":_authToken") => {
                if !ours(level) {
                    differences.push(format!("npm takes {} from the {level}", setting.name));
                }
            }
            Some((value, level)) if without_password(value) != expected && !setting.secret => {
                differences.push(format!(
                    "npm reads {} = {value} from the {level}",
                    setting.name
                ))
            }
            Some((value, level)) if without_password(value) != expected => differences.push(
                format!("npm reads another {} from the {level}", setting.name),
            ),
            // npm shows no password either: the same user and host with another password,
            // from anywhere but the agent's file, is another login.
            Some((_, level)) if setting.secret && !ours(level) => differences.push(format!(
                "npm takes {} (its login hidden) from the {level}",
                setting.name
            )),
            Some(_) => {}
        }
    }
    // Offline, npm reads the registry setting and never asks the registry.
    if settings.iter().any(|s| s.key == "registry") {
        if let Some((value, level)) = active.get("offline").filter(|(v, _)| v == "true") {
            differences.push(format!(
                "npm works offline (offline = {value} in the {level}): it asks no registry"
            ));
        }
    }
    Check::Read(differences)
}

/// `client`'s keys in `.npmrc` form for `profile` (normalized): `registry`,
/// `@scope:registry`, each token bound to its registry as `//host/path/:_authToken`,
/// `strict-ssl`, and `proxy` and `https-proxy` with their login.
pub fn settings(profile: &Profile, client: NpmClient) -> Vec<Setting> {
    let mut npmrc = Vec::new();
    let logins = plan::logins(profile);
    if let Some(npm) = &profile.npm_for(client) {
        if let Some(registry) = &npm.registry {
            npmrc.push(flat("registry", registry.clone(), false));
        }
        for (scope, url) in npm.scopes.iter().flatten() {
            npmrc.push(flat(&format!("{scope}:registry"), url.clone(), false));
        }
        for (registry, token) in npm.auth_tokens.iter().flatten() {
            if let Secret::Value(token) = token {
                let bound = switchyard_proto::profile::normalize::npm_token_registry(registry);
                npmrc.push(flat(&format!("//{bound}:_authToken"), token.clone(), true));
            }
        }
        if let Some(strict) = npm.strict_ssl {
            npmrc.push(flat("strict-ssl", strict.to_string(), false));
        }
        for (key, url) in [("proxy", &npm.proxy), ("https-proxy", &npm.https_proxy)] {
            if let Some(url) = url {
                let url = with_login(url, logins, Decoded::Once);
                let secret = is_secret_url(&url);
                npmrc.push(flat(key, url, secret));
            }
        }
    }
    npmrc
}

/// npm as a [`Client`].
#[derive(Debug)]
pub struct Npm;

impl Client for Npm {
    fn target(&self) -> Target {
        Target::Npmrc
    }

    fn name(&self) -> &'static str {
        "npm"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Flat<Npmrc> = Flat(Npmrc);
        &EDITOR
    }

    /// `NPM_CONFIG_USERCONFIG`, else `~/.npmrc`; npm has no machine-wide file of its own
    /// (its global one is under its install prefix), so none there.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => Some(
                platform::set(env, "NPM_CONFIG_USERCONFIG")
                    .map_or_else(|| home.join(".npmrc"), PathBuf::from),
            ),
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
        settings(profile, NpmClient::Npm)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking.runner, asking.settings, asking.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_in_any_case_or_a_projects_file_comes_first() {
        use crate::clients::setting;
        let project = tempfile::tempdir().unwrap();
        std::fs::write(project.path().join(".npmrc"), "registry=https://p/\n").unwrap();
        let paths = crate::clients::user_paths(std::path::Path::new("/home/ada"), &BTreeMap::new());
        let env = BTreeMap::from([("NPM_CONFIG_STRICT_SSL".to_owned(), "false".to_owned())]);
        let around = Surroundings {
            paths: &paths,
            env: &env,
            cwd: Some(project.path()),
        };
        let found = modelled(
            &[
                setting("registry", "https://r/"),
                setting("strict-ssl", "true"),
            ],
            &around,
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn the_listing_names_where_each_active_key_comes_from() {
        let listing = "; \"user\" config from /home/ada/.npmrc\n\n//r/:_authToken = (protected)\n; registry = \"https://r/\" ; overridden by env\n\n; \"env\" config from environment\n\nregistry = \"https://e/\"\nstrict-ssl = false\n";
        let active = active(listing);
        assert_eq!(
            active["registry"],
            (
                "https://e/".to_owned(),
                "env config (environment)".to_owned()
            )
        );
        assert_eq!(
            active["//r/:_authToken"].1,
            "user config (/home/ada/.npmrc)"
        );
        assert_eq!(active["strict-ssl"].0, "false");
        // A proxy's password is listed as ***: the rest is compared.
        assert_eq!(
            without_password("http://u:***@127.0.0.1:18999/"),
            without_password("http://u:p%40ss@127.0.0.1:18999/")
        );
    }
}
