//! The configuration formats the agent edits, each without disturbing what it does not
//! manage: every byte of a line it does not change stays as it was.

pub mod envfile;
pub mod flat;
pub mod gitconfig;
pub mod goenv;
pub mod init_script;
pub mod java_properties;
pub mod lines;
pub mod npmrc;
pub mod pip;
#[cfg(test)]
mod properties;
pub mod sectioned;
pub mod toml;
pub mod xml;
pub mod yaml;

use flat::FlatSyntax;
use sectioned::{Edit, SectionSyntax};

use crate::plan::Setting;

/// One file format as the engine edits every one: set the agent's settings keeping every
/// other byte, read what the client reads for a setting, and say when the client could not
/// read the file at all (then nothing is written to it).
pub trait Editor: Sync {
    /// `content` with each setting set to its values (`None`: as it was before the agent).
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError>;
    /// The values `content` holds for `setting` now, as its client reads them.
    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>>;
    /// Why the client itself cannot read `content`, if it cannot: the client's name and the
    /// problem.
    fn unreadable(&self, _content: &str) -> Option<(&'static str, String)> {
        None
    }
    /// `value` as it stands in the file, escaped as the format escapes it (`&amp;` in XML):
    /// a secret is hidden in that form too wherever the file's text is shown.
    fn written(&self, value: &str) -> String {
        value.to_owned()
    }
}

/// A format of `KEY=value` lines ([`flat`]) as an [`Editor`]: a setting is one key, its
/// values joined by spaces.
#[derive(Debug)]
pub struct Flat<S>(pub S);

impl<S: FlatSyntax + Sync> Editor for Flat<S> {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let edits: Vec<(String, Option<String>)> = changes
            .iter()
            .map(|(setting, values)| (setting.key.clone(), values.as_ref().map(|v| v.join(" "))))
            .collect();
        flat::apply(&self.0, content, &edits)
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        flat::get(&self.0, content, &setting.key).map(|value| vec![value])
    }
}

/// A format of sections and keys ([`sectioned`]) as an [`Editor`]. A multi-valued setting
/// (git's `insteadOf`, which other rewrites share) holds when its one value is among the
/// key's values; any other holds the values of the key's last occurrence.
#[derive(Debug)]
pub struct Sectioned<S>(pub S);

impl<S: SectionSyntax + Sync> Editor for Sectioned<S> {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let edits: Vec<Edit> = changes
            .iter()
            .filter_map(|(setting, values)| {
                Some(Edit {
                    section: setting.section.as_ref()?.into(),
                    key: setting.key.clone(),
                    name: setting.name.clone(),
                    values: values.clone(),
                    only: setting
                        .multi
                        .then(|| setting.values.first().cloned())
                        .flatten(),
                })
            })
            .collect();
        sectioned::apply(&self.0, content, &edits)
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        let section = setting
            .section
            .as_ref()
            .map(|s| s.id.as_str())
            .unwrap_or_default();
        match setting.multi {
            true => sectioned::get_all(&self.0, content, section, &setting.key)
                .into_iter()
                .find(|value| setting.values.contains(value))
                .map(|value| vec![value]),
            false => sectioned::get(&self.0, content, section, &setting.key),
        }
    }

    fn unreadable(&self, content: &str) -> Option<(&'static str, String)> {
        self.0
            .unreadable(content)
            .map(|problem| (self.0.client(), problem))
    }
}

/// The text of a file without its byte-order mark, and the mark: uv and Yarn read a file
/// with one, and it goes back where it was.
pub(crate) fn split_bom(content: &str) -> (&str, &str) {
    match content.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", content),
    }
}

/// A value the agent will not write, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Writing it would change the file's meaning beyond the one key.
    #[error("{key}: {reason}; not written")]
    Unsafe {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl FormatError {
    /// A value refused for `key`.
    pub fn unsafe_value(key: &str, reason: impl Into<String>) -> Self {
        FormatError::Unsafe {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}
