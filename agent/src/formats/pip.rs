//! pip's configuration (`pip.conf`, `pip.ini`), read exactly as pip reads it: with Python's
//! `configparser.RawConfigParser` in its defaults (CPython `Lib/configparser.py`,
//! `RawConfigParser._read`), then pip's own naming (pip `src/pip/_internal/configuration.py`,
//! `_normalize_name`).
//!
//! - Lines end at LF, CRLF or a lone CR (Python's universal newlines).
//! - A line whose stripped text starts with `#` or `;` is a comment, wherever it stands, even
//!   inside a value: it is skipped without ending the value. There are no inline comments.
//! - A blank line inside a value belongs to it (`empty_lines_in_values`); trailing ones drop.
//! - A line indented deeper than the line of the key above continues its value; one indented
//!   as deep or less starts a key or a section. So an indented `[section]` can be a value.
//! - `[name]`: the stripped line starting with `[`, the name up to its last `]`.
//! - A key is the text before the first `=` or `:`, lower-cased by configparser; pip then
//!   reads `_` as `-` and drops a leading `--` (`index_url` is `index-url`).
//! - Strict mode: a section twice, or a key twice in one section (by configparser's name,
//!   so `index-url` and `index_url` are two keys, the later winning), a key before any
//!   section, or a line that is none of these, and pip refuses the whole file.
//! - A value is split at white space where pip takes a list (`extra-index-url`,
//!   `trusted-host`).

use std::collections::BTreeSet;

use super::flat::single_line;
use super::lines::{Breaks, Lines};
use super::sectioned::{Continues, Edit, Section, SectionSyntax};
use super::FormatError;

/// The pip INI syntax.
#[derive(Debug, Clone, Copy)]
pub struct PipIni;

/// Python's `str.isspace`: Unicode white space and the separators U+001C to U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn strip(line: &str) -> &str {
    line.trim_matches(py_space)
}

/// How deep a line is indented: the characters before its first non-space.
fn indent(line: &str) -> usize {
    line.chars().take_while(|c| py_space(*c)).count()
}

fn is_comment(line: &str) -> bool {
    strip(line).starts_with(['#', ';'])
}

/// configparser's name of a key (`optionxform`: lower case).
fn option_name(line: &str) -> Option<String> {
    let text = strip(line);
    let end = text.find(['=', ':'])?;
    let name = text[..end].trim_end_matches(py_space);
    (!name.is_empty()).then(|| name.to_lowercase())
}

/// pip's own normal form of a key, its other names folded into one: pip reads a key as the
/// long option of that name (`ConfigOptionParser._update_defaults`), and some options have
/// two (pip `cli/cmdoptions.py`: `--index-url` / `--pypi-url`, `--timeout` /
/// `--default-timeout`).
pub fn key_id(key: &str) -> String {
    let name = key.trim().to_lowercase().replace('_', "-");
    let name = name.strip_prefix("--").unwrap_or(&name);
    match name {
        "pypi-url" => "index-url",
        "default-timeout" => "timeout",
        other => other,
    }
    .to_owned()
}

/// A change to `[global]`.
pub fn global(key: &str, values: Option<Vec<String>>) -> Edit {
    Edit {
        section: Section {
            id: "global".into(),
            header: "[global]".into(),
        },
        key: key_id(key),
        name: key.to_owned(),
        values,
        only: None,
    }
}

impl SectionSyntax for PipIni {
    fn client(&self) -> &'static str {
        "pip"
    }

    fn breaks(&self) -> Breaks {
        Breaks::Universal
    }

    fn section_of(&self, line: &str) -> Option<String> {
        // configparser's `SECTCRE`, `\[(?P<header>.+)\]`, matched at the start of the
        // stripped line: the name runs to the last `]`.
        let text = strip(line).strip_prefix('[')?;
        let end = text.rfind(']').filter(|end| *end > 0)?;
        Some(text[..end].to_owned())
    }

    fn key_of(&self, line: &str) -> Option<String> {
        if is_comment(line) || self.section_of(line).is_some() {
            return None;
        }
        option_name(line).map(|name| key_id(&name))
    }

    fn continues(&self, value: &[&str], line: &str) -> Continues {
        if strip(line).is_empty() || is_comment(line) {
            return Continues::Maybe;
        }
        let key_indent = value.first().map_or(0, |first| indent(first));
        match indent(line) > key_indent {
            true => Continues::Yes,
            false => Continues::No,
        }
    }

    fn values_of(&self, lines: &[&str]) -> Vec<String> {
        let Some((first, rest)) = lines.split_first() else {
            return Vec::new();
        };
        let text = strip(first);
        let head = text
            .find(['=', ':'])
            .map_or("", |end| strip(&text[end + 1..]));
        std::iter::once(head)
            .chain(
                rest.iter()
                    .filter(|line| !is_comment(line))
                    .map(|l| strip(l)),
            )
            .flat_map(|part| part.split(py_space))
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn render(
        &self,
        key: &str,
        values: &[String],
        indent: &str,
    ) -> Result<Vec<String>, FormatError> {
        if values.is_empty() {
            return Err(FormatError::unsafe_value(key, "has no value"));
        }
        for value in values {
            single_line(key, value)?;
            if value.is_empty() || value.contains(py_space) || value.starts_with(['#', ';']) {
                return Err(FormatError::unsafe_value(
                    key,
                    "is empty, holds white space (pip reads two values) or starts like a comment",
                ));
            }
        }
        // Continuation lines deeper than the key's, so that they continue its value.
        let mut lines = vec![format!("{indent}{key} = {}", values[0])];
        lines.extend(
            values[1..]
                .iter()
                .map(|value| format!("{indent}    {value}")),
        );
        Ok(lines)
    }

    fn unreadable(&self, content: &str) -> Option<String> {
        unreadable(content)
    }
}

/// Why pip itself cannot read `content`, if it cannot: configparser refuses a section or a key
/// given twice, a key before any section, and a line that is neither. Such a file is left
/// alone rather than edited.
pub fn unreadable(content: &str) -> Option<String> {
    let mut sections = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut section: Option<String> = None;
    let lines = Lines::parse_with(content, Breaks::Universal);
    let mut value: Vec<&str> = Vec::new();
    for (number, line) in lines.0.iter().enumerate().map(|(i, l)| (i + 1, &l.text)) {
        if !value.is_empty() {
            match PipIni.continues(&value, line) {
                Continues::Yes | Continues::Maybe => {
                    value.push(line);
                    continue;
                }
                Continues::No => value.clear(),
            }
        }
        if strip(line).is_empty() || is_comment(line) {
            continue;
        }
        if let Some(name) = PipIni.section_of(line) {
            // configparser keeps `[DEFAULT]` apart and never counts it twice.
            if name != "DEFAULT" && !sections.insert(name.clone()) {
                return Some(format!("line {number}: section [{name}] appears twice"));
            }
            keys.clear();
            section = Some(name);
            continue;
        }
        let Some(current) = &section else {
            return Some(match line.starts_with('\u{feff}') {
                true => "it starts with a byte-order mark, which pip reads as text before the first [section]".to_owned(),
                false => format!("line {number}: a setting before any [section]"),
            });
        };
        let Some(name) = option_name(line) else {
            return Some(format!(
                "line {number} is neither a [section], a key = value line nor a comment"
            ));
        };
        if !keys.insert(name.clone()) {
            return Some(format!(
                "line {number}: {name} appears twice in [{current}]"
            ));
        }
        value.push(line);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::sectioned::{apply, get};
    use super::*;

    #[test]
    fn a_key_is_replaced_where_it_is_in_any_spelling_and_lists_continue() {
        let user = "# mine\n[global]\ntimeout = 60\nIndex_URL = https://old/simple\n\n[install]\nuser = true\n";
        let changed = apply(
            &PipIni,
            user,
            &[
                global(
                    "index-url",
                    Some(vec!["https://pypi.corp.example/simple".into()]),
                ),
                global(
                    "extra-index-url",
                    Some(vec![
                        "https://a.example/simple".into(),
                        "https://b.example/simple".into(),
                    ]),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            changed,
            "# mine\n[global]\ntimeout = 60\nindex-url = https://pypi.corp.example/simple\nextra-index-url = https://a.example/simple\n    https://b.example/simple\n\n[install]\nuser = true\n"
        );
        assert_eq!(
            get(&PipIni, &changed, "global", "extra-index-url"),
            Some(vec![
                "https://a.example/simple".into(),
                "https://b.example/simple".into()
            ])
        );
        let removed = apply(&PipIni, &changed, &[global("extra-index-url", None)]).unwrap();
        assert!(!removed.contains("a.example"));
        assert!(removed.contains("[install]\nuser = true"));
    }

    #[test]
    fn comment_and_blank_lines_inside_a_value_do_not_end_it() {
        // The published case: a comment line, then a host that is still trusted.
        let user = "[global]\ntrusted-host = a.corp.example\n  # legacy mirror\n  old.corp.example\nextra-index-url = https://a/simple\n\n    https://old/simple\ntimeout: 60\n";
        assert_eq!(
            get(&PipIni, user, "global", "trusted-host"),
            Some(vec!["a.corp.example".into(), "old.corp.example".into()])
        );
        assert_eq!(
            get(&PipIni, user, "global", "extra-index-url"),
            Some(vec!["https://a/simple".into(), "https://old/simple".into()])
        );
        let changed = apply(
            &PipIni,
            user,
            &[
                global("trusted-host", Some(vec!["new.corp.example".into()])),
                global("extra-index-url", Some(vec!["https://new/simple".into()])),
            ],
        )
        .unwrap();
        assert_eq!(
            changed,
            "[global]\ntrusted-host = new.corp.example\nextra-index-url = https://new/simple\ntimeout: 60\n"
        );
    }

    #[test]
    fn an_indented_key_keeps_its_indent_so_the_next_key_stays_a_key() {
        let user = "[global]\n  index-url = https://old/simple\n  timeout = 60\n";
        let changed = apply(
            &PipIni,
            user,
            &[global("index-url", Some(vec!["https://new/simple".into()]))],
        )
        .unwrap();
        assert_eq!(
            get(&PipIni, &changed, "global", "timeout"),
            Some(vec!["60".into()])
        );
        assert_eq!(
            get(&PipIni, &changed, "global", "index-url"),
            Some(vec!["https://new/simple".into()])
        );
        // An indented section header deeper than a key is part of its value.
        let deep = "[global]\nindex-url = https://a/\n    [install]\n";
        assert_eq!(
            get(&PipIni, deep, "global", "index-url"),
            Some(vec!["https://a/".into(), "[install]".into()])
        );
    }

    #[test]
    fn a_missing_global_section_is_added_at_the_end() {
        let changed = apply(
            &PipIni,
            "[install]\nuser = true",
            &[global("timeout", Some(vec!["30".into()]))],
        )
        .unwrap();
        assert_eq!(
            changed,
            "[install]\nuser = true\n\n[global]\ntimeout = 30\n"
        );
        assert_eq!(
            apply(&PipIni, "", &[global("timeout", Some(vec!["30".into()]))]).unwrap(),
            "[global]\ntimeout = 30\n"
        );
    }

    #[test]
    fn a_file_pip_itself_refuses_is_named() {
        assert_eq!(unreadable("[global]\ntimeout = 1\n"), None);
        // Two spellings are two keys to configparser: pip reads the later.
        assert_eq!(unreadable("[global]\nindex-url = a\nindex_url = b\n"), None);
        assert!(unreadable("[global]\nIndex-URL = a\nindex-url = b\n").is_some());
        assert!(unreadable("[global]\n[global]\n").is_some());
        assert!(unreadable("timeout = 1\n").is_some());
        assert!(unreadable("\u{feff}[global]\ntimeout = 1\n").is_some());
        assert!(unreadable("[global]\njust words\n").is_some());
        assert_eq!(unreadable("[global]\nx = 1\n  y = 2\n  x = 3\n"), None);
    }

    #[test]
    fn values_that_would_split_or_break_lines_are_refused() {
        for bad in ["a b", "a\nb", "", "#x"] {
            assert!(apply(&PipIni, "", &[global("index-url", Some(vec![bad.into()]))]).is_err());
        }
    }
}
