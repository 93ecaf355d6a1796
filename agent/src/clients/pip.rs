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
//! Asked with `pip config debug` (the `pip` a user runs: `pip`, `pip3` or `python3 -m pip`),
//! which lists every file with what it sets and the variables; the agent works out what
//! `pip install` reads from that, in pip's order.

use std::collections::BTreeMap;

use std::path::PathBuf;

use switchyard_proto::profile::PypiClient;
use switchyard_proto::Profile;

use super::run::{Ran, Runner};
use super::{set_before, variable, Asking, Check, Client, Surroundings};
use crate::formats::pip::{global, key_id, PipIni};
use crate::formats::{sectioned, Editor, Sectioned};
use crate::plan::{Setting, Target};
use crate::platform::{Dirs, Os};

/// The keys of a pip file that `pip install` reads over `[global]` (its own section), or in
/// `[global]` too with `global`.
fn sets(file: &std::path::Path, key: &str, global: bool) -> Option<String> {
    let content = std::fs::read_to_string(file).ok()?;
    let entries = sectioned::entries(&PipIni, &content);
    let sections: &[&str] = match global {
        true => &["install", "global"],
        false => &["install"],
    };
    sections
        .iter()
        .find(|section| entries.contains_key(&(section.to_string(), key.to_owned())))
        .map(|section| format!("[{section}] of {}", file.display()))
}

/// What `pip install` reads before or over the agent's `[global]` keys, by the order above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found = Vec::new();
    let ours = around.paths.files.get(&Target::Pip);
    if let Some((_, file)) = variable(around.env, "PIP_CONFIG_FILE") {
        if matches!(file, "/dev/null" | "nul" | "NUL") {
            found.push(format!("PIP_CONFIG_FILE={file}: pip reads no file at all"));
        } else if ours.is_none_or(|ours| std::path::Path::new(file) != ours)
            && std::path::Path::new(file).is_file()
        {
            found.push(format!(
                "PIP_CONFIG_FILE={file}: pip reads that instead of the user's files"
            ));
        }
    }
    // A virtualenv's own file is read after the user's.
    let site = variable(around.env, "VIRTUAL_ENV").map(|(_, venv)| {
        std::path::Path::new(venv).join(match cfg!(windows) {
            true => "pip.ini",
            false => "pip.conf",
        })
    });
    for (name, value, setting) in variables(settings, around.env) {
        found.push(set_before(name, value, setting, "pip"));
    }
    for setting in settings {
        for (file, global) in [(ours, false), (site.as_ref(), true)] {
            if let Some(place) = file.and_then(|file| sets(file, &setting.key, global)) {
                found.push(format!("pip install reads {} from {place}", setting.key));
            }
        }
    }
    found
}

/// The variables of `env` pip reads over its files for `settings` (`PIP_<KEY>` under any of
/// the key's names, in any case): (name, value, setting).
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    let mut found = Vec::new();
    for setting in settings {
        for (name, value) in env.iter().filter(|(name, value)| {
            !value.is_empty()
                && name
                    .get(..4)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case("PIP_"))
                && key_id(&name[4..]) == setting.key
        }) {
            found.push((name.as_str(), value.as_str(), setting));
        }
    }
    found
}

/// The variants of `pip config debug`, in the order pip reads them.
const ORDER: [&str; 4] = ["global", "user", "site", "env"];

/// What `pip config debug` lists.
#[derive(Debug, Default)]
struct Listing {
    /// `section.key` (pip's own name of the key, its other names folded in) to each value
    /// with its file, the file read last (which pip keeps) last.
    merged: BTreeMap<String, Vec<(String, String)>>,
    /// `PIP_*` variables by pip's own name of the key: (variable, value).
    variables: BTreeMap<String, Vec<(String, String)>>,
}

/// From `pip config debug`, in the order pip reads the files.
fn read(debug: &str) -> Listing {
    // (variant, file, section.key, value) in the printed order.
    let mut entries: Vec<(String, String, String, String)> = Vec::new();
    let mut listing = Listing::default();
    let (mut variant, mut file) = (String::new(), String::new());
    for line in debug.lines() {
        if !line.starts_with(' ') {
            variant = line.trim_end_matches(':').to_owned();
            continue;
        }
        if variant == "env_var" {
            if let Some((name, value)) = line.trim().split_once('=') {
                let key = key_id(name.strip_prefix("PIP_").unwrap_or(name));
                let value = python_text(value);
                listing
                    .variables
                    .entry(key)
                    .or_default()
                    .push((name.to_owned(), value));
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
            (Some((name, value)), _) => {
                let (section, key) = name.split_once('.').unwrap_or(("", name));
                let name = format!("{section}.{}", key_id(key));
                entries.push((variant.clone(), file.clone(), name, value.to_owned()))
            }
            // A further line of a value over several lines.
            (None, Some(last)) => {
                last.3.push('\n');
                last.3.push_str(text);
            }
            (None, None) => {}
        }
    }
    for variant in ORDER {
        for (_, file, name, value) in entries.iter().filter(|e| e.0 == variant) {
            let found = listing.merged.entry(name.clone()).or_default();
            // A later file replaces what an earlier one set; one file may hold a key under
            // two of its names.
            found.retain(|(_, earlier)| earlier == file);
            found.push((value.clone(), file.clone()));
        }
    }
    listing
}

/// What `pip install` reads for `settings` (keys of `[global]`).
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    // The pip a user runs: `pip` on their PATH, else `pip3`, else Python's own module.
    let asked = [
        ("pip", &["config", "debug"][..]),
        ("pip3", &["config", "debug"][..]),
        ("python3", &["-m", "pip", "config", "debug"][..]),
    ]
    .into_iter()
    .map(|(program, args)| runner.run(program, args))
    .find(|ran| *ran != Ran::Missing);
    let debug = match asked {
        None | Some(Ran::Missing) => return Check::NotInstalled,
        Some(Ran::Failed(problem)) => return Check::Failed(problem),
        Some(Ran::Said(debug)) => debug,
    };
    let listing = read(&debug);
    let mut differences = Vec::new();
    for setting in settings {
        let key = &setting.key;
        let published: Vec<&str> = setting.values.iter().map(String::as_str).collect();
        // Variables first, then the command's own section, then [global]; under any of the
        // key's names, each must read as published.
        let read: Vec<(String, String)> = match listing.variables.get(key) {
            Some(variables) => variables
                .iter()
                .map(|(name, value)| (value.clone(), format!("the variable {name}")))
                .collect(),
            None => ["install", "global"]
                .iter()
                .find_map(|section| {
                    let found = listing.merged.get(&format!("{section}.{key}"))?;
                    Some(
                        found
                            .iter()
                            .map(|(value, file)| (value.clone(), format!("[{section}] of {file}")))
                            .collect(),
                    )
                })
                .unwrap_or_else(|| vec![(String::new(), "nowhere".to_owned())]),
        };
        for (value, from) in read {
            let values: Vec<&str> = value.split_whitespace().collect();
            if values != published {
                differences.push(format!(
                    "pip install reads {key} = {} from {from}",
                    values.join(" ")
                ));
            }
        }
    }
    differences.extend(stopping(&listing));
    // With no-index pip reads index-url and uses no index at all (`--no-index`).
    let manages_an_index = settings
        .iter()
        .any(|s| matches!(s.key.as_str(), "index-url" | "extra-index-url"));
    let no_index = listing
        .variables
        .get("no-index")
        .and_then(|found| found.last())
        .map(|(name, value)| (value.clone(), format!("the variable {name}")))
        .or_else(|| {
            ["install", "global"].iter().find_map(|section| {
                let (value, file) = listing.merged.get(&format!("{section}.no-index"))?.last()?;
                Some((value.clone(), format!("[{section}] of {file}")))
            })
        });
    if let Some((value, from)) = no_index.filter(|_| manages_an_index) {
        // pip's `strtobool`: these say yes.
        if matches!(
            value.to_lowercase().as_str(),
            "1" | "true" | "yes" | "on" | "y" | "t"
        ) {
            differences.push(format!(
                "pip install uses no index at all (no-index = {value} from {from})"
            ));
        }
    }
    Check::Read(differences)
}

/// A string as Python's `repr` prints it (`pip config debug` shows variables so): the quotes
/// of either kind taken off, and the escapes it writes (`\n`, `\t`, `\r`, `\\`, `\'`, `\"`)
/// read back.
fn python_text(text: &str) -> String {
    let inner = ['\'', '"']
        .iter()
        .find_map(|quote| text.strip_prefix(*quote)?.strip_suffix(*quote))
        .unwrap_or(text);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// How `pip install` takes an option's value from a file or variable. pip converts every
/// value of `[global]`, `[install]` and `PIP_*` variables as its option says (also one that a
/// later section overrides; pip 25.2 and later also those a later file overrides, which are
/// not listed here), and a value it cannot convert stops the command with an error before
/// anything is read (pip `cli/parser.py`, `ConfigOptionParser._update_defaults`; the options
/// in `cli/cmdoptions.py`). Options not listed take any text. An option newer than the pip a
/// machine has is ignored by that pip, and may be listed here all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// `float()`: `timeout`.
    Number,
    /// `int()`: `retries`.
    Count,
    /// `strtobool()`: the on/off options.
    Flag,
    /// A whole number or a flag: `verbose`, `quiet` (`count` actions).
    Level,
    /// One of these words: `progress-bar`.
    OneOf(&'static [&'static str]),
    /// Each word one of these: `exists-action`.
    EachOf(&'static [&'static str]),
}

/// How pip converts `key` (pip's own name, [`key_id`]), if it converts it at all.
fn conversion(key: &str) -> Option<Conversion> {
    Some(match key {
        "timeout" => Conversion::Number,
        "retries" => Conversion::Count,
        "verbose" | "quiet" => Conversion::Level,
        // Every choice any pip since 22.0 has taken.
        "progress-bar" => {
            Conversion::OneOf(&["auto", "on", "off", "raw", "ascii", "pretty", "emoji"])
        }
        "exists-action" => Conversion::EachOf(&["s", "i", "w", "b", "a"]),
        "isolated"
        | "require-virtualenv"
        | "no-input"
        | "no-color"
        | "disable-pip-version-check"
        | "no-cache-dir"
        | "no-index"
        | "no-deps"
        | "pre"
        | "dry-run"
        | "user"
        | "upgrade"
        | "force-reinstall"
        | "ignore-installed"
        | "ignore-requires-python"
        | "no-build-isolation"
        | "use-pep517"
        | "check-build-dependencies"
        | "compile"
        | "no-compile"
        | "no-warn-script-location"
        | "no-warn-conflicts"
        | "prefer-binary"
        | "require-hashes"
        | "no-clean"
        | "break-system-packages" => Conversion::Flag,
        "root-user-action" => Conversion::OneOf(&["warn", "ignore"]),
        _ => return None,
    })
}

/// pip's `strtobool`: whether `value` says yes or no at all.
fn is_flag(value: &str) -> bool {
    matches!(
        value.to_lowercase().as_str(),
        "y" | "yes" | "t" | "true" | "on" | "1" | "n" | "no" | "f" | "false" | "off" | "0"
    )
}

/// `text` as Python reads a number literal for `int()` and `float()`: `_` between digits
/// dropped.
fn without_separators(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            **c != '_'
                || !(i
                    .checked_sub(1)
                    .is_some_and(|j| chars[j].is_ascii_alphanumeric())
                    && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric))
        })
        .map(|(_, c)| *c)
        .collect()
}

/// A whole number as optparse reads one (`_parse_num`: `0x`, `0o` and `0b` prefixes too).
fn whole_number(text: &str) -> Option<i128> {
    let text = without_separators(text.trim());
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let lower = digits.to_ascii_lowercase();
    let number = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(prefix, radix)| {
            let rest = lower.strip_prefix(prefix)?;
            Some(i128::from_str_radix(rest, *radix).ok())
        })
        .unwrap_or_else(|| digits.parse::<i128>().ok())?;
    Some(if negative { -number } else { number })
}

/// Whether pip converts `value` as `conversion` says without an error.
fn converts(conversion: Conversion, value: &str) -> bool {
    let trimmed = value.trim();
    match conversion {
        Conversion::Number => without_separators(trimmed).parse::<f64>().is_ok(),
        Conversion::Count => whole_number(value).is_some(),
        Conversion::Flag => is_flag(value),
        Conversion::Level => is_flag(value) || whole_number(value).is_some_and(|n| n >= 0),
        Conversion::OneOf(words) => words.contains(&value),
        Conversion::EachOf(words) => value.split_whitespace().all(|word| words.contains(&word)),
    }
}

/// Values that stop `pip install` with an error before it reads anything, for people.
fn stopping(listing: &Listing) -> Vec<String> {
    let from_files = listing.merged.iter().flat_map(|(name, found)| {
        let (section, key) = name.split_once('.').unwrap_or(("", name));
        let read = matches!(section, "global" | "install");
        found
            .iter()
            .filter(move |_| read)
            .map(move |(value, file)| (key, value, format!("[{section}] of {file}")))
    });
    let from_variables = listing.variables.iter().flat_map(|(key, found)| {
        found
            .iter()
            .map(move |(name, value)| (key.as_str(), value, format!("the variable {name}")))
    });
    from_files
        .chain(from_variables)
        // pip skips an empty value.
        .filter(|(_, value, _)| !value.is_empty())
        .filter_map(|(key, value, from)| {
            let conversion = conversion(key)?;
            (!converts(conversion, value)).then(|| {
                format!(
                    "pip install stops with an error before reading its settings: {key} = {} from {from} is not a value pip takes for it",
                    value.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
        })
        .collect()
}

/// pip's keys for `profile` (normalized), in `[global]`: `index-url`, `extra-index-url`,
/// `trusted-host`, `timeout`.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let mut pip_file = Vec::new();
    if let Some(settings) = &profile.pypi_for(PypiClient::Pip) {
        let mut put = |key: &str, values: Vec<String>| {
            let edit = global(key, Some(values.clone()));
            pip_file.push(Setting {
                id: format!("global/{}", edit.key),
                section: Some(edit.section.into()),
                key: edit.key,
                name: key.to_owned(),
                values,
                secret: false,
                expand: false,
                multi: false,
            });
        };
        if let Some(url) = &settings.index_url {
            put("index-url", vec![url.clone()]);
        }
        if let Some(urls) = settings
            .extra_index_url
            .as_ref()
            .filter(|urls| !urls.is_empty())
        {
            put("extra-index-url", urls.clone());
        }
        if let Some(hosts) = settings
            .trusted_host
            .as_ref()
            .filter(|hosts| !hosts.is_empty())
        {
            put("trusted-host", hosts.clone());
        }
        if let Some(timeout) = settings.timeout {
            put("timeout", vec![timeout.to_string()]);
        }
    }
    pip_file
}

/// pip as a [`Client`].
#[derive(Debug)]
pub struct Pip;

impl Client for Pip {
    fn target(&self) -> Target {
        Target::Pip
    }

    fn name(&self) -> &'static str {
        "pip"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Sectioned<PipIni> = Sectioned(PipIni);
        &EDITOR
    }

    /// The user's `pip/pip.conf` (`pip.ini` on Windows) under the config folder; the
    /// machine's `/etc/pip.conf`, or `%ProgramData%\pip\pip.ini`.
    fn file(&self, os: Os, dirs: &Dirs, _env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        Some(match (dirs, os) {
            (Dirs::User { config, .. }, Os::Windows) => config.join("pip").join("pip.ini"),
            (Dirs::User { config, .. }, Os::Unix) => config.join("pip").join("pip.conf"),
            (Dirs::Machine { system, .. }, Os::Windows) => system.join("pip").join("pip.ini"),
            (Dirs::Machine { system, .. }, Os::Unix) => system.join("pip.conf"),
        })
    }

    fn variables<'a>(
        &self,
        settings: &'a [Setting],
        env: &'a BTreeMap<String, String>,
    ) -> Option<Vec<(&'a str, &'a str, &'a Setting)>> {
        Some(variables(settings, env))
    }

    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String> {
        modelled(settings, around)
    }

    fn settings(&self, profile: &Profile, _os: Os) -> Vec<Setting> {
        settings(profile)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking.runner, asking.settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_pip_cannot_convert_stops_pip_install_and_is_said() {
        let debug = "env_var:\n  PIP_RETRIES='many'\nenv:\nglobal:\nsite:\nuser:\n  /u/pip.conf, exists: True\n    install.timeout: 60\n    old.user.example.org\n    download.timeout: soon\n    global.no-cache-dir: false\n    global.disable-pip-version-check: maybe\n    global.exists-action: i w\n    global.index-url: https://x/\n";
        let found = stopping(&read(debug));
        let said = |words: &str| found.iter().any(|text| text.contains(words));
        assert!(
            said("timeout = 60 old.user.example.org from [install] of /u/pip.conf"),
            "{found:?}"
        );
        assert!(
            said("retries = many from the variable PIP_RETRIES"),
            "{found:?}"
        );
        assert!(said("disable-pip-version-check = maybe"), "{found:?}");
        assert_eq!(
            found.len(),
            3,
            "[download] is not pip install's, and the rest convert: {found:?}"
        );

        // What pip takes is never said to stop it.
        let fine = "env_var:\n  PIP_TIMEOUT='60\\n'\n  PIP_PROGRESS_BAR=\"auto\"\nuser:\n  /u/pip.conf, exists: True\n    global.retries: 0x10\n    global.timeout: 1_000\n    global.verbose: 2\n    global.quiet: no\n";
        let listing = read(fine);
        assert_eq!(listing.variables["timeout"][0].1, "60\n");
        assert_eq!(stopping(&listing), Vec::<String>::new());
    }

    #[test]
    fn the_debug_listing_gives_each_value_and_its_file_in_pips_order() {
        let debug = "env_var:\n  PIP_TIMEOUT='5'\nenv:\nglobal:\n  /etc/pip.conf, exists: True\n    global.index-url: https://g/\n    install.index-url: https://gi/\nsite:\n  /venv/pip.conf, exists: False\nuser:\n  /home/ada/.pip/pip.conf, exists: False\n  /home/ada/.config/pip/pip.conf, exists: True\n    global.index-url: https://a/\n    https://b/\n";
        let listing = read(debug);
        assert_eq!(
            listing.variables["timeout"],
            [("PIP_TIMEOUT".to_owned(), "5".to_owned())]
        );
        assert_eq!(
            listing.merged["global.index-url"],
            [(
                "https://a/\nhttps://b/".to_owned(),
                "/home/ada/.config/pip/pip.conf".to_owned()
            )]
        );
        assert_eq!(listing.merged["install.index-url"][0].1, "/etc/pip.conf");
        // pip's other names of an option are the same setting.
        let aliases = read("env_var:\n  PIP_DEFAULT_TIMEOUT='180'\nuser:\n  /u/pip.conf, exists: True\n    global.timeout: 30\n    global.pypi-url: https://evil/\n");
        assert_eq!(listing.variables.len(), 1);
        assert_eq!(aliases.variables["timeout"][0].0, "PIP_DEFAULT_TIMEOUT");
        assert_eq!(aliases.merged["global.index-url"][0].0, "https://evil/");
    }

    #[test]
    fn a_variable_an_install_section_or_a_virtualenvs_file_comes_first() {
        use crate::clients::setting;
        let home = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([
            (
                "HOME".to_owned(),
                home.path().to_string_lossy().into_owned(),
            ),
            (
                "VIRTUAL_ENV".to_owned(),
                home.path().join("venv").to_string_lossy().into_owned(),
            ),
            ("PIP_TIMEOUT".to_owned(), "5".to_owned()),
        ]);
        let paths = crate::clients::user_paths(home.path(), &env);
        let ours = &paths.files[&Target::Pip];
        std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
        std::fs::write(
            ours,
            "[global]\nindex-url = https://a/\n[install]\nindex-url = https://b/\n",
        )
        .unwrap();
        std::fs::create_dir_all(home.path().join("venv")).unwrap();
        let site = match cfg!(windows) {
            true => "venv/pip.ini",
            false => "venv/pip.conf",
        };
        std::fs::write(home.path().join(site), "[global]\ntrusted-host = v\n").unwrap();
        let around = Surroundings {
            paths: &paths,
            env: &env,
            cwd: None,
        };
        let found = modelled(
            &[
                setting("index-url", "https://a/"),
                setting("timeout", "1"),
                setting("trusted-host", "h"),
            ],
            &around,
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found.iter().any(|f| f.contains("[install] of")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.contains("trusted-host from [global] of")),
            "{found:?}"
        );
    }
}
