//! The command line: `switchyard-server [--config FILE] [serve | openapi | audit verify |
//! keys rotate]`.
//!
//! Exit codes: 0 after a clean stop, 1 when the server cannot start or fails while running
//! (database unreachable, address in use), 2 for invalid settings or arguments, 3 when
//! `audit verify` finds the audit trail broken.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::auth::bootstrap::Bootstrap;
use crate::clock::{Clock as _, SystemClock};
use crate::config::Settings;
use crate::domain::audit::Origin;
use crate::domain::sealing::SecretBox;
use crate::startup::Application;
use crate::store::DatabaseUrl;
use crate::{http, keys, store, telemetry};

/// Exit code for settings or arguments that are wrong.
pub const EXIT_INVALID_SETTINGS: u8 = 2;

/// Exit code of `audit verify` for a broken audit trail.
pub const EXIT_AUDIT_BROKEN: u8 = 3;

/// Switchyard server: package proxy and mirror settings for developer machines.
#[derive(Debug, Parser)]
#[command(name = "switchyard-server", version, about)]
pub struct Cli {
    /// TOML file with settings; SWITCHYARD_* environment variables override it.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when none is given.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the OpenAPI description of the API as JSON.
    Openapi,
    /// Work with the audit trail in the configured database.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Work with the signing keys in the configured database.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// What to do with the signing keys.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key, announced to machines in a key set signed by the current one.
    Rotate,
}

/// What to do with the audit trail.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain from the first event, holding it against the heads machines were
    /// sent and any signed checkpoints given; name the first broken link (exit code 3).
    Verify {
        /// A log of the server's (any format) whose signed audit checkpoints the chain must
        /// hold; may be given again. A checkpoint none of the server's keys signed ends the
        /// check with exit code 1.
        #[arg(long = "checkpoints", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
}

/// Runs the command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config.as_deref()).await,
        Command::Openapi => print_openapi(),
        Command::Audit(AuditCommand::Verify { checkpoints }) => {
            verify_audit(cli.config.as_deref(), &checkpoints).await
        }
        Command::Keys(KeysCommand::Rotate) => rotate_key(cli.config.as_deref()).await,
    }
}

/// The configured settings and an open store on an existing database, for the maintenance
/// commands; `Err` is the exit code, the problem already printed.
async fn open_existing(config: Option<&Path>) -> Result<(Settings, store::SharedStore), ExitCode> {
    let settings = Settings::load(config, environment())
        .map_err(|error| fail(EXIT_INVALID_SETTINGS, &error.to_string()))?;
    let database = settings.database();
    // Opening a SQLite file that is not there would create an empty one.
    if let DatabaseUrl::Sqlite(path) = &database {
        if !path.is_file() {
            return Err(fail(
                1,
                &format!("there is no database at {}", path.display()),
            ));
        }
    }
    let store = store::open(&database, 1)
        .await
        .map_err(|error| fail(1, &format!("cannot open {database}: {error}")))?;
    Ok((settings, store))
}

#[allow(clippy::print_stdout)] // the new key is the command's output
async fn rotate_key(config: Option<&Path>) -> ExitCode {
    let (settings, store) = match open_existing(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let key_path = settings.profile_key_path();
    if !key_path.is_file() {
        return fail(
            1,
            &format!(
                "there is no profile key at {} (profile_key_file)",
                key_path.display()
            ),
        );
    }
    let sealer = match SecretBox::load_or_create(&key_path) {
        Ok(sealer) => sealer,
        Err(problem) => return fail(1, &problem),
    };
    let mut origin = Origin::system();
    origin
        .detail
        .insert("via".into(), "switchyard-server keys rotate".into());
    let outcome = keys::rotate(store.as_ref(), &sealer, &origin, SystemClock.now()).await;
    store.close().await;
    match outcome {
        Ok(record) => {
            println!(
                "signing key {} made (key-set version {}); machines move to it at their next fetch",
                record.key_id, record.version
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(1, &format!("cannot rotate the signing key: {error}")),
    }
}

#[allow(clippy::print_stdout)] // the verdict is the command's output
async fn verify_audit(config: Option<&Path>, checkpoints: &[PathBuf]) -> ExitCode {
    let store = match open_existing(config).await {
        Ok((_, store)) => store,
        Err(code) => return code,
    };
    let heads = match checkpoint_heads(store.as_ref(), checkpoints).await {
        Ok(heads) => heads,
        Err(problem) => {
            store.close().await;
            return fail(1, &problem);
        }
    };
    let verdict = store::verify_audit_trail_against(store.as_ref(), heads).await;
    store.close().await;
    match verdict {
        Ok(verdict) => match verdict.first_broken {
            None => {
                println!(
                    "audit trail intact: {} events; head #{} {}; {} witnessed heads agree",
                    verdict.events, verdict.head_seq, verdict.head_hash, verdict.witnesses
                );
                ExitCode::SUCCESS
            }
            Some(broken) => {
                println!(
                    "audit trail BROKEN at event {}: {} ({} events checked)",
                    broken.seq, broken.problem, verdict.events
                );
                ExitCode::from(EXIT_AUDIT_BROKEN)
            }
        },
        Err(error) => fail(1, &format!("cannot read the audit trail: {error}")),
    }
}

/// The heads of the signed checkpoints in `files`, each named by where it was; an error
/// naming the first file that cannot be read or checkpoint none of the server's keys signed.
async fn checkpoint_heads(
    store: &dyn store::Store,
    files: &[PathBuf],
) -> Result<Vec<(String, switchyard_proto::AuditHead)>, String> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let keys = store
        .signing_keys()
        .await
        .map_err(|error| format!("cannot read the signing keys: {error}"))?;
    let mut heads = Vec::new();
    for file in files {
        let text = std::fs::read(file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        let text = String::from_utf8_lossy(&text);
        let name = file.display().to_string();
        for found in crate::audit_checkpoints::found_in(&name, &text, &keys) {
            let head = found.head.map_err(|why| {
                format!(
                    "{}: a checkpoint none of this server's keys signed: {why}",
                    found.place
                )
            })?;
            heads.push((format!("the checkpoint at {}", found.place), head));
        }
    }
    Ok(heads)
}

#[allow(clippy::print_stdout)] // printing the description is the command's job
fn print_openapi() -> ExitCode {
    match http::api_description().to_pretty_json() {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(
            1,
            &format!("cannot render the OpenAPI description: {error}"),
        ),
    }
}

/// The process environment, leaving out variables that are not valid Unicode (no setting
/// could use them).
fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

#[allow(clippy::print_stdout)] // the address and database are printed whatever the log level
async fn serve(config: Option<&Path>) -> ExitCode {
    let env = environment();
    let settings = match Settings::load(config, env.clone()) {
        Ok(settings) => settings,
        Err(error) => return fail(EXIT_INVALID_SETTINGS, &error.to_string()),
    };
    telemetry::init(&settings);
    for variable in Settings::unknown_variables(env) {
        tracing::warn!(
            %variable,
            known = %Settings::keys().join(", "),
            "ignoring an environment variable that is not a setting"
        );
    }
    let mut app = match Application::build(&settings, Arc::new(SystemClock)).await {
        Ok(app) => app,
        Err(error) => return fail(1, &format!("cannot start: {error}")),
    };
    // Listen for signals before telling anyone we are up, so none can arrive unhandled.
    let shutdown = match ShutdownSignals::listen() {
        Ok(signals) => signals,
        Err(error) => return fail(1, &format!("cannot listen for shutdown signals: {error}")),
    };
    println!(
        "switchyard-server {} listening on http://{} (database: {})",
        env!("CARGO_PKG_VERSION"),
        app.address(),
        app.database()
    );
    tracing::info!(address = %app.address(), database = %app.database(), "server started");
    match app.take_bootstrap() {
        Bootstrap::NotNeeded => {}
        Bootstrap::CreatedWithConfiguredPassword => {
            tracing::info!(
                "created the first user, admin, with the password from SWITCHYARD_ADMIN_PASSWORD"
            );
        }
        // Printed on the console once and never logged: it is a secret.
        Bootstrap::CreatedWithGeneratedPassword(password) => {
            println!(
                "created the first user, admin, with the password {password}\n\
                 (shown only this once: log in and change it, or set SWITCHYARD_ADMIN_PASSWORD before the first start)"
            );
        }
    }

    let handle = app.handle();
    tokio::spawn(async move {
        let signal = shutdown.recv().await;
        tracing::info!(signal, "shutting down; letting in-flight requests finish");
        handle.stop(true).await;
    });
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => fail(1, &format!("server failed: {error}")),
    }
}

/// One line on stderr, whatever the log settings, and the exit code.
#[allow(clippy::print_stderr)]
fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("switchyard-server: {}", message.replace('\n', " "));
    ExitCode::from(code)
}

/// Ctrl-C (SIGINT) and SIGTERM, registered up front.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the first signal and names it.
    async fn recv(mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "interrupt",
                _ = self.terminate.recv() => "terminate",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            match tokio::signal::ctrl_c().await {
                Ok(()) => "interrupt",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
