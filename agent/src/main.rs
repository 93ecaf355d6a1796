//! `switchyard-agent`: enrolls this machine with a Switchyard server and keeps its package
//! settings in sync.
//!
//! Exit codes: 0 done; 1 a local failure (the state folder, a file); 2 bad arguments or
//! settings; 3 not enrolled; 4 a delivery refused by verification (nothing written); 5 the
//! server unreachable (the last good settings stay); 6 some targets failed; 7 the server
//! refused (revoked machine, bad token).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use switchyard_agent::agent::{
    state_name, summary, Agent, AgentError, Leaving, MachineFacts, Removal,
};
use switchyard_agent::clients::Check;
use switchyard_agent::engine::Paths;
use switchyard_agent::platform;
use switchyard_agent::server::ClientError;
use switchyard_agent::state::StateDir;
use switchyard_proto::devices::TargetState;

mod diff;
mod service;

/// Keeps this machine's package proxy and mirror settings in sync with a Switchyard server.
#[derive(Debug, Parser)]
#[command(name = "switchyard-agent", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Whose settings to manage: the current user's (the default) or the whole machine's.
    #[arg(long, value_enum, global = true)]
    scope: Option<Scope>,

    /// Folder for the agent's own state (device key, last envelope, backups).
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 done; 1 local failure; 2 bad arguments; 3 not enrolled; \
4 delivery refused (nothing written); 5 server unreachable (last good settings kept); \
6 some targets failed; 7 refused by the server.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scope {
    User,
    Machine,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll this machine with a server using an enrollment token.
    Enroll {
        /// Base URL of the Switchyard server.
        #[arg(long)]
        server: String,
        /// Enrollment token from an operator.
        #[arg(long)]
        token: String,
    },
    /// Fetch, verify and apply the profile once.
    Sync,
    /// Keep the machine in sync until stopped.
    Run,
    /// Show where the agent is enrolled and what it applied.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what `sync` would change.
    Diff,
    /// Explain what each package client will really see, and why.
    Doctor,
    /// Undo everything the agent ever wrote.
    Restore,
    /// Take the agent off this machine: restore, have the server revoke this machine, and
    /// delete the state folder (its key, the last delivery, the backups, the log). Stop the
    /// service first (`service uninstall`); the MSI's uninstall does all of it.
    Remove {
        /// Delete the state even when the server cannot be told: the machine then stays
        /// listed there until an operator revokes it (its key is gone with the folder).
        #[arg(long)]
        force: bool,
    },
    /// Run the agent in the background from boot: a Windows service (machine scope), or a
    /// systemd unit (a system unit with `--scope machine`, else a user unit).
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum ServiceAction {
    /// Register the service (or unit) to start at boot.
    Install,
    /// Stop and remove it.
    Uninstall,
    /// Start it now.
    Start,
    /// Stop it; a sync that is writing finishes first.
    Stop,
    /// What the Windows service manager starts.
    #[command(hide = true)]
    Run,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Where the agent keeps its state by default ([`Platform::state_dir`]).
fn default_state_dir(scope: Scope) -> Result<PathBuf, String> {
    platform::current().state_dir(scope.into(), &env)
}

impl From<Scope> for platform::Scope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::User => platform::Scope::User,
            Scope::Machine => platform::Scope::Machine,
        }
    }
}

/// The scope asked for: a Windows service manages the machine, everything else the user
/// unless told otherwise.
fn scope(cli: &Cli) -> Result<Scope, String> {
    let service = matches!(cli.command, Command::Service { .. });
    match (cli.scope, cfg!(windows) && service) {
        (Some(Scope::User), true) => Err(
            "a Windows service manages the machine's settings; a user's are kept by \
             `switchyard-agent sync` in a logon task (see the README)"
                .into(),
        ),
        (None, true) => Ok(Scope::Machine),
        (scope, _) => Ok(scope.unwrap_or(Scope::User)),
    }
}

/// The agent for `scope`, or why there is none.
fn agent(cli: &Cli, scope: Scope) -> Result<Agent, String> {
    let paths = match scope {
        Scope::User => Paths::user(env)?,
        Scope::Machine => Paths::machine(env),
    };
    let state_dir = match &cli.state_dir {
        Some(dir) => std::path::absolute(dir).map_err(|error| format!("--state-dir: {error}"))?,
        None => default_state_dir(scope)?,
    };
    Ok(Agent {
        state: StateDir::new(state_dir),
        paths,
        environment: std::env::vars().collect(),
        cwd: std::env::current_dir().ok(),
    })
}

#[allow(clippy::print_stderr)]
fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("switchyard-agent: {message}");
    ExitCode::from(code)
}

fn exit_for(error: &AgentError) -> u8 {
    match error {
        AgentError::NotEnrolled => 3,
        AgentError::AlreadyEnrolled(_) | AgentError::Config(_) => 2,
        AgentError::Refused(_) => 4,
        AgentError::Server(ClientError::Unreachable { .. } | ClientError::Malformed(_)) => 5,
        AgentError::Server(ClientError::Refused { .. }) => 7,
        AgentError::State(_) => 1,
    }
}

#[allow(clippy::print_stdout)]
fn sync_once(agent: &Agent, wait: u64) -> Result<u8, AgentError> {
    let synced = agent.sync(wait)?;
    let mut failed = false;
    for outcome in &synced.outcomes {
        failed |= outcome.state == TargetState::Failed;
        match &outcome.message {
            Some(message) => println!(
                "{:<17} {:<9} {message}",
                outcome.target.name(),
                state_name(outcome.state)
            ),
            None => println!(
                "{:<17} {}",
                outcome.target.name(),
                state_name(outcome.state)
            ),
        }
    }
    println!("{}", synced.applied_line());
    Ok(if failed { 6 } else { 0 })
}

/// Ends the process on SIGTERM or SIGINT, but never while a sync is writing.
#[cfg(unix)]
fn stop_on_signals() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|error| format!("cannot listen for signals: {error}"))?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _held = switchyard_agent::agent::hold_writes();
            std::process::exit(0);
        }
    });
    Ok(())
}

/// Keeps syncing: each round waits on the server for a change; errors back off
/// exponentially, with jitter, up to five minutes.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn run(agent: &Agent) -> ExitCode {
    #[cfg(unix)]
    if let Err(problem) = stop_on_signals() {
        return fail(1, &problem);
    }
    let never = std::sync::atomic::AtomicBool::new(false);
    let fatal = agent.run(60, &never, |round, pause| match (round, pause) {
        (Ok(synced), _) if synced.changed => println!("{}", synced.applied_line()),
        (Ok(_), Some(pause)) => eprintln!(
            "switchyard-agent: {}",
            switchyard_agent::agent::early_line(pause)
        ),
        (Err(error), Some(pause)) => {
            eprintln!(
                "switchyard-agent: {error}; trying again in {}s",
                pause.as_secs()
            );
        }
        _ => {}
    });
    match fatal {
        Some(error) => fail(exit_for(&error), &error.to_string()),
        None => ExitCode::SUCCESS,
    }
}

/// What each client will read, and what gets in the way.
fn doctor(agent: &Agent) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let manifest = match agent.state.manifest() {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = writeln!(out, "{error}");
            Default::default()
        }
    };
    let sessions = agent.sessions();
    for (&target, path) in &agent.paths.files {
        let settings: Vec<_> = manifest
            .file(path)
            .map(|file| file.settings.values().map(|m| m.setting.clone()).collect())
            .unwrap_or_default();
        let names: Vec<&str> = settings.iter().map(|s| s.name.as_str()).collect();
        let _ = writeln!(
            out,
            "{}: {} ({}; managed: {})",
            target.name(),
            path.display(),
            if path.exists() { "exists" } else { "absent" },
            if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(", ")
            }
        );
        if settings.is_empty() {
            continue;
        }
        let client = target.client();
        let mut asked = agent.ask(target, &settings);
        if let Check::Read(differences) = &mut asked {
            differences.extend(switchyard_agent::clients::set_in_sessions(
                target,
                &settings,
                &agent.environment,
                &sessions,
            ));
        }
        match asked {
            Check::Read(differences) if differences.is_empty() => {
                let _ = writeln!(out, "  {client} reads every managed setting as published");
            }
            Check::Read(differences) => {
                for difference in differences {
                    let _ = writeln!(out, "  shadowed: {difference}");
                }
            }
            asked => {
                let why = match asked {
                    Check::Failed(problem) => format!("could not ask {client}: {problem}"),
                    _ => {
                        format!("{client} was not asked (not installed here, or not at this scope)")
                    }
                };
                let _ = writeln!(out, "  {why}; by its documented order of reading:");
                let found =
                    switchyard_agent::clients::modelled(target, &settings, &agent.surroundings());
                if found.is_empty() {
                    let _ = writeln!(out, "  nothing read before the agent's file");
                }
                for finding in found {
                    let _ = writeln!(out, "  shadowed: {finding}");
                }
            }
        }
    }
    // What stands in for each mirror with fallbacks, as `sync` chose from its probes.
    if let Ok(Some(mirrors)) = agent.state.mirrors() {
        for mirror in mirrors.report() {
            let line = in_use_line(
                mirror.in_use.as_str(),
                mirror.primary.as_str(),
                mirror.reason.as_ref().map(|reason| reason.as_str()),
            );
            let _ = writeln!(out, "{}: {line}", mirror.kind.as_str());
        }
    }
    if let Some(venv) = agent.environment.get("VIRTUAL_ENV") {
        let _ = writeln!(
            out,
            "pip: inside the virtualenv {venv}, its pip.conf is read after the user's"
        );
    }
    out
}

/// Says what `remove` did (`existed`: whether there was a state folder); the exit code: 1
/// when files were not given back.
#[allow(clippy::print_stdout)]
fn removed(agent: &Agent, existed: bool, removal: Removal) -> u8 {
    let (leaving, left) = match removal {
        Removal::NotRestored(problems) => {
            for problem in &problems {
                println!("not restored: {problem}");
            }
            println!(
                "nothing was removed: the backups in {} are still needed; mend the above and run `remove` again",
                agent.state.root().display()
            );
            return 1;
        }
        Removal::Removed { leaving, left } => (leaving, left),
    };
    match leaving {
        Leaving::NotEnrolled => println!("not enrolled: nothing to revoke"),
        Leaving::Left => println!("the server revoked this machine"),
        Leaving::AlreadyRevoked => println!("the server had revoked this machine already"),
        Leaving::NotTold(error) => println!(
            "not revoked on the server ({error}): it lists this machine until an operator revokes it"
        ),
    }
    let root = agent.state.root().display();
    match left.is_empty() {
        true if !existed => println!("no state folder at {root}: nothing to delete"),
        true => println!("deleted {root}"),
        false => {
            let left: Vec<String> = left.iter().map(|path| path.display().to_string()).collect();
            println!(
                "deleted the agent's files in {root}; not the agent's, left there: {}",
                left.join(", ")
            );
        }
    }
    0
}

/// `status` for people: one `name  value` line per fact, unquoted, then the targets as a
/// table.
fn status_text(view: &std::collections::BTreeMap<&str, serde_json::Value>) -> String {
    use std::fmt::Write as _;
    let plain = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut out = String::new();
    for (key, value) in view
        .iter()
        .filter(|(key, _)| !matches!(**key, "targets" | "probes" | "mirrors"))
    {
        let _ = writeln!(out, "{key:<22} {}", plain(value));
    }
    if let Some(targets) = view.get("targets").and_then(serde_json::Value::as_array) {
        let _ = writeln!(out, "\n{:<17} {:<10} message", "target", "state");
        for target in targets {
            let _ = writeln!(
                out,
                "{:<17} {:<10} {}",
                plain(&target["target"]),
                plain(&target["state"]),
                match &target["message"] {
                    serde_json::Value::Null => String::new(),
                    message => plain(message),
                }
            );
        }
    }
    if let Some(probes) = view.get("probes").and_then(serde_json::Value::as_array) {
        let _ = writeln!(
            out,
            "\n{:<14} {:<12} {:>7} endpoint",
            "probe", "outcome", "ms"
        );
        for probe in probes {
            let _ = writeln!(
                out,
                "{:<14} {:<12} {:>7} {}",
                plain(&probe["kind"]),
                plain(&probe["outcome"]),
                plain(&probe["latency_ms"]),
                plain(&probe["endpoint"]),
            );
            if let Some(message) = probe["message"].as_str() {
                let _ = writeln!(out, "{:<14} {message}", "");
            }
        }
    }
    if let Some(mirrors) = view.get("mirrors").and_then(serde_json::Value::as_array) {
        let _ = writeln!(out, "\n{:<14} {:<32} in use", "mirror", "since");
        for mirror in mirrors {
            let _ = writeln!(
                out,
                "{:<14} {:<32} {}",
                plain(&mirror["kind"]),
                plain(&mirror["since"]),
                in_use_line(
                    mirror["in_use"].as_str().unwrap_or_default(),
                    mirror["primary"].as_str().unwrap_or_default(),
                    mirror["reason"].as_str(),
                ),
            );
        }
    }
    out
}

/// `in_use`, and for a fallback which mirror (`primary`) it stands in for and why.
fn in_use_line(in_use: &str, primary: &str, reason: Option<&str>) -> String {
    match (in_use == primary, reason) {
        (true, None) => format!("{in_use} (the mirror)"),
        (true, Some(reason)) => format!("{in_use} (the mirror, back: {reason})"),
        (false, reason) => format!(
            "{in_use} (fallback for {primary}: {})",
            reason.unwrap_or("chosen earlier")
        ),
    }
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let scope = match scope(&cli) {
        Ok(scope) => scope,
        Err(problem) => return fail(2, &problem),
    };
    let agent = match agent(&cli, scope) {
        Ok(agent) => agent,
        Err(problem) => return fail(2, &problem),
    };
    let outcome: Result<u8, AgentError> = match &cli.command {
        Command::Enroll { server, token } => agent
            .enroll(server, token, &MachineFacts::of_this_machine())
            .map(|identity| {
                println!(
                    "enrolled as device {} in {} / {}; run `switchyard-agent sync`",
                    identity.device_id, identity.environment, identity.machine_role
                );
                0
            }),
        Command::Sync => sync_once(&agent, 0),
        Command::Run => return run(&agent),
        Command::Status { json } => summary(&agent.state).map(|view| {
            match json {
                true => println!(
                    "{}",
                    serde_json::to_string_pretty(&view).unwrap_or_default()
                ),
                false => print!("{}", status_text(&view)),
            }
            0
        }),
        Command::Restore => agent.restore().map(|problems| {
            for problem in &problems {
                println!("not restored: {problem}");
            }
            u8::from(!problems.is_empty())
        }),
        Command::Remove { force } => match (agent.state.root().exists(), agent.remove(*force)) {
            (_, Err(AgentError::Server(error))) => {
                let then = match error {
                    ClientError::Unreachable { .. } => {
                        "run `remove` again once the server can be reached, or `remove --force`"
                    }
                    _ => "see what the server said; `remove --force` deletes the state anyway",
                };
                let message = format!(
                    "{error}; every file is given back, but this machine is still enrolled and \
                     its state kept: {then}"
                );
                return fail(exit_for(&AgentError::Server(error)), &message);
            }
            (existed, removal) => removal.map(|removal| removed(&agent, existed, removal)),
        },
        Command::Diff => agent.preview().map(|previewed| {
            let (previews, failures) = (&previewed.previews, &previewed.failures);
            print!("{}", diff::render(previews, &previewed.secrets));
            for failure in failures {
                println!(
                    "{}: {}",
                    failure.target.name(),
                    failure.message.as_deref().unwrap_or("failed")
                );
            }
            if previews.is_empty() && failures.is_empty() {
                println!("nothing would change");
            }
            u8::from(!failures.is_empty()) * 6
        }),
        Command::Doctor => {
            print!("{}", doctor(&agent));
            Ok(0)
        }
        Command::Service { action } => {
            return match service::act(*action, scope == Scope::Machine, agent) {
                Ok(said) => {
                    if !said.is_empty() {
                        println!("{said}");
                    }
                    ExitCode::SUCCESS
                }
                Err(problem) => fail(1, &problem),
            }
        }
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => fail(exit_for(&error), &error.to_string()),
    }
}
