//! Tests of re-encrypting a merge: ciphertext kept for unchanged values, both resolutions under
//! one metadata block, and the metadata merge.

use serde_json::json;

use super::reseal::{KeySide, MetadataNote, gather_ivs, merge_metadata, seal_merge};
use super::tree::merge_documents;
use crate::format::cipher::DataKey;
use crate::format::file::{EncryptParams, FileError, SopsFile};
use crate::format::metadata::{AgeStanza, KeyGroup, Metadata};
use crate::format::path::node_from_json;
use crate::format::rules::EncryptionRule;
use crate::format::store::Format;
use crate::format::tree::{Document, Node};
use crate::format::{Scalar, Timestamp};

fn doc(v: serde_json::Value) -> Document {
    match node_from_json(&v) {
        Node::Map(m) => m,
        _ => panic!("a document is an object"),
    }
}

fn at(sec: u32) -> Timestamp {
    Timestamp::from_civil((2026, 1, 2), (3, 4, sec), 0, 0).unwrap()
}

fn group(recipient: &str) -> KeyGroup {
    KeyGroup {
        age: vec![AgeStanza { recipient: recipient.into(), enc: "wrapped".into() }],
        ..KeyGroup::default()
    }
}

fn new_file(key: &DataKey, v: serde_json::Value) -> SopsFile {
    let params = EncryptParams {
        rule: EncryptionRule::None,
        mac_only_encrypted: false,
        key_groups: vec![group("age1base")],
        shamir_threshold: 0,
    };
    SopsFile::encrypt(Format::Yaml, vec![doc(v)], key, params, None, at(0)).unwrap()
}

/// What `sealgate set` does: decrypt, change, reseal with the same key.
fn change(file: &SopsFile, key: &DataKey, f: impl FnOnce(&mut Document)) -> SopsFile {
    let mut opened = file.decrypt(key, false).unwrap();
    f(&mut opened.docs[0]);
    file.reseal(opened, key, at(1)).unwrap()
}

fn plain(file: &SopsFile, key: &DataKey) -> Vec<Document> {
    file.decrypt(key, false).unwrap().docs
}

/// The stored (encrypted) text at a top-level key.
fn cipher_at<'a>(file: &'a SopsFile, key: &str) -> &'a str {
    file.docs[0].get(key).and_then(Node::as_str).unwrap()
}

#[test]
fn clean_merge_keeps_every_unchanged_ciphertext_and_verifies() {
    let key = DataKey::generate();
    let base = new_file(&key, json!({"a": "1", "b": "2", "c": "3", "n": 5}));
    let ours = change(&base, &key, |d| d.insert("a", Node::str("1-ours")));
    let theirs = change(&base, &key, |d| d.insert("c", Node::str("3-theirs")));
    let merge = merge_documents(&plain(&base, &key), &plain(&ours, &key), &plain(&theirs, &key));
    assert!(merge.is_clean());
    let md = merge_metadata(Some(&base.metadata), &ours.metadata, &theirs.metadata);
    assert_eq!((md.key_side, md.notes.as_slice()), (KeySide::Ours, &[][..]));
    let stash = gather_ivs(&key, &md.metadata, &[&base, &theirs, &ours]);
    let sealed = seal_merge(Format::Yaml, &md.metadata, &key, merge, &stash, at(9)).unwrap();

    let opened = sealed.ours.decrypt(&key, false).expect("the merged file's MAC verifies");
    assert_eq!(opened.docs, vec![doc(json!({"a": "1-ours", "b": "2", "c": "3-theirs", "n": 5}))]);
    assert_eq!(cipher_at(&sealed.ours, "a"), cipher_at(&ours, "a"));
    assert_eq!(cipher_at(&sealed.ours, "b"), cipher_at(&base, "b"));
    assert_eq!(cipher_at(&sealed.ours, "c"), cipher_at(&theirs, "c"));
    assert_eq!(cipher_at(&sealed.ours, "n"), cipher_at(&base, "n"));
    assert_eq!(sealed.ours.metadata.last_modified, at(9));
    assert_eq!(sealed.ours.docs, sealed.theirs.docs);
}

#[test]
fn conflict_resolutions_share_metadata_and_differ_only_at_the_conflict() {
    let key = DataKey::generate();
    let base = new_file(&key, json!({"a": "1", "b": "2", "c": "3"}));
    let ours = change(&base, &key, |d| d.insert("b", Node::str("ours")));
    let theirs = change(&base, &key, |d| {
        d.insert("b", Node::str("theirs"));
        d.insert("c", Node::str("3-theirs"));
    });
    let merge = merge_documents(&plain(&base, &key), &plain(&ours, &key), &plain(&theirs, &key));
    assert_eq!(merge.conflicts.len(), 1);
    let md = merge_metadata(Some(&base.metadata), &ours.metadata, &theirs.metadata);
    let stash = gather_ivs(&key, &md.metadata, &[&base, &theirs, &ours]);
    let sealed = seal_merge(Format::Yaml, &md.metadata, &key, merge, &stash, at(9)).unwrap();

    assert_eq!(sealed.ours.metadata, sealed.theirs.metadata);
    assert_eq!(cipher_at(&sealed.ours, "b"), cipher_at(&ours, "b"));
    assert_eq!(cipher_at(&sealed.theirs, "b"), cipher_at(&theirs, "b"));
    for k in ["a", "c"] {
        assert_eq!(cipher_at(&sealed.ours, k), cipher_at(&sealed.theirs, k), "{k}");
    }
    let o = sealed.ours.decrypt(&key, false).unwrap();
    assert_eq!(o.docs, vec![doc(json!({"a": "1", "b": "ours", "c": "3-theirs"}))]);
    assert!(matches!(sealed.theirs.decrypt(&key, false), Err(FileError::Mac(_))));
    let t = sealed.theirs.decrypt(&key, true).expect("values authenticate without the MAC");
    assert_eq!(t.docs, vec![doc(json!({"a": "1", "b": "theirs", "c": "3-theirs"}))]);
}

#[test]
fn ivs_of_a_file_under_another_key_are_not_used() {
    let key = DataKey::generate();
    let other = DataKey::generate();
    let ours = new_file(&key, json!({"a": "same"}));
    let theirs = new_file(&other, json!({"a": "same"}));
    let stash = gather_ivs(&key, &ours.metadata, &[&theirs, &ours]);
    assert_eq!(stash.len(), 1, "only ours' value");
    let stash = gather_ivs(&key, &ours.metadata, &[&theirs]);
    assert!(stash.is_empty());
}

#[test]
fn later_files_win_for_the_same_plaintext() {
    let key = DataKey::generate();
    let a = new_file(&key, json!({"k": "v"}));
    let b = new_file(&key, json!({"k": "v"}));
    assert_ne!(cipher_at(&a, "k"), cipher_at(&b, "k"), "fresh IVs");
    let merge = merge_documents(&plain(&a, &key), &plain(&a, &key), &plain(&a, &key));
    let stash = gather_ivs(&key, &a.metadata, &[&a, &b]);
    let sealed = seal_merge(Format::Yaml, &a.metadata, &key, merge, &stash, at(3)).unwrap();
    assert_eq!(cipher_at(&sealed.ours, "k"), cipher_at(&b, "k"));
}

#[test]
fn a_top_level_sops_key_is_refused() {
    let key = DataKey::generate();
    let f = new_file(&key, json!({"a": "1"}));
    let merge = merge_documents(&[], &[doc(json!({"sops": "x"}))], &[doc(json!({"sops": "x"}))]);
    let err = seal_merge(Format::Yaml, &f.metadata, &key, merge, &Default::default(), at(1));
    assert!(matches!(err, Err(FileError::ReservedKey(_))));
}

fn meta_with(key_groups: Vec<KeyGroup>, rule: EncryptionRule) -> Metadata {
    let key = DataKey::generate();
    let mut f = new_file(&key, json!({"a": 1}));
    f.metadata.key_groups = key_groups;
    f.metadata.rule = rule;
    f.metadata
}

#[test]
fn metadata_takes_theirs_only_where_only_theirs_changed() {
    let suffix = || EncryptionRule::UnencryptedSuffix("_unencrypted".into());
    let regex = || EncryptionRule::from_field("encrypted_regex", "^pass").unwrap();
    let base = meta_with(vec![group("age1a")], suffix());
    let rekeyed = meta_with(vec![group("age1a"), group("age1b")], suffix());
    let rekeyed2 = meta_with(vec![group("age1c")], suffix());
    let reruled = meta_with(vec![group("age1a")], regex());

    let m = merge_metadata(Some(&base), &base, &rekeyed);
    assert_eq!(m.key_side, KeySide::Theirs);
    assert_eq!(m.metadata.key_groups, rekeyed.key_groups);
    assert_eq!(m.notes, [MetadataNote::TookTheirKeys]);

    let m = merge_metadata(Some(&base), &rekeyed, &base);
    assert_eq!((m.key_side, m.notes.as_slice()), (KeySide::Ours, &[][..]));
    assert_eq!(m.metadata.key_groups, rekeyed.key_groups);

    let m = merge_metadata(Some(&base), &rekeyed, &rekeyed2);
    assert_eq!(m.key_side, KeySide::Ours);
    assert_eq!(m.metadata.key_groups, rekeyed.key_groups);
    assert_eq!(m.notes, [MetadataNote::KeptOurKeys]);

    // Both sides made new data keys for the same recipients (re-sealing does): ours' are
    // kept without a note.
    let rewrapped = |enc: &str| {
        let mut m = base.clone();
        m.key_groups[0].age[0].enc = enc.into();
        m
    };
    let m = merge_metadata(Some(&base), &rewrapped("one"), &rewrapped("two"));
    assert_eq!((m.key_side, m.notes.as_slice()), (KeySide::Ours, &[][..]));
    assert_eq!(m.metadata.key_groups[0].age[0].enc, "one");

    let m = merge_metadata(None, &base, &rekeyed);
    assert_eq!((m.key_side, m.notes.as_slice()), (KeySide::Ours, &[MetadataNote::KeptOurKeys][..]));

    let m = merge_metadata(Some(&base), &base, &reruled);
    assert_eq!(m.metadata.rule, regex());
    assert_eq!(m.notes, [MetadataNote::TookTheirRule]);
    let m = merge_metadata(Some(&base), &reruled, &rekeyed);
    assert_eq!(m.metadata.rule, regex());
    assert_eq!(m.metadata.key_groups, rekeyed.key_groups);
    assert_eq!(m.notes, [MetadataNote::TookTheirKeys]);
    let mut mac_only = base.clone();
    mac_only.mac_only_encrypted = true;
    let m = merge_metadata(Some(&base), &mac_only, &reruled);
    assert_eq!(m.notes, [MetadataNote::KeptOurRule]);
    assert!(m.metadata.mac_only_encrypted);
}

#[test]
fn values_keep_their_types_through_a_merge() {
    let key = DataKey::generate();
    let base = new_file(&key, json!({"i": 1, "f": 1.5, "b": true, "s": "x"}));
    let ours = change(&base, &key, |d| d.insert("i", Node::Scalar(Scalar::Int(2))));
    let theirs = change(&base, &key, |d| d.insert("b", Node::Scalar(Scalar::Bool(false))));
    let merge = merge_documents(&plain(&base, &key), &plain(&ours, &key), &plain(&theirs, &key));
    let stash = gather_ivs(&key, &ours.metadata, &[&base, &theirs, &ours]);
    let sealed = seal_merge(Format::Json, &ours.metadata, &key, merge, &stash, at(5)).unwrap();
    assert_eq!(sealed.ours.format, Format::Json);
    let d = &sealed.ours.decrypt(&key, false).unwrap().docs[0];
    assert_eq!(d.get("i"), Some(&Node::Scalar(Scalar::Int(2))));
    assert_eq!(d.get("b"), Some(&Node::Scalar(Scalar::Bool(false))));
    assert_eq!(cipher_at(&sealed.ours, "f"), cipher_at(&base, "f"));
}
