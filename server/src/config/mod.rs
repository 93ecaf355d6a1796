//! The server's settings: one typed struct, read from an optional TOML file and overridden by
//! `SWITCHYARD_*` environment variables, validated once at start-up.

mod duration;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use switchyard_proto::Password;

pub use duration::SettingDuration;

use crate::http::origin::TrustedProxies;
use crate::store::DatabaseUrl;
use crate::telemetry::{LogFilter, LogFormat};

/// Prefix of every environment variable the server reads.
pub const ENV_PREFIX: &str = "SWITCHYARD_";

/// The server's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Folder for the embedded database and, later, keys; created when missing.
    pub data_dir: PathBuf,
    /// Database to use; `None` means the embedded SQLite file in `data_dir`.
    pub database_url: Option<DatabaseUrl>,
    /// Most connections the server keeps open to the database.
    pub database_max_connections: u32,
    /// Log filter: a level (`info`) or `tracing` directives (`info,sqlx=warn`).
    pub log: LogFilter,
    /// How log lines look.
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_timeout_secs: SettingDuration,
    /// Password of the `admin` user created on the first start; random (and printed once)
    /// when not set. Ignored once users exist.
    pub admin_password: Option<Password>,
    /// File holding the access-token signing secret; `jwt-secret` in `data_dir` by default,
    /// created when missing. Server processes sharing a database must share it.
    pub jwt_secret_file: Option<PathBuf>,
    /// Lifetime of access tokens.
    pub access_token_ttl_secs: SettingDuration,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl_secs: SettingDuration,
    /// Failed logins of one username (three times as many from one address) before logins are
    /// refused with 429.
    pub login_lockout_failures: u32,
    /// How long such a lockout lasts; failures older than this are forgotten.
    pub login_lockout_secs: SettingDuration,
    /// File holding the key that encrypts profile secrets at rest; `profile-key` in `data_dir`
    /// by default, created when missing. Keep it out of database backups, and back it up
    /// separately: without it stored secrets cannot be read.
    pub profile_key_file: Option<PathBuf>,
    /// How long a change request in a protected environment waits for approval.
    pub change_request_ttl_secs: SettingDuration,
    /// Addresses or CIDR ranges of reverse proxies in front of the server, comma-separated.
    /// Only from these is `X-Forwarded-For` believed when recording where a request came
    /// from; by default from none.
    pub trusted_proxies: TrustedProxies,
    /// Longest a machine's profile request may wait for a change; longer waits
    /// asked for are refused.
    pub agent_max_wait_secs: SettingDuration,
    /// How long a signed profile delivery stays valid on a machine.
    pub delivery_ttl_secs: SettingDuration,
    /// How often the gates of running rollouts are checked (promoting, halting or reverting
    /// them): a wave moves on at most this long after its gate passes.
    pub rollout_check_secs: SettingDuration,
    /// How often the fleet's Prometheus gauges (mirror health) are read again from the
    /// database, about as often as Prometheus scrapes; 0 (the default) leaves them out.
    /// `/metrics` needs no login: turn them on where it is not reachable from outside.
    pub fleet_metrics_secs: SettingDuration,
    /// How often a signed checkpoint of the audit trail's head is written to the log (and
    /// once at start); 0 writes none.
    pub audit_checkpoint_secs: SettingDuration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 10,
            log: LogFilter::default(),
            log_format: LogFormat::Pretty,
            max_body_bytes: 1024 * 1024,
            shutdown_timeout_secs: SettingDuration::seconds(30),
            admin_password: None,
            jwt_secret_file: None,
            access_token_ttl_secs: SettingDuration::seconds(15 * 60),
            refresh_token_ttl_secs: SettingDuration::seconds(30 * 24 * 60 * 60),
            login_lockout_failures: 10,
            login_lockout_secs: SettingDuration::seconds(15 * 60),
            profile_key_file: None,
            change_request_ttl_secs: SettingDuration::seconds(7 * 24 * 3600),
            trusted_proxies: TrustedProxies::default(),
            agent_max_wait_secs: SettingDuration::seconds(120),
            delivery_ttl_secs: SettingDuration::seconds(24 * 3600),
            rollout_check_secs: SettingDuration::seconds(10),
            fleet_metrics_secs: SettingDuration::seconds(0),
            audit_checkpoint_secs: SettingDuration::seconds(3600),
        }
    }
}

impl Settings {
    /// Reads the defaults, then `file` if given, then the `SWITCHYARD_*` variables of `env`.
    pub fn load<I>(file: Option<&Path>, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "configuration file {} (--config) does not exist or is not a file",
                    file.display()
                )));
            }
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(known_variables(&env));
        let settings: Settings = figment.extract().map_err(ConfigError::from_figment)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Names of `SWITCHYARD_*` variables in `env` that are not settings: most likely typos.
    pub fn unknown_variables<I>(env: I) -> Vec<String>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let keys = Settings::keys();
        env.into_iter()
            .filter_map(|(name, _)| {
                let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
                (!keys.contains(&key)).then_some(name)
            })
            .collect()
    }

    /// The database this server uses: the configured one or the SQLite file in the data folder.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("switchyard.db")))
    }

    /// The file holding the access-token signing secret.
    pub fn jwt_secret_path(&self) -> PathBuf {
        self.jwt_secret_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("jwt-secret"))
    }

    /// The file holding the key of profile secrets.
    pub fn profile_key_path(&self) -> PathBuf {
        self.profile_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("profile-key"))
    }

    /// Grace period for in-flight requests at shutdown.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout_secs.get()
    }

    /// Every setting's key in the TOML file, as the struct names its fields; the environment
    /// variable is `SWITCHYARD_` followed by the key in upper case.
    pub fn keys() -> Vec<String> {
        defaults().keys().cloned().collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        const MIN_BODY: usize = 1024;
        const MAX_BODY: usize = 64 * 1024 * 1024;
        if !(MIN_BODY..=MAX_BODY).contains(&self.max_body_bytes) {
            return Err(ConfigError::setting(
                "max_body_bytes",
                format!(
                    "{} is out of range; use {MIN_BODY} to {MAX_BODY} bytes",
                    self.max_body_bytes
                ),
            ));
        }
        if !(1..=1000).contains(&self.database_max_connections) {
            return Err(ConfigError::setting(
                "database_max_connections",
                format!(
                    "{} is out of range; use 1 to 1000",
                    self.database_max_connections
                ),
            ));
        }
        if !(1..=1000).contains(&self.login_lockout_failures) {
            return Err(ConfigError::setting(
                "login_lockout_failures",
                format!(
                    "{} is out of range; use 1 to 1000",
                    self.login_lockout_failures
                ),
            ));
        }
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        const DAY: u64 = 24 * HOUR;
        let durations = [
            ("shutdown_timeout_secs", self.shutdown_timeout_secs, 0, HOUR),
            (
                "agent_max_wait_secs",
                self.agent_max_wait_secs,
                1,
                15 * MINUTE,
            ),
            (
                "delivery_ttl_secs",
                self.delivery_ttl_secs,
                5 * MINUTE,
                30 * DAY,
            ),
            (
                "change_request_ttl_secs",
                self.change_request_ttl_secs,
                MINUTE,
                90 * DAY,
            ),
            (
                "access_token_ttl_secs",
                self.access_token_ttl_secs,
                MINUTE,
                DAY,
            ),
            (
                "refresh_token_ttl_secs",
                self.refresh_token_ttl_secs,
                5 * MINUTE,
                365 * DAY,
            ),
            ("login_lockout_secs", self.login_lockout_secs, 1, DAY),
            ("rollout_check_secs", self.rollout_check_secs, 1, HOUR),
            ("fleet_metrics_secs", self.fleet_metrics_secs, 0, HOUR),
            ("audit_checkpoint_secs", self.audit_checkpoint_secs, 0, DAY),
        ];
        for (key, value, min, max) in durations {
            let (min, max) = (SettingDuration::seconds(min), SettingDuration::seconds(max));
            if !(min..=max).contains(&value) {
                return Err(ConfigError::setting(
                    key,
                    format!("{value} is out of range; use {min} to {max}"),
                ));
            }
        }
        // A session's end is found through its refresh tokens, which are forgotten once
        // expired: each must outlive the access token issued beside it.
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(ConfigError::setting(
                "refresh_token_ttl_secs",
                format!(
                    "{} is shorter than access_token_ttl_secs ({}); a refresh token must outlive the access token issued with it",
                    self.refresh_token_ttl_secs, self.access_token_ttl_secs
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::setting("data_dir", "must not be empty".into()));
        }
        Ok(())
    }
}

/// Each setting's default value by key: the struct's own field names.
fn defaults() -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(fields)) => fields,
        // A struct of plain fields always serializes to an object.
        _ => serde_json::Map::new(),
    }
}

/// The `SWITCHYARD_*` variables that are settings, as a configuration layer. Values are typed
/// the way figment types the process environment (`8080` is a number, `true` a bool).
///
/// Only variables that are settings get here; the others are reported by
/// [`Settings::unknown_variables`] so a typo is seen rather than silently ignored.
struct EnvironmentVariables(figment::value::Dict);

fn known_variables(env: &[(String, String)]) -> EnvironmentVariables {
    let defaults = defaults();
    let dict = env
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
            let default = defaults.get(&key)?;
            Some({
                // Text settings (those whose default is text, or nothing) stay text: a data
                // folder may be called `2024`. The others are typed the way figment types the
                // process environment.
                let text = matches!(
                    default,
                    serde_json::Value::String(_) | serde_json::Value::Null
                );
                let value = if text {
                    figment::value::Value::from(value.clone())
                } else {
                    value
                        .parse::<figment::value::Value>()
                        .unwrap_or_else(|never| match never {})
                };
                (key, value)
            })
        })
        .collect();
    EnvironmentVariables(dict)
}

impl figment::Provider for EnvironmentVariables {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable")
            .interpolater(|_, keys| format!("{ENV_PREFIX}{}", keys.join("__").to_ascii_uppercase()))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}

/// A configuration problem: one line naming the setting and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    fn setting(key: &str, problem: String) -> Self {
        Self(format!(
            "setting {key} ({}{}): {problem}",
            ENV_PREFIX,
            key.to_ascii_uppercase()
        ))
    }

    fn from_figment(error: figment::Error) -> Self {
        let lines: Vec<String> = error
            .into_iter()
            .map(|error| {
                let key = error.path.join(".");
                let source = error
                    .metadata
                    .as_ref()
                    .map(|meta| match &meta.source {
                        Some(figment::Source::File(path)) => format!("in {}", path.display()),
                        _ if meta.name == "environment variable" => format!(
                            "from {ENV_PREFIX}{}",
                            key.replace('.', "__").to_ascii_uppercase()
                        ),
                        _ => format!("from {}", meta.name),
                    })
                    .unwrap_or_default();
                let kind = match &error.kind {
                    figment::error::Kind::UnknownField(field, _) => format!(
                        "unknown setting {field:?}; known settings are {}",
                        Settings::keys().join(", ")
                    ),
                    kind => kind.to_string(),
                };
                if key.is_empty() {
                    format!("{kind} {source}")
                } else {
                    format!("setting {key} {source}: {kind}")
                }
            })
            .collect();
        Self(lines.join("; "))
    }
}

#[cfg(test)]
mod tests;
