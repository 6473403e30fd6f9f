//! Tests for `.sops.yaml` handling, each pinned to what sops 3.11 was seen doing.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::format::cipher::DataKey;
use crate::format::timestamp::Timestamp;
use crate::keys::wrap_data_key;

const A: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";
const B: &str = "age19esvgf22wysel4wf0pmfyptvc6x0vp0pdt7ylu0j73yz8m9e2eys3jpwuw";
const C: &str = "age1szdv2dvtwgnyr2dqpy9v39xywg7tv4s4zdqpu3ktmvpqdx7tqu3suxfu3r";

/// A tree as the YAML store would produce it (JSON is a subset with the same types).
fn tree(v: Value) -> Map {
    fn node(v: &Value) -> Node {
        match v {
            Value::Null => Node::Scalar(Scalar::Null),
            Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Scalar(Scalar::Int(i)),
                None => Node::Scalar(Scalar::Float(n.as_f64().unwrap())),
            },
            Value::String(s) => Node::str(s.clone()),
            Value::Array(a) => Node::List(a.iter().map(node).collect()),
            Value::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o {
                    m.push(k.clone(), node(v));
                }
                Node::Map(m)
            }
        }
    }
    match node(&v) {
        Node::Map(m) => m,
        _ => panic!("not a map"),
    }
}

const ROOT: &str = "/repo";

fn config(v: Value) -> Config {
    Config::from_tree(&tree(v), Path::new("/repo/.sops.yaml")).unwrap()
}

fn config_err(v: Value) -> String {
    Config::from_tree(&tree(v), Path::new("/repo/.sops.yaml")).unwrap_err().to_string_chain()
}

trait Chain {
    fn to_string_chain(&self) -> String;
}
impl<E: std::error::Error> Chain for E {
    fn to_string_chain(&self) -> String {
        let mut s = self.to_string();
        let mut cur = self.source();
        while let Some(e) = cur {
            s.push_str(": ");
            s.push_str(&e.to_string());
            cur = e.source();
        }
        s
    }
}

fn recipients(group: &GroupSpec) -> Vec<String> {
    group.0.iter().map(|k| k.to_string()).collect()
}

fn matched(cfg: &Config, cwd: &str, file: &str) -> Option<usize> {
    match cfg.rule_for(Path::new(cwd), Path::new(file)) {
        Ok(Some(rule)) => Some(rule.index),
        Ok(None) => panic!("config has no creation_rules"),
        Err(ConfigError::NoMatchingRule { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn paths_match_relative_to_the_config_dir_even_from_a_subdirectory() {
    // sops 3.11: `cd sub && sops encrypt ../secrets/x.yaml` matched `^secrets/`, and
    // `cd sub && sops encrypt y.yaml` matched `^sub/`.
    let cfg = config(json!({"creation_rules": [
        {"path_regex": r"^secrets/.*\.yaml$", "age": A},
        {"path_regex": "^sub/", "age": [B]},
    ]}));
    assert_eq!(matched(&cfg, ROOT, "secrets/x.yaml"), Some(0));
    assert_eq!(matched(&cfg, "/repo/sub", "../secrets/x.yaml"), Some(0));
    assert_eq!(matched(&cfg, "/repo/sub", "y.yaml"), Some(1));
    assert_eq!(matched(&cfg, "/elsewhere", "/repo/sub/./deeper/../z.yaml"), Some(1));
    assert_eq!(matched(&cfg, ROOT, "other.yaml"), None);
}

#[test]
fn the_first_matching_rule_wins_and_a_rule_without_regex_matches_all() {
    let cfg = config(json!({"creation_rules": [
        {"path_regex": r"\.yaml$", "age": A},
        {"path_regex": "secrets", "age": B},
        {"path_regex": "", "age": C},
    ]}));
    assert_eq!(matched(&cfg, ROOT, "secrets/a.yaml"), Some(0));
    assert_eq!(matched(&cfg, ROOT, "secrets/a.json"), Some(1));
    assert_eq!(matched(&cfg, ROOT, "x.env"), Some(2));
}

#[test]
fn a_file_outside_the_config_dir_is_matched_by_its_absolute_path() {
    let cfg = config(json!({"creation_rules": [{"path_regex": "^/tmp/", "age": A}]}));
    assert_eq!(matched(&cfg, ROOT, "/tmp/x.yaml"), Some(0));
    assert_eq!(matched(&cfg, ROOT, "tmp/x.yaml"), None);
}

#[test]
fn no_matching_rule_is_an_error_naming_the_file_and_config() {
    let cfg = config(json!({"creation_rules": [{"path_regex": "^prod/", "age": A}]}));
    let e = cfg.rule_for(Path::new(ROOT), Path::new("dev/x.yaml")).unwrap_err().to_string();
    assert!(e.contains("/repo/.sops.yaml") && e.contains("dev/x.yaml"), "{e}");
}

#[test]
fn missing_or_null_creation_rules_mean_no_config_but_an_empty_list_matches_nothing() {
    // sops: `stores: {}` or `creation_rules:` (null) + --age encrypts; `creation_rules: []`
    // fails with "no matching creation rules found".
    for v in [json!({"stores": {}}), json!({"creation_rules": null}), json!({})] {
        let cfg = config(v);
        assert!(cfg.rule_for(Path::new(ROOT), Path::new("x.yaml")).unwrap().is_none());
    }
    let cfg = config(json!({"creation_rules": []}));
    assert!(matches!(
        cfg.rule_for(Path::new(ROOT), Path::new("x.yaml")),
        Err(ConfigError::NoMatchingRule { .. })
    ));
}

#[test]
fn age_keys_split_on_commas_like_sops() {
    // sops: "A,,B," gives A and B; ["A,B"] gives A and B; [" A "] gives A; ["A", ""] fails.
    let cfg = config(json!({"creation_rules": [
        {"path_regex": "1", "age": format!("{A},,{B},")},
        {"path_regex": "2", "age": [format!("{A},{B}")]},
        {"path_regex": "3", "age": [format!(" {A} ")]},
    ]}));
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(recipients(&rules[0].key_groups[0]), [A, B]);
    assert_eq!(recipients(&rules[1].key_groups[0]), [A, B]);
    assert_eq!(recipients(&rules[2].key_groups[0]), [A]);
    let e = config_err(json!({"creation_rules": [{"age": [A, ""]}]}));
    assert!(e.contains("creation_rules[0].age[1]") && e.contains("empty key"), "{e}");
}

#[test]
fn key_groups_merge_first_then_own_keys_without_duplicates() {
    // sops 3.11 wrote B, A, C for this group.
    let cfg = config(json!({"creation_rules": [{"key_groups": [
        {"age": [A], "merge": [{"age": [B]}, {"age": [format!("{A},{C}")]}]}
    ]}]}));
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(rules[0].key_groups.len(), 1);
    assert_eq!(recipients(&rules[0].key_groups[0]), [B, A, C]);
}

#[test]
fn non_empty_key_groups_replace_rule_level_keys() {
    let cfg = config(json!({"creation_rules": [
        {"path_regex": "1", "age": B, "key_groups": [{"age": [A]}]},
        {"path_regex": "2", "age": B, "key_groups": []},
    ]}));
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(recipients(&rules[0].key_groups[0]), [A]);
    assert_eq!(recipients(&rules[1].key_groups[0]), [B]);
}

#[test]
fn shamir_fixture_config_gives_three_groups_with_threshold_two() {
    // tests/fixtures/sops/shamir.sops.yaml
    let cfg = Config::from_tree(
        &tree(json!({"creation_rules": [{
            "path_regex": r"shamir\.yaml$",
            "shamir_threshold": 2,
            "key_groups": [{"age": [A]}, {"age": [B]}, {"age": [C]}],
        }]})),
        Path::new("tests/fixtures/sops/shamir.sops.yaml"),
    )
    .unwrap();
    let cwd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops");
    let rule = cfg.rule_for(&cwd, Path::new("inputs/shamir.yaml")).unwrap().unwrap();
    assert_eq!(rule.shamir_threshold, 2);
    assert_eq!(rule.key_groups.len(), 3);
    let key = DataKey::generate();
    let (groups, t) =
        wrap_data_key(&key, &rule.key_groups, rule.shamir_threshold, None, now()).unwrap();
    assert_eq!((groups.len(), t), (3, 2));
}

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap()
}

#[test]
fn group_age_must_be_a_list() {
    // sops: "cannot unmarshal !!str `age1lw9...` into []string".
    let e = config_err(json!({"creation_rules": [{"key_groups": [{"age": A}]}]}));
    assert!(e.contains("creation_rules[0].key_groups[0].age") && e.contains("list"), "{e}");
}

#[test]
fn two_encryption_rules_in_one_rule_are_refused() {
    let e = config_err(json!({"creation_rules": [
        {"age": A},
        {"age": A, "encrypted_regex": "x", "unencrypted_suffix": "y"},
    ]}));
    assert!(e.contains("/repo/.sops.yaml") && e.contains("creation_rules[1]"), "{e}");
    assert!(e.contains("unencrypted_suffix and encrypted_regex"), "{e}");
}

#[test]
fn the_encryption_rule_and_mac_only_encrypted_are_read() {
    let cfg = config(json!({"creation_rules": [
        {"age": A, "encrypted_regex": "^(data|stringData)$", "mac_only_encrypted": true},
        {"age": A, "mac_only_encrypted": "yes"},
        {"age": A},
    ]}));
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(
        rules[0].rule.as_ref().and_then(|r| r.field()),
        Some(("encrypted_regex", "^(data|stringData)$".to_owned()))
    );
    assert_eq!(rules[0].mac_only_encrypted, Some(true));
    // go-yaml reads YAML 1.1 `yes` into a bool field (sops wrote mac_only_encrypted: true).
    assert_eq!(rules[1].mac_only_encrypted, Some(true));
    assert!(rules[2].rule.is_none());
    assert_eq!(rules[2].mac_only_encrypted, None);
    // A quoted "true" is a string, which sops refuses for a bool field.
    let e = config_err(json!({"creation_rules": [{"age": A, "mac_only_encrypted": "true"}]}));
    assert!(e.contains("mac_only_encrypted") && e.contains("true or false"), "{e}");
}

#[test]
fn bad_regexes_and_thresholds_name_rule_and_field() {
    let e = config_err(json!({"creation_rules": [{"age": A, "path_regex": "("}]}));
    assert!(e.contains("creation_rules[0].path_regex") && e.contains("regular expression"), "{e}");
    let e = config_err(json!({"creation_rules": [{"age": A, "encrypted_regex": "("}]}));
    assert!(e.contains("creation_rules[0].encrypted_regex"), "{e}");
    let e = config_err(json!({"creation_rules": [{"age": A, "shamir_threshold": "abc"}]}));
    assert!(e.contains("creation_rules[0].shamir_threshold") && e.contains("whole number"), "{e}");
    let e = config_err(json!({"creation_rules": [{"age": A, "shamir_threshold": -1}]}));
    assert!(e.contains("negative"), "{e}");
}

#[test]
fn a_malformed_recipient_names_file_rule_field_and_the_valid_forms() {
    let e = config_err(json!({"creation_rules": [{"age": A}, {"age": "notakey"}]}));
    for needle in
        ["/repo/.sops.yaml", "creation_rules[1].age", "\"notakey\"", "age1", "ssh-ed25519"]
    {
        assert!(e.contains(needle), "{needle:?} missing: {e}");
    }
}

#[test]
fn a_prefixed_vault_uri_is_refused_as_sops_does() {
    let e = config_err(json!({"creation_rules": [
        {"hc_vault_transit_uri": "https://v.example/prefix/v1/transit/keys/k"}
    ]}));
    assert!(e.contains("hc_vault_transit_uri") && e.contains("prefixed URL"), "{e}");
    let cfg = config(json!({"creation_rules": [{"key_groups": [
        {"hc_vault": ["https://vault:8200/v1/transit/keys/a"], "age": [A]}
    ]}]}));
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(recipients(&rules[0].key_groups[0]), [A, "https://vault:8200/v1/transit/keys/a"]);
}

#[test]
fn foreign_key_types_load_but_encrypting_names_them() {
    let cfg = config(json!({"creation_rules": [
        {"path_regex": "pgp", "age": A, "pgp": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"},
        {"path_regex": "kms", "key_groups": [{"kms": [{"arn": "arn:aws:kms:eu-west-1:1:key/x"}]}]},
        {"path_regex": "az", "azure_keyvault": "https://v.vault.azure.net/keys/k/1"},
    ]}));
    let rules = cfg.creation_rules.unwrap();
    let key = DataKey::generate();
    for (rule, want) in
        [(0, "pgp key FBC7B9E2"), (1, "kms key arn:aws:kms"), (2, "azure_keyvault key")]
    {
        let e = wrap_data_key(&key, &rules[rule].key_groups, 0, None, now()).unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

#[test]
fn unknown_fields_are_ignored_with_a_warning_naming_file_and_field() {
    // sops 3.11 silently ignored `bogus_field` in a rule and encrypted normally.
    let cfg = config(json!({
        "creation_rule": [],
        "creation_rules": [{"age": A, "bogus_field": 1, "key_groups": [{"age": [A], "agee": [B]}]}],
    }));
    let w = cfg.warnings.join("\n");
    for needle in
        ["\"creation_rule\"", "creation_rules[0]: unknown field \"bogus_field\"", "\"agee\""]
    {
        assert!(w.contains(needle), "{needle:?} missing: {w}");
    }
    assert!(w.contains("/repo/.sops.yaml"), "{w}");
}

#[test]
fn a_rule_without_keys_yields_one_empty_group_that_cannot_encrypt() {
    // sops: "Could not generate data key: [empty key group provided]".
    let cfg = config(json!({"creation_rules": [{"path_regex": "x"}]}));
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(rules[0].key_groups, vec![GroupSpec(vec![])]);
    let e = wrap_data_key(&DataKey::generate(), &rules[0].key_groups, 0, None, now()).unwrap_err();
    assert!(e.to_string().contains("empty key group"), "{e}");
}

#[test]
fn stores_indent_is_read() {
    let cfg = config(json!({"stores": {"yaml": {"indent": 2}, "json": {"indent": 4}}}));
    assert_eq!(
        cfg.stores,
        StoresConfig { yaml_indent: Some(2), json_indent: Some(4), json_binary_indent: None }
    );
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    for v in [
        json!({"creation_rules": "x"}),
        json!({"creation_rules": ["x"]}),
        json!({"creation_rules": [{"age": 5}]}),
        json!({"creation_rules": [{"age": {"a": 1}}]}),
        json!({"creation_rules": [{"key_groups": "x"}]}),
        json!({"creation_rules": [{"key_groups": [{"kms": ["arn"]}]}]}),
        json!({"creation_rules": [{"key_groups": [{"merge": "x"}]}]}),
        json!({"creation_rules": [{"path_regex": ["x"]}]}),
        json!({"stores": {"yaml": 3}}),
    ] {
        assert!(Config::from_tree(&tree(v.clone()), Path::new("c")).is_err(), "{v}");
    }
}

// ---- finding the file ----

fn touch(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "creation_rules: []\n").unwrap();
}

#[test]
fn finds_the_nearest_sops_yaml_walking_up_from_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch(&root.join(".sops.yaml"));
    let deep = root.join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    let found = find_config(&deep, None).unwrap();
    assert_eq!(found.path, Some(root.join(".sops.yaml")));
    assert_eq!(found.warning, None);
    touch(&root.join("a/.sops.yaml"));
    assert_eq!(find_config(&deep, None).unwrap().path, Some(root.join("a/.sops.yaml")));
}

#[test]
fn a_sops_yml_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    touch(&root.join("sub/.sops.yml"));
    let found = find_config(&root.join("sub"), None).unwrap();
    // Nothing above the temp dir has a .sops.yaml on this machine's test layout.
    if found.path.is_none() {
        let w = found.warning.unwrap();
        assert!(w.contains(".sops.yml") && w.contains("must be called"), "{w}");
    }
    touch(&root.join(".sops.yaml"));
    let found = find_config(&root.join("sub"), None).unwrap();
    assert_eq!(found.path, Some(root.join(".sops.yaml")));
    assert!(found.warning.unwrap().contains("using"));
}

#[test]
fn an_explicit_config_skips_the_search_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    touch(&dir.path().join(".sops.yaml"));
    let explicit = dir.path().join("custom.yaml");
    assert!(matches!(find_config(dir.path(), Some(&explicit)), Err(ConfigError::Read { .. })));
    touch(&explicit);
    assert_eq!(
        find_config(dir.path(), Some(Path::new("custom.yaml"))).unwrap().path,
        Some(explicit)
    );
}

#[test]
fn lexical_cleaning_matches_go_filepath_abs() {
    assert_eq!(clean_absolute(Path::new("/a/b"), Path::new("../c/./d")), PathBuf::from("/a/c/d"));
    assert_eq!(clean_absolute(Path::new("/a"), Path::new("/x/../y")), PathBuf::from("/y"));
    assert_eq!(clean_absolute(Path::new("/"), Path::new("../../z")), PathBuf::from("/z"));
}

#[test]
fn load_reports_a_missing_file_with_its_path() {
    let e = Config::load(Path::new("/nonexistent/.sops.yaml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/.sops.yaml"), "{e}");
}

#[test]
fn loads_the_shamir_fixture_config_through_the_yaml_store() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops/shamir.sops.yaml");
    let cfg = Config::load(&path).unwrap();
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let rules = cfg.creation_rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].shamir_threshold, 2);
    let groups: Vec<Vec<String>> = rules[0].key_groups.iter().map(recipients).collect();
    assert_eq!(groups, [vec![A.to_owned()], vec![B.to_owned()], vec![C.to_owned()]]);
}
