//! Where the command line keeps who it is: one file, readable by its owner only, in the user's
//! configuration folder (`$SWITCHYARD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/switchyard`, else
//! `~/.config/switchyard`; `%APPDATA%\switchyard` on Windows). `SWITCHYARD_TOKEN` and
//! `SWITCHYARD_SERVER` take precedence and are never written down.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A server and a bearer token for it: an API token, or a session's access token with the
/// refresh token that renews it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The server's base URL.
    pub server: String,
    /// Sent as `Authorization: Bearer ...`.
    pub token: String,
    /// For a session: buys a new pair when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Never the tokens themselves.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("server", &self.server)
            .field("session", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The credentials file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The file in the configuration folder the environment names, if any is named.
    pub fn default_location() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        let folder = var("SWITCHYARD_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                if cfg!(windows) {
                    var("APPDATA").map(|dir| PathBuf::from(dir).join("switchyard"))
                } else {
                    var("XDG_CONFIG_HOME")
                        .map(|dir| PathBuf::from(dir).join("switchyard"))
                        .or_else(|| {
                            var("HOME").map(|home| PathBuf::from(home).join(".config/switchyard"))
                        })
                }
            })?;
        Some(Self::at(&folder))
    }

    /// The file in `folder`.
    pub fn at(folder: &Path) -> Self {
        Self {
            path: folder.join("credentials.json"),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential kept, if any.
    ///
    /// # Errors
    /// A file that cannot be read or is not a credential.
    pub fn load(&self) -> Result<Option<Credential>, String> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                format!(
                    "{} is not a credentials file ({e}); remove it and run `switchyard login`",
                    self.path.display()
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(format!("cannot read {}: {error}", self.path.display())),
        }
    }

    /// Keeps `credential`, replacing the file whole: written beside it, readable by its owner
    /// only from the start, then renamed over it.
    ///
    /// # Errors
    /// The folder or file cannot be written.
    pub fn save(&self, credential: &Credential) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("cannot write {}: {e}", self.path.display());
        let folder = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(folder).map_err(fail)?;
        let staged = folder.join(".credentials.json.new");
        let _ = fs::remove_file(&staged);
        let mut file = owner_only(&staged).map_err(fail)?;
        let bytes = serde_json::to_vec_pretty(credential).map_err(|e| e.to_string())?;
        file.write_all(&bytes).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        drop(file);
        fs::rename(&staged, &self.path).map_err(fail)
    }

    /// Forgets the credential.
    ///
    /// # Errors
    /// The file exists and cannot be removed.
    pub fn remove(&self) -> Result<bool, String> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(format!("cannot remove {}: {error}", self.path.display())),
        }
    }
}

/// A new file only its owner may read and write (mode 0600 on Unix; on Windows the user's
/// profile folder is already the owner's alone).
fn owner_only(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_kept_for_its_owner_only_and_never_shown() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::at(&folder.path().join("nested"));
        assert_eq!(store.load().unwrap(), None);
        let credential = Credential {
            server: "http://127.0.0.1:1".into(),
            token: "syt_secret".into(),
            refresh_token: Some("refresh-secret".into()),
        };
        store.save(&credential).unwrap();
        store.save(&credential).unwrap();
        assert_eq!(store.load().unwrap(), Some(credential.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{credential:?}").contains("secret"));
        assert!(store.remove().unwrap());
        assert!(!store.remove().unwrap());
        fs::write(store.path(), "not json").unwrap();
        assert!(store.load().unwrap_err().contains("switchyard login"));
    }
}
