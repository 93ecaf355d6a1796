//! Rollouts end to end: real agents in homes of their own apply what they are sent, probe the
//! endpoints it names the way their clients reach them, and report; the endpoints are real
//! registries on loopback (Verdaccio for npm, pypiserver for pip, a Go proxy from files). A
//! rollout whose new mirrors work promotes through its waves; one whose new npm mirror is a
//! closed port halts at its first wave, or reverts its cohort; machines outside the cohort
//! never see it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_agent::agent::Agent;
use switchyard_server::config::SettingDuration;
use switchyard_tests::registries::{free_port, go_file_proxy, pypiserver, verdaccio};
use switchyard_tests::{Backend, TestApp};

use crate::agent::{agent_for, enrolled, Home};
use crate::rollouts::edit;

/// One machine: a home, its agent's state, and the agent.
pub(crate) struct Machine {
    pub(crate) home: Home,
    _state: tempfile::TempDir,
    pub(crate) agent: Arc<Agent>,
    pub(crate) id: String,
}

impl Machine {
    pub(crate) async fn enroll(app: &TestApp, token: &str) -> Self {
        let home = Home::new();
        let state = tempfile::tempdir().unwrap();
        let agent = agent_for(&home, state.path(), BTreeMap::new());
        let (agent, id) = enrolled(agent, &app.base_url, token.to_owned(), |agent| {
            agent.state.identity().unwrap().unwrap().device_id
        })
        .await;
        Self {
            home,
            _state: state,
            agent: Arc::new(agent),
            id: id.to_string(),
        }
    }

    /// One sync, as `switchyard-agent sync` does it: fetch, apply, probe, report. Answers the
    /// baseline version applied and the npm registry it names.
    pub(crate) async fn sync(&self) -> (u64, String) {
        let agent = self.agent.clone();
        let synced = tokio::task::spawn_blocking(move || agent.sync(0))
            .await
            .unwrap()
            .unwrap();
        let registry = synced
            .delivery
            .profile
            .npm
            .and_then(|npm| npm.registry)
            .unwrap_or_default();
        (synced.delivery.baseline_version, registry)
    }
}

async fn rollout(app: &TestApp, admin: &str) -> Value {
    let rollouts: Vec<Value> = app
        .get_as(admin, "/api/v1/environments/staging/rollouts")
        .await
        .json()
        .await
        .unwrap();
    rollouts[0].clone()
}

/// Publishes `profile` as the baseline of staging under `plan`.
async fn publish(app: &TestApp, admin: &str, profile: Value, plan: Value) {
    let revision = edit(app, admin, "staging", profile).await;
    let published = app
        .call(
            Method::POST,
            "/api/v1/environments/staging/profiles/baseline/publish",
            Some(admin),
            Some(&json!({"message": "mirrors", "draft_revision": revision, "rollout": plan})),
        )
        .await;
    assert_eq!(
        published.status(),
        201,
        "{}",
        published.text().await.unwrap()
    );
}

/// Syncs `machines` round after round (at most 90 s) until the rollout is in `state`; each
/// machine of `outside`, synced while the rollout still ran, must have been sent version `kept`.
async fn until(
    app: &TestApp,
    admin: &str,
    machines: &[&Machine],
    outside: &[&Machine],
    kept: u64,
    state: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        for machine in machines {
            machine.sync().await;
        }
        let mut sent = Vec::new();
        for machine in outside {
            sent.push(machine.sync().await.0);
        }
        // Read after the syncs: while it still runs now, it ran when they were answered.
        let current = rollout(app, admin).await;
        if current["state"] == state {
            return current;
        }
        assert_eq!(current["state"], "running", "{current:#}");
        for version in sent {
            assert_eq!(version, kept, "a machine outside the cohort");
        }
        assert!(Instant::now() < deadline, "never {state}: {current:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_follow_what_real_agents_find_at_real_registries() {
    let npm = verdaccio();
    let pypi = pypiserver();
    let go = go_file_proxy();
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.rollout_check_secs = SettingDuration::seconds(1);
    })
    .await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile("staging", "baseline", json!({"env": {"CORP_BUILD": "1"}}))
        .await;
    let admin = app.admin_token().await;
    let token = app.enrollment_token("staging", "backend", 3).await;
    let mut fleet = Vec::new();
    for _ in 0..3 {
        let machine = Machine::enroll(&app, &token).await;
        assert_eq!(machine.sync().await.0, 1);
        fleet.push(machine);
    }
    let [first, second, third] = [&fleet[0], &fleet[1], &fleet[2]];
    let mirrors = |npm_registry: String| {
        json!({
            "npm": {"registry": npm_registry},
            "pypi": {"index-url": pypi.url("simple/")},
            "go": {"proxy": [{"source": go.url("")}, {"source": "direct"}]},
            "env": {"CORP_BUILD": "1"}
        })
    };

    // Working mirrors: the first machine, then the second, then everyone.
    publish(
        &app,
        &admin,
        mirrors(npm.url("")),
        json!({"waves": [
            {"machines": [first.id], "soak_secs": 1},
            {"machines": [second.id], "soak_secs": 1}
        ]}),
    )
    .await;
    let completed = until(&app, &admin, &[first, second], &[third], 1, "completed").await;
    assert_eq!(completed["to_version"], 2);
    assert_eq!(third.sync().await, (2, npm.url("")));
    // What the gates read: each machine reached each new mirror.
    let health: Value = app
        .get_as(&admin, "/api/v1/environments/staging/mirror-health")
        .await
        .json()
        .await
        .unwrap();
    let rows = health["endpoints"].as_array().unwrap();
    for endpoint in [npm.url(""), pypi.url("simple/"), go.url("")] {
        let row = rows
            .iter()
            .find(|row| row["endpoint"] == endpoint.as_str())
            .unwrap_or_else(|| panic!("no {endpoint} in {health:#}"));
        assert_eq!(row["reachable"], row["machines"], "{row:#}");
        assert!(row["machines"].as_u64().unwrap() >= 2, "{row:#}");
    }

    // A new npm mirror nobody reaches (a closed port), reverted on failure: the first machine
    // gets it, finds it refused, and is back on the working mirrors; nobody else ever saw it.
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let failing_plan = |revert: bool| {
        json!({"revert_on_failure": revert, "waves": [
            {"machines": [first.id], "soak_secs": 60},
            {"percent": 100, "soak_secs": 1}
        ]})
    };
    publish(&app, &admin, mirrors(closed.clone()), failing_plan(true)).await;
    assert_eq!(first.sync().await, (3, closed.clone()));
    let reverted = until(&app, &admin, &[first], &[second, third], 2, "reverted").await;
    assert_eq!(reverted["wave"], 0);
    assert_eq!(reverted["revert_version"], 4);
    for machine in &fleet {
        assert_eq!(machine.sync().await, (4, npm.url("")));
    }

    // The same without revert: it halts at the first wave, the first machine keeps it.
    publish(&app, &admin, mirrors(closed.clone()), failing_plan(false)).await;
    let halted = until(&app, &admin, &[first], &[second, third], 4, "halted").await;
    assert_eq!(halted["wave"], 0);
    assert!(
        halted["gate"]["reason"]
            .as_str()
            .unwrap()
            .contains("probes of endpoints version 5 changed failed"),
        "{halted:#}"
    );
    assert_eq!(first.sync().await, (5, closed));
    assert_eq!(second.sync().await.0, 4);
}
