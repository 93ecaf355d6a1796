//! Environment variables on Linux, where there is no registry: a systemd `environment.d` file
//! (read by user sessions) and a POSIX shell snippet that login shells source. Both files are
//! the agent's own; the only line it adds to a file of the user's is the one that sources the
//! snippet from their profile.

use super::flat::{single_line, FlatSyntax};
use super::FormatError;

/// `~/.config/environment.d/*.conf`: `KEY=value` lines, read by systemd's environment.d
/// generator (environment.d(5); systemd `src/basic/env-file.c`): a value in double quotes
/// keeps everything but its escapes (`\\`, `\"`, `` \` ``), and `$NAME` is expanded after,
/// with no escape for a literal `$`: values with `$` are refused (the server refuses them at
/// publish).
#[derive(Debug, Clone, Copy)]
pub struct EnvironmentD;

fn variable_name(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| key.to_owned())
}

/// Whether a value reads back as itself unquoted in an environment.d file.
fn bare(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-*".contains(c))
}

/// A value as systemd reads it: double-quoted with backslash escapes, single-quoted as it is,
/// or bare.
pub fn unquote_systemd(text: &str) -> String {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        return out;
    }
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return inner.to_owned();
    }
    text.to_owned()
}

impl FlatSyntax for EnvironmentD {
    fn key_of(&self, line: &str) -> Option<String> {
        variable_name(line)
    }

    fn value_of(&self, line: &str) -> Option<String> {
        line.split_once('=')
            .map(|(_, value)| unquote_systemd(value))
    }

    fn line(&self, key: &str, value: &str) -> Result<String, FormatError> {
        single_line(key, value)?;
        if value.contains('$') {
            return Err(FormatError::unsafe_value(
                key,
                "holds '$', which systemd would expand (there is no escape for it)",
            ));
        }
        if bare(value) {
            return Ok(format!("{key}={value}"));
        }
        let mut quoted = String::from("\"");
        for c in value.chars() {
            if matches!(c, '\\' | '"' | '`') {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        Ok(format!("{key}={quoted}"))
    }

    fn forced_ending(&self) -> Option<&'static str> {
        Some("\n")
    }
}

/// The shell snippet: `export KEY='value'` lines; a `'` in a value is written `'\''` (close,
/// an escaped quote, open again), so the shell expands nothing.
#[derive(Debug, Clone, Copy)]
pub struct ShellExports;

impl FlatSyntax for ShellExports {
    fn key_of(&self, line: &str) -> Option<String> {
        variable_name(line.strip_prefix("export ")?)
    }

    fn value_of(&self, line: &str) -> Option<String> {
        let (_, value) = line.split_once('=')?;
        let inner = value.strip_prefix('\'')?.strip_suffix('\'')?;
        Some(inner.replace("'\\''", "'"))
    }

    fn line(&self, key: &str, value: &str) -> Result<String, FormatError> {
        single_line(key, value)?;
        // Single quotes: the shell expands nothing inside them.
        Ok(format!("export {key}='{}'", value.replace('\'', "'\\''")))
    }

    fn forced_ending(&self) -> Option<&'static str> {
        Some("\n")
    }
}

/// The line that sources the snippet at `snippet` from a user's profile; it tests for the
/// file, so removing the snippet never breaks a login.
pub fn source_line(snippet: &str) -> Result<String, FormatError> {
    if snippet.contains(['"', '\\', '$', '`']) || snippet.chars().any(char::is_control) {
        return Err(FormatError::unsafe_value(
            "profile",
            "the snippet's path holds characters a shell would interpret",
        ));
    }
    Ok(format!(
        "[ -f \"{snippet}\" ] && . \"{snippet}\"  # added by switchyard-agent"
    ))
}

/// The profile with `line` added at its end, unless it is there already.
pub fn with_line(content: &str, line: &str) -> String {
    let mut lines = super::lines::Lines::parse(content);
    if lines.0.iter().any(|existing| existing.text == line) {
        return content.to_owned();
    }
    // A last line ending in a backslash continues onto the next: an empty line ends it, so
    // that the added line is a command of its own.
    let continued = lines
        .0
        .last()
        .is_some_and(|last| (last.text.len() - last.text.trim_end_matches('\\').len()) % 2 == 1);
    if continued {
        let gap = lines.new_line(String::new());
        let end = lines.0.len();
        lines.insert(end, gap);
    }
    let new = lines.new_line(line.to_owned());
    let end = lines.0.len();
    lines.insert(end, new);
    lines.render()
}

/// The profile without `line`.
pub fn without_line(content: &str, line: &str) -> String {
    let mut lines = super::lines::Lines::parse(content);
    lines.0.retain(|existing| existing.text != line);
    lines.render()
}

#[cfg(test)]
mod tests {
    use super::super::flat::{apply, get};
    use super::*;

    #[test]
    fn variables_are_written_so_that_nothing_in_them_is_expanded() {
        let edits = [
            (
                "HTTPS_PROXY".to_owned(),
                Some("http://proxy.corp:3128".to_owned()),
            ),
            (
                "NO_PROXY".to_owned(),
                Some("localhost,.corp.example".to_owned()),
            ),
        ];
        let env_d = apply(&EnvironmentD, "", &edits).unwrap();
        assert_eq!(
            env_d,
            "HTTPS_PROXY=http://proxy.corp:3128\nNO_PROXY=localhost,.corp.example\n"
        );
        let shell = apply(&ShellExports, "", &edits).unwrap();
        assert_eq!(
            get(&ShellExports, &shell, "NO_PROXY").as_deref(),
            Some("localhost,.corp.example")
        );
        assert!(apply(&EnvironmentD, "", &[("A".into(), Some("$HOME".into()))]).is_err());
        // Quotes, backslashes and backticks are written so that each reads back as it is.
        for value in ["it's", "C:\\dir", "say \"hi\"", "`id`", "a b;c"] {
            let env_d = apply(&EnvironmentD, "", &[("A".into(), Some(value.into()))]).unwrap();
            assert_eq!(
                get(&EnvironmentD, &env_d, "A").as_deref(),
                Some(value),
                "{env_d}"
            );
            let shell = apply(&ShellExports, "", &[("A".into(), Some(value.into()))]).unwrap();
            assert_eq!(
                get(&ShellExports, &shell, "A").as_deref(),
                Some(value),
                "{shell}"
            );
        }
    }

    #[test]
    fn the_profile_gains_one_line_and_loses_it_again() {
        let profile = "# ~/.profile\nPATH=\"$HOME/bin:$PATH\"";
        let line = source_line("/home/ada/.config/switchyard/env.sh").unwrap();
        let with = with_line(profile, &line);
        assert_eq!(with_line(&with, &line), with);
        assert!(with.starts_with("# ~/.profile\nPATH=\"$HOME/bin:$PATH\"\n[ -f "));
        // The ending the profile's last line gained stays: a line ending is harmless.
        assert_eq!(without_line(&with, &line), format!("{profile}\n"));
        // After a line that a backslash continues, an empty line first ends it.
        let continued = with_line("export FOO=1 \\", &line);
        assert_eq!(continued, format!("export FOO=1 \\\n\n{line}\n"));
    }
}
