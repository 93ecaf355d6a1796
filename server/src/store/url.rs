//! Where the data lives: the `database_url` setting, a SQLite file or a Postgres server, never
//! shown with its password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where the data lives: a SQLite file or a Postgres server.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file, created when missing.
    Sqlite(PathBuf),
    /// A Postgres connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Short name of the store kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let scheme = text.split_once(':').map(|(scheme, _)| scheme);
        match scheme {
            Some("postgres" | "postgresql") => {
                let parsed = url::Url::parse(text)
                    .map_err(|e| format!("{:?} is not a valid URL: {e}", redact(text)))?;
                if parsed.host_str().is_none_or(str::is_empty) && !text.contains("host=") {
                    return Err(format!("{:?} names no host", redact(text)));
                }
                Ok(DatabaseUrl::Postgres(text.to_owned()))
            }
            Some("sqlite") => {
                let rest = &text["sqlite:".len()..];
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split_once('?').map_or(path, |(path, _)| path);
                if path.is_empty() || path == ":memory:" {
                    return Err(format!(
                        "{text:?} names no file; use sqlite://PATH (an in-memory database would lose everything on restart)"
                    ));
                }
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
            _ => Err(format!(
                "{:?} has an unknown scheme; use postgres://USER@HOST/DB or sqlite://PATH",
                redact(text)
            )),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// Never show a password: `Debug` prints the same redacted text as `Display`.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A URL with its password replaced by `***`, fit for logs and error messages.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Setting a password only fails for URLs that cannot have one.
                let _ = parsed.set_password(Some("***"));
            }
            // Postgres also takes the password as a query parameter.
            if parsed.query_pairs().any(|(key, _)| key == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if key == "password" {
                            "***".into()
                        } else {
                            value.into_owned()
                        };
                        (key.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Unparsable: hide everything between the scheme and the last `@`, where a password
        // would be.
        Err(_) => match (text.find("://"), text.rfind('@')) {
            (Some(start), Some(end)) if start + 3 <= end => {
                format!("{}***{}", &text[..start + 3], &text[end..])
            }
            _ => text.to_owned(),
        },
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DatabaseUrl::Sqlite(path) => {
                serializer.serialize_str(&format!("sqlite://{}", path.display()))
            }
            DatabaseUrl::Postgres(url) => serializer.serialize_str(url),
        }
    }
}
