//! Rollouts against the real server and its stores, with enrolled machines making real signed
//! requests: a version reaches its cohort first, the gates read the machines' own reports and
//! probes, and every transition is recorded once, across a restart and across two server
//! processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use switchyard_proto::delivery::Envelope;

use switchyard_server::clock::{Clock, SystemClock};
use switchyard_server::config::SettingDuration;
use switchyard_tests::{for_each_store, Backend, ManualClock, TestApp, TestDevice};
use uuid::Uuid;

const OLD_REGISTRY: &str = "https://npm-old.corp.example/";
const NEW_REGISTRY: &str = "https://npm-new.corp.example/";

/// A server that checks gates every second, an unprotected `dev` with `count` machines of
/// role `backend`, and a first baseline every machine has.
async fn fleet(backend: Backend, count: usize) -> (TestApp, String, Vec<TestDevice>) {
    fleet_with_clock(backend, count, Arc::new(SystemClock)).await
}

/// [`fleet`] on a server that reads the time from `clock`.
async fn fleet_with_clock(
    backend: Backend,
    count: usize,
    clock: Arc<dyn Clock>,
) -> (TestApp, String, Vec<TestDevice>) {
    let app = TestApp::spawn_with_clock(backend, clock, |settings| {
        settings.rollout_check_secs = SettingDuration::seconds(1);
        settings.fleet_metrics_secs = SettingDuration::seconds(1);
    })
    .await;
    let admin = prepare(&app).await;
    let token = app.enrollment_token("dev", "backend", count as u32).await;
    let mut machines = Vec::new();
    for _ in 0..count {
        machines.push(TestDevice::enroll(&app, &token).await.unwrap());
    }
    (app, admin, machines)
}

/// `dev`, role `backend` and a first baseline; answers an admin token.
async fn prepare(app: &TestApp) -> String {
    app.create_environment("dev", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile(
        "dev",
        "baseline",
        json!({"npm": {"registry": OLD_REGISTRY}}),
    )
    .await;
    app.admin_token().await
}

/// Saves `profile` as the baseline draft of `environment`; answers the draft revision.
pub(crate) async fn edit(app: &TestApp, admin: &str, environment: &str, profile: Value) -> u64 {
    let path = format!("/api/v1/environments/{environment}/profiles/baseline/draft");
    let draft: Value = app.get_as(admin, &path).await.json().await.unwrap();
    let revision = draft["revision"].as_u64().unwrap();
    let saved = app
        .client
        .put(app.url(&path))
        .bearer_auth(admin)
        .header("if-match", format!("\"{revision}\""))
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    revision + 1
}

/// Publishes the new registry as the baseline of `environment` under `plan`; answers the
/// response.
async fn start(app: &TestApp, admin: &str, environment: &str, plan: Value) -> reqwest::Response {
    start_with(app, admin, environment, NEW_REGISTRY, plan).await
}

/// Publishes `registry` as the baseline of `environment` under `plan`.
async fn start_with(
    app: &TestApp,
    admin: &str,
    environment: &str,
    registry: &str,
    plan: Value,
) -> reqwest::Response {
    publish_registry(app, admin, environment, registry, json!({"rollout": plan})).await
}

/// Publishes `registry` as the baseline of `environment`, released as `release` says
/// (`{"rollout": ...}` or `{"until": ...}`); answers the response.
async fn publish_registry(
    app: &TestApp,
    admin: &str,
    environment: &str,
    registry: &str,
    release: Value,
) -> reqwest::Response {
    let revision = edit(
        app,
        admin,
        environment,
        json!({"npm": {"registry": registry}}),
    )
    .await;
    let mut body = json!({"message": "new npm mirror", "draft_revision": revision});
    if let (Some(body), Some(release)) = (body.as_object_mut(), release.as_object()) {
        body.extend(release.clone());
    }
    app.call(
        Method::POST,
        &format!("/api/v1/environments/{environment}/profiles/baseline/publish"),
        Some(admin),
        Some(&body),
    )
    .await
}

async fn rollouts(app: &TestApp, admin: &str, environment: &str) -> Vec<Value> {
    app.get_as(
        admin,
        &format!("/api/v1/environments/{environment}/rollouts"),
    )
    .await
    .json()
    .await
    .unwrap()
}

/// The baseline version `machine` is sent now, and the registry in it.
async fn delivered(app: &TestApp, machine: &TestDevice) -> (u64, String) {
    let response = machine
        .call(app, Method::GET, "/api/v1/agent/profile?wait=0", None, None)
        .await;
    assert_eq!(response.status(), 200);
    let envelope: Envelope = response.json().await.unwrap();
    let delivery = machine.open(&envelope, None).unwrap();
    let registry = delivery
        .profile
        .npm
        .and_then(|npm| npm.registry)
        .unwrap_or_default();
    (delivery.baseline_version, registry)
}

/// `machine` reports that it applied baseline `version`, with `outcome` for its probe of the
/// new registry.
async fn report(app: &TestApp, machine: &TestDevice, version: u64, outcome: &str) {
    let body = json!({
        "sequence": 1,
        "baseline_version": version,
        "overlay_version": 0,
        "targets": [{"target": "npm-user", "state": "ok"}],
        "probes": [{
            "endpoint": NEW_REGISTRY, "kind": "npm-registry", "outcome": outcome,
            "checked_at": "2026-11-30T00:00:00Z"
        }],
    });
    let response = machine
        .call(app, Method::POST, "/api/v1/agent/status", Some(&body), None)
        .await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
}

/// Waits (at most 30 s) until rollout `id` of `environment` is as `wanted` says (`what` names
/// it in the failure); answers it.
async fn until_rollout(
    app: &TestApp,
    admin: &str,
    environment: &str,
    id: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rollout: Value = app
            .get_as(
                admin,
                &format!("/api/v1/environments/{environment}/rollouts/{id}"),
            )
            .await
            .json()
            .await
            .unwrap();
        if wanted(&rollout) {
            return rollout;
        }
        assert!(Instant::now() < deadline, "never {what}: {rollout:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until rollout `id` of `environment` is in `state`.
async fn until_state(
    app: &TestApp,
    admin: &str,
    environment: &str,
    id: &str,
    state: &str,
) -> Value {
    until_rollout(app, admin, environment, id, state, |rollout| {
        rollout["state"] == state
    })
    .await
}

/// Waits until rollout `id` of `dev` is at `wave`.
async fn until_state_wave(app: &TestApp, admin: &str, id: &str, wave: u64) -> Value {
    until_rollout(
        app,
        admin,
        "dev",
        id,
        &format!("at wave {wave}"),
        |rollout| rollout["wave"].as_u64() == Some(wave),
    )
    .await
}

/// The rollout actions recorded for `environment`, oldest first.
async fn rollout_events(app: &TestApp, admin: &str, environment: &str) -> Vec<Value> {
    let page: Value = app
        .get_as(
            admin,
            &format!("/api/v1/audit?environment={environment}&limit=500"),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut events: Vec<Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"].as_str().unwrap().starts_with("rollout."))
        .cloned()
        .collect();
    events.reverse();
    events
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect()
}

async fn a_rollout_reaches_its_cohort_first_and_promotes_through_its_waves(backend: Backend) {
    let (app, admin, machines) = fleet(backend, 12).await;
    // Three machines in office-b: the second wave takes all of them.
    for machine in &machines[2..5] {
        let labelled = app
            .client
            .put(app.url(&format!(
                "/api/v1/environments/dev/devices/{}/labels",
                machine.id
            )))
            .bearer_auth(&admin)
            .json(&json!({"labels": {"site": "office-b"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(labelled.status(), 200);
    }
    let canaries = [machines[0].id, machines[1].id];
    let response = start(
        &app,
        &admin,
        "dev",
        json!({"waves": [
            {"machines": canaries, "soak_secs": 1, "gate": {"min_reported": 2}},
            {"percent": 100, "labels": {"site": "office-b"}, "soak_secs": 1,
             "gate": {"min_reported": 5}}
        ]}),
    )
    .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let started = &rollouts(&app, &admin, "dev").await[0];
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["state"], "running");
    assert_eq!(
        (
            started["from_version"].as_u64(),
            started["to_version"].as_u64()
        ),
        (Some(1), Some(2))
    );

    // Only the canaries get version 2; everyone else keeps version 1.
    for (n, machine) in machines.iter().enumerate() {
        let expected = match n < 2 {
            true => (2, NEW_REGISTRY.to_owned()),
            false => (1, OLD_REGISTRY.to_owned()),
        };
        assert_eq!(delivered(&app, machine).await, expected, "machine {n}");
    }
    // The gate waits for both canaries.
    report(&app, &machines[0], 2, "reachable").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting: Value = app
        .get_as(&admin, &format!("/api/v1/environments/dev/rollouts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["wave"], 0, "{waiting:#}");
    assert_eq!(waiting["gate"]["verdict"], "waiting");
    assert_eq!(waiting["gate"]["reported"], 1);
    report(&app, &machines[1], 2, "reachable").await;
    let promoted = until_state_wave(&app, &admin, &id, 1).await;
    assert_eq!(promoted["gate"]["cohort"], 5, "{promoted:#}");

    // The office-b machines join; the others still keep version 1.
    for (n, machine) in machines.iter().enumerate() {
        let version = delivered(&app, machine).await.0;
        assert_eq!(version, if n < 5 { 2 } else { 1 }, "machine {n}");
    }
    for machine in &machines[2..5] {
        report(&app, machine, 2, "reachable").await;
    }
    let completed = until_state(&app, &admin, "dev", &id, "completed").await;
    assert!(completed.get("gate").is_none());
    for machine in &machines {
        assert_eq!(delivered(&app, machine).await.0, 2);
    }
    let events = rollout_events(&app, &admin, "dev").await;
    assert_eq!(
        actions(&events),
        ["rollout.start", "rollout.promote", "rollout.complete"]
    );
    // Each gate's figures are in the trail, and the gate acted as the system.
    assert_eq!(events[1]["actor_kind"], "system");
    assert_eq!(events[1]["detail"]["reported"], "2");
    assert_eq!(events[1]["detail"]["cohort"], "2");
    // The second gate read the reports made since its wave began: the three it added.
    assert_eq!(events[2]["detail"]["reported"], "3");
    assert_eq!(events[2]["detail"]["added"], "3");
    assert_eq!(events[0]["actor"], "admin");
    // Publishing goes to everyone again.
    let published = publish_registry(&app, &admin, "dev", OLD_REGISTRY, json!({})).await;
    assert_eq!(published.status(), 201);
}

async fn a_failing_gate_reverts_the_cohort_or_halts_it(backend: Backend) {
    let (app, admin, machines) = fleet(backend, 6).await;
    let canaries = [machines[0].id, machines[1].id];
    let plan = |revert: bool| {
        json!({"waves": [
            {"machines": canaries, "soak_secs": 600, "gate": {"min_reported": 2, "max_failed_probes_percent": 40}},
            {"percent": 100, "soak_secs": 600}
        ], "revert_on_failure": revert})
    };
    let response = start(&app, &admin, "dev", plan(true)).await;
    assert_eq!(response.status(), 201);
    let id = rollouts(&app, &admin, "dev").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // One canary reaches the new mirror, the other cannot: 50 % of probes failed, over 40 %.
    report(&app, &machines[0], 2, "reachable").await;
    report(&app, &machines[1], 2, "refused").await;
    let reverted = until_state(&app, &admin, "dev", &id, "reverted").await;
    assert_eq!(reverted["revert_version"], 3);
    assert!(
        reverted["reason"]
            .as_str()
            .unwrap()
            .contains("1 of 2 probes"),
        "{reverted:#}"
    );
    // The canaries are back on the old content (version 3, a copy of version 1), and the
    // others never saw version 2.
    for machine in &machines {
        assert_eq!(delivered(&app, machine).await, (3, OLD_REGISTRY.to_owned()));
    }
    let versions: Vec<Value> = app
        .get_as(
            &admin,
            "/api/v1/environments/dev/profiles/baseline/versions",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions[2]["rollback_of"], 1);
    let events = rollout_events(&app, &admin, "dev").await;
    assert_eq!(actions(&events), ["rollout.start", "rollout.revert"]);
    assert_eq!(events[1]["detail"]["failed_probes"], "1");
    assert_eq!(events[1]["detail"]["revert_version"], "3");
    // The reverting version is in the trail as a rollback, and the draft followed it.
    let page: Value = app
        .get_as(
            &admin,
            "/api/v1/audit?environment=dev&action=profile.rollback",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"][0]["actor_kind"], "system");
    assert_eq!(page["events"][0]["detail"]["rollback_of"], "1");
    let draft: Value = app
        .get_as(&admin, "/api/v1/environments/dev/profiles/baseline/draft")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["profile"]["npm"]["registry"], OLD_REGISTRY);

    // Without revert, the same failure halts with the cohort left on the new version.
    let response = start(&app, &admin, "dev", plan(false)).await;
    assert_eq!(response.status(), 201);
    let id = rollouts(&app, &admin, "dev").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    report(&app, &machines[0], 4, "timeout").await;
    report(&app, &machines[1], 4, "reachable").await;
    let halted = until_state(&app, &admin, "dev", &id, "halted").await;
    assert_eq!(halted["gate"]["verdict"], "failing", "{halted:#}");
    assert_eq!(delivered(&app, &machines[0]).await.0, 4);
    assert_eq!(delivered(&app, &machines[3]).await.0, 3);
    // Halted stays halted: the gate moves only running rollouts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rollouts(&app, &admin, "dev").await[0]["state"], "halted");
    // Ops fixed the mirror: the canaries' probes pass, ops resume, promote by hand, done.
    report(&app, &machines[0], 4, "reachable").await;
    let path = format!("/api/v1/environments/dev/rollouts/{id}");
    let resumed = app
        .call(
            Method::POST,
            &format!("{path}/resume"),
            Some(&admin),
            Some(&json!({"reason": "mirror fixed"})),
        )
        .await;
    assert_eq!(resumed.status(), 200);
    let promoted = app
        .call(
            Method::POST,
            &format!("{path}/promote"),
            Some(&admin),
            Some(&json!({"reason": "looks good"})),
        )
        .await;
    assert_eq!(promoted.status(), 200);
    let promoted: Value = promoted.json().await.unwrap();
    assert_eq!(
        (promoted["state"].as_str(), promoted["wave"].as_u64()),
        (Some("running"), Some(1))
    );
    let aborted = app
        .call(
            Method::POST,
            &format!("{path}/abort"),
            Some(&admin),
            Some(&json!({"reason": "changed our mind"})),
        )
        .await;
    assert_eq!(aborted.status(), 200);
    let aborted: Value = aborted.json().await.unwrap();
    assert_eq!(aborted["state"], "aborted");
    assert_eq!(aborted["revert_version"], 5);
    for machine in &machines {
        assert_eq!(delivered(&app, machine).await, (5, OLD_REGISTRY.to_owned()));
    }
    // An ended rollout moves no more.
    let again = app
        .call(
            Method::POST,
            &format!("{path}/pause"),
            Some(&admin),
            Some(&json!({"reason": "late"})),
        )
        .await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rollout_state");
}

async fn rollouts_refuse_what_cannot_be_rolled_out_and_protect_their_profile(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("dev", false).await;
    let admin = app.admin_token().await;
    let plan = json!({"waves": [{"percent": 10, "soak_secs": 60}]});
    // The first version goes to everyone: there is nothing to keep the others on.
    let first = start(&app, &admin, "dev", plan.clone()).await;
    assert_eq!(first.status(), 409);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"]["code"], "needs_previous_version");
    app.publish_profile(
        "dev",
        "baseline",
        json!({"npm": {"registry": OLD_REGISTRY}}),
    )
    .await;
    // Plans are checked at the edge.
    for (bad, path) in [
        (json!({"waves": []}), "rollout"),
        (json!({"waves": [{"soak_secs": 1}]}), "rollout.waves[0]"),
        (
            json!({"waves": [{"percent": 5, "soak_secs": 1, "labels": {"Site": "x"}}]}),
            "rollout.waves[0].labels",
        ),
    ] {
        let refused = start(&app, &admin, "dev", bad).await;
        assert_eq!(refused.status(), 422);
        let body: Value = refused.json().await.unwrap();
        let paths: Vec<&str> = body["error"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|problem| problem["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.iter().any(|p| p.starts_with(path)),
            "{path}: {body:#}"
        );
    }
    assert_eq!(start(&app, &admin, "dev", plan.clone()).await.status(), 201);
    // While it runs, its profile takes no other publish or rollback, and the environment no
    // second rollout.
    let busy = start_with(
        &app,
        &admin,
        "dev",
        "https://third.corp.example/",
        plan.clone(),
    )
    .await;
    assert_eq!(busy.status(), 409);
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rollout_in_progress");
    // The draft back as published, so only the rollout stands in a rollback's way.
    edit(
        &app,
        &admin,
        "dev",
        json!({"npm": {"registry": NEW_REGISTRY}}),
    )
    .await;
    let rollback = app
        .call(
            Method::POST,
            "/api/v1/environments/dev/profiles/baseline/rollback",
            Some(&admin),
            Some(&json!({"to_version": 1, "based_on_version": 2, "message": "no"})),
        )
        .await;
    assert_eq!(rollback.status(), 409);
    let body: Value = rollback.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rollout_in_progress");
    // A machine role's overlay is another profile: it still publishes to everyone.
    app.create_machine_role("backend").await;
    app.publish_profile("dev", "backend", json!({"pypi": {"timeout": 30}}))
        .await;
    // Unknown ids.
    let missing = app
        .get_as(
            &admin,
            &format!("/api/v1/environments/dev/rollouts/{}", Uuid::new_v4()),
        )
        .await;
    assert_eq!(missing.status(), 404);
    let malformed = app
        .get_as(&admin, "/api/v1/environments/dev/rollouts/nope")
        .await;
    assert_eq!(malformed.status(), 400);
}

/// In a protected environment a rollout starts through a change request, and a promotion by
/// hand takes a second person.
async fn four_eyes_start_and_promote_rollouts_in_protected_environments(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("prod", true).await;
    let admin = app.admin_token().await;
    let olivia = app.user_token("olivia", None).await;
    app.grant("olivia", "prod", "ops").await;
    let propose_and_approve = |plan: Option<Value>, registry: &'static str| {
        let app = &app;
        let admin = admin.clone();
        let olivia = olivia.clone();
        async move {
            let revision = edit(app, &admin, "prod", json!({"npm": {"registry": registry}})).await;
            let mut body = json!({"message": "mirror", "draft_revision": revision});
            if let Some(plan) = plan {
                body["rollout"] = plan;
            }
            let proposed = app
                .call(
                    Method::POST,
                    "/api/v1/environments/prod/profiles/baseline/publish",
                    Some(&admin),
                    Some(&body),
                )
                .await;
            assert_eq!(proposed.status(), 202);
            let proposed: Value = proposed.json().await.unwrap();
            let approved = app
                .call(
                    Method::POST,
                    &format!(
                        "/api/v1/environments/prod/change-requests/{}/approve",
                        proposed["id"].as_str().unwrap()
                    ),
                    Some(&olivia),
                    Some(&json!({"reason": "ok"})),
                )
                .await;
            assert_eq!(approved.status(), 201);
            proposed
        }
    };
    propose_and_approve(None, OLD_REGISTRY).await;
    let plan =
        json!({"waves": [{"percent": 5, "soak_secs": 3600}, {"percent": 50, "soak_secs": 3600}]});
    let proposed = propose_and_approve(Some(plan.clone()), NEW_REGISTRY).await;
    assert_eq!(proposed["rollout"]["waves"][1]["percent"], 50);
    assert_eq!(proposed["rollout"]["waves"][1]["gate"]["min_reported"], 1);
    let started = &rollouts(&app, &admin, "prod").await[0];
    assert_eq!(started["state"], "running");
    assert_eq!(started["started_by"], "olivia", "the approver starts it");
    let path = format!(
        "/api/v1/environments/prod/rollouts/{}/promote",
        started["id"].as_str().unwrap()
    );
    let promote = |token: &String| {
        let (app, path, token) = (&app, path.clone(), token.clone());
        async move {
            let reason = json!({"reason": "canaries fine"});
            app.call(Method::POST, &path, Some(&token), Some(&reason))
                .await
        }
    };
    let asked = promote(&olivia).await;
    assert_eq!(asked.status(), 202);
    let asked: Value = asked.json().await.unwrap();
    assert_eq!(asked["promotion_requested_by"], "olivia");
    assert_eq!(asked["wave"], 0);
    let own = promote(&olivia).await;
    assert_eq!(own.status(), 403);
    let body: Value = own.json().await.unwrap();
    assert_eq!(body["error"]["code"], "four_eyes_required");
    let confirmed = promote(&admin).await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    assert_eq!(confirmed["wave"], 1);
    assert!(confirmed.get("promotion_requested_by").is_none());
    let events = rollout_events(&app, &admin, "prod").await;
    assert_eq!(
        actions(&events),
        [
            "rollout.start",
            "rollout.promotion-request",
            "rollout.promote"
        ]
    );
    assert_eq!(events[2]["actor"], "admin");
}

/// A server restarted in the middle of a wave's soak goes on where it was: the soak counts from
/// the wave's start as kept, and no transition is lost or made twice.
async fn a_restart_during_a_soak_loses_and_doubles_nothing(backend: Backend) {
    let (app, admin, machines) = fleet(backend, 3).await;
    let response = start(
        &app,
        &admin,
        "dev",
        json!({"waves": [
            {"machines": [machines[0].id], "soak_secs": 4},
            {"percent": 100, "soak_secs": 1, "gate": {"min_reported": 3}}
        ]}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let id = rollouts(&app, &admin, "dev").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    report(&app, &machines[0], 2, "reachable").await;
    app.stop().await;
    let restarted = app
        .spawn_beside_with(|settings| settings.rollout_check_secs = SettingDuration::seconds(1))
        .await;
    let admin = restarted.admin_token().await;
    let promoted = until_state_wave(&restarted, &admin, &id, 1).await;
    let started = time::OffsetDateTime::parse(
        promoted["started_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let moved = time::OffsetDateTime::parse(
        promoted["wave_started_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        moved - started >= time::Duration::seconds(4),
        "{promoted:#}"
    );
    for machine in &machines {
        report(&restarted, machine, 2, "reachable").await;
    }
    until_state(&restarted, &admin, "dev", &id, "completed").await;
    let events = rollout_events(&restarted, &admin, "dev").await;
    assert_eq!(
        actions(&events),
        ["rollout.start", "rollout.promote", "rollout.complete"]
    );
}

/// The time, from the server's own clock.
fn clock_now() -> time::OffsetDateTime {
    switchyard_server::clock::Clock::now(&switchyard_server::clock::SystemClock)
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Publishes `registry` as the baseline of `environment` with `until`; answers the response.
async fn override_with(
    app: &TestApp,
    admin: &str,
    environment: &str,
    registry: &str,
    until: time::OffsetDateTime,
) -> reqwest::Response {
    publish_registry(
        app,
        admin,
        environment,
        registry,
        json!({"until": rfc3339(until)}),
    )
    .await
}

async fn overrides(app: &TestApp, admin: &str, environment: &str) -> Vec<Value> {
    app.get_as(
        admin,
        &format!("/api/v1/environments/{environment}/overrides"),
    )
    .await
    .json()
    .await
    .unwrap()
}

/// An emergency change ends by itself at its time: the version before comes back, machines
/// are told, the draft follows, and both moves are in the audit trail. A publish before then
/// supersedes it.
async fn an_override_ends_by_itself_or_is_superseded(backend: Backend) {
    // The server's clock is moved by hand (within the five minutes of skew machines may have).
    let clock = ManualClock::new();
    let (app, admin, machines) = fleet_with_clock(backend, 2, Arc::new(clock.clone())).await;
    let in_a_minute = || clock.now() + time::Duration::minutes(1);
    let response = override_with(&app, &admin, "dev", NEW_REGISTRY, in_a_minute()).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let standing = &overrides(&app, &admin, "dev").await[0];
    assert_eq!(standing["state"], "active");
    assert_eq!(
        (
            standing["version"].as_u64(),
            standing["restore_version"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        delivered(&app, &machines[0]).await,
        (2, NEW_REGISTRY.to_owned())
    );
    // Nothing ends before its time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(overrides(&app, &admin, "dev").await[0]["state"], "active");
    // A machine waiting for a change hears of the end when it comes.
    let etag = machines[1]
        .call(
            &app,
            Method::GET,
            "/api/v1/agent/profile?wait=0",
            None,
            None,
        )
        .await
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let waiting = machines[1].call(
        &app,
        Method::GET,
        "/api/v1/agent/profile?wait=30",
        None,
        Some(&etag),
    );
    let (waited, ()) = tokio::join!(waiting, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        clock.advance(time::Duration::seconds(90));
    });
    assert_eq!(waited.status(), 200);
    let envelope: Envelope = waited.json().await.unwrap();
    let delivery = machines[1].open(&envelope, None).unwrap();
    assert_eq!(delivery.baseline_version, 3);
    assert_eq!(
        delivery.profile.npm.unwrap().registry.as_deref(),
        Some(OLD_REGISTRY)
    );
    let ended = &overrides(&app, &admin, "dev").await[0];
    assert_eq!(ended["state"], "ended", "{ended:#}");
    assert_eq!(ended["end_version"], 3);
    // The untouched draft followed: publishing it again brings nothing back.
    let draft: Value = app
        .get_as(&admin, "/api/v1/environments/dev/profiles/baseline/draft")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["profile"]["npm"]["registry"], OLD_REGISTRY);
    let event = |action: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let page: Value = app
                .get_as(
                    &admin,
                    &format!("/api/v1/audit?environment=dev&action={action}"),
                )
                .await
                .json()
                .await
                .unwrap();
            page["events"].as_array().unwrap().clone()
        }
    };
    let ends = event("profile.override-end").await;
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["actor_kind"], "system");
    assert_eq!(ends[0]["detail"]["end_version"], "3");
    assert_eq!(ends[0]["detail"]["started_by"], "admin");
    // The version that brought the old content back is a rollback in the trail too.
    let rollbacks = event("profile.rollback").await;
    assert_eq!(rollbacks[0]["target"], "profile:dev/baseline@3");
    assert_eq!(rollbacks[0]["changes"][0]["path"], "npm.registry");
    assert!(event("profile.publish").await[0]["detail"]["until"].is_string());

    // A publish before the end supersedes the override; nothing comes back later.
    assert_eq!(
        override_with(&app, &admin, "dev", NEW_REGISTRY, in_a_minute())
            .await
            .status(),
        201
    );
    let third = "https://third.corp.example/";
    app.publish_profile("dev", "baseline", json!({"npm": {"registry": third}}))
        .await;
    let superseded = &overrides(&app, &admin, "dev").await[0];
    assert_eq!(superseded["state"], "superseded");
    assert!(superseded.get("end_version").is_none());
    let supersedes = event("profile.override-superseded").await;
    assert_eq!(supersedes.len(), 1);
    assert_eq!(supersedes[0]["detail"]["superseded_by"], "5");

    // An override over an override brings back what was there before both, and a rollout
    // waits until it ended.
    let first = override_with(
        &app,
        &admin,
        "dev",
        "https://a.corp.example/",
        in_a_minute(),
    )
    .await;
    assert_eq!(first.status(), 201);
    let second = override_with(
        &app,
        &admin,
        "dev",
        "https://b.corp.example/",
        clock.now() + time::Duration::minutes(2),
    )
    .await;
    assert_eq!(second.status(), 201);
    assert_eq!(
        overrides(&app, &admin, "dev").await[0]["restore_version"],
        5
    );
    let rollout = start(
        &app,
        &admin,
        "dev",
        json!({"waves": [{"percent": 5, "soak_secs": 1}]}),
    )
    .await;
    assert_eq!(rollout.status(), 409);
    let body: Value = rollout.json().await.unwrap();
    assert_eq!(body["error"]["code"], "override_active");
    clock.advance(time::Duration::seconds(90));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        delivered(&app, &machines[0]).await.1,
        "https://b.corp.example/",
        "the first override's time means nothing once superseded"
    );
    // Someone edits the draft meanwhile: the end keeps their edit.
    let edited = "https://edited.corp.example/";
    edit(&app, &admin, "dev", json!({"npm": {"registry": edited}})).await;
    clock.advance(time::Duration::seconds(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while overrides(&app, &admin, "dev").await[0]["state"] != "ended" {
        assert!(Instant::now() < deadline, "the second override never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(delivered(&app, &machines[0]).await, (8, third.to_owned()));
    let draft: Value = app
        .get_as(&admin, "/api/v1/environments/dev/profiles/baseline/draft")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["profile"]["npm"]["registry"], edited);
}

/// Override times are checked at the edge, and a protected environment approves them.
async fn overrides_refuse_bad_times_and_go_through_four_eyes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("dev", false).await;
    let admin = app.admin_token().await;
    let now = clock_now();
    let first = override_with(
        &app,
        &admin,
        "dev",
        NEW_REGISTRY,
        now + time::Duration::hours(1),
    )
    .await;
    assert_eq!(first.status(), 409);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"]["code"], "needs_previous_version");
    app.publish_profile(
        "dev",
        "baseline",
        json!({"npm": {"registry": OLD_REGISTRY}}),
    )
    .await;
    for until in [
        now - time::Duration::seconds(1),
        now + time::Duration::days(31),
    ] {
        let refused = override_with(&app, &admin, "dev", NEW_REGISTRY, until).await;
        assert_eq!(refused.status(), 422);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["problems"][0]["path"], "until", "{body:#}");
    }
    let both = publish_registry(
        &app,
        &admin,
        "dev",
        NEW_REGISTRY,
        json!({"until": rfc3339(now + time::Duration::hours(1)),
               "rollout": {"waves": [{"percent": 5, "soak_secs": 60}]}}),
    )
    .await;
    assert_eq!(both.status(), 422);

    app.create_environment("prod", true).await;
    let olivia = app.user_token("olivia", None).await;
    app.grant("olivia", "prod", "ops").await;
    let revision = edit(
        &app,
        &admin,
        "prod",
        json!({"npm": {"registry": OLD_REGISTRY}}),
    )
    .await;
    let proposed: Value = app
        .call(
            Method::POST,
            "/api/v1/environments/prod/profiles/baseline/publish",
            Some(&admin),
            Some(&json!({"message": "first", "draft_revision": revision})),
        )
        .await
        .json()
        .await
        .unwrap();
    let approve = |id: String| {
        let (app, olivia) = (&app, olivia.clone());
        async move {
            app.call(
                Method::POST,
                &format!("/api/v1/environments/prod/change-requests/{id}/approve"),
                Some(&olivia),
                Some(&json!({"reason": "ok"})),
            )
            .await
        }
    };
    assert_eq!(
        approve(proposed["id"].as_str().unwrap().to_owned())
            .await
            .status(),
        201
    );
    // Whole seconds: Postgres keeps microseconds.
    let until = (clock_now() + time::Duration::hours(2))
        .replace_nanosecond(0)
        .unwrap();
    let proposed = override_with(&app, &admin, "prod", NEW_REGISTRY, until).await;
    assert_eq!(proposed.status(), 202);
    let proposed: Value = proposed.json().await.unwrap();
    assert_eq!(proposed["until"], rfc3339(until));
    assert_eq!(
        approve(proposed["id"].as_str().unwrap().to_owned())
            .await
            .status(),
        201
    );
    let standing = &overrides(&app, &admin, "prod").await[0];
    assert_eq!(standing["state"], "active");
    assert_eq!(standing["started_by"], "olivia");
}

/// The mirror health view is on `/metrics` too, per environment, role, endpoint and kind.
async fn mirror_health_is_on_the_metrics_endpoint(backend: Backend) {
    let (app, _, machines) = fleet(backend, 3).await;
    report(&app, &machines[0], 1, "reachable").await;
    report(&app, &machines[1], 1, "refused").await;
    // The value of `name`'s series for the new registry, whatever the order of its labels.
    let value = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .filter(|line| {
                [
                    "environment=\"dev\"".to_owned(),
                    "machine_role=\"backend\"".to_owned(),
                    "kind=\"npm-registry\"".to_owned(),
                    format!("endpoint=\"{NEW_REGISTRY}\""),
                ]
                .iter()
                .all(|label| line.contains(label.as_str()))
            })
            .find_map(|line| line.rsplit(' ').next().map(str::to_owned))
    };
    // Machines report probes of a mirror no published profile names: not exported (a machine
    // could name anything).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(value(&text, "switchyard_mirror_machines"), None, "{text}");
    assert!(text.contains("switchyard_mirror_refreshed_timestamp_seconds"));
    app.publish_profile(
        "dev",
        "baseline",
        json!({"npm": {"registry": NEW_REGISTRY}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let machines = value(&text, "switchyard_mirror_machines");
        let reachable = value(&text, "switchyard_mirror_reachable_machines");
        if (machines.as_deref(), reachable.as_deref()) == (Some("2"), Some("1")) {
            break;
        }
        assert!(Instant::now() < deadline, "no mirror gauges in:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

for_each_store!(
    mirror_health_is_on_the_metrics_endpoint,
    an_override_ends_by_itself_or_is_superseded,
    overrides_refuse_bad_times_and_go_through_four_eyes,
    a_rollout_reaches_its_cohort_first_and_promotes_through_its_waves,
    a_failing_gate_reverts_the_cohort_or_halts_it,
    rollouts_refuse_what_cannot_be_rolled_out_and_protect_their_profile,
    four_eyes_start_and_promote_rollouts_in_protected_environments,
    a_restart_during_a_soak_loses_and_doubles_nothing,
);

/// Two server processes on one Postgres database both check every gate each second; each
/// transition is still made once, and machines on either process follow the waves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_make_each_transition_once() {
    let (first, admin, machines) = fleet(Backend::Postgres, 8).await;
    let second = first
        .spawn_beside_with(|settings| settings.rollout_check_secs = SettingDuration::seconds(1))
        .await;
    let waves: Vec<Value> = machines
        .iter()
        .take(4)
        .map(|machine| json!({"machines": [machine.id], "soak_secs": 1}))
        .collect();
    let response = start(&first, &admin, "dev", json!({"waves": waves})).await;
    assert_eq!(response.status(), 201);
    let id = rollouts(&first, &admin, "dev").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Each machine reports through the other process than the one before it.
    for (n, machine) in machines.iter().take(4).enumerate() {
        let app = if n % 2 == 0 { &first } else { &second };
        until_state_wave(app, &admin, &id, n as u64).await;
        assert_eq!(delivered(app, machine).await.0, 2, "machine {n}");
        assert_eq!(delivered(app, &machines[7]).await.0, 1);
        report(app, machine, 2, "reachable").await;
    }
    until_state(&second, &admin, "dev", &id, "completed").await;
    // Both processes kept checking for a while after: nothing more is recorded.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = rollout_events(&first, &admin, "dev").await;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for action in actions(&events) {
        *counts.entry(action).or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            ("rollout.complete", 1),
            ("rollout.promote", 3),
            ("rollout.start", 1)
        ])
    );
    for machine in &machines {
        assert_eq!(delivered(&second, machine).await.0, 2);
    }
}
