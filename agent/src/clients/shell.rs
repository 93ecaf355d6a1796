//! Login shells: which of a user's files each common shell reads when it starts as a login
//! shell, so that the line sourcing the agent's snippet goes into a file it really reads.
//!
//! - bash reads the first of `~/.bash_profile`, `~/.bash_login` and `~/.profile` that exists,
//!   and only that one (bash(1), INVOCATION).
//! - sh and dash read `~/.profile` (dash(1), Invocation); so do display managers that start a
//!   session through a login shell.
//! - zsh reads `$ZDOTDIR/.zprofile` (`$HOME` when `ZDOTDIR` is unset) and never `~/.profile`
//!   (zsh(1), STARTUP/SHUTDOWN FILES); `~/.zshenv`, read first, often sets `ZDOTDIR`.
//!
//! Asked by starting each login shell that reads a hooked file (`bash -l`, `dash -l`,
//! `zsh -l`) with the user's environment less the variables the profile sets, and printing
//! them: a file that returns early, a `readonly`, or a syntax error shows. A terminal's shell
//! is interactive and no login shell: it inherits the session's variables, then reads
//! `~/.bashrc` (`~/.zshrc`), which may set others; `bash -i` (`zsh -i`) is asked too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_proto::Profile;

use super::run::{Ran, Runner};
use super::{Asking, Check, Client, Surroundings};
use crate::formats::envfile::ShellExports;
use crate::formats::{Editor, Flat};
use crate::plan::{self, Setting, Target};
use crate::platform::{Dirs, Os};

/// `ZDOTDIR` as `~/.zshenv` sets it in its simple forms (`ZDOTDIR=~/x`, `export
/// ZDOTDIR="$HOME/x"`, `${HOME}`), if it does.
fn zdotdir_from_zshenv(home: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(home.join(".zshenv")).ok()?;
    let value = text.lines().rev().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        line.strip_prefix("ZDOTDIR=")
    })?;
    let value = value.trim().trim_matches(['"', '\'']);
    let home = home.to_string_lossy();
    let path = value
        .replacen("${HOME}", &home, 1)
        .replacen("$HOME", &home, 1);
    let path = match path.strip_prefix("~/") {
        Some(rest) => format!("{home}/{rest}"),
        None => path,
    };
    (!path.contains('$') && path.starts_with('/')).then(|| PathBuf::from(path))
}

/// The login files of the user whose home is `home` that must source the snippet, in the
/// order they are hooked: `~/.profile` always; bash's own file where one exists (it then
/// reads no `~/.profile`); zsh's `.zprofile` where it exists or zsh is the login shell.
/// `env` is the user's environment (`ZDOTDIR`, `SHELL`).
pub fn login_files(home: &Path, env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = vec![home.join(".profile")];
    if let Some(bash) = [".bash_profile", ".bash_login"]
        .iter()
        .map(|name| home.join(name))
        .find(|path| std::fs::symlink_metadata(path).is_ok())
    {
        files.push(bash);
    }
    let zdotdir = env("ZDOTDIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| zdotdir_from_zshenv(home))
        .unwrap_or_else(|| home.to_owned());
    let zprofile = zdotdir.join(".zprofile");
    let zsh_user = env("SHELL").is_some_and(|shell| shell.ends_with("/zsh"));
    if zsh_user || std::fs::symlink_metadata(&zprofile).is_ok() {
        files.push(zprofile);
    }
    files
}

/// A marker before what the shell prints for the agent: login files may print too.
const MARKER: &str = "\u{1e}switchyard\u{1e}";

/// What each login shell that reads one of `hooked` gets for `settings`.
pub fn check(runner: &Runner, settings: &[Setting], hooked: &[PathBuf]) -> Check {
    let zsh = hooked.iter().any(|file| file.ends_with(".zprofile"));
    let mut shells = vec![("bash", "-l"), ("dash", "-l")];
    if zsh {
        shells.push(("zsh", "-l"));
    }
    // The variables the profile sets, taken out: otherwise a shell would inherit them.
    let mut env: BTreeMap<String, String> = runner.env.clone();
    env.retain(|name, _| !settings.iter().any(|s| s.key == *name));
    let login = Runner {
        env: env.clone(),
        ..runner.clone()
    };
    // A terminal's shell is interactive and no login shell: it inherits the session's
    // variables (as published) and then reads ~/.bashrc or ~/.zshrc, which may set others.
    env.extend(settings.iter().map(|s| (s.key.clone(), s.values.join(" "))));
    let interactive = Runner {
        env,
        ..runner.clone()
    };
    let mut runs: Vec<(&str, &str, &Runner)> = shells
        .iter()
        .map(|(shell, flag)| (*shell, *flag, &login))
        .collect();
    runs.push(("bash", "-i", &interactive));
    if zsh {
        runs.push(("zsh", "-i", &interactive));
    }
    let script = format!(
        "printf '{MARKER}'; printf '%s\\036' {}",
        settings
            .iter()
            .map(|s| format!("\"${{{}-}}\"", s.key))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut asked = false;
    let mut differences = Vec::new();
    for (shell, flag, runner) in runs {
        let said = match runner.run(shell, &[flag, "-c", &script]) {
            Ran::Missing => continue,
            Ran::Failed(problem) => {
                asked = true;
                differences.push(format!("{shell} {flag} does not finish: {problem}"));
                continue;
            }
            Ran::Said(said) => said,
        };
        asked = true;
        let Some((_, printed)) = said.split_once(MARKER) else {
            differences.push(format!("{shell} {flag} stops before it gets the variables"));
            continue;
        };
        let values: Vec<&str> = printed.split('\u{1e}').collect();
        for (setting, got) in settings.iter().zip(values) {
            let expected = setting.values.join(" ");
            if got != expected {
                differences.push(match (got.is_empty(), setting.secret) {
                    (true, _) => format!("{shell} {flag} gets no {}", setting.key),
                    (false, true) => format!("{shell} {flag} gets another {}", setting.key),
                    (false, false) => format!("{shell} {flag} gets {}={got}", setting.key),
                });
            }
        }
    }
    match asked {
        true => Check::Read(differences),
        false => Check::NotInstalled,
    }
}

// Login shells' files are Unix's: Windows keeps variables in the registry.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn bash_and_zsh_get_the_file_they_read() {
        let home = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert_eq!(
            login_files(home.path(), none),
            [home.path().join(".profile")]
        );
        std::fs::write(home.path().join(".bash_login"), "").unwrap();
        std::fs::write(home.path().join(".bash_profile"), "").unwrap();
        assert_eq!(
            login_files(home.path(), none),
            [
                home.path().join(".profile"),
                home.path().join(".bash_profile")
            ]
        );
        let zsh = |name: &str| match name {
            "SHELL" => Some("/usr/bin/zsh".to_owned()),
            "ZDOTDIR" => Some("/home/ada/.config/zsh".to_owned()),
            _ => None,
        };
        assert_eq!(
            login_files(home.path(), zsh).last().unwrap(),
            Path::new("/home/ada/.config/zsh/.zprofile")
        );
        // ZDOTDIR set in ~/.zshenv, as XDG-minded setups do.
        std::fs::write(home.path().join(".zshenv"), "export ZDOTDIR=\"$HOME/zd\"\n").unwrap();
        std::fs::create_dir_all(home.path().join("zd")).unwrap();
        std::fs::write(home.path().join("zd/.zprofile"), "").unwrap();
        assert_eq!(
            login_files(home.path(), none).last().unwrap(),
            &home.path().join("zd/.zprofile")
        );
    }
}

/// login shells as a [`Client`].
#[derive(Debug)]
pub struct LoginShells;

impl Client for LoginShells {
    fn target(&self) -> Target {
        Target::Shell
    }

    fn name(&self) -> &'static str {
        "login shells"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Flat<ShellExports> = Flat(ShellExports);
        &EDITOR
    }

    /// The snippet login files source: `switchyard/env.sh` under the user's config folder, or
    /// `/etc/profile.d/switchyard.sh`, which login shells read by themselves; none on Windows.
    fn file(&self, os: Os, dirs: &Dirs, _env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match (dirs, os) {
            (_, Os::Windows) => None,
            (Dirs::User { config, .. }, Os::Unix) => Some(config.join("switchyard").join("env.sh")),
            (Dirs::Machine { system, .. }, Os::Unix) => {
                Some(system.join("profile.d").join("switchyard.sh"))
            }
        }
    }

    fn modelled(&self, _settings: &[Setting], _around: &Surroundings) -> Vec<String> {
        Vec::new()
    }

    fn settings(&self, profile: &Profile, os: Os) -> Vec<Setting> {
        plan::variables(profile, os)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking.runner, asking.settings, asking.hooked)
    }
}
