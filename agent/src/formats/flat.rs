//! Files of `KEY=value` lines: `.npmrc`, Go's env file, systemd's `environment.d` and the POSIX
//! shell snippet. The editor changes only the lines of the keys it is given and leaves every
//! other byte as it was.

use super::lines::{Breaks, Lines};
use super::FormatError;

/// What a format's lines look like.
pub trait FlatSyntax {
    /// What ends a line for the client.
    fn breaks(&self) -> Breaks {
        Breaks::Lf
    }
    /// The key a line sets, as the client names it, if it sets one that the client reads.
    fn key_of(&self, line: &str) -> Option<String>;
    /// The value a line sets.
    fn value_of(&self, line: &str) -> Option<String>;
    /// The line that sets `key` to `value`, or why `value` cannot be written safely.
    fn line(&self, key: &str, value: &str) -> Result<String, FormatError>;
    /// Where a new key goes: the client must read it there.
    fn insert_at(&self, lines: &Lines) -> usize {
        lines.0.len()
    }
    /// Whether the client still reads keys at `line` (npm stops at the first `[section]`).
    fn ends_keys(&self, _line: &str) -> bool {
        false
    }
    /// The ending of lines this editor writes, when the format dictates one.
    fn forced_ending(&self) -> Option<&'static str> {
        None
    }
}

/// The lines that set keys the client reads, with their keys.
fn keyed_lines<S: FlatSyntax>(syntax: &S, lines: &Lines) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in lines.0.iter().enumerate() {
        if syntax.ends_keys(&line.text) {
            break;
        }
        if let Some(key) = syntax.key_of(&line.text) {
            found.push((index, key));
        }
    }
    found
}

/// The value the client reads for `key` (the last one, as every flat format does).
pub fn get<S: FlatSyntax>(syntax: &S, content: &str, key: &str) -> Option<String> {
    let lines = Lines::parse_with(content, syntax.breaks());
    keyed_lines(syntax, &lines)
        .iter()
        .rfind(|(_, found)| *found == key)
        .and_then(|(index, _)| syntax.value_of(&lines.0[*index].text))
}

/// `content` with each key of `edits` set to its value (`None`: every line of it removed).
/// A key set already keeps its line's place; a new one goes where the client reads it.
pub fn apply<S: FlatSyntax>(
    syntax: &S,
    content: &str,
    edits: &[(String, Option<String>)],
) -> Result<String, FormatError> {
    let mut lines = Lines::parse_with(content, syntax.breaks());
    for (key, value) in edits {
        let positions: Vec<usize> = keyed_lines(syntax, &lines)
            .into_iter()
            .filter(|(_, found)| found == key)
            .map(|(index, _)| index)
            .collect();
        match value {
            Some(value) => {
                let text = syntax.line(key, value)?;
                // Earlier duplicates are read over by the last one; they stay as they are.
                match positions.last() {
                    Some(&last) => {
                        lines.0[last].text = text;
                        if let Some(ending) = syntax.forced_ending() {
                            lines.0[last].ending = ending;
                        }
                    }
                    None => {
                        let mut line = lines.new_line(text);
                        let at = syntax.insert_at(&lines);
                        if let Some(ending) = syntax.forced_ending() {
                            line.ending = ending;
                            // A last line without an ending gets the client's, not the file's:
                            // a CR would end up in the user's value (Go keeps it).
                            if let Some(before) = at.checked_sub(1).and_then(|i| lines.0.get_mut(i))
                            {
                                if before.ending.is_empty() {
                                    before.ending = ending;
                                }
                            }
                        }
                        lines.insert(at, line);
                    }
                }
            }
            None => {
                for index in positions.into_iter().rev() {
                    lines.0.remove(index);
                }
            }
        }
    }
    Ok(lines.render())
}

/// Refuses what would end a line or start another key in any line-based format.
pub fn single_line(key: &str, value: &str) -> Result<(), FormatError> {
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(FormatError::unsafe_value(
            key,
            format!("contains the control character {bad:?}"),
        ));
    }
    Ok(())
}
