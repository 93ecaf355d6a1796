//! The profile: the package settings a machine gets.
//!
//! Every section and field is optional: what is left out is not managed. JSON keys follow the
//! package clients' own names (`index-url`, `strict-ssl`). A profile is read in two steps:
//! serde checks the shape (unknown keys, wrong types), then [`Profile::validate`] checks every
//! value and reports every problem at once, each with its JSON path.
//!
//! Baselines and overlays are both profiles; [`Profile::overlaid`] applies one to the other:
//! scalars and lists replace, maps (npm scopes and tokens, proxy credentials, `env`) merge by
//! key.
//!
//! Sections are ecosystems, not clients: `npm` is the npm registry that npm, pnpm and Yarn
//! fetch from, `pypi` the Python package index of pip and uv, `cargo` crates, `maven` the
//! Maven repository of Maven and Gradle, `rubygems` the gem source of RubyGems and Bundler.
//! Ops state a mirror once; a value
//! one client must see differently goes in `clients` ([`ClientOverrides`]), which overlays the
//! ecosystem's section for that client alone ([`Profile::npm_for`], [`Profile::pypi_for`],
//! [`Profile::maven_for`], [`Profile::rubygems_for`]).
//!
//! Published versions are never rewritten (they are immutable), so what profiles were once
//! written as is still read: `pip` is the name `pypi` had before ecosystems
//! ([`former_paths`]).
//!
//! Secrets (npm tokens, proxy passwords, secret `env` values) are [`Secret`]s: written, never
//! read back. [`Profile::secrets`] finds every one of them.

mod endpoints;
mod merge;
pub mod normalize;
mod secrets;
mod settings;
mod validate;
pub mod variables;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use endpoints::NamedEndpoint;
pub use merge::Origin;
pub use secrets::SecretPath;
pub use settings::{goproxy, Setting, SettingChange};
pub use validate::{setting_of_variable, CARGO_MIRROR_NAME};

/// The most bytes a profile may take as JSON (secrets included): far above any real one, and
/// what bounds a delivery's size, so that a machine can stop reading an answer that runs past
/// what a real one can be ([`crate::delivery::MAX_ENVELOPE_BYTES`]).
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;

/// The settings of one environment (a baseline) or one machine role in it (an overlay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Go modules: `GOPROXY` and friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go: Option<GoSettings>,
    /// The npm registry, for npm (`.npmrc`), pnpm (its `auth.ini`) and Yarn (`.yarnrc.yml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npm: Option<NpmSettings>,
    /// The Python package index, for pip (`pip.conf` / `pip.ini`) and uv (`uv.toml`). Read
    /// under its former name `pip` too.
    #[serde(default, alias = "pip", skip_serializing_if = "Option::is_none")]
    pub pypi: Option<PypiSettings>,
    /// Cargo's registries: crates.io's replacement, further registries, their tokens
    /// (`config.toml`, `credentials.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo: Option<CargoSettings>,
    /// The Maven repository that stands in for Maven Central and the others a build names,
    /// its login and Maven's proxy (`settings.xml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maven: Option<MavenSettings>,
    /// The gem source that stands in for rubygems.org, and its login, for RubyGems (`gem`) and
    /// Bundler (`.gemrc`, Bundler's `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubygems: Option<RubygemsSettings>,
    /// git: URL rewrites and proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSettings>,
    /// `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySettings>,
    /// Further environment variables, such as `GEM_HOST`. A value is text, or a secret
    /// (`{"value": "..."}`) for tokens such as `GITHUB_TOKEN`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// What machines ask to probe an endpoint, by the endpoint's URL as the profile names it
    /// (a registry, an index, a Go proxy or a git base): a URL on the same scheme, host and
    /// port, fetched with `GET` instead of the probe for its kind (such as a mirror's own
    /// health page). Entries for URLs the profile does not name as such an endpoint are not
    /// used.
    #[serde(
        default,
        rename = "probe-urls",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub probe_urls: BTreeMap<String, String>,
    /// Values one package client takes instead of its ecosystem's.
    #[serde(default, skip_serializing_if = "ClientOverrides::is_empty")]
    pub clients: ClientOverrides,
}

/// Values for one package client that differ from its ecosystem's section, shaped like that
/// section and laid over it for that client alone, as a role's overlay is laid over a baseline
/// (scalars and lists replace, maps merge by key). Fallback mirrors are stated on the
/// ecosystem only: failover moves every client of an ecosystem together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientOverrides {
    /// npm's own values, over `npm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npm: Option<NpmSettings>,
    /// pnpm's own values, over `npm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pnpm: Option<NpmSettings>,
    /// Yarn's own values, over `npm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yarn: Option<NpmSettings>,
    /// pip's own values, over `pypi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pip: Option<PypiSettings>,
    /// uv's own values, over `pypi`. uv reads no timeout from its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uv: Option<PypiSettings>,
    /// Maven's own values, over `maven` (`settings.xml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maven: Option<MavenSettings>,
    /// Gradle's own values, over `maven` (its init script and `gradle.properties`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradle: Option<MavenSettings>,
    /// RubyGems' own values, over `rubygems` (`.gemrc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gem: Option<RubygemsSettings>,
    /// Bundler's own values, over `rubygems` (Bundler's `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundler: Option<RubygemsSettings>,
}

impl ClientOverrides {
    /// Whether no client has values of its own.
    pub fn is_empty(&self) -> bool {
        self == &ClientOverrides::default()
    }
}

impl Profile {
    /// Each section shaped as the npm registry's, by the dotted name of its place: `npm`,
    /// then each client's own (`clients.pnpm`).
    pub fn npm_sections(&self) -> Vec<(&'static str, &NpmSettings)> {
        let c = &self.clients;
        [
            ("npm", &self.npm),
            ("clients.npm", &c.npm),
            ("clients.pnpm", &c.pnpm),
            ("clients.yarn", &c.yarn),
        ]
        .into_iter()
        .filter_map(|(name, section)| Some((name, section.as_ref()?)))
        .collect()
    }

    /// Each section shaped as a Python package index's, by the dotted name of its place:
    /// `pypi`, then each client's own (`clients.uv`).
    pub fn pypi_sections(&self) -> Vec<(&'static str, &PypiSettings)> {
        let c = &self.clients;
        [
            ("pypi", &self.pypi),
            ("clients.pip", &c.pip),
            ("clients.uv", &c.uv),
        ]
        .into_iter()
        .filter_map(|(name, section)| Some((name, section.as_ref()?)))
        .collect()
    }

    /// Each section shaped as a Maven repository's, by the dotted name of its place: `maven`,
    /// then each client's own (`clients.gradle`).
    pub fn maven_sections(&self) -> Vec<(&'static str, &MavenSettings)> {
        let c = &self.clients;
        [
            ("maven", &self.maven),
            ("clients.maven", &c.maven),
            ("clients.gradle", &c.gradle),
        ]
        .into_iter()
        .filter_map(|(name, section)| Some((name, section.as_ref()?)))
        .collect()
    }

    /// Each section shaped as a gem source's, by the dotted name of its place: `rubygems`,
    /// then each client's own (`clients.bundler`).
    pub fn rubygems_sections(&self) -> Vec<(&'static str, &RubygemsSettings)> {
        let c = &self.clients;
        [
            ("rubygems", &self.rubygems),
            ("clients.gem", &c.gem),
            ("clients.bundler", &c.bundler),
        ]
        .into_iter()
        .filter_map(|(name, section)| Some((name, section.as_ref()?)))
        .collect()
    }
}

/// The names the setting at `path` (or a section) had in profiles of before, which audit
/// events and diffs recorded then still carry: `pypi.index-url` was `pip.index-url`.
pub fn former_paths(path: &str) -> Vec<String> {
    match path.strip_prefix("pypi") {
        Some(rest) if rest.is_empty() || rest.starts_with('.') => vec![format!("pip{rest}")],
        _ => Vec::new(),
    }
}

/// The package clients that fetch from the npm registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpmClient {
    /// npm.
    Npm,
    /// pnpm.
    Pnpm,
    /// Yarn (Berry, 2 and later).
    Yarn,
}

/// The package clients that fetch from a Python package index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PypiClient {
    /// pip.
    Pip,
    /// uv.
    Uv,
}

/// The package clients that fetch from a Maven repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MavenClient {
    /// Maven.
    Maven,
    /// Gradle.
    Gradle,
}

/// The package clients that fetch from a gem source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RubygemsClient {
    /// RubyGems (`gem`).
    Gem,
    /// Bundler.
    Bundler,
}

/// Go's module settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GoSettings {
    /// `GOPROXY`: where modules come from, tried in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Vec<GoProxyEntry>>,
    /// `GOPRIVATE`: module path patterns fetched directly and not checked against the sum
    /// database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<Vec<String>>,
    /// `GONOPROXY`: patterns fetched directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noproxy: Option<Vec<String>>,
    /// `GONOSUMDB`: patterns not checked against the sum database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nosumdb: Option<Vec<String>>,
    /// `GOSUMDB`: a database name (`sum.golang.org`), `name+key`, `name+key URL`, or `off`
    /// (which turns checksum verification off: a security decision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sumdb: Option<String>,
    /// `GOINSECURE`: patterns that may be fetched without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<Vec<String>>,
}

/// One source in `GOPROXY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GoProxyEntry {
    /// A proxy URL, `direct` (the module's own repository) or `off` (nothing further).
    pub source: String,
    /// When to try the next source: after a "not found" only (`,` in `GOPROXY`, the default)
    /// or after any error (`|`).
    #[serde(default)]
    pub fallback: GoFallback,
}

/// How `GOPROXY` falls through to its next entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum GoFallback {
    /// Only when this source answers 404 or 410 (`,`).
    #[default]
    NotFound,
    /// On any error, including network failures (`|`).
    AnyError,
}

/// npm's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NpmSettings {
    /// The default registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Registries that stand in for `registry`, in order, while the machine's probes cannot
    /// reach it (at most 4; only beside `registry` in the same profile). The agent writes the
    /// first one it reaches and goes back to `registry` once that answers again (see the
    /// agent's `failover` module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_fallbacks: Option<Vec<String>>,
    /// Registries for scopes: `@corp` -> URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<BTreeMap<String, String>>,
    /// Auth tokens, by registry URL. Write-only: reads say that one is set. npm and pnpm
    /// keep a token under the URL without its scheme (`//host/path/:_authToken`), Yarn under
    /// the whole URL: two URLs its client would keep under one key (differing only in the
    /// host's case or a default port, and for npm and pnpm in the scheme) are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_tokens: Option<BTreeMap<String, Secret>>,
    /// Whether npm checks registry certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_ssl: Option<bool>,
    /// Proxy for `http:` registries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Proxy for `https:` registries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
}

/// A Python package index's settings, as pip names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PypiSettings {
    /// The package index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    /// Indexes that stand in for `index-url`, in order, while the machine's probes cannot
    /// reach it (at most 4; only beside `index-url` in the same profile), as
    /// `npm.registry-fallbacks` does for the npm registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_url_fallbacks: Option<Vec<String>>,
    /// Further indexes, searched too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_index_url: Option<Vec<String>>,
    /// Hosts trusted without valid HTTPS (`host` or `host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_host: Option<Vec<String>>,
    /// Network timeout in seconds (1-600). pip's only: uv reads no timeout from its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

/// Cargo's registries, as Cargo's configuration names them (Cargo book, `config.md`,
/// `source-replacement.md`, `registry-authentication.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CargoSettings {
    /// The registry that stands in for crates.io (source replacement): a sparse index
    /// (`sparse+https://crates.corp.example/index/`) or a git index (`https://...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The token `registry` wants, for a mirror that requires authentication. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_token: Option<Secret>,
    /// Further registries by name, which a `Cargo.toml` names with `registry = "name"`: name
    /// -> index URL (sparse or git, as `registry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registries: Option<BTreeMap<String, String>>,
    /// Tokens of the registries in `registries`, by name. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<BTreeMap<String, Secret>>,
    /// `http.proxy`: the proxy Cargo uses before the proxy variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
}

/// The Maven repository and Maven's proxy, as Maven's `settings.xml` names them (Maven's
/// "Settings Reference" and "Guide to Mirror Settings").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MavenSettings {
    /// The repository that stands in for those `mirror-of` names (a mirror): an http or https
    /// URL (`https://maven.corp.example/repository/maven-public/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Which repositories `repository` stands in for, as Maven's `mirrorOf` names them: `*`
    /// (every one, the default), `external:*` (all but those on this machine), a repository's
    /// id (`central`), `!id` to leave one out. Each entry one pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_of: Option<Vec<String>>,
    /// The user name `repository` wants, sent with `password` (HTTP Basic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `repository`'s password. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The proxy Maven fetches through, for http and https repositories alike:
    /// `http://host:port` (Maven reads no proxy variables). Its login, if it wants one, is
    /// `proxy.credentials`' for its origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Hosts fetched without `proxy` (`nonProxyHosts`): host names, `*.corp.example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<Vec<String>>,
}

/// The gem source that stands in for `https://rubygems.org/`, as RubyGems takes a source
/// (`:sources:` in `.gemrc`) and Bundler a mirror (`mirror.https://rubygems.org/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RubygemsSettings {
    /// The gem server: an http or https URL (`https://gems.corp.example/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The user name `source` wants, sent with `password` (HTTP Basic). Without `:`, which
    /// Bundler takes as the end of the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `source`'s password. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

/// git's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GitSettings {
    /// `url.<base>.insteadOf` rewrites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrites: Option<Vec<GitRewrite>>,
    /// `http.proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
}

/// One URL rewrite: URLs starting with an `instead-of` prefix are fetched from `base`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GitRewrite {
    /// The URL prefix to use instead.
    pub base: String,
    /// Prefixes replaced by `base` (`insteadOf`).
    pub instead_of: Vec<String>,
    /// Prefixes replaced by `base` for pushes only (`pushInsteadOf`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push_instead_of: Vec<String>,
}

/// The proxy environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProxySettings {
    /// `HTTP_PROXY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `HTTPS_PROXY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    /// `NO_PROXY`: hosts, domain suffixes (`.corp.example`), addresses or CIDR ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<Vec<String>>,
    /// Logins for proxies, by the proxy's `scheme://host:port`. Wherever the profile names a
    /// proxy with that origin (`proxy.http`, `npm.https-proxy`, `git.http-proxy`...), the agent
    /// writes it with this login. Proxy URLs themselves never carry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<BTreeMap<String, ProxyLogin>>,
}

/// A user name and a write-only password for one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProxyLogin {
    /// The user name, in clear.
    pub username: String,
    /// The password. Write-only: reads say that one is set.
    pub password: Secret,
}

/// The value of an `env` variable: text, or a secret that reads back as `{"set": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum EnvValue {
    /// Plain text, shown on reads and in diffs.
    Text(String),
    /// A secret.
    Secret(Secret),
}

impl From<&str> for EnvValue {
    fn from(text: &str) -> Self {
        EnvValue::Text(text.to_owned())
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than `untagged`, so that errors say what is wrong and where.
        struct EnvValueVisitor;
        impl<'de> serde::de::Visitor<'de> for EnvValueVisitor {
            type Value = EnvValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a string, or a secret: {"value": "..."} or {"set": true}"#)
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<EnvValue, E> {
                Ok(EnvValue::Text(text.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EnvValue, A::Error> {
                Secret::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(EnvValue::Secret)
            }
        }
        deserializer.deserialize_any(EnvValueVisitor)
    }
}

/// A secret such as a registry token or a proxy password. Written as `{"value": "..."}`; read back as
/// `{"set": true}`, never as its value. Writing `{"set": true}` keeps the stored value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A value, as written or as stored.
    Value(String),
    /// "Keep what is stored": sent back by clients that read the profile.
    Kept,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(***)"),
            Secret::Kept => f.write_str("Secret(kept)"),
        }
    }
}

/// What a secret looks like on the wire. Errors never quote what was sent: it may be the
/// secret itself, put in the wrong place.
const SECRET_SHAPE: &str = r#"a secret is {"value": "..."} to set it or {"set": true} to keep it"#;

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("set", &true)?;
        map.end()
    }
}

/// Refuses anything but the expected kind of value without quoting it, as serde's own
/// "invalid type: string \"...\"" would.
macro_rules! refuse_without_quoting {
    ($message:expr; $($method:ident: $type:ty),*) => {
        $(
            fn $method<E: serde::de::Error>(self, _: $type) -> Result<Self::Value, E> {
                Err(E::custom($message))
            }
        )*
    };
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl<'de> serde::de::Visitor<'de> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(SECRET_SHAPE)
            }
            refuse_without_quoting!(SECRET_SHAPE;
                visit_str: &str, visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Secret, A::Error> {
                use serde::de::Error;
                let (mut value, mut set) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "value" if value.is_none() => {
                            value = Some(map.next_value::<SecretText>()?.0)
                        }
                        "set" if set.is_none() => set = Some(map.next_value::<bool>()?),
                        "value" | "set" => {
                            return Err(A::Error::custom(format!("duplicate field `{key}`")))
                        }
                        _ => {
                            return Err(A::Error::custom(format!(
                                "unknown field `{key}`, expected `value` or `set`"
                            )))
                        }
                    }
                }
                match (value, set) {
                    (Some(value), None) => Ok(Secret::Value(value)),
                    (None, Some(true)) => Ok(Secret::Kept),
                    _ => Err(A::Error::custom(SECRET_SHAPE)),
                }
            }
        }
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// A secret's value: a string, and an error that does not repeat it if it is not one.
struct SecretText(String);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl serde::de::Visitor<'_> for TextVisitor {
            type Value = SecretText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a secret's value is a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretText, E> {
                Ok(SecretText(text.to_owned()))
            }
            refuse_without_quoting!("a secret's value is a string";
                visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some(
                r#"Write {"value": "..."} to set the secret, {"set": true} to keep the stored one. Reads always show {"set": true}."#,
            ))
            .property("value", ObjectBuilder::new().schema_type(Type::String))
            .property("set", ObjectBuilder::new().schema_type(Type::Boolean))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Secret {}

#[cfg(test)]
mod tests;
