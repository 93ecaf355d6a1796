//! The mirror health view (`crate::domain::health`) as Prometheus gauges, so that ops can
//! alert on "the new npm mirror is unreachable from 40 % of machines in office-b" the way they
//! alert on anything else. The gauges are refreshed from the store at an interval (a scrape
//! must not wait on the database): the new values are set first and the label sets no longer
//! seen removed after, so a scrape never finds them missing. Only endpoints the environment's
//! published profiles name are exported: what machines report is theirs to say, and a label
//! a machine could choose would let it add series without end.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

use crate::domain::health;
use crate::publishing::{Publishing, PublishingError};
use crate::store::SharedStore;

/// Labels of each series: the environment, the machine role, the endpoint and its kind.
const LABELS: [&str; 4] = ["environment", "machine_role", "endpoint", "kind"];

/// The fleet's gauges.
#[derive(Debug, Clone)]
pub struct FleetMetrics {
    /// `switchyard_mirror_machines`: machines whose latest report probed the endpoint.
    machines: IntGaugeVec,
    /// `switchyard_mirror_reachable_machines`: how many of them reach it.
    reachable: IntGaugeVec,
    /// `switchyard_mirror_in_use_machines`: for a mirror with fallbacks and each fallback,
    /// how many machines have their clients set to it now.
    in_use: IntGaugeVec,
    /// `switchyard_mirror_latency_milliseconds`, by `quantile` (0.5, 0.9, 0.99).
    latency: IntGaugeVec,
    /// `switchyard_mirror_refreshed_timestamp_seconds`: when the gauges were last read.
    refreshed: IntGauge,
    /// The label sets set by the last refresh, to remove those the next one does not set.
    shown: Arc<Mutex<BTreeSet<Vec<String>>>>,
}

impl FleetMetrics {
    /// The gauges, registered in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let gauge = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(gauge.clone()))?;
                Ok(gauge)
            };
        let mut with_quantile = LABELS.to_vec();
        with_quantile.push("quantile");
        Ok(Self {
            machines: gauge(
                "switchyard_mirror_machines",
                "Machines (enrolled, not revoked) whose latest report probed the endpoint",
                &LABELS,
            )?,
            reachable: gauge(
                "switchyard_mirror_reachable_machines",
                "Machines whose latest probe reached the endpoint",
                &LABELS,
            )?,
            in_use: gauge(
                "switchyard_mirror_in_use_machines",
                "Machines whose clients are set to this mirror or fallback now (mirrors with fallbacks only)",
                &LABELS,
            )?,
            latency: gauge(
                "switchyard_mirror_latency_milliseconds",
                "Latency of the machines' latest answers from the endpoint (nearest rank)",
                &with_quantile,
            )?,
            refreshed: {
                let gauge = IntGauge::new(
                    "switchyard_mirror_refreshed_timestamp_seconds",
                    "When the mirror gauges were last read from the database (Unix time)",
                )?;
                registry.register(Box::new(gauge.clone()))?;
                gauge
            },
            shown: Arc::default(),
        })
    }

    /// Sets the gauges from every environment's machines as the store has them now.
    pub async fn refresh(
        &self,
        store: &SharedStore,
        publishing: &Publishing,
    ) -> Result<(), PublishingError> {
        let mut rows = Vec::new();
        for environment in store.environments().await? {
            let named = publishing.named_endpoints(&environment.name).await?;
            let devices = store.devices(&environment.name).await?;
            for row in health::mirror_health(&devices) {
                if named.contains(&(row.kind, row.endpoint.clone())) {
                    rows.push((environment.name.to_string(), row));
                }
            }
        }
        let as_gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let mut shown = BTreeSet::new();
        for (environment, row) in &rows {
            let labels = [
                environment.as_str(),
                row.machine_role.as_str(),
                row.endpoint.as_str(),
                row.kind.as_str(),
            ];
            self.machines
                .with_label_values(&labels)
                .set(as_gauge(row.machines));
            self.reachable
                .with_label_values(&labels)
                .set(as_gauge(row.reachable));
            match row.in_use {
                Some(in_use) => self.in_use.with_label_values(&labels).set(as_gauge(in_use)),
                None => {
                    let _ = self.in_use.remove_label_values(&labels);
                }
            }
            if let Some(latency) = row.latency_ms {
                for (quantile, value) in [
                    ("0.5", latency.p50),
                    ("0.9", latency.p90),
                    ("0.99", latency.p99),
                ] {
                    let mut labels = labels.to_vec();
                    labels.push(quantile);
                    self.latency
                        .with_label_values(&labels)
                        .set(i64::from(value));
                }
            }
            shown.insert(
                labels
                    .iter()
                    .map(|label| (*label).to_owned())
                    .collect::<Vec<_>>(),
            );
        }
        let mut last = self
            .shown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for gone in last.difference(&shown) {
            let labels: Vec<&str> = gone.iter().map(String::as_str).collect();
            let _ = self.machines.remove_label_values(&labels);
            let _ = self.reachable.remove_label_values(&labels);
            let _ = self.in_use.remove_label_values(&labels);
            for quantile in ["0.5", "0.9", "0.99"] {
                let mut labels = labels.clone();
                labels.push(quantile);
                let _ = self.latency.remove_label_values(&labels);
            }
        }
        *last = shown;
        self.refreshed.set(publishing.now().unix_timestamp());
        Ok(())
    }
}
