//! The Switchyard API over HTTP (blocking: the command line does one thing at a time). Every
//! answer is read up to a bound, errors keep the server's code and request id, and an expired
//! session is renewed once from its refresh token.

use std::io::{Read, Write};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use switchyard_proto::{ErrorBody, FieldProblem, TokenPair};

use crate::credentials::{Credential, Store};

/// The largest answer read (bytes): far above any profile, version list or audit page, so
/// that a broken proxy that never stops sending cannot exhaust memory.
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Why a call did not work.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: the network, DNS, TLS or a timeout.
    #[error("cannot reach the server at {url}: {reason}. Check --server (or SWITCHYARD_SERVER) and the network")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error body.
    #[error("{}", refusal(*.status, .code, .message, .request_id.as_deref(), .problems))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's error code, such as `stale_draft`.
        code: String,
        /// The server's message.
        message: String,
        /// The request id the server logged the error under.
        request_id: Option<String>,
        /// For a 422, the problems and the fields they concern.
        problems: Vec<FieldProblem>,
    },
    /// The answer is not what the API promises.
    #[error("the server's answer to {what} is malformed: {reason}")]
    Malformed {
        /// The request.
        what: String,
        /// Why.
        reason: String,
    },
}

impl ApiError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A refusal in words: the server's message, what to do next, its code and request id.
fn refusal(
    status: u16,
    code: &str,
    message: &str,
    request_id: Option<&str>,
    problems: &[FieldProblem],
) -> String {
    let mut text = message.trim_end_matches('.').to_owned();
    // The server's message may already list its problems; each is said once.
    for problem in problems {
        let line = format!("{}: {}", problem.path, problem.message);
        if !text.contains(&line) {
            text.push_str(&format!("\n  {line}"));
        }
    }
    let next = match (status, code) {
        (401, _) => Some("sign in again with `switchyard login`, or check SWITCHYARD_TOKEN"),
        (403, _) => Some("ask an admin for the role this needs"),
        (404, _) => Some("check the name: `switchyard env list`, `switchyard role list`"),
        (409, "stale_draft" | "stale_version" | "rollout_moved") => {
            Some("someone changed it meanwhile: read it again (`switchyard plan`) and retry")
        }
        (409, "no_changes") => Some("nothing differs from the latest version"),
        (429, _) => Some("wait a moment and retry"),
        (500..=599, _) => Some("the server failed; its log has the request id"),
        _ => None,
    };
    if let Some(next) = next {
        text.push_str(&format!("\n  next: {next}"));
    }
    text.push_str(&format!("\n  (HTTP {status}, code {code}"));
    if let Some(id) = request_id {
        text.push_str(&format!(", request id {id}"));
    }
    text.push(')');
    text
}

/// The server at one base URL, called as one person.
#[derive(Debug)]
pub struct Api {
    base: String,
    agent: ureq::Agent,
    credential: Option<Credential>,
    /// Where a renewed session is kept (none for a token from the environment).
    store: Option<Store>,
}

/// What a call sends: nothing, or a JSON body.
enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
}

impl Api {
    /// The server at `base` (`https://switchyard.corp.example`), calling as `credential`.
    ///
    /// # Errors
    /// A `base` that is no http or https URL.
    pub fn new(
        base: &str,
        credential: Option<Credential>,
        store: Option<Store>,
    ) -> Result<Self, String> {
        let parsed = url::Url::parse(base)
            .map_err(|e| format!("the server address {base:?} is not a URL: {e}"))?;
        // A password in the address would be printed with every error.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("the server address holds a user name or password; give the server's URL alone and sign in with `switchyard login`".into());
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "the server address {base:?} is not an http or https URL"
            ));
        }
        // Never echoed: a token is all it takes to act as its owner.
        if credential
            .as_ref()
            .is_some_and(|c| c.token.is_empty() || !c.token.chars().all(|ch| ch.is_ascii_graphic()))
        {
            return Err(
                "the token holds spaces or control characters, which no token has; check SWITCHYARD_TOKEN or sign in again".into(),
            );
        }
        // A bearer token in clear text is anyone's on the way: plain http only to this
        // machine, or where someone said the network is theirs.
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        let trusted = std::env::var_os("SWITCHYARD_INSECURE_HTTP").is_some_and(|v| v == "1");
        if parsed.scheme() == "http" && credential.is_some() && !loopback && !trusted {
            return Err(format!(
                "{base} is plain http: the token would cross the network in clear. Use https, or set SWITCHYARD_INSECURE_HTTP=1 on a network you trust"
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("switchyard-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            credential,
            store,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (under `/api/v1`), its JSON answer.
    pub fn get<T: DeserializeOwned>(&mut self, path: &str) -> Result<T, ApiError> {
        let (_, text) = self.call("GET", path, Body::None, None)?;
        decode(path, &text)
    }

    /// `GET path`, its answer as text (exports).
    pub fn get_text(&mut self, path: &str) -> Result<String, ApiError> {
        Ok(self.call("GET", path, Body::None, None)?.1)
    }

    /// `method path` with `body` as JSON, and `If-Match: "revision"` when given: the status
    /// and the JSON answer (`null` for none).
    pub fn send<B: Serialize>(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&B>,
        if_match: Option<u64>,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let json = body
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| ApiError::Malformed {
                what: format!("{method} {path}"),
                reason: e.to_string(),
            })?;
        let body = json.as_ref().map_or(Body::None, Body::Json);
        let (status, text) = self.call(method, path, body, if_match)?;
        if text.trim().is_empty() {
            return Ok((status, serde_json::Value::Null));
        }
        Ok((status, decode(path, &text)?))
    }

    /// [`Api::send`], its answer read as `T`.
    pub fn send_as<B: Serialize, T: DeserializeOwned>(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&B>,
        if_match: Option<u64>,
    ) -> Result<T, ApiError> {
        let (_, answer) = self.send(method, path, body, if_match)?;
        serde_json::from_value(answer).map_err(|e| ApiError::Malformed {
            what: format!("{method} {path}"),
            reason: e.to_string(),
        })
    }

    /// Logs in with a password: the session's pair.
    pub fn login(&mut self, username: &str, password: &str) -> Result<TokenPair, ApiError> {
        let body = serde_json::json!({ "username": username, "password": password });
        let (_, text) = self.call("POST", "/auth/login", Body::Json(&body), None)?;
        decode("/auth/login", &text)
    }

    /// `GET path`, its answer copied to `to` as it comes (exports, of any length): the
    /// number of bytes.
    pub fn get_into(&mut self, path: &str, to: &mut dyn Write) -> Result<u64, ApiError> {
        let response = self.respond("GET", path, &Body::None, None)?;
        std::io::copy(&mut response.into_reader(), to).map_err(|e| ApiError::Malformed {
            what: format!("GET {path}"),
            reason: e.to_string(),
        })
    }

    fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Body<'_>,
        if_match: Option<u64>,
    ) -> Result<(u16, String), ApiError> {
        let response = self.respond(method, path, &body, if_match)?;
        let status = response.status();
        Ok((status, read_bounded(response, method, path)?))
    }

    /// The answer to a call, a 401 answered by renewing the session once and calling again.
    fn respond(
        &mut self,
        method: &str,
        path: &str,
        body: &Body<'_>,
        if_match: Option<u64>,
    ) -> Result<ureq::Response, ApiError> {
        match self.respond_once(method, path, body, if_match) {
            Err(ApiError::Refused { status: 401, .. }) if self.renew()? => {
                self.respond_once(method, path, body, if_match)
            }
            other => other,
        }
    }

    fn respond_once(
        &self,
        method: &str,
        path: &str,
        body: &Body<'_>,
        if_match: Option<u64>,
    ) -> Result<ureq::Response, ApiError> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.agent.request(method, &url);
        if let Some(credential) = &self.credential {
            request = request.set("Authorization", &format!("Bearer {}", credential.token));
        }
        if let Some(revision) = if_match {
            request = request.set("If-Match", &format!("\"{revision}\""));
        }
        let result = match body {
            Body::None => request.call(),
            Body::Json(json) => request.send_json(json),
        };
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => {
                let text = read_bounded(response, method, path).unwrap_or_default();
                let detail = serde_json::from_str::<ErrorBody>(&text)
                    .ok()
                    .map(|b| b.error);
                Err(ApiError::Refused {
                    status,
                    code: detail
                        .as_ref()
                        .map_or_else(|| "unknown".to_owned(), |d| d.code.clone()),
                    message: detail.as_ref().map_or_else(
                        || format!("{method} {path} was refused"),
                        |d| d.message.clone(),
                    ),
                    request_id: detail.as_ref().and_then(|d| d.request_id.clone()),
                    problems: detail.map(|d| d.problems).unwrap_or_default(),
                })
            }
            Err(error) => Err(ApiError::Unreachable {
                url: self.base.clone(),
                reason: error.to_string(),
            }),
        }
    }

    /// Renews an expired session from its refresh token (once) and keeps the new pair; false
    /// when there is nothing to renew with, or the session has ended.
    fn renew(&mut self) -> Result<bool, ApiError> {
        let Some(refresh) = self
            .credential
            .as_mut()
            .and_then(|credential| credential.refresh_token.take())
        else {
            return Ok(false);
        };
        let body = serde_json::json!({ "refresh_token": refresh });
        let pair: TokenPair =
            match self.respond_once("POST", "/auth/refresh", &Body::Json(&body), None) {
                Ok(response) => decode(
                    "/auth/refresh",
                    &read_bounded(response, "POST", "/auth/refresh")?,
                )?,
                // The session ended, and said so: the first 401 stands. Anything else (the
                // server failing, throttling) is said as itself.
                Err(ApiError::Refused {
                    status: 400 | 401 | 403,
                    ..
                }) => return Ok(false),
                Err(error) => return Err(error),
            };
        let credential = Credential {
            server: self.base.clone(),
            token: pair.access_token,
            refresh_token: Some(pair.refresh_token),
        };
        if let Some(store) = &self.store {
            // A session that cannot be kept still works for this command; the next one would
            // ask to sign in again, so say why now.
            if let Err(problem) = store.save(&credential) {
                warn(&format!("the renewed session was not kept: {problem}"));
            }
        }
        self.credential = Some(credential);
        Ok(true)
    }
}

#[allow(clippy::print_stderr)]
fn warn(text: &str) {
    eprintln!("switchyard: warning: {text}");
}

fn read_bounded(response: ureq::Response, method: &str, path: &str) -> Result<String, ApiError> {
    let mut text = String::new();
    let read = response
        .into_reader()
        .take(MAX_ANSWER_BYTES + 1)
        .read_to_string(&mut text);
    let malformed = |reason: String| ApiError::Malformed {
        what: format!("{method} {path}"),
        reason,
    };
    read.map_err(|e| malformed(format!("{e}; is --server the Switchyard server?")))?;
    if text.len() as u64 > MAX_ANSWER_BYTES {
        return Err(malformed(format!(
            "it is longer than {MAX_ANSWER_BYTES} bytes"
        )));
    }
    Ok(text)
}

fn decode<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Malformed {
        what: path.to_owned(),
        reason: format!("{e}; is --server the Switchyard server?"),
    })
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` as one segment of a path.
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}
