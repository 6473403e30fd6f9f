//! sealgate: Kubernetes secrets in Git, safely.
//!
//! The core library. It implements the SOPS v3 file format byte-compatibly with `sops` 3.11
//! ([`format`]), the key sources that wrap a file's data key ([`keys`]), `.sops.yaml` creation
//! rules ([`config`]), and sealing Kubernetes `Secret`s into `EncryptedSecret`s ([`seal`]).
//!
//! Arrows point one way: `format` ← `keys` ← `seal`. Nothing here prints or installs a logger.

pub mod config;
pub mod format;
pub mod keys;
pub mod merge;
pub mod seal;
