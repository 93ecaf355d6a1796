//! Time-boxed overrides as the server keeps them: a version published with an end time, after
//! which the version before comes back by itself. Any publish of the profile before then
//! supersedes the override (the newer version is what people chose last).

use switchyard_proto::rollouts::{Override, OverrideState};
use switchyard_proto::EnvironmentName;
use time::OffsetDateTime;
use uuid::Uuid;

use super::profiles::ProfileTarget;

/// Longest an override may last.
pub const LONGEST: time::Duration = time::Duration::days(30);

/// An override as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRecord {
    /// Its id.
    pub id: Uuid,
    /// The environment.
    pub environment: EnvironmentName,
    /// Which profile.
    pub target: ProfileTarget,
    /// The override's version.
    pub version: u64,
    /// The version whose content comes back.
    pub restore_version: u64,
    /// When it ends.
    pub ends_at: OffsetDateTime,
    /// Where it stands.
    pub state: OverrideState,
    /// Who published it.
    pub started_by: String,
    /// When.
    pub started_at: OffsetDateTime,
    /// When it ended or was superseded.
    pub ended_at: Option<OffsetDateTime>,
    /// The version that brought the old content back.
    pub end_version: Option<u64>,
}

/// Why an end time cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadEnd {
    /// Not in the future.
    #[error("must be in the future")]
    Past,
    /// Too far ahead.
    #[error("must be at most 30 days ahead")]
    TooFar,
}

/// Checks an override's end time `until` at `now`: in the future, at most [`LONGEST`] ahead.
pub fn check_end(until: OffsetDateTime, now: OffsetDateTime) -> Result<(), BadEnd> {
    if until <= now {
        return Err(BadEnd::Past);
    }
    if until > now + LONGEST {
        return Err(BadEnd::TooFar);
    }
    Ok(())
}

impl OverrideRecord {
    /// The override as the API shows it.
    pub fn to_wire(&self) -> Override {
        Override {
            id: self.id,
            environment: self.environment.to_string(),
            target: self.target.to_string(),
            version: self.version,
            restore_version: self.restore_version,
            ends_at: self.ends_at,
            state: self.state,
            started_by: self.started_by.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            end_version: self.end_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_is_in_the_future_and_within_thirty_days() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        assert_eq!(check_end(now, now), Err(BadEnd::Past));
        assert_eq!(
            check_end(now - time::Duration::seconds(1), now),
            Err(BadEnd::Past)
        );
        assert_eq!(check_end(now + time::Duration::seconds(1), now), Ok(()));
        assert_eq!(check_end(now + LONGEST, now), Ok(()));
        assert_eq!(
            check_end(now + LONGEST + time::Duration::seconds(1), now),
            Err(BadEnd::TooFar)
        );
    }
}
