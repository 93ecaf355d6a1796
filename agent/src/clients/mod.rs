//! Where each client reads its settings, and in what order, and how to ask the client itself
//! what it read: one module per client, each rule with the client's own documentation or
//! source named beside it.
//!
//! `ok` means the client reads the published value. After applying, the agent asks each
//! client that is installed ([`check`]); a difference makes the target `shadowed`, with what
//! the client reads instead and from where.

pub mod environment_d;
pub mod git;
pub mod go;
pub mod npm;
pub mod pip;
pub mod run;
pub mod shell;

use std::path::Path;

use crate::plan::{Setting, Target};

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

/// Asks `target`'s client what it reads for `settings`, written to `file`.
pub fn check(target: Target, runner: &run::Runner, settings: &[Setting], file: &Path) -> Check {
    if settings.is_empty() {
        return Check::Read(Vec::new());
    }
    match target {
        Target::Npmrc => npm::check(runner, settings, file),
        Target::Pip => pip::check(runner, settings),
        Target::Go => go::check(runner, settings),
        Target::Git => git::check(runner, settings),
        Target::EnvironmentD => environment_d::check(runner, settings),
        // The shell's files are the user's to run: the hook's place is checked by
        // `shell::login_files`, not by starting a login shell.
        Target::Shell => Check::Read(Vec::new()),
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
