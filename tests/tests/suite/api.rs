//! The HTTP surface every later feature builds on: health, errors, request ids, metrics, docs.

use reqwest::StatusCode;
use serde_json::Value;
use switchyard_proto::{ErrorBody, Health, VersionInfo};
use switchyard_tests::{for_each_store, Backend, TestApp};

async fn error_body(response: reqwest::Response) -> ErrorBody {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "every error is JSON"
    );
    response.json().await.expect("an error body")
}

async fn liveness_answers_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let health: Health = response.json().await.unwrap();
    assert_eq!(health.status, "ok");
}

async fn readiness_follows_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);

    app.store.close().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = error_body(response).await;
    assert_eq!(body.error.code, "database_unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

async fn version_is_the_build_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let version: VersionInfo = app.get("/api/v1/version").await.json().await.unwrap();
    assert_eq!(version.name, "switchyard-server");
    assert_eq!(version.version, env!("CARGO_PKG_VERSION"));
}

async fn unknown_route_is_a_json_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/nowhere", "/api/v1/nowhere", "/api/v2/version"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = error_body(response).await;
        assert_eq!(body.error.code, "route_not_found");
        assert!(body.error.message.contains(path), "{}", body.error.message);
    }
}

async fn wrong_method_is_a_json_405_naming_the_allowed_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .delete(app.url("/api/v1/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET");
    let body = error_body(response).await;
    assert_eq!(body.error.code, "method_not_allowed");
    assert!(
        body.error.message.contains("DELETE"),
        "{}",
        body.error.message
    );
}

async fn request_id_is_echoed_or_created(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "ticket-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "ticket-4711");

    let created = app.get("/healthz").await;
    let id = created.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    // An id that could forge log lines or flood them is replaced, not echoed.
    for unsafe_id in ["two words", "quote\"d", "semi;colon", &"a".repeat(129)] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", unsafe_id)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, unsafe_id);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

async fn error_bodies_carry_the_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    let body = error_body(response).await;
    assert_eq!(body.error.request_id.as_deref(), Some("trace-me"));
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.get("/nowhere/secret-looking-path").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let count_line = text
        .lines()
        .find(|line| {
            line.starts_with("switchyard_http_requests_total{")
                && line.contains(r#"endpoint="/healthz""#)
                && line.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no request count for /healthz in:\n{text}"));
    assert!(count_line.ends_with(" 3"), "{count_line}");
    assert!(
        text.contains("switchyard_http_requests_duration_seconds_bucket{"),
        "latency histogram missing:\n{text}"
    );
    // Unknown paths share one label, so scanners cannot blow up the number of series.
    assert!(!text.contains("secret-looking-path"), "{text}");
    assert!(text.contains(r#"endpoint="unmatched""#), "{text}");
}

async fn api_description_and_its_viewer_are_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let generated = serde_json::to_value(switchyard_server::http::api_description()).unwrap();
    assert_eq!(served, generated);

    let viewer = app.get("/docs/").await;
    assert_eq!(viewer.status(), StatusCode::OK);
    assert!(viewer.text().await.unwrap().contains("swagger-ui"));
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("/api/v1/openapi.json"),
        "{initializer}"
    );
}

async fn path_variants_and_unknown_methods_are_refused_cleanly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A trailing slash is another path, not another method.
    let response = app.get("/healthz/").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(response).await.error.code, "route_not_found");

    // TRACE is a method HTTP defines that no route serves: 405, naming those it does.
    let response = app
        .client
        .request(reqwest::Method::TRACE, app.url("/api/v1/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET");

    // Invented methods are refused before they reach the metrics.
    let method = reqwest::Method::from_bytes(b"BREW").unwrap();
    let response = app
        .client
        .request(method, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        error_body(response).await.error.code,
        "method_not_implemented"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("BREW"), "{metrics}");
    // Yet they are counted, in a series of their own.
    assert!(
        metrics
            .lines()
            .any(|line| line == "switchyard_http_requests_unknown_method_total 1"),
        "{metrics}"
    );
}

async fn docs_without_a_slash_lead_to_the_viewer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()["location"], "/docs/");
}

for_each_store!(
    path_variants_and_unknown_methods_are_refused_cleanly,
    docs_without_a_slash_lead_to_the_viewer,
    liveness_answers_ok,
    readiness_follows_the_database,
    version_is_the_build_version,
    unknown_route_is_a_json_404,
    wrong_method_is_a_json_405_naming_the_allowed_ones,
    request_id_is_echoed_or_created,
    error_bodies_carry_the_request_id,
    metrics_count_requests_by_route_and_status,
    api_description_and_its_viewer_are_served,
);
