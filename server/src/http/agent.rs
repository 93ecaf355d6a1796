//! What enrolled machines fetch: their signed, effective profile, with long-polling.
//!
//! `GET /api/v1/agent/profile?wait=SECONDS` with `If-None-Match: "<etag>"` answers at once
//! with a new envelope when the machine's profile differs from the one it has, and otherwise
//! waits (without holding a thread) until a publish changes it, or answers 304 when `wait`
//! runs out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use switchyard_proto::delivery::Delivery;
use switchyard_proto::profile::Profile;
use switchyard_proto::signing::{Signed, PROFILE_CONTEXT};
use switchyard_proto::{ErrorBody, FieldProblem};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::OnceCell;
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

    /// Everything a delivery needs besides the machine: the effective profile, the audit
    /// position and the opened signing key.
    async fn prepare(self, state: &AppState) -> Result<Prepared, ApiError> {
        let (profile, _) = effective_of(state, self.baseline.as_ref(), self.overlay.as_ref())?;
        let key = open_signing_key(&self.key, &state.sealer).map_err(keys::KeysError::from)?;
        Ok(Prepared {
            sequence: state.store.audit_head().await?,
            profile,
            key: key.key,
            snapshot: self,
        })
    }
}

/// What every machine of one environment and role is sent, but for its own id and times.
struct Prepared {
    snapshot: Snapshot,
    profile: Profile,
    sequence: u64,
    key: SigningKey,
}

impl Prepared {
    /// The envelope for `device`, signed now.
    fn envelope(&self, state: &AppState, device: &DeviceRecord) -> Signed {
        let now = state.clock.now();
        let delivery = Delivery {
            device_id: device.id,
            environment: device.environment.to_string(),
            machine_role: device.machine_role.to_string(),
            baseline_version: Snapshot::version(&self.snapshot.baseline),
            overlay_version: Snapshot::version(&self.snapshot.overlay),
            sequence: self.sequence,
            issued_at: now,
            expires_at: now + state.delivery_ttl,
            profile: self.profile.clone(),
        };
        Signed::sign(PROFILE_CONTEXT, &delivery, &self.key)
    }
}

/// Machines woken by the same publish share one reading of what they are sent: a publish
/// wakes every waiting machine of its environment at once, and each reading otherwise costs
/// several queries and a decryption.
#[derive(Default)]
pub struct Wakeups {
    /// By environment and role: the publish count the reading belongs to, and the reading
    /// (made at most once, by whichever machine asks first).
    latest: Mutex<HashMap<(String, String), (u64, Reading)>>,
}

/// One shared reading, made by the first machine that needs it.
type Reading = Arc<OnceCell<Arc<Prepared>>>;

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups").finish_non_exhaustive()
    }
}

impl Wakeups {
    /// What `device` is sent, read after every publish this process had heard of when it
    /// woke: a reading made for a later count is as good.
    async fn prepared(
        &self,
        state: &AppState,
        device: &DeviceRecord,
    ) -> Result<Arc<Prepared>, ApiError> {
        let heard = state.events.heard();
        let reading = {
            let mut latest = self
                .latest
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let entry = latest
                .entry((
                    device.environment.to_string(),
                    device.machine_role.to_string(),
                ))
                .or_insert_with(|| (heard, Arc::new(OnceCell::new())));
            if entry.0 < heard {
                *entry = (heard, Arc::new(OnceCell::new()));
            }
            entry.1.clone()
        };
        reading
            .get_or_try_init(|| async {
                let snapshot = Snapshot::of(state, device).await?;
                Ok::<_, ApiError>(Arc::new(snapshot.prepare(state).await?))
            })
            .await
            .cloned()
    }
}

/// One machine counted as waiting for as long as this lives, also when its request is
/// dropped because the machine hung up.
struct Waiting<'a>(&'a prometheus::IntGauge);

impl<'a> Waiting<'a> {
    fn count(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
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
    let mut woken = false;
    loop {
        // Woken by a publish, with every other waiting machine: read once for all of them.
        let (etag, prepared) = match woken {
            true => {
                let prepared = state.wakeups.prepared(&state, &device).await?;
                (prepared.snapshot.etag(&device), Some(prepared))
            }
            false => {
                let snapshot = Snapshot::of(&state, &device).await?;
                let etag = snapshot.etag(&device);
                let changed = !names(if_none_match.as_deref(), &etag);
                let prepared = match changed {
                    true => Some(Arc::new(snapshot.prepare(&state).await?)),
                    false => None,
                };
                (etag, prepared)
            }
        };
        if let Some(prepared) = prepared.filter(|_| !names(if_none_match.as_deref(), &etag)) {
            let envelope = prepared.envelope(&state, &device);
            return Ok(HttpResponse::Ok()
                .insert_header((header::ETAG, etag))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(envelope));
        }
        // Wait for a publish that concerns this machine, or the end of the wait.
        let _counted = Waiting::count(&state.waiting);
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
        woken = true;
    }
}
