//! The engine on real files in a temporary home: apply, apply again, drift, restore.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use proptest::prelude::*;
use switchyard_agent::engine::{apply_all, restore_all, Paths};
#[cfg(windows)]
use switchyard_agent::place::{Hive, Place};
use switchyard_agent::plan::{plan, Target};
use switchyard_agent::state::StateDir;
use switchyard_proto::devices::TargetState;
use switchyard_proto::Profile;

fn profile() -> Profile {
    serde_json::from_value(serde_json::json!({
        "go": {"proxy": [{"source": "https://goproxy.corp.example/"}, {"source": "direct"}],
               "nosumdb": ["*.corp.example"]},
        "npm": {"registry": "https://npm.corp.example/",
                "scopes": {"@corp": "https://npm.corp.example/corp/"},
                "auth-tokens": {"https://npm.corp.example/": {"value": "t0ken"}}},
        "pypi": {"index-url": "https://pypi.corp.example/simple"},
        "cargo": {"registry": "sparse+https://crates.corp.example/index/",
                  "registry-token": {"value": "cargo-t0ken"}},
        "maven": {"repository": "https://maven.corp.example/maven2/",
                  "username": "ada", "password": {"value": "maven-pa55"},
                  "proxy": "http://proxy.corp.example:3128"},
        "rubygems": {"source": "https://gems.corp.example/",
                     "username": "ada", "password": {"value": "gem-pa55"}},
        "git": {"rewrites": [{"base": "https://git.corp.example/github/", "instead-of": ["https://github.com/"]}]},
        "proxy": {"https": "http://proxy.corp.example:3128", "no-proxy": ["localhost"]}
    }))
    .unwrap()
}

/// The user's paths with every variable the platform reads pointing into `home`.
fn home_paths(home: &Path) -> Paths {
    let env = BTreeMap::from([
        ("HOME", home.to_owned()),
        ("USERPROFILE", home.to_owned()),
        ("APPDATA", home.join("AppData").join("Roaming")),
    ]);
    let mut paths =
        Paths::user(|name| env.get(name).map(|p| p.to_string_lossy().into_owned())).unwrap();
    // Files only: the registry is one per test process, and tests run in parallel.
    paths.variables = None;
    paths
}

/// Every file under `root`, with its bytes.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

#[test]
fn apply_is_idempotent_reports_drift_and_restore_gives_back_every_byte() {
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    write(
        &paths.files[&Target::Npmrc],
        "; mine\r\nsave-exact=true\r\nregistry=https://old/\r\n",
    );
    write(&paths.files[&Target::Git], "[user]\n\tname = Ada\n");
    for profile in &paths.profiles {
        write(profile, "# profile\nexport EDITOR=vi\n");
    }
    let before = snapshot(home.path());
    let state = StateDir::new(state_root.path().to_owned());
    let plan = plan(&profile());

    let first = apply_all(&state, &paths, &plan).unwrap();
    assert!(
        first.iter().all(|o| o.state == TargetState::Ok),
        "{first:?}"
    );
    let npmrc = fs::read_to_string(&paths.files[&Target::Npmrc]).unwrap();
    assert!(
        npmrc.starts_with("; mine\r\nsave-exact=true\r\nregistry=https://npm.corp.example/\r\n"),
        "{npmrc}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&paths.files[&Target::Npmrc])
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a file holding a token is owner-only");
    }

    // Again: nothing written, not even a modification time.
    let written = snapshot(home.path());
    let times: Vec<_> = paths
        .files
        .values()
        .map(|p| fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    let second = apply_all(&state, &paths, &plan).unwrap();
    assert!(
        second.iter().all(|o| o.state == TargetState::Unchanged),
        "{second:?}"
    );
    assert_eq!(snapshot(home.path()), written);
    let times_again: Vec<_> = paths
        .files
        .values()
        .map(|p| fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(times, times_again);

    // A managed key edited by hand is put back and reported.
    let go = &paths.files[&Target::Go];
    fs::write(
        go,
        fs::read_to_string(go)
            .unwrap()
            .replace("https://goproxy.corp.example/,direct", "direct"),
    )
    .unwrap();
    let third = apply_all(&state, &paths, &plan).unwrap();
    let go_outcome = third.iter().find(|o| o.target == Target::Go).unwrap();
    assert_eq!(go_outcome.state, TargetState::Ok);
    assert_eq!(go_outcome.drift, ["GOPROXY was changed by hand to direct"]);
    assert!(fs::read_to_string(go)
        .unwrap()
        .contains("GOPROXY=https://goproxy.corp.example/,direct"));

    assert_eq!(restore_all(&state).unwrap(), Vec::<String>::new());
    assert_eq!(snapshot(home.path()), before);
}

#[test]
fn restore_keeps_what_the_user_changed_since() {
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    write(&paths.files[&Target::Npmrc], "registry=https://old/\n");
    let state = StateDir::new(state_root.path().to_owned());
    apply_all(&state, &paths, &plan(&profile())).unwrap();
    let npmrc = &paths.files[&Target::Npmrc];
    let edited = format!("{}fund=false\n", fs::read_to_string(npmrc).unwrap());
    fs::write(npmrc, edited).unwrap();
    // A later round that finds nothing to change must not take the user's edit for the
    // agent's own writing.
    let again = apply_all(&state, &paths, &plan(&profile())).unwrap();
    assert!(
        again.iter().all(|o| o.state == TargetState::Unchanged),
        "{again:?}"
    );
    restore_all(&state).unwrap();
    assert_eq!(
        fs::read_to_string(npmrc).unwrap(),
        "registry=https://old/\nfund=false\n"
    );
}

#[test]
fn a_file_changed_since_into_bytes_that_are_not_utf8_is_left_alone_by_restore_not_mangled() {
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    let npmrc = &paths.files[&Target::Npmrc];
    write(npmrc, "registry=https://old/\n");
    let state = StateDir::new(state_root.path().to_owned());
    apply_all(&state, &paths, &plan(&profile())).unwrap();
    // A Latin-1 "é" added by hand.
    let mut edited = fs::read(npmrc).unwrap();
    edited.extend_from_slice(b"; caf\xe9\n");
    fs::write(npmrc, &edited).unwrap();
    let problems = restore_all(&state).unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains(".npmrc") && p.contains("no longer UTF-8")),
        "{problems:?}"
    );
    assert_eq!(
        fs::read(npmrc).unwrap(),
        edited,
        "every byte as the user left it"
    );
    // Once the user makes it text again, restore goes on from the backup it kept.
    let mut mended = edited.clone();
    mended.truncate(edited.len() - b"; caf\xe9\n".len());
    mended.extend_from_slice(b"; cafe\n");
    fs::write(npmrc, &mended).unwrap();
    assert_eq!(restore_all(&state).unwrap(), Vec::<String>::new());
    assert_eq!(
        fs::read_to_string(npmrc).unwrap(),
        "registry=https://old/\n; cafe\n"
    );
}

#[test]
fn a_setting_the_profile_drops_goes_back_to_what_it_was() {
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    write(&paths.files[&Target::Npmrc], "registry=https://old/\n");
    let state = StateDir::new(state_root.path().to_owned());
    apply_all(&state, &paths, &plan(&profile())).unwrap();
    apply_all(&state, &paths, &plan(&Profile::default())).unwrap();
    assert_eq!(
        fs::read_to_string(&paths.files[&Target::Npmrc]).unwrap(),
        "registry=https://old/\n"
    );
    assert!(
        !paths.files[&Target::Go].exists(),
        "a file only the agent wrote goes"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_file_and_a_file_that_is_not_text_are_left_alone_and_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    let npmrc = &paths.files[&Target::Npmrc];
    write(npmrc, "registry=https://old/\n");
    fs::set_permissions(npmrc, fs::Permissions::from_mode(0o444)).unwrap();
    let go = &paths.files[&Target::Go];
    fs::create_dir_all(go.parent().unwrap()).unwrap();
    fs::write(go, b"GOFLAGS=\xff\xfe\n").unwrap();
    let state = StateDir::new(state_root.path().to_owned());
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let of = |target: Target| outcomes.iter().find(|o| o.target == target).unwrap();
    assert_eq!(of(Target::Npmrc).state, TargetState::Failed);
    assert!(of(Target::Npmrc)
        .message
        .as_deref()
        .unwrap()
        .contains("read-only"));
    assert_eq!(
        fs::read_to_string(npmrc).unwrap(),
        "registry=https://old/\n"
    );
    assert_eq!(of(Target::Go).state, TargetState::Failed);
    assert_eq!(fs::read(go).unwrap(), b"GOFLAGS=\xff\xfe\n");
    assert_eq!(
        of(Target::Pip).state,
        TargetState::Ok,
        "the others are applied"
    );
}

#[test]
fn a_pip_file_pip_itself_cannot_read_is_left_alone_and_reported() {
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    let pip = &paths.files[&Target::Pip];
    // configparser refuses a key twice in a section (by its lower-cased name).
    write(
        pip,
        "[global]\nindex-url = https://a/\nIndex-URL = https://b/\n",
    );
    let state = StateDir::new(state_root.path().to_owned());
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let outcome = outcomes.iter().find(|o| o.target == Target::Pip).unwrap();
    assert_eq!(outcome.state, TargetState::Failed);
    assert!(
        outcome
            .message
            .as_deref()
            .unwrap()
            .contains("appears twice"),
        "{outcome:?}"
    );
    assert_eq!(
        fs::read_to_string(pip).unwrap(),
        "[global]\nindex-url = https://a/\nIndex-URL = https://b/\n"
    );
    // Two spellings are two keys to configparser, the later read: both give way to ours.
    write(
        pip,
        "[global]\nindex-url = https://a/\nindex_url = https://b/\n",
    );
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let outcome = outcomes.iter().find(|o| o.target == Target::Pip).unwrap();
    assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");
    assert_eq!(
        fs::read_to_string(pip).unwrap(),
        "[global]\nindex-url = https://pypi.corp.example/simple\n"
    );
}

fn any_content() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        proptest::collection::vec(
            (
                prop_oneof![
                    "[#;] [ -~äöü✓]{0,16}",
                    "(registry|GOPROXY|index-url|insteadOf) ?= ?[a-z:/.]{0,12}",
                    "\\[(global|user|url \"https://git.corp.example/github/\")\\]",
                    "[ -~äöü✓]{0,20}",
                ],
                prop_oneof!["\n", "\r\n"],
            ),
            0..8,
        )
        .prop_map(|lines| lines.into_iter().map(|(l, e)| format!("{l}{e}")).collect()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn apply_then_restore_gives_back_any_files_byte_for_byte(
        npmrc in any_content(), pip in any_content(), go in any_content(), git in any_content(),
        profile_text in any_content(),
    ) {
        let home = tempfile::tempdir().unwrap();
        let state_root = tempfile::tempdir().unwrap();
        let paths = home_paths(home.path());
        for (target, content) in [(Target::Npmrc, &npmrc), (Target::Pip, &pip), (Target::Go, &go), (Target::Git, &git)] {
            if let Some(content) = content {
                write(&paths.files[&target], content);
            }
        }
        if let (Some(content), Some(profile)) = (&profile_text, paths.profiles.first()) {
            write(profile, content);
        }
        let before = snapshot(home.path());
        let state = StateDir::new(state_root.path().to_owned());
        apply_all(&state, &paths, &plan(&profile())).unwrap();
        prop_assert!(restore_all(&state).unwrap().is_empty());
        // Folders the agent made may stay; every file is as it was.
        prop_assert_eq!(snapshot(home.path()), before);
    }
}

#[test]
fn machine_scope_writes_system_files_without_secrets() {
    let root = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let etc = root.path();
    let paths = Paths {
        files: BTreeMap::from([
            (Target::Pip, etc.join("pip.conf")),
            (Target::Git, etc.join("gitconfig")),
            (
                Target::EnvironmentD,
                etc.join("environment.d/60-switchyard.conf"),
            ),
            (Target::Shell, etc.join("profile.d/switchyard.sh")),
        ]),
        profiles: Vec::new(),
        secrets_allowed: false,
        variables: None,
    };
    let state = StateDir::new(state_root.path().to_owned());
    let (machine, left_out) = switchyard_agent::plan::for_machine(plan(&profile()));
    assert!(
        left_out.iter().any(|l| l.contains("_authToken")),
        "{left_out:?}"
    );
    let outcomes = apply_all(&state, &paths, &machine).unwrap();
    assert!(
        outcomes.iter().all(|o| o.state == TargetState::Ok),
        "{outcomes:?}"
    );
    let shell = fs::read_to_string(etc.join("profile.d/switchyard.sh")).unwrap();
    assert!(
        shell.contains("export GOPROXY='https://goproxy.corp.example/,direct'"),
        "{shell}"
    );
    assert!(
        shell.contains("export NPM_CONFIG_REGISTRY='https://npm.corp.example/'"),
        "{shell}"
    );
    assert!(!shell.contains("t0ken"));
    assert!(fs::read_to_string(etc.join("pip.conf"))
        .unwrap()
        .contains("index-url = https://pypi.corp.example/simple"));
    restore_all(&state).unwrap();
    assert!(!etc.join("pip.conf").exists());
}

/// The tests that change the user's registry environment take turns.
#[cfg(windows)]
static REGISTRY: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(windows)]
#[test]
fn on_windows_variables_go_to_the_user_registry_and_restore_puts_them_back() {
    use windows_registry::CURRENT_USER;
    let _turn = REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let environment = CURRENT_USER.create("Environment").unwrap();
    // The user's own NO_PROXY, and no HTTPS_PROXY yet.
    environment.set_string("NO_PROXY", "mine.example").unwrap();
    let _ = environment.remove_value("HTTPS_PROXY");
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let mut paths = home_paths(home.path());
    paths.variables = Some(Place::environment(Hive::CurrentUser));
    let state = StateDir::new(state_root.path().to_owned());
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let registry = outcomes
        .iter()
        .find(|o| o.target == Target::EnvironmentD)
        .unwrap();
    assert_eq!(registry.state, TargetState::Ok, "{registry:?}");
    assert_eq!(
        environment.get_string("HTTPS_PROXY").unwrap(),
        "http://proxy.corp.example:3128/"
    );
    assert_eq!(environment.get_string("NO_PROXY").unwrap(), "localhost");
    // Again: nothing to change.
    let again = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let registry = again
        .iter()
        .find(|o| o.target == Target::EnvironmentD)
        .unwrap();
    assert_eq!(registry.state, TargetState::Unchanged);

    assert!(restore_all(&state).unwrap().is_empty());
    assert_eq!(environment.get_string("NO_PROXY").unwrap(), "mine.example");
    assert!(
        environment.get_string("HTTPS_PROXY").is_err(),
        "a value the agent made goes"
    );
}

#[cfg(windows)]
#[test]
fn on_windows_a_variable_the_registry_refuses_leaves_every_variable_as_it_was() {
    use windows_registry::CURRENT_USER;
    let _turn = REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let environment = CURRENT_USER.create("Environment").unwrap();
    environment
        .set_string("HTTP_PROXY", "http://mine.example:8080")
        .unwrap();
    let before: Vec<_> = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]
        .iter()
        .map(|name| environment.get_string(name).ok())
        .collect();
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let mut paths = home_paths(home.path());
    paths.variables = Some(Place::environment(Hive::CurrentUser));
    let state = StateDir::new(state_root.path().to_owned());
    let mut plan = plan(&profile());
    let variables = plan.get_mut(&Target::EnvironmentD).unwrap();
    // Longer than any registry value name may be: the write fails after the others.
    let mut refused = variables[0].clone();
    refused.name = "X".repeat(20_000);
    refused.key = refused.name.clone();
    refused.id = refused.name.clone();
    variables.push(refused);
    let outcomes = apply_all(&state, &paths, &plan).unwrap();
    let registry = outcomes
        .iter()
        .find(|o| o.target == Target::EnvironmentD)
        .unwrap();
    assert_eq!(registry.state, TargetState::Failed, "{registry:?}");
    assert!(
        registry
            .message
            .as_deref()
            .unwrap()
            .contains("nothing changed"),
        "{registry:?}"
    );
    let after: Vec<_> = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]
        .iter()
        .map(|name| environment.get_string(name).ok())
        .collect();
    assert_eq!(after, before, "no variable half-applied");
    environment.remove_value("HTTP_PROXY").unwrap();
}

/// Creates a special file with a system tool (`mkfifo`, `mknod`), failing loudly without it.
#[cfg(unix)]
fn make_special(tool: &str, args: &[&str]) {
    let status = std::process::Command::new(tool)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(status.success(), "{tool} {args:?}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_dotfile_stays_a_link_and_its_target_is_edited_and_restored() {
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    let dotfile = home.path().join("dotfiles").join("gitconfig");
    write(&dotfile, "[user]\n\tname = Ada\n");
    let link = &paths.files[&Target::Git];
    std::os::unix::fs::symlink("dotfiles/gitconfig", link).unwrap();
    let state = StateDir::new(state_root.path().to_owned());
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let git = outcomes.iter().find(|o| o.target == Target::Git).unwrap();
    assert_eq!(git.state, TargetState::Ok, "{git:?}");
    assert!(fs::symlink_metadata(link).unwrap().file_type().is_symlink());
    assert!(fs::read_to_string(&dotfile)
        .unwrap()
        .contains("insteadOf = https://github.com/"));
    assert_eq!(restore_all(&state).unwrap(), Vec::<String>::new());
    assert!(fs::symlink_metadata(link).unwrap().file_type().is_symlink());
    assert_eq!(
        fs::read_to_string(&dotfile).unwrap(),
        "[user]\n\tname = Ada\n"
    );
}

#[cfg(unix)]
#[test]
fn a_device_or_a_pipe_where_a_file_belongs_is_left_alone_and_the_target_fails() {
    use std::os::unix::fs::FileTypeExt as _;
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    // GIT_CONFIG_GLOBAL=/dev/null is a CI idiom: a device of our own stands in for it, so
    // that a mistake here cannot replace the machine's /dev/null.
    let device = home.path().join("null");
    make_special("mknod", &[device.to_str().unwrap(), "c", "1", "3"]);
    let pipe = home.path().join("npmrc-pipe");
    make_special("mkfifo", &[pipe.to_str().unwrap()]);
    let env = BTreeMap::from([
        ("HOME", home.path().to_owned()),
        ("USERPROFILE", home.path().to_owned()),
        ("GIT_CONFIG_GLOBAL", device.clone()),
        ("NPM_CONFIG_USERCONFIG", pipe.clone()),
    ]);
    let mut paths =
        Paths::user(|name| env.get(name).map(|p| p.to_string_lossy().into_owned())).unwrap();
    paths.variables = None;
    let state = StateDir::new(state_root.path().to_owned());
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let of = |target: Target| outcomes.iter().find(|o| o.target == target).unwrap();
    for (target, kind) in [
        (Target::Git, "a character device"),
        (Target::Npmrc, "a named pipe"),
    ] {
        assert_eq!(of(target).state, TargetState::Failed, "{:?}", of(target));
        assert!(
            of(target).message.as_deref().unwrap().contains(kind),
            "{:?}",
            of(target)
        );
    }
    assert!(fs::symlink_metadata(&device)
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(fs::symlink_metadata(&pipe).unwrap().file_type().is_fifo());
    assert_eq!(of(Target::Go).state, TargetState::Ok, "the others go on");
    // A link to a device is refused the same way, and says where it leads.
    fs::remove_file(&device).unwrap();
    make_special("mknod", &[device.to_str().unwrap(), "c", "1", "3"]);
    let link = home.path().join("gitconfig-link");
    std::os::unix::fs::symlink(&device, &link).unwrap();
    paths.files.insert(Target::Git, link);
    let outcomes = apply_all(&state, &paths, &plan(&profile())).unwrap();
    let git = outcomes.iter().find(|o| o.target == Target::Git).unwrap();
    assert_eq!(git.state, TargetState::Failed);
    assert!(git
        .message
        .as_deref()
        .unwrap()
        .contains("where its link leads"));
}

#[cfg(unix)]
#[test]
fn restore_gives_back_modes_and_owners_and_removes_the_folders_it_made() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    let npmrc = &paths.files[&Target::Npmrc];
    write(npmrc, "registry=https://old/\n");
    fs::set_permissions(npmrc, fs::Permissions::from_mode(0o644)).unwrap();
    // Run as root, the agent keeps a user's file theirs; otherwise it stays ours either way.
    let _ = std::os::unix::fs::chown(npmrc, Some(65534), Some(65534));
    let owner = fs::metadata(npmrc).unwrap().uid();
    let before = snapshot(home.path());
    let state = StateDir::new(state_root.path().to_owned());
    apply_all(&state, &paths, &plan(&profile())).unwrap();
    let meta = fs::metadata(npmrc).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "a token: owner-only"
    );
    assert_eq!(meta.uid(), owner, "the file stays its owner's");
    assert!(paths.files[&Target::Go].exists());
    assert_eq!(restore_all(&state).unwrap(), Vec::<String>::new());
    let meta = fs::metadata(npmrc).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "the mode it had");
    assert_eq!(meta.uid(), owner);
    assert_eq!(snapshot(home.path()), before);
    let folders: Vec<String> = fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        folders
            .iter()
            .all(|name| name != ".config" && name != "AppData"),
        "the folders the agent made are gone: {folders:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_hard_linked_dotfile_keeps_its_links_through_sync_and_restore() {
    use std::os::unix::fs::MetadataExt as _;
    let home = tempfile::tempdir().unwrap();
    let state_root = tempfile::tempdir().unwrap();
    let paths = home_paths(home.path());
    let dotfile = home.path().join("dotfiles").join("gitconfig");
    write(&dotfile, "[user]\n\tname = Ada\n");
    fs::hard_link(&dotfile, &paths.files[&Target::Git]).unwrap();
    let inode = fs::metadata(&dotfile).unwrap().ino();
    let state = StateDir::new(state_root.path().to_owned());
    apply_all(&state, &paths, &plan(&profile())).unwrap();
    let meta = fs::metadata(&paths.files[&Target::Git]).unwrap();
    assert_eq!(
        (meta.ino(), meta.nlink()),
        (inode, 2),
        "still one file, two names"
    );
    assert!(fs::read_to_string(&dotfile).unwrap().contains("insteadOf"));
    assert_eq!(restore_all(&state).unwrap(), Vec::<String>::new());
    let meta = fs::metadata(&paths.files[&Target::Git]).unwrap();
    assert_eq!((meta.ino(), meta.nlink()), (inode, 2));
    assert_eq!(
        fs::read_to_string(&dotfile).unwrap(),
        "[user]\n\tname = Ada\n"
    );
}
