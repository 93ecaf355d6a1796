//! git: where it reads `url.<base>.insteadOf` and `http.proxy`, and how the agent asks it.
//!
//! Files in the order read (git `config.c`, `do_git_config_sequence`; git-config(1), FILES):
//! the system file (`$(prefix)/etc/gitconfig`, off with `GIT_CONFIG_NOSYSTEM`), the global
//! files (`$XDG_CONFIG_HOME/git/config`, then `~/.gitconfig`; only `GIT_CONFIG_GLOBAL` when
//! set), the repository's, then `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n` and `-c`. Includes
//! are read where they stand. A single-valued key takes the last value read; of all
//! `insteadOf` prefixes matching a URL the longest wins, and of equally long ones the first
//! read (git `remote.c`, `alias_url`). Each file is read as `formats::gitconfig` says.
//!
//! Asked with `git ls-remote --get-url PREFIX` for each rewrite (it applies the rewrites,
//! offline) and `git config --show-origin --get http.proxy`.

use std::path::PathBuf;

use switchyard_proto::Profile;

use super::run::{Ran, Runner};
use super::{Asking, Check, Client, Surroundings};
use crate::formats::gitconfig::{self, GitConfig};
use crate::formats::{sectioned, Editor, Sectioned};
use crate::plan::{self, is_secret_url, with_login, Decoded, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// The files git reads before the agent's global file: the system file and, beside
/// `~/.gitconfig`, the XDG file.
fn read_before(around: &Surroundings) -> Vec<std::path::PathBuf> {
    let env = |name: &str| around.env.get(name).filter(|v| !v.is_empty());
    let mut files = Vec::new();
    if env("GIT_CONFIG_NOSYSTEM").is_none() {
        files.push(
            env("GIT_CONFIG_SYSTEM")
                .map_or_else(|| "/etc/gitconfig".into(), std::path::PathBuf::from),
        );
    }
    if env("GIT_CONFIG_GLOBAL").is_none() {
        let config = env("XDG_CONFIG_HOME").map_or_else(
            || env("HOME").map(|home| std::path::Path::new(home).join(".config")),
            |dir| Some(std::path::PathBuf::from(dir)),
        );
        files.extend(config.map(|dir| dir.join("git").join("config")));
    }
    let ours = around.paths.files.get(&Target::Git);
    files.retain(|file| Some(file) != ours);
    files
}

/// What git reads over the agent's file, by the order above: a rewrite of the same prefix to
/// another base in a file read first (of equally long prefixes the first read wins), and an
/// `http.proxy` given by `GIT_CONFIG_COUNT` variables, read last.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found = Vec::new();
    let earlier: Vec<(std::path::PathBuf, _)> = read_before(around)
        .into_iter()
        .filter_map(|file| {
            let content = std::fs::read_to_string(&file).ok()?;
            Some((file, sectioned::entries(&GitConfig, &content)))
        })
        .collect();
    for setting in settings {
        let value = setting.values.join(" ");
        match (setting.key.as_str(), &setting.section) {
            ("insteadof", Some(section)) => {
                for (file, entries) in &earlier {
                    let other = entries.iter().find(|((id, key), values)| {
                        key == "insteadof"
                            && id.starts_with("url\0")
                            && *id != section.id
                            && values.iter().flatten().any(|v| *v == value)
                    });
                    if let Some(((id, _), _)) = other {
                        found.push(format!(
                            "{} rewrites {value} to {} and is read first",
                            file.display(),
                            id.trim_start_matches("url\0")
                        ));
                    }
                }
            }
            ("proxy", _) => {
                let count: usize = around
                    .env
                    .get("GIT_CONFIG_COUNT")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let given = (0..count.min(1000)).any(|i| {
                    around
                        .env
                        .get(&format!("GIT_CONFIG_KEY_{i}"))
                        .is_some_and(|key| key.eq_ignore_ascii_case("http.proxy"))
                });
                if given {
                    found.push("GIT_CONFIG_COUNT variables set http.proxy, read last".into());
                }
            }
            _ => {}
        }
    }
    found
}

/// What git reads for `settings`.
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    let mut differences = Vec::new();
    for setting in settings {
        let value = setting.values.join(" ");
        match (setting.key.as_str(), &setting.section) {
            ("insteadof", Some(section)) => {
                let Some(base) = section.id.strip_prefix("url\0") else {
                    continue;
                };
                match runner.run("git", &["ls-remote", "--get-url", &value]) {
                    Ran::Missing => return Check::NotInstalled,
                    Ran::Failed(problem) => return Check::Failed(problem),
                    Ran::Said(url) if url.trim() != base => differences.push(format!(
                        "git rewrites {value} to {} (another url.<base>.insteadOf wins)",
                        url.trim()
                    )),
                    Ran::Said(_) => {}
                }
            }
            ("proxy", _) => match runner
                .run("git", &["config", "--show-origin", "--get", "http.proxy"])
            {
                Ran::Missing => return Check::NotInstalled,
                // Unset: git exits 1.
                Ran::Failed(_) => differences.push("git reads no http.proxy".to_owned()),
                Ran::Said(said) => {
                    let (origin, read) = said.trim_end().split_once('\t').unwrap_or(("", &said));
                    if read != value {
                        differences.push(match setting.secret {
                            true => format!("git reads another http.proxy from {origin}"),
                            false => format!("git reads http.proxy = {read} from {origin}"),
                        });
                    }
                }
            },
            // pushInsteadOf needs a repository's remote to ask about: read as written.
            _ => {}
        }
    }
    differences.extend(other_rules(runner, settings));
    Check::Read(differences)
}

/// What git reads only for some URLs or in some repositories, asked of git itself: an
/// `http.<url>.proxy` over `http.proxy` (git-config(1), `http.<url>.*`), and files
/// `includeIf` brings in where its condition holds (the agent asks outside any repository).
fn other_rules(runner: &Runner, settings: &[Setting]) -> Vec<String> {
    let manages_proxy = settings.iter().any(|s| s.key == "proxy");
    let prefixes: Vec<(&str, String)> = settings
        .iter()
        .filter(|s| s.key == "insteadof")
        .filter_map(|s| {
            let base = s.section.as_ref()?.id.strip_prefix("url\0")?;
            Some((base, s.values.join(" ")))
        })
        .collect();
    let listed = |pattern: &str| -> Vec<(String, String, String)> {
        match runner.run("git", &["config", "--show-origin", "--get-regexp", pattern]) {
            Ran::Said(said) => said
                .lines()
                .filter_map(|line| {
                    let (origin, rest) = line.split_once('\t')?;
                    let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
                    Some((
                        origin.trim_start_matches("file:").to_owned(),
                        key.to_owned(),
                        value.to_owned(),
                    ))
                })
                .collect(),
            // Nothing matches: git exits 1.
            _ => Vec::new(),
        }
    };
    let mut found = Vec::new();
    if manages_proxy {
        for (origin, key, value) in listed("^http\\..+\\.proxy$") {
            let url = key.trim_start_matches("http.").trim_end_matches(".proxy");
            found.push(format!(
                "for URLs matching {url}, git uses http.{url}.proxy = {value} from {origin}"
            ));
        }
    }
    if !manages_proxy && prefixes.is_empty() {
        return found;
    }
    for (origin, key, path) in listed("^includeif\\..+\\.path$") {
        let condition = key
            .trim_start_matches("includeif.")
            .trim_end_matches(".path");
        let included = match (path.strip_prefix("~/"), runner.env.get("HOME")) {
            (Some(rest), Some(home)) => std::path::Path::new(home).join(rest),
            _ => std::path::Path::new(&origin)
                .parent()
                .map_or_else(|| path.clone().into(), |folder| folder.join(&path)),
        };
        let included = included.to_string_lossy().into_owned();
        let pattern = "^(url\\..+\\.insteadof|http\\.proxy)$";
        let Ran::Said(said) = runner.run(
            "git",
            &["config", "--file", &included, "--get-regexp", pattern],
        ) else {
            continue;
        };
        for line in said.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let rewrites_ours = key.starts_with("url.")
                && prefixes.iter().any(|(base, prefix)| {
                    value == prefix && key != format!("url.{base}.insteadof")
                });
            let other_proxy = manages_proxy
                && key == "http.proxy"
                && !settings
                    .iter()
                    .any(|s| s.key == "proxy" && s.values.join(" ") == value);
            if rewrites_ours || other_proxy {
                found.push(format!(
                    "in repositories where includeIf \"{condition}\" holds, {included} sets {key} = {value}"
                ));
            }
        }
    }
    found
}

/// git's keys for `profile` (normalized): each `insteadOf` and `pushInsteadOf` prefix of
/// each rewrite (one setting each: the key is multi-valued), and `http.proxy` with its login.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let mut git_file = Vec::new();
    let logins = plan::logins(profile);
    if let Some(git) = &profile.git {
        for rewrite in git.rewrites.iter().flatten() {
            let Ok(section) = gitconfig::url_section(&rewrite.base) else {
                continue;
            };
            // Multi-valued: one setting per prefix, so that the user's own prefixes of the
            // same base stay (git `remote.c`, `add_instead_of`).
            for (name, prefixes) in [
                ("insteadOf", &rewrite.instead_of),
                ("pushInsteadOf", &rewrite.push_instead_of),
            ] {
                for prefix in prefixes {
                    git_file.push(Setting {
                        id: format!("{}/{}={prefix}", section.header, name.to_ascii_lowercase()),
                        section: Some(section.clone().into()),
                        key: name.to_ascii_lowercase(),
                        name: name.to_owned(),
                        values: vec![prefix.clone()],
                        secret: false,
                        expand: false,
                        multi: true,
                    });
                }
            }
        }
        if let Some(proxy) = &git.http_proxy {
            let url = with_login(proxy, logins, Decoded::Thrice);
            git_file.push(Setting {
                id: "[http]/proxy".into(),
                section: Some(gitconfig::http_section().into()),
                key: "proxy".into(),
                name: "proxy".into(),
                secret: is_secret_url(&url),
                values: vec![url],
                expand: false,
                multi: false,
            });
        }
    }
    git_file
}

/// git as a [`Client`].
#[derive(Debug)]
pub struct Git;

impl Client for Git {
    fn target(&self) -> Target {
        Target::Git
    }

    fn name(&self) -> &'static str {
        "git"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Sectioned<GitConfig> = Sectioned(GitConfig);
        &EDITOR
    }

    /// `GIT_CONFIG_GLOBAL`, else `~/.gitconfig`; the machine's `GIT_CONFIG_SYSTEM` (which an
    /// admin sets for a git of their own: MinGit, a portable one), else `/etc/gitconfig`, or
    /// on Windows `etc\gitconfig` in Git for Windows' own folder, and none where Git for
    /// Windows is not installed: no git would read it.
    fn file(&self, os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let (variable, default) = match (dirs, os) {
            (Dirs::User { home, .. }, _) => ("GIT_CONFIG_GLOBAL", Some(home.join(".gitconfig"))),
            (Dirs::Machine { system, .. }, Os::Unix) => {
                ("GIT_CONFIG_SYSTEM", Some(system.join("gitconfig")))
            }
            (
                Dirs::Machine {
                    git_for_windows, ..
                },
                Os::Windows,
            ) => (
                "GIT_CONFIG_SYSTEM",
                git_for_windows
                    .as_ref()
                    .map(|folder| folder.join("etc").join("gitconfig")),
            ),
        };
        platform::set(env, variable).map(PathBuf::from).or(default)
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::formats::gitconfig::url_section;

    #[test]
    fn the_same_prefix_in_the_xdg_file_wins_as_it_is_read_first() {
        let home = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([
            (
                "HOME".to_owned(),
                home.path().to_string_lossy().into_owned(),
            ),
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
        ]);
        let paths = crate::clients::user_paths(home.path(), &env);
        std::fs::create_dir_all(home.path().join(".config/git")).unwrap();
        std::fs::write(
            home.path().join(".config/git/config"),
            "[url \"https://mine/\"]\n\tinsteadOf = https://github.com/\n",
        )
        .unwrap();
        let around = Surroundings {
            paths: &paths,
            env: &env,
            cwd: None,
        };
        let setting = Setting {
            id: "x".into(),
            section: Some(url_section("https://corp/").unwrap().into()),
            key: "insteadof".into(),
            name: "insteadOf".into(),
            values: vec!["https://github.com/".into()],
            secret: false,
            expand: false,
            multi: true,
        };
        let found = modelled(&[setting], &around);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("https://mine/"), "{found:?}");
    }
}
