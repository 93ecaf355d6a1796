//! Every check of every profile value, reporting all problems at once with their JSON paths.

use std::collections::BTreeMap;

use super::merge::moves;
use super::normalize::{self, colliding_keys};
use super::variables;
use super::{
    CargoSettings, EnvValue, GitSettings, GoSettings, MavenClient, MavenSettings, NpmSettings,
    Profile, ProxySettings, PypiSettings, RubygemsClient, RubygemsSettings, Secret,
};
use crate::FieldProblem;

/// Longest URL or other text value.
const MAX_TEXT: usize = 2048;
/// Longest environment variable value or secret.
const MAX_VALUE: usize = 4096;
/// Most entries in any list.
const MAX_LIST: usize = 64;
/// Most fallbacks for one mirror: each is probed by every machine.
const MOST_FALLBACKS: usize = 4;
/// Longest mirror with fallbacks, or fallback: what a machine's report names one by.
const MOST_REPORTED: usize = 256;

/// Variables a section of the profile manages: set them there, not in `env`.
const SECTION_VARIABLES: &[(&str, &str)] = &[
    ("GOPROXY", "go.proxy"),
    ("GOPRIVATE", "go.private"),
    ("GONOPROXY", "go.noproxy"),
    ("GONOSUMDB", "go.nosumdb"),
    ("GOSUMDB", "go.sumdb"),
    ("GOINSECURE", "go.insecure"),
    ("HTTP_PROXY", "proxy.http"),
    ("HTTPS_PROXY", "proxy.https"),
    ("NO_PROXY", "proxy.no-proxy"),
    ("PIP_INDEX_URL", "pypi.index-url"),
    ("PIP_EXTRA_INDEX_URL", "pypi.extra-index-url"),
    ("PIP_TRUSTED_HOST", "pypi.trusted-host"),
    ("NPM_CONFIG_REGISTRY", "npm.registry"),
    ("NPM_CONFIG_STRICT_SSL", "npm.strict-ssl"),
    ("NPM_CONFIG_PROXY", "npm.proxy"),
    ("NPM_CONFIG_HTTPS_PROXY", "npm.https-proxy"),
    // pip's other names for the same options (pip `cli/cmdoptions.py`: `--pypi-url`,
    // `--default-timeout`), which it reads from `PIP_<NAME>` too.
    ("PIP_PYPI_URL", "pypi.index-url"),
    ("PIP_TIMEOUT", "pypi.timeout"),
    ("PIP_DEFAULT_TIMEOUT", "pypi.timeout"),
    // uv's (docs `reference/environment.md`): `UV_INDEX_URL` and `UV_EXTRA_INDEX_URL` are the
    // older names of `UV_DEFAULT_INDEX` and `UV_INDEX`.
    ("UV_DEFAULT_INDEX", "pypi.index-url"),
    ("UV_INDEX_URL", "pypi.index-url"),
    ("UV_INDEX", "pypi.extra-index-url"),
    ("UV_EXTRA_INDEX_URL", "pypi.extra-index-url"),
    ("UV_INSECURE_HOST", "pypi.trusted-host"),
    ("CARGO_HTTP_PROXY", "cargo.http-proxy"),
    ("CARGO_SOURCE_CRATES_IO_REPLACE_WITH", "cargo.registry"),
];

/// The setting that manages environment variable `name` (`GOPROXY` -> `go.proxy`), if a
/// section does.
pub fn setting_of_variable(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    SECTION_VARIABLES
        .iter()
        .find(|(variable, _)| *variable == upper)
        .map(|(_, setting)| *setting)
}

struct Problems(Vec<FieldProblem>);

impl Problems {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldProblem {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// Text that fits on one line of any config file: not empty, no control characters.
    fn text(&mut self, path: &str, value: &str, max: usize) -> bool {
        if value.is_empty() {
            self.add(path, "must not be empty");
            return false;
        }
        if let Some(bad) = value.chars().find(|c| c.is_control()) {
            self.add(
                path,
                format!("must not contain control characters such as newlines (found {bad:?})"),
            );
            return false;
        }
        if let Some(hidden) = value.chars().find(|c| crate::text::is_hidden(*c)) {
            self.add(
                path,
                format!(
                    "must not contain invisible or text-reordering characters (found {}): what is reviewed must read as what machines get",
                    crate::text::describe(hidden)
                ),
            );
            return false;
        }
        if value.chars().count() > max {
            self.add(path, format!("is longer than {max} characters"));
            return false;
        }
        true
    }

    /// An http or https URL with a host, no credentials, no whitespace, and nothing a config
    /// file would read as a comment.
    fn url(&mut self, path: &str, value: &str) {
        if !self.text(path, value, MAX_TEXT) {
            return;
        }
        if value.chars().any(char::is_whitespace) {
            return self.add(path, "must not contain whitespace");
        }
        if value.contains(['#', ';']) {
            return self.add(
                path,
                "must not contain '#' or ';' (config files read them as comments)",
            );
        }
        if value.contains(['"', '\\']) {
            return self.add(path, "must not contain quotes or backslashes");
        }
        let parsed = match url::Url::parse(value) {
            Ok(parsed) => parsed,
            Err(error) => return self.add(path, format!("is not a URL: {error}")),
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return self.add(
                path,
                format!("must be an http or https URL, not {}:", parsed.scheme()),
            );
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return self.add(path, "must name a host");
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            self.add(
                path,
                "must not carry credentials: they would be stored and shown in clear \
                 (a proxy's login goes in proxy.credentials, a registry's token in npm.auth-tokens)",
            );
        }
    }

    fn urls(&mut self, path: &str, values: &[String]) {
        self.list_size(path, values.len());
        for (i, value) in values.iter().enumerate() {
            self.url(&format!("{path}[{i}]"), value);
        }
    }

    /// Mirrors that stand in for `primary` (named at `primary_path`): URLs, at most
    /// [`MOST_FALLBACKS`], beside their primary, each once and other than it, as machines
    /// compare URLs ([`normalize::url`]); none plain `http` for an `https` primary (whoever
    /// can block the mirror would otherwise move machines to a connection they can read and
    /// change); and, like the primary, at most [`MOST_REPORTED`] characters, what a machine's
    /// report names them by.
    fn fallbacks(
        &mut self,
        path: &str,
        values: &[String],
        primary_path: &str,
        primary: Option<&String>,
    ) {
        if values.len() > MOST_FALLBACKS {
            self.add(
                path,
                format!(
                    "has {} entries; at most {MOST_FALLBACKS} are allowed",
                    values.len()
                ),
            );
        }
        let Some(primary) = primary else {
            return self.add(
                path,
                format!("needs {primary_path} in the same profile: fallbacks stand in for it"),
            );
        };
        if !values.is_empty() && primary.chars().count() > MOST_REPORTED {
            self.add(
                primary_path,
                format!("is longer than {MOST_REPORTED} characters, too long to have fallbacks"),
            );
        }
        let secure = normalize::url(primary).starts_with("https:");
        let mut seen = vec![normalize::url(primary)];
        for (i, value) in values.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let before = self.0.len();
            self.url(&path, value);
            if self.0.len() > before {
                continue;
            }
            if value.chars().count() > MOST_REPORTED {
                self.add(&path, format!("is longer than {MOST_REPORTED} characters"));
            }
            let compared = normalize::url(value);
            if secure && !compared.starts_with("https:") {
                self.add(
                    &path,
                    format!("must be https like {primary_path}: machines move here when the mirror does not answer, which whoever blocks it can cause"),
                );
            }
            if seen.contains(&compared) {
                self.add(
                    &path,
                    format!("names {primary_path} or an earlier fallback again"),
                );
            }
            seen.push(compared);
        }
    }

    fn list_size(&mut self, path: &str, len: usize) {
        if len > MAX_LIST {
            self.add(
                path,
                format!("has {len} entries; at most {MAX_LIST} are allowed"),
            );
        }
    }

    /// Glob patterns of module path prefixes (`*.corp.example`, `github.com/corp/*`).
    fn patterns(&mut self, path: &str, values: &[String]) {
        self.list_size(path, values.len());
        for (i, value) in values.iter().enumerate() {
            let path = format!("{path}[{i}]");
            if !self.text(&path, value, MAX_TEXT) {
                continue;
            }
            let allowed = |c: char| c.is_ascii_alphanumeric() || "._~/*?[]-".contains(c);
            if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
                self.add(
                    &path,
                    format!("contains {bad:?}; a module pattern uses letters, digits and . _ ~ / * ? [ ] -"),
                );
            }
        }
    }

    /// A secret's value, when one is written: like any text value, and for tokens (which
    /// config files end at a space) without whitespace.
    fn secret(&mut self, path: &str, secret: &Secret, whitespace_allowed: bool) {
        if let Secret::Value(value) = secret {
            if self.text(path, value, MAX_VALUE)
                && !whitespace_allowed
                && value.chars().any(char::is_whitespace)
            {
                self.add(path, "must not contain whitespace");
            }
        }
    }
}

impl Profile {
    /// Every problem with every value, each with its JSON path; empty when all is well.
    pub fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Problems(Vec::new());
        if let Some(go) = &self.go {
            go.validate(&mut problems);
        }
        for (section, npm) in self.npm_sections() {
            npm.validate(section, &mut problems);
        }
        for (section, pypi) in self.pypi_sections() {
            pypi.validate(section, &mut problems);
        }
        validate_client_overrides(self, &mut problems);
        if let Some(cargo) = &self.cargo {
            cargo.validate(&mut problems);
        }
        for (section, maven) in self.maven_sections() {
            maven.validate(section, &mut problems);
        }
        for (section, rubygems) in self.rubygems_sections() {
            rubygems.validate(section, &mut problems);
        }
        validate_logins(self, &mut problems);
        if let Some(git) = &self.git {
            git.validate(&mut problems);
        }
        if let Some(proxy) = &self.proxy {
            proxy.validate(&mut problems);
        }
        validate_env(&self.env, &mut problems);
        validate_probe_urls(&self.probe_urls, &mut problems);
        let size = serde_json::to_vec(self).map_or(0, |bytes| bytes.len());
        if size > super::MAX_PROFILE_BYTES {
            problems.add(
                "",
                format!(
                    "the profile takes {size} bytes as JSON; at most {} are delivered",
                    super::MAX_PROFILE_BYTES
                ),
            );
        }
        problems.0
    }
}

/// Each endpoint and its probe URL are URLs on the same scheme, host and port: a probe goes
/// where the endpoint is, through the same proxy (or none), and nowhere else.
fn validate_probe_urls(probe_urls: &BTreeMap<String, String>, problems: &mut Problems) {
    problems.list_size("probe-urls", probe_urls.len());
    let origin = |value: &str| {
        url::Url::parse(value).ok().map(|parsed| {
            let origin = parsed.origin();
            origin.ascii_serialization()
        })
    };
    for (endpoint, probe) in probe_urls {
        let path = format!("probe-urls.{endpoint}");
        let before = problems.0.len();
        problems.url(&path, endpoint);
        problems.url(&path, probe);
        if problems.0.len() == before && origin(endpoint) != origin(probe) {
            problems.add(
                &path,
                format!(
                    "must be on the endpoint's own scheme, host and port ({})",
                    origin(endpoint).unwrap_or_default()
                ),
            );
        }
    }
    for (later, earlier) in colliding_keys(probe_urls, super::endpoints::probe_key) {
        problems.add(
            &format!("probe-urls.{later}"),
            format!("names the same endpoint as {earlier}"),
        );
    }
}

impl GoSettings {
    fn validate(&self, problems: &mut Problems) {
        if let Some(entries) = &self.proxy {
            if entries.is_empty() {
                problems.add(
                    "go.proxy",
                    "must list at least one source (or leave go.proxy out)",
                );
            }
            problems.list_size("go.proxy", entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let path = format!("go.proxy[{i}].source");
                match entry.source.as_str() {
                    "direct" => {}
                    "off" if i + 1 < entries.len() => {
                        problems.add(
                            &path,
                            "off must be the last source: nothing after it is tried",
                        );
                    }
                    "off" => {}
                    url => problems.url(&path, url),
                }
                if entry.source.contains([',', '|']) {
                    problems.add(&path, "must not contain ',' or '|' (they separate sources)");
                }
            }
        }
        for (name, patterns) in [
            ("go.private", &self.private),
            ("go.noproxy", &self.noproxy),
            ("go.nosumdb", &self.nosumdb),
            ("go.insecure", &self.insecure),
        ] {
            if let Some(patterns) = patterns {
                problems.patterns(name, patterns);
            }
        }
        if let Some(sumdb) = &self.sumdb {
            validate_sumdb(sumdb, problems);
        }
    }
}

/// `off`, `name`, `name+key` or `name+key URL`.
fn validate_sumdb(value: &str, problems: &mut Problems) {
    let path = "go.sumdb";
    if !problems.text(path, value, MAX_TEXT) || value == "off" {
        return;
    }
    let parts: Vec<&str> = value.split(' ').collect();
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-+/=".contains(c))
    };
    match parts.as_slice() {
        [name] if name_ok(name) => {}
        [name, url] if name_ok(name) => problems.url(path, url),
        _ => problems.add(
            path,
            "must be off, a database name, name+key, or name+key followed by one space and a URL",
        ),
    }
}

impl NpmSettings {
    fn validate(&self, section: &str, problems: &mut Problems) {
        for (field, url) in [
            ("registry", &self.registry),
            ("proxy", &self.proxy),
            ("https-proxy", &self.https_proxy),
        ] {
            if let Some(url) = url {
                problems.url(&format!("{section}.{field}"), url);
            }
        }
        if let Some(fallbacks) = &self.registry_fallbacks {
            problems.fallbacks(
                &format!("{section}.registry-fallbacks"),
                fallbacks,
                &format!("{section}.registry"),
                self.registry.as_ref(),
            );
        }
        if let Some(scopes) = &self.scopes {
            problems.list_size(&format!("{section}.scopes"), scopes.len());
            for (scope, url) in scopes {
                let path = format!("{section}.scopes.{scope}");
                let valid = scope.len() <= 214
                    && scope.strip_prefix('@').is_some_and(|name| {
                        name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                            && name.chars().all(|c| {
                                c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)
                            })
                    });
                if !valid {
                    problems.add(
                        &path,
                        "a scope is @ followed by lowercase letters, digits, '.', '_' or '-'",
                    );
                }
                problems.url(&path, url);
            }
        }
        if let Some(tokens) = &self.auth_tokens {
            problems.list_size(&format!("{section}.auth-tokens"), tokens.len());
            for (registry, token) in tokens {
                let path = format!("{section}.auth-tokens.{registry}");
                problems.url(&path, registry);
                npmrc_key(&path, registry, section, problems);
                problems.secret(&path, token, false);
                // npm replaces `${NAME}` in every value it reads from .npmrc with a variable
                // (@npmcli/config `lib/env-replace.js`), quoted or not.
                if matches!(token, Secret::Value(value) if value.contains("${")) {
                    problems.add(
                        &path,
                        "must not contain '${': npm would replace it with an environment variable",
                    );
                }
            }
            // npm and pnpm key a token by the registry's URL without its scheme; Yarn keys
            // it by the whole URL.
            let key = match section {
                "clients.yarn" => normalize::url,
                _ => normalize::npm_token_registry,
            };
            for (later, earlier) in colliding_keys(tokens, key) {
                problems.add(
                    &format!("{section}.auth-tokens.{later}"),
                    format!("names the same registry as {earlier}: the token is kept under the URL without its scheme, and host names compare without regard to case and without a default port"),
                );
            }
        }
    }
}

/// A registry's URL that npm and pnpm read a token under, in `.npmrc` as the key
/// `//host/path/:_authToken`: refused where npm's `ini` (`lib/ini.js`, `decode`) would read
/// another key. It takes a key to the first `=` of its line, so the URL may hold none; `;` and
/// `#` end a key wherever they stand, and a `\` escapes, which [`Problems::url`] refuses in
/// every URL already. A line that starts with `;`, `#` or `[` is a comment or a section, and
/// a key that ends in `[]` a list: the key starts with `//` and ends in `:_authToken`, so none
/// of those can happen. Yarn (`clients.yarn`) keeps a token in YAML, which quotes its key.
fn npmrc_key(path: &str, registry: &str, section: &str, problems: &mut Problems) {
    if section != "clients.yarn" && registry.contains('=') {
        problems.add(
            path,
            "must not contain '=': the token goes in .npmrc under the key \
             //host/path/:_authToken, and npm's ini parser ends a key at its first '=', so npm \
             would not find it; give the registry a URL without '=' (%3D, if it takes that)",
        );
    }
}

impl PypiSettings {
    fn validate(&self, section: &str, problems: &mut Problems) {
        if let Some(url) = &self.index_url {
            problems.url(&format!("{section}.index-url"), url);
        }
        if let Some(fallbacks) = &self.index_url_fallbacks {
            problems.fallbacks(
                &format!("{section}.index-url-fallbacks"),
                fallbacks,
                &format!("{section}.index-url"),
                self.index_url.as_ref(),
            );
        }
        if let Some(urls) = &self.extra_index_url {
            problems.urls(&format!("{section}.extra-index-url"), urls);
        }
        if let Some(hosts) = &self.trusted_host {
            problems.list_size(&format!("{section}.trusted-host"), hosts.len());
            for (i, host) in hosts.iter().enumerate() {
                let path = format!("{section}.trusted-host[{i}]");
                if !problems.text(&path, host, 253 + 6) {
                    continue;
                }
                let (name, port) = host.split_once(':').unwrap_or((host, ""));
                let name_ok = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
                let port_ok = port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0);
                if !(name_ok && port_ok) {
                    problems.add(
                        &path,
                        "must be a host name or address, optionally with :port",
                    );
                }
            }
        }
        if let Some(timeout) = self.timeout {
            if !(1..=600).contains(&timeout) {
                problems.add(&format!("{section}.timeout"), "must be 1 to 600 seconds");
            }
        }
    }
}

/// The name agents give the registry that stands in for crates.io (`cargo.registry`).
pub const CARGO_MIRROR_NAME: &str = "switchyard";

/// A registry name as Cargo takes one in `[registries.<name>]`: a letter or `_`, then letters,
/// digits, `-` and `_`, at most 64 (Cargo `util/restricted_names.rs`, `validate_package_name`);
/// not `crates-io`, nor the name agents give `cargo.registry`.
fn cargo_registry_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 64
        && name != "crates-io"
        && name != CARGO_MIRROR_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl CargoSettings {
    fn validate(&self, problems: &mut Problems) {
        if let Some(index) = &self.registry {
            cargo_index("cargo.registry", index, problems);
        }
        if let Some(token) = &self.registry_token {
            if self.registry.is_none() {
                problems.add(
                    "cargo.registry-token",
                    "needs cargo.registry in the same profile: the token is the mirror's",
                );
            }
            problems.secret("cargo.registry-token", token, false);
        }
        if let Some(registries) = &self.registries {
            problems.list_size("cargo.registries", registries.len());
            for (name, index) in registries {
                let path = format!("cargo.registries.{name}");
                if !cargo_registry_name(name) {
                    problems.add(
                        &path,
                        format!("a registry name is a letter or '_', then letters, digits, '-' or '_' (at most 64); not crates-io or {CARGO_MIRROR_NAME}, the name of cargo.registry"),
                    );
                }
                cargo_index(&path, index, problems);
                // Cargo stops when two registries have one index: it cannot tell whose token
                // to send.
                let same =
                    |other: &String| normalize::cargo_index(other) == normalize::cargo_index(index);
                if self.registry.as_ref().is_some_and(same) {
                    problems.add(&path, "has the index of cargo.registry: Cargo refuses two registries with one index");
                }
            }
            let named: Vec<(&String, String)> = registries
                .iter()
                .map(|(name, index)| (name, normalize::cargo_index(index)))
                .collect();
            for (i, (later, index)) in named.iter().enumerate() {
                if let Some((earlier, _)) = named[..i].iter().find(|(_, other)| other == index) {
                    problems.add(
                        &format!("cargo.registries.{later}"),
                        format!("has the index of cargo.registries.{earlier}: Cargo refuses two registries with one index"),
                    );
                }
            }
        }
        if let Some(tokens) = &self.tokens {
            problems.list_size("cargo.tokens", tokens.len());
            for (name, token) in tokens {
                let path = format!("cargo.tokens.{name}");
                if !cargo_registry_name(name) {
                    problems.add(&path, "names no registry Cargo can have");
                }
                problems.secret(&path, token, false);
            }
        }
        if let Some(url) = &self.http_proxy {
            problems.url("cargo.http-proxy", url);
        }
    }
}

/// A Cargo index: `sparse+` and an http(s) URL ending in `/` (Cargo refuses a sparse index
/// URL without it), or the http(s) URL of a git index.
fn cargo_index(path: &str, value: &str, problems: &mut Problems) {
    match value.strip_prefix("sparse+") {
        Some(url) => {
            let before = problems.0.len();
            problems.url(path, url);
            if problems.0.len() == before && !url.ends_with('/') {
                problems.add(path, "a sparse index URL must end in '/'");
            }
        }
        None => problems.url(path, value),
    }
}

/// What Maven does to a value of `settings.xml` before using it (Maven
/// `DefaultSettingsBuilder`, `interpolate`; `DefaultSettingsDecrypter`): it replaces
/// `${...}` with a property or variable (`${env.HOME}`), and takes a password holding `{...}`
/// for one encrypted with `settings-security.xml`. Neither can be escaped, so a value with
/// either would not reach Maven as written.
fn maven_text(path: &str, value: &str, password: bool, problems: &mut Problems) {
    if value.contains("${") {
        problems.add(
            path,
            "must not contain '${': Maven would replace it with a property's value",
        );
    }
    let encrypted = value
        .find('{')
        .is_some_and(|open| value[open..].contains('}'));
    if password && encrypted {
        problems.add(
            path,
            "must not contain '{...}': Maven would take it for a password encrypted with settings-security.xml",
        );
    }
    // Maven's settings.xml reader trims every element's text (SettingsXpp3Reader's
    // `interpolatedTrimmed`), a user name as much as a password, with Java's `String.trim`:
    // every character up to U+0020, and no other.
    if value.trim_matches(|c: char| c <= ' ') != value {
        problems.add(
            path,
            "must not start or end with whitespace: Maven trims it",
        );
    }
}

impl MavenSettings {
    /// Each value of the section at `section` (`maven`, `clients.gradle`) on its own. What
    /// Maven does to a value ([`maven_text`]) counts where Maven reads it: not in
    /// `clients.gradle`, which Gradle alone reads.
    fn validate(&self, section: &str, problems: &mut Problems) {
        let path = |field: &str| format!("{section}.{field}");
        let maven_text = |path: &str, value: &str, password: bool, problems: &mut Problems| {
            if section != "clients.gradle" {
                maven_text(path, value, password, problems);
            }
        };
        if let Some(url) = &self.repository {
            problems.url(&path("repository"), url);
            maven_text(&path("repository"), url, false, problems);
        }
        if let Some(patterns) = &self.mirror_of {
            if patterns.is_empty() {
                problems.add(
                    &path("mirror-of"),
                    format!("must name at least one repository (or leave {section}.mirror-of out for every one)"),
                );
            }
            problems.list_size(&path("mirror-of"), patterns.len());
            for (i, pattern) in patterns.iter().enumerate() {
                let path = format!("{section}.mirror-of[{i}]");
                if !problems.text(&path, pattern, 256) {
                    continue;
                }
                // Maven splits `mirrorOf` at commas; ids are letters, digits and `._-`
                // (Maven `DefaultMirrorSelector`, `matchPattern`).
                let allowed = |c: char| c.is_ascii_alphanumeric() || "._-:*!".contains(c);
                let bare = pattern.strip_prefix('!').unwrap_or(pattern);
                if bare.is_empty() || !bare.chars().all(allowed) || bare.contains('!') {
                    problems.add(
                        &path,
                        "is one of Maven's mirrorOf patterns: *, external:*, external:http:*, a repository id, or !id",
                    );
                }
            }
        }
        if let Some(username) = &self.username {
            if problems.text(&path("username"), username, 256) {
                maven_text(&path("username"), username, false, problems);
            }
        }
        if let Some(password) = &self.password {
            problems.secret(&path("password"), password, true);
            if let Secret::Value(value) = password {
                maven_text(&path("password"), value, true, problems);
            }
        }
        if let Some(url) = &self.proxy {
            let before = problems.0.len();
            problems.url(&path("proxy"), url);
            if problems.0.len() == before {
                match url::Url::parse(url) {
                    Ok(parsed) if parsed.scheme() != "http" => problems.add(
                        &path("proxy"),
                        "must be an http:// URL: Maven speaks plain HTTP to its proxy",
                    ),
                    Ok(parsed) if parsed.path() != "/" || parsed.query().is_some() => problems.add(
                        &path("proxy"),
                        "must be http://host or http://host:port, without a path",
                    ),
                    _ => {}
                }
            }
        }
        if let Some(hosts) = &self.no_proxy {
            problems.list_size(&path("no-proxy"), hosts.len());
            for (i, host) in hosts.iter().enumerate() {
                let path = format!("{section}.no-proxy[{i}]");
                if !problems.text(&path, host, 253) {
                    continue;
                }
                let ascii = normalize::host(host);
                let allowed = |c: char| c.is_ascii_alphanumeric() || ".*_-".contains(c);
                if !ascii.chars().all(allowed) {
                    problems.add(
                        &path,
                        "is a host name, with '*' for any part (*.corp.example), as Java's http.nonProxyHosts takes one",
                    );
                } else if ascii.starts_with('.') || ascii.ends_with('.') || ascii.contains("..") {
                    // Java matches the whole host (`.corp.example` matches no host at all):
                    // the curl spelling of a domain would silently send it through the proxy.
                    problems.add(
                        &path,
                        "names no host: Java's http.nonProxyHosts matches whole host names; write *.corp.example for a domain",
                    );
                }
            }
        }
    }

    /// What the values need of each other, checked on the section as its client reads it
    /// (`self`: `maven`, or a client's own values laid over it) and reported at `own`'s place
    /// for the values `own` sets, so that each problem is named once, where it was written.
    fn validate_together(&self, own: &MavenSettings, place: &Place, problems: &mut Problems) {
        if own.mirror_of.is_some() && self.repository.is_none() {
            problems.add(
                &place.path("mirror-of"),
                format!(
                    "needs {} in the same profile: it says what the repository stands in for",
                    place.either("repository")
                ),
            );
        }
        if own.password.is_some() && self.username.is_none() {
            problems.add(
                &place.path("password"),
                format!(
                    "needs {} in the same profile: the two are sent together",
                    place.either("username")
                ),
            );
        }
        for (field, set) in [
            ("username", own.username.is_some()),
            ("password", own.password.is_some()),
        ] {
            if set && self.repository.is_none() {
                problems.add(
                    &place.path(field),
                    format!(
                        "needs {} in the same profile: the login is the repository's",
                        place.either("repository")
                    ),
                );
            }
        }
        if own.no_proxy.is_some() && self.proxy.is_none() {
            problems.add(
                &place.path("no-proxy"),
                format!(
                    "needs {} in the same profile: it lists the hosts fetched without it",
                    place.either("proxy")
                ),
            );
        }
    }
}

impl RubygemsSettings {
    /// Each value of the section at `section` (`rubygems`, `clients.bundler`) on its own.
    fn validate(&self, section: &str, problems: &mut Problems) {
        if let Some(url) = &self.source {
            problems.url(&format!("{section}.source"), url);
        }
        if let Some(username) = &self.username {
            // Bundler keeps a login as `user:password` and splits it at the first `:`
            // (`Bundler::Source::Rubygems::Remote`); RubyGems, which `clients.gem` is for
            // alone, takes the login percent-encoded in the source's URL.
            let path = format!("{section}.username");
            let bundler_reads = section != "clients.gem";
            if problems.text(&path, username, 256) && bundler_reads && username.contains(':') {
                problems.add(
                    &path,
                    "must not contain ':': Bundler takes it as the end of the user name",
                );
            }
        }
        if let Some(password) = &self.password {
            problems.secret(&format!("{section}.password"), password, true);
        }
    }

    /// What the values need of each other, as [`MavenSettings::validate_together`] checks.
    fn validate_together(&self, own: &RubygemsSettings, place: &Place, problems: &mut Problems) {
        if own.password.is_some() && self.username.is_none() {
            problems.add(
                &place.path("password"),
                format!(
                    "needs {} in the same profile: the two are sent together",
                    place.either("username")
                ),
            );
        }
        for (field, set) in [
            ("username", own.username.is_some()),
            ("password", own.password.is_some()),
        ] {
            if set && self.source.is_none() {
                problems.add(
                    &place.path(field),
                    format!(
                        "needs {} in the same profile: the login is the source's",
                        place.either("source")
                    ),
                );
            }
        }
    }
}

/// Where a section shaped as an ecosystem's sits: the ecosystem's own (`maven`), or a
/// client's values over it (`clients.gradle` over `maven`), and whether it names a server
/// of its own (a client's own repository takes none of the ecosystem's login).
struct Place {
    section: &'static str,
    ecosystem: &'static str,
    own_server: bool,
}

impl Place {
    /// The path of `field` in this section.
    fn path(&self, field: &str) -> String {
        format!("{}.{field}", self.section)
    }

    /// Where `field` may be set for this section to have it: here, or on the ecosystem
    /// where this section takes the ecosystem's (a login, only for the ecosystem's server).
    fn either(&self, field: &str) -> String {
        let login = matches!(field, "username" | "password");
        match self.section == self.ecosystem || (login && self.own_server) {
            true => self.path(field),
            false => format!("{} or {}.{field}", self.path(field), self.ecosystem),
        }
    }
}

impl GitSettings {
    fn validate(&self, problems: &mut Problems) {
        if let Some(rewrites) = &self.rewrites {
            problems.list_size("git.rewrites", rewrites.len());
            for (i, rewrite) in rewrites.iter().enumerate() {
                let path = format!("git.rewrites[{i}]");
                problems.url(&format!("{path}.base"), &rewrite.base);
                if rewrite.instead_of.is_empty() && rewrite.push_instead_of.is_empty() {
                    problems.add(
                        &format!("{path}.instead-of"),
                        "must list at least one prefix to rewrite",
                    );
                }
                for (field, prefixes) in [
                    ("instead-of", &rewrite.instead_of),
                    ("push-instead-of", &rewrite.push_instead_of),
                ] {
                    problems.list_size(&format!("{path}.{field}"), prefixes.len());
                    for (j, prefix) in prefixes.iter().enumerate() {
                        let path = format!("{path}.{field}[{j}]");
                        if !problems.text(&path, prefix, MAX_TEXT) {
                            continue;
                        }
                        // Prefixes may be scp-like (git@host:) so they are not URLs, but they
                        // must stay one plain token in a gitconfig value.
                        if prefix
                            .chars()
                            .any(|c| c.is_whitespace() || "\"\\#;".contains(c))
                        {
                            problems.add(
                                &path,
                                "must not contain whitespace, quotes, backslashes, '#' or ';'",
                            );
                        }
                    }
                }
            }
        }
        if let Some(url) = &self.http_proxy {
            problems.url("git.http-proxy", url);
        }
    }
}

impl ProxySettings {
    fn validate(&self, problems: &mut Problems) {
        if let Some(url) = &self.http {
            problems.url("proxy.http", url);
        }
        if let Some(url) = &self.https {
            problems.url("proxy.https", url);
        }
        if let Some(credentials) = &self.credentials {
            problems.list_size("proxy.credentials", credentials.len());
            for (later, earlier) in colliding_keys(credentials, normalize::url) {
                problems.add(
                    &format!("proxy.credentials.{later}"),
                    format!("names the same proxy as {earlier}"),
                );
            }
            for (origin, login) in credentials {
                let path = format!("proxy.credentials.{origin}");
                problems.url(&path, origin);
                let has_path = |url: url::Url| {
                    url.path() != "/" || url.query().is_some() || url.fragment().is_some()
                };
                if url::Url::parse(origin).is_ok_and(has_path) {
                    problems.add(
                        &path,
                        "must be a proxy's scheme://host or scheme://host:port, without a path",
                    );
                }
                let username = format!("{path}.username");
                problems.text(&username, &login.username, 256);
                problems.secret(&format!("{path}.password"), &login.password, true);
            }
        }
        if let Some(hosts) = &self.no_proxy {
            problems.list_size("proxy.no-proxy", hosts.len());
            for (i, host) in hosts.iter().enumerate() {
                let path = format!("proxy.no-proxy[{i}]");
                if !problems.text(&path, host, 253) {
                    continue;
                }
                // International names count in their IDNA form, as they are stored.
                let ascii = normalize::host(host);
                let allowed = |c: char| c.is_ascii_alphanumeric() || ".*:/_-[]".contains(c);
                if let Some(bad) = ascii.chars().find(|c| !allowed(*c)) {
                    problems.add(
                        &path,
                        format!(
                            "contains {bad:?}; use a host, .domain suffix, address or CIDR range"
                        ),
                    );
                }
            }
        }
    }
}

/// A client's own values differ from its ecosystem's in what the client can take: never
/// fallback mirrors (failover moves all of an ecosystem's clients together, so fallbacks are
/// stated on the ecosystem), and nothing the client does not read from its files.
fn validate_client_overrides(profile: &Profile, problems: &mut Problems) {
    for (section, npm) in profile.npm_sections() {
        if section == "npm" {
            continue;
        }
        if npm.registry_fallbacks.is_some() {
            problems.add(
                &format!("{section}.registry-fallbacks"),
                "fallback mirrors are stated once, in npm.registry-fallbacks: failover moves every client of the npm registry together",
            );
        }
        for (field, proxy) in [("proxy", &npm.proxy), ("https-proxy", &npm.https_proxy)] {
            if proxy.is_some() {
                problems.add(
                    &format!("{section}.{field}"),
                    format!("a proxy is stated once, in npm.{field}: machines probe the registries through it, and rollouts watch it"),
                );
            }
        }
    }
    for (section, pypi) in profile.pypi_sections() {
        if section != "pypi" && pypi.index_url_fallbacks.is_some() {
            problems.add(
                &format!("{section}.index-url-fallbacks"),
                "fallback mirrors are stated once, in pypi.index-url-fallbacks: failover moves every client of the package index together",
            );
        }
    }
    if profile
        .clients
        .uv
        .as_ref()
        .is_some_and(|uv| uv.timeout.is_some())
    {
        problems.add(
            "clients.uv.timeout",
            "uv reads no timeout from its files (it reads UV_HTTP_TIMEOUT from the environment: set that in env)",
        );
    }
}

/// What the Maven and gem sections' values need of each other, on each section as its
/// client reads it.
/// A section that logs in to one server: Maven's repository, the gem source.
trait ServerLogin: Clone {
    /// The ecosystem, as problems name it.
    const ECOSYSTEM: &'static str;
    /// The server it logs in to.
    fn server(&self) -> &Option<String>;
    /// What the values need of each other (see [`MavenSettings::validate_together`]).
    fn check_together(&self, own: &Self, place: &Place, problems: &mut Problems);
}

impl ServerLogin for MavenSettings {
    const ECOSYSTEM: &'static str = "maven";
    fn server(&self) -> &Option<String> {
        &self.repository
    }
    fn check_together(&self, own: &Self, place: &Place, problems: &mut Problems) {
        self.validate_together(own, place, problems);
    }
}

impl ServerLogin for RubygemsSettings {
    const ECOSYSTEM: &'static str = "rubygems";
    fn server(&self) -> &Option<String> {
        &self.source
    }
    fn check_together(&self, own: &Self, place: &Place, problems: &mut Problems) {
        self.validate_together(own, place, problems);
    }
}

/// Each section of one ecosystem (`(its path, its own values, the values its client reads)`)
/// checked as its client reads it; `shared` is the ecosystem's own server, which a client's
/// section may move.
fn validate_sections<T: ServerLogin>(
    shared: Option<&T>,
    sections: [(&'static str, &Option<T>, Option<T>); 3],
    problems: &mut Problems,
) {
    let server = shared.and_then(|s| s.server().clone());
    for (section, own, read) in sections {
        if let (Some(own), Some(read)) = (own, read) {
            let place = Place {
                section,
                ecosystem: T::ECOSYSTEM,
                own_server: moves(own.server(), &server),
            };
            read.check_together(own, &place, problems);
        }
    }
}

fn validate_logins(profile: &Profile, problems: &mut Problems) {
    let c = &profile.clients;
    let maven = [
        ("maven", &profile.maven, profile.maven.clone()),
        (
            "clients.maven",
            &c.maven,
            profile.maven_for(MavenClient::Maven),
        ),
        (
            "clients.gradle",
            &c.gradle,
            profile.maven_for(MavenClient::Gradle),
        ),
    ];
    validate_sections(profile.maven.as_ref(), maven, problems);
    let rubygems = [
        ("rubygems", &profile.rubygems, profile.rubygems.clone()),
        (
            "clients.gem",
            &c.gem,
            profile.rubygems_for(RubygemsClient::Gem),
        ),
        (
            "clients.bundler",
            &c.bundler,
            profile.rubygems_for(RubygemsClient::Bundler),
        ),
    ];
    validate_sections(profile.rubygems.as_ref(), rubygems, problems);
    validate_bundler_login(profile, problems);
}

/// A login for the gem source Bundler reads: Bundler keeps one under a key made of the
/// source's host (`Bundler::Settings#key_for`: `BUNDLE_`, then the host in capitals with `.` as
/// `__` and `-` as `___`), and an IPv6 address (`[::1]`) makes `BUNDLE_[::1]`, which is no
/// `BUNDLE_*` variable and no key of the names Bundler's `config` keeps (letters, digits,
/// `-_.:/`): the agent could neither write it as Bundler reads it nor read it back. RubyGems
/// (`clients.gem`) takes the login in the source's URL, and has no such key.
fn validate_bundler_login(profile: &Profile, problems: &mut Problems) {
    let Some(bundler) = profile.rubygems_for(RubygemsClient::Bundler) else {
        return;
    };
    let Some(source) = &bundler.source else {
        return;
    };
    let ipv6 =
        url::Url::parse(source).is_ok_and(|url| matches!(url.host(), Some(url::Host::Ipv6(_))));
    if !ipv6 || (bundler.username.is_none() && bundler.password.is_none()) {
        return;
    }
    let own = profile
        .clients
        .bundler
        .as_ref()
        .is_some_and(|own| own.source.is_some());
    let section = if own { "clients.bundler" } else { "rubygems" };
    problems.add(
        &format!("{section}.source"),
        "is an IPv6 address, and Bundler cannot be given a login for it: Bundler keeps a \
         host's login under a key made of the host's name (BUNDLE_GEMS__CORP__EXAMPLE for \
         gems.corp.example), which an address in brackets cannot make; name the source by a \
         host name",
    );
}

fn validate_env(env: &std::collections::BTreeMap<String, EnvValue>, problems: &mut Problems) {
    problems.list_size("env", env.len());
    for (name, value) in env {
        let path = format!("env.{name}");
        let well_formed = !name.is_empty()
            && name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            problems.add(
                &path,
                "a variable name is a letter or '_' followed by letters, digits or '_' (at most 128)",
            );
        } else if let Some(section) = setting_of_variable(name) {
            problems.add(&path, format!("{name} is set by {section}; set it there"));
        } else if let Some(kind) = variables::kind_of(name).filter(|kind| !kind.allowable()) {
            // Those an admin may allow are checked where the environment is known.
            problems.add(&path, format!("{name} {}", kind.refusal()));
        }
        let text = match value {
            EnvValue::Text(text) => problems.text(&path, text, MAX_VALUE).then_some(text),
            EnvValue::Secret(secret) => {
                problems.secret(&path, secret, true);
                match secret {
                    Secret::Value(text) => Some(text),
                    Secret::Kept => None,
                }
            }
        };
        // What every machine must be able to carry: systemd's environment.d expands `$` and
        // has no escape for it, and drops white space around a value.
        if let Some(text) = text {
            if text.contains('$') {
                problems.add(
                    &path,
                    "must not contain '$': systemd user sessions (environment.d) would expand it",
                );
            } else if text.trim() != text.as_str() {
                problems.add(
                    &path,
                    "must not start or end with white space, which clients drop",
                );
            }
        }
    }
}
