//! uv: where it reads its package indexes, and how the agent asks it.
//!
//! uv does not read pip's files. Order (uv docs `concepts/configuration-files.md`, uv
//! `crates/uv/src/lib.rs` and `crates/uv-dirs`; each point seen with uv 0.13.8):
//! - the command line, then variables: `UV_DEFAULT_INDEX` (`UV_INDEX_URL`, its older name)
//!   is the default index before every file's; `UV_INDEX` and `UV_EXTRA_INDEX_URL` add
//!   indexes searched before the files' own; `UV_INSECURE_HOST` adds hosts;
//! - `UV_CONFIG_FILE` names the one file read instead of all below; `UV_NO_CONFIG` reads none;
//! - the project's: the first folder from the working folder up with a `uv.toml`, or a
//!   `pyproject.toml` with `[tool.uv]`;
//! - the user's: `$XDG_CONFIG_HOME/uv/uv.toml` (when set and absolute), else
//!   `~/.config/uv/uv.toml`; on Windows `%APPDATA%\uv\uv.toml`;
//! - the machine's: the first `uv/uv.toml` under `$XDG_CONFIG_DIRS` (`/etc/xdg`), else
//!   `/etc/uv/uv.toml` (`UV_NO_SYSTEM_CONFIG` skips it); on Windows
//!   `%SYSTEMDRIVE%\ProgramData\uv\uv.toml`.
//!
//! The files are merged: lists (`index`, `allow-insecure-host`) joined in that order, a
//! single value taken from the first that sets it. Of the `[[index]]` tables, a name taken
//! by an earlier one drops a later one, and the first with `default = true` is the default
//! index (a top-level `index-url` is only a default where no table is). uv searches the other
//! indexes in order and the default last, stopping at the first that has the package.
//!
//! The agent writes a table named `switchyard` with `default = true` for `index-url`, one
//! named `switchyard-extra-N` for each `extra-index-url`, all before the user's own tables,
//! and each trusted host into `allow-insecure-host`. A file uv cannot parse stops nearly every
//! uv command, so one that is not TOML is never written.
//!
//! Asked with `uv pip compile --show-settings -`: the merged settings, offline, printed
//! before uv reads anything else (a debugging aid without a stable format: what cannot be
//! found in it is a failure to ask, never a difference).

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_proto::profile::{normalize, PypiClient};
use switchyard_proto::Profile;

use super::run::Ran;
use super::{set_before, variable, Asking, Check, Client, Surroundings};
use crate::formats::toml::{Toml, TomlSyntax};
use crate::formats::Editor;
use crate::plan::{Setting, Target};
use crate::platform::{Dirs, Os};

/// The name of the agent's default index table.
const DEFAULT_INDEX: &str = "switchyard";

/// uv's `uv.toml`.
#[derive(Debug)]
pub struct UvToml;

impl TomlSyntax for UvToml {
    fn client(&self) -> &'static str {
        "uv"
    }

    /// An index's `default` and `explicit` are booleans (what the agent restores of a
    /// user's own table named as the agent's is written back as it was read).
    fn value(&self, leaf: &str, text: &str) -> toml_edit::Value {
        match (leaf, text) {
            ("default" | "explicit", "true") => toml_edit::Value::from(true),
            ("default" | "explicit", "false") => toml_edit::Value::from(false),
            _ => toml_edit::Value::from(text),
        }
    }

    /// uv's default index is the first table with `default = true`, and it searches the
    /// others in order.
    fn agent_first(&self, array: &str) -> Option<&'static str> {
        (array == "index").then_some(DEFAULT_INDEX)
    }
}

fn index_setting(name: &str, field: &str, value: &str) -> Setting {
    let key = format!("index[name={name}].{field}");
    Setting {
        id: key.clone(),
        section: None,
        name: key.clone(),
        key,
        values: vec![value.to_owned()],
        secret: false,
        expand: false,
        multi: false,
    }
}

/// uv's settings for `profile` (normalized): the package index's, with uv's own values laid
/// over them.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let Some(pypi) = profile.pypi_for(PypiClient::Uv) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some(url) = &pypi.index_url {
        found.push(index_setting(DEFAULT_INDEX, "url", url));
        found.push(index_setting(DEFAULT_INDEX, "default", "true"));
    }
    for (i, url) in pypi.extra_index_url.iter().flatten().enumerate() {
        found.push(index_setting(
            &format!("{DEFAULT_INDEX}-extra-{}", i + 1),
            "url",
            url,
        ));
    }
    for host in pypi.trusted_host.iter().flatten() {
        found.push(Setting {
            id: format!("allow-insecure-host/{host}"),
            section: None,
            key: "allow-insecure-host".into(),
            name: "allow-insecure-host".into(),
            values: vec![host.clone()],
            secret: false,
            expand: false,
            multi: true,
        });
    }
    found
}

/// The setting of the default index's URL, if `settings` has one.
fn default_index(settings: &[Setting]) -> Option<&Setting> {
    let key = format!("index[name={DEFAULT_INDEX}].url");
    settings.iter().find(|setting| setting.key == key)
}

/// The variables of `env` uv reads before its files for `settings`: those that name the
/// default index.
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    let Some(setting) = default_index(settings) else {
        return Vec::new();
    };
    ["UV_DEFAULT_INDEX", "UV_INDEX_URL"]
        .into_iter()
        .filter_map(|name| env.get_key_value(name))
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.as_str(), value.as_str(), setting))
        .collect()
}

/// Whether a variable uv reads as a flag is on: uv takes `1`, `true`, `yes`, `on` (in any
/// case) as on and `0`, `false`, `no`, `off` as off (clap's `BoolishValueParser`).
fn flag(env: &BTreeMap<String, String>, name: &str) -> bool {
    env.get(name).is_some_and(|value| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "y" | "on"
        )
    })
}

/// The machine's file uv reads on Unix: the first `uv/uv.toml` under `XDG_CONFIG_DIRS`
/// (`/etc/xdg` when unset or empty) that exists, else `/etc/uv/uv.toml`.
fn machine_file(env: &BTreeMap<String, String>) -> PathBuf {
    let dirs = env
        .get("XDG_CONFIG_DIRS")
        .filter(|dirs| !dirs.is_empty())
        .map_or("/etc/xdg", String::as_str);
    std::env::split_paths(dirs)
        .map(|dir| dir.join("uv").join("uv.toml"))
        .find(|file| file.is_file())
        .unwrap_or_else(|| PathBuf::from("/etc/uv/uv.toml"))
}

/// What uv reads before the agent's file, or instead of it, by the order above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((name, value)) = variable(around.env, "UV_CONFIG_FILE") {
        found.push(format!(
            "{name}={value}: uv reads that file instead of its own"
        ));
    } else if flag(around.env, "UV_NO_CONFIG") {
        found.push("UV_NO_CONFIG is set: uv reads no configuration file".into());
    }
    let ours = around.paths.files.get(&Target::Uv);
    if let Some(ours) = ours.filter(|file| file.starts_with("/etc/uv")) {
        if flag(around.env, "UV_NO_SYSTEM_CONFIG") {
            found.push("UV_NO_SYSTEM_CONFIG is set: uv reads no machine-wide file".into());
        }
        let read = machine_file(around.env);
        if &read != ours {
            found.push(format!(
                "uv reads {} as the machine's file, not {}",
                read.display(),
                ours.display()
            ));
        }
    }
    for (name, value, setting) in variables(settings, around.env) {
        found.push(set_before(name, value, setting, "uv"));
    }
    found
}

/// One `[[index]]` as uv lists it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Index {
    name: Option<String>,
    url: String,
    default: bool,
    explicit: bool,
    origin: String,
}

/// What `--show-settings` says of the indexes and insecure hosts.
#[derive(Debug, Default, PartialEq, Eq)]
struct Listing {
    indexes: Vec<Index>,
    /// `no-index`: uv uses no index at all.
    no_index: bool,
    /// (host, port), or ("*", None) for every host.
    insecure: Vec<(String, Option<u16>)>,
}

/// The quoted text of a line such as `"https://x/",`.
fn quoted(line: &str) -> Option<String> {
    let inner = line.trim().trim_end_matches(',');
    let inner = inner.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// Reads uv's `--show-settings` (Rust's pretty debug format): the `index_locations` and
/// `allow_insecure_host` blocks. `None` when either is missing.
fn read(said: &str) -> Option<Listing> {
    let lines: Vec<&str> = said.lines().map(str::trim).collect();
    let mut listing = Listing::default();
    let start = lines
        .iter()
        .position(|line| *line == "index_locations: IndexLocations {")?;
    let mut current: Option<Index> = None;
    listing.no_index = lines[start..].contains(&"no_index: true,");
    let mut i = start + 1;
    while i < lines.len() && !lines[i].starts_with("flat_index:") {
        let next = lines.get(i + 1).copied().unwrap_or_default();
        match lines[i] {
            "Index {" => {
                listing.indexes.extend(current.take());
                current = Some(Index::default());
            }
            "IndexName(" => {
                if let Some(index) = &mut current {
                    index.name = quoted(next);
                }
            }
            "given: Some(" => {
                if let (Some(index), Some(url)) = (&mut current, quoted(next)) {
                    index.url = url;
                }
            }
            "origin: Some(" => {
                if let Some(index) = &mut current {
                    index.origin = next.trim_end_matches(',').to_owned();
                }
            }
            "default: true," => current.iter_mut().for_each(|index| index.default = true),
            "explicit: true," => current.iter_mut().for_each(|index| index.explicit = true),
            _ => {}
        }
        i += 1;
    }
    listing.indexes.extend(current);
    if lines.contains(&"allow_insecure_host: [],") {
        return Some(listing);
    }
    let start = lines
        .iter()
        .position(|line| *line == "allow_insecure_host: [")?;
    let (mut host, mut port) = (None, None);
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let next = lines.get(i + 1).copied().unwrap_or_default();
        match *line {
            "]," | "]" => break,
            "Wildcard," => listing.insecure.push(("*".into(), None)),
            "port: Some(" => port = next.trim_end_matches(',').parse().ok(),
            text if text.starts_with("host: ") => host = Some(text),
            "}," => {
                if let Some(name) = host.and_then(|text| quoted(text.trim_start_matches("host: ")))
                {
                    listing.insecure.push((name, port));
                }
                (host, port) = (None, None);
            }
            _ => {}
        }
    }
    Some(listing)
}

impl Listing {
    /// The default index uv uses: the first with `default`, among those whose name no
    /// earlier one took.
    fn default_index(&self) -> Option<&Index> {
        let mut names = Vec::new();
        self.indexes.iter().find(|index| {
            if let Some(name) = &index.name {
                if names.contains(&name) {
                    return false;
                }
                names.push(name);
            }
            index.default
        })
    }
}

/// Where uv took an index from, for people.
fn origin(index: &Index) -> &'static str {
    match index.origin.as_str() {
        "User" => "the user's uv.toml",
        "System" => "the machine's uv.toml",
        "Project" => "a project's uv.toml",
        "Cli" => "the environment (UV_DEFAULT_INDEX, UV_INDEX ...)",
        _ => "UV_CONFIG_FILE or a project's pyproject.toml",
    }
}

/// Two index URLs as uv compares them: as the package clients write them, without a
/// trailing `/`.
fn same_url(a: &str, b: &str) -> bool {
    normalize::url(a).trim_end_matches('/') == normalize::url(b).trim_end_matches('/')
}

/// The differences between what uv lists and `settings`.
fn differences(listing: &Listing, settings: &[Setting]) -> Vec<String> {
    let mut found = Vec::new();
    if listing.no_index {
        found.push("uv uses no index at all (no-index = true)".into());
    }
    if let Some(setting) = default_index(settings) {
        let published = &setting.values[0];
        match listing.default_index() {
            Some(index) if same_url(&index.url, published) => {}
            Some(index) => found.push(format!(
                "uv uses the default index {} from {}",
                index.url,
                origin(index)
            )),
            None => found.push("uv uses no default index of a file (so pypi.org)".into()),
        }
    }
    let mut extras_at: Vec<usize> = Vec::new();
    for setting in settings {
        let value = &setting.values[0];
        if setting.multi {
            let (host, port) = match value.rsplit_once(':') {
                Some((host, port)) => (host, port.parse::<u16>().ok()),
                None => (value.as_str(), None),
            };
            let allowed = listing
                .insecure
                .iter()
                .any(|(name, p)| name == "*" || (name == host && *p == port));
            if !allowed {
                found.push(format!("uv does not allow {value} without valid HTTPS"));
            }
        } else if setting.key.ends_with(".url") && Some(setting) != default_index(settings) {
            let searched = |index: &Index| !index.default && !index.explicit;
            let at = listing
                .indexes
                .iter()
                .position(|index| searched(index) && same_url(&index.url, value));
            match at {
                None => found.push(format!("uv does not search the extra index {value}")),
                // uv takes a package from the first index that has it: the published order
                // is what keeps a private name from being taken from a public index.
                Some(at) if extras_at.last().is_some_and(|last| *last > at) => found.push(format!(
                    "uv searches the extra index {value} before one published ahead of it"
                )),
                Some(at) => extras_at.push(at),
            }
        }
    }
    found
}

/// What uv reads for `settings`.
pub fn check(asking: &Asking) -> Check {
    let args = ["pip", "compile", "--show-settings", "-"];
    let said = match asking.runner.run("uv", &args) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    match read(&said) {
        Some(listing) => Check::Read(differences(&listing, asking.settings)),
        None => Check::Failed(
            "uv --show-settings did not list index_locations and allow_insecure_host".into(),
        ),
    }
}

/// uv as a [`Client`].
#[derive(Debug)]
pub struct Uv;

impl Client for Uv {
    fn target(&self) -> Target {
        Target::Uv
    }

    fn name(&self) -> &'static str {
        "uv"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Toml<UvToml> = Toml(UvToml);
        &EDITOR
    }

    /// The user's `uv/uv.toml` under the config folder; the machine's `/etc/uv/uv.toml` or
    /// `%ProgramData%\uv\uv.toml`.
    fn file(&self, _os: Os, dirs: &Dirs, _env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let folder = match dirs {
            Dirs::User { config, .. } => config,
            Dirs::Machine { system, .. } => system,
        };
        Some(folder.join("uv").join("uv.toml"))
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
        check(asking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAID: &str = r#"PipCompileSettings {
    settings: PipSettings {
        index_locations: IndexLocations {
            indexes: [
                Index {
                    name: Some(
                        IndexName(
                            "mine",
                        ),
                    ),
                    url: Url(
                        VerbatimUrl {
                            given: Some(
                                "https://mine.example/simple",
                            ),
                        },
                    ),
                    explicit: false,
                    default: true,
                    origin: Some(
                        Project,
                    ),
                },
                Index {
                    name: Some(
                        IndexName(
                            "switchyard",
                        ),
                    ),
                    url: Url(
                        VerbatimUrl {
                            given: Some(
                                "https://pypi.corp.example/simple/",
                            ),
                        },
                    ),
                    explicit: false,
                    default: true,
                    origin: Some(
                        User,
                    ),
                },
                Index {
                    name: None,
                    url: Url(
                        VerbatimUrl {
                            given: Some(
                                "https://extra.corp.example/simple/",
                            ),
                        },
                    ),
                    explicit: false,
                    default: false,
                    origin: Some(
                        User,
                    ),
                },
            ],
            flat_index: [],
            no_index: false,
        },
    },
}
GlobalSettings {
    network_settings: NetworkSettings {
        allow_insecure_host: [
            Host {
                scheme: None,
                host: "pypi.corp.example",
                port: Some(
                    8443,
                ),
            },
            Host {
                scheme: Some(
                    "https",
                ),
                host: "other.example",
                port: None,
            },
        ],
    },
}
"#;

    #[test]
    fn show_settings_gives_the_indexes_in_order_and_the_insecure_hosts() {
        let listing = read(SAID).unwrap();
        assert_eq!(listing.indexes.len(), 3);
        assert_eq!(listing.indexes[0].name.as_deref(), Some("mine"));
        assert_eq!(listing.indexes[0].origin, "Project");
        assert_eq!(listing.indexes[2].url, "https://extra.corp.example/simple/");
        assert_eq!(
            listing.insecure,
            [
                ("pypi.corp.example".to_owned(), Some(8443)),
                ("other.example".to_owned(), None)
            ]
        );
        assert_eq!(
            listing.default_index().unwrap().url,
            "https://mine.example/simple"
        );
        assert!(read("nothing of the sort").is_none());
        let none = SAID.replace("allow_insecure_host: [", "allow_insecure_host: [],\nx: [");
        assert_eq!(read(&none).unwrap().insecure, []);
    }

    #[test]
    fn a_projects_default_index_shadows_the_users_and_is_said_with_its_place() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "pypi": {"index-url": "https://pypi.corp.example/simple/",
                     "extra-index-url": ["https://extra.corp.example/simple"],
                     "trusted-host": ["pypi.corp.example:8443", "gone.example"]}
        }))
        .unwrap();
        let settings = settings(&profile.normalized());
        let found = differences(&read(SAID).unwrap(), &settings);
        assert_eq!(
            found,
            [
                "uv uses the default index https://mine.example/simple from a project's uv.toml",
                "uv does not allow gone.example without valid HTTPS",
            ]
        );
    }

    #[test]
    fn no_index_and_extras_out_of_the_published_order_are_said() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "pypi": {"extra-index-url": ["https://private.example/simple/",
                                        "https://public.example/simple/"]}
        }))
        .unwrap();
        let settings = settings(&profile.normalized());
        let index = |url: &str| Index {
            url: url.into(),
            ..Index::default()
        };
        let listing = Listing {
            indexes: vec![
                index("https://public.example/simple/"),
                index("https://private.example/simple"),
            ],
            insecure: vec![],
            no_index: true,
        };
        assert_eq!(
            differences(&listing, &settings),
            [
                "uv uses no index at all (no-index = true)",
                "uv searches the extra index https://public.example/simple/ before one published ahead of it",
            ]
        );
        let flags = BTreeMap::from([
            ("A".to_owned(), "0".to_owned()),
            ("B".to_owned(), "Yes".to_owned()),
        ]);
        assert!(!flag(&flags, "A") && flag(&flags, "B") && !flag(&flags, "C"));
    }

    #[test]
    fn a_name_taken_earlier_drops_a_later_default() {
        let index = |name: &str, default: bool| Index {
            name: Some(name.into()),
            url: format!("https://{name}.example/"),
            default,
            ..Index::default()
        };
        let listing = Listing {
            indexes: vec![
                index("corp", false),
                index("corp", true),
                index("other", true),
            ],
            insecure: vec![],
            no_index: false,
        };
        assert_eq!(
            listing.default_index().unwrap().url,
            "https://other.example/"
        );
    }
}
