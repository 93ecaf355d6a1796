//! The one place the server reads the wall clock; everything else is handed a [`Clock`].

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

/// A source of the current time, so tests can control it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// To the microsecond, the precision both stores keep, so what an answer shows equals what
    /// a later read returns.
    #[allow(clippy::disallowed_methods)] // this is the one sanctioned reading of the clock
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_microsecond(now.microsecond()).unwrap_or(now)
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;
