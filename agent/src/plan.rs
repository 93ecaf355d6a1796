//! From a profile to the settings each configuration file should hold: which keys, which
//! values. Nothing here touches the disk.

use std::collections::BTreeMap;

use switchyard_proto::profile::{EnvValue, Profile, ProxyLogin, Secret};

use crate::formats::sectioned::Section;
use crate::platform::Os;

/// The files the agent manages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `.npmrc`.
    Npmrc,
    /// pnpm's `auth.ini`.
    Pnpm,
    /// Yarn's `.yarnrc.yml`.
    Yarn,
    /// pip's configuration.
    Pip,
    /// uv's `uv.toml`.
    Uv,
    /// Cargo's `config.toml`.
    Cargo,
    /// Cargo's `credentials.toml`: registry tokens.
    CargoCredentials,
    /// Maven's `settings.xml`.
    Maven,
    /// Gradle's init script of the agent's, `init.d/switchyard.gradle`.
    Gradle,
    /// Gradle's `gradle.properties`: the proxy.
    GradleProperties,
    /// RubyGems' `.gemrc`.
    Gemrc,
    /// Bundler's `config`.
    Bundler,
    /// Go's env file.
    Go,
    /// git's configuration.
    Git,
    /// The `environment.d` file of user sessions.
    EnvironmentD,
    /// The shell snippet login shells source.
    Shell,
}

impl Target {
    /// Every target, in the order they are applied.
    pub const ALL: [Target; 16] = [
        Target::Npmrc,
        Target::Pnpm,
        Target::Yarn,
        Target::Pip,
        Target::Uv,
        Target::Cargo,
        Target::CargoCredentials,
        Target::Maven,
        Target::Gradle,
        Target::GradleProperties,
        Target::Gemrc,
        Target::Bundler,
        Target::Go,
        Target::Git,
        Target::EnvironmentD,
        Target::Shell,
    ];

    /// The client that reads it, for people.
    pub fn client(self) -> &'static str {
        match self {
            Target::Npmrc => "npm",
            Target::Pnpm => "pnpm",
            Target::Yarn => "yarn",
            Target::Pip => "pip",
            Target::Uv => "uv",
            Target::Cargo | Target::CargoCredentials => "cargo",
            Target::Maven => "maven",
            Target::Gradle | Target::GradleProperties => "gradle",
            Target::Gemrc => "gem",
            Target::Bundler => "bundler",
            Target::Go => "go",
            Target::Git => "git",
            Target::EnvironmentD if cfg!(windows) => "new processes",
            Target::EnvironmentD => "systemd user sessions",
            Target::Shell => "login shells",
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Npmrc => "npmrc",
            Target::Pnpm => "pnpm",
            Target::Yarn => "yarnrc",
            Target::Pip => "pip",
            Target::Uv => "uv",
            Target::Cargo => "cargo",
            Target::CargoCredentials => "cargo-credentials",
            Target::Maven => "maven",
            Target::Gradle => "gradle",
            Target::GradleProperties => "gradle-properties",
            Target::Gemrc => "gemrc",
            Target::Bundler => "bundler",
            Target::Go => "go",
            Target::Git => "git",
            Target::EnvironmentD if cfg!(windows) => "registry",
            Target::EnvironmentD => "environment.d",
            Target::Shell => "shell",
        }
    }
}

/// One managed setting of a file: a key (in a section, for sectioned formats) and its values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    /// Stable identity within the file.
    pub id: String,
    /// The section, for sectioned formats.
    pub section: Option<SectionRef>,
    /// The key as compared.
    pub key: String,
    /// The key as written.
    pub name: String,
    /// The values (one, for flat formats).
    pub values: Vec<String>,
    /// Whether the values are secret: the file must be owner-only and reports never show them.
    pub secret: bool,
    /// Whether the value is text an operator wrote that may name other variables to expand
    /// (`%USERPROFILE%\\.cargo` on Windows): never a URL, a login or a secret, whose `%` is
    /// percent-encoding.
    #[serde(default)]
    pub expand: bool,
    /// Whether the key is multi-valued (git's `insteadOf`): the setting is its one value, and
    /// the key's other values belong to someone else.
    #[serde(default)]
    pub multi: bool,
}

/// A section, as kept in the agent's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SectionRef {
    /// Its identity.
    pub id: String,
    /// Its header.
    pub header: String,
}

impl From<Section> for SectionRef {
    fn from(section: Section) -> Self {
        Self {
            id: section.id,
            header: section.header,
        }
    }
}

impl From<&SectionRef> for Section {
    fn from(section: &SectionRef) -> Self {
        Section {
            id: section.id.clone(),
            header: section.header.clone(),
        }
    }
}

pub(crate) fn flat(key: &str, value: String, secret: bool) -> Setting {
    Setting {
        id: key.to_owned(),
        section: None,
        key: key.to_owned(),
        name: key.to_owned(),
        values: vec![value],
        secret,
        expand: false,
        multi: false,
    }
}

/// Every byte of a URL's user name or password but RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), percent-encoded: every client decodes the userinfo, so a `%41` or
/// a `100%` left as it is would reach the proxy as another password, or break the URL.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How many times a client percent-decodes the login in a proxy URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Once, as RFC 3986 says: npm, pip (requests), curl, Go, systemd.
    Once,
    /// Three times: git's `http.proxy` (seen with git 2.39 and 2.47 on libcurl 7.88, user name
    /// and password alike: `%25252541` reaches the proxy as `%41`, `%252541` as `A`). The
    /// `agent_clients` suite asks the real git, so a git that decodes otherwise fails it.
    Thrice,
}

/// The proxy URL with the profile's login for its origin, if it has one, percent-encoded
/// (RFC 3986 section 3.2.1) as often as the client decodes it, so that any password reaches
/// it as it was set.
pub fn with_login(
    url: &str,
    logins: Option<&BTreeMap<String, ProxyLogin>>,
    decoded: Decoded,
) -> String {
    match login_for(url, logins) {
        Some((username, password)) => with_userinfo(url, username, password, decoded),
        None => url.to_owned(),
    }
}

/// `url` with `username` and `password` in it, percent-encoded (every byte but RFC 3986's
/// unreserved characters) as often as the client decodes them; `url` as it was when it is no
/// URL that can hold them.
pub fn with_userinfo(url: &str, username: &str, password: &str, decoded: Decoded) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let times = match decoded {
        Decoded::Once => 1,
        Decoded::Thrice => 3,
    };
    let encode = |text: &str| (0..times).fold(text.to_owned(), |text, _| userinfo(&text));
    // The url crate leaves a `%` as it is: the encoded text goes in unchanged.
    if parsed.set_username(&encode(username)).is_ok()
        && parsed.set_password(Some(&encode(password))).is_ok()
    {
        parsed.to_string()
    } else {
        url.to_owned()
    }
}

/// `text` percent-encoded as a URL's user name or password: every byte but RFC 3986's
/// unreserved characters.
pub fn userinfo(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, USERINFO).to_string()
}

/// The user name and password the profile gives the proxy at `url` (its key names the same
/// origin), if it gives one.
pub fn login_for<'a>(
    url: &str,
    logins: Option<&'a BTreeMap<String, ProxyLogin>>,
) -> Option<(&'a str, &'a str)> {
    let origin = url::Url::parse(url).ok()?.origin();
    let (_, login) = logins.into_iter().flatten().find(|(key, _)| {
        url::Url::parse(key).is_ok_and(|candidate| candidate.origin() == origin)
    })?;
    match &login.password {
        Secret::Value(password) => Some((login.username.as_str(), password.as_str())),
        Secret::Kept => None,
    }
}

pub(crate) fn is_secret_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|parsed| parsed.password().is_some())
}

/// What each target should hold for `profile`, as this machine's platform lays it out.
pub fn plan(profile: &Profile) -> BTreeMap<Target, Vec<Setting>> {
    plan_on(profile, crate::platform::current().os())
}

/// [`plan`] for a machine of `os`: each client's settings ([`crate::clients::Client::settings`]).
pub fn plan_on(profile: &Profile, os: Os) -> BTreeMap<Target, Vec<Setting>> {
    // Deliveries from a server that stored profiles before it normalized them.
    let profile = profile.clone().normalized();
    crate::clients::ALL
        .iter()
        .map(|client| (client.target(), client.settings(&profile, os)))
        .collect()
}

/// The proxy logins of `profile`, by the proxy's origin.
pub(crate) fn logins(profile: &Profile) -> Option<&BTreeMap<String, ProxyLogin>> {
    profile
        .proxy
        .as_ref()
        .and_then(|proxy| proxy.credentials.as_ref())
}

/// The environment variables `profile` sets for every program: the proxy variables (with
/// their lower-case twins, which many Unix tools read alone; Windows names ignore case) and
/// `env`. Written to environment.d and the shell snippet, or the registry.
pub(crate) fn variables(profile: &Profile, os: Os) -> Vec<Setting> {
    let logins = logins(profile);
    // (name, value, secret, expand)
    let mut variables: Vec<(String, String, bool, bool)> = Vec::new();
    if let Some(proxy) = &profile.proxy {
        for (name, url) in [("HTTP_PROXY", &proxy.http), ("HTTPS_PROXY", &proxy.https)] {
            if let Some(url) = url {
                let url = with_login(url, logins, Decoded::Once);
                let secret = is_secret_url(&url);
                variables.push((name.to_owned(), url.clone(), secret, false));
                if os == Os::Unix {
                    variables.push((name.to_ascii_lowercase(), url, secret, false));
                }
            }
        }
        if let Some(hosts) = proxy.no_proxy.as_ref().filter(|hosts| !hosts.is_empty()) {
            variables.push(("NO_PROXY".into(), hosts.join(","), false, false));
            if os == Os::Unix {
                variables.push(("no_proxy".into(), hosts.join(","), false, false));
            }
        }
    }
    for (name, value) in &profile.env {
        match value {
            EnvValue::Text(text) => variables.push((name.clone(), text.clone(), false, true)),
            EnvValue::Secret(Secret::Value(secret)) => {
                variables.push((name.clone(), secret.clone(), true, false))
            }
            EnvValue::Secret(Secret::Kept) => {}
        }
    }
    variables
        .into_iter()
        .map(|(name, value, secret, expand)| Setting {
            expand,
            ..flat(&name, value, secret)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_becomes_each_clients_own_keys() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "go": {"proxy": [{"source": "https://goproxy.corp.example/", "fallback": "any-error"}, {"source": "direct"}],
                   "private": ["*.corp.example", "github.com/corp/*"]},
            "npm": {"registry": "https://npm.corp.example/",
                    "scopes": {"@corp": "https://npm.corp.example/corp/"},
                    "auth-tokens": {"https://npm.corp.example/corp/": {"value": "t0ken"}},
                    "https-proxy": "http://proxy.corp.example:3128"},
            "pip": {"index-url": "https://pypi.corp.example/simple", "extra-index-url": ["https://a/simple", "https://b/simple"]},
            "git": {"rewrites": [{"base": "https://git.corp.example/github/", "instead-of": ["https://github.com/"]}]},
            "proxy": {"https": "http://proxy.corp.example:3128", "no-proxy": ["localhost", ".corp.example"],
                      "credentials": {"http://proxy.corp.example:3128": {"username": "svc dev", "password": {"value": "p@ss"}}}},
            "env": {"GEM_HOST": "https://gems.corp.example"}
        }))
        .unwrap();
        let plan = plan(&profile);
        let npm: Vec<(&str, &str)> = plan[&Target::Npmrc]
            .iter()
            .map(|s| (s.name.as_str(), s.values[0].as_str()))
            .collect();
        assert_eq!(
            npm,
            [
                ("registry", "https://npm.corp.example/"),
                ("@corp:registry", "https://npm.corp.example/corp/"),
                ("//npm.corp.example/corp/:_authToken", "t0ken"),
                (
                    "https-proxy",
                    "http://svc%20dev:p%40ss@proxy.corp.example:3128/"
                ),
            ]
        );
        assert!(plan[&Target::Npmrc][2].secret && plan[&Target::Npmrc][3].secret);
        assert_eq!(
            plan[&Target::Go][0].values[0],
            "https://goproxy.corp.example/|direct"
        );
        assert_eq!(
            plan[&Target::Go][1].values[0],
            "*.corp.example,github.com/corp/*"
        );
        assert_eq!(plan[&Target::Pip][1].values.len(), 2);
        assert_eq!(
            plan[&Target::Git][0].id,
            "[url \"https://git.corp.example/github/\"]/insteadof=https://github.com/"
        );
        let names = |os| -> Vec<String> {
            plan_on(&profile, os)[&Target::Shell]
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        // Lower-case twins where names are told apart by case.
        assert_eq!(
            names(Os::Unix),
            [
                "HTTPS_PROXY",
                "https_proxy",
                "NO_PROXY",
                "no_proxy",
                "GEM_HOST"
            ]
        );
        assert_eq!(names(Os::Windows), ["HTTPS_PROXY", "NO_PROXY", "GEM_HOST"]);
    }
}

/// The plan for machine-wide files: npm and Go have none of their own, so their settings go
/// to every user as environment variables (`NPM_CONFIG_*`, `GO*`); pnpm, Yarn, Cargo and
/// Bundler have none either, nor Maven and Gradle outside their installations, and get nothing
/// at this scope; secrets are not written at all (they belong in a user's own owner-only files). Returns the plan and the names of the
/// settings left out.
pub fn for_machine(
    mut plan: BTreeMap<Target, Vec<Setting>>,
) -> (BTreeMap<Target, Vec<Setting>>, Vec<String>) {
    let mut left_out = Vec::new();
    let mut variables = Vec::new();
    // pnpm, Yarn, Cargo and Bundler have no machine-wide file, and Maven's and Gradle's are
    // part of their installations: a user's own is where they go.
    for target in [
        Target::Pnpm,
        Target::Yarn,
        Target::Cargo,
        Target::CargoCredentials,
        Target::Maven,
        Target::Gradle,
        Target::GradleProperties,
        Target::Bundler,
    ] {
        if plan
            .remove(&target)
            .is_some_and(|settings| !settings.is_empty())
        {
            let why = match target {
                Target::Maven | Target::Gradle | Target::GradleProperties => {
                    "its machine-wide files are in its installation"
                }
                _ => "no machine-wide file",
            };
            left_out.push(format!(
                "{} ({why}: a user's agent writes it)",
                target.client()
            ));
        }
    }
    for setting in plan.remove(&Target::Go).unwrap_or_default() {
        variables.push(setting);
    }
    for setting in plan.remove(&Target::Npmrc).unwrap_or_default() {
        let name = format!(
            "NPM_CONFIG_{}",
            setting.key.to_ascii_uppercase().replace('-', "_")
        );
        if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            variables.push(flat(&name, setting.values.join(" "), setting.secret));
        } else {
            left_out.push(format!(
                "npm {} (no environment variable can carry it)",
                setting.name
            ));
        }
    }
    for target in [Target::EnvironmentD, Target::Shell] {
        plan.entry(target)
            .or_default()
            .extend(variables.iter().cloned());
    }
    for settings in plan.values_mut() {
        settings.retain(|setting| {
            if setting.secret {
                left_out.push(format!(
                    "{} (a secret: written only at user scope)",
                    setting.name
                ));
            }
            !setting.secret
        });
    }
    left_out.sort();
    left_out.dedup();
    (plan, left_out)
}

#[cfg(test)]
mod machine_tests {
    use super::*;

    #[test]
    fn machine_scope_carries_npm_and_go_as_variables_and_no_secrets() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "go": {"proxy": [{"source": "https://goproxy.corp.example/"}]},
            "npm": {"registry": "https://npm.corp.example/",
                    "scopes": {"@corp": "https://npm.corp.example/corp/"},
                    "auth-tokens": {"https://npm.corp.example/": {"value": "t0ken"}}},
            "env": {"GEM_HOST": "https://gems.corp.example", "TOKEN": {"value": "s3cret"}}
        }))
        .unwrap();
        let (machine, left_out) = for_machine(plan(&profile));
        assert!(!machine.contains_key(&Target::Npmrc) && !machine.contains_key(&Target::Go));
        let names: Vec<&str> = machine[&Target::Shell]
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["GEM_HOST", "GOPROXY", "NPM_CONFIG_REGISTRY"]);
        assert!(machine.values().flatten().all(|s| !s.secret));
        assert!(
            left_out.contains(&"pnpm (no machine-wide file: a user's agent writes it)".to_owned())
        );
        assert_eq!(left_out.len(), 5, "{left_out:?}");
    }
}
