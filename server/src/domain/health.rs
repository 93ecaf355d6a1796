//! Mirror health: how the machines of an environment reach the endpoints their profiles name,
//! from each machine's latest probes (the agent's `probe` module sends them with its status
//! report). Only machines still enrolled count, and only their latest report. For a mirror with
//! fallbacks, each row also counts the machines whose clients are set to it now (`in_use`).

use std::collections::BTreeMap;

use switchyard_proto::devices::{EndpointHealth, EndpointKind, Percentiles, StatusReport};
use time::OffsetDateTime;

use super::devices::DeviceRecord;

/// One row per endpoint, kind and machine role, by endpoint. A machine counts under the role
/// it has now.
pub fn mirror_health(devices: &[DeviceRecord]) -> Vec<EndpointHealth> {
    type Key = (String, EndpointKind, String);
    struct Tally {
        machines: u64,
        reachable: u64,
        outcomes: BTreeMap<String, u64>,
        latencies: Vec<u32>,
        last_checked_at: OffsetDateTime,
        in_use: Option<u64>,
    }
    let mut rows: BTreeMap<Key, Tally> = BTreeMap::new();
    for device in devices.iter().filter(|device| device.revoked_at.is_none()) {
        let Some(report) = device
            .last_report
            .as_ref()
            .and_then(|record| serde_json::from_str::<StatusReport>(&record.report).ok())
        else {
            continue;
        };
        // One machine counts once per endpoint, whatever its report repeats.
        let mut seen = std::collections::BTreeSet::new();
        for probe in &report.probes {
            if !seen.insert((probe.endpoint.as_str(), probe.kind)) {
                continue;
            }
            let key = (
                probe.endpoint.as_str().to_owned(),
                probe.kind,
                device.machine_role.to_string(),
            );
            let tally = rows.entry(key).or_insert_with(|| Tally {
                machines: 0,
                reachable: 0,
                outcomes: BTreeMap::new(),
                latencies: Vec::new(),
                last_checked_at: probe.checked_at,
                in_use: None,
            });
            tally.machines += 1;
            tally.reachable += u64::from(probe.outcome.reachable());
            *tally
                .outcomes
                .entry(probe.outcome.as_str().to_owned())
                .or_default() += 1;
            tally.latencies.extend(probe.latency_ms);
            tally.last_checked_at = tally.last_checked_at.max(probe.checked_at);
        }
        // A mirror with fallbacks, and each fallback, counts the machines set to it now: each
        // machine once per endpoint, and only on the endpoints it probed itself.
        let mut counted = std::collections::BTreeSet::new();
        for mirror in &report.mirrors {
            let members = std::iter::once(&mirror.primary).chain(&mirror.fallbacks);
            for member in members {
                if !seen.contains(&(member.as_str(), mirror.kind))
                    || !counted.insert((member.as_str(), mirror.kind))
                {
                    continue;
                }
                let key = (
                    member.as_str().to_owned(),
                    mirror.kind,
                    device.machine_role.to_string(),
                );
                if let Some(tally) = rows.get_mut(&key) {
                    *tally.in_use.get_or_insert(0) += u64::from(*member == mirror.in_use);
                }
            }
        }
    }
    rows.into_iter()
        .map(
            |((endpoint, kind, machine_role), mut tally)| EndpointHealth {
                endpoint,
                kind,
                machine_role,
                machines: tally.machines,
                reachable: tally.reachable,
                outcomes: tally.outcomes,
                latency_ms: percentiles(&mut tally.latencies),
                last_checked_at: tally.last_checked_at,
                in_use: tally.in_use,
            },
        )
        .collect()
}

/// The 50th, 90th and 99th percentiles of `values` by nearest rank; none for no values.
pub fn percentiles(values: &mut [u32]) -> Option<Percentiles> {
    values.sort_unstable();
    let rank = |percent: usize| -> Option<u32> {
        // Nearest rank: the smallest value with at least `percent` % of values at or below it.
        let index = (percent * values.len()).div_ceil(100).checked_sub(1)?;
        values.get(index).copied()
    };
    Some(Percentiles {
        p50: rank(50)?,
        p90: rank(90)?,
        p99: rank(99)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::devices::{EndpointProbe, MachineFact, MirrorInUse, ProbeOutcome};
    use switchyard_proto::{EnvironmentName, MachineRoleName};
    use uuid::Uuid;

    fn device(report: serde_json::Value) -> DeviceRecord {
        let at = OffsetDateTime::UNIX_EPOCH;
        DeviceRecord {
            id: Uuid::new_v4(),
            public_key: String::new(),
            hostname: "dev-07".into(),
            os: "linux".into(),
            username: "ada".into(),
            environment: EnvironmentName::parse("dev").unwrap(),
            machine_role: MachineRoleName::parse("backend").unwrap(),
            enrollment_token: Uuid::nil(),
            enrolled_at: at,
            last_seen_at: None,
            revoked_at: None,
            labels: Default::default(),
            last_report: Some(super::super::devices::ReportRecord {
                report: report.to_string(),
                reported_at: at,
                sequence: 1,
                baseline_version: 1,
                overlay_version: 0,
                healthy: true,
                witnessed: None,
            }),
        }
    }

    /// A machine counts once on each member of a mirror's group, and only where it probed.
    #[test]
    fn in_use_counts_each_machine_once_where_it_probed() {
        let fact = |text: &str| MachineFact::parse(text).unwrap();
        let probe = |endpoint: &str| EndpointProbe {
            endpoint: fact(endpoint),
            kind: EndpointKind::NpmRegistry,
            outcome: ProbeOutcome::Reachable,
            status: Some(200),
            latency_ms: Some(3),
            checked_at: OffsetDateTime::UNIX_EPOCH,
            message: None,
        };
        let mirror = |in_use: &str| MirrorInUse {
            kind: EndpointKind::NpmRegistry,
            primary: fact("https://a/"),
            fallbacks: vec![fact("https://b/")],
            in_use: fact(in_use),
            since: OffsetDateTime::UNIX_EPOCH,
            reason: None,
        };
        let honest = device(serde_json::json!({
            "sequence": 1, "baseline_version": 1, "overlay_version": 0, "targets": [],
            "probes": [probe("https://a/"), probe("https://b/")],
            "mirrors": [mirror("https://b/")]
        }));
        // Says the same mirror twice, and is set to a fallback it never probed.
        let repeating = device(serde_json::json!({
            "sequence": 1, "baseline_version": 1, "overlay_version": 0, "targets": [],
            "probes": [probe("https://a/")],
            "mirrors": [mirror("https://a/"), mirror("https://a/"), mirror("https://b/")]
        }));
        let rows = mirror_health(&[honest, repeating]);
        let row = |endpoint: &str| rows.iter().find(|r| r.endpoint == endpoint).unwrap();
        assert_eq!(
            (row("https://a/").machines, row("https://a/").in_use),
            (2, Some(1))
        );
        assert_eq!(
            (row("https://b/").machines, row("https://b/").in_use),
            (1, Some(1))
        );
    }

    #[test]
    fn percentiles_are_nearest_ranks() {
        assert_eq!(percentiles(&mut []), None);
        let one = percentiles(&mut [7]).unwrap();
        assert_eq!((one.p50, one.p90, one.p99), (7, 7, 7));
        let mut hundred: Vec<u32> = (1..=100).rev().collect();
        let all = percentiles(&mut hundred).unwrap();
        assert_eq!((all.p50, all.p90, all.p99), (50, 90, 99));
        let few = percentiles(&mut [30, 10, 20]).unwrap();
        assert_eq!((few.p50, few.p90, few.p99), (20, 30, 30));
    }
}
