//! Tree paths (`["a"][0]['b']`): parse untrusted paths; a parsed path written back in the same
//! syntax parses to the same path; get, set and unset on a document (the YAML after the first
//! line, or a fixed one) never panic, and a value that was set can be read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::format::path::{Segment, TreePath};
use sealgate::format::store::{self, Format};
use sealgate::format::{Map, Node};

const DOC: &[u8] = b"a:\n    b: [1, {c: d}, [x]]\n    e: f\nlist:\n    - 1\n    - k: v\n";

/// The path in the syntax `parse` reads (no escapes: pick the quote the key does not hold).
fn write_path(path: &TreePath) -> Option<String> {
    let mut out = String::new();
    for seg in &path.0 {
        match seg {
            Segment::Key(k) if !k.contains('"') => out.push_str(&format!("[\"{k}\"]")),
            Segment::Key(k) if !k.contains('\'') => out.push_str(&format!("['{k}']")),
            Segment::Key(_) => return None,
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path_text, doc_text) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(path) = TreePath::parse(path_text) else { return };
    if let Some(written) = write_path(&path) {
        assert_eq!(TreePath::parse(&written).as_ref(), Ok(&path), "written path re-parses");
    }
    let _ = path.to_string();

    let doc: Map = store::parse_plain(Format::Yaml, doc_text.as_bytes())
        .ok()
        .and_then(|docs| docs.into_iter().next())
        .unwrap_or_else(|| {
            store::parse_plain(Format::Yaml, DOC).expect("fixed document").remove(0)
        });
    let _ = path.get(&doc);

    let mut edited = doc.clone();
    let marker = Node::str("fuzz-marker");
    if path.set(&mut edited, marker.clone()).is_ok() {
        match path.get(&edited) {
            Ok(found) => assert_eq!(found, &marker, "get after set returns the value set"),
            // Setting an index past the end appends, so the index itself may not exist.
            Err(_) => assert!(path.0.iter().any(|s| matches!(s, Segment::Index(_)))),
        }
    }
    let mut removed = doc.clone();
    if path.unset(&mut removed).is_ok() && matches!(path.0.last(), Some(Segment::Key(_))) {
        let has_duplicates = has_duplicate_keys(&doc);
        assert!(
            path.get(&removed).is_err() || has_duplicates,
            "a key that was unset is still there"
        );
    }
});

fn has_duplicate_keys(map: &Map) -> bool {
    let mut seen = std::collections::HashSet::new();
    map.entries().any(|(k, v)| !seen.insert(k) || node_has_duplicates(v))
}

fn node_has_duplicates(node: &Node) -> bool {
    match node {
        Node::Map(m) => has_duplicate_keys(m),
        Node::List(l) => l.iter().any(node_has_duplicates),
        _ => false,
    }
}
