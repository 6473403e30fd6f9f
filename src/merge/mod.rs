//! Merging two edits of one encrypted file (the `sealgate merge` git driver): a three-way merge
//! of the plaintext trees ([`tree`]), re-encryption of the result so unchanged values keep their
//! exact ciphertext ([`reseal`]), and conflict markers around re-encrypted text ([`markers`]).
//!
//! `EncryptedSecret`s get their `spec` re-sorted after a merge ([`sealed`]).
//!
//! Nothing here touches master keys or prints: callers recover data keys and report.

pub mod lines;
pub mod markers;
pub mod reseal;
pub mod sealed;
pub mod tree;

pub use reseal::{
    KeySide, MetadataMerge, MetadataNote, SealedMerge, gather_ivs, merge_metadata, seal_merge,
};
pub use sealed::sort_encrypted_secrets;
pub use tree::{
    Conflict, ConflictKind, TreeMerge, merge_documents, same_docs, same_map, same_node,
};

#[cfg(test)]
mod reseal_tests;
#[cfg(test)]
mod tree_tests;
