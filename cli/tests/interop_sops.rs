//! Interop with the real `sops` 3.11 and `age`, in both directions: files sealgate writes (with
//! every store and option) decrypt with sops exactly as sops's own files do, files sops writes
//! decrypt with sealgate exactly as sops prints them, and files changed by one tool's `set`,
//! `unset`, `edit`, `rotate` and `updatekeys` stay readable by the other.
//!
//! The binaries are required: a missing `sops`, `age` or `ssh-keygen` fails the test with a
//! message saying to run `bash .ci/run`.

mod common;

use std::path::Path;

use common::*;
use regex::Regex;
use sealgate::format::cipher::{DataKey, EncValue, ValueCipher};
use sealgate::format::file::SopsFile;
use sealgate::format::store::Format;

/// An encrypted file with everything random (ciphertexts, IVs, tags, wrapped keys) and the
/// timestamp blanked, so two encryptions of one input with the same options compare equal.
/// sops writes INI's `[sops]` section in Go map order (random from run to run), so those lines
/// are sorted.
fn skeleton(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let enc = Regex::new(
        r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:(\w+)\]",
    )
    .unwrap();
    let armor =
        Regex::new(r"-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----")
            .unwrap();
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = enc.replace_all(&text, "ENC[$1]");
    let text = armor.replace_all(&text, "AGE-ARMOR");
    let text = time.replace_all(&text, "TIME").into_owned();
    match text.find("\n[sops]\n") {
        Some(at) => {
            let (body, section) = text.split_at(at);
            let mut lines: Vec<&str> = section.lines().collect();
            lines.sort_unstable();
            format!("{body}{}", lines.join("\n"))
        }
        None => text,
    }
}

fn ext(name: &str) -> &str {
    Path::new(name).extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// Encrypts `plain_name` (already in the work dir) with sealgate (`sg` flags) and with sops
/// (`sops_argv`, the arguments before the file name), then checks:
/// - both files have the same layout (same values encrypted, same metadata fields), byte for
///   byte once the random parts are blanked;
/// - `sops decrypt` prints the same bytes for both;
/// - `sealgate decrypt` prints those bytes too, for both files.
///
/// Returns the names of (sealgate's file, sops's file).
fn encrypt_both(
    sb: &Sandbox,
    plain_name: &str,
    sg: &[&str],
    sops_argv: &[&str],
) -> (String, String) {
    encrypt_both_as(sb, plain_name, ext(plain_name), sg, sops_argv)
}

/// [`encrypt_both`], with the encrypted files named with the extension `out_ext` (for
/// `--output-type`).
fn encrypt_both_as(
    sb: &Sandbox,
    plain_name: &str,
    out_ext: &str,
    sg: &[&str],
    sops_argv: &[&str],
) -> (String, String) {
    let e = ext(plain_name);
    let stem = plain_name.trim_end_matches(&format!(".{e}"));
    let ours = format!("{stem}.sealgate.{out_ext}");
    let theirs = format!("{stem}.sops.{out_ext}");
    let out = sb.sealgate(&["encrypt"]);
    let out = sg.iter().fold(out, |r, a| r.arg(a)).arg(plain_name).ok();
    sb.write(&ours, &out.stdout);
    let out = sops_argv.iter().fold(sb.sops::<&str>(&[]), |r, a| r.arg(a)).arg(plain_name).ok();
    sb.write(&theirs, &out.stdout);
    assert_eq!(
        skeleton(&sb.read(&ours)),
        skeleton(&sb.read(&theirs)),
        "{plain_name}: sealgate's file (left) is laid out differently from sops's (right)"
    );
    let theirs_plain = sb.sops(&["decrypt", &theirs]).ok().stdout;
    let ours_plain = sb.sops(&["decrypt", &ours]).ok().stdout;
    assert_same_bytes(&format!("{plain_name}: sops decrypt"), &ours_plain, &theirs_plain);
    let sg_theirs = sb.sealgate(&["decrypt", &theirs]).ok().stdout;
    assert_same_bytes(&format!("{plain_name}: decrypt of sops's file"), &sg_theirs, &theirs_plain);
    let sg_ours = sb.sealgate(&["decrypt", &ours]).ok().stdout;
    assert_same_bytes(
        &format!("{plain_name}: decrypt of sealgate's file"),
        &sg_ours,
        &theirs_plain,
    );
    (ours, theirs)
}

#[test]
fn every_fixture_input_round_trips_with_sops_in_both_directions() {
    let sb = Sandbox::new();
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("inputs"))
        .expect("tests/fixtures/sops/inputs")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for ext in ["yaml", "json", "env", "ini", "bin"] {
        assert!(names.iter().any(|n| n.ends_with(ext)), "an input of each store: {ext}");
    }
    assert!(names.len() >= 18, "the fixture inputs: {names:?}");
    for name in &names {
        sb.copy_fixture(&format!("inputs/{name}"), name);
        encrypt_both(&sb, name, &["--age", RECIPIENT_A], &["encrypt", "--age", RECIPIENT_A]);
    }
}

/// `encrypt --output-type`: the same file as sops writes, for conversions between the
/// structured stores and from and to the binary store (a binary input never takes an
/// encryption rule, whatever the output format; any other input always does).
#[test]
fn output_type_conversions_match_sops() {
    let sb = Sandbox::new();
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    sb.copy_fixture("inputs/basic.env", "basic.env");
    sb.copy_fixture("inputs/blob.bin", "blob.bin");
    for (name, to, out_ext) in [
        ("basic.yaml", "json", "json"),
        ("basic.env", "yaml", "yaml"),
        ("basic.yaml", "binary", "json"),
        ("blob.bin", "json", "json"),
        ("blob.bin", "yaml", "yaml"),
    ] {
        let sg = ["--age", RECIPIENT_A, "--output-type", to];
        let sops = ["encrypt", "--age", RECIPIENT_A, "--output-type", to];
        if to == "binary" {
            // Neither tool can print such a file again, so only the layouts are compared.
            let ours = sg.iter().fold(sb.sealgate(&["encrypt"]), |r, a| r.arg(a)).arg(name).ok();
            let theirs = sops.iter().fold(sb.sops::<&str>(&[]), |r, a| r.arg(a)).arg(name).ok();
            assert_eq!(skeleton(&ours.stdout), skeleton(&theirs.stdout), "{name} as {to}");
            continue;
        }
        encrypt_both_as(&sb, name, out_ext, &sg, &sops);
    }
}

#[test]
fn kubernetes_manifests_round_trip_with_sops_in_both_directions() {
    let sb = Sandbox::new();
    let regex = "^(data|stringData)$";
    for name in ["k8s-secret.yaml", "k8s-multidoc.yaml"] {
        sb.copy_fixture(&format!("inputs/{name}"), name);
        encrypt_both(
            &sb,
            name,
            &["--age", RECIPIENT_A, "--encrypted-regex", regex],
            &["encrypt", "--age", RECIPIENT_A, "--encrypted-regex", regex],
        );
    }
}

#[test]
fn each_encryption_rule_round_trips_with_sops() {
    let sb = Sandbox::new();
    let cases: [(&str, &str, &str); 4] = [
        ("encrypted-regex.yaml", "--encrypted-regex", "^(password|token|apiKey)$"),
        ("unencrypted-regex.yaml", "--unencrypted-regex", "^(description|metadata)$"),
        ("encrypted-suffix.yaml", "--encrypted-suffix", "_secret"),
        ("unencrypted-suffix.yaml", "--unencrypted-suffix", "_public"),
    ];
    for (name, flag, value) in cases {
        sb.copy_fixture(&format!("inputs/{name}"), name);
        encrypt_both(
            &sb,
            name,
            &["--age", RECIPIENT_A, flag, value],
            &["encrypt", "--age", RECIPIENT_A, flag, value],
        );
        // The same rule on JSON (the input is sops's own JSON rendering of the YAML input).
        let json = name.replace(".yaml", ".json");
        let as_json = sb
            .sops(&["decrypt", "--output-type", "json", &name.replace(".yaml", ".sops.yaml")])
            .ok()
            .stdout;
        sb.write(&json, as_json);
        encrypt_both(
            &sb,
            &json,
            &["--age", RECIPIENT_A, flag, value],
            &["encrypt", "--age", RECIPIENT_A, flag, value],
        );
    }
}

/// The comment rules and `mac_only_encrypted`: sealgate by flags, sops by `.sops.yaml` (its
/// 3.11 `encrypt` subcommand has no such flags); both files must come out the same.
#[test]
fn comment_rules_and_mac_only_encrypted_round_trip_with_sops() {
    let sb = Sandbox::new();
    let config = format!(
        "creation_rules:\n  \
         - path_regex: comment-regex\\.yaml$\n    age: {RECIPIENT_A}\n    encrypted_comment_regex: sops:enc\n  \
         - path_regex: unencrypted-comment\\.yaml$\n    age: {RECIPIENT_A}\n    unencrypted_comment_regex: sops:clear\n  \
         - path_regex: mac-only-encrypted\\.yaml$\n    age: {RECIPIENT_A}\n    encrypted_regex: ^secret\n    mac_only_encrypted: true\n"
    );
    sb.write("rules/sops.yaml", config);
    sb.copy_fixture("inputs/comment-regex.yaml", "comment-regex.yaml");
    sb.write(
        "unencrypted-comment.yaml",
        "secret: encrypted\n# sops:clear\nshown: in clear text\nlist:\n    # sops:clear\n    - clear item\n    - encrypted item\n",
    );
    sb.copy_fixture("inputs/mac-only-encrypted.yaml", "mac-only-encrypted.yaml");
    let sops = ["--config", "rules/sops.yaml", "encrypt"];
    encrypt_both(
        &sb,
        "comment-regex.yaml",
        &["--age", RECIPIENT_A, "--encrypted-comment-regex", "sops:enc"],
        &sops,
    );
    encrypt_both(
        &sb,
        "unencrypted-comment.yaml",
        &["--age", RECIPIENT_A, "--unencrypted-comment-regex", "sops:clear"],
        &sops,
    );
    let (ours, _) = encrypt_both(
        &sb,
        "mac-only-encrypted.yaml",
        &["--age", RECIPIENT_A, "--encrypted-regex", "^secret", "--mac-only-encrypted"],
        &sops,
    );
    // The same files through sealgate's own reading of the config.
    let via_config =
        sb.sealgate(&["--config", "rules/sops.yaml", "encrypt", "mac-only-encrypted.yaml"]).ok();
    assert_eq!(skeleton(&via_config.stdout), skeleton(&sb.read(&ours)));
    // With the MAC over encrypted values only, a clear value may change and sops still
    // decrypts sealgate's file.
    let edited = sb.read_text(&ours).replace("public_count: 7", "public_count: 8");
    sb.write("mac-only-edited.yaml", edited);
    let out = sb.sops(&["decrypt", "mac-only-edited.yaml"]).ok();
    assert!(out.stdout_text().contains("public_count: 8"));
}

#[test]
fn two_recipients_each_decrypt_alone() {
    let sb = Sandbox::new();
    sb.copy_fixture("inputs/two-recipients.yaml", "two.yaml");
    let both = format!("{RECIPIENT_A},{RECIPIENT_B}");
    let (ours, theirs) =
        encrypt_both(&sb, "two.yaml", &["--age", &both], &["encrypt", "--age", &both]);
    let expected = sb.sops(&["decrypt", &theirs]).ok().stdout;
    let b = Sandbox::new().with_key_file("keys-b.txt");
    b.write("two.yaml", sb.read(&ours));
    assert_same_bytes(
        "keys-b.txt alone, sops",
        &b.sops(&["decrypt", "two.yaml"]).ok().stdout,
        &expected,
    );
    b.write("theirs.yaml", sb.read(&theirs));
    assert_same_bytes(
        "keys-b.txt alone, sealgate on sops's file",
        &b.sealgate(&["decrypt", "theirs.yaml"]).ok().stdout,
        &expected,
    );
}

#[test]
fn shamir_key_groups_need_two_of_three_with_either_tool() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{RECIPIENT_A}]\n      - age: [{RECIPIENT_B}]\n      - age: [{RECIPIENT_C}]\n"
        ),
    );
    // Two identities of three (a and c), in one key file.
    let two = format!("{}\n{}", read_text(fixture("keys.txt")), read_text(fixture("keys-c.txt")));
    let two_keys = sb.write("two-keys.txt", two);
    let mut sb = sb;
    sb.key_file = Some(two_keys);
    sb.copy_fixture("inputs/shamir.yaml", "shamir.yaml");
    let (ours, theirs) = encrypt_both(&sb, "shamir.yaml", &[], &["encrypt"]);
    assert!(sb.read_text(&ours).contains("shamir_threshold: 2"));
    // One identity alone is not enough, for sops on our file and for us on sops's file.
    let mut one = Sandbox::new();
    one.key_file = Some(fixture("keys-b.txt"));
    one.write("ours.yaml", sb.read(&ours));
    one.write("theirs.yaml", sb.read(&theirs));
    one.sops(&["decrypt", "ours.yaml"]).fails(128);
    one.sealgate(&["decrypt", "theirs.yaml"]).fails(128);
}

#[test]
fn ssh_ed25519_recipients_work_with_either_tool() {
    let mut sb = Sandbox::new();
    let (private, public) = sb.ssh_keygen("id_ed25519");
    sb.key_file = None;
    sb.env.push(("SOPS_AGE_SSH_PRIVATE_KEY_FILE".into(), private.display().to_string()));
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    sb.copy_fixture("inputs/basic.env", "basic.env");
    let (ours, _) =
        encrypt_both(&sb, "basic.yaml", &["--age", &public], &["encrypt", "--age", &public]);
    assert!(sb.read_text(&ours).contains(&format!("recipient: {public}")));
    encrypt_both(&sb, "basic.env", &["--age", &public], &["encrypt", "--age", &public]);
    // ~/.ssh/id_ed25519 is found without any variable, by both tools.
    std::fs::create_dir_all(sb.home.join(".ssh")).unwrap();
    std::fs::copy(&private, sb.home.join(".ssh/id_ed25519")).unwrap();
    sb.env.clear();
    let a = sb.sops(&["decrypt", &ours]).ok().stdout;
    let b = sb.sealgate(&["decrypt", &ours]).ok().stdout;
    assert_same_bytes("identity from ~/.ssh/id_ed25519", &b, &a);
}

/// `--extract` prints what sops prints, for strings, numbers, maps and lists, on both tools'
/// files and in YAML and JSON.
#[test]
fn extract_matches_sops_on_both_tools_files() {
    let sb = Sandbox::new();
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    sb.copy_fixture("inputs/basic.json", "basic.json");
    let yaml = encrypt_both(
        &sb,
        "basic.yaml",
        &["--age", RECIPIENT_A],
        &["encrypt", "--age", RECIPIENT_A],
    );
    let json = encrypt_both(
        &sb,
        "basic.json",
        &["--age", RECIPIENT_A],
        &["encrypt", "--age", RECIPIENT_A],
    );
    let yaml_paths = [
        r#"["service"]["database"]["password"]"#,
        r#"["service"]["replicas"]"#,
        r#"["service"]["database"]"#,
        r#"["service"]["endpoints"]"#,
        r#"["service"]["endpoints"][3]"#,
        r#"["service"]["endpoints"][0]"#,
    ];
    let json_paths = [
        r#"["service"]"#,
        r#"["replicas"]"#,
        r#"["limits"]"#,
        r#"["users"]"#,
        r#"["users"][1]["token"]"#,
    ];
    for ((ours, theirs), paths) in [(yaml, &yaml_paths[..]), (json, &json_paths[..])] {
        for path in paths {
            for file in [&ours, &theirs] {
                let want = sb.sops(&["decrypt", "--extract", path, file]).ok().stdout;
                let got = sb.sealgate(&["decrypt", "--extract", path, file]).ok().stdout;
                assert_same_bytes(&format!("--extract {path} {file}"), &got, &want);
            }
        }
    }
}

/// The data key in an age stanza sealgate wrote decrypts with the real `age` to 32 bytes, and
/// those bytes decrypt a value of the file.
#[test]
fn age_stanza_opens_with_the_real_age_and_its_key_decrypts_values() {
    let sb = Sandbox::new();
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    let enc = sb.sealgate(&["encrypt", "--age", RECIPIENT_A, "basic.yaml"]).ok().stdout;
    let file = SopsFile::parse(Format::Yaml, &enc).expect("sealgate's file parses");
    let stanza = &file.metadata.key_groups[0].age[0];
    assert_eq!(stanza.recipient, RECIPIENT_A);
    let key = sb
        .tool("age", &["-d", "-i"])
        .arg(fixture("keys.txt"))
        .stdin(stanza.enc.as_bytes().to_vec())
        .ok()
        .stdout;
    assert_eq!(key.len(), 32, "the age payload is the raw 32-byte data key");
    let key = DataKey::from_slice(&key).expect("32 bytes");
    let text = String::from_utf8(enc).unwrap();
    let line = line_with(&text, "password: ENC[");
    let value = EncValue::parse(line.trim().trim_start_matches("password: ")).expect("ENC value");
    let plain = ValueCipher::new(&key)
        .decrypt(&value, b"service:database:password:")
        .expect("the value decrypts with the key age recovered");
    assert_eq!(plain.as_slice(), b"p@ss:w0rd with spaces");
}

/// The ciphertext of every line that is not the changed value, `mac` or `lastmodified`.
fn stable_lines(text: &str, changed: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            !l.contains(changed) && !l.contains("mac: ENC[") && !l.contains("lastmodified:")
        })
        .map(str::to_owned)
        .collect()
}

/// `sealgate set` and `sops set` on copies of one file: both decrypt the same with either
/// tool, and every untouched value keeps its exact ciphertext (IV reuse), as sops does.
#[test]
fn set_and_unset_interoperate_and_keep_untouched_ciphertext() {
    let sb = Sandbox::new();
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    let enc = sb.sealgate(&["encrypt", "--age", RECIPIENT_A, "basic.yaml"]).ok().stdout;
    let original = String::from_utf8(enc.clone()).unwrap();
    for (path, value, marker) in [
        (r#"["service"]["replicas"]"#, "5", "replicas:"),
        (r#"["service"]["database"]["user"]"#, r#""new-user""#, "user:"),
        (r#"["added"]"#, r#"{"k": [1, "two", true]}"#, "added"),
    ] {
        sb.write("ours.yaml", &enc);
        sb.write("theirs.yaml", &enc);
        sb.sealgate(&["set", "ours.yaml", path, value]).ok();
        sb.sops(&["set", "theirs.yaml", path, value]).ok();
        let ours = sb.read_text("ours.yaml");
        let theirs = sb.read_text("theirs.yaml");
        assert_eq!(skeleton(ours.as_bytes()), skeleton(theirs.as_bytes()), "set {path}");
        let want = sb.sops(&["decrypt", "theirs.yaml"]).ok().stdout;
        assert_same_bytes(
            &format!("sops decrypt after sealgate set {path}"),
            &sb.sops(&["decrypt", "ours.yaml"]).ok().stdout,
            &want,
        );
        assert_same_bytes(
            &format!("sealgate decrypt after sops set {path}"),
            &sb.sealgate(&["decrypt", "theirs.yaml"]).ok().stdout,
            &want,
        );
        if marker != "added" {
            assert_eq!(stable_lines(&ours, marker), stable_lines(&original, marker), "set {path}");
            assert_eq!(stable_lines(&theirs, marker), stable_lines(&original, marker));
        } else {
            let kept: Vec<&str> =
                original.lines().filter(|l| l.contains("ENC[") && !l.contains("mac:")).collect();
            for line in kept {
                assert!(ours.contains(line), "after set {path}, the line {line:?} changed");
            }
        }
    }
    // unset, with sops's unset on a copy.
    sb.write("ours.yaml", &enc);
    sb.write("theirs.yaml", &enc);
    let path = r#"["service"]["database"]["host"]"#;
    sb.sealgate(&["unset", "ours.yaml", path]).ok();
    sb.sops(&["unset", "theirs.yaml", path]).ok();
    let want = sb.sops(&["decrypt", "theirs.yaml"]).ok().stdout;
    assert!(!String::from_utf8_lossy(&want).contains("db.internal.example"));
    assert_same_bytes(
        "sops decrypt after sealgate unset",
        &sb.sops(&["decrypt", "ours.yaml"]).ok().stdout,
        &want,
    );
    assert_same_bytes(
        "sealgate decrypt after sops unset",
        &sb.sealgate(&["decrypt", "theirs.yaml"]).ok().stdout,
        &want,
    );
    assert_eq!(stable_lines(&sb.read_text("ours.yaml"), "host:"), stable_lines(&original, "host:"));
}

/// `set`, `unset` and `rotate` on JSON, dotenv and INI files: each tool's result decrypts with
/// the other to the same bytes, and both tools lay the file out the same.
#[test]
fn set_unset_and_rotate_interoperate_in_every_structured_store() {
    let sb = Sandbox::new();
    let cases = [
        ("basic.json", r#"["limits"]["cpu"]"#, r#"["users"][0]["token"]"#),
        ("basic.env", r#"["API_KEY"]"#, r#"["PORT"]"#),
        ("basic.ini", r#"["database"]["host"]"#, r#"["cache"]["url"]"#),
    ];
    for (name, set_path, unset_path) in cases {
        sb.copy_fixture(&format!("inputs/{name}"), name);
        let enc = sb.sealgate(&["encrypt", "--age", RECIPIENT_A, name]).ok().stdout;
        let e = ext(name);
        let (ours, theirs) = (format!("ours.{e}"), format!("theirs.{e}"));
        let ops: [(&[&str], &[&str]); 3] = [
            (
                &["set", &ours, set_path, r#""new-value""#],
                &["set", &theirs, set_path, r#""new-value""#],
            ),
            (&["unset", &ours, unset_path], &["unset", &theirs, unset_path]),
            (&["rotate", "-i", &ours], &["rotate", "-i", &theirs]),
        ];
        for (sg, sops) in ops {
            sb.write(&ours, &enc);
            sb.write(&theirs, &enc);
            sb.sealgate(sg).ok();
            sb.sops(sops).ok();
            let what = format!("{name}: {}", sg[0]);
            assert_eq!(skeleton(&sb.read(&ours)), skeleton(&sb.read(&theirs)), "{what}");
            let want = sb.sops(&["decrypt", &theirs]).ok().stdout;
            assert_same_bytes(
                &format!("{what}: sops decrypt of sealgate's"),
                &sb.sops(&["decrypt", &ours]).ok().stdout,
                &want,
            );
            assert_same_bytes(
                &format!("{what}: sealgate decrypt of sops's"),
                &sb.sealgate(&["decrypt", &theirs]).ok().stdout,
                &want,
            );
        }
    }
}

/// `sealgate edit` and `sops edit` with one sed script as EDITOR make files that decrypt the
/// same, and unchanged values keep their ciphertext.
#[test]
fn edit_with_a_sed_editor_matches_sops_edit() {
    let mut sb = Sandbox::new();
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    sb.copy_fixture("inputs/basic.json", "basic.json");
    // One script for both tools (they quote EDITOR differently): a YAML and a JSON edit.
    let editor = sb.write(
        "editor.sh",
        "#!/bin/sh\nsed -i -e 's/payments-api/billing-api/' -e 's/replicas: 3$/replicas: 4/' \\\n  -e 's/\"replicas\": 3,/\"replicas\": 4,/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.env.push(("EDITOR".into(), editor.display().to_string()));
    for name in ["basic.yaml", "basic.json"] {
        let e = ext(name);
        let enc = sb.sealgate(&["encrypt", "--age", RECIPIENT_A, name]).ok().stdout;
        let ours = format!("ours.{e}");
        let theirs = format!("theirs.{e}");
        sb.write(&ours, &enc);
        sb.write(&theirs, &enc);
        sb.sealgate(&["edit", &ours]).ok();
        sb.sops(&["edit", &theirs]).ok();
        let want = sb.sops(&["decrypt", &theirs]).ok().stdout;
        let text = String::from_utf8_lossy(&want).into_owned();
        assert!(text.contains("billing-api") && text.contains(": 4"), "the editor ran:\n{text}");
        assert_same_bytes(
            &format!("{name}: sops decrypt after sealgate edit"),
            &sb.sops(&["decrypt", &ours]).ok().stdout,
            &want,
        );
        assert_same_bytes(
            &format!("{name}: sealgate decrypt after sops edit"),
            &sb.sealgate(&["decrypt", &theirs]).ok().stdout,
            &want,
        );
        // The same lines changed in both files (the two edited values and the mac; the
        // timestamp may or may not have moved on to the next second), and every other line
        // kept its exact bytes.
        let original = String::from_utf8(enc).unwrap();
        let changed = |text: &str| -> Vec<usize> {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), original.lines().count(), "{name}: same layout");
            original
                .lines()
                .zip(&lines)
                .enumerate()
                .filter(|(_, (a, b))| a != *b && !a.contains("lastmodified"))
                .map(|(i, _)| i)
                .collect()
        };
        let ours_changed = changed(&sb.read_text(&ours));
        assert_eq!(ours_changed, changed(&sb.read_text(&theirs)), "{name}: lines changed by edit");
        assert_eq!(ours_changed.len(), 3, "{name}: only the two edited values and the mac change");
    }
}

fn iv_of(line: &str) -> &str {
    let start = line.find(",iv:").expect("an ENC value") + 4;
    &line[start..start + 44]
}

fn data_key(sb: &Sandbox, enc: &[u8], format: Format) -> Vec<u8> {
    let file = SopsFile::parse(format, enc).expect("parses");
    sb.tool("age", &["-d", "-i"])
        .arg(fixture("keys.txt"))
        .stdin(file.metadata.key_groups[0].age[0].enc.as_bytes().to_vec())
        .ok()
        .stdout
}

/// `sealgate rotate` makes a new data key, keeps every IV, and sops decrypts the result; `sops
/// rotate` output decrypts with sealgate.
#[test]
fn rotate_interoperates_new_data_key_same_ivs() {
    let sb = Sandbox::new();
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    let enc = sb.sealgate(&["encrypt", "--age", RECIPIENT_A, "basic.yaml"]).ok().stdout;
    sb.write("ours.yaml", &enc);
    let want = sb.sops(&["decrypt", "ours.yaml"]).ok().stdout;
    sb.sealgate(&["rotate", "-i", "--add-age", RECIPIENT_B, "ours.yaml"]).ok();
    let rotated = sb.read_text("ours.yaml");
    assert_same_bytes(
        "sops decrypt after sealgate rotate",
        &sb.sops(&["decrypt", "ours.yaml"]).ok().stdout,
        &want,
    );
    assert_ne!(
        data_key(&sb, &enc, Format::Yaml),
        data_key(&sb, rotated.as_bytes(), Format::Yaml),
        "rotate keeps the data key"
    );
    assert!(rotated.contains(RECIPIENT_B), "--add-age added the recipient");
    let original = String::from_utf8(enc.clone()).unwrap();
    let before: Vec<&str> =
        original.lines().filter(|l| l.contains("ENC[") && !l.contains("mac:")).collect();
    let after: Vec<&str> =
        rotated.lines().filter(|l| l.contains("ENC[") && !l.contains("mac:")).collect();
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(iv_of(b), iv_of(a), "rotate keeps each value's IV");
        assert_ne!(b, a, "rotate re-encrypts every value");
    }
    // keys-b.txt alone now opens it, with sops.
    let b = Sandbox::new().with_key_file("keys-b.txt");
    b.write("ours.yaml", rotated.as_bytes());
    assert_same_bytes(
        "keys-b.txt after --add-age",
        &b.sops(&["decrypt", "ours.yaml"]).ok().stdout,
        &want,
    );
    // --rm-age takes it away again.
    sb.sealgate(&["rotate", "-i", "--rm-age", RECIPIENT_B, "ours.yaml"]).ok();
    b.write("ours.yaml", sb.read("ours.yaml"));
    b.sops(&["decrypt", "ours.yaml"]).fails(128);
    // sops rotate on a sealgate file, read back by sealgate.
    sb.write("theirs.yaml", &enc);
    sb.sops(&["rotate", "-i", "theirs.yaml"]).ok();
    assert_ne!(
        data_key(&sb, &enc, Format::Yaml),
        data_key(&sb, &sb.read("theirs.yaml"), Format::Yaml)
    );
    assert_same_bytes(
        "sealgate decrypt after sops rotate",
        &sb.sealgate(&["decrypt", "theirs.yaml"]).ok().stdout,
        &want,
    );
}

/// `sealgate updatekeys` re-wraps the key for the recipients `.sops.yaml` names now and
/// leaves values, `mac` and `lastmodified` as they were; `sops updatekeys` output decrypts with
/// sealgate.
#[test]
fn updatekeys_interoperates_and_leaves_values_mac_and_lastmodified() {
    let sb = Sandbox::new();
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {RECIPIENT_A}\n"),
    );
    sb.copy_fixture("inputs/basic.yaml", "basic.yaml");
    let enc = sb.sealgate(&["encrypt", "basic.yaml"]).ok().stdout;
    let want =
        sb.sealgate(&["decrypt", "--input-type", "yaml", "-"]).stdin(enc.clone()).ok().stdout;
    sb.write("ours.yaml", &enc);
    sb.write("theirs.yaml", &enc);
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {RECIPIENT_A},{RECIPIENT_B}\n"
        ),
    );
    let out = sb.sealgate(&["updatekeys", "-y", "ours.yaml"]).ok();
    assert!(out.stderr.contains(&format!("+age {RECIPIENT_B}")), "{}", out.stderr);
    sb.sops(&["updatekeys", "-y", "theirs.yaml"]).ok();
    let original = String::from_utf8(enc).unwrap();
    for name in ["ours.yaml", "theirs.yaml"] {
        let text = sb.read_text(name);
        let body = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.contains("ENC[") || l.contains("lastmodified:"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(body(&text), body(&original), "{name}: values, mac and lastmodified unchanged");
        assert!(text.contains(RECIPIENT_B));
    }
    let b = Sandbox::new().with_key_file("keys-b.txt");
    b.write("ours.yaml", sb.read("ours.yaml"));
    b.write("theirs.yaml", sb.read("theirs.yaml"));
    assert_same_bytes(
        "sops with keys-b.txt after sealgate updatekeys",
        &b.sops(&["decrypt", "ours.yaml"]).ok().stdout,
        &want,
    );
    assert_same_bytes(
        "sealgate with keys-b.txt after sops updatekeys",
        &b.sealgate(&["decrypt", "theirs.yaml"]).ok().stdout,
        &want,
    );
    // Running it again changes nothing.
    let again = sb.sealgate(&["updatekeys", "-y", "ours.yaml"]).ok();
    assert!(again.stderr.contains("already up to date"), "{}", again.stderr);
}

/// updatekeys from three Shamir groups to two (A+B, C): both tools write the same groups,
/// and C alone is then not enough for either tool.
#[test]
fn updatekeys_regroups_shamir_files_as_sops_does() {
    let mut sb = Sandbox::new();
    sb.key_file = Some(fixture("keys-all.txt"));
    sb.copy_fixture("shamir.sops.yaml", ".sops.yaml");
    sb.copy_fixture("inputs/shamir.yaml", "shamir.yaml");
    let enc = sb.sealgate(&["encrypt", "shamir.yaml"]).ok().stdout;
    sb.write("ours.yaml", &enc);
    let want = sb.sops(&["decrypt", "ours.yaml"]).ok().stdout;
    sb.write("theirs.yaml", &enc);
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{RECIPIENT_A}, {RECIPIENT_B}]\n      - age: [{RECIPIENT_C}]\n"
        ),
    );
    sb.sealgate(&["updatekeys", "-y", "ours.yaml"]).ok();
    sb.sops(&["updatekeys", "-y", "theirs.yaml"]).ok();
    assert_eq!(skeleton(&sb.read("ours.yaml")), skeleton(&sb.read("theirs.yaml")));
    assert_same_bytes(
        "sops after sealgate updatekeys",
        &sb.sops(&["decrypt", "ours.yaml"]).ok().stdout,
        &want,
    );
    assert_same_bytes(
        "sealgate after sops updatekeys",
        &sb.sealgate(&["decrypt", "theirs.yaml"]).ok().stdout,
        &want,
    );
    sb.key_file = Some(fixture("keys-c.txt"));
    sb.sops(&["decrypt", "ours.yaml"]).fails(128);
    sb.sealgate(&["decrypt", "theirs.yaml"]).fails(128);
}

const SECRET: &str = "apiVersion: v1
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

/// `sealgate seal` output is a SOPS file that sops decrypts; the decrypted EncryptedSecret
/// carries the binding and the values.
#[test]
fn sealed_secret_decrypts_with_sops() {
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    let sealed = sb.sealgate(&["seal", "--age", RECIPIENT_A, "secret.yaml"]).ok().stdout;
    sb.write("db.sealed.yaml", &sealed);
    let plain = sb.sops(&["decrypt", "db.sealed.yaml"]).ok().stdout_text();
    assert_eq!(plain, sb.sealgate(&["decrypt", "db.sealed.yaml"]).ok().stdout_text());
    for expected in [
        "kind: EncryptedSecret",
        "binding: payments/db-creds",
        "password: czNjcmV0LXB3",
        "user: admin",
        "scope: strict",
    ] {
        assert!(plain.contains(expected), "{expected:?} missing from:\n{plain}");
    }
    let text = String::from_utf8(sealed).unwrap();
    assert!(!text.contains("czNjcmV0LXB3") && !text.contains("admin"), "values are encrypted");
}

/// A sealed file as the apiserver hands it back: JSON, keys sorted, labels, annotations and
/// server fields added. `sealgate unseal` still opens it.
#[test]
fn unseal_accepts_a_sealed_file_round_tripped_through_the_apiserver() {
    use sealgate::format::Scalar;
    use sealgate::format::tree::{Item, Map, Node};
    fn to_json(n: &Node) -> serde_json::Value {
        match n {
            Node::Map(m) => map_to_json(m),
            Node::List(items) => serde_json::Value::Array(
                items.iter().filter(|i| !matches!(i, Node::Comment(_))).map(to_json).collect(),
            ),
            Node::Scalar(Scalar::Null) => serde_json::Value::Null,
            Node::Scalar(Scalar::Bool(b)) => (*b).into(),
            Node::Scalar(Scalar::Int(i)) => (*i).into(),
            Node::Scalar(Scalar::Float(f)) => (*f).into(),
            Node::Scalar(Scalar::Time(t)) => t.to_string().into(),
            Node::Scalar(s) => s.as_str().unwrap_or_else(|| panic!("{s:?}")).into(),
            Node::Comment(_) => unreachable!(),
        }
    }
    fn map_to_json(m: &Map) -> serde_json::Value {
        let mut entries: Vec<(String, serde_json::Value)> =
            m.0.iter()
                .filter_map(|i| match i {
                    Item::Entry(k, v) => Some((k.clone(), to_json(v))),
                    Item::Comment(_) => None,
                })
                .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        serde_json::Value::Object(entries.into_iter().collect())
    }
    let sb = Sandbox::new();
    sb.write("secret.yaml", SECRET);
    let sealed = sb.sealgate(&["seal", "--age", RECIPIENT_A, "secret.yaml"]).ok().stdout;
    let docs =
        sealgate::format::store::parse_plain(Format::Yaml, &sealed).expect("sealed YAML parses");
    let mut obj = map_to_json(&docs[0]);
    let md = obj["metadata"].as_object_mut().unwrap();
    md.insert("labels".into(), serde_json::json!({"app.kubernetes.io/managed-by": "argocd"}));
    md.insert(
        "annotations".into(),
        serde_json::json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
    );
    md.insert("uid".into(), "4f1c8d2e-0000-4000-8000-000000000000".into());
    md.insert("resourceVersion".into(), "12345".into());
    md.insert("generation".into(), 1.into());
    md.insert("creationTimestamp".into(), "2026-01-02T03:04:05Z".into());
    // Re-sort after the additions, as the apiserver's JSON output is sorted.
    let obj = {
        let doc = sealgate::format::store::parse_plain(
            Format::Json,
            serde_json::to_string(&obj).unwrap().as_bytes(),
        )
        .unwrap();
        map_to_json(&doc[0])
    };
    let json = serde_json::to_string_pretty(&obj).unwrap();
    sb.write("from-apiserver.json", &json);
    let out = sb.sealgate(&["unseal", "from-apiserver.json"]).ok().stdout_text();
    assert!(out.contains("namespace: payments") && out.contains("name: db-creds"), "{out}");
    assert!(out.contains("password: czNjcmV0LXB3") && out.contains("user: admin"), "{out}");
    // sops reads the JSON form too.
    sb.sops(&["decrypt", "from-apiserver.json"]).ok();
    // `kubectl get -o yaml`: the same object as YAML, keys sorted, two-space indentation.
    let mut yaml = String::new();
    kubectl_yaml_map(obj.as_object().unwrap(), 0, None, &mut yaml);
    assert!(yaml.contains("  age:\n  - enc: |\n      -----BEGIN AGE"), "{yaml}");
    sb.write("from-apiserver.yaml", &yaml);
    let out = sb.sealgate(&["unseal", "from-apiserver.yaml"]).ok().stdout_text();
    assert!(out.contains("password: czNjcmV0LXB3"), "{out}");
    sb.sops(&["decrypt", "from-apiserver.yaml"]).ok();
    // The apiserver form still binds: moved to another namespace, it is refused.
    let moved = json.replace("\"namespace\": \"payments\"", "\"namespace\": \"other\"");
    assert_ne!(moved, json);
    sb.write("moved.json", moved);
    let out = sb.sealgate(&["unseal", "moved.json"]).fails(65);
    assert!(out.stderr.contains("sealed for payments/db-creds"), "{}", out.stderr);
}

/// A JSON object written as `kubectl get -o yaml` writes it: two-space indentation, list items
/// at their key's indentation, multi-line strings as `|` blocks, other strings quoted.
fn kubectl_yaml_map(
    m: &serde_json::Map<String, serde_json::Value>,
    indent: usize,
    first_lead: Option<String>,
    out: &mut String,
) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    for (i, (k, v)) in m.iter().enumerate() {
        let lead = match (&first_lead, i) {
            (Some(l), 0) => l.clone(),
            _ => pad.clone(),
        };
        match v {
            Value::Object(o) if o.is_empty() => out.push_str(&format!("{lead}{k}: {{}}\n")),
            Value::Object(o) => {
                out.push_str(&format!("{lead}{k}:\n"));
                kubectl_yaml_map(o, indent + 2, None, out);
            }
            Value::Array(a) if a.is_empty() => out.push_str(&format!("{lead}{k}: []\n")),
            Value::Array(a) => {
                out.push_str(&format!("{lead}{k}:\n"));
                for item in a {
                    match item {
                        Value::Object(o) => {
                            kubectl_yaml_map(o, indent + 2, Some(format!("{pad}- ")), out)
                        }
                        other => out.push_str(&format!("{pad}- {other}\n")),
                    }
                }
            }
            Value::String(s) if s.contains('\n') => {
                out.push_str(&format!("{lead}{k}: |\n"));
                for line in s.lines() {
                    out.push_str(&format!("{pad}  {line}\n"));
                }
            }
            other => out.push_str(&format!("{lead}{k}: {other}\n")),
        }
    }
}
