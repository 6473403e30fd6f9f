//! Transit through a store's session: the controller unwraps `hc_vault` data keys with the
//! token of a store it names, so a cluster can hold no private key at all.
//!
//! The Vault address written in a SOPS file's `hc_vault` stanza is unauthenticated metadata:
//! it is never contacted. The request goes to the store's server, with the stanza's transit
//! mount and key name, so a crafted file cannot send the controller's token elsewhere.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::error::VaultError;
use super::pool::VaultPool;
use super::session::Store;
use crate::keys::{TransitClient, TransitError, VaultTransitUri};

impl VaultPool {
    /// Decrypts a transit `vault:v…:` ciphertext with key `key_name` on mount `mount`.
    pub async fn transit_decrypt(
        &self,
        store: &Store,
        mount: &str,
        key_name: &str,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let what =
            format!("decrypt with transit key {mount}/{key_name} at {}", store.connection.server);
        let client = self.session_client(store).await?;
        let res = vaultrs::transit::data::decrypt(&*client, mount, key_name, ciphertext, None)
            .await
            .map_err(|e| super::client::classify(e, &what))?;
        let b64 = Zeroizing::new(res.plaintext);
        B64.decode(b64.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Invalid(format!("{what}: the answer is not base64")))
    }

    /// Encrypts `plaintext` with transit key `key_name` on mount `mount`.
    pub async fn transit_encrypt(
        &self,
        store: &Store,
        mount: &str,
        key_name: &str,
        plaintext: &[u8],
    ) -> Result<String, VaultError> {
        let what =
            format!("encrypt with transit key {mount}/{key_name} at {}", store.connection.server);
        let client = self.session_client(store).await?;
        let b64 = Zeroizing::new(B64.encode(plaintext));
        vaultrs::transit::data::encrypt(&*client, mount, key_name, &b64, None)
            .await
            .map(|r| r.ciphertext)
            .map_err(|e| super::client::classify(e, &what))
    }
}

/// A [`TransitClient`] for the keyring that goes through a [`VaultPool`] session. The store can
/// be swapped at run time (when the named store changes); until one is set, every call fails
/// with a message saying which store is missing.
pub struct PoolTransit {
    pool: VaultPool,
    store: RwLock<Option<Arc<Store>>>,
    handle: tokio::runtime::Handle,
    store_name: String,
}

impl std::fmt::Debug for PoolTransit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolTransit").field("store", &self.store_name).finish()
    }
}

impl PoolTransit {
    /// `store_name` is how messages name the store (`ClusterSecretStore/vault`).
    pub fn new(pool: VaultPool, handle: tokio::runtime::Handle, store_name: String) -> PoolTransit {
        PoolTransit { pool, store: RwLock::new(None), handle, store_name }
    }

    /// Points transit at `store` (or at nothing).
    pub fn set_store(&self, store: Option<Store>) {
        *self.store.write().unwrap_or_else(|e| e.into_inner()) = store.map(Arc::new);
    }

    fn store(&self) -> Result<Arc<Store>, TransitError> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| {
            TransitError::Unavailable(format!(
                "the transit store {} is not available (missing or not ready)",
                self.store_name
            ))
        })
    }

    /// Runs `fut` to completion from synchronous code, on a helper thread so that it works from
    /// inside or outside the runtime.
    fn block_on<T: Send>(&self, fut: impl std::future::Future<Output = T> + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| self.handle.block_on(fut))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

fn transit_error(e: VaultError) -> TransitError {
    match e {
        VaultError::Unavailable(m) => TransitError::Unavailable(m),
        VaultError::AuthFailed(m) | VaultError::Forbidden(m) => TransitError::Denied(m),
        VaultError::NotFound(m) | VaultError::Invalid(m) => TransitError::Rejected(m),
    }
}

impl TransitClient for PoolTransit {
    fn encrypt(&self, key: &VaultTransitUri, plaintext: &[u8]) -> Result<String, TransitError> {
        let store = self.store()?;
        self.block_on(self.pool.transit_encrypt(&store, &key.engine_path, &key.key_name, plaintext))
            .map_err(transit_error)
    }

    fn decrypt(
        &self,
        key: &VaultTransitUri,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, TransitError> {
        let store = self.store()?;
        self.block_on(self.pool.transit_decrypt(
            &store,
            &key.engine_path,
            &key.key_name,
            ciphertext,
        ))
        .map_err(transit_error)
    }
}
