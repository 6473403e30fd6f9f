//! Ground truth from `tests/fixtures/sops`: files written by sops 3.11 and their plaintexts.
//! Every YAML file sops wrote must round-trip byte for byte, every input must come out exactly as
//! `sops decrypt` printed it, and the parsed leaves (types, canonical bytes, AADs) must match the
//! manifest.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::format::scalar::Scalar;
use crate::format::store::yaml::{emit, parse};
use crate::format::tree::{Item, Map, Node};

pub(super) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Files that are not go-yaml v3 output, and why.
const NOT_WRITTEN_BY_SOPS_3_11: &[(&str, &str)] = &[
    ("shamir.sops.yaml", "a hand-written .sops.yaml config, not sops output"),
    ("comments.enc.yaml", "written by sops 3.6.1, before sops moved to go-yaml v3"),
    ("comments_unencrypted_comments.yaml", "written by sops 3.3.1, before go-yaml v3"),
    ("multiple_keys.yaml", "written by sops 3.3.1, before go-yaml v3"),
    ("no_mac.yaml", "written by sops 3.3.1, before go-yaml v3"),
    ("comments.yaml", "a hand-written input of the upstream functional tests"),
    ("comments_list.yaml", "a hand-written input of the upstream functional tests"),
];

#[test]
fn sops_written_files_round_trip_byte_for_byte() {
    let mut files = yaml_files(&fixtures());
    files.extend(yaml_files(&fixtures().join("upstream")));
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let docs = match parse(&bytes) {
            Ok(docs) => docs,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let out = emit(&docs);
        if let Some((_, why)) = NOT_WRITTEN_BY_SOPS_3_11.iter().find(|(n, _)| *n == name) {
            // Not go-yaml v3 output: the layout differs, but the tree must survive a round trip.
            assert_ne!(out.as_bytes(), bytes.as_slice(), "{name} round-trips after all ({why})");
            assert_eq!(parse(out.as_bytes()).unwrap(), docs, "{name}: tree changed on re-parse");
            continue;
        }
        if out.as_bytes() != bytes.as_slice() {
            failures.push(format!(
                "{name}: differs\n--- want\n{}\n--- got\n{out}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        checked += 1;
    }
    assert!(checked >= 40, "found only {checked} files");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn yaml_entries() -> Vec<serde_json::Value> {
    manifest()["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["format"] == "yaml" && f["input"].is_string() && f["plain"].is_string())
        .cloned()
        .collect()
}

#[test]
fn inputs_come_out_exactly_as_sops_decrypt_prints_them() {
    let entries = yaml_entries();
    assert!(entries.len() >= 14, "found only {} YAML entries", entries.len());
    for f in entries {
        let input = std::fs::read(fixtures().join(f["input"].as_str().unwrap())).unwrap();
        let plain = std::fs::read_to_string(fixtures().join(f["plain"].as_str().unwrap())).unwrap();
        let docs = parse(&input).unwrap_or_else(|e| panic!("{}: {e}", f["input"]));
        assert_eq!(emit(&docs), plain, "{}", f["input"]);
    }
}

/// A leaf as the manifest lists it: AAD, type tag (None for null), canonical bytes.
#[derive(Debug, PartialEq)]
struct Leaf {
    aad: String,
    ty: Option<&'static str>,
    bytes: Vec<u8>,
}

fn collect_leaves(node: &Node, path: &str, out: &mut Vec<Leaf>) {
    match node {
        Node::Map(m) => collect_map(m, path, out),
        Node::List(items) => items.iter().for_each(|i| collect_leaves(i, path, out)),
        Node::Scalar(s) => {
            if !s.is_never_encrypted() {
                out.push(Leaf {
                    aad: format!("{path}:"),
                    ty: s.value_type().map(|t| t.as_str()),
                    bytes: s.canonical_bytes().to_vec(),
                });
            }
        }
        Node::Comment(_) => {}
    }
}

fn collect_map(m: &Map, path: &str, out: &mut Vec<Leaf>) {
    for (k, v) in m.entries() {
        let p = if path.is_empty() { k.to_owned() } else { format!("{path}:{k}") };
        collect_leaves(v, &p, out);
    }
}

#[test]
fn parsed_leaves_match_the_manifest() {
    for f in yaml_entries() {
        let input = std::fs::read(fixtures().join(f["input"].as_str().unwrap())).unwrap();
        let docs = parse(&input).unwrap();
        let mut got = Vec::new();
        for d in &docs {
            collect_map(d, "", &mut got);
        }
        let want: Vec<Leaf> = f["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| Leaf {
                aad: l["aad"].as_str().unwrap().to_owned(),
                ty: None,
                bytes: match l["plaintext"].as_str() {
                    Some(p) => p.as_bytes().to_vec(),
                    None => base64::engine::general_purpose::STANDARD
                        .decode(l["plaintext_b64"].as_str().unwrap())
                        .unwrap(),
                },
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{}: number of leaves", f["input"]);
        for ((g, w), l) in got.iter().zip(&want).zip(f["leaves"].as_array().unwrap()) {
            assert_eq!(g.aad, w.aad, "{}", f["input"]);
            assert_eq!(
                String::from_utf8_lossy(&g.bytes),
                String::from_utf8_lossy(&w.bytes),
                "{} {}",
                f["input"],
                w.aad
            );
            if let Some(ty) = l["type"].as_str() {
                assert_eq!(g.ty, Some(ty), "{} {}", f["input"], w.aad);
            }
        }
    }
}

/// The shape of a tree: keys, list structure, and where comments sit. In a file written by
/// sops, a comment inside a list is an `ENC[…,type:comment]` list item.
fn shape(node: &Node, out: &mut String) {
    match node {
        Node::Map(m) => {
            out.push('{');
            for item in &m.0 {
                match item {
                    Item::Comment(_) => out.push('#'),
                    Item::Entry(k, v) => {
                        out.push_str(k);
                        out.push('=');
                        shape(v, out);
                        out.push(',');
                    }
                }
            }
            out.push('}');
        }
        Node::List(items) => {
            out.push('[');
            for i in items {
                match i {
                    Node::Scalar(Scalar::Str(b)) if b.ends_with(b",type:comment]") => out.push('#'),
                    other => shape(other, out),
                }
                out.push(',');
            }
            out.push(']');
        }
        Node::Comment(_) => out.push('#'),
        Node::Scalar(Scalar::Null) => out.push('~'),
        Node::Scalar(s) if s.is_never_encrypted() => out.push_str("\"\""),
        Node::Scalar(_) => out.push('v'),
    }
}

#[test]
fn comments_sit_where_sops_put_its_encrypted_comments() {
    for f in yaml_entries() {
        let input = std::fs::read(fixtures().join(f["input"].as_str().unwrap())).unwrap();
        let enc = std::fs::read(fixtures().join(f["file"].as_str().unwrap())).unwrap();
        let plain_docs = parse(&input).unwrap();
        let mut enc_docs = parse(&enc).unwrap();
        assert_eq!(plain_docs.len(), enc_docs.len(), "{}", f["file"]);
        for (p, e) in plain_docs.into_iter().zip(enc_docs.iter_mut()) {
            e.remove("sops");
            let (mut a, mut b) = (String::new(), String::new());
            shape(&Node::Map(p), &mut a);
            shape(&Node::Map(e.clone()), &mut b);
            assert!(a.contains('#') || !b.contains('#'), "{}", f["file"]);
            assert_eq!(a, b, "{}", f["file"]);
        }
    }
}
