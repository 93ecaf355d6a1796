//! The Windows agent end to end: the `.exe` cross-built for Windows, run under Wine against the
//! real server on a loopback port. It enrolls, syncs, follows a publish through `run`'s
//! long-poll, refuses what an attacker in the middle forges or replays, and `restore` gives the
//! registry and every file back; as a service it keeps the machine in sync; its MSI installs,
//! enrolls once and uninstalls.
//!
//! Run by scripts/test-windows, which builds the agent and names it in `SWITCHYARD_AGENT_EXE`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // tests fail loudly by design

mod msi;
mod prefix;
mod service;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prefix::{said, windows_path, Prefix};
use serde_json::{json, Value};
use switchyard_tests::relay::{Mode, Relay};
use switchyard_tests::{Backend, TestApp};

const USER_ENVIRONMENT: &str = "HKCU\\Environment";

/// Runs blocking work (a Wine program) without holding up the server on this runtime.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

/// A profile that sends Go to `goproxy`, with every client configured.
fn profile(goproxy: &str) -> Value {
    json!({
        "go": {"proxy": [{"source": goproxy}, {"source": "direct"}],
               "private": ["*.corp.example"], "nosumdb": ["*.corp.example", "github.com/corp/*"]},
        "npm": {"registry": "https://npm.corp.example/",
                "scopes": {"@corp": "https://npm.corp.example/corp/"},
                "auth-tokens": {"https://npm.corp.example/": {"value": "npm-t0ken"}}},
        "pypi": {"index-url": "https://pypi.corp.example/simple"},
        "cargo": {"registry": "sparse+https://crates.corp.example/index/",
                  "registry-token": {"value": "cargo-t0ken"}},
        "maven": {"repository": "https://maven.corp.example/maven2/",
                  "username": "ada", "password": {"value": "maven-pa55"},
                  "proxy": "http://proxy.corp.example:3128"},
        "rubygems": {"source": "https://gems.corp.example/",
                     "username": "ada", "password": {"value": "gem-pa55"}},
        "git": {"rewrites": [{"base": "https://git.corp.example/github/", "instead-of": ["https://github.com/"]}]},
        "proxy": {"http": "http://proxy.corp.example:3128", "https": "http://proxy.corp.example:3128",
                  "no-proxy": ["localhost", ".corp.example"]}
    })
}

/// A server with `staging` / `workstation` published, and a token to enroll with.
async fn published(goproxy: &str) -> (TestApp, String) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_environment("staging", false).await;
    app.create_machine_role("workstation").await;
    app.publish_profile("staging", "baseline", profile(goproxy))
        .await;
    let token = app.enrollment_token("staging", "workstation", 5).await;
    (app, token)
}

/// Waits until `check` holds, for at most `limit`; how long it took.
fn until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed()
}

/// The user's files the agent manages, with their bytes (`None`: absent).
fn user_files(prefix: &Prefix) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    [
        prefix.user_folder().join(".npmrc"),
        prefix.app_data().join("pip/pip.ini"),
        prefix.app_data().join("uv/uv.toml"),
        prefix
            .user_folder()
            .join("AppData/Local/pnpm/config/auth.ini"),
        prefix.user_folder().join(".yarnrc.yml"),
        prefix.user_folder().join(".cargo/config.toml"),
        prefix.user_folder().join(".cargo/credentials.toml"),
        prefix.user_folder().join(".m2/settings.xml"),
        prefix
            .user_folder()
            .join(".gradle/init.d/switchyard.gradle"),
        prefix.user_folder().join(".gradle/gradle.properties"),
        prefix.user_folder().join(".gemrc"),
        prefix.user_folder().join(".bundle/config"),
        prefix.app_data().join("go/env"),
        prefix.user_folder().join(".gitconfig"),
    ]
    .into_iter()
    .map(|path| {
        let bytes = std::fs::read(&path).ok();
        (path, bytes)
    })
    .collect()
}

fn text(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_agent_syncs_follows_a_publish_refuses_forgeries_and_restores_exactly() {
    let (app, token) = published("https://goproxy.corp.example/").await;
    let relay = Relay::start(&app.base_url);
    let prefix = blocking(Prefix::new);

    // What the user had before: CRLF files, as Windows editors write them, and variables.
    let (home, data) = (prefix.user_folder(), prefix.app_data());
    prefix.write(
        &home.join(".npmrc"),
        "; my npm settings\r\nsave-exact=true\r\nregistry=https://registry.example.org/\r\n",
    );
    prefix.write(&data.join("pip/pip.ini"), "[global]\r\ntimeout = 60\r\n");
    prefix.write(&data.join("uv/uv.toml"), "# mine\r\nnative-tls = true\r\n");
    prefix.write(&data.join("go/env"), "GOFLAGS=-mod=mod\r\n");
    prefix.write(
        &home.join(".m2/settings.xml"),
        "<settings>\r\n  <offline>false</offline>\r\n</settings>\r\n",
    );
    prefix.write(
        &home.join(".gradle/gradle.properties"),
        "org.gradle.jvmargs=-Xmx1g\r\n",
    );
    prefix.write(&home.join(".gemrc"), "---\r\ngem: --no-document\r\n");
    prefix.write(&home.join(".gitconfig"), "[user]\r\n\tname = Jürgen\r\n");
    blocking(|| {
        prefix.set_registry(USER_ENVIRONMENT, "NO_PROXY", "localhost");
        prefix.set_registry(USER_ENVIRONMENT, "EDITOR", "notepad");
    });
    let files_before = user_files(&prefix);
    let registry_before = blocking(|| prefix.registry(USER_ENVIRONMENT));

    let enrolled =
        blocking(|| prefix.agent(&["enroll", "--server", &relay.base_url, "--token", &token]));
    assert!(enrolled.status.success(), "enroll: {}", said(&enrolled));
    let synced = blocking(|| prefix.agent(&["sync"]));
    assert_eq!(synced.status.code(), Some(0), "sync: {}", said(&synced));

    let registry = blocking(|| prefix.registry(USER_ENVIRONMENT));
    let value = |registry: &BTreeMap<String, (String, String)>, name: &str| {
        registry.get(name).map(|(_, value)| value.clone())
    };
    assert_eq!(
        value(&registry, "HTTP_PROXY").as_deref(),
        Some("http://proxy.corp.example:3128/")
    );
    assert_eq!(
        value(&registry, "HTTPS_PROXY").as_deref(),
        Some("http://proxy.corp.example:3128/")
    );
    assert_eq!(
        value(&registry, "NO_PROXY").as_deref(),
        Some("localhost,.corp.example")
    );
    assert_eq!(
        value(&registry, "EDITOR").as_deref(),
        Some("notepad"),
        "the user's own stays"
    );

    let npmrc = text(home.join(".npmrc"));
    assert!(
        npmrc.contains("registry=https://npm.corp.example/\r\n"),
        "{npmrc}"
    );
    assert!(
        npmrc.contains("@corp:registry=https://npm.corp.example/corp/\r\n"),
        "{npmrc}"
    );
    assert!(
        npmrc.contains("//npm.corp.example/:_authToken=npm-t0ken\r\n"),
        "{npmrc}"
    );
    assert!(
        npmrc.starts_with("; my npm settings\r\nsave-exact=true\r\n"),
        "{npmrc}"
    );
    let pip = text(data.join("pip/pip.ini"));
    assert!(
        pip.contains("timeout = 60\r\n")
            && pip.contains("index-url = https://pypi.corp.example/simple\r\n"),
        "{pip}"
    );
    let uv = text(data.join("uv/uv.toml"));
    assert!(
        uv.starts_with("# mine\r\nnative-tls = true\r\n")
            && uv.contains("[[index]]\r\nname = \"switchyard\"\r\nurl = \"https://pypi.corp.example/simple\"\r\ndefault = true\r\n"),
        "{uv}"
    );
    let pnpm = text(home.join("AppData/Local/pnpm/config/auth.ini"));
    assert!(
        pnpm.contains("registry=https://npm.corp.example/\n"),
        "{pnpm}"
    );
    let yarnrc = text(home.join(".yarnrc.yml"));
    assert!(
        yarnrc.contains("npmRegistryServer: https://npm.corp.example/"),
        "{yarnrc}"
    );
    let cargo = text(home.join(".cargo/config.toml"));
    assert!(
        cargo.contains("replace-with = \"switchyard\"")
            && cargo.contains("index = \"sparse+https://crates.corp.example/index/\""),
        "{cargo}"
    );
    let credentials = text(home.join(".cargo/credentials.toml"));
    assert!(
        credentials.contains("token = \"cargo-t0ken\""),
        "{credentials}"
    );
    let maven = text(home.join(".m2/settings.xml"));
    assert!(
        maven.starts_with("<settings>\r\n  <offline>false</offline>\r\n")
            && maven.contains("<url>https://maven.corp.example/maven2/</url>\r\n")
            && maven.contains("<password>maven-pa55</password>\r\n"),
        "{maven}"
    );
    let init = text(home.join(".gradle/init.d/switchyard.gradle"));
    assert!(
        init.contains("switchyard['url'] = 'https://maven.corp.example/maven2/'\n")
            && !init.contains("maven-pa55"),
        "{init}"
    );
    let properties = text(home.join(".gradle/gradle.properties"));
    assert!(
        properties.starts_with("org.gradle.jvmargs=-Xmx1g\r\n")
            && properties.contains("systemProp.https.proxyHost=proxy.corp.example\r\n")
            && properties.contains("switchyard.repository.password=maven-pa55\r\n"),
        "{properties}"
    );
    let gemrc = text(home.join(".gemrc"));
    assert!(
        gemrc.starts_with("---\r\ngem: --no-document\r\n")
            && gemrc.contains(":sources: [https://ada:gem-pa55@gems.corp.example/]\r\n"),
        "{gemrc}"
    );
    let bundler = text(home.join(".bundle/config"));
    assert!(
        bundler.contains("BUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/: \"https://gems.corp.example/\"")
            && bundler.contains("BUNDLE_GEMS__CORP__EXAMPLE: \"ada:gem-pa55\""),
        "{bundler}"
    );
    // Go would read a `\r` into a value: its lines end in LF; the user's keep their CRLF.
    let go = text(data.join("go/env"));
    assert!(go.contains("GOFLAGS=-mod=mod\r\n"), "{go}");
    assert!(
        go.contains("GOPROXY=https://goproxy.corp.example/,direct\n"),
        "{go}"
    );
    assert!(
        go.contains("GONOSUMDB=*.corp.example,github.com/corp/*\n"),
        "{go}"
    );
    let git = text(home.join(".gitconfig"));
    assert!(git.contains("\tname = Jürgen\r\n"), "{git}");
    assert!(
        git.contains(
            "[url \"https://git.corp.example/github/\"]\r\n\tinsteadOf = https://github.com/\r\n"
        ),
        "{git}"
    );
    // The user's own files keep their CRLF; files the agent makes are its own.
    for (path, bytes) in user_files(&prefix)
        .into_iter()
        .filter(|(path, _)| !path.ends_with("go/env") && files_before[path].is_some())
    {
        let bytes = String::from_utf8(bytes.unwrap()).unwrap();
        assert_eq!(
            bytes.matches('\n').count(),
            bytes.matches("\r\n").count(),
            "{} stays CRLF",
            path.display()
        );
    }

    // A publish reaches `run` through its long-poll.
    let mut run = prefix
        .command("wine")
        .arg(&prefix.agent)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    app.publish_profile(
        "staging",
        "baseline",
        profile("https://goproxy2.corp.example/"),
    )
    .await;
    let took = blocking(|| {
        until(
            Duration::from_secs(60),
            "the second publish reaches `run`",
            || text(data.join("go/env")).contains("GOPROXY=https://goproxy2.corp.example/,direct"),
        )
    });
    println!("a publish reached the running Windows agent in {took:?}");
    run.kill().unwrap();
    run.wait().unwrap();

    // An attacker in the middle: a forged profile, then a genuine but old one. Nothing moves.
    let files_second = user_files(&prefix);
    let registry_second = blocking(|| prefix.registry(USER_ENVIRONMENT));
    app.publish_profile(
        "staging",
        "baseline",
        profile("https://goproxy3.corp.example/"),
    )
    .await;
    for mode in [Mode::Forge, Mode::Replay] {
        relay.set(mode);
        let refused = blocking(|| prefix.agent(&["sync"]));
        assert_eq!(
            refused.status.code(),
            Some(4),
            "{mode:?}: {}",
            said(&refused)
        );
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("nothing was written"),
            "{}",
            said(&refused)
        );
        assert_eq!(user_files(&prefix), files_second, "{mode:?} changed a file");
        assert_eq!(
            blocking(|| prefix.registry(USER_ENVIRONMENT)),
            registry_second,
            "{mode:?} changed the registry"
        );
    }
    relay.set(Mode::Pass);
    let synced = blocking(|| prefix.agent(&["sync"]));
    assert_eq!(synced.status.code(), Some(0), "{}", said(&synced));
    assert!(text(data.join("go/env")).contains("GOPROXY=https://goproxy3.corp.example/,direct"));

    // Without %APPDATA% the agent cannot tell where pip and Go read: it says so, writes nothing.
    let exe = windows_path(&prefix.agent);
    let files_third = user_files(&prefix);
    let no_app_data =
        blocking(|| prefix.wine("cmd", &["/c", &format!("set APPDATA=&& {exe} sync")]));
    assert_eq!(no_app_data.status.code(), Some(2), "{}", said(&no_app_data));
    assert!(
        String::from_utf8_lossy(&no_app_data.stderr).contains("%APPDATA% is not set"),
        "{}",
        said(&no_app_data)
    );
    assert_eq!(user_files(&prefix), files_third);

    let restored = blocking(|| prefix.agent(&["restore"]));
    assert_eq!(
        restored.status.code(),
        Some(0),
        "restore: {}",
        said(&restored)
    );
    assert_eq!(
        user_files(&prefix),
        files_before,
        "every file back, byte for byte"
    );
    assert_eq!(
        blocking(|| prefix.registry(USER_ENVIRONMENT)),
        registry_before,
        "the registry back"
    );
    relay.stop().await;
    app.stop().await;
}
