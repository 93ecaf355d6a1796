//! Log output: human-readable or JSON lines on stderr, filtered by the `log` setting.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::config::Settings;

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

/// A `tracing` filter, checked when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFilter(String);

/// `info`: what the server does, not every query it makes.
impl Default for LogFilter {
    fn default() -> Self {
        Self("info".into())
    }
}

impl LogFilter {
    /// The filter as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LogFilter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        tracing_subscriber::EnvFilter::builder()
            .parse(&text)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a log filter ({e}); use a level such as info or debug, or directives such as info,sqlx=warn"
                ))
            })?;
        Ok(LogFilter(text))
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object a line, for log collectors.
    Json,
}
