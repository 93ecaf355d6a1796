//! Every request gets an id: the caller's `x-request-id` when it is sensible, a new UUID
//! otherwise. It names the request's tracing span, is echoed in the answer's header and in error
//! bodies, so one id ties a client's report to the server's log lines.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use tracing::Instrument;

use super::error::ApiError;

/// The header that carries the request id both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The methods the server knows: RFC 9110's (section 9) and PATCH (RFC 5789). Those a route
/// does not serve, TRACE and CONNECT among them, are 405 with `Allow`; any other is 501 at once.
const STANDARD_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

/// Longest id accepted from a caller; longer ones are replaced by a new id.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// A caller's id is kept only if it is short and plain, so it cannot forge log lines.
fn accepted(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/+=".contains(c);
    (!text.is_empty() && text.len() <= MAX_LEN && text.chars().all(plain)).then(|| text.to_owned())
}

/// Middleware: assigns the id, opens the request's span, logs the outcome.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(accepted)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path(),
    );
    let started = Instant::now();
    let handled = async move {
        // Refused before the metrics middleware sees them: invented method names would each
        // open a new metrics series. They are counted in a series of their own.
        if !STANDARD_METHODS.contains(request.method()) {
            if let Some(state) = request.app_data::<actix_web::web::Data<super::AppState>>() {
                state.unknown_methods.inc();
            }
            let error = ApiError::UnknownMethod {
                method: request.method().to_string(),
            };
            let response = request.into_response(error.error_response());
            return Ok(response.map_into_right_body());
        }
        next.call(request)
            .await
            .map(ServiceResponse::map_into_left_body)
    };
    let result = CURRENT
        .scope(id.clone(), handled)
        .instrument(span.clone())
        .await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut response = result?;
    let status = response.status().as_u16();
    span.in_scope(|| tracing::info!(status, elapsed_ms, "request finished"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}
