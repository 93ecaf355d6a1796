//! A text file as lines that each keep their own ending, so that rendering an unchanged file
//! gives back exactly its bytes, and new lines follow the file's own convention.

/// One line and the ending it had (`""` for a last line without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, without its ending.
    pub text: String,
    /// `"\n"`, `"\r\n"`, `"\r"` (only with [`Breaks::Universal`]) or `""`.
    pub ending: &'static str,
}

/// What ends a line for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaks {
    /// LF, or CRLF; a lone CR is part of the line (Go, git).
    Lf,
    /// LF, CRLF or a lone CR: Python's universal newlines (pip's configparser) and npm's
    /// `ini`, which splits on `/[\r\n]+/`.
    Universal,
}

/// A file's lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lines(pub Vec<Line>);

impl Lines {
    /// Splits `content` into lines at LF and CRLF, keeping each ending.
    pub fn parse(content: &str) -> Self {
        Self::parse_with(content, Breaks::Lf)
    }

    /// Splits `content` into lines where `breaks` says, keeping each ending.
    pub fn parse_with(content: &str, breaks: Breaks) -> Self {
        let mut lines = Vec::new();
        let mut rest = content;
        let ends = |c: char| c == '\n' || (breaks == Breaks::Universal && c == '\r');
        while !rest.is_empty() {
            let (line, ending, next) = match rest.find(ends) {
                Some(at) if rest[at..].starts_with("\r\n") => {
                    (&rest[..at], "\r\n", &rest[at + 2..])
                }
                Some(at) if rest[at..].starts_with('\r') => (&rest[..at], "\r", &rest[at + 1..]),
                Some(at) if at > 0 && rest.as_bytes()[at - 1] == b'\r' => {
                    (&rest[..at - 1], "\r\n", &rest[at + 1..])
                }
                Some(at) => (&rest[..at], "\n", &rest[at + 1..]),
                None => (rest, "", ""),
            };
            lines.push(Line {
                text: line.to_owned(),
                ending,
            });
            rest = next;
        }
        Self(lines)
    }

    /// The bytes again.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.0 {
            out.push_str(&line.text);
            out.push_str(line.ending);
        }
        out
    }

    /// The ending new lines get: CRLF when most of the file's lines use it, else LF.
    pub fn ending(&self) -> &'static str {
        let crlf = self.0.iter().filter(|l| l.ending == "\r\n").count();
        let lf = self.0.iter().filter(|l| l.ending == "\n").count();
        if crlf > lf {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// A new line in the file's convention.
    pub fn new_line(&self, text: String) -> Line {
        Line {
            text,
            ending: self.ending(),
        }
    }

    /// Inserts `line` at `index`, first giving the line before it an ending if it had none.
    pub fn insert(&mut self, index: usize, line: Line) {
        let ending = self.ending();
        if index > 0 {
            if let Some(before) = self.0.get_mut(index - 1) {
                if before.ending.is_empty() {
                    before.ending = ending;
                }
            }
        }
        let mut line = line;
        if line.ending.is_empty() {
            line.ending = ending;
        }
        self.0.insert(index, line);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_renders_back_to_its_bytes(content in "(\\PC|\r|\n|\r\n){0,200}") {
            prop_assert_eq!(Lines::parse(&content).render(), content.clone());
            let universal = Lines::parse_with(&content, Breaks::Universal);
            prop_assert!(universal.0.iter().all(|line| !line.text.contains(['\r', '\n'])));
            prop_assert_eq!(universal.render(), content);
        }
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_only_for_universal_readers() {
        assert_eq!(Lines::parse("a\rb\n").0.len(), 1);
        let universal = Lines::parse_with("a\rb\r\nc", Breaks::Universal);
        let texts: Vec<&str> = universal.0.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[test]
    fn new_lines_follow_the_file() {
        assert_eq!(Lines::parse("a\r\nb\r\nc\n").ending(), "\r\n");
        assert_eq!(Lines::parse("a\nb").ending(), "\n");
        let mut lines = Lines::parse("a\r\nb");
        let line = lines.new_line("c".into());
        lines.insert(2, line);
        assert_eq!(lines.render(), "a\r\nb\r\nc\r\n");
    }
}
