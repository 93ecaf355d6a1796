//! The agent's log file, for when nobody reads its output (a Windows service has none): one
//! line per event, with the time, in a file that is rotated by size so that a machine left
//! alone for years never fills its disk.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::clock::now;

/// How large the live file grows before it is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
/// How many rotated files are kept beside the live one (`agent.log.1` is the newest).
pub const DEFAULT_KEEP: u32 = 3;

/// The live log's name in its folder; rotated ones add `.1`, `.2` ...
const NAME: &str = "agent.log";

/// Whether `name` is the agent's log or one of its rotated files.
pub fn is_log_file(name: &str) -> bool {
    match name.strip_prefix(NAME) {
        Some("") => true,
        Some(rotated) => rotated
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// An append-only log file with rotation.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    // One writer at a time: the service's control thread and its worker both log.
    lock: Mutex<()>,
}

impl LogFile {
    /// `agent.log` in `folder`, rotated at [`DEFAULT_MAX_BYTES`], keeping [`DEFAULT_KEEP`].
    pub fn in_folder(folder: &Path) -> Self {
        Self::new(folder.join(NAME), DEFAULT_MAX_BYTES, DEFAULT_KEEP)
    }

    /// A log at `path` rotated when it would pass `max_bytes`, keeping `keep` old files.
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self {
            path,
            max_bytes,
            keep,
            lock: Mutex::new(()),
        }
    }

    /// The live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `message` as one line; line breaks inside it are escaped, so that one event is
    /// always one line. A log that cannot be written is not worth stopping the agent for.
    pub fn line(&self, message: &str) {
        let _held = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let text = format!(
            "{} {}\n",
            now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            message.replace('\r', "\\r").replace('\n', "\\n")
        );
        let _ = self.rotate_for(text.len() as u64).and_then(|()| {
            if let Some(folder) = self.path.parent() {
                fs::create_dir_all(folder)?;
            }
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?
                .write_all(text.as_bytes())
        });
    }

    /// Rotates when `coming` more bytes would take the live file past its limit.
    fn rotate_for(&self, coming: u64) -> io::Result<()> {
        let size = fs::metadata(&self.path).map_or(0, |m| m.len());
        if size == 0 || size + coming <= self.max_bytes {
            return Ok(());
        }
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.keep == 0 {
            return fs::remove_file(&self.path);
        }
        let _ = fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            match fs::rename(numbered(n), numbered(n + 1)) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        fs::rename(&self.path, numbered(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_rotate_by_size_and_only_the_newest_files_are_kept() {
        let folder = std::env::temp_dir().join(format!("switchyard-log-{}", uuid::Uuid::new_v4()));
        let log = LogFile::new(folder.join("agent.log"), 200, 2);
        for n in 0..40 {
            log.line(&format!("round {n} went well"));
        }
        let mut names: Vec<String> = fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["agent.log", "agent.log.1", "agent.log.2"]);
        for name in &names {
            let size = fs::metadata(folder.join(name)).unwrap().len();
            assert!(size <= 200, "{name} holds {size} bytes");
        }
        let live = fs::read_to_string(log.path()).unwrap();
        assert!(live.trim_end().ends_with("round 39 went well"), "{live}");
        let newest_rotated = fs::read_to_string(folder.join("agent.log.1")).unwrap();
        let last_rotated = newest_rotated.lines().last().unwrap();
        let first_live = live.lines().next().unwrap();
        let number =
            |line: &str| -> u32 { line.split_whitespace().nth(2).unwrap().parse().unwrap() };
        assert_eq!(
            number(last_rotated) + 1,
            number(first_live),
            "no line lost between files"
        );
        fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn a_message_with_line_breaks_stays_one_line() {
        let folder = std::env::temp_dir().join(format!("switchyard-log-{}", uuid::Uuid::new_v4()));
        let log = LogFile::in_folder(&folder);
        log.line("first\nforged line\r\n");
        let text = fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("first\\nforged line\\r\\n"));
        fs::remove_dir_all(folder).unwrap();
    }
}
