//! Ed25519 signatures over documents, as both sides make and check them.
//!
//! A signed document travels as [`Signed`]: the document's JSON bytes in base64url, the id of
//! the key that signed, and the signature. What is signed is a **context string** naming the
//! kind of document, followed by exactly the bytes in `payload`:
//!
//! ```text
//! signature = Ed25519(key, CONTEXT || payload_bytes)
//! ```
//!
//! Signing the bytes as sent (rather than re-encoding a parsed value) leaves nothing to
//! canonicalize: the verifier checks the bytes it received, then parses them. The context
//! keeps a signature on one kind of document from passing for another. Verification is
//! strict (`verify_strict`: no small-order keys, no malleable signatures).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Context of a profile envelope's signature.
pub const PROFILE_CONTEXT: &[u8] = b"switchyard/profile-envelope/v2\n";
/// Context of a key set's signature.
pub const KEY_SET_CONTEXT: &[u8] = b"switchyard/key-set/v1\n";
/// Context of the audit trail's head ([`crate::audit::AuditHead`]) as deliveries carry it and
/// machines report it.
pub const AUDIT_HEAD_CONTEXT: &[u8] = b"switchyard/audit-head/v1\n";
/// Context of a device's request signature.
pub const DEVICE_REQUEST_CONTEXT: &[u8] = b"switchyard/device-request/v1\n";

/// A document and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// The document's JSON bytes, base64url without padding.
    pub payload: String,
    /// Which key signed: see [`key_id`].
    pub key_id: String,
    /// The Ed25519 signature over the context and the payload bytes, base64url without
    /// padding.
    pub signature: String,
}

/// Why a signed document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The payload or signature is not base64url, or the signature has the wrong length.
    #[error("the signed document is malformed: {0}")]
    Malformed(String),
    /// Signed by a key the verifier does not trust.
    #[error("signed by key {0}, which is not trusted")]
    UnknownKey(String),
    /// The signature does not match: forged or altered.
    #[error("the signature does not match the document: it was forged or altered")]
    BadSignature,
}

/// A key's id: the first 16 bytes of SHA-256 of the public key, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A public key in base64url, as key sets and enrollments carry it.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// A public key from base64url.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| SignatureError::Malformed("a public key is 32 bytes in base64url".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| SignatureError::Malformed("not an Ed25519 public key".into()))
}

/// Signs `bytes` under `context` with `key`, in base64url.
pub fn sign_bytes(context: &[u8], bytes: &[u8], key: &SigningKey) -> String {
    let mut message = Vec::with_capacity(context.len() + bytes.len());
    message.extend_from_slice(context);
    message.extend_from_slice(bytes);
    URL_SAFE_NO_PAD.encode(key.sign(&message).to_bytes())
}

/// Checks a base64url `signature` over `context || bytes` with `key`.
pub fn verify_bytes(
    context: &[u8],
    bytes: &[u8],
    signature: &str,
    key: &VerifyingKey,
) -> Result<(), SignatureError> {
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| SignatureError::Malformed("a signature is 64 bytes in base64url".into()))?;
    let mut message = Vec::with_capacity(context.len() + bytes.len());
    message.extend_from_slice(context);
    message.extend_from_slice(bytes);
    key.verify_strict(&message, &Signature::from_bytes(&signature))
        .map_err(|_| SignatureError::BadSignature)
}

/// The bytes of a base64url `payload` signed under `context`, once `signature` checks out
/// with the trusted key that `trusted` finds for `key_id`.
pub fn open_payload(
    context: &[u8],
    payload: &str,
    key_id: &str,
    signature: &str,
    trusted: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<Vec<u8>, SignatureError> {
    let key = trusted(key_id).ok_or_else(|| SignatureError::UnknownKey(key_id.to_owned()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| SignatureError::Malformed("the payload is not base64url".into()))?;
    verify_bytes(context, &bytes, signature, &key)?;
    Ok(bytes)
}

impl Signed {
    /// Signs the JSON of `document` under `context`.
    pub fn sign<T: Serialize>(context: &[u8], document: &T, key: &SigningKey) -> Self {
        let bytes = serde_json::to_vec(document).unwrap_or_default();
        Self {
            payload: URL_SAFE_NO_PAD.encode(&bytes),
            key_id: key_id(&key.verifying_key()),
            signature: sign_bytes(context, &bytes, key),
        }
    }

    /// The payload bytes, once the signature under `context` checks out with the trusted key
    /// that `trusted` finds for the document's key id.
    pub fn open(
        &self,
        context: &[u8],
        trusted: impl Fn(&str) -> Option<VerifyingKey>,
    ) -> Result<Vec<u8>, SignatureError> {
        open_payload(
            context,
            &self.payload,
            &self.key_id,
            &self.signature,
            trusted,
        )
    }
}

/// How a machine signs a request: `Authorization: Device id="...", ts="...", nonce="...",
/// sig="..."`, where `sig` signs (context [`DEVICE_REQUEST_CONTEXT`])
///
/// ```text
/// METHOD \n PATH_AND_QUERY \n TS \n NONCE \n hex(SHA-256(body))
/// ```
///
/// `ts` is the machine's clock in Unix seconds and `nonce` 16 random bytes in base64url. The
/// server refuses a request whose `ts` is further than the allowed clock skew from its own
/// clock, and one whose nonce it has seen: nothing reusable ever travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// The machine.
    pub device_id: uuid::Uuid,
    /// Unix seconds when signed.
    pub timestamp: i64,
    /// Random, once per request.
    pub nonce: String,
    /// The signature, base64url.
    pub signature: String,
}

/// The authorization scheme's name.
pub const DEVICE_SCHEME: &str = "Device";

impl DeviceAuthorization {
    /// Signs a request as machine `device_id` with its `key`.
    pub fn sign(
        device_id: uuid::Uuid,
        key: &SigningKey,
        request: &DeviceRequest<'_>,
        timestamp: i64,
        nonce: String,
    ) -> Self {
        let message = request.message(timestamp, &nonce);
        Self {
            device_id,
            timestamp,
            signature: sign_bytes(DEVICE_REQUEST_CONTEXT, &message, key),
            nonce,
        }
    }

    /// Checks the signature against the machine's public `key`.
    pub fn verify(
        &self,
        key: &VerifyingKey,
        request: &DeviceRequest<'_>,
    ) -> Result<(), SignatureError> {
        let message = request.message(self.timestamp, &self.nonce);
        verify_bytes(DEVICE_REQUEST_CONTEXT, &message, &self.signature, key)
    }

    /// The `Authorization` header's value.
    pub fn to_header(&self) -> String {
        format!(
            "{DEVICE_SCHEME} id=\"{}\", ts=\"{}\", nonce=\"{}\", sig=\"{}\"",
            self.device_id, self.timestamp, self.nonce, self.signature
        )
    }

    /// Reads an `Authorization` header's value.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let malformed = || {
            SignatureError::Malformed(format!(
                "expected {DEVICE_SCHEME} id=\"...\", ts=\"...\", nonce=\"...\", sig=\"...\""
            ))
        };
        let rest = header
            .strip_prefix(DEVICE_SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(malformed)?;
        let mut fields = std::collections::BTreeMap::new();
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=').ok_or_else(malformed)?;
            let value = value
                .strip_prefix('"')
                .and_then(|value| value.strip_suffix('"'))
                .ok_or_else(malformed)?;
            if fields.insert(name, value).is_some() {
                return Err(malformed());
            }
        }
        let field = |name: &str| fields.get(name).copied().ok_or_else(malformed);
        let nonce = field("nonce")?;
        if nonce.len() < 16 || nonce.len() > 64 {
            return Err(SignatureError::Malformed(
                "the nonce is 16 to 64 characters".into(),
            ));
        }
        Ok(Self {
            device_id: field("id")?.parse().map_err(|_| malformed())?,
            timestamp: field("ts")?.parse().map_err(|_| malformed())?,
            nonce: nonce.to_owned(),
            signature: field("sig")?.to_owned(),
        })
    }
}

/// The parts of a request a machine's signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRequest<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// The path with its query string, as sent: `/api/v1/agent/profile?wait=60`.
    pub path_and_query: &'a str,
    /// The body (empty for none).
    pub body: &'a [u8],
}

impl DeviceRequest<'_> {
    fn message(&self, timestamp: i64, nonce: &str) -> Vec<u8> {
        let body_hash: String = Sha256::digest(self.body)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!(
            "{}\n{}\n{timestamp}\n{nonce}\n{body_hash}",
            self.method, self.path_and_query
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_signature_covers_every_part_of_the_request_and_reads_back() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let request = DeviceRequest {
            method: "POST",
            path_and_query: "/api/v1/agent/status",
            body: b"{\"ok\":true}",
        };
        let device = uuid::Uuid::from_u128(7);
        let signed =
            DeviceAuthorization::sign(device, &key, &request, 1_700_000_000, "n".repeat(22));
        let header = signed.to_header();
        let parsed = DeviceAuthorization::parse(&header).unwrap();
        assert_eq!(parsed, signed);
        parsed.verify(&key.verifying_key(), &request).unwrap();
        for changed in [
            DeviceRequest {
                method: "GET",
                ..request
            },
            DeviceRequest {
                path_and_query: "/api/v1/agent/status?x",
                ..request
            },
            DeviceRequest {
                body: b"{}",
                ..request
            },
        ] {
            assert_eq!(
                parsed.verify(&key.verifying_key(), &changed),
                Err(SignatureError::BadSignature)
            );
        }
        let later = DeviceAuthorization {
            timestamp: 1_700_000_001,
            ..parsed.clone()
        };
        assert!(later.verify(&key.verifying_key(), &request).is_err());
        for bad in [
            "Bearer x",
            "Device id=\"x\"",
            "Device id=1, ts=2, nonce=3, sig=4",
        ] {
            assert!(DeviceAuthorization::parse(bad).is_err(), "{bad}");
        }
    }
}
