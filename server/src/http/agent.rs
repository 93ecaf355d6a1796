//! What enrolled machines fetch: their signed, effective profile, with long-polling. What
//! they are sent is `crate::delivery`'s; this is the endpoint.
//!
//! `GET /api/v1/agent/profile?wait=SECONDS` with `If-None-Match: "<etag>"` answers at once
//! with a new envelope when the machine's profile differs from the one it has, and otherwise
//! waits (without holding a thread) until a publish changes it, or answers 304 when `wait`
//! runs out.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchyard_proto::delivery::Envelope;
use switchyard_proto::{ErrorBody, FieldProblem};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::capability::DeviceCaller;
use super::error::ApiError;
use super::AppState;
use crate::domain::profiles::ProfileTarget;

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
    let device = caller.device();
    let wait = requested_wait(&request, state.agent_max_wait)?;
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let deadline = Instant::now() + std::time::Duration::from_secs(wait);
    // Subscribed before looking, so a publish between the look and the wait is not missed.
    let mut published = caller.subscribe();
    loop {
        // Shared with every machine of its environment and role asking now: after a publish
        // they all wake together.
        let prepared = caller.prepared().await?;
        let etag = prepared.snapshot.etag(device);
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
