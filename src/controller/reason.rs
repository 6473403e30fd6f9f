//! Why a reconcile ended as it did: the stable reasons of the `Ready` condition and of Events.

use std::fmt;

use crate::format::file::FileError;
use crate::keys::KeyError;
use crate::seal::{BindingError, SealError};
use crate::vault::VaultError;

/// The `Ready` condition's reason. Stable: dashboards and alerts match on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The Secret is written and matches the `EncryptedSecret`.
    Materialized,
    /// The encrypted binding names another namespace or name, or disagrees with `spec.scope`.
    BindingMismatch,
    /// The MAC does not verify: a value was added, removed, swapped or edited.
    MacMismatch,
    /// None of the controller's keys can unwrap the data key.
    NoMatchingKey,
    /// A value fails authentication, or the data key is wrong for the values.
    DecryptFailed,
    /// The object is not a well-formed `EncryptedSecret` (plaintext value, bad base64, …).
    InvalidSpec,
    /// A Secret of that name exists and is not the controller's.
    SecretConflict,
    /// `VaultSecret`: the Secret holds the values last read from Vault.
    Synced,
    /// Vault could not be reached, is sealed, or failed (5xx, 429): the last Secret is kept.
    VaultUnavailable,
    /// The store's login failed or its token was refused (or its credentials are missing).
    AuthFailed,
    /// Logged in, but the policies do not allow the read.
    Forbidden,
    /// A path, version or property does not exist in Vault.
    PathNotFound,
    /// The `VaultSecret` names a store that does not exist.
    StoreNotFound,
    /// A `ClusterSecretStore`'s conditions do not allow this namespace or path.
    StoreNotAllowed,
    /// Stores: the controller logged in with the store's credentials.
    Valid,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Materialized => "Materialized",
            Reason::BindingMismatch => "BindingMismatch",
            Reason::MacMismatch => "MacMismatch",
            Reason::NoMatchingKey => "NoMatchingKey",
            Reason::DecryptFailed => "DecryptFailed",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::SecretConflict => "SecretConflict",
            Reason::Synced => "Synced",
            Reason::VaultUnavailable => "VaultUnavailable",
            Reason::AuthFailed => "AuthFailed",
            Reason::Forbidden => "Forbidden",
            Reason::PathNotFound => "PathNotFound",
            Reason::StoreNotFound => "StoreNotFound",
            Reason::StoreNotAllowed => "StoreNotAllowed",
            Reason::Valid => "Valid",
        }
    }

    /// Every reason an `EncryptedSecret` shows, for metrics and docs.
    pub const ALL: [Reason; 7] = [
        Reason::Materialized,
        Reason::BindingMismatch,
        Reason::MacMismatch,
        Reason::NoMatchingKey,
        Reason::DecryptFailed,
        Reason::InvalidSpec,
        Reason::SecretConflict,
    ];

    /// Every reason a `VaultSecret` shows.
    pub const VAULT_SECRET: [Reason; 9] = [
        Reason::Synced,
        Reason::VaultUnavailable,
        Reason::AuthFailed,
        Reason::Forbidden,
        Reason::PathNotFound,
        Reason::StoreNotFound,
        Reason::StoreNotAllowed,
        Reason::InvalidSpec,
        Reason::SecretConflict,
    ];

    /// Every reason a `SecretStore` or `ClusterSecretStore` shows.
    pub const STORE: [Reason; 5] = [
        Reason::Valid,
        Reason::VaultUnavailable,
        Reason::AuthFailed,
        Reason::Forbidden,
        Reason::InvalidSpec,
    ];

    /// The reason for a failed Vault request.
    pub fn of_vault_error(e: &VaultError) -> Reason {
        match e {
            VaultError::AuthFailed(_) => Reason::AuthFailed,
            VaultError::Forbidden(_) => Reason::Forbidden,
            VaultError::NotFound(_) => Reason::PathNotFound,
            VaultError::Invalid(_) => Reason::InvalidSpec,
            // Unavailable, and whatever the non-exhaustive enum grows: retry later.
            _ => Reason::VaultUnavailable,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the object cannot be materialized as it is, and retrying will not help until
/// the object, the keys or the conflicting Secret change. `message` is safe to publish: it
/// names fields and keys, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: Reason, message: impl Into<String>) -> Refusal {
        Refusal { reason, message: message.into() }
    }

    /// A Vault request failed; `what` says which (`reading app/db through SecretStore vault`).
    pub fn from_vault_error(e: &VaultError, what: &str) -> Refusal {
        let reason = Reason::of_vault_error(e);
        let advice = match reason {
            Reason::AuthFailed => {
                "check the store's credentials (the token or secret id in its Secret, or the \
                 Vault role bound to the ServiceAccount)"
            }
            Reason::Forbidden => {
                "grant the store's Vault role a policy that allows reading the path"
            }
            Reason::PathNotFound => {
                "check the path and version in Vault, or fix spec.data/dataFrom"
            }
            Reason::InvalidSpec => {
                "fix the store (server address, CA bundle, KV mount and version)"
            }
            _ => "the last Secret is kept; the read is retried with backoff",
        };
        Refusal::new(reason, format!("{what}: {e}; {advice}"))
    }

    /// The object could not be read as a SOPS file.
    pub fn from_file_error(e: &FileError) -> Refusal {
        Refusal::new(
            Reason::InvalidSpec,
            format!("the object is not a valid SOPS file: {e}; re-create it with `sealgate seal`"),
        )
    }

    /// No key of the controller unwrapped the data key.
    pub fn from_key_error(e: &KeyError) -> Refusal {
        Refusal::new(
            Reason::NoMatchingKey,
            format!(
                "{e}\nseal it again to this cluster's recipients (`sealgate seal --from-cluster`), \
                 or re-wrap it with `sealgate updatekeys`"
            ),
        )
    }

    /// [`crate::seal::open`] refused the object.
    pub fn from_seal_error(e: &SealError) -> Refusal {
        let reason = match e {
            SealError::BindingDecrypt { .. } | SealError::Binding { .. } => Reason::BindingMismatch,
            SealError::Decrypt { source: FileError::Mac(_), .. } => Reason::MacMismatch,
            SealError::Decrypt { .. } => Reason::DecryptFailed,
            _ => Reason::InvalidSpec,
        };
        let advice = match reason {
            Reason::BindingMismatch => {
                "an EncryptedSecret only works where it was sealed for: seal the Secret again \
                 for this namespace and name (or with a wider --scope)"
            }
            Reason::MacMismatch => {
                "the encrypted values were changed after sealing: restore the file from Git, or \
                 seal the Secret again"
            }
            Reason::DecryptFailed => {
                "a value does not decrypt with the file's data key: restore the file from Git, \
                 or seal the Secret again"
            }
            _ => "fix the object, or seal the Secret again with `sealgate seal`",
        };
        let detail = match e {
            SealError::Decrypt { source, .. } => format!("{e}: {source}"),
            SealError::Binding(b) => redacted_binding(b),
            _ => e.to_string(),
        };
        Refusal::new(reason, format!("{detail}; {advice}"))
    }
}

/// A binding refusal without the binding itself: whoever can read the object's status need not
/// learn where the file was really sealed for.
fn redacted_binding(e: &BindingError) -> String {
    match e {
        BindingError::ScopeDisagrees { object, declared, bound, .. } => format!(
            "{object} declares scope {declared} but its encrypted binding has scope {bound}: \
             spec.scope was edited"
        ),
        BindingError::StrictMismatch { object, .. }
        | BindingError::NamespaceMismatch { object, .. } => {
            format!("{object} is not where this file was sealed for")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_strings_are_the_documented_ones() {
        let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "Materialized",
                "BindingMismatch",
                "MacMismatch",
                "NoMatchingKey",
                "DecryptFailed",
                "InvalidSpec",
                "SecretConflict"
            ]
        );
    }

    #[test]
    fn vault_errors_map_to_the_documented_reasons() {
        let cases = [
            (VaultError::Unavailable("x".into()), "VaultUnavailable"),
            (VaultError::AuthFailed("x".into()), "AuthFailed"),
            (VaultError::Forbidden("x".into()), "Forbidden"),
            (VaultError::NotFound("x".into()), "PathNotFound"),
            (VaultError::Invalid("x".into()), "InvalidSpec"),
        ];
        for (e, want) in cases {
            let r = Refusal::from_vault_error(&e, "reading app/db through SecretStore vault");
            assert_eq!(r.reason.as_str(), want);
            assert!(r.message.starts_with("reading app/db through SecretStore vault: "), "{r:?}");
        }
        let names: Vec<&str> = Reason::VAULT_SECRET.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "Synced",
                "VaultUnavailable",
                "AuthFailed",
                "Forbidden",
                "PathNotFound",
                "StoreNotFound",
                "StoreNotAllowed",
                "InvalidSpec",
                "SecretConflict"
            ]
        );
    }
}
