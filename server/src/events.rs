//! What happens inside the server that other parts react to. Publishing a profile version
//! sends [`ProfilePublished`] on the [`Events`] channel; the delivery path (long-polling
//! agents) subscribes to it. Sending never waits: a subscriber that falls behind misses events
//! and must re-read the latest versions, which is why an event carries only what changed, not
//! the content.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use switchyard_proto::EnvironmentName;
use tokio::sync::broadcast;

use crate::domain::profiles::ProfileTarget;

/// Events kept for a subscriber that is slow to read them.
const BUFFERED_EVENTS: usize = 1024;

/// A new version of a profile was published (or rolled back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePublished {
    /// The environment.
    pub environment: EnvironmentName,
    /// Baseline or which overlay.
    pub target: ProfileTarget,
    /// The new version.
    pub version: u64,
}

/// The server's event channel.
#[derive(Debug, Clone)]
pub struct Events {
    /// Shared, not copied, by every subscriber: a publish reaches thousands of waiting machines.
    published: broadcast::Sender<Arc<ProfilePublished>>,
    /// How many publishes this process has heard of: what is read after the count reached
    /// `n` reflects every publish up to the `n`th.
    heard: Arc<AtomicU64>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// A channel nobody listens to yet.
    pub fn new() -> Self {
        let (published, _) = broadcast::channel(BUFFERED_EVENTS);
        Self {
            published,
            heard: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Tells every subscriber; with none, the event is dropped.
    pub fn profile_published(&self, event: ProfilePublished) {
        self.heard.fetch_add(1, Ordering::SeqCst);
        let _ = self.published.send(Arc::new(event));
    }

    /// How many publishes this process has heard of so far.
    pub fn heard(&self) -> u64 {
        self.heard.load(Ordering::SeqCst)
    }

    /// Receives every publish from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ProfilePublished>> {
        self.published.subscribe()
    }
}
