//! The agent as a Windows service: registered with the service manager to run as LocalSystem at
//! machine scope, started at boot, logging to `agent.log` in its state folder. A silent MSI
//! install leaves the server and an enrollment token under [`SETTINGS_KEY`]; the service
//! enrolls with them once and deletes the token, so that it is not left readable.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use windows_registry::LOCAL_MACHINE;
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use crate::agent::{hold_writes, sleep_unless_stopped, Agent, AgentError, MachineFacts};
use crate::log::LogFile;

/// The service's name, as `sc query` knows it.
pub const SERVICE_NAME: &str = "SwitchyardAgent";
const DISPLAY_NAME: &str = "Switchyard agent";
const DESCRIPTION: &str =
    "Keeps this machine's package proxy and mirror settings in sync with a Switchyard server.";
/// Where an installer leaves `Server` and `EnrollmentToken` for the service's first start.
pub const SETTINGS_KEY: &str = "SOFTWARE\\Switchyard\\Agent";
/// How long each round waits on the server for a change.
const WAIT_SECS: u64 = 60;

/// What the service's thread works with, set before the dispatcher starts.
struct Context {
    agent: Agent,
    log: LogFile,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();
static STOP: AtomicBool = AtomicBool::new(false);

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, String> {
    ServiceManager::local_computer(None::<&str>, access).map_err(|error| {
        format!("cannot reach the service manager (run as an administrator): {error}")
    })
}

/// Registers the service: `executable` with `arguments`, started automatically at boot.
pub fn install(executable: std::path::PathBuf, arguments: Vec<OsString>) -> Result<(), String> {
    let manager = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: executable,
        launch_arguments: arguments,
        dependencies: Vec::new(),
        // LocalSystem: machine-wide settings need it.
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(|error| format!("cannot register the service {SERVICE_NAME}: {error}"))?;
    // A description is a nicety: a service manager without one still runs the service.
    let _ = service.set_description(DESCRIPTION);
    Ok(())
}

/// Stops (if running) and removes the service.
pub fn uninstall() -> Result<(), String> {
    let _ = stop();
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let service = manager
        .open_service(SERVICE_NAME, ServiceAccess::DELETE)
        .map_err(|error| format!("the service {SERVICE_NAME} is not installed: {error}"))?;
    service
        .delete()
        .map_err(|error| format!("cannot remove the service {SERVICE_NAME}: {error}"))
}

/// Starts the service and waits until it runs.
pub fn start() -> Result<(), String> {
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let service = manager
        .open_service(
            SERVICE_NAME,
            ServiceAccess::START | ServiceAccess::QUERY_STATUS,
        )
        .map_err(|error| format!("the service {SERVICE_NAME} is not installed: {error}"))?;
    let state = service
        .query_status()
        .map_err(|error| error.to_string())?
        .current_state;
    if state != ServiceState::Running {
        service
            .start::<&str>(&[])
            .map_err(|error| format!("cannot start {SERVICE_NAME}: {error}"))?;
    }
    wait_for(&service, ServiceState::Running)
}

/// Stops the service and waits until it has stopped; a stopped service is fine.
pub fn stop() -> Result<(), String> {
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let service = manager
        .open_service(
            SERVICE_NAME,
            ServiceAccess::STOP | ServiceAccess::QUERY_STATUS,
        )
        .map_err(|error| format!("the service {SERVICE_NAME} is not installed: {error}"))?;
    let state = service
        .query_status()
        .map_err(|error| error.to_string())?
        .current_state;
    if state == ServiceState::Stopped {
        return Ok(());
    }
    service
        .stop()
        .map_err(|error| format!("cannot stop {SERVICE_NAME}: {error}"))?;
    wait_for(&service, ServiceState::Stopped)
}

fn wait_for(
    service: &windows_service::service::Service,
    wanted: ServiceState,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = service
            .query_status()
            .map_err(|error| error.to_string())?
            .current_state;
        if state == wanted {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "{SERVICE_NAME} is {state:?} after 30 s, not {wanted:?}; see agent.log in the state folder"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

define_windows_service!(service_entry, service_main);

/// Hands this process to the service manager, which calls back on its own thread; returns when
/// the service has stopped.
pub fn run(agent: Agent) -> Result<(), String> {
    let log = LogFile::in_folder(agent.state.root());
    if CONTEXT.set(Context { agent, log }).is_err() {
        return Err("the service is running already in this process".into());
    }
    service_dispatcher::start(SERVICE_NAME, service_entry).map_err(|error| {
        format!("`service run` is what the service manager starts; use `service start` ({error})")
    })
}

fn service_main(_arguments: Vec<OsString>) {
    let Some(context) = CONTEXT.get() else {
        return;
    };
    if let Err(error) = serve(context) {
        context.log.line(&format!("service failed: {error}"));
    }
}

/// What the service's control thread hears.
enum Event {
    StopAsked,
    Ended(Option<AgentError>),
}

fn status(state: ServiceState, exit_code: ServiceExitCode, wait_hint: Duration) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: match state {
            ServiceState::Running => ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            _ => ServiceControlAccept::empty(),
        },
        exit_code,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    }
}

fn serve(context: &'static Context) -> windows_service::Result<()> {
    let (events, heard) = mpsc::channel();
    let stop_events = events.clone();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            let _ = stop_events.send(Event::StopAsked);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)?;
    let ok = ServiceExitCode::Win32(0);
    handle.set_service_status(status(ServiceState::Running, ok, Duration::ZERO))?;
    context.log.line(&format!(
        "started (version {}), state folder {}",
        env!("CARGO_PKG_VERSION"),
        context.agent.state.root().display()
    ));
    std::thread::spawn(move || {
        let ended = work(context);
        let _ = events.send(Event::Ended(ended));
    });
    let exit_code = match heard.recv() {
        Ok(Event::StopAsked) | Err(_) => {
            STOP.store(true, Ordering::Relaxed);
            handle.set_service_status(status(
                ServiceState::StopPending,
                ok,
                Duration::from_secs(10),
            ))?;
            // Never stop half-way through a write; a long-poll in flight is simply dropped.
            std::mem::forget(hold_writes());
            context.log.line("stopped");
            ok
        }
        Ok(Event::Ended(error)) => {
            let reason = error.map_or_else(|| "no reason".to_owned(), |e| e.to_string());
            context.log.line(&format!("ended: {reason}"));
            ServiceExitCode::ServiceSpecific(1)
        }
    };
    handle.set_service_status(status(ServiceState::Stopped, exit_code, Duration::ZERO))
}

/// The service's work: enroll if an installer asked it to, wait to be enrolled otherwise, then
/// keep in sync. Returns the error that ended it, if any.
fn work(context: &Context) -> Option<AgentError> {
    let (agent, log) = (&context.agent, &context.log);
    let mut pause = Duration::from_secs(5);
    let mut said_waiting = false;
    while !STOP.load(Ordering::Relaxed) {
        match agent.state.identity() {
            Ok(Some(_)) => {
                forget_token(log);
                break;
            }
            Ok(None) => {}
            Err(error) => return Some(error.into()),
        }
        match pending_enrollment() {
            Some((server, token)) => {
                match agent.enroll(&server, &token, &MachineFacts::of_this_machine()) {
                    Ok(identity) => log.line(&format!(
                        "enrolled as device {} in {} / {}",
                        identity.device_id, identity.environment, identity.machine_role
                    )),
                    Err(AgentError::Server(crate::server::ClientError::Unreachable { .. })) => {
                        log.line(&format!(
                            "cannot reach {server} to enroll; trying again in {}s",
                            pause.as_secs()
                        ));
                        sleep_unless_stopped(pause, &STOP);
                        pause = (pause * 2).min(Duration::from_secs(300));
                    }
                    Err(error) => {
                        // A refused token will not be accepted later either: it goes.
                        log.line(&format!("enrollment failed: {error}"));
                        forget_token(log);
                    }
                }
            }
            None => {
                if !said_waiting {
                    log.line("not enrolled: waiting for `switchyard-agent --scope machine enroll`");
                    said_waiting = true;
                }
                sleep_unless_stopped(Duration::from_secs(5), &STOP);
            }
        }
    }
    agent.run(WAIT_SECS, &STOP, |round, pause| match (round, pause) {
        (Ok(synced), _) if synced.changed => log.line(&synced.applied_line()),
        (Ok(_), Some(pause)) => log.line(&crate::agent::early_line(pause)),
        (Err(error), Some(pause)) => {
            log.line(&format!("{error}; trying again in {}s", pause.as_secs()))
        }
        _ => {}
    })
}

/// The server and token an installer left, if both are there.
fn pending_enrollment() -> Option<(String, String)> {
    let key = LOCAL_MACHINE.open(SETTINGS_KEY).ok()?;
    let server = key
        .get_string("Server")
        .ok()
        .filter(|s| !s.trim().is_empty())?;
    let token = key
        .get_string("EnrollmentToken")
        .ok()
        .filter(|t| !t.trim().is_empty())?;
    Some((server.trim().to_owned(), token.trim().to_owned()))
}

/// Deletes the enrollment token an installer left: it is used once.
fn forget_token(log: &LogFile) {
    let left = LOCAL_MACHINE
        .open(SETTINGS_KEY)
        .is_ok_and(|key| key.get_string("EnrollmentToken").is_ok());
    if left {
        // `open` gives a read-only key: deleting needs `create`.
        let removed = LOCAL_MACHINE
            .create(SETTINGS_KEY)
            .and_then(|key| key.remove_value("EnrollmentToken"));
        match removed {
            Ok(()) => log.line("the installer's enrollment token was deleted"),
            Err(error) => log.line(&format!(
                "cannot delete the installer's enrollment token: {error}"
            )),
        }
    }
}
