//! Profiles as the server keeps them: which profile (baseline or overlay), drafts, versions,
//! and the stored form of a profile document, with its secrets sealed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use switchyard_proto::profile::{normalize, Origin as SettingOrigin, Secret, SecretPath};
use switchyard_proto::{
    ChangeRequestStatus, FieldProblem, InvalidValue, MachineRoleName, Profile, VersionSummary,
};
use time::OffsetDateTime;

use super::sealing::{OpenError, SecretBox};

/// Which profile of an environment: its baseline, or a machine role's overlay.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProfileTarget {
    /// The environment's own profile, which every machine in it gets.
    Baseline,
    /// The overlay for one machine role.
    Role(MachineRoleName),
}

impl ProfileTarget {
    /// `baseline` or a machine role name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "baseline" => Ok(ProfileTarget::Baseline),
            name => MachineRoleName::parse(name).map(ProfileTarget::Role),
        }
    }

    /// The key the stores use: empty for the baseline.
    pub fn key(&self) -> &str {
        match self {
            ProfileTarget::Baseline => "",
            ProfileTarget::Role(role) => role.as_str(),
        }
    }
}

impl fmt::Display for ProfileTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileTarget::Baseline => f.write_str("baseline"),
            ProfileTarget::Role(role) => write!(f, "{role}"),
        }
    }
}

/// A draft as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftRecord {
    /// The stored document.
    pub document: String,
    /// Edits so far.
    pub revision: u64,
    /// The version it started from.
    pub based_on_version: u64,
    /// Who edited it last.
    pub updated_by: String,
    /// When.
    pub updated_at: OffsetDateTime,
}

/// A published version as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// 1, 2, 3...
    pub version: u64,
    /// The stored document.
    pub document: String,
    /// SHA-256 of the content.
    pub content_hash: String,
    /// Who published it.
    pub author: String,
    /// Why.
    pub message: String,
    /// For a rollback: the version brought back.
    pub rollback_of: Option<u64>,
    /// When.
    pub published_at: OffsetDateTime,
}

impl VersionRecord {
    /// The number of `record`, 0 when there is none (before the first publish).
    pub fn number(record: Option<&VersionRecord>) -> u64 {
        record.map_or(0, |version| version.version)
    }

    /// Who, when and why, for the API.
    pub fn summary(&self) -> VersionSummary {
        VersionSummary {
            version: self.version,
            author: self.author.clone(),
            message: self.message.clone(),
            content_hash: self.content_hash.clone(),
            rollback_of: self.rollback_of,
            published_at: self.published_at,
        }
    }
}

/// How a new version comes about, which decides what happens to the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishKind {
    /// The draft is published: it must still be at this revision.
    Draft {
        /// The revision the publisher read.
        revision: u64,
    },
    /// An old version's content comes back; the draft, which must still be at the revision
    /// read (it held no unpublished edits), becomes that content.
    Rollback {
        /// The draft revision read (0: no draft).
        draft_revision: u64,
    },
    /// An approved change request is published and closed; the draft, which must still be at
    /// the revision read, becomes its content.
    Approval {
        /// The draft revision read (0: no draft).
        draft_revision: u64,
        /// The request.
        change_request: uuid::Uuid,
        /// Who approved it.
        decided_by: String,
        /// Their reason.
        reason: String,
    },
}

/// A version the server publishes by itself to bring old content back (a reverted rollout, an
/// ended override), and what becomes of the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// The version.
    pub version: VersionRecord,
    /// The draft's revision when it held nothing unpublished: it becomes the version's content,
    /// so that publishing it again does not bring back what was taken away. None when it holds
    /// edits (they are kept) or there is no draft.
    pub draft_revision: Option<u64>,
}

/// How a new version reaches machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// Every machine of its environment (and role) at once.
    Everyone,
    /// The first wave of this rollout; the others keep the version before.
    Rollout(&'a super::rollouts::RolloutRecord),
    /// Every machine, until this override ends and the version before comes back.
    Override(&'a super::overrides::OverrideRecord),
}

/// A change request as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequestRecord {
    /// Its id.
    pub id: uuid::Uuid,
    /// Baseline or which overlay.
    pub target: ProfileTarget,
    /// The proposed content, stored form.
    pub document: String,
    /// Its hash.
    pub content_hash: String,
    /// The latest version when proposed.
    pub base_version: u64,
    /// For a rollback: the version brought back.
    pub rollback_of: Option<u64>,
    /// Who proposed it.
    pub proposer: String,
    /// Why.
    pub message: String,
    /// When.
    pub created_at: OffsetDateTime,
    /// Until when it can be approved.
    pub expires_at: OffsetDateTime,
    /// Decided or not.
    pub state: ChangeRequestState,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The version it became.
    pub version: Option<u64>,
    /// Roll the version out wave by wave when approved.
    pub rollout: Option<switchyard_proto::rollouts::RolloutPlan>,
    /// For an override: when the version before comes back.
    pub until: Option<OffsetDateTime>,
}

impl ChangeRequestRecord {
    /// Where the request stands at `now`: an open request past its expiry has expired.
    pub fn status_at(&self, now: OffsetDateTime) -> ChangeRequestStatus {
        match self.state {
            ChangeRequestState::Approved => ChangeRequestStatus::Approved,
            ChangeRequestState::Rejected => ChangeRequestStatus::Rejected,
            ChangeRequestState::Open if self.expires_at <= now => ChangeRequestStatus::Expired,
            ChangeRequestState::Open => ChangeRequestStatus::Open,
        }
    }
}

/// What was decided about a change request, as kept; expiry is not kept but read from the
/// time ([`ChangeRequestRecord::status_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRequestState {
    /// Nobody decided yet.
    Open,
    /// Approved and published.
    Approved,
    /// Turned down.
    Rejected,
}

impl ChangeRequestState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeRequestState::Open => "open",
            ChangeRequestState::Approved => "approved",
            ChangeRequestState::Rejected => "rejected",
        }
    }

    /// The state a stored word names.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A stored document that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Not a profile.
    #[error("a stored profile is not valid: {0}")]
    Malformed(String),
    /// A secret in it cannot be opened.
    #[error(transparent)]
    Sealed(#[from] OpenError),
}

/// The stored form: the profile's JSON with every secret sealed.
pub fn seal(profile: &Profile, sealer: &SecretBox) -> String {
    profile
        .to_json_with_secrets(|plain| json!({ "sealed": sealer.seal(plain) }))
        .to_string()
}

/// The profile from its stored form, secrets opened.
pub fn unseal(document: &str, sealer: &SecretBox) -> Result<Profile, DocumentError> {
    let mut value: Value =
        serde_json::from_str(document).map_err(|e| DocumentError::Malformed(e.to_string()))?;
    open_sealed(&mut value, sealer)?;
    serde_json::from_value(value).map_err(|e| DocumentError::Malformed(e.to_string()))
}

/// Replaces every `{"sealed": ...}` in `value` by the `{"value": ...}` it holds. No profile
/// field can be written with a `sealed` key, so each one is a secret that `seal` stored.
fn open_sealed(value: &mut Value, sealer: &SecretBox) -> Result<(), OpenError> {
    match value {
        Value::Object(fields) => match fields.get("sealed").and_then(Value::as_str) {
            Some(sealed) if fields.len() == 1 => {
                *value = json!({ "value": sealer.open(sealed)? });
                Ok(())
            }
            _ => fields
                .values_mut()
                .try_for_each(|field| open_sealed(field, sealer)),
        },
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| open_sealed(item, sealer)),
        _ => Ok(()),
    }
}

/// The effective profile of a baseline version (none: not published yet) and an overlay
/// version, and where each setting comes from.
pub fn effective_of(
    baseline: Option<&VersionRecord>,
    overlay: Option<&VersionRecord>,
    sealer: &SecretBox,
) -> Result<(Profile, BTreeMap<String, SettingOrigin>), DocumentError> {
    let baseline = match baseline {
        Some(version) => unseal(&version.document, sealer)?,
        None => Profile::default(),
    };
    let overlay = overlay
        .map(|version| unseal(&version.document, sealer))
        .transpose()?;
    Ok(baseline.effective(overlay.as_ref()))
}

/// SHA-256 of the profile's content in hex: equal content, equal hash. Secrets enter as keyed
/// fingerprints, so a published hash cannot be used to test a guessed token.
pub fn content_hash(profile: &Profile, sealer: &SecretBox) -> String {
    let canonical = profile
        .to_json_with_secrets(|plain| json!({ "fingerprint": sealer.fingerprint(plain) }))
        .to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Replaces each "keep the stored secret" in `edited` by the secret `previous` holds at the
/// same path; one that has nothing to keep is a problem, and so is one whose destination
/// the edit moves ([`Profile::secret_destination`]: a Cargo token whose registry gets another
/// index, a Maven or gem password whose repository or source changes), or whoever may edit a profile without reading its secrets could send one anywhere.
pub fn keep_secrets(
    mut edited: Profile,
    previous: Option<&Profile>,
) -> Result<Profile, Vec<FieldProblem>> {
    let moved: Vec<SecretPath> = edited
        .secrets()
        .into_iter()
        .filter(|(_, secret)| **secret == Secret::Kept)
        .map(|(path, _)| path)
        .filter(|path| {
            let before = previous.and_then(|previous| previous.secret_destination(path));
            let after = edited.secret_destination(path);
            before.map(|url| normalize::cargo_index(&url))
                != after.map(|url| normalize::cargo_index(&url))
        })
        .collect();
    let stored: HashMap<SecretPath, &String> = previous
        .into_iter()
        .flat_map(Profile::secrets)
        .filter_map(|(path, secret)| match secret {
            Secret::Value(plain) => Some((path, plain)),
            Secret::Kept => None,
        })
        .collect();
    let mut problems = Vec::new();
    for (path, secret) in edited.secrets_mut() {
        if *secret == Secret::Kept && moved.contains(&path) {
            problems.push(FieldProblem {
                path: path.to_string(),
                message: r#"where it is sent has changed (another index, repository or source): send the secret again, {"value": "..."}"#.into(),
            });
        } else if *secret == Secret::Kept {
            match stored.get(&path) {
                Some(plain) => *secret = Secret::Value((*plain).clone()),
                None => problems.push(FieldProblem {
                    path: path.to_string(),
                    message: r#"there is no stored secret to keep; send {"value": "..."}"#.into(),
                }),
            }
        }
    }
    match problems.is_empty() {
        true => Ok(edited),
        false => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(token: &str) -> Profile {
        serde_json::from_value(json!({
            "npm": {
                "registry": "https://npm.corp.example/",
                "auth-tokens": {"https://npm.corp.example/": {"value": token}}
            },
            "proxy": {
                "credentials": {
                    "http://proxy.corp.example:3128": {
                        "username": "svc", "password": {"value": format!("proxy-{token}")}
                    }
                }
            },
            "env": {"PLAIN": "shown", "SECRET_TOKEN": {"value": format!("env-{token}")}}
        }))
        .unwrap()
    }

    #[test]
    fn stored_documents_hide_secrets_and_read_back_whole() {
        let sealer = SecretBox::new(&[3; 32]).unwrap();
        let original = profile("token-abc");
        let stored = seal(&original, &sealer);
        assert!(!stored.contains("token-abc"), "{stored}");
        assert!(stored.contains("shown"), "{stored}");
        assert_eq!(stored.matches("sealed").count(), 3, "{stored}");
        assert_eq!(unseal(&stored, &sealer).unwrap(), original);
        assert!(unseal(&stored, &SecretBox::new(&[4; 32]).unwrap()).is_err());
    }

    #[test]
    fn content_hash_follows_content_including_secrets_under_the_key() {
        let sealer = SecretBox::new(&[5; 32]).unwrap();
        let hash = |token| content_hash(&profile(token), &sealer);
        assert_eq!(hash("a"), hash("a"));
        assert_ne!(hash("a"), hash("b"));
        assert_eq!(hash("a").len(), 64);
        let other_key = SecretBox::new(&[6; 32]).unwrap();
        assert_ne!(hash("a"), content_hash(&profile("a"), &other_key));
    }

    #[test]
    fn a_kept_cargo_token_does_not_follow_its_registry_to_another_index() {
        let cargo = |index: &str, token: Value| -> Profile {
            serde_json::from_value(json!({"cargo": {
                "registries": {"corp": index},
                "tokens": {"corp": token}
            }}))
            .unwrap()
        };
        let previous = cargo(
            "sparse+https://crates.corp.example/corp/",
            json!({"value": "corp-t0ken"}),
        );
        let kept = json!({"set": true});
        let same = cargo("sparse+HTTPS://Crates.Corp.Example/corp/", kept.clone());
        let resolved = keep_secrets(same, Some(&previous)).unwrap();
        assert_eq!(
            resolved.cargo.unwrap().tokens.unwrap()["corp"],
            Secret::Value("corp-t0ken".into()),
            "the same index, spelled otherwise"
        );
        let moved = cargo("sparse+https://elsewhere.example/corp/", kept);
        let problems = keep_secrets(moved, Some(&previous)).unwrap_err();
        assert_eq!(problems[0].path, "cargo.tokens.corp");
        assert!(
            problems[0].message.contains("another index"),
            "{problems:?}"
        );
        let resent = cargo(
            "sparse+https://elsewhere.example/corp/",
            json!({"value": "new-t0ken"}),
        );
        assert!(keep_secrets(resent, Some(&previous)).is_ok());
    }

    #[test]
    fn kept_secrets_come_from_the_previous_document() {
        let previous = profile("stored-token");
        let edited: Profile =
            serde_json::from_value(serde_json::to_value(&previous).unwrap()).unwrap();
        assert!(edited
            .secrets()
            .iter()
            .all(|(_, secret)| **secret == Secret::Kept));
        let resolved = keep_secrets(edited.clone(), Some(&previous)).unwrap();
        assert_eq!(resolved, previous);
        let problems = keep_secrets(edited, None).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "npm.auth-tokens.https://npm.corp.example/",
                "proxy.credentials.http://proxy.corp.example:3128.password",
                "env.SECRET_TOKEN",
            ]
        );
    }
}
