//! End to end: `sealgate diff` as git's textconv driver and `sealgate merge` as its merge driver,
//! in real git repositories, checked with sealgate and (when on PATH) the real `sops`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/sops/keys.txt");
const RECIPIENT: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";

/// An editor that keeps theirs' side of every conflict block.
const PICK_THEIRS: &str =
    "#!/bin/sh\nsed -i -e '/^<<<<<<< /,/^=======$/d' -e '/^>>>>>>> /d' \"$1\"\n";
/// An editor that keeps ours' side of every conflict block.
const PICK_OURS: &str =
    "#!/bin/sh\nsed -i -e '/^=======$/,/^>>>>>>> /d' -e '/^<<<<<<< /d' \"$1\"\n";
/// An editor that changes a line but leaves the markers.
const KEEP_MARKERS: &str = "#!/bin/sh\nsed -i -e 's/^=======$/=======\\n/' \"$1\"\n";

/// A git repository with the drivers configured, a private HOME and the test identity.
struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
    key_file: Option<String>,
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sops_available() -> bool {
    Command::new("sops")
        .arg("--version")
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let repo = Repo { _tmp: tmp, dir, home, key_file: Some(KEYS.to_owned()) };
        repo.git_ok(&["init", "-q", "-b", "main"]);
        repo.git_ok(&["config", "user.email", "dev@example.invalid"]);
        repo.git_ok(&["config", "user.name", "dev"]);
        repo.git_ok(&["config", "diff.sealgate.textconv", &format!("'{BIN}' diff")]);
        repo.git_ok(&[
            "config",
            "merge.sealgate.driver",
            &format!("'{BIN}' merge %O %A %B --path %P"),
        ]);
        repo.git_ok(&["config", "merge.sealgate.name", "sealgate: merge encrypted files by key"]);
        repo.write(
            ".gitattributes",
            "*.enc.yaml diff=sealgate merge=sealgate\n*.enc.json diff=sealgate merge=sealgate\n\
             *.sealed.yaml diff=sealgate merge=sealgate\n",
        );
        repo.git_ok(&["add", ".gitattributes"]);
        repo.git_ok(&["commit", "-qm", "attributes"]);
        repo
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
        if let Some(k) = &self.key_file {
            c.env("SOPS_AGE_KEY_FILE", k);
        }
        c
    }

    fn git(&self, args: &[&str]) -> Output {
        self.command("git").args(args).output().unwrap()
    }

    fn git_ok(&self, args: &[&str]) -> String {
        let out = self.git(args);
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn sealgate(&self, args: &[&str]) -> Output {
        self.command(BIN).args(args).output().unwrap()
    }

    fn sealgate_ok(&self, args: &[&str]) -> String {
        let out = self.sealgate(args);
        assert!(out.status.success(), "sealgate {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `sops decrypt FILE`, or `None` when sops is not installed.
    fn sops_decrypt(&self, name: &str) -> Option<String> {
        if !sops_available() {
            eprintln!("sops is not on PATH: skipping the check with the real sops");
            return None;
        }
        let out = self.command("sops").args(["decrypt", name]).output().unwrap();
        assert!(out.status.success(), "sops decrypt {name}: {}", text(&out));
        Some(String::from_utf8(out.stdout).unwrap())
    }

    /// Writes a plaintext file, encrypts it in place and commits it.
    fn add_encrypted(&self, name: &str, plain: &str, message: &str) {
        self.write(name, plain);
        self.sealgate_ok(&["encrypt", "--age", RECIPIENT, "-i", name]);
        self.git_ok(&["add", name]);
        self.git_ok(&["commit", "-qm", message]);
    }

    fn set_and_commit(&self, name: &str, changes: &[(&str, &str)], message: &str) {
        for (path, value) in changes {
            self.sealgate_ok(&["set", name, path, value]);
        }
        self.git_ok(&["commit", "-qam", message]);
    }

    fn editor(&self, script: &str) -> PathBuf {
        let p = self.home.join("editor.sh");
        std::fs::write(&p, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        p
    }

    /// `sealgate edit FILE` with an editor script.
    fn edit_with(&self, name: &str, script: &str) -> Output {
        let editor = self.editor(script);
        self.command(BIN).args(["edit", name]).env("EDITOR", editor).output().unwrap()
    }

    /// Every byte git and the working tree hold: each file (the `.git` directory included, raw)
    /// and every object's content, decompressed.
    fn everything_on_disk(&self) -> Vec<u8> {
        fn walk(dir: &Path, out: &mut Vec<u8>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.extend(std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &mut out);
        let objects = self.git(&["cat-file", "--batch-all-objects", "--batch"]);
        assert!(objects.status.success());
        assert!(objects.stdout.len() > 1000, "the object dump is not empty");
        out.extend(objects.stdout);
        out
    }

    /// Asserts no plaintext is anywhere; `control` (text only a superseded blob holds) proves
    /// the search sees inside git's compressed objects.
    fn assert_nowhere_on_disk(&self, secrets: &[&str], control: &str) {
        let all = self.everything_on_disk();
        assert!(all.windows(control.len()).any(|w| w == control.as_bytes()), "control not found");
        for s in secrets {
            let found = all.windows(s.len()).any(|w| w == s.as_bytes());
            assert!(!found, "the plaintext {s:?} is on disk");
        }
    }
}

/// The lines holding ciphertext in `before` that do not mention any of `changed` and are not
/// the MAC: values that did not change and must keep their exact bytes.
fn untouched_cipher_lines<'a>(before: &'a str, changed: &[&str]) -> Vec<&'a str> {
    let lines: Vec<&str> = before
        .lines()
        .filter(|l| l.contains("ENC[") && !l.contains("mac"))
        .filter(|l| !changed.iter().any(|c| l.contains(c)))
        .collect();
    assert!(lines.len() >= 4, "enough untouched values to check: {lines:?}");
    lines
}

/// The ciphertext of the first value at a key named `key` in an encrypted file.
fn cipher_of(file: &str, key: &str) -> String {
    let line = file.lines().find(|l| l.contains(key) && l.contains("ENC[")).unwrap();
    let start = line.find("ENC[").unwrap();
    let end = line[start..].find(']').unwrap();
    line[start..=start + end].to_owned()
}

fn assert_no_markers(s: &str) {
    assert!(!s.contains("<<<<<<<") && !s.contains(">>>>>>>") && !s.contains("\n=======\n"), "{s}");
}

// ---------------------------------------------------------------------------------------------
// YAML

const YAML_BASE: &str = "\
# database settings
db:
    user: admin
    password: s3cret-base
api_token: tok-base
replicas: 3
hosts:
    - a.example
    - b.example
";

#[test]
fn yaml_branches_changing_different_keys_merge_cleanly() {
    let repo = Repo::new();
    repo.add_encrypted("s.enc.yaml", YAML_BASE, "base");
    let before = repo.read("s.enc.yaml");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set_and_commit("s.enc.yaml", &[("[\"api_token\"]", "\"tok-feature\"")], "feature");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set_and_commit("s.enc.yaml", &[("[\"db\"][\"password\"]", "\"pw-main\"")], "main");

    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(out.status.success(), "{}", text(&out));
    let merged = repo.read("s.enc.yaml");
    assert_no_markers(&merged);
    let expected = "\
# database settings
db:
    user: admin
    password: pw-main
api_token: tok-feature
replicas: 3
hosts:
    - a.example
    - b.example
";
    assert_eq!(repo.sealgate_ok(&["decrypt", "s.enc.yaml"]), expected);
    if let Some(plain) = repo.sops_decrypt("s.enc.yaml") {
        assert_eq!(plain, expected);
    }
    for line in untouched_cipher_lines(&before, &["password", "api_token"]) {
        assert!(merged.lines().any(|l| l == line), "ciphertext changed: {line}");
    }
    assert!(repo.git_ok(&["status", "--porcelain"]).is_empty());
}

#[test]
fn yaml_conflict_is_written_around_ciphertext_and_resolved_with_edit() {
    let repo = Repo::new();
    repo.add_encrypted("s.enc.yaml", YAML_BASE, "base");
    let base_token = cipher_of(&repo.read("s.enc.yaml"), "api_token");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set_and_commit(
        "s.enc.yaml",
        &[("[\"api_token\"]", "\"tok-feature\""), ("[\"db\"][\"user\"]", "\"user-feature\"")],
        "feature",
    );
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set_and_commit("s.enc.yaml", &[("[\"api_token\"]", "\"tok-main\"")], "main");

    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("CONFLICT (content): Merge conflict in s.enc.yaml"),
        "{}",
        text(&out)
    );
    let conflicted = repo.read("s.enc.yaml");
    let block: Vec<&str> = conflicted
        .lines()
        .skip_while(|l| *l != "<<<<<<< ours")
        .take_while(|l| *l != ">>>>>>> theirs")
        .collect();
    assert_eq!(block.len(), 4, "one value each side: {conflicted}");
    assert!(
        block[1].starts_with("api_token: ENC[AES256_GCM,")
            && block[3].starts_with("api_token: ENC[AES256_GCM,")
    );
    assert_eq!(block[2], "=======");
    assert_eq!(
        conflicted.matches("<<<<<<< ").count(),
        1,
        "only the conflicting value: {conflicted}"
    );
    // The combined diff (textconv) shows the plaintext alternatives; nothing is cached on disk.
    let diff = repo.git_ok(&["diff"]);
    assert!(diff.contains("tok-main") && diff.contains("tok-feature"), "{diff}");
    let shown = repo.sealgate_ok(&["diff", "s.enc.yaml"]);
    assert!(
        shown.contains(
            "<<<<<<< ours\napi_token: tok-main\n=======\napi_token: tok-feature\n>>>>>>> theirs\n"
        ),
        "{shown}"
    );
    repo.assert_nowhere_on_disk(
        &[
            "tok-main",
            "tok-feature",
            "tok-base",
            "user-feature",
            "s3cret-base",
            "admin",
            "a.example",
        ],
        &base_token,
    );

    // An edit that leaves the markers writes nothing.
    let out = repo.edit_with("s.enc.yaml", KEEP_MARKERS);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(repo.read("s.enc.yaml"), conflicted);

    let out = repo.edit_with("s.enc.yaml", PICK_THEIRS);
    assert!(out.status.success(), "{}", text(&out));
    let resolved = repo.read("s.enc.yaml");
    assert_no_markers(&resolved);
    let expected = "\
# database settings
db:
    user: user-feature
    password: s3cret-base
api_token: tok-feature
replicas: 3
hosts:
    - a.example
    - b.example
";
    assert_eq!(repo.sealgate_ok(&["decrypt", "s.enc.yaml"]), expected);
    if let Some(plain) = repo.sops_decrypt("s.enc.yaml") {
        assert_eq!(plain, expected);
    }
    repo.git_ok(&["add", "s.enc.yaml"]);
    repo.git_ok(&["commit", "-qm", "resolved"]);
    repo.assert_nowhere_on_disk(
        &["tok-main", "tok-feature", "user-feature", "s3cret-base"],
        &base_token,
    );
}

#[test]
fn add_add_of_one_file_merges_against_an_empty_base() {
    let repo = Repo::new();
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.add_encrypted("new.enc.yaml", "shared: same\nfrom_feature: f\n", "feature adds");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.add_encrypted("new.enc.yaml", "shared: same\nfrom_main: m\n", "main adds");
    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(out.status.success(), "{}", text(&out));
    // Each side encrypted with its own data key for the same recipient: ours' is kept.
    let expected = "shared: same\nfrom_main: m\nfrom_feature: f\n";
    assert_eq!(repo.sealgate_ok(&["decrypt", "new.enc.yaml"]), expected);
    if let Some(plain) = repo.sops_decrypt("new.enc.yaml") {
        assert_eq!(plain, expected);
    }
}

#[test]
fn git_diff_and_log_show_decrypted_changes_and_fall_back_without_a_key() {
    let mut repo = Repo::new();
    repo.add_encrypted("s.enc.yaml", YAML_BASE, "base");
    repo.sealgate_ok(&["set", "s.enc.yaml", "[\"api_token\"]", "\"tok-new\""]);
    let diff = repo.git_ok(&["diff"]);
    assert!(diff.contains("\n-api_token: tok-base\n+api_token: tok-new\n"), "{diff}");
    assert!(!diff.contains("ENC["), "{diff}");
    repo.git_ok(&["commit", "-qam", "rotate token"]);
    let log = repo.git_ok(&["log", "-p"]);
    assert!(log.contains("+api_token: tok-base\n"), "the first commit, decrypted: {log}");
    assert!(log.contains("\n-api_token: tok-base\n+api_token: tok-new\n"), "{log}");

    repo.key_file = Some(repo.home.join("no-such-keys.txt").display().to_string());
    let out = repo.git(&["log", "-p"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = String::from_utf8(out.stdout).unwrap();
    assert!(log.contains("+api_token: ENC[AES256_GCM,"), "{log}");
    assert!(!log.contains("tok-"), "{log}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("sealgate diff: ") && stderr.contains("shown as it is"), "{stderr}");
    assert!(
        stderr.lines().all(|l| l.starts_with("sealgate diff: ")),
        "one line per file: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// JSON

const JSON_BASE: &str = r#"{"db": {"user": "admin", "password": "s3cret-base"}, "api_token": "tok-base", "replicas": 3, "hosts": ["a.example", "b.example"]}"#;

fn json_expected(user: &str, password: &str, token: &str) -> String {
    format!(
        "{{\n\t\"db\": {{\n\t\t\"user\": \"{user}\",\n\t\t\"password\": \"{password}\"\n\t}},\n\t\"api_token\": \"{token}\",\n\t\"replicas\": 3,\n\t\"hosts\": [\n\t\t\"a.example\",\n\t\t\"b.example\"\n\t]\n}}"
    )
}

#[test]
fn json_branches_changing_different_keys_merge_cleanly() {
    let repo = Repo::new();
    repo.add_encrypted("s.enc.json", JSON_BASE, "base");
    let before = repo.read("s.enc.json");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set_and_commit("s.enc.json", &[("[\"api_token\"]", "\"tok-feature\"")], "feature");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set_and_commit("s.enc.json", &[("[\"db\"][\"password\"]", "\"pw-main\"")], "main");

    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(out.status.success(), "{}", text(&out));
    let merged = repo.read("s.enc.json");
    assert_no_markers(&merged);
    let expected = json_expected("admin", "pw-main", "tok-feature");
    assert_eq!(repo.sealgate_ok(&["decrypt", "s.enc.json"]).trim_end(), expected);
    if let Some(plain) = repo.sops_decrypt("s.enc.json") {
        assert_eq!(plain.trim_end(), expected);
    }
    for line in untouched_cipher_lines(&before, &["password", "api_token"]) {
        assert!(merged.lines().any(|l| l == line), "ciphertext changed: {line}");
    }
}

#[test]
fn json_conflict_is_written_around_ciphertext_and_resolved_with_edit() {
    let repo = Repo::new();
    repo.add_encrypted("s.enc.json", JSON_BASE, "base");
    let base_token = cipher_of(&repo.read("s.enc.json"), "api_token");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.set_and_commit(
        "s.enc.json",
        &[("[\"api_token\"]", "\"tok-feature\""), ("[\"db\"][\"user\"]", "\"user-feature\"")],
        "feature",
    );
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set_and_commit("s.enc.json", &[("[\"api_token\"]", "\"tok-main\"")], "main");

    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(!out.status.success(), "{}", text(&out));
    let conflicted = repo.read("s.enc.json");
    assert_eq!(conflicted.matches("\n<<<<<<< ours\n").count(), 1, "{conflicted}");
    let inside: Vec<&str> = conflicted
        .lines()
        .skip_while(|l| *l != "<<<<<<< ours")
        .skip(1)
        .take_while(|l| *l != ">>>>>>> theirs")
        .filter(|l| *l != "=======")
        .collect();
    assert!(inside.iter().all(|l| l.contains("\"api_token\": \"ENC[AES256_GCM,")), "{inside:?}");
    repo.assert_nowhere_on_disk(
        &["tok-main", "tok-feature", "tok-base", "user-feature", "s3cret-base", "admin"],
        &base_token,
    );

    let out = repo.edit_with("s.enc.json", PICK_OURS);
    assert!(out.status.success(), "{}", text(&out));
    let expected = json_expected("user-feature", "s3cret-base", "tok-main");
    assert_eq!(repo.sealgate_ok(&["decrypt", "s.enc.json"]).trim_end(), expected);
    if let Some(plain) = repo.sops_decrypt("s.enc.json") {
        assert_eq!(plain.trim_end(), expected);
    }
    repo.git_ok(&["add", "s.enc.json"]);
    repo.git_ok(&["commit", "-qm", "resolved"]);
    repo.assert_nowhere_on_disk(
        &["tok-main", "tok-feature", "user-feature", "s3cret-base"],
        &base_token,
    );
}

#[test]
fn json_git_diff_shows_the_decrypted_change() {
    let repo = Repo::new();
    repo.add_encrypted("s.enc.json", JSON_BASE, "base");
    repo.sealgate_ok(&["set", "s.enc.json", "[\"replicas\"]", "5"]);
    let diff = repo.git_ok(&["diff"]);
    assert!(diff.contains("\n-\t\"replicas\": 3,\n+\t\"replicas\": 5,\n"), "{diff}");
}

// ---------------------------------------------------------------------------------------------
// The driver on its own

/// Three versions of one file written by the tests, merged by calling the driver directly.
struct Trio {
    repo: Repo,
}

impl Trio {
    fn new(base: &str, ours: &str, theirs: &str) -> Trio {
        let repo = Repo::new();
        for (name, content) in [("base.json", base), ("ours.json", ours), ("theirs.json", theirs)] {
            repo.write(name, content);
        }
        Trio { repo }
    }

    fn encrypt_all(&self) {
        for name in ["base.json", "ours.json", "theirs.json"] {
            self.repo.sealgate_ok(&["encrypt", "--age", RECIPIENT, "-i", name]);
        }
    }

    fn merge(&self) -> Output {
        self.repo.sealgate(&[
            "merge",
            "base.json",
            "ours.json",
            "theirs.json",
            "--path",
            "s.enc.json",
        ])
    }
}

#[test]
fn hard_errors_exit_with_other_codes_and_leave_ours_untouched() {
    let mut trio = Trio::new(r#"{"a": "1"}"#, r#"{"a": "2"}"#, r#"{"a": "3"}"#);
    trio.encrypt_all();
    let ours = trio.repo.read("ours.json");
    trio.repo.key_file = Some("/nonexistent/keys.txt".to_owned());
    let out = trio.merge();
    assert_eq!(out.status.code(), Some(128), "{}", text(&out));
    assert_eq!(trio.repo.read("ours.json"), ours);

    let trio = Trio::new(r#"{"a": "1"}"#, r#"{"a": "2"}"#, r#"{"a": "3"}"#);
    trio.repo.sealgate_ok(&["encrypt", "--age", RECIPIENT, "-i", "ours.json"]);
    let ours = trio.repo.read("ours.json");
    let out = trio.merge();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted"), "{}", text(&out));
    assert_eq!(trio.repo.read("ours.json"), ours);
}

#[test]
fn files_encrypted_on_no_side_merge_as_text() {
    let trio = Trio::new("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n");
    let out = trio.merge();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(trio.repo.read("ours.json"), "A\nb\nC\n");

    let trio = Trio::new("a\n", "ours\n", "theirs\n");
    let out = trio.merge();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        trio.repo
            .read("ours.json")
            .contains("<<<<<<< ours\nours\n=======\ntheirs\n>>>>>>> theirs\n")
    );
}

#[test]
fn a_merge_equal_to_one_side_keeps_that_file_byte_for_byte() {
    // Theirs' change is a subset of ours': the result is ours exactly, no new lastmodified.
    let repo = Repo::new();
    repo.write("base.json", r#"{"a": "1", "b": "1"}"#);
    repo.sealgate_ok(&["encrypt", "--age", RECIPIENT, "-i", "base.json"]);
    std::fs::copy(repo.path("base.json"), repo.path("theirs.json")).unwrap();
    repo.sealgate_ok(&["set", "theirs.json", "[\"a\"]", "\"2\""]);
    std::fs::copy(repo.path("theirs.json"), repo.path("ours.json")).unwrap();
    repo.sealgate_ok(&["set", "ours.json", "[\"b\"]", "\"2\""]);
    let ours = repo.read("ours.json");
    let out =
        repo.sealgate(&["merge", "base.json", "ours.json", "theirs.json", "--path", "s.enc.json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("ours.json"), ours);
}

// ---------------------------------------------------------------------------------------------
// Sealed Secrets: a stream of independent SOPS files, one per document

/// Two Secrets as `kubectl create secret --dry-run -o yaml` would write them.
fn secrets(first: &str, second: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: first\n  namespace: apps\nstringData:\n  \
         token: {first}\n  shared: same\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: second\n  \
         namespace: apps\nstringData:\n  token: {second}\n"
    )
}

impl Repo {
    /// Seals Secrets into `name` (every document gets its own data key) and commits.
    fn seal_and_commit(&self, name: &str, manifests: &str, message: &str) {
        self.write("secrets.tmp.yaml", manifests);
        let sealed = self.sealgate_ok(&["seal", "--age", RECIPIENT, "secrets.tmp.yaml"]);
        std::fs::remove_file(self.path("secrets.tmp.yaml")).unwrap();
        self.write(name, &sealed);
        self.git_ok(&["add", name]);
        self.git_ok(&["commit", "-qm", message]);
    }

    /// The `stringData` values of every unsealed Secret, in order.
    fn unsealed_tokens(&self, name: &str) -> Vec<String> {
        let out = self.sealgate_ok(&["unseal", name]);
        out.lines().filter_map(|l| l.trim().strip_prefix("token: ")).map(str::to_owned).collect()
    }
}

#[test]
fn sealed_streams_merge_document_by_document() {
    let repo = Repo::new();
    repo.seal_and_commit("app.sealed.yaml", &secrets("t1-base", "t2-base"), "base");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.seal_and_commit("app.sealed.yaml", &secrets("t1-base", "t2-feature"), "feature");
    let feature = repo.read("app.sealed.yaml");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.seal_and_commit("app.sealed.yaml", &secrets("t1-main", "t2-base"), "main");
    let main = repo.read("app.sealed.yaml");

    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(out.status.success(), "{}", text(&out));
    let merged = repo.read("app.sealed.yaml");
    assert_eq!(repo.unsealed_tokens("app.sealed.yaml"), ["t1-main", "t2-feature"]);
    let docs = |s: &str| s.split("\n---\n").map(str::to_owned).collect::<Vec<_>>();
    let (merged, main, feature) = (docs(&merged), docs(&main), docs(&feature));
    assert_eq!(merged.len(), 2);
    // `first`: feature only re-sealed it (new data key, same values), so main's is kept whole.
    assert_eq!(merged[0], main[0]);
    // `second`: main only re-sealed it, feature changed a value: feature's value under main's
    // data key (each side made a new key for the same recipient; ours' is kept).
    let armor = |doc: &str| {
        doc.split("BEGIN AGE").nth(1).unwrap().split("END AGE").next().unwrap().to_owned()
    };
    assert_eq!(armor(&merged[1]), armor(&main[1]));
    assert_ne!(armor(&merged[1]), armor(&feature[1]));
    let diff = repo.git_ok(&["show", "HEAD^2"]);
    assert!(diff.contains("-        token: t2-base\n+        token: t2-feature\n"), "{diff}");
}

#[test]
fn sealed_stream_conflict_resolves_with_edit() {
    let repo = Repo::new();
    repo.seal_and_commit("app.sealed.yaml", &secrets("t1-base", "t2-base"), "base");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    repo.seal_and_commit("app.sealed.yaml", &secrets("t1-feature", "t2-feature"), "feature");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.seal_and_commit("app.sealed.yaml", &secrets("t1-main", "t2-base"), "main");

    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(!out.status.success(), "{}", text(&out));
    let conflicted = repo.read("app.sealed.yaml");
    assert_eq!(conflicted.matches("<<<<<<< ours\n").count(), 1, "{conflicted}");
    let base_token = cipher_of(&repo.git_ok(&["show", "HEAD~1:app.sealed.yaml"]), "token");
    repo.assert_nowhere_on_disk(
        &["t1-main", "t1-feature", "t2-feature", "t1-base", "t2-base"],
        &base_token,
    );
    let out = repo.edit_with("app.sealed.yaml", PICK_THEIRS);
    assert!(out.status.success(), "{}", text(&out));
    assert_no_markers(&repo.read("app.sealed.yaml"));
    assert_eq!(repo.unsealed_tokens("app.sealed.yaml"), ["t1-feature", "t2-feature"]);
}

#[test]
fn yaml_multi_document_file_merges_document_by_document() {
    let repo = Repo::new();
    repo.add_encrypted("multi.enc.yaml", "a: 1\nb: 2\n---\nc: 3\nd: 4\n", "base");
    repo.git_ok(&["checkout", "-qb", "feature"]);
    let out = repo.edit_with("multi.enc.yaml", "#!/bin/sh\nsed -i -e 's/^c: 3$/c: 30/' \"$1\"\n");
    assert!(out.status.success(), "{}", text(&out));
    repo.git_ok(&["commit", "-qam", "feature"]);
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.set_and_commit("multi.enc.yaml", &[("[\"b\"]", "\"two\"")], "main");
    let out = repo.git(&["merge", "-m", "merge feature", "feature"]);
    assert!(out.status.success(), "{}", text(&out));
    let expected = "a: 1\nb: two\n---\nc: 30\nd: 4\n";
    assert_eq!(repo.sealgate_ok(&["decrypt", "multi.enc.yaml"]), expected);
    if let Some(plain) = repo.sops_decrypt("multi.enc.yaml") {
        assert_eq!(plain, expected);
    }
}
