//! The configuration formats the agent edits, each without disturbing what it does not
//! manage: every byte of a line it does not change stays as it was.

pub mod envfile;
pub mod flat;
pub mod gitconfig;
pub mod goenv;
pub mod lines;
pub mod npmrc;
pub mod pip;
#[cfg(test)]
mod properties;
pub mod sectioned;

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
