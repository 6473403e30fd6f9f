//! sealgate: Kubernetes secrets in Git, safely.
//!
//! The core library. It implements the SOPS v3 file format byte-compatibly with `sops` 3.11
//! ([`format`]), the key sources that wrap a file's data key ([`keys`]), `.sops.yaml` creation
//! rules ([`config`]), and sealing Kubernetes `Secret`s into `EncryptedSecret`s ([`seal`]).
//!
//! With the `kubernetes` feature (on by default) it also holds the custom resource types
//! ([`crd`]) and the in-cluster controller ([`controller`]), whose binary is
//! `sealgate-controller`.
//!
//! Arrows point one way: `format` ← `keys` ← `seal` ← `controller`. Nothing here but the
//! controller's entry point prints or installs a logger.

pub mod audit;
pub mod config;
#[cfg(feature = "kubernetes")]
pub mod controller;
#[cfg(feature = "kubernetes")]
pub mod crd;
pub mod format;
pub mod keys;
pub mod merge;
pub mod seal;
#[cfg(feature = "vault")]
pub mod vault;

/// A real OpenBao dev server for the unit tests that talk to Vault (shared with the
/// integration tests, which include the same file).
#[cfg(all(test, feature = "vault"))]
#[path = "../tests/support/openbao.rs"]
pub(crate) mod test_openbao;
