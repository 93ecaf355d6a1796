//! Differential tests against the real clients. Generated users' files (comments, CRLF, a BOM,
//! quotes, spaces around `=`, duplicate and multi-valued keys, continuation lines, sections a
//! client reads before ours, competing files and variables) and generated profiles: the agent
//! applies the profile, then the real npm, pip, go, git, Cargo, Yarn and Maven are asked what they read, before
//! and after. Every published setting must be what the client reads, or the agent must have
//! said `shadowed` or `failed` with a reason (and a `shadowed` must be true); every setting
//! of the user's that the profile does not manage must read as before.
//!
//! Each client's test runs `SWITCHYARD_DIFFERENTIAL_CASES` cases (100 by default; Yarn and
//! Maven, whose every question starts Node or a JVM, at most 24), the seed
//! of a failure is printed by proptest, and every failing case is kept in
//! `differential.proptest-regressions` beside this file and tried first ever after.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use switchyard_agent::agent::Agent;
use switchyard_agent::engine::{apply_all, Paths};
use switchyard_agent::formats::pip::key_id;
use switchyard_agent::plan::{plan, Target};
use switchyard_agent::state::StateDir;
use switchyard_proto::devices::TargetState;
use switchyard_proto::Profile;

fn config() -> Config {
    let cases = std::env::var("SWITCHYARD_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// `PATH` with pnpm, Yarn and uv first, where scripts/test installs them (Debian packages
/// none of them).
fn clients_path() -> String {
    let clients = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/clients");
    let folders = [
        clients.join("uv/bin"),
        clients.join("node/node_modules/.bin"),
    ];
    let path = std::env::join_paths(folders.into_iter().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// One case's world: a home with the user's files, the variables set, the agent.
struct World {
    home: tempfile::TempDir,
    state: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl World {
    fn new(variables: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut env: BTreeMap<String, String> = [
            "PATH",
            "LANG",
            "PYENV_ROOT",
            "PYENV_VERSION",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
        ]
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
        .collect();
        // rustup's `cargo` finds its toolchains under `~/.rustup` unless told: the test's own.
        if !env.contains_key("RUSTUP_HOME") {
            if let Some(real) = std::env::var_os("HOME") {
                let rustup = std::path::Path::new(&real).join(".rustup");
                env.insert("RUSTUP_HOME".into(), rustup.to_string_lossy().into_owned());
            }
        }
        env.insert("PATH".into(), clients_path());
        for (name, value) in [
            ("HOME", home.path().to_string_lossy().as_ref()),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GOTOOLCHAIN", "local"),
            ("npm_config_update_notifier", "false"),
            // Java takes `user.home`, where Maven finds `.m2`, from the account, not `HOME`.
            (
                "MAVEN_OPTS",
                &format!("-Duser.home={}", home.path().to_string_lossy()),
            ),
        ]
        .into_iter()
        .chain(variables.iter().copied())
        {
            env.insert(name.to_owned(), value.to_owned());
        }
        Self {
            home,
            state: tempfile::tempdir().unwrap(),
            env,
        }
    }

    fn write(&self, name: &str, content: &str) {
        let path = self.home.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn agent(&self) -> Agent {
        Agent {
            state: StateDir::new(self.state.path().to_owned()),
            paths: Paths::user(|name| self.env.get(name).cloned()).unwrap(),
            environment: self.env.clone(),
            cwd: None,
        }
    }

    /// Runs a real client here; its output, or `None` when it fails.
    fn client(&self, program: &str, args: &[&str]) -> Option<String> {
        let output = Command::new(program)
            .args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.home.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("the real {program} is needed here: {e}"));
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Applies `profile` as the agent does, with its check of what each client reads; the
    /// outcome of `target` and the file's bytes before.
    fn sync(&self, profile: &Profile, target: Target) -> (TargetState, Option<String>, Vec<u8>) {
        let agent = self.agent();
        let path = agent.paths.files[&target].clone();
        let before = std::fs::read(&path).unwrap_or_default();
        let planned = plan(profile);
        let outcomes = apply_all(&agent.state, &agent.paths, &planned).unwrap();
        let outcome = outcomes.into_iter().find(|o| o.target == target).unwrap();
        let settings = planned.get(&target).cloned().unwrap_or_default();
        let mut state = outcome.state;
        let mut message = outcome.message;
        if state != TargetState::Failed {
            let found = agent.what_the_client_reads(target, &settings);
            if !found.is_empty() {
                state = TargetState::Shadowed;
                message = Some(found.join("; "));
            }
        }
        (state, message, before)
    }
}

/// A file of `lines`, each ending in LF or CRLF, maybe with a BOM, maybe without a last
/// ending.
fn file_of(lines: Vec<(String, bool)>, bom: bool, open_end: bool) -> String {
    let mut text = String::new();
    if bom {
        text.push('\u{feff}');
    }
    for (line, crlf) in lines {
        text.push_str(&line);
        text.push_str(if crlf { "\r\n" } else { "\n" });
    }
    if open_end && text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

fn lines_of(fragments: &'static [&'static str], most: usize) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            (proptest::sample::select(fragments), any::<bool>()),
            0..most,
        ),
        proptest::bool::weighted(0.1),
        any::<bool>(),
    )
        .prop_map(|(lines, bom, open_end)| {
            file_of(
                lines.into_iter().map(|(l, c)| (l.to_owned(), c)).collect(),
                bom,
                open_end,
            )
        })
}

fn profile(json: serde_json::Value) -> Option<Profile> {
    let profile: Profile = serde_json::from_value(json).ok()?;
    profile.validate().is_empty().then_some(profile)
}

/// Asserts the outcome's claim: `ok` only when `reads` holds; `shadowed` with a reason, and
/// only when it does not; `failed` with a reason and the file untouched, and only where the
/// client could not read the user's file either (`client_read_it` false).
fn judge(
    (state, message, before): (TargetState, Option<String>, Vec<u8>),
    reads_published: bool,
    file_now: &[u8],
    client_read_it: bool,
) -> Result<(), TestCaseError> {
    prop_assert!(
        !(state == TargetState::Failed && client_read_it),
        "failed on a file its client reads: {:?}",
        message
    );
    match state {
        TargetState::Ok | TargetState::Unchanged => {
            prop_assert!(
                reads_published,
                "said {state:?}, but the client reads something else"
            )
        }
        TargetState::Shadowed => {
            prop_assert!(
                message.is_some_and(|m| !m.is_empty()),
                "shadowed without a reason"
            );
            prop_assert!(
                !reads_published,
                "said shadowed, but the client reads what was published"
            );
        }
        TargetState::Failed => {
            prop_assert!(
                message.is_some_and(|m| !m.is_empty()),
                "failed without a reason"
            );
            prop_assert_eq!(
                before.as_slice(),
                file_now,
                "a failed target's file changed"
            );
        }
        TargetState::Restored => prop_assert!(false, "a sync never restores"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------- npm

const NPMRC: &[&str] = &[
    "; my settings",
    "# note",
    "",
    "   ",
    "registry=https://user.example.org/",
    "registry = https://user.example.org/spaced/",
    "\"registry\"=\"https://user.example.org/quoted/\"",
    "registry='https://user.example.org/single/'",
    "registry=https://user.example.org/c/ ; a comment",
    "save-exact=true",
    "fund = false",
    "@corp:registry=https://user.example.org/corp/",
    "@other:registry=https://user.example.org/other/",
    "strict-ssl=true",
    "https-proxy=http://user-proxy.example.org:8080/",
    "message=a\\;b",
    "[section]",
];

fn npm_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::sample::select(
            &[
                "https://npm.corp.example/",
                "HTTPS://Npm.Corp.Example:443",
                "http://LOCALHOST:4873/",
            ][..],
        ),
        proptest::option::of(proptest::sample::select(&["@corp", "@tools"][..])),
        proptest::option::of(any::<bool>()),
        proptest::option::of("[a-zA-Z0-9#;=\"'\\\\.-]{1,12}"),
    )
        .prop_map(|(registry, scope, strict, token)| {
            let mut npm = serde_json::json!({"registry": registry});
            if let Some(scope) = scope {
                npm["scopes"] = serde_json::json!({scope: "https://npm.corp.example/scoped/"});
            }
            if let Some(strict) = strict {
                npm["strict-ssl"] = serde_json::json!(strict);
            }
            if let Some(token) = token {
                npm["auth-tokens"] = serde_json::json!({registry: {"value": token}});
            }
            profile(serde_json::json!({ "npm": npm }))
        })
}

/// Everything npm reads, by key (tokens are never shown).
fn npm_view(world: &World) -> Option<BTreeMap<String, serde_json::Value>> {
    let listed = world.client("npm", &["config", "list", "--json"])?;
    serde_json::from_str(&listed).ok()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn npm_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(NPMRC, 10),
        profile in npm_profile(),
        from_env in proptest::option::of(proptest::sample::select(&["https://env.example.org/"][..])),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let variables: Vec<(&str, &str)> = from_env.iter().map(|r| ("npm_config_registry", *r)).collect();
        let world = World::new(&variables);
        world.write(".npmrc", &user);
        let before = npm_view(&world);
        let outcome = world.sync(&profile, Target::Npmrc);
        let after = npm_view(&world).expect("npm reads the file the agent wrote");
        let normal = profile.clone().normalized();
        let npm = normal.npm.unwrap();
        let mut published: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        published.insert("registry".into(), npm.registry.clone().into());
        for (scope, url) in npm.scopes.iter().flatten() {
            published.insert(format!("{scope}:registry"), url.clone().into());
        }
        if let Some(strict) = npm.strict_ssl {
            published.insert("strict-ssl".into(), strict.into());
        }
        let reads = published.iter().all(|(key, value)| after.get(key) == Some(value));
        let file_now = std::fs::read(world.home.path().join(".npmrc")).unwrap_or_default();
        judge(outcome, reads, &file_now, before.is_some())?;
        // The user's own settings, as npm read them before.
        if let Some(before) = before {
            for (key, value) in &before {
                if !published.contains_key(key) && !key.ends_with(":_authToken") {
                    prop_assert_eq!(after.get(key), Some(value), "npm's {} changed", key);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------- pip

const PIP_CONF: &[&str] = &[
    "[global]",
    "[global]",
    "[install]",
    "[download]",
    "# mine",
    "; mine",
    "  # indented comment",
    "",
    "index-url = https://user.example.org/simple",
    "index_url=https://user.example.org/underscore/simple",
    "Index-URL: https://user.example.org/colon/simple",
    "extra-index-url = https://user.example.org/extra/simple",
    "    https://user.example.org/continued/simple",
    "trusted-host = a.user.example.org",
    "  old.user.example.org",
    "timeout = 60",
    "no-cache-dir = false",
    "pypi-url = https://user.example.org/alias/simple",
    "default-timeout = 99",
];

fn pip_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::option::of(proptest::sample::select(
            &[
                "https://pypi.corp.example/simple",
                "HTTPS://PyPI.Corp.Example:443/simple",
            ][..],
        )),
        proptest::collection::vec(
            proptest::sample::select(
                &[
                    "https://a.corp.example/simple",
                    "https://b.corp.example/simple",
                ][..],
            ),
            0..3,
        ),
        proptest::collection::vec(
            proptest::sample::select(&["PyPI.Corp.Example", "b.corp.example:8080"][..]),
            0..3,
        ),
        proptest::option::of(1u32..100),
    )
        .prop_map(|(index, extra, trusted, timeout)| {
            let mut pip = serde_json::json!({});
            if let Some(index) = index {
                pip["index-url"] = index.into();
            }
            if !extra.is_empty() {
                pip["extra-index-url"] = extra.into();
            }
            if !trusted.is_empty() {
                pip["trusted-host"] = trusted.into();
            }
            if let Some(timeout) = timeout {
                pip["timeout"] = timeout.into();
            }
            profile(serde_json::json!({ "pip": pip }))
        })
}

/// `pip config list`: `section.key` to its value, unquoted.
fn pip_view(world: &World) -> Option<BTreeMap<String, String>> {
    let listed = world.client("python3", &["-m", "pip", "config", "list"])?;
    Some(
        listed
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once('=')?;
                let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
                Some((
                    key.to_owned(),
                    value.replace("\\n", "\n").replace("\\'", "'"),
                ))
            })
            .collect(),
    )
}

/// What `pip install` itself takes for its options, asked of pip's own option parser (the
/// test's oracle; the agent only reads `pip config debug`).
fn pip_install_reads(world: &World) -> Option<BTreeMap<String, Vec<String>>> {
    const ASK: &str = "from pip._internal.commands import create_command\n\
        import json\n\
        options, _ = create_command('install').parse_args([])\n\
        t = options.timeout\n\
        print(json.dumps({'index-url': [options.index_url], \
        'extra-index-url': options.extra_index_urls, 'trusted-host': options.trusted_hosts, \
        'timeout': [str(int(t)) if t == int(t) else str(t)]}))";
    let said = world.client("python3", &["-c", ASK])?;
    serde_json::from_str(said.lines().last()?).ok()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pip_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(PIP_CONF, 10),
        profile in pip_profile(),
        from_env in proptest::option::of(proptest::sample::select(&[
            ("PIP_INDEX_URL", "https://env.example.org/simple"),
            ("PIP_DEFAULT_TIMEOUT", "180"),
            ("pip_pypi_url", "https://env.example.org/alias/simple"),
        ][..])),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let pip = profile.clone().normalized().pypi.unwrap();
        let variables: Vec<(&str, &str)> = from_env.into_iter().collect();
        let world = World::new(&variables);
        world.write(".config/pip/pip.conf", &user);
        let before = pip_view(&world);
        let outcome = world.sync(&profile, Target::Pip);
        let after = pip_view(&world);
        let mut published: Vec<(&str, Vec<String>)> = Vec::new();
        if let Some(index) = &pip.index_url {
            published.push(("index-url", vec![index.clone()]));
        }
        if let Some(extra) = pip.extra_index_url.clone().filter(|e| !e.is_empty()) {
            published.push(("extra-index-url", extra));
        }
        if let Some(trusted) = pip.trusted_host.clone().filter(|t| !t.is_empty()) {
            published.push(("trusted-host", trusted));
        }
        if let Some(timeout) = pip.timeout {
            published.push(("timeout", vec![timeout.to_string()]));
        }
        let taken = pip_install_reads(&world);
        let reads = published.is_empty() || taken.as_ref().is_some_and(|taken| {
            published.iter().all(|(key, values)| taken.get(*key) == Some(values))
        });
        let file_now = std::fs::read(world.home.path().join(".config/pip/pip.conf")).unwrap_or_default();
        judge(outcome, reads, &file_now, before.is_some())?;
        if let (Some(before), Some(after)) = (before, after) {
            for (key, value) in &before {
                // Under any of pip's names for it.
                let managed = key.split_once('.').is_some_and(|(section, name)| {
                    section == "global"
                        && published.iter().any(|(managed, _)| key_id(name) == *managed)
                });
                if !managed {
                    prop_assert_eq!(after.get(key), Some(value), "pip's {} changed", key);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------- go

const GO_ENV: &[&str] = &[
    "GOFLAGS=-mod=mod",
    "GOPROXY=https://user.example.org/go",
    "GOPRIVATE=*.user.example.org",
    "GONOSUMDB=*.user.example.org",
    "GOPROXY = https://spaced.example.org/",
    "goproxy=https://lower.example.org/",
    "# not a comment to Go, just a line it ignores",
    "",
    "GOINSECURE=*.user.example.org",
];

fn go_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::option::of(proptest::sample::select(
            &[
                "https://goproxy.corp.example/",
                "HTTPS://GoProxy.Corp.Example:443",
            ][..],
        )),
        proptest::collection::vec(
            proptest::sample::select(&["*.corp.example", "github.com/corp/*"][..]),
            0..3,
        ),
    )
        .prop_map(|(proxy, private)| {
            let mut go = serde_json::json!({});
            if let Some(proxy) = proxy {
                go["proxy"] = serde_json::json!([{"source": proxy}, {"source": "direct"}]);
            }
            if !private.is_empty() {
                go["private"] = private.into();
            }
            profile(serde_json::json!({ "go": go }))
        })
}

fn go_view(world: &World) -> Option<BTreeMap<String, String>> {
    serde_json::from_str(&world.client("go", &["env", "-json"])?).ok()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn go_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(GO_ENV, 8),
        profile in go_profile(),
        from_env in proptest::option::of(proptest::sample::select(&["off", ""][..])),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let variables: Vec<(&str, &str)> = from_env.iter().map(|v| ("GOPROXY", *v)).collect();
        let world = World::new(&variables);
        world.write(".config/go/env", &user);
        let before = go_view(&world);
        let outcome = world.sync(&profile, Target::Go);
        let after = go_view(&world);
        let published: BTreeMap<String, String> = plan(&profile)
            .remove(&Target::Go)
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.key, s.values.join(" ")))
            .collect();
        let reads = published.is_empty() || after.as_ref().is_some_and(|after| {
            published.iter().all(|(key, value)| after.get(key) == Some(value))
        });
        let file_now = std::fs::read(world.home.path().join(".config/go/env")).unwrap_or_default();
        judge(outcome, reads, &file_now, before.is_some())?;
        if let (Some(before), Some(after)) = (before, after) {
            // GONOPROXY and GONOSUMDB follow GOPRIVATE unless set; GOGCCFLAGS names a
            // temporary folder of each run.
            let derived = ["GONOPROXY", "GONOSUMDB", "GOGCCFLAGS"];
            for (key, value) in &before {
                if !published.contains_key(key) && !derived.contains(&key.as_str()) {
                    prop_assert_eq!(after.get(key), Some(value), "go's {} changed", key);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------- git

const GITCONFIG: &[&str] = &[
    "[user]",
    "\tname = Ada",
    "\temail = \"ada@example.org\" ; quoted",
    "[url \"https://git.corp.example/\"]",
    "[url \"https://user.example.org/\"]",
    "\tinsteadOf = git@git.corp.example:",
    "\tinsteadOf = https://github.com/",
    "\tInsteadOf = https://gitlab.com/",
    "\tpushInsteadOf = https://github.com/",
    "[http]",
    "\tproxy = http://user-proxy.example.org:8080",
    "# a comment",
    "; another",
    "",
    "[core]",
    "\tautocrlf = false",
];

const XDG_GIT: &[&str] = &[
    "[url \"https://xdg.example.org/\"]",
    "\tinsteadOf = https://github.com/",
    "[http]",
    "\tproxy = http://xdg-proxy.example.org:8080",
];

fn git_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::sample::select(
            &[
                "https://git.corp.example/",
                "HTTPS://Git.Corp.Example",
                "https://user.example.org/",
            ][..],
        ),
        proptest::collection::vec(
            proptest::sample::select(
                &[
                    "https://github.com/",
                    "git@git.corp.example:",
                    "https://gitlab.com/",
                ][..],
            ),
            1..3,
        ),
        proptest::option::of(proptest::sample::select(
            &["http://proxy.corp.example:3128"][..],
        )),
    )
        .prop_map(|(base, mut prefixes, proxy)| {
            prefixes.dedup();
            let mut git = serde_json::json!({"rewrites": [{"base": base, "instead-of": prefixes}]});
            if let Some(proxy) = proxy {
                git["http-proxy"] = proxy.into();
            }
            profile(serde_json::json!({ "git": git }))
        })
}

/// `git config --list`: every `key=value` git reads, as a multiset.
fn git_view(world: &World) -> Option<Vec<String>> {
    let mut lines: Vec<String> = world
        .client("git", &["config", "--list"])?
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    Some(lines)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn git_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(GITCONFIG, 10),
        xdg in proptest::option::of(lines_of(XDG_GIT, 4)),
        profile in git_profile(),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let world = World::new(&[]);
        world.write(".gitconfig", &user);
        if let Some(xdg) = &xdg {
            world.write(".config/git/config", xdg);
        }
        let before = git_view(&world);
        let outcome = world.sync(&profile, Target::Git);
        let after = git_view(&world);
        let git = profile.clone().normalized().git.unwrap();
        let rewrite = &git.rewrites.as_ref().unwrap()[0];
        let mut reads = after.is_some();
        for prefix in &rewrite.instead_of {
            let got = world.client("git", &["ls-remote", "--get-url", prefix]);
            reads &= got.as_deref().map(str::trim) == Some(rewrite.base.as_str());
        }
        if let Some(proxy) = &git.http_proxy {
            let got = world.client("git", &["config", "--get", "http.proxy"]);
            reads &= got.as_deref().map(str::trim) == Some(proxy.as_str());
        }
        let file_now = std::fs::read(world.home.path().join(".gitconfig")).unwrap_or_default();
        judge(outcome, reads, &file_now, before.is_some())?;
        // Every line git read before is still read, but the http.proxy the profile replaces.
        if let (Some(before), Some(after)) = (before, after) {
            for line in before {
                if git.http_proxy.is_some() && line.starts_with("http.proxy=") {
                    continue;
                }
                prop_assert!(after.contains(&line), "git no longer reads {}", line);
            }
        }
    }
}

// -------------------------------------------------------------------------------- Cargo

/// Lines of a user's `config.toml`: tables and keys the agent writes, in every TOML spelling
/// (tables, dotted keys, inline tables), so that some files are not TOML at all (a key or
/// table twice), comments, keys of the user's own.
const CARGO_CONFIG: &[&str] = &[
    "# my cargo",
    "",
    "[build]",
    "jobs = 2 # two cores",
    "[source.crates-io]",
    "replace-with = \"mine\"",
    "[source.mine]",
    "registry = \"sparse+https://user.example.org/index/\"",
    "[http]",
    "proxy = \"http://user-proxy.example.org:8080\"",
    "timeout = 30",
    "http.proxy = \"http://dotted.example.org:1\"",
    "[registries.switchyard]",
    "index = \"sparse+https://user.example.org/theirs/\"",
    "[registries]",
    "corp = { index = \"sparse+https://user.example.org/corp/\" }",
    "[net]",
    "retry = 5",
    "net.retry = 3",
    "[alias]",
    "b = [\"build\", # a comment in an array",
    "  \"--offline\"]",
];

fn cargo_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::sample::select(
            &[
                "sparse+https://crates.corp.example/index/",
                "https://crates.corp.example/git-index",
            ][..],
        ),
        proptest::option::of(proptest::sample::select(
            &["http://proxy.corp.example:3128"][..],
        )),
        any::<bool>(),
    )
        .prop_map(|(registry, proxy, corp)| {
            let mut cargo = serde_json::json!({ "registry": registry });
            if let Some(proxy) = proxy {
                cargo["http-proxy"] = proxy.into();
            }
            if corp {
                cargo["registries"] =
                    serde_json::json!({"corp": "sparse+https://crates.corp.example/corp/"});
            }
            profile(serde_json::json!({ "cargo": cargo }))
        })
}

/// Every value Cargo reads from its files, by dotted key, as JSON text: `cargo config get
/// --format json` (unstable: `RUSTC_BOOTSTRAP=1`).
fn cargo_view(world: &World) -> Option<BTreeMap<String, String>> {
    fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
        match value {
            serde_json::Value::Object(table) => {
                for (key, inner) in table {
                    let path = match prefix {
                        "" => key.clone(),
                        _ => format!("{prefix}.{key}"),
                    };
                    flatten(&path, inner, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.to_string());
            }
        }
    }
    let mut world_env = world.env.clone();
    world_env.insert("RUSTC_BOOTSTRAP".into(), "1".into());
    let output = Command::new("cargo")
        .args([
            "-Z",
            "unstable-options",
            "config",
            "get",
            "--format",
            "json",
        ])
        .env_clear()
        .envs(&world_env)
        .current_dir(world.home.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("the real cargo is needed here: {e}"));
    if !output.status.success() {
        return None;
    }
    let said: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let mut view = BTreeMap::new();
    flatten("", &said, &mut view);
    Some(view)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cargo_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(CARGO_CONFIG, 10),
        profile in cargo_profile(),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let world = World::new(&[]);
        world.write(".cargo/config.toml", &user);
        let before = cargo_view(&world);
        let outcome = world.sync(&profile, Target::Cargo);
        let after = cargo_view(&world);
        let cargo = profile.clone().normalized().cargo.unwrap();
        let text = |value: &str| serde_json::Value::from(value).to_string();
        let mut published = BTreeMap::from([
            ("source.crates-io.replace-with".to_owned(), text("switchyard")),
            ("registries.switchyard.index".to_owned(), text(cargo.registry.as_deref().unwrap())),
        ]);
        for (name, index) in cargo.registries.iter().flatten() {
            published.insert(format!("registries.{name}.index"), text(index));
        }
        if let Some(proxy) = &cargo.http_proxy {
            published.insert("http.proxy".into(), text(proxy));
        }
        let reads = after.as_ref().is_some_and(|after| {
            published.iter().all(|(key, value)| after.get(key) == Some(value))
        });
        let file_now = std::fs::read(world.home.path().join(".cargo/config.toml")).unwrap_or_default();
        judge(outcome, reads, &file_now, before.is_some())?;
        // Every other value as Cargo read it before.
        if let (Some(before), Some(after)) = (before, after) {
            for (key, value) in &before {
                if !published.contains_key(key) {
                    prop_assert_eq!(after.get(key), Some(value), "Cargo's {} changed", key);
                }
            }
        }
    }
}

// --------------------------------------------------------------------------------- Yarn

/// Lines of a user's `.yarnrc.yml`: the keys the agent writes in every YAML spelling (quoted,
/// plain, with a comment, a flow mapping), nested scopes, lists, and lines that make a file
/// no YAML at all (a tab, a list beside keys, a key twice).
const YARNRC: &[&str] = &[
    "# my yarn",
    "",
    "npmRegistryServer: \"https://user.example.org/\"",
    "npmRegistryServer: 'https://user.example.org/single/'",
    "npmRegistryServer: https://user.example.org/plain/ # a comment",
    "enableTelemetry: false",
    "enableStrictSsl: true",
    "httpProxy: http://user-proxy.example.org:8080",
    "npmScopes:",
    "  corp:",
    "    npmRegistryServer: https://user.example.org/corp/",
    "  other:",
    "    npmRegistryServer: https://user.example.org/other/",
    "npmScopes: {mine: {npmRegistryServer: \"https://user.example.org/flow/\"}}",
    "unsafeHttpWhitelist:",
    "  - user.example.org",
    "\tbad: tab",
    "- a list item",
    "nodeLinker: node-modules",
];

fn yarn_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::sample::select(&["https://npm.corp.example/", "http://LOCALHOST:4873/"][..]),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::sample::select(
            &["http://proxy.corp.example:3128"][..],
        )),
    )
        .prop_map(|(registry, scope, strict, proxy)| {
            let mut npm = serde_json::json!({ "registry": registry });
            if scope {
                npm["scopes"] = serde_json::json!({"@corp": "https://npm.corp.example/corp/"});
            }
            if let Some(strict) = strict {
                npm["strict-ssl"] = strict.into();
            }
            if let Some(proxy) = proxy {
                npm["proxy"] = proxy.into();
            }
            profile(serde_json::json!({ "npm": npm }))
        })
}

/// What Yarn reads from the user's file, asked as the agent asks it (in an empty folder,
/// `YARN_RC_FILENAME` naming no file): every setting's effective value (`yarn config
/// --json`), and each scope's registry (`npmScopes.<scope>`, which that listing leaves out).
fn yarn_view(world: &World) -> Option<BTreeMap<String, String>> {
    let empty = world.home.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let yarn = |args: &[&str]| {
        let output = Command::new("yarn")
            .args(args)
            .env_clear()
            .envs(&world.env)
            .envs([
                ("YARN_RC_FILENAME", ".no-project-file.yml"),
                ("YARN_IGNORE_PATH", "1"),
                ("YARN_ENABLE_TELEMETRY", "0"),
            ])
            .current_dir(&empty)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("the real yarn is needed here (scripts/test installs it): {e}")
            });
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let mut view = BTreeMap::new();
    for line in yarn(&["config", "--json"])?.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        let key = entry["key"].as_str()?.to_owned();
        // Folders Yarn derives from where it runs are not settings.
        if key.ends_with("Folder") || key == "npmScopes" || key == "npmRegistries" {
            continue;
        }
        view.insert(key, entry["effective"].to_string());
    }
    // Yarn prints `undefined` where no file sets a scope.
    let scopes: serde_json::Value =
        serde_json::from_str(&yarn(&["config", "get", "npmScopes", "--json"])?).unwrap_or_default();
    for (scope, settings) in scopes.as_object().into_iter().flatten() {
        view.insert(
            format!("npmScopes.{scope}"),
            settings["npmRegistryServer"].to_string(),
        );
    }
    Some(view)
}

proptest! {
    #![proptest_config(Config { cases: config().cases.min(24), ..config() })]

    #[test]
    fn yarn_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(YARNRC, 8),
        profile in yarn_profile(),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let world = World::new(&[]);
        world.write(".yarnrc.yml", &user);
        let before = yarn_view(&world);
        let outcome = world.sync(&profile, Target::Yarn);
        let after = yarn_view(&world);
        let npm = profile.clone().normalized().npm.unwrap();
        let text = |value: &str| serde_json::Value::from(value).to_string();
        let registry = npm.registry.clone().unwrap();
        // Yarn drops a registry's trailing `/`.
        let mut published = BTreeMap::from([(
            "npmRegistryServer".to_owned(),
            text(registry.trim_end_matches('/')),
        )]);
        for (scope, url) in npm.scopes.iter().flatten() {
            published.insert(
                format!("npmScopes.{}", scope.trim_start_matches('@')),
                text(url.trim_end_matches('/')),
            );
        }
        if let Some(strict) = npm.strict_ssl {
            published.insert("enableStrictSsl".into(), strict.to_string());
        }
        if let Some(proxy) = &npm.proxy {
            published.insert("httpProxy".into(), text(proxy));
            published.insert("httpsProxy".into(), text(proxy));
        }
        let plain_host = url::Url::parse(&registry)
            .ok()
            .filter(|url| url.scheme() == "http")
            .and_then(|url| url.host_str().map(str::to_owned));
        let reads = after.as_ref().is_some_and(|after| {
            let whitelisted = plain_host.as_ref().is_none_or(|host| {
                after
                    .get("unsafeHttpWhitelist")
                    .is_some_and(|hosts| hosts.contains(&text(host)))
            });
            // Yarn drops a registry's trailing `/`, and keeps a proxy's as written.
            let bare = |text: &str| text.replace("/\"", "\"");
            whitelisted
                && published
                    .iter()
                    .all(|(key, value)| after.get(key).map(|read| bare(read)) == Some(bare(value)))
        });
        let file_now = std::fs::read(world.home.path().join(".yarnrc.yml")).unwrap_or_default();
        // A list the user wrote as a mapping Yarn reads as the one host `[object Object]`
        // (its text); the agent leaves such a file alone and says so (`failed`), as it cannot
        // add to a list that is not one and give it back as it was.
        let mapping_for_a_list = before.as_ref().is_some_and(|before| {
            before.get("unsafeHttpWhitelist").map(String::as_str) == Some("[\"[object Object]\"]")
        });
        judge(outcome, reads, &file_now, before.is_some() && !mapping_for_a_list)?;
        // Every other setting as Yarn read it before; the user's hosts stay whitelisted.
        if let (Some(before), Some(after)) = (before, after) {
            for (key, value) in &before {
                if published.contains_key(key) {
                    continue;
                }
                if key == "unsafeHttpWhitelist" {
                    // Yarn reads a key with no value as the one host `null`, which the agent
                    // makes a list of its own hosts.
                    let hosts: Vec<String> = serde_json::from_str::<Vec<String>>(value)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|host| host != "null")
                        .collect();
                    let now = &after[key];
                    for host in hosts {
                        prop_assert!(now.contains(&text(&host)), "Yarn no longer allows {}", host);
                    }
                    continue;
                }
                prop_assert_eq!(after.get(key), Some(value), "Yarn's {} changed", key);
            }
        }
    }
}

// -------------------------------------------------------------------------------- Maven

/// Lines inside the user's `<settings>`: elements whole or split over lines (so that some
/// files are not XML at all), mirrors of central by id (which win over the agent's), of
/// everything (which come after it), of another repository, logins, proxies, comments.
const SETTINGS_XML: &[&str] = &[
    "<!-- my settings -->",
    "",
    "  <offline>false</offline>",
    "  <interactiveMode>false</interactiveMode>",
    "  <mirrors><mirror><id>theirs</id><url>https://theirs.example.org/central/</url><mirrorOf>central</mirrorOf></mirror></mirrors>",
    "  <mirrors><mirror><id>all</id><url>https://theirs.example.org/all/</url><mirrorOf>*</mirrorOf></mirror></mirrors>",
    "  <mirrors><mirror><id>snap</id><url>https://theirs.example.org/snap/</url><mirrorOf>my-snapshots</mirrorOf></mirror></mirrors>",
    "  <mirrors/>",
    "  <mirrors>",
    "    <mirror><id>ext</id><url>https://theirs.example.org/ext/</url><mirrorOf>external:*</mirrorOf></mirror>",
    "  </mirrors>",
    "  <servers><server><id>theirs</id><username>me</username><password>p&amp;w</password></server></servers>",
    "  <servers><server><id>switchyard</id><username>old</username></server></servers>",
    "  <proxies><proxy><id>p</id><active>true</active><protocol>https</protocol><host>proxy.example.org</host><port>8080</port></proxy></proxies>",
    "  <!-- <mirrors> in a comment -->",
    "  <pluginGroups><pluginGroup>org.example</pluginGroup></pluginGroups>",
];

/// What the profile's mirror stands in for, as Maven's `mirrorOf` patterns.
const MIRROR_OF: &[&[&str]] = &[
    &["*"],
    &["external:*"],
    &["central"],
    &["*", "!my-snapshots"],
    &["*", "!central"],
    &["my-snapshots"],
];

fn maven_profile() -> impl Strategy<Value = Option<Profile>> {
    (
        proptest::sample::select(
            &[
                "https://maven.corp.example/maven2/",
                "HTTP://Maven.Corp.Example:80/m2",
            ][..],
        ),
        proptest::option::of(proptest::sample::select(MIRROR_OF)),
        proptest::option::of("[a-zA-Z0-9&<>\"'#;=.-]{1,12}"),
    )
        .prop_map(|(repository, mirror_of, password)| {
            let mut maven = serde_json::json!({"repository": repository});
            if let Some(mirror_of) = mirror_of {
                maven["mirror-of"] = serde_json::json!(mirror_of);
            }
            if let Some(password) = password {
                maven["username"] = "ada".into();
                maven["password"] = serde_json::json!({ "value": password });
            }
            profile(serde_json::json!({ "maven": maven }))
        })
}

/// What Maven reads, asked with `mvn -X -o -B validate` on a project that declares the
/// repository `my-snapshots`: its user settings file, its local repository, and for central
/// and `my-snapshots` the mirror it takes, as `id (url)`; `None` when Maven fails (it could
/// not read the settings).
fn maven_view(world: &World) -> Option<BTreeMap<String, String>> {
    let project = world.home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pom.xml"),
        "<project><modelVersion>4.0.0</modelVersion><groupId>g</groupId><artifactId>a</artifactId>\
         <version>1</version><packaging>pom</packaging><repositories><repository>\
         <id>my-snapshots</id><url>https://snapshots.example.org/</url></repository></repositories></project>\n",
    )
    .unwrap();
    let pom = project.join("pom.xml");
    let said = world.client(
        "mvn",
        &["-X", "-o", "-B", "validate", "-f", pom.to_str().unwrap()],
    )?;
    let mut view = BTreeMap::new();
    for line in said.lines() {
        if let Some(file) = line.strip_prefix("[DEBUG] Reading user settings from ") {
            view.insert("user settings".to_owned(), file.to_owned());
        } else if let Some(local) = line.strip_prefix("[DEBUG] Using local repository at ") {
            view.insert("local repository".to_owned(), local.to_owned());
        } else if let Some(rest) = line.strip_prefix("[DEBUG] Using mirror ") {
            let (mirror, repository) = rest.split_once(" for ").unwrap();
            let repository = repository.split_once(" (").unwrap().0;
            view.insert(format!("mirror for {repository}"), mirror.to_owned());
        }
    }
    Some(view)
}

proptest! {
    #![proptest_config(Config { cases: config().cases.min(24), ..config() })]

    #[test]
    fn maven_reads_what_was_published_and_the_users_own_settings_as_before(
        user in lines_of(SETTINGS_XML, 8),
        declaration in any::<bool>(),
        profile in maven_profile(),
    ) {
        let Some(profile) = profile else { return Ok(()) };
        let world = World::new(&[]);
        let crlf = user.contains("\r\n");
        let nl = if crlf { "\r\n" } else { "\n" };
        let (bom, body) = match user.strip_prefix('\u{feff}') {
            Some(body) => ("\u{feff}", body),
            None => ("", user.as_str()),
        };
        let head = if declaration { format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{nl}") } else { String::new() };
        let settings = format!("{bom}{head}<settings>{nl}{body}{nl}</settings>{nl}");
        world.write(".m2/settings.xml", &settings);
        let before = maven_view(&world);
        let outcome = world.sync(&profile, Target::Maven);
        let after = maven_view(&world);
        let maven = profile.clone().normalized().maven.unwrap();
        let url = maven.repository.clone().unwrap();
        let of = maven.mirror_of.clone().unwrap_or_else(|| vec!["*".into()]).join(",");
        let mirrored = |repository: &str| {
            let patterns: Vec<&str> = of.split(',').collect();
            !patterns.contains(&format!("!{repository}").as_str())
                && patterns.iter().any(|p| *p == "*" || *p == "external:*" || *p == repository)
        };
        let ours = format!("switchyard ({url})");
        let mut published = Vec::new();
        for repository in ["central", "my-snapshots"] {
            if mirrored(repository) {
                published.push(format!("mirror for {repository}"));
            }
        }
        let reads = after.as_ref().is_some_and(|after| {
            published.iter().all(|key| after.get(key) == Some(&ours))
        });
        let file_now = std::fs::read(world.home.path().join(".m2/settings.xml")).unwrap_or_default();
        // A file Maven refuses is one the agent must not write into either.
        let state = outcome.0;
        judge(outcome, reads, &file_now, before.is_some())?;
        if before.is_none() {
            prop_assert_eq!(state, TargetState::Failed, "Maven refuses the file, yet the agent wrote into it");
        }
        // The user's own: the same file and local repository, the same mirrors for what the
        // profile's mirror does not stand in for.
        if let (Some(before), Some(after)) = (before, after) {
            for (key, value) in &before {
                if !published.contains(key) {
                    prop_assert_eq!(after.get(key), Some(value), "Maven's {} changed", key);
                }
            }
        }
    }
}

#[test]
fn the_clients_are_here() {
    for (program, args) in [
        ("npm", &["--version"][..]),
        ("python3", &["-m", "pip", "--version"][..]),
        ("go", &["version"][..]),
        ("git", &["--version"][..]),
        ("mvn", &["--version"][..]),
        ("cargo", &["--version"][..]),
        ("yarn", &["--version"][..]),
    ] {
        let ran = Command::new(program)
            .args(args)
            .env("PATH", clients_path())
            .output();
        assert!(
            ran.as_ref().is_ok_and(|o| o.status.success()),
            "the differential tests need the real {program} (scripts/test installs it): {ran:?}"
        );
    }
}
