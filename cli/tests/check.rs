//! `sealgate check`: every finding reported at its place from the fixtures in
//! `cli/tests/fixtures/check/findings/`, no finding on real sealed and sops-encrypted files
//! (`clean/`), credentials redacted and allowed, the fix command of an unsorted
//! `EncryptedSecret` working, and this repository itself clean.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/check");

/// Exit code of `check` when it found something.
const FINDINGS: i32 = 67;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A sandbox holding a copy of `fixtures/check/NAME` as its work dir (no allow-list there).
fn sandbox_with(name: &str) -> Sandbox {
    let sb = Sandbox::new();
    copy_dir(&Path::new(FIXTURES).join(name), &sb.work);
    sb
}

fn json_findings(out: &Out) -> Vec<serde_json::Value> {
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("a JSON array")
}

#[test]
fn every_finding_fixture_is_reported_at_its_place() {
    let sb = sandbox_with("findings");
    let out = sb.sealgate(&["check", "--format", "json"]).fails(FINDINGS);
    let got: BTreeSet<(String, u64, u64, String)> = json_findings(&out)
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, u64, u64, String)> = [
        ("clear-value.enc.yaml", 4, 5, "clear-value"),
        ("plaintext-secret.json", 5, 3, "plaintext-secret"),
        ("plaintext-secret.yaml", 15, 1, "plaintext-secret"),
        ("rule/secrets/db.yaml", 1, 1, "unencrypted-file"),
        ("unsorted.sealed.yaml", 9, 5, "unsorted-encrypted-secret"),
    ]
    .into_iter()
    .map(|(p, l, c, r)| (p.to_owned(), l, c, r.to_owned()))
    .collect();
    assert_eq!(got, want, "stdout:\n{}", out.stdout_text());
    assert!(out.stderr.contains("5 findings in 5 files"), "{}", out.stderr);
    for f in json_findings(&out) {
        let fp = f["fingerprint"].as_str().unwrap();
        assert!(fp.ends_with(&format!(":{}:{}", f["rule"].as_str().unwrap(), f["line"])), "{fp}");
    }
}

#[test]
fn text_output_names_the_place_the_problem_and_the_fix() {
    let sb = sandbox_with("findings");
    let out = sb.sealgate(&["check", "plaintext-secret.yaml", "rule"]).fails(FINDINGS);
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(
            "plaintext-secret.yaml:15:1: plaintext Kubernetes Secret payments/db-creds: \
             `stringData` holds 1 value in clear; seal it with `sealgate seal \
             plaintext-secret.yaml --output plaintext-secret.sealed.yaml`"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("[plaintext-secret]"));
    assert!(lines[1].starts_with("rule/secrets/db.yaml:1:1: not encrypted, but creation rule 1 of rule/.sops.yaml (path_regex: secrets/.*\\.yaml$)"), "{}", lines[1]);
    assert!(lines[1].contains("`sealgate encrypt -i rule/secrets/db.yaml`"));
    // The values themselves are never printed.
    assert!(!text.contains("payments\n") && !text.contains("user: app"));
    let out = sb.sealgate(&["check", "clear-value.enc.yaml"]).fails(FINDINGS);
    assert!(!out.stdout_text().contains("hand-edited-in-clear"));
    assert!(out.stdout_text().contains(r#"the value at ["service"]["name"] is in clear text"#));
}

#[test]
fn sealed_and_sops_encrypted_files_are_clean() {
    let sb = sandbox_with("clean");
    let out = sb.sealgate(&["check"]).ok();
    assert_eq!(out.stdout_text(), "");
    let out = sb.sealgate(&["check", "--format", "json", "."]).ok();
    assert_eq!(out.stdout_text(), "[]\n");
    // The walk does look at the copied tree: a plaintext Secret added to it is found.
    sb.write("keys-example/secret.yaml", read(Path::new(ROOT).join("keys-example/secret.yaml")));
    let out = sb.sealgate(&["check", "--format", "json"]).fails(FINDINGS);
    assert_eq!(json_findings(&out).len(), 2, "{}", out.stdout_text());
}

#[test]
fn unsorted_encrypted_secret_fix_command_works() {
    let mut sb = sandbox_with("findings");
    sb.key_file = Some(Path::new(ROOT).join("keys-example/age-identity.txt"));
    sb.write(".sops.yaml", read(Path::new(ROOT).join("keys-example/.sops.yaml")));
    let out = sb.sealgate(&["check", "unsorted.sealed.yaml"]).fails(FINDINGS);
    let fix = "`sealgate unseal unsorted.sealed.yaml | sealgate seal --scope strict --output \
               unsorted.sealed.yaml -`";
    assert!(out.stdout_text().contains(fix), "{}", out.stdout_text());
    // The command, run in two steps here (no shell).
    let manifest = sb.sealgate(&["unseal", "unsorted.sealed.yaml"]).ok().stdout;
    sb.sealgate(&["seal", "--scope", "strict", "--output", "unsorted.sealed.yaml", "-"])
        .stdin(manifest)
        .ok();
    sb.sealgate(&["check", "unsorted.sealed.yaml"]).ok();
    sb.sealgate(&["unseal", "unsorted.sealed.yaml"]).ok();
}

/// Tokens assembled at run time, so that no file of the repository holds one.
fn tokens() -> Vec<(String, &'static str, &'static str)> {
    vec![
        (format!("AKIA{}", "Q3EGRTUXWZ5ABCD7"), "aws-access-key-id", "AKIA****"),
        (format!("ghp_{}", "aB3".repeat(12)), "github-token", "ghp_****"),
        (format!("xoxb-{}", "123456789012-abcdefABCDEF"), "slack-token", "xoxb-****"),
        (
            format!("AGE-SECRET-KEY-1{}", &"QZ7".repeat(20)[..58]),
            "age-secret-key",
            "AGE-SECRET-KEY-1****",
        ),
        (format!("hvs.{}", "CAESIJ0aBcDeFgHiJkLmNoPqRsT"), "vault-token", "hvs.****"),
    ]
}

#[test]
fn credentials_are_flagged_redacted_and_can_be_allowed() {
    let sb = Sandbox::new();
    let toks = tokens();
    let mut text = String::new();
    for (t, _, _) in &toks {
        text.push_str(&format!("value = {t}\n"));
    }
    let pem = format!("-----BEGIN RSA {}-----\n", "PRIVATE KEY");
    text.push_str(&pem);
    let random = format!("q8Zr2{}", "Lw7NfX4pK1vT9sYb");
    text.push_str(&format!("db_password: \"{random}\"\n"));
    sb.write("notes.txt", &text);
    let out = sb.sealgate(&["check", "--format", "json"]).fails(FINDINGS);
    let found = json_findings(&out);
    let rules: Vec<&str> = found.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = toks.iter().map(|t| t.1).collect();
    want.extend(["private-key", "high-entropy-secret"]);
    assert_eq!(rules, want);
    let stdout = out.stdout_text();
    for (t, _, shown) in &toks {
        assert!(!stdout.contains(t.as_str()) && !out.stderr.contains(t.as_str()));
        assert!(stdout.contains(shown), "{shown} missing in {stdout}");
    }
    assert!(!stdout.contains(&random));

    // Inline allow comments.
    let allowed_inline = text.replace(&pem, &format!("{} # sealgate:allow\n", pem.trim_end()));
    sb.write("notes.txt", &allowed_inline);
    let out = sb.sealgate(&["check", "--format", "json"]).fails(FINDINGS);
    assert_eq!(json_findings(&out).len(), toks.len() + 1);

    // An allow-list: a value regex, a fingerprint with a line, one without, a path regex.
    sb.write(
        ".sealgate-allow",
        "# test allow-list\nvalue:^AKIA\nnotes.txt:github-token:2\nnotes.txt:slack-token\n",
    );
    let out = sb.sealgate(&["check", "--format", "json"]).fails(FINDINGS);
    let rules: Vec<String> =
        json_findings(&out).iter().map(|f| f["rule"].as_str().unwrap().to_owned()).collect();
    assert_eq!(rules, vec!["age-secret-key", "vault-token", "high-entropy-secret"]);
    sb.write(".sealgate-allow", "path:^notes\\.txt$\n");
    sb.sealgate(&["check"]).ok();
    // --allow-file (and its env fallback) replace the file found upward.
    sb.write("empty-allow", "");
    sb.sealgate(&["check", "--allow-file", "empty-allow"]).fails(FINDINGS);
    sb.sealgate(&["check"]).env("SEALGATE_ALLOW_FILE", "empty-allow").fails(FINDINGS);
}

#[test]
fn bad_inputs_have_clear_errors() {
    let sb = Sandbox::new();
    let out = sb.sealgate(&["check", "missing.yaml"]).fails(100);
    assert!(out.stderr.contains("missing.yaml"), "{}", out.stderr);
    sb.write(".sealgate-allow", "path:(\n");
    sb.write("a.txt", "x\n");
    let out = sb.sealgate(&["check"]).fails(2);
    assert!(out.stderr.contains(".sealgate-allow:1: invalid regular expression"), "{}", out.stderr);
}

#[test]
fn this_repository_is_clean() {
    let out = std::process::Command::new(BIN)
        .arg("check")
        .current_dir(ROOT)
        .env_remove("SEALGATE_ALLOW_FILE")
        .env_remove("SEALGATE_CONFIG")
        .env_remove("SOPS_CONFIG")
        .output()
        .expect("run sealgate check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "sealgate check on the repository found:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pre_commit_hook_runs_check_on_the_staged_files() {
    let hooks = read_text(Path::new(ROOT).join(".pre-commit-hooks.yaml"));
    for line in [
        "- id: sealgate-check",
        "entry: sealgate check",
        "language: system",
        "pass_filenames: true",
    ] {
        assert!(hooks.contains(line), "{line:?} missing in .pre-commit-hooks.yaml");
    }
}
