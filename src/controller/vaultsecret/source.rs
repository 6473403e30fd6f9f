//! The one seam between the reconcilers and Vault: [`VaultSource`], which
//! [`crate::vault::VaultPool`] implements and tests replace with a fake.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::vault::{KvSecret, PoolStats, Store, VaultError, VaultPool};

/// What the reconcilers ask of Vault. Implementations share sessions and reads between
/// callers; the reconcilers call [`VaultSource::read`] once per (path, version) per refresh.
pub trait VaultSource: Send + Sync {
    /// Reads `path` (pinned to `version` on KV v2) through `store`; a read of the same path
    /// by the same identity younger than `max_age` may be returned instead.
    fn read<'a>(
        &'a self,
        store: &'a Store,
        path: &'a str,
        version: Option<u64>,
        max_age: Duration,
    ) -> BoxFuture<'a, Result<Arc<KvSecret>, VaultError>>;

    /// Logs in with the store's credentials (or reuses the session) and checks the token.
    fn check<'a>(&'a self, store: &'a Store) -> BoxFuture<'a, Result<(), VaultError>>;

    /// Counters for the metrics.
    fn stats(&self) -> PoolStats;
}

/// Integration point: the controller's reads and store checks go to the shared pool.
impl VaultSource for VaultPool {
    fn read<'a>(
        &'a self,
        store: &'a Store,
        path: &'a str,
        version: Option<u64>,
        max_age: Duration,
    ) -> BoxFuture<'a, Result<Arc<KvSecret>, VaultError>> {
        Box::pin(VaultPool::read(self, store, path, version, max_age))
    }

    fn check<'a>(&'a self, store: &'a Store) -> BoxFuture<'a, Result<(), VaultError>> {
        Box::pin(VaultPool::check(self, store))
    }

    fn stats(&self) -> PoolStats {
        VaultPool::stats(self)
    }
}
