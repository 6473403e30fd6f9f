//! The fixture set written by the real sops 3.11, driven by its manifest: for every positive
//! fixture the data key, every leaf (AAD, type, plaintext), the MAC and the decrypted document;
//! every negative fixture refused with no output; the upstream PGP files through their
//! recovered data keys.

mod common;

use std::collections::BTreeSet;

use sealgate::format::cipher::{self, DataKey, EncValue};
use sealgate::format::engine::Warning;
use sealgate::format::file::{FileError, SopsFile};
use sealgate::format::store::{self, Format};
use sealgate::format::{Node, Scalar};
use sealgate::keys::Keyring;

fn format_of(name: &str) -> Format {
    Format::from_name(name).unwrap_or_else(|| panic!("unknown format {name} in manifest"))
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(common::fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn keyring(spec: &str) -> Keyring {
    Keyring::from_identity_text(&common::identities(spec), spec).expect("fixture identities parse")
}

/// INI output order of the `[sops]` section is random in sops; compare INI line sets.
fn same_document(format: Format, ours: &[u8], theirs: &[u8]) -> bool {
    match format {
        Format::Ini => {
            let lines = |b: &[u8]| -> BTreeSet<String> {
                String::from_utf8_lossy(b).lines().map(|l| l.trim_end().to_owned()).collect()
            };
            lines(ours) == lines(theirs)
        }
        _ => ours == theirs,
    }
}

#[test]
fn manifest_covers_every_file_in_the_fixture_folder() {
    let m = common::manifest();
    let mut named: BTreeSet<String> = BTreeSet::new();
    for f in m["fixtures"].as_array().unwrap() {
        named.insert(f["file"].as_str().unwrap().to_owned());
        if let Some(p) = f["plain"].as_str() {
            named.insert(p.to_owned());
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(common::fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".enc.") || n.contains(".plain."))
        .collect();
    let missing: Vec<_> = on_disk.difference(&named).collect();
    assert!(missing.is_empty(), "fixture files the manifest does not describe: {missing:?}");
    assert!(named.len() >= 50, "expected the full fixture set, found {}", named.len());
}

#[test]
fn positive_fixtures_decrypt_exactly_as_sops_does() {
    let m = common::manifest();
    let mut checked = 0;
    for f in m["fixtures"].as_array().unwrap() {
        if f["expect"] == "error" {
            continue;
        }
        let name = f["file"].as_str().unwrap();
        let format = format_of(f["format"].as_str().unwrap());
        let file = SopsFile::parse(format, &read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_key = f["data_key_hex"].as_str().map(|h| hex::decode(h).unwrap());

        for spec in f["decrypt_with"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()) {
            if spec == "vault" {
                continue; // the Vault transit path is tested against a real OpenBao
            }
            let (key, _report) = keyring(spec)
                .unwrap_data_key(&file.metadata)
                .unwrap_or_else(|e| panic!("{name} with {spec}: {e}"));
            if let Some(want) = &want_key {
                assert_eq!(&key.as_bytes()[..], &want[..], "{name}: data key via {spec}");
            }
        }
        let Some(want) = want_key else { continue };
        let key = DataKey::from_slice(&want).unwrap();

        // The stored MAC decrypts to the manifest's value.
        if let Some(mac_plain) = f["mac_plaintext"].as_str() {
            let stored = EncValue::parse(file.metadata.mac.as_deref().unwrap()).unwrap();
            let plain = cipher::decrypt(&key, &stored, file.metadata.mac_aad().as_bytes()).unwrap();
            assert_eq!(std::str::from_utf8(&plain).unwrap(), mac_plain, "{name}: MAC plaintext");
        }

        let opened = file.decrypt(&key, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        if f["expect"] == "ok-with-warning" {
            assert!(
                opened.warnings.iter().any(|w| matches!(w, Warning::UndecryptableComment { .. })),
                "{name}: expected a warning about a comment"
            );
        } else {
            assert!(
                opened.warnings.is_empty(),
                "{name}: unexpected warnings {:?}",
                opened.warnings
            );
        }

        // Every leaf: AAD, type and plaintext, in MAC order.
        if let Some(want_leaves) = f["leaves"].as_array() {
            let enc = common::leaves(&file.docs);
            let dec = common::leaves(&opened.docs);
            assert_eq!(enc.len(), dec.len(), "{name}: leaf count");
            assert_eq!(enc.len(), want_leaves.len(), "{name}: leaves vs manifest");
            for ((e, d), w) in enc.iter().zip(&dec).zip(want_leaves) {
                assert_eq!(e.aad, w["aad"].as_str().unwrap(), "{name}: AAD");
                let encrypted = w["encrypted"].as_bool().unwrap();
                let enc_text = e.node.as_str().filter(|s| s.starts_with("ENC["));
                assert_eq!(enc_text.is_some(), encrypted, "{name}: {} encrypted?", e.aad);
                if let (Some(text), Some(ty)) = (enc_text, w["type"].as_str()) {
                    assert_eq!(
                        EncValue::parse(text).unwrap().type_tag,
                        ty,
                        "{name}: {} type",
                        e.aad
                    );
                }
                let Node::Scalar(s) = &d.node else { panic!("{name}: leaf is a scalar") };
                let bytes = s.canonical_bytes();
                match (w["plaintext"].as_str(), w["plaintext_b64"].as_str()) {
                    (Some(p), _) => assert_eq!(bytes.as_slice(), p.as_bytes(), "{name}: {}", e.aad),
                    (None, Some(b)) => {
                        use base64::Engine as _;
                        let want = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
                        assert_eq!(bytes.as_slice(), &want[..], "{name}: {}", e.aad);
                    }
                    _ => panic!("{name}: leaf without plaintext"),
                }
            }
        }

        // The decrypted document, byte for byte as `sops decrypt` prints it.
        if let Some(plain) = f["plain"].as_str() {
            let ours = store::emit_plain(format, &opened.docs).unwrap();
            let want = read(plain);
            assert!(
                same_document(format, &ours, &want),
                "{name}: decrypted output differs from {plain}:\n--- ours\n{}\n--- sops\n{}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&want)
            );
        }
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} positive fixtures were checked");
}

#[test]
fn negative_fixtures_are_refused_with_the_reason_sops_gives() {
    let m = common::manifest();
    let mut checked = 0;
    for f in m["fixtures"].as_array().unwrap() {
        if f["expect"] != "error" {
            continue;
        }
        let name = f["file"].as_str().unwrap();
        let format = format_of(f["format"].as_str().unwrap());
        let code = f["sops_exit_code"].as_i64().unwrap();
        let parsed = SopsFile::parse(format, &read(name));
        let outcome: Result<(), String> = match parsed {
            Err(FileError::Metadata(e)) => {
                assert_eq!(code, 1, "{name}: metadata error {e}, sops exits {code}");
                checked += 1;
                continue;
            }
            Err(e) => panic!("{name}: unexpected parse error {e}"),
            Ok(file) => {
                let spec = f["decrypt_with"][0].as_str().unwrap();
                match keyring(spec).unwrap_data_key(&file.metadata) {
                    Err(_) => {
                        assert_eq!(code, 128, "{name}: key error, sops exits {code}");
                        checked += 1;
                        continue;
                    }
                    Ok((key, _)) => match file.decrypt(&key, false) {
                        Ok(_) => Ok(()),
                        Err(FileError::Tree(e)) => {
                            assert_eq!(code, 25, "{name}: value error {e}, sops exits {code}");
                            Err(e.to_string())
                        }
                        Err(FileError::Mac(e)) => {
                            assert_eq!(code, 51, "{name}: MAC error {e}, sops exits {code}");
                            Err(e.to_string())
                        }
                        Err(e) => panic!("{name}: unexpected error {e}"),
                    },
                }
            }
        };
        assert!(outcome.is_err(), "{name} must be refused");
        checked += 1;
    }
    assert_eq!(checked, 15, "every negative fixture was checked");
}

#[test]
fn removed_mac_decrypts_only_when_explicitly_ignored() {
    let file = SopsFile::parse(Format::Yaml, &read("neg-mac-removed.enc.yaml")).unwrap();
    let (key, _) = keyring("keys.txt").unwrap_data_key(&file.metadata).unwrap();
    assert!(file.decrypt(&key, false).is_err());
    let opened = file.decrypt(&key, true).unwrap();
    let want = read("basic.plain.yaml");
    assert_eq!(store::emit_plain(Format::Yaml, &opened.docs).unwrap().as_slice(), &want[..]);
}

#[test]
fn single_shamir_identity_is_not_enough() {
    let file = SopsFile::parse(Format::Yaml, &read("shamir.enc.yaml")).unwrap();
    for single in ["keys.txt", "keys-b.txt", "keys-c.txt"] {
        let err = keyring(single).unwrap_data_key(&file.metadata).unwrap_err();
        let text = err.to_string();
        assert!(text.contains('2'), "{single}: the message names the threshold: {text}");
    }
}

#[test]
fn upstream_pgp_files_decrypt_with_their_recovered_data_keys() {
    let m = common::upstream_manifest();
    let mut checked = 0;
    for f in m["files"].as_array().unwrap() {
        let name = format!("upstream/{}", f["file"].as_str().unwrap());
        let Some(key_hex) = f["data_key_hex"].as_str() else { continue };
        let format = Format::from_path(std::path::Path::new(&name));
        let format = if name.ends_with(".txt") { Format::Binary } else { format };
        let file = SopsFile::parse(format, &read(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let key = DataKey::from_slice(&hex::decode(key_hex).unwrap()).unwrap();
        let expect_ok = f["sops_3_11_0_exit_code"].as_i64() == Some(0);
        let opened = file.decrypt(&key, !expect_ok);
        let opened = opened.unwrap_or_else(|e| panic!("{name}: {e}"));
        if !expect_ok {
            assert!(
                file.decrypt(&key, false).is_err(),
                "{name}: sops refuses it without --ignore-mac"
            );
        }
        if let Some(plain) = f["plain"].as_str() {
            let ours = store::emit_plain(format, &opened.docs).unwrap();
            let want = read(&format!("upstream/{plain}"));
            assert!(
                same_document(format, &ours, &want),
                "{name}: differs from {plain}:\n--- ours\n{}\n--- sops\n{}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&want)
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} upstream files checked");
}

#[test]
fn types_fixture_keeps_every_scalar_type() {
    let file = SopsFile::parse(Format::Yaml, &read("types.enc.yaml")).unwrap();
    let (key, _) = keyring("keys.txt").unwrap_data_key(&file.metadata).unwrap();
    let opened = file.decrypt(&key, false).unwrap();
    let doc = &opened.docs[0];
    assert_eq!(doc.get("int_octal_legacy"), Some(&Node::Scalar(Scalar::Int(15))));
    assert_eq!(doc.get("bool_yes_is_string").and_then(Node::as_str), Some("yes"));
    assert!(matches!(doc.get("timestamp_plain"), Some(Node::Scalar(Scalar::Time(_)))));
    assert_eq!(doc.get("null_tilde"), Some(&Node::Scalar(Scalar::Null)));
}
