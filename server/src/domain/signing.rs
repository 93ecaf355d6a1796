//! The server's Ed25519 signing keys: one per key-set version, each key set signed by the key
//! before it (the first by itself), private keys sealed at rest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use rand::RngCore as _;
use switchyard_proto::delivery::{KeySet, PublicKey};
use switchyard_proto::signing::{encode_public_key, key_id, Signed, KEY_SET_CONTEXT};
use time::OffsetDateTime;

use super::sealing::{OpenError, SecretBox};

/// A signing key as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Its key-set version.
    pub version: u64,
    /// Its id.
    pub key_id: String,
    /// Its public key, base64url.
    pub public_key: String,
    /// Its private key, sealed.
    pub sealed_private_key: String,
    /// The signed key set of this version, as JSON.
    pub key_set: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A signing key ready to sign.
#[derive(Clone)]
pub struct ServerKey {
    /// Its key-set version.
    pub version: u64,
    /// The key.
    pub key: SigningKey,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("version", &self.version)
            .field("key_id", &key_id(&self.key.verifying_key()))
            .finish_non_exhaustive()
    }
}

/// A signing key that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The sealed private key does not open (another profile key?).
    #[error(transparent)]
    Sealed(#[from] OpenError),
    /// What it holds is not a key.
    #[error("signing key {0} is damaged")]
    Damaged(u64),
}

/// A new random key for key-set version `version`, its key set signed by `previous` (the
/// current key) or, for the first version, by itself.
pub fn new_signing_key(
    version: u64,
    previous: Option<&ServerKey>,
    sealer: &SecretBox,
    now: OffsetDateTime,
) -> (SigningKeyRecord, ServerKey) {
    let mut seed = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key();
    let set = KeySet {
        version,
        keys: vec![PublicKey {
            key_id: key_id(&public),
            public_key: encode_public_key(&public),
        }],
        issued_at: now,
    };
    let signer = previous.map_or(&key, |previous| &previous.key);
    let signed = Signed::sign(KEY_SET_CONTEXT, &set, signer);
    let record = SigningKeyRecord {
        version,
        key_id: key_id(&public),
        public_key: encode_public_key(&public),
        sealed_private_key: sealer.seal(&STANDARD.encode(seed)),
        key_set: serde_json::to_string(&signed).unwrap_or_default(),
        created_at: now,
    };
    (record, ServerKey { version, key })
}

/// The key a record holds.
pub fn open_signing_key(
    record: &SigningKeyRecord,
    sealer: &SecretBox,
) -> Result<ServerKey, KeyError> {
    let seed: [u8; 32] = STANDARD
        .decode(sealer.open(&record.sealed_private_key)?)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(KeyError::Damaged(record.version))?;
    let key = SigningKey::from_bytes(&seed);
    if key_id(&key.verifying_key()) != record.key_id {
        return Err(KeyError::Damaged(record.version));
    }
    Ok(ServerKey {
        version: record.version,
        key,
    })
}

/// The signed key set a record holds.
pub fn signed_key_set(record: &SigningKeyRecord) -> Result<Signed, KeyError> {
    serde_json::from_str(&record.key_set).map_err(|_| KeyError::Damaged(record.version))
}

#[cfg(test)]
mod tests {
    use switchyard_proto::delivery::TrustedKeys;

    use super::*;

    #[test]
    fn keys_seal_open_and_chain_so_that_machines_can_follow() {
        let sealer = SecretBox::new(&[1; 32]).unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let (first_record, first) = new_signing_key(1, None, &sealer, now);
        assert!(!first_record.sealed_private_key.is_empty());
        let reopened = open_signing_key(&first_record, &sealer).unwrap();
        assert_eq!(reopened.key.to_bytes(), first.key.to_bytes());
        assert!(open_signing_key(&first_record, &SecretBox::new(&[2; 32]).unwrap()).is_err());

        let (second_record, _) = new_signing_key(2, Some(&first), &sealer, now);
        let mut trusted = TrustedKeys::pin(&signed_key_set(&first_record).unwrap()).unwrap();
        trusted
            .advance(&signed_key_set(&second_record).unwrap())
            .unwrap();
        assert!(trusted.key(&second_record.key_id).is_some());
        assert!(trusted.key(&first_record.key_id).is_none());
        assert!(!format!("{first:?}").contains(&format!("{:?}", first.key.to_bytes())));
    }
}
