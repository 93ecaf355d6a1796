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

use super::run::{Ran, Runner};
use super::Check;
use crate::plan::Setting;

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
    Check::Read(differences)
}
