//! Environment variables on Windows: values under `HKCU\Environment` (user scope) or
//! `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment` (machine scope),
//! `REG_EXPAND_SZ` where the value holds `%VAR%` and `REG_SZ` otherwise, then one
//! `WM_SETTINGCHANGE` "Environment" broadcast so that new processes see them (running ones
//! never do). What a value was before the agent first set it is kept, so `restore` puts it back
//! or removes a value the agent created.

use std::collections::BTreeMap;

use switchyard_proto::devices::TargetState;
use windows_registry::{Key, Type, CURRENT_USER, LOCAL_MACHINE};

use crate::engine::Outcome;
use crate::place::{self, Hive, Place};
use crate::plan::{Setting, Target};
use crate::state::{Managed, ManagedFile};

/// Where the variables of a scope live.
fn environment_key(machine: bool) -> windows_registry::Result<Key> {
    match machine {
        true => LOCAL_MACHINE.create(place::MACHINE_ENVIRONMENT),
        false => CURRENT_USER.create(place::USER_ENVIRONMENT),
    }
}

/// `%ProgramData%` as the system records it for every process, services included.
pub fn program_data() -> Option<std::path::PathBuf> {
    let recorded = LOCAL_MACHINE
        .open("SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList")
        .ok()?
        .get_string("ProgramData")
        .ok()?;
    let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
    let expanded = recorded.replace("%SystemDrive%", &drive);
    (!expanded.contains('%') && !expanded.is_empty()).then(|| expanded.into())
}

/// Where Git for Windows is installed for the whole machine: `InstallPath` under
/// `HKLM\SOFTWARE\GitForWindows`, as its installer records it, in the 64-bit view or, for a
/// 32-bit Git, the 32-bit one. `None` when neither names a folder that exists.
pub fn git_for_windows() -> Option<std::path::PathBuf> {
    [
        "SOFTWARE\\GitForWindows",
        "SOFTWARE\\WOW6432Node\\GitForWindows",
    ]
    .into_iter()
    .filter_map(|key| LOCAL_MACHINE.open(key).ok()?.get_string("InstallPath").ok())
    .map(std::path::PathBuf::from)
    .find(|folder| folder.is_dir())
}

/// Where variable `name` is set in the registry, for people: for every user of the machine
/// (`HKLM`, where the machine-scope agent puts npm's and Go's settings as `NPM_CONFIG_*` and
/// `GO*`), or for this user (`HKCU`, which wins over `HKLM` for a new process).
pub fn variable_place(name: &str) -> Option<&'static str> {
    // Read-only: a user may not open HKLM for writing.
    let set = |machine: bool| {
        let key = match machine {
            true => LOCAL_MACHINE
                .open("SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"),
            false => CURRENT_USER.open("Environment"),
        };
        key.ok().is_some_and(|key| read(&key, name).is_some())
    };
    if set(false) {
        Some("in the user's environment (HKCU\\Environment)")
    } else if set(true) {
        Some(
            "for every user of this machine (HKLM\\...\\Session Manager\\Environment, where the \
             machine-scope agent puts npm's and Go's settings)",
        )
    } else {
        None
    }
}

/// Whether `place` is the machine's key (else the user's).
fn is_machine(place: &Place) -> bool {
    matches!(
        place,
        Place::Registry {
            hive: Hive::LocalMachine,
            ..
        }
    )
}

/// A value as kept for restore: its type and text.
fn read(key: &Key, name: &str) -> Option<Vec<String>> {
    let kind = match key.get_type(name).ok()? {
        Type::ExpandString => "REG_EXPAND_SZ",
        Type::String => "REG_SZ",
        _ => return None,
    };
    Some(vec![kind.to_owned(), key.get_string(name).ok()?])
}

fn write(key: &Key, name: &str, kind: &str, value: &str) -> windows_registry::Result<()> {
    match kind {
        "REG_EXPAND_SZ" => key.set_expand_string(name, value),
        _ => key.set_string(name, value),
    }
}

/// Whether `value` names a variable as `%NAME%` (a name of letters, digits, `_`, `(` or `)`, as
/// `ProgramFiles(x86)`), which Windows expands in a `REG_EXPAND_SZ` value.
fn names_a_variable(value: &str) -> bool {
    let mut parts = value.split('%').skip(1);
    while let (Some(name), Some(_)) = (parts.next(), parts.clone().next()) {
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_()".contains(c))
        {
            return true;
        }
    }
    false
}

/// The type a value of ours gets: `REG_EXPAND_SZ` only for text meant to expand (it names a
/// variable, or the value it replaces had that type), never for a URL, a login or a secret,
/// whose `%` is percent-encoding: a password holding `%USERNAME%` must reach the client as it
/// was set.
fn kind_for(setting: &Setting, value: &str, now: Option<&[String]>) -> &'static str {
    let was_expandable = now
        .and_then(<[String]>::first)
        .is_some_and(|kind| kind == "REG_EXPAND_SZ");
    match setting.expand && (names_a_variable(value) || was_expandable) {
        true => "REG_EXPAND_SZ",
        false => "REG_SZ",
    }
}

fn failed(message: String) -> Outcome {
    Outcome {
        target: Target::EnvironmentD,
        state: TargetState::Failed,
        message: Some(message),
        drift: Vec::new(),
    }
}

/// Sets the variables `desired`, puts those managed before and not now back as they were, and
/// broadcasts the change once if anything changed. Returns the outcome and the manifest entry.
pub fn apply(
    place: &Place,
    desired: &[Setting],
    entry: Option<&ManagedFile>,
) -> (Outcome, Option<ManagedFile>) {
    let key = match environment_key(is_machine(place)) {
        Ok(key) => key,
        Err(error) => {
            return (
                failed(format!(
                    "cannot open the environment in the registry for writing: {error}"
                )),
                entry.cloned(),
            )
        }
    };
    let mut managed = BTreeMap::new();
    let mut drift = Vec::new();
    let mut changed = false;
    // What this round overwrote, so that a failure half-way puts it back: the registry
    // holds all of a profile's variables or none of them.
    let mut overwritten: Vec<(String, Option<Vec<String>>)> = Vec::new();
    let undo = |overwritten: &[(String, Option<Vec<String>>)]| {
        for (name, before) in overwritten.iter().rev() {
            let _ = match before.as_deref() {
                Some([kind, value]) => write(&key, name, kind, value),
                _ => key.remove_value(name),
            };
        }
    };
    if let Some(setting) = desired
        .iter()
        .find(|s| s.values.iter().any(|v| v.contains('\0')))
    {
        return (
            failed(format!(
                "{}: holds a NUL character; nothing written",
                setting.name
            )),
            entry.cloned(),
        );
    }
    for setting in desired {
        let value = setting.values.join(" ");
        let now = read(&key, &setting.name);
        let original = match entry.and_then(|e| e.settings.get(&setting.id)) {
            Some(known) => {
                // Drift is a difference from what the agent last wrote, not from the new value.
                if now.as_ref().and_then(|v| v.get(1)) != Some(&known.setting.values.join(" ")) {
                    drift.push(format!("{} was changed by hand", setting.name));
                }
                known.original.clone()
            }
            None => now.clone(),
        };
        let kind = kind_for(setting, &value, now.as_deref());
        if now.as_deref() != Some(&[kind.to_owned(), value.clone()][..]) {
            if let Err(error) = write(&key, &setting.name, kind, &value) {
                undo(&overwritten);
                return (
                    failed(format!(
                        "cannot set {}: {error}; nothing changed",
                        setting.name
                    )),
                    entry.cloned(),
                );
            }
            overwritten.push((setting.name.clone(), now.clone()));
            changed = true;
        }
        managed.insert(
            setting.id.clone(),
            Managed {
                setting: setting.clone(),
                original,
            },
        );
    }
    let retired: Vec<Managed> = entry
        .iter()
        .flat_map(|e| e.settings.values())
        .filter(|m| !managed.contains_key(&m.setting.id))
        .cloned()
        .collect();
    for old in &retired {
        let before = read(&key, &old.setting.name);
        if let Err(error) = put_back(&key, old) {
            undo(&overwritten);
            return (
                failed(format!(
                    "cannot put {} back: {error}; nothing changed",
                    old.setting.name
                )),
                entry.cloned(),
            );
        }
        overwritten.push((old.setting.name.clone(), before));
        changed = true;
    }
    if changed {
        broadcast();
    }
    let outcome = Outcome {
        target: Target::EnvironmentD,
        state: if changed {
            TargetState::Ok
        } else {
            TargetState::Unchanged
        },
        message: (!drift.is_empty()).then(|| format!("put back: {}", drift.join("; "))),
        drift,
    };
    let entry = (!managed.is_empty()).then(|| ManagedFile {
        target: Some(Target::EnvironmentD),
        existed: true,
        written: String::new(),
        settings: managed,
        hook: None,
        mode: None,
        pending: None,
        created: Vec::new(),
    });
    (outcome, entry)
}

fn put_back(key: &Key, managed: &Managed) -> windows_registry::Result<()> {
    match managed.original.as_deref() {
        Some([kind, value]) => write(key, &managed.setting.name, kind, value),
        _ => match key.remove_value(&managed.setting.name) {
            // Gone already: as good as removed.
            Err(_) if read(key, &managed.setting.name).is_none() => Ok(()),
            other => other,
        },
    }
}

/// Puts every variable the agent set in the key at `place` back as it was; returns what could
/// not be.
pub fn restore(place: &Place, entry: &ManagedFile) -> Vec<String> {
    let key = match environment_key(is_machine(place)) {
        Ok(key) => key,
        Err(error) => {
            return vec![format!(
                "cannot open the environment in the registry: {error}"
            )]
        }
    };
    let problems: Vec<String> = entry
        .settings
        .values()
        .filter_map(|m| {
            put_back(&key, m)
                .err()
                .map(|e| format!("cannot put {} back: {e}", m.setting.name))
        })
        .collect();
    broadcast();
    problems
}

/// Tells running programs (Explorer above all) that the environment changed, so the processes
/// they start see it. A short timeout, and hung windows skipped: this never hangs.
#[allow(unsafe_code)]
fn broadcast() {
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        SendMessageTimeoutW, HWND_BROADCAST, SMTO_ABORTIFHUNG, WM_SETTINGCHANGE,
    };
    let area = wide("Environment");
    let mut result = 0;
    // SAFETY: `area` is a NUL-terminated UTF-16 string that outlives the call; the result
    // pointer is a valid local; HWND_BROADCAST with SMTO_ABORTIFHUNG and a 1 s timeout returns
    // without waiting on hung windows.
    unsafe {
        SendMessageTimeoutW(
            HWND_BROADCAST,
            WM_SETTINGCHANGE,
            0,
            area.as_ptr() as isize,
            SMTO_ABORTIFHUNG,
            1000,
            &mut result,
        );
    }
}

/// The SID of the user this process runs as, in the buffer that holds it.
#[allow(unsafe_code)]
fn current_user() -> std::io::Result<(Vec<u64>, windows_sys::Win32::Security::PSID)> {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    let mut token = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process is always valid; `token` is a valid out pointer.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // u64 words: TOKEN_USER holds pointers and must be aligned for them.
    let mut buffer = vec![0_u64; 64];
    let mut needed = 0;
    // SAFETY: `buffer` is writable for the length given, and `needed` is a valid out pointer.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            u32::try_from(buffer.len() * 8).unwrap_or(u32::MAX),
            &mut needed,
        )
    };
    let error = std::io::Error::last_os_error();
    // SAFETY: `token` was opened above and is closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(error);
    }
    // SAFETY: the call succeeded, so the buffer starts with a TOKEN_USER whose SID points into it.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    Ok((buffer, sid))
}

/// `text` as the NUL-terminated UTF-16 that Windows calls take.
fn wide(text: impl AsRef<std::ffi::OsStr>) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt as _;
    text.as_ref()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// Makes `path` readable and writable by the current user alone: a protected access list (no
/// entries inherited from the folder) with one entry, for that user. Windows' counterpart of
/// mode 0600, for files that hold a token or a password. (Wine accepts the call but keeps no
/// access lists on files, so tests under Wine show only that it succeeds.)
#[allow(unsafe_code)]
pub fn owner_only(path: &std::path::Path) -> std::io::Result<()> {
    use windows_sys::Win32::Foundation::{LocalFree, ERROR_SUCCESS};
    use windows_sys::Win32::Security::Authorization::{
        SetEntriesInAclW, SetNamedSecurityInfoW, EXPLICIT_ACCESS_W, SET_ACCESS, SE_FILE_OBJECT,
        TRUSTEE_IS_SID, TRUSTEE_IS_USER, TRUSTEE_W,
    };
    use windows_sys::Win32::Security::{
        ACL, DACL_SECURITY_INFORMATION, NO_INHERITANCE, PROTECTED_DACL_SECURITY_INFORMATION,
    };
    use windows_sys::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
    let (_held, sid) = current_user()?;
    let entry = EXPLICIT_ACCESS_W {
        grfAccessPermissions: FILE_ALL_ACCESS,
        grfAccessMode: SET_ACCESS,
        grfInheritance: NO_INHERITANCE,
        Trustee: TRUSTEE_W {
            TrusteeForm: TRUSTEE_IS_SID,
            TrusteeType: TRUSTEE_IS_USER,
            ptstrName: sid.cast(),
            ..Default::default()
        },
    };
    let mut acl: *mut ACL = std::ptr::null_mut();
    // SAFETY: one valid entry whose SID lives in `_held` for the whole call; `acl` is an out
    // pointer the system fills with memory freed by LocalFree below.
    let made = unsafe { SetEntriesInAclW(1, &entry, std::ptr::null(), &mut acl) };
    if made != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(made as i32));
    }
    let name = wide(path);
    // SAFETY: `name` is NUL-terminated UTF-16 and `acl` a valid ACL; owner, group and SACL
    // are left as they are (null).
    let set = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            acl,
            std::ptr::null(),
        )
    };
    // SAFETY: `acl` came from SetEntriesInAclW and is freed once.
    unsafe { LocalFree(acl.cast()) };
    match set {
        ERROR_SUCCESS => Ok(()),
        code => Err(std::io::Error::from_raw_os_error(code as i32)),
    }
}
