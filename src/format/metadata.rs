//! The `sops` metadata block: its in-memory form, and conversion to and from the tree that each
//! store reads and writes (field order and omission rules as sops 3.11 writes them).
//!
//! Key-source entries sealgate cannot use (pgp, kms, gcp_kms, azure_kv, and newer ones) are kept
//! verbatim as [`Node`]s so that rewriting a file never drops a recipient.

use super::rules::EncryptionRule;
use super::scalar::Scalar;
use super::timestamp::Timestamp;
use super::tree::{Item, Map, Node};

/// The sops version sealgate writes into files (the format version it emulates).
pub const SOPS_VERSION: &str = "3.11.0";

/// The metadata of an encrypted file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// One group: every key wraps the whole data key. Two or more: Shamir shares.
    pub key_groups: Vec<KeyGroup>,
    /// Groups needed to recover the data key; 0 when not written.
    pub shamir_threshold: usize,
    pub last_modified: Timestamp,
    /// The encrypted MAC (`ENC[...]`); `None` when missing or empty.
    pub mac: Option<String>,
    pub rule: EncryptionRule,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// Top-level metadata fields this version does not know, kept in order.
    pub unknown: Vec<(String, Node)>,
}

/// The master keys of one key group, by type, each in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    pub age: Vec<AgeStanza>,
    pub hc_vault: Vec<VaultStanza>,
    /// Entries of other key types (`pgp`, `kms`, `gcp_kms`, `azure_kv`, …): the field name and
    /// its list exactly as read.
    pub foreign: Vec<(String, Node)>,
}

/// An age recipient and the armored age file that holds the data key (or a Shamir share).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeStanza {
    pub recipient: String,
    pub enc: String,
}

/// A Vault/OpenBao transit key and the `vault:v…` ciphertext of the data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultStanza {
    pub vault_address: String,
    pub engine_path: String,
    pub key_name: String,
    pub created_at: String,
    pub enc: String,
}

/// What is wrong with a metadata block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("sops metadata not found: the file is not encrypted (no top-level `sops` entry)")]
    NotFound,
    #[error("sops metadata field `{field}` is invalid: {reason}")]
    Invalid { field: String, reason: String },
    #[error(
        "sops metadata `version` {0:?} is not a Major.Minor.Patch version; sops refuses such a file"
    )]
    BadVersion(String),
    #[error("sops metadata has no keys: neither key lists nor `key_groups`")]
    NoKeys,
    #[error("sops metadata sets more than one encryption rule: {0} (at most one is allowed)")]
    ConflictingRules(String),
}

/// Key-type fields in the order sops writes them inside a key group.
const GROUP_ORDER: [&str; 6] = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "age"];
/// Key-type fields sops knows (others land in `unknown` at top level).
const FOREIGN_KEY_TYPES: [&str; 4] = ["pgp", "kms", "gcp_kms", "azure_kv"];

fn invalid(field: &str, reason: impl Into<String>) -> MetadataError {
    MetadataError::Invalid { field: field.to_owned(), reason: reason.into() }
}

/// A scalar read as text: stores that flatten metadata (dotenv, INI) hold every value as text.
fn text_of(node: &Node, field: &str) -> Result<Option<String>, MetadataError> {
    match node {
        Node::Scalar(Scalar::Null) => Ok(None),
        Node::Scalar(Scalar::Str(b)) => {
            String::from_utf8(b.to_vec()).map(Some).map_err(|_| invalid(field, "not UTF-8 text"))
        }
        Node::Scalar(Scalar::Time(t)) => Ok(Some(t.to_rfc3339_nano())),
        Node::Scalar(Scalar::Int(i)) => Ok(Some(i.to_string())),
        Node::Scalar(Scalar::Bool(b)) => Ok(Some(b.to_string())),
        _ => Err(invalid(field, "expected a text value")),
    }
}

fn list_of<'a>(node: &'a Node, field: &str) -> Result<&'a [Node], MetadataError> {
    match node {
        Node::List(items) => Ok(items),
        Node::Scalar(Scalar::Null) => Ok(&[]),
        _ => Err(invalid(field, "expected a list")),
    }
}

fn map_field(map: &Map, key: &str, field: &str) -> Result<String, MetadataError> {
    match map.get(key) {
        Some(node) => Ok(text_of(node, field)?.unwrap_or_default()),
        None => Ok(String::new()),
    }
}

fn parse_version(v: &str) -> bool {
    // sops compares the version with 3.3.0 and refuses anything that is not Major.Minor.Patch
    // (a pre-release or build suffix is accepted).
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl KeyGroup {
    /// True when the group holds no key of any type.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty()
            && self.hc_vault.is_empty()
            && self.foreign.iter().all(|(_, n)| {
                matches!(n, Node::List(l) if l.is_empty())
                    || matches!(n, Node::Scalar(Scalar::Null))
            })
    }

    fn read(map: &Map, ctx: &str) -> Result<KeyGroup, MetadataError> {
        let mut group = KeyGroup::default();
        for (key, value) in map.entries() {
            match key {
                "age" => {
                    for item in list_of(value, &format!("{ctx}age"))? {
                        let m = item
                            .as_map()
                            .ok_or_else(|| invalid(&format!("{ctx}age"), "expected a map"))?;
                        group.age.push(AgeStanza {
                            recipient: map_field(m, "recipient", "age.recipient")?,
                            enc: map_field(m, "enc", "age.enc")?,
                        });
                    }
                }
                "hc_vault" => {
                    for item in list_of(value, &format!("{ctx}hc_vault"))? {
                        let m = item
                            .as_map()
                            .ok_or_else(|| invalid(&format!("{ctx}hc_vault"), "expected a map"))?;
                        group.hc_vault.push(VaultStanza {
                            vault_address: map_field(m, "vault_address", "hc_vault.vault_address")?,
                            engine_path: map_field(m, "engine_path", "hc_vault.engine_path")?,
                            key_name: map_field(m, "key_name", "hc_vault.key_name")?,
                            created_at: map_field(m, "created_at", "hc_vault.created_at")?,
                            enc: map_field(m, "enc", "hc_vault.enc")?,
                        });
                    }
                }
                other if FOREIGN_KEY_TYPES.contains(&other) => {
                    group.foreign.push((other.to_owned(), value.clone()));
                }
                _ => {}
            }
        }
        Ok(group)
    }

    fn age_node(&self) -> Node {
        Node::List(
            self.age
                .iter()
                .map(|a| {
                    let mut m = Map::new();
                    m.push("recipient", Node::str(a.recipient.clone()));
                    m.push("enc", Node::str(a.enc.clone()));
                    Node::Map(m)
                })
                .collect(),
        )
    }

    fn vault_node(&self) -> Node {
        Node::List(
            self.hc_vault
                .iter()
                .map(|v| {
                    let mut m = Map::new();
                    m.push("vault_address", Node::str(v.vault_address.clone()));
                    m.push("engine_path", Node::str(v.engine_path.clone()));
                    m.push("key_name", Node::str(v.key_name.clone()));
                    m.push("created_at", Node::str(v.created_at.clone()));
                    m.push("enc", Node::str(v.enc.clone()));
                    Node::Map(m)
                })
                .collect(),
        )
    }

    fn foreign_node(&self, name: &str) -> Option<&Node> {
        self.foreign.iter().find(|(k, _)| k == name).map(|(_, n)| n)
    }

    /// Inside `key_groups`: pgp, kms, gcp_kms, azure_kv when present; hc_vault and age always.
    fn write_in_group(&self) -> Map {
        let mut m = Map::new();
        for name in GROUP_ORDER {
            match name {
                "hc_vault" => m.push("hc_vault", self.vault_node()),
                "age" => m.push("age", self.age_node()),
                other => {
                    if let Some(n) = self.foreign_node(other) {
                        m.push(other, n.clone());
                    }
                }
            }
        }
        m
    }
}

impl Metadata {
    /// Reads the metadata from the tree under a file's top-level `sops` key.
    pub fn from_tree(map: &Map) -> Result<Metadata, MetadataError> {
        let version = map
            .get("version")
            .map(|n| text_of(n, "version"))
            .transpose()?
            .flatten()
            .unwrap_or_default();
        if !parse_version(&version) {
            return Err(MetadataError::BadVersion(version));
        }
        let last_modified_text = map
            .get("lastmodified")
            .map(|n| text_of(n, "lastmodified"))
            .transpose()?
            .flatten()
            .unwrap_or_default();
        let last_modified = Timestamp::parse_rfc3339(&last_modified_text)
            .map_err(|e| invalid("lastmodified", e.to_string()))?;
        let mac = map
            .get("mac")
            .map(|n| text_of(n, "mac"))
            .transpose()?
            .flatten()
            .filter(|m| !m.is_empty());
        let shamir_threshold = match map.get("shamir_threshold") {
            None => 0,
            Some(Node::Scalar(Scalar::Int(i))) if *i >= 0 => *i as usize,
            Some(Node::Scalar(Scalar::Float(f))) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
            Some(n) => text_of(n, "shamir_threshold")?
                .unwrap_or_default()
                .parse()
                .map_err(|_| invalid("shamir_threshold", "expected a whole number"))?,
        };
        let mac_only_encrypted = match map.get("mac_only_encrypted") {
            None | Some(Node::Scalar(Scalar::Null)) => false,
            Some(Node::Scalar(Scalar::Bool(b))) => *b,
            Some(n) => match text_of(n, "mac_only_encrypted")?.as_deref() {
                Some("true") => true,
                Some("false") | Some("") | None => false,
                _ => return Err(invalid("mac_only_encrypted", "expected true or false")),
            },
        };
        let mut rules = Vec::new();
        for name in EncryptionRule::FIELD_NAMES {
            if let Some(text) = map.get(name).map(|n| text_of(n, name)).transpose()?.flatten()
                && !text.is_empty()
            {
                rules.push((name, text));
            }
        }
        let rule = match rules.len() {
            0 => EncryptionRule::None,
            1 => {
                let (name, value) = rules.pop().expect("one rule");
                EncryptionRule::from_field(name, &value)
                    .map_err(|e| invalid(name, e.to_string()))?
            }
            _ => {
                let names: Vec<&str> = rules.iter().map(|(n, _)| *n).collect();
                return Err(MetadataError::ConflictingRules(names.join(", ")));
            }
        };

        let top_level = KeyGroup::read(map, "")?;
        let key_groups = if !top_level.is_empty() {
            vec![top_level]
        } else {
            match map.get("key_groups") {
                None => Vec::new(),
                Some(node) => list_of(node, "key_groups")?
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        let ctx = format!("key_groups[{i}].");
                        let m = g
                            .as_map()
                            .ok_or_else(|| invalid("key_groups", "expected a list of maps"))?;
                        KeyGroup::read(m, &ctx)
                    })
                    .collect::<Result<_, _>>()?,
            }
        };
        if key_groups.iter().all(KeyGroup::is_empty) {
            return Err(MetadataError::NoKeys);
        }

        let known = [
            "shamir_threshold",
            "key_groups",
            "kms",
            "gcp_kms",
            "azure_kv",
            "hc_vault",
            "age",
            "lastmodified",
            "mac",
            "pgp",
            "mac_only_encrypted",
            "version",
        ];
        let unknown = map
            .entries()
            .filter(|(k, _)| !known.contains(k) && !EncryptionRule::FIELD_NAMES.contains(k))
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();

        Ok(Metadata {
            key_groups,
            shamir_threshold,
            last_modified,
            mac,
            rule,
            mac_only_encrypted,
            version,
            unknown,
        })
    }

    /// Writes the metadata as sops 3.11 does: fields in its order, empty ones omitted.
    pub fn to_tree(&self) -> Map {
        let mut m = Map::new();
        if self.shamir_threshold != 0 {
            m.push("shamir_threshold", Node::Scalar(Scalar::Int(self.shamir_threshold as i64)));
        }
        let single = match self.key_groups.as_slice() {
            [one] => Some(one),
            groups => {
                if !groups.is_empty() {
                    let list = groups.iter().map(|g| Node::Map(g.write_in_group())).collect();
                    m.push("key_groups", Node::List(list));
                }
                None
            }
        };
        if let Some(g) = single {
            for name in ["kms", "gcp_kms", "azure_kv"] {
                if let Some(n) = g.foreign_node(name) {
                    m.push(name, n.clone());
                }
            }
            if !g.hc_vault.is_empty() {
                m.push("hc_vault", g.vault_node());
            }
            if !g.age.is_empty() {
                m.push("age", g.age_node());
            }
        }
        m.push("lastmodified", Node::str(self.last_modified.to_rfc3339_secs()));
        m.push("mac", Node::str(self.mac.clone().unwrap_or_default()));
        if let Some(n) = single.and_then(|g| g.foreign_node("pgp")) {
            m.push("pgp", n.clone());
        }
        if let Some((name, value)) = self.rule.field() {
            m.push(name, Node::str(value));
        }
        if self.mac_only_encrypted {
            m.push("mac_only_encrypted", Node::Scalar(Scalar::Bool(true)));
        }
        for (k, v) in &self.unknown {
            m.0.push(Item::Entry(k.clone(), v.clone()));
        }
        m.push("version", Node::str(self.version.clone()));
        m
    }

    /// The MAC's associated data: `lastmodified` re-formatted as Go's RFC 3339 (whole seconds).
    pub fn mac_aad(&self) -> String {
        self.last_modified.to_rfc3339_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Map {
        let mut m = Map::new();
        let mut stanza = Map::new();
        stanza.push("recipient", Node::str("age1xyz"));
        stanza.push("enc", Node::str("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        m.push("age", Node::List(vec![Node::Map(stanza)]));
        m.push("lastmodified", Node::str("2026-11-22T01:57:09Z"));
        m.push("mac", Node::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"));
        m.push("unencrypted_suffix", Node::str("_unencrypted"));
        m.push("version", Node::str("3.11.0"));
        m
    }

    #[test]
    fn round_trips_single_group_in_sops_field_order() {
        let md = Metadata::from_tree(&base()).unwrap();
        assert_eq!(md.key_groups.len(), 1);
        assert_eq!(md.to_tree(), base());
    }

    #[test]
    fn refuses_bad_version() {
        let mut m = base();
        m.insert("version", Node::str("rusty"));
        assert!(matches!(Metadata::from_tree(&m), Err(MetadataError::BadVersion(_))));
        m.insert("version", Node::str("4.0.0-alpha"));
        assert!(Metadata::from_tree(&m).is_ok());
    }

    #[test]
    fn refuses_two_rules() {
        let mut m = base();
        m.insert("encrypted_regex", Node::str("^data$"));
        assert!(matches!(Metadata::from_tree(&m), Err(MetadataError::ConflictingRules(_))));
    }

    #[test]
    fn keeps_foreign_key_types_and_unknown_fields() {
        let mut m = base();
        let mut pgp = Map::new();
        pgp.push("created_at", Node::str("2020-01-01T00:00:00Z"));
        pgp.push("enc", Node::str("-----BEGIN PGP MESSAGE-----"));
        pgp.push("fp", Node::str("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"));
        m.insert("pgp", Node::List(vec![Node::Map(pgp)]));
        m.insert("hckms", Node::List(vec![]));
        let md = Metadata::from_tree(&m).unwrap();
        let out = md.to_tree();
        assert!(out.get("pgp").is_some());
        assert!(out.get("hckms").is_some());
        let keys: Vec<&str> = out.entries().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["age", "lastmodified", "mac", "pgp", "unencrypted_suffix", "hckms", "version"]
        );
    }

    #[test]
    fn flattened_text_values_are_accepted() {
        let mut m = base();
        m.insert("mac_only_encrypted", Node::str("true"));
        m.insert("shamir_threshold", Node::str("0"));
        let md = Metadata::from_tree(&m).unwrap();
        assert!(md.mac_only_encrypted);
    }

    #[test]
    fn empty_mac_counts_as_missing() {
        let mut m = base();
        m.insert("mac", Node::str(""));
        assert_eq!(Metadata::from_tree(&m).unwrap().mac, None);
    }
}
