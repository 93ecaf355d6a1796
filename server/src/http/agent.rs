//! What enrolled machines fetch: their signed, effective profile, with long-polling.
//!
//! `GET /api/v1/agent/profile?wait=SECONDS` with `If-None-Match: "<etag>"` answers at once
//! with a new envelope when the machine's profile differs from the one it has, and otherwise
//! waits (without holding a thread) until a publish changes it, or answers 304 when `wait`
//! runs out.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchyard_proto::delivery::{Envelope, FleetDelivery, Machines, SignedDelivery};
use switchyard_proto::merkle::MachineTree;
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
    /// The signing key, still sealed: opened only when a reading signs its delivery.
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

    /// The delivery to every machine of `device`'s environment and role, signed once for all
    /// of them.
    async fn prepare(self, state: &AppState, device: &DeviceRecord) -> Result<Prepared, ApiError> {
        let (profile, _) = effective_of(state, self.baseline.as_ref(), self.overlay.as_ref())?;
        let machines = state
            .store
            .active_device_ids(&device.environment, &device.machine_role)
            .await?;
        // The asking machine is in the list unless it was moved or revoked since it was
        // let in: it has nothing to be sent here then.
        let tree = MachineTree::new(machines).ok_or(ApiError::DeviceChanged)?;
        let key = open_signing_key(&self.key, &state.sealer).map_err(keys::KeysError::from)?;
        let issued_at = state.clock.now();
        let delivery = FleetDelivery {
            environment: device.environment.to_string(),
            machine_role: device.machine_role.to_string(),
            baseline_version: Self::version(&self.baseline),
            overlay_version: Self::version(&self.overlay),
            sequence: state.store.audit_head().await?,
            issued_at,
            expires_at: issued_at + state.delivery_ttl,
            machines: Machines::default(),
            profile,
        };
        let signed = SignedDelivery::sign(delivery, tree, &key.key);
        Ok(Prepared {
            head: Bytes::copy_from_slice(signed.head()),
            signed,
            snapshot: self,
        })
    }
}

/// What every machine of one environment and role is sent: one signed delivery, and each
/// machine's proof that it is one of them.
struct Prepared {
    snapshot: Snapshot,
    signed: SignedDelivery,
    /// The start of every machine's envelope, shared by their responses.
    head: Bytes,
}

/// One machine's envelope as a response body: the start every machine shares, not copied,
/// then its own proof. A publish answers thousands of machines at once, and a body of a few
/// kilobytes each would be as many large allocations on a heap busy with their connections.
struct EnvelopeBody {
    head: Option<Bytes>,
    proof: Option<Bytes>,
    size: u64,
}

impl EnvelopeBody {
    fn new(head: Bytes, proof: Vec<u8>) -> Self {
        Self {
            size: (head.len() + proof.len()) as u64,
            head: Some(head),
            proof: Some(Bytes::from(proof)),
        }
    }
}

impl MessageBody for EnvelopeBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let body = self.get_mut();
        Poll::Ready(body.head.take().or_else(|| body.proof.take()).map(Ok))
    }
}

/// How long one reading of what machines are sent may serve requests. A publish this process
/// hears of, or a key rotated here, ends it at once; a key rotated on another server process is
/// seen within this time.
const READING_LIFETIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Machines of one environment and role share one reading of what they are sent: a publish
/// wakes every waiting machine at once, and thousands reconnect together after a restart,
/// while each reading costs several queries, a decryption and a signature.
#[derive(Default)]
pub struct Readings {
    /// By environment and role: the reading, with the publish count it was made after and
    /// when (made at most once, by whichever machine asks first).
    latest: Mutex<HashMap<(String, String), Shared>>,
}

/// One shared reading, made by the first machine that needs it.
struct Shared {
    heard: u64,
    made: Instant,
    reading: Arc<OnceCell<Arc<Prepared>>>,
}

impl std::fmt::Debug for Readings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readings").finish_non_exhaustive()
    }
}

impl Readings {
    /// What `device` is sent, read after every publish this process had heard of when it
    /// asked, at most [`READING_LIFETIME`] ago.
    async fn prepared(
        &self,
        state: &AppState,
        device: &DeviceRecord,
    ) -> Result<Arc<Prepared>, ApiError> {
        let heard = state.events.heard();
        let reading = self.reading_for(device, heard, None);
        let prepared = Self::read(state, device, &reading).await?;
        if prepared.signed.includes(device.id) {
            return Ok(prepared);
        }
        // Enrolled or moved here since this reading was made: read again. Machines that
        // arrive together share the new reading too.
        let reading = self.reading_for(device, heard, Some(&reading));
        let prepared = Self::read(state, device, &reading).await?;
        match prepared.signed.includes(device.id) {
            true => Ok(prepared),
            false => Err(ApiError::DeviceChanged),
        }
    }

    /// The reading `device` shares with its environment and role; a new one when the last
    /// was made before a publish `heard` counts, is too old, or is `lacking` the device.
    fn reading_for(
        &self,
        device: &DeviceRecord,
        heard: u64,
        lacking: Option<&Arc<OnceCell<Arc<Prepared>>>>,
    ) -> Arc<OnceCell<Arc<Prepared>>> {
        let mut latest = self.lock();
        let shared = latest
            .entry((
                device.environment.to_string(),
                device.machine_role.to_string(),
            ))
            .or_insert_with(|| Shared::new(heard));
        let lacks = lacking.is_some_and(|lacking| Arc::ptr_eq(&shared.reading, lacking));
        if lacks || shared.heard < heard || shared.made.elapsed() > READING_LIFETIME {
            *shared = Shared::new(heard.max(shared.heard));
        }
        shared.reading.clone()
    }

    /// The reading in `cell`, made now by this machine if nobody made it yet.
    async fn read(
        state: &AppState,
        device: &DeviceRecord,
        cell: &OnceCell<Arc<Prepared>>,
    ) -> Result<Arc<Prepared>, ApiError> {
        cell.get_or_try_init(|| async {
            let snapshot = Snapshot::of(state, device).await?;
            Ok::<_, ApiError>(Arc::new(snapshot.prepare(state, device).await?))
        })
        .await
        .cloned()
    }

    /// Drops every reading: the signing key changed.
    pub fn forget(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Shared>> {
        self.latest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Shared {
    fn new(heard: u64) -> Self {
        Self {
            heard,
            made: Instant::now(),
            reading: Arc::new(OnceCell::new()),
        }
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

/// The machine's effective profile as a signed envelope (a `Delivery` inside), or 304 when
/// `If-None-Match` names it and nothing changes within `wait` seconds.
#[utoipa::path(
    tag = "agent",
    params(ProfileQuery),
    responses(
        (status = 200, description = "The machine's signed profile; ETag names it", body = Envelope),
        (status = 304, description = "Unchanged within the wait"),
        (status = 401, description = "Not a validly signed request of an enrolled machine, or a revoked one", body = ErrorBody),
        (status = 409, description = "The machine was moved or revoked while it asked: ask again", body = ErrorBody),
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
        // Shared with every machine of its environment and role asking now: after a publish
        // they all wake together.
        let prepared = state.readings.prepared(&state, &device).await?;
        let etag = prepared.snapshot.etag(&device);
        if !names(if_none_match.as_deref(), &etag) {
            let proof = prepared
                .signed
                .proof_json(device.id)
                .ok_or(ApiError::DeviceChanged)?;
            return Ok(HttpResponse::Ok()
                .insert_header((header::ETAG, etag))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type(header::ContentType::json())
                .body(EnvelopeBody::new(prepared.head.clone(), proof)));
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
    }
}
