//! Values the Windows registry must carry as they were published: a proxy password holding
//! `%NAME%` stays text (`REG_SZ`) so that nothing expands it, a value meant to expand is
//! `REG_EXPAND_SZ`, a published change to a variable is a change, not drift, and a variable
//! the machine-scope agent set for every user is named where it shadows the user's file.

use serde_json::{json, Value};
use switchyard_tests::{Backend, TestApp};

use crate::prefix::{said, Prefix};
use crate::{blocking, USER_ENVIRONMENT};

fn profile(gem_host: &str) -> Value {
    json!({
        "proxy": {"http": "http://proxy.corp.example:3128",
                  "credentials": {"http://proxy.corp.example:3128":
                                  {"username": "dev", "password": {"value": "pa%USERNAME%ss"}}}},
        "env": {"GEM_HOST": gem_host, "TOOLS_HOME": "%USERPROFILE%\\.tools"},
        "npm": {"registry": "https://npm.corp.example/"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_with_percent_signs_stays_text_and_a_published_change_is_not_drift() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("workstation").await;
    app.publish_profile("staging", "baseline", profile("https://gems.corp.example"))
        .await;
    let token = app.enrollment_token("staging", "workstation", 1).await;
    let prefix = blocking(Prefix::new);
    // The machine-scope agent's npm setting, for every user: it wins over the user's .npmrc.
    blocking(|| {
        prefix.set_registry(
            "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment",
            "NPM_CONFIG_REGISTRY",
            "https://machine.corp.example/",
        )
    });
    let enrolled =
        blocking(|| prefix.agent(&["enroll", "--server", &app.base_url, "--token", &token]));
    assert!(enrolled.status.success(), "enroll: {}", said(&enrolled));
    let synced = blocking(|| prefix.agent(&["sync"]));
    assert_eq!(synced.status.code(), Some(0), "sync: {}", said(&synced));

    let printed = String::from_utf8_lossy(&synced.stdout);
    assert!(
        printed.lines().any(|line| line.starts_with("npmrc")
            && line.contains("shadowed")
            && line.contains("for every user of this machine (HKLM")),
        "{printed}"
    );
    let registry = blocking(|| prefix.registry(USER_ENVIRONMENT));
    let proxy = "http://dev:pa%25USERNAME%25ss@proxy.corp.example:3128/";
    assert_eq!(
        registry.get("HTTP_PROXY"),
        Some(&("REG_SZ".to_owned(), proxy.to_owned())),
        "{registry:?}"
    );
    assert_eq!(
        registry.get("TOOLS_HOME").map(|(kind, _)| kind.as_str()),
        Some("REG_EXPAND_SZ"),
        "{registry:?}"
    );
    // What a new process sees: the password as published, nothing expanded into it.
    let echoed = blocking(|| prefix.wine("cmd", &["/c", "echo", "%HTTP_PROXY%"]));
    assert!(
        String::from_utf8_lossy(&echoed.stdout).contains(proxy),
        "{}",
        said(&echoed)
    );

    // A published change to one variable: applied, and not taken for a change by hand.
    app.publish_profile("staging", "baseline", profile("https://gems2.corp.example"))
        .await;
    let changed = blocking(|| prefix.agent(&["sync"]));
    assert_eq!(changed.status.code(), Some(0), "sync: {}", said(&changed));
    assert!(
        !String::from_utf8_lossy(&changed.stdout).contains("by hand"),
        "{}",
        said(&changed)
    );
    let registry = blocking(|| prefix.registry(USER_ENVIRONMENT));
    assert_eq!(
        registry.get("GEM_HOST").map(|(_, value)| value.as_str()),
        Some("https://gems2.corp.example")
    );
    let devices: Vec<Value> = app.devices("staging").await;
    assert_eq!(devices[0]["healthy"], true, "{devices:?}");
    app.stop().await;
}
