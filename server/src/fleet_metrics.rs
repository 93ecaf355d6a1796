//! The mirror health view (`crate::domain::health`) as Prometheus gauges, so that ops can
//! alert on "the new npm mirror is unreachable from 40 % of machines in office-b" the way they
//! alert on anything else. The gauges are refreshed from the store at an interval (a scrape
//! must not wait on the database), with every label set dropped and set again each time, so an
//! endpoint no machine probes any more disappears.

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::domain::health;
use crate::store::{SharedStore, StoreError};

/// Labels of each series: the environment, the machine role, the endpoint and its kind.
const LABELS: [&str; 4] = ["environment", "machine_role", "endpoint", "kind"];

/// The fleet's gauges.
#[derive(Debug, Clone)]
pub struct FleetMetrics {
    /// `switchyard_mirror_machines`: machines whose latest report probed the endpoint.
    machines: IntGaugeVec,
    /// `switchyard_mirror_reachable_machines`: how many of them reach it.
    reachable: IntGaugeVec,
    /// `switchyard_mirror_latency_milliseconds`, by `quantile` (0.5, 0.9, 0.99).
    latency: IntGaugeVec,
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
            latency: gauge(
                "switchyard_mirror_latency_milliseconds",
                "Latency of the machines' latest answers from the endpoint (nearest rank)",
                &with_quantile,
            )?,
        })
    }

    /// Sets the gauges from every environment's machines as the store has them now.
    pub async fn refresh(&self, store: &SharedStore) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        for environment in store.environments().await? {
            let devices = store.devices(&environment.name).await?;
            rows.push((environment.name, health::mirror_health(&devices)));
        }
        for gauge in [&self.machines, &self.reachable, &self.latency] {
            gauge.reset();
        }
        for (environment, endpoints) in rows {
            for row in endpoints {
                let labels = [
                    environment.as_str(),
                    row.machine_role.as_str(),
                    row.endpoint.as_str(),
                    row.kind.as_str(),
                ];
                let as_gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
                self.machines
                    .with_label_values(&labels)
                    .set(as_gauge(row.machines));
                self.reachable
                    .with_label_values(&labels)
                    .set(as_gauge(row.reachable));
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
            }
        }
        Ok(())
    }
}
