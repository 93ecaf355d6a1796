//! Simulated agents: each enrolls with a key of its own, then long-polls its profile over its
//! own connection and verifies what it receives, as the real agent does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures_util::stream::{self, StreamExt as _};
use reqwest::{Client, StatusCode};
use serde_json::json;
use switchyard_agent::server::device_authorization;
use switchyard_proto::delivery::{
    open_envelope, Delivery, Envelope, Expectations, TrustedKeys, DEFAULT_CLOCK_SKEW,
};
use switchyard_proto::devices::Enrollment;
use switchyard_proto::signing::encode_public_key;
use uuid::Uuid;

/// One simulated machine.
#[derive(Debug, Clone)]
pub struct Agent {
    id: Uuid,
    key: SigningKey,
    trusted: TrustedKeys,
    /// The server it talks to.
    server: String,
    /// What it holds: the envelope's ETag and sequence.
    etag: String,
    sequence: u64,
}

/// When one agent got the new profile, counted from the publish.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The response arrived.
    pub received: Duration,
    /// Its signature and claims were checked.
    pub verified: Duration,
}

/// A client that opens a connection per request in flight and never goes through a proxy.
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(30))
        // Before the server's keep-alive (5 s) closes them from its side.
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap_or_else(|_| Client::new())
}

impl Agent {
    async fn enroll(client: &Client, server: &str, token: &str) -> Result<Self, String> {
        let mut seed = [0_u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let key = SigningKey::from_bytes(&seed);
        let response = client
            .post(format!("{server}/api/v1/agent/enroll"))
            .json(&json!({
                "token": token,
                "public_key": encode_public_key(&key.verifying_key()),
                "hostname": "bench.corp.example",
                "os": "linux",
                "user": "bench",
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::CREATED {
            return Err(format!(
                "enroll: {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ));
        }
        let enrollment: Enrollment = response.json().await.map_err(|e| e.to_string())?;
        let trusted = TrustedKeys::from_chain(&enrollment.key_sets).map_err(|e| e.to_string())?;
        Ok(Self {
            id: enrollment.device_id,
            key,
            trusted,
            server: server.to_owned(),
            etag: String::new(),
            sequence: 0,
        })
    }

    /// Fetches the profile, waiting up to `wait` seconds for one newer than what it holds;
    /// `None` when nothing changed, else when the body was in (from `since`) and the answer.
    async fn receive(
        &self,
        client: &Client,
        wait: u64,
        since: Instant,
    ) -> Result<Option<Received>, String> {
        let path = profile_path(wait);
        let mut request = client.get(format!("{}{path}", self.server)).header(
            "authorization",
            device_authorization(self.id, &self.key, "GET", &path, b""),
        );
        if !self.etag.is_empty() {
            request = request.header("if-none-match", &self.etag);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(None),
            StatusCode::OK => {}
            status => return Err(format!("profile: {status}")),
        }
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        Ok(Some(Received {
            at: since.elapsed(),
            etag,
            body: body.to_vec(),
        }))
    }

    /// Verifies what it received as the real agent does, and holds it; how long that took.
    fn accept(&mut self, received: Received) -> Result<Duration, String> {
        let started = Instant::now();
        self.open(received)?;
        Ok(started.elapsed())
    }

    /// Waits up to `wait` seconds for a profile newer than the one it holds, verifies it and
    /// holds it; `None` when nothing changed.
    pub async fn next(&mut self, client: &Client, wait: u64) -> Result<Option<Delivery>, String> {
        match self.receive(client, wait, Instant::now()).await? {
            Some(received) => self.open(received).map(Some),
            None => Ok(None),
        }
    }

    /// Reports, as the real agent does after applying, baseline `version` applied with one
    /// probe of the npm registry `registry` that ended as `outcome` (`reachable`, `refused`...).
    pub async fn report(
        &self,
        client: &Client,
        version: u64,
        registry: &str,
        outcome: &str,
    ) -> Result<(), String> {
        let path = "/api/v1/agent/status";
        let body = json!({
            "sequence": self.sequence,
            "baseline_version": version,
            "overlay_version": 0,
            "targets": [{"target": "npm-user", "state": "ok"}],
            "probes": [{
                "endpoint": registry, "kind": "npm-registry", "outcome": outcome,
                "latency_ms": 3, "checked_at": switchyard_agent::clock::now()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            }],
        })
        .to_string()
        .into_bytes();
        let response = client
            .post(format!("{}{path}", self.server))
            .header(
                "authorization",
                device_authorization(self.id, &self.key, "POST", path, &body),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(()),
            status => Err(format!("report: {status}")),
        }
    }

    /// Verifies what it received as the real agent does, and holds it.
    fn open(&mut self, received: Received) -> Result<Delivery, String> {
        let envelope: Envelope =
            serde_json::from_slice(&received.body).map_err(|e| e.to_string())?;
        let delivery = open_envelope(
            &envelope,
            &self.trusted,
            &Expectations {
                device_id: self.id,
                now: switchyard_agent::clock::now(),
                last_sequence: (self.sequence > 0).then_some(self.sequence),
                clock_skew: DEFAULT_CLOCK_SKEW,
            },
        )
        .map_err(|e| format!("refused: {e}"))?;
        self.etag = received.etag;
        self.sequence = delivery.sequence;
        Ok(delivery)
    }
}

/// A profile as it arrived, not yet verified.
#[derive(Debug)]
struct Received {
    /// When its body was in.
    at: Duration,
    etag: String,
    body: Vec<u8>,
}

/// Simulated agents, enrolled and holding the current profile.
#[derive(Debug)]
pub struct Fleet {
    agents: Vec<Agent>,
    client: Client,
}

impl Fleet {
    /// Enrolls `count` agents with `token`, spread over `servers`, `parallel` at a time, and
    /// has each fetch the current profile once.
    pub async fn enroll(
        servers: &[String],
        token: &str,
        count: usize,
        parallel: usize,
    ) -> Result<Self, String> {
        let client = client();
        let enrolled: Vec<Result<Agent, String>> = stream::iter(0..count)
            .map(|n| {
                let (client, server) = (client.clone(), servers[n % servers.len()].clone());
                async move {
                    let mut agent = Agent::enroll(&client, &server, token).await?;
                    let current = agent.receive(&client, 0, Instant::now()).await?;
                    agent.accept(current.ok_or("no profile yet")?)?;
                    Ok(agent)
                }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let agents = enrolled.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(Self { agents, client })
    }

    /// A signed `Authorization` value for agent `n` to `GET path`.
    pub fn authorization(&self, n: usize, path: &str) -> String {
        let agent = &self.agents[n];
        device_authorization(agent.id, &agent.key, "GET", path, b"")
    }

    /// Agent `n`'s profile as the server sends it now: its ETag and body.
    pub async fn current(&self, n: usize) -> Result<(String, Vec<u8>), String> {
        // Asked as if it held nothing, so that the answer is the whole envelope.
        let fresh = Agent {
            etag: String::new(),
            ..self.agents[n].clone()
        };
        let received = fresh
            .receive(&self.client, 0, Instant::now())
            .await?
            .ok_or("no profile")?;
        Ok((received.etag, received.body))
    }

    /// The agents, to drive one by one.
    pub fn into_agents(self) -> Vec<Agent> {
        self.agents
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Every agent long-polls; once all wait, `publish` runs. Returns when each agent has the
    /// new profile (or failed), with the arrivals counted from just before `publish`, and the
    /// failures.
    pub async fn wake<F, Fut>(
        &mut self,
        servers: &[String],
        publish: F,
    ) -> (Vec<Arrival>, Vec<String>)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let started = Arc::new(tokio::sync::OnceCell::<Instant>::new());
        let agents = std::mem::take(&mut self.agents);
        let mut waiting = Vec::with_capacity(agents.len());
        for (n, agent) in agents.into_iter().enumerate() {
            pace(n).await;
            let (client, started) = (self.client.clone(), started.clone());
            waiting.push(tokio::spawn(async move {
                let anchor = Instant::now();
                let outcome = match agent.receive(&client, LONG_POLL_SECS, anchor).await {
                    Ok(Some(received)) => match started.get() {
                        // Counted from the publish.
                        Some(publish) => Ok(Received {
                            at: (anchor + received.at).saturating_duration_since(*publish),
                            ..received
                        }),
                        None => Err("answered before the publish".to_owned()),
                    },
                    Ok(None) => Err("the wait ran out".to_owned()),
                    Err(error) => Err(error),
                };
                (agent, outcome)
            }));
        }
        let mut failures = Vec::new();
        if let Err(error) = until_waiting(&self.client, servers, waiting.len() as u64).await {
            failures.push(error);
        }
        let _ = started.set(Instant::now());
        if let Err(error) = publish().await {
            failures.push(format!("publish: {error}"));
        }
        let mut received = Vec::with_capacity(waiting.len());
        for task in waiting {
            match task.await {
                Ok(answer) => received.push(answer),
                Err(error) => failures.push(error.to_string()),
            }
        }
        // Verified once every answer is in: each real agent verifies on its own machine, so
        // here its verification is added to its own arrival, not to everyone else's.
        let mut arrivals = Vec::with_capacity(received.len());
        for (mut agent, outcome) in received {
            match outcome.and_then(|answer| {
                let at = answer.at;
                agent.accept(answer).map(|took| Arrival {
                    received: at,
                    verified: at + took,
                })
            }) {
                Ok(arrival) => arrivals.push(arrival),
                Err(error) => failures.push(error),
            }
            self.agents.push(agent);
        }
        (arrivals, failures)
    }
}

/// How long each agent's long-poll may wait.
pub const LONG_POLL_SECS: u64 = 120;

/// The path of a profile request that waits up to `wait` seconds.
pub fn profile_path(wait: u64) -> String {
    format!("/api/v1/agent/profile?wait={wait}")
}

/// Paces the opening of connection `n`: a few hundred at a time. Ten thousand connections
/// opened in the same instant by one process sharing two cores with the servers leave some
/// requests unsent past the servers' 5 s limit for a request head (408); they all park before
/// the publish either way.
pub async fn pace(n: usize) {
    if n > 0 && n.is_multiple_of(500) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 100 s) until `servers` together count `expected` requests parked.
pub async fn until_waiting(
    client: &Client,
    servers: &[String],
    expected: u64,
) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(100);
    loop {
        let parked = waiting_on(client, servers).await;
        if parked >= expected {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!("only {parked} of {expected} waiting after 100 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many machines wait in a long-poll on `servers`, by their `switchyard_agents_waiting`.
async fn waiting_on(client: &Client, servers: &[String]) -> u64 {
    let mut total = 0;
    for server in servers {
        let Ok(response) = client.get(format!("{server}/metrics")).send().await else {
            continue;
        };
        let text = response.text().await.unwrap_or_default();
        total += text
            .lines()
            .find_map(|line| line.strip_prefix("switchyard_agents_waiting "))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}
