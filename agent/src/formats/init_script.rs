//! A Groovy init script the agent owns whole (Gradle's `init.d/switchyard.gradle`): a header
//! saying whose it is, the settings as entries of one map, one a line
//! (`switchyard['url'] = 'https://...'`, single-quoted: Groovy expands nothing in them), and
//! the client's own code, which reads the map. Setting a value rewrites the file; a file left
//! with no entry is empty (and removed). A file of that name the agent did not write is left
//! alone.

use super::flat::single_line;
use super::{Editor, FormatError};
use crate::plan::Setting;

/// What the agent writes before the settings: the mark of its own file.
const HEADER: &str = "// Written by switchyard-agent, which rewrites this file on every sync and removes it on\n// restore: edits here are lost.\n";

/// One client's init script.
#[derive(Debug)]
pub struct InitScript {
    /// The client's name, for messages.
    pub client: &'static str,
    /// The name of the map the settings go in.
    pub map: &'static str,
    /// The code after the settings, which reads them.
    pub body: &'static str,
}

/// `text` as a Groovy single-quoted string.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The text of a Groovy single-quoted string (`'...'`, the quotes included), if it is one.
fn unquoted(text: &str) -> Option<String> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

impl InitScript {
    /// The entries the file holds, in order, if it is the agent's.
    fn entries(&self, content: &str) -> Result<Vec<(String, String)>, String> {
        if content.is_empty() {
            return Ok(Vec::new());
        }
        if !content.starts_with(HEADER) {
            return Err(format!(
                "not the agent's init script (no \"{}\" header), left alone",
                HEADER.lines().next().unwrap_or_default()
            ));
        }
        let prefix = format!("{}[", self.map);
        let mut found = Vec::new();
        for line in content.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let entry = rest
                .split_once("] = ")
                .and_then(|(key, value)| Some((unquoted(key)?, unquoted(value)?)));
            found.push(entry.ok_or_else(|| "an entry the agent did not write".to_owned())?);
        }
        Ok(found)
    }
}

impl Editor for InitScript {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let mut entries = self
            .entries(content)
            .map_err(|problem| FormatError::unsafe_value(self.client, problem))?;
        for (setting, values) in changes {
            entries.retain(|(key, _)| *key != setting.key);
            if let Some(values) = values {
                let [value] = values.as_slice() else {
                    return Err(FormatError::unsafe_value(&setting.key, "takes one value"));
                };
                single_line(&setting.key, value)?;
                entries.push((setting.key.clone(), value.clone()));
            }
        }
        if entries.is_empty() {
            return Ok(String::new());
        }
        // By key alone, and stably: of a key set twice by hand (and not changed here) the
        // later stays later, as Groovy reads it.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let map = self.map;
        let mut out = format!("{HEADER}\ndef {map} = [:]\n");
        for (key, value) in &entries {
            out.push_str(&format!("{map}[{}] = {}\n", quoted(key), quoted(value)));
        }
        out.push('\n');
        out.push_str(self.body);
        Ok(out)
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        // A key set twice (by hand) holds what Groovy ran last: the later assignment.
        self.entries(content)
            .ok()?
            .into_iter()
            .rfind(|(key, _)| *key == setting.key)
            .map(|(_, value)| vec![value])
    }

    fn written(&self, value: &str) -> String {
        let quoted = quoted(value);
        quoted[1..quoted.len() - 1].to_owned()
    }

    fn unreadable(&self, content: &str) -> Option<(&'static str, String)> {
        self.entries(content)
            .err()
            .map(|problem| (self.client, problem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: InitScript = InitScript {
        client: "Gradle",
        map: "switchyard",
        body: "println switchyard\n",
    };

    #[test]
    fn values_go_in_single_quotes_and_come_back_as_they_were() {
        let url = crate::clients::setting("url", "https://m.example/");
        let password = crate::clients::setting("password", "it's $HOME \\ \"q\"");
        let written = SCRIPT
            .render(
                "",
                &[
                    (&url, Some(url.values.clone())),
                    (&password, Some(password.values.clone())),
                ],
            )
            .unwrap();
        assert!(written.starts_with(HEADER), "{written}");
        assert!(
            written.contains("switchyard['password'] = 'it\\'s $HOME \\\\ \"q\"'\n"),
            "{written}"
        );
        assert!(written.ends_with("\nprintln switchyard\n"), "{written}");
        assert_eq!(
            SCRIPT.current(&written, &password),
            Some(password.values.clone())
        );
        let emptied = SCRIPT
            .render(&written, &[(&url, None), (&password, None)])
            .unwrap();
        assert_eq!(emptied, "");
    }

    #[test]
    fn a_key_set_twice_by_hand_reads_as_its_last_assignment_as_groovy_runs_it() {
        let url = crate::clients::setting("url", "https://m.example/");
        let written = SCRIPT
            .render("", &[(&url, Some(url.values.clone()))])
            .unwrap();
        let edited = written.replace(
            "switchyard['url'] = 'https://m.example/'\n",
            "switchyard['url'] = 'https://m.example/'\nswitchyard['url'] = 'https://other.example/'\n",
        );
        assert_ne!(edited, written);
        assert_eq!(
            SCRIPT.current(&edited, &url),
            Some(vec!["https://other.example/".to_owned()])
        );
        // Setting it again leaves one assignment, the agent's.
        let again = SCRIPT
            .render(&edited, &[(&url, Some(url.values.clone()))])
            .unwrap();
        assert_eq!(again, written);
    }

    #[test]
    fn a_file_the_agent_did_not_write_is_left_alone() {
        let theirs = "allprojects { repositories { mavenLocal() } }\n";
        assert!(SCRIPT.unreadable(theirs).is_some());
        let url = crate::clients::setting("url", "https://m.example/");
        assert!(SCRIPT
            .render(theirs, &[(&url, Some(url.values.clone()))])
            .is_err());
        let newline = crate::clients::setting("url", "https://m.example/\nprintln 1");
        assert!(SCRIPT
            .render("", &[(&newline, Some(newline.values.clone()))])
            .is_err());
    }
}
