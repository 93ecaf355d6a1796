//! RubyGems (`gem`): where it reads its sources, and how the agent asks it.
//!
//! Order (RubyGems 3.3 `config_file.rb`, `Gem::ConfigFile#initialize`; `defaults.rb`; each
//! point seen with RubyGems 3.3.15): its defaults, then the machine's file (`/etc/gemrc`;
//! `%ProgramData%\gemrc` on Windows), then the user's (in `Gem.user_home`: `HOME`, on Windows
//! else `%HOMEDRIVE%%HOMEPATH%`, else `%USERPROFILE%`, where the agent writes): the files `GEMRC` lists (set at all, it
//! replaces the user's file), else `--config-file`, else `~/.gemrc` where it exists, else
//! `$XDG_CONFIG_HOME/gem/gemrc` (`~/.config/gem/gemrc`). Each later file replaces whole keys of
//! the earlier ones. The files are YAML read by `Psych.safe_load`: RubyGems' own options are
//! symbols (`:sources:`), a command's arguments strings (`gem: --no-document`). `:sources:`
//! replaces `https://rubygems.org/`; `gem install` takes the first source that has the gem.
//! A source's login is its URL's user information, percent-decoded as a form is (`+` is a
//! space), so the agent encodes every byte but the unreserved ones. The proxy comes from the
//! proxy variables (`https_proxy` for https sources, `http_proxy` for http ones).
//!
//! The agent writes the `rubygems` section's source, with its login, first in `:sources:` of
//! the file RubyGems reads as the user's (owner-only when it holds a password), beside the
//! user's own sources; at machine scope in the machine's file, without a login.
//!
//! Asked with `gem env remotesources` (the sources it would fetch from, in order, offline).

use std::path::PathBuf;

use switchyard_proto::profile::{RubygemsClient, Secret};
use switchyard_proto::Profile;

use super::run::Ran;
use super::{Asking, Check, Client, Surroundings};
use crate::formats::yaml::{Yaml, YamlSyntax};
use crate::formats::Editor;
use crate::plan::{flat, with_userinfo, Decoded, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// The key of RubyGems' sources: the symbol `:sources`.
const SOURCES: &str = ":sources";

/// RubyGems' `.gemrc`.
#[derive(Debug)]
pub struct Gemrc;

impl YamlSyntax for Gemrc {
    fn client(&self) -> &'static str {
        "RubyGems"
    }

    fn boolean(&self, _leaf: &str) -> bool {
        false
    }

    /// `gem install` takes the first source that has a gem.
    fn first(&self, leaf: &str) -> bool {
        leaf == SOURCES
    }

    /// A quoted `':sources'` is a string, which RubyGems never reads.
    fn plain_key(&self, leaf: &str) -> bool {
        leaf == SOURCES
    }
}

/// The source RubyGems reads (`rubygems` with `clients.gem` over it) with its login in it
/// (`https://user:password@host/`), if the profile gives one.
fn source_with_login(profile: &Profile) -> Option<(String, bool)> {
    let rubygems = profile.rubygems_for(RubygemsClient::Gem)?;
    let source = rubygems.source.as_ref()?;
    match (&rubygems.username, &rubygems.password) {
        (Some(username), Some(Secret::Value(password))) => Some((
            with_userinfo(source, username, password, Decoded::Once),
            true,
        )),
        _ => Some((source.clone(), false)),
    }
}

/// What the agent writes in `.gemrc` for `profile` (normalized): the source first among the
/// sources.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let Some((source, secret)) = source_with_login(profile) else {
        return Vec::new();
    };
    let mut setting = flat(SOURCES, source, secret);
    // One item of the user's list, known by whose it is, whatever its login.
    setting.id = format!("{SOURCES}/switchyard");
    setting.multi = true;
    vec![setting]
}

/// The user's file as RubyGems finds it: `~/.gemrc` where it exists, else `gem/gemrc` in
/// `XDG_CONFIG_HOME` (else `~/.config`, on Windows too) where it exists, else `~/.gemrc`
/// (`Gem.find_config_file`, `Gem.config_home`).
fn user_file(home: &std::path::Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let dotfile = home.join(".gemrc");
    let config =
        platform::set(env, "XDG_CONFIG_HOME").map_or_else(|| home.join(".config"), PathBuf::from);
    let xdg = config.join("gem").join("gemrc");
    match (dotfile.is_file(), xdg.is_file()) {
        (false, true) => xdg,
        _ => dotfile,
    }
}

/// What RubyGems reads instead of the user's file: the files `GEMRC` names.
pub fn modelled(_settings: &[Setting], around: &Surroundings) -> Vec<String> {
    // Set at all, even empty, it replaces the user's file.
    let gemrc = around.env.iter().find(|(name, _)| name.as_str() == "GEMRC");
    gemrc
        .map(|(_, files)| {
            format!(
                "GEMRC is set ({files}): RubyGems reads the files it names instead of the user's"
            )
        })
        .into_iter()
        .collect()
}

/// What RubyGems fetches from, for the agent's source.
pub fn check(asking: &Asking) -> Check {
    let Some(published) = asking.settings.first().map(|s| s.values[0].clone()) else {
        return Check::Read(Vec::new());
    };
    let said = match asking.runner.run("gem", &["env", "remotesources"]) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    let sources: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let same = |read: &str| read.trim_end_matches('/') == published.trim_end_matches('/');
    let differences = match sources.first() {
        Some(first) if same(first) => Vec::new(),
        Some(first) => vec![format!(
            "RubyGems fetches from {first} first{}",
            match sources.iter().any(|s| same(s)) {
                true => ", before the published source",
                false => ", and not from the published source",
            }
        )],
        None => vec!["RubyGems has no source".into()],
    };
    Check::Read(differences)
}

/// RubyGems as a [`Client`].
#[derive(Debug)]
pub struct Rubygems;

impl Client for Rubygems {
    fn target(&self) -> Target {
        Target::Gemrc
    }

    fn name(&self) -> &'static str {
        "RubyGems"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Yaml<Gemrc> = Yaml(Gemrc);
        &EDITOR
    }

    /// The user's file as RubyGems finds it; the machine's `gemrc`.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => Some(user_file(home, env)),
            Dirs::Machine { system, .. } => Some(system.join("gemrc")),
        }
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

    #[test]
    fn the_source_carries_its_login_encoded_as_rubygems_decodes_it() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "rubygems": {"source": "https://gems.corp.example/", "username": "ada",
                         "password": {"value": "p@ss+w rd"}}
        }))
        .unwrap();
        let settings = settings(&profile.normalized());
        assert_eq!(
            settings[0].values,
            ["https://ada:p%40ss%2Bw%20rd@gems.corp.example/"]
        );
        assert!(settings[0].secret && settings[0].multi);
    }

    #[test]
    fn the_source_goes_first_as_a_symbol_keys_item() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "rubygems": {"source": "https://gems.corp.example/"}
        }))
        .unwrap();
        let settings = settings(&profile.normalized());
        let change = [(&settings[0], Some(settings[0].values.clone()))];
        let editor = Yaml(Gemrc);
        let alone = editor.render("", &change).unwrap();
        // A new list is started plain, in flow style, as RubyGems reads it.
        assert_eq!(alone, ":sources: [https://gems.corp.example/]\n");
        let user = "---\ngem: --no-document\n:sources:\n- https://rubygems.org/\n";
        let written = editor.render(user, &change).unwrap();
        assert_eq!(
            written,
            "---\ngem: --no-document\n:sources:\n- https://gems.corp.example/\n- https://rubygems.org/\n"
        );
        let removed = [(&settings[0], None)];
        assert_eq!(editor.render(&written, &removed).unwrap(), user);
        assert_eq!(editor.render(&alone, &removed).unwrap(), "");
    }
}
