//! `switchyard`: the ops command line. Plans and applies a folder of environment files, and
//! reads and moves what the API offers: environments, machine roles, profiles, change
//! requests, machines, enrollment tokens, the audit trail and rollouts.
//!
//! Exit codes: 0 done (for `plan`: nothing would change); 1 an error (the message says what to
//! do next, with the server's error code and request id); 2 `plan` found changes.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use switchyard_cli::api::Api;
use switchyard_cli::commands::{self, Failure};
use switchyard_cli::credentials::{Credential, Store};
use switchyard_cli::folder::Format;
use switchyard_cli::output::{Out, OutputFormat};
use switchyard_cli::plan::SecretPolicy;

/// The ops command line of Switchyard.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// The server's base URL [default: the one `login` kept].
    #[arg(long, global = true, env = "SWITCHYARD_SERVER")]
    server: Option<String>,
    /// How to print results.
    #[arg(long, short, global = true, value_enum, default_value = "table")]
    output: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 done (plan: no change); 1 error; 2 plan found changes.\n\
A token in SWITCHYARD_TOKEN is used instead of the one `login` kept.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in and keep the credential (owner-only) for the next commands.
    Login {
        /// Sign in as this user, the password read from standard input.
        #[arg(long, conflicts_with = "token_stdin")]
        username: Option<String>,
        /// Keep an API token read from standard input instead.
        #[arg(long)]
        token_stdin: bool,
    },
    /// End the session and forget the credential.
    Logout,
    /// Who the credential acts as.
    Whoami,
    /// Environments.
    #[command(subcommand)]
    Env(commands::EnvCommand),
    /// Machine roles.
    #[command(subcommand)]
    Role(commands::RoleCommand),
    /// One profile: read, compare, publish, roll back.
    #[command(subcommand)]
    Profile(commands::ProfileCommand),
    /// Change requests of protected environments.
    #[command(subcommand, name = "change-request")]
    ChangeRequest(commands::ChangeRequestCommand),
    /// Enrolled machines.
    #[command(subcommand)]
    Device(commands::DeviceCommand),
    /// Enrollment tokens.
    #[command(subcommand, name = "enroll-token")]
    EnrollToken(commands::EnrollTokenCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(commands::AuditCommand),
    /// Rollouts: versions published in waves.
    #[command(subcommand)]
    Rollout(commands::RolloutCommand),
    /// What applying the folder DIR would change (exit 2 when anything would).
    Plan {
        /// The folder of environment files.
        dir: PathBuf,
        /// Also write the plan here, for `apply --plan`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Send every secret that has a source again (rotation).
        #[arg(long)]
        update_secrets: bool,
    },
    /// Make the folder DIR's changes: exactly the plan's, or none if anything moved since.
    Apply {
        /// The folder of environment files.
        dir: PathBuf,
        /// The plan file `plan --out` wrote [default: plan now and apply that].
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Why, kept with each version and in the audit trail.
        #[arg(long, short, default_value = "Applied with switchyard apply")]
        message: String,
        /// Send every secret that has a source again (rotation).
        #[arg(long)]
        update_secrets: bool,
    },
    /// Write the server's current state into the folder DIR, one file per environment.
    Export {
        /// The folder.
        dir: PathBuf,
        /// The files' format.
        #[arg(long, value_enum, default_value = "toml")]
        format: FileFormat,
        /// Replace files that exist.
        #[arg(long)]
        overwrite: bool,
    },
    /// Print a completion script for SHELL.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FileFormat {
    Toml,
    Yaml,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = match error.use_stderr() {
                true => 1,
                false => 0,
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let out = Out::new(cli.output);
    match run(cli, out) {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped early (`| head`) is no failure.
        Err(Failure::Io(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(failure) => {
            report(&failure);
            ExitCode::from(1)
        }
    }
}

#[allow(clippy::print_stderr)]
fn report(failure: &Failure) {
    eprintln!("switchyard: {failure}");
}

/// The credential for this command: `SWITCHYARD_TOKEN`, else the one `login` kept.
fn connect(server: Option<String>, store: Option<Store>) -> Result<Api, Failure> {
    // A token pasted from a file often ends with a line end.
    let from_env = std::env::var("SWITCHYARD_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    let kept = match (&from_env, &store) {
        (None, Some(store)) => store.load().map_err(Failure::Usage)?,
        _ => None,
    };
    let server = server
        .or_else(|| kept.as_ref().map(|credential| credential.server.clone()))
        .ok_or_else(|| {
            Failure::Usage(
                "no server: pass --server URL or set SWITCHYARD_SERVER (or run `switchyard login --server URL`)".into(),
            )
        })?;
    let credential = match from_env {
        Some(token) => Some(Credential {
            server: server.clone(),
            token,
            refresh_token: None,
        }),
        // A credential kept for another server is not sent to this one.
        None => kept.filter(|credential| {
            credential.server.trim_end_matches('/') == server.trim_end_matches('/')
        }),
    };
    if credential.is_none() {
        return Err(Failure::Usage(format!(
            "not signed in to {server}: run `switchyard login --server {server}` or set SWITCHYARD_TOKEN"
        )));
    }
    // A token from the environment is never written down.
    let store = store.filter(|_| {
        credential
            .as_ref()
            .is_some_and(|c| c.refresh_token.is_some())
    });
    Api::new(&server, credential, store).map_err(Failure::Usage)
}

fn read_stdin_line(what: &str) -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Usage(format!("cannot read the {what} from standard input: {e}")))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    match line.is_empty() {
        true => Err(Failure::Usage(format!("no {what} on standard input"))),
        false => Ok(line),
    }
}

fn run(cli: Cli, out: Out) -> Result<u8, Failure> {
    let store = Store::default_location();
    match cli.command {
        Command::Login {
            username,
            token_stdin,
        } => {
            let server = cli.server.ok_or_else(|| {
                Failure::Usage("login needs --server URL (or SWITCHYARD_SERVER)".into())
            })?;
            let store = store.ok_or_else(|| {
                Failure::Usage(
                    "no folder to keep the credential in: set SWITCHYARD_CONFIG_DIR or HOME".into(),
                )
            })?;
            let credential = match (username, token_stdin) {
                (Some(username), false) => {
                    // Asked on the terminal without echo; read from a pipe otherwise.
                    let password = match std::io::stdin().is_terminal() {
                        true => rpassword::prompt_password(format!("Password for {username}: "))
                            .map_err(|e| {
                                Failure::Usage(format!("cannot read the password: {e}"))
                            })?,
                        false => read_stdin_line("password")?,
                    };
                    let mut api = Api::new(&server, None, None).map_err(Failure::Usage)?;
                    let pair = api.login(&username, &password)?;
                    Credential {
                        server: api.base().to_owned(),
                        token: pair.access_token,
                        refresh_token: Some(pair.refresh_token),
                    }
                }
                (None, true) => Credential {
                    server: server.trim_end_matches('/').to_owned(),
                    token: read_stdin_line("API token")?,
                    refresh_token: None,
                },
                _ => {
                    return Err(Failure::Usage(
                        "login needs --username NAME (password on standard input) or --token-stdin"
                            .into(),
                    ))
                }
            };
            // The credential is checked before it is kept.
            let mut api = Api::new(&credential.server, Some(credential.clone()), None)
                .map_err(Failure::Usage)?;
            let me: switchyard_proto::User = api.get("/me")?;
            store.save(&credential).map_err(Failure::Usage)?;
            match out.is_json() {
                true => out.json(&me)?,
                false => out.line(&format!(
                    "signed in to {} as {}; the credential is kept in {}",
                    credential.server,
                    me.username,
                    store.path().display()
                ))?,
            }
            Ok(0)
        }
        Command::Logout => {
            let store = store.ok_or_else(|| Failure::Usage("no credential is kept".into()))?;
            if let Ok(Some(credential)) = store.load() {
                if let Some(refresh) = &credential.refresh_token {
                    // Ending the session on the server is best effort: the file goes anyway.
                    if let Ok(mut api) =
                        Api::new(&credential.server, Some(credential.clone()), None)
                    {
                        let body = serde_json::json!({ "refresh_token": refresh });
                        let _ = api.send("POST", "/auth/logout", Some(&body), None);
                    }
                }
            }
            let removed = store.remove().map_err(Failure::Usage)?;
            match out.is_json() {
                true => out.json(&serde_json::json!({ "signed_out": removed }))?,
                false => out.line(match removed {
                    true => "signed out",
                    false => "no credential was kept",
                })?,
            }
            Ok(0)
        }
        Command::Whoami => commands::whoami(&mut connect(cli.server, store)?, out),
        Command::Env(command) => commands::env(&mut connect(cli.server, store)?, out, command),
        Command::Role(command) => commands::role(&mut connect(cli.server, store)?, out, command),
        Command::Profile(command) => {
            commands::profile(&mut connect(cli.server, store)?, out, command)
        }
        Command::ChangeRequest(command) => {
            commands::change_request(&mut connect(cli.server, store)?, out, command)
        }
        Command::Device(command) => {
            commands::device(&mut connect(cli.server, store)?, out, command)
        }
        Command::EnrollToken(command) => {
            commands::enroll_token(&mut connect(cli.server, store)?, out, command)
        }
        Command::Audit(command) => commands::audit(&mut connect(cli.server, store)?, out, command),
        Command::Rollout(command) => {
            commands::rollout(&mut connect(cli.server, store)?, out, command)
        }
        Command::Plan {
            dir,
            out: plan_file,
            update_secrets,
        } => {
            let mut api = connect(cli.server, store)?;
            let policy = SecretPolicy { update_secrets };
            commands::plan(&mut api, out, &dir, plan_file.as_deref(), policy)
        }
        Command::Apply {
            dir,
            plan,
            message,
            update_secrets,
        } => {
            let mut api = connect(cli.server, store)?;
            let policy = SecretPolicy { update_secrets };
            commands::apply(&mut api, out, &dir, plan.as_deref(), &message, policy)
        }
        Command::Export {
            dir,
            format,
            overwrite,
        } => {
            let mut api = connect(cli.server, store)?;
            let format = match format {
                FileFormat::Toml => Format::Toml,
                FileFormat::Yaml => Format::Yaml,
            };
            commands::export(&mut api, out, &dir, format, overwrite)
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "switchyard", &mut std::io::stdout());
            Ok(0)
        }
    }
}
