//! Vault/OpenBao as a source of secrets: connections, authentication with one cached token per
//! identity, KV v1/v2 reads shared between readers, and transit as a SOPS key source.
//!
//! ```text
//! VaultSecret ─store─▶ Store { connection, kv, credentials }
//!   ─VaultPool::read─▶ session (one token per identity, renewed at ~2/3 TTL)
//!   ─shared read (one request per path per freshness window)─▶ KvSecret
//! ```
//!
//! Nothing here knows Kubernetes: the controller resolves a store's Secret references and
//! ServiceAccount tokens into [`Credentials`] and hands them in.

mod client;
mod error;
mod kv;
mod pool;
mod pool_transit;
mod session;
mod token;
mod transit;

pub use error::VaultError;
pub use kv::{KvEngine, KvSecret, KvVersion, normalize_path};
pub use pool::{PoolSettings, PoolStats, VaultPool};
pub use pool_transit::PoolTransit;
pub use session::{Connection, Credentials, JwtSource, Store};
pub use transit::{TokenOrigin, TransitConfig, VaultToken, VaultTransit, discover_token};
