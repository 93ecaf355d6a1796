//! Opaque secrets (refresh tokens, API tokens, generated passwords): 256 random bits, shown to
//! their holder once and kept only as a SHA-256 digest. A digest lookup needs no constant-time
//! comparison: the attacker cannot steer the digest of a guess byte by byte.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "syr_";
/// Prefix of API tokens; it tells them apart from access tokens in `Authorization`.
pub const API_TOKEN_PREFIX: &str = "syt_";

/// Prefix of enrollment tokens.
pub const ENROLLMENT_TOKEN_PREFIX: &str = "sye_";

/// `prefix` followed by 32 random bytes in URL-safe base64.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest a secret is stored as, in hex.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = generate(API_TOKEN_PREFIX);
        let b = generate(API_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("syt_"));
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(digest(&a), digest(&a.clone()));
    }
}
