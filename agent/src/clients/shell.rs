//! Login shells: which of a user's files each common shell reads when it starts as a login
//! shell, so that the line sourcing the agent's snippet goes into a file it really reads.
//!
//! - bash reads the first of `~/.bash_profile`, `~/.bash_login` and `~/.profile` that exists,
//!   and only that one (bash(1), INVOCATION).
//! - sh and dash read `~/.profile` (dash(1), Invocation); so do display managers that start a
//!   session through a login shell.
//! - zsh reads `$ZDOTDIR/.zprofile` (`$HOME` when `ZDOTDIR` is unset) and never `~/.profile`
//!   (zsh(1), STARTUP/SHUTDOWN FILES).

use std::path::{Path, PathBuf};

/// The login files of the user whose home is `home` that must source the snippet, in the
/// order they are hooked: `~/.profile` always; bash's own file where one exists (it then
/// reads no `~/.profile`); zsh's `.zprofile` where it exists or zsh is the login shell.
/// `env` is the user's environment (`ZDOTDIR`, `SHELL`).
pub fn login_files(home: &Path, env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = vec![home.join(".profile")];
    if let Some(bash) = [".bash_profile", ".bash_login"]
        .iter()
        .map(|name| home.join(name))
        .find(|path| std::fs::symlink_metadata(path).is_ok())
    {
        files.push(bash);
    }
    let zdotdir = env("ZDOTDIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| home.to_owned(), PathBuf::from);
    let zprofile = zdotdir.join(".zprofile");
    let zsh_user = env("SHELL").is_some_and(|shell| shell.ends_with("/zsh"));
    if zsh_user || std::fs::symlink_metadata(&zprofile).is_ok() {
        files.push(zprofile);
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_and_zsh_get_the_file_they_read() {
        let home = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert_eq!(
            login_files(home.path(), none),
            [home.path().join(".profile")]
        );
        std::fs::write(home.path().join(".bash_login"), "").unwrap();
        std::fs::write(home.path().join(".bash_profile"), "").unwrap();
        assert_eq!(
            login_files(home.path(), none),
            [
                home.path().join(".profile"),
                home.path().join(".bash_profile")
            ]
        );
        let zsh = |name: &str| match name {
            "SHELL" => Some("/usr/bin/zsh".to_owned()),
            "ZDOTDIR" => Some("/home/ada/.config/zsh".to_owned()),
            _ => None,
        };
        assert_eq!(
            login_files(home.path(), zsh).last().unwrap(),
            Path::new("/home/ada/.config/zsh/.zprofile")
        );
    }
}
