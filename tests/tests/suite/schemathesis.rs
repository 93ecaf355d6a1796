//! schemathesis against the OpenAPI description the real server serves, for a bounded time:
//! examples, the coverage phase (every boundary of every parameter and body, and methods no
//! route serves), fuzzing, and stateful sequences that follow the description's links. Every
//! answer must be no server error, have a status the operation documents, and match its
//! declared content type, headers and schema.
//!
//! schemathesis is installed, pinned, under `target/clients/schemathesis` by `scripts/test`;
//! without it the test fails and says so. `SWITCHYARD_SCHEMATHESIS_SECS` bounds the run (120 s
//! by default). It runs with an API token: the operations that would end that token's use
//! (revoking it, disabling or demoting its admin) are left out, and the token is checked to
//! still work at the end, so that a run locked out half-way cannot pass unnoticed.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};
use switchyard_tests::{repository_root, Backend, TestApp};

/// The checks run on every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance";

/// Operations left out: each would take the run's own token away.
const LEFT_OUT: [&str; 3] = ["revoke_token", "disable_user", "set_global_role"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_the_description_does_not_allow() {
    let installed = repository_root().join("target/clients/schemathesis");
    assert!(
        installed.join("schemathesis").is_dir(),
        "schemathesis is not installed under {}: run the README's test command (scripts/test), \
         which installs the pinned version",
        installed.display()
    );
    let seconds: u64 = std::env::var("SWITCHYARD_SCHEMATHESIS_SECS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(120);

    let app = TestApp::spawn(Backend::Sqlite).await;
    // Something to find: an environment with a role, a published profile, an enrollment token.
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({"go": {"proxy": [{"source": "https://goproxy.corp.example/"}]}}),
    )
    .await;
    app.enrollment_token("staging", "backend", 5).await;
    let admin = app.admin_token().await;
    let created: Value = app
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            Some(&json!({"name": "schemathesis", "expires_in_days": 1})),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["secret"].as_str().unwrap().to_owned();

    let reports = tempfile::tempdir().unwrap();
    // The methods no route serves are probed among those HTTP defines (RFC 9110, PATCH):
    // 405 with `Allow`. Any other (schemathesis tries the draft QUERY) is 501, which RFC 9110
    // (15.6.2) names for a method the server does not recognize and `api.rs` pins; every 5xx
    // counts as a server error here.
    let config = reports.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[phases.coverage]\nunexpected-methods = \
         [\"get\", \"put\", \"post\", \"delete\", \"options\", \"patch\", \"trace\"]\n",
    )
    .unwrap();
    // Bounded whatever happens: killed at twice its time and a minute more.
    let mut command = Command::new("timeout");
    // From the reports' folder: schemathesis keeps a folder of its own where it runs.
    command
        .current_dir(reports.path())
        .env("PYTHONPATH", &installed)
        .arg((seconds * 2 + 60).to_string())
        .args(["python3", "-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "50", "--max-time", &seconds.to_string()])
        .args(["--seed", "22", "--workers", "1", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "json", "--report-dir"])
        .arg(reports.path());
    for operation in LEFT_OUT {
        command.args(["--exclude-operation-id", operation]);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("timeout (coreutils) runs python3 with schemathesis");
    let said = String::from_utf8_lossy(&output.stdout);

    let report = std::fs::read_dir(reports.path())
        .unwrap()
        .flatten()
        .find(|entry| entry.path().extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| {
            panic!(
                "schemathesis wrote no report:\n{said}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let report: Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    println!(
        "schemathesis {}: {} operations tested of {}, {} cases in {:.0} s, {} with failures",
        report["schemathesis_version"].as_str().unwrap_or("?"),
        report["operations"]["tested"],
        report["operations"]["total"],
        report["test_cases"]["generated"],
        report["running_time"].as_f64().unwrap_or_default(),
        report["test_cases"]["with_failures"],
    );
    assert!(
        output.status.success() && report["test_cases"]["with_failures"] == 0,
        "schemathesis found failures:\n{said}"
    );
    let operations = &report["operations"];
    assert_eq!(
        operations["tested"].as_u64(),
        operations["total"]
            .as_u64()
            .map(|all| all - LEFT_OUT.len() as u64),
        "every operation but those left out is tested:\n{said}"
    );
    // The run kept its credentials to the end.
    assert_eq!(app.get_as(&token, "/api/v1/me").await.status(), 200);
}
