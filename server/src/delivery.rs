//! Delivery: what an enrolled machine is sent. A reading takes a snapshot of the latest
//! baseline and overlay versions and the signing key, merges the profiles, lists the machines
//! of the environment and role in a Merkle tree and signs the delivery once for all of them;
//! each machine gets the shared delivery with its own proof of membership. While a rollout
//! splits the machines, a reading signs twice: the new version for the machines its waves
//! took so far, the previous one for the others.
//!
//! No HTTP here: `http/agent.rs` answers the long-poll with what [`Delivery::prepared`] gives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use switchyard_proto::delivery::{FleetDelivery, Machines, SignedDelivery};
use switchyard_proto::merkle::MachineTree;
use tokio::sync::broadcast;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::domain::devices::DeviceRecord;
use crate::domain::profiles::{effective_of, DocumentError, ProfileTarget, VersionRecord};
use crate::domain::rollouts::RolloutRecord;
use crate::domain::sealing::SecretBox;
use crate::domain::signing::{open_signing_key, SigningKeyRecord};
use crate::events::{Events, ProfilePublished};
use crate::keys::{self, KeysError};
use crate::store::{SharedStore, StoreError};

/// How long one reading of what machines are sent may serve requests. A publish this process
/// hears of, or a key rotated here, ends it at once; a key rotated on another server process is
/// seen within this time.
const READING_LIFETIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a machine cannot be sent its profile now.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The machine was moved or revoked while it asked: it is not one of the machines the
    /// delivery is for.
    #[error("the machine was moved or revoked while it asked")]
    DeviceChanged,
    /// A rollout kept moving while the delivery was read.
    #[error("a rollout moved while the delivery was read")]
    RolloutMoving,
    /// A stored profile cannot be read back.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The signing key cannot be read.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What machines are sent, and the readings machines of one environment and role share.
pub struct Delivery {
    store: SharedStore,
    sealer: Arc<SecretBox>,
    clock: SharedClock,
    events: Events,
    /// How long a delivery stays valid.
    lifetime: time::Duration,
    /// By environment and role: the reading, with the publish count it was made after and
    /// when (made at most once, by whichever machine asks first).
    latest: Mutex<HashMap<(String, String), Shared>>,
    /// Readings made (the `switchyard_delivery_readings_total` metric): each is a signature.
    made: prometheus::IntCounter,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// What a machine's profile is made of now.
#[derive(Debug, Clone)]
pub struct Snapshot {
    baseline: Option<VersionRecord>,
    overlay: Option<VersionRecord>,
    /// The signing key, still sealed: opened only when a reading signs its delivery.
    key: SigningKeyRecord,
}

impl Snapshot {
    /// Names this content for this machine: it changes when a version is published, the
    /// machine moves, or the signing key rotates.
    pub fn etag(&self, device: &DeviceRecord) -> String {
        format!(
            "\"{}/{}/b{}/o{}/k{}\"",
            device.environment,
            device.machine_role,
            VersionRecord::number(self.baseline.as_ref()),
            VersionRecord::number(self.overlay.as_ref()),
            self.key.version
        )
    }
}

/// What every machine of one environment and role is sent: one signed delivery, and each
/// machine's proof that it is one of them.
pub struct Prepared {
    /// What it was made of.
    pub snapshot: Snapshot,
    /// The delivery, signed once.
    pub signed: SignedDelivery,
    /// The start of every machine's envelope, shared by their responses.
    pub head: Bytes,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}

/// What the machines of one environment and role are sent: one delivery per cohort, each
/// signed once. There is one cohort, or two while a rollout splits them (the machines its
/// waves took so far, and the others).
struct Reading {
    sides: Vec<Arc<Prepared>>,
}

impl Reading {
    /// The delivery that lists `device`, if any does.
    fn side_of(&self, device: uuid::Uuid) -> Option<&Arc<Prepared>> {
        self.sides.iter().find(|side| side.signed.includes(device))
    }
}

/// One shared reading, made by the first machine that needs it.
struct Shared {
    heard: u64,
    made: Instant,
    reading: Arc<OnceCell<Arc<Reading>>>,
}

impl Shared {
    fn new(heard: u64) -> Self {
        Self {
            heard,
            made: Instant::now(),
            reading: Arc::new(OnceCell::new()),
        }
    }
}

impl Delivery {
    /// Delivery from `store`, signed with its keys (sealed by `sealer`), each valid for
    /// `lifetime`; `made` counts readings.
    pub fn new(
        store: SharedStore,
        sealer: Arc<SecretBox>,
        clock: SharedClock,
        events: Events,
        lifetime: time::Duration,
        made: prometheus::IntCounter,
    ) -> Self {
        Self {
            store,
            sealer,
            clock,
            events,
            lifetime,
            latest: Mutex::default(),
            made,
        }
    }

    /// Receives every publish this process hears of from now on: subscribe before looking,
    /// so a publish between the look and the wait is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ProfilePublished>> {
        self.events.subscribe()
    }

    /// What `device` is sent, read after every publish this process had heard of when it
    /// asked, at most [`READING_LIFETIME`] ago. Machines of one environment and role share
    /// it: a publish wakes every waiting machine at once, and thousands reconnect together
    /// after a restart, while each reading costs several queries, a decryption and a
    /// signature.
    pub async fn prepared(&self, device: &DeviceRecord) -> Result<Arc<Prepared>, DeliveryError> {
        let heard = self.events.heard();
        let reading = self.reading_for(device, heard, None);
        if let Some(side) = self.read(device, &reading).await?.side_of(device.id) {
            return Ok(side.clone());
        }
        // Enrolled, moved here or labelled since this reading was made: read again. Machines
        // that arrive together share the new reading too.
        let reading = self.reading_for(device, heard, Some(&reading));
        self.read(device, &reading)
            .await?
            .side_of(device.id)
            .cloned()
            .ok_or(DeliveryError::DeviceChanged)
    }

    /// The reading `device` shares with its environment and role; a new one when the last
    /// was made before a publish `heard` counts, is too old, or is `lacking` the device.
    fn reading_for(
        &self,
        device: &DeviceRecord,
        heard: u64,
        lacking: Option<&Arc<OnceCell<Arc<Reading>>>>,
    ) -> Arc<OnceCell<Arc<Reading>>> {
        let mut latest = self.lock();
        let shared = latest
            .entry((
                device.environment.to_string(),
                device.machine_role.to_string(),
            ))
            .or_insert_with(|| Shared::new(heard));
        let lacks = lacking.is_some_and(|lacking| Arc::ptr_eq(&shared.reading, lacking));
        if lacks || shared.heard < heard || shared.made.elapsed() > READING_LIFETIME {
            *shared = Shared::new(heard.max(shared.heard));
        }
        shared.reading.clone()
    }

    /// The reading in `cell`, made now by this machine if nobody made it yet.
    async fn read(
        &self,
        device: &DeviceRecord,
        cell: &OnceCell<Arc<Reading>>,
    ) -> Result<Arc<Reading>, DeliveryError> {
        cell.get_or_try_init(|| async {
            Ok::<_, DeliveryError>(Arc::new(self.make(device).await?))
        })
        .await
        .cloned()
    }

    /// Reads what the machines of `device`'s environment and role are sent now, and signs it
    /// once per cohort.
    async fn make(&self, device: &DeviceRecord) -> Result<Reading, DeliveryError> {
        let environment = &device.environment;
        let role = &device.machine_role;
        // The versions and the rollout are read in separate queries: a rollout that moved
        // between them (a revert publishes a version and ends the split in one transaction)
        // would pair the reverted version with no split, so the rollout is read before and
        // after the versions, and the reading is made again if it moved.
        let mut attempts = 0;
        let (snapshot, rollout) = loop {
            let before = self.store.active_rollout(environment).await?;
            let snapshot = Snapshot {
                baseline: self
                    .store
                    .latest_version(environment, &ProfileTarget::Baseline)
                    .await?,
                overlay: self
                    .store
                    .latest_version(environment, &ProfileTarget::Role(role.clone()))
                    .await?,
                key: keys::current_record(self.store.as_ref()).await?,
            };
            let after = self.store.active_rollout(environment).await?;
            let moment =
                |rollout: &Option<RolloutRecord>| rollout.as_ref().map(|r| (r.id, r.revision));
            if moment(&before) == moment(&after) {
                break (snapshot, after.filter(|rollout| rollout.concerns(role)));
            }
            attempts += 1;
            if attempts == 3 {
                return Err(DeliveryError::RolloutMoving);
            }
        };
        let machines = self.store.active_devices(environment, role).await?;
        let cohorts = match rollout {
            None => vec![(
                snapshot,
                machines
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect::<Vec<Uuid>>(),
            )],
            Some(rollout) => {
                let (cohort, rest): (Vec<_>, Vec<_>) = machines
                    .into_iter()
                    .partition(|(id, labels)| rollout.includes(*id, labels));
                let ids = |machines: Vec<(Uuid, _)>| -> Vec<Uuid> {
                    machines.into_iter().map(|(id, _)| id).collect()
                };
                vec![
                    (
                        self.with_version(&snapshot, &rollout, rollout.to_version)
                            .await?,
                        ids(cohort),
                    ),
                    (
                        self.with_version(&snapshot, &rollout, rollout.from_version)
                            .await?,
                        ids(rest),
                    ),
                ]
            }
        };
        let head = self.store.audit_head().await?;
        let mut sides = Vec::new();
        for (snapshot, machines) in cohorts {
            // A cohort without machines is sent nothing; the asking machine is in one unless
            // it was moved or revoked since it was let in.
            if let Some(tree) = MachineTree::new(machines) {
                sides.push(Arc::new(self.prepare(snapshot, device, tree, &head)?));
                self.made.inc();
            }
        }
        Ok(Reading { sides })
    }

    /// `snapshot` with version `number` of the profile `rollout` rolls out.
    async fn with_version(
        &self,
        snapshot: &Snapshot,
        rollout: &RolloutRecord,
        number: u64,
    ) -> Result<Snapshot, DeliveryError> {
        let version = self
            .store
            .version(&rollout.environment, &rollout.target, number)
            .await?;
        let mut side = snapshot.clone();
        match rollout.target {
            ProfileTarget::Baseline => side.baseline = Some(version),
            ProfileTarget::Role(_) => side.overlay = Some(version),
        }
        Ok(side)
    }

    /// The delivery to the machines of `tree` (of `device`'s environment and role), signed
    /// once for all of them.
    fn prepare(
        &self,
        snapshot: Snapshot,
        device: &DeviceRecord,
        tree: MachineTree,
        head: &switchyard_proto::AuditHead,
    ) -> Result<Prepared, DeliveryError> {
        let (profile, _) = effective_of(
            snapshot.baseline.as_ref(),
            snapshot.overlay.as_ref(),
            &self.sealer,
        )?;
        let key = open_signing_key(&snapshot.key, &self.sealer).map_err(KeysError::from)?;
        let issued_at = self.clock.now();
        let delivery = FleetDelivery {
            environment: device.environment.to_string(),
            machine_role: device.machine_role.to_string(),
            baseline_version: VersionRecord::number(snapshot.baseline.as_ref()),
            overlay_version: VersionRecord::number(snapshot.overlay.as_ref()),
            sequence: head.seq,
            issued_at,
            expires_at: issued_at + self.lifetime,
            machines: Machines::default(),
            profile,
            audit_head: Some(head.sign(&key.key)),
        };
        let signed = SignedDelivery::sign(delivery, tree, &key.key);
        Ok(Prepared {
            head: Bytes::copy_from_slice(signed.head()),
            signed,
            snapshot,
        })
    }

    /// Drops every reading: the signing key changed.
    pub fn forget(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Shared>> {
        self.latest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
