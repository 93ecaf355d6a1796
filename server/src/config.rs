//! The server's settings: one typed struct, read from an optional TOML file and overridden by
//! `SWITCHYARD_*` environment variables, validated once at start-up.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use switchyard_proto::Password;

/// Prefix of every environment variable the server reads.
pub const ENV_PREFIX: &str = "SWITCHYARD_";

/// Every setting, by its key in the TOML file; the environment variable is
/// `SWITCHYARD_` followed by the key in upper case.
pub const SETTING_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_max_connections",
    "log",
    "log_format",
    "max_body_bytes",
    "shutdown_timeout_secs",
    "admin_password",
    "jwt_secret_file",
    "access_token_ttl_secs",
    "refresh_token_ttl_secs",
    "login_lockout_failures",
    "login_lockout_secs",
    "profile_key_file",
    "change_request_ttl_secs",
    "trusted_proxies",
    "agent_max_wait_secs",
    "delivery_ttl_secs",
];

/// Settings whose values are text, whatever they look like.
const TEXT_SETTINGS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "log",
    "log_format",
    "admin_password",
    "jwt_secret_file",
    "profile_key_file",
    "trusted_proxies",
];

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
    /// How long in-flight requests may take to finish after a shutdown signal, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Password of the `admin` user created on the first start; random (and printed once)
    /// when not set. Ignored once users exist.
    pub admin_password: Option<Password>,
    /// File holding the access-token signing secret; `jwt-secret` in `data_dir` by default,
    /// created when missing. Server processes sharing a database must share it.
    pub jwt_secret_file: Option<PathBuf>,
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, in seconds.
    pub refresh_token_ttl_secs: u64,
    /// Failed logins of one username (three times as many from one address) before logins are
    /// refused with 429.
    pub login_lockout_failures: u32,
    /// How long such a lockout lasts, in seconds; failures older than this are forgotten.
    pub login_lockout_secs: u64,
    /// File holding the key that encrypts profile secrets at rest; `profile-key` in `data_dir`
    /// by default, created when missing. Keep it out of database backups, and back it up
    /// separately: without it stored secrets cannot be read.
    pub profile_key_file: Option<PathBuf>,
    /// How long a change request in a protected environment waits for approval, in seconds.
    pub change_request_ttl_secs: u64,
    /// Addresses or CIDR ranges of reverse proxies in front of the server, comma-separated.
    /// Only from these is `X-Forwarded-For` believed when recording where a request came
    /// from; by default from none.
    pub trusted_proxies: TrustedProxies,
    /// Longest a machine's profile request may wait for a change, in seconds; longer waits
    /// asked for are refused.
    pub agent_max_wait_secs: u64,
    /// How long a signed profile delivery stays valid on a machine, in seconds.
    pub delivery_ttl_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 10,
            log: LogFilter("info".into()),
            log_format: LogFormat::Pretty,
            max_body_bytes: 1024 * 1024,
            shutdown_timeout_secs: 30,
            admin_password: None,
            jwt_secret_file: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            login_lockout_failures: 10,
            login_lockout_secs: 15 * 60,
            profile_key_file: None,
            change_request_ttl_secs: 7 * 24 * 3600,
            trusted_proxies: TrustedProxies::default(),
            agent_max_wait_secs: 120,
            delivery_ttl_secs: 24 * 3600,
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
        env.into_iter()
            .filter_map(|(name, _)| {
                let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
                (!SETTING_KEYS.contains(&key.as_str())).then_some(name)
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
        Duration::from_secs(self.shutdown_timeout_secs)
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
        if self.shutdown_timeout_secs > 3600 {
            return Err(ConfigError::setting(
                "shutdown_timeout_secs",
                format!(
                    "{} is out of range; use 0 to 3600 seconds",
                    self.shutdown_timeout_secs
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
        let ranges: [(&str, u64, u64, u64); 7] = [
            ("agent_max_wait_secs", self.agent_max_wait_secs, 1, 900),
            (
                "delivery_ttl_secs",
                self.delivery_ttl_secs,
                300,
                30 * 24 * 3600,
            ),
            (
                "change_request_ttl_secs",
                self.change_request_ttl_secs,
                60,
                90 * 24 * 3600,
            ),
            (
                "access_token_ttl_secs",
                self.access_token_ttl_secs,
                60,
                24 * 3600,
            ),
            (
                "refresh_token_ttl_secs",
                self.refresh_token_ttl_secs,
                300,
                365 * 24 * 3600,
            ),
            (
                "login_lockout_failures",
                u64::from(self.login_lockout_failures),
                1,
                1000,
            ),
            ("login_lockout_secs", self.login_lockout_secs, 1, 24 * 3600),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::setting(
                    key,
                    format!("{value} is out of range; use {min} to {max}"),
                ));
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::setting("data_dir", "must not be empty".into()));
        }
        Ok(())
    }
}

/// The `SWITCHYARD_*` variables that are settings, as a configuration layer. Values are typed
/// the way figment types the process environment (`8080` is a number, `true` a bool).
///
/// Only variables that are settings get here; the others are reported by
/// [`Settings::unknown_variables`] so a typo is seen rather than silently ignored.
struct EnvironmentVariables(figment::value::Dict);

fn known_variables(env: &[(String, String)]) -> EnvironmentVariables {
    let dict = env
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
            SETTING_KEYS.contains(&key.as_str()).then(|| {
                // Text settings stay text (a data folder may be called `2024`); the others are
                // typed the way figment types the process environment.
                let value = if TEXT_SETTINGS.contains(&key.as_str()) {
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

/// Reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Whether `address` is one of them.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0
            .iter()
            .any(|(network, prefix)| match (network, address) {
                (IpAddr::V4(network), IpAddr::V4(address)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                    u32::from(*network) & mask == u32::from(address) & mask
                }
                (IpAddr::V6(network), IpAddr::V6(address)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                    u128::from(*network) & mask == u128::from(address) & mask
                }
                _ => false,
            })
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`), as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

impl TryFrom<String> for TrustedProxies {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let ranges = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (address, prefix) = item.split_once('/').unwrap_or((item, ""));
                let address: IpAddr = address.parse().map_err(|_| {
                    format!("{item:?} is not an IP address or CIDR range (such as 10.0.0.0/8)")
                })?;
                let address = canonical(address);
                let widest = if address.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    "" => widest,
                    prefix => prefix
                        .parse::<u8>()
                        .ok()
                        .filter(|prefix| *prefix <= widest)
                        .ok_or_else(|| format!("{item:?} has a prefix length over {widest}"))?,
                };
                Ok((address, prefix))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self(ranges))
    }
}

impl From<TrustedProxies> for String {
    fn from(proxies: TrustedProxies) -> Self {
        proxies
            .0
            .iter()
            .map(|(address, prefix)| format!("{address}/{prefix}"))
            .collect::<Vec<_>>()
            .join(",")
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
                        SETTING_KEYS.join(", ")
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

/// Where the data lives: a SQLite file or a Postgres server.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file, created when missing.
    Sqlite(PathBuf),
    /// A Postgres connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Short name of the store kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let scheme = text.split_once(':').map(|(scheme, _)| scheme);
        match scheme {
            Some("postgres" | "postgresql") => {
                let parsed = url::Url::parse(text)
                    .map_err(|e| format!("{:?} is not a valid URL: {e}", redact(text)))?;
                if parsed.host_str().is_none_or(str::is_empty) && !text.contains("host=") {
                    return Err(format!("{:?} names no host", redact(text)));
                }
                Ok(DatabaseUrl::Postgres(text.to_owned()))
            }
            Some("sqlite") => {
                let rest = &text["sqlite:".len()..];
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split_once('?').map_or(path, |(path, _)| path);
                if path.is_empty() || path == ":memory:" {
                    return Err(format!(
                        "{text:?} names no file; use sqlite://PATH (an in-memory database would lose everything on restart)"
                    ));
                }
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
            _ => Err(format!(
                "{:?} has an unknown scheme; use postgres://USER@HOST/DB or sqlite://PATH",
                redact(text)
            )),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// Never show a password: `Debug` prints the same redacted text as `Display`.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A URL with its password replaced by `***`, fit for logs and error messages.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Setting a password only fails for URLs that cannot have one.
                let _ = parsed.set_password(Some("***"));
            }
            // Postgres also takes the password as a query parameter.
            if parsed.query_pairs().any(|(key, _)| key == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if key == "password" {
                            "***".into()
                        } else {
                            value.into_owned()
                        };
                        (key.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Unparsable: hide everything between the scheme and the last `@`, where a password
        // would be.
        Err(_) => match (text.find("://"), text.rfind('@')) {
            (Some(start), Some(end)) if start + 3 <= end => {
                format!("{}***{}", &text[..start + 3], &text[end..])
            }
            _ => text.to_owned(),
        },
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DatabaseUrl::Sqlite(path) => {
                serializer.serialize_str(&format!("sqlite://{}", path.display()))
            }
            DatabaseUrl::Postgres(url) => serializer.serialize_str(url),
        }
    }
}

/// A `tracing` filter, checked when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFilter(String);

impl LogFilter {
    /// The filter as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LogFilter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        tracing_subscriber::EnvFilter::builder()
            .parse(&text)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a log filter ({e}); use a level such as info or debug, or directives such as info,sqlx=warn"
                ))
            })?;
        Ok(LogFilter(text))
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object a line, for log collectors.
    Json,
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(None, env(pairs))
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_need_nothing() {
        let settings = load_env(&[]).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert_eq!(
            settings.database(),
            DatabaseUrl::Sqlite(PathBuf::from("./data/switchyard.db"))
        );
        assert_eq!(settings.log_format, LogFormat::Pretty);
        assert_eq!(settings.log.as_str(), "info");
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = toml_file(
            "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\nmax_body_bytes = 4096\n",
        );
        let settings = Settings::load(
            Some(file.path()),
            env(&[
                ("SWITCHYARD_LISTEN", "0.0.0.0:9100"),
                ("SWITCHYARD_DATA_DIR", "/var/lib/switchyard"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9100");
        assert_eq!(settings.log_format, LogFormat::Json, "file values stay");
        assert_eq!(settings.max_body_bytes, 4096);
        assert_eq!(
            settings.database(),
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/switchyard/switchyard.db"))
        );
    }

    #[test]
    fn postgres_url_selects_postgres() {
        let settings = load_env(&[(
            "SWITCHYARD_DATABASE_URL",
            "postgres://switchyard:hunter2@db:5432/switchyard",
        )])
        .unwrap();
        let database = settings.database();
        assert_eq!(database.kind(), "postgres");
        let shown = format!("{database} {database:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("switchyard:***@db:5432"), "{shown}");

        let in_query = load_env(&[(
            "SWITCHYARD_DATABASE_URL",
            "postgres://switchyard@db/switchyard?password=hunter2&sslmode=disable",
        )])
        .unwrap()
        .database()
        .to_string();
        assert!(!in_query.contains("hunter2"), "{in_query}");
        assert!(in_query.contains("sslmode=disable"), "{in_query}");
    }

    #[test]
    fn sqlite_url_names_a_file() {
        let settings =
            load_env(&[("SWITCHYARD_DATABASE_URL", "sqlite:///srv/sy.db?mode=rwc")]).unwrap();
        assert_eq!(
            settings.database(),
            DatabaseUrl::Sqlite(PathBuf::from("/srv/sy.db"))
        );
        let error = load_env(&[("SWITCHYARD_DATABASE_URL", "sqlite::memory:")]).unwrap_err();
        assert!(error.0.contains("names no file"), "{error}");
    }

    #[test]
    fn each_bad_value_is_one_line_naming_its_setting() {
        let cases = [
            ("SWITCHYARD_LISTEN", "localhost", "SWITCHYARD_LISTEN"),
            ("SWITCHYARD_LISTEN", "", "SWITCHYARD_LISTEN"),
            ("SWITCHYARD_DATABASE_URL", "mysql://db/x", "unknown scheme"),
            (
                "SWITCHYARD_DATABASE_URL",
                "mysql://db/x",
                "SWITCHYARD_DATABASE_URL",
            ),
            (
                "SWITCHYARD_DATABASE_URL",
                "postgres://u:pw@/x",
                "empty host",
            ),
            ("SWITCHYARD_LOG", "info,[[", "SWITCHYARD_LOG"),
            ("SWITCHYARD_LOG_FORMAT", "xml", "SWITCHYARD_LOG_FORMAT"),
            (
                "SWITCHYARD_MAX_BODY_BYTES",
                "lots",
                "SWITCHYARD_MAX_BODY_BYTES",
            ),
            (
                "SWITCHYARD_MAX_BODY_BYTES",
                "10",
                "SWITCHYARD_MAX_BODY_BYTES",
            ),
            (
                "SWITCHYARD_SHUTDOWN_TIMEOUT_SECS",
                "-1",
                "SWITCHYARD_SHUTDOWN_TIMEOUT_SECS",
            ),
            (
                "SWITCHYARD_DATABASE_MAX_CONNECTIONS",
                "0",
                "SWITCHYARD_DATABASE_MAX_CONNECTIONS",
            ),
            ("SWITCHYARD_DATA_DIR", "", "SWITCHYARD_DATA_DIR"),
        ];
        for (name, value, expected) in cases {
            let error = load_env(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(expected), "{name}={value:?}: {error}");
            assert!(!error.contains('\n'), "{name}={value:?}: {error}");
            assert!(!error.contains("pw@"), "passwords never shown: {error}");
        }
    }

    #[test]
    fn file_problems_name_the_file_and_the_key() {
        let file = toml_file("listen = 8080\n");
        let error = Settings::load(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("listen"), "{error}");
        assert!(
            error.contains(&file.path().display().to_string()),
            "{error}"
        );

        let file = toml_file("lisen = \"127.0.0.1:1\"\n");
        let error = Settings::load(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown setting \"lisen\""), "{error}");

        let file = toml_file("listen = [\n");
        let error = Settings::load(Some(file.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&file.path().display().to_string()),
            "{error}"
        );

        let error = Settings::load(Some(Path::new("/nonexistent/s.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--config"), "{error}");
    }

    #[test]
    fn text_settings_stay_text_whatever_they_look_like() {
        let settings = load_env(&[("SWITCHYARD_DATA_DIR", "2024")]).unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("2024"));
        let settings = load_env(&[("SWITCHYARD_DATA_DIR", "true")]).unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("true"));
    }

    #[test]
    fn unknown_variables_are_reported_not_used() {
        let pairs = env(&[
            ("SWITCHYARD_LISTN", "127.0.0.1:1"),
            ("SWITCHYARD_LISTEN", "127.0.0.1:2"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(
            Settings::unknown_variables(pairs.clone()),
            ["SWITCHYARD_LISTN"]
        );
        assert_eq!(
            Settings::load(None, pairs).unwrap().listen.to_string(),
            "127.0.0.1:2"
        );
    }
}
