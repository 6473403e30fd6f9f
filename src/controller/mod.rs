//! The in-cluster controller: turns `EncryptedSecret`s into `Secret`s (architecture §2).
//!
//! ```text
//! EncryptedSecret ─materialize::sops_file_of─▶ SopsFile ─keyring─▶ data key
//!   ─seal::open (binding first, then MAC)─▶ OpenedSecret ─desired_secret─▶ apply (SSA)
//! ```
//!
//! Pure decisions live in [`materialize`], [`status`] and [`reason`]; [`reconcile`] does the
//! I/O around them; [`run`] wires the watches, keys, leader election and probes.

pub mod client;
pub mod config;
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

pub use config::{Cli, Command, ControllerConfig};
pub use run::{RunError, run};

#[cfg(test)]
mod tests;
