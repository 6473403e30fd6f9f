//! Sealing Kubernetes `Secret`s into `EncryptedSecret`s (SOPS files bound to a namespace and
//! name), opening them again with every check in the right order, and unsealing for recovery.
//!
//! The flow (architecture §2):
//!
//! ```text
//! Secret manifest ──SecretManifest::from_document──▶ SecretManifest
//!     ──seal(scope, data key, key groups)──▶ SopsFile (EncryptedSecret, sorted under spec)
//!     ──open(file, data key, namespace, name)──▶ OpenedSecret ──unseal──▶ Secret manifest
//! ```
//!
//! Everything here works on the tree model ([`crate::format::tree`]); reading and writing
//! YAML or JSON is the stores' job.

mod binding;
mod encrypted_secret;
pub mod names;
mod secret;
mod unseal;

#[cfg(test)]
mod tests;

pub use binding::{Binding, BindingError, ParseScopeError, Scope, binding_for, check_binding};
pub use encrypted_secret::{
    ENCRYPTED_REGEX, build_encrypted_secret, first_unsorted_path, seal, sort_keys_recursively,
};
pub use secret::{SecretManifest, SecretValue};
pub use unseal::{OpenedSecret, Template, open, target_of, unseal};

use crate::format::file::FileError;

/// `apiVersion` of an `EncryptedSecret`.
pub const API_VERSION: &str = "sealgate.dev/v1alpha1";
/// `kind` of an `EncryptedSecret`.
pub const KIND: &str = "EncryptedSecret";
/// The annotation `kubectl apply` writes; it holds the whole object, plaintext included.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The Secret type used when a manifest has none.
pub const DEFAULT_SECRET_TYPE: &str = "Opaque";

/// Something the user should know about a sealing that still succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealWarning {
    /// The `kubectl.kubernetes.io/last-applied-configuration` annotation was dropped: it holds
    /// the Secret's plaintext and must never reach Git.
    DroppedLastApplied { object: String },
    /// Fields the apiserver sets (uid, resourceVersion, managedFields, …) were dropped.
    DroppedServerFields { object: String, fields: Vec<String> },
}

impl std::fmt::Display for SealWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealWarning::DroppedLastApplied { object } => write!(
                f,
                "{object}: dropped the annotation {LAST_APPLIED_ANNOTATION}: it contains the \
                 Secret's values in plain text and must not be committed (the original manifest \
                 still contains it: do not commit that file either)"
            ),
            SealWarning::DroppedServerFields { object, fields } => write!(
                f,
                "{object}: dropped fields the cluster sets and that do not belong in Git: {}",
                fields.join(", ")
            ),
        }
    }
}

/// Why a Secret could not be sealed or an `EncryptedSecret` could not be opened.
///
/// Messages name the document, object, field and key concerned and say what to do; they
/// never contain a secret value, a data key or the decrypted binding of a file that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// An error in one document of a multi-document input (1-based index).
    #[error("document {index}: {error}")]
    InDocument { index: usize, error: Box<SealError> },

    // ---- reading a Secret manifest ----
    #[error(
        "not a Secret (apiVersion v1): its kind is {kind}, its apiVersion is {api_version}; only Secrets can be sealed"
    )]
    NotASecret { kind: String, api_version: String },
    #[error("{object}: {field} is missing")]
    MissingField { object: String, field: String },
    #[error("{object}: {field} {reason}")]
    InvalidField { object: String, field: String, reason: String },
    #[error(
        "{object}: unknown field {field}; a Secret has apiVersion, kind, metadata (name, namespace, labels, annotations), type, immutable, data and stringData: remove it"
    )]
    UnknownField { object: String, field: String },
    #[error("{object}: {field} has the key {key:?} twice; keep one")]
    RepeatedKey { object: String, field: String, key: String },
    #[error("{object}: {field} key {key:?} {reason}")]
    InvalidKey { object: String, field: String, key: String, reason: &'static str },
    #[error(
        "{object}: data.{key} is not valid base64 (standard alphabet with padding); fix the encoding, or put the raw text under stringData instead"
    )]
    InvalidBase64 { object: String, key: String },
    #[error("{object}: {field}.{key} must be a string, found {found}; quote it (e.g. \"5432\")")]
    NonStringValue { object: String, field: String, key: String, found: &'static str },
    #[error(
        "{object}: {field}.{key} is empty; sops leaves empty values unencrypted and outside the MAC, so sealgate refuses them: remove the key or give it a value"
    )]
    EmptyValue { object: String, field: String, key: String },
    #[error(
        "{object}: the key {key:?} is in both data and stringData (Kubernetes would silently keep the stringData value); keep it in one of them"
    )]
    KeyInDataAndStringData { object: String, key: String },
    #[error(
        "{object}: {field} key {key:?} would be encrypted, because the EncryptedSecret rule encrypts every key named binding, data or stringData; rename it"
    )]
    ReservedKeyName { object: String, field: String, key: String },
    #[error(
        "{object} has no namespace and scope {scope} binds the file to one: pass --namespace or set metadata.namespace (or seal with --scope cluster)"
    )]
    NamespaceRequired { object: String, scope: Scope },
    #[error(
        "{object}: metadata.namespace is {manifest:?} but namespace {requested:?} was requested; they must agree (change --namespace or the manifest)"
    )]
    NamespaceConflict { object: String, manifest: String, requested: String },
    #[error("failed to encrypt {object}")]
    Encrypt {
        object: String,
        #[source]
        source: FileError,
    },

    // ---- opening an EncryptedSecret ----
    #[error(
        "the file is not an EncryptedSecret ({API_VERSION}): its kind is {kind}, its apiVersion is {api_version}"
    )]
    NotAnEncryptedSecret { kind: String, api_version: String },
    #[error("an EncryptedSecret file holds exactly one document, this one has {0}")]
    DocumentCount(usize),
    #[error(
        "{object}: its sops metadata {reason}; an EncryptedSecret must be encrypted with encrypted_regex {ENCRYPTED_REGEX} and mac_only_encrypted: true: re-seal it with `sealgate seal`"
    )]
    WrongEncryptionRule { object: String, reason: String },
    #[error(
        "{object} has no metadata.namespace: pass --namespace to say which namespace it is used in"
    )]
    TargetNamespaceUnknown { object: String },
    #[error("{object}: {path} {reason}")]
    Malformed { object: String, path: String, reason: String },
    #[error(
        "{object}: the key at {path} is named binding, data or stringData, which the file's encryption rule encrypts wherever it appears; sealgate allows these names only at spec.binding, spec.data and spec.stringData: rename or remove it"
    )]
    SelectedKeyOutsideSpec { object: String, path: String },
    #[error(
        "{object}: plaintext value at {path}; every value under spec.binding, spec.data and spec.stringData must be encrypted (ENC[AES256_GCM,...]): re-seal the file, and treat that value as leaked if it was real"
    )]
    PlaintextValue { object: String, path: String },
    #[error(
        "{object}: failed to decrypt spec.binding (wrong data key, or the binding was edited or copied from another file)"
    )]
    BindingDecrypt {
        object: String,
        #[source]
        source: crate::format::cipher::CipherError,
    },
    #[error(transparent)]
    Binding(#[from] BindingError),
    #[error("failed to decrypt and verify {object}")]
    Decrypt {
        object: String,
        #[source]
        source: FileError,
    },
}

/// `Kind ns/name`, or `Kind name` without a namespace: how messages name an object.
pub(crate) fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}
