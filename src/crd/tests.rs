//! CRD generation: every CRD builds, the committed YAML is current, and the schema refuses
//! plaintext where ciphertext belongs.

use std::path::Path;

use regex::Regex;

use super::*;
use crate::format::store::{self, Format};

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn every_crd_builds_and_the_committed_yaml_is_current() {
    for (file, crd) in all() {
        let generated = to_yaml(&crd);
        let path = repo_file(&format!("crds/{file}"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale: regenerate it with `cargo run --bin sealgate-controller -- crds --output-dir crds` and commit it",
            path.display()
        );
    }
}

#[test]
fn the_schema_keeps_the_sops_block_and_pins_the_value_form() {
    let crd = EncryptedSecret::crd();
    let version = &crd.spec.versions[0];
    assert!(version.subresources.as_ref().is_some_and(|s| s.status.is_some()));
    let schema = serde_json::to_value(version.schema.as_ref().unwrap()).unwrap();
    let root = &schema["openAPIV3Schema"]["properties"];
    assert_eq!(root["sops"]["x-kubernetes-preserve-unknown-fields"], true);
    let spec = &root["spec"]["properties"];
    assert_eq!(spec["binding"]["pattern"], ENC_VALUE_PATTERN);
    assert_eq!(spec["data"]["additionalProperties"]["pattern"], ENC_VALUE_PATTERN);
    assert_eq!(spec["stringData"]["additionalProperties"]["pattern"], ENC_VALUE_PATTERN);
    let required = schema["openAPIV3Schema"]["required"].as_array().unwrap();
    assert!(required.contains(&"spec".into()) && required.contains(&"sops".into()));
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["esec".to_owned()][..]));
    let columns: Vec<&str> =
        version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(columns, ["Ready", "Reason", "Scope", "Age"]);
}

#[test]
fn the_value_pattern_accepts_sealed_values_and_refuses_plaintext() {
    let re = Regex::new(ENC_VALUE_PATTERN).unwrap();
    let sealed = std::fs::read(repo_file("keys-example/db-creds.sealed.yaml")).unwrap();
    let docs = store::parse_plain(Format::Yaml, &sealed).unwrap();
    let json = store::emit_plain(Format::Json, &docs).unwrap();
    let es: EncryptedSecret = serde_json::from_slice(&json).unwrap();
    assert!(re.is_match(&es.spec.spec.binding));
    let values = es.spec.spec.data.iter().chain(&es.spec.spec.string_data).flat_map(|m| m.values());
    let mut n = 0;
    for v in values {
        assert!(re.is_match(v), "{v}");
        n += 1;
    }
    assert!(n > 0, "the example has values");
    for plain in [
        "hunter2",
        "ENC[AES256_GCM,data:abc,iv:,tag:x,type:str]",
        "ENC[AES256_GCM,data:YQ==,iv:YQ==,tag:YQ==,type:str] ",
    ] {
        assert!(!re.is_match(plain), "{plain}");
    }
}
