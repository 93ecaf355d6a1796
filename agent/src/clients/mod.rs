//! Where each client reads its settings, and in what order, and how to ask the client itself
//! what it read: one module per client, each rule with the client's own documentation or
//! source named beside it.
//!
//! `ok` means the client reads the published value. After applying, the agent asks each
//! client that is installed ([`check`]); a difference makes the target `shadowed`, with what
//! the client reads instead and from where. Where a client cannot be asked, what its documented
//! order says it reads before the agent's file is worked out from the files and variables
//! themselves ([`modelled`]).

pub mod bundler;
pub mod cargo;
pub mod environment_d;
pub mod git;
pub mod go;
pub mod gradle;
pub mod maven;
pub mod npm;
pub mod pip;
pub mod pnpm;
pub mod rubygems;
pub mod run;
pub mod shell;
pub mod uv;
pub mod yarn;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::Paths;
use switchyard_proto::Profile;

use crate::formats::{envfile, Editor};
use crate::plan::{Setting, Target};
use crate::platform::{Dirs, Os};

/// One client the agent writes for: everything the agent knows of how it reads its settings,
/// in its own module. [`of`] finds a target's.
pub trait Client: Sync {
    /// The target the agent writes for it.
    fn target(&self) -> Target;
    /// Its name in messages ("npm", "Go").
    fn name(&self) -> &'static str;
    /// The editor of the file format the agent writes for it.
    fn editor(&self) -> &'static dyn Editor;
    /// The file the agent writes for it in `dirs` (a user's or the machine's), laid out as
    /// `os` lays it out and found as the client finds it through `env`; `None` where the agent
    /// writes nothing for it there.
    fn file(&self, os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf>;
    /// For a client that reads variables before its file (npm, pip, Go): those of `env` it
    /// would take for `settings`, each as (name as set, value, setting). `None` for one that
    /// reads none: the user's sessions are then not looked at.
    fn variables<'a>(
        &self,
        _settings: &'a [Setting],
        _env: &'a BTreeMap<String, String>,
    ) -> Option<Vec<(&'a str, &'a str, &'a Setting)>> {
        None
    }
    /// Why, by its documented order of reading, it would not read `settings` as the agent
    /// wrote them; empty when it would. For where it cannot be asked.
    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String>;
    /// The settings the agent writes for it from `profile` (normalized), on a machine of
    /// `os`.
    fn settings(&self, profile: &Profile, os: Os) -> Vec<Setting>;
    /// Asks it what it reads.
    fn check(&self, asking: &Asking) -> Check;
}

/// What a client is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    /// How it is run.
    pub runner: &'a run::Runner,
    /// The settings the agent wrote for it (never empty).
    pub settings: &'a [Setting],
    /// The file they are in.
    pub file: &'a Path,
    /// The login files that source the shell snippet.
    pub hooked: &'a [std::path::PathBuf],
}

/// Every client, in the order the agent applies their targets ([`Target::ALL`]).
pub const ALL: [&dyn Client; 16] = [
    &npm::Npm,
    &pnpm::Pnpm,
    &yarn::Yarn,
    &pip::Pip,
    &uv::Uv,
    &cargo::CONFIG,
    &cargo::CREDENTIALS,
    &maven::Maven,
    &gradle::INIT,
    &gradle::PROPERTIES,
    &rubygems::Rubygems,
    &bundler::Bundler,
    &go::Go,
    &git::Git,
    &environment_d::SystemdSessions,
    &shell::LoginShells,
];

/// `target`'s client.
pub fn of(target: Target) -> &'static dyn Client {
    match target {
        Target::Npmrc => &npm::Npm,
        Target::Pnpm => &pnpm::Pnpm,
        Target::Yarn => &yarn::Yarn,
        Target::Pip => &pip::Pip,
        Target::Uv => &uv::Uv,
        Target::Cargo => &cargo::CONFIG,
        Target::CargoCredentials => &cargo::CREDENTIALS,
        Target::Maven => &maven::Maven,
        Target::Gradle => &gradle::INIT,
        Target::GradleProperties => &gradle::PROPERTIES,
        Target::Gemrc => &rubygems::Rubygems,
        Target::Bundler => &bundler::Bundler,
        Target::Go => &go::Go,
        Target::Git => &git::Git,
        Target::EnvironmentD => &environment_d::SystemdSessions,
        Target::Shell => &shell::LoginShells,
    }
}

/// What asking a client gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The client is not installed here: nothing to ask.
    NotInstalled,
    /// It could not be asked (it failed, or took too long).
    Failed(String),
    /// What it reads that differs from the published settings, for people; empty when it
    /// reads every one of them.
    Read(Vec<String>),
}

/// Asks `target`'s client what it reads for `settings`, written to `file` (and, for the
/// shells, sourced from the login files `hooked`). What it says goes into reports: passwords
/// in URLs are masked ([`redact`]).
pub fn check(
    target: Target,
    runner: &run::Runner,
    settings: &[Setting],
    file: &Path,
    hooked: &[std::path::PathBuf],
) -> Check {
    let shown = |text: &str| hide_secrets(&redact(text), settings, target);
    match ask(target, runner, settings, file, hooked) {
        Check::Read(differences) => Check::Read(differences.iter().map(|d| shown(d)).collect()),
        Check::Failed(problem) => Check::Failed(shown(&problem)),
        Check::NotInstalled => Check::NotInstalled,
    }
}

/// `text` with every secret value of `settings` (a token, a secret variable, a login in a
/// proxy URL, as published, as `target`'s file escapes it, or decoded) shown as `(secret)`: a
/// client's own messages may repeat what it read, or quote its file.
fn hide_secrets(text: &str, settings: &[Setting], target: Target) -> String {
    let editor = of(target).editor();
    let mut shown = text.to_owned();
    for value in settings
        .iter()
        .filter(|setting| setting.secret)
        .flat_map(|setting| &setting.values)
    {
        let mut forms = vec![value.clone(), editor.written(value)];
        if let Ok(url) = url::Url::parse(value) {
            forms.extend(url.password().map(str::to_owned));
            forms.extend(
                url.password()
                    .and_then(|p| percent_encoding::percent_decode_str(p).decode_utf8().ok())
                    .map(|p| p.into_owned()),
            );
        }
        for form in forms.into_iter().filter(|form| form.len() >= 3) {
            shown = shown.replace(&form, "(secret)");
        }
    }
    shown
}

/// `text` with the password of every URL in it (`scheme://user:password@host`) shown as
/// `***`: what a client says of a user's proxy or index may carry one, and reports go to the
/// server.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority runs to the first `/`, white space or quote; a login ends at its
        // last `@`.
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@').and_then(|at| {
            let login = &authority[..at];
            login.find(':').map(|colon| (colon, at))
        }) {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn ask(
    target: Target,
    runner: &run::Runner,
    settings: &[Setting],
    file: &Path,
    hooked: &[std::path::PathBuf],
) -> Check {
    if settings.is_empty() {
        return Check::Read(Vec::new());
    }
    of(target).check(&Asking {
        runner,
        settings,
        file,
        hooked,
    })
}

/// A folder of its own to ask a client in, removed when dropped: a client that reads the
/// files of the folder it starts in as a project's (pnpm's `.npmrc`, Yarn's `.yarnrc.yml`)
/// would otherwise read a user's own files as a project's. It is made in the user's own
/// `.cache/switchyard` under `home`, never in the shared temporary folder, where anyone could
/// put a project file above it.
pub(crate) struct EmptyFolder(PathBuf);

impl EmptyFolder {
    /// A new empty folder under `home`, named for `client`.
    pub(crate) fn new(client: &str, home: &Path) -> std::io::Result<Self> {
        let unique = format!(
            "ask-{client}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let parent = home.join(".cache").join("switchyard");
        std::fs::create_dir_all(&parent)?;
        let path = parent.join(unique);
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for EmptyFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a level npm names (`user config (/home/ada/.npmrc)`) is `file`, through links.
fn same_file(file: &Path) -> impl Fn(&str) -> bool + '_ {
    move |level: &str| {
        let named = level
            .rsplit_once(" (")
            .and_then(|(_, place)| place.strip_suffix(')'))
            .map(Path::new);
        let canonical = |path: &Path| std::fs::canonicalize(path).ok();
        named.is_some_and(|named| named == file || canonical(named) == canonical(file))
    }
}

/// Where a user's programs start with variables the agent's own environment may lack: what
/// systemd gives user sessions (environment.d, for desktop programs and user services) and
/// what a login shell exports once the user's login files have run (for terminals). Each
/// place's variables by name.
pub fn sessions(runner: &run::Runner) -> Vec<(&'static str, BTreeMap<String, String>)> {
    let mut places = Vec::new();
    if let run::Ran::Said(said) = runner.run(environment_d::GENERATOR, &[]) {
        let variables = said
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), envfile::unquote_systemd(value)))
            .collect();
        places.push(("user sessions (environment.d)", variables));
    }
    const MARKER: &str = "\u{1e}switchyard-env\u{1e}";
    let script = format!("printf '{MARKER}'; env -0");
    if let run::Ran::Said(said) = runner.run("bash", &["-l", "-c", &script]) {
        if let Some((_, listed)) = said.split_once(MARKER) {
            let variables = listed
                .split('\0')
                .filter_map(|entry| entry.split_once('='))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            places.push(("login shells", variables));
        }
    }
    places
}

/// Whether `target`'s client reads variables before the agent's file (npm, pip, Go): only
/// for those are the user's sessions looked at.
pub fn reads_variables(target: Target) -> bool {
    of(target).variables(&[], &BTreeMap::new()).is_some()
}

/// What `target`'s client would read from the variables of `sessions` instead of the agent's
/// files, where the agent's own environment does not say the same: a `GOPROXY` exported by
/// `~/.profile`, an `NPM_CONFIG_REGISTRY` in an environment.d file.
pub fn set_in_sessions(
    target: Target,
    settings: &[Setting],
    own: &BTreeMap<String, String>,
    sessions: &[(&'static str, BTreeMap<String, String>)],
) -> Vec<String> {
    let mut found = Vec::new();
    for (place, env) in sessions {
        let client = of(target);
        let Some(set) = client.variables(settings, env) else {
            continue;
        };
        let client = client.name();
        for (name, value, setting) in set {
            // Said already of the agent's own environment, or the published value anyway.
            let published = setting.values.join(" ");
            if own.get(name).is_some_and(|mine| mine == value)
                || value.split_whitespace().eq(published.split_whitespace())
            {
                continue;
            }
            let shown = match setting.secret {
                true => String::new(),
                false => format!("={value}"),
            };
            found.push(hide_secrets(
                &redact(&format!(
                    "{place} get {name}{shown}, which {client} reads before its file"
                )),
                settings,
                target,
            ));
        }
    }
    found
}

/// What a client finds around the agent's file: where the agent writes, the user's
/// environment, the folder the agent runs in.
#[derive(Debug, Clone, Copy)]
pub struct Surroundings<'a> {
    /// Where the agent writes.
    pub paths: &'a Paths,
    /// The user's environment.
    pub env: &'a BTreeMap<String, String>,
    /// The folder the agent runs in (a project's own files there).
    pub cwd: Option<&'a Path>,
}

/// Why `target`'s client, by its documented order of reading, does not read `settings` as
/// the agent wrote them; empty when it does. For where the client cannot be asked.
pub fn modelled(target: Target, settings: &[Setting], around: &Surroundings) -> Vec<String> {
    of(target)
        .modelled(settings, around)
        .iter()
        .map(|text| hide_secrets(&redact(text), settings, target))
        .collect()
}

/// A variable's non-empty value, its name compared without regard to case (npm's and pip's
/// are read in any case; Windows names ignore it).
/// Returns the name as set and the value.
fn variable<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<(&'a str, &'a str)> {
    env.iter()
        .find(|(key, value)| key.eq_ignore_ascii_case(name) && !value.is_empty())
        .map(|(key, value)| (key.as_str(), value.as_str()))
}

/// Where a variable a client reads is set, for people: on Windows, for every user of the
/// machine (where the machine-scope agent puts npm's and Go's settings) or for this user.
fn where_set(name: &str) -> String {
    #[cfg(windows)]
    if let Some(place) = crate::platform::windows::variable_place(name) {
        return place.to_owned();
    }
    let _ = name;
    "in the environment".to_owned()
}

/// `variable` is set (to `value`, shown unless the setting is secret) where the client reads it
/// before its file.
fn set_before(name: &str, value: &str, setting: &Setting, client: &str) -> String {
    let shown = match setting.secret {
        true => String::new(),
        false => format!(" ({value})"),
    };
    format!(
        "{name} is set {}{shown}, which {client} reads before its file",
        where_set(name)
    )
}

/// A user's paths with `HOME` (and on Windows `USERPROFILE` and `APPDATA`) in `home`, and
/// the other variables of `env`.
#[cfg(test)]
pub(crate) fn user_paths(home: &Path, env: &BTreeMap<String, String>) -> Paths {
    let home = home.to_string_lossy().into_owned();
    Paths::user(|name| match name {
        "HOME" | "USERPROFILE" => Some(home.clone()),
        "APPDATA" => Some(format!("{home}/AppData/Roaming")),
        _ => env.get(name).cloned(),
    })
    .unwrap_or_else(|problem| panic!("{problem}"))
}

#[cfg(test)]
pub(crate) fn setting(key: &str, value: &str) -> Setting {
    Setting {
        id: key.into(),
        section: None,
        key: key.into(),
        name: key.into(),
        values: vec![value.into()],
        secret: false,
        expand: false,
        multi: false,
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_in_urls_never_reach_a_report() {
        assert_eq!(
            redact(
                "git uses http.https://*.example.proxy = http://bob:s3cr%40t@proxy:8080/ from x"
            ),
            "git uses http.https://*.example.proxy = http://bob:***@proxy:8080/ from x"
        );
        assert_eq!(
            redact("npm_config_proxy is set (http://u:p@ss:w@rd@p/) and https://plain.example/"),
            "npm_config_proxy is set (http://u:***@p/) and https://plain.example/"
        );
        assert_eq!(redact("no url here"), "no url here");
    }

    #[test]
    fn a_secret_is_hidden_as_its_file_escapes_it() {
        let mut password = super::setting("servers.server[switchyard].password", "s3cr&t<pw>");
        password.secret = true;
        let said = "[WARNING] <password>s3cr&amp;t&lt;pw&gt;</password> @ line 3";
        assert_eq!(
            super::hide_secrets(said, &[password], super::Target::Maven),
            "[WARNING] <password>(secret)</password> @ line 3"
        );
    }

    #[test]
    fn a_secret_a_client_repeats_is_hidden() {
        let mut token = super::setting("CARGO_TOKEN", "SEKRIT-cargo-123");
        token.secret = true;
        let mut proxy = super::setting("HTTPS_PROXY", "http://bob:p%40ss@proxy:3128/");
        proxy.secret = true;
        let said = "bash -l failed: SEKRIT-cargo-123 and p@ss and p%40ss";
        assert_eq!(
            super::hide_secrets(said, &[token, proxy], super::Target::Shell),
            "bash -l failed: (secret) and (secret) and (secret)"
        );
    }
}
