//! Why a Vault request failed, classified the way status reasons need it.

/// A failed Vault operation. Messages name the server, mount and path and the failure; never a
/// token, secret id, JWT or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The server could not be reached, timed out, is sealed, or answered 5xx/429: retry later.
    #[error("Vault unavailable: {0}")]
    Unavailable(String),
    /// Login failed or the token was refused (invalid credentials, 401, expired token).
    #[error("Vault authentication failed: {0}")]
    AuthFailed(String),
    /// The token is valid but its policies do not allow the request (403).
    #[error("Vault denied access: {0}")]
    Forbidden(String),
    /// The path, property or version does not exist (or the version is deleted/destroyed).
    #[error("not found in Vault: {0}")]
    NotFound(String),
    /// The request cannot work as specified (bad address, CA bundle, mount, payload).
    #[error("invalid Vault configuration: {0}")]
    Invalid(String),
}
