//! The in-cluster controller: turns `EncryptedSecret`s (architecture §2) and `VaultSecret`s
//! (§3, [`vaultsecret`]) into `Secret`s.
//!
//! ```text
//! EncryptedSecret ─materialize::sops_file_of─▶ SopsFile ─keyring─▶ data key
//!   ─seal::open (binding first, then MAC)─▶ OpenedSecret ─desired_secret─▶ write (SSA)
//! VaultSecret ─vaultsecret─▶ values read from Vault ─build_secret─▶ write (SSA)
//! ```
//!
//! Pure decisions live in [`materialize`], [`status`] and [`reason`]; [`reconcile`] does the
//! I/O around them, and [`write`] writes every produced Secret by the same rules; [`context`]
//! is what reconciles share; [`run`] wires the watches, keys, leader election and probes.

pub mod audit;
pub mod client;
pub mod config;
pub mod context;
pub mod histogram;
pub mod keys;
pub mod leader;
pub mod materialize;
pub mod metrics;
pub mod reason;
pub mod reconcile;
pub mod run;
pub mod secret_api;
pub mod server;
pub mod status;
pub mod vaultsecret;
pub mod webhook;
pub mod write;

pub use config::{Cli, Command, ControllerConfig};
pub use run::{RunError, run};

#[cfg(test)]
mod tests;
