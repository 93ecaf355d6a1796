//! The agent as a Windows service: registered, started by the service manager, keeping the
//! machine's settings in sync through its long-poll, stopped and removed.

use std::time::Duration;

use crate::prefix::{said, Prefix};
use crate::{blocking, published, text, until};

/// Where Git for Windows records its installation folder.
pub const GIT_FOR_WINDOWS: &str = "HKLM\\SOFTWARE\\GitForWindows";

pub const MACHINE_ENVIRONMENT: &str =
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";

fn machine_value(prefix: &Prefix, name: &str) -> Option<String> {
    prefix
        .registry(MACHINE_ENVIRONMENT)
        .remove(name)
        .map(|(_, value)| value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_keeps_the_machine_in_sync_and_stops_and_goes_cleanly() {
    let (app, token) = published("https://goproxy.corp.example/").await;
    let prefix = blocking(Prefix::new);
    prefix.keep_alive();
    let agent = |args: &[&str]| {
        let mut all = vec!["--scope", "machine"];
        all.extend_from_slice(args);
        blocking(|| prefix.agent(&all))
    };
    // A service runs as LocalSystem: a user's settings are not its to keep.
    let refused = blocking(|| prefix.agent(&["--scope", "user", "service", "install"]));
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("logon task"),
        "{}",
        said(&refused)
    );

    // Git for Windows, as its installer records itself: the machine-wide git file is its.
    let git = blocking(|| prefix.drive_c().join("Tools/Git"));
    std::fs::create_dir_all(&git).unwrap();
    blocking(|| prefix.set_registry(GIT_FOR_WINDOWS, "InstallPath", "C:\\Tools\\Git"));

    let enrolled = agent(&["enroll", "--server", &app.base_url, "--token", &token]);
    assert!(enrolled.status.success(), "enroll: {}", said(&enrolled));
    for step in ["install", "start"] {
        let done = agent(&["service", step]);
        assert!(done.status.success(), "service {step}: {}", said(&done));
    }
    let query = blocking(|| prefix.wine("sc", &["query", "SwitchyardAgent"]));
    assert!(
        String::from_utf8_lossy(&query.stdout).contains("RUNNING"),
        "{}",
        said(&query)
    );

    // Machine scope: Go's settings are machine-wide variables; pip has its machine file.
    blocking(|| {
        until(
            Duration::from_secs(60),
            "the service applies the profile",
            || {
                machine_value(&prefix, "GOPROXY").as_deref()
                    == Some("https://goproxy.corp.example/,direct")
            },
        )
    });
    let gonosumdb = blocking(|| machine_value(&prefix, "GONOSUMDB"));
    assert_eq!(
        gonosumdb.as_deref(),
        Some("*.corp.example,github.com/corp/*")
    );
    let https_proxy = blocking(|| machine_value(&prefix, "HTTPS_PROXY"));
    assert_eq!(
        https_proxy.as_deref(),
        Some("http://proxy.corp.example:3128/")
    );
    let program_data = blocking(|| prefix.folder("ProgramData"));
    let pip = text(program_data.join("pip/pip.ini"));
    assert!(
        pip.contains("index-url = https://pypi.corp.example/simple"),
        "{pip}"
    );
    assert!(!pip.contains("npm-t0ken"));
    let gitconfig = text(git.join("etc/gitconfig"));
    assert!(
        gitconfig.contains("[url \"https://git.corp.example/github/\"]")
            && gitconfig.contains("insteadOf = https://github.com/"),
        "{gitconfig}"
    );

    app.publish_profile(
        "staging",
        "baseline",
        crate::profile("https://goproxy2.corp.example/"),
    )
    .await;
    let took = blocking(|| {
        until(
            Duration::from_secs(60),
            "the service hears the second publish",
            || {
                machine_value(&prefix, "GOPROXY").as_deref()
                    == Some("https://goproxy2.corp.example/,direct")
            },
        )
    });
    println!("a publish reached the Windows service in {took:?}");

    let stopped = agent(&["service", "stop"]);
    assert!(stopped.status.success(), "service stop: {}", said(&stopped));
    let query = blocking(|| prefix.wine("sc", &["query", "SwitchyardAgent"]));
    assert!(
        String::from_utf8_lossy(&query.stdout).contains("STOPPED"),
        "{}",
        said(&query)
    );
    let log = text(program_data.join("Switchyard/agent.log"));
    for line in ["started", "applied staging / workstation", "stopped"] {
        assert!(log.contains(line), "{line} missing from the log:\n{log}");
    }
    let removed = agent(&["service", "uninstall"]);
    assert!(
        removed.status.success(),
        "service uninstall: {}",
        said(&removed)
    );
    let query = blocking(|| prefix.wine("sc", &["query", "SwitchyardAgent"]));
    assert!(!query.status.success(), "still there: {}", said(&query));

    let restored = agent(&["restore"]);
    assert!(restored.status.success(), "restore: {}", said(&restored));
    assert_eq!(blocking(|| machine_value(&prefix, "GOPROXY")), None);
    assert!(
        !git.join("etc").exists(),
        "the git file and the folder made for it go"
    );
    app.stop().await;
}
