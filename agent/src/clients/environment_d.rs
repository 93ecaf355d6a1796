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

use super::run::{Ran, Runner};
use super::Check;
use crate::plan::Setting;

/// systemd's environment.d generator (Debian's `systemd` package).
const GENERATOR: &str =
    "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator";

/// What a systemd user session gets for `settings`.
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    let said = match runner.run(GENERATOR, &[]) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    let read: BTreeMap<&str, &str> = said.lines().filter_map(|l| l.split_once('=')).collect();
    let differences = settings
        .iter()
        .filter_map(|setting| {
            let value = setting.values.join(" ");
            match read.get(setting.key.as_str()) {
                Some(got) if *got == value => None,
                Some(got) if !setting.secret => Some(format!(
                    "user sessions get {}={got} (a later environment.d file sets it)",
                    setting.key
                )),
                _ => Some(format!(
                    "user sessions get another {} (a later environment.d file sets it)",
                    setting.key
                )),
            }
        })
        .collect();
    Check::Read(differences)
}
