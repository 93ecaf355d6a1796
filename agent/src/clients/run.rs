//! Running a client to ask what it reads: with the user's environment and nothing else, no
//! input (nothing can prompt), a time limit, and its output read up to a bound.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt as _;

/// The most of a client's output read: far more than any configuration listing.
const MAX_OUTPUT: u64 = 1 << 20;

/// Runs clients as the user would.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The environment they run with, whole (the agent's own).
    pub env: BTreeMap<String, String>,
    /// The folder they run in.
    pub cwd: PathBuf,
    /// How long one may take before it is stopped.
    pub timeout: Duration,
}

/// How asking a client went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// It is not installed (not on `PATH`).
    Missing,
    /// It could not be run, did not finish in time, or said it failed.
    Failed(String),
    /// What it printed.
    Said(String),
}

impl Runner {
    /// `program args...`, its standard output when it succeeds.
    pub fn run(&self, program: &str, args: &[&str]) -> Ran {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ran::Missing,
            Err(error) => return Ran::Failed(format!("cannot run {program}: {error}")),
        };
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(pipe) = pipe {
                    let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<_>));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<_>));
        let status = match child.wait_timeout(self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ran::Failed(format!(
                    "{program} did not answer within {}s",
                    self.timeout.as_secs()
                ));
            }
            Err(error) => return Ran::Failed(format!("{program}: {error}")),
        };
        let (stdout, stderr) = (
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default(),
        );
        match status.success() {
            true => Ran::Said(stdout),
            false => Ran::Failed(format!(
                "{program} {} failed: {}",
                args.join(" "),
                stderr.lines().last().unwrap_or("no message").trim()
            )),
        }
    }
}
