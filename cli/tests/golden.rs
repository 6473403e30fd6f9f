//! Golden tests of the CLI: every subcommand's happy path and every user-facing error, with its
//! exact message, exit code and output files (and their modes), pinned in `cli/tests/golden/`.
//!
//! Each test runs commands in a private sandbox and writes a transcript; the volatile parts
//! (ciphertexts, wrapped keys, timestamps, temporary paths, generated keys) are normalised.
//! `SEALGATE_BLESS=1 cargo test -p sealgate-cli --test golden` rewrites the expected files.
//! Every command's standard error is also checked to hold no plaintext value of the inputs and
//! no age identity.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use regex::Regex;

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// Plaintext values of the inputs these tests use; none may ever appear in an error message.
const SECRETS: &[&str] = &[
    "hunter2-db-password",
    "tok-9f8e7d",
    "p@ss:w0rd with spaces",
    "db.internal.example",
    "czNjcmV0LXB3",
    "s3cret-pw",
    "AGE-SECRET-KEY-",
];

/// The plaintext most tests encrypt.
const APP_YAML: &str = "\
# application settings
db:
    host: db.example
    user: app
    password: hunter2-db-password
    port: 5432
api:
    token: tok-9f8e7d
    replicas: 3
    endpoints:
        - https://a.example
        - https://b.example
";

const SECRET_MANIFEST: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
type: Opaque
data:
  password: czNjcmV0LXB3
stringData:
  user: admin
";

/// One golden transcript being recorded.
struct Golden {
    name: &'static str,
    sb: Sandbox,
    text: String,
    /// Values replaced in transcripts (e.g. a generated recipient), with their stand-ins.
    replace: Vec<(String, String)>,
}

/// A sealgate command about to run in a golden test.
struct Step<'g> {
    golden: &'g mut Golden,
    run: Run,
    shown: String,
    env_shown: String,
    stdin_shown: String,
    show_stdout: bool,
}

impl Golden {
    fn new(name: &'static str) -> Golden {
        Golden { name, sb: Sandbox::new(), text: String::new(), replace: Vec::new() }
    }

    /// `sealgate ARGS` (recorded as typed, arguments quoted when they need it).
    fn sealgate(&mut self, args: &[&str]) -> Step<'_> {
        let run = self.sb.sealgate(args);
        let shown = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        Step {
            golden: self,
            run,
            shown: format!("sealgate {shown}"),
            env_shown: String::new(),
            stdin_shown: String::new(),
            show_stdout: true,
        }
    }

    fn note(&mut self, text: &str) {
        self.separate();
        self.text.push_str(&format!("# {text}\n"));
    }

    /// A blank line between a command's block and what follows (a note stays with the
    /// command under it).
    fn separate(&mut self) {
        let after_note = self.text.lines().last().is_some_and(|l| l.starts_with("# "));
        if !self.text.is_empty() && !after_note {
            self.text.push('\n');
        }
    }

    /// Records a file's mode (and checks it).
    fn mode(&mut self, name: &str, expected: u32) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(self.sb.path(name)).expect("file exists").permissions().mode()
            & 0o777;
        assert_eq!(mode, expected, "{}: mode of {name}", self.name);
        self.text.push_str(&format!("mode of {name}: {mode:04o}\n"));
    }

    /// Records a file's normalised content.
    fn file(&mut self, name: &str) {
        let content = String::from_utf8_lossy(&self.sb.read(name)).into_owned();
        self.text.push_str(&format!("--- file {name}\n{content}"));
        if !content.ends_with('\n') {
            self.text.push_str("\n[no newline at end]\n");
        }
    }

    fn normalise(&self, text: &str) -> String {
        let mut t = text.to_owned();
        for (from, to) in &self.replace {
            t = t.replace(from, to);
        }
        let work = self.sb.work.display().to_string();
        let home = self.sb.home.display().to_string();
        let fixtures_dir = fixtures().display().to_string();
        t = t.replace(&work, "$WORK").replace(&home, "$HOME").replace(&fixtures_dir, "$FIXTURES");
        let rules: [(&str, &str); 6] = [
            (
                r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:(\w+)\]",
                "ENC[AES256_GCM,data:…,iv:…,tag:…,type:$1]",
            ),
            (
                r"-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----",
                "-----BEGIN AGE ENCRYPTED FILE-----…-----END AGE ENCRYPTED FILE-----",
            ),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "$$TIME"),
            (r"AGE-SECRET-KEY-1[0-9A-Z]+", "AGE-SECRET-KEY-1…"),
            (r"/[^\s:]*/sealgate-edit-[A-Za-z0-9]+", "$$EDITDIR"),
            (r"/[^\s:]*/\.sealgate-[A-Za-z0-9]+", "$$TMPFILE"),
        ];
        for (pattern, to) in rules {
            t = Regex::new(pattern).unwrap().replace_all(&t, to).into_owned();
        }
        t
    }

    /// Compares the transcript with the golden file (or rewrites it with SEALGATE_BLESS=1).
    fn check(self) {
        let text = self.normalise(&self.text);
        let path = PathBuf::from(GOLDEN_DIR).join(format!("{}.txt", self.name));
        if std::env::var_os("SEALGATE_BLESS").is_some() {
            std::fs::create_dir_all(GOLDEN_DIR).unwrap();
            std::fs::write(&path, &text).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `SEALGATE_BLESS=1 cargo test -p sealgate-cli --test golden` and review it",
                path.display()
            )
        });
        if expected != text {
            let diff = line_diff(&expected, &text);
            panic!(
                "{}: the output differs from {} (- expected, + actual). If the change is intended, \
                 rerun with SEALGATE_BLESS=1 and review the diff.\n{diff}",
                self.name,
                path.display()
            );
        }
    }
}

impl Step<'_> {
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env_shown.push_str(&format!("{k}={} ", quote(v)));
        self.run = self.run.env(k, v);
        self
    }

    /// A variable whose value the transcript shows as `shown` (identities, long texts).
    fn env_hidden(mut self, k: &str, v: &str, shown: &str) -> Self {
        self.env_shown.push_str(&format!("{k}={shown} "));
        self.run = self.run.env(k, v);
        self
    }

    fn env_remove(mut self, k: &str) -> Self {
        self.run = self.run.env_remove(k);
        self
    }

    fn stdin(mut self, bytes: &[u8], shown: &str) -> Self {
        self.stdin_shown = format!(" < {shown}");
        self.run = self.run.stdin(bytes.to_vec());
        self
    }

    /// Leaves standard output out of the transcript (its size is recorded instead).
    fn hide_stdout(mut self) -> Self {
        self.show_stdout = false;
        self
    }

    /// Runs, asserts the exit code, records the transcript and returns what ran.
    fn expect(self, code: i32) -> Out {
        let Step { golden, run, shown, env_shown, stdin_shown, show_stdout } = self;
        let out = run.run();
        assert_eq!(
            out.code,
            code,
            "{}: `{shown}` exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            golden.name,
            out.code,
            String::from_utf8_lossy(&out.stdout),
            out.stderr
        );
        for secret in SECRETS {
            assert!(
                !out.stderr.contains(secret),
                "{}: `{shown}` printed a secret ({secret:?}) on standard error:\n{}",
                golden.name,
                out.stderr
            );
        }
        golden.separate();
        let mut t = format!("$ {env_shown}{shown}{stdin_shown}\n[exit {code}]\n");
        if !out.stdout.is_empty() {
            if show_stdout {
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                t.push_str(&format!("--- stdout\n{stdout}"));
                if !stdout.ends_with('\n') {
                    t.push_str("\n[no newline at end]\n");
                }
            } else {
                t.push_str("--- stdout (not shown)\n");
            }
        }
        if !out.stderr.is_empty() {
            t.push_str(&format!("--- stderr\n{}", out.stderr));
        }
        golden.text.push_str(&t);
        out
    }
}

fn quote(a: &str) -> String {
    if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+".contains(c)) {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// A plain line diff (longest common subsequence), enough to read a golden mismatch.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] =
                if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// Encrypts APP_YAML to `name` in the sandbox with sealgate.
fn encrypted_app(sb: &Sandbox, name: &str) -> PathBuf {
    sb.write("app.plain.yaml", APP_YAML);
    let out = sb.sealgate(&["encrypt", "--age", RECIPIENT_A, "app.plain.yaml"]).ok();
    sb.write(name, out.stdout)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Happy paths

#[test]
fn encrypt_happy_paths() {
    let mut g = Golden::new("encrypt");
    g.sb.write("app.yaml", APP_YAML);
    g.sb.write("app.json", r#"{"db": {"password": "hunter2-db-password", "port": 5432}}"#);
    g.note("to standard output");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "app.yaml"]).expect(0);
    g.note("--output to a new file (not plaintext: 0644)");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "--output", "app.enc.yaml", "app.yaml"])
        .expect(0);
    g.mode("app.enc.yaml", 0o644);
    g.note("--output - is standard output");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "--output", "-", "app.json"]).expect(0);
    g.note("-i keeps the file's mode");
    g.sb.write("inplace.yaml", APP_YAML);
    set_mode(&g.sb.path("inplace.yaml"), 0o640);
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "-i", "inplace.yaml"]).expect(0);
    g.mode("inplace.yaml", 0o640);
    g.file("inplace.yaml");
    g.note("standard input with --input-type");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "--input-type", "json", "-"])
        .stdin(br#"{"token": "tok-9f8e7d"}"#, "token.json")
        .expect(0);
    g.note("--filename-override picks the format and the .sops.yaml rule for standard input");
    g.sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^prod/\n    age: {RECIPIENT_B}\n  - age: {RECIPIENT_A}\n"
        ),
    );
    g.sealgate(&["encrypt", "--filename-override", "prod/app.env", "-"])
        .stdin(b"TOKEN=tok-9f8e7d\n", "app.env")
        .expect(0);
    std::fs::remove_file(g.sb.path(".sops.yaml")).unwrap();
    g.note("environment fallbacks: SEALGATE_AGE, SEALGATE_OUTPUT_TYPE");
    g.sealgate(&["encrypt", "app.yaml"])
        .env("SEALGATE_AGE", RECIPIENT_A)
        .env("SEALGATE_OUTPUT_TYPE", "json")
        .expect(0);
    g.note("an encryption rule and --mac-only-encrypted");
    g.sealgate(&[
        "encrypt",
        "--age",
        RECIPIENT_A,
        "--encrypted-regex",
        "^(password|token)$",
        "--mac-only-encrypted",
        "app.yaml",
    ])
    .expect(0);
    g.check();
}

#[test]
fn decrypt_happy_paths() {
    let mut g = Golden::new("decrypt");
    encrypted_app(&g.sb, "app.enc.yaml");
    g.sealgate(&["decrypt", "app.enc.yaml"]).expect(0);
    g.note("--extract: a string prints raw, without a newline; numbers, maps and lists as YAML");
    g.sealgate(&["decrypt", "--extract", r#"["db"]["password"]"#, "app.enc.yaml"]).expect(0);
    g.sealgate(&["decrypt", "--extract", r#"["db"]["port"]"#, "app.enc.yaml"]).expect(0);
    g.sealgate(&["decrypt", "--extract", r#"["api"]"#, "app.enc.yaml"]).expect(0);
    g.sealgate(&["decrypt", "--extract", r#"["api"]["endpoints"][1]"#, "app.enc.yaml"]).expect(0);
    g.note("--output-type, and its environment fallback");
    g.sealgate(&["decrypt", "--output-type", "json", "app.enc.yaml"]).expect(0);
    g.sealgate(&["decrypt", "--extract", r#"["db"]"#, "app.enc.yaml"])
        .env("SEALGATE_OUTPUT_TYPE", "json")
        .expect(0);
    g.note("plaintext written to a file is created with mode 0600");
    g.sealgate(&["decrypt", "--output", "app.plain.out.yaml", "app.enc.yaml"]).expect(0);
    g.mode("app.plain.out.yaml", 0o600);
    g.note("standard input needs --input-type (or --filename-override)");
    let enc = g.sb.read("app.enc.yaml");
    g.sealgate(&["decrypt", "--input-type", "yaml", "--extract", r#"["api"]["token"]"#, "-"])
        .stdin(&enc, "app.enc.yaml")
        .expect(0);
    g.sealgate(&["decrypt", "--filename-override", "x.yaml", "--output", "-", "-"])
        .stdin(&enc, "app.enc.yaml")
        .hide_stdout()
        .expect(0);
    g.note("-i replaces the file with its plaintext, mode 0600");
    g.sb.write("inplace.yaml", &enc);
    set_mode(&g.sb.path("inplace.yaml"), 0o644);
    g.sealgate(&["decrypt", "-i", "inplace.yaml"]).expect(0);
    g.mode("inplace.yaml", 0o600);
    g.note("an identity from SOPS_AGE_KEY (the key text) instead of a key file");
    let key = read_text(fixture("keys.txt"));
    g.sealgate(&["decrypt", "--extract", r#"["db"]["user"]"#, "app.enc.yaml"])
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_hidden("SOPS_AGE_KEY", &key, "\"$(cat keys.txt)\"")
        .expect(0);
    g.note("the tampered-comment fixture decrypts, with a warning (as sops)");
    g.sb.copy_fixture("lenient-tampered-comment.enc.yaml", "lenient.enc.yaml");
    g.sealgate(&["decrypt", "lenient.enc.yaml"]).hide_stdout().expect(0);
    g.check();
}

#[test]
fn set_and_unset_happy_paths() {
    let mut g = Golden::new("set-unset");
    encrypted_app(&g.sb, "app.enc.yaml");
    set_mode(&g.sb.path("app.enc.yaml"), 0o640);
    g.sealgate(&["set", "app.enc.yaml", r#"["db"]["port"]"#, "6543"]).expect(0);
    g.sealgate(&["set", "app.enc.yaml", r#"["new"]["list"]"#, r#"["a", 1, true]"#]).expect(0);
    g.sb.write("value.json", r#""from-a-file""#);
    g.sealgate(&["set", "--value-file", "value.json", "app.enc.yaml", r#"["db"]["user"]"#])
        .expect(0);
    g.sealgate(&["set", "--value-stdin", "app.enc.yaml", r#"["api"]["replicas"]"#])
        .stdin(b"4", "value")
        .expect(0);
    g.note("--idempotent: the same value again leaves the file as it is");
    let before = g.sb.read("app.enc.yaml");
    g.sealgate(&["set", "--idempotent", "app.enc.yaml", r#"["db"]["port"]"#, "6543"]).expect(0);
    assert_eq!(before, g.sb.read("app.enc.yaml"), "--idempotent rewrote the file");
    g.sealgate(&["unset", "app.enc.yaml", r#"["api"]["endpoints"][0]"#]).expect(0);
    g.sealgate(&["unset", "app.enc.yaml", r#"["new"]"#]).expect(0);
    g.mode("app.enc.yaml", 0o640);
    g.file("app.enc.yaml");
    g.sealgate(&["decrypt", "app.enc.yaml"]).expect(0);
    g.check();
}

#[test]
fn edit_happy_paths() {
    let mut g = Golden::new("edit");
    encrypted_app(&g.sb, "app.enc.yaml");
    let before = g.sb.read_text("app.enc.yaml");
    g.sealgate(&["edit", "app.enc.yaml"])
        .env("EDITOR", "sed -i -e s/replicas:.3/replicas:\\ 5/ -e /user:/d")
        .expect(0);
    let after = g.sb.read_text("app.enc.yaml");
    let lines = |t: &str| -> Vec<String> {
        t.lines().filter(|l| !l.contains("lastmodified:")).map(str::to_owned).collect()
    };
    let (before, after) = (lines(&before), lines(&after));
    let kept = before.iter().filter(|l| after.contains(l)).count();
    assert_eq!(kept, before.len() - 3, "only replicas, user and mac change");
    g.sealgate(&["decrypt", "app.enc.yaml"]).expect(0);
    g.note("SOPS_EDITOR is read too; a new file is created from the .sops.yaml rule");
    g.sb.write(".sops.yaml", format!("creation_rules:\n  - age: {RECIPIENT_A}\n"));
    g.sb.write("editor.sh", "#!/bin/sh\nprintf 'TOKEN=tok-9f8e7d\\n' > \"$1\"\n");
    set_mode(&g.sb.path("editor.sh"), 0o755);
    g.sealgate(&["edit", "new.env"]).env("SOPS_EDITOR", "./editor.sh").expect(0);
    g.file("new.env");
    g.sealgate(&["decrypt", "new.env"]).expect(0);
    g.check();
}

#[test]
fn rotate_and_updatekeys_happy_paths() {
    let mut g = Golden::new("rotate-updatekeys");
    g.sb.key_file = Some(fixture("keys-all.txt"));
    g.sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {RECIPIENT_A}\n"),
    );
    g.sb.write("app.plain.yaml", APP_YAML);
    let enc = g.sb.sealgate(&["encrypt", "app.plain.yaml"]).ok().stdout;
    g.sb.write("app.enc.yaml", &enc);
    g.sealgate(&["rotate", "-i", "app.enc.yaml"]).expect(0);
    g.sealgate(&["rotate", "--add-age", RECIPIENT_B, "app.enc.yaml"]).expect(0);
    g.sealgate(&[
        "rotate",
        "-i",
        "--add-age",
        RECIPIENT_C,
        "--rm-age",
        RECIPIENT_A,
        "app.enc.yaml",
    ])
    .expect(0);
    g.file("app.enc.yaml");
    g.note("updatekeys puts back what .sops.yaml names");
    g.sealgate(&["updatekeys", "-y", "app.enc.yaml"]).expect(0);
    g.sealgate(&["updatekeys", "-y", "app.enc.yaml"]).expect(0);
    g.sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {RECIPIENT_A},{RECIPIENT_B}\n"
        ),
    );
    g.note("without -y on a non-interactive input it asks nothing and changes nothing");
    g.sealgate(&["updatekeys", "app.enc.yaml"]).expect(1);
    g.sealgate(&["updatekeys", "-y", "app.enc.yaml"]).expect(0);
    g.file("app.enc.yaml");
    g.check();
}

#[test]
fn keygen_filestatus_help_and_completions() {
    let mut g = Golden::new("keygen-filestatus-help");
    let out = g.sealgate(&["keygen", "-o", "key.txt"]).expect(0);
    let recipient = out.stderr.trim().trim_start_matches("Public key: ").to_owned();
    assert!(recipient.starts_with("age1") && recipient.len() == 62, "{recipient}");
    g.replace.push((recipient.clone(), "age1<generated>".into()));
    g.mode("key.txt", 0o600);
    g.file("key.txt");
    let key_text = g.sb.read_text("key.txt");
    assert!(key_text.contains(&format!("# public key: {recipient}\n")));
    g.note("the new identity decrypts what is encrypted to its recipient");
    g.sb.write("x.yaml", "a: b\n");
    let enc = g.sb.sealgate(&["encrypt", "--age", &recipient, "x.yaml"]).ok().stdout;
    g.sb.write("x.enc.yaml", enc);
    let key_path = g.sb.path("key.txt").display().to_string();
    g.sealgate(&["decrypt", "x.enc.yaml"]).env("SOPS_AGE_KEY_FILE", &key_path).expect(0);
    g.note("keygen to standard output");
    let out = g.sealgate(&["keygen"]).hide_stdout().expect(0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1"));
    let recipient2 = out.stderr.trim().trim_start_matches("Public key: ").to_owned();
    g.replace.push((recipient2, "age1<generated>".into()));
    g.note("filestatus");
    encrypted_app(&g.sb, "app.enc.yaml");
    g.sealgate(&["filestatus", "app.enc.yaml"]).expect(0);
    g.sealgate(&["filestatus", "app.plain.yaml"]).expect(0);
    let help = g.sealgate(&["--help"]).expect(0).stdout_text();
    for example in [
        "Examples:",
        "sealgate encrypt --age age1... secrets.yaml > secrets.enc.yaml",
        "sealgate decrypt --extract '[\"db\"][\"password\"]' secrets.enc.yaml",
        "| sealgate seal --age age1... - > db.sealed.yaml",
    ] {
        assert!(help.contains(example), "--help lacks {example:?}");
    }
    let out = g.sealgate(&["completions", "bash"]).hide_stdout().expect(0);
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.len() > 1000 && script.contains("_sealgate"), "bash completions");
    for sub in ["encrypt", "decrypt", "seal", "unseal", "updatekeys"] {
        assert!(script.contains(sub), "completions mention {sub}");
    }
    g.check();
}

#[test]
fn seal_and_unseal_happy_paths() {
    let mut g = Golden::new("seal-unseal");
    g.sb.write("secret.yaml", SECRET_MANIFEST);
    g.sealgate(&["seal", "--age", RECIPIENT_A, "secret.yaml"]).expect(0);
    g.note("from standard input, to a file, with a recipients file and another scope");
    g.sb.write("recipients.txt", format!("# team\n{RECIPIENT_A}\n\n{RECIPIENT_B}\n"));
    g.sealgate(&[
        "seal",
        "--recipients-file",
        "recipients.txt",
        "--scope",
        "namespace",
        "--output",
        "db.sealed.yaml",
        "-",
    ])
    .stdin(SECRET_MANIFEST.as_bytes(), "secret.yaml")
    .expect(0);
    g.mode("db.sealed.yaml", 0o644);
    g.sealgate(&["unseal", "db.sealed.yaml"]).expect(0);
    g.sealgate(&["unseal", "--output", "db.secret.yaml", "db.sealed.yaml"]).expect(0);
    g.mode("db.secret.yaml", 0o600);
    g.note("several Secrets in one stream (empty documents skipped), a namespace from the flag");
    let two = "---\n# Source: chart/templates/empty.yaml\n---\n".to_owned()
        + &SECRET_MANIFEST.replace("  namespace: payments\n", "")
        + "---\n"
        + &SECRET_MANIFEST.replace("db-creds", "api-creds").replace("  namespace: payments\n", "")
        + "---\n";
    g.sb.write("two.yaml", two);
    g.sealgate(&[
        "seal",
        "--age",
        RECIPIENT_A,
        "-n",
        "shop",
        "--output",
        "two.sealed.yaml",
        "two.yaml",
    ])
    .expect(0);
    g.sealgate(&["unseal", "two.sealed.yaml"]).expect(0);
    g.note("unseal from standard input, a stream with empty documents");
    let stream = format!("---\n{}---\n# end\n", g.sb.read_text("two.sealed.yaml"));
    let out =
        g.sealgate(&["unseal"]).stdin(stream.as_bytes(), "two.sealed.yaml").hide_stdout().expect(0);
    assert_eq!(out.stdout_text().matches("kind: Secret").count(), 2);
    g.check();
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn input_errors() {
    let mut g = Golden::new("errors-input");
    g.note("missing file: 100");
    g.sealgate(&["decrypt", "missing.enc.yaml"]).expect(100);
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "missing.yaml"]).expect(100);
    g.note("empty file: 92");
    g.sb.write("empty.yaml", "");
    g.sealgate(&["decrypt", "empty.yaml"]).expect(92);
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "empty.yaml"]).expect(92);
    g.note("not encrypted: 1");
    g.sb.write("plain.yaml", APP_YAML);
    g.sealgate(&["decrypt", "plain.yaml"]).expect(1);
    g.sealgate(&["set", "plain.yaml", r#"["a"]"#, "1"]).expect(1);
    g.note("already encrypted: 203");
    encrypted_app(&g.sb, "app.enc.yaml");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "app.enc.yaml"]).expect(203);
    g.note("standard input without --input-type: 2");
    let enc = g.sb.read("app.enc.yaml");
    g.sealgate(&["decrypt", "-"]).stdin(&enc, "app.enc.yaml").expect(2);
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "-"]).stdin(b"a: 1\n", "a.yaml").expect(2);
    g.note("invalid input: 2");
    g.sb.write("broken.yaml", "a: [1, 2\nb: c\n");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "broken.yaml"]).expect(2);
    g.sb.write("broken.json", "{\"a\": 1,}\n");
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "broken.json"]).expect(2);
    g.note("invalid command line: 2");
    g.sealgate(&["decrypt"]).expect(2);
    g.sealgate(&["encrypt", "--encrypted-regex", "a", "--unencrypted-regex", "b", "x.yaml"])
        .expect(2);
    g.check();
}

#[test]
fn integrity_errors() {
    let mut g = Golden::new("errors-integrity");
    g.note("a tampered value: 25");
    g.sb.copy_fixture("neg-flipped-ciphertext.enc.yaml", "tampered.enc.yaml");
    g.sealgate(&["decrypt", "tampered.enc.yaml"]).expect(25);
    g.sb.copy_fixture("neg-swapped-values.enc.json", "swapped.enc.json");
    g.sealgate(&["decrypt", "swapped.enc.json"]).expect(25);
    g.sb.copy_fixture("neg-flipped-ciphertext.enc.env", "tampered.enc.env");
    g.sealgate(&["decrypt", "tampered.enc.env"]).expect(25);
    g.note("MAC mismatch: 51 (also for set, which must not re-seal a tampered file)");
    g.sb.copy_fixture("neg-cleartext-modified.enc.yaml", "cleartext.enc.yaml");
    g.sealgate(&["decrypt", "cleartext.enc.yaml"]).expect(51);
    g.sealgate(&["set", "cleartext.enc.yaml", r#"["x"]"#, "1"]).expect(51);
    g.sb.copy_fixture("neg-mac-removed.enc.yaml", "nomac.enc.yaml");
    g.sealgate(&["decrypt", "nomac.enc.yaml"]).expect(51);
    g.sb.copy_fixture("neg-lastmodified-changed.enc.yaml", "lastmodified.enc.yaml");
    g.sealgate(&["decrypt", "lastmodified.enc.yaml"]).expect(51);
    g.note("--ignore-mac is the way out, for recovery");
    g.sealgate(&[
        "decrypt",
        "--ignore-mac",
        "--extract",
        r#"["service"]["port_unencrypted"]"#,
        "cleartext.enc.yaml",
    ])
    .expect(0);
    g.note("wrong key: 128; the message names the recipients and where identities came from, never an identity");
    g.sb.copy_fixture("neg-wrong-key.enc.yaml", "wrong-key.enc.yaml");
    let out = g.sealgate(&["decrypt", "wrong-key.enc.yaml"]).expect(128);
    assert!(out.stderr.contains(RECIPIENT_OTHER), "the recipient tried is named");
    let identity = read_text(fixture("keys.txt"));
    let out = g
        .sealgate(&["decrypt", "wrong-key.enc.yaml"])
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_hidden("SOPS_AGE_KEY", &identity, "\"$(cat keys.txt)\"")
        .expect(128);
    assert!(!out.stderr.contains("AGE-SECRET-KEY"));
    g.sealgate(&["decrypt", "wrong-key.enc.yaml"]).env_remove("SOPS_AGE_KEY_FILE").expect(128);
    g.note("Shamir: one key group of the two needed");
    g.sb.copy_fixture("shamir.enc.yaml", "shamir.enc.yaml");
    g.sealgate(&["decrypt", "shamir.enc.yaml"]).expect(128);
    g.note("metadata edited by hand: 1");
    g.sb.copy_fixture("neg-bad-version.enc.yaml", "bad-version.enc.yaml");
    g.sealgate(&["decrypt", "bad-version.enc.yaml"]).expect(1);
    let text = read_text(fixture("basic.enc.yaml")).replace("    age:\n", "    age: 7\n    x:\n");
    g.sb.write("bad-metadata.enc.yaml", text);
    g.sealgate(&["decrypt", "bad-metadata.enc.yaml"]).expect(1);
    g.check();
}

#[test]
fn path_and_value_errors() {
    let mut g = Golden::new("errors-paths");
    encrypted_app(&g.sb, "app.enc.yaml");
    let before = g.sb.read("app.enc.yaml");
    g.note("malformed path: 91");
    g.sealgate(&["decrypt", "--extract", r#"["db""#, "app.enc.yaml"]).expect(91);
    g.sealgate(&["decrypt", "--extract", "db.password", "app.enc.yaml"]).expect(91);
    g.sealgate(&["set", "app.enc.yaml", "[db]", "1"]).expect(91);
    g.sealgate(&["unset", "app.enc.yaml", ""]).expect(91);
    g.note("a path that leads nowhere: 1");
    g.sealgate(&["decrypt", "--extract", r#"["db"]["nope"]"#, "app.enc.yaml"]).expect(1);
    g.sealgate(&["decrypt", "--extract", r#"["api"]["endpoints"][7]"#, "app.enc.yaml"]).expect(1);
    g.sealgate(&["decrypt", "--extract", r#"["db"]["port"]["x"]"#, "app.enc.yaml"]).expect(1);
    g.note("set: the value is not JSON: 7");
    g.sealgate(&["set", "app.enc.yaml", r#"["db"]["password"]"#, "s3cret-pw"]).expect(7);
    g.sealgate(&["set", "app.enc.yaml", r#"["db"]["password"]"#, "{\"a\": s3cret-pw}"]).expect(7);
    g.note("unset of a missing key: 1, and 0 with --idempotent");
    g.sealgate(&["unset", "app.enc.yaml", r#"["db"]["nope"]"#]).expect(1);
    g.sealgate(&["unset", "--idempotent", "app.enc.yaml", r#"["db"]["nope"]"#]).expect(0);
    assert_eq!(before, g.sb.read("app.enc.yaml"), "failed commands left the file as it was");
    g.check();
}

#[test]
fn config_errors() {
    let mut g = Golden::new("errors-config");
    g.sb.write("app.yaml", APP_YAML);
    g.note("no recipients: 111");
    g.sealgate(&["encrypt", "app.yaml"]).expect(111);
    g.sealgate(&["encrypt", "--age", "age1notarecipient", "app.yaml"]).expect(111);
    g.note("no matching creation rule: 1");
    g.sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.prod\\.yaml$\n    age: {RECIPIENT_A}\n"),
    );
    g.sealgate(&["encrypt", "app.yaml"]).expect(1);
    g.note("--config names a missing file: 61");
    g.sealgate(&["--config", "missing.sops.yaml", "encrypt", "app.yaml"]).expect(61);
    g.sealgate(&["encrypt", "app.yaml"]).env("SEALGATE_CONFIG", "missing.sops.yaml").expect(61);
    g.note("an invalid .sops.yaml: 1");
    g.sb.write(".sops.yaml", "creation_rules:\n  - path_regex: '[unclosed'\n    age: x\n");
    g.sealgate(&["encrypt", "app.yaml"]).expect(1);
    g.note("updatekeys without a .sops.yaml: 61");
    std::fs::remove_file(g.sb.path(".sops.yaml")).unwrap();
    encrypted_app(&g.sb, "app.enc.yaml");
    g.sealgate(&["updatekeys", "-y", "app.enc.yaml"]).expect(61);
    g.note("rotate: no recipient left, or a bad one: 111, the file untouched");
    let before = g.sb.read("app.enc.yaml");
    g.sealgate(&["rotate", "-i", "--rm-age", RECIPIENT_A, "app.enc.yaml"]).expect(111);
    g.sealgate(&["rotate", "-i", "--add-age", "age1bogus", "app.enc.yaml"]).expect(111);
    assert_eq!(before, g.sb.read("app.enc.yaml"));
    g.check();
}

#[test]
fn seal_errors() {
    let mut g = Golden::new("errors-seal");
    g.note("a ConfigMap is not a Secret: 66");
    g.sb.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: payments\ndata:\n  mode: fast\n");
    g.sealgate(&["seal", "--age", RECIPIENT_A, "cm.yaml"]).expect(66);
    g.note("in a stream, the message names the document");
    g.sb.write("stream.yaml", format!("{SECRET_MANIFEST}---\n{}", g.sb.read_text("cm.yaml")));
    g.sealgate(&["seal", "--age", RECIPIENT_A, "stream.yaml"]).expect(66);
    g.note("a stream of empty documents: 92");
    g.sealgate(&["seal", "--age", RECIPIENT_A, "-"])
        .stdin(b"---\n# nothing\n---\n", "empty-stream.yaml")
        .expect(92);
    g.note("invalid base64 under data: 66");
    g.sb.write("bad.yaml", SECRET_MANIFEST.replace("czNjcmV0LXB3", "not*base64"));
    g.sealgate(&["seal", "--age", RECIPIENT_A, "bad.yaml"]).expect(66);
    g.note("a Secret without a namespace, and no --namespace");
    g.sb.write("nons.yaml", SECRET_MANIFEST.replace("  namespace: payments\n", ""));
    g.sealgate(&["seal", "--age", RECIPIENT_A, "nons.yaml"]).expect(66);
    g.note("no recipients: 111");
    g.sb.write("secret.yaml", SECRET_MANIFEST);
    g.sealgate(&["seal", "secret.yaml"]).expect(111);
    g.note("unseal of a sealed file whose metadata.namespace was edited: 65");
    let sealed = g.sb.sealgate(&["seal", "--age", RECIPIENT_A, "secret.yaml"]).ok().stdout;
    let moved = String::from_utf8(sealed.clone())
        .unwrap()
        .replace("namespace: payments", "namespace: other");
    g.sb.write("moved.sealed.yaml", moved);
    g.sealgate(&["unseal", "moved.sealed.yaml"]).expect(65);
    let renamed = String::from_utf8(sealed).unwrap().replace("name: db-creds", "name: stolen");
    g.sb.write("renamed.sealed.yaml", renamed);
    g.sealgate(&["unseal", "renamed.sealed.yaml"]).expect(65);
    g.note("unseal of something that is not an EncryptedSecret");
    encrypted_app(&g.sb, "app.enc.yaml");
    g.sealgate(&["unseal", "app.enc.yaml"]).expect(1);
    g.check();
}

#[test]
fn edit_errors() {
    let mut g = Golden::new("errors-edit");
    encrypted_app(&g.sb, "app.enc.yaml");
    let before = g.sb.read("app.enc.yaml");
    g.note("no change: 200");
    g.sealgate(&["edit", "app.enc.yaml"]).env("EDITOR", "true").expect(200);
    g.note("a failing editor: 201");
    g.sealgate(&["edit", "app.enc.yaml"]).env("EDITOR", "false").expect(201);
    g.sealgate(&["edit", "app.enc.yaml"]).env("EDITOR", "/nonexistent/editor").expect(201);
    g.note("the edited text does not parse: 2, nothing written");
    g.sealgate(&["edit", "app.enc.yaml"]).env("EDITOR", "sed -i s/host:/host:\\ [/").expect(2);
    assert_eq!(before, g.sb.read("app.enc.yaml"), "a failed edit left the file as it was");
    g.check();
}

#[test]
fn output_errors() {
    let mut g = Golden::new("errors-output");
    encrypted_app(&g.sb, "app.enc.yaml");
    g.note("an output type that cannot hold the tree: 4");
    g.sealgate(&["decrypt", "--output-type", "dotenv", "app.enc.yaml"]).expect(4);
    g.sb.copy_fixture("types.enc.yaml", "types.enc.yaml");
    g.sealgate(&["decrypt", "--output-type", "json", "types.enc.yaml"]).expect(4);
    g.sb.write("top.yaml", "port: 5432\n");
    let enc = g.sb.sealgate(&["encrypt", "--age", RECIPIENT_A, "top.yaml"]).ok().stdout;
    g.sb.write("top.enc.yaml", enc);
    g.sealgate(&["decrypt", "--output-type", "ini", "top.enc.yaml"]).expect(4);
    g.sealgate(&["decrypt", "--output-type", "dotenv", "--extract", r#"["api"]"#, "app.enc.yaml"])
        .expect(4);
    g.sb.write("app.plain.yaml", APP_YAML);
    g.sealgate(&["encrypt", "--age", RECIPIENT_A, "--output-type", "dotenv", "app.plain.yaml"])
        .expect(4);
    g.note("the output cannot be written: 3");
    g.sealgate(&["decrypt", "--output", "no/such/dir/out.yaml", "app.enc.yaml"]).expect(3);
    let enc = g.sb.read("app.enc.yaml");
    g.sealgate(&["decrypt", "-i", "-", "--input-type", "yaml"])
        .stdin(&enc, "app.enc.yaml")
        .expect(3);
    g.sealgate(&["keygen", "-o", "app.enc.yaml"]).expect(3);
    g.check();
}

/// Every golden file belongs to a test here: a renamed test must not leave a stale file that
/// nothing checks.
#[test]
fn every_golden_file_has_a_test() {
    let names = [
        "encrypt",
        "decrypt",
        "set-unset",
        "edit",
        "rotate-updatekeys",
        "keygen-filestatus-help",
        "seal-unseal",
        "errors-input",
        "errors-integrity",
        "errors-paths",
        "errors-config",
        "errors-seal",
        "errors-edit",
        "errors-output",
    ];
    let mut found: Vec<String> = std::fs::read_dir(GOLDEN_DIR)
        .expect("cli/tests/golden exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut expected: Vec<String> = names.iter().map(|n| format!("{n}.txt")).collect();
    expected.sort();
    let stale: Vec<&String> = found.iter().filter(|f| !expected.contains(f)).collect();
    assert!(stale.is_empty(), "golden files no test writes: {stale:?}");
    // While blessing, the other tests may not have written theirs yet.
    if std::env::var_os("SEALGATE_BLESS").is_none() {
        assert_eq!(found, expected, "every test has its golden file");
    }
}
