//! Sealing, opening and unsealing end to end on hand-built trees, and a file made by real sops.

use base64::Engine as _;

use super::*;
use crate::format::cipher::{self, CipherError, DataKey};
use crate::format::engine::TreeError;
use crate::format::file::{FileError, SopsFile};
use crate::format::mac::MacError;
use crate::format::metadata::{AgeStanza, KeyGroup, Metadata};
use crate::format::rules::EncryptionRule;
use crate::format::scalar::{Scalar, ValueType};
use crate::format::store::Format;
use crate::format::timestamp::Timestamp;
use crate::format::tree::{Document, Item, Map, Node};

const PASSWORD: &str = "hunter2-very-secret";
const TLS_KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----secret";

fn map(entries: Vec<(&str, Node)>) -> Node {
    let mut m = Map::new();
    for (k, v) in entries {
        m.push(k, v);
    }
    Node::Map(m)
}

fn s(text: &str) -> Node {
    Node::str(text)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A Secret as `kubectl get -o yaml` would give it, server fields and all.
fn secret_doc() -> Document {
    let Node::Map(doc) = map(vec![
        ("apiVersion", s("v1")),
        ("kind", s("Secret")),
        (
            "metadata",
            map(vec![
                ("name", s("db-creds")),
                ("namespace", s("payments")),
                ("uid", s("8f1c1c2e-0000-4000-8000-000000000000")),
                ("resourceVersion", s("12345")),
                ("creationTimestamp", s("2026-01-01T00:00:00Z")),
                ("labels", map(vec![("app", s("db")), ("tier", s("backend"))])),
                (
                    "annotations",
                    map(vec![
                        ("example.com/owner", s("team-a")),
                        (
                            LAST_APPLIED_ANNOTATION,
                            s(&format!(
                                "{{\"stringData\":{{\"password\":\"{PASSWORD}\"}},\"kind\":\"Secret\"}}"
                            )),
                        ),
                    ]),
                ),
            ]),
        ),
        ("type", s("Opaque")),
        (
            "data",
            map(vec![
                ("tls.key", s(&b64(TLS_KEY))),
                ("akey", s(&b64(b"aaa"))),
                ("Bkey", s(&b64(b"BBB"))),
            ]),
        ),
        ("stringData", map(vec![("password", s(PASSWORD)), ("user", s("app"))])),
    ]) else {
        unreachable!()
    };
    doc
}

fn parse(doc: &Document) -> SecretManifest {
    SecretManifest::from_document(doc, None).unwrap().0
}

fn dummy_groups() -> Vec<KeyGroup> {
    vec![KeyGroup {
        age: vec![AgeStanza {
            recipient: "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0".into(),
            enc: "-----BEGIN AGE ENCRYPTED FILE-----\n(not used here)\n-----END AGE ENCRYPTED FILE-----\n"
                .into(),
        }],
        ..KeyGroup::default()
    }]
}

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-22T03:00:00Z").unwrap()
}

fn sealed(scope: Scope) -> (SopsFile, DataKey) {
    let key = DataKey::generate();
    let file = seal(&parse(&secret_doc()), scope, &key, dummy_groups(), 0, None, now()).unwrap();
    (file, key)
}

fn get<'a>(doc: &'a Document, path: &[&str]) -> &'a Node {
    let mut node = doc.get(path[0]).unwrap_or_else(|| panic!("no {}", path[0]));
    for k in &path[1..] {
        node = node.as_map().and_then(|m| m.get(k)).unwrap_or_else(|| panic!("no {k}"));
    }
    node
}

fn get_mut<'a>(doc: &'a mut Document, path: &[&str]) -> &'a mut Node {
    let mut node = doc.get_mut(path[0]).unwrap();
    for k in &path[1..] {
        node = match node {
            Node::Map(m) => m.get_mut(k).unwrap_or_else(|| panic!("no {k}")),
            _ => panic!("not a map at {k}"),
        };
    }
    node
}

fn map_at<'a>(doc: &'a mut Document, path: &[&str]) -> &'a mut Map {
    match get_mut(doc, path) {
        Node::Map(m) => m,
        _ => panic!("{path:?} is not a map"),
    }
}

fn keys(node: &Node) -> Vec<&str> {
    node.as_map().unwrap().entries().map(|(k, _)| k).collect()
}

fn spec_map_mut<'a>(file: &'a mut SopsFile, field: &str) -> &'a mut Map {
    match get_mut(&mut file.docs[0], &["spec", field]) {
        Node::Map(m) => m,
        _ => panic!("spec.{field} is not a map"),
    }
}

/// Simulates what the apiserver does to a custom resource: keys sorted at every level, labels,
/// annotations and managedFields added to the object's own metadata.
fn through_apiserver(file: &SopsFile) -> SopsFile {
    let mut out = file.clone();
    let doc = &mut out.docs[0];
    let Node::Map(meta) = get_mut(doc, &["metadata"]) else { panic!() };
    meta.push("uid", s("0d0c0000-0000-4000-8000-000000000000"));
    meta.push("labels", map(vec![("app.kubernetes.io/managed-by", s("argocd"))]));
    meta.push(
        "annotations",
        map(vec![(LAST_APPLIED_ANNOTATION, s("{\"spec\":{\"binding\":\"ENC[...]\"}}"))]),
    );
    meta.push(
        "managedFields",
        Node::List(vec![map(vec![
            ("manager", s("kubectl")),
            (
                "fieldsV1",
                map(vec![("f:spec", map(vec![("f:data", map(vec![(".", map(vec![]))]))]))]),
            ),
        ])]),
    );
    sort_keys_recursively(doc);
    out
}

fn decrypt_plain(file: &SopsFile, key: &DataKey) -> Document {
    file.decrypt(key, false).unwrap().docs.remove(0)
}

fn assert_no_secret(text: &str) {
    for secret in [PASSWORD, &b64(TLS_KEY), "PRIVATE KEY"] {
        assert!(!text.contains(secret), "leaked a value: {text}");
    }
}

// ---- reading Secret manifests ----

#[test]
fn reads_secret_values_and_metadata() {
    let (secret, _) = SecretManifest::from_document(&secret_doc(), None).unwrap();
    assert_eq!(secret.name, "db-creds");
    assert_eq!(secret.namespace.as_deref(), Some("payments"));
    assert_eq!(secret.secret_type, "Opaque");
    assert_eq!(secret.data["tls.key"].as_slice(), TLS_KEY);
    assert_eq!(secret.string_data["password"].as_str(), PASSWORD);
    assert_eq!(secret.labels.len(), 2);
    let debug = format!("{secret:?}");
    assert!(debug.contains("tls.key"));
    assert_no_secret(&debug);
}

#[test]
fn drops_last_applied_annotation_and_server_fields_with_warnings() {
    let (secret, warnings) = SecretManifest::from_document(&secret_doc(), None).unwrap();
    assert!(!secret.annotations.contains_key(LAST_APPLIED_ANNOTATION));
    assert!(secret.annotations.contains_key("example.com/owner"));
    assert!(
        warnings.contains(&SealWarning::DroppedLastApplied {
            object: "Secret payments/db-creds".into()
        })
    );
    let dropped = warnings.iter().find_map(|w| match w {
        SealWarning::DroppedServerFields { fields, .. } => Some(fields.clone()),
        _ => None,
    });
    assert_eq!(
        dropped.unwrap(),
        ["metadata.uid", "metadata.resourceVersion", "metadata.creationTimestamp"]
    );
    for w in &warnings {
        assert_no_secret(&w.to_string());
    }
    // And nothing of it reaches the sealed file, in clear or otherwise.
    let (file, key) = sealed(Scope::Strict);
    let plain = decrypt_plain(&file, &key);
    let annotations = get(&plain, &["spec", "template", "metadata", "annotations"]);
    assert_eq!(keys(annotations), ["example.com/owner"]);
    assert!(get(&file.docs[0], &["metadata"]).as_map().unwrap().get("uid").is_none());
}

/// A trailing `---` or a document of comments only (helm's `# Source:` headers) is skipped;
/// the documents keep their positions in messages.
#[test]
fn empty_documents_in_a_stream_are_skipped() {
    let comment_only = Map(vec![Item::Comment(crate::format::tree::Comment::new(" Source: x"))]);
    let mut cm = secret_doc();
    cm.insert("kind", s("ConfigMap"));
    let docs = vec![Map::new(), secret_doc(), comment_only.clone(), secret_doc(), Map::new()];
    let (found, _) = SecretManifest::from_documents(&docs, None).unwrap();
    assert_eq!(found.len(), 2);
    let err = SecretManifest::from_documents(&[comment_only, cm], None).unwrap_err();
    assert!(err.to_string().starts_with("document 2: not a Secret"), "{err}");
}

#[test]
fn refuses_other_kinds_naming_the_kind_and_document() {
    let mut cm = secret_doc();
    cm.insert("kind", s("ConfigMap"));
    let docs = vec![secret_doc(), cm];
    let err = SecretManifest::from_documents(&docs, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 2: not a Secret (apiVersion v1): its kind is ConfigMap, its apiVersion is v1; only Secrets can be sealed"
    );
    let mut wrong_version = secret_doc();
    wrong_version.insert("apiVersion", s("v2"));
    assert!(matches!(
        SecretManifest::from_document(&wrong_version, None),
        Err(SealError::NotASecret { .. })
    ));
}

#[test]
fn refuses_invalid_base64_naming_the_key_not_the_value() {
    let mut doc = secret_doc();
    map_at(&mut doc, &["data"]).insert("cert", s("not base64! secret"));
    let err = SecretManifest::from_document(&doc, None).unwrap_err();
    assert!(matches!(&err, SealError::InvalidBase64 { key, .. } if key == "cert"), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("data.cert"), "{text}");
    assert!(!text.contains("not base64!"), "{text}");
    // Unpadded base64 is refused too (the apiserver requires padding).
    map_at(&mut doc, &["data"]).insert("cert", s("YWE"));
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::InvalidBase64 { .. })
    ));
}

#[test]
fn accepts_line_broken_base64_and_seals_it_canonically() {
    let mut doc = secret_doc();
    let long = vec![7u8; 100];
    let wrapped = {
        let t = b64(&long);
        format!("{}\n{}\n", &t[..76], &t[76..])
    };
    let Node::Map(data) = get_mut(&mut doc, &["data"]) else { panic!() };
    data.insert("tls.key", s(&wrapped));
    let secret = parse(&doc);
    assert_eq!(secret.data["tls.key"].as_slice(), long.as_slice());
    let built = build_encrypted_secret(&secret, Scope::Strict).unwrap();
    assert_eq!(get(&built, &["spec", "data", "tls.key"]).as_str(), Some(b64(&long).as_str()));
}

#[test]
fn refuses_non_string_and_empty_values_naming_the_key() {
    let mut doc = secret_doc();
    map_at(&mut doc, &["stringData"]).insert("port", Node::Scalar(Scalar::Int(5432)));
    let err = SecretManifest::from_document(&doc, None).unwrap_err();
    assert!(
        matches!(&err, SealError::NonStringValue { field, key, found: "a number", .. } if field == "stringData" && key == "port"),
        "{err:?}"
    );
    assert!(err.to_string().contains("quote it"));
    map_at(&mut doc, &["stringData"]).insert("port", s(""));
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::EmptyValue { key, .. }) if key == "port"
    ));
    map_at(&mut doc, &["stringData"]).remove("port");
    map_at(&mut doc, &["data"]).insert("empty", s(""));
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::EmptyValue { key, .. }) if key == "empty"
    ));
}

#[test]
fn refuses_a_key_in_both_data_and_string_data() {
    let mut doc = secret_doc();
    let Node::Map(sd) = get_mut(&mut doc, &["stringData"]) else { panic!() };
    sd.insert("akey", s("other"));
    let err = SecretManifest::from_document(&doc, None).unwrap_err();
    assert!(matches!(&err, SealError::KeyInDataAndStringData { key, .. } if key == "akey"));
}

#[test]
fn refuses_invalid_and_repeated_secret_keys() {
    let mut doc = secret_doc();
    map_at(&mut doc, &["stringData"]).insert("bad/key", s("x"));
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::InvalidKey { key, .. }) if key == "bad/key"
    ));
    map_at(&mut doc, &["stringData"]).remove("bad/key");
    map_at(&mut doc, &["stringData"]).0.push(Item::Entry("user".into(), s("again")));
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::RepeatedKey { key, .. }) if key == "user"
    ));
}

#[test]
fn refuses_unknown_fields_and_bad_names() {
    let mut doc = secret_doc();
    doc.insert("status", map(vec![]));
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::UnknownField { field, .. }) if field == "status"
    ));
    let mut doc = secret_doc();
    *get_mut(&mut doc, &["metadata", "name"]) = s("DB_Creds");
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::InvalidField { .. })
    ));
    let mut doc = secret_doc();
    let Node::Map(meta) = get_mut(&mut doc, &["metadata"]) else { panic!() };
    meta.remove("name");
    assert!(matches!(
        SecretManifest::from_document(&doc, None),
        Err(SealError::MissingField { field, .. }) if field == "metadata.name"
    ));
}

#[test]
fn namespace_comes_from_the_manifest_or_the_argument_and_must_agree() {
    let mut doc = secret_doc();
    let Node::Map(meta) = get_mut(&mut doc, &["metadata"]) else { panic!() };
    meta.remove("namespace");
    let (secret, _) = SecretManifest::from_document(&doc, None).unwrap();
    assert_eq!(secret.namespace, None);
    let err = build_encrypted_secret(&secret, Scope::Strict).unwrap_err();
    assert!(err.to_string().contains("pass --namespace or set metadata.namespace"), "{err}");
    assert!(matches!(
        build_encrypted_secret(&secret, Scope::Namespace),
        Err(SealError::NamespaceRequired { .. })
    ));
    let cluster = build_encrypted_secret(&secret, Scope::Cluster).unwrap();
    assert!(get(&cluster, &["metadata"]).as_map().unwrap().get("namespace").is_none());
    let (secret, _) = SecretManifest::from_document(&doc, Some("staging")).unwrap();
    assert_eq!(secret.namespace.as_deref(), Some("staging"));
    assert!(matches!(
        SecretManifest::from_document(&secret_doc(), Some("staging")),
        Err(SealError::NamespaceConflict { .. })
    ));
    assert!(SecretManifest::from_document(&secret_doc(), Some("payments")).is_ok());
}

#[test]
fn refuses_label_keys_the_rule_would_encrypt() {
    for name in ["data", "binding", "stringData"] {
        let mut doc = secret_doc();
        let Node::Map(labels) = get_mut(&mut doc, &["metadata", "labels"]) else { panic!() };
        labels.insert(name, s("x"));
        assert!(matches!(
            SecretManifest::from_document(&doc, None),
            Err(SealError::ReservedKeyName { key, .. }) if key == name
        ));
    }
}

#[test]
fn validate_guards_manifests_built_in_code() {
    let mut secret = parse(&secret_doc());
    secret.annotations.insert(LAST_APPLIED_ANNOTATION.into(), "{}".into());
    assert!(build_encrypted_secret(&secret, Scope::Strict).is_err());
    let mut secret = parse(&secret_doc());
    secret.string_data.insert("akey".into(), zeroize::Zeroizing::new("x".into()));
    assert!(matches!(
        build_encrypted_secret(&secret, Scope::Strict),
        Err(SealError::KeyInDataAndStringData { .. })
    ));
    let mut secret = parse(&secret_doc());
    secret.data.insert("e".into(), zeroize::Zeroizing::new(Vec::new()));
    assert!(matches!(
        build_encrypted_secret(&secret, Scope::Strict),
        Err(SealError::EmptyValue { .. })
    ));
}

// ---- building and sealing ----

#[test]
fn encrypted_secret_tree_has_the_documented_shape_in_sorted_order() {
    let built = build_encrypted_secret(&parse(&secret_doc()), Scope::Strict).unwrap();
    let top: Vec<&str> = built.entries().map(|(k, _)| k).collect();
    assert_eq!(top, ["apiVersion", "kind", "metadata", "spec"]);
    assert_eq!(get(&built, &["apiVersion"]).as_str(), Some(API_VERSION));
    assert_eq!(get(&built, &["kind"]).as_str(), Some(KIND));
    assert_eq!(keys(get(&built, &["metadata"])), ["name", "namespace"]);
    assert_eq!(
        keys(get(&built, &["spec"])),
        ["binding", "data", "scope", "stringData", "template"]
    );
    // Byte order: uppercase before lowercase.
    assert_eq!(keys(get(&built, &["spec", "data"])), ["Bkey", "akey", "tls.key"]);
    assert_eq!(keys(get(&built, &["spec", "template"])), ["immutable", "metadata", "type"]);
    assert_eq!(keys(get(&built, &["spec", "template", "metadata"])), ["annotations", "labels"]);
    assert_eq!(get(&built, &["spec", "scope"]).as_str(), Some("strict"));
    assert_eq!(get(&built, &["spec", "binding"]).as_str(), Some("payments/db-creds"));
    assert_eq!(get(&built, &["spec", "data", "akey"]).as_str(), Some(b64(b"aaa").as_str()));
    assert_eq!(get(&built, &["spec", "template", "immutable"]), &Node::Scalar(Scalar::Bool(false)));
    assert_eq!(first_unsorted_path(&built), None);
}

#[test]
fn empty_data_and_string_data_are_written_as_empty_maps() {
    let mut doc = secret_doc();
    doc.remove("data");
    doc.remove("stringData");
    let built = build_encrypted_secret(&parse(&doc), Scope::Namespace).unwrap();
    assert_eq!(get(&built, &["spec", "data"]), &Node::Map(Map::new()));
    assert_eq!(get(&built, &["spec", "stringData"]), &Node::Map(Map::new()));
}

#[test]
fn keys_are_sorted_by_bytes_at_every_level() {
    let mut doc = secret_doc();
    let Node::Map(data) = get_mut(&mut doc, &["data"]) else { panic!() };
    for k in ["b", "_u", "B", "a.b", "-d", "A", "a", "Z9", "9"] {
        data.push(k, s(&b64(k.as_bytes())));
    }
    let Node::Map(labels) = get_mut(&mut doc, &["metadata", "labels"]) else { panic!() };
    labels.push("Zeta", s("1"));
    labels.push("example.com/b", s("2"));
    let key = DataKey::generate();
    let file = seal(&parse(&doc), Scope::Strict, &key, dummy_groups(), 0, None, now()).unwrap();
    let data_keys = keys(get(&file.docs[0], &["spec", "data"]));
    assert_eq!(
        data_keys,
        ["-d", "9", "A", "B", "Bkey", "Z9", "_u", "a", "a.b", "akey", "b", "tls.key"]
    );
    let labels = keys(get(&file.docs[0], &["spec", "template", "metadata", "labels"]));
    assert_eq!(labels, ["Zeta", "app", "example.com/b", "tier"]);
    assert_eq!(first_unsorted_path(&file.docs[0]), None);

    // The sort itself, with non-ASCII keys: UTF-8 byte order, not alphabetical.
    let mut m = Map::new();
    for k in ["é", "z", "ä", "Z", "aa", "a"] {
        m.push(k, map(vec![("y", s("")), ("X", s(""))]));
    }
    sort_keys_recursively(&mut m);
    let sorted: Vec<&str> = m.entries().map(|(k, _)| k).collect();
    assert_eq!(sorted, ["Z", "a", "aa", "z", "ä", "é"]);
    assert_eq!(keys(m.get("ä").unwrap()), ["X", "y"]);
}

#[test]
fn first_unsorted_path_names_the_unsorted_map() {
    let (mut file, _) = sealed(Scope::Strict);
    spec_map_mut(&mut file, "data").0.reverse();
    assert_eq!(first_unsorted_path(&file.docs[0]).as_deref(), Some("spec.data"));
}

#[test]
fn seal_then_decrypt_gives_every_value_back_and_only_those_are_encrypted() {
    let (file, key) = sealed(Scope::Strict);
    assert!(file.metadata.mac_only_encrypted);
    assert_eq!(
        file.metadata.rule.field(),
        Some(("encrypted_regex", "^(binding|data|stringData)$".to_owned()))
    );
    let enc = &file.docs[0];
    for path in [
        &["spec", "binding"][..],
        &["spec", "data", "tls.key"],
        &["spec", "data", "Bkey"],
        &["spec", "stringData", "password"],
    ] {
        let text = get(enc, path).as_str().unwrap();
        assert!(text.starts_with("ENC[AES256_GCM,") && text.ends_with(",type:str]"), "{path:?}");
    }
    assert_eq!(get(enc, &["spec", "scope"]).as_str(), Some("strict"));
    assert_eq!(get(enc, &["spec", "template", "type"]).as_str(), Some("Opaque"));
    assert_eq!(get(enc, &["spec", "template", "metadata", "labels", "app"]).as_str(), Some("db"));
    assert_eq!(get(enc, &["metadata", "name"]).as_str(), Some("db-creds"));

    let plain = decrypt_plain(&file, &key);
    assert_eq!(get(&plain, &["spec", "binding"]).as_str(), Some("payments/db-creds"));
    assert_eq!(get(&plain, &["spec", "data", "tls.key"]).as_str(), Some(b64(TLS_KEY).as_str()));
    assert_eq!(get(&plain, &["spec", "stringData", "password"]).as_str(), Some(PASSWORD));
    assert_eq!(plain, build_encrypted_secret(&parse(&secret_doc()), Scope::Strict).unwrap());
}

#[test]
fn binding_plaintext_per_scope() {
    for (scope, want) in [
        (Scope::Strict, "payments/db-creds"),
        (Scope::Namespace, "payments/*"),
        (Scope::Cluster, "*/*"),
    ] {
        let (file, key) = sealed(scope);
        let enc = get(&file.docs[0], &["spec", "binding"]).as_str().unwrap();
        let value = cipher::EncValue::parse(enc).unwrap();
        // The binding's AAD is its path, so it cannot be moved elsewhere in the file.
        let plain = cipher::decrypt(&key, &value, b"spec:binding:").unwrap();
        assert_eq!(plain.as_slice(), want.as_bytes());
        assert_eq!(
            cipher::decrypt(&key, &value, b"spec:data:binding:"),
            Err(CipherError::Authentication)
        );
        assert_eq!(get(&file.docs[0], &["spec", "scope"]).as_str(), Some(scope.as_str()));
    }
}

#[test]
fn encryption_rule_selects_exactly_the_reserved_names() {
    let rule = encrypted_secret::encryption_rule();
    for name in secret::SELECTED_NAMES {
        assert!(rule.component_hit(name));
    }
    for other in ["spec", "scope", "template", "Data", "data2", "metadata"] {
        assert!(!rule.component_hit(other), "{other}");
    }
}

// ---- opening ----

#[test]
fn open_returns_decoded_values_and_template() {
    let (file, key) = sealed(Scope::Strict);
    let opened = open(&file, &key, "payments", "db-creds").unwrap();
    assert_eq!(opened.scope(), Scope::Strict);
    assert_eq!(opened.data["tls.key"].as_slice(), TLS_KEY);
    assert_eq!(opened.data["Bkey"].as_slice(), b"BBB");
    assert_eq!(opened.string_data["password"].as_str(), PASSWORD);
    assert_eq!(opened.template.secret_type, "Opaque");
    assert_eq!(opened.template.labels["tier"], "backend");
    assert!(!opened.template.annotations.contains_key(LAST_APPLIED_ANNOTATION));
    let merged = opened.merged_data();
    assert_eq!(merged.len(), 5);
    assert_eq!(merged["password"].as_slice(), PASSWORD.as_bytes());
    assert_no_secret(&format!("{opened:?}"));
}

#[test]
fn namespace_and_cluster_scopes_open_elsewhere_as_bound() {
    let (file, key) = sealed(Scope::Namespace);
    assert!(open(&file, &key, "payments", "another-name").is_ok());
    assert!(matches!(
        open(&file, &key, "staging", "db-creds"),
        Err(SealError::Binding(BindingError::NamespaceMismatch { .. }))
    ));
    let (file, key) = sealed(Scope::Cluster);
    assert!(open(&file, &key, "staging", "whatever").is_ok());
}

#[test]
fn binding_mismatch_refuses_decrypt() {
    let (file, key) = sealed(Scope::Strict);
    let err = open(&file, &key, "staging", "db-creds").unwrap_err();
    assert_eq!(
        err.to_string(),
        "this file was sealed for payments/db-creds; it cannot be used as staging/db-creds: re-seal it for staging/db-creds"
    );
    assert!(matches!(
        open(&file, &key, "payments", "other"),
        Err(SealError::Binding(BindingError::StrictMismatch { .. }))
    ));
}

#[test]
fn binding_is_checked_before_any_other_value_is_decrypted() {
    let (mut file, key) = sealed(Scope::Strict);
    // Garbage that would fail to decrypt: one malformed, one authentic-looking but moved.
    let moved = get(&file.docs[0], &["spec", "binding"]).clone();
    let data = spec_map_mut(&mut file, "data");
    data.insert("Bkey", s("ENC[AES256_GCM,data:!!!,iv:???,tag:xx,type:str]"));
    data.insert("akey", moved);
    let err = open(&file, &key, "staging", "db-creds").unwrap_err();
    assert!(
        matches!(err, SealError::Binding(BindingError::StrictMismatch { .. })),
        "binding must be refused first, got {err:?}"
    );
    // Proof that the garbage would have failed had the binding matched.
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Decrypt { source: FileError::Tree(TreeError::Decrypt { .. }), .. }
        ),
        "{err:?}"
    );
}

#[test]
fn scope_disagreeing_with_binding_is_refused() {
    let (mut file, key) = sealed(Scope::Strict);
    *get_mut(&mut file.docs[0], &["spec", "scope"]) = s("cluster");
    let err = open(&file, &key, "staging", "db-creds").unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Binding(BindingError::ScopeDisagrees {
                declared: Scope::Cluster,
                bound: Scope::Strict,
                ..
            })
        ),
        "{err:?}"
    );
    *get_mut(&mut file.docs[0], &["spec", "scope"]) = s("global");
    assert!(matches!(
        open(&file, &key, "payments", "db-creds"),
        Err(SealError::Malformed { path, .. }) if path == "spec.scope"
    ));
}

#[test]
fn editing_the_binding_breaks_the_mac() {
    // Even someone holding the data key who re-encrypts a wider binding at the right path is
    // caught: the binding is covered by the MAC.
    let (mut file, key) = sealed(Scope::Strict);
    let widened =
        cipher::encrypt(&key, b"payments/*", b"spec:binding:", ValueType::Str, cipher::random_iv());
    *get_mut(&mut file.docs[0], &["spec", "binding"]) = s(&widened);
    *get_mut(&mut file.docs[0], &["spec", "scope"]) = s("namespace");
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(
        matches!(err, SealError::Decrypt { source: FileError::Mac(MacError::Mismatch), .. }),
        "{err:?}"
    );
}

#[test]
fn binding_copied_from_another_file_is_refused() {
    let (mut file, key) = sealed(Scope::Strict);
    let (other, _) = sealed(Scope::Cluster);
    let copied = get(&other.docs[0], &["spec", "binding"]).clone();
    *get_mut(&mut file.docs[0], &["spec", "binding"]) = copied;
    *get_mut(&mut file.docs[0], &["spec", "scope"]) = s("cluster");
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(matches!(err, SealError::BindingDecrypt { source: CipherError::Authentication, .. }));
}

#[test]
fn wrong_data_key_fails_at_the_binding() {
    let (file, _) = sealed(Scope::Strict);
    let err = open(&file, &DataKey::generate(), "payments", "db-creds").unwrap_err();
    assert!(matches!(err, SealError::BindingDecrypt { .. }), "{err:?}");
}

#[test]
fn labels_and_annotations_may_change_without_breaking_the_mac() {
    let (mut file, key) = sealed(Scope::Strict);
    *get_mut(&mut file.docs[0], &["spec", "template", "metadata", "labels", "tier"]) =
        s("frontend");
    let Node::Map(ann) =
        get_mut(&mut file.docs[0], &["spec", "template", "metadata", "annotations"])
    else {
        panic!()
    };
    ann.push("argocd.argoproj.io/sync-wave", s("1"));
    let opened = open(&through_apiserver(&file), &key, "payments", "db-creds").unwrap();
    assert_eq!(opened.template.labels["tier"], "frontend");
    assert_eq!(opened.template.annotations.len(), 2);
}

#[test]
fn swapped_values_are_refused() {
    let (mut file, key) = sealed(Scope::Strict);
    let data = spec_map_mut(&mut file, "data");
    let a = data.get("akey").unwrap().clone();
    let b = data.get("Bkey").unwrap().clone();
    data.insert("akey", b);
    data.insert("Bkey", a);
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Decrypt {
                source: FileError::Tree(TreeError::Decrypt {
                    source: CipherError::Authentication,
                    ..
                }),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn reordered_values_break_the_mac() {
    let (mut file, key) = sealed(Scope::Strict);
    spec_map_mut(&mut file, "stringData").0.swap(0, 1);
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(matches!(err, SealError::Decrypt { source: FileError::Mac(MacError::Mismatch), .. }));
}

#[test]
fn removed_or_added_values_break_the_mac() {
    let (mut file, key) = sealed(Scope::Strict);
    spec_map_mut(&mut file, "data").remove("akey");
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(matches!(err, SealError::Decrypt { source: FileError::Mac(MacError::Mismatch), .. }));

    // A value added under the right path and key (someone holding the data key) also fails.
    let (mut file, key) = sealed(Scope::Strict);
    let extra =
        cipher::encrypt(&key, b"eHl6", b"spec:data:zz:", ValueType::Str, cipher::random_iv());
    spec_map_mut(&mut file, "data").push("zz", s(&extra));
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(matches!(err, SealError::Decrypt { source: FileError::Mac(MacError::Mismatch), .. }));
}

#[test]
fn plaintext_values_are_refused_at_the_door() {
    for (field, key_name, value) in [
        ("data", "akey", s("YWFh")),
        ("stringData", "password", s(PASSWORD)),
        ("stringData", "added", s("")),
        ("data", "added", Node::Scalar(Scalar::Null)),
        ("data", "port", Node::Scalar(Scalar::Int(5))),
    ] {
        let (mut file, key) = sealed(Scope::Strict);
        spec_map_mut(&mut file, field).insert(key_name, value);
        let err = open(&file, &key, "payments", "db-creds").unwrap_err();
        let want = format!("spec.{field}.{key_name}");
        assert!(
            matches!(&err, SealError::PlaintextValue { path, .. } if *path == want),
            "{want}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("plaintext value at {want}")));
        assert_no_secret(&err.to_string());
    }
    let (mut file, key) = sealed(Scope::Strict);
    *get_mut(&mut file.docs[0], &["spec", "binding"]) = s("payments/db-creds");
    assert!(matches!(
        open(&file, &key, "payments", "db-creds"),
        Err(SealError::PlaintextValue { path, .. }) if path == "spec.binding"
    ));
}

#[test]
fn files_with_another_rule_are_refused() {
    let (file, key) = sealed(Scope::Strict);
    let mut other = file.clone();
    other.metadata.mac_only_encrypted = false;
    let err = open(&other, &key, "payments", "db-creds").unwrap_err();
    assert!(matches!(&err, SealError::WrongEncryptionRule { .. }));
    assert!(err.to_string().contains("mac_only_encrypted"), "{err}");
    let mut other = file.clone();
    other.metadata.rule =
        EncryptionRule::from_field("encrypted_regex", "^(data|stringData)$").unwrap();
    let err = open(&other, &key, "payments", "db-creds").unwrap_err();
    assert!(err.to_string().contains("has encrypted_regex: \"^(data|stringData)$\""), "{err}");
    let mut other = file.clone();
    other.metadata.rule = EncryptionRule::None;
    assert!(matches!(
        open(&other, &key, "payments", "db-creds"),
        Err(SealError::WrongEncryptionRule { .. })
    ));
}

#[test]
fn other_kinds_and_extra_documents_are_refused() {
    let (mut file, key) = sealed(Scope::Strict);
    file.docs[0].insert("kind", s("Secret"));
    assert!(matches!(
        open(&file, &key, "payments", "db-creds"),
        Err(SealError::NotAnEncryptedSecret { kind, .. }) if kind == "Secret"
    ));
    let (mut file, key) = sealed(Scope::Strict);
    file.docs.push(file.docs[0].clone());
    assert_eq!(open(&file, &key, "payments", "db-creds").unwrap_err(), SealError::DocumentCount(2));
}

/// Any other file (here: no kind, no name, no encryption rule) is refused as not being an
/// EncryptedSecret, not for the first missing field or rule.
#[test]
fn files_of_another_kind_are_refused_for_their_kind_first() {
    let (mut file, key) = sealed(Scope::Strict);
    file.docs[0].remove("kind");
    file.docs[0].remove("metadata");
    file.metadata.rule = EncryptionRule::None;
    let not_ours = |e: SealError| matches!(e, SealError::NotAnEncryptedSecret { kind, .. } if kind == "missing");
    assert!(not_ours(target_of(&file, None).unwrap_err()));
    assert!(not_ours(open(&file, &key, "payments", "db-creds").unwrap_err()));
}

#[test]
fn reserved_names_outside_spec_are_refused_with_a_clear_reason() {
    // sops itself fails on such a file with "Input string … does not match sops' data format".
    let (file, key) = sealed(Scope::Strict);
    let mut file = through_apiserver(&file);
    let Node::Map(labels) = get_mut(&mut file.docs[0], &["metadata", "labels"]) else { panic!() };
    labels.push("data", s("x"));
    let err = open(&file, &key, "payments", "db-creds").unwrap_err();
    assert!(
        matches!(&err, SealError::SelectedKeyOutsideSpec { path, .. } if path == "metadata.labels.data"),
        "{err:?}"
    );
    let (mut file, key) = sealed(Scope::Strict);
    let Node::Map(labels) = get_mut(&mut file.docs[0], &["spec", "template", "metadata", "labels"])
    else {
        panic!()
    };
    labels.push("binding", s("x"));
    assert!(matches!(
        open(&file, &key, "payments", "db-creds"),
        Err(SealError::SelectedKeyOutsideSpec { path, .. }) if path == "spec.template.metadata.labels.binding"
    ));
}

#[test]
fn unknown_spec_fields_are_refused() {
    let (mut file, key) = sealed(Scope::Strict);
    let Node::Map(spec) = get_mut(&mut file.docs[0], &["spec"]) else { panic!() };
    spec.push("extra", s("x"));
    assert!(matches!(
        open(&file, &key, "payments", "db-creds"),
        Err(SealError::Malformed { path, .. }) if path == "spec.extra"
    ));
}

#[test]
fn sorted_json_round_trip_still_opens() {
    for scope in Scope::ALL {
        let (file, key) = sealed(scope);
        let served = through_apiserver(&file);
        assert_ne!(served.docs, file.docs, "the simulation must change something");
        let opened = open(&served, &key, "payments", "db-creds").unwrap();
        assert_eq!(opened.string_data["password"].as_str(), PASSWORD);
    }
}

#[test]
fn resealing_an_opened_secret_with_its_stash_reproduces_the_ciphertext() {
    let (file, key) = sealed(Scope::Strict);
    let opened = open(&file, &key, "payments", "db-creds").unwrap();
    let again = seal(
        &opened.to_manifest(),
        Scope::Strict,
        &key,
        dummy_groups(),
        0,
        Some(&opened.stash),
        now(),
    )
    .unwrap();
    assert_eq!(get(&again.docs[0], &["spec"]), get(&file.docs[0], &["spec"]));
    let fresh =
        seal(&opened.to_manifest(), Scope::Strict, &key, dummy_groups(), 0, None, now()).unwrap();
    assert_ne!(get(&fresh.docs[0], &["spec"]), get(&file.docs[0], &["spec"]));
}

// ---- unsealing ----

#[test]
fn unseal_gives_back_the_secret_without_what_was_dropped() {
    let (file, key) = sealed(Scope::Strict);
    let opened = open(&file, &key, "payments", "db-creds").unwrap();
    let doc = unseal(&opened);
    let top: Vec<&str> = doc.entries().map(|(k, _)| k).collect();
    assert_eq!(top, ["apiVersion", "kind", "metadata", "type", "data", "stringData"]);
    assert_eq!(get(&doc, &["data", "tls.key"]).as_str(), Some(b64(TLS_KEY).as_str()));
    assert_eq!(get(&doc, &["stringData", "password"]).as_str(), Some(PASSWORD));
    let (again, warnings) = SecretManifest::from_document(&doc, None).unwrap();
    assert!(warnings.is_empty());
    let mut original = parse(&secret_doc());
    original.annotations.remove(LAST_APPLIED_ANNOTATION);
    assert_eq!(again, original);
}

#[test]
fn unseal_keeps_immutable_and_type() {
    let mut doc = secret_doc();
    doc.insert("immutable", Node::Scalar(Scalar::Bool(true)));
    doc.insert("type", s("kubernetes.io/basic-auth"));
    let key = DataKey::generate();
    let file = seal(&parse(&doc), Scope::Namespace, &key, dummy_groups(), 0, None, now()).unwrap();
    let opened = open(&file, &key, "payments", "db-creds").unwrap();
    let out = unseal(&opened);
    assert_eq!(get(&out, &["immutable"]), &Node::Scalar(Scalar::Bool(true)));
    assert_eq!(get(&out, &["type"]).as_str(), Some("kubernetes.io/basic-auth"));
}

#[test]
fn target_of_reads_the_files_own_location() {
    let (file, _) = sealed(Scope::Strict);
    assert_eq!(target_of(&file, None).unwrap(), ("payments".into(), "db-creds".into()));
    assert_eq!(target_of(&file, Some("payments")).unwrap().0, "payments");
    assert!(matches!(target_of(&file, Some("staging")), Err(SealError::NamespaceConflict { .. })));
    let mut secret = parse(&secret_doc());
    secret.namespace = None;
    let file = seal(&secret, Scope::Cluster, &DataKey::generate(), dummy_groups(), 0, None, now())
        .unwrap();
    assert!(matches!(target_of(&file, None), Err(SealError::TargetNamespaceUnknown { .. })));
    assert_eq!(target_of(&file, Some("dev")).unwrap(), ("dev".into(), "db-creds".into()));
}

// ---- interop with a file written by the real sops 3.11 ----

/// Test-only bridge from serde_json (key order kept) to the tree.
fn from_json(v: &serde_json::Value) -> Node {
    match v {
        serde_json::Value::Null => Node::Scalar(Scalar::Null),
        serde_json::Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
        serde_json::Value::Number(n) => Node::Scalar(Scalar::Float(n.as_f64().unwrap())),
        serde_json::Value::String(text) => Node::str(text.clone()),
        serde_json::Value::Array(a) => Node::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Node::Map(Map(o.iter().map(|(k, v)| Item::Entry(k.clone(), from_json(v))).collect()))
        }
    }
}

fn sops_made() -> (SopsFile, DataKey) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/seal/testdata/sops-made.enc.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let Node::Map(mut doc) = from_json(&v) else { panic!("top level is an object") };
    let Some(Node::Map(meta)) = doc.remove("sops") else { panic!("no sops block") };
    let file = SopsFile {
        format: Format::Json,
        docs: vec![doc],
        metadata: Metadata::from_tree(&meta).unwrap(),
    };
    let key = DataKey::from_slice(
        &hex::decode("2a6a55a848bd328d272c79e58e43da62a456acfa63af872cc0292bf979f7822d").unwrap(),
    )
    .unwrap();
    (file, key)
}

#[test]
fn opens_an_encrypted_secret_written_by_sops() {
    let (file, key) = sops_made();
    let opened = open(&file, &key, "payments", "db-creds").unwrap();
    assert_eq!(opened.data["tls.key"].as_slice(), b"secret-key");
    assert_eq!(opened.data["Bkey"].as_slice(), b"BBB");
    assert_eq!(opened.string_data["password"].as_str(), "hunter2");
    assert_eq!(opened.template.labels["app"], "db");
    // And after the apiserver has had it.
    assert!(open(&through_apiserver(&file), &key, "payments", "db-creds").is_ok());
    assert!(matches!(
        open(&file, &key, "staging", "db-creds"),
        Err(SealError::Binding(BindingError::StrictMismatch { .. }))
    ));
}

#[test]
fn our_sealing_of_the_same_input_decrypts_to_what_sops_encrypted() {
    // Same plaintext tree as sops's input: what we seal decrypts to exactly that tree.
    let (file, key) = sops_made();
    let sops_plain = decrypt_plain(&file, &key);
    let opened = open(&file, &key, "payments", "db-creds").unwrap();
    let ours = seal(
        &opened.to_manifest(),
        Scope::Strict,
        &key,
        dummy_groups(),
        0,
        Some(&opened.stash),
        now(),
    )
    .unwrap();
    assert_eq!(decrypt_plain(&ours, &key), sops_plain);
    // With sops's IVs, our ciphertext for every value is byte-identical to sops's.
    assert_eq!(get(&ours.docs[0], &["spec"]), get(&file.docs[0], &["spec"]));
}
