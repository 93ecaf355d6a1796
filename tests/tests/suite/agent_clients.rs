//! What the real clients send after a sync: the token npm attaches to a registry request, the
//! login each client gives a proxy. Each case was one where the agent said `ok` and the client
//! sent something else.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchyard_agent::agent::Synced;
use switchyard_proto::devices::TargetState;
use switchyard_tests::recorder::Recorder;
use switchyard_tests::registries;
use switchyard_tests::{Backend, TestApp};

use super::agent::{agent_for, assert_shadowed, enrolled, outcome_of, Home};

/// A server with `staging` / `backend` and `profile` published; an enrollment token.
async fn published(profile: Value) -> (TestApp, String) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("backend").await;
    app.publish_profile("staging", "baseline", profile).await;
    let token = app.enrollment_token("staging", "backend", 1).await;
    (app, token)
}

/// An agent for `home`, enrolled with `token`, and the folder that holds its state.
async fn enrolled_in(
    app: &TestApp,
    token: String,
    home: &Home,
) -> (switchyard_agent::agent::Agent, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(home, state.path(), BTreeMap::new());
    let (agent, _) = enrolled(agent, &app.base_url, token, |_| ()).await;
    (agent, state)
}

/// Publishes `profile`, then syncs `agent` and checks that no target failed.
async fn publish_and_sync(
    app: &TestApp,
    agent: switchyard_agent::agent::Agent,
    profile: Value,
) -> (switchyard_agent::agent::Agent, Synced) {
    app.publish_profile("staging", "baseline", profile).await;
    tokio::task::spawn_blocking(move || {
        let synced = agent.sync(0).unwrap();
        assert!(
            synced
                .outcomes
                .iter()
                .all(|o| o.state != TargetState::Failed),
            "{:?}",
            synced.outcomes
        );
        (agent, synced)
    })
    .await
    .unwrap()
}

/// Restores `agent` off the async runtime; it must leave no problem behind.
async fn restored(agent: switchyard_agent::agent::Agent) {
    tokio::task::spawn_blocking(move || assert!(agent.restore().unwrap().is_empty()))
        .await
        .unwrap();
}

/// Asserts that every file of `before` holds its bytes again in `home` (a client's own
/// caches, made since, are the client's).
fn files_as_before(home: &Home, before: &BTreeMap<std::path::PathBuf, Vec<u8>>) {
    let after = home.snapshot();
    for (path, bytes) in before {
        assert!(after.get(path) == Some(bytes), "{} changed", path.display());
    }
}

/// The published baseline as the server stores it (the newest version).
async fn stored_baseline(app: &TestApp) -> Value {
    let admin = app.admin_token().await;
    let version: Value = app
        .get_as(
            &admin,
            "/api/v1/environments/staging/profiles/baseline/draft",
        )
        .await
        .json()
        .await
        .unwrap();
    version["profile"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_sends_the_token_for_a_registry_spelled_in_capitals_or_with_its_default_port() {
    let registry = Recorder::start(false);
    let on_port_80 = Recorder::start_on(80);
    let spellings = [
        (format!("http://LOCALHOST:{}/", registry.port), &registry),
        ("http://127.0.0.1:80/".to_owned(), &on_port_80),
    ];
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let (mut agent, _state) = enrolled_in(&app, token, &home).await;
    // A token with `#` and `;`, which .npmrc reads as a comment unless it is quoted.
    for (spelled, recorder) in spellings {
        for token in ["npm-t0ken", "t0k#en;x"] {
            let profile = json!({"npm": {"registry": spelled,
                                         "auth-tokens": {&spelled: {"value": token}}}});
            (agent, _) = publish_and_sync(&app, agent, profile).await;
            recorder.clear();
            home.run("npm", &["view", "left-pad", "--fetch-retries=0"]);
            let sent: Vec<Option<String>> = recorder
                .requests()
                .iter()
                .map(|r| r.header("authorization").map(str::to_owned))
                .collect();
            assert!(!sent.is_empty(), "npm asked {spelled} nothing");
            assert!(
                sent.iter()
                    .all(|a| a.as_deref() == Some(&format!("Bearer {token}"))),
                "{spelled}: npm sent {sent:?}"
            );
        }
        // Stored as npm compares it: the profile, its diff and the machine agree.
        let stored = stored_baseline(&app).await;
        let normal = spelled.to_ascii_lowercase().replace(":80/", "/");
        assert_eq!(stored["npm"]["registry"], normal.as_str(), "{stored}");
        assert!(
            stored["npm"]["auth-tokens"][&normal].is_object(),
            "{stored}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_gives_the_proxy_the_password_as_it_was_set() {
    let proxy = Recorder::start(true);
    let origin = format!("http://127.0.0.1:{}", proxy.port);
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let (mut agent, _state) = enrolled_in(&app, token, &home).await;
    let maven = maven_project();
    let shell = |command: &str| format!(". \"$HOME/.profile\" && {command}");
    for password in [
        "p@ss%41w0rd",
        "100%",
        "it's$1",
        "pa%USERNAME%ss",
        "a:b/c?d#e f",
    ] {
        let profile = json!({
            "npm": {"registry": "http://registry.invalid/", "proxy": origin},
            "git": {"http-proxy": origin},
            "maven": {"repository": "http://maven.invalid/maven2/", "proxy": origin},
            "proxy": {"http": origin, "no-proxy": ["localhost"],
                      "credentials": {&origin: {"username": "dev ops", "password": {"value": password}}}}
        });
        let synced;
        (agent, synced) = publish_and_sync(&app, agent, profile).await;
        // Every client reads the login as published: nothing may be called shadowed.
        assert!(
            synced
                .outcomes
                .iter()
                .all(|o| matches!(o.state, TargetState::Ok | TargetState::Unchanged)),
            "{password:?}: {:?}",
            synced.outcomes
        );
        proxy.clear();
        home.run("npm", &["view", "left-pad", "--fetch-retries=0"]);
        home.run("git", &["ls-remote", "http://git.invalid/corp/tool.git"]);
        home.run(
            "sh",
            &[
                "-c",
                &shell("exec python3 -m pip download --no-deps --retries 0 --timeout 5 -d \"$HOME/dl\" --index-url http://pypi.invalid/simple --trusted-host pypi.invalid left-pad"),
            ],
        );
        home.run(
            "sh",
            &[
                "-c",
                &shell("exec curl -s -o /dev/null http://web.invalid/"),
            ],
        );
        home.run_in(maven.path(), "mvn", &["-B", "-U", "validate"]);
        // What systemd user sessions take from environment.d, asked of systemd itself.
        let generated = home.client(
            "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator",
            &[],
        );
        let requests = proxy.requests();
        let expected = format!("dev ops:{password}");
        for (client, host) in [
            ("npm", "registry.invalid"),
            ("git", "git.invalid"),
            ("pip", "pypi.invalid"),
            ("curl", "web.invalid"),
            ("Maven", "maven.invalid"),
        ] {
            let logins: Vec<Option<String>> = requests
                .iter()
                .filter(|r| r.line.contains(host) && r.header("proxy-authorization").is_some())
                .map(|r| r.basic_login("proxy-authorization"))
                .collect();
            assert!(
                !logins.is_empty(),
                "{client} sent the proxy no login for {password:?}: {requests:?}"
            );
            assert!(
                logins
                    .iter()
                    .all(|l| l.as_deref() == Some(expected.as_str())),
                "{client} sent {logins:?} for {password:?}"
            );
        }
        let http_proxy = generated
            .lines()
            .find_map(|line| line.strip_prefix("HTTP_PROXY="))
            .unwrap_or_else(|| panic!("environment.d gave no HTTP_PROXY: {generated}"));
        let parsed = url::Url::parse(http_proxy).unwrap();
        let decoded = percent_encoding::percent_decode_str(parsed.password().unwrap())
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, password, "{http_proxy}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_dotfile_is_read_by_git_through_its_link_and_restore_is_heard_by_the_server() {
    let (app, token) = super::agent::published_fleet().await;
    let home = Home::new();
    // ~/.gitconfig is a link into a dotfiles folder, as dotfile managers make it.
    let dotfile = home.path().join("dotfiles/gitconfig");
    std::fs::create_dir_all(dotfile.parent().unwrap()).unwrap();
    std::fs::rename(home.path().join(".gitconfig"), &dotfile).unwrap();
    std::os::unix::fs::symlink("dotfiles/gitconfig", home.path().join(".gitconfig")).unwrap();
    let before = home.snapshot();
    let state = tempfile::tempdir().unwrap();
    let agent = agent_for(&home, state.path(), BTreeMap::new());
    let (agent, synced) =
        enrolled(agent, &app.base_url, token, |agent| agent.sync(0).unwrap()).await;
    assert!(
        synced.outcomes.iter().all(|o| o.state == TargetState::Ok),
        "{:?}",
        synced.outcomes
    );
    let link = std::fs::symlink_metadata(home.path().join(".gitconfig")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(
        home.client(
            "git",
            &["ls-remote", "--get-url", "https://github.com/corp/tool.git"]
        )
        .trim(),
        "https://git.corp.example/github/corp/tool.git"
    );
    let devices: Vec<Value> = app.devices("staging").await;
    assert_eq!(devices[0]["healthy"], true, "{devices:?}");

    let agent = tokio::task::spawn_blocking(move || {
        assert_eq!(agent.restore().unwrap(), Vec::<String>::new());
        agent
    })
    .await
    .unwrap();
    assert_eq!(home.snapshot(), before, "every byte back, through the link");
    let link = std::fs::symlink_metadata(home.path().join(".gitconfig")).unwrap();
    assert!(link.file_type().is_symlink());
    // `status` and the server both say the machine no longer carries the profile.
    let status = switchyard_agent::agent::summary(&agent.state).unwrap();
    assert!(status["restored_at"].is_string(), "{status:?}");
    assert!(
        status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "restored"),
        "{status:?}"
    );
    let devices: Vec<Value> = app.devices("staging").await;
    assert_eq!(devices[0]["healthy"], false, "{devices:?}");
    let report = &devices[0]["report"];
    assert_eq!(report["baseline_version"], 0, "{report}");
    assert!(
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "restored"),
        "{report}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_reads_only_the_published_hosts_and_indexes_over_a_users_multi_line_values() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // A comment line and a blank line inside values: configparser keeps reading the value.
    home.write(
        ".config/pip/pip.conf",
        "[global]\r\ntrusted-host = a.corp.example\r\n    # legacy mirror\r\n    old.corp.example\r\nextra-index-url = https://a.corp.example/simple\r\n\r\n    https://old.corp.example/simple\r\ntimeout: 60\r\n",
    );
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"pypi": {"trusted-host": ["new.corp.example"],
                                 "extra-index-url": ["https://new.corp.example/simple"]}});
    let (agent, _) = publish_and_sync(&app, agent, profile).await;
    let listed = home.client("python3", &["-m", "pip", "config", "list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert!(
        lines.contains(&"global.trusted-host='new.corp.example'"),
        "{listed}"
    );
    assert!(
        lines.contains(&"global.extra-index-url='https://new.corp.example/simple'"),
        "{listed}"
    );
    assert!(lines.contains(&"global.timeout='60'"), "{listed}");
    // Taken back: the user's values, as pip read them before.
    restored(agent).await;
    let listed_before = home.client("python3", &["-m", "pip", "config", "list"]);
    assert!(
        listed_before.contains("global.trusted-host='a.corp.example\\nold.corp.example'"),
        "{listed_before}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_keeps_the_users_own_prefixes_of_a_base_the_profile_rewrites_to() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    home.write(
        ".gitconfig",
        "[user]\n\tname = Ada\n[url \"https://git.corp.example/\"]\n\tinsteadOf = git@git.corp.example:\n",
    );
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let rewrite = |prefixes: Value| json!({"git": {"rewrites": [{"base": "https://git.corp.example/", "instead-of": prefixes}]}});
    let (agent, _) = publish_and_sync(
        &app,
        agent,
        rewrite(json!(["https://github.com/", "git@git.corp.example:"])),
    )
    .await;
    let get_url = |url: &str| home.client("git", &["ls-remote", "--get-url", url]);
    assert_eq!(
        get_url("git@git.corp.example:corp/tool.git").trim(),
        "https://git.corp.example/corp/tool.git"
    );
    assert_eq!(
        get_url("https://github.com/corp/tool.git").trim(),
        "https://git.corp.example/corp/tool.git"
    );
    let all = home.client(
        "git",
        &[
            "config",
            "--get-all",
            "url.https://git.corp.example/.insteadof",
        ],
    );
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        ["git@git.corp.example:", "https://github.com/"],
        "the user's line once, ours once"
    );
    // The profile drops its prefixes: the user's, which was there before, stays.
    let (agent, _) = publish_and_sync(&app, agent, rewrite(json!(["https://gitlab.com/"]))).await;
    assert_eq!(
        get_url("git@git.corp.example:corp/tool.git").trim(),
        "https://git.corp.example/corp/tool.git"
    );
    assert_eq!(
        get_url("https://github.com/corp/tool.git").trim(),
        "https://github.com/corp/tool.git"
    );
    restored(agent).await;
    assert_eq!(home.snapshot(), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_shell_gets_the_proxy_from_the_file_it_reads() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // bash reads ~/.bash_profile and then no ~/.profile; zsh reads ~/.zprofile only.
    home.write(
        ".bash_profile",
        "# mine, and it does not source ~/.profile\nexport EDITOR=vi\n",
    );
    home.write(".zprofile", "export EDITOR=vi\n");
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    // Quotes, a backslash and backticks reach every login shell and user session as they are.
    let greeting = "say \"hi\", it's `me` from C:\\dir";
    let profile = json!({"proxy": {"https": "http://proxy.corp.example:3128",
                                   "no-proxy": ["localhost", ".corp.example"]},
                         "env": {"GREETING": greeting}});
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    assert!(
        synced
            .outcomes
            .iter()
            .all(|o| matches!(o.state, TargetState::Ok | TargetState::Unchanged)),
        "{:?}",
        synced.outcomes
    );
    let generated = home.client(
        "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator",
        &[],
    );
    assert!(
        generated
            .lines()
            .any(|line| line == "GREETING=\"say \\\"hi\\\", it's \\`me\\` from C:\\\\dir\""),
        "{generated}"
    );
    for login_shell in ["bash", "sh", "dash", "zsh"] {
        let said = home.client(
            login_shell,
            &[
                "-l",
                "-c",
                "printf '%s %s|%s' \"$HTTPS_PROXY\" \"$no_proxy\" \"$GREETING\"",
            ],
        );
        assert_eq!(
            said,
            format!("http://proxy.corp.example:3128/ localhost,.corp.example|{greeting}"),
            "{login_shell} -l"
        );
    }
    restored(agent).await;
    assert_eq!(home.snapshot(), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_rules_for_some_urls_or_some_repositories_make_the_git_target_shadowed() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // A proxy for some hosts only, and a rewrite that only repositories see.
    home.write(
        ".gitconfig",
        "[http \"https://*.corp.example\"]\n\tproxy = http://me:s3cret@mine.example.org:1/\n[includeIf \"gitdir:/\"]\n\tpath = ~/work.gitconfig\n",
    );
    home.write(
        "work.gitconfig",
        "[url \"https://inc.example.org/\"]\n\tinsteadOf = https://github.com/\n",
    );
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"git": {"http-proxy": "http://proxy.corp.example:3128",
                                 "rewrites": [{"base": "https://git.corp.example/",
                                               "instead-of": ["https://github.com/"]}]}});
    let (_, synced) = publish_and_sync(&app, agent, profile).await;
    assert_shadowed(&synced, "git", "");
    let message = outcome_of(&synced, "git").message.as_deref().unwrap();
    assert!(
        message.contains("for URLs matching https://*.corp.example, git uses http.https://*.corp.example.proxy = http://me:***@mine.example.org:1/"),
        "{message}"
    );
    assert!(
        message.contains("in repositories where includeIf \"gitdir:/\" holds")
            && message.contains("url.https://inc.example.org/.insteadof = https://github.com/"),
        "{message}"
    );
    assert!(
        !message.contains("s3cret"),
        "a user's password reached the report"
    );
    // What git does in a repository, asked of git there.
    std::fs::create_dir_all(home.path().join("repo")).unwrap();
    home.client(
        "git",
        &["init", "-q", home.path().join("repo").to_str().unwrap()],
    );
    let in_repo = home.client(
        "git",
        &[
            "-C",
            home.path().join("repo").to_str().unwrap(),
            "ls-remote",
            "--get-url",
            "https://github.com/x",
        ],
    );
    assert_eq!(in_repo.trim(), "https://inc.example.org/x");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_file_that_ends_in_a_backslash_still_runs_the_hook_and_one_that_returns_early_is_reported(
) {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // A last line continued by a backslash, and no final newline.
    home.write(".profile", "export FOO=1 \\");
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"proxy": {"https": "http://proxy.corp.example:3128"}});
    let (agent, synced) = publish_and_sync(&app, agent, profile.clone()).await;
    let shell = outcome_of(&synced, "shell");
    assert_eq!(shell.state, TargetState::Ok, "{shell:?}");
    for login_shell in ["bash", "dash"] {
        let output = home.run(
            login_shell,
            &["-l", "-c", "printf %s \"$HTTPS_PROXY $FOO\""],
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "http://proxy.corp.example:3128/ 1",
            "{login_shell}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // A terminal's interactive bash reads ~/.bashrc after the "interactive only" guard.
    home.write(
        ".bashrc",
        "case $- in *i*) ;; *) return;; esac\nexport HTTPS_PROXY=http://bashrc.example.org:8080/\n",
    );
    let agent = tokio::task::spawn_blocking(move || {
        let synced = agent.sync(0).unwrap();
        (agent, synced)
    });
    let (agent, synced) = agent.await.unwrap();
    assert_shadowed(
        &synced,
        "shell",
        "bash -i gets HTTPS_PROXY=http://bashrc.example.org:8080/",
    );
    std::fs::remove_file(home.path().join(".bashrc")).unwrap();
    // bash reads ~/.bash_profile, which returns before the line the agent adds.
    home.write(
        ".bash_profile",
        "export HTTPS_PROXY=http://mine.example.org:1/\nreturn 0\n",
    );
    let agent = tokio::task::spawn_blocking(move || {
        let mut agent = agent;
        agent.paths =
            switchyard_agent::engine::Paths::user(|n| agent.environment.get(n).cloned()).unwrap();
        agent
    })
    .await
    .unwrap();
    let (_, synced) = publish_and_sync(
        &app,
        agent,
        json!({"proxy": {"https": "http://proxy2.corp.example:3128"}}),
    )
    .await;
    assert_shadowed(
        &synced,
        "shell",
        "bash -l gets HTTPS_PROXY=http://mine.example.org:1/",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_a_users_login_files_or_environment_d_set_make_clients_shadowed() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // What terminals and desktop sessions start with, though the agent's own process lacks it.
    home.write(
        ".profile",
        "export GOPROXY=https://mine.example.org/go\nexport NPM_CONFIG_REGISTRY=https://mine.example.org/npm/\n",
    );
    home.write(
        ".config/environment.d/50-mine.conf",
        "PIP_INDEX_URL=https://mine.example.org/simple\n",
    );
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"go": {"proxy": [{"source": "https://goproxy.corp.example/"}]},
                         "npm": {"registry": "https://npm.corp.example/"},
                         "pypi": {"index-url": "https://pypi.corp.example/simple"}});
    let (_, synced) = publish_and_sync(&app, agent, profile).await;
    for (target, reason) in [
        ("go", "login shells get GOPROXY=https://mine.example.org/go"),
        (
            "npmrc",
            "login shells get NPM_CONFIG_REGISTRY=https://mine.example.org/npm/",
        ),
        (
            "pip",
            "user sessions (environment.d) get PIP_INDEX_URL=https://mine.example.org/simple",
        ),
    ] {
        assert_shadowed(&synced, target, reason);
    }
    // And it is so: a login shell's go and npm read the user's.
    let said = home.client(
        "bash",
        &["-l", "-c", "go env GOPROXY; npm config get registry"],
    );
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        [
            "https://mine.example.org/go",
            "https://mine.example.org/npm/"
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_setting_that_makes_a_client_ignore_the_published_one_makes_it_shadowed() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    home.write(".npmrc", "offline=true\n");
    home.write(".config/pip/pip.conf", "[global]\nno-index = true\n");
    home.write(".config/go/env", "GONOPROXY=*\n");
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"go": {"proxy": [{"source": "https://goproxy.corp.example/"}]},
                         "npm": {"registry": "https://npm.corp.example/"},
                         "pypi": {"index-url": "https://pypi.corp.example/simple"}});
    let (_, synced) = publish_and_sync(&app, agent, profile).await;
    for (target, reason) in [
        (
            "npmrc",
            "npm works offline (offline = true in the user config",
        ),
        (
            "pip",
            "pip install uses no index at all (no-index = true from [global] of",
        ),
        (
            "go",
            "go fetches every module directly: GONOPROXY=* matches every module path",
        ),
    ] {
        assert_shadowed(&synced, target, reason);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_resolves_through_the_published_index_before_the_users_own_and_restore_is_byte_exact() {
    let pypi = registries::pypiserver();
    registries::publish_wheel(&pypi, "switchyard-demo", "1.0.0");
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // The user's own default index is a closed port: resolving through it fails.
    let mine = "\u{feff}# my uv settings\r\nnative-tls = false  # keep\r\nallow-insecure-host = [\"mine.example\"]\r\n\r\n[[index]]\r\nname = \"mine\"\r\nurl = \"http://127.0.0.1:9/simple/\"\r\ndefault = true\r\n";
    home.write(".config/uv/uv.toml", mine);
    home.write("requirements.in", "switchyard-demo\n");
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"pypi": {"index-url": pypi.url("simple/"),
                                  "trusted-host": ["pypi.corp.example"]}});
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    let uv = outcome_of(&synced, "uv");
    assert_eq!(uv.state, TargetState::Ok, "{uv:?}");

    let requirements = home.path().join("requirements.in");
    let compile = |home: &Home| {
        home.run(
            "uv",
            &[
                "pip",
                "compile",
                "--no-cache",
                "--no-python-downloads",
                requirements.to_str().unwrap(),
            ],
        )
    };
    let resolved = compile(&home);
    let said = String::from_utf8_lossy(&resolved.stdout);
    assert!(
        resolved.status.success() && said.contains("switchyard-demo==1.0.0"),
        "{said}{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    let written = std::fs::read_to_string(home.path().join(".config/uv/uv.toml")).unwrap();
    for kept in [
        "\u{feff}# my uv settings\r\n",
        "native-tls = false  # keep\r\n",
        "\"mine.example\"",
    ] {
        assert!(written.contains(kept), "{kept:?} in {written:?}");
    }

    restored(agent).await;
    assert_eq!(home.snapshot(), before, "restore gives back every byte");
    assert!(
        !compile(&home).status.success(),
        "the user's own index again"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uv_variable_naming_another_default_index_makes_uv_shadowed() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let variable = BTreeMap::from([(
        "UV_DEFAULT_INDEX".to_owned(),
        "https://elsewhere.example/simple/".to_owned(),
    )]);
    let agent = agent_for(&home, state.path(), variable);
    let (agent, _) = enrolled(agent, &app.base_url, token, |_| ()).await;
    let profile = json!({"pypi": {"index-url": "https://pypi.corp.example/simple/"}});
    let (_, synced) = publish_and_sync(&app, agent, profile).await;
    assert_shadowed(
        &synced,
        "uv",
        "uv uses the default index https://elsewhere.example/simple/ from the environment",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_fetches_through_the_published_mirror_with_its_token_and_restore_is_byte_exact() {
    let mirror = registries::cargo_registry(Some("cargo-t0ken"));
    registries::publish_crate(&mirror, "switchyard-demo", "1.0.0");
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let mine = "# my cargo\r\n[build]\r\njobs = 1 # two cores\r\n\r\n[alias]\r\nb = [\"build\", \"--offline\"]\r\n\r\n[net]\r\nretry = 0\r\n";
    home.write(".cargo/config.toml", mine);
    let before = home.snapshot();
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("src")).unwrap();
    std::fs::write(project.path().join("src/lib.rs"), "").unwrap();
    std::fs::write(
        project.path().join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nswitchyard-demo = \"1\"\n",
    )
    .unwrap();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"cargo": {"registry": format!("sparse+{}", mirror.url("index/")),
                                   "registry-token": {"value": "cargo-t0ken"}}});
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    for target in ["cargo", "cargo-credentials"] {
        let outcome = outcome_of(&synced, target);
        assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");
    }
    let config = std::fs::read_to_string(home.path().join(".cargo/config.toml")).unwrap();
    assert!(
        config.starts_with(mine),
        "the user's own lines first, as they were: {config:?}"
    );
    let credentials = home.path().join(".cargo/credentials.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "tokens are the user's alone");
    }

    let manifest = project.path().join("Cargo.toml");
    let fetched = home.run(
        "cargo",
        &["fetch", "--manifest-path", manifest.to_str().unwrap()],
    );
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let requests = registries::requests(&mirror);
    assert!(
        requests.iter().any(
            |(path, sent)| path == "/crates/switchyard-demo/1.0.0/download"
                && sent == "cargo-t0ken"
        ),
        "the crate came from the mirror, with its token: {requests:?}"
    );

    restored(agent).await;
    files_as_before(&home, &before);
    assert!(!credentials.exists());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cargo_variable_read_before_the_file_makes_cargo_shadowed() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let state = tempfile::tempdir().unwrap();
    let variable = BTreeMap::from([(
        "CARGO_HTTP_PROXY".to_owned(),
        "http://elsewhere.example:3128".to_owned(),
    )]);
    let agent = agent_for(&home, state.path(), variable);
    let (agent, _) = enrolled(agent, &app.base_url, token, |_| ()).await;
    let profile = json!({"cargo": {"http-proxy": "http://proxy.corp.example:3128"}});
    let (_, synced) = publish_and_sync(&app, agent, profile).await;
    assert_shadowed(
        &synced,
        "cargo",
        "Cargo reads http.proxy = http://elsewhere.example:3128 from environment variable `CARGO_HTTP_PROXY`",
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnpm_reads_its_own_file_over_npms_and_sends_each_registry_its_token() {
    let registry = Recorder::start(false);
    let corp = Recorder::start(false);
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let mine = "; mine\r\n@mine:registry=http://127.0.0.1:9/\r\n";
    home.write(".config/pnpm/auth.ini", mine);
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let corp_url = format!("http://127.0.0.1:{}/corp/", corp.port);
    // The token has `#` and `;`, which an ini file reads as a comment unless it is quoted.
    // npm gets the company's registry; pnpm a registry of its own, without the trailing `/`
    // pnpm adds.
    let profile = json!({
        "npm": {"registry": "https://npm.corp.example/"},
        "clients": {"pnpm": {"registry": format!("http://127.0.0.1:{}/npm", registry.port),
                             "scopes": {"@corp": &corp_url},
                             "auth-tokens": {&corp_url: {"value": "pnpm-t0k#en;x"}}}}
    });
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    for target in ["npmrc", "pnpm"] {
        let outcome = outcome_of(&synced, target);
        assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");
    }
    home.run("pnpm", &["view", "@corp/tool"]);
    let sent: Vec<(String, Option<String>)> = corp
        .requests()
        .iter()
        .map(|r| (r.line.clone(), r.header("authorization").map(str::to_owned)))
        .collect();
    // The package's document, with the token (pnpm pings the registry first, without one).
    assert!(
        sent.iter().any(|(line, auth)| line.contains("@corp%2Ftool")
            && auth.as_deref() == Some("Bearer pnpm-t0k#en;x")),
        "pnpm sent {sent:?}"
    );
    home.run("pnpm", &["view", "left-pad"]);
    let asked: Vec<String> = registry.requests().into_iter().map(|r| r.line).collect();
    // pnpm pings a registry before asking it for a package (and, on a 404, may stop there):
    // either request shows which registry it uses.
    assert!(
        asked
            .iter()
            .any(|line| line.starts_with("GET /npm/left-pad ")
                || line.starts_with("GET /npm/-/ping ")),
        "pnpm asked its own registry {asked:?}"
    );
    // pnpm's own values are pnpm's alone; npm reads the company's.
    let npm_scope = home.client("npm", &["config", "get", "@corp:registry"]);
    assert_eq!(npm_scope.trim(), "undefined");
    let npm_registry = home.client("npm", &["config", "get", "registry"]);
    assert_eq!(npm_registry.trim(), "https://npm.corp.example/");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let auth = home.path().join(".config/pnpm/auth.ini");
        let mode = std::fs::metadata(auth).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "it holds a token");
    }
    let written = std::fs::read_to_string(home.path().join(".config/pnpm/auth.ini")).unwrap();
    assert!(written.starts_with(mine), "{written:?}");

    restored(agent).await;
    files_as_before(&home, &before);
    assert!(home
        .snapshot()
        .keys()
        .all(|path| before.contains_key(path) || !path.ends_with("auth.ini")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yarn_sends_the_published_registry_its_token_and_keeps_the_users_yarnrc() {
    let registry = Recorder::start(false);
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let mine = "# mine\r\nenableTelemetry: false\r\nnpmScopes:\r\n  mine:\r\n    npmRegistryServer: \"http://127.0.0.1:9/\"\r\n";
    home.write(".yarnrc.yml", mine);
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let url = format!("http://127.0.0.1:{}/yarn", registry.port);
    // npm keeps the company's registry; Yarn gets one of its own, with a token.
    let profile = json!({
        "npm": {"registry": "https://npm.corp.example/"},
        "clients": {"yarn": {"registry": &url,
                             "auth-tokens": {&url: {"value": "yarn-t0k#en"}}}}
    });
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    let outcome = outcome_of(&synced, "yarnrc");
    assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");

    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("package.json"),
        r#"{"name": "app", "version": "1.0.0"}"#,
    )
    .unwrap();
    home.run_in(project.path(), "yarn", &["npm", "info", "left-pad"]);
    let sent: Vec<(String, Option<String>)> = registry
        .requests()
        .iter()
        .map(|r| (r.line.clone(), r.header("authorization").map(str::to_owned)))
        .collect();
    assert!(
        sent.iter()
            .any(|(line, auth)| line.starts_with("GET /yarn/left-pad")
                && auth.as_deref() == Some("Bearer yarn-t0k#en")),
        "Yarn sent {sent:?}"
    );
    let written = std::fs::read_to_string(home.path().join(".yarnrc.yml")).unwrap();
    assert!(
        written.starts_with("# mine\r\nenableTelemetry: false\r\n"),
        "{written:?}"
    );
    assert_eq!(
        home.client("npm", &["config", "get", "registry"]).trim(),
        "https://npm.corp.example/"
    );

    restored(agent).await;
    files_as_before(&home, &before);
    app.stop().await;
}

/// A Maven project whose parent POM (`corp.example:corp-parent:1`) Maven must fetch: from
/// central, so through a mirror of it.
fn maven_project() -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("pom.xml"),
        "<project><modelVersion>4.0.0</modelVersion>\
         <parent><groupId>corp.example</groupId><artifactId>corp-parent</artifactId><version>1</version></parent>\
         <artifactId>app</artifactId></project>\n",
    )
    .unwrap();
    project
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maven_fetches_through_the_published_mirror_with_its_login_and_restore_is_byte_exact() {
    // XML's own characters, which must reach Maven decoded.
    let password = "s3cr&t<pw> \"q\" 'it's'";
    let repository = registries::maven_repository(Some(("ada", password)));
    registries::publish_pom(&repository, "corp.example", "corp-parent", "1");
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let mine = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- my Maven settings -->\r\n<settings>\r\n    <offline>false</offline>\r\n    <servers>\r\n        <server>\r\n            <id>my-nexus</id>\r\n            <username>me</username>\r\n        </server>\r\n    </servers>\r\n    <mirrors>\r\n        <mirror>\r\n            <id>my-nexus</id>\r\n            <url>https://nexus.example.org/snapshots/</url>\r\n            <mirrorOf>my-snapshots</mirrorOf>\r\n        </mirror>\r\n    </mirrors>\r\n</settings>\r\n";
    home.write(".m2/settings.xml", mine);
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    // The user's own snapshots mirror stays theirs (by id, it would take them over ours).
    let profile = json!({"maven": {"repository": repository.url("maven2/"),
                                   "mirror-of": ["*", "!my-snapshots"],
                                   "username": "ada", "password": {"value": password}}});
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    let outcome = outcome_of(&synced, "maven");
    assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");
    let file = home.path().join(".m2/settings.xml");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- my Maven settings -->\r\n<settings>\r\n    <offline>false</offline>\r\n    <servers>\r\n        <server>\r\n            <id>switchyard</id>\r\n"),
        "ours first among the servers, in the file's indentation and endings: {written:?}"
    );
    assert!(written.contains("<id>my-nexus</id>"), "{written:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a password is the user's alone");
    }

    let project = maven_project();
    let built = home.run_in(project.path(), "mvn", &["-B", "-U", "validate"]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stdout)
    );
    let basic = registries::basic("ada", password);
    let requests = registries::requests(&repository);
    assert!(
        requests.iter().any(|(path, sent)| path
            == "/maven2/corp/example/corp-parent/1/corp-parent-1.pom"
            && *sent == basic),
        "the parent came from the mirror, with the login: {requests:?}"
    );

    restored(agent).await;
    files_as_before(&home, &before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_mirror_of_central_by_its_id_makes_maven_shadowed() {
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    // Maven takes a mirror that names a repository exactly over any wildcard.
    home.write(
        ".m2/settings.xml",
        "<settings><mirrors><mirror><id>theirs</id><url>https://theirs.example.org/maven2/</url><mirrorOf>central</mirrorOf></mirror></mirrors></settings>\n",
    );
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({"maven": {"repository": "https://maven.corp.example/maven2/"}});
    let (_, synced) = publish_and_sync(&app, agent, profile).await;
    assert_shadowed(
        &synced,
        "maven",
        "Maven fetches central through the mirror theirs (https://theirs.example.org/maven2/)",
    );
    app.stop().await;
}

/// A Gradle build (in a folder of its own, its settings file stopping Gradle's search above)
/// that fetches `corp.example:corp-parent:1@pom` from Maven Central, so through a mirror of
/// it, and, with `other`, from a repository named `other` too.
fn gradle_project(other: bool) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let other = match other {
        true => "maven { name = 'other'; url = 'http://other.invalid/maven2/' };",
        false => "",
    };
    std::fs::write(project.path().join("settings.gradle"), "").unwrap();
    std::fs::write(
        project.path().join("build.gradle"),
        format!(
            "repositories {{ {other} mavenCentral() }}\n\
             configurations {{ fetched }}\n\
             dependencies {{ fetched 'corp.example:corp-parent:1@pom' }}\n\
             task fetch {{ doLast {{ configurations.fetched.files.each {{ println \"fetched ${{it.name}}\" }} }} }}\n"
        ),
    )
    .unwrap();
    project
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gradle_fetches_through_the_published_mirror_with_its_login_and_proxy_and_restore_is_byte_exact(
) {
    // Groovy's and Java properties' own characters, which must reach Gradle as they are.
    let password = "it's $HOME \\ \"q\" #!=:";
    let repository = registries::maven_repository(Some(("ada", password)));
    registries::publish_pom(&repository, "corp.example", "corp-parent", "1");
    let proxy = Recorder::start(true);
    let origin = format!("http://127.0.0.1:{}", proxy.port);
    let proxy_password = "p@ss%41 w:rd\\'\"";
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let mine = "# mine\r\norg.gradle.jvmargs=-Xmx512m \\\r\n    -Dfile.encoding=UTF-8\r\norg.gradle.caching=false\r\n";
    home.write(".gradle/gradle.properties", mine);
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    // Everything but `other` through the repository, which is reached without the proxy.
    let profile = json!({
        "maven": {"repository": repository.url("maven2/"), "mirror-of": ["*", "!other"],
                  "username": "ada", "password": {"value": password},
                  "proxy": origin, "no-proxy": ["127.0.0.1"]},
        "proxy": {"credentials": {&origin: {"username": "dev ops", "password": {"value": proxy_password}}}}
    });
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    for target in ["gradle", "gradle-properties"] {
        let outcome = outcome_of(&synced, target);
        assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");
    }
    let properties =
        std::fs::read_to_string(home.path().join(".gradle/gradle.properties")).unwrap();
    assert!(properties.starts_with(mine), "{properties:?}");
    let script = home.path().join(".gradle/init.d/switchyard.gradle");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let file = home.path().join(".gradle/gradle.properties");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} holds a password", file.display());
    }

    let project = gradle_project(false);
    let built = home.run_in(project.path(), "gradle", &["--no-daemon", "-q", "fetch"]);
    let said = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success() && said.contains("fetched corp-parent-1.pom"),
        "{said}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let basic = registries::basic("ada", password);
    let requests = registries::requests(&repository);
    assert!(
        requests.iter().any(|(path, sent)| path
            == "/maven2/corp/example/corp-parent/1/corp-parent-1.pom"
            && *sent == basic),
        "the POM came from the mirror, with the login: {requests:?}"
    );
    assert!(
        proxy.requests().is_empty(),
        "127.0.0.1 is reached without the proxy"
    );
    // The init script holds no password, so Gradle's compiled copies of it hold none either.
    let script_text = std::fs::read_to_string(&script).unwrap();
    assert!(!script_text.contains(password), "{script_text}");
    for (path, bytes) in home.snapshot_all() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(password)
                || path.ends_with(".gradle/gradle.properties"),
            "{} holds the password",
            path.display()
        );
    }

    // A repository the mirror does not stand in for goes through the proxy, with its login.
    let project = gradle_project(true);
    home.run_in(project.path(), "gradle", &["--no-daemon", "-q", "fetch"]);
    let expected = format!("dev ops:{proxy_password}");
    let logins: Vec<Option<String>> = proxy
        .requests()
        .iter()
        .filter(|r| r.line.contains("other.invalid") && r.header("proxy-authorization").is_some())
        .map(|r| r.basic_login("proxy-authorization"))
        .collect();
    assert!(
        !logins.is_empty()
            && logins
                .iter()
                .all(|l| l.as_deref() == Some(expected.as_str())),
        "Gradle sent the proxy {logins:?}: {:?}",
        proxy.requests()
    );

    restored(agent).await;
    files_as_before(&home, &before);
    assert!(!script.exists());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gem_and_bundler_fetch_through_the_published_source_with_its_login_and_restore_is_byte_exact(
) {
    // `+` is a space and `@` ends the login to RubyGems unless encoded.
    let password = "p@ss+w:rd %41";
    let source = registries::gem_source(Some(("ada", password)));
    registries::publish_gem(&source, "switchyard-demo", "1.0.0");
    // Bundler's own source and login, over the ecosystem's (`clients.bundler`).
    let bundler_password = "b:und@ler";
    let bundler_source = registries::gem_source(Some(("bob", bundler_password)));
    registries::publish_gem(&bundler_source, "switchyard-demo", "1.0.0");
    let (app, token) = published(json!({})).await;
    let home = Home::new();
    let gemrc = "---\r\n# mine\r\ngem: --no-document\r\n:backtrace: false\r\n";
    home.write(".gemrc", gemrc);
    home.write(".bundle/config", "---\nBUNDLE_JOBS: \"2\"\n");
    let before = home.snapshot();
    let (agent, _state) = enrolled_in(&app, token, &home).await;
    let profile = json!({
        "rubygems": {"source": source.url(""), "username": "ada",
                     "password": {"value": password}},
        "clients": {"bundler": {"source": bundler_source.url(""), "username": "bob",
                                "password": {"value": bundler_password}}}
    });
    let (agent, synced) = publish_and_sync(&app, agent, profile).await;
    for target in ["gemrc", "bundler"] {
        let outcome = outcome_of(&synced, target);
        assert_eq!(outcome.state, TargetState::Ok, "{outcome:?}");
    }
    let written = std::fs::read_to_string(home.path().join(".gemrc")).unwrap();
    assert!(
        written.starts_with(gemrc),
        "the user's lines first: {written:?}"
    );
    #[cfg(unix)]
    for file in [".gemrc", ".bundle/config"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(home.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} holds a password");
    }
    let basic = registries::basic("ada", password);

    // gem fetches the gem from the source, with the login.
    let work = tempfile::tempdir().unwrap();
    let fetched = home.run_in(work.path(), "gem", &["fetch", "switchyard-demo"]);
    assert!(
        fetched.status.success(),
        "{}{}",
        String::from_utf8_lossy(&fetched.stdout),
        String::from_utf8_lossy(&fetched.stderr)
    );
    let requests = registries::requests(&source);
    assert!(
        requests
            .iter()
            .any(|(path, sent)| path == "/gems/switchyard-demo-1.0.0.gem" && *sent == basic),
        "gem fetched from the source, with the login: {requests:?}"
    );

    // Bundler resolves a Gemfile that names rubygems.org through its own mirror, with its
    // own login, and never asks the ecosystem's.
    let asked_before = registries::requests(&source).len();
    std::fs::write(
        work.path().join("Gemfile"),
        "source \"https://rubygems.org\"\ngem \"switchyard-demo\"\n",
    )
    .unwrap();
    let locked = home.run_in(work.path(), "bundle", &["lock"]);
    assert!(
        locked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&locked.stdout),
        String::from_utf8_lossy(&locked.stderr)
    );
    assert_eq!(
        registries::requests(&source).len(),
        asked_before,
        "Bundler left the ecosystem's source alone"
    );
    let requests = registries::requests(&bundler_source);
    let bundler: Vec<&(String, String)> = requests
        .iter()
        .filter(|(path, _)| path.contains("specs") || path.contains("versions"))
        .collect();
    let bundler_basic = registries::basic("bob", bundler_password);
    assert!(
        !bundler.is_empty() && bundler.iter().all(|(_, sent)| *sent == bundler_basic),
        "Bundler asked its own mirror, with its own login: {requests:?}"
    );

    restored(agent).await;
    files_as_before(&home, &before);
    app.stop().await;
}
