//! The agent as a systemd unit on Linux: a system unit running `run` at machine scope as root,
//! or a user unit (`systemctl --user`) running it for one user.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::files;

/// The unit's file name.
pub const UNIT_NAME: &str = "switchyard-agent.service";

/// Where the unit goes: `/etc/systemd/system` for the machine, else the user's
/// `$XDG_CONFIG_HOME/systemd/user` (`~/.config/systemd/user`).
pub fn unit_path(machine: bool, env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    if machine {
        return Ok(PathBuf::from("/etc/systemd/system").join(UNIT_NAME));
    }
    let config = env("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|value| !value.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })
        .ok_or("HOME is not set")?;
    Ok(config.join("systemd").join("user").join(UNIT_NAME))
}

/// One word of an `ExecStart=` line: quoted, with what systemd would read specially escaped.
fn word(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// The unit that runs `executable arguments...`.
pub fn render_unit(
    executable: &Path,
    arguments: &[String],
    machine: bool,
) -> Result<String, String> {
    let executable = executable
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", executable.display()))?;
    if std::iter::once(executable)
        .chain(arguments.iter().map(String::as_str))
        .any(|part| part.contains(['\n', '\r', '\0']))
    {
        return Err("a path in the command holds a line break".into());
    }
    let command: Vec<String> = std::iter::once(executable)
        .chain(arguments.iter().map(String::as_str))
        .map(word)
        .collect();
    // A user unit is wanted by default.target: ordering it after that target would loop.
    let (ordering, wanted_by) = match machine {
        true => (
            "Wants=network-online.target\nAfter=network-online.target\n",
            "multi-user.target",
        ),
        false => ("", "default.target"),
    };
    Ok(format!(
        "# Written by `switchyard-agent service install`; removed by `service uninstall`.\n\
         [Unit]\n\
         Description=Switchyard agent: keeps package proxy and mirror settings in sync\n\
         {ordering}\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={}\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         NoNewPrivileges=yes\n\
         PrivateTmp=yes\n\
         \n\
         [Install]\n\
         WantedBy={wanted_by}\n",
        command.join(" ")
    ))
}

fn systemctl(machine: bool, arguments: &[&str]) -> Result<(), String> {
    let mut command = Command::new("systemctl");
    if !machine {
        command.arg("--user");
    }
    let shown = format!(
        "systemctl {}{}",
        if machine { "" } else { "--user " },
        arguments.join(" ")
    );
    let output = command.args(arguments).output().map_err(|error| {
        format!("cannot run `{shown}` ({error}): without systemd, start `switchyard-agent run` from your init system")
    })?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "`{shown}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Writes the unit and enables it, so that it starts at boot (or at the user's login).
pub fn install(unit: &Path, text: &str, machine: bool) -> Result<(), String> {
    files::write_atomically(unit, text.as_bytes(), false)
        .map_err(|error| format!("cannot write {}: {error}", unit.display()))?;
    systemctl(machine, &["daemon-reload"])
        .and_then(|()| systemctl(machine, &["enable", UNIT_NAME]))
        .map_err(|error| format!("{} was written, but {error}", unit.display()))
}

/// Stops and disables the unit, and removes its file.
pub fn uninstall(unit: &Path, machine: bool) -> Result<(), String> {
    // A unit systemd never loaded cannot be disabled: removing its file is all there is to do.
    let _ = systemctl(machine, &["disable", "--now", UNIT_NAME]);
    files::remove(unit).map_err(|error| format!("cannot remove {}: {error}", unit.display()))?;
    systemctl(machine, &["daemon-reload"])
        .map_err(|error| format!("{} was removed, but {error}", unit.display()))
}

/// Starts the unit.
pub fn start(machine: bool) -> Result<(), String> {
    systemctl(machine, &["start", UNIT_NAME])
}

/// Stops the unit.
pub fn stop(machine: bool) -> Result<(), String> {
    systemctl(machine, &["stop", UNIT_NAME])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_agent_with_its_arguments_quoted_for_systemd() {
        let unit = render_unit(
            Path::new("/opt/my tools/switchyard-agent"),
            &[
                "--state-dir".into(),
                "/var/lib/100%\"odd\"$HOME".into(),
                "run".into(),
            ],
            true,
        )
        .unwrap();
        assert!(
            unit.contains(
                "ExecStart=\"/opt/my tools/switchyard-agent\" \"--state-dir\" \
                 \"/var/lib/100%%\\\"odd\\\"$$HOME\" \"run\"\n"
            ),
            "{unit}"
        );
        assert!(unit.contains("WantedBy=multi-user.target"));
        let user = render_unit(
            Path::new("/usr/bin/switchyard-agent"),
            &["run".into()],
            false,
        )
        .unwrap();
        assert!(user.contains("WantedBy=default.target"), "{user}");
    }

    #[test]
    fn a_line_break_never_reaches_the_unit() {
        let refused = render_unit(
            Path::new("/usr/bin/agent"),
            &["run\nExecStartPre=/bin/evil".into()],
            true,
        );
        assert!(refused.is_err());
    }

    #[test]
    fn the_user_unit_lives_in_the_users_config_folder() {
        let env = |name: &str| (name == "HOME").then(|| "/home/ana".to_owned());
        assert_eq!(
            unit_path(false, env).unwrap(),
            PathBuf::from("/home/ana/.config/systemd/user/switchyard-agent.service")
        );
        assert_eq!(
            unit_path(true, env).unwrap(),
            PathBuf::from("/etc/systemd/system/switchyard-agent.service")
        );
    }
}
