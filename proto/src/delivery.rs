//! What the server delivers to enrolled machines, and how a machine checks it: TUF in
//! miniature. A profile comes as an [`Envelope`]: a [`FleetDelivery`] signed once for every
//! machine of its environment and role, whose signature covers the root of a Merkle tree over
//! those machines ([`crate::merkle`]), and this machine's proof that it is one of them. The keys
//! that may sign come as a chain of [`KeySet`]s, each signed by a key of the one before, so a
//! machine follows key rotations without being enrolled again.
//!
//! A machine accepts a delivery only when all of these hold ([`open_envelope`]):
//! - it is signed (context [`PROFILE_CONTEXT`]) by a key of the key set it trusts;
//! - it is issued to this machine: the envelope names its device id, and the proof leads from
//!   that id to the signed root of the machines the delivery is for;
//! - it has not expired, and was not issued in the future, each up to the allowed clock skew;
//! - its `sequence` is not below the highest one the machine accepted (no rollback to an
//!   older, validly signed delivery).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::merkle::{Hash, InclusionProof, MachineTree};
use crate::profile::Profile;
use crate::signing::{
    decode_public_key, open_payload, SignatureError, Signed, KEY_SET_CONTEXT, PROFILE_CONTEXT,
};

/// How far apart the server's and a machine's clocks may be before a delivery counts as
/// expired or not yet valid.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::minutes(5);

/// The most bytes of an [`Envelope`] as JSON: a delivery's profile is the baseline merged with
/// the overlay, each at most [`crate::profile::MAX_PROFILE_BYTES`] (secrets kept on the server
/// filled in, each at most 4 KiB), in base64url (4 bytes for every 3) beside a signature and a
/// proof of at most 64 hashes. A machine stops reading an answer past this.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;

/// The most bytes of an answer listing key sets: each is about 1 KiB, one per rotation, so
/// this is about a thousand rotations. A machine stops reading an answer past this.
pub const MAX_KEY_SETS_BYTES: usize = 1024 * 1024;

/// One of the server's public signing keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublicKey {
    /// Its id ([`crate::signing::key_id`]).
    pub key_id: String,
    /// The Ed25519 public key, base64url.
    pub public_key: String,
}

/// The keys that sign deliveries, at one point of their history. Version 1 is signed by its
/// own key (machines pin it when they enroll); each later version is signed by a key of the
/// version before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeySet {
    /// 1, 2, 3...: one more at every rotation.
    pub version: u64,
    /// The keys deliveries may be signed with from now on.
    pub keys: Vec<PublicKey>,
    /// When this version was made.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub issued_at: OffsetDateTime,
}

/// A signing key as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKeyInfo {
    /// The key-set version it belongs to; the highest signs deliveries now.
    pub version: u64,
    /// Its id.
    pub key_id: String,
    /// The Ed25519 public key, base64url.
    pub public_key: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// What a machine takes from an envelope it accepted: its effective profile, and what the
/// delivery is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The machine it is issued to: this one.
    pub device_id: Uuid,
    /// Its environment.
    pub environment: String,
    /// Its machine role.
    pub machine_role: String,
    /// The environment baseline's version in it (0: none published).
    pub baseline_version: u64,
    /// The role overlay's version in it (0: none published).
    pub overlay_version: u64,
    /// Increases with every change anywhere on the server (it is the audit trail's position
    /// when issued): a machine never goes back to a lower one.
    pub sequence: u64,
    /// When it was signed.
    pub issued_at: OffsetDateTime,
    /// When a machine must stop trusting it and fetch again.
    pub expires_at: OffsetDateTime,
    /// The effective profile, secrets included: the machine writes them into its client
    /// configurations.
    pub profile: Profile,
    /// The audit trail's head when issued, signed ([`crate::audit::AuditHead`]): what this
    /// machine witnesses and reports back.
    pub audit_head: Option<Signed>,
}

/// What the signature covers: the delivery to every machine of one environment and role,
/// and which machines those are.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetDelivery {
    /// Their environment.
    pub environment: String,
    /// Their machine role.
    pub machine_role: String,
    /// The environment baseline's version in it (0: none published).
    pub baseline_version: u64,
    /// The role overlay's version in it (0: none published).
    pub overlay_version: u64,
    /// The audit trail's position when issued: it only grows.
    pub sequence: u64,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When a machine must stop trusting it and fetch again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The machines it is for.
    pub machines: Machines,
    /// The effective profile, secrets included (`{"value": ...}`).
    #[serde(with = "profile_with_secrets")]
    pub profile: Profile,
    /// The audit trail's head at `sequence`, signed on its own (context
    /// [`crate::signing::AUDIT_HEAD_CONTEXT`]) so that a machine can hand it back as proof of
    /// what it was sent. Absent from deliveries of servers before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<Signed>,
}

/// Without the profile: it holds secret values in the clear, and debug output ends up in logs.
impl std::fmt::Debug for FleetDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetDelivery")
            .field("environment", &self.environment)
            .field("machine_role", &self.machine_role)
            .field("baseline_version", &self.baseline_version)
            .field("overlay_version", &self.overlay_version)
            .field("sequence", &self.sequence)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("machines", &self.machines)
            .finish_non_exhaustive()
    }
}

impl FleetDelivery {
    /// What machine `device_id`, one of its machines, takes from it.
    pub fn for_machine(self, device_id: Uuid) -> Delivery {
        Delivery {
            device_id,
            environment: self.environment,
            machine_role: self.machine_role,
            baseline_version: self.baseline_version,
            overlay_version: self.overlay_version,
            sequence: self.sequence,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            profile: self.profile,
            audit_head: self.audit_head,
        }
    }
}

/// The machines a delivery is for: the root of their Merkle tree, and how many they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machines {
    /// The tree's root hash, base64url without padding.
    pub root: String,
    /// How many machines (the tree's size).
    pub count: u64,
}

impl Machines {
    /// The machines of `tree`.
    pub fn of(tree: &MachineTree) -> Self {
        Self {
            root: URL_SAFE_NO_PAD.encode(tree.root()),
            count: tree.size(),
        }
    }

    /// Whether `proof` shows that it is machine `device_id` among these.
    fn include(&self, device_id: Uuid, proof: &MachineProof) -> Result<bool, EnvelopeError> {
        let root = decode_hash(&self.root)?;
        let path = proof
            .path
            .iter()
            .map(|hash| decode_hash(hash))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InclusionProof {
            index: proof.index,
            path,
        }
        .verifies(device_id, self.count, &root))
    }
}

fn decode_hash(text: &str) -> Result<Hash, EnvelopeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| EnvelopeError::Malformed("a hash is 32 bytes in base64url".into()))
}

/// A profile envelope as one machine receives it: a [`FleetDelivery`] signed once for all its
/// machines, and this machine's proof that it is one of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The [`FleetDelivery`]'s JSON bytes, base64url without padding.
    pub payload: String,
    /// Which key signed.
    pub key_id: String,
    /// The Ed25519 signature over [`PROFILE_CONTEXT`] and the payload bytes, base64url without
    /// padding.
    pub signature: String,
    /// The machine it is issued to, and its proof.
    pub machine: MachineProof,
}

/// Shows that a machine is one of those a delivery is for: its leaf in their Merkle tree
/// ([`crate::merkle`]) and the sibling hashes up to the signed root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MachineProof {
    /// The machine.
    pub device_id: Uuid,
    /// Its leaf's position in the tree.
    pub index: u64,
    /// The sibling hashes from its leaf up, each base64url without padding.
    pub path: Vec<String>,
}

/// A delivery signed once for every machine of its environment and role: each machine's
/// envelope is the same signed document with that machine's own proof.
#[derive(Clone)]
pub struct SignedDelivery {
    signed: Signed,
    tree: MachineTree,
    /// Every machine's envelope JSON up to its proof: `{"payload":...,"machine":`.
    head: Vec<u8>,
}

/// Without the payload: it holds the profile's secret values.
impl std::fmt::Debug for SignedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedDelivery")
            .field("key_id", &self.signed.key_id)
            .field("machines", &self.tree.size())
            .finish_non_exhaustive()
    }
}

/// [`Envelope`]'s fields before the proof, in its order.
#[derive(Serialize)]
struct EnvelopeHead<'a> {
    payload: &'a str,
    key_id: &'a str,
    signature: &'a str,
}

/// [`MachineProof`] as it serializes, its hashes encoded on the stack.
#[derive(Serialize)]
struct ProofJson<'a> {
    device_id: Uuid,
    index: u64,
    path: EncodedHashes<'a>,
}

struct EncodedHashes<'a>(&'a [Hash]);

impl Serialize for EncodedHashes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut sequence = serializer.serialize_seq(Some(self.0.len()))?;
        for hash in self.0 {
            // 32 bytes are 43 characters of base64url without padding.
            let mut text = [0; 43];
            let length = URL_SAFE_NO_PAD
                .encode_slice(hash, &mut text)
                .map_err(S::Error::custom)?;
            sequence.serialize_element(
                std::str::from_utf8(&text[..length]).map_err(S::Error::custom)?,
            )?;
        }
        sequence.end()
    }
}

impl SignedDelivery {
    /// Signs `delivery` with `key` once for every machine of `tree`; its `machines` are set to
    /// name them.
    pub fn sign(mut delivery: FleetDelivery, tree: MachineTree, key: &SigningKey) -> Self {
        delivery.machines = Machines::of(&tree);
        let signed = Signed::sign(PROFILE_CONTEXT, &delivery, key);
        let mut head = serde_json::to_vec(&EnvelopeHead {
            payload: &signed.payload,
            key_id: &signed.key_id,
            signature: &signed.signature,
        })
        .unwrap_or_default();
        head.pop();
        head.extend_from_slice(br#","machine":"#);
        Self { signed, tree, head }
    }

    /// Whether `device_id` is one of its machines.
    pub fn includes(&self, device_id: Uuid) -> bool {
        self.tree.contains(device_id)
    }

    /// The envelope for machine `device_id`, if it is one of its machines.
    pub fn envelope(&self, device_id: Uuid) -> Option<Envelope> {
        let proof = self.tree.proof(device_id)?;
        Some(Envelope {
            payload: self.signed.payload.clone(),
            key_id: self.signed.key_id.clone(),
            signature: self.signed.signature.clone(),
            machine: MachineProof {
                device_id,
                index: proof.index,
                path: proof
                    .path
                    .iter()
                    .map(|hash| URL_SAFE_NO_PAD.encode(hash))
                    .collect(),
            },
        })
    }

    /// The JSON of [`Self::envelope`], byte for byte: [`Self::head`] then
    /// [`Self::proof_json`].
    pub fn envelope_json(&self, device_id: Uuid) -> Option<Vec<u8>> {
        let mut json = self.head.clone();
        json.extend_from_slice(&self.proof_json(device_id)?);
        Some(json)
    }

    /// The start of every machine's envelope JSON, the same for all of them.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The rest of machine `device_id`'s envelope JSON after [`Self::head`]: its proof and
    /// the closing brace (under a kilobyte for a million machines).
    pub fn proof_json(&self, device_id: Uuid) -> Option<Vec<u8>> {
        let proof = self.tree.proof(device_id)?;
        // The id and index (about 80 bytes), 46 bytes a hash, and the closing brace.
        let mut json = Vec::with_capacity(96 + 46 * proof.path.len());
        serde_json::to_writer(
            &mut json,
            &ProofJson {
                device_id,
                index: proof.index,
                path: EncodedHashes(&proof.path),
            },
        )
        .ok()?;
        json.push(b'}');
        Some(json)
    }
}

/// A profile with its secret values, for the machine that needs them.
mod profile_with_secrets {
    use serde::{Deserialize as _, Deserializer, Serialize as _, Serializer};

    use crate::profile::Profile;

    /// The profile as machines get it. The package index's section goes out under `pip`,
    /// its name before sections were ecosystems: agents of before then refuse a key they do
    /// not know, and every agent since reads both names. (Agents of before then cannot
    /// carry `clients` at all.)
    pub fn json(profile: &Profile) -> serde_json::Value {
        let mut json = profile.to_json_with_secrets(|plain| serde_json::json!({ "value": plain }));
        if let Some(fields) = json.as_object_mut() {
            if let Some(pypi) = fields.remove("pypi") {
                fields.insert("pip".to_owned(), pypi);
            }
        }
        json
    }

    pub fn serialize<S: Serializer>(profile: &Profile, serializer: S) -> Result<S::Ok, S::Error> {
        json(profile).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Profile, D::Error> {
        Profile::deserialize(deserializer)
    }
}

/// The keys a machine trusts: the newest key set it has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    version: u64,
    keys: BTreeMap<String, VerifyingKey>,
}

/// Why a key set is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// Its signature does not hold.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a key set.
    #[error("the key set is malformed: {0}")]
    Malformed(String),
    /// Not the next version: key sets are followed one version at a time.
    #[error("key set version {got} does not follow version {trusted}")]
    OutOfOrder {
        /// The version trusted now.
        trusted: u64,
        /// The version offered.
        got: u64,
    },
}

impl TrustedKeys {
    /// Trusts a key set received at enrollment (over the TLS connection the enrollment token
    /// was sent on). It must be signed by one of its own keys.
    pub fn pin(signed: &Signed) -> Result<Self, KeySetError> {
        let set = read_key_set(signed)?;
        let keys = decode_keys(&set)?;
        signed.open(KEY_SET_CONTEXT, |id| keys.get(id).copied())?;
        Ok(Self {
            version: set.version,
            keys,
        })
    }

    /// Trusts a chain of key sets, oldest first, as a machine receives it at enrollment: the
    /// first pinned, each later one followed.
    pub fn from_chain(chain: &[Signed]) -> Result<Self, KeySetError> {
        let (first, rest) = chain
            .split_first()
            .ok_or_else(|| KeySetError::Malformed("the chain holds no key set".into()))?;
        let mut keys = Self::pin(first)?;
        for next in rest {
            keys.advance(next)?;
        }
        Ok(keys)
    }

    /// Moves to the next key set, which must be signed by a key trusted now. The keys it
    /// replaces are trusted no more.
    pub fn advance(&mut self, signed: &Signed) -> Result<(), KeySetError> {
        signed.open(KEY_SET_CONTEXT, |id| self.key(id))?;
        let set = read_key_set(signed)?;
        if set.version != self.version + 1 {
            return Err(KeySetError::OutOfOrder {
                trusted: self.version,
                got: set.version,
            });
        }
        self.keys = decode_keys(&set)?;
        self.version = set.version;
        Ok(())
    }

    /// The version trusted.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The trusted key with id `key_id`.
    pub fn key(&self, key_id: &str) -> Option<VerifyingKey> {
        self.keys.get(key_id).copied()
    }
}

fn read_key_set(signed: &Signed) -> Result<KeySet, KeySetError> {
    // The payload is parsed before its signature is checked only to learn which keys it
    // names; nothing in it is trusted until the signature holds.
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &signed.payload,
    )
    .map_err(|_| KeySetError::Malformed("the payload is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|e| KeySetError::Malformed(e.to_string()))
}

fn decode_keys(set: &KeySet) -> Result<BTreeMap<String, VerifyingKey>, KeySetError> {
    if set.keys.is_empty() {
        return Err(KeySetError::Malformed(
            "a key set names at least one key".into(),
        ));
    }
    set.keys
        .iter()
        .map(|entry| {
            let key = decode_public_key(&entry.public_key)?;
            if crate::signing::key_id(&key) != entry.key_id {
                return Err(KeySetError::Malformed(format!(
                    "key {} does not have that id",
                    entry.key_id
                )));
            }
            Ok((entry.key_id.clone(), key))
        })
        .collect()
}

/// What a machine expects of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// Its own device id.
    pub device_id: Uuid,
    /// Its clock.
    pub now: OffsetDateTime,
    /// The highest sequence it accepted so far, if any.
    pub last_sequence: Option<u64>,
    /// How far its clock may be from the server's.
    pub clock_skew: Duration,
}

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Forged, altered, or signed by a key not trusted.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Signed, but not a delivery.
    #[error("the delivery is malformed: {0}")]
    Malformed(String),
    /// Issued to another machine.
    #[error("the delivery is for device {issued_to}, not this one")]
    WrongDevice {
        /// The machine it names.
        issued_to: Uuid,
    },
    /// Names this machine, but its proof does not lead to the machines the signature covers.
    #[error("the delivery's signature does not cover this machine: it was meant for others")]
    NotAmongMachines,
    /// Too old.
    #[error("the delivery expired at {expires_at}")]
    Expired {
        /// When it expired.
        expires_at: OffsetDateTime,
    },
    /// Issued in the future: a clock is far off.
    #[error("the delivery was issued at {issued_at}, later than this machine's clock allows")]
    NotYetValid {
        /// When it says it was issued.
        issued_at: OffsetDateTime,
    },
    /// Older than what the machine accepted: a replay, or a rollback attempt.
    #[error(
        "the delivery has sequence {sequence}, older than the {last} already accepted: a replay"
    )]
    Replayed {
        /// Its sequence.
        sequence: u64,
        /// The highest one accepted.
        last: u64,
    },
}

/// Checks an envelope as a machine must before applying it; see the module's rules.
pub fn open_envelope(
    envelope: &Envelope,
    keys: &TrustedKeys,
    expect: &Expectations,
) -> Result<Delivery, EnvelopeError> {
    let bytes = open_payload(
        PROFILE_CONTEXT,
        &envelope.payload,
        &envelope.key_id,
        &envelope.signature,
        |id| keys.key(id),
    )?;
    let delivery: FleetDelivery =
        serde_json::from_slice(&bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let machine = &envelope.machine;
    if machine.device_id != expect.device_id {
        return Err(EnvelopeError::WrongDevice {
            issued_to: machine.device_id,
        });
    }
    if !delivery.machines.include(expect.device_id, machine)? {
        return Err(EnvelopeError::NotAmongMachines);
    }
    if delivery.expires_at + expect.clock_skew <= expect.now {
        return Err(EnvelopeError::Expired {
            expires_at: delivery.expires_at,
        });
    }
    if delivery.issued_at - expect.clock_skew > expect.now {
        return Err(EnvelopeError::NotYetValid {
            issued_at: delivery.issued_at,
        });
    }
    if let Some(last) = expect
        .last_sequence
        .filter(|last| delivery.sequence < *last)
    {
        return Err(EnvelopeError::Replayed {
            sequence: delivery.sequence,
            last,
        });
    }
    Ok(delivery.for_machine(machine.device_id))
}
