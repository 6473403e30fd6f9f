//! The differential corpus in `tests/fixtures/yaml-corpus`: tricky inputs with what the real
//! sops 3.11 printed for each (`sops decrypt` of `sops encrypt`), captured by `capture.py`.
//! One test replays the captured outputs; another re-captures them with `sops` when it is on
//! PATH and fails if anything changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::format::store::yaml::{emit, parse};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yaml-corpus")
}

/// Inputs that sops accepts but this store refuses on purpose.
const STRICTER_THAN_SOPS: &[(&str, &str)] = &[(
    "err-duplicate-key-second-doc",
    "sops only checks the first document for duplicate keys; a duplicate key anywhere is refused",
)];

fn inputs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .expect("corpus directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

enum Expected {
    /// `sops decrypt` printed these bytes.
    Output(Vec<u8>),
    /// `sops encrypt` refused the input.
    EncryptFails(String),
    /// `sops encrypt` wrote a file that `sops decrypt` then refused.
    DecryptFails(String),
}

fn expected(name: &str) -> Expected {
    let dir = corpus();
    if let Ok(out) = std::fs::read(dir.join(format!("{name}.out"))) {
        return Expected::Output(out);
    }
    let err = std::fs::read_to_string(dir.join(format!("{name}.err")))
        .unwrap_or_else(|_| panic!("{name}: neither .out nor .err was captured"));
    if err.starts_with("encrypt") {
        Expected::EncryptFails(err)
    } else {
        Expected::DecryptFails(err)
    }
}

#[test]
fn corpus_output_matches_what_sops_printed() {
    let names = inputs();
    assert!(names.len() >= 60, "only {} corpus inputs", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let input = std::fs::read(corpus().join(format!("{name}.yaml"))).unwrap();
        let result = parse(&input);
        let stricter = STRICTER_THAN_SOPS.iter().any(|(n, _)| n == name);
        match (expected(name), result) {
            (Expected::Output(_), Err(e)) if stricter => {
                assert!(!e.message.is_empty());
            }
            (Expected::Output(want), Ok(docs)) => {
                let got = emit(&docs);
                if got.as_bytes() != want.as_slice() {
                    failures.push(format!(
                        "{name}: output differs\n--- sops\n{}--- ours\n{got}",
                        String::from_utf8_lossy(&want)
                    ));
                }
            }
            (Expected::Output(_), Err(e)) => {
                failures.push(format!("{name}: sops accepts it, we fail: {e}"))
            }
            (Expected::EncryptFails(_), Err(_)) => {}
            (Expected::EncryptFails(err), Ok(docs)) => failures.push(format!(
                "{name}: sops refuses it ({}), we accept it:\n{}",
                err.lines().nth(1).unwrap_or(""),
                emit(&docs)
            )),
            (Expected::DecryptFails(err), Ok(docs)) => {
                // sops wrote something it cannot read back: so must we.
                if parse(emit(&docs).as_bytes()).is_ok() {
                    failures
                        .push(format!("{name}: sops cannot re-read its output ({err}), we can"));
                }
            }
            (Expected::DecryptFails(_), Err(e)) => {
                failures.push(format!("{name}: we fail to parse: {e}"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

/// Feeding sops's output through sops again: the second pass must come out the same from us
/// (`NAME.out2` holds it when it differs from the first pass, as `-0` becomes `0`).
#[test]
fn corpus_second_pass_matches_sops() {
    let mut second_passes = 0;
    for name in inputs() {
        if STRICTER_THAN_SOPS.iter().any(|(n, _)| *n == name) {
            continue;
        }
        if let Expected::Output(out) = expected(&name) {
            let want = std::fs::read(corpus().join(format!("{name}.out2")))
                .unwrap_or_else(|_| out.clone());
            second_passes += usize::from(want != out);
            let docs =
                parse(&out).unwrap_or_else(|e| panic!("{name}: sops output does not parse: {e}"));
            assert_eq!(emit(&docs), String::from_utf8_lossy(&want), "{name}: second pass differs");
        }
    }
    assert!(second_passes >= 1, "no captured second pass differs from the first");
}

/// Runs sops on one input as `capture.py` does; `None` when sops cannot be started.
fn sops_round_trip(input: &Path) -> Option<Result<Vec<u8>, String>> {
    let home = tempfile::tempdir().ok()?;
    let keys = corpus().join("../sops/keys.txt");
    let recipient = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new("sops")
            .args(args)
            .env("HOME", home.path())
            .env("SOPS_AGE_KEY_FILE", &keys)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .output()
    };
    let enc =
        run(&["encrypt".as_ref(), "--age".as_ref(), recipient.as_ref(), input.as_os_str()]).ok()?;
    if !enc.status.success() {
        return Some(Err(format!("encrypt exit {}", enc.status.code().unwrap_or(-1))));
    }
    let encfile = home.path().join("enc.yaml");
    std::fs::write(&encfile, &enc.stdout).ok()?;
    let dec = run(&["decrypt".as_ref(), encfile.as_os_str()]).ok()?;
    if !dec.status.success() {
        return Some(Err(format!("decrypt exit {}", dec.status.code().unwrap_or(-1))));
    }
    Some(Ok(dec.stdout))
}

fn second_pass(first: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join("again.yaml");
    std::fs::write(&path, first).ok()?;
    sops_round_trip(&path)
}

#[test]
fn corpus_recaptured_with_sops_is_unchanged() {
    if Command::new("sops")
        .arg("--version")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .is_err()
    {
        eprintln!("sops is not on PATH: skipping the re-capture");
        return;
    }
    let mut changed = Vec::new();
    for name in inputs() {
        let Some(now) = sops_round_trip(&corpus().join(format!("{name}.yaml"))) else {
            panic!("{name}: could not run sops");
        };
        let same = match (&now, expected(&name)) {
            (Ok(out), Expected::Output(want)) => {
                let want2 = std::fs::read(corpus().join(format!("{name}.out2")))
                    .unwrap_or_else(|_| want.clone());
                *out == want && matches!(second_pass(out), Some(Ok(again)) if again == want2)
            }
            (Err(e), Expected::EncryptFails(want) | Expected::DecryptFails(want)) => {
                want.starts_with(e.as_str())
            }
            _ => false,
        };
        if !same {
            changed.push(name);
        }
    }
    assert!(changed.is_empty(), "sops now prints something else for: {changed:?} (run capture.py)");
}
