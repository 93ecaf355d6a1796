//! Fuzzing of what a machine parses from the server's answers (issue 22): the envelope a
//! profile comes in (`open_envelope`), the chain of key sets it trusts (`TrustedKeys`), the
//! signed audit head a delivery carries, and the `Authorization` header the server reads from
//! machines. Arbitrary bytes, forged documents and valid ones changed in every way (bits
//! flipped, cut short, bytes put in or taken out, a field's value replaced by another or by a
//! huge number, a field given twice) never panic and are never taken for what the server
//! signed unless they read the same; valid ones, generated, verify and read back as signed.
//!
//! Each property runs `SWITCHYARD_FUZZ_CASES` cases (2000 by default; those that sign or check
//! several signatures a case, a half or a quarter). A long run:
//!
//! ```text
//! SWITCHYARD_FUZZ_CASES=200000 cargo test -p switchyard-proto --test fuzz_parsers --release
//! ```
//!
//! A failure prints its case, shrunk, and is kept in `fuzz_parsers.proptest-regressions` beside
//! this file, to be tried first ever after.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::FileFailurePersistence;
use switchyard_proto::audit::AuditHead;
use switchyard_proto::delivery::{
    open_envelope, Envelope, EnvelopeError, Expectations, FleetDelivery, KeySet, KeySetError,
    Machines, PublicKey, SignedDelivery, TrustedKeys, DEFAULT_CLOCK_SKEW,
};
use switchyard_proto::merkle::MachineTree;
use switchyard_proto::profile::{EnvValue, NpmSettings, Secret};
use switchyard_proto::signing::{
    encode_public_key, key_id, sign_bytes, DeviceAuthorization, Signed, KEY_SET_CONTEXT,
    PROFILE_CONTEXT,
};
use switchyard_proto::Profile;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const DEVICE: Uuid = Uuid::from_u128(0x6a1f_0c2e_5b7d_4e3a_9f10_2b3c_4d5e_6f70);
const ISSUED: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

/// `SWITCHYARD_FUZZ_CASES` cases (2000 by default) over `share`.
fn config(share: u32) -> ProptestConfig {
    let cases = std::env::var("SWITCHYARD_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse::<u32>().ok())
        .unwrap_or(2000);
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases((cases / share).max(1))
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn key_set(version: u64, keys: &[&SigningKey]) -> KeySet {
    KeySet {
        version,
        keys: keys
            .iter()
            .map(|key| PublicKey {
                key_id: key_id(&key.verifying_key()),
                public_key: encode_public_key(&key.verifying_key()),
            })
            .collect(),
        issued_at: ISSUED,
    }
}

fn profile_of(registry: &str, token: &str, env: BTreeMap<String, String>) -> Profile {
    Profile {
        npm: Some(NpmSettings {
            registry: Some(registry.to_owned()),
            auth_tokens: Some(BTreeMap::from([(
                registry.to_owned(),
                Secret::Value(token.to_owned()),
            )])),
            ..NpmSettings::default()
        }),
        env: env
            .into_iter()
            .map(|(name, value)| (name, EnvValue::Text(value)))
            .collect(),
        ..Profile::default()
    }
}

/// What this machine expects: itself, an hour after the delivery was issued, sequence 40
/// accepted before.
fn expect() -> Expectations {
    Expectations {
        device_id: DEVICE,
        now: ISSUED + Duration::hours(1),
        last_sequence: Some(40),
        clock_skew: DEFAULT_CLOCK_SKEW,
    }
}

/// A server, the keys a machine trusts (version 1 pinned, version 2 naming the server's key,
/// signed by version 1's), and one good delivery to this machine among four others.
struct World {
    server: SigningKey,
    chain: Vec<Signed>,
    keys: TrustedKeys,
    delivery: FleetDelivery,
    envelope: Envelope,
    /// The envelope's JSON as the server sends it.
    json: Vec<u8>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let root = key(1);
    let server = key(7);
    let chain = vec![
        Signed::sign(KEY_SET_CONTEXT, &key_set(1, &[&root]), &root),
        Signed::sign(KEY_SET_CONTEXT, &key_set(2, &[&server]), &root),
    ];
    let keys = TrustedKeys::from_chain(&chain).unwrap();
    let delivery = FleetDelivery {
        environment: "production".into(),
        machine_role: "backend".into(),
        baseline_version: 7,
        overlay_version: 2,
        sequence: 41,
        issued_at: ISSUED,
        expires_at: ISSUED + Duration::hours(24),
        machines: Machines::default(),
        profile: profile_of(
            "https://npm.corp.example/",
            "t0k\"en",
            BTreeMap::from([(
                "GEM_HOST".to_owned(),
                "https://gems.corp.example".to_owned(),
            )]),
        ),
        audit_head: Some(
            AuditHead {
                seq: 41,
                hash: "ab".repeat(32),
            }
            .sign(&server),
        ),
    };
    let machines = MachineTree::new(
        [1, 2, 0x7000_0000_0000_0000_0000_0000_0000_0000, u128::MAX]
            .map(Uuid::from_u128)
            .into_iter()
            .chain([DEVICE]),
    )
    .unwrap();
    let signed = SignedDelivery::sign(delivery.clone(), machines, &server);
    World {
        envelope: signed.envelope(DEVICE).unwrap(),
        json: signed.envelope_json(DEVICE).unwrap(),
        server,
        chain,
        keys,
        delivery,
    }
});

fn server_id() -> String {
    key_id(&WORLD.server.verifying_key())
}

// ---------------------------------------------------------------------------------------------
// Changes to a document's bytes.

/// Fields of envelopes, key sets, deliveries and heads, to change or give twice.
const FIELDS: &[&str] = &[
    "payload",
    "key_id",
    "signature",
    "machine",
    "device_id",
    "index",
    "path",
    "version",
    "keys",
    "public_key",
    "issued_at",
    "expires_at",
    "sequence",
    "machines",
    "root",
    "count",
    "seq",
    "hash",
];

/// Values a field may be given instead of its own: other types, the largest numbers and past
/// them, floats, another machine.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "1.5",
    "1e3",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "null",
    "true",
    "\"\"",
    "\"AAAA\"",
    "[]",
    "{}",
    "\"00000000-0000-0000-0000-000000000001\"",
    "\"2026-11-25T12:00:00Z\"",
];

/// Text put in anywhere.
const SPLICES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    " ",
    "\\",
    "\\u0000",
    "\"\\ud800\"",
    "1e999",
    "null,",
    "[[[[[[[[[[",
];

/// One change to a document's bytes.
#[derive(Debug, Clone)]
enum Change {
    Flip(Index, u8),
    Cut(Index),
    Insert(Index, u8),
    Delete(Index, usize),
    Splice(Index, &'static str),
    /// The value of the first field of that name replaced.
    Field(&'static str, &'static str),
    /// The first field of that name given again, first in its document.
    Twice(&'static str),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (any::<Index>(), 0..8_u8).prop_map(|(at, bit)| Change::Flip(at, bit)),
        1 => any::<Index>().prop_map(Change::Cut),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Change::Insert(at, byte)),
        1 => (any::<Index>(), 1..16_usize).prop_map(|(at, count)| Change::Delete(at, count)),
        1 => (any::<Index>(), select(SPLICES)).prop_map(|(at, text)| Change::Splice(at, text)),
        2 => (select(FIELDS), select(VALUES)).prop_map(|(name, value)| Change::Field(name, value)),
        1 => select(FIELDS).prop_map(Change::Twice),
    ]
}

fn find(bytes: &[u8], needle: &[u8]) -> Option<usize> {
    bytes
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Where the first `"name":` starts, and where its value ends (at the next `,` or `}`: a
/// nested value is cut short, which is one more change).
fn field(json: &[u8], name: &str) -> Option<(usize, usize, usize)> {
    let key = format!("\"{name}\":");
    let start = find(json, key.as_bytes())?;
    let value = start + key.len();
    let end = value
        + json[value..]
            .iter()
            .position(|b| matches!(b, b',' | b'}'))?;
    Some((start, value, end))
}

/// `bytes` with `range` replaced by `with`.
fn replace(bytes: &[u8], range: std::ops::Range<usize>, with: &[u8]) -> Vec<u8> {
    [&bytes[..range.start], with, &bytes[range.end..]].concat()
}

impl Change {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match *self {
            Change::Flip(at, bit) => {
                if len > 0 {
                    bytes[at.index(len)] ^= 1_u8 << bit;
                }
            }
            Change::Cut(at) => bytes.truncate(at.index(len + 1)),
            Change::Insert(at, byte) => bytes.insert(at.index(len + 1), byte),
            Change::Delete(at, count) => {
                let start = at.index(len + 1);
                *bytes = replace(bytes, start..(start + count).min(len), b"");
            }
            Change::Splice(at, text) => {
                let at = at.index(len + 1);
                *bytes = replace(bytes, at..at, text.as_bytes());
            }
            Change::Field(name, value) => {
                if let Some((_, start, end)) = field(bytes, name) {
                    *bytes = replace(bytes, start..end, value.as_bytes());
                }
            }
            Change::Twice(name) => {
                let open = bytes.iter().position(|&b| b == b'{');
                if let (Some((start, _, end)), Some(open)) = (field(bytes, name), open) {
                    let pair = [&bytes[start..end], b",".as_slice()].concat();
                    *bytes = replace(bytes, open + 1..open + 1, &pair);
                }
            }
        }
    }
}

fn changed(original: &[u8], changes: &[Change]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for change in changes {
        change.apply(&mut bytes);
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Forged documents: the shape of the real ones, with what only the server can make made up.

fn base64(bytes: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    vec(any::<u8>(), bytes).prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// A key id: the server's, the pinned key's, or any.
fn some_key_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(server_id()),
        Just(key_id(&key(1).verifying_key())),
        "[0-9a-f]{32}",
    ]
}

fn forged_envelope() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![base64(0..256), Just(WORLD.envelope.payload.clone())],
        some_key_id(),
        base64(64..65),
        prop_oneof![Just(DEVICE), any::<u128>().prop_map(Uuid::from_u128)],
        any::<u64>(),
        vec(base64(32..33), 0..4),
    )
        .prop_map(|(payload, key_id, signature, device_id, index, path)| {
            serde_json::to_vec(&serde_json::json!({
                "payload": payload,
                "key_id": key_id,
                "signature": signature,
                "machine": {"device_id": device_id, "index": index, "path": path},
            }))
            .unwrap()
        })
}

/// Signed documents: a payload of any bytes or of a key set naming a key of its own, under
/// a key id that may be trusted, with a signature no one made.
fn forged_signed() -> impl Strategy<Value = Signed> {
    let own_set = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key_set(1, &[&key(5)])).unwrap());
    (
        prop_oneof![base64(0..200), Just(own_set)],
        some_key_id(),
        base64(64..65),
    )
        .prop_map(|(payload, key_id, signature)| Signed {
            payload,
            key_id,
            signature,
        })
}

/// An `Authorization` header of the machine scheme, its parts made up.
fn header() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u128>(),
        any::<i64>(),
        "[ -~]{0,70}",
        "[ -~]{0,90}",
        "[ ,]{0,2}",
    )
        .prop_map(|(id, timestamp, nonce, signature, gap)| {
            format!(
                "Device id=\"{}\",{gap}ts=\"{timestamp}\", nonce=\"{nonce}\", sig=\"{signature}\"",
                Uuid::from_u128(id)
            )
            .into_bytes()
        })
}

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..512),
        2 => forged_envelope(),
        1 => vec(forged_signed(), 0..3).prop_map(|chain| serde_json::to_vec(&chain).unwrap()),
        1 => forged_signed().prop_map(|signed| serde_json::to_vec(&signed).unwrap()),
        1 => header(),
    ]
}

// ---------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn no_bytes_are_taken_for_an_envelope_a_key_set_or_an_audit_head(bytes in hostile_bytes()) {
        let world = &*WORLD;
        if let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) {
            let opened = open_envelope(&envelope, &world.keys, &expect());
            prop_assert!(opened.is_err(), "{:?}", envelope);
        }
        if let Ok(chain) = serde_json::from_slice::<Vec<Signed>>(&bytes) {
            prop_assert!(TrustedKeys::from_chain(&chain).is_err(), "{:?}", chain);
            for signed in &chain {
                prop_assert!(world.keys.clone().advance(signed).is_err(), "{:?}", signed);
            }
        }
        if let Ok(signed) = serde_json::from_slice::<Signed>(&bytes) {
            prop_assert!(TrustedKeys::pin(&signed).is_err(), "{:?}", signed);
            prop_assert!(world.keys.clone().advance(&signed).is_err(), "{:?}", signed);
            prop_assert!(AuditHead::open(&signed, |id| world.keys.key(id)).is_err());
        }
        // What is read before any signature is checked: never a panic.
        let _ = serde_json::from_slice::<FleetDelivery>(&bytes);
        let _ = serde_json::from_slice::<KeySet>(&bytes);
        // A header the server reads: written again, it reads the same.
        if let Ok(header) = DeviceAuthorization::parse(&String::from_utf8_lossy(&bytes)) {
            prop_assert_eq!(DeviceAuthorization::parse(&header.to_header()), Ok(header));
        }
    }

    #[test]
    fn a_changed_envelope_is_taken_only_when_it_reads_as_signed(
        changes in vec(change(), 1..4),
    ) {
        let world = &*WORLD;
        let bytes = changed(&world.json, &changes);
        // Refused as JSON, or read: then taken exactly when it is the envelope signed.
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) else {
            return Ok(());
        };
        let opened = open_envelope(&envelope, &world.keys, &expect());
        prop_assert_eq!(opened.is_ok(), envelope == world.envelope, "{:?}: {:?}", envelope, opened);
        if let Ok(delivery) = opened {
            prop_assert_eq!(delivery, world.delivery.clone().for_machine(DEVICE));
        }
    }

    #[test]
    fn a_changed_chain_of_key_sets_is_trusted_no_further_than_it_is_unchanged(
        changes in vec(change(), 1..4),
    ) {
        let world = &*WORLD;
        let bytes = changed(&serde_json::to_vec(&world.chain).unwrap(), &changes);
        let Ok(chain) = serde_json::from_slice::<Vec<Signed>>(&bytes) else {
            return Ok(());
        };
        // A chain cut short is trusted as far as it goes; anything else changed, not at all.
        let unchanged = !chain.is_empty() && world.chain.starts_with(&chain);
        match TrustedKeys::from_chain(&chain) {
            Ok(keys) => {
                prop_assert!(unchanged, "{:?}", chain);
                prop_assert_eq!(keys.version(), chain.len() as u64);
            }
            Err(error) => prop_assert!(!unchanged, "{:?}: {}", chain, error),
        }
    }
}

proptest! {
    #![proptest_config(config(2))]

    #[test]
    fn a_changed_delivery_is_refused_and_one_the_server_signed_reads_as_signed(
        changes in vec(change(), 1..4),
    ) {
        let world = &*WORLD;
        let original = URL_SAFE_NO_PAD.decode(&world.envelope.payload).unwrap();
        let bytes = changed(&original, &changes);
        let payload = URL_SAFE_NO_PAD.encode(&bytes);
        // Under the signature of the original: only the original.
        let forged = Envelope {
            payload: payload.clone(),
            ..world.envelope.clone()
        };
        prop_assert_eq!(
            open_envelope(&forged, &world.keys, &expect()).is_ok(),
            bytes == original
        );
        // Signed anew by the server, as a broken or hostile server would: read as the very
        // bytes signed, or refused; never a panic.
        let resigned = Envelope {
            payload,
            signature: sign_bytes(PROFILE_CONTEXT, &bytes, &world.server),
            ..world.envelope.clone()
        };
        let opened = open_envelope(&resigned, &world.keys, &expect());
        match serde_json::from_slice::<FleetDelivery>(&bytes) {
            Err(_) => prop_assert!(
                matches!(opened, Err(EnvelopeError::Malformed(_))),
                "{:?}",
                opened
            ),
            Ok(read) => {
                if let Ok(delivery) = opened {
                    prop_assert_eq!(delivery, read.for_machine(DEVICE));
                }
            }
        }
    }

    #[test]
    fn a_key_set_a_trusted_key_signed_is_followed_only_when_it_is_the_next_well_formed_one(
        changes in vec(change(), 0..4),
    ) {
        let world = &*WORLD;
        let original = serde_json::to_vec(&key_set(3, &[&key(8), &key(9)])).unwrap();
        let bytes = changed(&original, &changes);
        let signed = Signed {
            payload: URL_SAFE_NO_PAD.encode(&bytes),
            key_id: server_id(),
            signature: sign_bytes(KEY_SET_CONTEXT, &bytes, &world.server),
        };
        let mut keys = world.keys.clone();
        match keys.advance(&signed) {
            Ok(()) => {
                let set = serde_json::from_slice::<KeySet>(&bytes);
                prop_assert!(set.is_ok(), "{:?}", set);
                let set = set.unwrap();
                prop_assert_eq!((set.version, keys.version()), (3, 3));
                prop_assert!(!set.keys.is_empty());
                for entry in &set.keys {
                    prop_assert!(keys.key(&entry.key_id).is_some(), "{}", entry.key_id);
                }
                // The keys it replaces are trusted no more.
                let named = set.keys.iter().any(|entry| entry.key_id == server_id());
                prop_assert_eq!(keys.key(&server_id()).is_some(), named);
            }
            Err(error) => {
                prop_assert_ne!(&bytes, &original, "the next key set was refused: {}", error);
                prop_assert_eq!(&keys, &world.keys, "a refused key set changed the keys trusted");
            }
        }
    }

    #[test]
    fn an_audit_head_opens_as_signed_and_a_changed_one_does_not(
        seq in any::<u64>(),
        hash in "[0-9a-f]{64}",
        changes in vec(change(), 1..4),
    ) {
        let world = &*WORLD;
        let head = AuditHead { seq, hash };
        let signed = head.sign(&world.server);
        prop_assert_eq!(AuditHead::open(&signed, |id| world.keys.key(id)), Ok(head.clone()));
        // Its context tells it from a key set and from a delivery signed by the same key.
        prop_assert!(world.keys.clone().advance(&signed).is_err());
        let as_envelope = Envelope {
            payload: signed.payload.clone(),
            key_id: signed.key_id.clone(),
            signature: signed.signature.clone(),
            machine: world.envelope.machine.clone(),
        };
        prop_assert!(open_envelope(&as_envelope, &world.keys, &expect()).is_err());
        let bytes = changed(&serde_json::to_vec(&signed).unwrap(), &changes);
        if let Ok(other) = serde_json::from_slice::<Signed>(&bytes) {
            let opened = AuditHead::open(&other, |id| world.keys.key(id));
            prop_assert_eq!(opened.is_ok(), other == signed, "{:?}: {:?}", other, opened);
        }
    }
}

/// A delivery of any values, to this machine and some others (ids), its profile with a
/// token and variables of any text.
fn fleet() -> impl Strategy<Value = (FleetDelivery, Vec<Uuid>)> {
    (
        ("\\PC{0,16}", "\\PC{0,16}"),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        (-1_000_000_000_i64..1_000_000_000, 1_i64..10_000_000),
        option::of((any::<u64>(), "[0-9a-f]{64}")),
        (
            "[ -~]{0,24}",
            "[!-~]{1,24}",
            btree_map("[A-Z_]{1,8}", "\\PC{0,12}", 0..3),
        ),
        vec(any::<u128>(), 0..24),
    )
        .prop_map(
            |(
                (environment, machine_role),
                (baseline_version, overlay_version, sequence),
                (offset, ttl),
                head,
                (registry, token, env),
                others,
            )| {
                let issued_at = ISSUED + Duration::seconds(offset);
                let delivery = FleetDelivery {
                    environment,
                    machine_role,
                    baseline_version,
                    overlay_version,
                    sequence,
                    issued_at,
                    expires_at: issued_at + Duration::seconds(ttl),
                    machines: Machines::default(),
                    profile: profile_of(&registry, &token, env),
                    audit_head: head.map(|(seq, hash)| AuditHead { seq, hash }.sign(&WORLD.server)),
                };
                (delivery, others.into_iter().map(Uuid::from_u128).collect())
            },
        )
}

proptest! {
    #![proptest_config(config(4))]

    #[test]
    fn a_signed_delivery_reaches_each_of_its_machines_as_it_was_signed(
        (delivery, others) in fleet(),
        at in 0.0..1.0_f64,
        last in any::<u64>(),
        stranger in any::<u128>(),
    ) {
        let world = &*WORLD;
        let tree = MachineTree::new(others.iter().copied().chain([DEVICE])).unwrap();
        let signed = SignedDelivery::sign(delivery.clone(), tree.clone(), &world.server);
        let json = signed.envelope_json(DEVICE).unwrap();
        let envelope: Envelope = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(Some(envelope.clone()), signed.envelope(DEVICE));
        // The JSON sent is the envelope's own, byte for byte.
        prop_assert_eq!(serde_json::to_vec(&envelope).unwrap(), json);
        // Any time while it is valid, any sequence accepted before it.
        let ttl = (delivery.expires_at - delivery.issued_at).whole_seconds();
        // Rounded towards zero: always before it expires.
        let elapsed = (ttl as f64 * at) as i64;
        let expect = Expectations {
            device_id: DEVICE,
            now: delivery.issued_at + Duration::seconds(elapsed),
            last_sequence: Some(last.min(delivery.sequence)),
            clock_skew: DEFAULT_CLOCK_SKEW,
        };
        prop_assert_eq!(
            open_envelope(&envelope, &world.keys, &expect),
            Ok(delivery.clone().for_machine(DEVICE))
        );
        for other in others.iter().copied().filter(|other| *other != DEVICE).take(2) {
            let theirs = signed.envelope(other).unwrap();
            let as_them = Expectations { device_id: other, ..expect.clone() };
            prop_assert_eq!(
                open_envelope(&theirs, &world.keys, &as_them),
                Ok(delivery.clone().for_machine(other))
            );
            // Another machine's envelope is not this one's.
            prop_assert!(open_envelope(&theirs, &world.keys, &expect).is_err());
        }
        let stranger = Uuid::from_u128(stranger);
        if !tree.contains(stranger) {
            prop_assert!(signed.envelope(stranger).is_none());
        }
    }

    #[test]
    fn any_chain_of_rotations_is_followed_to_its_last_keys(
        sets in vec((vec(1..=255_u8, 1..3), any::<Index>()), 1..5),
    ) {
        let keys: Vec<Vec<SigningKey>> = sets
            .iter()
            .map(|(seeds, _)| seeds.iter().map(|seed| key(*seed)).collect())
            .collect();
        // Version 1 signed by a key of its own, each later one by a key of the one before.
        let chain: Vec<Signed> = keys
            .iter()
            .enumerate()
            .map(|(at, set)| {
                let signers = if at == 0 { set } else { &keys[at - 1] };
                let signer = &signers[sets[at].1.index(signers.len())];
                let named: Vec<&SigningKey> = set.iter().collect();
                Signed::sign(KEY_SET_CONTEXT, &key_set(at as u64 + 1, &named), signer)
            })
            .collect();
        let trusted = TrustedKeys::from_chain(&chain);
        prop_assert!(trusted.is_ok(), "{:?}", trusted);
        let trusted = trusted.unwrap();
        prop_assert_eq!(trusted.version(), chain.len() as u64);
        let last: Vec<String> = keys
            .last()
            .into_iter()
            .flatten()
            .map(|key| key_id(&key.verifying_key()))
            .collect();
        for id in keys.iter().flatten().map(|key| key_id(&key.verifying_key())) {
            prop_assert_eq!(trusted.key(&id).is_some(), last.contains(&id), "{}", id);
        }
        let json = serde_json::to_vec(&chain).unwrap();
        prop_assert_eq!(serde_json::from_slice::<Vec<Signed>>(&json).unwrap(), chain.clone());
        // Followed one version at a time: one skipped is refused.
        if chain.len() >= 3 {
            let skipped = [chain[0].clone(), chain[2].clone()];
            prop_assert!(TrustedKeys::from_chain(&skipped).is_err());
        }
    }
}

/// `json` (an object) with the field `name` given once more at its start, with its own value
/// (`null` twice where it has none).
fn with_twice(json: &[u8], name: &str, value: Option<&serde_json::Value>) -> Vec<u8> {
    let pair = format!("\"{name}\":{},", value.unwrap_or(&serde_json::Value::Null));
    let copies = if value.is_some() { 1 } else { 2 };
    [b"{".as_slice(), pair.repeat(copies).as_bytes(), &json[1..]].concat()
}

#[test]
fn a_field_given_twice_is_refused_even_under_a_good_signature() {
    let world = &*WORLD;
    // In the delivery, signed by the server.
    let payload = URL_SAFE_NO_PAD.decode(&world.envelope.payload).unwrap();
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&payload).unwrap();
    for name in [
        "environment",
        "machine_role",
        "baseline_version",
        "overlay_version",
        "sequence",
        "issued_at",
        "expires_at",
        "machines",
        "profile",
        "audit_head",
    ] {
        let bytes = with_twice(&payload, name, fields.get(name));
        let envelope = Envelope {
            payload: URL_SAFE_NO_PAD.encode(&bytes),
            signature: sign_bytes(PROFILE_CONTEXT, &bytes, &world.server),
            ..world.envelope.clone()
        };
        let opened = open_envelope(&envelope, &world.keys, &expect());
        assert!(
            matches!(opened, Err(EnvelopeError::Malformed(_))),
            "{name}: {opened:?}"
        );
    }
    // In the envelope around it.
    let envelope: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&world.json).unwrap();
    for name in ["payload", "key_id", "signature", "machine"] {
        let bytes = with_twice(&world.json, name, envelope.get(name));
        assert!(
            serde_json::from_slice::<Envelope>(&bytes).is_err(),
            "{name}"
        );
    }
    // In a key set, signed by a trusted key.
    let next = serde_json::to_vec(&key_set(3, &[&key(8)])).unwrap();
    let set: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&next).unwrap();
    for name in ["version", "keys", "issued_at"] {
        let bytes = with_twice(&next, name, set.get(name));
        let signed = Signed {
            payload: URL_SAFE_NO_PAD.encode(&bytes),
            key_id: server_id(),
            signature: sign_bytes(KEY_SET_CONTEXT, &bytes, &world.server),
        };
        let advanced = world.keys.clone().advance(&signed);
        assert!(
            matches!(advanced, Err(KeySetError::Malformed(_))),
            "{name}: {advanced:?}"
        );
    }
}
