//! A rollout over a simulated fleet: machines enroll with labels, long-poll their profile,
//! and report what they applied with a probe of the npm registry it names, as the real agent
//! does. A share of them (labelled `site=office-b`) cannot reach the new mirror. The rollout's
//! gates decide from those reports; this watches what they decide, how long it takes, which
//! machines ever got the new version, and what the mirror health view showed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::agents::{client, Agent, Fleet};

const OLD_REGISTRY: &str = "https://npm.corp.example/";
const NEW_REGISTRY: &str = "https://npm-new.corp.example/";

/// Longest a rollout may take before the run gives up on it.
const DEADLINE: Duration = Duration::from_secs(300);

/// What one simulated rollout came to.
#[derive(Debug)]
pub struct Outcome {
    /// The rollout as it ended (`GET .../rollouts/{id}`).
    pub rollout: Value,
    /// Its transitions from the audit trail, oldest first: action, seconds after the publish,
    /// and the gate's figures.
    pub transitions: Vec<(String, f64, BTreeMap<String, String>)>,
    /// Machines that ever held the new version: all, and those that cannot reach it.
    pub reached: (usize, usize),
    /// The mirror health view's row for the new mirror, the last time it was read while the
    /// rollout still ran.
    pub health: Option<Value>,
    /// How many machines, and how many cannot reach the new mirror.
    pub machines: (usize, usize),
}

/// Enrolls `count` machines, `failing_percent` of them in office-b where the new mirror is
/// unreachable, publishes the new mirror as a rollout (5 % then 25 % of the machines, each
/// wave soaking 3 s; at most 10 % failed probes; revert on failure) and follows it to its end.
pub async fn simulate(
    admin: &Admin,
    server: &str,
    count: usize,
    failing_percent: u8,
) -> Result<Outcome, String> {
    let failing = count * usize::from(failing_percent) / 100;
    let environment = format!(
        "rollout-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let role = format!("{environment}-role");
    admin.set_up(&environment, &role).await?;
    let revision = admin
        .save_draft(&environment, &json!({"npm": {"registry": OLD_REGISTRY}}))
        .await?;
    admin.publish(&environment, revision).await?;
    let servers = [server.to_owned()];
    let mut machines: Vec<(Agent, bool)> = Vec::new();
    for (site, size, cannot_reach) in [
        ("office-b", failing, true),
        ("office-a", count - failing, false),
    ] {
        if size == 0 {
            continue;
        }
        let token = admin
            .labelled_enrollment_token(&environment, &role, size, json!({"site": site}))
            .await?;
        let fleet = Fleet::enroll(&servers, &token, size, 50).await?;
        machines.extend(
            fleet
                .into_agents()
                .into_iter()
                .map(|agent| (agent, cannot_reach)),
        );
    }
    let http = client();
    // Everyone applied the first version and reaches its mirror.
    let reported: Vec<Result<(), String>> = stream::iter(&machines)
        .map(|(agent, _)| agent.report(&http, 1, OLD_REGISTRY, "reachable"))
        .buffer_unordered(50)
        .collect()
        .await;
    reported.into_iter().collect::<Result<Vec<()>, String>>()?;

    let reached = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for (n, (agent, cannot_reach)) in machines.into_iter().enumerate() {
        crate::agents::pace(n).await;
        let (http, reached) = (http.clone(), reached.clone());
        tasks.push(tokio::spawn(follow(agent, cannot_reach, http, reached)));
    }
    let started = Instant::now();
    let revision = admin
        .save_draft(&environment, &json!({"npm": {"registry": NEW_REGISTRY}}))
        .await?;
    let gate = json!({"min_reported": 20, "max_failed_probes_percent": 10});
    admin
        .call(
            Method::POST,
            &format!("/api/v1/environments/{environment}/profiles/baseline/publish"),
            Some(json!({
                "message": "new npm mirror",
                "draft_revision": revision,
                "rollout": {"revert_on_failure": true, "waves": [
                    {"percent": 5, "soak_secs": 3, "gate": gate},
                    {"percent": 25, "soak_secs": 3, "gate": gate},
                ]},
            })),
            None,
            StatusCode::CREATED,
        )
        .await?;
    let rollouts = admin
        .call(
            Method::GET,
            &format!("/api/v1/environments/{environment}/rollouts"),
            None,
            None,
            StatusCode::OK,
        )
        .await?;
    let id = rollouts[0]["id"].as_str().ok_or("no rollout")?.to_owned();
    let mut health = None;
    let rollout = loop {
        let rollout = admin
            .call(
                Method::GET,
                &format!("/api/v1/environments/{environment}/rollouts/{id}"),
                None,
                None,
                StatusCode::OK,
            )
            .await?;
        if rollout["state"] != "running" {
            break rollout;
        }
        health = new_mirror_row(admin, &environment).await?.or(health);
        if started.elapsed() > DEADLINE {
            for task in &tasks {
                task.abort();
            }
            return Err(format!(
                "the rollout was still running after {DEADLINE:?}: {rollout}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for task in &tasks {
        task.abort();
    }
    let transitions = transitions(admin, &environment, &rollout).await?;
    Ok(Outcome {
        rollout,
        transitions,
        reached: (
            reached.0.load(Ordering::SeqCst),
            reached.1.load(Ordering::SeqCst),
        ),
        health,
        machines: (count, failing),
    })
}

/// One machine: waits for a new profile, and reports each one it applies with a probe of the
/// registry it names (refused for a machine that cannot reach the new mirror). Counts itself
/// in `reached` the first time it holds the new mirror. Runs until aborted.
async fn follow(
    mut agent: Agent,
    cannot_reach: bool,
    http: reqwest::Client,
    reached: Arc<(AtomicUsize, AtomicUsize)>,
) {
    let mut counted = false;
    loop {
        let delivery = match agent.next(&http, 30).await {
            Ok(Some(delivery)) => delivery,
            Ok(None) => continue,
            // The server is busy or gone: the real agent backs off too.
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let registry = delivery
            .profile
            .npm
            .and_then(|npm| npm.registry)
            .unwrap_or_default();
        let unreachable = cannot_reach && registry == NEW_REGISTRY;
        if registry == NEW_REGISTRY && !counted {
            counted = true;
            reached.0.fetch_add(1, Ordering::SeqCst);
            if cannot_reach {
                reached.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let outcome = if unreachable { "refused" } else { "reachable" };
        let _ = agent
            .report(&http, delivery.baseline_version, &registry, outcome)
            .await;
    }
}

/// The mirror health view's row for the new mirror, if any machine probed it.
async fn new_mirror_row(admin: &Admin, environment: &str) -> Result<Option<Value>, String> {
    let health = admin
        .call(
            Method::GET,
            &format!("/api/v1/environments/{environment}/mirror-health"),
            None,
            None,
            StatusCode::OK,
        )
        .await?;
    Ok(health["endpoints"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["endpoint"] == NEW_REGISTRY))
        .cloned())
}

/// The rollout's transitions in the audit trail, oldest first, timed from its start.
async fn transitions(
    admin: &Admin,
    environment: &str,
    rollout: &Value,
) -> Result<Vec<(String, f64, BTreeMap<String, String>)>, String> {
    let page = admin
        .call(
            Method::GET,
            &format!("/api/v1/audit?environment={environment}&limit=500"),
            None,
            None,
            StatusCode::OK,
        )
        .await?;
    let start = parse_time(&rollout["started_at"]).ok_or("no start time")?;
    let mut found: Vec<(String, f64, BTreeMap<String, String>)> = page["events"]
        .as_array()
        .ok_or("no events")?
        .iter()
        .filter(|event| {
            event["action"]
                .as_str()
                .is_some_and(|action| action.starts_with("rollout."))
        })
        .map(|event| {
            let at = parse_time(&event["at"]).map_or(0.0, |at| (at - start).as_seconds_f64());
            let detail = serde_json::from_value(event["detail"].clone()).unwrap_or_default();
            (
                event["action"].as_str().unwrap_or_default().to_owned(),
                at,
                detail,
            )
        })
        .collect();
    found.reverse();
    Ok(found)
}

fn parse_time(value: &Value) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(
        value.as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}
