//! Applying a plan to the user's files and taking it back: each file edited in place, only
//! the managed keys changed, written atomically, with what was there before kept so that
//! `restore` gives it back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_proto::devices::TargetState;

use crate::files;
use crate::formats::envfile;
use crate::formats::Editor;
use crate::place::Place;
use crate::plan::{Setting, Target};
use crate::platform::{self, Dirs, Os, Platform, Scope};
use crate::state::{Managed, ManagedFile, Manifest, StateDir, StateError};

/// Where each managed target's file is, for one user or for the whole machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// By target; a target missing here is not managed at this scope.
    pub files: BTreeMap<Target, PathBuf>,
    /// The login files that source the shell snippet, one for each shell's own reading
    /// ([`crate::clients::shell::login_files`]); none where login shells read it by
    /// themselves, as `/etc/profile.d/` is.
    pub profiles: Vec<PathBuf>,
    /// Whether secrets may be written (only into a user's own files).
    pub secrets_allowed: bool,
    /// Where environment variables go when not in files: the registry key of the user or of
    /// the machine (Windows); `None` where files carry them.
    pub variables: Option<Place>,
}

impl Paths {
    /// The user's files, as the clients find them through `env`: on Linux `HOME` and
    /// `XDG_CONFIG_HOME`, on Windows `USERPROFILE` and `APPDATA`; on both
    /// `NPM_CONFIG_USERCONFIG`, `GOENV` and `GIT_CONFIG_GLOBAL`.
    pub fn user(env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        Self::user_on(platform::current(), &env)
    }

    /// [`Paths::user`] as `platform` lays them out.
    pub fn user_on(
        platform: &dyn Platform,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let dirs = platform.user_dirs(env)?;
        let profiles = match (&dirs, platform.os()) {
            (Dirs::User { home, .. }, Os::Unix) => {
                crate::clients::shell::login_files(home, |name| platform::set(env, name))
            }
            _ => Vec::new(),
        };
        Ok(Self {
            files: files(platform.os(), &dirs, env),
            profiles,
            secrets_allowed: true,
            variables: platform.variables_key(Scope::User),
        })
    }

    /// The machine-wide files. Linux: pip's and git's system files, `/etc/environment.d/` and
    /// `/etc/profile.d/`; npm and Go have no machine-wide file of their own there, so their
    /// settings reach every user as environment variables. Windows: `%ProgramData%\pip\pip.ini`
    /// and Git for Windows' system file. Secrets are never written at this scope.
    pub fn machine(env: impl Fn(&str) -> Option<String>) -> Self {
        Self::machine_on(platform::current(), &env)
    }

    /// [`Paths::machine`] as `platform` lays them out.
    pub fn machine_on(platform: &dyn Platform, env: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            files: files(platform.os(), &platform.machine_dirs(env), env),
            profiles: Vec::new(),
            secrets_allowed: false,
            variables: platform.variables_key(Scope::Machine),
        }
    }
}

/// Each client's file in `dirs`, where the agent writes one there.
fn files(os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> BTreeMap<Target, PathBuf> {
    crate::clients::ALL
        .iter()
        .filter_map(|client| Some((client.target(), client.file(os, dirs, env)?)))
        .collect()
}

/// How one target went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Which.
    pub target: Target,
    /// How.
    pub state: TargetState,
    /// What happened, for people.
    pub message: Option<String>,
    /// Settings found changed behind the agent's back (and put back).
    pub drift: Vec<String>,
}

/// The editor of `target`'s file format.
fn editor(target: Target) -> &'static dyn Editor {
    crate::clients::of(target).editor()
}

fn failed(target: Target, message: String) -> Outcome {
    Outcome {
        target,
        state: TargetState::Failed,
        message: Some(message),
        drift: Vec::new(),
    }
}

/// What a file should become, worked out without touching it.
#[derive(Debug)]
struct Planned {
    /// Its bytes now (`None`: it does not exist).
    bytes: Option<Vec<u8>>,
    /// The same, as text.
    content: String,
    /// What it should hold.
    rendered: String,
    /// The settings managed in it from now on.
    managed: BTreeMap<String, Managed>,
    /// Managed settings found changed by hand.
    drift: Vec<String>,
    /// Whether it existed before the agent first wrote it.
    existed: bool,
    /// Whether it holds a secret.
    secret: bool,
}

/// Works out what one file should become; `Err` is the failed outcome.
fn plan_file(
    entry: Option<&ManagedFile>,
    target: Target,
    path: &Path,
    desired: &[Setting],
) -> Result<Planned, Outcome> {
    let bytes = files::read(path)
        .map_err(|error| failed(target, format!("cannot read {}: {error}", path.display())))?;
    let content = String::from_utf8(bytes.clone().unwrap_or_default()).map_err(|_| {
        failed(
            target,
            format!("{} is not UTF-8 text; it was left alone", path.display()),
        )
    })?;
    if let Some((client, problem)) = editor(target).unreadable(&content) {
        return Err(failed(
            target,
            format!(
                "{client} cannot read {} either ({problem}); it was left alone: fix it first",
                path.display()
            ),
        ));
    }
    let mut drift = Vec::new();
    let mut changes: Vec<(&Setting, Option<Vec<String>>)> = Vec::new();
    let mut managed = BTreeMap::new();
    for setting in desired {
        let now = editor(target).current(&content, setting);
        let original = match entry.and_then(|e| e.settings.get(&setting.id)) {
            Some(known) => {
                if now.as_ref() != Some(&known.setting.values) {
                    drift.push(match setting.secret {
                        true => format!("{} was changed by hand", setting.name),
                        false => format!(
                            "{} was changed by hand to {}",
                            setting.name,
                            now.as_ref().map_or("(unset)".to_owned(), |v| v.join(" "))
                        ),
                    });
                }
                known.original.clone()
            }
            None => now,
        };
        managed.insert(
            setting.id.clone(),
            Managed {
                setting: setting.clone(),
                original,
            },
        );
        changes.push((setting, Some(setting.values.clone())));
    }
    // Settings managed before and not now go back to what they were.
    let retired: Vec<Managed> = entry
        .iter()
        .flat_map(|e| e.settings.values())
        .filter(|m| !managed.contains_key(&m.setting.id))
        .cloned()
        .collect();
    // Taken back first, then set: a retired setting never removes what a current one sets.
    let changes: Vec<(&Setting, Option<Vec<String>>)> = retired
        .iter()
        .map(|old| (&old.setting, old.original.clone()))
        .chain(changes)
        .collect();
    let rendered = editor(target)
        .render(&content, &changes)
        .map_err(|error| failed(target, error.to_string()))?;
    Ok(Planned {
        existed: entry.map_or(bytes.is_some(), |e| e.existed),
        secret: desired.iter().any(|s| s.secret),
        bytes,
        content,
        rendered,
        managed,
        drift,
    })
}

fn is_read_only(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().readonly())
}

/// Brings one file to `desired`, recording in `manifest` what it held before.
fn apply_file(
    state: &StateDir,
    manifest: &mut Manifest,
    target: Target,
    path: &Path,
    desired: &[Setting],
) -> Result<Outcome, StateError> {
    let entry = manifest.file(path).cloned();
    if desired.is_empty() && entry.is_none() {
        return Ok(Outcome {
            target,
            state: TargetState::Unchanged,
            message: None,
            drift: Vec::new(),
        });
    }
    let planned = match plan_file(entry.as_ref(), target, path, desired) {
        Ok(planned) => planned,
        Err(outcome) => return Ok(outcome),
    };
    let Planned {
        bytes,
        content,
        rendered,
        managed,
        drift,
        existed,
        secret,
    } = planned;
    let mut footprint = Footprint::of(entry.as_ref());
    let state_now = if rendered == content && (bytes.is_some() || rendered.is_empty()) {
        TargetState::Unchanged
    } else if is_read_only(path) {
        return Ok(failed(
            target,
            format!(
                "{} is read-only; it was left alone (make it writable to let the agent manage it)",
                path.display()
            ),
        ));
    } else if rendered.is_empty() && !existed {
        // Only the agent's own keys were there: the file goes as it came.
        note_pending(state, manifest, path, entry.as_ref(), |base| ManagedFile {
            written: String::new(),
            settings: BTreeMap::new(),
            ..base
        })?;
        if let Err(error) = files::remove(path) {
            return Ok(failed(
                target,
                format!("cannot remove {}: {error}", path.display()),
            ));
        }
        TargetState::Ok
    } else if rendered.is_empty() && !content.is_empty() {
        return Ok(failed(
            target,
            format!("{} would be left empty; it was left alone", path.display()),
        ));
    } else {
        let note = |state: &StateDir, footprint: &Footprint| {
            note_pending(state, manifest, path, entry.as_ref(), |base| ManagedFile {
                target: Some(target),
                existed,
                written: footprint.written.clone(),
                settings: managed.clone(),
                mode: footprint.mode,
                created: footprint.created.clone(),
                ..base
            })
        };
        match write_managed(
            state,
            path,
            entry.as_ref(),
            bytes.as_deref(),
            &rendered,
            secret,
            note,
        )? {
            Ok(written) => footprint = written,
            Err(problem) => return Ok(failed(target, problem)),
        }
        TargetState::Ok
    };
    if managed.is_empty() && !existed {
        manifest.forget_file(path);
    } else {
        manifest.keep_file(
            path,
            ManagedFile {
                target: Some(target),
                existed,
                written: footprint.written,
                settings: managed,
                hook: None,
                mode: footprint.mode,
                created: footprint.created,
                pending: None,
            },
        );
    }
    let message = (!drift.is_empty()).then(|| format!("put back: {}", drift.join("; ")));
    Ok(Outcome {
        target,
        state: state_now,
        message,
        drift,
    })
}

/// What undoing the agent's writes to a file needs beyond its bytes: what the agent last wrote
/// (its digest; empty when it never wrote the file), its mode before, and the folders made for
/// it.
#[derive(Debug, Default)]
struct Footprint {
    written: String,
    mode: Option<u32>,
    created: Vec<PathBuf>,
}

impl Footprint {
    /// As the manifest knows it already. A round that writes nothing keeps it: the file as the
    /// user has since made it is not what the agent wrote, and `restore` must keep their edits.
    fn of(entry: Option<&ManagedFile>) -> Self {
        entry.map_or_else(Self::default, |entry| Self {
            written: entry.written.clone(),
            mode: entry.mode,
            created: entry.created.clone(),
        })
    }
}

/// Notes in the manifest, saved at once, that `path` is about to become what `pending` makes
/// of its entry (or of a new one, for a file the agent never wrote): see
/// [`ManagedFile::pending`].
fn note_pending(
    state: &StateDir,
    manifest: &mut Manifest,
    path: &Path,
    entry: Option<&ManagedFile>,
    pending: impl FnOnce(ManagedFile) -> ManagedFile,
) -> Result<(), StateError> {
    let mut current = entry.cloned().unwrap_or_else(|| ManagedFile {
        target: None,
        existed: true,
        written: String::new(),
        settings: BTreeMap::new(),
        hook: None,
        mode: None,
        created: Vec::new(),
        pending: None,
    });
    current.pending = Some(Box::new(pending(ManagedFile {
        pending: None,
        ..current.clone()
    })));
    manifest.keep_file(path, current);
    state.save_manifest(manifest)
}

/// Writes `rendered` to `path`, which held `bytes`. The first time (no `entry`) its bytes are
/// kept for `restore` and its mode noted; the folders made for it are noted every time.
/// `note` hears the footprint the write will leave, before it is made (the write-ahead
/// note). `Ok(Err(_))` says why the file could not be written (it is as it was).
fn write_managed(
    state: &StateDir,
    path: &Path,
    entry: Option<&ManagedFile>,
    bytes: Option<&[u8]>,
    rendered: &str,
    secret: bool,
    note: impl FnOnce(&StateDir, &Footprint) -> Result<(), StateError>,
) -> Result<Result<Footprint, String>, StateError> {
    let mut footprint = Footprint::of(entry);
    if entry.is_none() {
        if let Some(original) = bytes {
            state.save_backup(path, original)?;
            footprint.mode = files::mode(path);
        }
    }
    let missing = files::missing_folders(path);
    let mut landing = Footprint {
        written: files::digest(rendered.as_bytes()),
        mode: footprint.mode,
        created: footprint.created.clone(),
    };
    landing.created.extend(missing.iter().cloned());
    note(state, &landing)?;
    if let Err(error) = files::write_atomically(path, rendered.as_bytes(), secret) {
        return Ok(Err(format!(
            "cannot write {}: {error}; it is as it was",
            path.display()
        )));
    }
    Ok(Ok(landing))
}

/// A file `sync` would change: its path, what it holds, what it would hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Which target.
    pub target: Target,
    /// The file.
    pub path: PathBuf,
    /// Its content now (empty when it does not exist).
    pub before: String,
    /// Its content after.
    pub after: String,
    /// Whether it holds a secret (a diff must not show values).
    pub secret: bool,
}

/// What `apply_all` would change, without changing anything; failures as outcomes.
pub fn preview_all(
    state: &StateDir,
    paths: &Paths,
    plan: &BTreeMap<Target, Vec<Setting>>,
) -> Result<(Vec<Preview>, Vec<Outcome>), StateError> {
    let mut manifest = state.manifest()?;
    manifest.settle();
    let mut previews = Vec::new();
    let mut failures = Vec::new();
    for target in Target::ALL {
        let desired = plan.get(&target).map(Vec::as_slice).unwrap_or_default();
        let Some(path) = paths.files.get(&target) else {
            continue;
        };
        let entry = manifest.file(path);
        if desired.is_empty() && entry.is_none() {
            continue;
        }
        match plan_file(entry, target, path, desired) {
            Ok(planned) if planned.rendered != planned.content => previews.push(Preview {
                target,
                path: path.clone(),
                before: planned.content,
                after: planned.rendered,
                secret: planned.secret
                    || entry.is_some_and(|e| e.settings.values().any(|m| m.setting.secret)),
            }),
            Ok(_) => {}
            Err(outcome) => failures.push(outcome),
        }
    }
    Ok((previews, failures))
}

/// Adds the line sourcing the shell snippet to every login file a shell reads
/// ([`Paths::profiles`]), or, when nothing is to be exported, takes it out of every file it
/// was added to. Returns what went wrong, by file.
fn hook_profiles(
    state: &StateDir,
    manifest: &mut Manifest,
    paths: &Paths,
    wanted: bool,
) -> Result<Vec<String>, StateError> {
    let Some(snippet) = paths.files.get(&Target::Shell) else {
        return Ok(Vec::new());
    };
    // A file hooked before and no longer read (the user removed their .bash_profile) is
    // left as it is: writing it would make bash read it instead of ~/.profile.
    let files: Vec<PathBuf> = match wanted {
        true => paths.profiles.clone(),
        false => manifest
            .places
            .iter()
            .filter(|(_, entry)| entry.hook.is_some())
            .filter_map(|(place, _)| place.path().map(Path::to_owned))
            .collect(),
    };
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let Ok(line) = envfile::source_line(&snippet.to_string_lossy()) else {
        return Ok(vec![
            "the shell snippet's path cannot be sourced safely".into()
        ]);
    };
    let mut problems = Vec::new();
    for path in files {
        if let Some(problem) = hook_one(state, manifest, &path, &line, wanted)? {
            problems.push(problem);
        }
    }
    Ok(problems)
}

/// Adds `line` to the login file `path`, or takes it out.
fn hook_one(
    state: &StateDir,
    manifest: &mut Manifest,
    path: &Path,
    line: &str,
    wanted: bool,
) -> Result<Option<String>, StateError> {
    let entry = manifest.file(path).cloned();
    if !wanted && entry.is_none() {
        return Ok(None);
    }
    let bytes = match files::read(path) {
        Ok(bytes) => bytes,
        Err(error) => return Ok(Some(format!("cannot read {}: {error}", path.display()))),
    };
    let Ok(content) = String::from_utf8(bytes.clone().unwrap_or_default()) else {
        return Ok(Some(format!(
            "{} is not UTF-8 text; it was left alone",
            path.display()
        )));
    };
    let rendered = match wanted {
        true => envfile::with_line(&content, line),
        false => envfile::without_line(&content, line),
    };
    let mut footprint = Footprint::of(entry.as_ref());
    let existed = entry.as_ref().map_or(bytes.is_some(), |e| e.existed);
    if rendered != content {
        let note = |state: &StateDir, footprint: &Footprint| {
            note_pending(state, manifest, path, entry.as_ref(), |base| ManagedFile {
                existed,
                written: footprint.written.clone(),
                hook: wanted.then(|| line.to_owned()),
                mode: footprint.mode,
                created: footprint.created.clone(),
                ..base
            })
        };
        match write_managed(
            state,
            path,
            entry.as_ref(),
            bytes.as_deref(),
            &rendered,
            false,
            note,
        )? {
            Ok(written) => footprint = written,
            Err(problem) => return Ok(Some(problem)),
        }
    }
    manifest.keep_file(
        path,
        ManagedFile {
            target: None,
            existed,
            written: footprint.written,
            settings: BTreeMap::new(),
            hook: wanted.then(|| line.to_owned()),
            mode: footprint.mode,
            created: footprint.created,
            pending: None,
        },
    );
    Ok(None)
}

/// Applies `plan` to every target's file. Each write is noted in the manifest before it is
/// made ([`ManagedFile::pending`]); the manifest is saved once every file is done.
pub fn apply_all(
    state: &StateDir,
    paths: &Paths,
    plan: &BTreeMap<Target, Vec<Setting>>,
) -> Result<Vec<Outcome>, StateError> {
    let mut manifest = state.manifest()?;
    manifest.settle();
    for path in paths.files.values().chain(&paths.profiles) {
        files::remove_leftovers_of(path);
    }
    let mut outcomes = Vec::new();
    for target in Target::ALL {
        let desired = plan.get(&target).map(Vec::as_slice).unwrap_or_default();
        let Some(path) = paths.files.get(&target) else {
            continue;
        };
        let mut outcome = apply_file(state, &mut manifest, target, path, desired)?;
        if target == Target::Shell && outcome.state != TargetState::Failed {
            let problems = hook_profiles(state, &mut manifest, paths, !desired.is_empty())?;
            if !problems.is_empty() {
                outcome = failed(target, problems.join("; "));
            }
        }
        outcomes.push(outcome);
    }
    if let Some(place) = &paths.variables {
        let desired = plan
            .get(&Target::EnvironmentD)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let entry = manifest.places.get(place).cloned();
        if !desired.is_empty() || entry.is_some() {
            let (outcome, entry) =
                platform::current().apply_variables(place, desired, entry.as_ref());
            match entry {
                Some(entry) => manifest.places.insert(place.clone(), entry),
                None => manifest.places.remove(place),
            };
            outcomes.push(outcome);
        }
    }
    state.save_manifest(&manifest)?;
    Ok(outcomes)
}

/// Undoes everything the agent ever wrote: a file unchanged since gets its original bytes
/// back (or goes, if it did not exist); one edited since gets each managed setting put back as
/// it was, keeping the edits. Returns what could not be undone.
pub fn restore_all(state: &StateDir) -> Result<Vec<String>, StateError> {
    let mut manifest = state.manifest()?;
    manifest.settle();
    let mut problems = Vec::new();
    let mut emptied = Vec::new();
    let places: Vec<Place> = manifest.places.keys().cloned().collect();
    for place in places {
        let entry = manifest.places[&place].clone();
        let path = match &place {
            Place::File(path) => path.clone(),
            Place::Registry { .. } => {
                let undone = platform::current().restore_variables(&place, &entry);
                match undone.is_empty() {
                    true => {
                        manifest.places.remove(&place);
                    }
                    false => problems.extend(undone),
                }
                continue;
            }
        };
        let bytes = match files::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                problems.push(format!("cannot read {}: {error}", path.display()));
                continue;
            }
        };
        let current = bytes.clone().unwrap_or_default();
        let unchanged = files::digest(&current) == entry.written;
        // A login file the agent never wrote (earlier agents noted such files without keeping
        // their bytes): nothing to undo.
        let never_written = entry.target.is_none() && entry.hook.is_none() && entry.existed;
        if never_written && unchanged && state.backup(&path).is_err() {
            manifest.forget_file(&path);
            continue;
        }
        let outcome = if unchanged {
            match entry.existed {
                true => state
                    .backup(&path)
                    .map(|original| files::write_atomically(&path, &original, false)),
                false => Ok(files::remove(&path)),
            }
        } else {
            // Read lossily, the user's other bytes would come back as U+FFFD.
            let Ok(content) = String::from_utf8(current.clone()) else {
                problems.push(format!(
                    "{} was changed since the agent wrote it and is no longer UTF-8 text: the \
                     agent's keys cannot be taken out without changing other bytes; it was \
                     left alone{}",
                    path.display(),
                    match entry.existed {
                        true => ", and what was there before stays among the backups",
                        false => "",
                    }
                ));
                continue;
            };
            let reverted = match (&entry.hook, entry.target) {
                (Some(line), _) => Ok(envfile::without_line(&content, line)),
                (None, Some(target)) => {
                    let changes: Vec<(&Setting, Option<Vec<String>>)> = entry
                        .settings
                        .values()
                        .map(|m| (&m.setting, m.original.clone()))
                        .collect();
                    editor(target)
                        .render(&content, &changes)
                        .map_err(|e| e.to_string())
                }
                (None, None) => Ok(content.clone()),
            };
            match reverted {
                Ok(text) if text.is_empty() && !entry.existed => Ok(files::remove(&path)),
                Ok(text) if text == content && bytes.is_some() => Ok(Ok(())),
                Ok(text) => Ok(files::write_atomically(&path, text.as_bytes(), false)),
                Err(problem) => {
                    problems.push(format!("{}: {problem}", path.display()));
                    continue;
                }
            }
        };
        // The mode it had: the agent makes a file holding a token owner-only.
        let outcome = outcome.map(|written| {
            // Only where a file is left (its present mode says so without reading it).
            written.and_then(|()| match (entry.mode, files::mode(&path)) {
                (Some(mode), Some(_)) => files::set_mode(&path, mode),
                _ => Ok(()),
            })
        });
        match outcome {
            Ok(Ok(())) => {
                manifest.forget_file(&path);
                state.drop_backup(&path)?;
                emptied.extend(entry.created);
            }
            Ok(Err(error)) => problems.push(format!("cannot restore {}: {error}", path.display())),
            Err(error) => problems.push(error.to_string()),
        }
    }
    // Folders the agent made, once every file in them is gone, and only if nothing else is.
    files::remove_empty_folders(&emptied);
    state.save_manifest(&manifest)?;
    Ok(problems)
}
