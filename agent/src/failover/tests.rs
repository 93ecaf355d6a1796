use super::*;
use switchyard_proto::devices::ProbeOutcome;

const PRIMARY: &str = "http://127.0.0.1:4873/";
const FALLBACK: &str = "http://127.0.0.1:4874/";
const SECOND: &str = "http://127.0.0.1:4875/";

fn at(minute: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(minute)
}

fn profile(fallbacks: &[&str]) -> Profile {
    serde_json::from_value(serde_json::json!({
        "npm": {"registry": "http://127.0.0.1:4873", "registry-fallbacks": fallbacks},
        "pip": {"index-url": "http://127.0.0.1:8080/simple/"}
    }))
    .unwrap()
}

fn probe(endpoint: &str, answered: bool) -> EndpointProbe {
    EndpointProbe {
        endpoint: MachineFact::parse(endpoint).unwrap(),
        kind: EndpointKind::NpmRegistry,
        outcome: match answered {
            true => ProbeOutcome::Reachable,
            false => ProbeOutcome::Refused,
        },
        status: answered.then_some(200),
        latency_ms: None,
        checked_at: at(0),
        message: None,
    }
}

/// One round as the agent runs it: every candidate probed, then the one in use again at once
/// if that was its first failure in a row. `answers` says how each request to a candidate
/// ends. Answers the number of moves made.
fn round(mirrors: &mut Mirrors, minute: i64, answers: &mut impl FnMut(&str) -> bool) -> usize {
    let candidates = mirrors.choices[0].candidates.clone();
    let batch: Vec<_> = candidates.iter().map(|c| probe(c, answers(c))).collect();
    let mut moves = usize::from(mirrors.observe(&batch, at(minute)));
    let again: Vec<_> = mirrors
        .to_confirm()
        .into_iter()
        .map(|(_, c)| probe(c, answers(c)))
        .collect();
    if !again.is_empty() {
        moves += usize::from(mirrors.observe(&again, at(minute)));
    }
    moves
}

fn in_use(mirrors: &Mirrors) -> &str {
    &mirrors.choices[0].in_use
}

#[test]
fn only_mirrors_with_fallbacks_are_chosen_for_and_each_starts_on_the_mirror() {
    let mirrors = Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK]), at(0));
    assert_eq!(
        mirrors.choices.len(),
        1,
        "pip names no fallback: {mirrors:?}"
    );
    let choice = &mirrors.choices[0];
    assert_eq!(choice.candidates, [PRIMARY, FALLBACK]);
    assert_eq!(
        (choice.in_use.as_str(), choice.reason.as_deref()),
        (PRIMARY, None)
    );
    assert!(!mirrors.failed_over());
    assert!(
        Mirrors::for_profile(Mirrors::default(), &profile(&[]), at(0))
            .choices
            .is_empty()
    );
}

#[test]
fn a_mirror_that_is_down_is_left_in_the_round_that_finds_it_and_taken_back_after_three_answers() {
    let mut mirrors = Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK]), at(0));
    let mut down = |c: &str| c != PRIMARY;
    assert_eq!(round(&mut mirrors, 1, &mut down), 1);
    assert_eq!(in_use(&mirrors), FALLBACK);
    assert!(mirrors.failed_over());
    let written = mirrors.applied_to(&profile(&[FALLBACK]));
    assert_eq!(written.npm.unwrap().registry.as_deref(), Some(FALLBACK));
    let report = mirrors.report();
    assert_eq!(report[0].in_use.as_str(), FALLBACK);
    assert_eq!(report[0].primary.as_str(), PRIMARY);
    assert_eq!(report[0].since, at(1));
    assert!(report[0]
        .reason
        .as_ref()
        .unwrap()
        .as_str()
        .contains("did not answer 2 probes"));

    let mut up = |_: &str| true;
    assert_eq!(round(&mut mirrors, 2, &mut up), 0);
    assert_eq!(round(&mut mirrors, 3, &mut up), 0);
    assert_eq!(in_use(&mirrors), FALLBACK, "two answers are not enough");
    assert_eq!(round(&mut mirrors, 4, &mut up), 1);
    assert_eq!(in_use(&mirrors), PRIMARY);
    assert_eq!(
        mirrors.applied_to(&profile(&[FALLBACK])),
        profile(&[FALLBACK]),
        "on the mirror, the profile is written as published"
    );
}

#[test]
fn one_failure_that_the_next_probe_does_not_repeat_moves_nothing() {
    let mut mirrors = Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK]), at(0));
    let mut requests = 0;
    let mut blip = |c: &str| {
        requests += 1;
        c != PRIMARY || requests != 1
    };
    assert_eq!(round(&mut mirrors, 1, &mut blip), 0);
    assert_eq!(in_use(&mirrors), PRIMARY);
}

#[test]
fn an_endpoint_that_answers_every_other_time_moves_machines_at_most_once() {
    // Every other request to the mirror fails, wherever it falls in the rounds.
    let mut mirrors = Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK]), at(0));
    let mut requests = 0;
    let mut alternating = |c: &str| {
        if c != PRIMARY {
            return true;
        }
        requests += 1;
        requests % 2 == 0
    };
    let moves: usize = (1..=30)
        .map(|minute| round(&mut mirrors, minute, &mut alternating))
        .sum();
    assert!(moves <= 1, "{moves} moves");

    // Every other round the mirror is down, for every request of that round.
    let mut mirrors = Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK]), at(0));
    let mut moves = 0;
    for minute in 1..=30 {
        let mut answers = |c: &str| c != PRIMARY || minute % 2 == 0;
        moves += round(&mut mirrors, minute, &mut answers);
    }
    assert_eq!(moves, 1, "left once, never taken back");
    assert_eq!(in_use(&mirrors), FALLBACK);
}

#[test]
fn a_mirror_is_left_only_for_one_that_answers_and_in_the_profiles_order() {
    let mut mirrors =
        Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK, SECOND]), at(0));
    let mut all_down = |_: &str| false;
    assert_eq!(round(&mut mirrors, 1, &mut all_down), 0);
    assert_eq!(round(&mut mirrors, 2, &mut all_down), 0);
    assert_eq!(
        in_use(&mirrors),
        PRIMARY,
        "nothing answers: nothing is gained"
    );

    let mut second_only = |c: &str| c == SECOND;
    assert_eq!(round(&mut mirrors, 3, &mut second_only), 1);
    assert_eq!(in_use(&mirrors), SECOND);
    // The first fallback answers again: it is earlier in the order, so it is taken once it
    // answered three times; the mirror itself later still.
    let mut fallbacks = |c: &str| c != PRIMARY;
    let moves: usize = (4..=6)
        .map(|m| round(&mut mirrors, m, &mut fallbacks))
        .sum();
    assert_eq!((moves, in_use(&mirrors)), (1, FALLBACK));
}

#[test]
fn a_choice_lasts_while_the_profile_names_its_mirror_and_what_it_chose() {
    let mut mirrors =
        Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK, SECOND]), at(0));
    let mut down = |c: &str| c != PRIMARY;
    round(&mut mirrors, 1, &mut down);
    assert_eq!(in_use(&mirrors), FALLBACK);

    let kept = Mirrors::for_profile(mirrors.clone(), &profile(&[SECOND, FALLBACK]), at(2));
    assert_eq!(in_use(&kept), FALLBACK);
    assert_eq!(kept.choices[0].since, at(1));
    assert_eq!(kept.choices[0].candidates, [PRIMARY, SECOND, FALLBACK]);

    let dropped = Mirrors::for_profile(mirrors.clone(), &profile(&[SECOND]), at(2));
    assert_eq!(
        in_use(&dropped),
        PRIMARY,
        "the fallback in use is no longer named"
    );
    assert!(dropped.choices[0].recent.is_empty());

    let mut other: Profile = profile(&[FALLBACK]);
    other.npm.as_mut().unwrap().registry = Some(SECOND.into());
    let moved = Mirrors::for_profile(mirrors, &other, at(2));
    assert_eq!(in_use(&moved), SECOND, "a new mirror starts on itself");
}

#[test]
fn only_a_registry_that_serves_counts_as_answering() {
    let answer = |status: u16| EndpointProbe {
        status: Some(status),
        ..probe(FALLBACK, true)
    };
    for (status, serves_there) in [
        (200, true),
        (301, true),
        (401, true),
        (403, true),
        (404, false),
        (410, false),
    ] {
        assert_eq!(serves(&answer(status)), serves_there, "{status}");
    }
    assert!(!serves(&probe(FALLBACK, false)));

    // A fallback that answers 404 (not a registry there) is never written.
    let mut mirrors = Mirrors::for_profile(Mirrors::default(), &profile(&[FALLBACK]), at(0));
    for minute in 1..=3 {
        let batch = [probe(PRIMARY, false), answer(404)];
        mirrors.observe(&batch, at(minute));
    }
    assert_eq!(in_use(&mirrors), PRIMARY);
}

#[test]
fn a_damaged_choice_is_dropped_not_trusted() {
    let kept = Mirrors {
        choices: vec![Choice {
            kind: EndpointKind::NpmRegistry,
            candidates: Vec::new(),
            in_use: SECOND.into(),
            since: at(0),
            reason: None,
            recent: BTreeMap::new(),
        }],
    };
    assert!(kept.report().is_empty(), "{:?}", kept.report());
    let mirrors = Mirrors::for_profile(kept, &profile(&[FALLBACK]), at(1));
    assert_eq!(in_use(&mirrors), PRIMARY);
}
