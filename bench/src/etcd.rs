//! The comparison peer: etcd watchers, each on its own HTTP connection to etcd's JSON gateway
//! (`POST /v3/watch`), woken by one `put`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures_util::StreamExt as _;
use reqwest::Client;
use serde_json::{json, Value};
use tokio::sync::{Barrier, OnceCell};

use crate::agents::Arrival;

/// What one watcher saw: created, then the event.
async fn watch(
    client: Client,
    endpoint: String,
    key: String,
    created: Arc<Barrier>,
    started: Arc<OnceCell<Instant>>,
) -> Result<Arrival, String> {
    let response = client
        .post(format!("{endpoint}/v3/watch"))
        .json(&json!({"create_request": {"key": STANDARD.encode(&key)}}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    let mut said_created = false;
    while let Some(chunk) = body.next().await {
        pending.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
        // The gateway sends one JSON object per message, each ending in a line break.
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let message: Value = match serde_json::from_slice(&line) {
                Ok(message) => message,
                Err(_) => continue,
            };
            let result = &message["result"];
            if result["created"] == true && !said_created {
                said_created = true;
                created.wait().await;
            } else if result["events"].is_array() {
                let received = Instant::now();
                let publish = *started.get().ok_or("an event before the put")?;
                let at = received.saturating_duration_since(publish);
                return Ok(Arrival {
                    received: at,
                    verified: at,
                });
            }
        }
    }
    Err("the watch ended without an event".into())
}

/// `count` watchers on one key; once all are created, `before_put`, then one `put`. The
/// arrivals, counted from just before the put, and the failures.
pub async fn wake(
    endpoint: &str,
    count: usize,
    run: usize,
    before_put: impl FnOnce(),
) -> (Vec<Arrival>, Vec<String>) {
    let client = crate::agents::client();
    let key = format!("switchyard-bench/{run}");
    let created = Arc::new(Barrier::new(count + 1));
    let started = Arc::new(OnceCell::new());
    let watchers: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(watch(
                client.clone(),
                endpoint.to_owned(),
                key.clone(),
                created.clone(),
                started.clone(),
            ))
        })
        .collect();
    let mut failures = Vec::new();
    // A watcher that fails before it is created never reaches the barrier: give up waiting.
    if tokio::time::timeout(Duration::from_secs(300), created.wait())
        .await
        .is_err()
    {
        failures.push("not every watcher was created within 300 s".to_owned());
    }
    before_put();
    let _ = started.set(Instant::now());
    let put = client
        .post(format!("{endpoint}/v3/kv/put"))
        .json(&json!({"key": STANDARD.encode(&key), "value": STANDARD.encode(run.to_string())}))
        .send()
        .await;
    if let Err(error) = put {
        failures.push(format!("put: {error}"));
    }
    let mut arrivals = Vec::with_capacity(count);
    for watcher in watchers {
        match watcher.await {
            Ok(Ok(arrival)) => arrivals.push(arrival),
            Ok(Err(error)) => failures.push(error),
            Err(error) => failures.push(error.to_string()),
        }
    }
    (arrivals, failures)
}
