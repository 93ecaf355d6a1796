//! git configuration (`~/.gitconfig`): `[section "subsection"]` headers (subsections are
//! case-sensitive, names and keys are not), `key = value` lines, `;` and `#` comments.
//! Switchyard writes `url "<base>".insteadOf` / `pushInsteadOf` and `http.proxy`; it never
//! writes a value with quotes, backslashes or comment characters.

use super::flat::single_line;
use super::sectioned::{Edit, Section, SectionSyntax};
use super::FormatError;

/// The git config syntax.
#[derive(Debug, Clone, Copy)]
pub struct GitConfig;

/// The section `[url "<base>"]`.
pub fn url_section(base: &str) -> Result<Section, FormatError> {
    if base.contains(['"', '\\']) || base.chars().any(char::is_control) {
        return Err(FormatError::unsafe_value(
            "url",
            "holds a quote, backslash or control character",
        ));
    }
    Ok(Section {
        id: format!("url\0{base}"),
        header: format!("[url \"{base}\"]"),
    })
}

/// The section `[http]`.
pub fn http_section() -> Section {
    Section {
        id: "http".into(),
        header: "[http]".into(),
    }
}

/// A change of `key` in `section`.
pub fn edit(section: Section, key: &str, values: Option<Vec<String>>) -> Edit {
    Edit {
        section,
        key: key.to_ascii_lowercase(),
        name: key.to_owned(),
        values,
    }
}

impl SectionSyntax for GitConfig {
    fn section_of(&self, line: &str) -> Option<String> {
        let inner = line.trim().strip_prefix('[')?;
        let inner = inner[..inner.rfind(']')?].trim();
        match inner.split_once(char::is_whitespace) {
            Some((name, sub)) => {
                let sub = sub.trim().strip_prefix('"')?.strip_suffix('"')?;
                Some(format!(
                    "{}\0{}",
                    name.to_ascii_lowercase(),
                    sub.replace("\\\"", "\"").replace("\\\\", "\\")
                ))
            }
            None => Some(inner.to_ascii_lowercase()),
        }
    }

    fn key_of(&self, line: &str) -> Option<String> {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with(['#', ';', '[']) {
            return None;
        }
        let end = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let key = &line[..end];
        let valid = key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        valid.then(|| key.to_ascii_lowercase())
    }

    fn values_of(&self, lines: &[&str]) -> Vec<String> {
        lines
            .first()
            .and_then(|line| line.split_once('='))
            .map(|(_, value)| {
                // Our own values hold no quotes or comment characters; a user's are read
                // roughly, for reporting only.
                let value = value.split([';', '#']).next().unwrap_or_default();
                vec![value.trim().trim_matches('"').to_owned()]
            })
            .unwrap_or_default()
    }

    fn render(&self, key: &str, values: &[String]) -> Result<Vec<String>, FormatError> {
        values
            .iter()
            .map(|value| {
                single_line(key, value)?;
                if value.is_empty()
                    || value.contains(['"', '\\', ';', '#'])
                    || value.trim() != value
                {
                    return Err(FormatError::unsafe_value(
                        key,
                        "is empty, has outer spaces, or holds quotes, backslashes, ';' or '#'",
                    ));
                }
                Ok(format!("\t{key} = {value}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::sectioned::{apply, get_all};
    use super::*;

    #[test]
    fn rewrites_live_in_their_own_url_section_beside_the_users() {
        let user = "[user]\n\tname = Ada\n[url \"https://mirror.corp/github/\"]\n\tinsteadOf = git@github.com:\n";
        let section = url_section("https://mirror.corp/github/").unwrap();
        let changed = apply(
            &GitConfig,
            user,
            &[edit(
                section.clone(),
                "insteadOf",
                Some(vec!["https://github.com/".into(), "git@github.com:".into()]),
            )],
        )
        .unwrap();
        assert_eq!(
            changed,
            "[user]\n\tname = Ada\n[url \"https://mirror.corp/github/\"]\n\tinsteadOf = https://github.com/\n\tinsteadOf = git@github.com:\n"
        );
        assert_eq!(
            get_all(&GitConfig, &changed, &section.id, "insteadof"),
            ["https://github.com/", "git@github.com:"]
        );
        let proxy = apply(
            &GitConfig,
            &changed,
            &[edit(
                http_section(),
                "proxy",
                Some(vec!["http://proxy.corp:3128".into()]),
            )],
        )
        .unwrap();
        assert!(
            proxy.ends_with("\n\n[http]\n\tproxy = http://proxy.corp:3128\n"),
            "{proxy}"
        );
    }
}
