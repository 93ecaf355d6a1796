//! The server's signing keys at work: the first one made at first start, rotation (from the
//! API or `switchyard-server keys rotate`), the current key for signing deliveries, and the
//! chain of signed key sets machines follow.

use switchyard_proto::signing::Signed;
use switchyard_proto::AuditAction;
use time::OffsetDateTime;

use crate::domain::audit::Origin;
use crate::domain::sealing::SecretBox;
use crate::domain::signing::{
    new_signing_key, open_signing_key, signed_key_set, KeyError, ServerKey, SigningKeyRecord,
};
use crate::store::{Store, StoreError};

/// What can go wrong with the signing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The database failed, or another process rotated at the same moment.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key cannot be opened: the profile key is not the one it was sealed with.
    #[error("the signing key cannot be read: {0}")]
    Key(#[from] KeyError),
    /// No key exists yet (the server makes one at start-up).
    #[error("there is no signing key yet")]
    NoKey,
}

/// Makes the first signing key if there is none, and checks that the current one opens with
/// this server's profile key (so a wrong key file stops start-up, not every delivery).
pub async fn ensure_signing_key(
    store: &dyn Store,
    sealer: &SecretBox,
    now: OffsetDateTime,
) -> Result<(), KeysError> {
    if let Some(latest) = store.latest_signing_key().await? {
        open_signing_key(&latest, sealer)?;
        return Ok(());
    }
    let (record, _) = new_signing_key(1, None, sealer, now);
    let audit = created(
        &record,
        &Origin::system(),
        AuditAction::SigningKeyCreate,
        now,
    );
    match store.add_signing_key(&record, &audit).await {
        // Another server process on the same database was first: theirs is as good.
        Ok(()) | Err(StoreError::SigningKeyTaken(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Makes a new signing key, whose key set is signed by the current key. Deliveries are signed
/// with it from now on; machines trust it once they have followed the chain, and trust the
/// old key no more.
pub async fn rotate(
    store: &dyn Store,
    sealer: &SecretBox,
    origin: &Origin,
    now: OffsetDateTime,
) -> Result<SigningKeyRecord, KeysError> {
    let current = current_key(store, sealer).await?;
    let (record, _) = new_signing_key(current.version + 1, Some(&current), sealer, now);
    let audit = created(&record, origin, AuditAction::SigningKeyRotate, now).with_detail(
        "retired_key_id",
        switchyard_proto::signing::key_id(&current.key.verifying_key()),
    );
    store.add_signing_key(&record, &audit).await?;
    Ok(record)
}

fn created(
    record: &SigningKeyRecord,
    origin: &Origin,
    action: AuditAction,
    now: OffsetDateTime,
) -> crate::domain::audit::AuditRecord {
    origin
        .record(action, format!("signing-key:{}", record.key_id), now)
        .with_detail("key_set_version", record.version.to_string())
        .with_detail("public_key", record.public_key.as_str())
}

/// The record of the key that signs deliveries now, still sealed.
pub async fn current_record(store: &dyn Store) -> Result<SigningKeyRecord, KeysError> {
    store.latest_signing_key().await?.ok_or(KeysError::NoKey)
}

/// The key that signs deliveries now.
pub async fn current_key(store: &dyn Store, sealer: &SecretBox) -> Result<ServerKey, KeysError> {
    Ok(open_signing_key(&current_record(store).await?, sealer)?)
}

/// The signed key sets after version `after`, oldest first: what a machine that trusts
/// version `after` follows to the current one (all of them for `after` = 0).
pub async fn key_set_chain(store: &dyn Store, after: u64) -> Result<Vec<Signed>, KeysError> {
    store
        .signing_keys()
        .await?
        .iter()
        .filter(|record| record.version > after)
        .map(|record| signed_key_set(record).map_err(KeysError::from))
        .collect()
}
