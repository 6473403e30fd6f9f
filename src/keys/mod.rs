//! Key sources that wrap and unwrap a file's data key: age, Shamir key groups, Vault transit.
//!
//! Wrapping ([`wrap_data_key`]) turns key specs (from `.sops.yaml` or the command line) into the
//! metadata's key groups; unwrapping ([`Keyring::unwrap_data_key`]) recovers the data key from
//! them. One group: every key wraps the whole data key. Two or more: the key is split with
//! Shamir's scheme and every key of group *i* wraps share *i* (sops-format.md §8–9).
//!
//! Key types sealgate does not implement (pgp, kms, gcp_kms, azure_kv…) are kept untouched in
//! [`KeyGroup::foreign`] and reported, never used.

mod age;
mod discovery;
mod error;
mod keyring;
pub mod shamir;
pub mod transit;
mod vault_uri;

#[cfg(test)]
mod tests;

use std::fmt;

pub use self::age::{AgeRecipient, generate_identity_file};
pub use self::discovery::{EnvSource, MapEnv, ProcessEnv};
pub use self::error::{
    GroupReport, KeyAttempt, KeyError, KeyFailure, KeyRef, UnwrapFailure, UnwrapReport,
};
pub use self::keyring::Keyring;
pub use self::transit::{InMemoryTransit, TransitClient, TransitError};
pub use self::vault_uri::{VaultTransitUri, VaultUriError};

use crate::format::cipher::DataKey;
use crate::format::metadata::{AgeStanza, KeyGroup, VaultStanza};
use crate::format::timestamp::Timestamp;

/// Length of a Shamir share of the 32-byte data key: 32 y-values and the x coordinate.
pub const SHARE_LEN: usize = 33;

/// One master key to wrap the data key for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Age(AgeRecipient),
    HcVault(VaultTransitUri),
    /// A key type sealgate cannot wrap to (`pgp`, `kms`, `gcp_kms`, `azure_keyvault`, `hckms`),
    /// kept so that configuration loads as in sops and encryption fails naming it.
    Foreign {
        key_type: String,
        id: String,
    },
}

impl KeySpec {
    /// The key type's name as sops writes it in metadata (`age`, `hc_vault`, …).
    pub fn type_name(&self) -> &str {
        match self {
            KeySpec::Age(_) => "age",
            KeySpec::HcVault(_) => "hc_vault",
            KeySpec::Foreign { key_type, .. } => key_type,
        }
    }
}

impl fmt::Display for KeySpec {
    /// The key as sops prints it (`ToString`): recipient, transit URI, fingerprint or ARN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::Age(r) => r.fmt(f),
            KeySpec::HcVault(u) => u.fmt(f),
            KeySpec::Foreign { id, .. } => f.write_str(id),
        }
    }
}

/// The keys of one key group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupSpec(pub Vec<KeySpec>);

/// Wraps the data key for every key of every group.
///
/// One group: each key wraps the data key itself, and `threshold` is returned unchanged (sops
/// writes a configured `shamir_threshold` even then). Two or more groups: the key is split with
/// `threshold` (0 means the number of groups; it must end up in `2..=groups`), each key of group
/// *i* wraps share *i*, and the effective threshold is returned. `hc_vault` stanzas get
/// `created_at = now`.
///
/// # Errors
/// No groups, an empty group, a key type sealgate cannot wrap to (checked before any work), an
/// `hc_vault` key without `transit`, an invalid threshold, or a failed wrap.
pub fn wrap_data_key(
    key: &DataKey,
    groups: &[GroupSpec],
    threshold: usize,
    transit: Option<&dyn TransitClient>,
    now: Timestamp,
) -> Result<(Vec<KeyGroup>, usize), KeyError> {
    if groups.is_empty() {
        return Err(KeyError::NoKeyGroups);
    }
    for (index, group) in groups.iter().enumerate() {
        if group.0.is_empty() {
            return Err(KeyError::EmptyGroup { index });
        }
        for spec in &group.0 {
            match spec {
                KeySpec::Foreign { key_type, id } => {
                    return Err(KeyError::UnsupportedKeyType {
                        key_type: key_type.clone(),
                        key: id.clone(),
                    });
                }
                KeySpec::HcVault(uri) if transit.is_none() => {
                    return Err(KeyError::NoTransitClient { key: uri.to_string() });
                }
                _ => {}
            }
        }
    }
    let (parts, threshold) = if groups.len() == 1 {
        (vec![zeroize::Zeroizing::new(key.as_bytes().to_vec())], threshold)
    } else {
        let t = if threshold == 0 { groups.len() } else { threshold };
        (shamir::split(key.as_bytes(), groups.len(), t)?, t)
    };
    let created_at = now.to_rfc3339_secs();
    let mut out = Vec::with_capacity(groups.len());
    for (group, part) in groups.iter().zip(&parts) {
        let mut wrapped = KeyGroup::default();
        for spec in &group.0 {
            match spec {
                KeySpec::Age(recipient) => wrapped.age.push(AgeStanza {
                    recipient: recipient.as_str().to_owned(),
                    enc: age::wrap(recipient, part)?,
                }),
                KeySpec::HcVault(uri) => {
                    let client = transit
                        .ok_or_else(|| KeyError::NoTransitClient { key: uri.to_string() })?;
                    let enc = client.encrypt(uri, part).map_err(|source| {
                        KeyError::TransitEncrypt { key: uri.to_string(), source }
                    })?;
                    wrapped.hc_vault.push(VaultStanza {
                        vault_address: uri.address.clone(),
                        engine_path: uri.engine_path.clone(),
                        key_name: uri.key_name.clone(),
                        created_at: created_at.clone(),
                        enc,
                    });
                }
                KeySpec::Foreign { key_type, id } => {
                    return Err(KeyError::UnsupportedKeyType {
                        key_type: key_type.clone(),
                        key: id.clone(),
                    });
                }
            }
        }
        out.push(wrapped);
    }
    Ok((out, threshold))
}

/// The keys a file's metadata names, as groups to wrap a new data key for (`rotate`) or to
/// compare with a creation rule (`updatekeys`). Entries of types sealgate cannot wrap to become
/// [`KeySpec::Foreign`], identified as sops prints them.
///
/// # Errors
/// An age recipient in the metadata that does not parse.
pub fn groups_from_metadata(
    md: &crate::format::metadata::Metadata,
) -> Result<Vec<GroupSpec>, KeyError> {
    use crate::format::tree::Node;
    let foreign_id = |entry: &Node| -> String {
        let map = entry.as_map();
        ["fp", "arn", "resource_id", "vault_url", "key_id"]
            .iter()
            .find_map(|f| map.and_then(|m| m.get(f)).and_then(Node::as_str))
            .unwrap_or("?")
            .to_owned()
    };
    md.key_groups
        .iter()
        .map(|g| {
            let mut keys = Vec::new();
            for (key_type, list) in &g.foreign {
                if let Node::List(entries) = list {
                    for e in entries {
                        keys.push(KeySpec::Foreign {
                            key_type: key_type.clone(),
                            id: foreign_id(e),
                        });
                    }
                }
            }
            for v in &g.hc_vault {
                keys.push(KeySpec::HcVault(VaultTransitUri::from_stanza(v)));
            }
            for a in &g.age {
                keys.push(KeySpec::Age(AgeRecipient::parse(&a.recipient)?));
            }
            Ok(GroupSpec(keys))
        })
        .collect()
}
