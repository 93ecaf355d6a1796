//! The agent's own folder: its identity and key, the server keys it trusts, the last verified
//! envelope, what it applied, and for every file it touched what was there before.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchyard_proto::delivery::Envelope;
use switchyard_proto::signing::Signed;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::files;
use crate::place::Place;
use crate::plan::{Setting, Target};

/// Where the agent is enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The server's base URL.
    pub server: String,
    /// This machine's id there.
    pub device_id: Uuid,
    /// Its environment at enrollment.
    pub environment: String,
    /// Its machine role at enrollment.
    pub machine_role: String,
}

/// What the agent last applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The delivery's sequence.
    pub sequence: u64,
    /// Its environment.
    pub environment: String,
    /// Its machine role.
    pub machine_role: String,
    /// Its baseline version.
    pub baseline_version: u64,
    /// Its overlay version.
    pub overlay_version: u64,
    /// When the server issued it.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When the agent applied it.
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    /// When the agent last heard from the server.
    #[serde(with = "time::serde::rfc3339")]
    pub last_contact: OffsetDateTime,
    /// The server's name for the delivery, for `If-None-Match`.
    pub etag: Option<String>,
    /// How each target went: (target, state, message).
    pub targets: Vec<(String, String, Option<String>)>,
    /// When `restore` took everything back, if it did since: nothing of this delivery is
    /// applied any more.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub restored_at: Option<OffsetDateTime>,
    /// When the clients were last asked what they read.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
}

/// A setting the agent manages in a file, and what the file held for it before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    /// The setting, with the values the agent wrote.
    pub setting: Setting,
    /// Its values before the agent first wrote it (`None`: not set).
    pub original: Option<Vec<String>>,
}

/// A place the agent has touched (a file, or a registry key of variables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedFile {
    /// Which target it is; `None` for a profile that only sources the shell snippet.
    pub target: Option<Target>,
    /// Whether it existed before the agent first wrote it (its bytes are then in `backups/`).
    pub existed: bool,
    /// SHA-256 of what the agent last wrote.
    pub written: String,
    /// The settings managed in it, by id.
    pub settings: BTreeMap<String, Managed>,
    /// For a profile: the line the agent added.
    pub hook: Option<String>,
    /// The file's permission bits before the agent first wrote it (Unix), given back by
    /// `restore`: a token makes a file owner-only while the agent manages it.
    #[serde(default)]
    pub mode: Option<u32>,
    /// Folders the agent created to write the file, outermost first; `restore` removes those
    /// left empty.
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// A write the agent was about to make, recorded before it (a write-ahead note): what the
    /// entry becomes once the file holds those bytes (`written`; empty for a removal). A sync
    /// killed between the write and the manifest's own save leaves it here, and the next run
    /// settles it by the file's bytes ([`Manifest::settle`]), so the agent never loses track
    /// of settings it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Box<ManagedFile>>,
}

/// The agent's latest probes of the endpoints of the delivery it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probed {
    /// The sequence of that delivery.
    pub sequence: u64,
    /// When the probes ran.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// When they are due again, drawn once so that a fleet spreads out.
    #[serde(with = "time::serde::rfc3339")]
    pub due: time::OffsetDateTime,
    /// What each found.
    pub probes: Vec<switchyard_proto::devices::EndpointProbe>,
}

/// The last status report the server took, so that `run` sends an unchanged one again only
/// once a heartbeat is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    /// SHA-256 of the report's JSON, in hex.
    pub digest: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

/// Every place the agent touched: files by path, registry keys by name ([`Place`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The places (`files` in the state folder, as agents have always named them).
    #[serde(rename = "files")]
    pub places: BTreeMap<Place, ManagedFile>,
}

impl Manifest {
    /// What the agent keeps of the file at `path`.
    pub fn file(&self, path: &Path) -> Option<&ManagedFile> {
        self.places.get(&Place::File(path.to_owned()))
    }

    /// Keeps `entry` for the file at `path`.
    pub fn keep_file(&mut self, path: &Path, entry: ManagedFile) {
        self.places.insert(Place::File(path.to_owned()), entry);
    }

    /// Forgets the file at `path`.
    pub fn forget_file(&mut self, path: &Path) {
        self.places.remove(&Place::File(path.to_owned()));
    }

    /// Settles the writes a run was cut off in ([`ManagedFile::pending`]): a file that holds
    /// the pending bytes (or is gone, for a removal) takes the pending entry (or is forgotten);
    /// one that does not keeps the entry it had, and an entry made only to note the write
    /// goes. A file that cannot be read keeps its note for the next run.
    pub fn settle(&mut self) {
        let mut forget = Vec::new();
        for (place, entry) in &mut self.places {
            let Place::File(path) = place else { continue };
            let Some(pending) = entry.pending.take() else {
                continue;
            };
            let landed = match crate::files::read(path) {
                Ok(Some(bytes)) => crate::files::digest(&bytes) == pending.written,
                Ok(None) => pending.written.is_empty(),
                Err(_) => {
                    entry.pending = Some(pending);
                    continue;
                }
            };
            match (landed, pending.written.is_empty()) {
                (true, true) => forget.push(place.clone()),
                (true, false) => *entry = *pending,
                (false, _) if entry.written.is_empty() && entry.settings.is_empty() => {
                    forget.push(place.clone())
                }
                (false, _) => {}
            }
        }
        for place in forget {
            self.places.remove(&place);
        }
    }
}

/// What went wrong with the state folder.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state folder {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file in it is damaged.
    #[error("state folder: {path} is damaged ({problem}); move the folder aside and enroll again, or run `restore` with the folder as it is")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// Where the agent is enrolled ([`Identity`]).
const IDENTITY: &str = "identity.json";
/// The device's private key.
const DEVICE_KEY: &str = "device.key";
/// The trusted key sets.
const KEY_SETS: &str = "key-sets.json";
/// The highest delivery sequence accepted.
const ACCEPTED_SEQUENCE: &str = "accepted-sequence.json";
/// What was last applied ([`Applied`]).
const APPLIED: &str = "applied.json";
/// The latest probes ([`Probed`]).
const PROBES: &str = "probes.json";
/// The last status reported ([`Reported`]).
const REPORTED: &str = "reported.json";
/// The mirrors' fallbacks in use.
const MIRRORS: &str = "mirrors.json";
/// Every file the agent manages ([`Manifest`]).
const MANIFEST: &str = "files.json";
/// Files' bytes from before the agent first wrote them.
const BACKUPS: &str = "backups";
/// Held locked by `run` for as long as it runs ([`StateDir::hold_run`]).
const RUN_LOCK: &str = "run.lock";
/// Held locked by whoever writes here or to the files the agent lists
/// ([`StateDir::hold_writes`]).
const WRITE_LOCK: &str = "write.lock";
/// The last verified envelope.
const ENVELOPE: &str = "delivery-envelope.json";
/// Where agents kept it before deliveries were signed once for many machines (a format that
/// cannot be read as an [`Envelope`]): the first sync after an upgrade fetches anew.
const EARLIER_ENVELOPE: &str = "envelope.json";

/// Everything the agent keeps in its folder but its log ([`crate::log::is_log_file`]) and
/// the temporary files a killed write leaves ([`files::temporary_of`]): what
/// [`StateDir::delete`] removes.
const OWN: [&str; 14] = [
    RUN_LOCK,
    WRITE_LOCK,
    IDENTITY,
    DEVICE_KEY,
    KEY_SETS,
    ACCEPTED_SEQUENCE,
    APPLIED,
    PROBES,
    REPORTED,
    MIRRORS,
    MANIFEST,
    BACKUPS,
    ENVELOPE,
    EARLIER_ENVELOPE,
];

/// The agent's folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The folder at `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StateError> {
        let path = self.root.join(name);
        let Some(bytes) = files::read(&path).map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Damaged {
                path,
                problem: e.to_string(),
            })
    }

    fn write_json<T: Serialize>(
        &self,
        name: &str,
        value: &T,
        owner_only: bool,
    ) -> Result<(), StateError> {
        let path = self.root.join(name);
        let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        files::write_atomically(&path, &bytes, owner_only)
            .map_err(|source| StateError::Io { path, source })
    }

    /// Where the agent is enrolled, if it is.
    pub fn identity(&self) -> Result<Option<Identity>, StateError> {
        self.read_json(IDENTITY)
    }

    /// Keeps the enrollment.
    pub fn save_identity(&self, identity: &Identity) -> Result<(), StateError> {
        self.write_json(IDENTITY, identity, false)
    }

    /// The device key, when there is one.
    pub fn existing_device_key(&self) -> Result<Option<SigningKey>, StateError> {
        let path = self.root.join(DEVICE_KEY);
        let Some(text) = files::read(&path).map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?
        else {
            return Ok(None);
        };
        let seed: [u8; 32] = STANDARD
            .decode(String::from_utf8_lossy(&text).trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| StateError::Damaged {
                path: path.clone(),
                problem: "not a key".into(),
            })?;
        Ok(Some(SigningKey::from_bytes(&seed)))
    }

    /// The device key, made and kept owner-only the first time.
    pub fn device_key(&self) -> Result<SigningKey, StateError> {
        if let Some(key) = self.existing_device_key()? {
            return Ok(key);
        }
        let path = self.root.join(DEVICE_KEY);
        let mut seed = [0_u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        files::write_atomically(&path, STANDARD.encode(seed).as_bytes(), true)
            .map_err(|source| StateError::Io { path, source })?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// The signed key sets trusted, oldest first.
    pub fn key_sets(&self) -> Result<Vec<Signed>, StateError> {
        Ok(self.read_json(KEY_SETS)?.unwrap_or_default())
    }

    /// Keeps the trusted key sets.
    pub fn save_key_sets(&self, sets: &[Signed]) -> Result<(), StateError> {
        self.write_json(KEY_SETS, &sets, false)
    }

    /// The last verified envelope.
    pub fn envelope(&self) -> Result<Option<Envelope>, StateError> {
        self.read_json(ENVELOPE)
    }

    /// Keeps a verified envelope (it holds secrets: owner-only), and drops one kept in the
    /// format before deliveries were signed once for many machines.
    pub fn save_envelope(&self, envelope: &Envelope) -> Result<(), StateError> {
        self.write_json(ENVELOPE, envelope, true)?;
        let earlier = self.root.join(EARLIER_ENVELOPE);
        files::remove(&earlier).map_err(|source| StateError::Io {
            path: earlier,
            source,
        })
    }

    /// The highest delivery sequence this machine has accepted, applied or not: a sync cut off
    /// between accepting a delivery and recording it as applied must not let an older one back in.
    pub fn accepted_sequence(&self) -> Result<Option<u64>, StateError> {
        self.read_json(ACCEPTED_SEQUENCE)
    }

    /// Keeps the highest delivery sequence accepted.
    pub fn save_accepted_sequence(&self, sequence: u64) -> Result<(), StateError> {
        self.write_json(ACCEPTED_SEQUENCE, &sequence, false)
    }

    /// What was last applied.
    pub fn applied(&self) -> Result<Option<Applied>, StateError> {
        self.read_json(APPLIED)
    }

    /// Keeps what was applied.
    pub fn save_applied(&self, applied: &Applied) -> Result<(), StateError> {
        self.write_json(APPLIED, applied, false)
    }

    /// The latest probes, if any ran.
    pub fn probed(&self) -> Result<Option<Probed>, StateError> {
        self.read_json(PROBES)
    }

    /// Keeps the latest probes.
    pub fn save_probed(&self, probed: &Probed) -> Result<(), StateError> {
        self.write_json(PROBES, probed, false)
    }

    /// The last status report the server took, if any.
    pub fn reported(&self) -> Result<Option<Reported>, StateError> {
        self.read_json(REPORTED)
    }

    /// Forgets the last status report: the server was told something else since, so the
    /// next report is sent whatever it says.
    pub fn forget_reported(&self) -> Result<(), StateError> {
        let path = self.root.join(REPORTED);
        files::remove(&path).map_err(|source| StateError::Io { path, source })
    }

    /// Keeps the last status report the server took.
    pub fn save_reported(&self, reported: &Reported) -> Result<(), StateError> {
        self.write_json(REPORTED, reported, false)
    }

    /// Which fallbacks stand in for which mirrors ([`crate::failover`]), if any was chosen.
    pub fn mirrors(&self) -> Result<Option<crate::failover::Mirrors>, StateError> {
        self.read_json(MIRRORS)
    }

    /// Keeps which fallbacks stand in for which mirrors.
    pub fn save_mirrors(&self, mirrors: &crate::failover::Mirrors) -> Result<(), StateError> {
        self.write_json(MIRRORS, mirrors, false)
    }

    /// Every file touched.
    pub fn manifest(&self) -> Result<Manifest, StateError> {
        Ok(self.read_json(MANIFEST)?.unwrap_or_default())
    }

    /// Keeps the manifest.
    pub fn save_manifest(&self, manifest: &Manifest) -> Result<(), StateError> {
        self.write_json(MANIFEST, manifest, true)
    }

    fn backup_path(&self, file: &Path) -> PathBuf {
        self.root
            .join(BACKUPS)
            .join(files::digest(file.to_string_lossy().as_bytes()))
    }

    /// Keeps a file's bytes from before the agent first wrote it (owner-only: they may hold
    /// the user's own tokens).
    pub fn save_backup(&self, file: &Path, bytes: &[u8]) -> Result<(), StateError> {
        let path = self.backup_path(file);
        files::write_atomically(&path, bytes, true)
            .map_err(|source| StateError::Io { path, source })
    }

    /// A file's bytes from before the agent first wrote it.
    pub fn backup(&self, file: &Path) -> Result<Vec<u8>, StateError> {
        let path = self.backup_path(file);
        files::read(&path)
            .map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?
            .ok_or(StateError::Damaged {
                path,
                problem: "the backup is missing".into(),
            })
    }

    /// Forgets a file's backup.
    pub fn drop_backup(&self, file: &Path) -> Result<(), StateError> {
        let path = self.backup_path(file);
        files::remove(&path).map_err(|source| StateError::Io { path, source })
    }

    /// Locks the folder for one `run` (the service's, or one by hand) for as long as the
    /// file lives, across processes; `None` when another process holds it. A `run` or
    /// `remove` meeting a `run` on the same folder stops rather than write under it.
    ///
    /// # Errors
    /// [`StateError::Io`] when the lock file cannot be made or locked.
    pub fn hold_run(&self) -> Result<Option<std::fs::File>, StateError> {
        let path = self.root.join(RUN_LOCK);
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        let file = open_lock(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(error)) => Err(io(error)),
        }
    }

    /// Waits until no other process (or thread) writes under this folder or to the files it
    /// lists, and keeps it so for as long as the file lives: a `sync` from its delivery's
    /// arrival to its report, a `restore`, a `remove`. Writes are never interleaved: two
    /// syncs would each take the first one's file for the user's original and back it up,
    /// and each sweeps the other's temporary files as a killed write's leftovers. `None`
    /// when the folder does not exist (nothing was written here) or the agent was removed
    /// while this waited: there is nothing to write for.
    ///
    /// # Errors
    /// [`StateError::Io`] when the lock file cannot be made or locked.
    pub fn hold_writes(&self) -> Result<Option<std::fs::File>, StateError> {
        let path = self.root.join(WRITE_LOCK);
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let file = match open_lock(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io(error)),
        };
        file.lock().map_err(io)?;
        // Deleted while this waited: the agent was removed ([`StateDir::delete`]).
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(file))
    }

    /// How many backups are kept: after a whole `restore`, any left belongs to no file the
    /// agent lists (a manifest lost or replaced), and is someone's only copy of those bytes.
    pub fn backups_kept(&self) -> usize {
        std::fs::read_dir(self.root.join(BACKUPS))
            .map(|entries| entries.flatten().filter(is_backup).count())
            .unwrap_or(0)
    }

    /// Deletes everything the agent keeps here (its key, the last delivery with its secrets,
    /// the backups, its log), then the folder itself when nothing else is in it. Anything
    /// else in the folder is left alone (it may be one a person chose with `--state-dir`)
    /// and returned. A folder that does not exist is nothing to delete.
    ///
    /// `held` are the locks taken on this folder ([`StateDir::hold_run`],
    /// [`StateDir::hold_writes`]): they are let go once all else is gone, then their files
    /// deleted (Windows only marks an open file for deletion, and the folder holding it
    /// stays). A sync that waited on them finds no machine to write for.
    ///
    /// # Errors
    /// [`StateError::Io`] for an entry that could not be deleted; those before it are gone.
    pub fn delete(&self, held: Vec<std::fs::File>) -> Result<Vec<PathBuf>, StateError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io(&self.root)(error)),
        };
        let mut left = Vec::new();
        let mut ours = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let own = |name: &str| OWN.contains(&name) || crate::log::is_log_file(name);
            match own(&name) || files::temporary_of(&name).is_some_and(own) {
                true => ours.push(entry),
                false => left.push(entry.path()),
            }
        }
        // Who the machine is goes last of what the locks guard: a delete cut short can be
        // run again.
        let (locks, mut ours): (Vec<_>, Vec<_>) = ours.into_iter().partition(|entry| {
            let name = entry.file_name();
            name == RUN_LOCK || name == WRITE_LOCK
        });
        ours.sort_by_key(|entry| {
            let name = entry.file_name();
            name == DEVICE_KEY || name == IDENTITY
        });
        for entry in ours {
            let path = entry.path();
            let is_folder = entry.file_type().map_err(io(&path))?.is_dir();
            if is_folder && entry.file_name() == BACKUPS {
                left.extend(self.delete_backups(&path).map_err(io(&path))?);
                continue;
            }
            // A link is removed, never followed.
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        // The locks' files go while they are held, so that whoever waited on them finds
        // them gone once let in ([`StateDir::hold_writes`]); already gone is as good.
        for entry in locks {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    return Err(io(&path)(error));
                }
                _ => {}
            }
        }
        drop(held);
        if left.is_empty() {
            remove_folder(&self.root).map_err(io(&self.root))?;
        }
        left.sort();
        Ok(left)
    }

    /// Deletes the backups in `folder` (files named by a digest, as the agent names them),
    /// then the folder when nothing else is in it; answers what else is.
    fn delete_backups(&self, folder: &Path) -> io::Result<Vec<PathBuf>> {
        let mut left = Vec::new();
        for entry in std::fs::read_dir(folder)? {
            let entry = entry?;
            match is_backup(&entry) {
                true => std::fs::remove_file(entry.path())?,
                false => left.push(entry.path()),
            }
        }
        if left.is_empty() {
            std::fs::remove_dir(folder)?;
        }
        Ok(left)
    }
}

/// The lock file `path`, made if missing (its content is never read: only its lock counts).
fn open_lock(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Removes the empty folder `root`. Windows deletes a file only once the last handle to it
/// closes: a process that waited on a lock file deleted under it closes it a moment later,
/// so a folder that still lists it is tried again for up to a second.
fn remove_folder(root: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(root) {
            Err(error) if error.kind() == io::ErrorKind::DirectoryNotEmpty && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            done => return done,
        }
    }
}

/// Whether `entry` of the backups folder is a backup: a file named by a SHA-256 in hex
/// ([`StateDir::save_backup`]).
fn is_backup(entry: &std::fs::DirEntry) -> bool {
    let name = entry.file_name();
    let name = name.to_string_lossy();
    name.len() == 64
        && name.bytes().all(|b| b.is_ascii_hexdigit())
        && entry.file_type().is_ok_and(|kind| kind.is_file())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use switchyard_proto::delivery::MachineProof;

    use super::*;

    #[test]
    fn delete_takes_the_agents_own_files_and_leaves_everything_else() {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path().join("state");
        let state = StateDir::new(root.clone());
        assert_eq!(
            state.delete(Vec::new()).unwrap(),
            Vec::<PathBuf>::new(),
            "nothing there"
        );
        state.device_key().unwrap();
        state.save_accepted_sequence(7).unwrap();
        state
            .save_backup(Path::new("/home/ada/.npmrc"), b"mine")
            .unwrap();
        assert_eq!(state.backups_kept(), 1);
        for name in [
            "agent.log",
            "agent.log.2",
            ".files.json.switchyard-4242",
            "notes.txt",
            "agent.log.old",
            ".notes.txt.switchyard-1",
            "backups/photo.jpg",
        ] {
            std::fs::write(root.join(name), "x").unwrap();
        }

        let left = state.delete(Vec::new()).unwrap();
        let names: Vec<_> = left
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                ".notes.txt.switchyard-1",
                "agent.log.old",
                "backups/photo.jpg",
                "notes.txt"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 4);
        assert_eq!(state.backups_kept(), 0, "the agent's backup went");
        assert!(state.existing_device_key().unwrap().is_none());

        // A link named as the agent's folder goes; what it points at stays.
        std::fs::remove_dir_all(&root).unwrap();
        state.save_accepted_sequence(8).unwrap();
        let elsewhere = folder.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("keep"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&elsewhere, root.join(BACKUPS)).unwrap();
        assert!(state.delete(Vec::new()).unwrap().is_empty());
        assert!(
            !root.exists(),
            "the folder goes once it holds only the agent's"
        );
        assert!(elsewhere.join("keep").is_file());
    }

    #[test]
    fn one_run_holds_the_folder_at_a_time() {
        let folder = tempfile::tempdir().unwrap();
        let state = StateDir::new(folder.path().join("state"));
        let held = state.hold_run().unwrap();
        assert!(held.is_some());
        assert!(state.hold_run().unwrap().is_none(), "held elsewhere");
        drop(held);
        assert!(state.hold_run().unwrap().is_some(), "free again");
    }

    #[test]
    fn writes_hold_the_folder_one_at_a_time_and_a_folder_gone_is_not_made_again() {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path().join("state");
        let state = StateDir::new(root.clone());
        assert!(state.hold_writes().unwrap().is_none(), "no folder yet");
        assert!(!root.exists(), "nor made by asking");
        std::fs::create_dir(&root).unwrap();
        let held = state.hold_writes().unwrap().unwrap();
        let other = std::fs::File::open(root.join(WRITE_LOCK)).unwrap();
        assert!(
            matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            "held elsewhere"
        );
        drop(other);
        // Deleting takes the lock files too, and lets go of the locks it is given.
        assert!(state.delete(vec![held]).unwrap().is_empty());
        assert!(!root.exists());
        assert!(state.hold_writes().unwrap().is_none(), "nothing to hold");
        assert!(!root.exists());
    }

    #[test]
    fn an_envelope_kept_by_an_earlier_agent_is_fetched_anew_and_then_dropped() {
        let folder = tempfile::tempdir().unwrap();
        let state = StateDir::new(folder.path().to_owned());
        let earlier = folder.path().join(EARLIER_ENVELOPE);
        std::fs::write(
            &earlier,
            br#"{"payload":"e30","key_id":"k","signature":"s"}"#,
        )
        .unwrap();
        // Nothing to answer a 304 with: the next fetch asks for the whole envelope.
        assert_eq!(state.envelope().unwrap(), None);
        let envelope = Envelope {
            payload: "e30".into(),
            key_id: "k".into(),
            signature: "s".into(),
            machine: MachineProof {
                device_id: Uuid::nil(),
                index: 0,
                path: Vec::new(),
            },
        };
        state.save_envelope(&envelope).unwrap();
        assert_eq!(state.envelope().unwrap(), Some(envelope));
        assert!(
            !earlier.exists(),
            "the earlier envelope holds secrets: it goes"
        );
    }
}
