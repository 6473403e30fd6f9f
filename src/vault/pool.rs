//! The controller's one Vault pool: a session (token) per identity and shared, deduplicated
//! reads.
//!
//! Guarantees: one login per identity at a time (concurrent users wait for it); a token is
//! renewed in the background at ~2/3 of its TTL while it is in use, so a long refresh interval
//! does not mean a login per refresh; a read of a path by an identity is shared by every caller
//! that asks while it is in flight or younger than the caller's `max_age`. Reads are never
//! shared between identities (their policies may differ). Failures are not cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use vaultrs::client::Client as _;

use super::error::VaultError;
use super::kv::{self, KvSecret, KvVersion};
use super::session::{Credentials, Store};
use super::token::{Effort, Slot};

/// Counters for metrics and tests: how much the pool asked of Vault.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub logins: u64,
    pub renewals: u64,
    pub reads: u64,
    pub failed_requests: u64,
}

/// Tuning for a pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// A session unused for this long stops being renewed and is dropped.
    pub idle: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { idle: Duration::from_secs(2 * 3600) }
    }
}

/// Sessions and reads shared by every reconcile. Cheap to clone (an `Arc` inside).
#[derive(Clone, Default)]
pub struct VaultPool {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    settings: PoolSettings,
    sessions: Mutex<HashMap<Identity, Arc<tokio::sync::Mutex<Slot>>>>,
    reads: Mutex<HashMap<ReadKey, ReadEntry>>,
    /// The largest `max_age` asked for: older completed reads can be forgotten.
    longest_max_age: Mutex<Duration>,
    logins: AtomicU64,
    renewals: AtomicU64,
    reads_done: AtomicU64,
    failed: AtomicU64,
}

/// A digest of everything that makes a login distinct (server, namespace, CA, method, mount,
/// role, and the secret material itself, so a rotated credential gets its own session).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Identity([u8; 32]);

#[derive(Clone, PartialEq, Eq, Hash)]
struct ReadKey {
    identity: Identity,
    mount: String,
    kv: KvVersion,
    path: String,
    version: Option<u64>,
}

type SharedRead = Arc<OnceCell<Result<Arc<KvSecret>, VaultError>>>;

struct ReadEntry {
    started: Instant,
    cell: SharedRead,
}

impl VaultPool {
    pub fn new() -> VaultPool {
        VaultPool::with_settings(PoolSettings::default())
    }

    pub fn with_settings(settings: PoolSettings) -> VaultPool {
        VaultPool { inner: Arc::new(Inner { settings, ..Inner::default() }) }
    }

    /// Reads `path` (pinned to `version` on KV v2) through the store's session. A read of the
    /// same path by the same identity younger than `max_age`, or one in flight, is shared.
    ///
    /// Errors: [`VaultError::Unavailable`] (retry later), `AuthFailed`, `Forbidden`,
    /// `NotFound`, `Invalid` (a bad path or store); messages never hold secret material.
    pub async fn read(
        &self,
        store: &Store,
        path: &str,
        version: Option<u64>,
        max_age: Duration,
    ) -> Result<Arc<KvSecret>, VaultError> {
        let path = kv::normalize_path(path)?;
        let key = ReadKey {
            identity: identity(store),
            mount: store.kv.mount.trim_matches('/').to_owned(),
            kv: store.kv.version,
            path: path.clone(),
            version,
        };
        let cell = self.shared_read(&key, max_age);
        let result = cell
            .get_or_init(|| async { self.read_now(store, key.identity, &path, version).await })
            .await
            .clone();
        if result.is_err() {
            // Callers already waiting got this error; later ones try again.
            let mut reads = self.inner.reads.lock().unwrap_or_else(|e| e.into_inner());
            if reads.get(&key).is_some_and(|e| Arc::ptr_eq(&e.cell, &cell)) {
                reads.remove(&key);
            }
        }
        result
    }

    /// The read to join for `key`: the one in flight or recent enough, else a new one.
    fn shared_read(&self, key: &ReadKey, max_age: Duration) -> SharedRead {
        let now = Instant::now();
        let longest = {
            let mut l = self.inner.longest_max_age.lock().unwrap_or_else(|e| e.into_inner());
            *l = (*l).max(max_age);
            *l
        };
        let mut reads = self.inner.reads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = reads.get(key) {
            let in_flight = e.cell.get().is_none();
            if in_flight || now.duration_since(e.started) < max_age {
                return e.cell.clone();
            }
        }
        if reads.len() >= 256 {
            reads.retain(|_, e| e.cell.get().is_none() || now.duration_since(e.started) < longest);
        }
        let cell = SharedRead::default();
        reads.insert(key.clone(), ReadEntry { started: now, cell: cell.clone() });
        cell
    }

    async fn read_now(
        &self,
        store: &Store,
        identity: Identity,
        path: &str,
        version: Option<u64>,
    ) -> Result<Arc<KvSecret>, VaultError> {
        let slot = self.slot(store, identity);
        let client = self.client(&slot).await?;
        self.inner.reads_done.fetch_add(1, Ordering::Relaxed);
        match kv::read(&client, &store.connection.server, &store.kv, path, version).await {
            Ok(secret) => Ok(Arc::new(secret)),
            Err(VaultError::Forbidden(m)) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                // 403 is also what a revoked or expired token gets: check the token, and if it
                // is the culprit, log in again and retry once.
                let dropped = slot.lock().await.drop_if_token_invalid().await;
                if !dropped {
                    return Err(VaultError::Forbidden(m));
                }
                let client = self.client(&slot).await?;
                self.inner.reads_done.fetch_add(1, Ordering::Relaxed);
                kv::read(&client, &store.connection.server, &store.kv, path, version)
                    .await
                    .map(Arc::new)
                    .inspect_err(|_| {
                        self.inner.failed.fetch_add(1, Ordering::Relaxed);
                    })
            }
            Err(e) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Logs in (or reuses the session) and looks the token up: the store's `Ready` check.
    pub async fn check(&self, store: &Store) -> Result<(), VaultError> {
        let slot = self.slot(store, identity(store));
        let client = self.client(&slot).await?;
        if let Err(e) = client.lookup().await {
            self.inner.failed.fetch_add(1, Ordering::Relaxed);
            slot.lock().await.session = None;
            return Err(match super::client::classify(e, "look up the token") {
                VaultError::Forbidden(m) => VaultError::AuthFailed(m),
                other => other,
            });
        }
        Ok(())
    }

    /// What the pool has asked of Vault so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            logins: self.inner.logins.load(Ordering::Relaxed),
            renewals: self.inner.renewals.load(Ordering::Relaxed),
            reads: self.inner.reads_done.load(Ordering::Relaxed),
            failed_requests: self.inner.failed.load(Ordering::Relaxed),
        }
    }

    fn slot(&self, store: &Store, identity: Identity) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut sessions = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .entry(identity)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot::new(
                    store.connection.clone(),
                    store.credentials.clone(),
                )))
            })
            .clone()
    }

    /// A client holding a usable token for `store`'s identity (logging in if needed).
    pub(crate) async fn session_client(
        &self,
        store: &Store,
    ) -> Result<Arc<vaultrs::client::VaultClient>, VaultError> {
        let slot = self.slot(store, identity(store));
        self.client(&slot).await
    }

    /// The slot's client with a usable token, starting the background renewer when the token
    /// expires.
    async fn client(
        &self,
        slot: &Arc<tokio::sync::Mutex<Slot>>,
    ) -> Result<Arc<vaultrs::client::VaultClient>, VaultError> {
        let mut guard = slot.lock().await;
        guard.last_used = Instant::now();
        let (client, effort) = guard.ensure().await;
        self.count(effort);
        let client = client?;
        let expires = guard.session.as_ref().is_some_and(|s| s.renew_at.is_some());
        if expires && !guard.renewer_running {
            guard.renewer_running = true;
            tokio::spawn(renew_in_background(Arc::downgrade(slot), self.clone_weak()));
        }
        Ok(client)
    }

    fn count(&self, effort: Effort) {
        self.inner.logins.fetch_add(effort.logins, Ordering::Relaxed);
        self.inner.renewals.fetch_add(effort.renewals, Ordering::Relaxed);
        self.inner.failed.fetch_add(effort.failures, Ordering::Relaxed);
    }

    fn clone_weak(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }
}

/// Keeps one session's token alive while it is being used: wakes at its renewal time, renews
/// (or logs in again), and stops once the session has been idle for the pool's `idle` time or
/// the pool is gone.
async fn renew_in_background(slot: Weak<tokio::sync::Mutex<Slot>>, pool: Weak<Inner>) {
    loop {
        let Some(renew_at) = (async {
            let slot = slot.upgrade()?;
            let guard = slot.lock().await;
            guard.session.as_ref().and_then(|s| s.renew_at)
        })
        .await
        else {
            break;
        };
        tokio::time::sleep_until(renew_at.into()).await;
        let (Some(slot), Some(pool)) = (slot.upgrade(), pool.upgrade()) else { return };
        let mut guard = slot.lock().await;
        if guard.last_used.elapsed() >= pool.settings.idle {
            guard.session = None;
            break;
        }
        let (result, effort) = guard.ensure().await;
        VaultPool { inner: pool.clone() }.count(effort);
        if let Err(e) = result {
            tracing::warn!(
                server = %guard.connection.server,
                error = %e,
                "keeping a Vault token alive failed; the next read logs in again"
            );
            guard.session = None;
            break;
        }
    }
    if let Some(slot) = slot.upgrade() {
        slot.lock().await.renewer_running = false;
    }
}

fn identity(store: &Store) -> Identity {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    let c = &store.connection;
    field(c.server.trim_end_matches('/').as_bytes());
    field(c.namespace.as_deref().unwrap_or("").as_bytes());
    field(c.ca_bundle.as_deref().unwrap_or(b""));
    match &store.credentials {
        Credentials::Token { token } => {
            field(b"token");
            field(token.as_bytes());
        }
        Credentials::AppRole { mount, role_id, secret_id } => {
            field(b"approle");
            field(mount.as_bytes());
            field(role_id.as_bytes());
            field(secret_id.as_bytes());
        }
        Credentials::Kubernetes { mount, role, subject, .. } => {
            field(b"kubernetes");
            field(mount.as_bytes());
            field(role.as_bytes());
            field(subject.as_bytes());
        }
    }
    Identity(h.finalize().into())
}
