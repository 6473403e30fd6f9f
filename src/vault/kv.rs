//! The KV secrets engine, v1 and v2: what a read returns and how a path maps to the API.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

/// KV engine version of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvVersion {
    V1,
    V2,
}

/// A KV mount: `secret` with version 2 is Vault's dev-server default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvEngine {
    pub mount: String,
    pub version: KvVersion,
}

/// One read of a KV path: every property, as bytes (strings as UTF-8, other JSON values as
/// their JSON text), and for KV v2 the version that was read.
#[derive(Debug, Default)]
pub struct KvSecret {
    pub data: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// The KV v2 version read (`None` for KV v1).
    pub version: Option<u64>,
}
