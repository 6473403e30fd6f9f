//! Unit tests of the three-way tree merge.

use serde_json::json;

use super::tree::{ConflictKind, TreeMerge, merge_documents, same_map};
use crate::format::tree::{Comment, Document, Item, Map, Node};
use crate::format::{Scalar, Timestamp};

/// Test-only bridge from JSON (key order kept): integers as ints, other numbers as floats.
fn node(v: &serde_json::Value) -> Node {
    match v {
        serde_json::Value::Null => Node::Scalar(Scalar::Null),
        serde_json::Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Node::Scalar(Scalar::Int(i)),
            None => Node::Scalar(Scalar::Float(n.as_f64().unwrap())),
        },
        serde_json::Value::String(s) => Node::str(s.clone()),
        serde_json::Value::Array(a) => Node::List(a.iter().map(node).collect()),
        serde_json::Value::Object(o) => {
            Node::Map(Map(o.iter().map(|(k, v)| Item::Entry(k.clone(), node(v))).collect()))
        }
    }
}

fn doc(v: serde_json::Value) -> Document {
    match node(&v) {
        Node::Map(m) => m,
        _ => panic!("a document is an object"),
    }
}

fn merge(b: serde_json::Value, o: serde_json::Value, t: serde_json::Value) -> TreeMerge {
    merge_documents(&[doc(b)], &[doc(o)], &[doc(t)])
}

fn assert_clean(m: &TreeMerge, expected: serde_json::Value) {
    assert!(m.conflicts.is_empty(), "unexpected conflicts: {:?}", m.conflicts);
    assert_eq!(m.ours, vec![doc(expected)]);
    assert_eq!(m.ours, m.theirs);
}

fn keys_of(m: &Map) -> Vec<&str> {
    m.entries().map(|(k, _)| k).collect()
}

fn comment(text: &str) -> Item {
    Item::Comment(Comment::new(text))
}

#[test]
fn disjoint_changes_merge() {
    let m = merge(
        json!({"a": "1", "b": "2", "c": "3"}),
        json!({"a": "1-ours", "b": "2", "c": "3"}),
        json!({"a": "1", "b": "2", "c": "3-theirs"}),
    );
    assert_clean(&m, json!({"a": "1-ours", "b": "2", "c": "3-theirs"}));
}

#[test]
fn same_change_on_both_sides_is_taken_once() {
    let m = merge(
        json!({"a": "1", "b": "2"}),
        json!({"a": "new", "b": "2", "x": "ours"}),
        json!({"a": "new", "b": "2", "y": "theirs"}),
    );
    assert_clean(&m, json!({"a": "new", "b": "2", "x": "ours", "y": "theirs"}));
}

#[test]
fn deletion_against_unchanged_deletes() {
    let m = merge(
        json!({"a": "1", "b": "2", "c": "3"}),
        json!({"a": "1", "c": "3", "d": "4"}),
        json!({"a": "1", "b": "2"}),
    );
    assert_clean(&m, json!({"a": "1", "d": "4"}));
}

#[test]
fn both_sides_deleting_the_same_key_deletes_it() {
    let m = merge(
        json!({"a": "1", "b": "2", "c": "3"}),
        json!({"a": "1-ours", "c": "3"}),
        json!({"a": "1", "c": "3-theirs"}),
    );
    assert_clean(&m, json!({"a": "1-ours", "c": "3-theirs"}));
}

#[test]
fn delete_against_modify_conflicts_both_ways() {
    let m = merge(
        json!({"a": "1", "b": "2", "z": "0"}),
        json!({"a": "1", "b": "2-ours", "z": "ours"}),
        json!({"a": "1", "z": "theirs"}),
    );
    let kinds: Vec<_> = m.conflicts.iter().map(|c| (c.path.clone(), c.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (vec!["b".to_owned()], ConflictKind::TheirsDeleted),
            (vec!["z".to_owned()], ConflictKind::BothChanged),
        ]
    );
    assert_eq!(m.ours, vec![doc(json!({"a": "1", "b": "2-ours", "z": "ours"}))]);
    assert_eq!(m.theirs, vec![doc(json!({"a": "1", "z": "theirs"}))]);

    let m = merge(json!({"a": "1", "b": "2"}), json!({"a": "x"}), json!({"a": "1", "b": "3"}));
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::OursDeleted);
    assert_eq!(m.ours, vec![doc(json!({"a": "x"}))]);
    assert_eq!(m.theirs, vec![doc(json!({"a": "x", "b": "3"}))]);
}

#[test]
fn add_add_with_the_same_value_merges_and_different_values_conflict() {
    let m = merge(json!({"a": "1"}), json!({"a": "1", "n": "v"}), json!({"n": "v", "a": "1"}));
    assert_clean(&m, json!({"a": "1", "n": "v"}));

    let m = merge(
        json!({"a": "1"}),
        json!({"a": "1", "n": "mine", "o": "only-ours"}),
        json!({"a": "1", "n": "yours", "t": "only-theirs"}),
    );
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::BothAdded);
    assert_eq!(m.conflicts[0].path, vec!["n".to_owned()]);
    assert_eq!(
        m.ours,
        vec![doc(json!({"a": "1", "n": "mine", "o": "only-ours", "t": "only-theirs"}))]
    );
    assert_eq!(
        m.theirs,
        vec![doc(json!({"a": "1", "n": "yours", "o": "only-ours", "t": "only-theirs"}))]
    );
}

#[test]
fn empty_base_merges_two_added_files() {
    let m = merge_documents(
        &[],
        &[doc(json!({"a": "1", "b": "2"}))],
        &[doc(json!({"a": "1", "c": "3"}))],
    );
    assert_clean(&m, json!({"a": "1", "b": "2", "c": "3"}));
}

#[test]
fn nested_maps_merge_recursively_and_report_the_full_path() {
    let base = json!({"app": {"db": {"user": "u", "pass": "p"}, "port": 1}});
    let m = merge(
        base.clone(),
        json!({"app": {"db": {"user": "u2", "pass": "p"}, "port": 1}}),
        json!({"app": {"db": {"user": "u", "pass": "p2"}, "port": 2}}),
    );
    assert_clean(&m, json!({"app": {"db": {"user": "u2", "pass": "p2"}, "port": 2}}));

    let m = merge(
        base,
        json!({"app": {"db": {"user": "u", "pass": "ours"}, "port": 1}}),
        json!({"app": {"db": {"user": "u", "pass": "theirs"}, "port": 3}}),
    );
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].path, ["app", "db", "pass"]);
    assert_eq!(
        m.conflicts[0].to_string(),
        r#"["app"]["db"]["pass"]: changed differently on both sides"#
    );
    assert_eq!(m.ours, vec![doc(json!({"app": {"db": {"user": "u", "pass": "ours"}, "port": 3}}))]);
    assert_eq!(
        m.theirs,
        vec![doc(json!({"app": {"db": {"user": "u", "pass": "theirs"}, "port": 3}}))]
    );
}

#[test]
fn lists_are_atomic() {
    let base = json!({"l": ["a", "b", "c"], "k": "v"});
    let m = merge(
        base.clone(),
        json!({"l": ["a", "b", "c", "d"], "k": "v"}),
        json!({"l": ["a", "b", "c"], "k": "w"}),
    );
    assert_clean(&m, json!({"l": ["a", "b", "c", "d"], "k": "w"}));

    // Both sides appended different items: a line-based merge would take both, but a list is
    // one value here.
    let m = merge(
        base,
        json!({"l": ["a", "b", "c", "d"], "k": "v"}),
        json!({"l": ["z", "a", "b", "c"], "k": "v"}),
    );
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].path, ["l"]);
    assert_eq!(m.conflicts[0].kind, ConflictKind::BothChanged);
}

#[test]
fn map_replaced_by_scalar_against_map_edit_conflicts() {
    let m = merge(json!({"m": {"a": 1}}), json!({"m": "flat"}), json!({"m": {"a": 2}}));
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].path, ["m"]);
}

#[test]
fn scalar_types_matter_and_nan_equals_itself() {
    // 1 (int) and 1.0 (float) are different values to sops (type tag), so both changed.
    let m = merge(json!({"n": "x"}), json!({"n": 1}), json!({"n": 1.5}));
    assert_eq!(m.conflicts.len(), 1);
    let nan = Node::Scalar(Scalar::Float(f64::NAN));
    let mut b = Map::new();
    b.push("f", nan.clone());
    b.push("k", Node::str("v"));
    let mut o = b.clone();
    o.insert("k", Node::str("ours"));
    let m = merge_documents(&[b.clone()], &[o.clone()], &[b]);
    assert!(m.is_clean());
    assert!(same_map(&m.ours[0], &o));
}

#[test]
fn other_scalar_types_compare_by_value() {
    let t = Timestamp::parse_rfc3339("2024-01-02T03:04:05Z").unwrap();
    let mut b = Map::new();
    b.push("t", Node::Scalar(Scalar::Time(t)));
    b.push("b", Node::Scalar(Scalar::Bool(true)));
    let mut o = b.clone();
    o.insert("b", Node::Scalar(Scalar::Bool(false)));
    let mut th = b.clone();
    th.push("new", Node::Scalar(Scalar::Null));
    let m = merge_documents(&[b], &[o], &[th]);
    assert!(m.is_clean());
    assert_eq!(keys_of(&m.ours[0]), ["t", "b", "new"]);
    assert_eq!(m.ours[0].get("b"), Some(&Node::Scalar(Scalar::Bool(false))));
}

#[test]
fn key_order_is_ours_then_keys_only_theirs_added_in_their_order() {
    let m = merge(
        json!({"a": 1, "b": 2}),
        json!({"b": 2, "o1": 0, "a": 1}),
        json!({"t2": 0, "a": 1, "b": 2, "t1": 0}),
    );
    assert!(m.is_clean());
    assert_eq!(keys_of(&m.ours[0]), ["b", "o1", "a", "t2", "t1"]);
}

#[test]
fn comments_come_from_ours_when_both_changed_the_map() {
    let mut b = doc(json!({"a": "1", "b": "2"}));
    b.0.insert(0, comment(" base"));
    let mut o = doc(json!({"a": "1-ours", "b": "2"}));
    o.0.insert(0, comment(" ours rewrote this"));
    let mut t = doc(json!({"a": "1", "b": "2-theirs"}));
    t.0.insert(0, comment(" theirs rewrote this"));
    let m = merge_documents(&[b], &[o], &[t]);
    assert!(m.is_clean());
    let mut expected = doc(json!({"a": "1-ours", "b": "2-theirs"}));
    expected.0.insert(0, comment(" ours rewrote this"));
    assert_eq!(m.ours, vec![expected]);
}

#[test]
fn comments_come_from_theirs_when_ours_did_not_change_that_map() {
    let b = doc(json!({"top": "x", "inner": {"a": "1"}}));
    let o = doc(json!({"top": "ours", "inner": {"a": "1"}}));
    let mut t = doc(json!({"top": "x", "inner": {"a": "1"}}));
    let Some(Node::Map(inner)) = t.get_mut("inner") else { panic!() };
    inner.0.insert(0, comment(" documented by theirs"));
    let m = merge_documents(&[b], &[o], &[t.clone()]);
    assert!(m.is_clean());
    let mut expected = t;
    expected.insert("top", Node::str("ours"));
    assert_eq!(m.ours, vec![expected]);
}

#[test]
fn comment_above_a_key_theirs_added_comes_along() {
    let b = doc(json!({"a": "1"}));
    let o = doc(json!({"a": "ours"}));
    let mut t = doc(json!({"a": "1", "new": "v"}));
    t.0.insert(1, comment(" why new exists"));
    let m = merge_documents(&[b], &[o], &[t]);
    assert!(m.is_clean());
    let mut expected = doc(json!({"a": "ours", "new": "v"}));
    expected.0.insert(1, comment(" why new exists"));
    assert_eq!(m.ours, vec![expected]);
}

#[test]
fn a_comment_only_change_counts_as_a_change() {
    let b = doc(json!({"a": "1"}));
    let mut o = b.clone();
    o.0.push(comment(" note"));
    let t = doc(json!({"a": "2"}));
    let m = merge_documents(&[b], &[o], &[t]);
    assert!(m.is_clean());
    let mut expected = doc(json!({"a": "2"}));
    expected.0.push(comment(" note"));
    assert_eq!(m.ours, vec![expected]);
}

#[test]
fn multi_document_files_merge_document_by_document() {
    let b = [doc(json!({"a": "1"})), doc(json!({"b": "1"}))];
    let o = [doc(json!({"a": "ours"})), doc(json!({"b": "1"}))];
    let t = [doc(json!({"a": "1"})), doc(json!({"b": "theirs"}))];
    let m = merge_documents(&b, &o, &t);
    assert!(m.is_clean());
    assert_eq!(m.ours, vec![doc(json!({"a": "ours"})), doc(json!({"b": "theirs"}))]);

    let t = [doc(json!({"a": "1"})), doc(json!({"b": "theirs"}))];
    let o = [doc(json!({"a": "1"})), doc(json!({"b": "ours"}))];
    let m = merge_documents(&b, &o, &t);
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].document, 1);
    assert_eq!(
        m.conflicts[0].to_string(),
        r#"document 2: ["b"]: changed differently on both sides"#
    );
}

#[test]
fn different_document_counts_conflict_on_the_whole_file() {
    let b = [doc(json!({"a": "1"}))];
    let o = [doc(json!({"a": "ours"}))];
    let t = [doc(json!({"a": "1"})), doc(json!({"added": "x"}))];
    // theirs added a document while ours changed the first one.
    let m = merge_documents(&b, &o, &t);
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::DocumentCount);
    assert_eq!(m.ours, o.to_vec());
    assert_eq!(m.theirs, t.to_vec());

    // Same count on both sides but a different count in the base: deletions cannot be told
    // apart, so this conflicts too rather than resurrect a deleted key.
    let b = [doc(json!({"a": "1"})), doc(json!({"b": "1"})), doc(json!({"c": "1"}))];
    let o = [doc(json!({"a": "ours"})), doc(json!({"c": "1"}))];
    let t = [doc(json!({"a": "1"})), doc(json!({"c": "theirs"}))];
    let m = merge_documents(&b, &o, &t);
    assert_eq!(m.conflicts[0].kind, ConflictKind::DocumentCount);
}

#[test]
fn one_side_unchanged_takes_the_other_whole_file_even_with_other_counts() {
    let b = [doc(json!({"a": "1"}))];
    let t = [doc(json!({"a": "1"})), doc(json!({"added": "x"}))];
    let m = merge_documents(&b, &b, &t);
    assert!(m.is_clean());
    assert_eq!(m.ours, t.to_vec());
}

#[test]
fn repeated_keys_make_a_map_atomic() {
    let b = doc(json!({"a": "1"}));
    let mut o = doc(json!({"a": "1"}));
    o.push("a", Node::str("dup"));
    let t = doc(json!({"a": "1", "x": "y"}));
    let m = merge_documents(&[b], std::slice::from_ref(&o), std::slice::from_ref(&t));
    assert_eq!(m.conflicts.len(), 1);
    assert!(m.conflicts[0].path.is_empty());
    assert_eq!(m.conflicts[0].to_string(), "the whole document: changed differently on both sides");
    assert_eq!(m.ours, vec![o]);
    assert_eq!(m.theirs, vec![t]);
}

#[test]
fn conflict_display_never_contains_values() {
    let m = merge(
        json!({"k": "base-secret"}),
        json!({"k": "ours-secret"}),
        json!({"k": "theirs-secret"}),
    );
    let text = m.conflicts[0].to_string();
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn wide_maps_merge_in_linear_time() {
    let n = 50_000;
    let base =
        Map((0..n).map(|i| Item::Entry(format!("k{i}"), Node::str(format!("v{i}")))).collect());
    let mut ours = base.clone();
    ours.insert("k10", Node::str("ours"));
    let mut theirs = base.clone();
    theirs.insert("k20", Node::str("theirs"));
    theirs.push("new", Node::str("added"));
    let start = std::time::Instant::now();
    let m = merge_documents(&[base], &[ours], &[theirs]);
    // Looking keys up by scanning would take minutes here.
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
    assert!(m.is_clean());
    assert_eq!(m.ours[0].0.len(), n + 1);
    assert_eq!(m.ours[0].get("k20"), Some(&Node::str("theirs")));
}
