//! The server binary as an operator runs it: start-up on either store, what it prints, how it
//! refuses bad settings, and how it stops.
//!
//! Past 500 lines on purpose: one test binary for the real server process, so its helpers
//! (starting it, reading its output, signalling it) serve every case in one place.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_tests::{repository_root, Backend, TestDatabase};

const BINARY: &str = env!("CARGO_BIN_EXE_switchyard-server");

/// The binary with a clean slate of settings: nothing inherited from the caller's
/// `SWITCHYARD_*` variables, a data folder of its own, port 0.
fn command(data_dir: &Path, settings: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHYARD_") {
            command.env_remove(name);
        }
    }
    command
        .env("SWITCHYARD_LISTEN", "127.0.0.1:0")
        .env("SWITCHYARD_DATA_DIR", data_dir)
        .env("SWITCHYARD_SHUTDOWN_TIMEOUT_SECS", "5")
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Forwards each line of `source` to a channel, from a thread of its own.
fn lines_of(source: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A running server process.
struct Running {
    child: Child,
    address: String,
    banner: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    fn start(data_dir: &Path, settings: &[(&str, &str)]) -> Self {
        Self::start_command(command(data_dir, settings))
    }

    fn start_command(mut command: Command) -> Self {
        let mut child = command.spawn().expect("start the server");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let banner = stdout
            .recv_timeout(Duration::from_secs(20))
            .expect("the server prints where it listens");
        let address = banner
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_owned();
        Self {
            child,
            address,
            banner,
            stdout,
            stderr,
        }
    }

    fn signal(&self, signal: &str) {
        // bash's built-in kill: no procps needed.
        let status = Command::new("bash")
            .args(["-c", &format!("kill -{signal} {}", self.child.id())])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    fn wait(mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the server did not stop within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn next_log_line(&self) -> String {
        self.stderr
            .recv_timeout(Duration::from_secs(10))
            .expect("a log line")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(stream)
}

fn read_response(mut stream: TcpStream) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the answer");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// Runs the binary to completion and returns its exit code and its stderr.
fn run_to_end(data_dir: &Path, settings: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = run_with_output(data_dir, settings, args);
    (code, stderr)
}

/// Runs the binary to completion and returns its exit code, stdout and stderr.
fn run_with_output(
    data_dir: &Path,
    settings: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let output = command(data_dir, settings)
        .args(args)
        .output()
        .expect("run the server");
    (
        output.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn starts_on_sqlite_in_a_fresh_data_folder_and_stops_on_sigterm() {
    let folder = tempfile::tempdir().unwrap();
    let data_dir = folder.path().join("nested/data");
    let server = Running::start(&data_dir, &[]);
    assert!(
        server.banner.contains("database: sqlite://"),
        "{}",
        server.banner
    );
    assert!(data_dir.join("switchyard.db").is_file());
    // The database is the owner's alone, as the keys beside it are.
    for name in [
        "switchyard.db",
        "switchyard.db-wal",
        "jwt-secret",
        "profile-key",
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data_dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
    }
    assert_eq!(
        get(&server.address, "/healthz"),
        (200, r#"{"status":"ok"}"#.into())
    );
    assert_eq!(get(&server.address, "/readyz").0, 200);
    // The API viewer: answered, and logged as one plain line (stderr is no terminal here, so
    // no colours), without a metrics library's warning.
    assert_eq!(get(&server.address, "/docs/").0, 200);
    loop {
        let line = server.next_log_line();
        assert!(
            !line.contains('\u{1b}'),
            "colours in a log that is no terminal: {line:?}"
        );
        assert!(!line.contains("actix_web_prom"), "{line}");
        if line.contains("path=/docs/") {
            break;
        }
    }

    server.signal("TERM");
    let status = server.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn ctrl_c_stops_gracefully_too() {
    let folder = tempfile::tempdir().unwrap();
    let server = Running::start(folder.path(), &[]);
    server.signal("INT");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
}

#[tokio::test]
async fn in_flight_request_finishes_after_sigterm() {
    use sqlx::{Connection, Executor};

    let database = TestDatabase::create(Backend::Postgres).await;
    let url = database.url().to_string();
    let folder = tempfile::tempdir().unwrap();
    let server = Running::start(folder.path(), &[("SWITCHYARD_DATABASE_URL", &url)]);

    // Readiness reads the migration ledger; a lock on it holds the request in flight.
    let mut locker = sqlx::PgConnection::connect(&url).await.unwrap();
    locker
        .execute("BEGIN; LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let address = server.address.clone();
    let request = std::thread::spawn(move || get(&address, "/readyz"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !request.is_finished(),
        "the request should be waiting on the lock"
    );

    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    locker.execute("COMMIT").await.unwrap();

    let (status, body) = request.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn idle_connections_do_not_hold_shutdown_past_its_limit() {
    let folder = tempfile::tempdir().unwrap();
    let server = Running::start(folder.path(), &[("SWITCHYARD_SHUTDOWN_TIMEOUT_SECS", "2")]);
    // A kept-alive connection that never sends another request.
    let mut idle = TcpStream::connect(&server.address).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let started = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[tokio::test]
async fn starts_on_postgres_with_the_same_binary() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let url = database.url().to_string();
    let folder = tempfile::tempdir().unwrap();
    let server = Running::start(folder.path(), &[("SWITCHYARD_DATABASE_URL", &url)]);
    assert!(
        server.banner.contains("database: postgres://"),
        "{}",
        server.banner
    );
    assert_eq!(get(&server.address, "/readyz").0, 200);
    assert!(
        !folder.path().join("switchyard.db").exists(),
        "no SQLite file when Postgres is used"
    );
    server.signal("TERM");
    assert_eq!(server.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn invalid_settings_end_start_up_with_one_line_and_exit_code_2() {
    let folder = tempfile::tempdir().unwrap();
    let cases = [
        ("SWITCHYARD_LISTEN", "localhost:80:80"),
        ("SWITCHYARD_DATABASE_URL", "mysql://db/switchyard"),
        ("SWITCHYARD_LOG_FORMAT", "yaml"),
        ("SWITCHYARD_MAX_BODY_BYTES", "0"),
    ];
    for (name, value) in cases {
        let (code, stderr) = run_to_end(folder.path(), &[(name, value)], &[]);
        assert_eq!(code, 2, "{name}={value}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn missing_config_file_exits_2() {
    let folder = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_end(folder.path(), &[], &["--config", "/nonexistent.toml"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("/nonexistent.toml"), "{stderr}");
}

#[test]
fn config_file_is_read_and_environment_overrides_it() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("switchyard.toml");
    std::fs::write(&file, "log_format = \"json\"\nlisten = \"127.0.0.1:1\"\n").unwrap();
    // The file's port 1 could not be bound; the environment's port 0 wins.
    let mut command = command(folder.path(), &[]);
    command.arg("--config").arg(&file);
    let server = Running::start_command(command);
    assert!(
        server.banner.contains("listening on http://127.0.0.1:"),
        "{}",
        server.banner
    );
    assert!(!server.address.ends_with(":1"), "{}", server.address);
    let line = server.next_log_line();
    let parsed: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("log_format = json comes from the file: {e}: {line}"));
    assert!(parsed.get("level").is_some(), "{parsed}");
}

#[test]
fn unreachable_database_exits_1_naming_the_setting() {
    let folder = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (code, stderr) = run_to_end(
        folder.path(),
        &[(
            "SWITCHYARD_DATABASE_URL",
            "postgres://postgres:secret@127.0.0.1:1/none",
        )],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("SWITCHYARD_DATABASE_URL"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is never printed: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn address_in_use_exits_1_naming_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let folder = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_end(folder.path(), &[("SWITCHYARD_LISTEN", &address)], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("SWITCHYARD_LISTEN"), "{stderr}");
}

#[test]
fn unknown_variable_is_warned_about() {
    let folder = tempfile::tempdir().unwrap();
    let server = Running::start(folder.path(), &[("SWITCHYARD_LISTN", "127.0.0.1:1")]);
    let warned = (0..10).any(|_| server.next_log_line().contains("SWITCHYARD_LISTN"));
    assert!(warned, "no warning about SWITCHYARD_LISTN");
}

/// A plain HTTP/1.1 request with a JSON body and extra header lines; returns the status code
/// and the body.
fn send(address: &str, method: &str, path: &str, headers: &str, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(stream)
}

/// Logs in over plain HTTP; returns the status.
fn login_status(address: &str, username: &str, password: &str) -> u16 {
    let credentials = json!({ "username": username, "password": password });
    send(address, "POST", "/api/v1/auth/login", "", &credentials).0
}

#[test]
fn first_start_creates_admin_and_shows_its_password_once() {
    let folder = tempfile::tempdir().unwrap();
    let server = Running::start(folder.path(), &[]);
    let notice = server
        .stdout
        .recv_timeout(Duration::from_secs(10))
        .expect("the generated password is printed");
    let password = notice
        .split("with the password ")
        .nth(1)
        .expect("a password in the notice")
        .trim()
        .to_owned();
    assert!(password.len() >= 32, "{notice}");
    assert_eq!(login_status(&server.address, "admin", &password), 200);
    server.signal("TERM");
    let logs: Vec<String> = server.stderr.try_iter().collect();
    assert!(
        logs.iter().all(|line| !line.contains(&password)),
        "the password never reaches the log"
    );
    drop(server);

    // Later starts do nothing: no new admin, no password shown.
    let again = Running::start(folder.path(), &[]);
    assert!(again
        .stdout
        .recv_timeout(Duration::from_millis(500))
        .is_err());
    assert_eq!(login_status(&again.address, "admin", &password), 200);
}

#[test]
fn configured_admin_password_is_used_and_not_printed() {
    let folder = tempfile::tempdir().unwrap();
    let password = "configured admin password";
    let server = Running::start(folder.path(), &[("SWITCHYARD_ADMIN_PASSWORD", password)]);
    assert!(server
        .stdout
        .recv_timeout(Duration::from_millis(500))
        .is_err());
    assert_eq!(login_status(&server.address, "admin", password), 200);
    assert_eq!(
        login_status(&server.address, "admin", "another password!"),
        401
    );

    let (code, stderr) = run_to_end(
        folder.path(),
        &[("SWITCHYARD_ADMIN_PASSWORD", "short")],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("SWITCHYARD_ADMIN_PASSWORD"), "{stderr}");
    assert!(
        !stderr.contains("short\""),
        "the rejected password is not echoed: {stderr}"
    );
}

#[test]
fn openapi_command_prints_the_checked_in_description() {
    let output = Command::new(BINARY).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let checked_in =
        std::fs::read_to_string(repository_root().join("openapi/openapi.json")).unwrap();
    assert_eq!(printed.trim_end(), checked_in.trim_end());
}

#[test]
fn profile_secrets_never_reach_the_log_even_at_trace_level() {
    let folder = tempfile::tempdir().unwrap();
    let password = "configured admin password";
    let server = Running::start(
        folder.path(),
        &[
            ("SWITCHYARD_ADMIN_PASSWORD", password),
            ("SWITCHYARD_LOG", "trace"),
        ],
    );
    let address = server.address.as_str();
    let credentials = json!({ "username": "admin", "password": password });
    let (status, login) = send(address, "POST", "/api/v1/auth/login", "", &credentials);
    assert_eq!(status, 200, "{login}");
    let token: Value = serde_json::from_str(&login).unwrap();
    let bearer = format!(
        "Authorization: Bearer {}\r\n",
        token["access_token"].as_str().unwrap()
    );
    let environment = json!({ "name": "dev" });
    let (status, _) = send(
        address,
        "POST",
        "/api/v1/environments",
        &bearer,
        &environment,
    );
    assert_eq!(status, 201);

    let draft = "/api/v1/environments/dev/profiles/baseline/draft";
    let secrets = json!({
        "npm": {"auth-tokens": {"https://npm.corp.example/": {"value": "leak-npm-token"}}},
        "proxy": {"credentials": {"http://proxy.corp.example:3128": {
            "username": "svc", "password": {"value": "leak-proxy-password"}
        }}},
        "env": {"CARGO_REGISTRIES_CORP_TOKEN": {"value": "leak-cargo-token"}}
    });
    let edit = format!("{bearer}If-Match: \"0\"\r\n");
    let (status, answer) = send(address, "PUT", draft, &edit, &secrets);
    assert_eq!(status, 200, "{answer}");
    // Refused edits: a secret in the wrong form, and one with a forbidden character.
    let misplaced =
        json!({"npm": {"auth-tokens": {"https://npm.corp.example/": "leak-misplaced"}}});
    let broken = json!({"env": {"T": {"value": "leak-broken\u{7}"}}});
    let edit = format!("{bearer}If-Match: \"1\"\r\n");
    for refused in [misplaced, broken] {
        let (status, answer) = send(address, "PUT", draft, &edit, &refused);
        assert_eq!(status, 422, "{answer}");
        assert!(!answer.contains("leak-"), "{answer}");
    }
    let publish = json!({ "message": "first", "draft_revision": 1 });
    let (status, answer) = send(
        address,
        "POST",
        "/api/v1/environments/dev/profiles/baseline/publish",
        &bearer,
        &publish,
    );
    assert_eq!(status, 201, "{answer}");

    server.signal("TERM");
    let stderr: Vec<String> = server.stderr.iter().collect();
    let stdout: Vec<String> = server.stdout.try_iter().collect();
    assert!(
        stderr.iter().any(|line| line.contains("draft saved")),
        "the log was written: {stderr:#?}"
    );
    for line in stderr.iter().chain(&stdout) {
        assert!(!line.contains("leak-"), "a secret in the log: {line}");
    }
}

#[tokio::test]
async fn audit_verify_checks_the_chain_of_the_configured_database() {
    use sqlx::Connection as _;
    let folder = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_with_output(folder.path(), &[], &["audit", "verify"]);
    assert_eq!(code, 1, "no database yet: {stderr}");
    assert!(stderr.contains("no database"), "{stderr}");

    let password = "configured admin password";
    let settings = [("SWITCHYARD_ADMIN_PASSWORD", password)];
    let server = Running::start(folder.path(), &settings);
    assert_eq!(login_status(&server.address, "admin", password), 200);
    assert_eq!(
        login_status(&server.address, "admin", "wrong password!"),
        401
    );
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());

    let (code, stdout, stderr) = run_with_output(folder.path(), &settings, &["audit", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("intact: 4 events"), "{stdout}");

    // Someone with the database file rewrites history.
    let url = format!("sqlite://{}", folder.path().join("switchyard.db").display());
    let mut database = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "DROP TRIGGER audit_events_are_append_only_update; \
         UPDATE audit_events SET outcome = 'success' WHERE seq = 4;",
    )
    .execute(&mut database)
    .await
    .unwrap();
    database.close().await.unwrap();
    let (code, stdout, _) = run_with_output(folder.path(), &settings, &["audit", "verify"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("BROKEN at event 4"), "{stdout}");
}

#[tokio::test]
async fn audit_verify_holds_the_chain_against_the_signed_checkpoints_in_a_log() {
    use sqlx::Connection as _;
    use switchyard_server::audit_checkpoints::{word, MARK};
    let folder = tempfile::tempdir().unwrap();
    let password = "configured admin password";
    let settings = [
        ("SWITCHYARD_ADMIN_PASSWORD", password),
        ("SWITCHYARD_AUDIT_CHECKPOINT_SECS", "1"),
    ];
    let server = Running::start(folder.path(), &settings);
    for _ in 0..3 {
        assert_eq!(login_status(&server.address, "admin", password), 200);
    }
    // The log of a few seconds more: checkpoints of the head after the logins.
    let mut log = Vec::new();
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        if let Ok(line) = server.stderr.recv_timeout(Duration::from_millis(100)) {
            log.push(line);
        }
    }
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let checkpoints = log.iter().filter(|line| line.contains(MARK)).count();
    assert!(checkpoints >= 2, "{log:#?}");
    let log_file = folder.path().join("server.log");
    std::fs::write(&log_file, log.join("\n")).unwrap();
    let log_path = log_file.to_str().unwrap();
    let verify = |with_log: bool| {
        let mut args = vec!["audit", "verify"];
        if with_log {
            args.extend(["--checkpoints", log_path]);
        }
        run_with_output(folder.path(), &settings, &args)
    };
    let (code, stdout, stderr) = verify(true);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("witnessed heads agree"), "{stdout}");

    // Someone with the database file cuts the newest events: the chain left holds.
    let url = format!("sqlite://{}", folder.path().join("switchyard.db").display());
    let mut database = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "DROP TRIGGER audit_events_are_append_only_delete; \
         DELETE FROM audit_events WHERE seq >= (SELECT MAX(seq) - 1 FROM audit_events);",
    )
    .execute(&mut database)
    .await
    .unwrap();
    database.close().await.unwrap();
    let (code, stdout, _) = verify(false);
    assert_eq!(code, 0, "the chain alone cannot tell: {stdout}");
    let (code, stdout, _) = verify(true);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("cut from the end"), "{stdout}");
    assert!(stdout.contains("the checkpoint at"), "{stdout}");

    // A checkpoint signed by another key is not believed.
    let forged = switchyard_proto::AuditHead {
        seq: 1,
        hash: "0".repeat(64),
    }
    .sign(&ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
    let mut text = std::fs::read_to_string(&log_file).unwrap();
    text.push_str(&format!("\nINFO audit checkpoint {}\n", word(&forged)));
    std::fs::write(&log_file, text).unwrap();
    let (code, _, stderr) = verify(true);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("none of this server's keys signed"),
        "{stderr}"
    );
}

#[test]
fn keys_rotate_makes_the_next_signing_key_of_the_configured_database() {
    let folder = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_with_output(folder.path(), &[], &["keys", "rotate"]);
    assert_eq!(code, 1, "no database yet: {stderr}");

    let server = Running::start(folder.path(), &[]);
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let (code, stdout, stderr) = run_with_output(folder.path(), &[], &["keys", "rotate"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("key-set version 2"), "{stdout}");
    let (code, stdout, _) = run_with_output(folder.path(), &[], &["audit", "verify"]);
    assert_eq!(code, 0, "{stdout}");

    // Without the profile key that sealed the keys, nothing can be signed.
    std::fs::remove_file(folder.path().join("profile-key")).unwrap();
    let (code, _, stderr) = run_with_output(folder.path(), &[], &["keys", "rotate"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("profile key"), "{stderr}");
}
