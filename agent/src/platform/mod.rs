//! What differs between operating systems, behind one interface ([`Platform`]): where a
//! user's and the machine's settings live, and where environment variables go (Windows keeps
//! them in the registry, Linux in files). Both implementations compile everywhere, so tests
//! on Linux lay out Windows paths too; only what calls Windows itself is built for Windows
//! alone: the registry and the service ([`windows`], [`service`]), and on Linux systemd units
//! ([`systemd`]).

use std::path::PathBuf;

#[cfg(windows)]
pub mod service;
#[cfg(not(windows))]
pub mod systemd;
#[cfg(windows)]
pub mod windows;

use switchyard_proto::devices::TargetState;

use crate::engine::Outcome;
use crate::place::{Hive, Place};
use crate::plan::{Setting, Target};
use crate::state::ManagedFile;

/// The operating system whose conventions paths follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Linux and other Unix systems: XDG folders, `/etc`.
    Unix,
    /// Windows: `%USERPROFILE%`, `%APPDATA%`, `%ProgramData%`, the registry.
    Windows,
}

/// Whose settings the agent manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One user's own files.
    User,
    /// The machine's, for every user.
    Machine,
}

/// The folders a scope's settings are found from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dirs {
    /// A user's.
    User {
        /// The home folder (`HOME`, `%USERPROFILE%`).
        home: PathBuf,
        /// Where clients keep a user's settings: `$XDG_CONFIG_HOME` (else `~/.config`) or
        /// `%APPDATA%`.
        config: PathBuf,
    },
    /// The machine's.
    Machine {
        /// Where machine-wide settings live: `/etc`, or `%ProgramData%`.
        system: PathBuf,
        /// Where Git for Windows is installed, as its installer records it (`InstallPath`
        /// under `HKLM\SOFTWARE\GitForWindows`); `None` where it is not, and on Linux, whose
        /// git reads `/etc/gitconfig` wherever it is installed. Git for Windows reads its
        /// machine-wide file from its own folder (`etc\gitconfig`), so without it there is no
        /// such file to write.
        git_for_windows: Option<PathBuf>,
    },
}

/// One operating system's conventions.
pub trait Platform: Sync {
    /// Which.
    fn os(&self) -> Os;
    /// A user's folders, as clients find them through `env`; why not, when a variable they
    /// need is missing.
    fn user_dirs(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Dirs, String>;
    /// The machine's folders.
    fn machine_dirs(&self, env: &dyn Fn(&str) -> Option<String>) -> Dirs;
    /// Where environment variables go at `scope`, when not in files: a registry key.
    fn variables_key(&self, scope: Scope) -> Option<Place>;
    /// Where the agent keeps its state at `scope` unless told: Linux `/var/lib/switchyard`
    /// or `$XDG_STATE_HOME/switchyard` (else `~/.local/state/switchyard`); Windows
    /// `%ProgramData%\Switchyard` or `%LOCALAPPDATA%\Switchyard`. Why not, when a variable it
    /// needs is missing.
    fn state_dir(
        &self,
        scope: Scope,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PathBuf, String>;
    /// Sets the variables `desired` in the key at `place` (one [`Platform::variables_key`]
    /// names), putting those the agent managed there before (`entry`) and no longer sets
    /// back as they were. Answers how it went and what the manifest keeps of the key.
    fn apply_variables(
        &self,
        place: &Place,
        desired: &[Setting],
        entry: Option<&ManagedFile>,
    ) -> (Outcome, Option<ManagedFile>) {
        let _ = desired;
        (
            Outcome {
                target: Target::EnvironmentD,
                state: TargetState::Failed,
                message: Some(format!(
                    "{place}: only Windows keeps variables in a registry"
                )),
                drift: Vec::new(),
            },
            entry.cloned(),
        )
    }
    /// Puts every variable the agent set at `place` back as it was; answers what could not be.
    fn restore_variables(&self, place: &Place, entry: &ManagedFile) -> Vec<String> {
        let _ = entry;
        vec![format!(
            "{place}: registry values can be restored only on Windows"
        )]
    }
}

/// Linux and other Unix systems.
#[derive(Debug)]
pub struct Unix;

/// Windows.
#[derive(Debug)]
pub struct Windows;

/// `env`'s value of `name`, when set and not empty.
pub fn set(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|value| !value.is_empty())
}

/// The home folder of the account this process runs as, from the system's user database
/// (`/etc/passwd`): where Java takes `user.home` from, `HOME` only where the account has none
/// or has `/` (OpenJDK `java_props_md.c`). `None` on Windows, where Java takes the profile
/// folder (`USERPROFILE`), and where the account has no usable entry.
pub fn account_home() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let home = *fields.get(5)?;
            (fields.get(2) == Some(&uid.as_str()) && home.len() > 1).then(|| PathBuf::from(home))
        })
    }
    #[cfg(not(unix))]
    None
}

impl Platform for Unix {
    fn os(&self) -> Os {
        Os::Unix
    }

    fn user_dirs(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Dirs, String> {
        let home = PathBuf::from(set(env, "HOME").ok_or("HOME is not set")?);
        let config =
            set(env, "XDG_CONFIG_HOME").map_or_else(|| home.join(".config"), PathBuf::from);
        Ok(Dirs::User { home, config })
    }

    fn machine_dirs(&self, _env: &dyn Fn(&str) -> Option<String>) -> Dirs {
        Dirs::Machine {
            system: PathBuf::from("/etc"),
            git_for_windows: None,
        }
    }

    fn variables_key(&self, _scope: Scope) -> Option<Place> {
        None
    }

    fn state_dir(
        &self,
        scope: Scope,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PathBuf, String> {
        match scope {
            Scope::Machine => Ok(PathBuf::from("/var/lib/switchyard")),
            Scope::User => set(env, "XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    set(env, "HOME").map(|home| PathBuf::from(home).join(".local").join("state"))
                })
                .map(|folder| folder.join("switchyard"))
                .ok_or_else(|| "HOME is not set; pass --state-dir".into()),
        }
    }
}

impl Platform for Windows {
    fn os(&self) -> Os {
        Os::Windows
    }

    fn user_dirs(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Dirs, String> {
        let home = PathBuf::from(set(env, "USERPROFILE").ok_or("%USERPROFILE% is not set")?);
        // Where pip and Go keep a user's configuration.
        let config = PathBuf::from(set(env, "APPDATA").ok_or(
            "%APPDATA% is not set: pip and Go keep their settings there; log on as the user, \
             or set it",
        )?);
        Ok(Dirs::User { home, config })
    }

    fn machine_dirs(&self, env: &dyn Fn(&str) -> Option<String>) -> Dirs {
        Dirs::Machine {
            system: program_data(env),
            git_for_windows: git_for_windows(),
        }
    }

    fn variables_key(&self, scope: Scope) -> Option<Place> {
        Some(Place::environment(match scope {
            Scope::User => Hive::CurrentUser,
            Scope::Machine => Hive::LocalMachine,
        }))
    }

    #[cfg(windows)]
    fn apply_variables(
        &self,
        place: &Place,
        desired: &[Setting],
        entry: Option<&ManagedFile>,
    ) -> (Outcome, Option<ManagedFile>) {
        windows::apply(place, desired, entry)
    }

    #[cfg(windows)]
    fn restore_variables(&self, place: &Place, entry: &ManagedFile) -> Vec<String> {
        windows::restore(place, entry)
    }

    fn state_dir(
        &self,
        scope: Scope,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PathBuf, String> {
        match scope {
            Scope::Machine => Ok(program_data(env).join("Switchyard")),
            Scope::User => set(env, "LOCALAPPDATA")
                .map(|folder| PathBuf::from(folder).join("Switchyard"))
                .ok_or_else(|| "%LOCALAPPDATA% is not set; pass --state-dir".into()),
        }
    }
}

/// The platform this agent was built for.
pub fn current() -> &'static dyn Platform {
    match cfg!(windows) {
        true => &Windows,
        false => &Unix,
    }
}

/// Where Git for Windows is installed, when it is (only Windows is asked).
fn git_for_windows() -> Option<PathBuf> {
    #[cfg(windows)]
    return windows::git_for_windows();
    #[cfg(not(windows))]
    None
}

/// Windows' folder for machine-wide program data (`C:\ProgramData`), as the system records it:
/// a service's environment may name another folder, or none.
pub fn program_data(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    #[cfg(windows)]
    if let Some(recorded) = windows::program_data() {
        return recorded;
    }
    PathBuf::from(set(env, "ProgramData").unwrap_or_else(|| "C:\\ProgramData".into()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::Paths;
    use crate::plan::Target;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: BTreeMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        move |name| pairs.get(name).cloned()
    }

    /// Each platform's layout, worked out on any platform: what the Windows agent writes is
    /// known on Linux too.
    #[test]
    fn each_platform_lays_out_the_clients_files_its_own_way() {
        let windows = env(&[
            ("USERPROFILE", "C:\\Users\\ada"),
            ("APPDATA", "C:\\Users\\ada\\AppData\\Roaming"),
            ("ProgramData", "D:\\Data"),
        ]);
        let user = Paths::user_on(&Windows, &windows).unwrap();
        let file = |paths: &Paths, target| paths.files.get(&target).cloned();
        assert_eq!(
            file(&user, Target::Pip),
            Some(
                PathBuf::from("C:\\Users\\ada\\AppData\\Roaming")
                    .join("pip")
                    .join("pip.ini")
            )
        );
        assert_eq!(
            file(&user, Target::Npmrc),
            Some(PathBuf::from("C:\\Users\\ada").join(".npmrc"))
        );
        assert_eq!(
            file(&user, Target::Uv),
            Some(
                PathBuf::from("C:\\Users\\ada\\AppData\\Roaming")
                    .join("uv")
                    .join("uv.toml")
            )
        );
        assert_eq!(
            file(&user, Target::Cargo),
            Some(
                PathBuf::from("C:\\Users\\ada")
                    .join(".cargo")
                    .join("config.toml")
            )
        );
        assert_eq!(
            file(&user, Target::Pnpm),
            Some(
                PathBuf::from("C:\\Users\\ada")
                    .join(".config")
                    .join("pnpm")
                    .join("auth.ini")
            ),
            "pnpm's folder without %LOCALAPPDATA%"
        );
        assert_eq!(
            file(&user, Target::EnvironmentD),
            None,
            "the registry holds them"
        );
        assert_eq!(file(&user, Target::Shell), None);
        assert_eq!(
            (user.variables, user.profiles.len()),
            (Some(Place::environment(Hive::CurrentUser)), 0)
        );
        if !cfg!(windows) {
            // Windows itself answers from the registry, not the environment.
            let machine = Paths::machine_on(&Windows, &windows);
            assert_eq!(
                file(&machine, Target::Pip),
                Some(PathBuf::from("D:\\Data").join("pip").join("pip.ini"))
            );
            assert_eq!(
                file(&machine, Target::Git),
                None,
                "no Git for Windows recorded, no machine-wide git file"
            );
            let set = env(&[
                ("ProgramData", "D:\\Data"),
                ("GIT_CONFIG_SYSTEM", "D:\\git.ini"),
            ]);
            assert_eq!(
                file(&Paths::machine_on(&Windows, &set), Target::Git),
                Some(PathBuf::from("D:\\git.ini")),
                "a git of the admin's own, named where git looks"
            );
        }
        assert_eq!(
            Windows.state_dir(Scope::User, &env(&[])),
            Err("%LOCALAPPDATA% is not set; pass --state-dir".to_owned())
        );

        let unix = env(&[("HOME", "/home/ada"), ("GOENV", "off")]);
        let user = Paths::user_on(&Unix, &unix).unwrap();
        assert_eq!(
            file(&user, Target::Go),
            Some(PathBuf::from("/home/ada/.config/go/env")),
            "GOENV=off turns Go's file off for Go, not the agent's own"
        );
        assert_eq!(
            file(&user, Target::Shell),
            Some(PathBuf::from("/home/ada/.config/switchyard/env.sh"))
        );
        assert_eq!(user.variables, None);
        let machine = Paths::machine_on(&Unix, &unix);
        assert_eq!(
            machine.files.keys().copied().collect::<Vec<_>>(),
            [
                Target::Pip,
                Target::Uv,
                Target::Gemrc,
                Target::Git,
                Target::EnvironmentD,
                Target::Shell
            ]
        );
        assert_eq!(
            file(&machine, Target::Pip),
            Some(PathBuf::from("/etc/pip.conf"))
        );
        assert_eq!(
            file(&machine, Target::Gemrc),
            Some(PathBuf::from("/etc/gemrc"))
        );
        assert_eq!(
            file(&machine, Target::Uv),
            Some(PathBuf::from("/etc/uv/uv.toml"))
        );
        assert_eq!(
            Unix.state_dir(Scope::User, &unix),
            Ok(PathBuf::from("/home/ada/.local/state/switchyard"))
        );
        assert_eq!(
            Paths::user_on(&Unix, &env(&[])),
            Err("HOME is not set".to_owned())
        );
    }
}
