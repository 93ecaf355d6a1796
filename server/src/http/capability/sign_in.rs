//! Signing in, which anyone may try: a session starts only for a user who proved who they are,
//! with their password or with a fresh refresh token of the session. The proof ([`Proven`])
//! is made here alone, so no handler can start or continue a session for someone else.

use switchyard_proto::{AuditAction, Outcome, TokenPair, Username};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Anonymous;
use crate::auth::secret;
use crate::auth::throttle::LoginThrottle;
use crate::domain::audit::AuditRecord;
use crate::domain::identity::{RefreshTokenRecord, RefreshUse, UserRecord};
use crate::http::error::ApiError;
use crate::store::StoreError;

/// A user who has just proved who they are, and the session that proof belongs to.
#[derive(Debug)]
pub struct Proven {
    user: UserRecord,
    /// The session: new for a login, the refresh token's for a refresh.
    family: Uuid,
    /// The refresh token presented, by hash; `None` for a login.
    used: Option<String>,
}

impl Proven {
    /// Who.
    pub fn user(&self) -> &UserRecord {
        &self.user
    }

    /// Their session.
    pub fn family(&self) -> Uuid {
        self.family
    }
}

/// A session whose used refresh token was presented again: it must end.
#[derive(Debug, Clone, Copy)]
pub struct Replayed {
    family: Uuid,
}

impl Replayed {
    /// The session.
    pub fn family(&self) -> Uuid {
        self.family
    }
}

/// What a presented refresh token turned out to be.
#[derive(Debug)]
pub enum Presented {
    /// Valid and unused: its user may continue the session.
    Fresh(Proven),
    /// Used before: someone replays it.
    Replayed(Replayed),
    /// Unknown, expired or revoked.
    Invalid,
}

impl Anonymous {
    /// Counts failed logins.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.gate.auth.throttle
    }

    /// The user called `username` if `password` is theirs and the account is enabled; `None`
    /// otherwise, the same for an unknown user, a wrong password and a disabled account, and
    /// after the same work (argon2id runs on the blocking pool either way).
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Proven>, ApiError> {
        let user = match Username::parse(username) {
            Ok(username) => match self.gate.store.user_by_name(&username).await {
                Ok(user) => Some(user),
                Err(StoreError::UserNotFound(_)) => None,
                Err(error) => return Err(error.into()),
            },
            Err(_) => None,
        };
        let auth = self.gate.auth.clone();
        let stored = user.as_ref().map(|user| user.password_hash.clone());
        let candidate = password.to_owned();
        let matches =
            actix_web::web::block(move || auth.passwords.verify(stored.as_deref(), &candidate))
                .await
                .map_err(|e| ApiError::Internal(Box::new(e)))?;
        Ok(user
            .filter(|user| matches && !user.disabled)
            .map(|user| Proven {
                user,
                family: Uuid::new_v4(),
                used: None,
            }))
    }

    /// Records a failed login (the only event that records no change).
    pub async fn record_failed_login(&self, audit: &AuditRecord) -> Result<(), ApiError> {
        if audit.action != AuditAction::Login || audit.outcome != Outcome::Failure {
            return Err(ApiError::Internal(
                "only failed logins are recorded without a change".into(),
            ));
        }
        self.gate.store.record_audit(audit).await?;
        Ok(())
    }

    /// What the refresh token `token` is at `now`; a fresh one's user must still be enabled.
    pub async fn present_refresh_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Presented, ApiError> {
        let digest = secret::digest(token);
        match self.gate.store.refresh_token(&digest, now).await? {
            RefreshUse::Fresh(record) => match self.gate.store.user_by_id(record.user_id).await {
                Ok(user) if !user.disabled => Ok(Presented::Fresh(Proven {
                    user,
                    family: record.family,
                    used: Some(digest),
                })),
                Ok(_) | Err(StoreError::UserNotFound(_)) => Err(ApiError::Unauthenticated(
                    "this account is disabled or gone".into(),
                )),
                Err(error) => Err(error.into()),
            },
            RefreshUse::Replayed { family } => Ok(Presented::Replayed(Replayed { family })),
            RefreshUse::Invalid => Ok(Presented::Invalid),
        }
    }

    /// Starts the session of a user who logged in: a new token pair.
    pub async fn start_session(
        &self,
        proven: &Proven,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<TokenPair, ApiError> {
        if proven.used.is_some() {
            return Err(ApiError::Internal(
                "a refresh continues a session; it does not start one".into(),
            ));
        }
        let (pair, record) = self.new_pair(proven, now)?;
        self.gate.store.insert_refresh_token(&record, audit).await?;
        Ok(pair)
    }

    /// Continues the session of a fresh refresh token: a new pair, its refresh token replacing
    /// the one presented, at most once; a token used by someone else meanwhile is a replay.
    pub async fn continue_session(
        &self,
        proven: &Proven,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<Result<TokenPair, Replayed>, ApiError> {
        let Some(used) = &proven.used else {
            return Err(ApiError::Internal(
                "a login starts a session; it does not continue one".into(),
            ));
        };
        let (pair, next) = self.new_pair(proven, now)?;
        match self
            .gate
            .store
            .rotate_refresh_token(used, &next, audit)
            .await
        {
            Ok(()) => Ok(Ok(pair)),
            // Used by someone else between the look and the use: a replay after all.
            Err(StoreError::RefreshTokenSpent) => Ok(Err(Replayed {
                family: proven.family,
            })),
            Err(error) => Err(error.into()),
        }
    }

    /// Ends a session whose used refresh token was presented again.
    pub async fn end_replayed_session(
        &self,
        replayed: Replayed,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        Ok(self
            .gate
            .store
            .revoke_refresh_family(replayed.family, now, audit)
            .await?)
    }

    /// A new access token and refresh token for `proven`'s session.
    fn new_pair(
        &self,
        proven: &Proven,
        now: OffsetDateTime,
    ) -> Result<(TokenPair, RefreshTokenRecord), ApiError> {
        let auth = &self.gate.auth;
        let access = auth
            .tokens
            .issue(proven.user.id, proven.family, now)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let refresh_token = secret::generate(secret::REFRESH_TOKEN_PREFIX);
        let record = RefreshTokenRecord {
            token_hash: secret::digest(&refresh_token),
            family: proven.family,
            user_id: proven.user.id,
            issued_at: now,
            expires_at: now + auth.refresh_lifetime,
        };
        let pair = TokenPair {
            access_token: access.token,
            token_type: "Bearer".into(),
            expires_in: seconds(auth.tokens.lifetime()),
            refresh_token,
            refresh_expires_in: seconds(auth.refresh_lifetime),
        };
        Ok((pair, record))
    }
}

fn seconds(duration: time::Duration) -> u64 {
    u64::try_from(duration.whole_seconds()).unwrap_or_default()
}
