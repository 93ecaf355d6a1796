//! `.npmrc`: `key=value` lines, `;` and `#` comments. npm ignores keys after a `[section]`
//! line, expands `${VAR}`, and reads an unquoted `;` or `#` as the start of a comment.

use super::flat::{single_line, FlatSyntax};
use super::lines::Lines;
use super::FormatError;

/// The `.npmrc` syntax.
#[derive(Debug, Clone, Copy)]
pub struct Npmrc;

impl FlatSyntax for Npmrc {
    fn key_of<'a>(&self, line: &'a str) -> Option<&'a str> {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with([';', '#', '[']) {
            return None;
        }
        let (key, _) = line.split_once('=')?;
        Some(key.trim())
    }

    fn value_of(&self, line: &str) -> Option<String> {
        let (_, value) = line.split_once('=')?;
        Some(value.trim().to_owned())
    }

    fn line(&self, key: &str, value: &str) -> Result<String, FormatError> {
        single_line(key, value)?;
        if value.contains([';', '#']) {
            return Err(FormatError::unsafe_value(
                key,
                "contains ';' or '#', which npm reads as the start of a comment",
            ));
        }
        if value.contains("${") {
            return Err(FormatError::unsafe_value(
                key,
                "contains '${', which npm expands as an environment variable",
            ));
        }
        if value.trim() != value || value.is_empty() {
            return Err(FormatError::unsafe_value(
                key,
                "is empty or has outer spaces",
            ));
        }
        Ok(format!("{key}={value}"))
    }

    fn insert_at(&self, lines: &Lines) -> usize {
        // npm stops reading keys at the first section: new keys go before it.
        lines
            .0
            .iter()
            .position(|line| self.ends_keys(&line.text))
            .unwrap_or(lines.0.len())
    }

    fn ends_keys(&self, line: &str) -> bool {
        line.trim_start().starts_with('[')
    }
}

#[cfg(test)]
mod tests {
    use super::super::flat::{apply, get};
    use super::*;

    fn set(content: &str, key: &str, value: Option<&str>) -> String {
        apply(
            &Npmrc,
            content,
            &[(key.to_owned(), value.map(str::to_owned))],
        )
        .unwrap()
    }

    #[test]
    fn keys_change_in_place_and_new_ones_go_before_any_section() {
        let user =
            "; my settings\r\nregistry = https://old/\r\nsave-exact=true\r\n[weird]\r\nx=1\r\n";
        let changed = set(user, "registry", Some("https://npm.corp.example/"));
        assert_eq!(
            changed,
            "; my settings\r\nregistry=https://npm.corp.example/\r\nsave-exact=true\r\n[weird]\r\nx=1\r\n"
        );
        let added = set(
            &changed,
            "@corp:registry",
            Some("https://npm.corp.example/corp/"),
        );
        assert_eq!(
            added,
            "; my settings\r\nregistry=https://npm.corp.example/\r\nsave-exact=true\r\n@corp:registry=https://npm.corp.example/corp/\r\n[weird]\r\nx=1\r\n"
        );
        assert_eq!(
            get(&Npmrc, &added, "@corp:registry").as_deref(),
            Some("https://npm.corp.example/corp/")
        );
        assert_eq!(
            get(&Npmrc, &added, "x"),
            None,
            "keys after a section are not read"
        );
        assert_eq!(set(&added, "@corp:registry", None), changed);
    }

    #[test]
    fn values_that_would_change_meaning_are_refused() {
        for bad in [
            "https://r/\nalways-auth=true",
            "https://r/#x",
            "a;b",
            "${HOME}",
            "",
        ] {
            assert!(
                apply(&Npmrc, "", &[("registry".into(), Some(bad.into()))]).is_err(),
                "{bad:?}"
            );
        }
    }
}
