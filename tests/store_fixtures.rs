//! The JSON, dotenv, INI and binary stores against the files the real sops wrote
//! (`tests/fixtures/sops`, `tests/fixtures/sops/upstream`): every file round-trips, sops's own
//! plaintext inputs re-emit as `sops decrypt` printed them, and the leaves come out in the
//! order and with the values `manifest.json` records.

mod store_support;

use base64::Engine;
use sealgate::format::metadata::Metadata;
use sealgate::format::store::{self, Format};
use serde_json::Value;
use store_support::{assert_same_encrypted, enc_type, fixtures, leaves, read};

fn non_yaml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(fixtures().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            let ext = p.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            matches!(ext.as_str(), "json" | "env" | "ini" | "bin" | "txt")
                && !name.starts_with("manifest")
                && !name.starts_with("fixture-targets")
                && !name.starts_with("LICENSE")
                && !name.starts_with("keys")
        })
        .collect();
    files.sort();
    files
}

fn is_encrypted(bytes: &[u8], format: Format) -> bool {
    store::parse_encrypted(format, bytes).is_ok()
}

/// Files whose layout sops 3.11 would write again. Not: the upstream 3.5-era examples (no
/// final newline, old-style null key lists) and `format-2.enc.ini` (3.13.0's multi-line
/// `"""` metadata values); only their parse is checked.
fn written_by_current_sops(path: &std::path::Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    let old_example = name.starts_with("example.") && !name.contains("plain");
    let old = ["secret.enc.json", "format-2.enc.ini"].contains(&name.as_ref());
    !old_example && !old
}

#[test]
fn every_fixture_round_trips_exactly() {
    let mut checked = 0;
    for dir in ["sops", "sops/upstream"] {
        for path in non_yaml_files(dir) {
            let format = Format::from_path(&path);
            let bytes = read(&path);
            let what = path.display().to_string();
            if is_encrypted(&bytes, format) {
                let (docs, md) = store::parse_encrypted(format, &bytes).unwrap();
                if written_by_current_sops(&path) {
                    let out = store::emit_encrypted(format, &docs, &md).unwrap();
                    assert_same_encrypted(format, &out, &bytes, &what);
                }
            } else {
                assert!(!store::has_metadata(format, &bytes) || format == Format::Binary, "{what}");
                let docs = store::parse_plain(format, &bytes).unwrap();
                let out = store::emit_plain(format, &docs).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&bytes),
                    "{what}"
                );
                assert_eq!(&out[..], &bytes[..], "{what}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "found only {checked} fixtures");
}

#[test]
fn encrypted_fixtures_round_trip_through_the_metadata_model() {
    // parse → Metadata::from_tree → to_tree → emit must give sops's bytes back: the stores
    // and the metadata model agree on field order, omission and the JSON `null` key lists.
    let mut checked = 0;
    for dir in ["sops", "sops/upstream"] {
        for path in non_yaml_files(dir) {
            let format = Format::from_path(&path);
            let bytes = read(&path);
            if !written_by_current_sops(&path) || !is_encrypted(&bytes, format) {
                continue;
            }
            let (docs, md) = store::parse_encrypted(format, &bytes).unwrap();
            let tree = Metadata::from_tree(&md).unwrap().to_tree();
            let out = store::emit_encrypted(format, &docs, &tree).unwrap();
            assert_same_encrypted(format, &out, &bytes, &path.display().to_string());
            checked += 1;
        }
    }
    assert!(checked >= 8, "found only {checked} encrypted fixtures");
}

#[test]
fn old_upstream_files_parse_with_their_metadata() {
    for name in
        ["example.json", "example.ini", "example.txt", "secret.enc.json", "format-2.enc.ini"]
    {
        let path = fixtures().join("sops/upstream").join(name);
        let format = Format::from_path(&path);
        let (docs, md) = store::parse_encrypted(format, &read(&path)).unwrap();
        assert!(Metadata::from_tree(&md).is_ok(), "{name}");
        assert!(docs[0].get("sops").is_none(), "{name}");
        // The PGP `enc` (written `\n`-escaped, or as a 3.13 `"""` block) is armored text again.
        let md = Metadata::from_tree(&md).unwrap();
        let (_, pgp) = &md.key_groups[0].foreign.iter().find(|(k, _)| k == "pgp").unwrap();
        let enc = match pgp {
            sealgate::format::Node::List(items) => items[0].as_map().unwrap().get("enc").unwrap(),
            other => panic!("{name}: pgp is {other:?}"),
        };
        let enc = enc.as_str().unwrap();
        assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n\n"), "{name}");
        assert!(enc.trim_end().ends_with("-----END PGP MESSAGE-----"), "{name}");
    }
}

#[test]
fn sops_inputs_re_emit_as_sops_decrypt_prints_them() {
    for (input, plain) in [
        ("inputs/basic.json", "basic.plain.json"),
        ("inputs/basic.env", "basic.plain.env"),
        ("inputs/basic.ini", "basic.plain.ini"),
        ("inputs/blob.bin", "blob.plain.bin"),
    ] {
        let input = fixtures().join("sops").join(input);
        let format = Format::from_path(&input);
        let docs = store::parse_plain(format, &read(&input)).unwrap();
        let out = store::emit_plain(format, &docs).unwrap();
        let want = read(&fixtures().join("sops").join(plain));
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&want), "{plain}");
        assert_eq!(&out[..], &want[..], "{plain}");
    }
}

fn manifest_plaintext(leaf: &Value) -> Vec<u8> {
    if let Some(p) = leaf["plaintext"].as_str() {
        return p.as_bytes().to_vec();
    }
    let b64 = leaf["plaintext_b64"].as_str().expect("plaintext or plaintext_b64");
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

#[test]
fn leaves_match_the_manifest_in_order() {
    let dir = fixtures().join("sops");
    let manifest: Value = serde_json::from_slice(&read(&dir.join("manifest.json"))).unwrap();
    let mut checked = 0;
    for entry in manifest["fixtures"].as_array().unwrap() {
        let format = entry["format"].as_str().unwrap();
        if format == "yaml" || entry["expect"] != "ok" {
            continue;
        }
        let format = Format::from_name(format).unwrap();
        let want = entry["leaves"].as_array().unwrap();
        let what = entry["file"].as_str().unwrap();

        // The plaintext input: same AADs, same canonical bytes, same types where encrypted.
        let input =
            store::parse_plain(format, &read(&dir.join(entry["input"].as_str().unwrap()))).unwrap();
        let got = leaves(&input);
        assert_eq!(got.len(), want.len(), "{what}: number of leaves");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.aad, w["aad"].as_str().unwrap(), "{what}");
            assert_eq!(
                &*g.scalar.canonical_bytes(),
                &manifest_plaintext(w)[..],
                "{what} {}",
                g.aad
            );
            if let Some(ty) = w["type"].as_str() {
                assert_eq!(g.scalar.value_type().unwrap().as_str(), ty, "{what} {}", g.aad);
            }
        }

        // The encrypted file: same AADs in order, ENC types as recorded, clear values as is.
        let (docs, _) = store::parse_encrypted(format, &read(&dir.join(what))).unwrap();
        let got = leaves(&docs);
        assert_eq!(got.len(), want.len(), "{what}: number of encrypted leaves");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.aad, w["aad"].as_str().unwrap(), "{what}");
            if w["encrypted"] == true {
                assert_eq!(enc_type(&g.scalar).as_deref(), w["type"].as_str(), "{what} {}", g.aad);
            } else {
                assert_eq!(&*g.scalar.canonical_bytes(), &manifest_plaintext(w)[..], "{what}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "json, dotenv, ini and binary entries");
}
