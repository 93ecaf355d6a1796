//! Lengths of time in settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A length of time in a setting, to the second: whole seconds (`900`) or a duration such as
/// `15m`, `2h 30m` or `7days` (parsed by the `humantime` crate: `s`, `m`, `h`, `d`, `w`, their
/// long names, and more). Written back as whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SettingDuration(Duration);

impl SettingDuration {
    /// `seconds` long.
    pub const fn seconds(seconds: u64) -> Self {
        Self(Duration::from_secs(seconds))
    }

    /// As a standard duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// As a `time` duration, for adding to a time; longer than `time` can hold reads as its
    /// longest (settings are checked to be far shorter).
    pub fn as_time(self) -> time::Duration {
        time::Duration::try_from(self.0).unwrap_or(time::Duration::MAX)
    }
}

impl fmt::Display for SettingDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for SettingDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0.as_secs())
    }
}

impl<'de> Deserialize<'de> for SettingDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = SettingDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("whole seconds, or a duration such as 15m, 2h or 7days")
            }

            fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
                Ok(SettingDuration::seconds(seconds))
            }

            fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
                u64::try_from(seconds)
                    .map(SettingDuration::seconds)
                    .map_err(|_| E::custom(format!("{seconds} is negative; use 0 or more seconds")))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                let text = text.trim();
                if let Ok(seconds) = text.parse::<u64>() {
                    return Ok(SettingDuration::seconds(seconds));
                }
                let duration = humantime::parse_duration(text).map_err(|e| {
                    E::custom(format!(
                        "{text:?} is not a duration ({e}); use whole seconds or a duration \
                         such as 15m, 2h or 7days"
                    ))
                })?;
                // Kept to the second: a part of one would be cut off without a word.
                match duration.subsec_nanos() {
                    0 => Ok(SettingDuration(duration)),
                    _ => Err(E::custom(format!(
                        "{text:?} is not a whole number of seconds; use whole seconds or a \
                         duration such as 15m, 2h or 7days"
                    ))),
                }
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}
