//! How `run` spaces its rounds, so that no answer, however quick, makes it spin.
//!
//! A round long-polls: the server holds the request until the profile changes or the wait is
//! over, so a healthy agent asks about once a wait. A relay that drops `If-None-Match` (every
//! answer a 200 of the same delivery) or answers 304 at once would otherwise have it ask as
//! fast as the network allows, each request a database write on the server; ten thousand
//! machines behind one such proxy would be a denial of service. So:
//! - no two rounds start less than [`MIN_ROUND`] apart;
//! - a round that brought nothing new before its wait was over came back *early*: the next
//!   waits [`MIN_ROUND`], doubling with each early round in a row up to [`MOST_PAUSE`];
//! - a failed round waits one second, doubling up to [`MOST_PAUSE`];
//! - each pause beyond [`MIN_ROUND`] gets up to half again as random jitter, so that a fleet
//!   does not come back all at once.
//!
//! A round that brought a new delivery, or that waited its wait out, sets both back.

use std::time::Duration;

/// The least time between the starts of two rounds.
pub const MIN_ROUND: Duration = Duration::from_secs(5);

/// The longest pause between two rounds.
pub const MOST_PAUSE: Duration = Duration::from_secs(300);

/// The first pause after a failed round.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// How much sooner than its wait a round may end and still count as having waited: the
/// server's and the agent's clocks, and the request's own time.
const WAIT_TOLERANCE: Duration = Duration::from_secs(1);

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It brought a delivery not applied before.
    Changed,
    /// Nothing new, having asked the server to wait `wait` for a change.
    Unchanged {
        /// How long it asked the server to wait.
        wait: Duration,
    },
    /// It failed.
    Failed,
}

/// The pause before the next round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// How long.
    pub length: Duration,
    /// Why, when it is more than the least time between rounds: the answer came early or the
    /// round failed (worth telling whoever reads the log).
    pub backing_off: bool,
}

/// The state of the spacing between rounds.
#[derive(Debug, Clone)]
pub struct Pacing {
    early: Duration,
    failed: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            early: MIN_ROUND,
            failed: FIRST_RETRY,
        }
    }
}

impl Pacing {
    /// The pause after a round that ended as `ended` and took `took`, with `jitter` (0 to 0.5:
    /// the share added to a backing-off pause).
    pub fn after(&mut self, ended: Ended, took: Duration, jitter: f64) -> Pause {
        let jittered = |pause: Duration| pause.mul_f64(1.0 + jitter.clamp(0.0, 0.5));
        match ended {
            Ended::Unchanged { wait } if took + WAIT_TOLERANCE < wait || wait.is_zero() => {
                let pause = jittered(self.early);
                self.early = (self.early * 2).min(MOST_PAUSE);
                self.failed = FIRST_RETRY;
                Pause {
                    length: pause.max(MIN_ROUND.saturating_sub(took)),
                    backing_off: true,
                }
            }
            Ended::Changed | Ended::Unchanged { .. } => {
                *self = Self::default();
                Pause {
                    length: MIN_ROUND.saturating_sub(took),
                    backing_off: false,
                }
            }
            Ended::Failed => {
                let pause = jittered(self.failed);
                self.failed = (self.failed * 2).min(MOST_PAUSE);
                Pause {
                    length: pause.max(MIN_ROUND.saturating_sub(took)),
                    backing_off: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_ONCE: Duration = Duration::from_millis(20);
    const WAIT: Duration = Duration::from_secs(60);

    fn early() -> Ended {
        Ended::Unchanged { wait: WAIT }
    }

    #[test]
    fn answers_at_once_back_off_from_the_least_round_to_five_minutes() {
        let mut pacing = Pacing::default();
        let pauses: Vec<u64> = (0..9)
            .map(|_| pacing.after(early(), AT_ONCE, 0.0).length.as_secs())
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_wait_waited_out_or_a_change_sets_the_pacing_back() {
        let mut pacing = Pacing::default();
        for _ in 0..4 {
            pacing.after(early(), AT_ONCE, 0.0);
        }
        let waited = Ended::Unchanged { wait: WAIT };
        let pause = pacing.after(waited, WAIT, 0.0);
        assert_eq!(
            pause.length,
            Duration::ZERO,
            "a long-poll is asked again at once"
        );
        assert!(!pause.backing_off);
        assert_eq!(pacing.after(early(), AT_ONCE, 0.0).length, MIN_ROUND);
        // A change that comes at once (a publish during the wait) is taken, then the next
        // round starts no sooner than the least round after.
        let changed = pacing.after(Ended::Changed, Duration::from_secs(2), 0.3);
        assert_eq!(changed.length, Duration::from_secs(3));
        assert_eq!(pacing.after(early(), AT_ONCE, 0.0).length, MIN_ROUND);
    }

    #[test]
    fn failures_back_off_from_a_second_but_never_start_rounds_closer_than_the_least() {
        let mut pacing = Pacing::default();
        let lengths: Vec<Duration> = (0..10)
            .map(|_| pacing.after(Ended::Failed, AT_ONCE, 0.0).length)
            .collect();
        assert!(lengths[0] >= MIN_ROUND - AT_ONCE, "{lengths:?}");
        assert_eq!(lengths[9], MOST_PAUSE);
        // A slow failure (a timeout) is retried after its own backoff, not the least round.
        let mut pacing = Pacing::default();
        let slow = pacing.after(Ended::Failed, Duration::from_secs(30), 0.0);
        assert_eq!(slow.length, FIRST_RETRY);
    }

    #[test]
    fn jitter_adds_at_most_half_again() {
        let mut pacing = Pacing::default();
        assert_eq!(
            pacing.after(early(), AT_ONCE, 0.9).length,
            MIN_ROUND.mul_f64(1.5)
        );
    }

    #[test]
    fn a_zero_wait_is_polling_and_backs_off_too() {
        let mut pacing = Pacing::default();
        let zero = Ended::Unchanged {
            wait: Duration::ZERO,
        };
        assert_eq!(pacing.after(zero, AT_ONCE, 0.0).length, MIN_ROUND);
        assert_eq!(pacing.after(zero, AT_ONCE, 0.0).length, MIN_ROUND * 2);
    }
}
