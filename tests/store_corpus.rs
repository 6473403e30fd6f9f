//! The store corpus (`tests/fixtures/store-corpus`): tricky inputs that were fed to the real
//! sops 3.11, and everything it wrote for them (encrypted file, `sops decrypt` output,
//! conversions with `--output-type`, `--extract` output, or the failure).
//!
//! The stores must reproduce every output without sops. One test re-runs the whole capture
//! when `sops` is on PATH and fails on any difference from the committed expectations;
//! with `SEALGATE_WRITE_STORE_CORPUS=1` it rewrites them instead.

mod store_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sealgate::format::metadata::Metadata;
use sealgate::format::store::{self, Format, StoreError};
use sealgate::format::{Map, Node};
use serde_json::Value;
use store_support::{assert_same_encrypted, fixtures, read};

fn corpus() -> PathBuf {
    fixtures().join("store-corpus")
}

fn expected_dir() -> PathBuf {
    corpus().join("expected")
}

struct Case {
    input: String,
    config: String,
    convert: Vec<String>,
    extract: Vec<(String, Option<String>)>,
}

impl Case {
    fn stem(&self) -> &str {
        self.input.rsplit_once('.').map_or(&self.input, |(s, _)| s)
    }

    fn ext(&self) -> &str {
        self.input.rsplit_once('.').map_or("", |(_, e)| e)
    }

    fn format(&self) -> Format {
        Format::from_path(Path::new(&self.input))
    }

    fn input_bytes(&self) -> Vec<u8> {
        read(&corpus().join("inputs").join(&self.input))
    }

    fn enc_name(&self) -> String {
        format!("{}.enc.{}", self.stem(), self.ext())
    }
}

fn cases() -> Vec<Case> {
    let spec: Value = serde_json::from_slice(&read(&corpus().join("cases.json"))).unwrap();
    spec["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            input: c["input"].as_str().unwrap().to_owned(),
            config: c["config"].as_str().unwrap_or("default.sops.yaml").to_owned(),
            convert: c["convert"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default(),
            extract: c["extract"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| {
                            (
                                e["path"].as_str().unwrap().to_owned(),
                                e["type"].as_str().map(str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// What one sops call gave: its stdout, or a failure (`exit N` and the first stderr line).
fn expected(name: &str) -> Option<Result<Vec<u8>, String>> {
    let dir = expected_dir();
    if let Ok(out) = std::fs::read(dir.join(format!("{name}.out"))) {
        return Some(Ok(out));
    }
    std::fs::read_to_string(dir.join(format!("{name}.err"))).ok().map(Err)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `["a"]["b"][0]` as sops's `--extract` reads it (keys in double quotes, plain indexes).
fn navigate<'a>(doc: &'a Map, path: &str) -> Option<&'a Node> {
    let mut node: Option<&Node> = None;
    let mut rest = path;
    while let Some(seg) = rest.strip_prefix('[') {
        let end = seg.find(']')?;
        let (inner, after) = (&seg[..end], &seg[end + 1..]);
        let next = match inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(key) => match node {
                None => doc.get(key),
                Some(Node::Map(m)) => m.get(key),
                _ => None,
            },
            None => match node {
                Some(Node::List(items)) => items.get(inner.parse::<usize>().ok()?),
                _ => None,
            },
        };
        node = Some(next?);
        rest = after;
    }
    node
}

fn uses_yaml(case: &Case, output: Option<&str>) -> bool {
    case.format() == Format::Yaml || output == Some("yaml")
}

#[test]
fn corpus_has_expectations_for_every_case() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for case in &cases {
        let enc = expected_dir().join(case.enc_name());
        let failed = expected_dir().join(format!("{}.encrypt.err", case.input));
        assert!(enc.exists() || failed.exists(), "{}: run the capture", case.input);
    }
}

fn check_round_trips(yaml: bool) -> usize {
    let mut checked = 0;
    for case in cases() {
        if uses_yaml(&case, None) != yaml {
            continue;
        }
        let path = expected_dir().join(case.enc_name());
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let format = case.format();
        let (docs, md) = store::parse_encrypted(format, &bytes).unwrap();
        let out = store::emit_encrypted(format, &docs, &md).unwrap();
        assert_same_encrypted(format, &out, &bytes, &case.input);
        let tree = Metadata::from_tree(&md).unwrap().to_tree();
        let out = store::emit_encrypted(format, &docs, &tree).unwrap();
        assert_same_encrypted(format, &out, &bytes, &format!("{} via Metadata", case.input));
        checked += 1;
    }
    checked
}

fn check_plain(yaml: bool) -> usize {
    let mut checked = 0;
    for case in cases() {
        if uses_yaml(&case, None) != yaml {
            continue;
        }
        checked += 1;
        let format = case.format();
        let input = case.input_bytes();
        match expected(&format!("{}.encrypt", case.input)) {
            Some(Err(err)) if err.starts_with("exit 203") => {
                assert!(store::has_metadata(format, &input), "{}: sops saw metadata", case.input);
                continue;
            }
            Some(Err(err)) => {
                assert!(
                    err.starts_with("exit 2\n"),
                    "{}: unexpected sops failure {err}",
                    case.input
                );
                assert!(
                    matches!(store::parse_plain(format, &input), Err(StoreError::Syntax { .. })),
                    "{}: sops refused the input, so must we",
                    case.input
                );
                continue;
            }
            _ => {}
        }
        assert!(!store::has_metadata(format, &input), "{}", case.input);
        let docs = store::parse_plain(format, &input).unwrap();
        let plain = read(&expected_dir().join(format!("{}.plain.{}", case.stem(), case.ext())));
        let out = store::emit_plain(format, &docs).unwrap();
        assert_eq!(text(&out), text(&plain), "{}: decrypted output", case.input);
        assert_eq!(&out[..], &plain[..], "{}", case.input);
        // What sops prints reads back to the same output.
        let again =
            store::emit_plain(format, &store::parse_plain(format, &plain).unwrap()).unwrap();
        assert_eq!(text(&again), text(&plain), "{}: plain output is not stable", case.input);
    }
    checked
}

#[test]
fn encrypted_corpus_files_round_trip() {
    assert!(check_round_trips(false) >= 15);
}

#[test]
fn inputs_parse_and_emit_as_sops_decrypt_prints_them() {
    assert!(check_plain(false) >= 20);
}

/// Compares every non-YAML output of `case` (conversions to `docs`'s other formats and
/// extracts) with what sops printed.
fn check_outputs(case: &Case, docs: &[Map], yaml: bool) -> usize {
    let mut checked = 0;
    for target in &case.convert {
        if uses_yaml(case, Some(target)) != yaml {
            continue;
        }
        let to = Format::from_name(target).unwrap();
        let name = format!("{}.to-{target}", case.input);
        let got = store::emit_plain(to, docs);
        match expected(&name).unwrap_or_else(|| panic!("{name}: no expectation")) {
            Ok(want) => assert_eq!(text(&got.unwrap()), text(&want), "{name}"),
            Err(why) => assert!(got.is_err(), "{name}: sops failed ({why}), we wrote output"),
        }
        checked += 1;
    }
    for (i, (path, ty)) in case.extract.iter().enumerate() {
        if uses_yaml(case, ty.as_deref()) != yaml {
            continue;
        }
        let to = ty.as_deref().map_or(case.format(), |t| Format::from_name(t).unwrap());
        let name = format!("{}.extract-{i}", case.input);
        let node = navigate(&docs[0], path).unwrap_or_else(|| panic!("{name}: {path} not found"));
        let got = store::emit_value(to, node);
        match expected(&name).unwrap_or_else(|| panic!("{name}: no expectation")) {
            Ok(want) => assert_eq!(text(&got.unwrap()), text(&want), "{name} ({path})"),
            Err(why) => assert!(got.is_err(), "{name}: sops failed ({why}), we wrote output"),
        }
        checked += 1;
    }
    checked
}

fn check_conversions_and_extracts(yaml: bool) -> usize {
    let mut checked = 0;
    for case in cases() {
        if let Ok(docs) = store::parse_plain(case.format(), &case.input_bytes()) {
            checked += check_outputs(&case, &docs, yaml);
        }
    }
    checked
}

#[test]
fn conversions_and_extracts_match_sops() {
    assert!(check_conversions_and_extracts(false) >= 35);
}

#[test]
#[ignore = "needs the YAML store, which is stubbed on this branch: run with --ignored once merged"]
fn yaml_cases_match_sops() {
    assert!(check_round_trips(true) >= 4);
    assert!(check_plain(true) >= 4);
    assert!(check_conversions_and_extracts(true) >= 20);
}

/// The YAML inputs as the YAML store must parse them (typed scalars, comments as items), built
/// by hand so that the JSON, dotenv and INI emitters are checked against sops's conversions of
/// YAML values (ints, times, `!!binary`, comments) without the YAML parser.
fn yaml_inputs_by_hand() -> Vec<(&'static str, Vec<Map>)> {
    use sealgate::format::{Comment, Item, Scalar, Timestamp};
    let int = |i| Node::Scalar(Scalar::Int(i));
    let float = |f| Node::Scalar(Scalar::Float(f));
    let time = |t| Node::Scalar(Scalar::Time(Timestamp::parse_rfc3339(t).unwrap()));
    let comment = |c: &str| Item::Comment(Comment::new(c));
    let map = |items: Vec<Item>| Map(items);
    let entry = |k: &str, v| Item::Entry(k.to_owned(), v);

    let types = map(vec![
        comment(" head comment"),
        entry("i", int(42)),
        entry("neg", int(-7)),
        entry("big", int(i64::MAX)),
        entry("f", float(1.0)),
        entry("f2", float(1.5)),
        entry("f3", float(1e-7)),
        entry("f4", float(1e21)),
        entry("f6", float(-0.0)),
        entry("t", Node::Scalar(Scalar::Bool(true))),
        entry("n", Node::Scalar(Scalar::Null)),
        entry("e", Node::str("")),
        entry("ts", time("2024-01-02T03:04:05.120Z")),
        entry("d", time("2024-01-02T00:00:00Z")),
        entry("ts2", time("2024-01-02T03:04:05+02:00")),
        entry("bin", Node::Scalar(Scalar::bytes(vec![0xff]))),
        entry("nl", Node::str("a\nb")),
        comment(" comment before x"),
        entry("x", Node::str("<&>")),
    ]);
    let sections = map(vec![
        entry(
            "sec",
            Node::Map(map(vec![
                comment(" c1"),
                entry("i", int(42)),
                entry("f", float(1.0)),
                entry("f2", float(1e-7)),
                entry("t", Node::Scalar(Scalar::Bool(true))),
                entry("n", Node::Scalar(Scalar::Null)),
                entry("ts", time("2024-01-02T03:04:05.120Z")),
                entry(
                    "nested",
                    Node::Map(map(vec![entry("a", int(1)), entry("b", Node::str("x"))])),
                ),
                entry(
                    "list",
                    Node::List(vec![
                        int(1),
                        Node::str("two"),
                        Node::Scalar(Scalar::Bool(true)),
                        Node::Scalar(Scalar::Null),
                    ]),
                ),
                entry("empty_map", Node::Map(Map::new())),
                comment(" c2"),
                comment(" c3"),
                entry("last", Node::str("y")),
            ])),
        ),
        entry("other", Node::Map(map(vec![entry("k", Node::str("v"))]))),
    ]);
    let doc = |k: &str, v| map(vec![entry(k, Node::Map(map(vec![entry("k", int(v))])))]);
    let floats = map(vec![entry("inf", float(f64::INFINITY)), entry("nan", float(f64::NAN))]);
    vec![
        ("types.yaml", vec![types]),
        ("sections.yaml", vec![sections]),
        ("multidoc.yaml", vec![doc("a", 1), doc("b", 2)]),
        ("special-floats.yaml", vec![floats]),
    ]
}

#[test]
fn yaml_shaped_trees_convert_like_sops() {
    let cases = cases();
    let mut checked = 0;
    for (input, docs) in yaml_inputs_by_hand() {
        let case = cases.iter().find(|c| c.input == input).unwrap();
        // Everything except outputs *to* YAML, which need the YAML emitter.
        for target in &case.convert {
            let to = Format::from_name(target).unwrap();
            let name = format!("{}.to-{target}", case.input);
            let got = store::emit_plain(to, &docs);
            match expected(&name).unwrap_or_else(|| panic!("{name}: no expectation")) {
                Ok(want) => assert_eq!(text(&got.unwrap()), text(&want), "{name}"),
                Err(why) => assert!(got.is_err(), "{name}: sops failed ({why}), we wrote output"),
            }
            checked += 1;
        }
        for (i, (path, ty)) in case.extract.iter().enumerate() {
            let Some(to) = ty.as_deref().and_then(Format::from_name) else { continue };
            let name = format!("{}.extract-{i}", case.input);
            let got = store::emit_value(to, navigate(&docs[0], path).unwrap());
            match expected(&name).unwrap() {
                Ok(want) => assert_eq!(text(&got.unwrap()), text(&want), "{name}"),
                Err(why) => assert!(got.is_err(), "{name}: sops failed ({why}), we wrote output"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

// ---------------------------------------------------------------------------------------------
// Capturing with the real sops.

fn sops_available() -> bool {
    Command::new("sops")
        .arg("--version")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs sops with a private HOME, the public test identities and no other environment.
fn sops(home: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("sops")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SOPS_AGE_KEY_FILE", fixtures().join("sops/keys-all.txt"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .current_dir(home)
        .output()
        .expect("sops runs");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        Err(format!("exit {}\n{first}\n", out.status.code().unwrap_or(-1)))
    }
}

/// Every output sops gives for every case, by expectation file name.
fn capture(work: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let record =
        |files: &mut BTreeMap<String, Vec<u8>>, name: String, result: Result<Vec<u8>, String>| {
            match result {
                Ok(out) => files.insert(format!("{name}.out"), out),
                Err(err) => files.insert(format!("{name}.err"), err.into_bytes()),
            };
        };
    for case in cases() {
        let input = corpus().join("inputs").join(&case.input);
        let config = corpus().join(&case.config);
        let args = ["--config", config.to_str().unwrap(), "encrypt", input.to_str().unwrap()];
        let encrypted = match sops(work, &args) {
            Ok(enc) => enc,
            Err(err) => {
                record(&mut files, format!("{}.encrypt", case.input), Err(err));
                continue;
            }
        };
        let enc_path = work.join(case.enc_name());
        std::fs::write(&enc_path, &encrypted).unwrap();
        let enc = enc_path.to_str().unwrap();
        // The encrypted and decrypted files keep their own names (with the format extension).
        files.insert(case.enc_name(), encrypted.clone());
        let plain = sops(work, &["decrypt", enc]).expect("sops decrypts what it encrypted");
        files.insert(format!("{}.plain.{}", case.stem(), case.ext()), plain);
        for target in &case.convert {
            record(
                &mut files,
                format!("{}.to-{target}", case.input),
                sops(work, &["decrypt", "--output-type", target, enc]),
            );
        }
        for (i, (path, ty)) in case.extract.iter().enumerate() {
            let mut args = vec!["decrypt", "--extract", path.as_str()];
            if let Some(t) = ty {
                args.extend(["--output-type", t.as_str()]);
            }
            args.push(enc);
            record(&mut files, format!("{}.extract-{i}", case.input), sops(work, &args));
        }
    }
    files
}

/// Encrypted files differ on every run (data key, IVs, time); keep their shape only.
fn normalize_encrypted(format: Format, bytes: &[u8]) -> String {
    let enc =
        regex::Regex::new(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:(\w+)\]").unwrap();
    let age = regex::Regex::new(
        r"-----BEGIN AGE ENCRYPTED FILE-----[A-Za-z0-9+/=\\n\n ]*-----END AGE ENCRYPTED FILE-----",
    )
    .unwrap();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let s = text(bytes);
    let s = enc.replace_all(&s, "ENC[$1]");
    let s = age.replace_all(&s, "AGE");
    let s = time.replace_all(&s, "TIME").into_owned();
    if format == Format::Ini {
        let (data, mut md) = store_support::split_ini_sops(s.as_bytes());
        md.sort();
        format!("{data}[sops]\n{}", md.join("\n"))
    } else {
        s
    }
}

#[test]
fn recapture_with_sops_matches_the_corpus() {
    if !sops_available() {
        eprintln!("sops is not on PATH: skipping the re-capture");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let fresh = capture(work.path());
    let dir = expected_dir();
    if std::env::var_os("SEALGATE_WRITE_STORE_CORPUS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &fresh {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        return;
    }
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let fresh_names: Vec<String> = fresh.keys().cloned().collect();
    assert_eq!(fresh_names, committed, "sops now produces a different set of outputs");
    for (name, bytes) in &fresh {
        let old = read(&dir.join(name));
        if name.contains(".enc.") {
            let format = Format::from_path(Path::new(name));
            assert_eq!(
                normalize_encrypted(format, bytes),
                normalize_encrypted(format, &old),
                "{name}"
            );
        } else {
            assert_eq!(text(bytes), text(&old), "{name}: sops output changed");
            assert_eq!(bytes, &old, "{name}");
        }
    }
}
