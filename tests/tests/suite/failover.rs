//! Mirror failover end to end: a real agent, npm's and pip's mirrors on loopback ports that
//! relay to a real Verdaccio and a real pypiserver (and can be closed, opened again, or made
//! to drop every other connection), and those registries themselves as the fallbacks. The
//! real `npm install` and `pip install` prove what the clients reach.

use std::path::Path;
use std::process::{Command, Output};

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_server::config::SettingDuration;
use switchyard_tests::flaky_port::{FlakyPort, PortMode};
use switchyard_tests::registries::{publish_npm_package, publish_wheel, pypiserver, verdaccio};
use switchyard_tests::{Backend, TestApp};

use crate::agent::Home;
use crate::rollouts_agents::Machine;

/// Runs a real client in `home`, from `folder`.
fn client(home: &Home, folder: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(home.base_env())
        .current_dir(folder)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

/// Installs the demo package with npm and with pip in a fresh folder of `home`, each with
/// what the agent wrote and nothing else; panics with the clients' words when either fails.
fn install_both(home: &Home, round: &str) {
    let folder = home.path().join(format!("project-{round}"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("package.json"),
        r#"{"name": "project", "private": true}"#,
    )
    .unwrap();
    let npm = client(
        home,
        &folder,
        "npm",
        &["install", "--no-audit", "--no-fund", "switchyard-demo"],
    );
    assert!(
        npm.status.success(),
        "npm install ({round}): {}",
        String::from_utf8_lossy(&npm.stderr)
    );
    assert!(folder
        .join("node_modules/switchyard-demo/index.js")
        .exists());
    let target = folder.join("python");
    let pip = client(
        home,
        &folder,
        "python3",
        &[
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--target",
            target.to_str().unwrap(),
            "switchyard-demo",
        ],
    );
    assert!(
        pip.status.success(),
        "pip install ({round}): {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    assert!(target.join("switchyard_demo/__init__.py").exists());
}

/// What the machine's files name as npm's registry and pip's index.
fn written(home: &Home) -> (String, String) {
    let read = |name: &str, key: &str| {
        let text = std::fs::read_to_string(home.path().join(name)).unwrap();
        text.lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(name, _)| name.trim() == key)
            .map(|(_, value)| value.trim().to_owned())
            .next_back()
            .unwrap_or_default()
    };
    (
        read(".npmrc", "registry"),
        read(".config/pip/pip.conf", "index-url"),
    )
}

/// The mirrors in use by the machine's agent, npm's first.
fn in_use(machine: &Machine) -> Vec<String> {
    let mirrors = machine.agent.state.mirrors().unwrap().unwrap();
    mirrors.choices.iter().map(|c| c.in_use.clone()).collect()
}

/// The mirror health row for `endpoint`.
async fn health_row(app: &TestApp, admin: &str, endpoint: &str) -> Value {
    let health: Value = app
        .get_as(admin, "/api/v1/environments/staging/mirror-health")
        .await
        .json()
        .await
        .unwrap();
    health["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["endpoint"] == endpoint)
        .cloned()
        .unwrap_or_else(|| panic!("no {endpoint} in {health:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_fail_over_to_a_fallback_mirror_and_come_back_without_flapping() {
    let npm_fallback = verdaccio();
    publish_npm_package(&npm_fallback, "switchyard-demo", "1.0.0");
    let pip_fallback = pypiserver();
    publish_wheel(&pip_fallback, "switchyard-demo", "1.0.0");
    let npm_mirror = FlakyPort::to(npm_fallback.port);
    let pip_mirror = FlakyPort::to(pip_fallback.port);

    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.fleet_metrics_secs = SettingDuration::seconds(1);
    })
    .await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({
            "npm": {"registry": npm_mirror.url(""), "registry-fallbacks": [npm_fallback.url("")]},
            "pypi": {"index-url": pip_mirror.url("simple/"),
                    "index-url-fallbacks": [pip_fallback.url("simple/")]}
        }),
    )
    .await;
    let admin = app.admin_token().await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    let machine = Machine::enroll(&app, &token).await;
    let mirrors = (npm_mirror.url(""), pip_mirror.url("simple/"));
    let fallbacks = (npm_fallback.url(""), pip_fallback.url("simple/"));

    // Everything answers: the mirrors themselves are written.
    machine.sync().await;
    assert_eq!(written(&machine.home), mirrors);
    assert_eq!(in_use(&machine), [mirrors.0.clone(), mirrors.1.clone()]);

    // Both mirrors down: the round that finds them down moves the clients to the fallbacks,
    // and npm and pip install through them.
    npm_mirror.set(PortMode::Closed);
    pip_mirror.set(PortMode::Closed);
    machine.sync().await;
    assert_eq!(written(&machine.home), fallbacks);
    install_both(&machine.home, "failed-over");
    let view = switchyard_agent::agent::summary(&machine.agent.state).unwrap();
    assert_eq!(view["mirrors"][0]["in_use"], fallbacks.0, "{view:?}");
    assert_eq!(view["mirrors"][0]["primary"], mirrors.0, "{view:?}");
    assert!(
        view["mirrors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("did not answer 2 probes in a row"),
        "{view:?}"
    );
    // The server's health view counts the machine on the fallback, none on the mirror.
    let fallback_row = health_row(&app, &admin, &fallbacks.0).await;
    assert_eq!(
        (&fallback_row["in_use"], &fallback_row["reachable"]),
        (&json!(1), &json!(1)),
        "{fallback_row:#}"
    );
    let mirror_row = health_row(&app, &admin, &mirrors.0).await;
    assert_eq!(
        (&mirror_row["in_use"], &mirror_row["reachable"]),
        (&json!(0), &json!(0)),
        "{mirror_row:#}"
    );
    // And so does Prometheus.
    let series = format!(
        "switchyard_mirror_in_use_machines{{endpoint=\"{}\",environment=\"staging\",kind=\"npm-registry\",machine_role=\"backend\"}} 1",
        fallbacks.0
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        if text.lines().any(|line| line == series) {
            break;
        }
        assert!(Instant::now() < deadline, "no {series} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The mirrors are back: two answers in a row are not enough, the third brings the
    // clients back to them.
    npm_mirror.set(PortMode::Open);
    pip_mirror.set(PortMode::Open);
    for _ in 0..2 {
        machine.sync().await;
        assert_eq!(written(&machine.home), fallbacks);
    }
    machine.sync().await;
    assert_eq!(written(&machine.home), mirrors);
    install_both(&machine.home, "back");
    assert_eq!(health_row(&app, &admin, &mirrors.0).await["in_use"], 1);

    // npm's mirror drops every other connection: the machine stays on it through eight
    // rounds (each failed probe is probed again at once, and answers).
    npm_mirror.set(PortMode::EveryOther);
    let mut seen = vec![in_use(&machine)[0].clone()];
    for _ in 0..8 {
        machine.sync().await;
        let now = in_use(&machine)[0].clone();
        if seen.last() != Some(&now) {
            seen.push(now);
        }
    }
    // Every failure is followed by an answer at once: never two failures in a row.
    assert_eq!(seen.len(), 1, "the machine moved: {seen:?}");
    // Down for good after that: it ends on the fallback and stays while the mirror flaps.
    npm_mirror.set(PortMode::Closed);
    machine.sync().await;
    assert_eq!(in_use(&machine)[0], fallbacks.0);
    npm_mirror.set(PortMode::EveryOther);
    for _ in 0..6 {
        machine.sync().await;
        assert_eq!(
            in_use(&machine)[0],
            fallbacks.0,
            "back to a mirror that answers every other time"
        );
    }
}
