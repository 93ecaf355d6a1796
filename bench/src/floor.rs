//! The floor under the server's memory per waiting machine: a bare actix-web server (the
//! version Switchyard's server is built with) whose one route only waits, held by as many
//! connections as there are agents, each sending a request of an agent's long-poll's size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use ed25519_dalek::SigningKey;
use switchyard_agent::server::device_authorization;
use uuid::Uuid;

use crate::agents::{pace, profile_path, until_waiting, LONG_POLL_SECS};

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
/// each request up to two minutes, then answers 304; `/metrics` says how many are held, as
/// Switchyard's server does (`switchyard_agents_waiting`).
pub async fn serve() -> std::io::Result<()> {
    let waiting = Arc::new(AtomicU64::new(0));
    let server = HttpServer::new({
        let waiting = waiting.clone();
        move || {
            let (hold, count) = (waiting.clone(), waiting.clone());
            App::new()
                .route(
                    "/api/v1/agent/profile",
                    web::get().to(move || {
                        let waiting = hold.clone();
                        async move {
                            waiting.fetch_add(1, Ordering::Relaxed);
                            let _held = Held(waiting);
                            tokio::time::sleep(HOLD).await;
                            HttpResponse::NotModified().finish()
                        }
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

/// Holds `count` requests on the bare server at `base` and reports its memory (process `pid`)
/// per waiting connection, beside Switchyard's in the same run.
pub async fn measure(base: &str, pid: u32, count: usize) -> Result<(), String> {
    let client = crate::agents::client();
    let key = SigningKey::from_bytes(&[7; 32]);
    let before = crate::rss_kib(pid);
    let path = profile_path(LONG_POLL_SECS);
    let mut held = Vec::with_capacity(count);
    for n in 0..count {
        pace(n).await;
        let request = client
            .get(format!("{base}{path}"))
            .header(
                "authorization",
                device_authorization(Uuid::new_v4(), &key, "GET", &path, b""),
            )
            .header("if-none-match", "\"bench-1/bench/b4/o0/k1\"");
        held.push(tokio::spawn(request.send()));
    }
    until_waiting(&client, &[base.to_owned()], count as u64).await?;
    crate::memory_line("actix-web alone", &[pid], &[before], &[count]);
    for request in held {
        request.abort();
    }
    Ok(())
}
