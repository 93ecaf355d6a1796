//! Writing a user's files: atomically (a temporary file in the same folder, flushed, then
//! renamed over), with owner-only permissions where secrets go, and never an empty render over
//! a file that had content.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

/// The file's bytes, or `None` when it does not exist.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Replaces `path` with `content` in one step: readers see the old file or the new one, never
/// a part. `owner_only` makes it readable by its owner alone; otherwise an existing file's
/// permissions are kept.
pub fn write_atomically(path: &Path, content: &[u8], owner_only: bool) -> io::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.switchyard-");
    // A writer killed before its rename leaves its temporary file behind: never the file
    // itself half-written. Such leftovers go now.
    if let Ok(entries) = fs::read_dir(folder) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let temporary = folder.join(format!("{prefix}{}", std::process::id()));
    let outcome = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
        set_permissions(&temporary, path, owner_only)?;
        fs::rename(&temporary, path)?;
        sync_folder(folder);
        Ok(())
    })();
    if outcome.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    outcome
}

#[cfg(unix)]
fn set_permissions(temporary: &Path, target: &Path, owner_only: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = match (owner_only, fs::metadata(target)) {
        (true, _) => 0o600,
        (false, Ok(existing)) => existing.permissions().mode() & 0o7777,
        (false, Err(_)) => 0o644,
    };
    fs::set_permissions(temporary, fs::Permissions::from_mode(mode))
}

#[cfg(windows)]
fn set_permissions(temporary: &Path, _target: &Path, owner_only: bool) -> io::Result<()> {
    // Otherwise the file takes its folder's inherited access list, as the user's own do.
    match owner_only {
        true => crate::platform::windows::owner_only(temporary),
        false => Ok(()),
    }
}

/// Makes the rename durable where the platform allows.
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(folder) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

/// Removes `path`; a file that is gone already is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// SHA-256 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary_behind() {
        let folder = tempfile_dir();
        let path = folder.join("sub").join(".npmrc");
        write_atomically(&path, b"registry=https://r/\n", true).unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), b"registry=https://r/\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // What a writer killed half-way leaves: its temporary file, never a half file.
        fs::write(
            path.parent().unwrap().join("..npmrc.switchyard-999999"),
            b"regis",
        )
        .unwrap();
        write_atomically(&path, b"", false).unwrap();
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "the leftover is cleared");
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(read(&path).unwrap().is_none());
        fs::remove_dir_all(folder).unwrap();
    }

    /// Another program holding the file open without sharing it: the write fails with the
    /// system's reason, the file keeps its bytes, no temporary is left.
    #[cfg(windows)]
    #[test]
    fn a_file_another_program_holds_open_is_left_as_it_was() {
        use std::os::windows::fs::OpenOptionsExt as _;
        let folder = tempfile_dir();
        let path = folder.join(".npmrc");
        fs::write(&path, b"registry=https://mine/\r\n").unwrap();
        let held = fs::OpenOptions::new()
            .read(true)
            .share_mode(0)
            .open(&path)
            .unwrap();
        let refused = write_atomically(&path, b"registry=https://r/\r\n", true);
        assert!(refused.is_err(), "{refused:?}");
        drop(held);
        assert_eq!(fs::read(&path).unwrap(), b"registry=https://mine/\r\n");
        assert_eq!(
            fs::read_dir(&folder).unwrap().count(),
            1,
            "no temporary left"
        );
        fs::remove_dir_all(folder).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let folder =
            std::env::temp_dir().join(format!("switchyard-files-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&folder).unwrap();
        folder
    }
}
