//! Interop tests: the sops fixtures (every format's metadata, Shamir, Vault), the real `age`
//! binary, and throwaway SSH keys from `ssh-keygen`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::format::metadata::Metadata;
use crate::format::scalar::Scalar;
use crate::format::tree::{Map, Node};

const RECIPIENT_A: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";
const RECIPIENT_OTHER: &str = "age126895q3kqtq5dpgjt4u905ehahv5yz37jkrrr6ny8z8ae27hce7qksttn6";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A keyring from `a+b` style key-file lists of the manifest.
fn keyring_for(spec: &str) -> Keyring {
    spec.split('+').fold(Keyring::empty(), |acc, file| {
        let path = fixtures().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        acc.merge(Keyring::from_identity_text(&text, &path.display().to_string()).unwrap())
    })
}

fn transit_fixture() -> Arc<InMemoryTransit> {
    use base64::Engine as _;
    let export: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vault/transit-key-export.json")).unwrap(),
    )
    .unwrap();
    let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(export["keys"]["1"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let uri =
        VaultTransitUri::parse("http://127.0.0.1:18200/v1/transit/keys/sops-fixture").unwrap();
    Arc::new(InMemoryTransit::new().with_key_version(&uri, raw))
}

// ---- reading the `sops` block of each fixture format (test-only; the stores are elsewhere) ----

fn json_to_node(v: &Value) -> Node {
    match v {
        Value::Null => Node::Scalar(Scalar::Null),
        Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Node::Scalar(Scalar::Int(i)),
            None => Node::Scalar(Scalar::Float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => Node::str(s.clone()),
        Value::Array(items) => Node::List(items.iter().map(json_to_node).collect()),
        Value::Object(obj) => {
            let mut m = Map::new();
            for (k, v) in obj {
                m.push(k.clone(), json_to_node(v));
            }
            Node::Map(m)
        }
    }
}

/// Sets `path` (`age__list_0__map_enc` split on `__`) in a flattened-metadata tree.
fn unflatten_into(node: &mut Node, segments: &[&str], value: String) {
    let Some((first, rest)) = segments.split_first() else {
        *node = Node::str(value);
        return;
    };
    if let Some(index) = first.strip_prefix("list_").and_then(|i| i.parse::<usize>().ok()) {
        if !matches!(node, Node::List(_)) {
            *node = Node::List(Vec::new());
        }
        let Node::List(items) = node else { unreachable!() };
        while items.len() <= index {
            items.push(Node::Scalar(Scalar::Null));
        }
        unflatten_into(&mut items[index], rest, value);
    } else {
        let key = first.strip_prefix("map_").unwrap_or(first);
        if !matches!(node, Node::Map(_)) {
            *node = Node::Map(Map::new());
        }
        let Node::Map(map) = node else { unreachable!() };
        if map.get(key).is_none() {
            map.push(key, Node::Scalar(Scalar::Null));
        }
        unflatten_into(map.get_mut(key).unwrap(), rest, value);
    }
}

fn unflatten(pairs: Vec<(String, String)>) -> Map {
    let mut root = Node::Map(Map::new());
    for (k, v) in pairs {
        let segments: Vec<&str> = k.split("__").collect();
        unflatten_into(&mut root, &segments, v.replace("\\n", "\n"));
    }
    match root {
        Node::Map(m) => m,
        _ => unreachable!(),
    }
}

struct YamlLine {
    indent: usize,
    text: String,
}

fn yaml_scalar(text: &str) -> Node {
    let t = text.trim_end();
    if let Some(inner) = t.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Node::str(inner.replace("\\\"", "\"").replace("\\n", "\n").replace("\\\\", "\\"));
    }
    if let Some(inner) = t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Node::str(inner.replace("''", "'"));
    }
    match t {
        "[]" => Node::List(Vec::new()),
        "{}" => Node::Map(Map::new()),
        "" | "null" | "~" => Node::Scalar(Scalar::Null),
        _ => Node::str(t),
    }
}

/// A block-style YAML subset parser: enough for the `sops` block go-yaml writes.
fn yaml_block(lines: &mut [YamlLine], pos: &mut usize, indent: usize) -> Node {
    if *pos < lines.len() && lines[*pos].indent == indent && lines[*pos].text.starts_with("- ") {
        let mut items = Vec::new();
        while *pos < lines.len()
            && lines[*pos].indent == indent
            && lines[*pos].text.starts_with("- ")
        {
            lines[*pos].text = lines[*pos].text[2..].to_owned();
            lines[*pos].indent = indent + 2;
            items.push(yaml_block(lines, pos, indent + 2));
        }
        return Node::List(items);
    }
    let mut map = Map::new();
    while *pos < lines.len() && lines[*pos].indent == indent && !lines[*pos].text.starts_with("- ")
    {
        let text = lines[*pos].text.clone();
        let (key, rest) = text.split_once(':').unwrap();
        let rest = rest.trim();
        *pos += 1;
        let value = if rest == "|" || rest == "|-" {
            let mut body = Vec::new();
            let mut block_indent = None;
            while *pos < lines.len() && (lines[*pos].text.is_empty() || lines[*pos].indent > indent)
            {
                let l = &lines[*pos];
                let bi = *block_indent.get_or_insert(l.indent);
                body.push(if l.text.is_empty() {
                    String::new()
                } else {
                    " ".repeat(l.indent - bi) + &l.text
                });
                *pos += 1;
            }
            let mut s = body.join("\n");
            if rest == "|" {
                s.push('\n');
            }
            Node::str(s)
        } else if rest.is_empty() {
            if *pos < lines.len() && lines[*pos].indent > indent {
                let inner = lines[*pos].indent;
                yaml_block(lines, pos, inner)
            } else {
                Node::Scalar(Scalar::Null)
            }
        } else {
            yaml_scalar(rest)
        };
        map.push(key.trim(), value);
    }
    Node::Map(map)
}

fn yaml_sops_block(text: &str) -> Map {
    let mut lines: Vec<YamlLine> = Vec::new();
    let mut inside = false;
    for raw in text.lines() {
        if !inside {
            inside = raw == "sops:";
            continue;
        }
        if raw.starts_with("---") || (!raw.is_empty() && !raw.starts_with(' ')) {
            break;
        }
        let trimmed = raw.trim_start();
        lines.push(YamlLine { indent: raw.len() - trimmed.len(), text: trimmed.to_owned() });
    }
    let first = lines.first().map(|l| l.indent).unwrap_or(0);
    match yaml_block(&mut lines, &mut 0, first) {
        Node::Map(m) => m,
        _ => panic!("sops block is not a map"),
    }
}

/// The metadata of a fixture file, read through [`Metadata::from_tree`].
fn fixture_metadata(path: &Path) -> Metadata {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let tree = if name.ends_with(".json") || name.ends_with(".bin") || name.ends_with(".txt") {
        let v: Value = serde_json::from_str(&text).unwrap();
        match json_to_node(&v["sops"]) {
            Node::Map(m) => m,
            _ => panic!("{name}: no sops object"),
        }
    } else if name.ends_with(".env") {
        unflatten(
            text.lines()
                .filter_map(|l| l.strip_prefix("sops_"))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    } else if name.ends_with(".ini") {
        unflatten(
            text.lines()
                .skip_while(|l| l.trim() != "[sops]")
                .skip(1)
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        )
    } else {
        yaml_sops_block(&text)
    };
    Metadata::from_tree(&tree).unwrap_or_else(|e| panic!("{name}: {e}"))
}

// ---- fixtures ----

#[test]
fn unwraps_every_age_fixture_to_the_manifest_data_key() {
    let mut checked = 0;
    for entry in manifest()["fixtures"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let Some(want) = entry["data_key_hex"].as_str() else { continue };
        let md = fixture_metadata(&fixtures().join(file));
        for spec in entry["decrypt_with"].as_array().unwrap() {
            let spec = spec.as_str().unwrap();
            if spec == "vault" {
                continue;
            }
            let (key, report) = keyring_for(spec)
                .unwrap_data_key(&md)
                .unwrap_or_else(|e| panic!("{file} with {spec}: {e}"));
            assert_eq!(hex::encode(key.as_bytes()), want, "{file} with {spec}");
            let used: Vec<_> = report.used().collect();
            assert!(!used.is_empty(), "{file}: report names the key used");
            for (_, key_ref, origin) in used {
                assert!(matches!(key_ref, KeyRef::Age { .. }), "{file}: {key_ref}");
                assert!(origin.unwrap().contains(".txt, line "), "{file}: {origin:?}");
            }
            checked += 1;
        }
    }
    // 16 single-recipient age fixtures, both identities of two-recipients, three Shamir pairs.
    assert!(checked >= 20, "only {checked} fixture unwraps ran");
}

#[test]
fn unwraps_every_format_including_dotenv_ini_and_binary() {
    // The runner above covers these through the manifest; this pins that each store's
    // flattened metadata really went through `Metadata::from_tree` and produced one age stanza.
    for file in ["basic.enc.env", "basic.enc.ini", "blob.enc.bin", "basic.enc.json"] {
        let md = fixture_metadata(&fixtures().join(file));
        assert_eq!(md.key_groups.len(), 1, "{file}");
        assert_eq!(md.key_groups[0].age.len(), 1, "{file}");
        assert_eq!(md.key_groups[0].age[0].recipient, RECIPIENT_A, "{file}");
        assert!(md.key_groups[0].age[0].enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
    }
}

#[test]
fn derived_fixtures_still_unwrap_their_data_key() {
    // Negative fixtures break values or the MAC, not the key stanzas.
    let basic = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    let (want, _) = keyring_for("keys.txt").unwrap_data_key(&basic).unwrap();
    for file in [
        "neg-flipped-ciphertext.enc.yaml",
        "neg-mac-removed.enc.yaml",
        "neg-lastmodified-changed.enc.yaml",
        "lenient-tampered-comment.enc.yaml",
        "compat-lastmodified-offset.enc.yaml",
    ] {
        let md = fixture_metadata(&fixtures().join(file));
        let (key, _) = keyring_for("keys.txt").unwrap_data_key(&md).unwrap();
        assert_eq!(key, want, "{file}");
    }
}

#[test]
fn wrong_key_fixture_fails_with_no_usable_key_and_succeeds_with_the_other_key() {
    let md = fixture_metadata(&fixtures().join("neg-wrong-key.enc.yaml"));
    let err = keyring_for("keys.txt").unwrap_data_key(&md).unwrap_err();
    let KeyError::NoUsableKey(failure) = &err else { panic!("expected NoUsableKey, got {err:?}") };
    let attempt = &failure.report.groups[0].attempts[0];
    assert_eq!(attempt.key, KeyRef::Age { recipient: RECIPIENT_OTHER.into() });
    assert_eq!(attempt.result, Err(KeyFailure::NoMatchingIdentity));
    let msg = err.to_string();
    assert!(msg.contains(RECIPIENT_OTHER) && msg.contains("keys.txt"), "{msg}");
    assert!(!msg.contains("AGE-SECRET-KEY"), "{msg}");
    keyring_for("keys-other.txt").unwrap_data_key(&md).unwrap();
}

#[test]
fn shamir_with_one_identity_fails_naming_the_groups() {
    let md = fixture_metadata(&fixtures().join("shamir.enc.yaml"));
    assert_eq!(md.key_groups.len(), 3);
    assert_eq!(md.shamir_threshold, 2);
    let err = keyring_for("keys-b.txt").unwrap_data_key(&md).unwrap_err();
    let KeyError::TooFewGroups(failure) = &err else { panic!("expected TooFewGroups: {err:?}") };
    let recovered: Vec<bool> = failure.report.groups.iter().map(|g| g.recovered).collect();
    assert_eq!(recovered, [false, true, false]);
    let msg = err.to_string();
    for needle in ["3 key groups", "2 of them", "only 1", "group 0: failed", "group 1: recovered"] {
        assert!(msg.contains(needle), "{needle:?} missing from:\n{msg}");
    }
    assert!(msg.contains(RECIPIENT_A), "{msg}");
}

#[test]
fn shamir_with_two_identities_recovers_and_reports_both_groups() {
    let md = fixture_metadata(&fixtures().join("shamir.enc.yaml"));
    let (key, report) = keyring_for("keys-b.txt+keys-c.txt").unwrap_data_key(&md).unwrap();
    assert_eq!(
        hex::encode(key.as_bytes()),
        "e42e58a6758bec1bc9410d6d0e1e1510c0974cd82074abb110dc1d7171242a76"
    );
    let groups: Vec<usize> = report.used().map(|(g, _, _)| g).collect();
    assert_eq!(groups, [1, 2]);
    // With all three identities, the third group is not needed (threshold 2).
    let (_, report) = keyring_for("keys-all.txt").unwrap_data_key(&md).unwrap();
    assert_eq!(report.used().count(), 2);
    assert!(report.groups[2].attempts.is_empty());
}

#[test]
fn no_identities_at_all_says_where_to_put_them() {
    let md = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    let err = Keyring::empty().unwrap_data_key(&md).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no age identities are loaded"), "{msg}");
    assert!(msg.contains("SOPS_AGE_KEY_FILE"), "{msg}");
}

#[test]
fn vault_fixture_unwraps_with_a_transit_client() {
    let md = fixture_metadata(&fixtures().join("vault.enc.yaml"));
    let keyring = Keyring::empty().with_transit(transit_fixture());
    let (key, report) = keyring.unwrap_data_key(&md).unwrap();
    assert_eq!(
        hex::encode(key.as_bytes()),
        "8bab21a649f304dea0d63aadfc22e145914bd4d0a04c9844198b3529c3ad5ea4"
    );
    let (_, used, _) = report.used().next().unwrap();
    assert_eq!(
        used,
        &KeyRef::HcVault { uri: "http://127.0.0.1:18200/v1/transit/keys/sops-fixture".into() }
    );
    let err = Keyring::empty().unwrap_data_key(&md).unwrap_err();
    assert!(err.to_string().contains("no Vault transit client is configured"), "{err}");
}

#[test]
fn age_is_tried_before_vault_unless_the_decryption_order_says_otherwise() {
    let md = fixture_metadata(&fixtures().join("vault-and-age.enc.yaml"));
    let want = "cb929dcc32649e3e0d7ddd0325c86a00810102aa8a474087e6b9798b580500b2";
    let both = keyring_for("keys.txt").with_transit(transit_fixture());
    let (key, report) = both.unwrap_data_key(&md).unwrap();
    assert_eq!(hex::encode(key.as_bytes()), want);
    assert!(matches!(report.used().next().unwrap().1, KeyRef::Age { .. }));
    let vault_first = keyring_for("keys.txt")
        .with_transit(transit_fixture())
        .with_decryption_order(&["hc_vault", "age"]);
    let (key, report) = vault_first.unwrap_data_key(&md).unwrap();
    assert_eq!(hex::encode(key.as_bytes()), want);
    assert!(matches!(report.used().next().unwrap().1, KeyRef::HcVault { .. }));
    // age alone is enough (no server needed).
    keyring_for("keys.txt").unwrap_data_key(&md).unwrap();
}

#[test]
fn a_file_with_only_pgp_keys_names_the_types_it_has() {
    let md = fixture_metadata(&fixtures().join("upstream/example.yaml"));
    let err = keyring_for("keys.txt").unwrap_data_key(&md).unwrap_err();
    let KeyError::OnlyForeignKeys { types } = &err else { panic!("{err:?}") };
    assert_eq!(types, &["pgp"]);
    assert!(err.to_string().contains("cannot use (pgp)"), "{err}");
}

#[test]
fn foreign_keys_next_to_age_keys_are_listed_when_nothing_works() {
    let mut md = fixture_metadata(&fixtures().join("neg-wrong-key.enc.yaml"));
    let pgp =
        fixture_metadata(&fixtures().join("upstream/example.yaml")).key_groups[0].foreign.clone();
    md.key_groups[0].foreign = pgp;
    let err = keyring_for("keys.txt").unwrap_data_key(&md).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"), "{msg}");
    assert!(msg.contains("sealgate cannot use pgp keys"), "{msg}");
    // …and are left untouched in the metadata either way.
    assert_eq!(md.key_groups[0].foreign[0].0, "pgp");
}

#[test]
fn a_tampered_stanza_is_reported_coarsely_and_other_keys_still_work() {
    let mut md = fixture_metadata(&fixtures().join("two-recipients.enc.yaml"));
    let good = md.key_groups[0].age[0].enc.clone();
    md.key_groups[0].age[0].enc = "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n".into();
    let err = keyring_for("keys.txt").unwrap_data_key(&md).unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
    // The second recipient still opens the file for its own identity.
    keyring_for("keys-b.txt").unwrap_data_key(&md).unwrap();
    md.key_groups[0].age[0].enc = good;
    keyring_for("keys.txt").unwrap_data_key(&md).unwrap();
}

#[test]
fn a_payload_of_the_wrong_length_is_refused() {
    let mut md = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    let r = AgeRecipient::parse(RECIPIENT_A).unwrap();
    md.key_groups[0].age[0].enc = age::wrap(&r, &[0u8; 31]).unwrap();
    let err = keyring_for("keys.txt").unwrap_data_key(&md).unwrap_err();
    assert!(err.to_string().contains("wrong length"), "{err}");
}

// ---- wrapping ----

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap()
}

fn age_spec(r: &str) -> KeySpec {
    KeySpec::Age(AgeRecipient::parse(r).unwrap())
}

fn metadata_with(groups: Vec<crate::format::metadata::KeyGroup>, threshold: usize) -> Metadata {
    let mut md = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    md.key_groups = groups;
    md.shamir_threshold = threshold;
    md
}

#[test]
fn wrap_for_one_group_then_unwrap_round_trips() {
    let key = DataKey::generate();
    let groups = [GroupSpec(vec![age_spec(RECIPIENT_A), age_spec(RECIPIENT_OTHER)])];
    let (wrapped, threshold) = wrap_data_key(&key, &groups, 0, None, now()).unwrap();
    assert_eq!(threshold, 0);
    assert_eq!(wrapped.len(), 1);
    assert_eq!(wrapped[0].age[1].recipient, RECIPIENT_OTHER);
    let md = metadata_with(wrapped, threshold);
    for keys in ["keys.txt", "keys-other.txt"] {
        assert_eq!(keyring_for(keys).unwrap_data_key(&md).unwrap().0, key, "{keys}");
    }
}

#[test]
fn one_group_keeps_a_configured_threshold_as_sops_writes_it() {
    let key = DataKey::generate();
    let (_, threshold) =
        wrap_data_key(&key, &[GroupSpec(vec![age_spec(RECIPIENT_A)])], 2, None, now()).unwrap();
    assert_eq!(threshold, 2);
}

#[test]
fn wrap_with_shamir_groups_then_unwrap_with_any_threshold_subset() {
    let key = DataKey::generate();
    let b = "age19esvgf22wysel4wf0pmfyptvc6x0vp0pdt7ylu0j73yz8m9e2eys3jpwuw";
    let c = "age1szdv2dvtwgnyr2dqpy9v39xywg7tv4s4zdqpu3ktmvpqdx7tqu3suxfu3r";
    let groups: Vec<GroupSpec> =
        [RECIPIENT_A, b, c].iter().map(|r| GroupSpec(vec![age_spec(r)])).collect();
    let (wrapped, threshold) = wrap_data_key(&key, &groups, 2, None, now()).unwrap();
    assert_eq!(threshold, 2);
    let md = metadata_with(wrapped, threshold);
    for pair in ["keys.txt+keys-b.txt", "keys.txt+keys-c.txt", "keys-b.txt+keys-c.txt"] {
        assert_eq!(keyring_for(pair).unwrap_data_key(&md).unwrap().0, key, "{pair}");
    }
    assert!(matches!(
        keyring_for("keys-c.txt").unwrap_data_key(&md),
        Err(KeyError::TooFewGroups(_))
    ));
    // Threshold 0 means all groups.
    let (wrapped, threshold) = wrap_data_key(&key, &groups, 0, None, now()).unwrap();
    assert_eq!(threshold, 3);
    let md = metadata_with(wrapped, threshold);
    assert!(keyring_for("keys.txt+keys-b.txt").unwrap_data_key(&md).is_err());
    assert_eq!(keyring_for("keys-all.txt").unwrap_data_key(&md).unwrap().0, key);
}

#[test]
fn wrap_refuses_bad_thresholds_empty_groups_and_foreign_keys() {
    let key = DataKey::generate();
    let two = [GroupSpec(vec![age_spec(RECIPIENT_A)]), GroupSpec(vec![age_spec(RECIPIENT_OTHER)])];
    for t in [1, 3] {
        let e = wrap_data_key(&key, &two, t, None, now()).unwrap_err();
        assert!(e.to_string().contains(&format!("threshold {t} is invalid for 2")), "{e}");
    }
    assert!(matches!(wrap_data_key(&key, &[], 0, None, now()), Err(KeyError::NoKeyGroups)));
    let with_empty = [GroupSpec(vec![age_spec(RECIPIENT_A)]), GroupSpec(vec![])];
    assert!(matches!(
        wrap_data_key(&key, &with_empty, 0, None, now()),
        Err(KeyError::EmptyGroup { index: 1 })
    ));
    let pgp = KeySpec::Foreign {
        key_type: "pgp".into(),
        id: "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4".into(),
    };
    let e = wrap_data_key(&key, &[GroupSpec(vec![age_spec(RECIPIENT_A), pgp])], 0, None, now())
        .unwrap_err();
    assert!(e.to_string().contains("pgp key FBC7B9E2"), "{e}");
    let vault = KeySpec::HcVault(VaultTransitUri::parse("https://v/v1/transit/keys/k").unwrap());
    let e = wrap_data_key(&key, &[GroupSpec(vec![vault])], 0, None, now()).unwrap_err();
    assert!(matches!(e, KeyError::NoTransitClient { .. }), "{e}");
}

#[test]
fn wrap_for_vault_writes_the_stanza_fields_sops_writes() {
    let key = DataKey::generate();
    let transit = transit_fixture();
    let uri =
        VaultTransitUri::parse("http://127.0.0.1:18200/v1/transit/keys/sops-fixture").unwrap();
    let groups = [GroupSpec(vec![KeySpec::HcVault(uri), age_spec(RECIPIENT_A)])];
    let (wrapped, _) =
        wrap_data_key(&key, &groups, 0, Some(transit.as_ref() as &dyn TransitClient), now())
            .unwrap();
    let v = &wrapped[0].hc_vault[0];
    assert_eq!(v.vault_address, "http://127.0.0.1:18200");
    assert_eq!(v.engine_path, "transit");
    assert_eq!(v.key_name, "sops-fixture");
    assert_eq!(v.created_at, "2026-11-22T10:00:00Z");
    assert!(v.enc.starts_with("vault:v1:"));
    let md = metadata_with(wrapped, 0);
    let keyring = Keyring::empty().with_transit(transit);
    assert_eq!(keyring.unwrap_data_key(&md).unwrap().0, key);
}

// ---- discovery ----

#[test]
fn discovers_identities_from_every_sops_source_together() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("sops/age")).unwrap();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let read = |f: &str| std::fs::read_to_string(fixtures().join(f)).unwrap();
    std::fs::write(xdg.join("sops/age/keys.txt"), read("keys-c.txt")).unwrap();
    let env = MapEnv::new()
        .with("HOME", &home)
        .with("XDG_CONFIG_HOME", &xdg)
        .with("SOPS_AGE_KEY", read("keys.txt"))
        .with("SOPS_AGE_KEY_FILE", fixtures().join("keys-b.txt"))
        .with("SOPS_AGE_KEY_CMD", format!("cat '{}'", fixtures().join("keys-other.txt").display()));
    let keyring = Keyring::discover(&env);
    assert_eq!(keyring.identity_count(), 4, "{keyring:?}");
    assert!(keyring.problems().is_empty(), "{:?}", keyring.problems());
    let origins = keyring.identity_origins().join("|");
    for o in
        ["SOPS_AGE_KEY, line", "SOPS_AGE_KEY_FILE (", "SOPS_AGE_KEY_CMD, line", "keys.txt, line"]
    {
        assert!(origins.contains(o), "{o} missing: {origins}");
    }
    let md = fixture_metadata(&fixtures().join("shamir.enc.yaml"));
    keyring.unwrap_data_key(&md).unwrap();
    let debug = format!("{keyring:?}");
    assert!(!debug.contains("AGE-SECRET-KEY"), "{debug}");
}

#[test]
fn discovery_uses_home_config_by_default_and_records_broken_sources() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::create_dir_all(home.join(".config/sops/age")).unwrap();
    std::fs::copy(fixtures().join("keys.txt"), home.join(".config/sops/age/keys.txt")).unwrap();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "not a key\n").unwrap();
    let env = MapEnv::new()
        .with("HOME", home)
        .with("SOPS_AGE_KEY_FILE", home.join("missing.txt"))
        .with("SOPS_AGE_KEY_CMD", "false");
    let keyring = Keyring::discover(&env);
    assert_eq!(keyring.identity_count(), 1);
    let problems = keyring.problems().join("\n");
    assert!(problems.contains("missing.txt"), "{problems}");
    assert!(problems.contains("SOPS_AGE_KEY_CMD (false)"), "{problems}");
    assert!(problems.contains("id_rsa"), "{problems}");
    // The problems are part of the failure report when no key works.
    let md = fixture_metadata(&fixtures().join("neg-wrong-key.enc.yaml"));
    let err = keyring.unwrap_data_key(&md).unwrap_err().to_string();
    assert!(err.contains("missing.txt") && err.contains("id_rsa"), "{err}");
}

#[test]
fn discovery_with_an_empty_environment_finds_nothing_and_reads_nothing() {
    let keyring = Keyring::discover(&MapEnv::new());
    assert_eq!(keyring.identity_count(), 0);
    assert_eq!(keyring.problems().len(), 1, "{:?}", keyring.problems());
}

// ---- the real `age` binary and ssh-keygen ----

/// The interop tests need the real binary: a missing one fails the test (`.ci/run` installs
/// them), so a skipped interop check never counts as a pass.
fn have(bin: &str) -> bool {
    let found = Command::new(bin).arg("--help").output().is_ok();
    assert!(found, "`{bin}` is not on PATH: run `bash .ci/run`, which installs it");
    found
}

/// Runs `age -d -i identity` on `enc` and returns the plaintext bytes.
fn go_age_decrypt(enc: &str, identity: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("enc.age");
    std::fs::write(&input, enc).unwrap();
    let out = Command::new("age").arg("-d").arg("-i").arg(identity).arg(&input).output().unwrap();
    assert!(out.status.success(), "age -d failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn go_age_decrypts_a_stanza_wrapped_for_the_fixture_recipient() {
    if !have("age") {
        return;
    }
    let key = DataKey::generate();
    let (wrapped, _) =
        wrap_data_key(&key, &[GroupSpec(vec![age_spec(RECIPIENT_A)])], 0, None, now()).unwrap();
    let plain = go_age_decrypt(&wrapped[0].age[0].enc, &fixtures().join("keys.txt"));
    assert_eq!(plain, key.as_bytes(), "the payload is the raw 32-byte key");
}

#[test]
fn go_age_decrypts_each_shamir_share_to_exactly_the_33_bytes_wrapped() {
    if !have("age") {
        return;
    }
    let key = DataKey::generate();
    let b = "age19esvgf22wysel4wf0pmfyptvc6x0vp0pdt7ylu0j73yz8m9e2eys3jpwuw";
    let groups = [GroupSpec(vec![age_spec(RECIPIENT_A)]), GroupSpec(vec![age_spec(b)])];
    let (wrapped, _) = wrap_data_key(&key, &groups, 2, None, now()).unwrap();
    let s0 = go_age_decrypt(&wrapped[0].age[0].enc, &fixtures().join("keys.txt"));
    let s1 = go_age_decrypt(&wrapped[1].age[0].enc, &fixtures().join("keys-b.txt"));
    assert_eq!((s0.len(), s0[32], s1.len(), s1[32]), (33, 1, 33, 2));
    assert_eq!(&*shamir::combine(&[s0, s1]).unwrap(), key.as_bytes());
}

#[test]
fn rust_unwraps_what_go_age_armored_with_the_identity_file() {
    if !have("age") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("key.bin");
    std::fs::write(&plain, [9u8; 32]).unwrap();
    let out = Command::new("age").args(["-a", "-r", RECIPIENT_A]).arg(&plain).output().unwrap();
    assert!(out.status.success());
    let mut md = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    md.key_groups[0].age[0].enc = String::from_utf8(out.stdout).unwrap();
    let (key, _) = keyring_for("keys.txt").unwrap_data_key(&md).unwrap();
    assert_eq!(key.as_bytes(), &[9u8; 32]);
}

fn ssh_keygen(dir: &Path, kind: &str) -> Option<(PathBuf, String)> {
    if !have("ssh-keygen") {
        return None;
    }
    let path = dir.join(format!("id_{kind}"));
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", "test@sealgate", "-f"]).arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    Some((path, public.trim().to_owned()))
}

#[test]
fn ssh_ed25519_and_rsa_keys_wrap_and_unwrap_in_rust_and_go_age() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["ed25519", "rsa"] {
        let Some((private, public)) = ssh_keygen(dir.path(), kind) else { return };
        let recipient = AgeRecipient::parse(&public).unwrap();
        assert_eq!(recipient.kind_name(), format!("ssh-{kind}"));
        assert_eq!(recipient.as_str(), public, "the recipient keeps its comment");
        let key = DataKey::generate();
        let (wrapped, _) =
            wrap_data_key(&key, &[GroupSpec(vec![KeySpec::Age(recipient)])], 0, None, now())
                .unwrap();
        // Rust, through discovery (~/.ssh/id_<kind> of a private HOME).
        let home = dir.path().join(format!("home-{kind}"));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::copy(&private, home.join(".ssh").join(format!("id_{kind}"))).unwrap();
        let keyring = Keyring::discover(&MapEnv::new().with("HOME", &home));
        assert_eq!(keyring.identity_count(), 1, "{:?}", keyring.problems());
        let md = metadata_with(wrapped.clone(), 0);
        let (got, report) = keyring.unwrap_data_key(&md).unwrap();
        assert_eq!(got, key, "{kind}");
        assert!(report.used().next().unwrap().2.unwrap().ends_with(&format!("id_{kind}")));
        // Go age with the same private key.
        if have("age") {
            assert_eq!(go_age_decrypt(&wrapped[0].age[0].enc, &private), key.as_bytes(), "{kind}");
        }
        // And via SOPS_AGE_SSH_PRIVATE_KEY_FILE.
        let env = MapEnv::new().with("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &private);
        assert_eq!(Keyring::discover(&env).unwrap_data_key(&md).unwrap().0, key);
    }
}

#[test]
fn passphrase_protected_ssh_keys_are_reported_not_fatal() {
    if !have("ssh-keygen") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id_ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "correct horse", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let env = MapEnv::new()
        .with("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &path)
        .with("SOPS_AGE_KEY_FILE", fixtures().join("keys.txt"));
    let keyring = Keyring::discover(&env);
    assert_eq!(keyring.identity_count(), 1);
    let problems = keyring.problems().join("\n");
    assert!(problems.contains("passphrase-protected"), "{problems}");
    assert!(!problems.contains("correct horse"));
}

// ---- the real sops accepts what we wrap ----

/// Replaces every armored age block of a sops YAML file, in order, by `encs` (same indent).
fn replace_age_blocks(yaml: &str, encs: &[String]) -> String {
    let mut out = String::new();
    let mut encs = encs.iter();
    let mut skipping = false;
    for line in yaml.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") {
            let indent = &line[..line.len() - trimmed.len()];
            for l in encs.next().expect("one enc per block").lines() {
                out.push_str(indent);
                out.push_str(l);
                out.push('\n');
            }
            skipping = true;
        } else if skipping {
            skipping = !trimmed.starts_with("-----END AGE ENCRYPTED FILE-----");
        } else {
            out.push_str(line);
        }
    }
    assert!(encs.next().is_none(), "more encs than blocks");
    out
}

/// Runs the real `sops decrypt` on `file` with the given key files; returns (exit code, stdout).
fn sops_decrypt(file: &Path, key_files: &[&str]) -> (i32, Vec<u8>, String) {
    let home = tempfile::tempdir().unwrap();
    let keys = home.path().join("keys.txt");
    let text: String =
        key_files.iter().map(|f| std::fs::read_to_string(fixtures().join(f)).unwrap()).collect();
    std::fs::write(&keys, text).unwrap();
    let out = Command::new("sops")
        .arg("decrypt")
        .arg(file)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("SOPS_AGE_KEY_FILE", &keys)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn real_sops_decrypts_a_fixture_whose_shamir_shares_we_wrapped() {
    if !have("sops") {
        return;
    }
    // Same data key as the fixture, freshly split and wrapped by us: if sops accepts our
    // shares, the file decrypts to the fixture's plaintext, MAC included.
    let original = std::fs::read_to_string(fixtures().join("shamir.enc.yaml")).unwrap();
    let md = fixture_metadata(&fixtures().join("shamir.enc.yaml"));
    let (key, _) = keyring_for("keys-all.txt").unwrap_data_key(&md).unwrap();
    let b = "age19esvgf22wysel4wf0pmfyptvc6x0vp0pdt7ylu0j73yz8m9e2eys3jpwuw";
    let c = "age1szdv2dvtwgnyr2dqpy9v39xywg7tv4s4zdqpu3ktmvpqdx7tqu3suxfu3r";
    let groups: Vec<GroupSpec> =
        [RECIPIENT_A, b, c].iter().map(|r| GroupSpec(vec![age_spec(r)])).collect();
    let (wrapped, threshold) = wrap_data_key(&key, &groups, 2, None, now()).unwrap();
    assert_eq!(threshold, 2);
    let encs: Vec<String> = wrapped.iter().map(|g| g.age[0].enc.clone()).collect();
    let rewritten = replace_age_blocks(&original, &encs);
    assert_ne!(rewritten, original);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shamir.enc.yaml");
    std::fs::write(&file, &rewritten).unwrap();
    let plain = std::fs::read(fixtures().join("shamir.plain.yaml")).unwrap();
    for pair in
        [["keys.txt", "keys-b.txt"], ["keys.txt", "keys-c.txt"], ["keys-b.txt", "keys-c.txt"]]
    {
        let (code, stdout, stderr) = sops_decrypt(&file, &pair);
        assert_eq!(code, 0, "{pair:?}: {stderr}");
        assert_eq!(stdout, plain, "{pair:?}");
    }
    let (code, _, stderr) = sops_decrypt(&file, &["keys-c.txt"]);
    assert_eq!(code, 128, "one group is not enough: {stderr}");
}

#[test]
fn real_sops_decrypts_a_fixture_whose_age_stanza_we_wrapped() {
    if !have("sops") {
        return;
    }
    let original = std::fs::read_to_string(fixtures().join("basic.enc.yaml")).unwrap();
    let md = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    let (key, _) = keyring_for("keys.txt").unwrap_data_key(&md).unwrap();
    let (wrapped, _) =
        wrap_data_key(&key, &[GroupSpec(vec![age_spec(RECIPIENT_A)])], 0, None, now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("basic.enc.yaml");
    std::fs::write(&file, replace_age_blocks(&original, &[wrapped[0].age[0].enc.clone()])).unwrap();
    let (code, stdout, stderr) = sops_decrypt(&file, &["keys.txt"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, std::fs::read(fixtures().join("basic.plain.yaml")).unwrap());
}

#[test]
fn armor_strictness_matches_go_age() {
    // sops-format.md §6.2: a missing final newline is accepted, 76-column lines are not.
    let md = fixture_metadata(&fixtures().join("basic.enc.yaml"));
    let enc = md.key_groups[0].age[0].enc.clone();
    let mut trimmed = md.clone();
    trimmed.key_groups[0].age[0].enc = enc.trim_end().to_owned();
    keyring_for("keys.txt").unwrap_data_key(&trimmed).unwrap();
    let body: String = enc.lines().filter(|l| !l.starts_with("-----")).collect();
    let rewrapped: Vec<&str> =
        body.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let mut wide = md.clone();
    wide.key_groups[0].age[0].enc = format!(
        "-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n",
        rewrapped.join("\n")
    );
    let err = keyring_for("keys.txt").unwrap_data_key(&wide).unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
}
