//! Fuzzing of every file editor the agent has (issue 22). For each client's file: generated
//! hostile files (LF, CRLF and lone-CR line endings, a byte-order mark, no last line ending,
//! comments, quotes, escapes, duplicate keys, continuation lines, sections, text beyond ASCII,
//! lines no client reads, now and then a file its client cannot read) and generated profiles,
//! whose settings come through the agent's own plan, so that every key and value is one the
//! client is really given. For each file and profile:
//!
//! - an empty edit gives back every byte of a file the client can read;
//! - after the edit each setting reads back as set, every key of the user's reads as before,
//!   the user's lines are still there, and the client can still read the file;
//! - the same edit again, or an empty one, leaves the editor's own output as it is;
//! - taking the settings back reads as before, and gives back every byte where the file held
//!   none of them (a line format's file: and ended in a line break; any other: was empty);
//! - nothing panics, on these files or on any text or bytes at all;
//! - a profile the server accepts is written to a new file of every client and reads back.
//!
//! Each property runs `SWITCHYARD_FUZZ_CASES` cases (2000 by default; TOML a half of that,
//! YAML and XML a quarter: each of their cases parses the document dozens of times). A long
//! run:
//!
//! ```text
//! SWITCHYARD_FUZZ_CASES=200000 cargo test -p switchyard-agent --test fuzz_editors --release
//! ```
//!
//! A failure prints its case, shrunk, and is kept in `main.proptest-regressions` beside this
//! file, to be tried first ever after. The modules: `formats` says, for each client's file,
//! what an edit may change; `profiles` and `files` generate what is edited.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod files;
mod formats;
mod profiles;

use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};
use switchyard_agent::clients;
use switchyard_agent::formats::Editor;
use switchyard_agent::plan::{plan_on, Setting, Target};
use switchyard_agent::platform::Os;

use files::{
    bundler_line, env_line, file, git_file, go_line, init_file, java_line, lf_file, lines,
    npmrc_line, pip_file, toml_file, xml_file, yaml_file,
};
use formats::{
    Format, BUNDLER, CARGO, CARGO_CREDENTIALS, ENVIRONMENT_D, FORMATS, GEMRC, GIT, GO, GRADLE_INIT,
    GRADLE_PROPERTIES, MAVEN, NPM, PIP, PNPM, SHELL, UV, YARN,
};
use profiles::profile;

/// `target`'s editor, as the engine takes it.
fn editor_of(target: Target) -> &'static dyn Editor {
    clients::of(target).editor()
}

/// Checks one file and one plan's settings for `format`; whether an edit was made.
fn check(format: &Format, content: &str, settings: &[Setting]) -> Result<bool, TestCaseError> {
    let editor = editor_of(format.target);
    let readable = editor.unreadable(content).is_none();
    for value in settings.iter().flat_map(|setting| &setting.values) {
        let _ = editor.written(value);
    }
    let unchanged = editor.render(content, &[]);
    if readable && (format.identity)(content) {
        prop_assert_eq!(
            unchanged.as_deref(),
            Ok(content),
            "an empty edit changed the file"
        );
    }
    let before: Vec<Option<Vec<String>>> = settings
        .iter()
        .map(|setting| editor.current(content, setting))
        .collect();
    let set = set_all(settings);
    let rendered = editor.render(content, &set);
    let (true, Ok(written)) = (readable, rendered) else {
        // The engine leaves a file its client cannot read alone, and a value the editor
        // refuses unwritten: either may fail, neither may panic.
        let _ = editor.render(content, &unset_all(settings));
        return Ok(false);
    };

    // What was set reads back, and nothing of the user's reads otherwise.
    let theirs: Vec<Setting> = (format.keys_in)(content)
        .into_iter()
        .filter(|probe| !settings.iter().any(|setting| overlaps(setting, probe)))
        .collect();
    let read = |text: &str| -> Vec<Option<Vec<String>>> {
        theirs
            .iter()
            .map(|probe| editor.current(text, probe))
            .collect()
    };
    let as_before = read(content);
    for setting in settings {
        prop_assert_eq!(
            editor.current(&written, setting),
            Some(setting.values.clone()),
            "{} does not read back from {:?}",
            setting.key,
            written
        );
    }
    prop_assert_eq!(
        editor.unreadable(&written),
        None,
        "its client cannot read {:?}",
        written
    );
    prop_assert_eq!(
        read(&written),
        as_before.clone(),
        "a setting of the user's reads otherwise in {:?}",
        written
    );
    prop_assert!(
        (format.kept)(content, &written, settings),
        "a line of the user's is gone from {:?}",
        written
    );
    // Applying what is there already, or nothing, changes nothing.
    let again = editor.render(&written, &set);
    prop_assert_eq!(
        again.as_deref(),
        Ok(written.as_str()),
        "the same edit again changed the file"
    );
    let unchanged = editor.render(&written, &[]);
    prop_assert_eq!(
        unchanged.as_deref(),
        Ok(written.as_str()),
        "an empty edit changed the editor's own output"
    );

    // Taken back, as the engine restores a file changed since: each setting to what it read
    // before the agent.
    let back: Vec<(&Setting, Option<Vec<String>>)> = settings
        .iter()
        .zip(&before)
        .map(|(setting, was)| (setting, was.clone()))
        .collect();
    let fresh = before.iter().all(Option::is_none);
    match editor.render(&written, &back) {
        Ok(restored) => {
            for (setting, was) in settings.iter().zip(&before) {
                prop_assert_eq!(
                    &editor.current(&restored, setting),
                    was,
                    "{} does not read as before in {:?}",
                    setting.key,
                    restored
                );
            }
            prop_assert_eq!(
                read(&restored),
                as_before,
                "a setting of the user's reads otherwise in {:?}",
                restored
            );
            prop_assert!(
                (format.kept)(content, &restored, settings),
                "a line of the user's is gone from {:?}",
                restored
            );
            if fresh
                && (format.undo_exact)(content)
                && !settings
                    .iter()
                    .any(|setting| content.contains(&setting.key))
            {
                prop_assert_eq!(
                    restored.as_str(),
                    content,
                    "taking the settings back did not give back every byte"
                );
            }
        }
        // A value of the user's that the editor cannot write back may fail; the agent's own
        // settings must always come out.
        Err(error) => prop_assert!(
            !fresh,
            "taking the settings out of {:?} failed: {}",
            written,
            error
        ),
    }
    Ok(!settings.is_empty())
}

/// Whether `probe` reads what `setting` writes: the same key in the same section, and for a
/// multi-valued key the same value (the key's other values are the user's).
fn overlaps(setting: &Setting, probe: &Setting) -> bool {
    let section = |s: &Setting| s.section.as_ref().map(|section| section.id.clone());
    setting.key == probe.key
        && section(setting) == section(probe)
        && !(setting.multi && probe.multi && setting.values != probe.values)
}

fn set_all(settings: &[Setting]) -> Vec<(&Setting, Option<Vec<String>>)> {
    settings
        .iter()
        .map(|setting| (setting, Some(setting.values.clone())))
        .collect()
}

fn unset_all(settings: &[Setting]) -> Vec<(&Setting, Option<Vec<String>>)> {
    settings.iter().map(|setting| (setting, None)).collect()
}

/// A setting to read `key` with, in no section.
fn plain(key: &str) -> Setting {
    Setting {
        id: key.to_owned(),
        section: None,
        key: key.to_owned(),
        name: key.to_owned(),
        values: Vec::new(),
        secret: false,
        expand: false,
        multi: false,
    }
}

/// A setting to read one `value` of a multi-valued `key` with.
fn multi(key: &str, value: &str) -> Setting {
    Setting {
        multi: true,
        values: vec![value.to_owned()],
        ..plain(key)
    }
}

fn fixed(keys: &[&str]) -> Vec<Setting> {
    keys.iter().map(|key| plain(key)).collect()
}

fn word(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(words).prop_map(str::to_owned)
}

/// Text matching `pattern`, parsed once: a bare `&str` strategy parses its pattern again for
/// every value it makes.
fn re(pattern: &str) -> impl Strategy<Value = String> {
    proptest::string::string_regex(pattern).expect("a valid pattern")
}

/// `SWITCHYARD_FUZZ_CASES` cases (2000 by default) over `share`.
fn config(share: u32) -> ProptestConfig {
    let cases = std::env::var("SWITCHYARD_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse::<u32>().ok())
        .unwrap_or(2000);
    ProptestConfig {
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases((cases / share).max(1))
    }
}

/// Runs `check` on `cases`; how many it says were edited, of how many.
fn fuzz<S: Strategy>(
    share: u32,
    cases: S,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) -> (u32, u32) {
    let config = config(share);
    let total = config.cases;
    let edited = Cell::new(0_u32);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&cases, |case| {
        if check(case)? {
            edited.set(edited.get() + 1);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    (edited.get(), total)
}

/// Fuzzes `format` with `files` and generated profiles.
fn fuzz_format(format: &'static Format, share: u32, files: impl Strategy<Value = String>) {
    let (edited, total) = fuzz(share, (files, profile()), |(content, profile)| {
        let settings = plan_on(&profile, Os::Unix)
            .remove(&format.target)
            .unwrap_or_default();
        check(format, &content, &settings)
    });
    // Files or profiles the editor always refuses would pass while testing nothing.
    assert!(
        total < 50 || edited * 10 >= total,
        "{:?}: only {edited} of {total} cases were edited",
        format.target
    );
}

#[test]
fn npmrc_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&NPM, 1, file(lines(npmrc_line(), 12)));
}

#[test]
fn pnpm_auth_ini_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&PNPM, 1, file(lines(npmrc_line(), 12)));
}

#[test]
fn yarnrc_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&YARN, 4, file(yaml_file()));
}

#[test]
fn pip_conf_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&PIP, 1, file(pip_file()));
}

#[test]
fn uv_toml_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&UV, 2, file(toml_file()));
}

#[test]
fn cargo_config_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&CARGO, 2, file(toml_file()));
}

#[test]
fn cargo_credentials_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&CARGO_CREDENTIALS, 2, file(toml_file()));
}

#[test]
fn maven_settings_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&MAVEN, 4, file(xml_file()));
}

#[test]
fn gradle_init_script_edits_read_back_and_refuse_what_is_not_the_agents() {
    fuzz_format(&GRADLE_INIT, 1, init_file());
}

#[test]
fn gradle_properties_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&GRADLE_PROPERTIES, 1, file(lines(java_line(), 12)));
}

#[test]
fn gemrc_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&GEMRC, 4, file(yaml_file()));
}

#[test]
fn bundler_config_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&BUNDLER, 1, lf_file(lines(bundler_line(), 10)));
}

#[test]
fn go_env_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&GO, 1, lf_file(lines(go_line(), 10)));
}

#[test]
fn gitconfig_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&GIT, 1, file(git_file()));
}

#[test]
fn environment_d_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&ENVIRONMENT_D, 1, lf_file(lines(env_line(), 10)));
}

#[test]
fn shell_snippet_edits_read_back_and_keep_every_other_byte() {
    fuzz_format(&SHELL, 1, lf_file(lines(env_line(), 10)));
}

#[test]
fn no_text_and_no_bytes_make_an_editor_panic() {
    let text = prop_oneof![
        any::<String>(),
        // Editors take text: the engine refuses a file that is not UTF-8, and restores one
        // changed by hand as `from_utf8_lossy` reads it.
        vec(any::<u8>(), 0..256).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        re("(\\PC|[\r\n\t\u{feff}]){0,200}"),
    ];
    fuzz(1, (text, profile()), |(content, profile)| {
        let plan = plan_on(&profile, Os::Unix);
        for format in FORMATS {
            let editor = editor_of(format.target);
            let settings = &plan[&format.target];
            let readable = editor.unreadable(&content).is_none();
            for setting in settings {
                let _ = editor.current(&content, setting);
            }
            let _ = editor.render(&content, &set_all(settings));
            let _ = editor.render(&content, &unset_all(settings));
            let unchanged = editor.render(&content, &[]);
            if readable && (format.identity)(&content) {
                prop_assert_eq!(
                    unchanged.as_deref(),
                    Ok(content.as_str()),
                    "{:?}: an empty edit changed the file",
                    format.target
                );
            }
        }
        Ok(false)
    });
}

#[test]
fn every_profile_the_server_accepts_is_written_to_a_new_file_of_every_client() {
    let mut config = config(4);
    // Profiles the server refuses are skipped: at most four for every one tried.
    config.max_global_rejects = config.cases.saturating_mul(4);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&profile(), |profile| {
        prop_assume!(profile.validate().is_empty());
        let plan = plan_on(&profile, Os::Unix);
        for format in FORMATS {
            let editor = editor_of(format.target);
            let settings = &plan[&format.target];
            let written = editor.render("", &set_all(settings));
            prop_assert!(
                written.is_ok(),
                "{:?} refuses {:?}: {:?}",
                format.target,
                settings,
                written
            );
            let written = written.unwrap_or_default();
            for setting in settings {
                prop_assert_eq!(
                    editor.current(&written, setting),
                    Some(setting.values.clone()),
                    "{:?}: {} in {:?}",
                    format.target,
                    setting.key,
                    written
                );
            }
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
