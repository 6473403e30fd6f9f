//! CRD generation: every CRD builds, the committed YAML is current, and the schema refuses
//! plaintext where ciphertext belongs.

use std::path::Path;

use regex::Regex;
use serde_json::Value;

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

/// The issue's example objects, as a user writes them.
const STORE_YAML: &str = r#"
apiVersion: sealgate.dev/v1alpha1
kind: ClusterSecretStore
metadata: {name: vault}
spec:
  vault:
    server: https://vault.example:8200
    namespace: team-a
    kv: {mount: secret, version: 2}
    auth:
      kubernetes: {mountPath: kubernetes, role: app, serviceAccountRef: {name: app}, audiences: [vault]}
  conditions:
    - namespaces: [team-a]
      pathPrefixes: ["teams/{namespace}/", "shared/"]
    - namespaceSelector: {matchExpressions: [{key: tier, operator: In, values: [prod]}]}
"#;

const VAULT_SECRET_YAML: &str = r#"
apiVersion: sealgate.dev/v1alpha1
kind: VaultSecret
metadata: {name: db, namespace: team-a}
spec:
  storeRef: {kind: SecretStore, name: vault}
  refreshInterval: 1h
  data:
    - secretKey: password
      remoteRef: {path: app/db, property: password, version: 3}
  dataFrom:
    - path: app/common
  template: {type: Opaque, metadata: {labels: {app: db}, annotations: {team: a}}}
"#;

fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    let docs = store::parse_plain(Format::Yaml, yaml.as_bytes()).unwrap();
    let json = store::emit_plain(Format::Json, &docs).unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[test]
fn the_issue_examples_read_as_the_rust_types() {
    let store: ClusterSecretStore = from_yaml(STORE_YAML);
    let VaultAuth::Kubernetes(k8s) = &store.spec.vault.auth else { panic!("kubernetes auth") };
    assert_eq!((k8s.role.as_str(), k8s.service_account_ref.name.as_str()), ("app", "app"));
    assert_eq!(store.spec.vault.kv.version, 2);
    assert_eq!(store.spec.conditions[0].path_prefixes, ["teams/{namespace}/", "shared/"]);
    let sel = store.spec.conditions[1].namespace_selector.as_ref().unwrap();
    assert_eq!(sel.match_expressions[0].operator, SelectorOperator::In);

    let vs: VaultSecret = from_yaml(VAULT_SECRET_YAML);
    assert_eq!(vs.spec.store_ref.kind, StoreKind::SecretStore);
    assert_eq!(vs.spec.data[0].remote_ref.version, Some(3));
    assert_eq!(vs.spec.data_from[0].path, "app/common");
    assert_eq!(vs.spec.refresh_interval.as_deref(), Some("1h"));
}

#[test]
fn auth_must_name_exactly_one_method_in_the_schema_and_in_the_types() {
    for (_, crd) in all().into_iter().filter(|(f, _)| f.contains("secretstores")) {
        let schema = serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap()).unwrap();
        let auth = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["vault"]["properties"]
            ["auth"];
        let one_of: Vec<&Value> = auth["oneOf"].as_array().unwrap().iter().collect();
        assert_eq!(
            one_of,
            [
                &serde_json::json!({"required": ["token"]}),
                &serde_json::json!({"required": ["appRole"]}),
                &serde_json::json!({"required": ["kubernetes"]}),
            ],
            "{}",
            crd.spec.names.kind
        );
    }
    let two = r#"{"token": {"secretRef": {"name": "t", "key": "k"}},
                  "appRole": {"roleId": "r", "secretRef": {"name": "s", "key": "k"}}}"#;
    assert!(serde_json::from_str::<VaultAuth>(two).is_err());
    assert!(serde_json::from_str::<VaultAuth>("{}").is_err());
    let one: VaultAuth = serde_json::from_str(
        r#"{"appRole": {"roleId": "r", "secretRef": {"name": "s", "key": "k"}}}"#,
    )
    .unwrap();
    let VaultAuth::AppRole(a) = one else { panic!("appRole") };
    assert_eq!(a.mount_path, "approle", "the default mount");
}

#[test]
fn the_vault_secret_schema_pins_key_and_interval_forms() {
    let crd = VaultSecret::crd();
    let schema = serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap()).unwrap();
    let spec = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["data"]["items"]["properties"]["secretKey"]["pattern"], SECRET_KEY_PATTERN);
    assert_eq!(spec["refreshInterval"]["pattern"], INTERVAL_PATTERN);
    let re = Regex::new(INTERVAL_PATTERN).unwrap();
    for ok in ["0", "1h", "1h30m", "45s", "2d"] {
        assert!(re.is_match(ok), "{ok}");
    }
    for bad in ["", "1", "1.5h", "h", "1w", "-1h"] {
        assert!(!re.is_match(bad), "{bad}");
    }
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(ClusterSecretStore::crd().spec.scope, "Cluster");
}
