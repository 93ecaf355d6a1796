//! The Switchyard agent. This is its command-line skeleton; enrolment, verification and the
//! file writers come in later issues, and until then every command says so and exits with 3.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code of a command that is not built yet.
const EXIT_NOT_AVAILABLE: u8 = 3;

/// Keeps this machine's package proxy and mirror settings in sync with a Switchyard server.
#[derive(Debug, Parser)]
#[command(name = "switchyard-agent", version, about)]
struct Cli {
    /// Whose settings to manage: the current user's or the whole machine's.
    #[arg(long, value_enum, default_value_t = Scope::User, global = true)]
    scope: Scope,

    /// Folder for the agent's own state (device key, last envelope, backups).
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

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
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let name = match cli.command {
        Command::Enroll { .. } => "enroll",
        Command::Sync => "sync",
        Command::Run => "run",
        Command::Status { .. } => "status",
        Command::Diff => "diff",
        Command::Doctor => "doctor",
        Command::Restore => "restore",
    };
    eprintln!("switchyard-agent: `{name}` is not available in this build yet");
    ExitCode::from(EXIT_NOT_AVAILABLE)
}
