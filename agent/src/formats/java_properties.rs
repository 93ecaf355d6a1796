//! Java `.properties` files (Gradle's `gradle.properties`), read as `java.util.Properties.load`
//! reads them (its Javadoc is the rule): lines end at LF, CR or CRLF; a line whose first
//! non-blank character is `#` or `!` is a comment; a line ending in an odd number of `\`
//! goes on on the next, whose leading blanks are dropped; the key runs to the first unescaped
//! `=`, `:` or blank, then blanks, one `=` or `:`, and blanks are skipped; `\t`, `\n`, `\r`,
//! `\f` and `\uXXXX` are escapes, any other `\x` is `x`; the last occurrence of a key counts.
//! The file is read as ISO-8859-1, so the agent writes any other character as `\uXXXX`.
//!
//! The editor changes only the lines of the keys it is given: a key set already keeps the
//! place of its last occurrence (all of its continuation lines replaced by one line), a new
//! one goes at the end; removing a key removes every line of each of its occurrences.

use super::lines::{Breaks, Line, Lines};
use super::{Editor, FormatError};
use crate::plan::Setting;

/// One key as the file sets it: which physical lines, and what it reads.
#[derive(Debug)]
struct Entry {
    key: String,
    value: String,
    /// The first and the last physical line.
    lines: (usize, usize),
}

fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Whether `text` ends in an odd number of backslashes: the logical line goes on.
fn continues(text: &str) -> bool {
    text.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// `text` with its escapes read; `\uXXXX` are UTF-16 units, a pair of them one character.
fn unescape(text: &str) -> String {
    let mut units: Vec<u16> = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    let push = |units: &mut Vec<u16>, c: char| {
        let mut buffer = [0_u16; 2];
        units.extend_from_slice(c.encode_utf16(&mut buffer));
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            push(&mut units, c);
            continue;
        }
        match chars.next() {
            Some('t') => push(&mut units, '\t'),
            Some('n') => push(&mut units, '\n'),
            Some('r') => push(&mut units, '\r'),
            Some('f') => push(&mut units, '\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                // Java refuses such a file ("Malformed \\uxxxx encoding").
                match u16::from_str_radix(&hex, 16) {
                    Ok(unit) if hex.len() == 4 => units.push(unit),
                    _ => push(&mut units, '\u{fffd}'),
                }
            }
            Some(other) => push(&mut units, other),
            None => {}
        }
    }
    String::from_utf16_lossy(&units)
}

/// The key and the raw value of one logical line.
fn split(logical: &str) -> (String, String) {
    let mut escaped = false;
    let mut end = logical.len();
    for (at, c) in logical.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || blank(c) {
            end = at;
            break;
        }
    }
    let key = &logical[..end];
    let mut rest = logical[end..].trim_start_matches(blank);
    if let Some(after) = rest.strip_prefix(['=', ':']) {
        rest = after.trim_start_matches(blank);
    }
    (unescape(key), unescape(rest))
}

/// Every key `lines` sets, in order.
fn entries(lines: &Lines) -> Vec<Entry> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.0.len() {
        let first = index;
        let text = lines.0[index].text.trim_start_matches(blank);
        index += 1;
        if text.is_empty() || text.starts_with(['#', '!']) {
            continue;
        }
        let mut logical = text.to_owned();
        while continues(&logical) && index < lines.0.len() {
            logical.pop();
            logical.push_str(lines.0[index].text.trim_start_matches(blank));
            index += 1;
        }
        if continues(&logical) {
            logical.pop();
        }
        let (key, value) = split(&logical);
        found.push(Entry {
            key,
            value,
            lines: (first, index - 1),
        });
    }
    found
}

/// `text` escaped so that `Properties.load` reads it back as it is: `\`, line breaks and
/// tabs escaped, a leading blank (dropped otherwise) and, in a key, `=`, `:`, blanks, `#`
/// and `!` escaped, every character beyond ASCII as `\uXXXX` (UTF-16 units).
fn escape(text: &str, key: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for (at, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            ' ' if key || at == 0 => out.push_str("\\ "),
            '=' | ':' | '#' | '!' if key => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// The Java properties format as an [`Editor`]: a setting's key is the property's.
#[derive(Debug)]
pub struct JavaProperties;

impl Editor for JavaProperties {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let mut lines = Lines::parse_with(content, Breaks::Universal);
        for (setting, values) in changes {
            let key = &setting.key;
            let mut found: Vec<(usize, usize)> = entries(&lines)
                .into_iter()
                .filter(|entry| entry.key == *key)
                .map(|entry| entry.lines)
                .collect();
            match values {
                Some(values) => {
                    let [value] = values.as_slice() else {
                        return Err(FormatError::unsafe_value(key, "takes one value"));
                    };
                    let text = format!("{}={}", escape(key, true), escape(value, false));
                    match found.pop() {
                        // Earlier occurrences are read over by the last; they stay.
                        Some((first, last)) => {
                            let ending = lines.0[last].ending;
                            let line = lines.new_line(text);
                            lines.0.splice(first..=last, [line]);
                            lines.0[first].ending = ending;
                        }
                        None => {
                            // A last line that goes on would take the new one in: a blank line
                            // ends it. The blank line ends as that line does, where it does:
                            // after a lone CR, an LF would make one CRLF break with it, and the
                            // new line would go on the user's after all.
                            if let Some(last) = lines.0.last().filter(|l| continues(&l.text)) {
                                let blank = Line {
                                    text: String::new(),
                                    ending: last.ending,
                                };
                                lines.insert(lines.0.len(), blank);
                            }
                            let line = lines.new_line(text);
                            lines.insert(lines.0.len(), line);
                        }
                    }
                }
                None => {
                    for (first, last) in found.into_iter().rev() {
                        lines.0.drain(first..=last);
                    }
                }
            }
        }
        Ok(lines.render())
    }

    fn written(&self, value: &str) -> String {
        escape(value, false)
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        let lines = Lines::parse_with(content, Breaks::Universal);
        entries(&lines)
            .into_iter()
            .rfind(|entry| entry.key == setting.key)
            .map(|entry| vec![entry.value])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str, value: &str) -> Setting {
        crate::clients::setting(key, value)
    }

    #[test]
    fn a_key_added_after_a_line_that_goes_on_is_a_key_of_its_own() {
        let host = setting("systemProp.http.proxyHost", "proxy.corp.example");
        let written = JavaProperties
            .render("a=1\\", &[(&host, Some(host.values.clone()))])
            .unwrap();
        assert_eq!(
            written,
            "a=1\\\n\nsystemProp.http.proxyHost=proxy.corp.example\n"
        );
        assert_eq!(
            JavaProperties.current(&written, &host),
            Some(host.values.clone())
        );
    }

    #[test]
    fn a_line_that_goes_on_and_ends_in_a_lone_carriage_return_is_ended_by_a_line_of_its_own() {
        // Properties.load takes `\r\n` after a `\` as one break, and goes on with the next.
        let host = setting("systemProp.http.proxyHost", "proxy.corp.example");
        for user in ["a=b\\\r", "\\\r", "a=b\\\r\n", "a=b\\\n"] {
            let written = JavaProperties
                .render(user, &[(&host, Some(host.values.clone()))])
                .unwrap();
            assert!(written.starts_with(user), "{written:?}");
            assert_eq!(
                JavaProperties.current(&written, &host),
                Some(host.values.clone()),
                "{written:?}"
            );
            let again = JavaProperties
                .render(&written, &[(&host, Some(host.values.clone()))])
                .unwrap();
            assert_eq!(again, written);
            let a = setting("a", "");
            assert_eq!(
                JavaProperties.current(&written, &a),
                JavaProperties.current(user, &a),
                "{written:?}"
            );
        }
        let written = JavaProperties
            .render("a=b\\\r", &[(&host, Some(host.values.clone()))])
            .unwrap();
        assert_eq!(
            written,
            "a=b\\\r\rsystemProp.http.proxyHost=proxy.corp.example\n"
        );
    }

    #[test]
    fn keys_are_read_as_properties_load_reads_them() {
        let file = "# c\r\n! c\r\n  a = 1\r\nb:2\r\nc 3\r\nd\\\r\n   ontinued = x\\\r\n  y\r\ne=\\u00e9\\:\\\\\r\nf\\ g=h\r\n";
        let lines = Lines::parse_with(file, Breaks::Universal);
        let read: Vec<(String, String)> = entries(&lines)
            .into_iter()
            .map(|entry| (entry.key, entry.value))
            .collect();
        let expected = [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("dontinued", "xy"),
            ("e", "é:\\"),
            ("f g", "h"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_key_is_set_in_its_last_place_and_removed_with_its_continuations() {
        let user = "# mine\r\nsystemProp.http.proxyHost=old\r\norg.gradle.jvmargs=-Xmx1g \\\r\n    -Dfile.encoding=UTF-8\r\nsystemProp.http.proxyHost = older \\\r\n  still\r\n";
        let host = setting("systemProp.http.proxyHost", "proxy.corp.example");
        let password = setting("systemProp.http.proxyPassword", " p\\ä€🙂=:#");
        let changes = [
            (&host, Some(host.values.clone())),
            (&password, Some(password.values.clone())),
        ];
        let written = JavaProperties.render(user, &changes).unwrap();
        assert_eq!(
            written,
            "# mine\r\nsystemProp.http.proxyHost=old\r\norg.gradle.jvmargs=-Xmx1g \\\r\n    -Dfile.encoding=UTF-8\r\nsystemProp.http.proxyHost=proxy.corp.example\r\nsystemProp.http.proxyPassword=\\ p\\\\\\u00e4\\u20ac\\ud83d\\ude42=:#\r\n"
        );
        for s in [&host, &password] {
            assert_eq!(JavaProperties.current(&written, s), Some(s.values.clone()));
        }
        let removed = JavaProperties
            .render(&written, &[(&host, None), (&password, None)])
            .unwrap();
        assert_eq!(
            removed,
            "# mine\r\norg.gradle.jvmargs=-Xmx1g \\\r\n    -Dfile.encoding=UTF-8\r\n"
        );
    }
}
