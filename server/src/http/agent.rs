//! What enrolled machines fetch: their signed, effective profile, with long-polling.
//!
//! `GET /api/v1/agent/profile?wait=SECONDS` with `If-None-Match: "<etag>"` answers at once
//! with a new envelope when the machine's profile differs from the one it has, and otherwise
//! waits (without holding a thread) until a publish changes it, or answers 304 when `wait`
//! runs out.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchyard_proto::delivery::Delivery;
use switchyard_proto::signing::{Signed, PROFILE_CONTEXT};
use switchyard_proto::{ErrorBody, FieldProblem};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::device_auth::DeviceCaller;
use super::error::ApiError;
use super::profiles::effective_of;
use super::AppState;
use crate::domain::devices::DeviceRecord;
use crate::domain::profiles::{ProfileTarget, VersionRecord};
use crate::domain::signing::{open_signing_key, SigningKeyRecord};
use crate::keys;

/// How long a profile request waits when `wait` is not given.
const DEFAULT_WAIT_SECS: u64 = 60;

/// How long to wait for a change.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProfileQuery {
    /// Seconds to wait for a change when `If-None-Match` names the current profile: 0 to the
    /// server's `agent_max_wait_secs`; 60 by default.
    #[allow(dead_code)] // read by hand, so a bad value is a 422 naming it
    wait: Option<u64>,
}

/// What a machine's profile is made of now.
struct Snapshot {
    baseline: Option<VersionRecord>,
    overlay: Option<VersionRecord>,
    /// The signing key, still sealed: opened only when an envelope is signed.
    key: SigningKeyRecord,
}

impl Snapshot {
    async fn of(state: &AppState, device: &DeviceRecord) -> Result<Self, ApiError> {
        let role = ProfileTarget::Role(device.machine_role.clone());
        Ok(Self {
            baseline: state
                .store
                .latest_version(&device.environment, &ProfileTarget::Baseline)
                .await?,
            overlay: state
                .store
                .latest_version(&device.environment, &role)
                .await?,
            key: keys::current_record(state.store.as_ref()).await?,
        })
    }

    fn version(record: &Option<VersionRecord>) -> u64 {
        record.as_ref().map_or(0, |version| version.version)
    }

    /// Names this content for this machine: it changes when a version is published, the
    /// machine moves, or the signing key rotates.
    fn etag(&self, device: &DeviceRecord) -> String {
        format!(
            "\"{}/{}/b{}/o{}/k{}\"",
            device.environment,
            device.machine_role,
            Self::version(&self.baseline),
            Self::version(&self.overlay),
            self.key.version
        )
    }

    async fn envelope(&self, state: &AppState, device: &DeviceRecord) -> Result<Signed, ApiError> {
        let (profile, _) = effective_of(state, self.baseline.as_ref(), self.overlay.as_ref())?;
        let now = state.clock.now();
        let delivery = Delivery {
            device_id: device.id,
            environment: device.environment.to_string(),
            machine_role: device.machine_role.to_string(),
            baseline_version: Self::version(&self.baseline),
            overlay_version: Self::version(&self.overlay),
            sequence: state.store.audit_head().await?,
            issued_at: now,
            expires_at: now + state.delivery_ttl,
            profile,
        };
        let key = open_signing_key(&self.key, &state.sealer).map_err(keys::KeysError::from)?;
        Ok(Signed::sign(PROFILE_CONTEXT, &delivery, &key.key))
    }
}

/// The wait a request asks for, checked against the server's limit.
fn requested_wait(request: &HttpRequest, max: std::time::Duration) -> Result<u64, ApiError> {
    let mut wait = DEFAULT_WAIT_SECS.min(max.as_secs());
    for (key, value) in url::form_urlencoded::parse(request.query_string().as_bytes()) {
        let problem = |message: String| {
            ApiError::Invalid(vec![FieldProblem {
                path: key.to_string(),
                message,
            }])
        };
        match key.as_ref() {
            "wait" => {
                wait = value
                    .parse::<u64>()
                    .ok()
                    .filter(|seconds| *seconds <= max.as_secs())
                    .ok_or_else(|| problem(format!("must be 0 to {} seconds", max.as_secs())))?;
            }
            _ => return Err(problem("is not a parameter; use wait".into())),
        }
    }
    Ok(wait)
}

fn names(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
}

/// The machine's effective profile as a signed envelope ([`Delivery`] inside), or 304 when
/// `If-None-Match` names it and nothing changes within `wait` seconds.
#[utoipa::path(
    tag = "agent",
    params(ProfileQuery),
    responses(
        (status = 200, description = "The machine's signed profile; ETag names it", body = Signed),
        (status = 304, description = "Unchanged within the wait"),
        (status = 401, description = "Not a validly signed request of an enrolled machine, or a revoked one", body = ErrorBody),
        (status = 422, description = "wait is out of range", body = ErrorBody),
    ),
    security(("device" = [])),
    extensions(("x-roles" = json!(["enrolled device"])))
)]
#[get("/agent/profile")]
pub async fn fetch_profile(
    caller: DeviceCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let device = caller.0;
    let wait = requested_wait(&request, state.agent_max_wait)?;
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let deadline = Instant::now() + std::time::Duration::from_secs(wait);
    // Subscribed before looking, so a publish between the look and the wait is not missed.
    let mut published = state.events.subscribe();
    loop {
        let snapshot = Snapshot::of(&state, &device).await?;
        let etag = snapshot.etag(&device);
        if !names(if_none_match.as_deref(), &etag) {
            let envelope = snapshot.envelope(&state, &device).await?;
            return Ok(HttpResponse::Ok()
                .insert_header((header::ETAG, etag))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(envelope));
        }
        // Wait for a publish that concerns this machine, or the end of the wait.
        let changed = loop {
            match tokio::time::timeout_at(deadline, published.recv()).await {
                Err(_) | Ok(Err(RecvError::Closed)) => break false,
                // Missed some events: look again.
                Ok(Err(RecvError::Lagged(_))) => break true,
                Ok(Ok(event)) => {
                    let concerns = event.environment == device.environment
                        && match &event.target {
                            ProfileTarget::Baseline => true,
                            ProfileTarget::Role(role) => *role == device.machine_role,
                        };
                    if concerns {
                        break true;
                    }
                }
            }
        };
        if !changed {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish());
        }
    }
}
