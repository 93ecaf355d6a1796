//! Loading settings from defaults, a file and the environment, and every way it fails.

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
    let file =
        toml_file("listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\nmax_body_bytes = 4096\n");
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
fn durations_are_whole_seconds_or_a_duration_with_units() {
    let settings = load_env(&[
        ("SWITCHYARD_ACCESS_TOKEN_TTL_SECS", "15m"),
        ("SWITCHYARD_AGENT_MAX_WAIT_SECS", "90"),
        ("SWITCHYARD_REFRESH_TOKEN_TTL_SECS", "2h 30m"),
    ])
    .unwrap();
    assert_eq!(
        settings.access_token_ttl_secs.get(),
        Duration::from_secs(900)
    );
    assert_eq!(settings.agent_max_wait_secs.get(), Duration::from_secs(90));
    assert_eq!(
        settings.refresh_token_ttl_secs.get(),
        Duration::from_secs(9000)
    );
    assert_eq!(
        settings.access_token_ttl_secs.as_time(),
        time::Duration::minutes(15)
    );

    let file = toml_file("delivery_ttl_secs = 3600\nchange_request_ttl_secs = \"2days\"\n");
    let settings = Settings::load(Some(file.path()), env(&[])).unwrap();
    assert_eq!(settings.delivery_ttl_secs, SettingDuration::seconds(3600));
    assert_eq!(
        settings.change_request_ttl_secs,
        SettingDuration::seconds(2 * 24 * 3600)
    );

    let error = load_env(&[("SWITCHYARD_LOGIN_LOCKOUT_SECS", "soon")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("SWITCHYARD_LOGIN_LOCKOUT_SECS"), "{error}");
    assert!(error.contains("such as 15m"), "{error}");
    let error = load_env(&[("SWITCHYARD_SHUTDOWN_TIMEOUT_SECS", "1500ms")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a whole number of seconds"), "{error}");
    let error = load_env(&[("SWITCHYARD_AGENT_MAX_WAIT_SECS", "2h")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("2h is out of range; use 1s to 15m"),
        "{error}"
    );
}

#[test]
fn every_field_of_the_struct_is_a_setting_read_from_its_variable() {
    let keys = Settings::keys();
    for key in [
        "listen",
        "trusted_proxies",
        "delivery_ttl_secs",
        "admin_password",
    ] {
        assert!(keys.iter().any(|known| known == key), "{key} in {keys:?}");
    }
    let variables: Vec<(String, String)> = keys
        .iter()
        .map(|key| {
            (
                format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                String::new(),
            )
        })
        .collect();
    assert!(Settings::unknown_variables(variables).is_empty());
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

#[test]
fn a_refresh_token_must_outlive_its_access_token() {
    let error = load_env(&[
        ("SWITCHYARD_ACCESS_TOKEN_TTL_SECS", "3600"),
        ("SWITCHYARD_REFRESH_TOKEN_TTL_SECS", "600"),
    ])
    .unwrap_err();
    assert!(error.0.contains("refresh_token_ttl_secs"), "{error}");
    assert!(error.0.contains("outlive"), "{error}");
    assert!(load_env(&[
        ("SWITCHYARD_ACCESS_TOKEN_TTL_SECS", "600"),
        ("SWITCHYARD_REFRESH_TOKEN_TTL_SECS", "600"),
    ])
    .is_ok());
}
