//! Why a reconcile ended as it did: the stable reasons of the `Ready` condition and of Events.

use std::fmt;

use crate::format::file::FileError;
use crate::keys::KeyError;
use crate::seal::{BindingError, SealError};

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
        }
    }

    /// Every reason, for metrics and docs.
    pub const ALL: [Reason; 7] = [
        Reason::Materialized,
        Reason::BindingMismatch,
        Reason::MacMismatch,
        Reason::NoMatchingKey,
        Reason::DecryptFailed,
        Reason::InvalidSpec,
        Reason::SecretConflict,
    ];
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
}
