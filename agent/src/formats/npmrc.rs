//! `.npmrc`, read exactly as npm reads it: with the `ini` package's `decode` (npm 11 bundles
//! ini 6, `lib/ini.js`) and then @npmcli/config (`lib/index.js`, `#loadObject`).
//!
//! - Lines are split on runs of CR and LF (`/[\r\n]+/`), so a lone CR ends a line too.
//! - A line that is blank, or whose first non-space character is `;` or `#`, is a comment.
//! - `[name]` (the whole line, trailing spaces allowed) opens a section; npm ignores every
//!   key after the first one, since they land in a nested object it does not read.
//! - Otherwise `key=value`, split at the first `=`. Key and value each go through `unsafe`:
//!   trimmed of JavaScript's white space (which includes a BOM); a value wholly in `"` is JSON;
//!   otherwise `;` or `#` ends it unless escaped with a backslash. A line without `=` sets
//!   `true`. The last line of a key wins. `key[]` lines build a list.
//! - npm then replaces `${NAME}` with an environment variable (`lib/env-replace.js`), so the
//!   agent never writes `${`.

use super::flat::{single_line, FlatSyntax};
use super::lines::{Breaks, Lines};
use super::FormatError;

/// The `.npmrc` syntax.
#[derive(Debug, Clone, Copy)]
pub struct Npmrc;

/// JavaScript's `\s` and `String.prototype.trim`: white space and line terminators, with the
/// BOM (U+FEFF) and without U+0085.
fn js_space(c: char) -> bool {
    matches!(c, '\u{feff}' | '\u{a0}') || (c != '\u{85}' && c.is_whitespace())
}

/// ini's `unsafe`: the text a key or value stands for.
pub fn unquote(raw: &str) -> String {
    let text = raw.trim_matches(js_space);
    let quoted = |q: char| text.len() >= 2 && text.starts_with(q) && text.ends_with(q);
    if quoted('"') || quoted('\'') {
        let inner = match text.starts_with('\'') {
            true => &text[1..text.len() - 1],
            false => text,
        };
        // JSON.parse, or the text as it is when that fails.
        return match serde_json::from_str::<serde_json::Value>(inner) {
            Ok(serde_json::Value::String(parsed)) => parsed,
            Ok(other) => other.to_string(),
            Err(_) => inner.to_owned(),
        };
    }
    let mut out = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            if !matches!(c, '\\' | ';' | '#') {
                out.push('\\');
            }
            out.push(c);
            escaped = false;
        } else if matches!(c, ';' | '#') {
            break;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    if escaped {
        out.push('\\');
    }
    out.trim_matches(js_space).to_owned()
}

/// Whether npm skips the line as a comment or blank.
fn is_comment(line: &str) -> bool {
    let rest = line.trim_start_matches(js_space);
    rest.is_empty() || rest.starts_with([';', '#'])
}

/// Whether the line opens a section: `^\[([^\]]*)\]\s*$`.
fn is_section(line: &str) -> bool {
    line.trim_end_matches(js_space)
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|name| !name.contains(']'))
}

/// Whether `value` reads back as itself when written bare.
fn reads_back_bare(value: &str) -> bool {
    !value.contains([';', '#', '\\', '"', '\''])
        && value.trim_matches(js_space) == value
        && !matches!(value, "true" | "false" | "null")
}

impl FlatSyntax for Npmrc {
    fn breaks(&self) -> Breaks {
        Breaks::Universal
    }

    fn key_of(&self, line: &str) -> Option<String> {
        if is_comment(line) || is_section(line) {
            return None;
        }
        let raw = line.split_once('=').map_or(line, |(key, _)| key);
        let key = unquote(raw);
        let key = key
            .strip_suffix("[]")
            .filter(|_| key.len() > 2)
            .unwrap_or(&key);
        (!key.is_empty() && key != "__proto__").then(|| key.to_owned())
    }

    fn value_of(&self, line: &str) -> Option<String> {
        match line.split_once('=') {
            Some((_, value)) => Some(unquote(value)),
            None => Some("true".into()),
        }
    }

    fn line(&self, key: &str, value: &str) -> Result<String, FormatError> {
        single_line(key, value)?;
        if value.contains("${") {
            return Err(FormatError::unsafe_value(
                key,
                "contains '${', which npm replaces with an environment variable",
            ));
        }
        if value.is_empty() {
            return Err(FormatError::unsafe_value(key, "is empty"));
        }
        if reads_back_bare(value) {
            return Ok(format!("{key}={value}"));
        }
        // A value wholly in double quotes is read as JSON: `;`, `#`, quotes and backslashes
        // reach npm as they are.
        let quoted = serde_json::to_string(value)
            .map_err(|error| FormatError::unsafe_value(key, error.to_string()))?;
        Ok(format!("{key}={quoted}"))
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
        is_section(line)
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
    fn lines_are_read_as_ini_reads_them() {
        // A BOM, quotes, escapes, inline comments, a lone CR, a bare key.
        let user = "\u{feff}registry = https://a/ ; old\r\"@corp:registry\"=\"https://b/#x\"\nsave-exact\n  ; note\ntag='beta'\nmessage=a\\;b\n";
        assert_eq!(get(&Npmrc, user, "registry").as_deref(), Some("https://a/"));
        assert_eq!(
            get(&Npmrc, user, "@corp:registry").as_deref(),
            Some("https://b/#x")
        );
        assert_eq!(get(&Npmrc, user, "save-exact").as_deref(), Some("true"));
        assert_eq!(get(&Npmrc, user, "tag").as_deref(), Some("beta"));
        assert_eq!(get(&Npmrc, user, "message").as_deref(), Some("a;b"));
        // A line that only looks like a section is a key npm reads as `true`.
        assert_eq!(get(&Npmrc, "[x] y\nz=1\n", "z").as_deref(), Some("1"));
    }

    #[test]
    fn values_with_comment_characters_are_written_quoted_so_npm_reads_them_whole() {
        for value in ["t0k#en", "a;b", "it's", "back\\slash", "\"q\""] {
            let written = set("", "//r.example/:_authToken", Some(value));
            assert!(
                written.starts_with("//r.example/:_authToken=\""),
                "{written}"
            );
            assert_eq!(
                get(&Npmrc, &written, "//r.example/:_authToken").as_deref(),
                Some(value)
            );
        }
    }

    #[test]
    fn values_that_would_change_meaning_are_refused() {
        for bad in ["https://r/\nalways-auth=true", "${HOME}", ""] {
            assert!(
                apply(&Npmrc, "", &[("registry".into(), Some(bad.into()))]).is_err(),
                "{bad:?}"
            );
        }
    }
}
