//! Machines authenticate each request by signing it with their enrolled Ed25519 key
//! ([`DeviceAuthorization`]): a fresh timestamp, a nonce used once, and the method, path and
//! body. Nothing reusable ever travels, so a captured request is worth nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use switchyard_proto::delivery::DEFAULT_CLOCK_SKEW;
use switchyard_proto::signing::{decode_public_key, DeviceAuthorization, DeviceRequest};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::{state, Gate};
use crate::delivery::Prepared;
use crate::domain::devices::{DeviceRecord, ReportRecord};
use crate::events::ProfilePublished;
use crate::http::error::ApiError;
use crate::http::json::{parse, read_body};
use crate::http::AppState;
use crate::store::{Seen, StoreError};

/// An enrolled, not revoked machine whose signature on this request holds: it may fetch its
/// own profile and report its own status.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    device: DeviceRecord,
    gate: Gate,
}

impl DeviceCaller {
    /// The machine.
    pub fn device(&self) -> &DeviceRecord {
        &self.device
    }

    /// What this machine is sent now (`Delivery::prepared`).
    pub async fn prepared(&self) -> Result<Arc<Prepared>, ApiError> {
        Ok(self.gate.delivery.prepared(&self.device).await?)
    }

    /// Every publish this process hears of from now on: subscribe before looking, so a
    /// publish between the look and the wait is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ProfilePublished>> {
        self.gate.delivery.subscribe()
    }

    /// The audit trail's head `signed` holds, when one of the server's signing keys (any
    /// version: the machine may hold a head from before a rotation) signed it; a 422 at
    /// `audit_head` otherwise, so that no machine can witness a head the server never sent.
    pub async fn open_audit_head(
        &self,
        signed: &switchyard_proto::signing::Signed,
    ) -> Result<switchyard_proto::AuditHead, ApiError> {
        let keys = self.gate.store.signing_keys().await?;
        switchyard_proto::AuditHead::open(signed, |id| {
            keys.iter()
                .find(|key| key.key_id == id)
                .and_then(|key| decode_public_key(&key.public_key).ok())
        })
        .map_err(|error| {
            ApiError::Invalid(vec![switchyard_proto::FieldProblem {
                path: "audit_head".into(),
                message: format!("is not a head of the audit trail this server signed: {error}"),
            }])
        })
    }

    /// Revokes the machine at its own request (`switchyard-agent remove`), audited as
    /// `audit` says: its key is refused from now on, as after an operator's revocation.
    pub async fn leave(
        &self,
        now: OffsetDateTime,
        audit: &crate::domain::audit::AuditRecord,
    ) -> Result<(), ApiError> {
        Ok(self
            .gate
            .store
            .revoke_device(self.device.id, now, audit)
            .await?)
    }

    /// Keeps the machine's latest status report.
    pub async fn report(&self, report: &ReportRecord) -> Result<(), ApiError> {
        Ok(self
            .gate
            .store
            .record_report(self.device.id, report)
            .await?)
    }
}

/// A machine's signed request with a JSON body of type `T` (the signature covers the body).
#[derive(Debug)]
pub struct DeviceJson<T>(pub DeviceCaller, pub T);

type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// What the signature covers and who claims to have signed it.
struct Claim {
    authorization: Option<String>,
    method: String,
    path_and_query: String,
}

impl Claim {
    fn of(request: &HttpRequest) -> Self {
        Self {
            authorization: request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            method: request.method().to_string(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.path().to_owned(), |pq| pq.as_str().to_owned()),
        }
    }

    async fn verify(self, state: &AppState, body: &[u8]) -> Result<DeviceRecord, ApiError> {
        let unauthenticated = |message: &str| ApiError::DeviceUnauthenticated(message.to_owned());
        let header = self.authorization.ok_or_else(|| {
            unauthenticated("this needs a signed request: Authorization: Device id=..., ts=..., nonce=..., sig=...")
        })?;
        let claim = DeviceAuthorization::parse(&header)
            .map_err(|e| ApiError::DeviceUnauthenticated(e.to_string()))?;
        let now = state.clock.now();
        let signed_at = OffsetDateTime::from_unix_timestamp(claim.timestamp)
            .map_err(|_| unauthenticated("the request's timestamp is not a time"))?;
        if (signed_at - now).abs() > DEFAULT_CLOCK_SKEW {
            return Err(ApiError::DeviceUnauthenticated(format!(
                "the request was signed at {signed_at}, but the server's clock reads {now}: \
                 more than {} minutes apart; fix the machine's clock",
                DEFAULT_CLOCK_SKEW.whole_minutes()
            )));
        }
        let _turn = state
            .device_checks
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let device = match state.gate.store.device(claim.device_id).await {
            Ok(device) => device,
            Err(StoreError::DeviceNotFound(_)) => {
                return Err(unauthenticated("no machine is enrolled with this id"))
            }
            Err(error) => return Err(error.into()),
        };
        let key =
            decode_public_key(&device.public_key).map_err(|e| ApiError::Internal(Box::new(e)))?;
        let request = DeviceRequest {
            method: &self.method,
            path_and_query: &self.path_and_query,
            body,
        };
        claim.verify(&key, &request).map_err(|_| {
            unauthenticated("the request's signature does not match this machine's key")
        })?;
        // Checked after the signature, so only the machine itself learns it is revoked.
        if device.revoked_at.is_some() {
            return Err(ApiError::DeviceRevoked);
        }
        // The nonce stays spent for as long as its timestamp could pass the skew check.
        let nonce_expires_at = signed_at + DEFAULT_CLOCK_SKEW * 2;
        state
            .gate
            .store
            .admit_device_request(
                device.id,
                Seen::at(now, device.last_seen_at),
                &claim.nonce,
                nonce_expires_at,
                now,
            )
            .await?;
        Ok(device)
    }
}

impl FromRequest for DeviceCaller {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(request);
        let claim = Claim::of(request);
        Box::pin(async move {
            let state = state?;
            let device = claim.verify(&state, b"").await?;
            Ok(DeviceCaller {
                device,
                gate: state.gate.clone(),
            })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for DeviceJson<T> {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = state(request);
        let claim = Claim::of(request);
        let body = read_body(request, payload);
        Box::pin(async move {
            let body = body.await?;
            let state = state?;
            let device = claim.verify(&state, &body).await?;
            let caller = DeviceCaller {
                device,
                gate: state.gate.clone(),
            };
            Ok(DeviceJson(caller, parse(&body)?))
        })
    }
}
