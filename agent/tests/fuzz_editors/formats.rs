//! For each client's file, what an edit may change: how to find the user's keys in it (each
//! must read as before), and where bytes may differ from the file's own.

use switchyard_agent::clients::bundler::BundleConfig;
use switchyard_agent::formats::envfile::{EnvironmentD, ShellExports};
use switchyard_agent::formats::flat::FlatSyntax;
use switchyard_agent::formats::gitconfig::GitConfig;
use switchyard_agent::formats::goenv::GoEnv;
use switchyard_agent::formats::lines::Lines;
use switchyard_agent::formats::npmrc::Npmrc;
use switchyard_agent::formats::pip::PipIni;
use switchyard_agent::formats::sectioned::{self, SectionSyntax};
use switchyard_agent::plan::{SectionRef, Setting, Target};

use super::files::JAVA_KEYS;
use super::{fixed, multi, plain};

/// One client's file: how to find the user's keys in it, and what of it an edit may change.
pub(crate) struct Format {
    pub(crate) target: Target,
    /// The user's keys in a file, as settings to read: each must read the same after an edit
    /// of the agent's settings, and after they are taken back.
    pub(crate) keys_in: fn(&str) -> Vec<Setting>,
    /// Whether every line of the user's (one that sets none of the settings) is still in
    /// the file after the edit, in order. Where a key's value spans lines, the keys the
    /// file holds are compared instead, through `keys_in`.
    pub(crate) kept: fn(&str, &str, &[Setting]) -> bool,
    /// Whether an empty edit must give back the file byte for byte, when its client can
    /// read it.
    pub(crate) identity: fn(&str) -> bool,
    /// Whether taking back settings the file held none of must give back its every byte.
    pub(crate) undo_exact: fn(&str) -> bool,
}

/// The keys `syntax` reads in `content`, as settings to read.
fn flat_keys<S: FlatSyntax>(syntax: &S, content: &str) -> Vec<Setting> {
    Lines::parse_with(content, syntax.breaks())
        .0
        .iter()
        .filter_map(|line| syntax.key_of(&line.text))
        .map(|key| plain(&key))
        .collect()
}

/// Every key `syntax` reads in `content`, as settings to read: the key (its last occurrence)
/// and each of its values (a multi-valued key's other values are the user's).
fn sectioned_keys<S: SectionSyntax>(syntax: &S, content: &str) -> Vec<Setting> {
    let mut found = Vec::new();
    for ((section, key), occurrences) in sectioned::entries(syntax, content) {
        let place = Some(SectionRef {
            id: section,
            header: String::new(),
        });
        found.push(Setting {
            section: place.clone(),
            ..plain(&key)
        });
        for value in occurrences.into_iter().flatten() {
            found.push(Setting {
                section: place.clone(),
                ..multi(&key, &value)
            });
        }
    }
    found
}

/// Whether every line of `before` that sets none of `settings` (as `syntax` reads keys) is in
/// `after`, in order.
fn kept_lines<S: FlatSyntax>(syntax: &S, before: &str, after: &str, settings: &[Setting]) -> bool {
    let ours = |text: &str| {
        syntax
            .key_of(text)
            .is_some_and(|key| settings.iter().any(|setting| setting.key == key))
    };
    let after = Lines::parse_with(after, syntax.breaks());
    let mut rest = after.0.iter();
    Lines::parse_with(before, syntax.breaks())
        .0
        .iter()
        .filter(|line| !ours(&line.text))
        .all(|line| rest.any(|kept| kept.text == line.text))
}

fn all_kept(_: &str, _: &str, _: &[Setting]) -> bool {
    true
}

fn always(_: &str) -> bool {
    true
}

fn never(_: &str) -> bool {
    false
}

/// Whether a line-based file ends in a line break (or is empty): a new last line then gives
/// no line before it an ending it did not have.
fn ends_in_break(content: &str) -> bool {
    content.is_empty() || content.ends_with('\n')
}

/// As [`ends_in_break`], and its last line does not go on (an odd number of `\` at its end):
/// the editor puts a blank line after one, so that a new key is not taken into its value.
fn java_undo_exact(content: &str) -> bool {
    let Some(body) = content.strip_suffix('\n') else {
        return content.is_empty();
    };
    let body = body.strip_suffix('\r').unwrap_or(body);
    let last = body.rsplit(['\n', '\r']).next().unwrap_or_default();
    last.chars().rev().take_while(|&c| c == '\\').count() % 2 == 0
}

/// Whether an empty edit must give back a YAML file: unless it holds no key at all beyond an
/// empty mapping (`{}`), which the editor writes back as nothing, as it writes a file whose
/// every key it took out.
fn yaml_identity(content: &str) -> bool {
    let comments_only = content.trim_start_matches('\u{feff}').lines().all(|line| {
        let line = line.trim_start();
        line.is_empty() || line.starts_with('#')
    });
    comments_only
        || content.lines().any(|line| {
            let code = line.split(" #").next().unwrap_or_default().trim();
            !code.starts_with('#') && (code.contains(": ") || code.ends_with(':'))
        })
}

/// Whether an empty edit must give back a `settings.xml`: not one of white space alone, nor
/// the empty document the editor makes for its settings (it writes either back as nothing,
/// as it does a file left with nothing of the agent's).
fn xml_identity(content: &str) -> bool {
    let body = content.strip_prefix('\u{feff}').unwrap_or(content);
    let empty = |nl: &str| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{nl}<settings>{nl}</settings>{nl}")
    };
    !body.trim().is_empty() && body != empty("\n") && body != empty("\r\n")
}

fn yaml_probes() -> Vec<Setting> {
    let mut probes = fixed(&[
        "npmRegistryServer",
        "npmScopes[\"corp\"].npmRegistryServer",
        "npmScopes[\"mine\"].npmRegistryServer",
        "npmRegistries[\"https://npm.corp.example\"].npmAuthToken",
        "npmRegistries[\"https://r.example\"].npmAuthToken",
        "enableStrictSsl",
        "enableTelemetry",
        "httpProxy",
        "httpsProxy",
        ":backtrace",
        "gem",
        "yarnPath",
    ]);
    probes.extend([
        multi("unsafeHttpWhitelist", "mine.example"),
        multi(":sources", "https://rubygems.org/"),
    ]);
    probes
}

fn toml_probes() -> Vec<Setting> {
    let mut probes = fixed(&[
        "index-url",
        "native-tls",
        "offline",
        "http.proxy",
        "http.timeout",
        "net.offline",
        "source.crates-io.replace-with",
        "source.mine.registry",
        "registries.corp.index",
        "registries.corp.token",
        "registries.mine.index",
        "registries.switchyard.index",
        "registry.index",
        "index[name=mine].url",
        "index[name=other].url",
        "index[name=switchyard].url",
        "index[name=switchyard].default",
    ]);
    probes.push(multi("allow-insecure-host", "mine.example"));
    probes
}

const XML_PROBES: &[&str] = &[
    "localRepository",
    "offline",
    "mirrors.mirror[theirs].url",
    "mirrors.mirror[theirs].mirrorOf",
    "mirrors.mirror[central].url",
    "servers.server[theirs].username",
    "servers.server[theirs].password",
    "proxies.proxy[theirs].host",
    "proxies.proxy[theirs].port",
    "proxies.proxy[switchyard-https].nonProxyHosts",
];

pub(crate) const NPM: Format = Format {
    target: Target::Npmrc,
    keys_in: |content| flat_keys(&Npmrc, content),
    kept: |before, after, settings| kept_lines(&Npmrc, before, after, settings),
    identity: always,
    undo_exact: ends_in_break,
};
pub(crate) const PNPM: Format = Format {
    target: Target::Pnpm,
    ..NPM
};
pub(crate) const YARN: Format = Format {
    target: Target::Yarn,
    keys_in: |_| yaml_probes(),
    kept: all_kept,
    identity: yaml_identity,
    undo_exact: str::is_empty,
};
pub(crate) const PIP: Format = Format {
    target: Target::Pip,
    keys_in: |content| sectioned_keys(&PipIni, content),
    kept: all_kept,
    identity: always,
    undo_exact: never,
};
pub(crate) const UV: Format = Format {
    target: Target::Uv,
    keys_in: |_| toml_probes(),
    kept: all_kept,
    identity: always,
    undo_exact: str::is_empty,
};
pub(crate) const CARGO: Format = Format {
    target: Target::Cargo,
    ..UV
};
pub(crate) const CARGO_CREDENTIALS: Format = Format {
    target: Target::CargoCredentials,
    ..UV
};
pub(crate) const MAVEN: Format = Format {
    target: Target::Maven,
    keys_in: |_| fixed(XML_PROBES),
    kept: all_kept,
    identity: xml_identity,
    undo_exact: str::is_empty,
};
/// The init script is the agent's own, rewritten whole: an empty edit gives back a file the
/// editor wrote (checked on its output), not one of the user's.
pub(crate) const GRADLE_INIT: Format = Format {
    target: Target::Gradle,
    keys_in: |_| fixed(&["url", "mirrorOf", "extra"]),
    kept: all_kept,
    identity: str::is_empty,
    undo_exact: str::is_empty,
};
pub(crate) const GRADLE_PROPERTIES: Format = Format {
    target: Target::GradleProperties,
    keys_in: |_| fixed(JAVA_KEYS),
    kept: all_kept,
    identity: always,
    undo_exact: java_undo_exact,
};
pub(crate) const GEMRC: Format = Format {
    target: Target::Gemrc,
    ..YARN
};
pub(crate) const BUNDLER: Format = Format {
    target: Target::Bundler,
    keys_in: |content| flat_keys(&BundleConfig, content),
    kept: |before, after, settings| kept_lines(&BundleConfig, before, after, settings),
    identity: always,
    undo_exact: ends_in_break,
};
pub(crate) const GO: Format = Format {
    target: Target::Go,
    keys_in: |content| flat_keys(&GoEnv, content),
    kept: |before, after, settings| kept_lines(&GoEnv, before, after, settings),
    identity: always,
    undo_exact: ends_in_break,
};
pub(crate) const GIT: Format = Format {
    target: Target::Git,
    keys_in: |content| sectioned_keys(&GitConfig, content),
    kept: all_kept,
    identity: always,
    undo_exact: never,
};
pub(crate) const ENVIRONMENT_D: Format = Format {
    target: Target::EnvironmentD,
    keys_in: |content| flat_keys(&EnvironmentD, content),
    kept: |before, after, settings| kept_lines(&EnvironmentD, before, after, settings),
    identity: always,
    undo_exact: ends_in_break,
};
pub(crate) const SHELL: Format = Format {
    target: Target::Shell,
    keys_in: |content| flat_keys(&ShellExports, content),
    kept: |before, after, settings| kept_lines(&ShellExports, before, after, settings),
    identity: always,
    undo_exact: ends_in_break,
};

/// Every client's file, in the order the agent applies them.
pub(crate) const FORMATS: [&Format; 16] = [
    &NPM,
    &PNPM,
    &YARN,
    &PIP,
    &UV,
    &CARGO,
    &CARGO_CREDENTIALS,
    &MAVEN,
    &GRADLE_INIT,
    &GRADLE_PROPERTIES,
    &GEMRC,
    &BUNDLER,
    &GO,
    &GIT,
    &ENVIRONMENT_D,
    &SHELL,
];
