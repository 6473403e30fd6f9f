//! Key-source errors and the unwrap report: which key of which group was tried, with what
//! result. Recipients and Vault key URIs are public and named; identities and payloads never are.

use std::fmt;

use super::shamir::ShamirError;
use super::transit::TransitError;
use super::vault_uri::VaultUriError;

/// What went wrong while wrapping or unwrapping a data key, or loading keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error(
        "invalid age recipient {recipient:?}: {reason}; a valid recipient is an X25519 key \
         (age1… as printed by age-keygen), or an SSH public key (ssh-ed25519 AAAA… or ssh-rsa AAAA…)"
    )]
    MalformedRecipient { recipient: String, reason: String },

    #[error(transparent)]
    VaultUri(#[from] VaultUriError),

    #[error("failed to read age identities from {origin}: line {line}: {reason}")]
    InvalidIdentity { origin: String, line: usize, reason: &'static str },

    #[error(
        "no age identities found in {origin}: every line that is not blank or a # comment must \
         be an AGE-SECRET-KEY-1… identity"
    )]
    NoIdentitiesIn { origin: String },

    #[error(
        "the age identity file {origin} is passphrase-encrypted, which sealgate does not support \
         yet: decrypt it (age -d) into a file with mode 0600 and use that"
    )]
    EncryptedIdentityFile { origin: String },

    #[error("failed to use the SSH key {origin} as an age identity: {reason}")]
    SshIdentity { origin: String, reason: String },

    #[error("failed to read age identities from {origin}: {reason}")]
    IdentitySource { origin: String, reason: String },

    #[error("failed to wrap the data key for age recipient {recipient}: {reason}")]
    AgeEncrypt { recipient: String, reason: String },

    #[error("failed to wrap the data key with Vault transit key {key}")]
    TransitEncrypt {
        key: String,
        #[source]
        source: TransitError,
    },

    #[error(
        "cannot encrypt to {key_type} key {key}: sealgate supports age and hc_vault keys only; \
         remove it from the creation rule or encrypt with sops"
    )]
    UnsupportedKeyType { key_type: String, key: String },

    #[error(
        "Vault transit key {key} cannot be used: no Vault transit client is configured here (the controller needs --transit-store); decrypt with an age recipient of the file instead"
    )]
    NoTransitClient { key: String },

    #[error("no keys to encrypt to: give at least one age recipient or Vault transit key")]
    NoKeyGroups,

    #[error("key group {index} has no keys (sops: \"empty key group provided\")")]
    EmptyGroup { index: usize },

    #[error("Shamir secret sharing failed: {0}")]
    Shamir(#[from] ShamirError),

    /// No group (single-group file) or not enough groups (Shamir) gave up its part. sops exits
    /// with 128 in both cases.
    #[error("{0}")]
    NoUsableKey(Box<UnwrapFailure>),

    /// Some groups were recovered, but fewer than the Shamir threshold (sops exit 128).
    #[error("{0}")]
    TooFewGroups(Box<UnwrapFailure>),

    #[error(
        "the file's keys are all of types sealgate cannot use ({}): decrypt it with sops, or add \
         an age or hc_vault key with `sops updatekeys`",
        .types.join(", ")
    )]
    OnlyForeignKeys { types: Vec<String> },
}

/// The per-group account of a failed unwrap, with what the keyring held.
#[derive(Debug, Clone)]
pub struct UnwrapFailure {
    pub report: UnwrapReport,
    /// Where the keyring's identities came from (paths and variable names only).
    pub identity_origins: Vec<String>,
    /// Problems met while loading identities (bad files, commands that failed).
    pub load_problems: Vec<String>,
}

impl fmt::Display for UnwrapFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let recovered = self.report.groups.iter().filter(|g| g.recovered).count();
        let groups = self.report.groups.len();
        if groups > 1 {
            write!(
                f,
                "failed to recover the data key: the file is split over {groups} key groups \
                 (Shamir) and {} of them must be recovered, but only {recovered} could be",
                self.report.threshold
            )?;
        } else {
            write!(f, "failed to recover the data key: none of the file's keys could be used")?;
        }
        for (i, group) in self.report.groups.iter().enumerate() {
            let state = if group.recovered {
                "recovered"
            } else if group.attempts.is_empty() {
                "not tried"
            } else {
                "failed"
            };
            write!(f, "\n  group {i}: {state}")?;
            for a in &group.attempts {
                match &a.result {
                    Ok(()) => write!(f, "\n    {}: ok", a.key)?,
                    Err(e) => write!(f, "\n    {}: {e}", a.key)?,
                }
            }
        }
        if self.identity_origins.is_empty() {
            write!(
                f,
                "\n  no age identities were found: set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or \
                 SOPS_AGE_KEY_CMD, or put them in ~/.config/sops/age/keys.txt"
            )?;
        } else {
            write!(f, "\n  age identities tried: {}", self.identity_origins.join("; "))?;
        }
        for p in &self.load_problems {
            write!(f, "\n  while loading identities: {p}")?;
        }
        Ok(())
    }
}

/// A master key of the file, named by its public part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Age {
        recipient: String,
    },
    HcVault {
        uri: String,
    },
    /// A key type sealgate does not use (`pgp`, `kms`, `gcp_kms`, `azure_kv`, …).
    Foreign {
        key_type: String,
        id: String,
    },
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Age { recipient } => write!(f, "age {recipient}"),
            KeyRef::HcVault { uri } => write!(f, "hc_vault {uri}"),
            KeyRef::Foreign { key_type, id } if id.is_empty() => write!(f, "{key_type}"),
            KeyRef::Foreign { key_type, id } => write!(f, "{key_type} {id}"),
        }
    }
}

/// Why one key did not give up its part. Decrypt failures are deliberately coarse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFailure {
    #[error("no loaded age identity matches this recipient")]
    NoMatchingIdentity,
    #[error("no age identities are loaded")]
    NoIdentities,
    #[error("the stored enc is malformed ({0})")]
    Malformed(&'static str),
    #[error("decryption failed (the stanza is corrupt or was tampered with)")]
    DecryptFailed,
    #[error("the decrypted part has the wrong length (expected {expected} bytes)")]
    WrongLength { expected: usize },
    #[error("no Vault transit client is configured")]
    NoTransitClient,
    #[error("{0}")]
    Transit(TransitError),
    #[error("sealgate cannot use {0} keys")]
    Unsupported(String),
}

/// One key tried during an unwrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttempt {
    pub key: KeyRef,
    pub result: Result<(), KeyFailure>,
    /// On success with age: where the identity that matched came from.
    pub identity_origin: Option<String>,
}

/// The keys tried in one key group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupReport {
    pub attempts: Vec<KeyAttempt>,
    pub recovered: bool,
}

/// What an unwrap did, for status and audit: per group, the keys tried and which one worked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnwrapReport {
    pub groups: Vec<GroupReport>,
    /// Groups needed: 1 for a single group, else the Shamir threshold (2 when unset).
    pub threshold: usize,
}

impl UnwrapReport {
    /// The keys that recovered a part: `(group index, key, identity origin)`.
    pub fn used(&self) -> impl Iterator<Item = (usize, &KeyRef, Option<&str>)> {
        self.groups.iter().enumerate().flat_map(|(i, g)| {
            g.attempts
                .iter()
                .filter(|a| a.result.is_ok())
                .map(move |a| (i, &a.key, a.identity_origin.as_deref()))
        })
    }
}
