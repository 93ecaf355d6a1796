//! Writing a user's files: atomically (a temporary file in the same folder, flushed, then
//! renamed over), with owner-only permissions where secrets go, and never an empty render over
//! a file that had content.
//!
//! A path is followed through its symbolic links to the file they name, and that file is read
//! and replaced: a `~/.gitconfig` linked into a dotfiles folder stays a link, and the dotfile
//! changes. Anything there that is not a regular file (a device such as `/dev/null`, a pipe,
//! a folder) is refused: read, written and removed alike, so nothing blocks on a pipe and no
//! device is replaced by a file. A file with several hard links is written in place, so that
//! every name keeps seeing it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Most symbolic links followed from one path, as Linux's own limit (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// What kind of thing is at `meta`, for messages.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The file `path` names once its symbolic links are followed (each relative link from its
/// own folder): a regular file, or where one would be created. Anything else is an error
/// saying what is there.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..=MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(error) => return Err(error),
        };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&current)?;
            current = match target.is_absolute() {
                true => target,
                false => current
                    .parent()
                    .map_or_else(|| target.clone(), |folder| folder.join(&target)),
            };
            continue;
        }
        if meta.is_file() {
            return Ok(current);
        }
        let shown = match current.as_path() == path {
            true => String::new(),
            false => format!(" (where its link leads: {})", current.display()),
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {}, not a regular file{shown}; it was left alone",
                path.display(),
                kind_of(&meta)
            ),
        ));
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} leads through more than {MAX_LINKS} symbolic links; it was left alone",
            path.display()
        ),
    ))
}

/// The file's bytes, or `None` when it does not exist (nor does the file its link names).
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let resolved = resolve(path)?;
    match fs::read(resolved) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The folders that writing `path` would create, outermost first.
pub fn missing_folders(path: &Path) -> Vec<PathBuf> {
    let Ok(resolved) = resolve(path) else {
        return Vec::new();
    };
    let mut missing: Vec<PathBuf> = resolved
        .ancestors()
        .skip(1)
        .filter(|folder| !folder.as_os_str().is_empty())
        .take_while(|folder| fs::symlink_metadata(folder).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// Replaces the file `path` names (through its links) with `content` in one step: readers see
/// the old file or the new one, never a part. `owner_only` makes it readable by its owner
/// alone; otherwise an existing file's permissions are kept. An existing file keeps its
/// owner, and a new one takes its folder's, where this process may give it (as root).
pub fn write_atomically(path: &Path, content: &[u8], owner_only: bool) -> io::Result<()> {
    let target = resolve(path)?;
    if hard_links(&target) > 1 {
        return write_in_place(&target, content, owner_only);
    }
    let folder = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    fs::create_dir_all(&folder)?;
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = temporary_prefix(&name);
    remove_leftovers(&folder, &prefix);
    let temporary = folder.join(format!("{prefix}{}", std::process::id()));
    let outcome = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
        set_permissions(&temporary, &target, owner_only)?;
        keep_owner(&temporary, &target, &folder);
        fs::rename(&temporary, &target)?;
        sync_folder(&folder);
        Ok(())
    })();
    if outcome.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    outcome
}

/// How many names (hard links) the file at `target` has; 1 where that cannot be told.
fn hard_links(target: &Path) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        fs::metadata(target).map_or(1, |meta| meta.nlink())
    }
    #[cfg(not(unix))]
    {
        let _ = target;
        1
    }
}

/// Writes a file that has several names (a dotfile hard-linked into a dotfiles folder) in
/// place, so that every name sees the new bytes: a rename would give this name a new file
/// and leave the others behind. Not atomic: a crash half-way can leave part of it.
fn write_in_place(target: &Path, content: &[u8], owner_only: bool) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(target)?;
    file.write_all(content)?;
    file.sync_all()?;
    if owner_only {
        set_permissions(target, target, true)?;
    }
    Ok(())
}

/// The permission bits of the file `path` names (Unix), if it exists.
pub fn mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let resolved = resolve(path).ok()?;
        fs::metadata(resolved)
            .ok()
            .map(|meta| meta.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Gives the file `path` names the permission bits `mode` (Unix; elsewhere nothing).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(resolve(path)?, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// The new file gets the owner of the file it replaces, or of its folder: an agent running as
/// root must not leave a user's file owned by root. Where this process may not give a file
/// away, it stays the writer's, as any editor's save would.
fn keep_owner(temporary: &Path, target: &Path, folder: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let owner = fs::metadata(target)
            .or_else(|_| fs::metadata(folder))
            .map(|meta| (meta.uid(), meta.gid()));
        let mine = fs::metadata(temporary).map(|meta| (meta.uid(), meta.gid()));
        if let (Ok(owner), Ok(mine)) = (owner, mine) {
            if owner != mine {
                let _ = std::os::unix::fs::chown(temporary, Some(owner.0), Some(owner.1));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (temporary, target, folder);
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

/// Removes the file `path` names; a file that is gone already is fine. A symbolic link stays
/// (it is the user's), the file it names goes.
pub fn remove(path: &Path) -> io::Result<()> {
    let target = resolve(path)?;
    if let (Some(folder), Some(name)) = (target.parent(), target.file_name()) {
        remove_leftovers(folder, &temporary_prefix(&name.to_string_lossy()));
    }
    match fs::remove_file(target) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Removes the temporary files a killed write to `path` (through its links) left beside it.
/// Writing and removing `path` do this too; this is for a file the next sync leaves as it is
/// (the killed write was its second in one sync, so it holds what it should already).
pub fn remove_leftovers_of(path: &Path) {
    if let Ok(target) = resolve(path) {
        if let (Some(folder), Some(name)) = (target.parent(), target.file_name()) {
            remove_leftovers(folder, &temporary_prefix(&name.to_string_lossy()));
        }
    }
}

/// How the temporary files of writes to the file `name` begin: `.NAME.switchyard-`, then the
/// writer's process id.
fn temporary_prefix(name: &str) -> String {
    format!(".{name}.switchyard-")
}

/// The name of the file that `name`, a temporary file of [`write_atomically`], was to become.
pub fn temporary_of(name: &str) -> Option<&str> {
    let (target, pid) = name.strip_prefix('.')?.rsplit_once(".switchyard-")?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(target)
}

/// A writer killed before its rename leaves its temporary file (`prefix` and its process id)
/// behind: never the file itself half-written. Such leftovers go whenever the file is next
/// written or removed.
fn remove_leftovers(folder: &Path, prefix: &str) {
    let own = format!("{prefix}{}", std::process::id());
    if let Ok(entries) = fs::read_dir(folder) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only `prefix` and a process id, and never this process's own write.
            let leftover = name.starts_with(prefix) && temporary_of(&name).is_some();
            if leftover && name != own {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Removes each of `folders` that is empty, innermost first; others stay.
pub fn remove_empty_folders(folders: &[PathBuf]) {
    let mut folders = folders.to_vec();
    folders.sort_by_key(|folder| std::cmp::Reverse(folder.components().count()));
    folders.dedup();
    for folder in folders {
        let _ = fs::remove_dir(folder);
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
