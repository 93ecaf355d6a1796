//! The agent's one reading of the wall clock, so that every check against it (delivery
//! expiry, request timestamps) uses the same time.

use time::OffsetDateTime;

/// Now, in UTC.
#[allow(clippy::disallowed_methods)] // the agent's only clock; the server's is injected
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
