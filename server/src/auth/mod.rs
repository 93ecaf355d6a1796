//! Authentication and the permission model: passwords, access and refresh tokens, API tokens,
//! login throttling, and what each caller may do.

pub mod access;
pub mod bootstrap;
pub mod jwt;
pub mod password;
pub mod secret;
pub mod throttle;

use time::Duration;

pub use access::{Access, Credential};

/// Everything authentication needs, built once at start-up.
#[derive(Debug)]
pub struct Auth {
    /// argon2id hashing.
    pub passwords: password::PasswordHasher,
    /// Access tokens.
    pub tokens: jwt::AccessTokens,
    /// Failed-login counting.
    pub throttle: throttle::LoginThrottle,
    /// How long refresh tokens live.
    pub refresh_lifetime: Duration,
}
