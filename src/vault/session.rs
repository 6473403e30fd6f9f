//! Where a store's Vault is and who it logs in as: [`Connection`], [`Credentials`], [`Store`].

use std::sync::Arc;

use futures::future::BoxFuture;
use zeroize::Zeroizing;

use super::error::VaultError;
use super::kv::KvEngine;

/// How to reach a Vault server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    /// `https://vault.example:8200` (no trailing slash).
    pub server: String,
    /// PEM certificates to trust instead of the system roots.
    pub ca_bundle: Option<Vec<u8>>,
    /// Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`).
    pub namespace: Option<String>,
}

/// Fetches a fresh, short-lived JWT for Kubernetes auth (a TokenRequest), only when a login is
/// needed.
pub type JwtSource =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Zeroizing<String>, VaultError>> + Send + Sync>;

/// Who a store logs in as. Secret material is zeroized on drop and never printed.
#[derive(Clone)]
pub enum Credentials {
    /// A token used as is (renewed if renewable; never "logged in" again).
    Token { token: Zeroizing<String> },
    /// AppRole login at `auth/<mount>/login`.
    AppRole { mount: String, role_id: String, secret_id: Zeroizing<String> },
    /// Kubernetes login at `auth/<mount>/login` with a JWT from `jwt`. `subject` names the
    /// ServiceAccount (`namespace/name`, plus audiences) so that each one gets its own token.
    Kubernetes { mount: String, role: String, subject: String, jwt: JwtSource },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token { .. } => f.write_str("Token(<redacted>)"),
            Credentials::AppRole { mount, .. } => write!(f, "AppRole(mount={mount})"),
            Credentials::Kubernetes { mount, role, subject, .. } => {
                write!(f, "Kubernetes(mount={mount}, role={role}, subject={subject})")
            }
        }
    }
}

/// Everything needed to read from one store.
#[derive(Clone, Debug)]
pub struct Store {
    pub connection: Connection,
    pub kv: KvEngine,
    pub credentials: Credentials,
}
