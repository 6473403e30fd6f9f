//! Helpers shared by the store integration tests: fixture paths, the MAC-order leaf walk, and
//! INI comparison that ignores the order of the `[sops]` section (sops writes it randomly).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sealgate::format::store::Format;
use sealgate::format::{Item, Map, Node, Scalar};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One leaf in MAC order: its AAD path and the scalar.
#[derive(Debug)]
pub struct Leaf {
    pub aad: String,
    pub scalar: Scalar,
}

/// Every non-null, non-empty, non-comment scalar, depth first, with its AAD (map keys joined
/// by `:` plus a trailing `:`; list items keep their parent's path).
pub fn leaves(docs: &[Map]) -> Vec<Leaf> {
    let mut out = Vec::new();
    for doc in docs {
        walk_map(doc, &mut String::new(), &mut out);
    }
    out
}

fn walk_map(map: &Map, path: &mut String, out: &mut Vec<Leaf>) {
    for item in &map.0 {
        if let Item::Entry(k, v) = item {
            let len = path.len();
            path.push_str(k);
            path.push(':');
            walk(v, path, out);
            path.truncate(len);
        }
    }
}

fn walk(node: &Node, path: &mut String, out: &mut Vec<Leaf>) {
    match node {
        Node::Map(m) => walk_map(m, path, out),
        Node::List(items) => items.iter().for_each(|n| walk(n, path, out)),
        Node::Comment(_) => {}
        Node::Scalar(s) if s.is_never_encrypted() => {}
        Node::Scalar(s) => out.push(Leaf { aad: path.clone(), scalar: s.clone() }),
    }
}

/// The `type:` of an `ENC[…]` string, if the scalar is one.
pub fn enc_type(scalar: &Scalar) -> Option<String> {
    let text = scalar.as_str()?;
    let inner = text.strip_prefix("ENC[AES256_GCM,")?.strip_suffix(']')?;
    inner.rsplit_once(",type:").map(|(_, t)| t.to_owned())
}

/// Splits an INI file into everything before the final `[sops]` section and that section's
/// lines sorted.
pub fn split_ini_sops(text: &[u8]) -> (String, Vec<String>) {
    let marker = b"[sops]\n";
    let at = if text.starts_with(marker) {
        0
    } else {
        let needle = b"\n\n[sops]\n";
        let pos = text
            .windows(needle.len())
            .rposition(|w| w == needle)
            .unwrap_or_else(|| panic!("no [sops] section in {}", String::from_utf8_lossy(text)));
        pos + 2
    };
    let mut lines: Vec<String> = text[at + marker.len()..]
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    lines.sort();
    (String::from_utf8_lossy(&text[..at]).into_owned(), lines)
}

/// Asserts two encrypted files are the same: byte for byte, except that the lines of an INI
/// `[sops]` section may come in any order.
pub fn assert_same_encrypted(format: Format, got: &[u8], want: &[u8], what: &str) {
    if format == Format::Ini {
        let (got_data, got_md) = split_ini_sops(got);
        let (want_data, want_md) = split_ini_sops(want);
        assert_eq!(got_data, want_data, "{what}: data sections differ");
        assert_eq!(got_md, want_md, "{what}: [sops] sections differ");
    } else {
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(want),
            "{what}: encrypted output differs"
        );
        assert_eq!(got, want, "{what}: bytes differ");
    }
}
