//! What every reconcile shares: the client, keys, Vault, caches, leadership, recorder, metrics,
//! and the per-object bookkeeping (what was written, consecutive failures, refresh state).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::{Client, Resource};

use super::keys::ClusterKeyring;
use super::leader::Leadership;
use super::metrics::Metrics;
use super::reconcile::Error;
use super::vaultsecret::{RefreshState, StoreCheck, VaultSource};
use super::write::SecretWrites;
use crate::crd::{ClusterSecretStore, EncryptedSecret, SecretStore, VaultSecret};

/// An object the controller keeps bookkeeping for: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// The key of one of sealgate's own resources.
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectKey {
        ObjectKey {
            kind: kind_name::<K>(),
            namespace: obj.meta().namespace.clone(),
            name: obj.meta().name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// The kinds with bookkeeping, as static names.
fn kind_name<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "EncryptedSecret" => "EncryptedSecret",
        "VaultSecret" => "VaultSecret",
        "SecretStore" => "SecretStore",
        "ClusterSecretStore" => "ClusterSecretStore",
        _ => "Other",
    }
}

/// Everything a reconcile needs, shared by all of them (of every kind).
pub struct Context {
    pub client: Client,
    pub keyring: ClusterKeyring,
    pub leadership: Leadership,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Metadata of the Secrets the controller manages (label-selected): no values.
    pub owned_secrets: Store<PartialObjectMeta<Secret>>,
    /// Vault reads and login checks ([`crate::vault::VaultPool`] in production).
    pub vault: Arc<dyn VaultSource>,
    /// The watched stores (they hold no secret material; their credentials are read per use).
    pub secret_stores: Store<SecretStore>,
    pub cluster_secret_stores: Store<ClusterSecretStore>,
    /// Per object: what was last written, to skip writes when nothing changed.
    pub(crate) writes: SecretWrites,
    /// Per object: consecutive failures (transient errors, Vault failures), for the backoff.
    pub(crate) failures: Mutex<HashMap<ObjectKey, u32>>,
    /// Per `VaultSecret`: when it was last read, and what from.
    pub(crate) refreshes: Mutex<HashMap<ObjectKey, RefreshState>>,
    /// Per store: the last login check.
    pub(crate) store_checks: Mutex<HashMap<ObjectKey, StoreCheck>>,
    /// The audit trail (`--audit-log`, `--audit-stdout`); `None` when off.
    pub audit: Option<Arc<super::audit::ControllerAudit>>,
    /// The watched objects, to forget deleted ones in the maps above.
    objects: Option<Store<EncryptedSecret>>,
    vault_objects: Option<Store<VaultSecret>>,
}

impl Context {
    pub fn new(
        client: Client,
        keyring: ClusterKeyring,
        leadership: Leadership,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        owned_secrets: Store<PartialObjectMeta<Secret>>,
    ) -> Context {
        Context {
            client,
            keyring,
            leadership,
            recorder,
            metrics,
            owned_secrets,
            vault: Arc::new(crate::vault::VaultPool::new()),
            secret_stores: reflector::store().0,
            cluster_secret_stores: reflector::store().0,
            writes: SecretWrites::new(),
            failures: Mutex::default(),
            refreshes: Mutex::default(),
            store_checks: Mutex::default(),
            audit: None,
            objects: None,
            vault_objects: None,
        }
    }

    /// Records accesses to `audit`.
    pub fn with_audit(mut self, audit: Option<Arc<super::audit::ControllerAudit>>) -> Context {
        self.audit = audit;
        self
    }

    /// Lets the context forget what it remembered about objects that were deleted.
    pub fn with_objects(mut self, objects: Store<EncryptedSecret>) -> Context {
        self.objects = Some(objects);
        self
    }

    /// The Vault side: where reads go, the store caches, and the watched `VaultSecret`s (to
    /// forget deleted ones).
    pub fn with_vault(
        mut self,
        vault: Arc<dyn VaultSource>,
        secret_stores: Store<SecretStore>,
        cluster_secret_stores: Store<ClusterSecretStore>,
        vault_objects: Option<Store<VaultSecret>>,
    ) -> Context {
        self.vault = vault;
        self.secret_stores = secret_stores;
        self.cluster_secret_stores = cluster_secret_stores;
        self.vault_objects = vault_objects;
        self
    }

    /// Whether an object with bookkeeping still exists (unknown kinds and unwatched stores
    /// count as existing).
    fn is_live(&self, key: &ObjectKey) -> bool {
        let Some(ns) = key.namespace.as_deref() else { return true };
        match key.kind {
            "EncryptedSecret" => self.objects.as_ref().is_none_or(|s| {
                s.get(&ObjectRef::<EncryptedSecret>::new(&key.name).within(ns)).is_some()
            }),
            "VaultSecret" => self.vault_objects.as_ref().is_none_or(|s| {
                s.get(&ObjectRef::<VaultSecret>::new(&key.name).within(ns)).is_some()
            }),
            _ => true,
        }
    }

    /// Drops entries for objects no longer watched, once the bookkeeping has grown to twice
    /// their number (so a long-running controller does not grow with deletions).
    pub(crate) fn prune(&self) {
        let live = self.objects.as_ref().map_or(0, Store::len)
            + self.vault_objects.as_ref().map_or(0, Store::len);
        if self.writes.len() <= 2 * live + 64 {
            return;
        }
        self.writes.retain(|k| self.is_live(k));
        lock(&self.failures).retain(|k, _| self.is_live(k));
        lock(&self.refreshes).retain(|k, _| self.is_live(k));
    }

    /// The existing Secret's metadata: from the watch cache when it is one of ours, else from
    /// the apiserver (metadata only: no values cross the wire).
    ///
    /// # Errors
    /// [`Error`] when the apiserver cannot be asked.
    pub async fn existing_secret(&self, ns: &str, name: &str) -> Result<Option<ObjectMeta>, Error> {
        if let Some(cached) = self.cached_secret(ns, name) {
            return Ok(Some(cached));
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        Ok(api.get_metadata_opt(name).await?.map(|m| m.metadata))
    }

    /// The Secret's metadata from the owned-Secrets cache, if it is there.
    pub fn cached_secret(&self, ns: &str, name: &str) -> Option<ObjectMeta> {
        let key = ObjectRef::<PartialObjectMeta<Secret>>::new(name).within(ns);
        self.owned_secrets.get(&key).map(|cached| cached.metadata.clone())
    }

    /// Counts one more consecutive failure of `key`; returns the count.
    pub(crate) fn count_failure(&self, key: &ObjectKey) -> u32 {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets the failures of `key` after a success.
    pub(crate) fn clear_failures(&self, key: &ObjectKey) {
        lock(&self.failures).remove(key);
    }

    /// Publishes an Event about `obj` (Normal when `ok`). An Event that cannot be written is
    /// logged, not worth failing the reconcile for.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        ok: bool,
        reason: &str,
        message: &str,
        action: &str,
    ) {
        let event = Event {
            type_: if ok { EventType::Normal } else { EventType::Warning },
            reason: reason.to_owned(),
            note: Some(message.chars().take(1000).collect()),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(object = %ObjectKey::of(obj), error = %e, "failed to publish an Event");
        }
    }
}

/// Locks a bookkeeping map; a panic elsewhere does not poison it for good.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
