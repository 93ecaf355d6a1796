//! The server's current state as a folder (`switchyard export`), so that keeping it in git
//! starts from what is there: each environment the caller may read, its profiles' latest
//! versions, its machines' labels, and its grants when the caller is an admin (who alone
//! applies them). Secrets are written as kept
//! (`{ set = true }`): their values never leave the server.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use switchyard_proto::devices::DeviceStatus;
use switchyard_proto::{Environment, GlobalRole, MachineRole, User};

use crate::api::{segment, Api, ApiError};
use crate::folder::{self, ExportedEnvironment, Format};
use crate::profiles::latest;

/// Why the export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The server refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A file could not be written, or would be overwritten.
    #[error("{0}")]
    Files(String),
}

/// Writes one file per environment into `folder` (made if missing) and returns their paths.
/// Existing files are replaced only with `overwrite`.
///
/// # Errors
/// A server error; a file that exists (without `overwrite`) or cannot be written.
pub fn export(
    api: &mut Api,
    folder: &Path,
    format: Format,
    overwrite: bool,
) -> Result<Vec<PathBuf>, ExportError> {
    let me: User = api.get("/me")?;
    // Grants are written for admins only: only they apply them.
    let reads_users = me.global_role == Some(GlobalRole::Admin);
    let environments: Vec<Environment> = api.get("/environments")?;
    let roles: Vec<MachineRole> = api.get("/machine-roles")?;
    let users: Vec<User> = match reads_users {
        true => api.get("/users")?,
        false => Vec::new(),
    };
    let extension = match format {
        Format::Toml => "toml",
        Format::Yaml => "yaml",
    };
    let mut files = Vec::new();
    for environment in &environments {
        let path = folder.join(format!("{}.{extension}", environment.name));
        if path.exists() && !overwrite {
            return Err(ExportError::Files(format!(
                "{} exists; export into an empty folder, or pass --overwrite",
                path.display()
            )));
        }
        // Two files for one environment would make the folder unreadable.
        for other in ["toml", "yaml", "yml"].iter().filter(|e| **e != extension) {
            let sibling = folder.join(format!("{}.{other}", environment.name));
            if sibling.exists() {
                return Err(ExportError::Files(format!(
                    "{} exists; remove it or export as {other}",
                    sibling.display()
                )));
            }
        }
        files.push(path);
    }
    // Everything is read before any file is written: a failure leaves the folder as it was.
    let mut texts = Vec::new();
    for (environment, path) in environments.iter().zip(files) {
        let name = environment.name.as_str();
        let mut overlays = BTreeMap::new();
        for role in &roles {
            overlays.insert(role.name.clone(), latest(api, name, role.name.as_str())?.1);
        }
        let grants = reads_users.then(|| {
            users
                .iter()
                .filter_map(|user| {
                    let grant = user
                        .grants
                        .iter()
                        .find(|g| g.environment == environment.name)?;
                    Some((user.username.clone(), grant.role))
                })
                .collect()
        });
        let machines: Vec<DeviceStatus> =
            api.get(&format!("/environments/{}/devices", segment(name)))?;
        let labels = machines
            .into_iter()
            .filter(|m| m.device.revoked_at.is_none() && !m.device.labels.is_empty())
            .map(|m| (m.device.id, m.device.labels))
            .collect();
        let state = ExportedEnvironment {
            description: environment.description.clone(),
            protected: environment.protected,
            baseline: latest(api, name, "baseline")?.1,
            roles: overlays,
            grants,
            labels,
        };
        texts.push((
            path,
            folder::write(&state, format).map_err(ExportError::Files)?,
        ));
    }
    fs::create_dir_all(folder)
        .map_err(|e| ExportError::Files(format!("cannot make {}: {e}", folder.display())))?;
    let mut written = Vec::new();
    for (path, text) in texts {
        fs::write(&path, text)
            .map_err(|e| ExportError::Files(format!("cannot write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}
