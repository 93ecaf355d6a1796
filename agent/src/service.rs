//! `switchyard-agent service ...`: the agent's `run` loop started at boot by the operating
//! system's service manager.

use switchyard_agent::agent::Agent;

use crate::ServiceAction;

/// The command line the service manager starts: this executable, at this scope, with this
/// state folder, so that the service and the commands run by hand share one state.
fn command_line(
    agent: &Agent,
    machine: bool,
    last: &[&str],
) -> Result<(std::path::PathBuf, Vec<String>), String> {
    let executable = std::env::current_exe()
        .map_err(|error| format!("cannot tell where this program is: {error}"))?;
    let root = agent.state.root().to_str().ok_or_else(|| {
        format!(
            "the state folder {} is not UTF-8",
            agent.state.root().display()
        )
    })?;
    let scope = if machine { "machine" } else { "user" };
    let mut arguments: Vec<String> = vec![
        "--scope".into(),
        scope.into(),
        "--state-dir".into(),
        root.into(),
    ];
    arguments.extend(last.iter().map(|word| (*word).to_owned()));
    Ok((executable, arguments))
}

/// Does `action`; returns what to tell the user.
#[cfg(windows)]
pub fn act(action: ServiceAction, machine: bool, agent: Agent) -> Result<String, String> {
    use switchyard_agent::platform::service;
    debug_assert!(machine, "a Windows service runs at machine scope");
    let name = service::SERVICE_NAME;
    match action {
        ServiceAction::Install => {
            let (executable, arguments) = command_line(&agent, machine, &["service", "run"])?;
            service::install(executable, arguments.into_iter().map(Into::into).collect())?;
            Ok(format!(
                "installed the service {name} (starts at boot); `switchyard-agent service start` starts it now"
            ))
        }
        ServiceAction::Uninstall => {
            service::uninstall().map(|()| format!("removed the service {name}"))
        }
        ServiceAction::Start => service::start().map(|()| format!("{name} is running")),
        ServiceAction::Stop => service::stop().map(|()| format!("{name} is stopped")),
        ServiceAction::Run => service::run(agent).map(|()| String::new()),
    }
}

/// Does `action`; returns what to tell the user.
#[cfg(not(windows))]
pub fn act(action: ServiceAction, machine: bool, agent: Agent) -> Result<String, String> {
    use switchyard_agent::platform::systemd;
    let unit = systemd::unit_path(machine, crate::env)?;
    match action {
        ServiceAction::Install => {
            let (executable, arguments) = command_line(&agent, machine, &["run"])?;
            let text = systemd::render_unit(&executable, &arguments, machine)?;
            systemd::install(&unit, &text, machine)?;
            Ok(format!(
                "installed and enabled {}; `switchyard-agent service start` starts it now",
                unit.display()
            ))
        }
        ServiceAction::Uninstall => {
            systemd::uninstall(&unit, machine).map(|()| format!("removed {}", unit.display()))
        }
        ServiceAction::Start => {
            systemd::start(machine).map(|()| format!("{} is running", systemd::UNIT_NAME))
        }
        ServiceAction::Stop => {
            systemd::stop(machine).map(|()| format!("{} is stopped", systemd::UNIT_NAME))
        }
        ServiceAction::Run => Err(
            "`service run` is for the Windows service manager; systemd runs `switchyard-agent run`"
                .into(),
        ),
    }
}
