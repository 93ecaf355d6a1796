//! Property tests for every format: on arbitrary existing files (CRLF or LF, comments, odd
//! spacing, duplicate-looking keys, sections, Unicode), an edit sets exactly what it says,
//! keeps every line it does not manage, and a second identical edit changes nothing.

use proptest::prelude::*;

use super::envfile::{EnvironmentD, ShellExports};
use super::flat::{self, FlatSyntax};
use super::gitconfig::{self, GitConfig};
use super::goenv::GoEnv;
use super::lines::Lines;
use super::npmrc::Npmrc;
use super::pip::{self, PipIni};
use super::sectioned::{self, SectionSyntax};

/// A line someone might have in any of these files.
fn any_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[#;] ?[ -~äöü€✓]{0,20}",
        "[ \t]{0,3}",
        "(registry|@corp:registry|GOPROXY|GOFLAGS|index-url|Index_URL|timeout|proxy|insteadOf|user) ?= ?[a-z:/.,0-9]{0,20}",
        "\\[(global|install|http|user|url \"https://m/\")\\]",
        "[a-zA-Z_]{1,8}=[ -~]{0,12}",
        "[ \t]{1,4}[a-z/:.]{1,16}",
        "[ -~äöü€✓]{0,30}",
    ]
}

/// A file of such lines, each ending in LF or CRLF, maybe the last with none.
fn any_file() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((any_line(), prop_oneof!["\n", "\r\n"]), 0..12),
        any::<bool>(),
    )
        .prop_map(|(lines, open_end)| {
            let mut text: String = lines
                .iter()
                .map(|(line, end)| format!("{line}{end}"))
                .collect();
            if open_end && text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            text
        })
}

/// Whether every line of `before` that `manages` says is not managed is in `after`, in order.
fn keeps_unmanaged(before: &str, after: &str, manages: impl Fn(&str) -> bool) -> bool {
    let after = Lines::parse(after);
    let mut rest = after.0.iter();
    Lines::parse(before)
        .0
        .iter()
        .filter(|line| !manages(&line.text))
        .all(|line| rest.any(|candidate| candidate.text == line.text))
}

fn check_flat<S: FlatSyntax>(
    syntax: &S,
    file: &str,
    edits: &[(String, Option<String>)],
) -> Result<(), TestCaseError> {
    let once = flat::apply(syntax, file, edits).unwrap();
    prop_assert_eq!(&flat::apply(syntax, &once, edits).unwrap(), &once);
    for (key, value) in edits {
        prop_assert_eq!(flat::get(syntax, &once, key), value.clone());
    }
    let managed = |text: &str| {
        syntax
            .key_of(text)
            .is_some_and(|key| edits.iter().any(|(managed, _)| *managed == key))
    };
    prop_assert!(
        keeps_unmanaged(file, &once, managed),
        "{:?} -> {:?}",
        file,
        once
    );
    Ok(())
}

fn check_sectioned<S: SectionSyntax>(
    syntax: &S,
    file: &str,
    edits: &[sectioned::Edit],
) -> Result<(), TestCaseError> {
    // A file its client cannot read is left alone (the engine says so); any other takes the
    // edit, which `apply` itself checks reads back as meant with every other key as before.
    if syntax.unreadable(file).is_some() {
        return Ok(());
    }
    let once = sectioned::apply(syntax, file, edits);
    prop_assert!(once.is_ok(), "{:?}: {:?}", file, once);
    let once = once.unwrap();
    prop_assert_eq!(syntax.unreadable(&once), None, "{:?} -> {:?}", file, once);
    prop_assert_eq!(&sectioned::apply(syntax, &once, edits).unwrap(), &once);
    for edit in edits {
        let all = sectioned::get_all(syntax, &once, &edit.section.id, &edit.key);
        match (&edit.only, &edit.values) {
            (Some(value), Some(_)) => prop_assert!(all.contains(value)),
            (Some(value), None) => prop_assert!(!all.contains(value)),
            (None, Some(values)) => prop_assert_eq!(&all, values),
            (None, None) => prop_assert!(all.is_empty()),
        }
    }
    // Lines that are not a managed key's, nor white-space-led (a continuation), nor comments
    // or blank lines (either may sit inside a value: configparser keeps a blank line that a
    // continuation follows in the value) all stay, in order.
    let managed = |text: &str| {
        syntax
            .key_of(text)
            .is_some_and(|key| edits.iter().any(|edit| edit.key == key))
            || text.starts_with(char::is_whitespace)
            || text.trim().is_empty()
            || text.trim_start().starts_with(['#', ';'])
    };
    prop_assert!(
        keeps_unmanaged(file, &once, managed),
        "{:?} -> {:?}",
        file,
        once
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn npmrc_edits_are_exact_idempotent_and_keep_the_rest(file in any_file(), remove in any::<bool>()) {
        let edits = [
            ("registry".to_owned(), Some("https://npm.corp.example/".to_owned())),
            ("@corp:registry".to_owned(), (!remove).then(|| "https://npm.corp.example/corp/".to_owned())),
        ];
        check_flat(&Npmrc, &file, &edits)?;
    }

    #[test]
    fn go_env_edits_are_exact_idempotent_and_keep_the_rest(file in any_file(), remove in any::<bool>()) {
        let edits = [
            ("GOPROXY".to_owned(), Some("https://goproxy.corp.example/,direct".to_owned())),
            ("GONOSUMDB".to_owned(), (!remove).then(|| "*.corp.example".to_owned())),
        ];
        check_flat(&GoEnv, &file, &edits)?;
    }

    #[test]
    fn environment_files_edits_are_exact_idempotent_and_keep_the_rest(file in any_file(), remove in any::<bool>()) {
        let edits = [
            ("HTTPS_PROXY".to_owned(), Some("http://proxy.corp.example:3128".to_owned())),
            ("NO_PROXY".to_owned(), (!remove).then(|| "localhost,.corp.example".to_owned())),
        ];
        check_flat(&EnvironmentD, &file, &edits)?;
        check_flat(&ShellExports, &file, &edits)?;
    }

    #[test]
    fn pip_edits_are_exact_idempotent_and_keep_the_rest(file in any_file(), remove in any::<bool>()) {
        let edits = [
            pip::global("index-url", Some(vec!["https://pypi.corp.example/simple".into()])),
            pip::global(
                "extra-index-url",
                (!remove).then(|| vec!["https://a.example/simple".into(), "https://b.example/simple".into()]),
            ),
        ];
        check_sectioned(&PipIni, &file, &edits)?;
    }

    #[test]
    fn git_edits_are_exact_idempotent_and_keep_the_rest(file in any_file()) {
        let edits = [
            gitconfig::edit(
                gitconfig::url_section("https://m/").unwrap(),
                "insteadOf",
                Some(vec!["https://github.com/".into()]),
                Some("https://github.com/".into()),
            ),
            gitconfig::edit(gitconfig::http_section(), "proxy", Some(vec!["http://proxy:3128".into()]), None),
        ];
        check_sectioned(&GitConfig, &file, &edits)?;
    }
}
