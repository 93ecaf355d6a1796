//! Short-lived access tokens: JWTs signed with HMAC-SHA256 under a secret of the server's own.
//!
//! The algorithm is pinned: verification accepts HS256 and nothing else, whatever the token's
//! header says (so `alg: none` and key-confusion tricks fail). Expiry is checked against the
//! server's [`Clock`](crate::clock::Clock), not the wall clock, so tests control it.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Bytes of a generated signing secret.
const SECRET_BYTES: usize = 64;
/// Fewest bytes a configured secret may have.
const MIN_SECRET_BYTES: usize = 32;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// Issued at, in seconds since the epoch.
    pub iat: i64,
    /// Expires at, in seconds since the epoch.
    pub exp: i64,
    /// Token id, for logging out before expiry.
    pub jti: Uuid,
    /// The login session it belongs to (its refresh tokens' family): when the session ends
    /// (a refresh token reused, a logout, a password reset), so does the token, to the
    /// second and however recent. Absent in tokens issued before sessions were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

impl Claims {
    /// When the token expires.
    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, wrong algorithm, not a JWT, missing claims.
    #[error("the access token is invalid")]
    Invalid,
    /// Past its expiry.
    #[error("the access token has expired; refresh it or log in again")]
    Expired,
}

/// Issues and verifies access tokens.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

impl AccessTokens {
    /// Tokens signed with `secret`, valid for `lifetime`.
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // Expiry is checked against our clock in `verify`.
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }
    }

    /// How long tokens live.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A token for `user` in login session `session`, issued at `now`.
    pub fn issue(
        &self,
        user: Uuid,
        session: Uuid,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, TokenError> {
        let claims = Claims {
            sub: user,
            iat: now.unix_timestamp(),
            exp: (now + self.lifetime).unix_timestamp(),
            jti: Uuid::new_v4(),
            sid: Some(session),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)?;
        Ok(IssuedToken { token, claims })
    }

    /// The claims of `token` if it is ours, intact and not expired at `now`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// Reads the signing secret from `path`, creating it (owner-only) with a random secret when
/// missing. Several server processes sharing one database must share this file.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, String> {
    let secret = load_or_create_key_file(path, SECRET_BYTES)?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{} holds {} bytes; a signing secret needs at least {MIN_SECRET_BYTES}",
            path.display(),
            secret.len()
        ));
    }
    Ok(secret)
}

/// Reads a base64 key from `path`, creating it (owner-only) with `bytes` random bytes when
/// missing.
pub fn load_or_create_key_file(path: &Path, bytes: usize) -> Result<Vec<u8>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => STANDARD
            .decode(text.trim())
            .map_err(|e| format!("{} is not base64: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0_u8; bytes];
            rand::rngs::OsRng.fill_bytes(&mut key);
            write_owner_only(path, STANDARD.encode(&key).as_bytes())
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            Ok(key)
        }
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

fn write_owner_only(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

    fn tokens(secret: &[u8]) -> AccessTokens {
        AccessTokens::new(secret, Duration::minutes(15))
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let tokens = tokens(&[7; 32]);
        let user = Uuid::new_v4();
        let issued = tokens.issue(user, Uuid::new_v4(), NOW).unwrap();
        let claims = tokens
            .verify(&issued.token, NOW + Duration::minutes(14))
            .unwrap();
        assert_eq!(claims.sub, user);
        assert_eq!(claims.exp - claims.iat, 15 * 60);
        assert_eq!(
            tokens.verify(&issued.token, NOW + Duration::minutes(15)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn foreign_forged_and_unsigned_tokens_are_refused() {
        let ours = tokens(&[7; 32]);
        let theirs = tokens(&[8; 32]);
        let foreign = theirs
            .issue(Uuid::new_v4(), Uuid::new_v4(), NOW)
            .unwrap()
            .token;
        assert_eq!(ours.verify(&foreign, NOW), Err(TokenError::Invalid));

        let issued = ours
            .issue(Uuid::new_v4(), Uuid::new_v4(), NOW)
            .unwrap()
            .token;
        let parts: Vec<&str> = issued.split('.').collect();
        let unsigned_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{unsigned_header}.{}.", parts[1]);
        assert_eq!(ours.verify(&unsigned, NOW), Err(TokenError::Invalid));

        let other_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","iat":0,"exp":9999999999,"jti":"{}"}}"#,
            Uuid::new_v4(),
            Uuid::new_v4()
        ));
        let tampered = format!("{}.{other_claims}.{}", parts[0], parts[2]);
        assert_eq!(ours.verify(&tampered, NOW), Err(TokenError::Invalid));
        assert_eq!(ours.verify("not a token", NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn the_secret_file_is_created_once_and_owner_only() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("jwt-secret");
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(first.len(), SECRET_BYTES);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, STANDARD.encode([1_u8; 8])).unwrap();
        assert!(load_or_create_secret(&path)
            .unwrap_err()
            .contains("at least 32"));
    }
}
