//! Authorization as types. A handler states what it needs by taking one of these extractors;
//! the extractor authenticates the caller, looks up their current permissions and hands out
//! the capability only when they hold it.
//!
//! A capability is also the only road to the data it allows (after lldap's
//! `AccessControlledBackendHandler`): the store, the publishing rules, delivery and token
//! issuing sit in a [`Gate`] whose fields only this module reads, and each capability hands out
//! the methods its holder may call, bound to its environment where it has one. A handler that skipped its check
//! has no way to the data, so it does not compile (`server/tests/compile_fail/`).

mod caller;
mod device;
mod environment;
mod sign_in;

pub use caller::{Admitting, AuditTrail, Directory, OwnTokens, VariableAllowances};
pub use device::{DeviceCaller, DeviceJson};
pub use environment::{EnvironmentDevices, EnvironmentProfiles, OperatedDevices, OperatedProfiles};
pub use sign_in::{Presented, Proven, Replayed};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest};
use switchyard_proto::{EnvironmentName, EnvironmentRole};
use time::OffsetDateTime;

use super::error::ApiError;
use super::AppState;
use crate::auth::jwt::TokenError;
use crate::auth::{secret, Access, Auth, Credential};
use crate::delivery::Delivery;
use crate::domain::sealing::SecretBox;
use crate::publishing::Publishing;
use crate::store::{SharedStore, StoreError};

/// What handlers reach only through a capability: the store, the publishing rules, delivery,
/// and the keys that issue tokens and seal signing keys. Its fields are private to this module
/// and the capabilities' own files below it.
#[derive(Debug, Clone)]
pub struct Gate {
    store: SharedStore,
    publishing: Publishing,
    delivery: Arc<Delivery>,
    /// Seals signing keys for rotations.
    sealer: Arc<SecretBox>,
    /// Passwords, tokens and throttling: issuing a token is starting a session.
    auth: Arc<Auth>,
}

impl Gate {
    /// Closes `store`, `publishing`, `delivery`, `sealer` and `auth` behind the capabilities.
    pub fn new(
        store: SharedStore,
        publishing: Publishing,
        delivery: Arc<Delivery>,
        sealer: Arc<SecretBox>,
        auth: Arc<Auth>,
    ) -> Self {
        Self {
            store,
            publishing,
            delivery,
            sealer,
            auth,
        }
    }
}

type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// Any caller, authenticated or not: what the open routes (logging in, enrolling, health,
/// key sets) reach.
#[derive(Debug, Clone)]
pub struct Anonymous {
    gate: Gate,
}

/// Any authenticated caller: a user with a session or an API token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    access: Access,
    gate: Gate,
}

/// A global administrator: reaches everything.
#[derive(Debug, Clone)]
pub struct Admin {
    access: Access,
    gate: Gate,
}

/// An administrator or auditor: may read everything.
#[derive(Debug, Clone)]
pub struct ReadAll {
    access: Access,
    gate: Gate,
}

/// A caller who may read the environment named in the path (`{environment}`): admin,
/// auditor, or anyone with a grant on it.
#[derive(Debug, Clone)]
pub struct ReadEnvironment {
    access: Access,
    environment: EnvironmentName,
    gate: Gate,
}

fn state(request: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("the application state is missing".into()))
}

impl FromRequest for Anonymous {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(state(request).map(|state| Anonymous {
            gate: state.gate.clone(),
        }))
    }
}

/// The access token of a console page, read from its session cookie by the console's session
/// middleware (`crate::console::session`), which sets this on console routes alone.
///
/// Where it is set, the `Authorization` header is not read; where it is not (the API), cookies
/// are not. So a browser's cookie never authorizes an API call that another site's script
/// makes, and the API needs no CSRF token; console forms carry one (`crate::console::form`).
#[derive(Debug, Clone, Default)]
pub struct SessionCookie(pub Option<String>);

/// How the caller presented their token.
#[derive(Debug)]
enum TokenSource {
    /// An API call: `Authorization: Bearer TOKEN`, an access token or an API token.
    Header(Option<header::HeaderValue>),
    /// A console page: the session cookie, an access token only.
    Cookie(Option<String>),
}

impl TokenSource {
    fn of(request: &HttpRequest) -> Self {
        match request.extensions().get::<SessionCookie>() {
            Some(SessionCookie(token)) => TokenSource::Cookie(token.clone()),
            None => TokenSource::Header(request.headers().get(header::AUTHORIZATION).cloned()),
        }
    }

    /// The token, or why there is none to check.
    fn token(self) -> Result<String, ApiError> {
        match self {
            TokenSource::Header(None) => Err(ApiError::Unauthenticated(
                "this needs an Authorization: Bearer header; log in at POST /api/v1/auth/login"
                    .into(),
            )),
            TokenSource::Header(Some(value)) => {
                bearer_token(&value).map(str::to_owned).ok_or_else(|| {
                    ApiError::Unauthenticated(
                        "the Authorization header is malformed; send Authorization: Bearer TOKEN"
                            .into(),
                    )
                })
            }
            // The console signs people in with their password; an API token is for scripts.
            TokenSource::Cookie(Some(token)) if !token.starts_with(secret::API_TOKEN_PREFIX) => {
                Ok(token)
            }
            TokenSource::Cookie(_) => Err(ApiError::Unauthenticated(
                "sign in to the console first".into(),
            )),
        }
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(request);
        let presented = TokenSource::of(request);
        Box::pin(async move {
            let state = state?;
            let access = authenticate(&state, presented).await?;
            Ok(Authenticated {
                access,
                gate: state.gate.clone(),
            })
        })
    }
}

/// Builds a capability from the authenticated caller when `allowed` says so.
fn require<T: 'static>(
    request: &HttpRequest,
    allowed: impl FnOnce(Access, Gate) -> Result<T, ApiError> + 'static,
) -> Extraction<T> {
    let caller = Authenticated::from_request(request, &mut Payload::None);
    Box::pin(async move {
        let caller = caller.await?;
        allowed(caller.access, caller.gate)
    })
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        require(request, |access, gate| match access.is_admin() {
            true => Ok(Admin { access, gate }),
            false => Err(ApiError::Forbidden("this needs the admin role".into())),
        })
    }
}

impl FromRequest for ReadAll {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        require(request, |access, gate| match access.reads_everything() {
            true => Ok(ReadAll { access, gate }),
            false => Err(ApiError::Forbidden(
                "this needs the admin or auditor role".into(),
            )),
        })
    }
}

/// A caller who may read the audit trail: admins and auditors all of it, ops the events of
/// the environments they operate. Developers see none of it.
#[derive(Debug, Clone)]
pub struct ReadAudit {
    access: Access,
    /// The environments whose events they see; `None` for all events.
    environments: Option<Vec<EnvironmentName>>,
    gate: Gate,
}

impl FromRequest for ReadAudit {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        require(request, |access, gate| {
            if access.reads_everything() {
                return Ok(ReadAudit {
                    access,
                    environments: None,
                    gate,
                });
            }
            let operated: Vec<EnvironmentName> = access
                .grants
                .iter()
                .filter(|grant| grant.role == EnvironmentRole::Ops)
                .map(|grant| grant.environment.clone())
                .collect();
            match operated.is_empty() {
                true => Err(ApiError::Forbidden(
                    "the audit trail needs the admin or auditor role, or ops on an environment"
                        .into(),
                )),
                false => Ok(ReadAudit {
                    access,
                    environments: Some(operated),
                    gate,
                }),
            }
        })
    }
}

/// A caller who may change the environment named in the path (`{environment}`): admin, or
/// ops on it.
#[derive(Debug, Clone)]
pub struct OperateEnvironment {
    access: Access,
    environment: EnvironmentName,
    gate: Gate,
}

/// The environment named in the path, for a caller `allowed` on it.
fn on_environment<T: 'static>(
    request: &HttpRequest,
    allowed: fn(&Access, &EnvironmentName) -> bool,
    refusal: &'static str,
    build: fn(Access, EnvironmentName, Gate) -> T,
) -> Extraction<T> {
    let environment = request
        .match_info()
        .get("environment")
        .map(EnvironmentName::parse);
    require(request, move |access, gate| {
        let Some(environment) = environment else {
            return Err(ApiError::Internal("route has no {environment}".into()));
        };
        let environment = ApiError::parameter("environment", environment)?;
        match allowed(&access, &environment) {
            true => Ok(build(access, environment, gate)),
            false => Err(ApiError::Forbidden(format!("{refusal} {environment}"))),
        }
    })
}

impl FromRequest for ReadEnvironment {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        on_environment(
            request,
            Access::can_read,
            "you have no role on environment",
            |access, environment, gate| ReadEnvironment {
                access,
                environment,
                gate,
            },
        )
    }
}

impl FromRequest for OperateEnvironment {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        on_environment(
            request,
            Access::can_operate,
            "this needs the ops role on environment",
            |access, environment, gate| OperateEnvironment {
                access,
                environment,
                gate,
            },
        )
    }
}

/// Who the `presented` token proves the caller to be, with their current permissions.
async fn authenticate(state: &AppState, presented: TokenSource) -> Result<Access, ApiError> {
    let token = presented.token()?;
    let token = token.as_str();
    let now = state.clock.now();
    let mut issued_at = None;
    let (user_id, credential) = if token.starts_with(secret::API_TOKEN_PREFIX) {
        let record = state
            .gate
            .store
            .api_token_by_hash(&secret::digest(token))
            .await?
            .ok_or_else(|| ApiError::Unauthenticated("the API token is not valid".into()))?;
        if record.revoked_at.is_some() {
            return Err(ApiError::Unauthenticated(
                "the API token was revoked".into(),
            ));
        }
        if record.expires_at <= now {
            return Err(ApiError::Unauthenticated(
                "the API token has expired".into(),
            ));
        }
        (record.owner_id, Credential::ApiToken { id: record.id })
    } else {
        let claims = state
            .gate
            .auth
            .tokens
            .verify(token, now)
            .map_err(|error| match error {
                TokenError::Expired => ApiError::TokenExpired,
                TokenError::Invalid => ApiError::Unauthenticated(error.to_string()),
            })?;
        issued_at = Some(claims.iat);
        if state
            .gate
            .store
            .access_token_ended(claims.jti, claims.sid)
            .await?
        {
            return Err(ApiError::Unauthenticated(
                "this session has ended (logged out, its password reset, or its refresh token used twice); log in again".into(),
            ));
        }
        (
            claims.sub,
            Credential::Session {
                jti: claims.jti,
                expires_at: claims.expires_at(),
            },
        )
    };
    let user = match state.gate.store.user_by_id(user_id).await {
        Ok(user) => user,
        Err(StoreError::UserNotFound(_)) => {
            return Err(ApiError::Unauthenticated(
                "the token's user no longer exists".into(),
            ))
        }
        Err(error) => return Err(error.into()),
    };
    if user.disabled {
        return Err(ApiError::Unauthenticated("this account is disabled".into()));
    }
    let ended = user
        .sessions_valid_after
        .map(OffsetDateTime::unix_timestamp);
    if issued_at
        .zip(ended)
        .is_some_and(|(issued, ended)| issued < ended)
    {
        return Err(ApiError::Unauthenticated(
            "this session ended when the password was reset; log in again".into(),
        ));
    }
    let grants = state.gate.store.grants(user.id).await?;
    Ok(Access {
        user,
        credential,
        grants,
    })
}

/// The token of `Bearer TOKEN` (scheme in any case), if the header has that shape.
fn bearer_token(value: &header::HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    let plain = |c: char| c.is_ascii_graphic();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.chars().all(plain))
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let read = |text: &str| {
            bearer_token(&header::HeaderValue::from_str(text).unwrap()).map(str::to_owned)
        };
        assert_eq!(read("Bearer abc.def").as_deref(), Some("abc.def"));
        assert_eq!(read("bearer abc").as_deref(), Some("abc"));
        for malformed in [
            "Bearer",
            "Bearer ",
            "Basic abc",
            "abc",
            "Bearer a b",
            "Token abc",
        ] {
            assert_eq!(read(malformed), None, "{malformed}");
        }
    }
}
