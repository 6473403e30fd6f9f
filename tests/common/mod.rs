//! Shared helpers for the integration tests: fixture paths and manifests, key files, the real
//! `sops`/`age` binaries, and a leaf walker that lists each value with its AAD.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sealgate::format::tree::{Document, Item, Map, Node};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops")
}

pub fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

pub fn upstream_manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("upstream/manifest.json"))
        .expect("upstream manifest");
    serde_json::from_str(&text).expect("upstream manifest is JSON")
}

/// The identities of `a+b` key-file specs from the manifest, concatenated.
pub fn identities(spec: &str) -> String {
    spec.split('+')
        .map(|f| std::fs::read_to_string(fixtures().join(f)).expect("key file"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A real binary the interop tests need. Missing binaries fail the test: `.ci/run` installs
/// them, and a skipped interop test must never count as a pass.
pub fn binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not on PATH: run `bash .ci/run` (it installs age, sops 3.11 and OpenBao) or install it yourself"
    );
}

/// `sops` with a private HOME and the given key file, so nothing from the user's machine
/// leaks in.
pub fn sops(home: &Path, key_file: &Path) -> Command {
    let mut cmd = Command::new(binary("sops"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SOPS_AGE_KEY_FILE", key_file)
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
    cmd
}

/// One leaf as the MAC sees it: its AAD and the scalar at that place.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub aad: String,
    pub node: Node,
}

/// Every non-null, non-comment value in walk order, with the AAD sops gives it.
pub fn leaves(docs: &[Document]) -> Vec<Leaf> {
    fn walk_map(m: &Map, path: &mut Vec<String>, out: &mut Vec<Leaf>) {
        for item in &m.0 {
            if let Item::Entry(k, v) = item {
                path.push(k.clone());
                walk_node(v, path, out);
                path.pop();
            }
        }
    }
    fn walk_node(n: &Node, path: &mut Vec<String>, out: &mut Vec<Leaf>) {
        match n {
            Node::Map(m) => walk_map(m, path, out),
            Node::List(items) => items.iter().for_each(|i| walk_node(i, path, out)),
            Node::Comment(_) => {}
            Node::Scalar(sealgate::format::Scalar::Null) => {}
            // Empty strings are neither encrypted nor hashed.
            Node::Scalar(s) if s.as_str() == Some("") => {}
            Node::Scalar(s) => {
                if s.as_str().is_some_and(|t| t.ends_with(",type:comment]")) {
                    return; // an encrypted comment inside a list
                }
                out.push(Leaf { aad: format!("{}:", path.join(":")), node: n.clone() })
            }
        }
    }
    let mut out = Vec::new();
    for d in docs {
        walk_map(d, &mut Vec::new(), &mut out);
    }
    out
}
