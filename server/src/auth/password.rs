//! Password hashing with argon2id.
//!
//! Parameters follow OWASP's recommendation for argon2id: 19 MiB of memory, 2 passes, 1 lane
//! (about 30-60 ms a hash on one core of a current server). Hashes are stored in PHC format, so
//! they carry their parameters and stronger ones can be introduced later without breaking old
//! hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use switchyard_proto::Password;

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over memory.
pub const ITERATIONS: u32 = 2;
/// Degree of parallelism.
pub const LANES: u32 = 1;

/// Hashes and checks passwords. Both are slow by design: call them off the async threads.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// Checked against when the user does not exist, so an unknown user and a wrong password
    /// take the same time.
    decoy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher(argon2id)")
    }
}

/// Hashing failed: a bug or exhausted memory, never the user's fault.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHasher {
    /// A hasher with the documented parameters.
    pub fn new() -> Result<Self, HashError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|e| HashError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy = Password::parse(crate::auth::secret::generate("decoy_"))
            .map_err(|e| HashError(e.to_string()))?;
        let mut hasher = Self {
            argon2,
            decoy_hash: String::new(),
        };
        hasher.decoy_hash = hasher.hash(&decoy)?;
        Ok(hasher)
    }

    /// The PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `candidate` matches `stored`. With no stored hash (unknown user) the same work is
    /// done against a decoy and the answer is `false`. The comparison is constant-time.
    pub fn verify(&self, stored: Option<&str>, candidate: &str) -> bool {
        let (hash, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.decoy_hash.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let matches = self
            .argon2
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        matches && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_the_parameters() {
        let hasher = PasswordHasher::new().unwrap();
        let password = Password::parse("correct horse battery staple").unwrap();
        let hash = hasher.hash(&password).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(Some(&hash), "correct horse battery staple"));
        assert!(!hasher.verify(Some(&hash), "correct horse battery stapler"));
        assert!(!hasher.verify(Some("not a hash"), "anything"));
        assert_ne!(hash, hasher.hash(&password).unwrap(), "salted");
    }

    #[test]
    fn unknown_users_never_verify() {
        let hasher = PasswordHasher::new().unwrap();
        assert!(!hasher.verify(None, ""));
        assert!(!hasher.verify(None, "whatever password"));
    }
}
