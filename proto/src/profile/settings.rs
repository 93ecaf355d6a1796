//! A profile seen as a flat list of settings (`go.proxy`, `npm.scopes.@corp`, `env.GEM_HOST`,
//! `clients.uv.index-url`),
//! which is how diffs, provenance and audit trails name them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    EnvValue, GoFallback, GoProxyEntry, MavenSettings, NpmSettings, Profile, PypiSettings,
    RubygemsSettings, Secret,
};

/// One setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// A single value.
    Text(String),
    /// On or off.
    Flag(bool),
    /// A number.
    Number(u32),
    /// A list, replaced as a whole.
    List(Vec<String>),
    /// A secret: compared, never shown.
    Secret(Secret),
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Text(text) => f.write_str(&with_unicode_hosts(text)),
            Setting::Flag(flag) => write!(f, "{flag}"),
            Setting::Number(number) => write!(f, "{number}"),
            Setting::List(items) => write!(f, "[{}]", with_unicode_hosts(&items.join(", "))),
            Setting::Secret(_) => f.write_str("(secret)"),
        }
    }
}

/// `text` with the Unicode form of each international host name in it shown after it:
/// `https://xn--bcher-kva.example/ (xn--bcher-kva.example is bücher.example)`. Hosts are kept in
/// their IDNA form ([`super::normalize`]), which is what machines use; people read the other.
pub fn with_unicode_hosts(text: &str) -> String {
    let mut shown = text.to_owned();
    let mut seen = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
        let host = word.trim_matches('.');
        let international = host
            .split('.')
            .any(|label| label.len() > 4 && label[..4].eq_ignore_ascii_case("xn--"));
        if !international || seen.contains(&host) {
            continue;
        }
        seen.push(host);
        let (unicode, decoded) = idna::domain_to_unicode(host);
        // Only a name that encodes back to itself: punycode that decodes to symbols no
        // registry allows is shown as it is.
        let round_trip = idna::domain_to_ascii(&unicode).is_ok_and(|ascii| ascii == host);
        if decoded.is_ok() && round_trip && unicode != host {
            shown.push_str(&format!(" ({host} is {unicode})"));
        }
    }
    shown
}

/// `GOPROXY` as Go reads it: sources joined by `,` or `|`.
pub fn goproxy(entries: &[GoProxyEntry]) -> String {
    let mut text = String::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            text.push(match entries[i - 1].fallback {
                GoFallback::NotFound => ',',
                GoFallback::AnyError => '|',
            });
        }
        text.push_str(&entry.source);
    }
    text
}

fn list(items: &[String]) -> Setting {
    Setting::List(items.to_vec())
}

impl Profile {
    /// Every setting the profile holds, by path.
    pub fn settings(&self) -> BTreeMap<String, Setting> {
        let mut out = BTreeMap::new();
        let mut put = |path: String, setting: Option<Setting>| {
            if let Some(setting) = setting {
                out.insert(path, setting);
            }
        };
        if let Some(go) = &self.go {
            put(
                "go.proxy".into(),
                go.proxy.as_deref().map(|e| Setting::Text(goproxy(e))),
            );
            put("go.private".into(), go.private.as_deref().map(list));
            put("go.noproxy".into(), go.noproxy.as_deref().map(list));
            put("go.nosumdb".into(), go.nosumdb.as_deref().map(list));
            put("go.sumdb".into(), go.sumdb.clone().map(Setting::Text));
            put("go.insecure".into(), go.insecure.as_deref().map(list));
        }
        for (section, npm) in self.npm_sections() {
            npm.settings(section, &mut put);
        }
        for (section, pypi) in self.pypi_sections() {
            pypi.settings(section, &mut put);
        }
        if let Some(cargo) = &self.cargo {
            put(
                "cargo.registry".into(),
                cargo.registry.clone().map(Setting::Text),
            );
            put(
                "cargo.registry-token".into(),
                cargo.registry_token.clone().map(Setting::Secret),
            );
            for (name, index) in cargo.registries.iter().flatten() {
                put(
                    format!("cargo.registries.{name}"),
                    Some(Setting::Text(index.clone())),
                );
            }
            for (name, token) in cargo.tokens.iter().flatten() {
                put(
                    format!("cargo.tokens.{name}"),
                    Some(Setting::Secret(token.clone())),
                );
            }
            put(
                "cargo.http-proxy".into(),
                cargo.http_proxy.clone().map(Setting::Text),
            );
        }
        for (section, maven) in self.maven_sections() {
            maven.settings(section, &mut put);
        }
        for (section, rubygems) in self.rubygems_sections() {
            rubygems.settings(section, &mut put);
        }
        if let Some(git) = &self.git {
            put(
                "git.rewrites".into(),
                git.rewrites.as_ref().map(|rewrites| {
                    Setting::List(
                        rewrites
                            .iter()
                            .map(|r| {
                                let mut text = format!("{} <- {}", r.base, r.instead_of.join(" "));
                                if !r.push_instead_of.is_empty() {
                                    text.push_str(&format!(
                                        " (push: {})",
                                        r.push_instead_of.join(" ")
                                    ));
                                }
                                text
                            })
                            .collect(),
                    )
                }),
            );
            put(
                "git.http-proxy".into(),
                git.http_proxy.clone().map(Setting::Text),
            );
        }
        if let Some(proxy) = &self.proxy {
            put("proxy.http".into(), proxy.http.clone().map(Setting::Text));
            put("proxy.https".into(), proxy.https.clone().map(Setting::Text));
            put("proxy.no-proxy".into(), proxy.no_proxy.as_deref().map(list));
            for (origin, login) in proxy.credentials.iter().flatten() {
                let path = format!("proxy.credentials.{origin}");
                put(
                    format!("{path}.username"),
                    Some(Setting::Text(login.username.clone())),
                );
                put(
                    format!("{path}.password"),
                    Some(Setting::Secret(login.password.clone())),
                );
            }
        }
        for (name, value) in &self.env {
            let setting = match value {
                EnvValue::Text(text) => Setting::Text(text.clone()),
                EnvValue::Secret(secret) => Setting::Secret(secret.clone()),
            };
            put(format!("env.{name}"), Some(setting));
        }
        for (endpoint, probe) in &self.probe_urls {
            put(
                format!("probe-urls.{endpoint}"),
                Some(Setting::Text(probe.clone())),
            );
        }
        out
    }
}

impl NpmSettings {
    /// Each setting, named under `section` (`npm`, `clients.pnpm`).
    fn settings(&self, section: &str, put: &mut impl FnMut(String, Option<Setting>)) {
        put(
            format!("{section}.registry"),
            self.registry.clone().map(Setting::Text),
        );
        put(
            format!("{section}.registry-fallbacks"),
            self.registry_fallbacks.as_deref().map(list),
        );
        for (scope, url) in self.scopes.iter().flatten() {
            put(
                format!("{section}.scopes.{scope}"),
                Some(Setting::Text(url.clone())),
            );
        }
        for (registry, token) in self.auth_tokens.iter().flatten() {
            put(
                format!("{section}.auth-tokens.{registry}"),
                Some(Setting::Secret(token.clone())),
            );
        }
        put(
            format!("{section}.strict-ssl"),
            self.strict_ssl.map(Setting::Flag),
        );
        put(
            format!("{section}.proxy"),
            self.proxy.clone().map(Setting::Text),
        );
        put(
            format!("{section}.https-proxy"),
            self.https_proxy.clone().map(Setting::Text),
        );
    }
}

impl PypiSettings {
    /// Each setting, named under `section` (`pypi`, `clients.uv`).
    fn settings(&self, section: &str, put: &mut impl FnMut(String, Option<Setting>)) {
        put(
            format!("{section}.index-url"),
            self.index_url.clone().map(Setting::Text),
        );
        put(
            format!("{section}.index-url-fallbacks"),
            self.index_url_fallbacks.as_deref().map(list),
        );
        put(
            format!("{section}.extra-index-url"),
            self.extra_index_url.as_deref().map(list),
        );
        put(
            format!("{section}.trusted-host"),
            self.trusted_host.as_deref().map(list),
        );
        put(
            format!("{section}.timeout"),
            self.timeout.map(Setting::Number),
        );
    }
}

impl MavenSettings {
    /// Each setting, named under `section` (`maven`, `clients.gradle`).
    fn settings(&self, section: &str, put: &mut impl FnMut(String, Option<Setting>)) {
        let path = |field: &str| format!("{section}.{field}");
        put(
            path("repository"),
            self.repository.clone().map(Setting::Text),
        );
        put(path("mirror-of"), self.mirror_of.as_deref().map(list));
        put(path("username"), self.username.clone().map(Setting::Text));
        put(path("password"), self.password.clone().map(Setting::Secret));
        put(path("proxy"), self.proxy.clone().map(Setting::Text));
        put(path("no-proxy"), self.no_proxy.as_deref().map(list));
    }
}

impl RubygemsSettings {
    /// Each setting, named under `section` (`rubygems`, `clients.bundler`).
    fn settings(&self, section: &str, put: &mut impl FnMut(String, Option<Setting>)) {
        let path = |field: &str| format!("{section}.{field}");
        put(path("source"), self.source.clone().map(Setting::Text));
        put(path("username"), self.username.clone().map(Setting::Text));
        put(path("password"), self.password.clone().map(Setting::Secret));
    }
}

/// How one setting differs between two profiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingChange {
    /// The setting, such as `go.proxy` or `env.GEM_HOST`.
    pub path: String,
    /// The old value as text; absent when the setting was added. Secrets read `(secret)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new value as text; absent when the setting was removed. Secrets read `(secret)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl fmt::Display for SettingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "(unset)".into());
        write!(
            f,
            "{}: {} -> {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

impl Profile {
    /// The settings that differ from `self` to `other`, by path. A changed secret shows as
    /// `(secret) -> (secret)`: that it changed, never what it is.
    pub fn diff(&self, other: &Profile) -> Vec<SettingChange> {
        let (before, after) = (self.settings(), other.settings());
        let mut paths: Vec<&String> = before.keys().chain(after.keys()).collect();
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| {
                let (old, new) = (before.get(path), after.get(path));
                (old != new).then(|| SettingChange {
                    path: path.clone(),
                    old: old.map(ToString::to_string),
                    new: new.map(ToString::to_string),
                })
            })
            .collect()
    }
}
