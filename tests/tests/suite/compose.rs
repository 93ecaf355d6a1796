//! No Docker engine runs here, so the deployment files are checked by reading them: the compose
//! file parses, wires the server to a healthy Postgres, and sets only settings the server reads,
//! with values it accepts; the Dockerfile is multi-stage, non-root and on our toolchain.

use serde_norway::Value;
use switchyard_server::config::Settings;
use switchyard_server::store::DatabaseUrl;
use switchyard_tests::repository_root;

fn compose() -> Value {
    let path = repository_root().join("docker-compose.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value:?}"))
}

/// Compose's `${NAME:-default}` with its default, as compose fills it in when NAME is unset.
fn with_defaults(value: &str) -> String {
    let mut result = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        result.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let inner = &rest[start + 2..end];
        let (_, default) = inner
            .split_once(":-")
            .expect("every variable has a default");
        result.push_str(default);
        rest = &rest[end + 1..];
    }
    result.push_str(rest);
    result
}

#[test]
fn postgres_service_is_official_healthy_and_persistent() {
    let compose = compose();
    let postgres = &compose["services"]["postgres"];
    assert!(text(&postgres["image"]).starts_with("postgres:"));
    assert!(postgres["healthcheck"]["test"].is_sequence());
    let volume = text(&postgres["volumes"][0]);
    let (name, mount) = volume.split_once(':').unwrap();
    assert_eq!(mount, "/var/lib/postgresql/data");
    assert!(
        compose["volumes"].get(name).is_some(),
        "{name} is a named volume"
    );
}

#[test]
fn server_service_waits_for_postgres_and_sets_only_known_settings() {
    let compose = compose();
    let server = &compose["services"]["server"];
    assert_eq!(text(&server["build"]["dockerfile"]), "Dockerfile");
    assert_eq!(
        text(&server["depends_on"]["postgres"]["condition"]),
        "service_healthy"
    );
    let environment: Vec<(String, String)> = server["environment"]
        .as_mapping()
        .expect("environment is a mapping")
        .iter()
        .map(|(name, value)| (text(name).to_owned(), with_defaults(text(value))))
        .collect();
    assert!(
        Settings::unknown_variables(environment.clone()).is_empty(),
        "compose sets variables the server does not read: {:?}",
        Settings::unknown_variables(environment)
    );
    let settings = Settings::load(None, environment)
        .unwrap_or_else(|e| panic!("the server would refuse compose's settings: {e}"));
    match settings.database() {
        DatabaseUrl::Postgres(url) => assert!(url.contains("@postgres:5432/"), "{url}"),
        other => panic!("compose must use Postgres, not {other}"),
    }
    assert!(
        !settings.listen.ip().is_loopback(),
        "reachable from outside the container"
    );
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_on_our_toolchain() {
    let dockerfile = std::fs::read_to_string(repository_root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");

    let toolchain = std::fs::read_to_string(repository_root().join("rust-toolchain.toml")).unwrap();
    let channel = toolchain
        .lines()
        .find_map(|line| line.strip_prefix("channel = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        stages[0].contains(&format!("rust:{channel}")),
        "the build stage uses the pinned toolchain {channel}: {}",
        stages[0]
    );

    let user = dockerfile
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the runtime stage names a user");
    let user = user.split(':').next().unwrap().trim();
    assert!(user != "root" && user != "0", "runs as {user}");
}
