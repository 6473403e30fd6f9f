//! Re-encrypting a merge: which side's keys and settings the result keeps, the IVs of both
//! sides gathered into one stash, and both resolutions encrypted under one data key and one
//! metadata block, so they differ only at the conflicts.
//!
//! # Guarantees
//! - A value whose plaintext, type and path are unchanged from a side that shares the data
//!   key keeps that side's exact ciphertext (its IV is reused; an IV is only ever reused for the
//!   same plaintext at the same path under the same key).
//! - The ours resolution is a complete, valid file: its MAC verifies. The theirs resolution
//!   carries the same metadata block (ours resolution's MAC and `lastmodified`), so outside the
//!   conflicts the two emitted texts are byte-identical; its MAC does not verify and it is only
//!   meant to be shown between conflict markers.

use crate::format::cipher::DataKey;
use crate::format::engine::{self, IvStash};
use crate::format::file::{FileError, SopsFile};
use crate::format::mac;
use crate::format::metadata::{KeyGroup, Metadata};
use crate::format::rules::EncryptionRule;
use crate::format::store::Format;
use crate::format::timestamp::Timestamp;
use crate::format::tree::Node;

use super::tree::TreeMerge;

/// Whose data key (and key groups) the merged file is encrypted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySide {
    Ours,
    Theirs,
}

/// Something about the metadata merge worth telling the user. Holds no key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataNote {
    /// Only theirs changed the recipients or the data key (updatekeys, rotate): the result
    /// uses theirs' key groups and data key.
    TookTheirKeys,
    /// Both sides changed the recipients differently: ours' are kept, theirs' change is lost.
    /// (Both sides making new data keys for the same recipients is not worth a note.)
    KeptOurKeys,
    /// Only theirs changed the encryption rule or `mac_only_encrypted`: theirs' applies.
    TookTheirRule,
    /// Both sides changed the encryption rule differently: ours' is kept.
    KeptOurRule,
}

impl std::fmt::Display for MetadataNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetadataNote::TookTheirKeys => {
                "only theirs changed the recipients or data key: the result uses theirs'"
            }
            MetadataNote::KeptOurKeys => {
                "both sides changed the recipients: the result keeps ours', so theirs' change \
                 is lost (run `sealgate updatekeys` again)"
            }
            MetadataNote::TookTheirRule => {
                "only theirs changed the encryption rule: the result uses theirs'"
            }
            MetadataNote::KeptOurRule => {
                "both sides changed the encryption rule: the result keeps ours'"
            }
        })
    }
}

/// The metadata the merged file is written with: ours', except for parts only theirs changed.
#[derive(Clone, Debug)]
pub struct MetadataMerge {
    /// The metadata to re-encrypt with (its `lastmodified` and MAC are replaced on sealing).
    pub metadata: Metadata,
    /// Whose data key goes with `metadata.key_groups`.
    pub key_side: KeySide,
    pub notes: Vec<MetadataNote>,
}

fn keys_of(m: &Metadata) -> (&[KeyGroup], usize) {
    (&m.key_groups, m.shamir_threshold)
}

/// Who can open the file, group by group, without the wrapped keys themselves (entries of key
/// types sealgate does not know are compared whole).
type Recipients<'a> = (Vec<(Vec<String>, &'a [(String, Node)])>, usize);

fn recipients(m: &Metadata) -> Recipients<'_> {
    let groups =
        m.key_groups
            .iter()
            .map(|g| {
                let mut r: Vec<String> =
                    g.age.iter().map(|a| format!("age {}", a.recipient)).collect();
                r.extend(g.hc_vault.iter().map(|v| {
                    format!("vault {} {} {}", v.vault_address, v.engine_path, v.key_name)
                }));
                r.sort();
                (r, g.foreign.as_slice())
            })
            .collect();
    (groups, m.shamir_threshold)
}

fn rule_of(m: &Metadata) -> (&EncryptionRule, bool) {
    (&m.rule, m.mac_only_encrypted)
}

/// Three-way merges the metadata that matters to the result: the key groups (with the
/// Shamir threshold, which together stand for the data key) and the encryption rule (with
/// `mac_only_encrypted`). Each part is taken from ours unless only theirs changed it since the
/// base. Without a base (both sides added the file), ours' is kept when they differ.
pub fn merge_metadata(
    base: Option<&Metadata>,
    ours: &Metadata,
    theirs: &Metadata,
) -> MetadataMerge {
    let mut metadata = ours.clone();
    let mut notes = Vec::new();
    let mut key_side = KeySide::Ours;
    if keys_of(ours) != keys_of(theirs) {
        if base.is_some_and(|b| keys_of(b) == keys_of(ours)) {
            metadata.key_groups = theirs.key_groups.clone();
            metadata.shamir_threshold = theirs.shamir_threshold;
            key_side = KeySide::Theirs;
            notes.push(MetadataNote::TookTheirKeys);
        } else if !base.is_some_and(|b| keys_of(b) == keys_of(theirs))
            && recipients(ours) != recipients(theirs)
        {
            // Both sides re-wrapped or replaced the data key: harmless when they still name
            // the same recipients (each `sealgate seal` makes a fresh key), worth telling when
            // theirs' recipient change is lost.
            notes.push(MetadataNote::KeptOurKeys);
        }
    }
    if rule_of(ours) != rule_of(theirs) {
        if base.is_some_and(|b| rule_of(b) == rule_of(ours)) {
            metadata.rule = theirs.rule.clone();
            metadata.mac_only_encrypted = theirs.mac_only_encrypted;
            notes.push(MetadataNote::TookTheirRule);
        } else if !base.is_some_and(|b| rule_of(b) == rule_of(theirs)) {
            notes.push(MetadataNote::KeptOurRule);
        }
    }
    MetadataMerge { metadata, key_side, notes }
}

/// The IVs of every value of `files` that authenticates under `key` (files encrypted under
/// another key or with another rule add nothing). When several files hold the same plaintext
/// at the same path, the last file's IV wins: pass the side whose ciphertext should be kept
/// last. MACs are not checked here; callers verify each file first.
pub fn gather_ivs(key: &DataKey, metadata: &Metadata, files: &[&SopsFile]) -> IvStash {
    let fits = |f: &&&SopsFile| {
        f.metadata.rule == metadata.rule
            && f.metadata.mac_only_encrypted == metadata.mac_only_encrypted
    };
    let decrypt = |files: &[&&SopsFile]| {
        // One walk over all documents: the path restarts at each document, so the stash is
        // keyed exactly as if each file were decrypted alone.
        let mut docs: Vec<_> = files.iter().flat_map(|f| f.docs.iter().cloned()).collect();
        engine::decrypt_documents(&mut docs, key, &metadata.rule, metadata.mac_only_encrypted)
            .map(|d| d.stash)
    };
    let candidates: Vec<&&SopsFile> = files.iter().filter(fits).collect();
    if let Ok(stash) = decrypt(&candidates) {
        return stash;
    }
    let usable: Vec<&&SopsFile> =
        candidates.into_iter().filter(|f| decrypt(std::slice::from_ref(f)).is_ok()).collect();
    decrypt(&usable).unwrap_or_default()
}

/// Both resolutions of a merge, encrypted.
#[derive(Debug)]
pub struct SealedMerge {
    /// Every conflict resolved for ours: a complete file whose MAC verifies.
    pub ours: SopsFile,
    /// Every conflict resolved for theirs, with `ours`' metadata block (see the module doc).
    pub theirs: SopsFile,
}

/// Encrypts both resolutions of `merge` with `key` (which must be the data key that
/// `metadata.key_groups` wrap) and `metadata`'s rule, stamped `now`, reusing the IVs in
/// `stash`.
///
/// # Errors
/// What encrypting a tree can fail with (a comment that would match
/// `unencrypted_comment_regex` once encrypted, a reserved top-level `sops` key).
pub fn seal_merge(
    format: Format,
    metadata: &Metadata,
    key: &DataKey,
    merge: TreeMerge,
    stash: &IvStash,
    now: Timestamp,
) -> Result<SealedMerge, FileError> {
    let mut metadata = metadata.clone();
    metadata.last_modified = now;
    let encrypt = |mut docs: Vec<crate::format::Document>| {
        for doc in &docs {
            if doc.get("sops").is_some() {
                return Err(FileError::ReservedKey("sops".to_owned()));
            }
        }
        let mac_hex = engine::encrypt_documents(
            &mut docs,
            key,
            &metadata.rule,
            metadata.mac_only_encrypted,
            Some(stash),
        )?;
        Ok((docs, mac_hex))
    };
    let (ours_docs, ours_mac) = encrypt(merge.ours)?;
    let (theirs_docs, _) = encrypt(merge.theirs)?;
    metadata.mac = Some(mac::seal(key, &ours_mac, &metadata.mac_aad()));
    Ok(SealedMerge {
        ours: SopsFile { format, docs: ours_docs, metadata: metadata.clone() },
        theirs: SopsFile { format, docs: theirs_docs, metadata },
    })
}
