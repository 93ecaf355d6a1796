//! pip: where it reads its settings, and how the agent asks it.
//!
//! Files, later over earlier (pip `src/pip/_internal/configuration.py`,
//! `iter_config_files` and `OVERRIDE_ORDER`): the global files (`/etc/xdg/pip/pip.conf`,
//! `/etc/pip.conf`; Windows `%ProgramData%\pip\pip.ini`); the user files (legacy
//! `~/.pip/pip.conf`, then `$XDG_CONFIG_HOME/pip/pip.conf`; Windows `%APPDATA%\pip\pip.ini`),
//! skipped when `PIP_CONFIG_FILE` names a file that exists; the site file
//! (`sys.prefix/pip.conf`, a virtualenv's own); the file `PIP_CONFIG_FILE` names
//! (`os.devnull` turns every file off); then `PIP_<KEY>` variables over all of them. Within
//! the merged files a command's own section (`[install]`, `[download]`...) is read over
//! `[global]` (`ConfigOptionParser._get_ordered_configuration_items`). Each file is read as
//! `formats::pip` says.
//!
//! Asked with `pip config debug`, which lists every file with what it sets and the
//! variables; the agent works out what `pip install` reads from that, in pip's order.

use std::collections::BTreeMap;

use super::run::{Ran, Runner};
use super::Check;
use crate::formats::pip::key_id;
use crate::plan::Setting;

/// The variants of `pip config debug`, in the order pip reads them.
const ORDER: [&str; 4] = ["global", "user", "site", "env"];

/// From `pip config debug`: the merged `section.key` values with the file each came from,
/// and the `PIP_*` variables by key.
fn read(debug: &str) -> (BTreeMap<String, (String, String)>, BTreeMap<String, String>) {
    // (variant, file, section.key, value) in the printed order.
    let mut entries: Vec<(String, String, String, String)> = Vec::new();
    let mut variables = BTreeMap::new();
    let (mut variant, mut file) = (String::new(), String::new());
    for line in debug.lines() {
        if !line.starts_with(' ') {
            variant = line.trim_end_matches(':').to_owned();
            continue;
        }
        if variant == "env_var" {
            if let Some((name, value)) = line.trim().split_once('=') {
                let key = key_id(name.strip_prefix("PIP_").unwrap_or(name));
                variables.insert(key, value.trim_matches('\'').to_owned());
            }
            continue;
        }
        if let Some(path) = line
            .strip_prefix("  ")
            .and_then(|rest| (!rest.starts_with(' ')).then(|| rest.split(", exists: ").next())?)
        {
            file = path.to_owned();
            continue;
        }
        let text = line.trim_start();
        let named = text
            .split_once(": ")
            .filter(|(name, _)| name.contains('.') && !name.contains(char::is_whitespace));
        match (named, entries.last_mut()) {
            (Some((name, value)), _) => entries.push((
                variant.clone(),
                file.clone(),
                name.to_owned(),
                value.to_owned(),
            )),
            // A further line of a value over several lines.
            (None, Some(last)) => {
                last.3.push('\n');
                last.3.push_str(text);
            }
            (None, None) => {}
        }
    }
    let mut merged = BTreeMap::new();
    for variant in ORDER {
        for (_, file, name, value) in entries.iter().filter(|e| e.0 == variant) {
            merged.insert(name.clone(), (value.clone(), file.clone()));
        }
    }
    (merged, variables)
}

/// What `pip install` reads for `settings` (keys of `[global]`).
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    let debug = match runner.run("python3", &["-m", "pip", "config", "debug"]) {
        Ran::Missing => match runner.run("pip", &["config", "debug"]) {
            Ran::Missing => return Check::NotInstalled,
            Ran::Failed(problem) => return Check::Failed(problem),
            Ran::Said(debug) => debug,
        },
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(debug) => debug,
    };
    let (merged, variables) = read(&debug);
    let mut differences = Vec::new();
    for setting in settings {
        let key = &setting.key;
        let (value, from) = match variables.get(key) {
            Some(value) => (
                value.clone(),
                format!("the variable PIP_{}", key.to_uppercase().replace('-', "_")),
            ),
            None => match merged
                .get(&format!("install.{key}"))
                .map(|found| (found, "[install]"))
                .or_else(|| {
                    merged
                        .get(&format!("global.{key}"))
                        .map(|f| (f, "[global]"))
                }) {
                Some(((value, place), section)) => (value.clone(), format!("{section} of {place}")),
                None => (String::new(), "nowhere".to_owned()),
            },
        };
        let read: Vec<&str> = value.split_whitespace().collect();
        if read
            != setting
                .values
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        {
            differences.push(format!(
                "pip install reads {key} = {} from {from}",
                read.join(" ")
            ));
        }
    }
    Check::Read(differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_listing_gives_each_value_and_its_file_in_pips_order() {
        let debug = "env_var:\n  PIP_TIMEOUT='5'\nenv:\nglobal:\n  /etc/pip.conf, exists: True\n    global.index-url: https://g/\n    install.index-url: https://gi/\nsite:\n  /venv/pip.conf, exists: False\nuser:\n  /home/ada/.pip/pip.conf, exists: False\n  /home/ada/.config/pip/pip.conf, exists: True\n    global.index-url: https://a/\n    https://b/\n";
        let (merged, variables) = read(debug);
        assert_eq!(variables["timeout"], "5");
        assert_eq!(
            merged["global.index-url"],
            (
                "https://a/\nhttps://b/".to_owned(),
                "/home/ada/.config/pip/pip.conf".to_owned()
            )
        );
        assert_eq!(merged["install.index-url"].1, "/etc/pip.conf");
    }
}
