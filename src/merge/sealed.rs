//! `EncryptedSecret`s after a merge: everything under `spec` back in byte-sorted key order.
//!
//! The apiserver stores `spec` with sorted keys and `seal::open` refuses an unsorted one (the
//! MAC is computed over the order in the file). A merge appends keys only theirs added after
//! ours' keys, so without this a merged `EncryptedSecret` could be unsorted.

use crate::format::tree::{Document, Node};
use crate::seal::{API_VERSION, KIND, sort_keys_recursively};

use super::tree::TreeMerge;

/// True for a document that declares itself an `EncryptedSecret`.
fn is_encrypted_secret(doc: &Document) -> bool {
    doc.get("apiVersion").and_then(Node::as_str) == Some(API_VERSION)
        && doc.get("kind").and_then(Node::as_str) == Some(KIND)
}

/// Sorts `spec` of every `EncryptedSecret` in both resolutions of a merge.
pub fn sort_encrypted_secrets(merge: &mut TreeMerge) {
    for doc in merge.ours.iter_mut().chain(merge.theirs.iter_mut()) {
        if is_encrypted_secret(doc)
            && let Some(Node::Map(spec)) = doc.get_mut("spec")
        {
            sort_keys_recursively(spec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::Map;
    use crate::merge::merge_documents;
    use crate::seal::first_unsorted_path;

    fn secret(kind: &str, data: &[&str]) -> Document {
        let mut d = Map::new();
        for k in data {
            d.push(*k, Node::str("dmFsdWU="));
        }
        let mut spec = Map::new();
        spec.push("data", Node::Map(d));
        let mut doc = Map::new();
        doc.push("apiVersion", Node::str(API_VERSION));
        doc.push("kind", Node::str(kind));
        doc.push("spec", Node::Map(spec));
        doc
    }

    #[test]
    fn keys_theirs_added_are_sorted_into_place() {
        let base = secret(KIND, &["a", "c"]);
        let ours = secret(KIND, &["a", "c", "d"]);
        let theirs = secret(KIND, &["a", "b", "c"]);
        let mut m = merge_documents(&[base], &[ours], &[theirs]);
        assert_eq!(first_unsorted_path(&m.ours[0]).as_deref(), Some("spec.data"));
        sort_encrypted_secrets(&mut m);
        assert_eq!(first_unsorted_path(&m.ours[0]), None);
        assert_eq!(m.ours, vec![secret(KIND, &["a", "b", "c", "d"])]);
    }

    #[test]
    fn other_documents_keep_the_merge_order() {
        let base = secret("Other", &["a", "c"]);
        let ours = secret("Other", &["a", "c", "d"]);
        let theirs = secret("Other", &["a", "b", "c"]);
        let mut m = merge_documents(&[base], &[ours], &[theirs]);
        sort_encrypted_secrets(&mut m);
        assert_eq!(m.ours, vec![secret("Other", &["a", "c", "d", "b"])]);
    }
}
