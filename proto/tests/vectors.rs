//! Test vectors for signed delivery, checked into `tests/vectors/`: a good envelope and one of
//! each kind of bad, with the key set a machine trusts. The delivery is signed once for five
//! machines; the envelope carries this machine's proof that it is one of them. Anyone writing another agent can check
//! their verifier against the same files. The vectors are what this code signs: the test
//! fails when they differ, and `SWITCHYARD_WRITE_VECTORS=1 cargo test -p switchyard-proto
//! --test vectors` writes them anew.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use switchyard_proto::delivery::{
    open_envelope, Envelope, EnvelopeError, Expectations, FleetDelivery, KeySet, Machines,
    PublicKey, SignedDelivery, TrustedKeys, DEFAULT_CLOCK_SKEW,
};
use switchyard_proto::merkle::MachineTree;
use switchyard_proto::signing::{
    encode_public_key, key_id, SignatureError, Signed, KEY_SET_CONTEXT,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// One vector: an envelope, what the machine knows, and the verdict.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Vector {
    description: String,
    /// The key set the machine pinned at enrollment.
    trusted_key_set: Signed,
    device_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    now: OffsetDateTime,
    last_sequence: Option<u64>,
    envelope: Envelope,
    /// `ok`, or the kind of refusal.
    verdict: String,
}

const SERVER_SEED: [u8; 32] = [7; 32];
const STRANGER_SEED: [u8; 32] = [9; 32];
const DEVICE: Uuid = Uuid::from_u128(0x6a1f_0c2e_5b7d_4e3a_9f10_2b3c_4d5e_6f70);
const ISSUED: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);
/// Another machine of the same environment and role.
const NEIGHBOUR: Uuid = Uuid::from_u128(1);
/// The other machines of the same environment and role.
const OTHERS: [Uuid; 4] = [
    NEIGHBOUR,
    Uuid::from_u128(2),
    Uuid::from_u128(0x7000_0000_0000_0000_0000_0000_0000_0000),
    Uuid::from_u128(u128::MAX),
];

/// The machines the deliveries are for: this one among four others.
fn machines() -> MachineTree {
    MachineTree::new(OTHERS.into_iter().chain([DEVICE])).unwrap()
}

fn key_set(version: u64, key: &SigningKey) -> KeySet {
    KeySet {
        version,
        keys: vec![PublicKey {
            key_id: key_id(&key.verifying_key()),
            public_key: encode_public_key(&key.verifying_key()),
        }],
        issued_at: ISSUED - Duration::days(30),
    }
}

fn delivery(sequence: u64, issued_at: OffsetDateTime) -> FleetDelivery {
    FleetDelivery {
        environment: "production".into(),
        machine_role: "backend".into(),
        baseline_version: 7,
        overlay_version: 2,
        sequence,
        issued_at,
        expires_at: issued_at + Duration::hours(24),
        machines: Machines::default(),
        profile: serde_json::from_value(serde_json::json!({
            "go": {"proxy": [{"source": "https://goproxy.corp.example/"}, {"source": "direct"}]},
            "npm": {
                "registry": "https://npm.corp.example/",
                "auth-tokens": {"https://npm.corp.example/": {"value": "npm-token-123"}}
            }
        }))
        .unwrap(),
        // The vectors predate the witnessed head; a delivery without one reads the same.
        audit_head: None,
    }
}

/// `delivery` signed by `key` for the five machines, as this machine receives it.
fn envelope(delivery: FleetDelivery, key: &SigningKey) -> Envelope {
    SignedDelivery::sign(delivery, machines(), key)
        .envelope(DEVICE)
        .unwrap()
}

/// The vectors, as this code makes them.
fn vectors() -> Vec<(&'static str, Vector)> {
    let server = SigningKey::from_bytes(&SERVER_SEED);
    let stranger = SigningKey::from_bytes(&STRANGER_SEED);
    let trusted = Signed::sign(KEY_SET_CONTEXT, &key_set(1, &server), &server);
    let good = envelope(delivery(41, ISSUED), &server);
    let vector =
        |description: &str, envelope: Envelope, now, last_sequence, verdict: &str| Vector {
            description: description.into(),
            trusted_key_set: trusted.clone(),
            device_id: DEVICE,
            now,
            last_sequence,
            envelope,
            verdict: verdict.into(),
        };
    let an_hour_later = ISSUED + Duration::hours(1);
    let forged = Envelope {
        key_id: good.key_id.clone(),
        ..envelope(delivery(41, ISSUED), &stranger)
    };
    let mut changed = delivery(41, ISSUED);
    changed.profile.go = None;
    let altered = Envelope {
        payload: envelope(changed, &server).payload,
        ..good.clone()
    };
    let mut for_machines = delivery(41, ISSUED);
    for_machines.machines = Machines::of(&machines());
    let key_set_signature = Signed::sign(KEY_SET_CONTEXT, &for_machines, &server);
    let wrong_context = Envelope {
        payload: key_set_signature.payload,
        key_id: key_set_signature.key_id,
        signature: key_set_signature.signature,
        machine: good.machine.clone(),
    };
    let neighbours = SignedDelivery::sign(delivery(41, ISSUED), machines(), &server)
        .envelope(NEIGHBOUR)
        .unwrap();
    // Signed for the four others only; the neighbour's proof, relabelled as this machine's.
    let mut outsider = SignedDelivery::sign(
        delivery(41, ISSUED),
        MachineTree::new(OTHERS).unwrap(),
        &server,
    )
    .envelope(NEIGHBOUR)
    .unwrap();
    outsider.machine.device_id = DEVICE;
    vec![
        (
            "good",
            vector(
                "a valid delivery",
                good.clone(),
                an_hour_later,
                Some(40),
                "ok",
            ),
        ),
        (
            "good-again",
            vector(
                "the same delivery again is harmless",
                good.clone(),
                an_hour_later,
                Some(41),
                "ok",
            ),
        ),
        (
            "forged",
            vector(
                "signed by another key under the trusted key's id",
                forged,
                an_hour_later,
                None,
                "bad_signature",
            ),
        ),
        (
            "altered",
            vector(
                "the payload changed after signing",
                altered,
                an_hour_later,
                None,
                "bad_signature",
            ),
        ),
        (
            "unknown-key",
            vector(
                "signed by a key the machine does not trust",
                envelope(delivery(41, ISSUED), &stranger),
                an_hour_later,
                None,
                "unknown_key",
            ),
        ),
        (
            "wrong-context",
            vector(
                "a signature made for another kind of document",
                wrong_context,
                an_hour_later,
                None,
                "bad_signature",
            ),
        ),
        (
            "other-device",
            vector(
                "another machine's envelope for the same delivery",
                neighbours,
                an_hour_later,
                None,
                "wrong_device",
            ),
        ),
        (
            "not-among-machines",
            vector(
                "signed for other machines, with one's proof relabelled as this machine's",
                outsider,
                an_hour_later,
                None,
                "not_among_machines",
            ),
        ),
        (
            "expired",
            vector(
                "past its expiry and the clock skew",
                good.clone(),
                ISSUED + Duration::hours(25),
                None,
                "expired",
            ),
        ),
        (
            "not-yet-valid",
            vector(
                "issued later than the clock allows",
                good.clone(),
                ISSUED - Duration::hours(1),
                None,
                "not_yet_valid",
            ),
        ),
        (
            "replayed",
            vector(
                "older than the highest delivery accepted",
                good,
                an_hour_later,
                Some(42),
                "replayed",
            ),
        ),
    ]
}

fn verdict(vector: &Vector) -> String {
    let keys = TrustedKeys::pin(&vector.trusted_key_set).expect("the trusted key set is valid");
    let expect = Expectations {
        device_id: vector.device_id,
        now: vector.now,
        last_sequence: vector.last_sequence,
        clock_skew: DEFAULT_CLOCK_SKEW,
    };
    match open_envelope(&vector.envelope, &keys, &expect) {
        Ok(_) => "ok",
        Err(EnvelopeError::Signature(SignatureError::BadSignature)) => "bad_signature",
        Err(EnvelopeError::Signature(SignatureError::UnknownKey(_))) => "unknown_key",
        Err(
            EnvelopeError::Signature(SignatureError::Malformed(_)) | EnvelopeError::Malformed(_),
        ) => "malformed",
        Err(EnvelopeError::WrongDevice { .. }) => "wrong_device",
        Err(EnvelopeError::NotAmongMachines) => "not_among_machines",
        Err(EnvelopeError::Expired { .. }) => "expired",
        Err(EnvelopeError::NotYetValid { .. }) => "not_yet_valid",
        Err(EnvelopeError::Replayed { .. }) => "replayed",
    }
    .to_owned()
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

#[test]
fn the_checked_in_vectors_are_what_the_code_signs_and_get_their_verdicts() {
    let write = std::env::var_os("SWITCHYARD_WRITE_VECTORS").is_some();
    for (name, vector) in vectors() {
        let path = folder().join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&vector).unwrap() + "\n";
        if write {
            std::fs::write(&path, &text).unwrap();
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (write them with SWITCHYARD_WRITE_VECTORS=1)",
                path.display()
            )
        });
        assert_eq!(
            stored, text,
            "{name}: the checked-in vector differs from what the code signs"
        );
        let stored: Vector = serde_json::from_str(&stored).unwrap();
        assert_eq!(
            verdict(&stored),
            stored.verdict,
            "{name}: {}",
            stored.description
        );
    }
}

fn trusting(server: &SigningKey) -> TrustedKeys {
    TrustedKeys::pin(&Signed::sign(KEY_SET_CONTEXT, &key_set(1, server), server)).unwrap()
}

fn expecting(device_id: Uuid) -> Expectations {
    Expectations {
        device_id,
        now: ISSUED,
        last_sequence: None,
        clock_skew: DEFAULT_CLOCK_SKEW,
    }
}

#[test]
fn one_signature_serves_every_machine_each_with_a_proof_of_its_own() {
    let server = SigningKey::from_bytes(&SERVER_SEED);
    let signed = SignedDelivery::sign(delivery(41, ISSUED), machines(), &server);
    assert!(!format!("{signed:?}").contains("npm-token-123"));
    let good = signed.envelope(DEVICE).unwrap();
    let tree = machines();
    let keys = trusting(&server);
    for machine in OTHERS.into_iter().chain([DEVICE]) {
        assert!(signed.includes(machine));
        let envelope = signed.envelope(machine).unwrap();
        assert_eq!(
            signed.envelope_json(machine).unwrap(),
            serde_json::to_vec(&envelope).unwrap()
        );
        assert_eq!(
            (&envelope.payload, &envelope.signature),
            (&good.payload, &good.signature)
        );
        assert_eq!(envelope.machine.index, tree.proof(machine).unwrap().index);
        let opened = open_envelope(&envelope, &keys, &expecting(machine)).unwrap();
        assert_eq!(opened, delivery(41, ISSUED).for_machine(machine));
    }
    let stranger = Uuid::from_u128(3);
    assert!(!signed.includes(stranger));
    assert!(signed.envelope(stranger).is_none());
    assert!(signed.envelope_json(stranger).is_none());
}

#[test]
fn a_delivery_carries_its_secrets_to_the_machine_and_only_there() {
    let server = SigningKey::from_bytes(&SERVER_SEED);
    let opened = open_envelope(
        &envelope(delivery(1, ISSUED), &server),
        &trusting(&server),
        &expecting(DEVICE),
    )
    .unwrap();
    let tokens = opened.profile.npm.unwrap().auth_tokens.unwrap();
    assert_eq!(
        tokens["https://npm.corp.example/"],
        switchyard_proto::profile::Secret::Value("npm-token-123".into())
    );
    assert!(!format!("{:?}", delivery(1, ISSUED)).contains("npm-token-123"));
}

#[test]
fn machines_follow_key_rotations_one_signed_step_at_a_time() {
    let first = SigningKey::from_bytes(&SERVER_SEED);
    let second = SigningKey::from_bytes(&[11; 32]);
    let third = SigningKey::from_bytes(&[13; 32]);
    let stranger = SigningKey::from_bytes(&STRANGER_SEED);
    let mut keys =
        TrustedKeys::pin(&Signed::sign(KEY_SET_CONTEXT, &key_set(1, &first), &first)).unwrap();

    // A key set not signed by a trusted key is refused, and so is one that skips a version.
    let hijack = Signed::sign(KEY_SET_CONTEXT, &key_set(2, &stranger), &stranger);
    assert!(keys.advance(&hijack).is_err());
    let skipping = Signed::sign(KEY_SET_CONTEXT, &key_set(3, &second), &first);
    assert_eq!(
        keys.advance(&skipping),
        Err(switchyard_proto::delivery::KeySetError::OutOfOrder { trusted: 1, got: 3 })
    );

    let rotation = Signed::sign(KEY_SET_CONTEXT, &key_set(2, &second), &first);
    keys.advance(&rotation).unwrap();
    assert_eq!(keys.version(), 2);
    // The old key is trusted no more; the new one is.
    assert!(keys.key(&key_id(&first.verifying_key())).is_none());
    assert!(keys.key(&key_id(&second.verifying_key())).is_some());
    // A replayed old rotation does not take the machine back.
    assert!(keys.advance(&rotation).is_err());
    keys.advance(&Signed::sign(KEY_SET_CONTEXT, &key_set(3, &third), &second))
        .unwrap();
    assert_eq!(keys.version(), 3);
}

#[test]
fn the_package_index_goes_out_under_the_name_every_agent_reads() {
    let server = SigningKey::from_bytes(&SERVER_SEED);
    let mut sent = delivery(1, ISSUED);
    sent.profile.pypi = serde_json::from_value(
        serde_json::json!({"index-url": "https://pypi.corp.example/simple/"}),
    )
    .unwrap();
    let envelope = envelope(sent.clone(), &server);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&envelope.payload)
        .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        payload["profile"]["pip"].is_object() && payload["profile"].get("pypi").is_none(),
        "agents of before ecosystems know `pip` alone: {payload}"
    );
    let opened = open_envelope(&envelope, &trusting(&server), &expecting(DEVICE)).unwrap();
    assert_eq!(opened.profile, sent.profile);
}
