//! Log output: human-readable or JSON lines on stderr, filtered by the `log` setting.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber. Calling it twice keeps the first one.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::builder().parse_lossy(settings.log.as_str());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
