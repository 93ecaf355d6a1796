//! A fresh Wine prefix of the test's own: a Windows machine whose user has a non-ASCII name,
//! with the Windows agent ready to run in it.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use switchyard_tests::repository_root;

/// The Windows user's name: not ASCII, so that every path the agent builds has to cope.
pub const USER: &str = "jürgen";

/// One Wine prefix; its wineserver is stopped when it goes.
#[derive(Debug)]
pub struct Prefix {
    root: tempfile::TempDir,
    /// The agent's `.exe`.
    pub agent: PathBuf,
}

/// Where scripts/test-windows built the agent.
fn agent_exe() -> PathBuf {
    let path = std::env::var_os("SWITCHYARD_AGENT_EXE").map(PathBuf::from).expect(
        "SWITCHYARD_AGENT_EXE names the Windows agent to test; scripts/test-windows builds it and sets it",
    );
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

impl Prefix {
    /// Boots a new prefix and installs the `bcryptprimitives.dll` stand-in Wine 8 lacks.
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("switchyard-wine-e2e.")
            .tempdir()
            .unwrap();
        let prefix = Self {
            root,
            agent: agent_exe(),
        };
        let booted = prefix
            .command("wineboot")
            .arg("--init")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(booted.success(), "wineboot: {booted:?}");
        prefix.wait();
        let system32 = prefix.drive_c().join("windows/system32");
        let shim = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "-o"])
            .arg(system32.join("bcryptprimitives.dll"))
            .arg(repository_root().join("agent/windows/bcryptprimitives-shim.c"))
            .arg("-ladvapi32")
            .output()
            .expect(
                "MinGW (x86_64-w64-mingw32-gcc) builds the shim; scripts/test-windows installs it",
            );
        assert!(shim.status.success(), "{shim:?}");
        assert!(
            prefix.user_folder().is_dir(),
            "{}",
            prefix.user_folder().display()
        );
        prefix
    }

    /// The prefix's `C:`.
    pub fn drive_c(&self) -> PathBuf {
        self.root.path().join("drive_c")
    }

    /// `%USERPROFILE%`.
    pub fn user_folder(&self) -> PathBuf {
        self.drive_c().join("users").join(USER)
    }

    /// The folder a Windows variable such as `%ProgramData%` names, as a path here.
    pub fn folder(&self, variable: &str) -> PathBuf {
        let output = self.wine("cmd", &["/c", &format!("echo %{variable}%")]);
        let windows = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let relative = windows
            .strip_prefix("C:\\")
            .unwrap_or_else(|| panic!("%{variable}% is {windows:?}, not on C:"));
        self.drive_c().join(relative.replace('\\', "/"))
    }

    /// `%APPDATA%`.
    pub fn app_data(&self) -> PathBuf {
        self.user_folder().join("AppData/Roaming")
    }

    /// `program` run in this prefix, as [`USER`], without a display, and with nothing of the
    /// test's own environment but what Wine needs to start: Wine hands every variable on to
    /// Windows programs, and one such as `CARGO_HOME` (which rustup gives the tests) would
    /// point the agent at this machine's own files.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env_clear();
        for name in ["PATH", "HOME", "LANG", "TMPDIR"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .env("WINEPREFIX", self.root.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("USER", USER)
            .env("LOGNAME", USER)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        command
    }

    /// `wine program args...`, waited for.
    pub fn wine(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
        // Output goes to files, not pipes: Wine's own services (started with the first
        // program) inherit the handles and, in a prefix kept alive, would hold a pipe open
        // for ever.
        let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
        let status = self
            .command("wine")
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .status()
            .unwrap();
        let read = |mut file: std::fs::File| {
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(0)).unwrap();
            file.read_to_end(&mut bytes).unwrap();
            bytes
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    /// The agent with `args`, waited for.
    pub fn agent(&self, args: &[&str]) -> Output {
        self.wine(&self.agent, args)
    }

    /// Waits until every process in the prefix has ended.
    pub fn wait(&self) {
        let _ = self.command("wineserver").arg("-w").status();
    }

    /// Keeps the prefix running with no program in it (Wine otherwise ends its services
    /// soon after the last program).
    pub fn keep_alive(&self) {
        let _ = self
            .command("wineserver")
            .arg("-p")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Values under a registry key, by name: (type, data).
    /// Empty when the key does not exist; any other failure of `reg` is retried twice, then
    /// panics with what it said (under CI's load one `reg query` once came back without the
    /// values it should have listed, and the test could not tell that from a missing value).
    pub fn registry(&self, key: &str) -> BTreeMap<String, (String, String)> {
        let mut tries = 0;
        let output = loop {
            let output = self.wine("reg", &["query", key]);
            if output.status.success() {
                break output;
            }
            let said = said(&output);
            if said.contains("Unable to find the specified registry key") {
                return BTreeMap::new();
            }
            tries += 1;
            assert!(tries < 3, "reg query {key}, three times: {said}");
            eprintln!("reg query {key} failed, trying again: {said}");
        };
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .filter(|line| line.starts_with("    "))
            .filter_map(|line| {
                let mut parts = line.trim_start().splitn(3, "    ");
                let name = parts.next()?.to_owned();
                let kind = parts.next()?.to_owned();
                Some((name, (kind, parts.next().unwrap_or("").to_owned())))
            })
            .collect()
    }

    /// Sets a string value with `reg add`.
    pub fn set_registry(&self, key: &str, name: &str, value: &str) {
        let output = self.wine(
            "reg",
            &["add", key, "/v", name, "/t", "REG_SZ", "/d", value, "/f"],
        );
        assert!(output.status.success(), "reg add {key} {name}: {output:?}");
    }

    /// Writes `content` to `path`, making its folder.
    pub fn write(&self, path: &Path, content: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = self.command("wineserver").arg("-k").status();
        self.wait();
    }
}

/// `path` as Wine's programs name it (the Unix root is drive `Z:`).
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// What a command printed, for assertion messages.
pub fn said(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
