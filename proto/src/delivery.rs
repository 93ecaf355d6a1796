//! What the server delivers to an enrolled machine, and how the machine checks it: TUF in
//! miniature. A profile comes as a [`Signed`] envelope around a [`Delivery`]; the keys that may
//! sign come as a chain of [`KeySet`]s, each signed by a key of the one before, so a machine
//! follows key rotations without being enrolled again.
//!
//! A machine accepts a delivery only when all of these hold ([`open_envelope`]):
//! - it is signed (context [`PROFILE_CONTEXT`]) by a key of the key set it trusts;
//! - it is issued to this machine (`device_id`);
//! - it has not expired, and was not issued in the future, each up to the allowed clock skew;
//! - its `sequence` is not below the last one the machine applied (no rollback to an older,
//!   validly signed delivery).

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::profile::Profile;
use crate::signing::{decode_public_key, SignatureError, Signed, KEY_SET_CONTEXT, PROFILE_CONTEXT};

/// How far apart the server's and a machine's clocks may be before a delivery counts as
/// expired or not yet valid.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::minutes(5);

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

/// What an envelope carries: one machine's effective profile, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// The machine it is issued to.
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
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When a machine must stop trusting it and fetch again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The effective profile, secrets included (`{"value": ...}`): the machine writes them
    /// into its client configurations.
    #[serde(with = "profile_with_secrets")]
    pub profile: Profile,
}

/// What every machine of one environment and role is delivered, serialized once: a publish
/// wakes thousands of machines at once, and each is signed a [`Delivery`] of its own that
/// differs only in its id and times.
#[derive(Clone)]
pub struct SharedDelivery {
    environment: String,
    machine_role: String,
    baseline_version: u64,
    overlay_version: u64,
    sequence: u64,
    /// The profile with its secrets, as [`Delivery`] serializes it.
    profile: Box<serde_json::value::RawValue>,
}

/// Without the profile: it holds secret values in the clear, and debug output ends up in logs.
impl std::fmt::Debug for SharedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDelivery")
            .field("environment", &self.environment)
            .field("machine_role", &self.machine_role)
            .field("baseline_version", &self.baseline_version)
            .field("overlay_version", &self.overlay_version)
            .field("sequence", &self.sequence)
            .finish_non_exhaustive()
    }
}

/// [`Delivery`]'s fields in its order, with the profile already serialized.
#[derive(Serialize)]
struct DeliveryJson<'a> {
    device_id: Uuid,
    environment: &'a str,
    machine_role: &'a str,
    baseline_version: u64,
    overlay_version: u64,
    sequence: u64,
    #[serde(with = "time::serde::rfc3339")]
    issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    profile: &'a serde_json::value::RawValue,
}

impl SharedDelivery {
    /// What machines of `environment` and `machine_role` are delivered: the versions in it,
    /// the audit position and the effective profile.
    pub fn new(
        environment: String,
        machine_role: String,
        (baseline_version, overlay_version): (u64, u64),
        sequence: u64,
        profile: &Profile,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            environment,
            machine_role,
            baseline_version,
            overlay_version,
            sequence,
            profile: serde_json::value::to_raw_value(&profile_with_secrets::json(profile))?,
        })
    }

    /// The JSON of the [`Delivery`] for `device_id` issued at `issued_at`, byte for byte what
    /// serializing that delivery gives.
    pub fn to_json(
        &self,
        device_id: Uuid,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Vec<u8>, serde_json::Error> {
        // The profile plus the other fields (about 300 bytes): written once, never regrown.
        let mut json = Vec::with_capacity(self.profile.get().len() + 512);
        serde_json::to_writer(
            &mut json,
            &DeliveryJson {
                device_id,
                environment: &self.environment,
                machine_role: &self.machine_role,
                baseline_version: self.baseline_version,
                overlay_version: self.overlay_version,
                sequence: self.sequence,
                issued_at,
                expires_at,
                profile: &self.profile,
            },
        )?;
        Ok(json)
    }
}

/// A profile with its secret values, for the machine that needs them.
mod profile_with_secrets {
    use serde::{Deserialize as _, Deserializer, Serialize as _, Serializer};

    use crate::profile::Profile;

    pub fn json(profile: &Profile) -> serde_json::Value {
        profile.to_json_with_secrets(|plain| serde_json::json!({ "value": plain }))
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
        /// The one applied.
        last: u64,
    },
}

/// Checks an envelope as a machine must before applying it; see the module's rules.
pub fn open_envelope(
    envelope: &Signed,
    keys: &TrustedKeys,
    expect: &Expectations,
) -> Result<Delivery, EnvelopeError> {
    let bytes = envelope.open(PROFILE_CONTEXT, |id| keys.key(id))?;
    let delivery: Delivery =
        serde_json::from_slice(&bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    if delivery.device_id != expect.device_id {
        return Err(EnvelopeError::WrongDevice {
            issued_to: delivery.device_id,
        });
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
    Ok(delivery)
}
