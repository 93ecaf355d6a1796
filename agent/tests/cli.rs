//! The agent's command line exists in full; commands not built yet say so and exit with 3.

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
fn commands_not_built_yet_exit_3_and_say_so() {
    let output = Command::new(BINARY)
        .args(["--scope", "machine", "sync"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("`sync` is not available"), "{stderr}");
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
