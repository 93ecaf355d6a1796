//! Files of `[section]` headers and `key = value` lines: pip's INI files and git config. The
//! editor changes only the lines of the keys it is given, in the sections it is given.

use super::lines::Lines;
use super::FormatError;

/// A section as a format names it: its identity for matching, and the header that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Compared with [`SectionSyntax::section_of`].
    pub id: String,
    /// The header line written when the section does not exist yet.
    pub header: String,
}

/// What a format's lines look like.
pub trait SectionSyntax {
    /// The identity of the section a header line opens.
    fn section_of(&self, line: &str) -> Option<String>;
    /// The identity of the key a line sets.
    fn key_of(&self, line: &str) -> Option<String>;
    /// Whether the line continues the value of the key line before it.
    fn continues(&self, _line: &str) -> bool {
        false
    }
    /// The values a key's lines (its line and continuations) hold.
    fn values_of(&self, lines: &[&str]) -> Vec<String>;
    /// The lines that set `key` to `values`, or why they cannot be written safely.
    fn render(&self, key: &str, values: &[String]) -> Result<Vec<String>, FormatError>;
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

fn layout<S: SectionSyntax>(syntax: &S, lines: &Lines) -> Layout {
    let mut sections = Vec::new();
    let mut keys: Vec<(String, String, Span)> = Vec::new();
    let mut current = String::new();
    let mut open_key = false;
    for (index, line) in lines.0.iter().enumerate() {
        if let Some(id) = syntax.section_of(&line.text) {
            sections.push((id.clone(), index));
            current = id;
            open_key = false;
        } else if open_key && syntax.continues(&line.text) {
            if let Some((_, _, span)) = keys.last_mut() {
                span.len += 1;
            }
        } else if let Some(key) = syntax.key_of(&line.text) {
            keys.push((
                current.clone(),
                key,
                Span {
                    start: index,
                    len: 1,
                },
            ));
            open_key = true;
        } else {
            open_key = false;
        }
    }
    Layout { sections, keys }
}

/// The values the client reads for `key` in `section` (the last occurrence).
pub fn get<S: SectionSyntax>(
    syntax: &S,
    content: &str,
    section: &str,
    key: &str,
) -> Option<Vec<String>> {
    let lines = Lines::parse(content);
    let layout = layout(syntax, &lines);
    layout
        .keys
        .iter()
        .rfind(|(s, k, _)| s == section && k == key)
        .map(|(_, _, span)| {
            let texts: Vec<&str> = lines.0[span.start..span.start + span.len]
                .iter()
                .map(|line| line.text.as_str())
                .collect();
            syntax.values_of(&texts)
        })
}

/// Every value of a multi-valued `key` in `section`, in file order (git's `insteadOf`).
pub fn get_all<S: SectionSyntax>(
    syntax: &S,
    content: &str,
    section: &str,
    key: &str,
) -> Vec<String> {
    let lines = Lines::parse(content);
    layout(syntax, &lines)
        .keys
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .flat_map(|(_, _, span)| {
            let texts: Vec<&str> = lines.0[span.start..span.start + span.len]
                .iter()
                .map(|line| line.text.as_str())
                .collect();
            syntax.values_of(&texts)
        })
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
    /// The values; `None` removes every line of the key.
    pub values: Option<Vec<String>>,
}

/// `content` with `edits` made. A key present already is rewritten where its first line is
/// (other lines of it go); a new key goes at the end of the last section of its name, or in a
/// new section at the end of the file.
pub fn apply<S: SectionSyntax>(
    syntax: &S,
    content: &str,
    edits: &[Edit],
) -> Result<String, FormatError> {
    let mut lines = Lines::parse(content);
    for edit in edits {
        let rendered = match &edit.values {
            Some(values) => Some(syntax.render(&edit.name, values)?),
            None => None,
        };
        let layout = layout(syntax, &lines);
        let spans: Vec<Span> = layout
            .keys
            .iter()
            .filter(|(s, k, _)| *s == edit.section.id && *k == edit.key)
            .map(|(_, _, span)| *span)
            .collect();
        // Remove all of the key's lines, last first, remembering where the first one was.
        let first = spans.first().map(|span| span.start);
        for span in spans.iter().rev() {
            lines.0.drain(span.start..span.start + span.len);
        }
        let Some(rendered) = rendered else { continue };
        let at = match first {
            Some(at) => at,
            None => match end_of_section(syntax, &lines, &edit.section.id) {
                Some(at) => at,
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
                    at + 1
                }
            },
        };
        for (offset, text) in rendered.into_iter().enumerate() {
            let line = lines.new_line(text);
            lines.insert(at + offset, line);
        }
    }
    Ok(lines.render())
}

/// Just after the last non-blank line of the last section called `id`, if there is one.
fn end_of_section<S: SectionSyntax>(syntax: &S, lines: &Lines, id: &str) -> Option<usize> {
    let header = layout(syntax, lines)
        .sections
        .iter()
        .rfind(|(section, _)| section == id)
        .map(|(_, index)| *index)?;
    let mut end = header + 1;
    for (index, line) in lines.0.iter().enumerate().skip(header + 1) {
        if syntax.section_of(&line.text).is_some() {
            break;
        }
        if !line.text.trim().is_empty() {
            end = index + 1;
        }
    }
    Some(end)
}
