//! The controller's age identities, kept in labelled `Secret`s in its namespace: loaded into a
//! keyring, generated at first start, renewed on a period, and their recipients published.

mod api;
mod plan;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use zeroize::{Zeroize, Zeroizing};

use self::plan::KeyEntry;
use super::leader::Leadership;
use super::metrics::Metrics;
use crate::keys::Keyring;

pub use self::api::KeyApiError;
pub use self::plan::CREATED_ANNOTATION;

/// Label on every key `Secret` the controller decrypts with.
pub const KEY_LABEL: &str = "sealgate.dev/key";
/// Value of [`KEY_LABEL`] for keys in use.
pub const KEY_LABEL_ACTIVE: &str = "active";
/// The data key of a key `Secret` that holds the identity file.
pub const KEY_DATA: &str = "age.agekey";
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
#[derive(Clone)]
pub struct KeySettings {
    pub namespace: String,
    /// Zero: never renew.
    pub renew_period: std::time::Duration,
    /// Vault transit for `hc_vault` data keys (`--transit-store`), given to every keyring.
    pub transit: Option<std::sync::Arc<dyn crate::keys::TransitClient>>,
}

impl std::fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySettings")
            .field("namespace", &self.namespace)
            .field("renew_period", &self.renew_period)
            .field("transit", &self.transit.is_some())
            .finish()
    }
}

/// How often the renewal is checked while leading.
const RECHECK: Duration = Duration::from_secs(3600);
/// How soon a failed write is retried.
const RETRY: Duration = Duration::from_secs(30);

/// Keeps `keyring` in step with the key `Secret`s; while leading, makes the first key, renews
/// it on schedule and publishes the recipients.
///
/// Every replica loads the keys (a follower must be ready to take over); only the leader
/// writes, and it checks [`Leadership::is_leader`] right before each write. Runs forever;
/// apiserver trouble is logged and retried.
pub async fn run(
    client: Client,
    settings: KeySettings,
    leadership: Leadership,
    keyring: ClusterKeyring,
    metrics: Arc<Metrics>,
) {
    run_with_clock(client, settings, leadership, keyring, metrics, jiff::Timestamp::now).await;
}

/// [`run`] with an injected wall clock (tests).
pub(crate) async fn run_with_clock(
    client: Client,
    settings: KeySettings,
    mut leadership: Leadership,
    keyring: ClusterKeyring,
    metrics: Arc<Metrics>,
    clock: fn() -> jiff::Timestamp,
) {
    let api: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let config = watcher::Config::default().labels(&format!("{KEY_LABEL}={KEY_LABEL_ACTIVE}"));
    let events = watcher(api, config).default_backoff();
    tokio::pin!(events);
    let mut keys = Keys {
        client,
        settings,
        entries: BTreeMap::new(),
        listing: None,
        loaded: None,
        published: None,
        clock,
        keyring,
        metrics,
    };
    let mut next_check = Instant::now() + RECHECK;
    loop {
        let mut work = false;
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => work = keys.on_event(event),
                Some(Err(e)) => tracing::warn!(error = %e, "watching the key Secrets failed; retrying"),
                None => return,
            },
            leader = leadership.changed() => {
                // A new term: publish again even if the text looks unchanged.
                keys.published = None;
                work = leader;
            }
            () = sleep_until(next_check) => work = true,
        }
        if work && leadership.is_leader() && keys.loaded.is_some() {
            next_check =
                Instant::now() + if keys.maintain(&leadership).await { RECHECK } else { RETRY };
        }
    }
}

/// The loop's state.
struct Keys {
    client: Client,
    settings: KeySettings,
    /// Key `Secret`s by name.
    entries: BTreeMap<String, KeyEntry>,
    /// While a (re)list is running: the entries seen so far.
    listing: Option<BTreeMap<String, KeyEntry>>,
    /// What the entries last added up to; `None` until the first full list.
    loaded: Option<LoadedSummary>,
    /// The recipients text last published in this term.
    published: Option<String>,
    clock: fn() -> jiff::Timestamp,
    keyring: ClusterKeyring,
    metrics: Arc<Metrics>,
}

/// The public part of [`plan::Loaded`] (the keyring itself went to the [`ClusterKeyring`]).
struct LoadedSummary {
    any_key: bool,
    newest: Option<jiff::Timestamp>,
    recipients: Vec<String>,
}

impl Keys {
    /// Applies a watch event; returns true when the keyring was rebuilt.
    fn on_event(&mut self, event: watcher::Event<Secret>) -> bool {
        match event {
            watcher::Event::Init => {
                self.listing = Some(BTreeMap::new());
                false
            }
            watcher::Event::InitApply(secret) => {
                if let Some((name, entry)) = entry_of(secret) {
                    self.listing.get_or_insert_with(BTreeMap::new).insert(name, entry);
                }
                false
            }
            watcher::Event::InitDone => {
                self.entries = self.listing.take().unwrap_or_default();
                self.rebuild();
                true
            }
            watcher::Event::Apply(secret) => {
                let name = secret.metadata.name.clone().unwrap_or_default();
                match entry_of(secret) {
                    Some((name, entry)) => self.entries.insert(name, entry),
                    None => self.entries.remove(&name),
                };
                self.rebuild();
                true
            }
            watcher::Event::Delete(secret) => {
                let name = secret.metadata.name.clone().unwrap_or_default();
                drop(entry_of(secret));
                self.entries.remove(&name);
                self.rebuild();
                true
            }
        }
    }

    /// Rebuilds the keyring from every entry and swaps it in.
    fn rebuild(&mut self) {
        let mut loaded = plan::load(&self.settings.namespace, &self.entries);
        if let Some(transit) = &self.settings.transit {
            loaded.keyring = loaded.keyring.with_transit(transit.clone());
        }
        for (name, reason) in &loaded.skipped {
            tracing::error!(
                secret = %format!("{}/{name}", self.settings.namespace),
                error = %reason,
                "a key Secret could not be loaded; it is skipped"
            );
        }
        let count = loaded.keyring.identity_count();
        self.metrics.set_identities(count);
        self.keyring.replace(loaded.keyring);
        tracing::info!(identities = count, secrets = self.entries.len(), "keyring loaded");
        self.loaded = Some(LoadedSummary {
            any_key: count > 0,
            newest: loaded.newest,
            recipients: loaded.recipients,
        });
    }

    /// The leader's duties: a new key when one is due, then the recipients published. Returns
    /// false when a write failed (to retry soon).
    async fn maintain(&mut self, leadership: &Leadership) -> bool {
        let Some(loaded) = &self.loaded else { return true };
        let now = (self.clock)();
        let ns = self.settings.namespace.clone();
        if plan::renewal_due(loaded.any_key, loaded.newest, now, self.settings.renew_period) {
            if !leadership.is_leader() {
                return true;
            }
            match self.create_key(now).await {
                Ok((name, entry)) => {
                    tracing::info!(secret = %format!("{ns}/{name}"), "generated a new age identity");
                    // Counted at once, so a timer tick before the watch event makes no second key.
                    self.entries.insert(name, entry);
                    self.rebuild();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "failed to create a new key Secret; retrying");
                    return false;
                }
            }
        }
        let Some(loaded) = &self.loaded else { return true };
        let text = plan::recipients_text(&loaded.recipients);
        if loaded.recipients.is_empty() || self.published.as_deref() == Some(text.as_str()) {
            return true;
        }
        if !leadership.is_leader() {
            return true;
        }
        let body = plan::recipients_configmap(&ns, &loaded.recipients);
        match api::apply_recipients(&self.client, &ns, &body).await {
            Ok(()) => {
                tracing::info!(recipients = loaded.recipients.len(), "published the recipients");
                self.published = Some(text);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "failed to publish the recipients; retrying");
                false
            }
        }
    }

    /// Generates an identity and creates its `Secret`.
    async fn create_key(&self, now: jiff::Timestamp) -> Result<(String, KeyEntry), KeyApiError> {
        let ns = &self.settings.namespace;
        let name = plan::key_secret_name(now);
        let stamp = crate::format::timestamp::Timestamp {
            unix_secs: now.as_second(),
            nanos: 0,
            offset_secs: 0,
        };
        let (text, _recipient) = crate::keys::generate_identity_file(stamp);
        let body = plan::key_secret_body(ns, &name, now, &text)
            .map_err(|e| KeyApiError::Build { name: name.clone(), reason: e.to_string() })?;
        api::create_key_secret(&self.client, ns, &name, body).await?;
        Ok((name, KeyEntry { created: Some(now), text }))
    }
}

/// Takes a key `Secret` apart: its name and entry. All data values are wiped here, whether
/// used or not. `None` (logged by name) when it has no usable `age.agekey`.
fn entry_of(mut secret: Secret) -> Option<(String, KeyEntry)> {
    let name = secret.metadata.name.take().unwrap_or_default();
    let created = secret.metadata.creation_timestamp.take().map(|t| t.0);
    let mut data = secret.data.take().unwrap_or_default();
    let identity = data.remove(KEY_DATA).map(|b| Zeroizing::new(b.0));
    for (_, mut value) in data {
        value.0.zeroize();
    }
    if let Some(mut string_data) = secret.string_data.take() {
        string_data.values_mut().for_each(Zeroize::zeroize);
    }
    let Some(bytes) = identity else {
        tracing::error!(secret = %name, key = KEY_DATA, "a key Secret has no identity under this key; it is skipped");
        return None;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        tracing::error!(secret = %name, key = KEY_DATA, "a key Secret's identity is not UTF-8; it is skipped");
        return None;
    };
    Some((name, KeyEntry { created, text: Zeroizing::new(text.to_owned()) }))
}
