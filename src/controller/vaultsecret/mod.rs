//! The controller's Vault side (issue 4): `VaultSecret`s become `Secret`s with values read
//! through `SecretStore`s and `ClusterSecretStore`s.
//!
//! ```text
//! VaultSecret ─plan─▶ reads ─store::lookup─▶ StoreView ─conditions (cluster stores)─▶
//!   ─credentials::resolve─▶ vault::Store ─VaultSource::read (shared pool)─▶ KvSecret
//!   ─values::secret_data─▶ data ─materialize::build_secret─▶ write (shared with EncryptedSecret)
//! ```
//!
//! Pure decisions live in [`plan`], [`paths`], [`conditions`], [`values`], [`schedule`],
//! [`status`] and [`store`]; [`reconcile`] and [`stores`] do the I/O around them; Vault is
//! reached only through [`VaultSource`].

pub mod conditions;
pub mod credentials;
pub mod paths;
pub mod plan;
pub mod reconcile;
pub mod schedule;
pub mod source;
pub mod status;
pub mod store;
pub mod stores;
pub mod token;
pub mod transit_store;
pub mod values;

pub use reconcile::reconcile;
pub use schedule::RefreshState;
pub use source::VaultSource;
pub use stores::{StoreCheck, reconcile_store};
