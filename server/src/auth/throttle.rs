//! Slows and then stops password guessing. Failed logins are counted per username and per
//! source address within a window: after a few, each answer is delayed; after the limit, logins
//! are refused with 429 until the lockout ends. A success clears the username's count.
//!
//! The counts live in the server process: with several processes each keeps its own, which
//! multiplies an attacker's budget by the number of processes but never blocks a user wrongly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Failures that cost nothing extra.
const FREE_FAILURES: u32 = 3;
/// Added delay per failure beyond the free ones.
const DELAY_STEP: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest added delay.
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(2);
/// A source address (perhaps a whole office behind NAT) may fail this many times more than
/// one username before it is locked out.
const SOURCE_FACTOR: u32 = 3;
/// Beyond this many tracked keys, stale ones are dropped so memory stays bounded.
const PRUNE_ABOVE: usize = 10_000;

/// How strict the throttle is.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures per username that lock it out.
    pub lockout_failures: u32,
    /// How long a lockout lasts, and how long failures are remembered.
    pub lockout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Source(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: OffsetDateTime,
}

/// What the throttle says about an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead, after waiting this long.
    Proceed(std::time::Duration),
    /// Refused; try again after this many seconds.
    Refuse { retry_after_secs: u64 },
}

/// Counts failed logins.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<Key, Failures>>,
}

impl LoginThrottle {
    /// A throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, key: &Key) -> u32 {
        match key {
            Key::User(_) => self.policy.lockout_failures,
            Key::Source(_) => self.policy.lockout_failures.saturating_mul(SOURCE_FACTOR),
        }
    }

    fn keys(username: &str, source: Option<IpAddr>) -> Vec<Key> {
        let mut keys = vec![Key::User(username.to_owned())];
        keys.extend(source.map(Key::Source));
        keys
    }

    /// Whether a login for `username` from `source` may be tried at `now`, and how long to
    /// wait first. An attempt that may go ahead is counted as a failure at once, under the
    /// same lock, until [`succeeded`](Self::succeeded) says otherwise: parallel guesses cannot
    /// all pass before any of them is counted.
    pub fn attempt(&self, username: &str, source: Option<IpAddr>, now: OffsetDateTime) -> Verdict {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let verdict = self.verdict(&failures, username, source, now);
        if matches!(verdict, Verdict::Proceed(_)) {
            Self::count(&mut failures, self.policy.lockout, username, source, now);
        }
        verdict
    }

    fn verdict(
        &self,
        failures: &HashMap<Key, Failures>,
        username: &str,
        source: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Verdict {
        let mut delay = std::time::Duration::ZERO;
        let mut retry_after = 0_i64;
        for key in Self::keys(username, source) {
            let Some(entry) = failures
                .get(&key)
                .filter(|f| now - f.last < self.policy.lockout)
            else {
                continue;
            };
            if entry.count >= self.limit(&key) {
                let remaining = (entry.last + self.policy.lockout - now).whole_seconds();
                retry_after = retry_after.max(remaining.max(1));
            }
            let extra = entry.count.saturating_sub(FREE_FAILURES);
            delay = delay.max((DELAY_STEP * extra).min(MAX_DELAY));
        }
        match retry_after {
            0 => Verdict::Proceed(delay),
            secs => Verdict::Refuse {
                retry_after_secs: u64::try_from(secs).unwrap_or(1),
            },
        }
    }

    fn count(
        failures: &mut HashMap<Key, Failures>,
        lockout: Duration,
        username: &str,
        source: Option<IpAddr>,
        now: OffsetDateTime,
    ) {
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, f| now - f.last < lockout);
        }
        for key in Self::keys(username, source) {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now - entry.last >= lockout {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// The attempt succeeded: the username's count is cleared and the source's attempt
    /// uncounted.
    pub fn succeeded(&self, username: &str, source: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Key::User(username.to_owned()));
        if let Some(entry) = source.and_then(|source| failures.get_mut(&Key::Source(source))) {
            entry.count = entry.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy {
            lockout_failures: 5,
            lockout: Duration::minutes(15),
        })
    }

    #[test]
    fn attempts_slow_then_lock_a_username_until_the_lockout_ends() {
        let throttle = throttle();
        let source: Option<IpAddr> = "192.0.2.1".parse().ok();
        let free = Verdict::Proceed(std::time::Duration::ZERO);
        for _ in 0..4 {
            assert_eq!(throttle.attempt("ada", source, NOW), free);
        }
        assert_eq!(
            throttle.attempt("ada", source, NOW),
            Verdict::Proceed(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            throttle.attempt("ada", None, NOW + Duration::minutes(5)),
            Verdict::Refuse {
                retry_after_secs: 600
            }
        );
        assert!(matches!(
            throttle.attempt("ada", None, NOW + Duration::minutes(15)),
            Verdict::Proceed(_)
        ));
        // Another user from elsewhere is unaffected.
        assert_eq!(throttle.attempt("bob", None, NOW), free);
    }

    #[test]
    fn parallel_attempts_are_counted_before_any_answer() {
        let throttle = throttle();
        // Five guesses in flight at once: the sixth is refused before any of them failed.
        for _ in 0..5 {
            assert!(matches!(
                throttle.attempt("ada", None, NOW),
                Verdict::Proceed(_)
            ));
        }
        assert!(matches!(
            throttle.attempt("ada", None, NOW),
            Verdict::Refuse { .. }
        ));
    }

    #[test]
    fn one_source_guessing_many_usernames_is_locked_too() {
        let throttle = throttle();
        let source: Option<IpAddr> = "192.0.2.7".parse().ok();
        for i in 0..15 {
            throttle.attempt(&format!("user{i}"), source, NOW);
        }
        assert!(matches!(
            throttle.attempt("fresh-name", source, NOW),
            Verdict::Refuse { .. }
        ));
        assert!(matches!(
            throttle.attempt("fresh-name", None, NOW),
            Verdict::Proceed(_)
        ));
    }

    #[test]
    fn success_clears_the_username_and_its_attempt() {
        let throttle = throttle();
        let source: Option<IpAddr> = "192.0.2.9".parse().ok();
        for _ in 0..4 {
            throttle.attempt("ada", source, NOW);
        }
        throttle.succeeded("ada", source);
        assert_eq!(
            throttle.attempt("ada", None, NOW),
            Verdict::Proceed(std::time::Duration::ZERO)
        );
    }
}
