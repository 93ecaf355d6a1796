//! Postgres crashed and restarted under load, on a Postgres server of the test's own (the shared
//! one is every other test's): two server processes on one database keep answering, or fail
//! fast with 503, while it is down; they reconnect by themselves; no publish they acknowledged
//! is lost; and machines waiting on the process that did not publish get the delivery of a
//! publish made after the restart.
//!
//! Bounded: the load runs for a fixed time around the outage and stops by itself. Figures
//! (requests, answers by status, the slowest answer while Postgres was down, how long until the
//! servers answered again) are printed, never asserted as timings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_proto::delivery::Envelope;
use switchyard_tests::own_postgres::OwnPostgres;
use switchyard_tests::{Backend, TestApp, TestDevice};

/// How long the load runs before the crash, while Postgres is down, and after it is back.
const BEFORE: Duration = Duration::from_secs(2);
const DOWN: Duration = Duration::from_secs(8);
const AFTER: Duration = Duration::from_secs(4);

/// The longest anything here may take to come back: past it the test fails (never skips).
const PATIENCE: Duration = Duration::from_secs(60);

/// What the load saw: answers by status, the slowest answer while Postgres was down, and
/// how many 503s came without a `Retry-After`.
#[derive(Debug, Default)]
struct Seen {
    statuses: BTreeMap<u16, u64>,
    slowest_while_down: Duration,
    unavailable_without_retry_after: u64,
}

impl Seen {
    fn answer(&mut self, status: u16, took: Duration, down: bool) {
        *self.statuses.entry(status).or_default() += 1;
        if down {
            self.slowest_while_down = self.slowest_while_down.max(took);
        }
    }

    /// [`Seen::answer`] for a response at hand, whose headers are looked at too.
    fn response(&mut self, response: &reqwest::Response, took: Duration, down: bool) {
        let status = response.status().as_u16();
        if status == 503 && !response.headers().contains_key("retry-after") {
            self.unavailable_without_retry_after += 1;
        }
        self.answer(status, took, down);
    }
}

fn marker(n: u64) -> Value {
    json!({"go": {"proxy": [{"source": format!("https://goproxy-{n}.corp.example/")}]}})
}

/// Saves the baseline's draft as `profile` and publishes it; the publish's status, or the
/// status of the step that failed.
async fn try_publish(app: &TestApp, admin: &str, profile: &Value) -> u16 {
    let path = "/api/v1/environments/staging/profiles/baseline";
    let draft = app.get_as(admin, &format!("{path}/draft")).await;
    if draft.status() != 200 {
        return draft.status().as_u16();
    }
    let revision = draft.json::<Value>().await.unwrap()["revision"]
        .as_u64()
        .unwrap();
    let saved = app
        .client
        .put(app.url(&format!("{path}/draft")))
        .bearer_auth(admin)
        .header("if-match", format!("\"{revision}\""))
        .json(profile)
        .send()
        .await
        .unwrap();
    if saved.status() != 200 {
        return saved.status().as_u16();
    }
    app.call(
        Method::POST,
        &format!("{path}/publish"),
        Some(admin),
        Some(&json!({ "message": "under load", "draft_revision": revision + 1 })),
    )
    .await
    .status()
    .as_u16()
}

/// The Go proxy of the delivery in `envelope`, as `device` opens it.
fn proxy_of(device: &TestDevice, envelope: &Envelope) -> String {
    let delivery = device.open(envelope, None).unwrap();
    let profile = serde_json::to_value(&delivery.profile).unwrap();
    profile["go"]["proxy"][0]["source"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until `app` answers `/readyz` with 200; how long that took.
async fn ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    while app.get("/readyz").await.status() != 200 {
        assert!(
            started.elapsed() < PATIENCE,
            "{} did not reconnect to Postgres by itself",
            app.base_url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_publish_and_waiting_machines_get_the_next() {
    let postgres = tokio::task::block_in_place(OwnPostgres::start);
    postgres.create_database("switchyard").await;
    let url: switchyard_server::store::DatabaseUrl = postgres.url("switchyard").parse().unwrap();
    let on_own = |url: switchyard_server::store::DatabaseUrl| {
        move |settings: &mut switchyard_server::config::Settings| {
            settings.database_url = Some(url);
        }
    };
    // Its own database stands in for the one the harness would make (SQLite, then unused).
    let publisher = TestApp::spawn_with(Backend::Sqlite, on_own(url.clone())).await;
    let waiter = publisher.spawn_beside_with(on_own(url)).await;
    publisher.create_environment("staging", false).await;
    publisher.create_machine_role("backend").await;
    let admin = publisher.admin_token().await;
    assert_eq!(try_publish(&publisher, &admin, &marker(0)).await, 201);
    let token = publisher.enrollment_token("staging", "backend", 3).await;
    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(Arc::new(
            TestDevice::enroll(&publisher, &token).await.unwrap(),
        ));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let down = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let publisher = Arc::new(publisher);
    let waiter = Arc::new(waiter);
    let mut load = Vec::new();

    // Readers on both processes.
    for app in [&publisher, &waiter, &publisher, &waiter] {
        let (app, admin, stop, down, seen) = (
            app.clone(),
            admin.clone(),
            stop.clone(),
            down.clone(),
            seen.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let was_down = down.load(Ordering::SeqCst);
                let answer = app
                    .get_as(
                        &admin,
                        "/api/v1/environments/staging/profiles/baseline/versions",
                    )
                    .await;
                seen.lock()
                    .unwrap()
                    .response(&answer, started.elapsed(), was_down);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // Machines long-polling the process that does not publish, each with what it has.
    let latest: Arc<Mutex<BTreeMap<uuid::Uuid, String>>> = Arc::default();
    for device in &devices {
        let (app, device, stop, down, seen, latest) = (
            waiter.clone(),
            device.clone(),
            stop.clone(),
            down.clone(),
            seen.clone(),
            latest.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut etag: Option<String> = None;
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let was_down = down.load(Ordering::SeqCst);
                let answer = device
                    .call(
                        &app,
                        Method::GET,
                        "/api/v1/agent/profile?wait=5",
                        None,
                        etag.as_deref(),
                    )
                    .await;
                let status = answer.status().as_u16();
                seen.lock()
                    .unwrap()
                    .response(&answer, started.elapsed(), was_down);
                match status {
                    200 => {
                        etag = answer
                            .headers()
                            .get("etag")
                            .map(|tag| tag.to_str().unwrap().to_owned());
                        let envelope: Envelope = answer.json().await.unwrap();
                        latest
                            .lock()
                            .unwrap()
                            .insert(device.id, proxy_of(&device, &envelope));
                    }
                    304 => {}
                    // As the agent does: back off a little after a failure.
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }));
    }
    // Publishes, one after another, each acknowledged or not.
    let acknowledged: Arc<Mutex<Vec<u64>>> = Arc::default();
    {
        let (app, admin, stop, down, seen, acknowledged) = (
            publisher.clone(),
            admin.clone(),
            stop.clone(),
            down.clone(),
            seen.clone(),
            acknowledged.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 1;
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let was_down = down.load(Ordering::SeqCst);
                let status = try_publish(&app, &admin, &marker(n)).await;
                seen.lock()
                    .unwrap()
                    .answer(status, started.elapsed(), was_down);
                if status == 201 {
                    acknowledged.lock().unwrap().push(n);
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    tokio::time::sleep(BEFORE).await;
    down.store(true, Ordering::SeqCst);
    tokio::task::block_in_place(|| postgres.crash());
    // What needs no database answers as usual, and the description says which do.
    let description: Value = publisher
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    for path in ["/healthz", "/api/v1/version", "/api/v1/openapi.json"] {
        for app in [&publisher, &waiter] {
            assert_eq!(app.get(path).await.status(), 200, "{path} without Postgres");
        }
        assert!(
            description["paths"][path]["get"]["responses"]["503"].is_null(),
            "{path} is described as needing the database"
        );
    }
    for path in [
        "/api/v1/agent/profile",
        "/api/v1/environments/{environment}/profiles/{target}/versions",
    ] {
        assert!(
            description["paths"][path]["get"]["responses"]["503"]["headers"]["Retry-After"]
                .is_object(),
            "{path}'s 503 is not described with its Retry-After"
        );
    }
    tokio::time::sleep(DOWN).await;
    tokio::task::block_in_place(|| postgres.resume());
    down.store(false, Ordering::SeqCst);
    let reconnected = [ready(&publisher).await, ready(&waiter).await];
    tokio::time::sleep(AFTER).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the load stops by itself")
            .unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let acknowledged = acknowledged.lock().unwrap().clone();
    println!(
        "Postgres down {DOWN:?}: answers by status {:?}; slowest while down {:?}; ready again \
         {reconnected:?} after it was back; {} publishes acknowledged",
        seen.statuses,
        seen.slowest_while_down,
        acknowledged.len()
    );
    // Down means 503, never another 5xx: a client can tell "try again" from a fault.
    let unexpected: Vec<_> = seen
        .statuses
        .keys()
        .filter(|status| !matches!(**status, 200 | 201 | 304 | 503))
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers by status: {:?}",
        seen.statuses
    );
    assert!(
        seen.statuses.get(&503).copied().unwrap_or(0) > 0,
        "the outage was never felt: {:?}",
        seen.statuses
    );
    assert_eq!(
        seen.unavailable_without_retry_after, 0,
        "503s without Retry-After"
    );

    // Every acknowledged publish is kept, with what it published.
    let versions: Vec<Value> = publisher
        .get_as(
            &admin,
            "/api/v1/environments/staging/profiles/baseline/versions",
        )
        .await
        .json()
        .await
        .unwrap();
    let mut kept: Vec<Value> = Vec::new();
    for version in &versions {
        let number = version["version"].as_u64().unwrap();
        let body: Value = publisher
            .get_as(
                &admin,
                &format!("/api/v1/environments/staging/profiles/baseline/versions/{number}"),
            )
            .await
            .json()
            .await
            .unwrap();
        kept.push(body["profile"]["go"]["proxy"][0]["source"].clone());
    }
    for n in &acknowledged {
        let published = marker(*n)["go"]["proxy"][0]["source"].clone();
        assert!(
            kept.contains(&published),
            "publish {n} was acknowledged and then lost: kept {kept:?}"
        );
    }

    // A publish now reaches the machines waiting on the other process (it hears of it over
    // LISTEN, which had to reconnect): each gets it in one long-poll.
    let last = 1_000_000;
    let expected = marker(last)["go"]["proxy"][0]["source"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut polls = Vec::new();
    for device in &devices {
        let current = device
            .call(
                &waiter,
                Method::GET,
                "/api/v1/agent/profile?wait=0",
                None,
                None,
            )
            .await;
        let etag = current.headers()["etag"].to_str().unwrap().to_owned();
        let (app, device) = (waiter.clone(), device.clone());
        polls.push(tokio::spawn(async move {
            let path = format!("/api/v1/agent/profile?wait={}", PATIENCE.as_secs());
            let answer = device
                .call(&app, Method::GET, &path, None, Some(&etag))
                .await;
            assert_eq!(answer.status(), 200, "the machine waited in vain");
            let envelope: Envelope = answer.json().await.unwrap();
            proxy_of(&device, &envelope)
        }));
    }
    // The machines are waiting before the publish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let published = Instant::now();
    assert_eq!(try_publish(&publisher, &admin, &marker(last)).await, 201);
    for poll in polls {
        assert_eq!(poll.await.unwrap(), expected);
    }
    println!(
        "after the restart, a publish reached 3 machines waiting on the other process in {:?}",
        published.elapsed()
    );
}
