//! Merging two edits of one encrypted file (the `sealgate merge` git driver): a three-way merge
//! of the plaintext trees ([`tree`]), re-encryption of the result so unchanged values keep their
//! exact ciphertext ([`seal`]), and conflict markers around re-encrypted text ([`markers`]).
//!
//! Nothing here touches keys or prints: callers recover data keys and report.

pub mod tree;

pub use tree::{Conflict, ConflictKind, TreeMerge, merge_documents, same_map, same_node};

#[cfg(test)]
mod tree_tests;
