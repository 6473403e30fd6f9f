//! The keyring: every identity and client that can unwrap a data key, and the unwrap itself
//! (key order inside a group, one key per group, Shamir recovery) as sops's `GetDataKey` does it.

use std::fmt;
use std::sync::Arc;

use tracing::debug;
use zeroize::Zeroizing;

use super::age::{self as age_src, AgeFailure, IdentityKey, LoadedIdentity};
use super::error::{GroupReport, KeyAttempt, KeyFailure, KeyRef, UnwrapFailure, UnwrapReport};
use super::shamir;
use super::transit::TransitClient;
use super::vault_uri::VaultTransitUri;
use super::{KeyError, SHARE_LEN};
use crate::format::cipher::DataKey;
use crate::format::metadata::{KeyGroup, Metadata};
use crate::format::scalar::Scalar;
use crate::format::tree::Node;

/// sops's default `--decryption-order`.
const DEFAULT_DECRYPTION_ORDER: [&str; 2] = ["age", "pgp"];

/// Everything that can unwrap: age identities (X25519, ssh-ed25519, ssh-rsa) and an optional
/// Vault transit client. Prints only where its identities came from.
pub struct Keyring {
    pub(super) identities: Vec<LoadedIdentity>,
    transit: Option<Arc<dyn TransitClient>>,
    pub(super) problems: Vec<String>,
    decryption_order: Vec<String>,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring {
            identities: Vec::new(),
            transit: None,
            problems: Vec::new(),
            decryption_order: DEFAULT_DECRYPTION_ORDER.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("identities", &self.identity_origins())
            .field("transit", &self.transit.is_some())
            .field("problems", &self.problems)
            .field("decryption_order", &self.decryption_order)
            .finish()
    }
}

impl Keyring {
    /// A keyring with nothing in it.
    pub fn empty() -> Keyring {
        Keyring::default()
    }

    /// Identities from text in age-keygen's format (`#` comments, one `AGE-SECRET-KEY-1…` per
    /// line). `origin` names the source in messages (a path or variable name).
    pub fn from_identity_text(text: &str, origin: &str) -> Result<Keyring, KeyError> {
        let mut keyring = Keyring::default();
        keyring.add_identity_text(text, origin)?;
        Ok(keyring)
    }

    /// Adds the identities of an age-keygen style text.
    pub fn add_identity_text(&mut self, text: &str, origin: &str) -> Result<(), KeyError> {
        self.identities.extend(age_src::parse_identity_file(text, origin)?);
        Ok(())
    }

    /// Adds an unencrypted OpenSSH private key (ssh-ed25519 or ssh-rsa).
    pub fn add_ssh_private_key(&mut self, pem: &[u8], origin: &str) -> Result<(), KeyError> {
        self.identities.push(age_src::parse_ssh_identity(pem, origin)?);
        Ok(())
    }

    /// Both keyrings' identities together (the manifest's `a+b`). The transit client and
    /// decryption order of `self` win when both are set.
    pub fn merge(mut self, other: Keyring) -> Keyring {
        self.identities.extend(other.identities);
        self.problems.extend(other.problems);
        if self.transit.is_none() {
            self.transit = other.transit;
        }
        self
    }

    /// Uses `client` for `hc_vault` keys.
    pub fn with_transit(mut self, client: Arc<dyn TransitClient>) -> Keyring {
        self.transit = Some(client);
        self
    }

    /// The order key types are tried in inside a group (sops `--decryption-order`,
    /// `SOPS_DECRYPTION_ORDER`): type names such as `age`, `hc_vault`, `pgp`. Types not listed
    /// come after, in sops's own order (hc_vault before age). Default: `age, pgp`.
    pub fn with_decryption_order<S: AsRef<str>>(mut self, order: &[S]) -> Keyring {
        self.decryption_order = order.iter().map(|s| s.as_ref().trim().to_owned()).collect();
        self
    }

    /// How many identities are loaded.
    pub fn identity_count(&self) -> usize {
        self.identities.len()
    }

    /// Where each identity came from.
    pub fn identity_origins(&self) -> Vec<String> {
        self.identities.iter().map(|i| i.origin.clone()).collect()
    }

    /// Problems met while discovering identities (sources that existed but could not be used).
    /// sops reports these only when no key works; a CLI may print them as warnings.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The X25519 recipients of the loaded identities (SSH identities are not listed).
    pub fn x25519_recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .filter_map(|i| match &i.key {
                IdentityKey::X25519(id) => Some(id.to_public().to_string()),
                IdentityKey::Ssh(_) => None,
            })
            .collect()
    }

    /// Recovers the data key of a file.
    ///
    /// Inside a group, keys are tried in the decryption order (age first by default, file order
    /// within a type) until one works. With one group, that key's payload is the data key. With
    /// two or more, groups are tried in order until `shamir_threshold` of them gave their share
    /// (all of them when the threshold is 0, as sops does), and the shares are combined. Key
    /// types sealgate cannot use (`pgp`, `kms`, …) are listed in the report and skipped.
    ///
    /// # Errors
    /// [`KeyError::OnlyForeignKeys`] when the file has no age or hc_vault key at all;
    /// [`KeyError::NoUsableKey`] / [`KeyError::TooFewGroups`] with a per-group report otherwise.
    pub fn unwrap_data_key(&self, md: &Metadata) -> Result<(DataKey, UnwrapReport), KeyError> {
        let groups = &md.key_groups;
        if groups.iter().all(|g| g.age.is_empty() && g.hc_vault.is_empty()) {
            let mut types: Vec<String> = Vec::new();
            for g in groups {
                for (name, node) in &g.foreign {
                    if foreign_count(node) > 0 && !types.contains(name) {
                        types.push(name.clone());
                    }
                }
            }
            if !types.is_empty() {
                return Err(KeyError::OnlyForeignKeys { types });
            }
        }
        let shamir = groups.len() > 1;
        let (required, stop_at) = match (shamir, md.shamir_threshold) {
            (false, _) => (1, 1),
            (true, 0) => (2, groups.len()),
            (true, t) => (t, t),
        };
        let expected_len = if shamir { SHARE_LEN } else { 32 };
        let mut report = UnwrapReport { groups: Vec::new(), threshold: required };
        let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for group in groups {
            if parts.len() >= stop_at {
                report.groups.push(GroupReport::default());
                continue;
            }
            let (part, group_report) = self.unwrap_group(group, expected_len);
            if let Some(part) = part {
                parts.push(part);
            }
            report.groups.push(group_report);
        }
        debug!(groups = groups.len(), recovered = parts.len(), required, "data key unwrap");
        if parts.len() < required || parts.is_empty() {
            let failure = Box::new(UnwrapFailure {
                report,
                identity_origins: self.identity_origins(),
                load_problems: self.problems.clone(),
            });
            return Err(if shamir && !parts.is_empty() {
                KeyError::TooFewGroups(failure)
            } else {
                KeyError::NoUsableKey(failure)
            });
        }
        let key_bytes = if shamir { shamir::combine(&parts)? } else { parts.swap_remove(0) };
        let key = DataKey::from_slice(&key_bytes)
            .ok_or(KeyError::Shamir(shamir::ShamirError::MalformedShares))?;
        Ok((key, report))
    }

    /// Tries the keys of one group in order; returns the first part recovered.
    fn unwrap_group(
        &self,
        group: &KeyGroup,
        expected_len: usize,
    ) -> (Option<Zeroizing<Vec<u8>>>, GroupReport) {
        let mut report = GroupReport::default();
        let priority =
            |ty: &str| self.decryption_order.iter().position(|t| t == ty).unwrap_or(usize::MAX);
        // sops builds a group as kms, gcp_kms, azure_kv, hc_vault, age, pgp and then sorts it
        // stably by the decryption order.
        let mut order: Vec<(&str, usize)> = Vec::new();
        order.extend((0..group.hc_vault.len()).map(|i| ("hc_vault", i)));
        order.extend((0..group.age.len()).map(|i| ("age", i)));
        order.sort_by_key(|(ty, _)| priority(ty));
        for (ty, i) in order {
            let (key, outcome) = match ty {
                "age" => {
                    let stanza = &group.age[i];
                    let key = KeyRef::Age { recipient: stanza.recipient.clone() };
                    (key, self.unwrap_age(&stanza.enc))
                }
                _ => {
                    let stanza = &group.hc_vault[i];
                    let uri = VaultTransitUri::from_stanza(stanza);
                    let key = KeyRef::HcVault { uri: uri.to_string() };
                    (key, self.unwrap_vault(&uri, &stanza.enc))
                }
            };
            match outcome {
                Ok((part, _)) if part.len() != expected_len => report.attempts.push(KeyAttempt {
                    key,
                    result: Err(KeyFailure::WrongLength { expected: expected_len }),
                    identity_origin: None,
                }),
                Ok((part, origin)) => {
                    report.attempts.push(KeyAttempt {
                        key,
                        result: Ok(()),
                        identity_origin: origin,
                    });
                    report.recovered = true;
                    self.note_foreign(group, &mut report);
                    return (Some(part), report);
                }
                Err(failure) => report.attempts.push(KeyAttempt {
                    key,
                    result: Err(failure),
                    identity_origin: None,
                }),
            }
        }
        self.note_foreign(group, &mut report);
        (None, report)
    }

    fn note_foreign(&self, group: &KeyGroup, report: &mut GroupReport) {
        if report.recovered {
            return;
        }
        for (name, node) in &group.foreign {
            for id in foreign_ids(node) {
                report.attempts.push(KeyAttempt {
                    key: KeyRef::Foreign { key_type: name.clone(), id },
                    result: Err(KeyFailure::Unsupported(name.clone())),
                    identity_origin: None,
                });
            }
        }
    }

    fn unwrap_age(&self, enc: &str) -> Result<(Zeroizing<Vec<u8>>, Option<String>), KeyFailure> {
        if self.identities.is_empty() {
            return Err(KeyFailure::NoIdentities);
        }
        match age_src::unwrap(enc, &self.identities) {
            Ok((payload, index)) => Ok((payload, Some(self.identities[index].origin.clone()))),
            Err(AgeFailure::NoMatchingIdentity) => Err(KeyFailure::NoMatchingIdentity),
            Err(AgeFailure::Malformed) => Err(KeyFailure::Malformed("not an armored age file")),
            Err(AgeFailure::DecryptFailed) => Err(KeyFailure::DecryptFailed),
        }
    }

    fn unwrap_vault(
        &self,
        uri: &VaultTransitUri,
        enc: &str,
    ) -> Result<(Zeroizing<Vec<u8>>, Option<String>), KeyFailure> {
        let client = self.transit.as_ref().ok_or(KeyFailure::NoTransitClient)?;
        if !enc.starts_with("vault:") {
            return Err(KeyFailure::Malformed("not a vault: ciphertext"));
        }
        client.decrypt(uri, enc).map(|p| (p, None)).map_err(KeyFailure::Transit)
    }
}

/// Number of entries in a foreign key list (null and empty lists count as none).
fn foreign_count(node: &Node) -> usize {
    match node {
        Node::List(items) => items.len(),
        Node::Scalar(Scalar::Null) => 0,
        _ => 1,
    }
}

/// The public identifier of each foreign key entry, for messages.
fn foreign_ids(node: &Node) -> Vec<String> {
    let id_of = |item: &Node| -> String {
        let Some(map) = item.as_map() else { return String::new() };
        ["fp", "arn", "resource_id", "vault_url", "key_id"]
            .iter()
            .find_map(|f| map.get(f).and_then(Node::as_str))
            .map(|s| match map.get("name").and_then(Node::as_str) {
                Some(name) if map.get("vault_url").is_some() => format!("{s} {name}"),
                _ => s.to_owned(),
            })
            .unwrap_or_default()
    };
    match node {
        Node::List(items) => items.iter().map(id_of).collect(),
        Node::Scalar(Scalar::Null) => Vec::new(),
        other => vec![id_of(other)],
    }
}
