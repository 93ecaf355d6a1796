//! The agent's probes of the endpoints its profile names, against real servers on loopback:
//! each is reached the way its clients reach it (through the profile's proxy with its login,
//! or directly for `no-proxy` hosts), no token goes anywhere, no redirect is followed, and the
//! results reach the server with the machine's status report.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;
use switchyard_agent::agent::summary;
use switchyard_agent::probe::{endpoints, probe_all};
use switchyard_agent::state::StateDir;
use switchyard_proto::devices::{
    DeviceStatus, EndpointKind, EndpointProbe, MirrorHealth, ProbeOutcome,
};
use switchyard_proto::Profile;
use switchyard_tests::recorder::Recorder;
use switchyard_tests::{Backend, TestApp, TestDevice};

use crate::agent::{agent_for, enrolled, Home};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A loopback server that accepts connections and never answers, for as long as it lives.
fn silent() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A loopback server that answers every request with a redirect to `location`.
fn redirecting(location: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = [0; 4096];
            let _ = stream.read(&mut head);
            let answer =
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

/// `device` sends `report` as its status report.
async fn send_report(
    app: &TestApp,
    device: &TestDevice,
    report: &serde_json::Value,
) -> reqwest::Response {
    device
        .call(
            app,
            reqwest::Method::POST,
            "/api/v1/agent/status",
            Some(report),
            None,
        )
        .await
}

fn profile(value: serde_json::Value) -> Profile {
    serde_json::from_value(value).unwrap()
}

fn probe_of(probes: &[EndpointProbe], kind: EndpointKind) -> &EndpointProbe {
    probes
        .iter()
        .find(|probe| probe.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} probe in {probes:?}"))
}

#[test]
fn each_endpoint_is_probed_the_way_its_clients_reach_it_and_no_token_goes_anywhere() {
    let registry = Recorder::start(false);
    let proxy = Recorder::start(true);
    let (_silent, silent_port) = silent();
    let closed = closed_port();
    let token = "npm-t0ken-never-sent";
    let profile = profile(json!({
        // Through the proxy: an http URL whose host no-proxy does not name.
        "npm": {"registry": format!("http://127.0.0.1:{}/", registry.port),
                "auth-tokens": {format!("http://127.0.0.1:{}/", registry.port): {"value": token}}},
        // Directly: no-proxy names localhost.
        "pypi": {"index-url": format!("http://localhost:{}/simple/", registry.port)},
        "go": {"proxy": [{"source": format!("http://localhost:{closed}/")}, {"source": "direct"}]},
        "git": {"rewrites": [{"base": format!("http://localhost:{silent_port}/mirror/"),
                              "instead-of": ["https://github.com/"]}]},
        "proxy": {"http": format!("http://127.0.0.1:{}", proxy.port),
                  "no-proxy": ["localhost"],
                  "credentials": {format!("http://127.0.0.1:{}", proxy.port):
                                  {"username": "svc dev", "password": {"value": "p@ss:w/rd%41"}}}}
    }));
    let found = endpoints(&profile);
    let kinds: Vec<EndpointKind> = found.iter().map(|endpoint| endpoint.kind).collect();
    assert_eq!(
        kinds,
        [
            EndpointKind::NpmRegistry,
            EndpointKind::PipIndex,
            EndpointKind::GoProxy,
            EndpointKind::GitBase,
            EndpointKind::HttpProxy
        ],
        "`direct` is no endpoint: {found:?}"
    );

    let probes = probe_all(&found, Duration::from_secs(1));

    let npm = probe_of(&probes, EndpointKind::NpmRegistry);
    assert_eq!(npm.outcome, ProbeOutcome::Reachable, "{npm:?}");
    assert_eq!(npm.status, Some(404), "{npm:?}");
    assert!(npm.latency_ms.is_some());
    let pip = probe_of(&probes, EndpointKind::PipIndex);
    assert_eq!(pip.outcome, ProbeOutcome::Reachable, "{pip:?}");
    let go = probe_of(&probes, EndpointKind::GoProxy);
    assert_eq!(go.outcome, ProbeOutcome::Refused, "{go:?}");
    assert!(go.message.is_some(), "{go:?}");
    let git = probe_of(&probes, EndpointKind::GitBase);
    assert_eq!(git.outcome, ProbeOutcome::Timeout, "{git:?}");
    let through = probe_of(&probes, EndpointKind::HttpProxy);
    assert_eq!(through.outcome, ProbeOutcome::Reachable, "{through:?}");
    assert_eq!(
        through.endpoint.as_str(),
        format!("http://127.0.0.1:{}/", proxy.port)
    );

    // The proxy carried npm's ping (npm's, then its own probe's), with its own login as set,
    // and nothing else's.
    let carried = proxy.requests();
    let ping = format!("http://127.0.0.1:{}/-/ping HTTP/1.1", registry.port);
    let mut lines: Vec<&str> = carried
        .iter()
        .map(|request| request.line.as_str())
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [format!("GET {ping}"), format!("HEAD {ping}")],
        "{carried:?}"
    );
    for request in &carried {
        assert_eq!(
            request.basic_login("proxy-authorization").as_deref(),
            Some("svc dev:p@ss:w/rd%41")
        );
    }
    // pip's index was asked directly, for its root; no token and no login reached it.
    let direct = registry.requests();
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert_eq!(
        direct[0].line, "HEAD /simple/ HTTP/1.1",
        "a HEAD: the root lists everything"
    );
    for request in carried.iter().chain(&direct) {
        assert_eq!(request.header("authorization"), None, "{request:?}");
        assert!(!format!("{request:?}").contains(token), "{request:?}");
    }
    // Nor does a report carry it.
    assert!(!serde_json::to_string(&probes).unwrap().contains(token));
    assert!(!serde_json::to_string(&probes).unwrap().contains("p@ss"));
}

/// A probe URL ops set for an endpoint is fetched instead of the probe for its kind, with no
/// token; one set for a URL the profile does not name is not used.
#[test]
fn a_probe_url_set_by_ops_is_asked_instead() {
    let registry = Recorder::start(false);
    let origin = format!("http://127.0.0.1:{}", registry.port);
    let profile = profile(json!({
        "npm": {"registry": format!("{origin}/npm/"),
                "auth-tokens": {format!("{origin}/npm/"): {"value": "npm-t0ken"}}},
        "pypi": {"index-url": format!("{origin}/simple/")},
        "probe-urls": {
            format!("{origin}/npm"): format!("{origin}/api/health?deep=1"),
            format!("{origin}/unnamed/"): format!("{origin}/never")
        }
    }));
    assert_eq!(profile.validate(), Vec::new());
    let probes = probe_all(&endpoints(&profile), Duration::from_secs(2));
    assert!(
        probes.iter().all(|p| p.outcome == ProbeOutcome::Reachable),
        "{probes:?}"
    );
    let mut lines: Vec<String> = registry.requests().into_iter().map(|r| r.line).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["GET /api/health?deep=1 HTTP/1.1", "HEAD /simple/ HTTP/1.1"],
        "npm's ping is replaced, pip's is not"
    );
    assert!(registry
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));

    let elsewhere = self::profile(json!({"probe-urls": {
        format!("{origin}/npm/"): "http://127.0.0.2:9/health"
    }}));
    let problems = elsewhere.validate();
    assert!(
        problems[0].message.contains("own scheme, host and port"),
        "{problems:?}"
    );
}

#[test]
fn a_redirect_is_not_followed_and_a_refused_proxy_login_is_told_apart() {
    let elsewhere = Recorder::start(false);
    let redirect = redirecting(format!("http://localhost:{}/", elsewhere.port));
    let proxy = Recorder::start(true);
    let profile = profile(json!({
        "pypi": {"index-url": format!("http://localhost:{redirect}/simple/")},
        "npm": {"registry": format!("http://127.0.0.1:{}/", elsewhere.port)},
        // No login for the proxy: it answers 407.
        "proxy": {"http": format!("http://127.0.0.1:{}", proxy.port), "no-proxy": ["localhost"]}
    }));
    let probes = probe_all(&endpoints(&profile), Duration::from_secs(2));

    let pip = probe_of(&probes, EndpointKind::PipIndex);
    assert_eq!(pip.outcome, ProbeOutcome::Reachable, "{pip:?}");
    assert_eq!(pip.status, Some(302), "{pip:?}");
    let npm = probe_of(&probes, EndpointKind::NpmRegistry);
    assert_eq!(npm.outcome, ProbeOutcome::ProxyLogin, "{npm:?}");
    let through = probe_of(&probes, EndpointKind::HttpProxy);
    assert_eq!(through.outcome, ProbeOutcome::ProxyLogin, "{through:?}");
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect led nowhere, and the proxy carried nothing: {:?}",
        elsewhere.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reports_what_the_machine_reaches_to_the_server() {
    let registry = Recorder::start(false);
    let closed = closed_port();
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({
            "npm": {"registry": format!("http://localhost:{}/", registry.port)},
            "pypi": {"index-url": format!("http://localhost:{closed}/simple/")}
        }),
    )
    .await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (_, synced) = enrolled(agent, &app.base_url, token, |agent| agent.sync(0)).await;
    synced.unwrap();

    let devices: Vec<DeviceStatus> = app.devices("staging").await;
    let report = devices[0].report.as_ref().expect("a report");
    let npm = probe_of(&report.probes, EndpointKind::NpmRegistry);
    assert_eq!(npm.outcome, ProbeOutcome::Reachable, "{npm:?}");
    assert_eq!(
        npm.endpoint.as_str(),
        format!("http://localhost:{}/", registry.port)
    );
    let pip = probe_of(&report.probes, EndpointKind::PipIndex);
    assert_eq!(pip.outcome, ProbeOutcome::Refused, "{pip:?}");
    // A failed probe is the endpoint's health, not the machine's: the settings are applied.
    assert_eq!(devices[0].healthy, Some(true), "{devices:?}");
    assert_eq!(
        registry.requests()[0].line,
        "GET /-/ping HTTP/1.1",
        "npm's own ping"
    );
    // The environment's health view counts them.
    let admin = app.admin_token().await;
    let health: MirrorHealth = app
        .get_as(&admin, "/api/v1/environments/staging/mirror-health")
        .await
        .json()
        .await
        .unwrap();
    let row = |kind: EndpointKind| {
        health
            .endpoints
            .iter()
            .find(|row| row.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} in {health:?}"))
    };
    let npm_row = row(EndpointKind::NpmRegistry);
    assert_eq!((npm_row.machines, npm_row.reachable), (1, 1), "{health:?}");
    assert_eq!(npm_row.machine_role, "backend");
    assert!(npm_row.latency_ms.is_some(), "{health:?}");
    let pip_row = row(EndpointKind::PipIndex);
    assert_eq!((pip_row.machines, pip_row.reachable), (1, 0), "{health:?}");
    assert_eq!(pip_row.outcomes["refused"], 1, "{health:?}");
    assert_eq!(pip_row.latency_ms, None);
    // `status` shows them too.
    let view = summary(&StateDir::new(state.path().to_owned())).unwrap();
    assert_eq!(view["probes"][0]["kind"], "npm-registry", "{view:?}");
    assert_eq!(view["probes"][1]["outcome"], "refused", "{view:?}");
    assert!(view.contains_key("probed_at"));
}

/// A probe as a machine reports it.
fn reported(
    endpoint: &str,
    kind: &str,
    outcome: &str,
    latency_ms: Option<u32>,
) -> serde_json::Value {
    let mut probe = json!({"endpoint": endpoint, "kind": kind, "outcome": outcome,
                           "checked_at": "2026-11-30T04:00:00Z"});
    if let Some(latency) = latency_ms {
        probe["latency_ms"] = json!(latency);
        probe["status"] = json!(200);
    }
    probe
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_view_adds_up_the_latest_probes_per_endpoint_and_role() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_environment("office-b", false).await;
    app.create_machine_role("backend").await;
    app.create_machine_role("frontend").await;
    let mirror = "https://npm-new.corp.example/";
    let mut machines = Vec::new();
    for (role, count) in [("backend", 10), ("frontend", 5)] {
        let token = app.enrollment_token("office-b", role, count).await;
        for _ in 0..count {
            machines.push((role, TestDevice::enroll(&app, &token).await.unwrap()));
        }
    }
    // Backend machines 0-5 reach the mirror (5, 10, ... 30 ms); 6-9 get refused; frontend
    // machines all time out. One backend machine reports twice: only its latest counts.
    for (i, (role, device)) in machines.iter().enumerate() {
        let probe = match (*role, i) {
            ("backend", 0..=5) => reported(
                mirror,
                "npm-registry",
                "reachable",
                Some(5 * (i as u32 + 1)),
            ),
            ("backend", _) => reported(mirror, "npm-registry", "refused", None),
            _ => reported(mirror, "npm-registry", "timeout", None),
        };
        let report = json!({"sequence": 1, "baseline_version": 0, "overlay_version": 0,
                            "targets": [], "probes": [probe]});
        let response = send_report(&app, device, &report).await;
        assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    }
    let late = json!({"sequence": 1, "baseline_version": 0, "overlay_version": 0, "targets": [],
                      "probes": [reported(mirror, "npm-registry", "refused", None)]});
    let response = send_report(&app, &machines[0].1, &late).await;
    assert_eq!(response.status(), 204);
    // A revoked machine no longer counts.
    let admin = app.admin_token().await;
    let revoked = &machines[14].1;
    let response = app
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/environments/office-b/devices/{}/revoke",
                revoked.id
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);

    let health: MirrorHealth = app
        .get_as(&admin, "/api/v1/environments/office-b/mirror-health")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health.endpoints.len(), 2, "{health:?}");
    let backend = &health.endpoints[0];
    assert_eq!(backend.machine_role, "backend");
    assert_eq!(backend.endpoint, mirror);
    assert_eq!(
        (backend.machines, backend.reachable),
        (10, 5),
        "{backend:?}"
    );
    assert_eq!(backend.outcomes["reachable"], 5);
    assert_eq!(backend.outcomes["refused"], 5);
    // Machines 1-5 answered in 10, 15, 20, 25 and 30 ms.
    let latency = backend.latency_ms.unwrap();
    assert_eq!((latency.p50, latency.p90, latency.p99), (20, 30, 30));
    let frontend = &health.endpoints[1];
    assert_eq!(
        (frontend.machines, frontend.reachable),
        (4, 0),
        "{frontend:?}"
    );
    assert_eq!(frontend.outcomes["timeout"], 4);
    assert_eq!(frontend.latency_ms, None);

    // More than a report may carry is refused.
    let many: Vec<serde_json::Value> = (0..65)
        .map(|i| {
            reported(
                &format!("https://m{i}.corp.example/"),
                "go-proxy",
                "reachable",
                Some(1),
            )
        })
        .collect();
    let too_many = json!({"sequence": 1, "baseline_version": 0, "overlay_version": 0,
                          "targets": [], "probes": many});
    let response = send_report(&app, &machines[1].1, &too_many).await;
    assert_eq!(response.status(), 422);

    // A machine's word on which fallback it uses is taken only in the shape an agent gives it:
    // a kind with fallbacks, 1 to 4 of them, each once, in_use among them, each mirror once.
    let mirror_entry = |kind: &str, fallbacks: Vec<&str>, in_use: &str| {
        json!({"kind": kind, "primary": "https://a/", "fallbacks": fallbacks, "in_use": in_use,
               "since": "2026-11-30T10:00:00Z"})
    };
    let good = mirror_entry("npm-registry", vec!["https://b/"], "https://b/");
    for (mirrors, words) in [
        (
            vec![mirror_entry("go-proxy", vec!["https://b/"], "https://b/")],
            "has no fallbacks",
        ),
        (
            vec![mirror_entry("npm-registry", vec![], "https://a/")],
            "1 to 4 fallbacks",
        ),
        (
            vec![mirror_entry(
                "npm-registry",
                vec!["https://b/"; 5],
                "https://a/",
            )],
            "1 to 4 fallbacks",
        ),
        (
            vec![mirror_entry(
                "npm-registry",
                vec!["https://a/"],
                "https://a/",
            )],
            "twice",
        ),
        (
            vec![mirror_entry("pip-index", vec!["https://b/"], "https://c/")],
            "neither the mirror",
        ),
        (vec![good.clone(), good.clone()], "an earlier entry"),
    ] {
        let report = json!({"sequence": 1, "baseline_version": 0, "overlay_version": 0,
                            "targets": [], "mirrors": mirrors});
        let response = send_report(&app, &machines[1].1, &report).await;
        assert_eq!(response.status(), 422, "{words}");
        let body = response.text().await.unwrap();
        assert!(body.contains(words), "{words}: {body}");
    }
    let fine = json!({"sequence": 1, "baseline_version": 0, "overlay_version": 0,
                      "targets": [], "mirrors": [good]});
    let response = send_report(&app, &machines[1].1, &fine).await;
    assert_eq!(response.status(), 204);
}

#[test]
fn npm_takes_its_https_proxy_for_every_registry_and_an_https_one_is_tunnelled_with_the_login() {
    let proxy = Recorder::start(true);
    let registry = Recorder::start(false);
    let profile = profile(json!({
        // npm's own https-proxy carries its http registry too; pip's https index goes through
        // proxy.https in a CONNECT tunnel.
        "npm": {"registry": format!("http://127.0.0.1:{}/", registry.port),
                "https-proxy": format!("http://127.0.0.1:{}", proxy.port)},
        "pypi": {"index-url": format!("https://127.0.0.1:{}/simple/", registry.port)},
        "go": {"proxy": [{"source": format!("http://127.0.0.2:{}/", registry.port)}]},
        "proxy": {"https": format!("http://127.0.0.1:{}", proxy.port),
                  "no-proxy": ["127.0.0.2/32"],
                  "credentials": {format!("http://127.0.0.1:{}", proxy.port):
                                  {"username": "svc", "password": {"value": "s3cret"}}}}
    }));
    let found = endpoints(&profile);
    let probes = probe_all(&found, Duration::from_secs(1));

    let npm = probe_of(&probes, EndpointKind::NpmRegistry);
    assert_eq!(npm.outcome, ProbeOutcome::Reachable, "{npm:?}");
    // The recorder as a proxy answers a CONNECT with 404: it will not open the tunnel.
    let pip = probe_of(&probes, EndpointKind::PipIndex);
    assert_eq!(pip.outcome, ProbeOutcome::Refused, "{pip:?}");
    // 127.0.0.2 is in no-proxy's 127.0.0.2/32: asked directly, not through the proxy.
    assert!(probes
        .iter()
        .any(|probe| probe.kind == EndpointKind::GoProxy));
    let carried = proxy.requests();
    let tunnel = carried
        .iter()
        .find(|request| request.line.starts_with("CONNECT "))
        .unwrap_or_else(|| panic!("no CONNECT in {carried:?}"));
    assert_eq!(
        tunnel.line,
        format!("CONNECT 127.0.0.1:{} HTTP/1.1", registry.port)
    );
    assert_eq!(
        tunnel.basic_login("proxy-authorization").as_deref(),
        Some("svc:s3cret")
    );
    assert!(
        carried
            .iter()
            .all(|request| !request.line.contains("127.0.0.2")),
        "{carried:?}"
    );
    let npm_ping = format!("GET http://127.0.0.1:{}/-/ping HTTP/1.1", registry.port);
    assert!(
        carried.iter().any(|request| request.line == npm_ping),
        "{carried:?}"
    );
}
