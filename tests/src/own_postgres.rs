//! A Postgres server of one test's own, made with the machine's `initdb` and run with its
//! `pg_ctl` on a free loopback port, so that a test may stop and restart it under load without
//! touching the server every other test shares. Removed with its folder when dropped.
//!
//! The binaries are the ones `scripts/test` uses for its throwaway server: `initdb` and
//! `pg_ctl` on `PATH`, else the newest `/usr/lib/postgresql/*/bin`. Postgres refuses to run as
//! root, so as root it runs as the `postgres` user (else `nobody`) through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A running (or stopped) Postgres server in a temporary folder.
#[derive(Debug)]
pub struct OwnPostgres {
    folder: TempDir,
    bin: PathBuf,
    port: u16,
    /// `runuser -u USER --` as root, else nothing.
    run_as: Vec<String>,
}

/// The folder holding `initdb` and `pg_ctl`.
fn bin_dir() -> PathBuf {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    if let (Some(initdb), Some(_)) = (on_path("initdb"), on_path("pg_ctl")) {
        return initdb.parent().unwrap().to_owned();
    }
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
                .collect()
        })
        .unwrap_or_default();
    installed.sort_by_key(|bin| {
        bin.parent()
            .and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    installed.pop().unwrap_or_else(|| {
        panic!(
            "no Postgres binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql: \
             this test runs a Postgres server of its own. Install PostgreSQL (Debian: \
             apt-get install postgresql); .ci/run does."
        )
    })
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

impl OwnPostgres {
    /// Makes a cluster (user `postgres`, trust authentication on loopback) and starts it.
    pub fn start() -> Self {
        let bin = bin_dir();
        let folder = tempfile::tempdir().expect("a folder for Postgres");
        let mut run_as = Vec::new();
        if is_root() {
            let user = match Command::new("id").arg("postgres").output() {
                Ok(output) if output.status.success() => "postgres",
                _ => "nobody",
            };
            let owned = Command::new("chown")
                .arg(user)
                .arg(folder.path())
                .output()
                .expect("chown runs");
            assert!(owned.status.success(), "chown: {}", said(&owned));
            run_as = vec!["runuser".into(), "-u".into(), user.into(), "--".into()];
        }
        let port = free_port();
        let postgres = Self {
            folder,
            bin,
            port,
            run_as,
        };
        let data = postgres.data();
        postgres.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        postgres.resume();
        postgres
    }

    fn data(&self) -> String {
        self.folder
            .path()
            .join("data")
            .to_string_lossy()
            .into_owned()
    }

    /// One of the binaries, to run as the server's user from its folder (which that user may
    /// enter, unlike the checkout).
    fn command(&self, program: &str) -> Command {
        let mut command = match self.run_as.split_first() {
            Some((runuser, rest)) => {
                let mut command = Command::new(runuser);
                command.args(rest).arg(self.bin.join(program));
                command
            }
            None => Command::new(self.bin.join(program)),
        };
        command.current_dir(self.folder.path());
        command
    }

    /// Runs one of the binaries; it must succeed.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}\n{}",
            said(&output),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
        output
    }

    fn log(&self) -> PathBuf {
        self.folder.path().join("server.log")
    }

    /// The administrative connection URL.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A connection URL for database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`.
    pub async fn create_database(&self, name: &str) {
        use sqlx::{Connection as _, Executor as _};
        let mut connection = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .expect("the test's own Postgres answers");
        connection
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create the database");
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`): every connection is cut
    /// at once, nothing is shut down cleanly, and the next start recovers from the WAL.
    pub fn crash(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Starts the server again on the same port.
    pub fn resume(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=100",
            self.port,
            self.folder.path().display()
        );
        let log = self.log().to_string_lossy().into_owned();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// The server's folder.
    pub fn folder(&self) -> &Path {
        self.folder.path()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        // Stopped already is fine; the folder goes with `TempDir`.
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A loopback port nothing listens on now, below Linux's range for ports the kernel hands out
/// (32768 and up): while this server is down, another test's listener on port 0 cannot take it.
fn free_port() -> u16 {
    (0..1000)
        .map(|_| rand::Rng::gen_range(&mut rand::thread_rng(), 20_000..32_000))
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free loopback port")
}
