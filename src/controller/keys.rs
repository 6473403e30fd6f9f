//! The controller's age identities, kept in labelled `Secret`s in its namespace: loaded into a
//! keyring, generated at first start, renewed on a period, and their recipients published.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::keys::Keyring;

/// Label on every key `Secret` the controller decrypts with.
pub const KEY_LABEL: &str = "sealgate.dev/key";
/// Value of [`KEY_LABEL`] for keys in use.
pub const KEY_LABEL_ACTIVE: &str = "active";
/// The ConfigMap that publishes the public recipients.
pub const RECIPIENTS_CONFIGMAP: &str = "sealgate-recipients";
/// Its key: the recipients, newest first, one per line.
pub const RECIPIENTS_KEY: &str = "recipients.txt";

/// The current keyring, shared by every reconcile; swapped whole when key `Secret`s change.
#[derive(Clone, Debug)]
pub struct ClusterKeyring {
    current: Arc<RwLock<Arc<Keyring>>>,
    generation: watch::Sender<u64>,
}

impl ClusterKeyring {
    /// A keyring that is not loaded yet (the controller is not ready until it is).
    pub fn unloaded() -> ClusterKeyring {
        ClusterKeyring {
            current: Arc::new(RwLock::new(Arc::new(Keyring::empty()))),
            generation: watch::channel(0).0,
        }
    }

    /// A loaded keyring with these identities (tests, and the loader).
    pub fn with(keyring: Keyring) -> ClusterKeyring {
        let k = ClusterKeyring::unloaded();
        k.replace(keyring);
        k
    }

    /// The keyring as it is now.
    pub fn current(&self) -> Arc<Keyring> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swaps in a new keyring and tells the watchers of [`ClusterKeyring::changes`].
    pub fn replace(&self, keyring: Keyring) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keyring);
        self.generation.send_modify(|g| *g += 1);
    }

    /// True once key `Secret`s have been read at least once.
    pub fn is_loaded(&self) -> bool {
        *self.generation.borrow() > 0
    }

    /// A receiver that changes each time the keyring is replaced (to re-reconcile everything
    /// that failed for want of a key).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

/// Where key `Secret`s live and how often a new one is made.
#[derive(Debug, Clone)]
pub struct KeySettings {
    pub namespace: String,
    /// Zero: never renew.
    pub renew_period: std::time::Duration,
}

/// Keeps `keyring` in step with the key `Secret`s; while leading, makes the first key, renews
/// it on schedule and publishes the recipients.
pub async fn run(
    _client: kube::Client,
    _settings: KeySettings,
    _leadership: super::leader::Leadership,
    _keyring: ClusterKeyring,
    _metrics: std::sync::Arc<super::metrics::Metrics>,
) {
    todo!("the cluster keyring loop")
}
