//! The command line: `switchyard-server [--config FILE] [serve | openapi]`.
//!
//! Exit codes: 0 after a clean stop, 1 when the server cannot start or fails while running
//! (database unreachable, address in use), 2 for invalid settings or arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{Settings, SETTING_KEYS};
use crate::startup::Application;
use crate::{http, telemetry};

/// Exit code for settings or arguments that are wrong.
pub const EXIT_INVALID_SETTINGS: u8 = 2;

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
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the OpenAPI description of the API as JSON.
    Openapi,
}

/// Runs the command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config.as_deref()).await,
        Command::Openapi => print_openapi(),
    }
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
            known = %SETTING_KEYS.join(", "),
            "ignoring an environment variable that is not a setting"
        );
    }
    let app = match Application::build(&settings, Arc::new(SystemClock)).await {
        Ok(app) => app,
        Err(error) => return fail(1, &format!("cannot start: {error}")),
    };
    println!(
        "switchyard-server {} listening on http://{} (database: {})",
        env!("CARGO_PKG_VERSION"),
        app.address(),
        app.database()
    );
    tracing::info!(address = %app.address(), database = %app.database(), "server started");

    let handle = app.handle();
    tokio::spawn(async move {
        let signal = shutdown_signal().await;
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

/// Waits for Ctrl-C or SIGTERM and names the one that came.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if let Err(error) = result {
                tracing::warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            "interrupt"
        }
        () = terminate => "terminate",
    }
}
