//! Signed delivery over HTTP: signing keys and their rotation, on both stores.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_proto::delivery::Envelope;
use switchyard_proto::delivery::{EnvelopeError, SigningKeyInfo, TrustedKeys};
use switchyard_proto::devices::DeviceStatus;
use switchyard_proto::profile::Secret;
use switchyard_proto::signing::Signed;
use switchyard_proto::AuditPage;
use switchyard_server::clock::Clock;
use switchyard_tests::{for_each_store, Backend, ManualClock, TestApp, TestDevice};
use tokio::time::Instant;

async fn key_sets(app: &TestApp, after: u64) -> Vec<Signed> {
    let response = app
        .get(&format!("/api/v1/agent/key-sets?after={after}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn machines_follow_key_rotations_without_enrolling_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // The first start made a key; a machine pins its key set.
    let chain = key_sets(&app, 0).await;
    assert_eq!(chain.len(), 1);
    // Versions are what the database holds, up to 2^63 - 1, as the description says.
    assert!(key_sets(&app, i64::MAX as u64).await.is_empty());
    for beyond in [
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
    ] {
        let response = app
            .get(&format!("/api/v1/agent/key-sets?after={beyond}"))
            .await;
        assert_eq!(response.status(), 400, "{beyond}");
    }
    let mut trusted = TrustedKeys::pin(&chain[0]).unwrap();
    let first = trusted.version();

    let response = app
        .call(Method::POST, "/api/v1/keys/rotate", Some(&admin), None)
        .await;
    assert_eq!(response.status(), 201);
    let new_key: SigningKeyInfo = response.json().await.unwrap();
    assert_eq!(new_key.version, 2);

    let newer = key_sets(&app, first).await;
    assert_eq!(newer.len(), 1);
    let old_key = chain[0].key_id.clone();
    trusted.advance(&newer[0]).unwrap();
    assert!(trusted.key(&new_key.key_id).is_some());
    assert!(
        trusted.key(&old_key).is_none(),
        "the old key is trusted no more"
    );

    let keys: Vec<SigningKeyInfo> = app
        .get_as(&admin, "/api/v1/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys.iter().map(|k| k.version).collect::<Vec<_>>(), [1, 2]);
    let events: AuditPage = app
        .get_as(&admin, "/api/v1/audit?action=signing-key.rotate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events.events.len(), 1);
    assert_eq!(events.events[0].actor, "admin");
    assert_eq!(events.events[0].detail["retired_key_id"], old_key);
}

/// staging with a backend role, a published baseline (with an npm token) and overlay.
async fn fleet(backend: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("staging", false).await;
    let admin = app.admin_token().await;
    app.create_machine_role("backend").await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({
            "go": {"proxy": [{"source": "https://goproxy.corp.example/"}]},
            "npm": {"auth-tokens": {"https://npm.corp.example/": {"value": "npm-s3cret"}}}
        }),
    )
    .await;
    app.publish_profile("staging", "backend", json!({"pypi": {"timeout": 30}}))
        .await;
    (app, admin)
}

async fn fetch(
    device: &TestDevice,
    app: &TestApp,
    wait: u64,
    etag: Option<&str>,
) -> reqwest::Response {
    device
        .call(
            app,
            Method::GET,
            &format!("/api/v1/agent/profile?wait={wait}"),
            None,
            etag,
        )
        .await
}

async fn an_enrolled_machine_gets_its_signed_effective_profile(backend: Backend) {
    let (app, _) = fleet(backend).await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    let device = TestDevice::enroll(&app, &token).await.unwrap();

    let response = fetch(&device, &app, 0, None).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let envelope: Envelope = response.json().await.unwrap();
    let delivery = device.open(&envelope, None).unwrap();
    assert_eq!(
        (
            delivery.environment.as_str(),
            delivery.machine_role.as_str()
        ),
        ("staging", "backend")
    );
    assert_eq!(
        (delivery.baseline_version, delivery.overlay_version),
        (1, 1)
    );
    assert_eq!(delivery.profile.pypi.unwrap().timeout, Some(30));
    // The machine gets the secret it must write; nobody else ever does.
    assert_eq!(
        delivery.profile.npm.unwrap().auth_tokens.unwrap()["https://npm.corp.example/"],
        Secret::Value("npm-s3cret".into())
    );

    // Unchanged: 304 at once with wait=0.
    let again = fetch(&device, &app, 0, Some(&etag)).await;
    assert_eq!(again.status(), 304);

    // It reports what it applied; ops see it, and the rollout.
    let report = json!({
        "sequence": delivery.sequence, "baseline_version": 1, "overlay_version": 1,
        "targets": [{"target": "npmrc", "state": "ok"}, {"target": "pip", "state": "shadowed",
                     "message": "PIP_INDEX_URL is set in the user environment"}],
        "drift": []
    });
    let sent = device
        .call(
            &app,
            Method::POST,
            "/api/v1/agent/status",
            Some(&report),
            None,
        )
        .await;
    assert_eq!(sent.status(), 204);

    // The delivery carries the audit trail's head, signed; a machine hands it back as its
    // witness, and cannot hand back one the server never signed.
    let head = delivery
        .audit_head
        .clone()
        .expect("the delivery carries the head");
    let opened = switchyard_proto::AuditHead::open(&head, |id| device.trusted.key(id)).unwrap();
    assert_eq!(opened.seq, delivery.sequence);
    let forged_key = TestDevice::new_key();
    let forged = switchyard_proto::AuditHead {
        seq: delivery.sequence + 100,
        hash: "f".repeat(64),
    }
    .sign(&forged_key);
    for (witness, expected) in [(json!(forged), 422), (json!(head), 204)] {
        let mut report = report.clone();
        report["audit_head"] = witness;
        let sent = device
            .call(
                &app,
                Method::POST,
                "/api/v1/agent/status",
                Some(&report),
                None,
            )
            .await;
        assert_eq!(sent.status(), expected);
    }
    let devices: Vec<DeviceStatus> = app.devices("staging").await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device.id, device.id);
    assert_eq!(devices[0].healthy, Some(true));
    assert!(devices[0].device.last_seen_at.is_some());
    let admin = app.admin_token().await;
    let rollout: Value = app
        .get_as(&admin, "/api/v1/environments/staging/rollout")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        rollout["groups"],
        json!([{"machine_role": "backend", "baseline_version": 1, "overlay_version": 1,
                "devices": 1, "healthy": 1}])
    );
}

async fn a_waiting_machine_is_answered_as_soon_as_a_publish_concerns_it(backend: Backend) {
    let (app, _) = fleet(backend).await;
    let token = app.enrollment_token("staging", "backend", 2).await;
    let device = TestDevice::enroll(&app, &token).await.unwrap();
    let other = TestDevice::enroll(&app, &token).await.unwrap();
    let first = fetch(&device, &app, 0, None).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let first_envelope: Envelope = first.json().await.unwrap();
    let before = device.open(&first_envelope, None).unwrap();

    let started = Instant::now();
    let waiting = fetch(&device, &app, 30, Some(&etag));
    let other_waiting = fetch(&other, &app, 30, Some(&etag));
    let publishing = async {
        // Both machines counted as waiting, then the publish.
        let until = Instant::now() + Duration::from_secs(10);
        while waiting_count(&app).await != 2 {
            assert!(Instant::now() < until, "the machines never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.publish_profile(
            "staging",
            "baseline",
            json!({"go": {"proxy": [{"source": "direct"}]}}),
        )
        .await;
    };
    let (response, other_response, ()) = tokio::join!(waiting, other_waiting, publishing);
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(waiting_count(&app).await, 0);
    let envelope: Envelope = response.json().await.unwrap();
    let after = device.open(&envelope, Some(before.sequence)).unwrap();
    assert_eq!(after.baseline_version, 2);
    assert!(after.sequence > before.sequence);
    // Woken by the same publish, each machine gets an envelope of its own, with a proof
    // that does not serve the other.
    let other_envelope: Envelope = other_response.json().await.unwrap();
    let others = other.open(&other_envelope, None).unwrap();
    assert_eq!((others.device_id, others.baseline_version), (other.id, 2));
    assert!(matches!(
        device.open(&other_envelope, None),
        Err(EnvelopeError::WrongDevice { .. })
    ));
    let relabelled = Envelope {
        machine: switchyard_proto::delivery::MachineProof {
            device_id: device.id,
            ..other_envelope.machine.clone()
        },
        ..other_envelope.clone()
    };
    assert!(matches!(
        device.open(&relabelled, None),
        Err(EnvelopeError::NotAmongMachines)
    ));
    // The older delivery, replayed to the machine, is refused.
    let older = first_envelope.clone();
    assert!(matches!(
        device.open(&older, Some(after.sequence)),
        Err(EnvelopeError::Replayed { .. })
    ));
}

/// A metric without labels, from the server's `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

/// `switchyard_agents_waiting` from the metrics.
async fn waiting_count(app: &TestApp) -> u64 {
    metric(app, "switchyard_agents_waiting").await
}

async fn enrollment_and_device_requests_refuse_every_bad_input(backend: Backend) {
    let (app, admin) = fleet(backend).await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    let device = TestDevice::enroll(&app, &token).await.unwrap();

    // A token used up, unknown or forged; a malformed key; a key enrolled already.
    let (status, body) = TestDevice::enroll(&app, &token).await.unwrap_err();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("enrollment_token_invalid"))
    );
    let (status, _) = TestDevice::enroll(&app, "sye_forged").await.unwrap_err();
    assert_eq!(status, 401);
    let fresh = app.enrollment_token("staging", "backend", 5).await;
    let mut request = TestDevice::enroll_request(&device.key, &fresh);
    let taken = app
        .call(Method::POST, "/api/v1/agent/enroll", None, Some(&request))
        .await;
    assert_eq!(taken.status(), 409);
    request["public_key"] = json!("not-a-key");
    let malformed = app
        .call(Method::POST, "/api/v1/agent/enroll", None, Some(&request))
        .await;
    assert_eq!(malformed.status(), 422);

    // A revoked token admits nobody.
    let tokens: Vec<Value> = app
        .get_as(&admin, "/api/v1/environments/staging/enrollment-tokens")
        .await
        .json()
        .await
        .unwrap();
    let fresh_id = tokens.iter().find(|t| t["max_uses"] == 5).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/api/v1/environments/staging/enrollment-tokens/{fresh_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 204);
    let (status, body) = TestDevice::enroll(&app, &fresh).await.unwrap_err();
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // A week's wait, an unsigned request, a forged signature, a replay.
    let week = fetch(&device, &app, 604_800, None).await;
    assert_eq!(week.status(), 422);
    let unsigned = app.get("/api/v1/agent/profile").await;
    assert_eq!(unsigned.status(), 401);
    let impostor = TestDevice {
        id: device.id,
        key: TestDevice::new_key(),
        trusted: device.trusted.clone(),
    };
    assert_eq!(fetch(&impostor, &app, 0, None).await.status(), 401);
    let path = "/api/v1/agent/profile?wait=0";
    let header = device.authorization("GET", path, b"");
    let once = app
        .client
        .get(app.url(path))
        .header("authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(once.status(), 200);
    let twice = app
        .client
        .get(app.url(path))
        .header("authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 401);
    let body: Value = twice.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("seen before"),
        "{body}"
    );

    // Revoked: 401 from then on, and the revocation is audited.
    let revoke = app
        .call(
            Method::POST,
            &format!("/api/v1/environments/staging/devices/{}/revoke", device.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    let refused = fetch(&device, &app, 0, None).await;
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "device_revoked");
    assert_eq!(revocations(&app, &admin).await.len(), 1);
}

async fn a_moved_machine_gets_the_profile_of_its_new_place(backend: Backend) {
    let (app, admin) = fleet(backend).await;
    app.create_environment("production", false).await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    let device = TestDevice::enroll(&app, &token).await.unwrap();
    let first: Envelope = fetch(&device, &app, 0, None).await.json().await.unwrap();
    let first = device.open(&first, None).unwrap();
    let moved = app
        .call(
            Method::POST,
            &format!("/api/v1/environments/staging/devices/{}/move", device.id),
            Some(&admin),
            Some(&json!({"environment": "production", "machine_role": "backend"})),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let second: Envelope = fetch(&device, &app, 0, None).await.json().await.unwrap();
    let second = device.open(&second, Some(first.sequence)).unwrap();
    assert_eq!(second.environment, "production");
    assert_eq!(second.baseline_version, 0);
    assert!(second.sequence > first.sequence);
    let events: AuditPage = app
        .get_as(&admin, "/api/v1/audit?action=device.move")
        .await
        .json()
        .await
        .unwrap();
    let changes: Vec<String> = events.events[0]
        .changes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(changes, ["environment: staging -> production"]);
}

async fn expired_tokens_and_skewed_clocks_are_refused_and_change_nothing(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::spawn_with_clock(backend, Arc::new(clock.clone()), |_| {}).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    let token = app.enrollment_token("staging", "backend", 2).await;
    let device = TestDevice::enroll(&app, &token).await.unwrap();

    // The server's clock runs an hour ahead of the machine's: its signed requests look stale.
    clock.advance(time::Duration::hours(1));
    let stale = fetch(&device, &app, 0, None).await;
    assert_eq!(stale.status(), 401);
    let body: Value = stale.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("clock"),
        "{body}"
    );

    // A day later the token has expired; the refused enrollment used nothing up.
    clock.advance(time::Duration::hours(24));
    let (status, body) = TestDevice::enroll(&app, &token).await.unwrap_err();
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    let admin = app.admin_token().await;
    let tokens: Vec<Value> = app
        .get_as(&admin, "/api/v1/environments/staging/enrollment-tokens")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens[0]["uses"], 1);
    let devices: Vec<DeviceStatus> = app.devices("staging").await;
    assert_eq!(devices.len(), 1);
}

/// `last_seen_at` is kept to the minute: requests within it record only their nonce, and a
/// nonce is refused the second time on either path.
async fn a_machine_is_marked_seen_at_most_once_a_minute(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::spawn_with_clock(backend, Arc::new(clock.clone()), |_| {}).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile("staging", "baseline", json!({"pypi": {"timeout": 30}}))
        .await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    let device = TestDevice::enroll(&app, &token).await.unwrap();
    let last_seen = || async {
        let devices: Vec<DeviceStatus> = app.devices("staging").await;
        devices[0].device.last_seen_at
    };
    let replayed = |header: String| {
        let app = &app;
        async move {
            let path = "/api/v1/agent/profile?wait=0";
            let send = || {
                app.client
                    .get(app.url(path))
                    .header("authorization", &header)
                    .send()
            };
            assert_eq!(send().await.unwrap().status(), 200);
            send().await.unwrap().status()
        }
    };

    // The first request marks the machine; its replay is refused.
    let header = device.authorization("GET", "/api/v1/agent/profile?wait=0", b"");
    assert_eq!(replayed(header).await, 401);
    let first = last_seen().await.expect("marked as seen");
    assert!((first - clock.now()).abs() < time::Duration::seconds(1));

    // Half a minute later: the same mark; a replay is still refused.
    clock.advance(time::Duration::seconds(30));
    let header = device.authorization("GET", "/api/v1/agent/profile?wait=0", b"");
    assert_eq!(replayed(header).await, 401);
    assert_eq!(last_seen().await, Some(first));

    // A minute after the mark: marked again.
    clock.advance(time::Duration::seconds(31));
    assert_eq!(fetch(&device, &app, 0, None).await.status(), 200);
    let again = last_seen().await.expect("marked as seen");
    assert!(
        again - first > time::Duration::minutes(1),
        "{first} then {again}"
    );
}

async fn a_machine_enrolled_while_a_delivery_is_fresh_gets_it_signed_for_it_too(backend: Backend) {
    let (app, _) = fleet(backend).await;
    let token = app.enrollment_token("staging", "backend", 2).await;
    let first = TestDevice::enroll(&app, &token).await.unwrap();
    let first_envelope: Envelope = fetch(&first, &app, 0, None).await.json().await.unwrap();
    // Within the second the delivery signed for the first machine alone is shared.
    let late = TestDevice::enroll(&app, &token).await.unwrap();
    let late_envelope: Envelope = fetch(&late, &app, 0, None).await.json().await.unwrap();
    let delivered = late.open(&late_envelope, None).unwrap();
    assert_eq!(delivered.device_id, late.id);
    assert_eq!(
        delivered.profile,
        first.open(&first_envelope, None).unwrap().profile
    );
    assert!(first.open(&late_envelope, None).is_err());
    assert!(late.open(&first_envelope, None).is_err());
}

/// The machines' revocations in the audit trail, as `admin` reads them.
async fn revocations(app: &TestApp, admin: &str) -> Vec<switchyard_proto::AuditEvent> {
    let page: AuditPage = app
        .get_as(admin, "/api/v1/audit?action=device.revoke")
        .await
        .json()
        .await
        .unwrap();
    page.events
}

async fn leave(app: &TestApp, device: &TestDevice) -> reqwest::Response {
    device
        .call(app, Method::POST, "/api/v1/agent/leave", None, None)
        .await
}

/// A machine leaving (`switchyard-agent remove`) revokes itself with its own signed request:
/// only it can, only once, and the audit trail names it as the actor.
async fn a_machine_that_leaves_revokes_itself_and_nobody_else(backend: Backend) {
    let (app, admin) = fleet(backend).await;
    let token = app.enrollment_token("staging", "backend", 3).await;
    let leaving = TestDevice::enroll(&app, &token).await.unwrap();
    let staying = TestDevice::enroll(&app, &token).await.unwrap();
    let other = TestDevice::enroll(&app, &token).await.unwrap();

    // Another machine's key signing for this one: refused, this one stays.
    let forger = TestDevice {
        id: staying.id,
        ..other
    };
    assert_eq!(leave(&app, &forger).await.status(), 401);
    // A bearer token is no machine's signature, an operator's included.
    let bearer = app
        .call(Method::POST, "/api/v1/agent/leave", Some(&admin), None)
        .await;
    assert_eq!(bearer.status(), 401);

    assert_eq!(leave(&app, &leaving).await.status(), 204);
    for refused in [
        leave(&app, &leaving).await,
        fetch(&leaving, &app, 0, None).await,
    ] {
        assert_eq!(refused.status(), 401);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "device_revoked", "{body}");
    }
    assert_eq!(fetch(&staying, &app, 0, None).await.status(), 200);

    let devices: Vec<switchyard_proto::devices::DeviceStatus> = app.devices("staging").await;
    let revoked: Vec<_> = devices
        .iter()
        .filter(|status| status.device.revoked_at.is_some())
        .map(|status| status.device.id)
        .collect();
    assert_eq!(revoked, vec![leaving.id]);
    assert_eq!(devices.len(), 3);
    let events = revocations(&app, &admin).await;
    let [event] = events.as_slice() else {
        panic!("one revocation: {events:?}")
    };
    assert_eq!(event.actor_kind, switchyard_proto::ActorKind::Device);
    assert_eq!(event.actor, leaving.id.to_string());
    assert_eq!(event.target, format!("device:{}", leaving.id));
    assert_eq!(event.environment.as_deref(), Some("staging"));
    assert!(
        event.detail["reason"].contains("left"),
        "{:?}",
        event.detail
    );
}

for_each_store!(
    a_machine_that_leaves_revokes_itself_and_nobody_else,
    a_machine_is_marked_seen_at_most_once_a_minute,
    a_machine_enrolled_while_a_delivery_is_fresh_gets_it_signed_for_it_too,
    expired_tokens_and_skewed_clocks_are_refused_and_change_nothing,
    machines_follow_key_rotations_without_enrolling_again,
    an_enrolled_machine_gets_its_signed_effective_profile,
    a_waiting_machine_is_answered_as_soon_as_a_publish_concerns_it,
    enrollment_and_device_requests_refuse_every_bad_input,
    a_moved_machine_gets_the_profile_of_its_new_place,
);

/// Two server processes on one Postgres database: a machine waiting on one hears of a publish
/// made on the other (LISTEN/NOTIFY). SQLite is one process per file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_one_server_process_wakes_machines_waiting_on_another() {
    let (first, _) = fleet(Backend::Postgres).await;
    let second = first.spawn_beside().await;
    let token = first.enrollment_token("staging", "backend", 1).await;
    let device = TestDevice::enroll(&second, &token).await.unwrap();
    let response = fetch(&device, &second, 0, None).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();

    let waiting = fetch(&device, &second, 30, Some(&etag));
    let published_at = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        first
            .publish_profile(
                "staging",
                "baseline",
                json!({"go": {"proxy": [{"source": "off"}]}}),
            )
            .await;
        Instant::now()
    };
    let (response, published_at) = tokio::join!(waiting, published_at);
    let answered_after = published_at.elapsed();
    assert_eq!(response.status(), 200);
    assert!(
        answered_after < Duration::from_secs(1),
        "{answered_after:?}"
    );
    let envelope: Envelope = response.json().await.unwrap();
    assert_eq!(device.open(&envelope, None).unwrap().baseline_version, 2);
}

/// Each publish reaches the machines waiting on every server process exactly once: the
/// publishing process tells its own machines itself and passes over its own announcement when
/// it comes back from Postgres, so each process makes one reading (one signature) per publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_process_makes_one_reading_per_publish() {
    let (first, _) = fleet(Backend::Postgres).await;
    let second = first.spawn_beside().await;
    let token = first.enrollment_token("staging", "backend", 2).await;
    let processes = [&first, &second];
    let mut machines = Vec::new();
    for app in processes {
        let device = TestDevice::enroll(app, &token).await.unwrap();
        let response = fetch(&device, app, 0, None).await;
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        machines.push((device, etag));
    }
    let readings = || async {
        let mut counts = Vec::new();
        for app in processes {
            counts.push(metric(app, "switchyard_delivery_readings_total").await);
        }
        counts
    };

    for round in 0..3 {
        // Each machine waits on its own process; the first publishes.
        let waits = machines
            .iter()
            .zip(processes)
            .map(|((device, etag), app)| fetch(device, app, 20, Some(etag)));
        let waiting = futures_util::future::join_all(waits);
        let published = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let before = readings().await;
            first
                .publish_profile(
                    "staging",
                    "baseline",
                    json!({"pypi": {"timeout": 10 + round}}),
                )
                .await;
            before
        };
        let (responses, before) = tokio::join!(waiting, published);
        let mut envelopes = Vec::new();
        for ((_, etag), response) in machines.iter_mut().zip(responses) {
            assert_eq!(response.status(), 200, "round {round}");
            *etag = response.headers()["etag"].to_str().unwrap().to_owned();
            envelopes.push(response.json::<Envelope>().await.unwrap());
        }
        // Asking again at once (within the second a reading serves) shares the reading; an
        // echo of the publish heard later would wake the machines and make another.
        let again = machines
            .iter()
            .zip(processes)
            .map(|((device, etag), app)| fetch(device, app, 2, Some(etag)));
        for response in futures_util::future::join_all(again).await {
            assert_eq!(response.status(), 304, "round {round}");
        }
        for ((device, _), envelope) in machines.iter().zip(&envelopes) {
            let delivered = device.open(envelope, None).unwrap();
            assert_eq!(delivered.baseline_version, 2 + round);
        }
        let after = readings().await;
        let made: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        assert_eq!(made, [1, 1], "readings per process in round {round}");
    }
}
