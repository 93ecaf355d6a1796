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

/// How long output is waited for once the program has ended.
const LINGER: Duration = Duration::from_millis(500);

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

/// What a program that ran to its end printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// Whether it said it succeeded.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Runner {
    /// `program args...`, its standard output when it succeeds.
    pub fn run(&self, program: &str, args: &[&str]) -> Ran {
        match self.printed(program, args) {
            Err(ran) => ran,
            Ok(printed) if printed.success => Ran::Said(printed.stdout),
            Ok(printed) => Ran::Failed(format!(
                "{program} {} failed: {}",
                args.join(" "),
                printed.stderr.lines().last().unwrap_or("no message").trim()
            )),
        }
    }

    /// `program args...`, what it printed whether it succeeded or not (a client that says why
    /// it failed on its standard output); `Err` when it is missing, could not be run, or did
    /// not finish in time.
    pub fn printed(&self, program: &str, args: &[&str]) -> Result<Printed, Ran> {
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
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(Ran::Missing),
            Err(error) => return Err(Ran::Failed(format!("cannot run {program}: {error}"))),
        };
        // Each pipe is read into a buffer of its own. A program a login file started in the
        // background keeps the pipes open after the shell has ended: its output is not
        // waited for beyond a moment (the reader goes on until it ends, and is dropped).
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            let text: std::sync::Arc<std::sync::Mutex<Vec<u8>>> = Default::default();
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (into, finished) = (text.clone(), done.clone());
            std::thread::spawn(move || {
                if let Some(pipe) = pipe {
                    let mut pipe = pipe.take(MAX_OUTPUT);
                    let mut chunk = [0_u8; 8192];
                    while let Ok(read) = pipe.read(&mut chunk) {
                        if read == 0 {
                            break;
                        }
                        if let Ok(mut text) = into.lock() {
                            text.extend_from_slice(&chunk[..read]);
                        }
                    }
                }
                finished.store(true, std::sync::atomic::Ordering::Release);
            });
            move || {
                let until = std::time::Instant::now() + LINGER;
                while !done.load(std::sync::atomic::Ordering::Acquire)
                    && std::time::Instant::now() < until
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let text = text.lock().map(|text| text.clone()).unwrap_or_default();
                String::from_utf8_lossy(&text).into_owned()
            }
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<_>));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<_>));
        let status = match child.wait_timeout(self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Ran::Failed(format!(
                    "{program} did not answer within {}s",
                    self.timeout.as_secs()
                )));
            }
            Err(error) => return Err(Ran::Failed(format!("{program}: {error}"))),
        };
        Ok(Printed {
            success: status.success(),
            stdout: stdout(),
            stderr: stderr(),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_program_left_running_in_the_background_does_not_hold_the_answer_up() {
        let runner = Runner {
            env: BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]),
            cwd: std::env::temp_dir(),
            timeout: Duration::from_secs(20),
        };
        let started = std::time::Instant::now();
        let said = runner.run("sh", &["-c", "sleep 30 & echo answered"]);
        assert_eq!(said, Ran::Said("answered\n".into()));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
