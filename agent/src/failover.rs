//! Mirror failover: which of a mirror and its fallbacks the machine's clients are set to.
//!
//! A profile may name fallbacks for npm's `registry` (`registry-fallbacks`) and pip's
//! `index-url` (`index-url-fallbacks`). Every one of them is probed with the rest of the
//! profile's endpoints ([`crate::probe`]); from those probes the agent picks what it writes:
//!
//! - it leaves the one in use once [`LEAVE_AFTER`] probes of it in a row failed, for the first
//!   in the profile's order whose latest probe found it serving ([`serves`]) (a first failure is probed again at
//!   once, so a mirror that is down is left in the round that finds it down);
//! - it goes back to one earlier in the order (the primary first) once [`RETURN_AFTER`] probes
//!   of it in a row answered.
//!
//! Leaving takes fewer probes than coming back, and neither happens on one probe: an endpoint
//! that answers every other time is never left on one failure, nor taken back on one answer,
//! so machines do not flap between mirrors. Only what the signed profile names is ever
//! written; the choice is kept in the state folder (`mirrors.json`), so a restart keeps it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_proto::devices::{EndpointKind, EndpointProbe, MachineFact, MirrorInUse};
use switchyard_proto::Profile;
use time::OffsetDateTime;

/// Failed probes in a row after which the mirror in use is left.
pub const LEAVE_AFTER: usize = 2;

/// Answered probes in a row after which a mirror earlier in the order is taken back.
pub const RETURN_AFTER: usize = 3;

/// What the agent chose for one mirror with fallbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// npm's registry or pip's index.
    pub kind: EndpointKind,
    /// The mirror, then its fallbacks, in the profile's order, as machines compare URLs
    /// ([`switchyard_proto::profile::normalize::url`]).
    pub candidates: Vec<String>,
    /// The one written now.
    pub in_use: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// Why the agent moved there; none while on the mirror from the start.
    pub reason: Option<String>,
    /// The latest probes of each candidate, oldest first, at most [`RETURN_AFTER`]: whether
    /// each found it serving ([`serves`]).
    pub recent: BTreeMap<String, Vec<bool>>,
}

/// Whether `probe` found a registry or index serving there: an answer from it of 2xx or 3xx
/// (an index moved to the same path with a `/`), or 401 and 403 (one that wants a login). A
/// 404 says something answers but serves nothing there (a wrong path, or no registry at all),
/// and a fallback is not written for that; a mirror whose probe answers so is left. A probe
/// URL ops set in `probe-urls` makes the question exact.
pub fn serves(probe: &EndpointProbe) -> bool {
    probe.outcome.reachable()
        && probe
            .status
            .is_some_and(|status| status < 400 || matches!(status, 401 | 403))
}

impl Choice {
    /// The mirror itself; a choice without one is never kept ([`Mirrors::for_profile`]).
    fn primary(&self) -> &str {
        self.candidates.first().map_or("", String::as_str)
    }

    fn answered(&self, candidate: &str) -> &[bool] {
        self.recent.get(candidate).map_or(&[], Vec::as_slice)
    }

    /// The last `count` probes of `candidate` all came out `answered`.
    fn last_all(&self, candidate: &str, count: usize, answered: bool) -> bool {
        let recent = self.answered(candidate);
        recent.len() >= count
            && recent[recent.len() - count..]
                .iter()
                .all(|a| *a == answered)
    }

    fn move_to(&mut self, candidate: String, reason: String, now: OffsetDateTime) {
        self.in_use = candidate;
        self.reason = Some(reason);
        self.since = now;
    }

    /// Leaves a failing mirror, or goes back to an earlier one that answers again.
    fn decide(&mut self, now: OffsetDateTime) -> bool {
        let position = |c: &str| self.candidates.iter().position(|x| x == c);
        let here = position(&self.in_use).unwrap_or(0);
        if self.last_all(&self.in_use, LEAVE_AFTER, false) {
            let next = self
                .candidates
                .iter()
                .find(|c| **c != self.in_use && self.answered(c).last() == Some(&true))
                .cloned();
            if let Some(next) = next {
                let reason = format!(
                    "{} did not answer {LEAVE_AFTER} probes in a row",
                    self.in_use
                );
                self.move_to(next, reason, now);
                return true;
            }
            return false;
        }
        let back = self.candidates[..here]
            .iter()
            .find(|c| self.last_all(c, RETURN_AFTER, true))
            .cloned();
        match back {
            Some(back) => {
                let reason = format!("{back} answered {RETURN_AFTER} probes in a row");
                self.move_to(back, reason, now);
                true
            }
            None => false,
        }
    }

    /// What a status report says of it.
    fn report(&self) -> Option<MirrorInUse> {
        Some(MirrorInUse {
            kind: self.kind,
            primary: MachineFact::parse(self.primary()).ok()?,
            fallbacks: self
                .candidates
                .iter()
                .skip(1)
                .filter_map(|c| MachineFact::parse(c).ok())
                .collect(),
            in_use: MachineFact::parse(&self.in_use).ok()?,
            since: self.since,
            reason: self
                .reason
                .as_deref()
                .and_then(|reason| MachineFact::parse(reason).ok()),
        })
    }
}

/// The agent's choices, one per mirror with fallbacks that the applied profile names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirrors {
    /// npm's registry first, then pip's index.
    pub choices: Vec<Choice>,
}

impl Mirrors {
    /// The choices for `profile`: those kept in `kept` for the same mirror go on (dropping
    /// what the profile no longer names), the others start on the mirror itself.
    pub fn for_profile(kept: Mirrors, profile: &Profile, now: OffsetDateTime) -> Mirrors {
        let profile = profile.clone().normalized();
        let npm = profile.npm.as_ref().and_then(|npm| {
            let fallbacks = npm.registry_fallbacks.as_ref()?;
            Some((EndpointKind::NpmRegistry, npm.registry.clone()?, fallbacks))
        });
        let pip = profile.pypi.as_ref().and_then(|pip| {
            let fallbacks = pip.index_url_fallbacks.as_ref()?;
            Some((EndpointKind::PipIndex, pip.index_url.clone()?, fallbacks))
        });
        let choices = npm
            .into_iter()
            .chain(pip)
            .filter(|(_, _, fallbacks)| !fallbacks.is_empty())
            .map(|(kind, primary, fallbacks)| {
                let mut candidates = vec![primary];
                candidates.extend(fallbacks.iter().cloned());
                let earlier = kept.choices.iter().find(|c| {
                    c.kind == kind && !c.candidates.is_empty() && c.primary() == candidates[0]
                });
                match earlier {
                    Some(earlier) if candidates.contains(&earlier.in_use) => Choice {
                        recent: earlier
                            .recent
                            .iter()
                            .filter(|(c, _)| candidates.contains(c))
                            .map(|(c, r)| (c.clone(), r.clone()))
                            .collect(),
                        candidates,
                        ..earlier.clone()
                    },
                    _ => Choice {
                        kind,
                        in_use: candidates[0].clone(),
                        candidates,
                        since: now,
                        reason: None,
                        recent: BTreeMap::new(),
                    },
                }
            })
            .collect();
        Mirrors { choices }
    }

    /// Takes in `probes` (of any endpoints; those of candidates count) and moves where the
    /// rules say; answers whether anything moved.
    pub fn observe(&mut self, probes: &[EndpointProbe], now: OffsetDateTime) -> bool {
        let mut moved = false;
        for choice in &mut self.choices {
            for probe in probes.iter().filter(|p| p.kind == choice.kind) {
                let candidate = probe.endpoint.as_str();
                if !choice.candidates.iter().any(|c| c == candidate) {
                    continue;
                }
                let recent = choice.recent.entry(candidate.to_owned()).or_default();
                recent.push(serves(probe));
                let excess = recent.len().saturating_sub(RETURN_AFTER);
                recent.drain(..excess);
            }
            moved |= choice.decide(now);
        }
        moved
    }

    /// The mirrors in use whose latest probe was their first failure in a row: probed again at
    /// once, so that one that is down is left within the round.
    pub fn to_confirm(&self) -> Vec<(EndpointKind, &str)> {
        self.choices
            .iter()
            .filter(|choice| {
                let recent = choice.answered(&choice.in_use);
                recent.last() == Some(&false)
                    && !choice.last_all(&choice.in_use, LEAVE_AFTER, false)
            })
            .map(|choice| (choice.kind, choice.in_use.as_str()))
            .collect()
    }

    /// Whether some mirror is served by a fallback: its return is then watched more often.
    pub fn failed_over(&self) -> bool {
        self.choices.iter().any(|c| c.in_use != c.primary())
    }

    /// `profile` as written on this machine: each mirror replaced by the fallback in use.
    pub fn applied_to(&self, profile: &Profile) -> Profile {
        let mut profile = profile.clone();
        for choice in self.choices.iter().filter(|c| c.in_use != c.primary()) {
            let in_use = Some(choice.in_use.clone());
            match choice.kind {
                EndpointKind::NpmRegistry => {
                    if let Some(npm) = &mut profile.npm {
                        npm.registry = in_use;
                    }
                }
                EndpointKind::PipIndex => {
                    if let Some(pip) = &mut profile.pypi {
                        pip.index_url = in_use;
                    }
                }
                _ => {}
            }
        }
        profile
    }

    /// What a status report says of them.
    pub fn report(&self) -> Vec<MirrorInUse> {
        self.choices.iter().filter_map(Choice::report).collect()
    }
}

#[cfg(test)]
mod tests;
