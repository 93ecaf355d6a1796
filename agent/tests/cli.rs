//! The agent's command line: every command listed, documented exit codes.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_switchyard-agent");

#[test]
fn help_lists_every_command() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in [
        "enroll", "sync", "run", "status", "diff", "doctor", "restore",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    assert!(
        help.contains("--scope") && help.contains("--state-dir"),
        "{help}"
    );
}

#[test]
fn a_machine_not_enrolled_says_so_and_exits_3() {
    let home = tempfile::tempdir().unwrap();
    for command in ["sync", "status"] {
        let output = Command::new(BINARY)
            .env("HOME", home.path())
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .arg(command)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3), "{command}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("not enrolled"), "{stderr}");
    }
    // Machine scope keeps its state apart; not enrolled there either.
    let output = Command::new(BINARY)
        .env("HOME", home.path())
        .args(["--scope", "machine", "--state-dir"])
        .arg(home.path().join("machine-state"))
        .arg("sync")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let output = Command::new(BINARY)
        .env("HOME", home.path())
        .env("GOPROXY", "direct")
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report.contains("npmrc: ") && report.contains("managed: nothing"),
        "{report}"
    );
}

#[test]
fn a_damaged_state_folder_is_named_and_nothing_is_written() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("identity.json"), "{ not json").unwrap();
    let output = Command::new(BINARY)
        .env("HOME", home.path())
        .arg("--state-dir")
        .arg(&state)
        .arg("sync")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("identity.json") && stderr.contains("damaged"),
        "{stderr}"
    );
    assert!(!home.path().join(".npmrc").exists());
}

#[test]
fn bad_arguments_exit_2() {
    let output = Command::new(BINARY)
        .args(["--scope", "planet", "sync"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(BINARY).arg("enroll").output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "enroll needs --server and --token"
    );
}
