//! A SOPS file as a whole: read it with its metadata, decrypt it (nothing is returned unless
//! every value decrypts and the MAC verifies), and encrypt or re-encrypt documents.
//!
//! This layer knows nothing of master keys: callers unwrap or wrap the data key with
//! [`crate::keys`] and hand the [`DataKey`] in.

use super::cipher::DataKey;
use super::engine::{self, IvStash, TreeError, Warning};
use super::mac::{self, MacError};
use super::metadata::{KeyGroup, Metadata, MetadataError, SOPS_VERSION};
use super::rules::EncryptionRule;
use super::store::{self, Format, StoreError};
use super::timestamp::Timestamp;
use super::tree::{Document, Item, Node};

/// An encrypted file in memory.
#[derive(Clone, Debug)]
pub struct SopsFile {
    pub format: Format,
    pub docs: Vec<Document>,
    pub metadata: Metadata,
}

/// The decrypted documents of a file, with what is needed to re-encrypt them faithfully.
pub struct Opened {
    pub docs: Vec<Document>,
    /// IVs of the values as they were, so unchanged values re-encrypt byte-identically.
    pub stash: IvStash,
    pub warnings: Vec<Warning>,
}

/// Why a file could not be read, decrypted or encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Mac(#[from] MacError),
    #[error("the file already has sops metadata: it is encrypted already")]
    AlreadyEncrypted,
    #[error("the key {0:?} is reserved for sops metadata and cannot be used in a document")]
    ReservedKey(String),
}

/// How a new file is encrypted.
#[derive(Clone, Debug)]
pub struct EncryptParams {
    pub rule: EncryptionRule,
    pub mac_only_encrypted: bool,
    /// The wrapped data key, as produced by [`crate::keys`].
    pub key_groups: Vec<KeyGroup>,
    pub shamir_threshold: usize,
}

impl SopsFile {
    /// Parses an encrypted file and its metadata.
    ///
    /// # Errors
    /// [`StoreError::NoMetadata`] when the file is not encrypted; [`MetadataError`] when the
    /// metadata is unusable (sops exit 1); store errors for malformed input.
    pub fn parse(format: Format, input: &[u8]) -> Result<SopsFile, FileError> {
        let (docs, meta_tree) = store::parse_encrypted(format, input)?;
        let metadata = Metadata::from_tree(&meta_tree)?;
        Ok(SopsFile { format, docs, metadata })
    }

    /// Parses a YAML stream in which every document is a complete SOPS file of its own (what
    /// `sealgate seal` writes for several Secrets: each `EncryptedSecret` must verify alone,
    /// as the cluster sees it). Other formats hold one file.
    pub fn parse_each_document(format: Format, input: &[u8]) -> Result<Vec<SopsFile>, FileError> {
        if format != Format::Yaml {
            return Ok(vec![SopsFile::parse(format, input)?]);
        }
        let docs = store::parse_plain(Format::Yaml, input)?;
        docs.into_iter()
            .map(|mut doc| {
                let Some(Node::Map(meta)) = doc.remove("sops") else {
                    return Err(FileError::Store(StoreError::NoMetadata { format }));
                };
                let metadata = Metadata::from_tree(&meta)?;
                Ok(SopsFile { format, docs: vec![doc], metadata })
            })
            .collect()
    }

    /// Writes the file in its format.
    pub fn emit(&self) -> Result<Vec<u8>, FileError> {
        self.emit_as(self.format)
    }

    /// Writes the file in another format (`--output-type` on an encrypted file).
    pub fn emit_as(&self, format: Format) -> Result<Vec<u8>, FileError> {
        Ok(store::emit_encrypted(format, &self.docs, &self.metadata.to_tree())?)
    }

    /// Decrypts every value and verifies the MAC.
    ///
    /// # Guarantees
    /// On any error nothing decrypted is returned: the partly decrypted copy is dropped, and
    /// its text is zeroized on drop. With `ignore_mac` (sops `--ignore-mac`) a missing or
    /// wrong MAC is accepted; values must still authenticate.
    pub fn decrypt(&self, key: &DataKey, ignore_mac: bool) -> Result<Opened, FileError> {
        let mut docs = self.docs.clone();
        let out = engine::decrypt_documents(
            &mut docs,
            key,
            &self.metadata.rule,
            self.metadata.mac_only_encrypted,
        )?;
        if !ignore_mac {
            mac::verify(key, self.metadata.mac.as_deref(), &out.mac, &self.metadata.mac_aad())?;
        }
        Ok(Opened { docs, stash: out.stash, warnings: out.warnings })
    }

    /// Encrypts plaintext documents into a new file stamped `now`.
    ///
    /// Fresh IVs are used unless `stash` holds the IV of an unchanged value. A rule with an
    /// empty suffix or regex counts as no rule (the `_unencrypted` default), as in sops.
    pub fn encrypt(
        format: Format,
        mut docs: Vec<Document>,
        key: &DataKey,
        mut params: EncryptParams,
        stash: Option<&IvStash>,
        now: Timestamp,
    ) -> Result<SopsFile, FileError> {
        // sops treats an empty `--unencrypted-suffix ""` (or any empty rule) as unset. Kept, it
        // would leave every value clear (every key ends with "") and be written as `""`, which
        // reads back as the default rule: a file in clear text that does not decrypt.
        if params.rule.field().is_some_and(|(_, value)| value.is_empty()) {
            params.rule = EncryptionRule::None;
        }
        for doc in &docs {
            if doc.get("sops").is_some() {
                return Err(FileError::ReservedKey("sops".to_owned()));
            }
        }
        let mac_hex = engine::encrypt_documents(
            &mut docs,
            key,
            &params.rule,
            params.mac_only_encrypted,
            stash,
        )?;
        let mut metadata = Metadata {
            key_groups: params.key_groups,
            shamir_threshold: params.shamir_threshold,
            last_modified: now,
            mac: None,
            rule: params.rule,
            mac_only_encrypted: params.mac_only_encrypted,
            version: SOPS_VERSION.to_owned(),
            unknown: Vec::new(),
        };
        metadata.mac = Some(mac::seal(key, &mac_hex, &metadata.mac_aad()));
        // sops writes the default rule explicitly.
        if matches!(metadata.rule, EncryptionRule::None) && format != Format::Binary {
            metadata.rule = EncryptionRule::UnencryptedSuffix(
                super::rules::DEFAULT_UNENCRYPTED_SUFFIX.to_owned(),
            );
        }
        Ok(SopsFile { format, docs, metadata })
    }

    /// Re-encrypts edited documents with this file's data key and metadata, reusing the IVs
    /// of unchanged values, with a new `lastmodified` and MAC (what `edit`, `set` and `unset`
    /// do).
    pub fn reseal(
        &self,
        opened: Opened,
        key: &DataKey,
        now: Timestamp,
    ) -> Result<SopsFile, FileError> {
        let mut docs = opened.docs;
        let mac_hex = engine::encrypt_documents(
            &mut docs,
            key,
            &self.metadata.rule,
            self.metadata.mac_only_encrypted,
            Some(&opened.stash),
        )?;
        let mut metadata = self.metadata.clone();
        metadata.last_modified = now;
        metadata.mac = Some(mac::seal(key, &mac_hex, &metadata.mac_aad()));
        Ok(SopsFile { format: self.format, docs, metadata })
    }
}

/// True when the documents contain no values at all (only comments and empty containers).
pub fn is_empty_documents(docs: &[Document]) -> bool {
    docs.iter().all(|d| d.0.iter().all(|i| matches!(i, Item::Comment(_))))
}
