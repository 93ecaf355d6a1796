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
        "enroll", "sync", "run", "status", "diff", "doctor", "restore", "remove", "service",
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

#[cfg(target_os = "linux")]
#[test]
fn a_disk_that_refuses_writes_leaves_every_file_whole_and_says_so() {
    use switchyard_agent::engine::{apply_all, Paths};
    use switchyard_agent::plan::{plan, Target};
    use switchyard_agent::state::StateDir;

    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let home_text = home.path().to_string_lossy().into_owned();
    let paths = Paths::user(|name| (name == "HOME").then(|| home_text.clone())).unwrap();
    let npmrc = paths.files[&Target::Npmrc].clone();
    std::fs::write(&npmrc, "registry=https://old/\n").unwrap();
    let profile = serde_json::from_value(serde_json::json!({
        "npm": {"registry": "https://npm.corp.example/"},
        "go": {"proxy": [{"source": "direct"}]}
    }))
    .unwrap();
    apply_all(&StateDir::new(state.clone()), &paths, &plan(&profile)).unwrap();
    let applied = std::fs::read(&npmrc).unwrap();

    // `restore` on a disk that takes no more bytes (a file size limit of 0).
    let output = Command::new("bash")
        .args([
            "-c",
            "ulimit -f 0; trap '' XFSZ; exec \"$0\" --state-dir \"$1\" restore",
        ])
        .arg(BINARY)
        .arg(&state)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("not restored") || said.contains("too large"),
        "{said}"
    );
    assert_eq!(std::fs::read(&npmrc).unwrap(), applied, "whole, as it was");

    // With room again, restore finishes the job.
    let output = Command::new(BINARY)
        .arg("--state-dir")
        .arg(&state)
        .arg("restore")
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&npmrc).unwrap(),
        "registry=https://old/\n"
    );
}

/// Without a running systemd (as in a container) `systemctl` fails after the unit is written;
/// with one it succeeds. Either way the unit must be one systemd accepts.
#[cfg(unix)]
#[test]
fn service_install_writes_a_unit_systemd_accepts_and_uninstall_removes_it() {
    let home = tempfile::tempdir().unwrap();
    let agent = |action: &str| {
        let output = Command::new(BINARY)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .arg("--state-dir")
            .arg(home.path().join("state"))
            .args(["service", action])
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            output.status.success()
                || (output.status.code() == Some(1) && stderr.contains(" but `systemctl --user")),
            "{action}: {stderr}"
        );
    };
    agent("install");
    let unit = home
        .path()
        .join(".config/systemd/user/switchyard-agent.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let state = home.path().join("state");
    assert!(
        text.contains(&format!(
            "ExecStart=\"{BINARY}\" \"--scope\" \"user\" \"--state-dir\" \"{}\" \"run\"\n",
            state.display()
        )),
        "{text}"
    );
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian package systemd) checks the unit");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    agent("uninstall");
    assert!(!unit.exists());
}

#[test]
fn service_run_by_hand_says_what_starts_it() {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .env("HOME", home.path())
        .arg("--state-dir")
        .arg(home.path().join("state"))
        .args(["service", "run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("service manager"), "{stderr}");
}

/// `doctor` asks each installed client what it reads and names what it reads instead of the
/// agent's file, and where. (The Windows agent does not ask the clients yet.)
#[cfg(unix)]
#[test]
fn doctor_names_what_each_client_reads_before_the_agents_file() {
    use switchyard_agent::engine::{apply_all, Paths};
    use switchyard_agent::plan::plan;
    use switchyard_agent::state::StateDir;
    let home = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut env: std::collections::BTreeMap<String, String> =
        ["PATH", "PYENV_ROOT", "PYENV_VERSION"]
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
            .collect();
    env.insert("HOME".into(), home.path().to_string_lossy().into_owned());
    env.insert("GIT_CONFIG_NOSYSTEM".into(), "1".into());
    let paths = Paths::user(|name| env.get(name).cloned()).unwrap();
    let profile = serde_json::from_value(serde_json::json!({
        "go": {"proxy": [{"source": "https://goproxy.corp.example/"}]},
        "npm": {"registry": "https://npm.corp.example/"},
        "git": {"rewrites": [{"base": "https://git.corp.example/", "instead-of": ["https://github.com/"]}]}
    }))
    .unwrap();
    apply_all(
        &StateDir::new(state.path().to_owned()),
        &paths,
        &plan(&profile),
    )
    .unwrap();
    let doctor = |extra: &[(&str, &str)]| {
        let output = Command::new(BINARY)
            .env_clear()
            .envs(&env)
            .envs(extra.iter().copied())
            .arg("--state-dir")
            .arg(state.path())
            .arg("doctor")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stdout).unwrap()
    };
    let clean = doctor(&[]);
    for client in ["npm", "go", "git"] {
        assert!(
            clean.contains(&format!(
                "  {client} reads every managed setting as published"
            )),
            "{clean}"
        );
    }
    let shadowed = doctor(&[
        ("GOPROXY", "off"),
        ("npm_config_registry", "https://elsewhere.example.org/"),
        ("GIT_CONFIG_COUNT", "1"),
        (
            "GIT_CONFIG_KEY_0",
            "url.https://elsewhere.example.org/.insteadOf",
        ),
        ("GIT_CONFIG_VALUE_0", "https://github.com/corp/"),
    ]);
    for reason in [
        "shadowed: go reads GOPROXY=off from the environment",
        "shadowed: npm reads registry = https://elsewhere.example.org/ from the env config",
    ] {
        assert!(shadowed.contains(reason), "{reason} not in:\n{shadowed}");
    }
    // A longer prefix wins for URLs under it only: github.com itself still goes to ours.
    assert!(
        shadowed.contains("  git reads every managed setting as published"),
        "{shadowed}"
    );
}

/// A state folder of a machine enrolled in staging as a backend machine.
fn enrolled_state() -> (tempfile::TempDir, switchyard_agent::state::StateDir) {
    use switchyard_agent::state::{Identity, StateDir};
    let state = tempfile::tempdir().unwrap();
    let dir = StateDir::new(state.path().to_owned());
    dir.save_identity(&Identity {
        server: "https://switchyard.corp.example".into(),
        device_id: uuid::Uuid::nil(),
        environment: "staging".into(),
        machine_role: "backend".into(),
    })
    .unwrap();
    (state, dir)
}

/// `status`: RFC 3339 times in `--json`, as the API writes them; for people, plain lines and a
/// table of targets, nothing JSON-quoted.
#[test]
fn status_is_plain_for_people_and_rfc3339_for_programs() {
    use switchyard_agent::state::Applied;
    let (state, dir) = enrolled_state();
    let at = switchyard_agent::clock::now();
    dir.save_applied(&Applied {
        sequence: 7,
        environment: "staging".into(),
        machine_role: "backend".into(),
        baseline_version: 3,
        overlay_version: 0,
        issued_at: at,
        expires_at: at + time::Duration::days(1),
        applied_at: at,
        last_contact: at,
        etag: None,
        targets: vec![
            ("npmrc".into(), "ok".into(), None),
            (
                "go".into(),
                "shadowed".into(),
                Some("go reads GOPROXY=off from the environment".into()),
            ),
        ],
        restored_at: None,
        checked_at: None,
    })
    .unwrap();
    let status = |json: bool| {
        let mut command = Command::new(BINARY);
        command.arg("--state-dir").arg(state.path()).arg("status");
        if json {
            command.arg("--json");
        }
        let output = command.output().unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let view: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    for field in ["applied_at", "last_contact", "expires_at"] {
        let text = view[field].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{field} {text}: {e}"));
    }
    let text = status(false);
    assert!(!text.contains('"'), "{text}");
    assert!(text.contains("environment            staging\n"), "{text}");
    assert!(
        text.contains("go                shadowed   go reads GOPROXY=off from the environment"),
        "{text}"
    );
}

/// `status` and `doctor` say which fallback stands in for which mirror, since when and why.
#[test]
fn status_and_doctor_name_the_fallback_in_use() {
    use switchyard_agent::failover::{Choice, Mirrors};
    use switchyard_proto::devices::EndpointKind;
    let (state, dir) = enrolled_state();
    let home = tempfile::tempdir().unwrap();
    let primary = "https://npm.corp.example/";
    let fallback = "https://npm-b.corp.example/";
    dir.save_mirrors(&Mirrors {
        choices: vec![Choice {
            kind: EndpointKind::NpmRegistry,
            candidates: vec![primary.into(), fallback.into()],
            in_use: fallback.into(),
            since: switchyard_agent::clock::now(),
            reason: Some(format!("{primary} did not answer 2 probes in a row")),
            recent: Default::default(),
        }],
    })
    .unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(BINARY)
            .env("HOME", home.path())
            .arg("--state-dir")
            .arg(state.path())
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let said =
        format!("{fallback} (fallback for {primary}: {primary} did not answer 2 probes in a row)");
    let status = run(&["status"]);
    assert!(
        status.contains("npm-registry") && status.contains(&said),
        "{status}"
    );
    let view: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).unwrap();
    assert_eq!(view["mirrors"][0]["in_use"], fallback, "{view}");
    assert_eq!(view["mirrors"][0]["fallbacks"][0], fallback, "{view}");
    let doctor = run(&["doctor"]);
    assert!(
        doctor.contains(&format!("npm-registry: {said}")),
        "{doctor}"
    );
}
