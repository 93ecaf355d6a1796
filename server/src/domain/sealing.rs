//! Secrets at rest: profile secrets (registry tokens) are sealed with XChaCha20-Poly1305 under
//! a key kept outside the database, in a file of the data folder (owner-only). A copy of the
//! database alone reveals no secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Bytes of the key.
const KEY_BYTES: usize = 32;
/// Bytes of a nonce.
const NONCE_BYTES: usize = 24;

/// Seals and opens secrets.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    key: Vec<u8>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(XChaCha20-Poly1305)")
    }
}

/// A sealed value could not be opened: wrong key or tampered data.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret cannot be decrypted: the key file does not match or the data was altered")]
pub struct OpenError;

impl SecretBox {
    /// A box with `key` (32 bytes).
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() != KEY_BYTES {
            return Err(format!(
                "the key must have {KEY_BYTES} bytes, not {}",
                key.len()
            ));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|e| e.to_string())?;
        Ok(Self {
            cipher,
            key: key.to_vec(),
        })
    }

    /// Reads the key from `path`, creating it (owner-only, random) when missing.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self, String> {
        let key = crate::auth::jwt::load_or_create_key_file(path, KEY_BYTES)?;
        Self::new(&key)
    }

    /// `plaintext` sealed with a fresh random nonce, as base64.
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption into a Vec cannot fail for inputs this size.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        STANDARD.encode(sealed)
    }

    /// A keyed fingerprint of `plaintext`: equal secrets give equal fingerprints, but without
    /// the key nobody can test a guess against one.
    pub fn fingerprint(&self, plaintext: &str) -> String {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"switchyard secret fingerprint\0");
        hasher.update(&self.key);
        hasher.update(plaintext.as_bytes());
        STANDARD.encode(hasher.finalize())
    }

    /// The plaintext of `sealed`.
    pub fn open(&self, sealed: &str) -> Result<String, OpenError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_BYTES {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| OpenError)?;
        String::from_utf8(plaintext).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_intact() {
        let sealer = SecretBox::new(&[1; 32]).unwrap();
        let sealed = sealer.seal("npm-token-123");
        assert!(!sealed.contains("npm-token"));
        assert_ne!(
            sealed,
            sealer.seal("npm-token-123"),
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), "npm-token-123");
        assert!(SecretBox::new(&[2; 32]).unwrap().open(&sealed).is_err());
        let mut tampered = STANDARD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(sealer.open(&STANDARD.encode(tampered)).is_err());
        assert!(SecretBox::new(&[1; 16]).is_err());
    }
}
