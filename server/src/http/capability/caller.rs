//! What the capabilities that are not about one environment open: the open routes'
//! sign-in and enrollment ([`Anonymous`]), a caller's own sessions and tokens
//! ([`Authenticated`]), users and keys to read ([`ReadAll`]), the audit trail ([`ReadAudit`])
//! and everything ([`Admin`]).

use std::sync::Arc;

use switchyard_proto::signing::Signed;
use switchyard_proto::{
    AuditEvent, AuditVerification, Environment, EnvironmentName, MachineRole, Username,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Admin, Anonymous, Authenticated, ReadAll, ReadAudit};
use crate::auth::{Access, Credential};
use crate::delivery::Delivery;
use crate::domain::audit::{AuditFilter, AuditRecord};
use crate::domain::devices::{DeviceRecord, EnrollmentTokenRecord};
use crate::domain::identity::{ApiTokenRecord, RefreshTokenRecord, RefreshUse, UserRecord};
use crate::domain::sealing::SecretBox;
use crate::domain::signing::SigningKeyRecord;
use crate::http::error::ApiError;
use crate::keys;
use crate::store::{verify_audit_trail, AuditStore, Store, StoreError};

impl Anonymous {
    /// Checks that the database answers and holds the schema.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.gate.store.ping().await
    }

    /// The user called `username`, for a login to check.
    pub async fn user_by_name(&self, username: &Username) -> Result<UserRecord, StoreError> {
        self.gate.store.user_by_name(username).await
    }

    /// The user with id `id`, for a refresh to check.
    pub async fn user_by_id(&self, id: Uuid) -> Result<UserRecord, StoreError> {
        self.gate.store.user_by_id(id).await
    }

    /// Records an event that changes nothing (a failed login).
    pub async fn record_audit(&self, audit: &AuditRecord) -> Result<(), ApiError> {
        self.gate.store.record_audit(audit).await?;
        Ok(())
    }

    /// Starts a session whose password was just checked: keeps its first refresh token.
    pub async fn start_session(
        &self,
        token: &RefreshTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        Ok(self.gate.store.insert_refresh_token(token, audit).await?)
    }

    /// What the refresh token with hash `token_hash` is now.
    pub async fn refresh_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RefreshUse, ApiError> {
        Ok(self.gate.store.refresh_token(token_hash, now).await?)
    }

    /// Uses up refresh token `used_hash` for its successor `next`.
    pub async fn rotate_refresh_token(
        &self,
        used_hash: &str,
        next: &RefreshTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.gate
            .store
            .rotate_refresh_token(used_hash, next, audit)
            .await
    }

    /// Ends the session `family`, whose used refresh token was presented again.
    pub async fn revoke_refresh_family(
        &self,
        family: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        Ok(self
            .gate
            .store
            .revoke_refresh_family(family, now, audit)
            .await?)
    }

    /// The enrollment token whose secret hashes to `token_hash`, if any.
    pub async fn enrollment_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<EnrollmentTokenRecord>, ApiError> {
        Ok(self.gate.store.enrollment_token_by_hash(token_hash).await?)
    }

    /// Enrolls `device` with its enrollment token.
    pub async fn enroll_device(
        &self,
        device: &DeviceRecord,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        Ok(self.gate.store.enroll_device(device, now, audit).await?)
    }

    /// The signed key sets after version `after`, oldest first: public.
    pub async fn key_sets(&self, after: u64) -> Result<Vec<Signed>, ApiError> {
        Ok(keys::key_set_chain(self.gate.store.as_ref(), after).await?)
    }
}

impl Authenticated {
    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The environments the caller may read, by name.
    pub async fn environments(&self) -> Result<Vec<Environment>, ApiError> {
        let all = self.gate.store.environments().await?;
        Ok(all
            .into_iter()
            .filter(|environment| self.access.can_read(&environment.name))
            .collect())
    }

    /// Every machine role, by name.
    pub async fn machine_roles(&self) -> Result<Vec<MachineRole>, ApiError> {
        Ok(self.gate.store.machine_roles().await?)
    }

    /// Ends the caller's login session: its access token and, with `refresh_hash`, its
    /// refresh token. An API token has no session.
    pub async fn end_session(
        &self,
        refresh_hash: Option<&str>,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        let Credential::Session { jti, expires_at } = self.access.credential else {
            return Err(ApiError::SessionRequired(
                "API tokens have no session; revoke one with DELETE /api/v1/tokens/{id}".into(),
            ));
        };
        let session = refresh_hash.map(|digest| (digest, self.access.user.id));
        Ok(self
            .gate
            .store
            .end_session(jti, expires_at, session, now, audit)
            .await?)
    }

    /// The API tokens the caller may see and revoke.
    pub fn tokens(&self) -> OwnTokens<'_> {
        OwnTokens {
            store: self.gate.store.as_ref(),
            access: &self.access,
        }
    }
}

/// API tokens as one caller may reach them: their own, and everyone's for admins (to revoke)
/// and auditors (to list).
#[derive(Debug, Clone, Copy)]
pub struct OwnTokens<'a> {
    store: &'a dyn Store,
    access: &'a Access,
}

impl OwnTokens<'_> {
    /// Keeps a new API token of the caller.
    pub async fn create(
        &self,
        token: &ApiTokenRecord,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        if token.owner_id != self.access.user.id {
            return Err(ApiError::Forbidden(
                "API tokens are made for their owner only".into(),
            ));
        }
        Ok(self.store.create_api_token(token, audit).await?)
    }

    /// The caller's tokens, newest first; with `everyone`, all tokens (admins and auditors).
    pub async fn list(&self, everyone: bool) -> Result<Vec<ApiTokenRecord>, ApiError> {
        let owner = match everyone {
            true if self.access.reads_everything() => None,
            true => {
                return Err(ApiError::Forbidden(
                    "listing everyone's tokens needs the admin or auditor role".into(),
                ))
            }
            false => Some(self.access.user.id),
        };
        Ok(self.store.api_tokens(owner).await?)
    }

    /// Token `id`, if it is the caller's or the caller is an admin; someone else's token is
    /// as good as unknown, so its existence is not revealed.
    pub async fn get(&self, id: Uuid) -> Result<ApiTokenRecord, ApiError> {
        match self.store.api_token(id).await {
            Ok(token) if token.owner_id == self.access.user.id || self.access.is_admin() => {
                Ok(token)
            }
            Ok(_) | Err(StoreError::ApiTokenNotFound(_)) => {
                Err(ApiError::ApiTokenNotFound(id.to_string()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Revokes token `id` (see [`OwnTokens::get`] for whose).
    pub async fn revoke(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        let token = self.get(id).await?;
        self.store.revoke_api_token(token.id, now, audit).await?;
        Ok(())
    }
}

/// Users, their grants and the signing keys: what admins and auditors read.
#[derive(Debug, Clone, Copy)]
pub struct Directory<'a> {
    store: &'a dyn Store,
}

impl Directory<'_> {
    /// All users, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>, ApiError> {
        Ok(self.store.users().await?)
    }

    /// The user called `username`.
    pub async fn user(&self, username: &Username) -> Result<UserRecord, ApiError> {
        Ok(self.store.user_by_name(username).await?)
    }

    /// The grants of user `user_id`.
    pub async fn grants(&self, user_id: Uuid) -> Result<Vec<switchyard_proto::Grant>, ApiError> {
        Ok(self.store.grants(user_id).await?)
    }

    /// The signing keys, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, ApiError> {
        Ok(self.store.signing_keys().await?)
    }
}

impl ReadAll {
    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Walks the whole audit trail and says whether every link holds and, if not, which is
    /// the first broken one.
    pub async fn verify_audit_trail(&self) -> Result<AuditVerification, ApiError> {
        let whole = AuditTrail {
            store: self.gate.store.clone(),
            visible: None,
        };
        whole.verify().await
    }

    /// Users, grants and keys, to read.
    pub fn directory(&self) -> Directory<'_> {
        Directory {
            store: self.gate.store.as_ref(),
        }
    }
}

impl ReadAudit {
    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The environments whose events the caller sees; `None` for all events.
    pub fn environments(&self) -> Option<&[EnvironmentName]> {
        self.environments.as_deref()
    }

    /// The audit trail as the caller may see it: the events of
    /// [`ReadAudit::environments`].
    pub fn trail(&self) -> AuditTrail {
        AuditTrail {
            store: self.gate.store.clone(),
            visible: self
                .environments
                .as_ref()
                .map(|names| names.iter().map(ToString::to_string).collect()),
        }
    }
}

/// The audit trail as one caller may see it. Owned, so an export can stream it page by page.
#[derive(Clone)]
pub struct AuditTrail {
    store: Arc<dyn AuditStore>,
    /// The environments whose events are shown; `None` for all events.
    visible: Option<Vec<String>>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("visible", &self.visible)
            .finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// Events matching `filter`, newest first, at most `filter.limit`, among those the caller
    /// may see whatever `filter` says.
    pub async fn events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, ApiError> {
        let visible = AuditFilter {
            visible_environments: self.visible.clone(),
            ..filter.clone()
        };
        Ok(self.store.audit_events(&visible).await?)
    }

    /// Walks the whole trail and says whether every link holds (admins and auditors).
    async fn verify(&self) -> Result<AuditVerification, ApiError> {
        Ok(verify_audit_trail(self.store.as_ref()).await?)
    }
}

impl Admin {
    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Everything the server keeps.
    pub fn store(&self) -> &dyn Store {
        self.gate.store.as_ref()
    }

    /// Users, grants and keys, to read.
    pub fn directory(&self) -> Directory<'_> {
        Directory {
            store: self.gate.store.as_ref(),
        }
    }

    /// Seals the signing keys a rotation makes.
    pub fn sealer(&self) -> &SecretBox {
        &self.gate.sealer
    }

    /// What machines are sent: a rotation ends every reading signed with the old key.
    pub fn delivery(&self) -> &Delivery {
        &self.gate.delivery
    }
}
