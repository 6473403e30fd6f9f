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
    #[error("failed to write the encrypted output: {0}")]
    Write(String),
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
    /// as the cluster sees it). Other formats hold one file. Empty documents (a trailing
    /// `---`, or only comments) are skipped, as kubectl skips them.
    pub fn parse_each_document(format: Format, input: &[u8]) -> Result<Vec<SopsFile>, FileError> {
        if format != Format::Yaml {
            return Ok(vec![SopsFile::parse(format, input)?]);
        }
        let docs = store::parse_plain(Format::Yaml, input)?;
        docs.into_iter()
            .filter(|doc| doc.0.iter().any(|item| matches!(item, Item::Entry(..))))
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

    /// Writes the file in its own format, consuming it (no copy of a large tree is made).
    pub fn into_bytes(self) -> Result<Vec<u8>, FileError> {
        let format = self.format;
        self.into_bytes_as(format)
    }

    /// Writes the file in `format`, consuming it (no copy of a large tree is made).
    pub fn into_bytes_as(self, format: Format) -> Result<Vec<u8>, FileError> {
        let metadata = self.metadata.to_tree();
        Ok(store::emit_encrypted_owned(format, self.docs, &metadata)?)
    }

    /// Writes the file in `format` to `out`, consuming it: byte for byte what
    /// [`SopsFile::into_bytes_as`] returns, but YAML is written as it is produced instead of
    /// being built in memory first. Other formats are built, then written.
    pub fn write_as(self, format: Format, out: &mut dyn std::io::Write) -> Result<(), FileError> {
        let failed = |e: std::io::Error| FileError::Write(e.to_string());
        if format == Format::Yaml {
            let metadata = self.metadata.to_tree();
            store::write_yaml_encrypted(self.docs, &metadata, out).map_err(failed)?;
        } else {
            let bytes = self.into_bytes_as(format)?;
            out.write_all(&bytes).map_err(failed)?;
        }
        out.flush().map_err(failed)
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
        self.decrypt_with(key, ignore_mac, true)
    }

    /// [`SopsFile::decrypt`] for reading only: no IVs are recorded, so the result cannot be
    /// re-encrypted with unchanged ciphertexts (what `decrypt` and `diff` need, faster). The
    /// file is consumed: its documents are decrypted in place instead of copied.
    pub fn reveal(self, key: &DataKey, ignore_mac: bool) -> Result<Opened, FileError> {
        let SopsFile { docs, metadata, .. } = self;
        decrypt_docs(docs, &metadata, key, ignore_mac, false)
    }

    fn decrypt_with(
        &self,
        key: &DataKey,
        ignore_mac: bool,
        remember_ivs: bool,
    ) -> Result<Opened, FileError> {
        decrypt_docs(self.docs.clone(), &self.metadata, key, ignore_mac, remember_ivs)
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
        let mut metadata = new_metadata(params, now);
        metadata.mac = Some(mac::seal(key, &mac_hex, &metadata.mac_aad()));
        // sops writes the default rule explicitly.
        if matches!(metadata.rule, EncryptionRule::None) && format != Format::Binary {
            metadata.rule = EncryptionRule::UnencryptedSuffix(
                super::rules::DEFAULT_UNENCRYPTED_SUFFIX.to_owned(),
            );
        }
        Ok(SopsFile { format, docs, metadata })
    }

    /// Encrypts a whole file with the binary store straight to `out`, byte for byte what
    /// [`SopsFile::encrypt`] then [`SopsFile::emit`] write for `Format::Binary`, without
    /// building the document in memory. The MAC is hashed on a second core while a copy is
    /// encrypted in place and its base64 written out in chunks; only the metadata, which
    /// comes last, waits for the hash. This keeps a 64 MB file close to `age`'s own speed.
    pub fn encrypt_binary_to(
        plaintext: &[u8],
        key: &DataKey,
        params: EncryptParams,
        now: Timestamp,
        out: &mut dyn std::io::Write,
    ) -> Result<(), FileError> {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as B64;

        const PLACEHOLDER: &str = "sealgate-bulk-value-placeholder";
        let mut metadata = new_metadata(params, now);
        // The document with the value replaced by a placeholder, split around it.
        let shell = |metadata: &Metadata| -> Result<(Vec<u8>, usize), FileError> {
            let mut doc = super::tree::Map::new();
            doc.push("data", Node::str(PLACEHOLDER));
            let text = store::emit_encrypted(Format::Binary, &[doc], &metadata.to_tree())?;
            let at = text
                .windows(PLACEHOLDER.len())
                .position(|w| w == PLACEHOLDER.as_bytes())
                .expect("the placeholder is written verbatim");
            Ok((text, at))
        };
        let write = |out: &mut dyn std::io::Write, bytes: &[u8]| {
            out.write_all(bytes).map_err(|e| FileError::Write(e.to_string()))
        };

        let iv = super::cipher::random_iv();
        let mut sealed = zeroize::Zeroizing::new(plaintext.to_vec());
        let mac_only = metadata.mac_only_encrypted;
        std::thread::scope(|s| {
            let hashing = s.spawn(move || {
                let mut h = super::mac::MacHasher::new(mac_only);
                h.update(plaintext);
                h.finish()
            });
            let tag =
                super::cipher::ValueCipher::new(key).encrypt_in_place(&mut sealed, b"data:", &iv);
            // Everything before the value is independent of the metadata (it comes last).
            let (head, at) = shell(&metadata)?;
            write(out, &head[..at])?;
            write(out, b"ENC[AES256_GCM,data:")?;
            let mut chunk = vec![0u8; 4 << 20];
            for part in sealed.chunks(3 << 20) {
                let n = B64.encode_slice(part, &mut chunk).expect("the buffer fits the encoding");
                write(out, &chunk[..n])?;
            }
            write(
                out,
                format!(",iv:{},tag:{},type:str]", B64.encode(iv), B64.encode(tag)).as_bytes(),
            )?;
            let mac_hex = hashing.join().expect("hashing does not panic");
            metadata.mac = Some(mac::seal(key, &mac_hex, &metadata.mac_aad()));
            let (full, at) = shell(&metadata)?;
            debug_assert_eq!(full[..at], head[..at], "the head does not depend on the metadata");
            write(out, &full[at + PLACEHOLDER.len()..])?;
            out.flush().map_err(|e| FileError::Write(e.to_string()))
        })
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

/// Decrypts `docs` in place and verifies the MAC; nothing is returned on failure.
fn decrypt_docs(
    mut docs: Vec<Document>,
    metadata: &Metadata,
    key: &DataKey,
    ignore_mac: bool,
    remember_ivs: bool,
) -> Result<Opened, FileError> {
    let out = engine::decrypt_documents_with(
        &mut docs,
        key,
        &metadata.rule,
        metadata.mac_only_encrypted,
        remember_ivs,
    )?;
    if !ignore_mac {
        mac::verify(key, metadata.mac.as_deref(), &out.mac, &metadata.mac_aad())?;
    }
    Ok(Opened { docs, stash: out.stash, warnings: out.warnings })
}

/// The metadata of a new file, before its MAC is sealed.
fn new_metadata(params: EncryptParams, now: Timestamp) -> Metadata {
    Metadata {
        key_groups: params.key_groups,
        shamir_threshold: params.shamir_threshold,
        last_modified: now,
        mac: None,
        rule: params.rule,
        mac_only_encrypted: params.mac_only_encrypted,
        version: SOPS_VERSION.to_owned(),
        unknown: Vec::new(),
    }
}
