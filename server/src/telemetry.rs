//! Log output: human-readable or JSON lines on stderr, filtered by the `log` setting.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber. Calling it twice keeps the first one.
pub fn init(settings: &Settings) {
    // actix-web-prom warns on every request to a route whose pattern holds a regular
    // expression (the API viewer's `/docs/{_:.*}`): it cannot label the metric by the
    // pattern's parameters and falls back to the whole pattern, which is what we want. The
    // setting's own directives come after, so `actix_web_prom=warn` there still shows it.
    let filter =
        EnvFilter::builder().parse_lossy(format!("actix_web_prom=error,{}", settings.log.as_str()));
    // Colours only for a terminal: a log file or journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
