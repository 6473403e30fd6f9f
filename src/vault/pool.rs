//! The controller's one Vault pool: a session (token) per identity and shared, deduplicated
//! reads.

use std::sync::Arc;
use std::time::Duration;

use super::error::VaultError;
use super::kv::KvSecret;
use super::session::Store;

/// Counters for metrics and tests: how much the pool asked of Vault.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub logins: u64,
    pub renewals: u64,
    pub reads: u64,
    pub failed_requests: u64,
}

/// Sessions and reads shared by every reconcile. Cheap to clone (an `Arc` inside).
#[derive(Clone, Default)]
pub struct VaultPool {}

impl VaultPool {
    pub fn new() -> VaultPool {
        VaultPool::default()
    }

    /// Reads `path` (pinned to `version` on KV v2) through the store's session. A read of the
    /// same path by the same identity younger than `max_age`, or one in flight, is shared.
    pub async fn read(
        &self,
        store: &Store,
        path: &str,
        version: Option<u64>,
        max_age: Duration,
    ) -> Result<Arc<KvSecret>, VaultError> {
        let _ = (store, path, version, max_age);
        todo!("vault core")
    }

    /// Logs in (or reuses the session) and looks the token up: the store's `Ready` check.
    pub async fn check(&self, store: &Store) -> Result<(), VaultError> {
        let _ = store;
        todo!("vault core")
    }

    /// What the pool has asked of Vault so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats::default()
    }
}
