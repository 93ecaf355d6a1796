//! The agent killed (`SIGKILL`, no chance to clean up) at random points of a sync, a thousand
//! times, against the real server: every file it manages is whole after each kill (the bytes
//! it had before or the bytes of a delivery, never a mix), the next sync completes, and
//! `restore` gives back the original bytes. Bounded: a fixed number of cycles, each a short
//! process; it prints its figures.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tests::{Backend, TestApp};

const BINARY: &str = env!("CARGO_BIN_EXE_switchyard-agent");

/// How many times a sync is killed.
const CYCLES: usize = 1000;

/// Every file under `root`, by path, with its bytes and permission bits; the state folder
/// too when `with_state`.
fn tree(root: &Path, with_state: bool) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut found = BTreeMap::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if with_state || path != root.join("state") {
                    folders.push(path);
                }
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                found.insert(path.clone(), (std::fs::read(&path).unwrap(), mode));
            }
        }
    }
    found
}

/// The files the clients read (the state folder left out), with their bytes.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    tree(root, false)
        .into_iter()
        .map(|(path, (bytes, _))| (path, bytes))
        .collect()
}

/// The files of `snapshot` (taken of `root`) the clients read: the state folder left out.
fn files_of(
    root: &Path,
    snapshot: &BTreeMap<PathBuf, (Vec<u8>, u32)>,
) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot
        .iter()
        .filter(|(path, _)| !path.starts_with(root.join("state")))
        .map(|(path, (bytes, _))| (path.clone(), bytes.clone()))
        .collect()
}

/// Puts `root` back as `snapshot` holds it, state folder included.
fn put_back(root: &Path, snapshot: &BTreeMap<PathBuf, (Vec<u8>, u32)>) {
    use std::os::unix::fs::PermissionsExt as _;
    for path in tree(root, true).keys() {
        if !snapshot.contains_key(path) {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (path, (bytes, mode)) in snapshot {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(path);
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// The agent at user scope in `home`, its state in `home/state`, no client on its path (each
/// is judged by its documented order of reading: a sync takes milliseconds).
fn agent(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/nonexistent")
        .arg("--state-dir")
        .arg(home.join("state"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// A profile whose every endpoint is a closed loopback port (probes fail at once), naming
/// `mark` so that each differs in every file it writes.
fn profile(mark: &str) -> serde_json::Value {
    let base = format!("http://127.0.0.1:9/{mark}/");
    json!({
        "go": {"proxy": [{"source": base}, {"source": "direct"}], "private": [format!("{mark}.corp.example")]},
        "npm": {"registry": base, "scopes": {"@corp": format!("{base}corp/")}},
        "pypi": {"index-url": format!("{base}simple"), "timeout": 30},
        "git": {"rewrites": [{"base": base, "instead-of": [format!("https://{mark}.example/")]}]},
        "proxy": {"no-proxy": ["localhost", format!(".{mark}.example")]},
        "env": {"CORP_MARK": mark}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_anywhere_leaves_every_file_whole_and_restore_gives_the_original_back() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile("staging", "baseline", profile("first"))
        .await;
    let token = app.enrollment_token("staging", "backend", 1).await;

    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_owned();
    for (name, content) in [
        (
            ".npmrc",
            "; mine\r\nsave-exact=true\r\nregistry=https://registry.example.org/\r\n",
        ),
        (".config/pip/pip.conf", "# mine\n[global]\ntimeout = 60\n"),
        (".gitconfig", "[user]\n\tname = Ada\n"),
        (".config/go/env", "GOFLAGS=-mod=mod\n"),
        (".profile", "# ~/.profile\nexport EDITOR=vi\n"),
    ] {
        let path = home.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let original = files(&home);
    let enrolled = agent(
        &home,
        &["enroll", "--server", &app.base_url, "--token", &token],
    )
    .status()
    .unwrap();
    assert!(enrolled.success());

    // How long a whole sync takes: kills land anywhere within it.
    let mut sync_took = Duration::ZERO;
    for mark in ["second", "first"] {
        app.publish_profile("staging", "baseline", profile(mark))
            .await;
        let started = Instant::now();
        let status = agent(&home, &["sync"]).status().unwrap();
        sync_took = sync_took.max(started.elapsed());
        assert!(matches!(status.code(), Some(0 | 6)), "{status:?}");
    }
    let admin = app.admin_token().await;

    let started = Instant::now();
    let (mut changed_under_kill, mut leftovers) = (0, 0);
    let mut mark = "first";
    for cycle in 0..CYCLES {
        // Every sync has something to write: the delivery alternates.
        mark = if mark == "first" { "second" } else { "first" };
        app.publish_profile_as(&admin, "staging", "baseline", profile(mark))
            .await;
        let before = tree(&home, true);
        let before_files = files_of(&home, &before);
        let mut child = agent(&home, &["sync"]).spawn().unwrap();
        let delay = rand::random::<f64>() * sync_took.as_secs_f64();
        tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        let _ = child.kill();
        child.wait().unwrap();
        let killed = tree(&home, true);
        // What a whole sync from the same start writes: each file must hold that or what it
        // held before, never anything between.
        put_back(&home, &before);
        let status = agent(&home, &["sync"]).status().unwrap();
        assert!(
            matches!(status.code(), Some(0 | 6)),
            "cycle {cycle}: {status:?}"
        );
        let whole = files(&home);
        put_back(&home, &killed);
        let after = files(&home);
        for (path, bytes) in &after {
            let name = path.file_name().unwrap().to_string_lossy();
            if name.contains(".switchyard-") {
                // A temporary file whose rename never came: the file itself is untouched.
                leftovers += 1;
                continue;
            }
            assert!(
                whole.get(path) == Some(bytes) || before_files.get(path) == Some(bytes),
                "cycle {cycle}: {} is neither as it was nor as a whole sync writes it: {:?}",
                path.display(),
                String::from_utf8_lossy(bytes)
            );
        }
        for path in before_files.keys() {
            assert!(
                after.contains_key(path) || !whole.contains_key(path),
                "cycle {cycle}: {} went missing",
                path.display()
            );
        }
        changed_under_kill += usize::from(after != before_files);
        // Every fiftieth cycle, and the last, the next sync from where the kill left things
        // must complete, leave no temporary file, and write what a whole sync writes.
        if cycle % 50 == 49 || cycle == CYCLES - 1 {
            let status = agent(&home, &["sync"]).status().unwrap();
            assert!(
                matches!(status.code(), Some(0 | 6)),
                "cycle {cycle}: {status:?}"
            );
            let state = files(&home);
            assert!(
                !state
                    .keys()
                    .any(|path| path.to_string_lossy().contains(".switchyard-")),
                "cycle {cycle}: a sync that completed left a temporary file"
            );
            assert_eq!(
                state, whole,
                "cycle {cycle}: the next sync writes what a whole one does"
            );
        }
    }
    let took = started.elapsed();

    let restored = agent(&home, &["restore"]).status().unwrap();
    assert!(restored.success(), "{restored:?}");
    assert_eq!(
        files(&home),
        original,
        "restore gives back every original byte"
    );
    println!(
        "crash test: {CYCLES} syncs killed at random within {} ms; {changed_under_kill} kills left files changed, {leftovers} temporary files left and cleaned by the next write; {:.1} s",
        sync_took.as_millis(),
        took.as_secs_f64()
    );
    app.stop().await;
}
