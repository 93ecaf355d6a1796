//! Yarn (Berry, 2 and later): where it reads the npm registry's settings, and how the agent
//! asks it.
//!
//! Order, each over the ones after it (Yarn `Configuration.find` in `@yarnpkg/core`; each point
//! seen with Yarn 4.18.1): `YARN_*` variables (`YARN_NPM_REGISTRY_SERVER`, any case); the
//! `.yarnrc.yml` of the working folder, then of each folder above it up to the root; the
//! user's `~/.yarnrc.yml` (`%USERPROFILE%\.yarnrc.yml`). Scalars from the nearest file, maps
//! (`npmScopes`, `npmRegistries`) merged key by key. Yarn reads no `.npmrc`, and has no
//! machine-wide file. An unknown top-level key is ignored in the user's file (fatal in any
//! other).
//!
//! The agent writes, in `~/.yarnrc.yml`: `npmRegistryServer`; each scope's
//! `npmScopes.<scope without @>.npmRegistryServer` (a scope without one would go to Yarn's own
//! registry, not to `npmRegistryServer`); each token as `npmRegistries["<registry URL>"]` with
//! `npmAuthToken` and `npmAlwaysAuth: true` (Yarn sends a registry's token for unscoped
//! packages only then, as npm always does); the host of each registry reached over plain http
//! in `unsafeHttpWhitelist` (Yarn refuses one otherwise), beside the user's hosts;
//! `enableStrictSsl`, `httpProxy`, `httpsProxy`.
//! Never a top-level `npmAuthToken`, which Yarn sends to every scope's host.
//!
//! Asked with `yarn config get <path> --json` in an empty folder of the user's, reading the
//! user's file and the variables alone (`YARN_RC_FILENAME` naming no file: no folder's
//! `plugins` or `yarnPath` is loaded); tokens are compared, never shown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_proto::profile::{NpmClient, Secret};
use switchyard_proto::Profile;

use super::run::Ran;
use super::{set_before, variable, Asking, Check, Client, Surroundings};
use crate::formats::yaml::{Yaml, YamlSyntax};
use crate::formats::Editor;
use crate::plan::{self, is_secret_url, with_login, Decoded, Setting, Target};
use crate::platform::{Dirs, Os};

/// Yarn's `.yarnrc.yml`.
#[derive(Debug)]
pub struct YarnRc;

impl YamlSyntax for YarnRc {
    fn client(&self) -> &'static str {
        "Yarn"
    }

    fn boolean(&self, leaf: &str) -> bool {
        matches!(leaf, "enableStrictSsl" | "npmAlwaysAuth")
    }
}

fn setting(key: String, value: String, secret: bool) -> Setting {
    Setting {
        id: key.clone(),
        section: None,
        name: key.clone(),
        key,
        values: vec![value],
        secret,
        expand: false,
        multi: false,
    }
}

/// A registry URL as Yarn keys `npmRegistries`: without its trailing `/`
/// (`normalizeRegistry`), with its scheme, which Yarn looks up first (and `yarn npm login`
/// writes), so that an entry of the user's under the same URL cannot come before it, and an
/// `http` registry's token never goes to the `https` one.
fn registry_key(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// Yarn's settings for `profile` (normalized): the npm registry's, with `clients.yarn` over
/// them.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let Some(npm) = profile.npm_for(NpmClient::Yarn) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some(registry) = &npm.registry {
        found.push(setting("npmRegistryServer".into(), registry.clone(), false));
    }
    for (scope, url) in npm.scopes.iter().flatten() {
        let name = scope.trim_start_matches('@');
        found.push(setting(
            format!("npmScopes[\"{name}\"].npmRegistryServer"),
            url.clone(),
            false,
        ));
    }
    for (registry, token) in npm.auth_tokens.iter().flatten() {
        if let Secret::Value(token) = token {
            let key = registry_key(registry);
            found.push(setting(
                format!("npmRegistries[\"{key}\"].npmAuthToken"),
                token.clone(),
                true,
            ));
            found.push(setting(
                format!("npmRegistries[\"{key}\"].npmAlwaysAuth"),
                "true".into(),
                false,
            ));
        }
    }
    // Yarn refuses a registry over plain http unless its host is whitelisted
    // (`unsafeHttpWhitelist`, YN0081): one item beside the user's own for each such host.
    let mut plain_hosts: Vec<String> = npm
        .registry
        .iter()
        .chain(npm.scopes.iter().flat_map(|scopes| scopes.values()))
        .filter_map(|url| url::Url::parse(url).ok())
        .filter(|url| url.scheme() == "http")
        .filter_map(|url| url.host_str().map(str::to_owned))
        .collect();
    plain_hosts.sort();
    plain_hosts.dedup();
    for host in plain_hosts {
        let mut item = setting("unsafeHttpWhitelist".into(), host.clone(), false);
        item.id = format!("unsafeHttpWhitelist/{host}");
        item.multi = true;
        found.push(item);
    }
    if let Some(strict) = npm.strict_ssl {
        found.push(setting("enableStrictSsl".into(), strict.to_string(), false));
    }
    // npm sends every request through `https-proxy`, else `proxy`, whatever the registry's
    // scheme (npm-registry-fetch `lib/index.js`): Yarn gets that one proxy for both.
    let logins = plan::logins(profile);
    if let Some(url) = npm.https_proxy.as_ref().or(npm.proxy.as_ref()) {
        let url = with_login(url, logins, Decoded::Once);
        let secret = is_secret_url(&url);
        for key in ["httpProxy", "httpsProxy"] {
            found.push(setting(key.into(), url.clone(), secret));
        }
    }
    found
}

/// The variable Yarn reads over its files for a top-level key: `YARN_` and the key in
/// capitals, words split by `_` (`npmRegistryServer` -> `YARN_NPM_REGISTRY_SERVER`).
fn variable_of(key: &str) -> String {
    let mut name = String::from("YARN_");
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The variables of `env` Yarn reads instead of its files for `settings` (top-level keys;
/// a map's entries cannot be set by a variable).
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    settings
        .iter()
        .filter(|setting| !setting.key.contains(['.', '[']))
        .filter_map(|setting| {
            let (name, value) = variable(env, &variable_of(&setting.key))?;
            Some((name, value, setting))
        })
        .collect()
}

/// What Yarn reads before the user's file, by the order above: its variables, and the
/// `.yarnrc.yml` of the folder the agent runs in and those above it.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found: Vec<String> = variables(settings, around.env)
        .into_iter()
        .map(|(name, value, setting)| set_before(name, value, setting, "Yarn"))
        .collect();
    let ours = around.paths.files.get(&Target::Yarn);
    for folder in around.cwd.into_iter().flat_map(std::path::Path::ancestors) {
        let file = folder.join(".yarnrc.yml");
        if Some(&file) != ours && file.is_file() {
            found.push(format!(
                "Yarn reads {} before the user's own file",
                file.display()
            ));
        }
    }
    found
}

/// What Yarn reads for `settings`.
pub fn check(asking: &Asking) -> Check {
    let folder = match super::EmptyFolder::new("yarn", &asking.runner.cwd) {
        Ok(folder) => folder,
        Err(error) => return Check::Failed(format!("no empty folder to ask Yarn in: {error}")),
    };
    let mut runner = asking.runner.clone();
    runner.cwd = folder.path().to_owned();
    // Only the user's file and the variables: no folder's `.yarnrc.yml` (whose `plugins`
    // Yarn would load, and whose `yarnPath` it would start) is read.
    runner.env.insert(
        "YARN_RC_FILENAME".to_owned(),
        ".switchyard-reads-no-project-file.yml".to_owned(),
    );
    runner
        .env
        .insert("YARN_IGNORE_PATH".to_owned(), "1".to_owned());
    runner
        .env
        .insert("YARN_ENABLE_TELEMETRY".to_owned(), "0".to_owned());
    let mut differences = Vec::new();
    for setting in asking.settings {
        let args = [
            "config",
            "get",
            setting.key.as_str(),
            "--json",
            "--no-redacted",
        ];
        let said = match runner.run("yarn", &args) {
            Ran::Missing => return Check::NotInstalled,
            Ran::Failed(problem) => return Check::Failed(problem),
            Ran::Said(said) => said,
        };
        let read = match serde_json::from_str::<serde_json::Value>(said.trim()) {
            Ok(serde_json::Value::String(text)) => text,
            Ok(serde_json::Value::Null) => String::new(),
            Ok(other) => other.to_string(),
            Err(_) => {
                return Check::Failed("yarn config get printed something else than JSON".into())
            }
        };
        let published = &setting.values[0];
        if setting.multi {
            let listed = serde_json::from_str::<Vec<String>>(&read).unwrap_or_default();
            if !listed.contains(published) {
                differences.push(format!("Yarn does not list {published} in {}", setting.key));
            }
            continue;
        }
        // Yarn lists a registry without the trailing `/` it drops.
        let same =
            read == *published || read.trim_end_matches('/') == published.trim_end_matches('/');
        if !same {
            let shown = match setting.secret {
                true => "another value".to_owned(),
                false if read.is_empty() => "nothing".to_owned(),
                false => read,
            };
            differences.push(format!("Yarn reads {} = {shown}", setting.key));
        }
    }
    Check::Read(differences)
}

/// Yarn as a [`Client`].
#[derive(Debug)]
pub struct Yarn;

impl Client for Yarn {
    fn target(&self) -> Target {
        Target::Yarn
    }

    fn name(&self) -> &'static str {
        "Yarn"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Yaml<YarnRc> = Yaml(YarnRc);
        &EDITOR
    }

    /// `~/.yarnrc.yml`; none for the machine: Yarn has no such file.
    fn file(&self, _os: Os, dirs: &Dirs, _env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => Some(home.join(".yarnrc.yml")),
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
    fn yarns_keys_for_a_profile() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "npm": {"registry": "https://npm.corp.example/",
                    "scopes": {"@corp": "https://npm.corp.example/corp/"},
                    "auth-tokens": {"https://npm.corp.example/corp/": {"value": "t0ken"}},
                    "strict-ssl": false}
        }))
        .unwrap();
        let keys: Vec<(String, String)> = settings(&profile)
            .into_iter()
            .map(|s| (s.key, s.values[0].clone()))
            .collect();
        let expected = [
            ("npmRegistryServer", "https://npm.corp.example/"),
            (
                "npmScopes[\"corp\"].npmRegistryServer",
                "https://npm.corp.example/corp/",
            ),
            (
                "npmRegistries[\"https://npm.corp.example/corp\"].npmAuthToken",
                "t0ken",
            ),
            (
                "npmRegistries[\"https://npm.corp.example/corp\"].npmAlwaysAuth",
                "true",
            ),
            ("enableStrictSsl", "false"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(keys, expected);
        assert_eq!(variable_of("npmRegistryServer"), "YARN_NPM_REGISTRY_SERVER");
        assert_eq!(variable_of("httpsProxy"), "YARN_HTTPS_PROXY");
    }
}
