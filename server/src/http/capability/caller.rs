//! What the capabilities that are not about one environment open: the open routes'
//! enrollment, key sets and health ([`Anonymous`]; signing in is `sign_in.rs`), a caller's own sessions and tokens
//! ([`Authenticated`]), users and keys to read ([`ReadAll`]), the audit trail ([`ReadAudit`])
//! and everything ([`Admin`]).

use std::sync::Arc;

use switchyard_proto::signing::Signed;
use switchyard_proto::{
    AuditEvent, AuditVerification, Environment, EnvironmentName, MachineRole, Password, Username,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Admin, Anonymous, Authenticated, ReadAll, ReadAudit};
use crate::auth::secret;
use crate::auth::{Access, Credential};
use crate::domain::audit::{AuditFilter, AuditRecord, Origin};
use crate::domain::devices::{DeviceRecord, EnrollmentTokenRecord};
use crate::domain::identity::{ApiTokenRecord, UserRecord};
use crate::domain::signing::SigningKeyRecord;
use crate::http::error::ApiError;
use crate::keys;
use crate::store::{
    verify_audit_trail, AuditStore, EnvironmentStore, IdentityStore, Store, StoreError,
};

impl Anonymous {
    /// Checks that the database answers and holds the schema.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.gate.store.ping().await
    }

    /// The enrollment token whose secret is `secret`, if it admits machines at `now`.
    pub async fn enrollment_token(
        &self,
        secret: &str,
        now: OffsetDateTime,
    ) -> Result<Admitting, ApiError> {
        let token = self
            .gate
            .store
            .enrollment_token_by_hash(&secret::digest(secret))
            .await?
            .ok_or_else(|| {
                ApiError::EnrollmentTokenInvalid("the enrollment token is not valid".into())
            })?;
        token
            .check_usable(now)
            .map_err(|unusable| ApiError::EnrollmentTokenInvalid(unusable.to_string()))?;
        Ok(Admitting { token })
    }

    /// Enrolls `device` with the token that admits it, into the token's environment and
    /// machine role, using up one of the token's uses.
    pub async fn enroll_device(
        &self,
        admitting: &Admitting,
        device: &DeviceRecord,
        now: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<(), ApiError> {
        let token = &admitting.token;
        if device.enrollment_token != token.id
            || device.environment != token.environment
            || device.machine_role != token.machine_role
        {
            return Err(ApiError::Internal(
                "a machine enrolls into its enrollment token's environment and role".into(),
            ));
        }
        Ok(self.gate.store.enroll_device(device, now, audit).await?)
    }

    /// The signed key sets after version `after`, oldest first: public.
    pub async fn key_sets(&self, after: u64) -> Result<Vec<Signed>, ApiError> {
        Ok(keys::key_set_chain(self.gate.store.as_ref(), after).await?)
    }
}

/// An enrollment token that admits machines now.
#[derive(Debug)]
pub struct Admitting {
    token: EnrollmentTokenRecord,
}

impl Admitting {
    /// The token.
    pub fn token(&self) -> &EnrollmentTokenRecord {
        &self.token
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

    /// Every environment, by name.
    pub async fn environments(&self) -> Result<Vec<Environment>, ApiError> {
        Ok(self.gate.store.environments().await?)
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
    /// What an admin may also do: read everything.
    pub fn reader(&self) -> ReadAll {
        ReadAll {
            access: self.access.clone(),
            gate: self.gate.clone(),
        }
    }

    /// The caller.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Users and their grants, to change.
    pub fn identity(&self) -> &dyn IdentityStore {
        self.gate.store.as_ref()
    }

    /// Environments and machine roles, to create and change.
    pub fn environments(&self) -> &dyn EnvironmentStore {
        self.gate.store.as_ref()
    }

    /// Users, grants and keys, to read.
    pub fn directory(&self) -> Directory<'_> {
        Directory {
            store: self.gate.store.as_ref(),
        }
    }

    /// A user's password hash (argon2id, on the blocking pool).
    pub async fn hash_password(&self, password: Password) -> Result<String, ApiError> {
        let auth = self.gate.auth.clone();
        actix_web::web::block(move || auth.passwords.hash(&password))
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?
            .map_err(|e| ApiError::Internal(Box::new(e)))
    }

    /// The variables allowed in the profiles of `environment`, to change as the caller from
    /// `from`.
    pub fn variable_allowances<'a>(
        &'a self,
        environment: &'a EnvironmentName,
        from: &crate::http::origin::RequestOrigin,
    ) -> VariableAllowances<'a> {
        VariableAllowances {
            publishing: &self.gate.publishing,
            environment,
            origin: from.by(&self.access),
        }
    }

    /// Makes a new signing key, recorded as `origin`'s; deliveries are signed with it from now
    /// on, so every reading signed with the old one ends.
    pub async fn rotate_signing_key(
        &self,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> Result<SigningKeyRecord, ApiError> {
        let gate = &self.gate;
        let record = keys::rotate(gate.store.as_ref(), &gate.sealer, origin, now).await?;
        gate.delivery.forget();
        Ok(record)
    }
}

/// The variables allowed in one environment's profiles, to change as one admin.
#[derive(Debug)]
pub struct VariableAllowances<'a> {
    publishing: &'a crate::publishing::Publishing,
    environment: &'a EnvironmentName,
    origin: Origin,
}

impl VariableAllowances<'_> {
    /// Allows `name`, for `reason`.
    pub async fn allow(
        &self,
        name: &str,
        reason: switchyard_proto::ChangeMessage,
    ) -> Result<switchyard_proto::VariableAllowance, ApiError> {
        Ok(self
            .publishing
            .allow_variable(&self.origin, self.environment, name, reason)
            .await?)
    }

    /// Withdraws the allowance of `name`.
    pub async fn withdraw(&self, name: &str) -> Result<(), ApiError> {
        Ok(self
            .publishing
            .withdraw_variable(&self.origin, self.environment, name)
            .await?)
    }
}
