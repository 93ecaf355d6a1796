//! Cargo: where it reads its registries, and how the agent asks it.
//!
//! Order (Cargo book `config.md`, "Hierarchical structure" and "Environment variables";
//! Cargo `util/context/mod.rs`): `--config` on the command line; `CARGO_<KEY>` variables (the
//! dotted key upper-cased, `.` and `-` read as `_`: `CARGO_HTTP_PROXY`,
//! `CARGO_REGISTRIES_CORP_INDEX`); `.cargo/config.toml` in the working folder and each folder
//! above it; then `$CARGO_HOME/config.toml` (`CARGO_HOME` else `~/.cargo`, on Windows
//! `%USERPROFILE%\.cargo`). A file without the extension (`config`) is read instead of
//! `config.toml` beside it. Tokens are read from `$CARGO_HOME/credentials.toml` (or
//! `credentials`) after the variables (`CARGO_REGISTRIES_<NAME>_TOKEN`). Cargo has no
//! machine-wide file.
//!
//! The agent writes crates.io's replacement as a registry named `switchyard`
//! (`[source.crates-io] replace-with`, `[registries.switchyard] index`: a registry rather than a
//! `[source]`, so that it can carry a token, as `registry-authentication.md` asks), the
//! profile's registries, `credential-provider = "cargo:token"` for each registry with a token
//! (Cargo sends a token to a registry that requires one only through a provider named for it),
//! `[http] proxy`, and the tokens in `credentials.toml` (owner-only).
//!
//! Asked with `cargo -Z unstable-options config get --show-origin`, which prints every value
//! Cargo reads from its files with where it read it, and the `CARGO_*` variables it reads over
//! them, offline; tokens from `credentials.toml` are not listed (a variable over one is). It
//! is unstable (it runs on a stable Cargo with `RUSTC_BOOTSTRAP=1`), so output that cannot be
//! read is a failure to ask, never a difference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_proto::profile::Secret;
use switchyard_proto::Profile;

use super::run::Ran;
use super::{set_before, Asking, Check, Client, Surroundings};
use crate::formats::toml::{Toml, TomlSyntax};
use crate::formats::Editor;
use crate::plan::{logins, with_login, Decoded, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// The name of the registry that stands in for crates.io (refused as another's in profiles).
const MIRROR: &str = switchyard_proto::profile::CARGO_MIRROR_NAME;

/// Cargo's `config.toml` and `credentials.toml`.
#[derive(Debug)]
pub struct CargoToml;

impl TomlSyntax for CargoToml {
    fn client(&self) -> &'static str {
        "Cargo"
    }
}

fn setting(key: String, value: &str, secret: bool) -> Setting {
    Setting {
        id: key.clone(),
        section: None,
        name: key.clone(),
        key,
        values: vec![value.to_owned()],
        secret,
        expand: false,
        multi: false,
    }
}

/// What the agent writes in `config.toml` for `profile` (normalized).
pub fn config_settings(profile: &Profile) -> Vec<Setting> {
    let Some(cargo) = &profile.cargo else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some(index) = &cargo.registry {
        found.push(setting(
            "source.crates-io.replace-with".into(),
            MIRROR,
            false,
        ));
        found.push(setting(format!("registries.{MIRROR}.index"), index, false));
    }
    for (name, index) in cargo.registries.iter().flatten() {
        found.push(setting(format!("registries.{name}.index"), index, false));
    }
    // Cargo sends an authenticated registry a token only through a credential provider
    // named for it (`registry-authentication.md`): `cargo:token` reads `credentials.toml`.
    let with_tokens = cargo.registry_token.iter().map(|_| MIRROR).chain(
        cargo
            .tokens
            .iter()
            .flat_map(|tokens| tokens.keys().map(String::as_str)),
    );
    for name in with_tokens {
        found.push(setting(
            format!("registries.{name}.credential-provider"),
            "cargo:token",
            false,
        ));
    }
    if let Some(proxy) = &cargo.http_proxy {
        let proxy = with_login(proxy, logins(profile), Decoded::Once);
        let secret = crate::plan::is_secret_url(&proxy);
        found.push(setting("http.proxy".into(), &proxy, secret));
    }
    found
}

/// What the agent writes in `credentials.toml` for `profile` (normalized).
pub fn credentials_settings(profile: &Profile) -> Vec<Setting> {
    let Some(cargo) = &profile.cargo else {
        return Vec::new();
    };
    let mirror = cargo.registry_token.iter().map(|token| (MIRROR, token));
    let named = cargo
        .tokens
        .iter()
        .flatten()
        .map(|(name, token)| (name.as_str(), token));
    mirror
        .chain(named)
        .filter_map(|(name, token)| match token {
            Secret::Value(token) => Some(setting(format!("registries.{name}.token"), token, true)),
            Secret::Kept => None,
        })
        .collect()
}

/// The variable Cargo reads for the dotted `key` before its files.
pub fn variable_of(key: &str) -> String {
    format!(
        "CARGO_{}",
        key.replace(['.', '-'], "_").to_ascii_uppercase()
    )
}

/// The variables of `env` Cargo reads instead of its files for `settings`.
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    settings
        .iter()
        // Cargo takes no `[source]` table from variables (Cargo book, `config.md`).
        .filter(|setting| !setting.key.starts_with("source."))
        .filter_map(|setting| {
            let (name, value) = env.get_key_value(&variable_of(&setting.key))?;
            (!value.is_empty()).then_some((name.as_str(), value.as_str(), setting))
        })
        .collect()
}

/// What Cargo reads before the agent's files, by the order above: variables, and a project's
/// `.cargo/config.toml` in the folder it runs in or above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found: Vec<String> = variables(settings, around.env)
        .into_iter()
        .map(|(name, value, setting)| set_before(name, value, setting, "Cargo"))
        .collect();
    let projects = around.cwd.into_iter().flat_map(Path::ancestors);
    for folder in projects {
        for name in ["config.toml", "config"] {
            let file = folder.join(".cargo").join(name);
            let ours = around.paths.files.values().any(|path| *path == file);
            if !ours && file.is_file() {
                found.push(format!(
                    "Cargo reads {} before the user's own files",
                    file.display()
                ));
            }
        }
    }
    found
}

/// `CARGO_HOME`, else `.cargo` in the home folder.
fn cargo_home(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    platform::set(env, "CARGO_HOME").map_or_else(|| home.join(".cargo"), PathBuf::from)
}

/// `name.toml` in `folder`, or `name` where the file without the extension exists: Cargo
/// reads that one, even beside the other (`util/context/mod.rs`, `get_file_path`).
fn file_in(folder: &Path, name: &str) -> PathBuf {
    let bare = folder.join(name);
    match bare.is_file() {
        true => bare,
        false => folder.join(format!("{name}.toml")),
    }
}

/// What Cargo's `config get --show-origin` says: each dotted key's value and where it was
/// read, from its files; Cargo lists the variables that may change them after them, as
/// comments (`# CARGO_HTTP_PROXY='...'`), for they are read over the files. `None` when the
/// output is not that.
#[derive(Debug, Default)]
struct Listing {
    /// By dotted key: (value, where it was read).
    files: BTreeMap<String, (String, String)>,
    /// By name: the value.
    variables: BTreeMap<String, String>,
}

fn read(said: &str) -> Option<Listing> {
    let mut listing = Listing::default();
    // The listing is TOML (values, and where each was read as a comment after it; an array
    // spans lines, an origin after each item): its values are read as TOML, each key's origin
    // from its own line.
    let document = said.parse::<toml_edit::DocumentMut>().ok()?;
    let mut origins = BTreeMap::new();
    for line in said.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            if let Some((name, value)) = comment.split_once('=') {
                let value = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(value);
                if name.starts_with("CARGO_") {
                    listing.variables.insert(name.to_owned(), value.to_owned());
                }
            }
        } else if let Some((key, rest)) = line.split_once(" = ") {
            if let Some((_, origin)) = rest.rsplit_once(" # ") {
                origins.insert(key.to_owned(), origin.to_owned());
            }
        }
    }
    fn walk(
        prefix: &str,
        table: &dyn toml_edit::TableLike,
        origins: &BTreeMap<String, String>,
        out: &mut BTreeMap<String, (String, String)>,
    ) {
        for (key, item) in table.iter() {
            let path = match prefix {
                "" => key.to_owned(),
                _ => format!("{prefix}.{key}"),
            };
            match item.as_table_like() {
                Some(inner) => walk(&path, inner, origins, out),
                None => {
                    let value = match item.as_value() {
                        Some(toml_edit::Value::String(text)) => text.value().clone(),
                        Some(other) => other.clone().decorated("", "").to_string(),
                        None => continue,
                    };
                    let origin = origins.get(&path).cloned().unwrap_or_default();
                    out.insert(path, (value, origin));
                }
            }
        }
    }
    walk("", document.as_table(), &origins, &mut listing.files);
    Some(listing)
}

/// What Cargo reads for `settings` (written to `file`).
pub fn check(asking: &Asking) -> Check {
    let mut runner = asking.runner.clone();
    runner
        .env
        .insert("RUSTC_BOOTSTRAP".to_owned(), "1".to_owned());
    let args = ["-Z", "unstable-options", "config", "get", "--show-origin"];
    let said = match runner.run("cargo", &args) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    let Some(listing) = read(&said) else {
        return Check::Failed(
            "cargo config get printed something else than key = value lines".into(),
        );
    };
    let differences = asking
        .settings
        .iter()
        .filter_map(|setting| {
            let published = &setting.values[0];
            let name = variable_of(&setting.key);
            let read = match listing.variables.get(&name) {
                Some(value) => Some((value.clone(), format!("environment variable `{name}`"))),
                None => listing.files.get(&setting.key).cloned(),
            };
            // Cargo lists no token of its credentials file: what can be seen is a variable
            // read over it.
            if setting.secret && setting.key.ends_with(".token") && read.is_none() {
                return None;
            }
            match read {
                Some((value, _)) if value == *published => None,
                Some((value, origin)) => {
                    let shown = match setting.secret {
                        true => "another value",
                        false => &value,
                    };
                    Some(format!(
                        "Cargo reads {} = {shown} from {origin}",
                        setting.key
                    ))
                }
                None => Some(format!("Cargo does not read {}", setting.key)),
            }
        })
        .collect();
    Check::Read(differences)
}

/// One of Cargo's files in `$CARGO_HOME`, as a [`Client`]: `config.toml`, and
/// `credentials.toml` as a target of its own (owner-only, holding nothing but tokens).
#[derive(Debug)]
pub struct CargoFile {
    target: Target,
    /// Its name without `.toml`.
    name: &'static str,
    settings: fn(&Profile) -> Vec<Setting>,
}

/// `config.toml`.
pub static CONFIG: CargoFile = CargoFile {
    target: Target::Cargo,
    name: "config",
    settings: config_settings,
};

/// `credentials.toml`.
pub static CREDENTIALS: CargoFile = CargoFile {
    target: Target::CargoCredentials,
    name: "credentials",
    settings: credentials_settings,
};

impl Client for CargoFile {
    fn target(&self) -> Target {
        self.target
    }

    fn name(&self) -> &'static str {
        "Cargo"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Toml<CargoToml> = Toml(CargoToml);
        &EDITOR
    }

    /// `$CARGO_HOME/<name>.toml` (or `<name>`); none for the machine: Cargo has no such
    /// file.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => Some(file_in(&cargo_home(home, env), self.name)),
            Dirs::Machine { .. } => None,
        }
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
        (self.settings)(profile)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_get_gives_each_value_and_where_it_was_read() {
        let said = "build.rustflags = [\n    \"-C\", # /p/.cargo/config.toml\n    \"link-arg=-fuse-ld=mold\", # /p/.cargo/config.toml\n]\nhttp.proxy = \"http://proxy.example:3128/\" # /home/ada/.cargo/config.toml\nregistries.switchyard.index = \"sparse+http://127.0.0.1:9/index/\" # environment variable `CARGO_REGISTRIES_SWITCHYARD_INDEX`\nhttp.timeout = 30 # /p/.cargo/config.toml\n# The following environment variables may affect the loaded values.\n# CARGO_HOME='/home/ada/.cargo'\n";
        let read = read(said).unwrap();
        assert_eq!(read.files["http.proxy"].0, "http://proxy.example:3128/");
        assert_eq!(
            read.files["registries.switchyard.index"].1,
            "environment variable `CARGO_REGISTRIES_SWITCHYARD_INDEX`"
        );
        assert_eq!(read.files["http.timeout"].0, "30");
        assert!(
            read.files.contains_key("build.rustflags"),
            "an array spans lines"
        );
        assert_eq!(read.variables["CARGO_HOME"], "/home/ada/.cargo");
        assert!(super::read("not config").is_none());
    }

    #[test]
    fn variables_are_the_dotted_key_in_capitals() {
        assert_eq!(
            variable_of("source.crates-io.replace-with"),
            "CARGO_SOURCE_CRATES_IO_REPLACE_WITH"
        );
        assert_eq!(
            variable_of("registries.corp-eu.token"),
            "CARGO_REGISTRIES_CORP_EU_TOKEN"
        );
    }

    #[test]
    fn the_mirror_is_a_registry_with_its_token_in_the_credentials() {
        let profile: Profile = serde_json::from_value(serde_json::json!({"cargo": {
            "registry": "sparse+https://crates.corp.example/index/",
            "registry-token": {"value": "mirror-t0ken"},
            "registries": {"corp": "sparse+https://crates.corp.example/corp/"},
            "tokens": {"corp": {"value": "corp-t0ken"}}
        }}))
        .unwrap();
        let keys = |settings: Vec<Setting>| {
            settings
                .into_iter()
                .map(|s| (s.key, s.values[0].clone(), s.secret))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(config_settings(&profile)),
            [
                (
                    "source.crates-io.replace-with".into(),
                    "switchyard".into(),
                    false
                ),
                (
                    "registries.switchyard.index".into(),
                    "sparse+https://crates.corp.example/index/".into(),
                    false
                ),
                (
                    "registries.corp.index".into(),
                    "sparse+https://crates.corp.example/corp/".into(),
                    false
                ),
                (
                    "registries.switchyard.credential-provider".into(),
                    "cargo:token".into(),
                    false
                ),
                (
                    "registries.corp.credential-provider".into(),
                    "cargo:token".into(),
                    false
                ),
            ]
        );
        assert_eq!(
            keys(credentials_settings(&profile)),
            [
                (
                    "registries.switchyard.token".into(),
                    "mirror-t0ken".into(),
                    true
                ),
                ("registries.corp.token".into(), "corp-t0ken".into(), true),
            ]
        );
    }
}
