//! Signed checkpoints of the audit trail's head, written to the server's log at an interval
//! (`audit_checkpoint_secs`): wherever the log goes (a journal, a log service), it keeps
//! what the trail's head was, signed, out of reach of whoever can write the database.
//! `switchyard-server audit verify --checkpoints FILE` reads them back from a log in any
//! format and holds the chain against them as it does against the machines' witnesses.
//!
//! A checkpoint is the head ([`AuditHead`]) signed with the key that signs deliveries now
//! (context [`switchyard_proto::signing::AUDIT_HEAD_CONTEXT`]), written as [`MARK`] followed
//! by the signed document's JSON in base64url: one word, whatever the log's format.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use switchyard_proto::signing::{decode_public_key, Signed};
use switchyard_proto::AuditHead;

use crate::domain::sealing::SecretBox;
use crate::domain::signing::SigningKeyRecord;
use crate::keys::{self, KeysError};
use crate::store::Store;

/// What starts a checkpoint in a log line.
pub const MARK: &str = "switchyard-audit-checkpoint:";

/// The checkpoint word for `signed` (a signed [`AuditHead`]).
pub fn word(signed: &Signed) -> String {
    let json = serde_json::to_vec(signed).unwrap_or_default();
    format!("{MARK}{}", URL_SAFE_NO_PAD.encode(json))
}

/// Writes a checkpoint of the trail's head now, signed with the current key.
pub async fn write(store: &dyn Store, sealer: &SecretBox) -> Result<AuditHead, KeysError> {
    let head = store.audit_head().await?;
    let key = keys::current_key(store, sealer).await?;
    let signed = head.sign(&key.key);
    tracing::info!(seq = head.seq, "audit checkpoint {}", word(&signed));
    Ok(head)
}

/// A checkpoint found in a log, by where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `FILE line N`.
    pub place: String,
    /// The head, when one of `keys` signed it; why not otherwise.
    pub head: Result<AuditHead, String>,
}

/// Every checkpoint in `text` (a log read from `file`), each opened with the server's signing
/// keys of any version.
pub fn found_in(file: &str, text: &str, keys: &[SigningKeyRecord]) -> Vec<Found> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for start in line.match_indices(MARK).map(|(at, _)| at + MARK.len()) {
            let encoded: String = line[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect();
            let head = URL_SAFE_NO_PAD
                .decode(&encoded)
                .map_err(|e| format!("not base64url: {e}"))
                .and_then(|json| {
                    serde_json::from_slice::<Signed>(&json)
                        .map_err(|e| format!("not a signed document: {e}"))
                })
                .and_then(|signed| {
                    AuditHead::open(&signed, |id| {
                        keys.iter()
                            .find(|key| key.key_id == id)
                            .and_then(|key| decode_public_key(&key.public_key).ok())
                    })
                    .map_err(|e| e.to_string())
                });
            found.push(Found {
                place: format!("{file} line {}", number + 1),
                head,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &ed25519_dalek::SigningKey) -> SigningKeyRecord {
        SigningKeyRecord {
            version: 1,
            key_id: switchyard_proto::signing::key_id(&key.verifying_key()),
            public_key: switchyard_proto::signing::encode_public_key(&key.verifying_key()),
            sealed_private_key: String::new(),
            key_set: String::new(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn checkpoints_are_found_in_any_log_format_and_only_the_servers_are_believed() {
        let ours = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let theirs = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let head = AuditHead {
            seq: 42,
            hash: "ab".repeat(32),
        };
        let text = format!(
            "2026-12-01T10:00:00Z INFO audit checkpoint {} seq=42\n\
             {{\"fields\":{{\"message\":\"audit checkpoint {}\"}}}}\n\
             nothing here\n\
             forged {}\n\
             broken {MARK}%%%\n",
            word(&head.sign(&ours)),
            word(&head.sign(&ours)),
            word(&head.sign(&theirs)),
        );
        let found = found_in("server.log", &text, &[record(&ours)]);
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(found[0].head.as_ref().unwrap(), &head);
        assert_eq!(found[1].head.as_ref().unwrap(), &head);
        assert_eq!(found[2].place, "server.log line 4");
        assert!(
            found[2].head.as_ref().unwrap_err().contains("not trusted"),
            "{found:?}"
        );
        assert!(found[3].head.is_err());
    }
}
