//! The agent against the real server, proved by the real clients: npm, pip, go and git read
//! what it wrote, the user's own settings survive, and `restore` gives every file back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use switchyard_agent::agent::{Agent, MachineFacts, Synced};
use switchyard_agent::engine::Outcome;
use switchyard_agent::engine::Paths;
use switchyard_agent::state::StateDir;
use switchyard_proto::devices::TargetState;
use switchyard_tests::relay::{Mode, Relay};
use switchyard_tests::{Backend, TestApp};

/// A user's home with settings of their own in every client's file.
pub(crate) struct Home {
    root: tempfile::TempDir,
}

impl Home {
    pub(crate) fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let home = Self { root };
        home.write(
            ".npmrc",
            "; my npm settings\r\nsave-exact=true\r\nregistry=https://registry.example.org/\r\n",
        );
        home.write(
            ".config/pip/pip.conf",
            "# mine\n[global]\ntimeout = 60\n\n[install]\nno-compile = true\n",
        );
        home.write(".gitconfig", "[user]\n\tname = Ada\n\temail = ada@example.org\n[url \"https://mirror.example.org/\"]\n\tinsteadOf = https://example.net/\n");
        home.write(".config/go/env", "GOFLAGS=-mod=mod\n");
        home.write(".profile", "# ~/.profile\nexport EDITOR=vi\n");
        home
    }

    pub(crate) fn path(&self) -> &Path {
        self.root.path()
    }

    pub(crate) fn write(&self, name: &str, content: &str) {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Every file, the clients' caches too, with its bytes.
    pub(crate) fn snapshot_all(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.path().to_owned()];
        while let Some(folder) = stack.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                match path.is_dir() {
                    true => stack.push(path),
                    false => {
                        files.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
                    }
                }
            }
        }
        files
    }

    /// Every file, with its bytes.
    pub(crate) fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![self.path().to_owned()];
        while let Some(folder) = stack.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    // The clients' own caches are theirs: npm's, the XDG cache, Maven's local
                    // repository, Gradle's caches.
                    let cache = path.ends_with(".npm")
                        || path.ends_with(".cache")
                        || path.ends_with(".m2/repository")
                        || [".gradle/caches", ".gradle/native", ".gradle/daemon"]
                            .iter()
                            .any(|cache| path.ends_with(cache));
                    if !cache {
                        stack.push(path);
                    }
                } else {
                    files.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    /// Runs a real client in this home, with nothing from the test's own environment that
    /// could change what it reads; it must succeed.
    pub(crate) fn client(&self, program: &str, args: &[&str]) -> String {
        let output = self.run(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The environment the clients run with here, the agent's too: this home, and nothing
    /// from the test's own environment that could change what they read.
    pub(crate) fn base_env(&self) -> BTreeMap<String, String> {
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
            if let Some(home) = std::env::var_os("HOME") {
                let rustup = std::path::Path::new(&home).join(".rustup");
                env.insert("RUSTUP_HOME".into(), rustup.to_string_lossy().into_owned());
            }
        }
        for (name, value) in [
            ("PATH", switchyard_tests::clients_path()),
            ("HOME", self.path().to_string_lossy().into_owned()),
            (
                "XDG_CONFIG_HOME",
                self.path().join(".config").to_string_lossy().into_owned(),
            ),
            ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
            ("GIT_TERMINAL_PROMPT", "0".to_owned()),
            ("GOTOOLCHAIN", "local".to_owned()),
            ("npm_config_update_notifier", "false".to_owned()),
            // Java takes `user.home`, where Maven finds `.m2` and Gradle `.gradle`, from the
            // account, not `HOME`.
            (
                "MAVEN_OPTS",
                format!("-Duser.home={}", self.path().to_string_lossy()),
            ),
            (
                "GRADLE_USER_HOME",
                self.path().join(".gradle").to_string_lossy().into_owned(),
            ),
        ] {
            env.insert(name.to_owned(), value);
        }
        env
    }

    /// Runs a real client in this home, as [`Home::client`], whatever its exit status.
    pub(crate) fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        self.run_in(self.path(), program, args)
    }

    /// [`Home::run`] in the folder `cwd` (a project's).
    pub(crate) fn run_in(&self, cwd: &Path, program: &str, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(program);
        command
            .current_dir(cwd)
            .args(args)
            .env_clear()
            .envs(self.base_env())
            .stdin(std::process::Stdio::null());
        command.output().unwrap_or_else(|error| {
            panic!(
                "cannot run {program}: {error}. The agent's tests need the real clients: \
                 apt-get install golang-go nodejs npm python3-pip git curl, and uv under \
                 target/clients (scripts/test does all of it)"
            )
        })
    }
}

pub(crate) async fn published_fleet() -> (TestApp, String) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    let profile = json!({
        "go": {"proxy": [{"source": "https://goproxy.corp.example/"}, {"source": "direct"}],
               "private": ["*.corp.example"], "nosumdb": ["*.corp.example", "github.com/corp/*"]},
        "npm": {"registry": "https://npm.corp.example/",
                "scopes": {"@corp": "https://npm.corp.example/corp/"},
                "auth-tokens": {"https://npm.corp.example/": {"value": "npm-t0ken"}}},
        "pypi": {"index-url": "https://pypi.corp.example/simple",
                "extra-index-url": ["https://pypi2.corp.example/simple"]},
        "cargo": {"registry": "sparse+https://crates.corp.example/index/",
                  "registry-token": {"value": "cargo-t0ken"},
                  "http-proxy": "http://proxy.corp.example:3128"},
        "maven": {"repository": "https://maven.corp.example/maven2/",
                  "username": "ada", "password": {"value": "maven-pa55"},
                  "proxy": "http://proxy.corp.example:3128", "no-proxy": ["*.corp.example"]},
        "rubygems": {"source": "https://gems.corp.example/",
                     "username": "ada", "password": {"value": "gem-pa55"}},
        "git": {"rewrites": [{"base": "https://git.corp.example/github/", "instead-of": ["https://github.com/"]}]},
        "proxy": {"https": "http://proxy.corp.example:3128", "no-proxy": ["localhost", ".corp.example"]}
    });
    app.publish_profile("staging", "baseline", profile).await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    (app, token)
}

/// An agent for `home`, keeping its state in `state`, run with `environment` over the
/// variables the home's clients run with ([`Home::base_env`]).
pub(crate) fn agent_for(home: &Home, state: &Path, environment: BTreeMap<String, String>) -> Agent {
    let mut env = home.base_env();
    env.extend(environment);
    Agent {
        state: StateDir::new(state.to_owned()),
        paths: Paths::user(|name| env.get(name).cloned()).unwrap(),
        environment: env,
        cwd: None,
    }
}

/// How `target` (its name in reports) went in `synced`.
pub(crate) fn outcome_of<'a>(synced: &'a Synced, target: &str) -> &'a Outcome {
    synced
        .outcomes
        .iter()
        .find(|o| o.target.name() == target)
        .unwrap_or_else(|| panic!("no {target} in {:?}", synced.outcomes))
}

/// Asserts that `target` is shadowed in `synced`, for a reason that says `reason`.
pub(crate) fn assert_shadowed(synced: &Synced, target: &str, reason: &str) {
    let outcome = outcome_of(synced, target);
    assert_eq!(outcome.state, TargetState::Shadowed, "{outcome:?}");
    assert!(
        outcome.message.as_deref().unwrap().contains(reason),
        "{target}: {outcome:?}"
    );
}

/// Enrolls `agent` with `token` at `server`, then runs `then` with it, off the async runtime
/// (the agent blocks).
pub(crate) async fn enrolled<T: Send + 'static>(
    agent: Agent,
    server: &str,
    token: String,
    then: impl FnOnce(&Agent) -> T + Send + 'static,
) -> (Agent, T) {
    let server = server.to_owned();
    tokio::task::spawn_blocking(move || {
        let facts = MachineFacts {
            hostname: "dev-07".into(),
            os: "linux".into(),
            user: "ada".into(),
        };
        agent.enroll(&server, &token, &facts).unwrap();
        let result = then(&agent);
        (agent, result)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_clients_read_what_the_agent_wrote_and_restore_gives_every_byte_back() {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    let before = home.snapshot();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (agent, synced) = enrolled(agent, &app.base_url, token, |agent| {
        // `diff` shows what would change, secrets hidden, and writes nothing.
        let previewed = agent.preview().unwrap();
        assert!(previewed.failures.is_empty(), "{:?}", previewed.failures);
        assert_eq!(previewed.previews.len(), 16, "{:?}", previewed.previews);
        assert_eq!(
            previewed.secrets,
            [
                "https://ada:gem-pa55@gems.corp.example/",
                "ada:gem-pa55",
                "cargo-t0ken",
                "maven-pa55",
                "npm-t0ken"
            ]
        );
        agent.sync(0).unwrap()
    })
    .await;
    assert!(
        synced.outcomes.iter().all(|o| o.state == TargetState::Ok),
        "{:?}",
        synced.outcomes
    );

    // npm: our registry and scope, the user's own setting kept.
    assert_eq!(
        home.client("npm", &["config", "get", "registry"]).trim(),
        "https://npm.corp.example/"
    );
    assert_eq!(
        home.client("npm", &["config", "get", "@corp:registry"])
            .trim(),
        "https://npm.corp.example/corp/"
    );
    assert_eq!(
        home.client("npm", &["config", "get", "save-exact"]).trim(),
        "true"
    );
    let npmrc = std::fs::read_to_string(home.path().join(".npmrc")).unwrap();
    assert!(
        npmrc.contains("//npm.corp.example/:_authToken=npm-t0ken\r\n"),
        "{npmrc}"
    );

    // pip: the merged view has ours and the user's.
    let pip = home.client("python3", &["-m", "pip", "config", "list"]);
    assert!(
        pip.contains("global.index-url='https://pypi.corp.example/simple'"),
        "{pip}"
    );
    assert!(
        pip.contains("global.extra-index-url='https://pypi2.corp.example/simple'"),
        "{pip}"
    );
    assert!(pip.contains("global.timeout='60'"), "{pip}");
    assert!(pip.contains("install.no-compile='true'"), "{pip}");

    // go.
    let go = home.client(
        "go",
        &["env", "GOPROXY", "GONOSUMDB", "GOPRIVATE", "GOFLAGS"],
    );
    assert_eq!(
        go.lines().collect::<Vec<_>>(),
        [
            "https://goproxy.corp.example/,direct",
            "*.corp.example,github.com/corp/*",
            "*.corp.example",
            "-mod=mod"
        ]
    );

    // git: both rewrites, and the rewrite git itself applies.
    let git = home.client("git", &["config", "--get-regexp", "^url\\."]);
    assert!(
        git.contains("url.https://git.corp.example/github/.insteadof https://github.com/"),
        "{git}"
    );
    assert!(
        git.contains("url.https://mirror.example.org/.insteadof https://example.net/"),
        "{git}"
    );
    assert_eq!(
        home.client(
            "git",
            &["ls-remote", "--get-url", "https://github.com/corp/tool.git"]
        )
        .trim(),
        "https://git.corp.example/github/corp/tool.git"
    );
    assert_eq!(
        home.client("git", &["config", "--get", "user.name"]).trim(),
        "Ada"
    );

    // The shell snippet exports the proxy to login shells.
    let shell = home.client(
        "sh",
        &[
            "-c",
            ". \"$HOME/.profile\"; printf '%s %s' \"$HTTPS_PROXY\" \"$no_proxy\"",
        ],
    );
    assert_eq!(
        shell,
        "http://proxy.corp.example:3128/ localhost,.corp.example"
    );

    // A second sync changes nothing; restore gives back every byte.
    let written = home.snapshot();
    let again = tokio::task::spawn_blocking(move || {
        let again = agent.sync(0).unwrap();
        assert!(agent.restore().unwrap().is_empty());
        again
    })
    .await
    .unwrap();
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| o.state == TargetState::Unchanged),
        "{:?}",
        again.outcomes
    );
    assert_ne!(written, before);
    assert_eq!(home.snapshot(), before);
}

/// Each client's documented order of reading, one way per client that something the agent did
/// not write is read first: `sync` says `shadowed`, with what the client reads and where, and
/// the server hears it. (`doctor` says the same: agent/tests/cli.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatever_a_client_reads_before_the_agents_file_makes_its_target_shadowed() {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    // pip: the user's own [install] section, read over [global] by `pip install`.
    home.write(
        ".config/pip/pip.conf",
        "[global]\ntimeout = 60\n\n[install]\nindex-url = https://mine.example.org/simple\n",
    );
    // git: the XDG file is read before ~/.gitconfig; of equal prefixes the first read wins.
    home.write(
        ".config/git/config",
        "[url \"https://mine.example.org/\"]\n\tinsteadOf = https://github.com/\n",
    );
    // systemd: a later environment.d file.
    home.write(
        ".config/environment.d/70-mine.conf",
        "HTTPS_PROXY=http://mine.example.org:3128/\n",
    );
    // Maven: a mirror of central by its id, taken over any wildcard.
    home.write(
        ".m2/settings.xml",
        "<settings><mirrors><mirror><id>mine</id><url>https://mine.example.org/maven2/</url><mirrorOf>central</mirrorOf></mirror></mirrors></settings>\n",
    );
    // Gradle: an init script of the user's that runs after the agent's.
    home.write(
        ".gradle/init.d/zz-mine.gradle",
        "allprojects { repositories.all { repository -> repository.url = 'https://mine.example.org/maven2/' } }\n",
    );
    let state = tempfile::tempdir().unwrap();
    // Go and npm: variables, read before their files.
    let agent = agent_for(
        &home,
        state.path(),
        BTreeMap::from([
            ("GOPROXY".to_owned(), "off".to_owned()),
            (
                "npm_config_registry".to_owned(),
                "https://mine.example.org/npm/".to_owned(),
            ),
            // pnpm and uv: their own variables.
            (
                "PNPM_CONFIG_REGISTRY".to_owned(),
                "https://mine.example.org/pnpm/".to_owned(),
            ),
            (
                "UV_DEFAULT_INDEX".to_owned(),
                "https://mine.example.org/simple/".to_owned(),
            ),
            (
                "YARN_NPM_REGISTRY_SERVER".to_owned(),
                "https://mine.example.org/yarn/".to_owned(),
            ),
            // Cargo: its variables, read over its files.
            (
                "CARGO_HTTP_PROXY".to_owned(),
                "http://mine.example.org:3128".to_owned(),
            ),
            (
                "CARGO_REGISTRIES_SWITCHYARD_TOKEN".to_owned(),
                "my-own-t0ken".to_owned(),
            ),
            // RubyGems: GEMRC names other files, read instead of the user's.
            ("GEMRC".to_owned(), "/srv/builds/gemrc".to_owned()),
            // Bundler: a login for the mirror's host in the environment, read over the file.
            (
                "BUNDLE_GEMS__CORP__EXAMPLE".to_owned(),
                "someone:else".to_owned(),
            ),
            // Maven 3.9 reads -s in MAVEN_ARGS (3.8 does not: its check finds the mirror).
            (
                "MAVEN_ARGS".to_owned(),
                "-s /srv/builds/settings.xml".to_owned(),
            ),
        ]),
    );
    let (agent, synced) =
        enrolled(agent, &app.base_url, token, |agent| agent.sync(0).unwrap()).await;
    // Where a client cannot be asked, its documented order finds the same.
    let planned = switchyard_agent::plan::plan(&synced.delivery.profile);
    for (target, settings) in planned.iter().filter(|(_, settings)| !settings.is_empty()) {
        let modelled =
            switchyard_agent::clients::modelled(*target, settings, &agent.surroundings());
        // Nothing but Gradle's own command line is read over the user's gradle.properties.
        let unshadowable = matches!(
            target,
            switchyard_agent::plan::Target::Shell
                | switchyard_agent::plan::Target::GradleProperties
        );
        assert_eq!(
            modelled.is_empty(),
            unshadowable,
            "{target:?}: {modelled:?}"
        );
    }
    for (target, reason) in [
        ("go", "go reads GOPROXY=off from the environment"),
        (
            "npmrc",
            "npm reads registry = https://mine.example.org/npm/ from the env config",
        ),
        (
            "pip",
            "pip install reads index-url = https://mine.example.org/simple from [install] of",
        ),
        (
            "pnpm",
            "pnpm uses https://mine.example.org/pnpm/ for registry",
        ),
        (
            "yarnrc",
            "Yarn reads npmRegistryServer = https://mine.example.org/yarn/",
        ),
        (
            "cargo",
            "Cargo reads http.proxy = http://mine.example.org:3128 from environment variable `CARGO_HTTP_PROXY`",
        ),
        (
            "cargo-credentials",
            "Cargo reads registries.switchyard.token = another value from environment variable `CARGO_REGISTRIES_SWITCHYARD_TOKEN`",
        ),
        (
            "uv",
            "uv uses the default index https://mine.example.org/simple/ from the environment",
        ),
        (
            "git",
            "git rewrites https://github.com/ to https://mine.example.org/",
        ),
        (
            "maven",
            "Maven fetches central through the mirror mine (https://mine.example.org/maven2/)",
        ),
        ("gradle", "Gradle fetches central from https://mine.example.org/maven2/"),
        (
            "gemrc",
            "RubyGems fetches from https://rubygems.org/ first, and not from the published source",
        ),
        ("bundler", "Bundler reads gems.corp.example = another value"),
        (
            "environment.d",
            "user sessions get HTTPS_PROXY=http://mine.example.org:3128/",
        ),
    ] {
        assert_shadowed(&synced, target, reason);
    }
    let devices: Vec<Value> = app.devices("staging").await;
    let targets = devices[0]["report"]["targets"].as_array().unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t["target"] == "go" && t["state"] == "shadowed"),
        "{targets:?}"
    );
    // A round that writes nothing asks again, and finds the same.
    let again = tokio::task::spawn_blocking(move || agent.sync(0).unwrap())
        .await
        .unwrap();
    for (first, second) in synced.outcomes.iter().zip(&again.outcomes) {
        match first.state {
            TargetState::Shadowed => assert_eq!(
                (first.target, first.state, &first.message),
                (second.target, second.state, &second.message)
            ),
            _ => assert_eq!(second.state, TargetState::Unchanged, "{second:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_foreign_delivery_writes_nothing() {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    let before = home.snapshot();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    // The machine pins a key set that is not the server's: every delivery fails to verify.
    let (_, refused) = enrolled(agent, &app.base_url, token, |agent| {
        let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let set = switchyard_proto::delivery::KeySet {
            version: 1,
            keys: vec![switchyard_proto::delivery::PublicKey {
                key_id: switchyard_proto::signing::key_id(&stranger.verifying_key()),
                public_key: switchyard_proto::signing::encode_public_key(&stranger.verifying_key()),
            }],
            issued_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let pinned = switchyard_proto::signing::Signed::sign(
            switchyard_proto::signing::KEY_SET_CONTEXT,
            &set,
            &stranger,
        );
        agent.state.save_key_sets(&[pinned]).unwrap();
        agent.sync(0).unwrap_err()
    })
    .await;
    assert!(
        refused.to_string().contains("nothing was written"),
        "{refused}"
    );
    assert_eq!(home.snapshot(), before);
    // The server heard of it.
    let devices: Vec<Value> = app.devices("staging").await;
    assert_eq!(devices[0]["healthy"], false, "{devices:?}");
    assert_eq!(devices[0]["report"]["targets"][0]["target"], "delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_machine_keeps_its_last_good_settings_and_says_how_old_they_are() {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (agent, _) = enrolled(agent, &app.base_url, token, |agent| agent.sync(0).unwrap()).await;
    let synced = home.snapshot();
    app.stop().await;
    let (agent, error) = tokio::task::spawn_blocking(move || {
        let error = agent.sync(0).unwrap_err();
        (agent, error)
    })
    .await
    .unwrap();
    assert!(error.to_string().contains("cannot be reached"), "{error}");
    assert_eq!(home.snapshot(), synced, "the last good settings stay");
    let status = switchyard_agent::agent::summary(&agent.state).unwrap();
    assert_eq!(status["baseline_version"], 1);
    assert!(status["last_contact_age_secs"].as_i64().unwrap() >= 0);
    assert_eq!(status["expired"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_follows_a_key_rotation_by_itself() {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (agent, _) = enrolled(agent, &app.base_url, token, |agent| agent.sync(0).unwrap()).await;
    rotate_key_and_publish(&app, "direct").await;
    let (agent, synced) = tokio::task::spawn_blocking(move || {
        let synced = agent.sync(0).unwrap();
        (agent, synced)
    })
    .await
    .unwrap();
    assert_eq!(synced.delivery.baseline_version, 2);
    assert_eq!(
        agent.state.key_sets().unwrap().len(),
        2,
        "the new key set is kept"
    );
    let go = std::fs::read_to_string(home.path().join(".config/go/env")).unwrap();
    assert!(go.contains("GOPROXY=direct\n"), "{go}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_applies_each_publish_as_it_happens_and_backs_off_while_the_server_is_away() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let (app, token) = published_fleet().await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (agent, _) = enrolled(agent, &app.base_url, token, |_| ()).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Each round: whether it succeeded, and the pause before the next after a failure.
    type Round = (bool, Option<std::time::Duration>);
    let rounds: Arc<Mutex<Vec<Round>>> = Arc::default();
    let running = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        tokio::task::spawn_blocking(move || {
            agent.run(5, &stop, |round, pause| {
                rounds.lock().unwrap().push((round.is_ok(), pause));
            })
        })
    };
    let go_env = home.path().join(".config/go/env");
    let wait_for = |text: &'static str| {
        let go_env = go_env.clone();
        async move {
            // A round asks every installed client what it reads (Gradle starts two JVMs):
            // the next publish is taken up once that is done.
            for _ in 0..900 {
                if std::fs::read_to_string(&go_env).is_ok_and(|go| go.contains(text)) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("{text} never reached {}", go_env.display());
        }
    };
    wait_for("GOPROXY=https://goproxy.corp.example/,direct").await;
    // A publish reaches the waiting agent without its asking again.
    app.publish_profile(
        "staging",
        "baseline",
        json!({"go": {"proxy": [{"source": "off"}]}}),
    )
    .await;
    wait_for("GOPROXY=off").await;
    // The server goes away: rounds fail and the agent backs off, its files as they were.
    app.stop().await;
    for _ in 0..100 {
        if rounds
            .lock()
            .unwrap()
            .iter()
            .any(|(ok, pause)| !ok && pause.is_some())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(running.await.unwrap().is_none());
    let rounds = rounds.lock().unwrap();
    let pauses: Vec<std::time::Duration> = rounds.iter().filter_map(|(_, pause)| *pause).collect();
    assert!(!pauses.is_empty(), "{rounds:?}");
    assert!(pauses[0] >= std::time::Duration::from_secs(1), "{pauses:?}");
    assert!(std::fs::read_to_string(&go_env)
        .unwrap()
        .contains("GOPROXY=off"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_cut_off_before_it_recorded_what_it_applied_still_refuses_an_older_delivery() {
    let (app, token) = published_fleet().await;
    let relay = Relay::start(&app.base_url);
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let applied_file = state.path().join("applied.json");
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (agent, first_applied) = enrolled(agent, &relay.base_url, token, {
        let applied_file = applied_file.clone();
        move |agent| {
            agent.sync(0).unwrap();
            std::fs::read(applied_file).unwrap()
        }
    })
    .await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({"go": {"proxy": [{"source": "off"}]}}),
    )
    .await;
    // The second sync writes the files, then is cut off before it records what it applied.
    let agent = tokio::task::spawn_blocking(move || {
        agent.sync(0).unwrap();
        std::fs::write(applied_file, first_applied).unwrap();
        agent
    })
    .await
    .unwrap();
    let after_second = home.snapshot();
    // An attacker in the middle hands back the first delivery, genuine but older.
    relay.set(Mode::Replay);
    let refused = tokio::task::spawn_blocking(move || agent.sync(0).unwrap_err())
        .await
        .unwrap();
    assert!(refused.to_string().contains("a replay"), "{refused}");
    assert_eq!(home.snapshot(), after_second, "the replay wrote nothing");
    relay.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_never_ends_is_read_no_further_than_a_real_one_and_refused() {
    let (app, token) = published_fleet().await;
    let relay = Relay::start(&app.base_url);
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), quiet_clients());
    let (agent, _) = enrolled(agent, &relay.base_url, token, |agent| {
        agent.sync(0).unwrap()
    })
    .await;
    let synced = home.snapshot();
    // A limit a real answer stays under, plus what the sockets buffer on the way.
    let read_at_most = (switchyard_proto::delivery::MAX_ENVELOPE_BYTES + (32 << 20)) as u64;

    relay.set(Mode::EndlessProfile);
    let (agent, refused) = sync_failing(agent).await;
    assert!(refused.contains("runs past 4194304 bytes"), "{refused}");
    let profile_bytes = relay.endless_bytes();
    assert!(profile_bytes < read_at_most, "{profile_bytes} bytes sent");
    assert_eq!(home.snapshot(), synced, "nothing was written");
    let devices: Vec<Value> = app.devices("staging").await;
    let message = devices[0]["report"]["targets"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("answer is malformed"), "{devices:?}");

    // The same for the key sets, asked for once a delivery is signed by a new key.
    rotate_key_and_publish(&app, "off").await;
    relay.set(Mode::EndlessKeySets);
    let (agent, refused) = sync_failing(agent).await;
    assert!(refused.contains("runs past 1048576 bytes"), "{refused}");
    let key_set_bytes = relay.endless_bytes() - profile_bytes;
    assert!(key_set_bytes < read_at_most, "{key_set_bytes} bytes sent");
    assert_eq!(home.snapshot(), synced, "nothing was written");

    // A proxy's error page where the profile should be: refused, and the server hears of it.
    relay.set(Mode::Garbage);
    let (agent, refused) = sync_failing(agent).await;
    assert!(refused.contains("answer is malformed"), "{refused}");
    assert_eq!(home.snapshot(), synced, "nothing was written");
    let devices: Vec<Value> = app.devices("staging").await;
    assert_eq!(devices[0]["healthy"], false, "{devices:?}");

    // Once the answers are real again, the delivery signed by the new key is applied.
    relay.set(Mode::Pass);
    let synced = tokio::task::spawn_blocking(move || agent.sync(0).unwrap())
        .await
        .unwrap();
    assert_eq!(synced.delivery.baseline_version, 2);
    relay.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_behind_a_relay_that_answers_at_once_neither_spins_nor_reports_every_round() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let (app, token) = published_fleet().await;
    let relay = Relay::start(&app.base_url);
    // Every answer a 200 of the same delivery, at once, from the start (a round that began
    // before the relay changed would long-poll through it for its whole wait).
    relay.set(Mode::DropConditional);
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), quiet_clients());
    let (agent, _) = enrolled(agent, &relay.base_url, token, |_| ()).await;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let running = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || agent.run(30, &stop, |_, _| ()))
    };
    let (profile, status) = ("/api/v1/agent/profile", "/api/v1/agent/status");
    for _ in 0..600 {
        if relay.requests(status) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(relay.requests(status), 1, "the first round reported");

    // Rounds are at least five seconds apart, then further (about 100 a second before).
    let before = (relay.requests(profile), relay.requests(status));
    tokio::time::sleep(Duration::from_secs(8)).await;
    let asked = relay.requests(profile) - before.0;
    let reported = relay.requests(status) - before.1;
    assert!((1..=2).contains(&asked), "{asked} profile requests in 8 s");
    assert!(reported <= 1, "{reported} status reports in 8 s");

    // A 304 at once, every time: the pause keeps doubling. Counted from the first round that
    // asks through it: rounds follow one another, so a report of an earlier round (the one
    // after the files were first written says `unchanged` where the first said `ok`) is in.
    relay.set(Mode::NotModifiedAtOnce);
    let asked_before = relay.requests(profile);
    for _ in 0..600 {
        if relay.requests(profile) > asked_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = (relay.requests(profile), relay.requests(status));
    tokio::time::sleep(Duration::from_secs(8)).await;
    let asked = relay.requests(profile) - before.0;
    let reported = relay.requests(status) - before.1;
    assert!(asked <= 1, "{asked} profile requests in 8 s");
    assert_eq!(
        reported, 0,
        "an unchanged status is not reported again before its heartbeat"
    );

    stop.store(true, Ordering::Relaxed);
    assert!(running.await.unwrap().is_none());
    relay.stop().await;
    app.stop().await;
}

/// No client on the path: each is judged by its documented order of reading, at once, so that
/// a round takes milliseconds rather than the clients' start-up.
fn quiet_clients() -> BTreeMap<String, String> {
    BTreeMap::from([("PATH".to_owned(), "/nonexistent".to_owned())])
}

/// Syncs `agent` once, expecting it to fail; gives it back with what it said.
async fn sync_failing(agent: Agent) -> (Agent, String) {
    tokio::task::spawn_blocking(move || {
        let error = agent.sync(0).unwrap_err().to_string();
        (agent, error)
    })
    .await
    .unwrap()
}

/// Rotates the server's signing key, then publishes a baseline whose Go proxy is `source`:
/// a delivery signed by a key the machine does not trust yet.
async fn rotate_key_and_publish(app: &TestApp, source: &str) {
    let admin = app.admin_token().await;
    let rotated = app
        .call(
            reqwest::Method::POST,
            "/api/v1/keys/rotate",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(rotated.status(), 201);
    app.publish_profile(
        "staging",
        "baseline",
        json!({"go": {"proxy": [{"source": source}]}}),
    )
    .await;
}

/// What `audit verify` says now, asked with `admin` (logging in would add an event).
async fn verified(app: &TestApp, admin: &str) -> switchyard_proto::AuditVerification {
    let response = app.get_as(admin, "/api/v1/audit/verify").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Lifts the database's append-only guard on the audit trail, as its owner can.
fn unguarded(statements: &str) -> String {
    format!(
        "DROP TRIGGER audit_events_are_append_only_update; \
         DROP TRIGGER audit_events_are_append_only_delete; {statements}"
    )
}

/// Enrolls a machine that syncs once through `app`, then adds history after what it saw;
/// answers an admin's token and the audit position the machine witnessed.
async fn witnessed_fleet() -> (TestApp, String, u64, Agent, Home, tempfile::TempDir) {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), quiet_clients());
    let (agent, synced) =
        enrolled(agent, &app.base_url, token, |agent| agent.sync(0).unwrap()).await;
    app.create_environment("later", false).await;
    let admin = app.admin_token().await;
    let verdict = verified(&app, &admin).await;
    assert!(verdict.intact, "{verdict:?}");
    assert_eq!(
        verdict.witnesses, 1,
        "the machine reported what it was sent"
    );
    (app, admin, synced.delivery.sequence, agent, home, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_cut_from_the_end_after_a_machine_saw_it_fails_verification() {
    let (app, admin, witnessed, _agent, _home, _state) = witnessed_fleet().await;
    // Everything from the event the machine was sent on is deleted: the links that are left
    // still hold.
    app.database()
        .execute(&unguarded(&format!(
            "DELETE FROM audit_events WHERE seq >= {witnessed}"
        )))
        .await;
    let verdict = verified(&app, &admin).await;
    assert!(!verdict.intact, "{verdict:?}");
    let broken = verdict.first_broken.unwrap();
    assert_eq!(broken.seq, witnessed);
    assert!(broken.problem.contains("cut from the end"), "{broken:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rewritten_with_every_hash_recomputed_fails_verification_by_the_machines_witness() {
    let (app, admin, witnessed, agent, _home, _state) = witnessed_fleet().await;
    // An event before the machine's head is edited and every hash from it on recomputed:
    // the chain's own links all hold again.
    let store = app.database().open_store().await;
    let mut events = store.audit_chain(0, 10_000).await.unwrap();
    let edited = witnessed - 1;
    let mut previous = switchyard_server::domain::audit::GENESIS_HASH.to_owned();
    let mut statements = Vec::new();
    for event in &mut events {
        if event.seq == edited {
            event.actor = "mallory".into();
        }
        event.previous_hash = previous.clone();
        event.hash = switchyard_server::domain::audit::content_hash(event);
        previous = event.hash.clone();
        if event.seq >= edited {
            statements.push(format!(
                "UPDATE audit_events SET actor = '{}', previous_hash = '{}', hash = '{}' WHERE seq = {};",
                event.actor, event.previous_hash, event.hash, event.seq
            ));
        }
    }
    app.database()
        .execute(&unguarded(&statements.join(" ")))
        .await;
    // The devices' witnesses are wiped too: the machine reports its own again.
    app.database()
        .execute("UPDATE devices SET witnessed_seq = NULL, witnessed_hash = NULL")
        .await;
    let wiped = verified(&app, &admin).await;
    assert!(
        wiped.intact,
        "without a witness the rewrite passes: {wiped:?}"
    );
    assert_eq!(wiped.witnesses, 0);
    tokio::task::spawn_blocking(move || agent.sync(0).unwrap())
        .await
        .unwrap();
    let verdict = verified(&app, &admin).await;
    assert!(!verdict.intact, "{verdict:?}");
    assert_eq!(verdict.witnesses, 1);
    let broken = verdict.first_broken.unwrap();
    assert_eq!(
        broken.seq, witnessed,
        "the machine's head no longer matches"
    );
    assert!(broken.problem.contains("rewritten"), "{broken:?}");
    store.close().await;
    app.stop().await;
}

/// Runs `remove` (with `force` or not) off the async runtime; gives the agent back.
async fn removing(
    agent: Agent,
    force: bool,
) -> (
    Agent,
    Result<switchyard_agent::agent::Removal, switchyard_agent::agent::AgentError>,
) {
    tokio::task::spawn_blocking(move || {
        let removal = agent.remove(force);
        (agent, removal)
    })
    .await
    .unwrap()
}

/// The machines of `staging` the server lists as revoked.
async fn revoked_machines(app: &TestApp) -> Vec<String> {
    let devices: Vec<Value> = app.devices("staging").await;
    devices
        .iter()
        .filter(|device| !device["revoked_at"].is_null())
        .map(|device| device["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A one-shot `sync` by hand that meets a `remove` (another process on the same folder)
/// waits for it, then writes nothing: before, a sync whose delivery came in while the
/// machine was removed made the state folder again and wrote the files `remove` had just
/// given back, their backups gone with the folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_meets_a_remove_waits_for_it_and_then_writes_nothing() {
    let (app, token) = published_fleet().await;
    let home = Home::new();
    let folder = tempfile::tempdir().unwrap();
    let state = folder.path().join("switchyard");
    let agent = agent_for(&home, &state, quiet_clients());
    let (remover, _) = enrolled(agent, &app.base_url, token, |agent| agent.sync(0).unwrap()).await;
    let npmrc = home.path().join(".npmrc");
    assert!(npmrc.is_file());

    // The folder held as `remove` holds it; a sync comes and waits.
    let held = remover.state.hold_writes().unwrap().unwrap();
    let lock = std::fs::metadata(state.join("write.lock")).unwrap();
    let syncing = agent_for(&home, &state, quiet_clients());
    let sync = tokio::task::spawn_blocking(move || syncing.sync(0).map(|_| ()));
    for _ in 0..600 {
        if waiting_on(&lock) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting_on(&lock), "the sync never waited on the folder");
    // What `remove` does while it holds it: the files given back, the folder deleted.
    std::fs::remove_file(&npmrc).unwrap();
    tokio::task::block_in_place(|| remover.state.delete(vec![held])).unwrap();
    let synced = sync.await.unwrap();
    assert!(
        matches!(
            synced,
            Err(switchyard_agent::agent::AgentError::NotEnrolled)
        ),
        "{synced:?}"
    );
    assert!(!npmrc.exists(), "the sync wrote .npmrc again");
    assert!(!state.exists(), "the sync made the state folder again");
}

/// Whether a process waits to lock the file `lock` is of (Linux's /proc/locks lists a
/// waiter as `N: -> FLOCK ADVISORY WRITE pid major:minor:inode start end`).
fn waiting_on(lock: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let inode = format!(":{}", lock.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|line| {
            line.contains(" -> ")
                && line
                    .split_whitespace()
                    .any(|field| field.matches(':').count() == 2 && field.ends_with(&inode))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_gives_every_file_back_has_the_server_revoke_the_machine_and_deletes_its_state() {
    use switchyard_agent::agent::{Leaving, Removal};

    let (app, _) = published_fleet().await;
    let token = app.enrollment_token("staging", "backend", 4).await;
    let enroll_and_sync = |home: &Home, state: &Path| {
        let agent = agent_for(home, state, quiet_clients());
        enrolled(agent, &app.base_url, token.clone(), |agent| {
            agent.sync(0).unwrap();
            agent
                .state
                .identity()
                .unwrap()
                .unwrap()
                .device_id
                .to_string()
        })
    };

    // A machine leaves: every byte back, revoked by its own request, its folder gone.
    let home = Home::new();
    let before = home.snapshot();
    let folder = tempfile::tempdir().unwrap();
    let state = folder.path().join("switchyard");
    let (agent, device) = enroll_and_sync(&home, &state).await;
    assert_ne!(home.snapshot(), before);
    // Not while a `run` (a service) holds the folder: it would write again under it.
    let running = agent.state.hold_run().unwrap().unwrap();
    let (agent, removal) = removing(agent, false).await;
    let refused = removal.unwrap_err().to_string();
    assert!(refused.contains("stop it first"), "{refused}");
    assert!(state.join("device.key").is_file());
    drop(running);
    let (_, removal) = removing(agent, false).await;
    match removal.unwrap() {
        Removal::Removed {
            leaving: Leaving::Left,
            left,
        } => assert!(left.is_empty(), "{left:?}"),
        other => panic!("removed and left: {other:?}"),
    }
    assert_eq!(home.snapshot(), before, "every file as it was");
    assert!(!state.exists(), "the key, the delivery and the backups go");
    assert_eq!(revoked_machines(&app).await, std::slice::from_ref(&device));

    // A folder chosen by hand keeps what is not the agent's, and the folder with it.
    let home = Home::new();
    let (agent, second) = enroll_and_sync(&home, &state).await;
    std::fs::write(state.join("notes.txt"), "mine").unwrap();
    let (_, removal) = removing(agent, false).await;
    let Ok(Removal::Removed { left, .. }) = removal else {
        panic!("{removal:?}")
    };
    assert_eq!(left, [state.join("notes.txt")]);
    let names: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
    std::fs::remove_dir_all(&state).unwrap();

    // A file that cannot be given back (a folder stands where the agent's .npmrc was):
    // nothing is revoked or deleted, the backups stay for the next try.
    let home = Home::new();
    let (agent, third) = enroll_and_sync(&home, &state).await;
    std::fs::remove_file(home.path().join(".npmrc")).unwrap();
    std::fs::create_dir(home.path().join(".npmrc")).unwrap();
    let (agent, removal) = removing(agent, false).await;
    let Ok(Removal::NotRestored(problems)) = removal else {
        panic!("{removal:?}")
    };
    assert!(
        problems.iter().any(|p| p.contains(".npmrc")),
        "{problems:?}"
    );
    assert!(state.join("backups").is_dir() && state.join("device.key").is_file());
    assert!(!revoked_machines(&app).await.contains(&third));
    std::fs::remove_dir(home.path().join(".npmrc")).unwrap();
    let (_, removal) = removing(agent, false).await;
    assert!(
        matches!(
            removal,
            Ok(Removal::Removed {
                leaving: Leaving::Left,
                ..
            })
        ),
        "once mended, removed: {removal:?}"
    );

    // The server away: files back, but the machine stays enrolled and its state kept, unless
    // forced.
    let home = Home::new();
    let before = home.snapshot();
    let (agent, _) = enroll_and_sync(&home, &state).await;
    let revoked = revoked_machines(&app).await;
    assert_eq!(revoked.len(), 3, "{revoked:?}");
    assert!(revoked.contains(&second) && revoked.contains(&device));
    app.stop().await;
    let (agent, removal) = removing(agent, false).await;
    let error = removal.unwrap_err().to_string();
    assert!(error.contains("cannot be reached"), "{error}");
    assert_eq!(home.snapshot(), before, "restored all the same");
    assert!(state.join("device.key").is_file());
    let (_, removal) = removing(agent, true).await;
    assert!(
        matches!(
            removal,
            Ok(Removal::Removed {
                leaving: Leaving::NotTold(_),
                ..
            })
        ),
        "{removal:?}"
    );
    assert!(!state.exists());
}
