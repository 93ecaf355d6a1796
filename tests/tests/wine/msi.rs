//! The agent's MSI, built with wixl from `agent/windows/switchyard-agent.wxs`: a silent install
//! with the server and an enrollment token installs the service, which enrolls once and keeps
//! the machine in sync; the token does not stay in the registry; uninstalling removes it all,
//! gives the machine its own settings back, has the server revoke it and deletes its state.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use switchyard_tests::repository_root;

use crate::prefix::{said, windows_path, Prefix};
use crate::service::{GIT_FOR_WINDOWS, MACHINE_ENVIRONMENT};
use crate::{blocking, published, until};

const SETTINGS: &str = "HKLM\\SOFTWARE\\Switchyard\\Agent";

fn build_msi(agent: &Path, into: &Path) {
    // wixl takes a file's source relative to the folder it runs in.
    let built = Command::new("wixl")
        .current_dir(agent.parent().unwrap())
        .args(["-a", "x64", "-D", "Version=0.1.0", "-D"])
        .arg(format!(
            "AgentExe={}",
            agent.file_name().unwrap().to_string_lossy()
        ))
        .arg("-o")
        .arg(into)
        .arg(repository_root().join("agent/windows/switchyard-agent.wxs"))
        .output()
        .expect("wixl (Debian package wixl) builds the MSI; scripts/test-windows installs it");
    assert!(built.status.success(), "wixl: {}", said(&built));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_msi_install_enrolls_once_keeps_the_machine_in_sync_and_uninstalls() {
    let (app, token) = published("https://goproxy.corp.example/").await;
    let prefix = blocking(Prefix::new);
    prefix.keep_alive();
    let folder = tempfile::tempdir().unwrap();
    let msi = folder.path().join("switchyard-agent.msi");
    build_msi(&prefix.agent, &msi);
    let msi = windows_path(&msi);

    let server = format!("SERVER={}", app.base_url);
    let enroll_token = format!("ENROLLTOKEN={token}");
    let installed =
        blocking(|| prefix.wine("msiexec", &["/i", &msi, "/qn", &server, &enroll_token]));
    assert!(installed.status.success(), "install: {}", said(&installed));
    let program_files = blocking(|| prefix.folder("ProgramW6432"));
    assert!(program_files
        .join("Switchyard/switchyard-agent.exe")
        .is_file());
    let query = blocking(|| prefix.wine("sc", &["query", "SwitchyardAgent"]));
    assert!(
        String::from_utf8_lossy(&query.stdout).contains("RUNNING"),
        "{}",
        said(&query)
    );

    // The service enrolls with the token, deletes it and applies the machine's profile.
    blocking(|| {
        until(
            Duration::from_secs(60),
            "the service enrolls and applies",
            || {
                prefix
                    .registry(MACHINE_ENVIRONMENT)
                    .get("GOPROXY")
                    .map(|(_, v)| v.as_str())
                    == Some("https://goproxy.corp.example/,direct")
            },
        )
    });
    let settings = blocking(|| prefix.registry(SETTINGS));
    assert!(
        !settings.contains_key("EnrollmentToken"),
        "the token stays readable: {settings:?}"
    );
    assert_eq!(
        settings.get("Server").map(|(_, v)| v.as_str()),
        Some(app.base_url.as_str()),
        "the installer's settings: {settings:?}"
    );
    let devices: Vec<Value> = app.devices("staging").await;
    assert_eq!(devices.len(), 1, "enrolled once: {devices:?}");
    // No Git for Windows here: no machine-wide git file in its usual place, nor anywhere.
    assert!(blocking(|| prefix.registry(GIT_FOR_WINDOWS)).is_empty());
    assert!(!program_files.join("Git").exists());
    let state = blocking(|| prefix.folder("ProgramData")).join("Switchyard");
    assert!(state.join("device.key").is_file());

    let removed = blocking(|| prefix.wine("msiexec", &["/x", &msi, "/qn"]));
    assert!(removed.status.success(), "uninstall: {}", said(&removed));
    assert!(!program_files
        .join("Switchyard/switchyard-agent.exe")
        .exists());
    let query = blocking(|| prefix.wine("sc", &["query", "SwitchyardAgent"]));
    assert!(
        !query.status.success(),
        "the service stays: {}",
        said(&query)
    );
    let left = blocking(|| prefix.registry(MACHINE_ENVIRONMENT));
    assert!(
        !left.contains_key("GOPROXY"),
        "uninstalling gives the machine its settings back: {left:?}"
    );
    // The server revoked the machine at its request, and its key and last delivery are gone.
    let devices: Vec<Value> = app.devices("staging").await;
    assert!(
        !devices[0]["revoked_at"].is_null(),
        "uninstalling revokes the machine: {devices:?}"
    );
    assert!(!state.exists(), "the state folder stays");
    app.stop().await;
}
