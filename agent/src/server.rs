//! Talking to the server: enrollment, the long-polled profile, key sets and status reports.
//! Every request after enrollment is signed with the device key.

use std::io::Read as _;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::de::DeserializeOwned;
use switchyard_proto::delivery::{Envelope, MAX_ENVELOPE_BYTES, MAX_KEY_SETS_BYTES};
use switchyard_proto::devices::{Enrollment, StatusReport};
use switchyard_proto::signing::{DeviceAuthorization, DeviceRequest, Signed};
use uuid::Uuid;

/// Why a call to the server did not work.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the network, DNS, TLS or a timeout.
    #[error("the server at {url} cannot be reached: {reason}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error.
    #[error("the server refused: {status} {code}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The answer is not what the API promises.
    #[error("the server's answer is malformed: {0}")]
    Malformed(String),
}

/// The most bytes read of an error answer or an enrollment's (its key sets and a few
/// names): a real error is a short JSON object.
const MAX_SMALL_ANSWER_BYTES: usize = 64 * 1024;

/// What a profile request brought.
#[derive(Debug)]
pub enum Fetched {
    /// A new envelope and its ETag.
    Changed(Envelope, Option<String>),
    /// The profile named in `If-None-Match` is still current.
    Unchanged,
}

/// The server at one base URL.
#[derive(Debug, Clone)]
pub struct Server {
    base: String,
    agent: ureq::Agent,
}

impl Server {
    /// The server at `base` (`https://switchyard.corp.example`).
    pub fn new(base: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(base).map_err(|e| format!("{base} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{base} is not an http or https URL"));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .user_agent(concat!("switchyard-agent/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The answer's JSON, read up to `limit` bytes: past that, reading stops (a relay's
    /// endless body costs no more than `limit` bytes of memory) and the answer is malformed.
    fn answer<T: DeserializeOwned>(
        &self,
        result: Result<ureq::Response, ureq::Error>,
        limit: usize,
    ) -> Result<T, ClientError> {
        let response = self.check(result)?;
        self.json(response, limit)
    }

    fn json<T: DeserializeOwned>(
        &self,
        response: ureq::Response,
        limit: usize,
    ) -> Result<T, ClientError> {
        let body = self.read_capped(response, limit)?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// The body of `response`, refused when it declares or runs to more than `limit` bytes.
    fn read_capped(&self, response: ureq::Response, limit: usize) -> Result<Vec<u8>, ClientError> {
        let too_large = || {
            ClientError::Malformed(format!("the answer runs past {limit} bytes, more than a real one has; the rest was not read"))
        };
        let declared = response
            .header("content-length")
            .and_then(|length| length.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|error| ClientError::Unreachable {
                url: self.base.clone(),
                reason: format!("the answer broke off: {error}"),
            })?;
        match body.len() > limit {
            true => Err(too_large()),
            false => Ok(body),
        }
    }

    fn check(
        &self,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response, ClientError> {
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => {
                let body: serde_json::Value = self
                    .json(response, MAX_SMALL_ANSWER_BYTES)
                    .unwrap_or_default();
                Err(ClientError::Refused {
                    status,
                    code: body["error"]["code"]
                        .as_str()
                        .unwrap_or("unknown")
                        .to_owned(),
                    message: body["error"]["message"].as_str().unwrap_or("").to_owned(),
                })
            }
            Err(error) => Err(ClientError::Unreachable {
                url: self.base.clone(),
                reason: error.to_string(),
            }),
        }
    }

    /// Enrolls with `request` (an `EnrollRequest`).
    pub fn enroll(&self, request: &serde_json::Value) -> Result<Enrollment, ClientError> {
        let result = self
            .agent
            .post(&self.url("/api/v1/agent/enroll"))
            .timeout(Duration::from_secs(30))
            .send_json(request);
        self.answer(result, MAX_KEY_SETS_BYTES + MAX_SMALL_ANSWER_BYTES)
    }

    /// The signed key sets after version `after`.
    pub fn key_sets(&self, after: u64) -> Result<Vec<Signed>, ClientError> {
        let result = self
            .agent
            .get(&self.url(&format!("/api/v1/agent/key-sets?after={after}")))
            .timeout(Duration::from_secs(30))
            .call();
        self.answer(result, MAX_KEY_SETS_BYTES)
    }

    /// The machine's profile; with `etag`, waits up to `wait` seconds for a change.
    pub fn profile(
        &self,
        device: Uuid,
        key: &SigningKey,
        wait: u64,
        etag: Option<&str>,
    ) -> Result<Fetched, ClientError> {
        let path = format!("/api/v1/agent/profile?wait={wait}");
        let mut request = self
            .agent
            .get(&self.url(&path))
            .timeout(Duration::from_secs(wait + 30))
            .set(
                "authorization",
                &device_authorization(device, key, "GET", &path, b""),
            );
        if let Some(etag) = etag {
            request = request.set("if-none-match", etag);
        }
        let response = self.check(request.call())?;
        if response.status() == 304 {
            return Ok(Fetched::Unchanged);
        }
        let etag = response.header("etag").map(str::to_owned);
        let envelope = self.json(response, MAX_ENVELOPE_BYTES)?;
        Ok(Fetched::Changed(envelope, etag))
    }

    /// Reports what was applied.
    pub fn report(
        &self,
        device: Uuid,
        key: &SigningKey,
        report: &StatusReport,
    ) -> Result<(), ClientError> {
        let body = serde_json::to_vec(report).unwrap_or_default();
        self.post_signed(device, key, "/api/v1/agent/status", &body)
    }

    /// Revokes this machine's enrollment at its own request (`POST /api/v1/agent/leave`): its
    /// key is refused from then on.
    pub fn leave(&self, device: Uuid, key: &SigningKey) -> Result<(), ClientError> {
        self.post_signed(device, key, "/api/v1/agent/leave", b"")
    }

    /// POSTs the JSON `body` (none when empty) to `path`, signed by this machine; the answer's
    /// body is not read beyond an error's.
    fn post_signed(
        &self,
        device: Uuid,
        key: &SigningKey,
        path: &str,
        body: &[u8],
    ) -> Result<(), ClientError> {
        let request = self
            .agent
            .post(&self.url(path))
            .timeout(Duration::from_secs(30))
            .set(
                "authorization",
                &device_authorization(device, key, "POST", path, body),
            );
        let result = match body.is_empty() {
            true => request.call(),
            false => request
                .set("content-type", "application/json")
                .send_bytes(body),
        };
        self.check(result).map(drop)
    }
}

/// The `Authorization` value for one request of this machine, signed now with a fresh nonce:
/// the server refuses a nonce it has seen, a time more than five minutes off, and any other
/// method, path or body.
pub fn device_authorization(
    device: Uuid,
    key: &SigningKey,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let mut nonce = [0_u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let nonce = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, nonce);
    let now = crate::clock::now().unix_timestamp();
    let request = DeviceRequest {
        method,
        path_and_query: path,
        body,
    };
    DeviceAuthorization::sign(device, key, &request, now, nonce).to_header()
}
