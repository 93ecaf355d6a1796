use serde_json::json;
use switchyard_proto::devices::{MachineFact, ProbeOutcome};
use switchyard_proto::AuditAction;
use time::Duration;

use super::*;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(seconds)
}

fn rollout(plan: serde_json::Value) -> RolloutRecord {
    RolloutRecord {
        id: Uuid::from_u128(7),
        environment: EnvironmentName::parse("dev").unwrap(),
        target: ProfileTarget::Baseline,
        from_version: 3,
        to_version: 4,
        plan: serde_json::from_value(plan).unwrap(),
        state: RolloutState::Running,
        wave: 0,
        wave_started_at: at(0),
        revision: 1,
        started_by: "olivia".into(),
        started_at: at(0),
        updated_at: at(0),
        reason: "start".into(),
        promotion_requested_by: None,
        revert_version: None,
    }
}

fn labels(value: serde_json::Value) -> Labels {
    serde_json::from_value(value).unwrap()
}

fn machines(count: u128) -> Vec<Uuid> {
    (1..=count).map(|n| Uuid::from_u128(n * 7919)).collect()
}

#[test]
fn a_growing_share_keeps_the_machines_it_had_and_each_rollout_picks_its_own() {
    let ids = machines(1000);
    let mut plan = rollout(json!({"waves": [
        {"percent": 5, "soak_secs": 0}, {"percent": 25, "soak_secs": 0}
    ]}));
    let none = Labels::default();
    let first: BTreeSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| plan.includes(*id, &none))
        .collect();
    plan.wave = 1;
    let second: BTreeSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| plan.includes(*id, &none))
        .collect();
    assert!(first.is_subset(&second));
    assert!((25..=80).contains(&first.len()), "{}", first.len());
    assert!((190..=310).contains(&second.len()), "{}", second.len());
    let other = RolloutRecord {
        id: Uuid::from_u128(8),
        ..plan.clone()
    };
    let picked: BTreeSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| other.includes(*id, &none))
        .collect();
    assert_ne!(picked, second);
    for id in &ids {
        assert_eq!(share_bucket(plan.id, *id), share_bucket(plan.id, *id));
        assert!(share_bucket(plan.id, *id) < 10_000);
    }
}

#[test]
fn a_wave_takes_named_machines_and_labelled_ones_and_nobody_once_it_ends() {
    let named = Uuid::from_u128(1);
    let mut plan = rollout(json!({"waves": [
        {"machines": [named], "soak_secs": 0},
        {"percent": 100, "labels": {"site": "office-b"}, "soak_secs": 0}
    ]}));
    let office_b = labels(json!({"site": "office-b", "team": "web"}));
    let office_a = labels(json!({"site": "office-a"}));
    assert!(plan.includes(named, &Labels::default()));
    assert!(!plan.includes(Uuid::from_u128(2), &office_b));
    plan.wave = 1;
    assert!(plan.includes(named, &office_a), "earlier waves stay in");
    assert!(plan.includes(Uuid::from_u128(2), &office_b));
    assert!(!plan.includes(Uuid::from_u128(3), &office_a));
    for state in [
        RolloutState::Completed,
        RolloutState::Aborted,
        RolloutState::Reverted,
    ] {
        plan.state = state;
        assert!(!plan.includes(named, &office_b), "{state:?}");
    }
}

#[test]
fn gates_promote_wave_by_wave_and_complete_after_the_last() {
    let plan = rollout(json!({"waves": [
        {"percent": 5, "soak_secs": 60}, {"percent": 50, "soak_secs": 60}
    ]}));
    let second = plan
        .moved(Move::Pass, "system", at(90), "passed".into())
        .unwrap();
    assert_eq!(second.action, AuditAction::RolloutPromote);
    assert_eq!(
        (
            second.after.wave,
            second.after.wave_started_at,
            second.after.revision
        ),
        (1, at(90), 2)
    );
    let done = second
        .after
        .moved(Move::Pass, "system", at(200), "passed".into())
        .unwrap();
    assert_eq!(done.action, AuditAction::RolloutComplete);
    assert_eq!(done.after.state, RolloutState::Completed);
    assert!(!done.reverts);
    let refused = done
        .after
        .moved(Move::Pass, "system", at(300), "again".into())
        .unwrap_err();
    assert_eq!(refused.to_string(), "a completed rollout cannot be passed");
}

#[test]
fn a_failing_gate_halts_or_reverts_as_planned_and_ops_move_what_is_allowed() {
    let halting = rollout(json!({"waves": [{"percent": 5, "soak_secs": 60}]}));
    let halted = halting
        .moved(Move::Fail, "system", at(10), "failed".into())
        .unwrap();
    assert_eq!(
        (halted.after.state, halted.action, halted.reverts),
        (RolloutState::Halted, AuditAction::RolloutHalt, false)
    );
    assert!(halted
        .after
        .moved(Move::Fail, "system", at(11), "again".into())
        .is_err());
    assert!(halted
        .after
        .moved(Move::Pause, "olivia", at(11), "pause".into())
        .is_err());
    let resumed = halted
        .after
        .moved(Move::Resume, "olivia", at(20), "fixed the mirror".into())
        .unwrap();
    assert_eq!(resumed.after.state, RolloutState::Running);
    assert_eq!(
        resumed.after.wave_started_at,
        at(20),
        "the wave soaks again"
    );

    let reverting =
        rollout(json!({"waves": [{"percent": 5, "soak_secs": 60}], "revert_on_failure": true}));
    let reverted = reverting
        .moved(Move::Fail, "system", at(10), "failed".into())
        .unwrap();
    assert_eq!(
        (reverted.after.state, reverted.action, reverted.reverts),
        (RolloutState::Reverted, AuditAction::RolloutRevert, true)
    );

    let paused = reverting
        .moved(Move::Pause, "olivia", at(5), "wait".into())
        .unwrap();
    assert_eq!(paused.after.state, RolloutState::Paused);
    assert!(
        paused
            .after
            .moved(Move::Pass, "system", at(6), "gate".into())
            .is_err(),
        "a paused rollout is not promoted by its gate"
    );
    let asked = paused
        .after
        .moved(Move::RequestPromotion, "olivia", at(7), "looks fine".into())
        .unwrap();
    assert_eq!(
        asked.after.promotion_requested_by.as_deref(),
        Some("olivia")
    );
    assert_eq!(asked.after.state, RolloutState::Paused);
    let promoted = asked
        .after
        .moved(Move::Promote, "peter", at(8), "agreed".into())
        .unwrap();
    assert_eq!(promoted.after.state, RolloutState::Completed);
    assert_eq!(promoted.after.promotion_requested_by, None);
    let aborted = paused
        .after
        .moved(Move::Abort, "olivia", at(9), "wrong mirror".into())
        .unwrap();
    assert_eq!(
        (aborted.after.state, aborted.reverts),
        (RolloutState::Aborted, true)
    );
}

fn probe(endpoint: &str, outcome: ProbeOutcome) -> EndpointProbe {
    EndpointProbe {
        endpoint: MachineFact::parse(endpoint).unwrap(),
        kind: EndpointKind::NpmRegistry,
        outcome,
        status: None,
        latency_ms: None,
        checked_at: at(0),
        message: None,
    }
}

/// A machine that has not reported yet.
fn silent(id: Uuid) -> Observed {
    Observed {
        id,
        labels: Labels::default(),
        report: None,
    }
}

fn observed(id: Uuid, version: u64, failed: bool, probes: Vec<EndpointProbe>) -> Observed {
    Observed {
        id,
        labels: Labels::default(),
        report: Some(Observation {
            version,
            failed,
            probes,
            reported_at: at(1),
        }),
    }
}

#[test]
fn the_gate_counts_the_cohorts_reports_on_the_new_version_and_the_probes_it_changed() {
    let named: Vec<Uuid> = machines(4);
    let plan = rollout(json!({"waves": [{"machines": named, "soak_secs": 60,
        "gate": {"min_reported": 3, "max_failed_probes_percent": 40}}]}));
    let from: Profile =
        serde_json::from_value(json!({"npm": {"registry": "https://old.example/"}})).unwrap();
    let to: Profile =
        serde_json::from_value(json!({"npm": {"registry": "https://new.example/"}})).unwrap();
    let changed = changed_endpoints(&from.normalized(), &to.normalized());
    assert_eq!(
        changed,
        BTreeSet::from([(EndpointKind::NpmRegistry, "https://new.example/".to_owned())])
    );
    let good = || vec![probe("https://new.example/", ProbeOutcome::Reachable)];
    let outsider = Uuid::from_u128(999_999);
    let mut fleet = vec![
        observed(named[0], 4, false, good()),
        // Still on the old version: not counted.
        observed(
            named[1],
            3,
            true,
            vec![probe("https://new.example/", ProbeOutcome::Refused)],
        ),
        // Not in the cohort: not counted.
        observed(outsider, 4, true, vec![]),
    ];
    let figures = gate(&plan, &fleet, &changed, at(100));
    assert_eq!((figures.cohort, figures.reported), (2, 1));
    assert_eq!(figures.verdict, GateVerdict::Waiting, "{}", figures.reason);

    fleet.push(observed(named[2], 4, false, good()));
    fleet.push(observed(
        named[3],
        4,
        false,
        vec![
            probe("https://new.example/", ProbeOutcome::Reachable),
            // An endpoint the version did not change: not the gate's business.
            probe("https://other.example/", ProbeOutcome::Refused),
        ],
    ));
    let early = gate(&plan, &fleet, &changed, at(30));
    assert_eq!(early.verdict, GateVerdict::Waiting);
    assert!(!early.soaked);
    let figures = gate(&plan, &fleet, &changed, at(60));
    assert_eq!(figures.verdict, GateVerdict::Passing, "{}", figures.reason);
    assert_eq!(
        (figures.reported, figures.probes, figures.failed_probes),
        (3, 3, 0)
    );

    fleet[0] = observed(
        named[0],
        4,
        false,
        vec![probe("https://new.example/", ProbeOutcome::Timeout)],
    );
    fleet[3] = observed(
        named[2],
        4,
        false,
        vec![probe("https://new.example/", ProbeOutcome::Refused)],
    );
    let figures = gate(&plan, &fleet, &changed, at(10));
    assert_eq!(figures.verdict, GateVerdict::Failing, "{}", figures.reason);
    assert_eq!((figures.probes, figures.failed_probes), (3, 2));
    assert!(
        figures.reason.contains("2 of 3 probes"),
        "{}",
        figures.reason
    );
}

#[test]
fn a_failed_apply_fails_the_gate_before_the_soak_ends() {
    let named = machines(3);
    let plan = rollout(json!({"waves": [{"machines": named, "soak_secs": 3600,
        "gate": {"min_reported": 3, "max_failed_applies_percent": 34}}]}));
    let changed = BTreeSet::new();
    let one_failed = vec![
        observed(named[0], 4, true, vec![]),
        silent(named[1]),
        silent(named[2]),
    ];
    // One failure is 33 % of the three reports needed: within 34 %, so the gate waits.
    assert_eq!(
        gate(&plan, &one_failed, &changed, at(1)).verdict,
        GateVerdict::Waiting
    );
    let two_failed = vec![
        observed(named[0], 4, true, vec![]),
        observed(named[1], 4, true, vec![]),
        silent(named[2]),
    ];
    let figures = gate(&plan, &two_failed, &changed, at(1));
    assert_eq!(figures.verdict, GateVerdict::Failing, "{}", figures.reason);
    assert_eq!(figures.failed_applies, 2);
}

#[test]
fn one_flaky_probe_does_not_fail_a_wave_that_can_still_pass() {
    let named = machines(20);
    let plan = rollout(json!({"waves": [{"machines": named, "soak_secs": 60,
        "gate": {"min_reported": 10, "max_failed_probes_percent": 10}}]}));
    let from: Profile =
        serde_json::from_value(json!({"npm": {"registry": "https://old.example/"}})).unwrap();
    let to: Profile =
        serde_json::from_value(json!({"npm": {"registry": "https://new.example/"}})).unwrap();
    let changed = changed_endpoints(&from, &to);
    let mut fleet: Vec<Observed> = named.iter().map(|id| silent(*id)).collect();
    fleet[0] = observed(
        named[0],
        4,
        false,
        vec![probe("https://new.example/", ProbeOutcome::Timeout)],
    );
    let first = gate(&plan, &fleet, &changed, at(5));
    assert_eq!(first.verdict, GateVerdict::Waiting, "{}", first.reason);
    // Three failures out of the 20 the cohort could still give: over 10 %, whatever comes.
    for (n, machine) in named.iter().enumerate().take(3).skip(1) {
        fleet[n] = observed(
            *machine,
            4,
            false,
            vec![probe("https://new.example/", ProbeOutcome::Refused)],
        );
    }
    assert_eq!(
        gate(&plan, &fleet, &changed, at(5)).verdict,
        GateVerdict::Failing
    );
}

#[test]
fn a_later_wave_waits_for_its_own_machines_and_reads_only_fresh_reports() {
    let named = machines(4);
    let mut plan = rollout(json!({"waves": [
        {"machines": [named[0], named[1]], "soak_secs": 0},
        {"machines": [named[2], named[3]], "soak_secs": 0, "gate": {"min_reported": 2}}
    ]}));
    plan.wave = 1;
    plan.wave_started_at = at(10);
    let changed = BTreeSet::new();
    // The first wave's machines reported before this wave began: they do not count again.
    let mut fleet: Vec<Observed> = named[..2]
        .iter()
        .map(|id| observed(*id, 4, true, vec![]))
        .chain(named[2..].iter().map(|id| silent(*id)))
        .collect();
    let figures = gate(&plan, &fleet, &changed, at(20));
    assert_eq!((figures.added, figures.reported), (2, 0));
    assert_eq!(figures.verdict, GateVerdict::Waiting, "{}", figures.reason);
    for (n, id) in named.iter().enumerate().skip(2) {
        let mut machine = observed(*id, 4, false, vec![]);
        machine.report.as_mut().unwrap().reported_at = at(11);
        fleet[n] = machine;
    }
    let figures = gate(&plan, &fleet, &changed, at(20));
    assert_eq!(figures.verdict, GateVerdict::Passing, "{}", figures.reason);
    assert_eq!(figures.reported, 2);
}

#[test]
fn a_changed_proxy_puts_every_endpoint_under_watch() {
    let from: Profile = serde_json::from_value(json!({
        "npm": {"registry": "https://npm.example/"},
        "proxy": {"http": "http://proxy.example:3128"}
    }))
    .unwrap();
    let same = changed_endpoints(&from, &from);
    assert!(same.is_empty());
    let to: Profile = serde_json::from_value(json!({
        "npm": {"registry": "https://npm.example/"},
        "proxy": {"http": "http://proxy.example:3128", "no-proxy": ["npm.example"]}
    }))
    .unwrap();
    let changed = changed_endpoints(&from.normalized(), &to.normalized());
    assert!(
        changed.contains(&(EndpointKind::NpmRegistry, "https://npm.example/".to_owned())),
        "{changed:?}"
    );
}
