//! The floor under the server's memory per waiting machine and under its wake-up: a bare
//! actix-web server (the version Switchyard's server is built with) whose one route only waits,
//! held by as many connections as there are agents, each sending a request of an agent's
//! long-poll's size; a publish to it hands every waiting request the same ready-made body of an
//! envelope's size: no database, no signature, no serialization.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, App, HttpResponse, HttpServer};
use ed25519_dalek::SigningKey;
use reqwest::{Client, StatusCode};
use switchyard_agent::server::device_authorization;
use tokio::sync::{watch, OnceCell};
use tokio::time::Instant;
use uuid::Uuid;

use crate::agents::{pace, profile_path, until_waiting, Arrival, LONG_POLL_SECS};

/// How long the bare server holds a request at most.
const HOLD: Duration = Duration::from_secs(LONG_POLL_SECS);

/// Counts a request as waiting for as long as it lives.
struct Held(Arc<AtomicU64>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves on 127.0.0.1 (a port of the system's choosing) until killed: the agents' path holds
/// each request up to two minutes, answering 304 then, or at once with the body of a `POST
/// /publish` made meanwhile; `/metrics` says how many are held, as Switchyard's server does
/// (`switchyard_agents_waiting`).
pub async fn serve() -> std::io::Result<()> {
    let waiting = Arc::new(AtomicU64::new(0));
    let (published, _) = watch::channel(Bytes::new());
    let published = Arc::new(published);
    let server = HttpServer::new({
        let waiting = waiting.clone();
        move || {
            let (hold, count) = (waiting.clone(), waiting.clone());
            let (wake, publish) = (published.clone(), published.clone());
            App::new()
                .route(
                    "/api/v1/agent/profile",
                    web::get().to(move || {
                        let waiting = hold.clone();
                        let mut publishes = wake.subscribe();
                        async move {
                            waiting.fetch_add(1, Ordering::Relaxed);
                            let _held = Held(waiting);
                            match tokio::time::timeout(HOLD, publishes.changed()).await {
                                Ok(Ok(())) => HttpResponse::Ok().body(publishes.borrow().clone()),
                                _ => HttpResponse::NotModified().finish(),
                            }
                        }
                    }),
                )
                .route(
                    "/publish",
                    web::post().to(move |body: Bytes| {
                        publish.send_replace(body);
                        async { HttpResponse::NoContent().finish() }
                    }),
                )
                .route(
                    "/metrics",
                    web::get().to(move || {
                        let count = count.clone();
                        async move {
                            format!(
                                "switchyard_agents_waiting {}\n",
                                count.load(Ordering::Relaxed)
                            )
                        }
                    }),
                )
        }
    })
    .workers(2)
    .backlog(20_000)
    .bind(("127.0.0.1", 0))?;
    for address in server.addrs() {
        #[allow(clippy::print_stdout)]
        {
            println!("listening on http://{address}");
        }
    }
    server.run().await
}

/// What one run on the bare server measured.
pub struct Woken {
    /// When each request had its whole answer, from just before the publish.
    pub arrivals: Vec<Arrival>,
    /// What went wrong.
    pub failures: Vec<String>,
}

/// Holds `count` requests of an agent's size on the bare server at `base` (process `pid`);
/// reports its memory per waiting connection, beside Switchyard's in the same run, then, `runs`
/// times, publishes a body of `body_bytes` bytes and times its arrival at every request.
pub async fn measure(
    base: &str,
    pid: u32,
    count: usize,
    runs: u32,
    body_bytes: usize,
) -> Result<Vec<Woken>, String> {
    let client = crate::agents::client();
    let key = SigningKey::from_bytes(&[7; 32]);
    let body = Bytes::from(vec![b'x'; body_bytes]);
    let path = profile_path(LONG_POLL_SECS);
    let mut woken = Vec::new();
    for run in 1..=runs {
        // Idle connections from the last round close first: what is measured is the waiting.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = crate::rss_kib(pid);
        let started = Arc::new(OnceCell::<Instant>::new());
        let mut held = Vec::with_capacity(count);
        for n in 0..count {
            pace(n).await;
            let authorization = device_authorization(Uuid::new_v4(), &key, "GET", &path, b"");
            let request = wait_for_publish(
                client.clone(),
                base.to_owned(),
                authorization,
                started.clone(),
            );
            held.push(tokio::spawn(request));
        }
        let mut failures = Vec::new();
        if let Err(error) = until_waiting(&client, &[base.to_owned()], count as u64).await {
            failures.push(error);
        }
        if run == 1 {
            crate::memory_line("actix-web alone", &[pid], &[before], &[count]);
        }
        let _ = started.set(Instant::now());
        let published = client
            .post(format!("{base}/publish"))
            .body(body.clone())
            .send()
            .await;
        if let Err(error) = published.and_then(|r| r.error_for_status()) {
            failures.push(format!("publish: {error}"));
        }
        let mut arrivals = Vec::with_capacity(count);
        for request in held {
            match request.await.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(at) => arrivals.push(Arrival {
                    received: at,
                    verified: at,
                }),
                Err(error) => failures.push(error),
            }
        }
        woken.push(Woken { arrivals, failures });
    }
    Ok(woken)
}

/// One request of an agent's size, held until the publish; how long after `started` its whole
/// answer was in.
async fn wait_for_publish(
    client: Client,
    base: String,
    authorization: String,
    started: Arc<OnceCell<Instant>>,
) -> Result<Duration, String> {
    let path = profile_path(LONG_POLL_SECS);
    let response = client
        .get(format!("{base}{path}"))
        .header("authorization", authorization)
        .header("if-none-match", "\"bench-1/bench/b4/o0/k1\"")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("bare server: {}", response.status()));
    }
    response.bytes().await.map_err(|e| e.to_string())?;
    let arrived = Instant::now();
    let publish = started.get().ok_or("answered before the publish")?;
    Ok(arrived.saturating_duration_since(*publish))
}
