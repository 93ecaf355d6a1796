//! pip's configuration (`pip.conf`, `pip.ini`): INI read by Python's `RawConfigParser` in strict
//! mode, where a duplicate key or section breaks every pip command, `-` and `_` in keys are the
//! same, keys are case-insensitive, and an indented line continues a value.

use super::flat::single_line;
use super::sectioned::{Edit, Section, SectionSyntax};
use super::FormatError;

/// The pip INI syntax.
#[derive(Debug, Clone, Copy)]
pub struct PipIni;

/// pip's own normal form of a key.
pub fn key_id(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('_', "-")
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
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with(['#', ';'])
}

impl SectionSyntax for PipIni {
    fn section_of(&self, line: &str) -> Option<String> {
        let line = line.trim_end();
        let name = line.strip_prefix('[')?.strip_suffix(']')?;
        Some(name.to_owned())
    }

    fn key_of(&self, line: &str) -> Option<String> {
        if line.starts_with(char::is_whitespace) || is_comment(line) {
            return None;
        }
        let end = line.find(['=', ':'])?;
        Some(key_id(&line[..end]))
    }

    fn continues(&self, line: &str) -> bool {
        line.starts_with(char::is_whitespace) && !line.trim().is_empty() && !is_comment(line)
    }

    fn values_of(&self, lines: &[&str]) -> Vec<String> {
        let mut values = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let text = match index {
                0 => line.find(['=', ':']).map_or("", |end| &line[end + 1..]),
                _ => line,
            };
            values.extend(text.split_whitespace().map(str::to_owned));
        }
        values
    }

    fn render(&self, key: &str, values: &[String]) -> Result<Vec<String>, FormatError> {
        if values.is_empty() {
            return Err(FormatError::unsafe_value(key, "has no value"));
        }
        for value in values {
            single_line(key, value)?;
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(FormatError::unsafe_value(
                    key,
                    "is empty or holds whitespace, which pip reads as two values",
                ));
            }
        }
        let mut lines = vec![format!("{key} = {}", values[0])];
        lines.extend(values[1..].iter().map(|value| format!("    {value}")));
        Ok(lines)
    }
}

/// Why pip itself cannot read `content`, if it cannot: its parser refuses a section or a key
/// given twice. Such a file is left alone rather than edited.
pub fn unreadable(content: &str) -> Option<String> {
    let mut sections = std::collections::BTreeSet::new();
    let mut keys = std::collections::BTreeSet::new();
    let mut section = None;
    for line in super::lines::Lines::parse(content).0 {
        if let Some(name) = PipIni.section_of(&line.text) {
            if !sections.insert(name.clone()) {
                return Some(format!("section [{name}] appears twice"));
            }
            keys.clear();
            section = Some(name);
        } else if let Some(key) = PipIni.key_of(&line.text) {
            if section.is_none() {
                return Some(format!("{key} comes before any [section]"));
            }
            if !keys.insert(key.clone()) {
                return Some(format!(
                    "{key} appears twice in [{}]",
                    section.as_deref().unwrap_or_default()
                ));
            }
        }
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
        assert!(unreadable("[global]\nindex-url = a\nindex_url = b\n").is_some());
        assert!(unreadable("[global]\n[global]\n").is_some());
        assert!(unreadable("timeout = 1\n").is_some());
    }

    #[test]
    fn values_that_would_split_or_break_lines_are_refused() {
        for bad in ["a b", "a\nb", ""] {
            assert!(apply(&PipIni, "", &[global("index-url", Some(vec![bad.into()]))]).is_err());
        }
    }
}
