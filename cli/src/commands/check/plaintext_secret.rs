//! Finding 1: Kubernetes `Secret` manifests (`apiVersion: v1`, `kind: Secret`) whose `data` or
//! `stringData` holds values in clear. A SOPS-encrypted Secret (with a `sops` block) is not one.

use sealgate::format::tree::{Document, Node};

use super::finding::{Finding, rules, shell_quote};
use super::locate::keys;
use super::source::Source;

/// The findings in the parsed documents of `src`.
pub fn check(src: &Source, docs: &[Document]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if doc.get("kind").and_then(Node::as_str) != Some("Secret")
            || doc.get("apiVersion").and_then(Node::as_str) != Some("v1")
            || doc.get("sops").is_some()
        {
            continue;
        }
        let object = object_name(doc);
        for field in ["data", "stringData"] {
            let count = match doc.get(field) {
                Some(Node::Map(m)) => m.entries().count(),
                _ => 0,
            };
            if count == 0 {
                continue;
            }
            let pos = src.located.find(i, &keys(&[field]));
            let values = if count == 1 { "1 value" } else { &format!("{count} values") };
            out.push(Finding::new(
                &src.display,
                pos,
                rules::PLAINTEXT_SECRET,
                format!(
                    "plaintext Kubernetes Secret {object}: `{field}` holds {values} in clear; \
                     seal it with `{}` and commit that file instead",
                    seal_command(&src.display)
                ),
            ));
        }
    }
    out
}

/// `namespace/name`, `name`, or `(unnamed)`.
fn object_name(doc: &Document) -> String {
    let meta = doc.get("metadata").and_then(Node::as_map);
    let get = |k: &str| meta.and_then(|m| m.get(k)).and_then(Node::as_str);
    match (get("namespace"), get("name")) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.to_owned(),
        _ => "(unnamed)".to_owned(),
    }
}

/// `sealgate seal FILE --output STEM.sealed.yaml`.
fn seal_command(path: &str) -> String {
    let stem = path
        .strip_suffix(".yaml")
        .or_else(|| path.strip_suffix(".yml"))
        .or_else(|| path.strip_suffix(".json"))
        .unwrap_or(path);
    format!(
        "sealgate seal {} --output {}",
        shell_quote(path),
        shell_quote(&format!("{stem}.sealed.yaml"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate::format::store::Format;

    fn run(name: &str, text: &str) -> Vec<Finding> {
        let format = Format::from_path(std::path::Path::new(name));
        let src = Source::new(name, format, text);
        let docs = sealgate::format::store::parse_plain(format, text.as_bytes()).unwrap();
        check(&src, &docs)
    }

    #[test]
    fn flags_data_and_string_data_at_their_lines() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: pay\n\
                    data:\n  password: aGk=\nstringData:\n  user: admin\n";
        let f = run("db.yaml", text);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].line, f[0].column), (6, 1));
        assert!(f[0].message.contains("pay/db"), "{}", f[0].message);
        assert!(f[0].message.contains("sealgate seal db.yaml --output db.sealed.yaml"));
        assert_eq!(f[1].line, 8);
        assert!(!f[0].message.contains("aGk=") && !f[1].message.contains("admin"));
    }

    #[test]
    fn empty_data_and_other_kinds_are_not_findings() {
        assert!(
            run("a.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {}\n")
                .is_empty()
        );
        assert!(run("a.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n").is_empty());
        assert!(
            run("a.yaml", "apiVersion: example.com/v1\nkind: Secret\ndata:\n  a: b\n").is_empty()
        );
    }

    #[test]
    fn a_sops_encrypted_secret_is_not_a_finding() {
        let text = "apiVersion: v1\nkind: Secret\ndata:\n  a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n\
                    sops:\n  version: 3.11.0\n";
        assert!(run("a.yaml", text).is_empty());
    }

    #[test]
    fn flags_the_second_document_of_a_stream() {
        let text = "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n---\napiVersion: v1\nkind: Secret\n\
                    metadata:\n  name: s\nstringData:\n  k: v\n";
        let f = run("multi.yaml", text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 10);
    }

    #[test]
    fn flags_json_manifests() {
        let text = r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"},
 "data": {"a": "Yg=="}}"#;
        let f = run("s.json", text);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line, f[0].column), (2, 2));
        assert!(f[0].message.contains("--output s.sealed.yaml"));
    }
}
