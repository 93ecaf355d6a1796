//! Publishing: drafts, immutable versions, rollback and four-eyes approval. These are the rules;
//! no HTTP and no SQL live here, so that every way in (the API today) goes through the same ones.
//!
//! A profile is an environment's baseline or a machine role's overlay. Edits go to a draft,
//! guarded by its revision; publishing makes the next version; a rollback publishes an old
//! version's content again. In a protected environment both become a change request that a
//! second person approves ([`approval`]).

mod allowances;
mod approval;
mod error;
mod overrides;
mod reading;
mod rollouts;

use std::sync::Arc;

use switchyard_proto::rollouts::RolloutPlan;
use switchyard_proto::{
    AuditAction, ChangeRequest, Environment, EnvironmentName, Profile, ProfileDraft, VersionSummary,
};
use time::OffsetDateTime;

pub use error::PublishingError;
pub use reading::Effective;

use crate::clock::SharedClock;
use crate::domain::audit::{AuditRecord, Origin};
use crate::domain::profiles::{
    content_hash, keep_secrets, seal, unseal, ChangeRequestRecord, ChangeRequestState, DraftRecord,
    ProfileTarget, PublishKind, Reach, Restore, VersionRecord,
};
use crate::domain::sealing::SecretBox;
use crate::events::{Events, ProfilePublished};
use crate::store::SharedStore;

/// The publishing rules over the store: what a publish checks, what it records and whom it
/// tells.
#[derive(Debug, Clone)]
pub struct Publishing {
    store: SharedStore,
    sealer: Arc<SecretBox>,
    clock: SharedClock,
    events: Events,
    /// How long a change request waits for its second person.
    change_request_ttl: time::Duration,
}

/// What a publish or rollback became.
#[derive(Debug)]
pub enum Publication {
    /// The next version, published and announced.
    Published(VersionSummary),
    /// A protected environment: a change request waits for a second person.
    Proposed(ChangeRequest),
}

/// How a publish asks its version to reach machines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Release {
    /// Every machine at once.
    #[default]
    Everyone,
    /// Wave by wave under this plan.
    Rollout(RolloutPlan),
    /// Every machine until this time, when the version before comes back by itself.
    Until(OffsetDateTime),
}

impl Release {
    /// What a change request carries: its plan and its end time.
    fn parts(&self) -> (Option<RolloutPlan>, Option<OffsetDateTime>) {
        match self {
            Release::Everyone => (None, None),
            Release::Rollout(plan) => (Some(plan.clone()), None),
            Release::Until(until) => (None, Some(*until)),
        }
    }

    /// The release a change request carries.
    fn of(rollout: Option<RolloutPlan>, until: Option<OffsetDateTime>) -> Self {
        match (rollout, until) {
            (Some(plan), _) => Release::Rollout(plan),
            (None, Some(until)) => Release::Until(until),
            (None, None) => Release::Everyone,
        }
    }
}

/// A version about to be published or proposed, with the profiles it goes from and to, so
/// nothing is read or unsealed twice.
struct NextVersion {
    record: VersionRecord,
    /// What the latest version holds (the empty profile before the first).
    previous: Profile,
    /// What this version holds.
    profile: Profile,
}

impl NextVersion {
    fn changes(&self) -> Vec<switchyard_proto::profile::SettingChange> {
        self.previous.diff(&self.profile)
    }
}

/// The machine role of an overlay, for audit events.
fn role_of(target: &ProfileTarget) -> Option<&str> {
    match target {
        ProfileTarget::Baseline => None,
        ProfileTarget::Role(role) => Some(role.as_str()),
    }
}

impl Publishing {
    /// The rules over `store`; `sealer` seals secrets at rest, `events` hears every publish.
    pub fn new(
        store: SharedStore,
        sealer: Arc<SecretBox>,
        clock: SharedClock,
        events: Events,
        change_request_ttl: time::Duration,
    ) -> Self {
        Self {
            store,
            sealer,
            clock,
            events,
            change_request_ttl,
        }
    }

    /// The stored document's profile, secrets opened.
    fn open(&self, document: &str) -> Result<Profile, PublishingError> {
        Ok(unseal(document, &self.sealer)?)
    }

    /// The content hash of a stored document as read today. Stored hashes are kept as they
    /// were computed, but a document written before a rename in the schema (`pip`, now
    /// `pypi`) hashes differently once read, so whether two documents hold the same profile is
    /// asked of this, never of stored hashes.
    fn hash_of(&self, document: &str) -> Result<String, PublishingError> {
        Ok(content_hash(&self.open(document)?, &self.sealer))
    }

    fn open_version(&self, version: Option<&VersionRecord>) -> Result<Profile, PublishingError> {
        version.map_or(Ok(Profile::default()), |version| {
            self.open(&version.document)
        })
    }

    /// The environment, and the machine role of an overlay, checked to exist.
    pub async fn checked_environment(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Environment, PublishingError> {
        let found = self.store.environment(environment).await?;
        if let ProfileTarget::Role(role) = target {
            self.store.machine_role(role).await?;
        }
        Ok(found)
    }

    /// The draft as it stands: its own content, or the latest version's when never edited.
    pub async fn draft(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<ProfileDraft, PublishingError> {
        if let Some(draft) = self.store.draft(environment, target).await? {
            return Ok(ProfileDraft {
                profile: self.open(&draft.document)?,
                revision: draft.revision,
                based_on_version: draft.based_on_version,
            });
        }
        let latest = self.store.latest_version(environment, target).await?;
        Ok(ProfileDraft {
            profile: self.open_version(latest.as_ref())?,
            revision: 0,
            based_on_version: VersionRecord::number(latest.as_ref()),
        })
    }

    /// Replaces the draft edited at revision `expected` (0: never edited). The profile is
    /// stored as the clients compare it ([`Profile::normalized`]), so that the stored profile,
    /// its diff and what machines write agree; a secret kept by `{"set": true}` is found under
    /// the normalized key too.
    pub async fn save_draft(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        expected: u64,
        edited: Profile,
    ) -> Result<ProfileDraft, PublishingError> {
        let current = self.draft(environment, target).await?;
        let kept = current.profile.clone().normalized();
        let profile =
            keep_secrets(edited.normalized(), Some(&kept)).map_err(PublishingError::Invalid)?;
        self.check_variables(environment, &profile).await?;
        let record = DraftRecord {
            document: seal(&profile, &self.sealer),
            revision: expected,
            based_on_version: current.based_on_version,
            updated_by: origin.actor.clone(),
            updated_at: self.clock.now(),
        };
        let audit = origin
            .record(
                AuditAction::ProfileEdit,
                format!("profile:{environment}/{target}@draft"),
                record.updated_at,
            )
            .in_environment(environment.as_str())
            .for_role(role_of(target))
            .with_changes(current.profile.diff(&profile))
            .with_detail("revision", (expected + 1).to_string());
        let saved = self
            .store
            .save_draft(environment, target, expected, &record, &audit)
            .await?;
        tracing::info!(by = %record.updated_by, %environment, profile = %target, revision = saved.revision, "draft saved");
        Ok(ProfileDraft {
            profile,
            revision: saved.revision,
            based_on_version: saved.based_on_version,
        })
    }

    /// Publishes the draft as the next version; the draft must still be at `draft_revision`
    /// and differ from the latest version. In a protected environment this proposes it.
    pub async fn publish(
        &self,
        origin: &Origin,
        environment: &Environment,
        target: &ProfileTarget,
        draft_revision: u64,
        message: &str,
        release: Release,
    ) -> Result<Publication, PublishingError> {
        let name = &environment.name;
        let draft = self
            .store
            .draft(name, target)
            .await?
            .ok_or(PublishingError::DraftNeverEdited)?;
        if draft.revision != draft_revision {
            return Err(PublishingError::StaleDraft {
                current: draft.revision,
            });
        }
        let profile = self.open(&draft.document)?;
        // Allowed when the draft was saved, perhaps withdrawn since.
        self.check_variables(name, &profile).await?;
        let hash = content_hash(&profile, &self.sealer);
        let latest = self.store.latest_version(name, target).await?;
        if let Some(latest) = &latest {
            if self.hash_of(&latest.document)? == hash {
                return Err(PublishingError::DraftEqualsVersion(latest.version));
            }
        }
        let next = NextVersion {
            record: VersionRecord {
                version: VersionRecord::number(latest.as_ref()) + 1,
                document: draft.document,
                content_hash: hash,
                author: origin.actor.clone(),
                message: message.to_owned(),
                rollback_of: None,
                published_at: self.clock.now(),
            },
            previous: self.open_version(latest.as_ref())?,
            profile,
        };
        if release != Release::Everyone && latest.is_none() {
            return Err(PublishingError::NoPreviousVersion);
        }
        if let Release::Until(until) = release {
            overrides::check_end(until, self.now())?;
        }
        if environment.protected {
            return self.propose(origin, name, target, next, release).await;
        }
        let kind = PublishKind::Draft {
            revision: draft_revision,
        };
        let published = self
            .record(origin, name, target, next, &kind, release)
            .await?;
        Ok(Publication::Published(published))
    }

    /// Publishes version `to_version`'s content again as the next version; the latest must
    /// still be `based_on_version`, and the draft must hold no unpublished edits. In a
    /// protected environment this proposes it.
    pub async fn rollback(
        &self,
        origin: &Origin,
        environment: &Environment,
        target: &ProfileTarget,
        based_on_version: u64,
        to_version: u64,
        message: &str,
    ) -> Result<Publication, PublishingError> {
        let name = &environment.name;
        let latest = self
            .store
            .latest_version(name, target)
            .await?
            .ok_or(PublishingError::VersionNotFound(to_version))?;
        if latest.version != based_on_version {
            return Err(PublishingError::StaleVersion {
                latest: latest.version,
            });
        }
        let old = self.store.version(name, target, to_version).await?;
        let (old_hash, latest_hash) = (
            self.hash_of(&old.document)?,
            self.hash_of(&latest.document)?,
        );
        if old_hash == latest_hash {
            return Err(PublishingError::NothingToRollBack {
                latest: latest.version,
                to: old.version,
            });
        }
        let restored = self.open(&old.document)?;
        // An old version may set a variable whose allowance was withdrawn since.
        self.check_variables(name, &restored).await?;
        let next = NextVersion {
            profile: restored,
            previous: self.open(&latest.document)?,
            record: VersionRecord {
                version: latest.version + 1,
                document: old.document,
                content_hash: old_hash,
                author: origin.actor.clone(),
                message: message.to_owned(),
                rollback_of: Some(old.version),
                published_at: self.clock.now(),
            },
        };
        if environment.protected {
            return self
                .propose(origin, name, target, next, Release::Everyone)
                .await;
        }
        let draft_revision = self
            .untouched_draft_revision(name, target, &[&latest_hash])
            .await?;
        let kind = PublishKind::Rollback { draft_revision };
        let published = self
            .record(origin, name, target, next, &kind, Release::Everyone)
            .await?;
        Ok(Publication::Published(published))
    }

    /// The revision of the draft if it holds nothing unpublished (its content hashes to one of
    /// `published`), 0 when there is none; a draft with edits is an error, since replacing it
    /// would lose them.
    async fn untouched_draft_revision(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        published: &[&str],
    ) -> Result<u64, PublishingError> {
        let Some(draft) = self.store.draft(environment, target).await? else {
            return Ok(0);
        };
        let hash = self.hash_of(&draft.document)?;
        match published.contains(&hash.as_str()) {
            true => Ok(draft.revision),
            false => Err(PublishingError::DraftHasEdits {
                revision: draft.revision,
            }),
        }
    }

    /// Keeps `next` (released as `release` once approved) as a change request for a second
    /// person to decide.
    async fn propose(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        next: NextVersion,
        release: Release,
    ) -> Result<Publication, PublishingError> {
        let changes = next.changes();
        let version = next.record;
        let (rollout, until) = release.parts();
        let proposal = ChangeRequestRecord {
            id: uuid::Uuid::new_v4(),
            target: target.clone(),
            document: version.document,
            content_hash: version.content_hash,
            base_version: version.version - 1,
            rollback_of: version.rollback_of,
            proposer: version.author,
            message: version.message,
            created_at: version.published_at,
            expires_at: version.published_at + self.change_request_ttl,
            state: ChangeRequestState::Open,
            decided_by: None,
            reason: None,
            version: None,
            rollout,
            until,
        };
        let mut audit = origin
            .record(
                AuditAction::ChangeRequestOpen,
                format!("change-request:{}", proposal.id),
                proposal.created_at,
            )
            .in_environment(environment.as_str())
            .for_role(role_of(target))
            .with_changes(changes.clone())
            .with_detail("message", proposal.message.as_str())
            .with_detail("base_version", proposal.base_version.to_string());
        if let Some(rollback_of) = proposal.rollback_of {
            audit = audit.with_detail("rollback_of", rollback_of.to_string());
        }
        if let Some(plan) = &proposal.rollout {
            audit = audit.with_detail("rollout_plan", rollouts::plan_text(plan));
        }
        if let Some(until) = proposal.until {
            audit = audit.with_detail("until", overrides::time_text(until));
        }
        self.store
            .create_change_request(environment, &proposal, &audit)
            .await?;
        tracing::info!(
            by = %proposal.proposer, %environment, profile = %target,
            change_request = %proposal.id, "change proposed"
        );
        Ok(Publication::Proposed(self.shown(
            environment,
            &proposal,
            changes,
        )))
    }

    /// Publishes `next` and announces it, released as `release`: to everyone, to a rollout's
    /// first wave, or to everyone until an override ends. An override standing over the
    /// profile is superseded, and says so in the audit trail.
    async fn record(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        next: NextVersion,
        kind: &PublishKind,
        release: Release,
    ) -> Result<VersionSummary, PublishingError> {
        let changes = next.changes();
        let version = next.record;
        let action = match kind {
            PublishKind::Draft { .. } => AuditAction::ProfilePublish,
            PublishKind::Rollback { .. } => AuditAction::ProfileRollback,
            PublishKind::Approval { .. } => AuditAction::ChangeRequestApprove,
        };
        let mut audit = origin
            .record(
                action,
                format!("profile:{environment}/{target}@{}", version.version),
                version.published_at,
            )
            .in_environment(environment.as_str())
            .for_role(role_of(target))
            .with_changes(changes)
            .with_detail("message", version.message.as_str())
            .with_detail("content_hash", version.content_hash.as_str());
        if let Some(rollback_of) = version.rollback_of {
            audit = audit.with_detail("rollback_of", rollback_of.to_string());
        }
        if let PublishKind::Approval {
            change_request,
            reason,
            ..
        } = kind
        {
            audit = audit
                .with_detail("change_request", change_request.to_string())
                .with_detail("proposer", version.author.as_str())
                .with_detail("reason", reason.as_str());
        }
        let superseded = self.store.active_override(environment, target).await?;
        let (rollout, until) = match release {
            Release::Everyone => (None, None),
            // Rolled out over an override, the machines outside the cohort would keep the
            // override's content past its end, and a revert would make it permanent.
            Release::Rollout(_) if superseded.is_some() => {
                return Err(PublishingError::OverrideActive)
            }
            Release::Rollout(plan) => (
                Some(self.starting(origin, environment, target, &version, plan)),
                None,
            ),
            Release::Until(ends_at) => {
                let mut until = self.overriding(origin, environment, target, &version, ends_at);
                // An override over an override brings back what was there before both.
                if let Some(superseded) = &superseded {
                    until.restore_version = superseded.restore_version;
                }
                audit = audit
                    .with_detail("override", until.id.to_string())
                    .with_detail("until", overrides::time_text(ends_at))
                    .with_detail("restore_version", until.restore_version.to_string());
                (None, Some(until))
            }
        };
        let mut audits = vec![audit];
        if let Some(started) = &rollout {
            audits.push(self.start_audit(origin, started));
        }
        if let Some(superseded) = &superseded {
            audits.push(self.superseded_audit(origin, superseded, &version));
        }
        let reach = match (&rollout, &until) {
            (Some(started), _) => Reach::Rollout(started),
            (None, Some(until)) => Reach::Override(until),
            (None, None) => Reach::Everyone,
        };
        self.store
            .publish(environment, target, &version, kind, reach, &audits)
            .await?;
        self.events.profile_published(ProfilePublished {
            environment: environment.clone(),
            target: target.clone(),
            version: version.version,
        });
        tracing::info!(
            by = %version.author, %environment, profile = %target, version = version.version,
            rollback_of = ?version.rollback_of, "profile published"
        );
        Ok(version.summary())
    }

    /// What the server publishes by itself to bring `old`'s content back over `latest` (a
    /// reverted rollout, an ended override): the next version, a rollback of `old`, by
    /// `origin`; the draft follows it if it holds nothing unpublished; and its
    /// `profile.rollback` event listing what changes back.
    async fn restoring(
        &self,
        origin: &Origin,
        (environment, target): (&EnvironmentName, &ProfileTarget),
        latest: &VersionRecord,
        old: VersionRecord,
        message: String,
        at: OffsetDateTime,
    ) -> Result<(Restore, AuditRecord), PublishingError> {
        let changes = self
            .open(&latest.document)?
            .diff(&self.open(&old.document)?);
        let latest_hash = self.hash_of(&latest.document)?;
        let draft_revision = match self
            .untouched_draft_revision(environment, target, &[&latest_hash])
            .await
        {
            Ok(0) | Err(PublishingError::DraftHasEdits { .. }) => None,
            Ok(revision) => Some(revision),
            Err(error) => return Err(error),
        };
        let version = VersionRecord {
            version: latest.version + 1,
            content_hash: self.hash_of(&old.document)?,
            document: old.document,
            author: origin.actor.clone(),
            message,
            rollback_of: Some(old.version),
            published_at: at,
        };
        let audit = origin
            .record(
                AuditAction::ProfileRollback,
                format!("profile:{environment}/{target}@{}", version.version),
                at,
            )
            .in_environment(environment.as_str())
            .for_role(role_of(target))
            .with_changes(changes)
            .with_detail("message", version.message.as_str())
            .with_detail("content_hash", version.content_hash.as_str())
            .with_detail("rollback_of", old.version.to_string());
        Ok((
            Restore {
                version,
                draft_revision,
            },
            audit,
        ))
    }

    /// The time, from the server's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}
