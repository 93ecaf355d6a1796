//! git configuration (`~/.gitconfig`), read as git reads it (git `config.c`: `get_base_var`,
//! `get_value`, `parse_value`; `Documentation/config.txt`, "Syntax"):
//!
//! - `[section]` and `[section "subsection"]` headers: section names are case-insensitive,
//!   subsections case-sensitive (`\"` and `\\` escaped); the older `[section.sub]` lower-cases
//!   both.
//! - `key = value` lines: a key is a letter, then letters, digits and `-`, case-insensitive; a
//!   key alone is `true`. Anything else on a line is an error for which git refuses the file.
//! - A value: white space around it dropped; `"..."` quotes keep it; `;` or `#` outside quotes
//!   starts a comment; escapes `\\`, `\"`, `\n`, `\t`, `\b`; a `\` at the end of a line
//!   continues the value on the next.
//! - `url.<base>.insteadOf` and `pushInsteadOf` are multi-valued: each line adds one prefix.
//!   The agent adds and removes only the lines of the values it owns.
//!
//! Switchyard writes `url "<base>".insteadOf` / `pushInsteadOf` and `http.proxy`, plain values
//! without quotes, backslashes or comment characters.

use super::flat::single_line;
use super::lines::Lines;
use super::sectioned::{Continues, Edit, Section, SectionSyntax};
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

/// A change of `key` in `section`: all of its lines (`only: None`) or the one line of the
/// value `only` of a multi-valued key.
pub fn edit(
    section: Section,
    key: &str,
    values: Option<Vec<String>>,
    only: Option<String>,
) -> Edit {
    Edit {
        section,
        key: key.to_ascii_lowercase(),
        name: key.to_owned(),
        values,
        only,
    }
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// The section a header line opens, as git names it (`name` or `name\0subsection`), if
/// nothing but a comment follows it on its line.
fn header(line: &str) -> Option<String> {
    let (id, tail) = header_parts(line)?;
    let tail = tail.trim_start();
    (tail.is_empty() || tail.starts_with(['#', ';'])).then_some(id)
}

/// A line without leading white space, or the byte-order mark git skips at a file's start.
fn lead(line: &str) -> &str {
    line.trim_start_matches('\u{feff}').trim_start()
}

/// The section a header line opens, and the rest of its line.
fn header_parts(line: &str) -> Option<(String, &str)> {
    let rest = lead(line).strip_prefix('[')?;
    let name_end = rest.find(|c: char| !(key_char(c) || c == '.'))?;
    let name = rest[..name_end].to_ascii_lowercase();
    let after = &rest[name_end..];
    if let Some(tail) = after.strip_prefix(']') {
        let id = match name.split_once('.') {
            Some((section, sub)) => format!("{section}\0{}", sub.to_ascii_lowercase()),
            None => name,
        };
        return Some((id, tail));
    }
    let quoted = after.trim_start().strip_prefix('"')?;
    let mut sub = String::new();
    let mut chars = quoted.chars();
    loop {
        match chars.next()? {
            '"' => break,
            '\\' => sub.push(chars.next()?),
            c => sub.push(c),
        }
    }
    let tail = chars.as_str().strip_prefix(']')?;
    Some((format!("{name}\0{sub}"), tail))
}

/// The key a line sets and the text after its `=` (`None`: a key alone, `true`).
fn key_line(line: &str) -> Option<(String, Option<&str>)> {
    let text = lead(line);
    if !text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let end = text.find(|c: char| !key_char(c)).unwrap_or(text.len());
    let key = text[..end].to_ascii_lowercase();
    let rest = text[end..].trim_start_matches([' ', '\t']);
    match rest.strip_prefix('=') {
        Some(value) => Some((key, Some(value))),
        None if rest.is_empty() => Some((key, None)),
        None => None,
    }
}

/// What git makes of a value's text (its lines joined by `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// The value.
    Done(String),
    /// It ends in a `\` that continues it on the next line.
    Continued,
    /// git refuses it: an unknown escape, or a quote left open at a line's end.
    Bad,
}

fn parse_value(text: &str) -> Value {
    let mut value = String::new();
    let mut quote = false;
    let mut trim_to: Option<usize> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\n' {
            return Value::Bad;
        }
        if c.is_ascii_whitespace() && !quote {
            if trim_to.is_none() {
                trim_to = Some(value.len());
            }
            if !value.is_empty() {
                value.push(c);
            }
            continue;
        }
        if !quote && (c == ';' || c == '#') {
            break;
        }
        trim_to = None;
        match c {
            '\\' => match chars.next() {
                None => return Value::Continued,
                Some('\n') => {}
                Some('t') => value.push('\t'),
                Some('b') => value.push('\u{8}'),
                Some('n') => value.push('\n'),
                Some(c @ ('\\' | '"')) => value.push(c),
                Some(_) => return Value::Bad,
            },
            '"' => quote = !quote,
            c => value.push(c),
        }
    }
    if quote {
        return Value::Bad;
    }
    if let Some(end) = trim_to {
        value.truncate(end);
    }
    Value::Done(value)
}

/// The text of a key's value over its lines.
fn value_text(lines: &[&str]) -> Option<String> {
    let (_, first) = key_line(lines.first()?)?;
    let mut text = first?.to_owned();
    for line in &lines[1..] {
        text.push('\n');
        text.push_str(line);
    }
    Some(text)
}

impl SectionSyntax for GitConfig {
    fn client(&self) -> &'static str {
        "git"
    }

    fn section_of(&self, line: &str) -> Option<String> {
        header(line)
    }

    fn key_of(&self, line: &str) -> Option<String> {
        key_line(line).map(|(key, _)| key)
    }

    fn continues(&self, value: &[&str], _line: &str) -> Continues {
        match value_text(value).map(|text| parse_value(&text)) {
            Some(Value::Continued) => Continues::Yes,
            _ => Continues::No,
        }
    }

    fn values_of(&self, lines: &[&str]) -> Vec<String> {
        let Some((_, first)) = lines.first().and_then(|line| key_line(line)) else {
            return Vec::new();
        };
        if first.is_none() {
            return vec!["true".to_owned()];
        }
        match value_text(lines).map(|text| parse_value(&text)) {
            Some(Value::Done(value)) => vec![value],
            // A value still continued when its lines end runs into the end of the file, which
            // git reads as a line end (config.c's get_next_char): the value ends there.
            Some(Value::Continued) => {
                let mut closed = lines.to_vec();
                closed.push("");
                match value_text(&closed).map(|text| parse_value(&text)) {
                    Some(Value::Done(value)) => vec![value],
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn render(
        &self,
        key: &str,
        values: &[String],
        _indent: &str,
    ) -> Result<Vec<String>, FormatError> {
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

    fn unreadable(&self, content: &str) -> Option<String> {
        let lines = Lines::parse(content);
        let mut open: Vec<&str> = Vec::new();
        for (number, line) in lines.0.iter().enumerate().map(|(i, l)| (i + 1, &l.text)) {
            if !open.is_empty() {
                if self.continues(&open, line) == Continues::Yes {
                    open.push(line);
                    continue;
                }
                open.clear();
            }
            let text = lead(line);
            if text.is_empty() || text.starts_with(['#', ';']) {
                continue;
            }
            if text.starts_with('[') {
                match (header(line), header_parts(line)) {
                    (Some(_), _) => continue,
                    // git reads it; the agent edits only files whose keys have lines of
                    // their own.
                    (None, Some(_)) => {
                        return Some(format!(
                            "line {number} has a key on the line of its [section] header: \
                             move the key to a line of its own"
                        ))
                    }
                    (None, None) => {
                        return Some(format!("line {number} is a section header git cannot read"))
                    }
                }
            }
            if key_line(line).is_none() {
                return Some(format!("line {number} is a bad config line"));
            }
            open.push(line);
            if let Some(Value::Bad) = value_text(&open).map(|text| parse_value(&text)) {
                return Some(format!(
                    "line {number} has a value git refuses (an open quote or unknown escape)"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::sectioned::{apply, get, get_all};
    use super::*;

    #[test]
    fn rewrites_add_their_own_values_beside_the_users() {
        let user = "[user]\n\tname = Ada\n[url \"https://mirror.corp/github/\"]\n\tinsteadOf = git@github.com:\n";
        let section = url_section("https://mirror.corp/github/").unwrap();
        let mine = |value: &str, keep: bool| {
            edit(
                section.clone(),
                "insteadOf",
                keep.then(|| vec![value.to_owned()]),
                Some(value.to_owned()),
            )
        };
        let changed = apply(&GitConfig, user, &[mine("https://github.com/", true)]).unwrap();
        assert_eq!(
            changed,
            "[user]\n\tname = Ada\n[url \"https://mirror.corp/github/\"]\n\tinsteadOf = git@github.com:\n\tinsteadOf = https://github.com/\n"
        );
        assert_eq!(
            get_all(&GitConfig, &changed, &section.id, "insteadof"),
            ["git@github.com:", "https://github.com/"]
        );
        // Owned already: nothing moves. Taken back: only that line goes.
        assert_eq!(
            apply(&GitConfig, &changed, &[mine("https://github.com/", true)]).unwrap(),
            changed
        );
        assert_eq!(
            apply(&GitConfig, &changed, &[mine("https://github.com/", false)]).unwrap(),
            user
        );
        let proxy = apply(
            &GitConfig,
            &changed,
            &[edit(
                http_section(),
                "proxy",
                Some(vec!["http://proxy.corp:3128".into()]),
                None,
            )],
        )
        .unwrap();
        assert!(
            proxy.ends_with("\n\n[http]\n\tproxy = http://proxy.corp:3128\n"),
            "{proxy}"
        );
    }

    #[test]
    fn values_are_read_as_git_reads_them() {
        let user = "[Url \"https://m/\"] # mirror\n\tInsteadOf = \"https://a/\" ; quoted\n\tinsteadof=https://b/\\\n  more\n[http]\n\tproxy\n[core.Sub]\n\tx = 1\n";
        assert_eq!(
            get_all(&GitConfig, user, "url\0https://m/", "insteadof"),
            ["https://a/", "https://b/  more"]
        );
        assert_eq!(
            get(&GitConfig, user, "http", "proxy"),
            Some(vec!["true".into()])
        );
        assert_eq!(
            get(&GitConfig, user, "core\0sub", "x"),
            Some(vec!["1".into()])
        );
        assert_eq!(GitConfig.unreadable(user), None);
        assert_eq!(GitConfig.unreadable("\u{feff}[user]\n\tname = Ada\n"), None);
        for bad in [
            "[user]\n\tname = \"Ada\n",
            "[user]\n\tname ; x\n",
            "[user\n",
            "[a] b = c\n",
        ] {
            assert!(GitConfig.unreadable(bad).is_some(), "{bad:?}");
        }
    }
}
