//! Where the agent writes: a file, or a registry key holding environment variables (Windows).
//!
//! The manifest (`files.json` in the state folder) keys what it keeps by place. The written
//! form is the one agents have always kept, so that a state folder reads the same to agents
//! before and after this type: a file is its path; a registry key is `registry:`, the hive
//! (`HKCU` or `HKLM`) and the key under it (`registry:HKCU\Environment`). Only those two
//! prefixes name a key: the agent writes files by absolute path, which never start so.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A top-level registry key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hive {
    /// `HKEY_CURRENT_USER`: the user's own settings.
    CurrentUser,
    /// `HKEY_LOCAL_MACHINE`: the machine's, for every user.
    LocalMachine,
}

impl Hive {
    /// Its short name: `HKCU` or `HKLM`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hive::CurrentUser => "HKCU",
            Hive::LocalMachine => "HKLM",
        }
    }
}

/// A place the agent writes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A file, by its absolute path.
    File(PathBuf),
    /// A registry key whose values are environment variables.
    Registry {
        /// Its hive.
        hive: Hive,
        /// The key under the hive, with `\` between its parts.
        key: String,
    },
}

/// The registry key Windows keeps a user's environment variables in.
pub(crate) const USER_ENVIRONMENT: &str = "Environment";

/// The registry key Windows keeps the machine's environment variables in.
pub(crate) const MACHINE_ENVIRONMENT: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";

impl Place {
    /// The registry key of environment variables in `hive`: the user's (`HKCU\Environment`)
    /// or the machine's (`HKLM\SYSTEM\...\Session Manager\Environment`).
    pub fn environment(hive: Hive) -> Place {
        let key = match hive {
            Hive::CurrentUser => USER_ENVIRONMENT,
            Hive::LocalMachine => MACHINE_ENVIRONMENT,
        };
        Place::Registry {
            hive,
            key: key.to_owned(),
        }
    }

    /// The file's path, for a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Place::File(path) => Some(path),
            Place::Registry { .. } => None,
        }
    }

    /// The place named by `text` in the manifest's written form.
    fn parse(text: &str) -> Place {
        let registry = text.strip_prefix("registry:").and_then(|rest| {
            [Hive::CurrentUser, Hive::LocalMachine]
                .into_iter()
                .find_map(|hive| {
                    let key = rest.strip_prefix(hive.as_str())?.strip_prefix('\\')?;
                    Some((hive, key))
                })
        });
        match registry {
            Some((hive, key)) => Place::Registry {
                hive,
                key: key.to_owned(),
            },
            None => Place::File(PathBuf::from(text)),
        }
    }
}

/// A file as its path shows; a key as `HKCU\Environment`.
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File(path) => write!(f, "{}", path.display()),
            Place::Registry { hive, key } => write!(f, "{}\\{key}", hive.as_str()),
        }
    }
}

impl Serialize for Place {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // As a path serializes: its text, when it has one.
            Place::File(path) => path.serialize(serializer),
            Place::Registry { .. } => serializer.serialize_str(&format!("registry:{self}")),
        }
    }
}

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Place::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_form_is_the_one_agents_have_always_kept() {
        let kept = r#"{"/home/ada/.npmrc":1,"registry:HKCU\\Environment":2,"registry:HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment":3}"#;
        let places: std::collections::BTreeMap<Place, u8> = serde_json::from_str(kept).unwrap();
        let keys: Vec<&Place> = places.keys().collect();
        assert_eq!(
            keys,
            [
                &Place::File("/home/ada/.npmrc".into()),
                &Place::environment(Hive::CurrentUser),
                &Place::environment(Hive::LocalMachine),
            ]
        );
        assert_eq!(serde_json::to_string(&places).unwrap(), kept);
        assert_eq!(
            Place::environment(Hive::CurrentUser).to_string(),
            "HKCU\\Environment"
        );
        // Anything else is a file.
        for text in [
            "registry:HKCR\\x",
            "registry:HKCUx",
            "C:\\Users\\ada\\.npmrc",
        ] {
            assert_eq!(Place::parse(text), Place::File(text.into()), "{text}");
        }
    }
}
