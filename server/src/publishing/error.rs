//! Why a publishing rule refused, as the rules say it; `http/error.rs` maps each to its answer.

use switchyard_proto::FieldProblem;
use uuid::Uuid;

use crate::domain::overrides::BadEnd;
use crate::domain::profiles::DocumentError;
use crate::domain::rollouts::NotAllowed;
use crate::store::StoreError;

/// What publishing, rolling back, proposing or deciding can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PublishingError {
    /// The edited profile has problems (a secret to keep that was never stored).
    #[error("the profile is invalid")]
    Invalid(Vec<FieldProblem>),
    /// A publish of a draft nobody edited.
    #[error("nothing to publish: the draft was never edited")]
    DraftNeverEdited,
    /// A publish of a draft that holds the latest version's content.
    #[error("nothing to publish: the draft equals version {0}")]
    DraftEqualsVersion(u64),
    /// A rollback to a version whose content is the latest's.
    #[error("nothing to roll back: version {latest} has the content of version {to}")]
    NothingToRollBack { latest: u64, to: u64 },
    /// The draft changed since the caller read it.
    #[error("the draft is at revision {current}")]
    StaleDraft { current: u64 },
    /// Someone published since the caller read the versions.
    #[error("the latest version is {latest}")]
    StaleVersion { latest: u64 },
    /// Replacing the draft would lose unpublished edits.
    #[error("the draft holds unpublished edits (revision {revision})")]
    DraftHasEdits { revision: u64 },
    /// A rollback of a profile that has no version yet (a version that does not exist is the
    /// store's `VersionNotFound`).
    #[error("version {0} does not exist")]
    VersionNotFound(u64),
    /// The change request was decided or has expired.
    #[error("change request {0} is no longer open")]
    ChangeRequestClosed(Uuid),
    /// Its proposer tried to approve it.
    #[error("the proposer cannot approve their own change")]
    OwnChangeRequest,
    /// The rollout's state does not allow the move.
    #[error(transparent)]
    RolloutState(#[from] NotAllowed),
    /// A rollout of a profile's first version: there is nothing to keep the others on.
    #[error("a rollout needs a previous version")]
    NoPreviousVersion,
    /// An override's end time that cannot be taken.
    #[error("until {0}")]
    BadEnd(#[from] BadEnd),
    /// A rollout of a profile an override stands over.
    #[error("an override stands over this profile")]
    OverrideActive,
    /// In a protected environment, the person who asked for a promotion tried to confirm it.
    #[error("the person who asked for the promotion cannot confirm it")]
    OwnPromotionRequest,
    /// An allowance withdrawn while a profile of the environment sets its variable.
    #[error(
        "{name} is set by {place}: remove it there (and publish) before withdrawing its allowance"
    )]
    VariableInUse {
        /// The variable.
        name: String,
        /// Which profile sets it: `the baseline's draft`, `version 3 of backend`.
        place: String,
    },
    /// A stored profile cannot be read back: a bug or a lost key.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}
