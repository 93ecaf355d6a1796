//! The audit trail: what an action records, how events are chained by hashes, and how a chain
//! is checked. Stores append events in the same transaction as the change they record.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use switchyard_proto::profile::SettingChange;
use switchyard_proto::{
    ActorKind, AuditAction, AuditEvent, AuditVerification, BrokenLink, Outcome,
};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// `previous_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Most events one page of the API holds.
pub const MOST_EVENTS_PER_PAGE: u32 = 500;

/// Most events one store query returns: a page and one more, which tells whether another
/// page follows.
pub const MOST_EVENTS_PER_QUERY: u32 = MOST_EVENTS_PER_PAGE + 1;

/// Who acted, from where, and how they reached us: the same for every event of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// What kind of actor.
    pub actor_kind: ActorKind,
    /// User name, device id, `system` or empty.
    pub actor: String,
    /// The client's address.
    pub source: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// Facts about the actor that every event of the request carries (an API token's id).
    pub detail: BTreeMap<String, String>,
}

impl Origin {
    /// The server itself, acting on no request.
    pub fn system() -> Self {
        Self {
            actor_kind: ActorKind::System,
            actor: "system".into(),
            source: None,
            user_agent: None,
            request_id: None,
            detail: BTreeMap::new(),
        }
    }

    /// An event by this actor.
    pub fn record(
        &self,
        action: AuditAction,
        target: impl Into<String>,
        at: OffsetDateTime,
    ) -> AuditRecord {
        AuditRecord {
            at,
            origin: self.clone(),
            action,
            environment: None,
            machine_role: None,
            target: target.into(),
            outcome: Outcome::Success,
            changes: Vec::new(),
            detail: self.detail.clone(),
        }
    }
}

/// An event about to be appended: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: OffsetDateTime,
    /// Who, from where.
    pub origin: Origin,
    /// What.
    pub action: AuditAction,
    /// The environment concerned.
    pub environment: Option<String>,
    /// The machine role concerned.
    pub machine_role: Option<String>,
    /// What was acted on.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Setting by setting, secrets masked.
    pub changes: Vec<SettingChange>,
    /// Further facts.
    pub detail: BTreeMap<String, String>,
}

impl AuditRecord {
    /// Concerning `environment`.
    pub fn in_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Concerning `machine_role`.
    pub fn for_role(mut self, machine_role: Option<impl Into<String>>) -> Self {
        self.machine_role = machine_role.map(Into::into);
        self
    }

    /// With these changes.
    pub fn with_changes(mut self, changes: Vec<SettingChange>) -> Self {
        self.changes = changes;
        self
    }

    /// With one more fact.
    pub fn with_detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// Ended as `outcome`.
    pub fn ended(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// The event at position `seq`, after the event whose hash is `previous_hash`.
    pub fn chain(&self, seq: u64, previous_hash: &str) -> AuditEvent {
        let mut event = AuditEvent {
            seq,
            id: Uuid::new_v4(),
            at: to_microseconds(self.at),
            actor_kind: self.origin.actor_kind,
            actor: self.origin.actor.clone(),
            source: self.origin.source.clone(),
            user_agent: self.origin.user_agent.clone(),
            request_id: self.origin.request_id.clone(),
            action: self.action,
            environment: self.environment.clone(),
            machine_role: self.machine_role.clone(),
            target: self.target.clone(),
            outcome: self.outcome,
            changes: self.changes.clone(),
            detail: self.detail.clone(),
            previous_hash: previous_hash.to_owned(),
            hash: String::new(),
        };
        event.hash = content_hash(&event);
        event
    }
}

/// Times are kept to the microsecond, which both stores hold exactly.
fn to_microseconds(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(UtcOffset::UTC);
    utc.replace_microsecond(utc.microsecond()).unwrap_or(utc)
}

const CANONICAL_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The fields hashed, in a fixed order; everything of the event but its own hash.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    id: String,
    at: String,
    actor_kind: &'static str,
    actor: &'a str,
    source: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    action: &'static str,
    environment: Option<&'a str>,
    machine_role: Option<&'a str>,
    target: &'a str,
    outcome: &'static str,
    changes: Vec<(&'a str, Option<&'a str>, Option<&'a str>)>,
    detail: &'a BTreeMap<String, String>,
    previous_hash: &'a str,
}

/// SHA-256, in hex, of the event's canonical content.
pub fn content_hash(event: &AuditEvent) -> String {
    let canonical = Canonical {
        seq: event.seq,
        id: event.id.hyphenated().to_string(),
        at: to_microseconds(event.at)
            .format(CANONICAL_TIME)
            .unwrap_or_default(),
        actor_kind: event.actor_kind.as_str(),
        actor: &event.actor,
        source: event.source.as_deref(),
        user_agent: event.user_agent.as_deref(),
        request_id: event.request_id.as_deref(),
        action: event.action.as_str(),
        environment: event.environment.as_deref(),
        machine_role: event.machine_role.as_deref(),
        target: &event.target,
        outcome: event.outcome.as_str(),
        changes: event
            .changes
            .iter()
            .map(|change| {
                (
                    change.path.as_str(),
                    change.old.as_deref(),
                    change.new.as_deref(),
                )
            })
            .collect(),
        detail: &event.detail,
        previous_hash: &event.previous_hash,
    };
    let text = serde_json::to_string(&canonical).unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `path: old -> new` when the two differ; `None` when nothing changed.
pub fn change(path: &str, old: Option<String>, new: Option<String>) -> Option<SettingChange> {
    (old != new).then(|| SettingChange {
        path: path.to_owned(),
        old,
        new,
    })
}

/// The changed settings' paths as the stores keep them for the setting filter: each between
/// newlines.
pub fn path_index(changes: &[SettingChange]) -> String {
    let mut index = String::from("\n");
    for change in changes {
        index.push_str(&change.path);
        index.push('\n');
    }
    index
}

/// Walks a chain from its first event, event by event in `seq` order, and remembers the first
/// link that does not hold.
#[derive(Debug)]
pub struct ChainCheck {
    events: u64,
    previous_seq: u64,
    previous_hash: String,
    first_broken: Option<BrokenLink>,
    /// What witnesses hold, by position: (who, hash).
    witnesses: std::collections::BTreeMap<u64, Vec<(String, String)>>,
    witnessed: u64,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            events: 0,
            previous_seq: 0,
            previous_hash: GENESIS_HASH.to_owned(),
            first_broken: None,
            witnesses: std::collections::BTreeMap::new(),
            witnessed: 0,
        }
    }
}

impl ChainCheck {
    /// A check that also holds the chain against heads kept elsewhere, each named by who
    /// holds it (`machine ID`: signed into its delivery and checked when reported; a signed
    /// checkpoint in a log): the event at each head's position must have that hash, and the
    /// chain must reach it. Recomputing every hash after an edit, or deleting the newest
    /// events, passes the links but not the witnesses.
    pub fn witnessed_by(heads: Vec<(String, switchyard_proto::AuditHead)>) -> Self {
        let mut check = Self {
            witnessed: heads.len() as u64,
            ..Self::default()
        };
        for (machine, head) in heads {
            check
                .witnesses
                .entry(head.seq)
                .or_default()
                .push((machine, head.hash));
        }
        check
    }

    /// Checks the next event; false once the chain is broken (there is no point going on).
    pub fn next(&mut self, event: &AuditEvent) -> bool {
        if self.first_broken.is_some() {
            return false;
        }
        self.events += 1;
        let expected_seq = self.previous_seq + 1;
        let problem = if event.seq > expected_seq {
            Some(format!(
                "events {expected_seq} to {} are missing",
                event.seq - 1
            ))
        } else if content_hash(event) != event.hash {
            Some("its content does not match its hash: it was changed after it was written".into())
        } else if event.previous_hash != self.previous_hash {
            Some(format!(
                "it does not follow event {}: an event before it was changed, removed or moved",
                self.previous_seq
            ))
        } else {
            None
        };
        let problem = problem.or_else(|| {
            let witnesses = self.witnesses.remove(&event.seq)?;
            let (who, hash) = witnesses.into_iter().find(|(_, hash)| *hash != event.hash)?;
            Some(format!(
                "{who} holds this event with hash {hash}: it was rewritten after, and the hashes after it recomputed"
            ))
        });
        self.previous_seq = event.seq;
        self.previous_hash = event.hash.clone();
        if let Some(problem) = problem {
            self.broken(event.seq, problem);
            return false;
        }
        true
    }

    /// Records a link that could not even be read.
    pub fn broken(&mut self, seq: u64, problem: String) {
        if self.first_broken.is_none() {
            self.first_broken = Some(BrokenLink { seq, problem });
        }
    }

    /// Where the walk ends up: a head a machine was sent beyond the chain's end means events
    /// were cut from the end.
    pub fn finish(mut self) -> AuditVerification {
        let beyond = self
            .witnesses
            .range(self.previous_seq + 1..)
            .next()
            .and_then(|(seq, holders)| Some((*seq, holders.first()?.0.clone())));
        if let Some((seq, who)) = beyond {
            let last = self.previous_seq;
            self.broken(
                seq,
                format!("{who} holds the trail up to this event, but it ends at event {last}: events were cut from the end"),
            );
        }
        AuditVerification {
            intact: self.first_broken.is_none(),
            events: self.events,
            head_seq: self.previous_seq,
            head_hash: self.previous_hash,
            first_broken: self.first_broken,
            witnesses: self.witnessed,
        }
    }
}

/// Which events a query wants. Every query is bounded by `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Acted by this user name or device.
    pub actor: Option<String>,
    /// This action.
    pub action: Option<AuditAction>,
    /// Concerning this environment.
    pub environment: Option<String>,
    /// Concerning this machine role.
    pub machine_role: Option<String>,
    /// Changing this setting or one under it (`npm.scopes` matches `npm.scopes.@corp`).
    pub setting: Option<String>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// Only events concerning these environments (`None`: all events).
    pub visible_environments: Option<Vec<String>>,
    /// Only events older than this position (the cursor).
    pub before_seq: Option<u64>,
    /// At most this many, newest first.
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str) -> AuditRecord {
        Origin::system()
            .record(
                AuditAction::EnvironmentCreate,
                target,
                OffsetDateTime::UNIX_EPOCH,
            )
            .in_environment("dev")
            .with_changes(vec![SettingChange {
                path: "go.proxy".into(),
                old: None,
                new: Some("direct".into()),
            }])
    }

    fn chain_of(count: u64) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for seq in 1..=count {
            let previous = events
                .last()
                .map_or(GENESIS_HASH, |e| e.hash.as_str())
                .to_owned();
            events.push(record(&format!("environment:e{seq}")).chain(seq, &previous));
        }
        events
    }

    fn check(events: &[AuditEvent]) -> AuditVerification {
        let mut check = ChainCheck::default();
        for event in events {
            if !check.next(event) {
                break;
            }
        }
        check.finish()
    }

    #[test]
    fn an_untouched_chain_holds() {
        let events = chain_of(4);
        let verdict = check(&events);
        assert!(verdict.intact);
        assert_eq!((verdict.events, verdict.head_seq), (4, 4));
        assert_eq!(verdict.head_hash, events[3].hash);
        assert!(check(&[]).intact);
    }

    #[test]
    fn edits_removals_and_moves_are_named_at_their_place() {
        let mut edited = chain_of(4);
        edited[1].actor = "mallory".into();
        assert_eq!(check(&edited).first_broken.unwrap().seq, 2);

        let mut rehashed = chain_of(4);
        rehashed[1].target = "environment:other".into();
        rehashed[1].hash = content_hash(&rehashed[1]);
        let broken = check(&rehashed).first_broken.unwrap();
        assert_eq!(broken.seq, 3, "{broken:?}");

        let mut removed = chain_of(4);
        removed.remove(2);
        let broken = check(&removed).first_broken.unwrap();
        assert_eq!(broken.seq, 4);
        assert!(broken.problem.contains("missing"), "{broken:?}");

        let mut moved = chain_of(4);
        moved.swap(1, 2);
        (moved[1].seq, moved[2].seq) = (2, 3);
        assert_eq!(check(&moved).first_broken.unwrap().seq, 2);
    }

    #[test]
    fn the_hash_covers_every_field() {
        let event = chain_of(1).remove(0);
        let edits: [fn(&mut AuditEvent); 6] = [
            |e| e.at += time::Duration::microseconds(1),
            |e| e.source = Some("10.0.0.1".into()),
            |e| e.outcome = Outcome::Failure,
            |e| e.changes[0].new = Some("off".into()),
            |e| {
                e.detail.insert("reason".into(), "x".into());
            },
            |e| e.previous_hash = "1".repeat(64),
        ];
        for change in edits {
            let mut changed = event.clone();
            change(&mut changed);
            assert_ne!(content_hash(&changed), event.hash);
        }
    }
}
