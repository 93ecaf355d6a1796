//! Profiles as the server keeps them: which profile (baseline or overlay), drafts, versions,
//! and the stored form of a profile document, with its secrets sealed.

use std::fmt;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use switchyard_proto::profile::Secret;
use switchyard_proto::{FieldProblem, InvalidValue, MachineRoleName, Profile, VersionSummary};
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
    /// `open`, `approved` or `rejected`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The version it became.
    pub version: Option<u64>,
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

/// Where a profile holds secrets, as JSON paths, with the secrets.
fn secrets(profile: &Profile) -> Vec<([&'static str; 2], &String, &Secret)> {
    profile
        .npm
        .iter()
        .flat_map(|npm| npm.auth_tokens.iter().flatten())
        .map(|(registry, secret)| (["npm", "auth-tokens"], registry, secret))
        .collect()
}

/// The profile as JSON, each secret replaced by `secret_form(value)`.
fn with_secrets(profile: &Profile, secret_form: impl Fn(&str) -> Value) -> Value {
    let mut value = serde_json::to_value(profile).unwrap_or(Value::Null);
    for ([section, field], key, secret) in secrets(profile) {
        if let Secret::Value(plain) = secret {
            value[section][field][key.as_str()] = secret_form(plain);
        }
    }
    value
}

/// The stored form: the profile's JSON with every secret sealed.
pub fn seal(profile: &Profile, sealer: &SecretBox) -> String {
    with_secrets(profile, |plain| json!({ "sealed": sealer.seal(plain) })).to_string()
}

/// The profile from its stored form, secrets opened.
pub fn unseal(document: &str, sealer: &SecretBox) -> Result<Profile, DocumentError> {
    let mut value: Value =
        serde_json::from_str(document).map_err(|e| DocumentError::Malformed(e.to_string()))?;
    if let Some(tokens) = value
        .get_mut("npm")
        .and_then(|npm| npm.get_mut("auth-tokens"))
        .and_then(Value::as_object_mut)
    {
        for secret in tokens.values_mut() {
            if let Some(sealed) = secret.get("sealed").and_then(Value::as_str) {
                *secret = json!({ "value": sealer.open(sealed)? });
            }
        }
    }
    serde_json::from_value(value).map_err(|e| DocumentError::Malformed(e.to_string()))
}

/// SHA-256 of the profile's content in hex: equal content, equal hash. Secrets enter as keyed
/// fingerprints, so a published hash cannot be used to test a guessed token.
pub fn content_hash(profile: &Profile, sealer: &SecretBox) -> String {
    let canonical = with_secrets(
        profile,
        |plain| json!({ "fingerprint": sealer.fingerprint(plain) }),
    )
    .to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Replaces each "keep the stored secret" in `edited` by the secret `previous` holds at the
/// same place; one that has nothing to keep is a problem.
pub fn keep_secrets(
    mut edited: Profile,
    previous: Option<&Profile>,
) -> Result<Profile, Vec<FieldProblem>> {
    let kept_from = |registry: &str| {
        previous
            .and_then(|p| p.npm.as_ref())
            .and_then(|npm| npm.auth_tokens.as_ref())
            .and_then(|tokens| tokens.get(registry))
            .filter(|secret| matches!(secret, Secret::Value(_)))
            .cloned()
    };
    let mut problems = Vec::new();
    if let Some(tokens) = edited.npm.as_mut().and_then(|npm| npm.auth_tokens.as_mut()) {
        for (registry, secret) in tokens.iter_mut() {
            if *secret == Secret::Kept {
                match kept_from(registry) {
                    Some(stored) => *secret = stored,
                    None => problems.push(FieldProblem {
                        path: format!("npm.auth-tokens.{registry}"),
                        message: r#"there is no stored secret to keep; send {"value": "..."}"#
                            .into(),
                    }),
                }
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
            }
        }))
        .unwrap()
    }

    #[test]
    fn stored_documents_hide_secrets_and_read_back_whole() {
        let sealer = SecretBox::new(&[3; 32]).unwrap();
        let original = profile("token-abc");
        let stored = seal(&original, &sealer);
        assert!(!stored.contains("token-abc"), "{stored}");
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
    fn kept_secrets_come_from_the_previous_document() {
        let previous = profile("stored-token");
        let edited: Profile = serde_json::from_value(json!({
            "npm": {"auth-tokens": {"https://npm.corp.example/": {"set": true}}}
        }))
        .unwrap();
        let resolved = keep_secrets(edited.clone(), Some(&previous)).unwrap();
        assert_eq!(
            resolved.npm.unwrap().auth_tokens.unwrap()["https://npm.corp.example/"],
            Secret::Value("stored-token".into())
        );
        let problems = keep_secrets(edited, None).unwrap_err();
        assert_eq!(
            problems[0].path,
            "npm.auth-tokens.https://npm.corp.example/"
        );
    }
}
