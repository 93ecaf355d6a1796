//! A relay between the agent and the server that an attacker (or a broken proxy) controls: it
//! passes requests on, and can forge the profile it hands back, replay an old one, drop
//! `If-None-Match`, answer for the server at once, or send a body that never ends. It counts
//! the requests it relays.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::Value;

/// What the relay does to a profile on its way to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Hands it on as the server sent it.
    Pass,
    /// Rewrites the signed payload (a different `GOPROXY`), keeping the signature.
    Forge,
    /// Hands back the first profile it ever saw, signed and genuine but old.
    Replay,
    /// Drops `If-None-Match` on the way to the server, so that every answer is a 200 at once.
    DropConditional,
    /// Answers every profile request with a 304 at once, without asking the server.
    NotModifiedAtOnce,
    /// Answers every profile request with a 200 whose chunked body never ends.
    EndlessProfile,
    /// Answers every key-set request with a 200 whose chunked body never ends.
    EndlessKeySets,
    /// Answers every profile request with a 200 that is not JSON (a proxy's error page).
    Garbage,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    mode: Mutex<Mode>,
    first_profile: Mutex<Option<(Vec<u8>, Option<String>)>>,
    requests: Mutex<BTreeMap<String, usize>>,
    endless_bytes: Arc<AtomicU64>,
}

/// A relay running on a loopback port.
#[derive(Debug)]
pub struct Relay {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl Relay {
    /// Starts a relay in front of `upstream`.
    pub fn start(upstream: &str) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            mode: Mutex::new(Mode::Pass),
            first_profile: Mutex::new(None),
            requests: Mutex::default(),
            endless_bytes: Arc::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(relay))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://{address}"),
            shared,
            handle,
        }
    }

    /// From now on, does `mode` to every profile.
    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// How many requests for `path` (without its query) it relayed or answered.
    pub fn requests(&self, path: &str) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// How many bytes of never-ending bodies it has handed to the network so far.
    pub fn endless_bytes(&self) -> u64 {
        self.shared.endless_bytes.load(Ordering::Relaxed)
    }

    /// Stops listening.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn relay(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *shared
        .requests
        .lock()
        .unwrap()
        .entry(request.path().to_owned())
        .or_default() += 1;
    let mode = *shared.mode.lock().unwrap();
    let profile = request.path() == "/api/v1/agent/profile";
    match mode {
        Mode::NotModifiedAtOnce if profile => return HttpResponse::NotModified().finish(),
        Mode::EndlessProfile if profile => return endless(&shared.endless_bytes),
        Mode::EndlessKeySets if request.path() == "/api/v1/agent/key-sets" => {
            return endless(&shared.endless_bytes)
        }
        Mode::Garbage if profile => {
            return HttpResponse::Ok()
                .content_type("text/html")
                .body("<html><body>502 Bad Gateway</body></html>")
        }
        _ => {}
    }
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap();
    let mut onward = shared
        .client
        .request(method, format!("{}{path}", shared.upstream))
        .body(body.to_vec());
    for (name, value) in request.headers() {
        let dropped = mode == Mode::DropConditional && name.as_str() == "if-none-match";
        if name.as_str() != "host" && !dropped {
            onward = onward.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = onward.send().await else {
        return HttpResponse::BadGateway().finish();
    };
    let status = answer.status().as_u16();
    let mut headers: Vec<(String, Vec<u8>)> = answer
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "content-length" | "transfer-encoding"))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    let mut bytes = answer.bytes().await.unwrap_or_default().to_vec();
    if path.starts_with("/api/v1/agent/profile") && status == 200 {
        let etag = headers
            .iter()
            .find(|(name, _)| name == "etag")
            .and_then(|(_, value)| String::from_utf8(value.clone()).ok());
        let mut first = shared.first_profile.lock().unwrap();
        match mode {
            Mode::Pass | Mode::DropConditional => {
                if first.is_none() {
                    *first = Some((bytes.clone(), etag));
                }
            }
            Mode::Forge => bytes = forged(&bytes),
            Mode::NotModifiedAtOnce
            | Mode::EndlessProfile
            | Mode::EndlessKeySets
            | Mode::Garbage => {}
            Mode::Replay => {
                let (old, old_etag) = first.clone().expect("a profile passed before a replay");
                bytes = old;
                headers.retain(|(name, _)| name != "etag");
                if let Some(old_etag) = old_etag {
                    headers.push(("etag".into(), old_etag.into_bytes()));
                }
            }
        }
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in headers {
        response.append_header((name, value));
    }
    response.body(bytes)
}

/// A 200 whose chunked body is the start of a JSON string that never ends, 64 KiB at a time,
/// each chunk counted into `sent` as it is handed to the network.
fn endless(sent: &Arc<AtomicU64>) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let sent = sent.clone();
    let body = futures_util::stream::iter(std::iter::once(b"{\"payload\":\"".to_vec()))
        .chain(futures_util::stream::repeat_with(|| vec![b'A'; CHUNK]))
        .map(move |chunk| {
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok::<_, std::convert::Infallible>(web::Bytes::from(chunk))
        });
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(body)
}

/// The envelope with its payload rewritten to send Go somewhere else, signature untouched.
fn forged(envelope: &[u8]) -> Vec<u8> {
    let mut envelope: Value = serde_json::from_slice(envelope).unwrap();
    let payload = URL_SAFE_NO_PAD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let mut delivery: Value = serde_json::from_slice(&payload).unwrap();
    delivery["profile"]["go"]["proxy"] =
        serde_json::json!([{"source": "https://attacker.invalid/"}]);
    envelope["payload"] = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&delivery).unwrap())
        .into();
    serde_json::to_vec(&envelope).unwrap()
}
