//! systemd user sessions: the variables of `environment.d`, and how the agent asks.
//!
//! Files `*.conf` from `~/.config/environment.d/` (`$XDG_CONFIG_HOME`), `/etc/environment.d/`,
//! `/run/environment.d/`, `/usr/local/lib/environment.d/`, `/usr/lib/environment.d/` and
//! `/etc/environment`, read in the lexical order of their names, a file of one name in an
//! earlier folder hiding the later ones'; a later assignment wins
//! (environment.d(5)). The agent's file is `60-switchyard.conf`: a user's `70-*.conf`
//! setting the same variable wins over it.
//!
//! Asked by running systemd's own generator, which prints the environment it builds.

use std::collections::BTreeMap;

use std::path::PathBuf;

use switchyard_proto::Profile;

use super::run::{Ran, Runner};
use super::{Asking, Check, Client, Surroundings};
use crate::formats::envfile::{unquote_systemd, EnvironmentD};
use crate::formats::{flat, Editor, Flat};
use crate::plan::{self, Setting, Target};
use crate::platform::{Dirs, Os};

/// The files of the agent's folder whose names sort after its own and that set one of
/// `settings` otherwise, by the order above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let Some(ours) = around.paths.files.get(&Target::EnvironmentD) else {
        return Vec::new();
    };
    let (Some(folder), Some(name)) = (ours.parent(), ours.file_name()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut later: Vec<std::path::PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "conf")
                && path.file_name().is_some_and(|other| other > name)
        })
        .collect();
    later.sort();
    let mut found = Vec::new();
    for file in later {
        let Ok(content) = std::fs::read_to_string(&file) else {
            continue;
        };
        for setting in settings {
            if flat::get(&EnvironmentD, &content, &setting.key)
                .is_some_and(|value| value != setting.values.join(" "))
            {
                found.push(format!(
                    "{} sets {} after the agent's file",
                    file.display(),
                    setting.key
                ));
            }
        }
    }
    found
}

/// systemd's environment.d generator (Debian's `systemd` package).
pub(crate) const GENERATOR: &str =
    "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator";

/// What a systemd user session gets for `settings`.
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    let said = match runner.run(GENERATOR, &[]) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    // The generator prints a value needing it in double quotes with backslash escapes.
    let read: BTreeMap<&str, String> = said
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key, unquote_systemd(value)))
        .collect();
    let differences = settings
        .iter()
        .filter_map(|setting| {
            let value = setting.values.join(" ");
            match read.get(setting.key.as_str()) {
                Some(got) if *got == value => None,
                Some(got) if !setting.secret => Some(format!(
                    "user sessions get {}={got} (an environment.d file read after the agent's sets it)",
                    setting.key
                )),
                Some(_) => Some(format!(
                    "user sessions get another {} (an environment.d file read after the agent's sets it)",
                    setting.key
                )),
                None => Some(format!("user sessions get no {}", setting.key)),
            }
        })
        .collect();
    Check::Read(differences)
}

/// systemd user sessions as a [`Client`].
#[derive(Debug)]
pub struct SystemdSessions;

impl Client for SystemdSessions {
    fn target(&self) -> Target {
        Target::EnvironmentD
    }

    fn name(&self) -> &'static str {
        "systemd user sessions"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Flat<EnvironmentD> = Flat(EnvironmentD);
        &EDITOR
    }

    /// `environment.d/60-switchyard.conf` under the user's config folder or `/etc`; none on
    /// Windows, which keeps variables in the registry.
    fn file(&self, os: Os, dirs: &Dirs, _env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let folder = match (dirs, os) {
            (_, Os::Windows) => return None,
            (Dirs::User { config, .. }, Os::Unix) => config,
            (Dirs::Machine { system, .. }, Os::Unix) => system,
        };
        Some(folder.join("environment.d").join("60-switchyard.conf"))
    }

    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String> {
        modelled(settings, around)
    }

    fn settings(&self, profile: &Profile, os: Os) -> Vec<Setting> {
        plan::variables(profile, os)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking.runner, asking.settings)
    }
}
