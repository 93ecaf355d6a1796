//! Files of `[section]` headers and `key = value` lines: pip's INI files and git config. The
//! editor changes only the lines of the keys it is given, in the sections it is given, and
//! checks, by reading the result as the client does, that every other key reads as before.

use std::collections::BTreeMap;

use super::lines::{Breaks, Lines};
use super::FormatError;

/// A section as a format names it: its identity for matching, and the header that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Compared with [`SectionSyntax::section_of`].
    pub id: String,
    /// The header line written when the section does not exist yet.
    pub header: String,
}

/// Whether a line belongs to the value of the key above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continues {
    /// It does.
    Yes,
    /// Only if a later line does (a blank or comment line inside a pip value).
    Maybe,
    /// It does not: the value ended before it.
    No,
}

/// What a format's lines look like.
pub trait SectionSyntax {
    /// The client's name, for messages.
    fn client(&self) -> &'static str;
    /// What ends a line for the client.
    fn breaks(&self) -> Breaks {
        Breaks::Lf
    }
    /// The identity of the section a header line opens.
    fn section_of(&self, line: &str) -> Option<String>;
    /// The identity of the key a line sets.
    fn key_of(&self, line: &str) -> Option<String>;
    /// Whether `line` continues the value whose lines so far are `value` (the key's line
    /// first).
    fn continues(&self, value: &[&str], line: &str) -> Continues;
    /// The values a key's lines (its line and continuations) hold.
    fn values_of(&self, lines: &[&str]) -> Vec<String>;
    /// The lines that set `key` to `values`, starting with `indent` (the leading white space
    /// of the line they replace, empty for a new key), or why they cannot be written safely.
    fn render(
        &self,
        key: &str,
        values: &[String],
        indent: &str,
    ) -> Result<Vec<String>, FormatError>;
    /// Why the client itself cannot read `content`, if it cannot.
    fn unreadable(&self, content: &str) -> Option<String>;
}

/// One key's lines: where they start and how many there are.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

/// For each line, the section it is in (the header's index), and each key's spans.
struct Layout {
    /// (section id, header index) in file order.
    sections: Vec<(String, usize)>,
    /// (section id or "" before any header, key id, span).
    keys: Vec<(String, String, Span)>,
}

fn layout<S: SectionSyntax + ?Sized>(syntax: &S, lines: &Lines) -> Layout {
    let mut sections = Vec::new();
    let mut keys: Vec<(String, String, Span)> = Vec::new();
    let mut current = String::new();
    let mut open = false;
    for (index, line) in lines.0.iter().enumerate() {
        if open {
            if let Some((_, _, span)) = keys.last_mut() {
                let value: Vec<&str> = lines.0[span.start..span.start + span.len]
                    .iter()
                    .map(|line| line.text.as_str())
                    .collect();
                // Lines that may belong to the value are weighed with the next one.
                let pending = index - (span.start + span.len);
                let so_far: Vec<&str> = value
                    .into_iter()
                    .chain(
                        lines.0[index - pending..index]
                            .iter()
                            .map(|line| line.text.as_str()),
                    )
                    .collect();
                match syntax.continues(&so_far, &line.text) {
                    Continues::Yes => {
                        span.len = index + 1 - span.start;
                        continue;
                    }
                    Continues::Maybe => continue,
                    Continues::No => open = false,
                }
            }
        }
        if let Some(id) = syntax.section_of(&line.text) {
            sections.push((id.clone(), index));
            current = id;
        } else if let Some(key) = syntax.key_of(&line.text) {
            keys.push((
                current.clone(),
                key,
                Span {
                    start: index,
                    len: 1,
                },
            ));
            open = true;
        }
    }
    Layout { sections, keys }
}

fn texts(lines: &Lines, span: Span) -> Vec<&str> {
    lines.0[span.start..span.start + span.len]
        .iter()
        .map(|line| line.text.as_str())
        .collect()
}

/// Every value of every key, by (section, key), in file order: what the client reads.
fn read_all<S: SectionSyntax + ?Sized>(
    syntax: &S,
    lines: &Lines,
) -> BTreeMap<(String, String), Vec<Vec<String>>> {
    let mut all: BTreeMap<(String, String), Vec<Vec<String>>> = BTreeMap::new();
    for (section, key, span) in layout(syntax, lines).keys {
        all.entry((section, key))
            .or_default()
            .push(syntax.values_of(&texts(lines, span)));
    }
    all
}

/// Every key the client reads, by (section, key), each occurrence's values in file order.
pub fn entries<S: SectionSyntax + ?Sized>(
    syntax: &S,
    content: &str,
) -> BTreeMap<(String, String), Vec<Vec<String>>> {
    read_all(syntax, &Lines::parse_with(content, syntax.breaks()))
}

/// The values the client reads for `key` in `section` (the last occurrence).
pub fn get<S: SectionSyntax + ?Sized>(
    syntax: &S,
    content: &str,
    section: &str,
    key: &str,
) -> Option<Vec<String>> {
    let lines = Lines::parse_with(content, syntax.breaks());
    read_all(syntax, &lines)
        .remove(&(section.to_owned(), key.to_owned()))
        .and_then(|mut found| found.pop())
}

/// Every value of a multi-valued `key` in `section`, in file order (git's `insteadOf`).
pub fn get_all<S: SectionSyntax + ?Sized>(
    syntax: &S,
    content: &str,
    section: &str,
    key: &str,
) -> Vec<String> {
    let lines = Lines::parse_with(content, syntax.breaks());
    read_all(syntax, &lines)
        .remove(&(section.to_owned(), key.to_owned()))
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// One change: in `section`, set `key` (written as `name`) to `values`, or remove it (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The section.
    pub section: Section,
    /// The key's identity.
    pub key: String,
    /// The key as written.
    pub name: String,
    /// The values; `None` removes every line of the key (or, with `only`, that one value).
    pub values: Option<Vec<String>>,
    /// For a multi-valued key (git's `insteadOf`): the one value this edit is about. The
    /// key's other values are someone else's and stay; `values: Some` adds the value if it is
    /// missing, `None` removes it.
    pub only: Option<String>,
}

/// `content` with `edits` made. A key present already is rewritten where its first line is,
/// ending as that line did (other lines of it go); a new key, or one more value of a
/// multi-valued key, goes at the end of the last section of its name, or in a new section at
/// the end of the file. The result is read back as the client reads it: unless the edited keys
/// read as asked and every other key as before, nothing is written.
pub fn apply<S: SectionSyntax + ?Sized>(
    syntax: &S,
    content: &str,
    edits: &[Edit],
) -> Result<String, FormatError> {
    let mut lines = Lines::parse_with(content, syntax.breaks());
    let mut expected = read_all(syntax, &lines);
    for edit in edits {
        let rendered = edit.values.clone();
        let layout = layout(syntax, &lines);
        let spans: Vec<Span> = layout
            .keys
            .iter()
            .filter(|(s, k, _)| *s == edit.section.id && *k == edit.key)
            .map(|(_, _, span)| *span)
            .filter(|span| match &edit.only {
                Some(value) => syntax.values_of(&texts(&lines, *span)) == [value.clone()],
                None => true,
            })
            .collect();
        let slot = expected
            .entry((edit.section.id.clone(), edit.key.clone()))
            .or_default();
        match (&edit.only, &rendered) {
            (Some(_), Some(_)) if !spans.is_empty() => continue,
            (Some(value), Some(_)) => slot.push(vec![value.clone()]),
            (Some(value), None) => slot.retain(|values| values != std::slice::from_ref(value)),
            (None, Some(values)) => *slot = vec![values.clone()],
            (None, None) => slot.clear(),
        }
        // Remove the key's lines, last first, remembering where the first one was, how it was
        // indented and how it ended.
        let first = spans.first().map(|span| {
            let line = &lines.0[span.start];
            let indent = &line.text[..line.text.len() - line.text.trim_start().len()];
            (span.start, indent.to_owned(), line.ending)
        });
        for span in spans.iter().rev() {
            lines.0.drain(span.start..span.start + span.len);
        }
        let Some(values) = rendered else { continue };
        // A key rewritten where it was keeps its line's ending, as the other editors keep it:
        // the file's own, counted without the key's lines, may be another in a file of mixed
        // endings, and the same edit again would then change the file.
        let (at, indent, kept) = match first {
            Some(first) if edit.only.is_none() => first,
            _ => match end_of_section(syntax, &lines, &edit.section.id) {
                Some(at) => (at, String::new(), ""),
                None => {
                    let needs_gap = lines
                        .0
                        .last()
                        .is_some_and(|line| !line.text.trim().is_empty());
                    let mut at = lines.0.len();
                    if needs_gap {
                        let gap = lines.new_line(String::new());
                        lines.insert(at, gap);
                        at += 1;
                    }
                    let header = lines.new_line(edit.section.header.clone());
                    lines.insert(at, header);
                    (at + 1, String::new(), "")
                }
            },
        };
        for (offset, text) in syntax
            .render(&edit.name, &values, &indent)?
            .into_iter()
            .enumerate()
        {
            let mut line = lines.new_line(text);
            if !kept.is_empty() {
                line.ending = kept;
            }
            lines.insert(at + offset, line);
        }
    }
    expected.retain(|_, values| !values.is_empty());
    if read_all(syntax, &lines) != expected {
        let names: Vec<&str> = edits.iter().map(|edit| edit.name.as_str()).collect();
        return Err(FormatError::unsafe_value(
            &names.join(", "),
            format!(
                "cannot be written where {} would read it as published and every other setting as before",
                syntax.client()
            ),
        ));
    }
    Ok(lines.render())
}

/// Just after the last line of the last section called `id` that is not blank or a comment
/// after its keys, if there is one.
fn end_of_section<S: SectionSyntax + ?Sized>(syntax: &S, lines: &Lines, id: &str) -> Option<usize> {
    let layout = layout(syntax, lines);
    let position = layout
        .sections
        .iter()
        .rposition(|(section, _)| section == id)?;
    let header = layout.sections[position].1;
    let next = layout
        .sections
        .get(position + 1)
        .map_or(lines.0.len(), |(_, index)| *index);
    let last_key_line = layout
        .keys
        .iter()
        .filter(|(_, _, span)| span.start > header && span.start < next)
        .map(|(_, _, span)| span.start + span.len)
        .max();
    Some(last_key_line.unwrap_or(header + 1))
}

#[cfg(test)]
mod tests {
    use super::super::pip::{global, PipIni};
    use super::*;

    #[test]
    fn a_key_rewritten_in_place_keeps_its_lines_ending() {
        // Two CRLF lines and two LF: the file's own ending, counted without the key's line,
        // is CRLF.
        let user = "[global]\r\nindex-url = https://old.example/\ntimeout = 5\n# mine\r\n";
        let index = [global(
            "index-url",
            Some(vec!["https://new.example/".into()]),
        )];
        let written = apply(&PipIni, user, &index).unwrap();
        assert_eq!(
            written,
            "[global]\r\nindex-url = https://new.example/\ntimeout = 5\n# mine\r\n"
        );
        assert_eq!(apply(&PipIni, &written, &index).unwrap(), written);
    }
}
