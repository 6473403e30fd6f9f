//! Vault/OpenBao transit (`hc_vault`) keys against a real OpenBao dev server and the real `sops`
//! 3.11, in both directions: files either tool seals with `--hc-vault-transit` or a `.sops.yaml`
//! `hc_vault_transit_uri` rule open with the other, mixed age + transit groups (one group and
//! Shamir), the committed fixtures after restoring their transit key, transit key rotation, the
//! token rules, and age-only files that never touch Vault.
//!
//! `bao` and `sops` are required: a missing one fails the test with an install hint.

mod common;
#[path = "../../tests/support/openbao.rs"]
mod openbao;

use common::*;
use openbao::{OpenBao, ROOT_TOKEN};
use regex::Regex;

/// A dev server with transit mounted at `transit/` and a key `name`.
fn server_with_key(name: &str) -> OpenBao {
    let bao = OpenBao::start();
    bao.ok(&["secrets", "enable", "transit"]);
    bao.ok(&["write", "-f", &format!("transit/keys/{name}")]);
    bao
}

/// The sops key URI of transit key `name` on `bao`.
fn uri(bao: &OpenBao, name: &str) -> String {
    format!("{}/v1/transit/keys/{name}", bao.addr)
}

/// A sandbox whose `sealgate` and `sops` reach `bao` with the root token (`VAULT_ADDR`,
/// `VAULT_TOKEN`, a private HOME) and have no age identity, so only transit can unwrap.
fn sandbox_for(bao: &OpenBao) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.key_file = None;
    sb.env.push(("VAULT_ADDR".into(), bao.addr.clone()));
    sb.env.push(("VAULT_TOKEN".into(), ROOT_TOKEN.into()));
    sb
}

/// An encrypted file with its random parts and timestamps blanked, so that what sealgate and
/// sops write for the same input and keys compares equal byte for byte.
fn skeleton(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let enc = Regex::new(
        r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:(\w+)\]",
    )
    .unwrap();
    let transit = Regex::new(r"vault:v(\d+):[A-Za-z0-9+/=]+").unwrap();
    let armor =
        Regex::new(r"-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----")
            .unwrap();
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = enc.replace_all(&text, "ENC[$1]");
    let text = transit.replace_all(&text, "vault:v$1:CIPHERTEXT");
    let text = armor.replace_all(&text, "AGE-ARMOR");
    time.replace_all(&text, "TIME").into_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `ENC[…]` values of a file, in order (the encrypted data, MAC included).
fn enc_values(bytes: &[u8]) -> Vec<String> {
    let enc = Regex::new(r"ENC\[[^\]]*\]").unwrap();
    enc.find_iter(&text(bytes)).map(|m| m.as_str().to_owned()).collect()
}

#[test]
fn sops_files_sealed_with_the_flag_decrypt_with_sealgate() {
    let bao = server_with_key("app");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "app");
    for (input, name) in [("inputs/vault.yaml", "app.yaml"), ("inputs/basic.json", "app.json")] {
        sb.copy_fixture(input, name);
        let enc_name = format!("sops.{name}");
        let sealed = sb.sops(&["encrypt", "--hc-vault-transit", &u, name]).ok().stdout;
        assert!(text(&sealed).contains("vault:v1:"), "{}", text(&sealed));
        sb.write(&enc_name, &sealed);
        let expected = sb.sops(&["decrypt", &enc_name]).ok().stdout;
        let ours = sb.sealgate(&["decrypt", &enc_name]).ok().stdout;
        assert_same_bytes(&format!("decrypt {enc_name}"), &ours, &expected);
    }
}

#[test]
fn sealgate_files_sealed_with_the_flag_match_sops_and_decrypt_with_it() {
    let bao = server_with_key("app");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "app");
    for (input, name) in [("inputs/vault.yaml", "app.yaml"), ("inputs/basic.json", "app.json")] {
        sb.copy_fixture(input, name);
        let ours = sb.sealgate(&["encrypt", "--hc-vault-transit", &u, name]).ok().stdout;
        let theirs = sb.sops(&["encrypt", "--hc-vault-transit", &u, name]).ok().stdout;
        assert_eq!(skeleton(&ours), skeleton(&theirs), "layout of {name} differs from sops's");
        let (ours_name, theirs_name) = (format!("sealgate.{name}"), format!("sops.{name}"));
        sb.write(&ours_name, &ours);
        sb.write(&theirs_name, &theirs);
        let plain = sb.sops(&["decrypt", &ours_name]).ok().stdout;
        let expected = sb.sops(&["decrypt", &theirs_name]).ok().stdout;
        assert_same_bytes(&format!("sops decrypt {ours_name}"), &plain, &expected);
    }
}

#[test]
fn sops_yaml_hc_vault_transit_uri_rule_works_both_ways() {
    let bao = server_with_key("rule");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "rule");
    sb.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: app\\.yaml$\n    hc_vault_transit_uri: {u}\n"),
    );
    sb.copy_fixture("inputs/vault.yaml", "app.yaml");
    let theirs = sb.sops(&["encrypt", "app.yaml"]).ok().stdout;
    let ours = sb.sealgate(&["encrypt", "app.yaml"]).ok().stdout;
    assert!(text(&ours).contains(&format!("vault_address: {}", bao.addr)), "{}", text(&ours));
    assert_eq!(skeleton(&ours), skeleton(&theirs));
    sb.write("theirs.enc.yaml", &theirs);
    sb.write("ours.enc.yaml", &ours);
    let plain = read(input("vault.yaml"));
    assert_same_bytes(
        "sealgate decrypt",
        &sb.sealgate(&["decrypt", "theirs.enc.yaml"]).ok().stdout,
        &plain,
    );
    assert_same_bytes("sops decrypt", &sb.sops(&["decrypt", "ours.enc.yaml"]).ok().stdout, &plain);
}

#[test]
fn one_group_of_age_and_transit_opens_with_either_key_in_both_tools() {
    let bao = server_with_key("mixed");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "mixed");
    sb.copy_fixture("inputs/vault-and-age.yaml", "app.yaml");
    let flags = ["encrypt", "--age", RECIPIENT_A, "--hc-vault-transit", &u, "app.yaml"];
    let ours = sb.sealgate(&flags).ok().stdout;
    let theirs = sb.sops(&flags).ok().stdout;
    assert_eq!(skeleton(&ours), skeleton(&theirs));
    sb.write("ours.enc.yaml", &ours);
    sb.write("theirs.enc.yaml", &theirs);
    let plain = read(input("vault-and-age.yaml"));
    let key_file = fixture("keys.txt");
    for file in ["ours.enc.yaml", "theirs.enc.yaml"] {
        // Transit only: no age identity in the sandbox.
        assert_same_bytes(file, &sb.sealgate(&["decrypt", file]).ok().stdout, &plain);
        assert_same_bytes(file, &sb.sops(&["decrypt", file]).ok().stdout, &plain);
        // Age only: no Vault token anywhere.
        let age = |r: Run| r.env("SOPS_AGE_KEY_FILE", &key_file).env_remove("VAULT_TOKEN");
        assert_same_bytes(file, &age(sb.sealgate(&["decrypt", file])).ok().stdout, &plain);
        assert_same_bytes(file, &age(sb.sops(&["decrypt", file])).ok().stdout, &plain);
    }
}

#[test]
fn shamir_groups_of_age_and_transit_need_both_in_both_tools() {
    let bao = server_with_key("share");
    let mut sb = sandbox_for(&bao);
    sb.key_file = Some(fixture("keys.txt"));
    let u = uri(&bao, "share");
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: app\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{RECIPIENT_A}]\n      - hc_vault: [{u}]\n"
        ),
    );
    sb.copy_fixture("inputs/vault.yaml", "app.yaml");
    let ours = sb.sealgate(&["encrypt", "app.yaml"]).ok().stdout;
    let theirs = sb.sops(&["encrypt", "app.yaml"]).ok().stdout;
    assert!(text(&ours).contains("shamir_threshold: 2"), "{}", text(&ours));
    assert_eq!(skeleton(&ours), skeleton(&theirs));
    sb.write("ours.enc.yaml", &ours);
    sb.write("theirs.enc.yaml", &theirs);
    let plain = read(input("vault.yaml"));
    for file in ["ours.enc.yaml", "theirs.enc.yaml"] {
        assert_same_bytes(file, &sb.sealgate(&["decrypt", file]).ok().stdout, &plain);
        assert_same_bytes(file, &sb.sops(&["decrypt", file]).ok().stdout, &plain);
        // One share is not enough: without a token the transit group cannot be recovered.
        let out = sb.sealgate(&["decrypt", file]).env_remove("VAULT_TOKEN").fails(128);
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains(&u) && out.stderr.contains("VAULT_TOKEN"), "{}", out.stderr);
    }
}

#[test]
fn committed_fixtures_decrypt_after_restoring_their_transit_key() {
    let bao = OpenBao::start();
    bao.ok(&["secrets", "enable", "transit"]);
    let backup = fixture("vault/transit-backup.b64");
    bao.ok(&["write", "transit/restore/sops-fixture", &format!("backup=@{}", backup.display())]);
    let sb = sandbox_for(&bao);
    // vault_address is outside the MAC: re-point it at this server, as recipe.sh does.
    let recorded = "http://127.0.0.1:18200";
    assert!(read_text(fixture("vault/transit.json")).contains(recorded));
    for name in ["vault", "vault-and-age"] {
        let original = read_text(fixture(&format!("{name}.enc.yaml")));
        assert!(original.contains(recorded), "{name}.enc.yaml no longer names {recorded}");
        let file = format!("{name}.enc.yaml");
        sb.write(&file, original.replace(recorded, &bao.addr));
        let plain = read(fixture(&format!("{name}.plain.yaml")));
        assert_same_bytes(&file, &sb.sops(&["decrypt", &file]).ok().stdout, &plain);
        assert_same_bytes(&file, &sb.sealgate(&["decrypt", &file]).ok().stdout, &plain);
    }
    // The mixed file also opens with its age key and no Vault token at all.
    let out = sb
        .sealgate(&["decrypt", "vault-and-age.enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", fixture("keys.txt"))
        .env_remove("VAULT_TOKEN")
        .ok();
    assert_same_bytes("age path", &out.stdout, &read(fixture("vault-and-age.plain.yaml")));
}

#[test]
fn after_transit_key_rotation_rotate_updatekeys_and_set_keep_working() {
    let bao = server_with_key("rot");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "rot");
    sb.copy_fixture("inputs/vault.yaml", "app.yaml");
    sb.write(
        "app.enc.yaml",
        sb.sops(&["encrypt", "--hc-vault-transit", &u, "app.yaml"]).ok().stdout,
    );
    let plain = read(input("vault.yaml"));

    bao.ok(&["write", "-f", "transit/keys/rot/rotate"]);
    // The v1 wrap still opens; rotate wraps the new data key with v2.
    assert_same_bytes("v1", &sb.sealgate(&["decrypt", "app.enc.yaml"]).ok().stdout, &plain);
    let before = sb.read("app.enc.yaml");
    sb.sealgate(&["rotate", "-i", "app.enc.yaml"]).ok();
    let rotated = sb.read("app.enc.yaml");
    assert!(text(&rotated).contains("vault:v2:") && !text(&rotated).contains("vault:v1:"));
    assert_ne!(enc_values(&before), enc_values(&rotated), "rotate must re-encrypt the values");
    assert_same_bytes(
        "sops after rotate",
        &sb.sops(&["decrypt", "app.enc.yaml"]).ok().stdout,
        &plain,
    );

    // updatekeys re-wraps the same data key with the newest version and adds an age recipient.
    bao.ok(&["write", "-f", "transit/keys/rot/rotate"]);
    sb.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: app\\.enc\\.yaml$\n    hc_vault_transit_uri: {u}\n    age: {RECIPIENT_A}\n"
        ),
    );
    let out = sb.sealgate(&["updatekeys", "-y", "app.enc.yaml"]).ok();
    assert!(out.stderr.contains(RECIPIENT_A), "{}", out.stderr);
    let updated = sb.read("app.enc.yaml");
    assert!(text(&updated).contains("vault:v3:"), "{}", text(&updated));
    assert_eq!(enc_values(&rotated), enc_values(&updated), "updatekeys must not touch the values");
    assert_same_bytes("sops, transit", &sb.sops(&["decrypt", "app.enc.yaml"]).ok().stdout, &plain);
    let by_age = sb
        .sops(&["decrypt", "app.enc.yaml"])
        .env("SOPS_AGE_KEY_FILE", fixture("keys.txt"))
        .env_remove("VAULT_TOKEN")
        .ok();
    assert_same_bytes("sops, age", &by_age.stdout, &plain);

    // set goes through transit too.
    sb.sealgate(&["set", "app.enc.yaml", r#"["vault_protected"]["count"]"#, "4"]).ok();
    let shown =
        sb.sops(&["decrypt", "--extract", r#"["vault_protected"]["count"]"#, "app.enc.yaml"]);
    assert_eq!(shown.ok().stdout_text().trim(), "4");
}

#[test]
fn missing_or_wrong_token_fails_clearly_and_writes_nothing() {
    let bao = server_with_key("tok");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "tok");
    sb.copy_fixture("inputs/vault.yaml", "app.yaml");
    let sealed = sb.sops(&["encrypt", "--hc-vault-transit", &u, "app.yaml"]).ok().stdout;
    sb.write("app.enc.yaml", &sealed);

    let check_missing = |out: &Out| {
        for needle in [u.as_str(), "VAULT_TOKEN", "bao login"] {
            assert!(out.stderr.contains(needle), "{needle:?} missing from:\n{}", out.stderr);
        }
        assert!(out.stdout.is_empty(), "{}: printed to stdout", out.label);
    };
    let check_wrong = |out: &Out| {
        assert!(out.stderr.contains(&u) && out.stderr.contains("403"), "{}", out.stderr);
        assert!(!out.stderr.contains("wrong-token"), "the token was printed:\n{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}: printed to stdout", out.label);
    };
    let no_token = |r: Run| r.env_remove("VAULT_TOKEN");
    let wrong_token = |r: Run| r.env("VAULT_TOKEN", "wrong-token");

    // Encrypting: exit 1 as sops, and no output file.
    let enc = ["encrypt", "--hc-vault-transit", &u, "--output", "out.enc.yaml", "app.yaml"];
    check_missing(&no_token(sb.sealgate(&enc)).fails(1));
    check_wrong(&wrong_token(sb.sealgate(&enc)).fails(1));
    assert!(!sb.path("out.enc.yaml").exists(), "a failed encrypt wrote its output");
    let in_place = ["encrypt", "-i", "--hc-vault-transit", &u, "app.yaml"];
    check_missing(&no_token(sb.sealgate(&in_place)).fails(1));
    assert_same_bytes("app.yaml", &sb.read("app.yaml"), &read(input("vault.yaml")));

    // Decrypting and re-keying: exit 128 as sops, file untouched.
    check_missing(&no_token(sb.sealgate(&["decrypt", "app.enc.yaml"])).fails(128));
    check_wrong(&wrong_token(sb.sealgate(&["decrypt", "app.enc.yaml"])).fails(128));
    check_missing(&no_token(sb.sealgate(&["rotate", "-i", "app.enc.yaml"])).fails(128));
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {RECIPIENT_A}\n"));
    check_wrong(&wrong_token(sb.sealgate(&["updatekeys", "-y", "app.enc.yaml"])).fails(128));
    check_missing(
        &no_token(sb.sealgate(&["set", "app.enc.yaml", r#"["vault_protected"]["count"]"#, "9"]))
            .fails(128),
    );
    assert_same_bytes("app.enc.yaml", &sb.read("app.enc.yaml"), &sealed);

    // sops agrees that the file needs the token (exit 128 too).
    no_token(sb.sops(&["decrypt", "app.enc.yaml"])).fails(128);

    // ~/.vault-token (what `bao login` writes) is used when VAULT_TOKEN is unset.
    std::fs::write(sb.home.join(".vault-token"), format!("{ROOT_TOKEN}\n")).unwrap();
    let out = no_token(sb.sealgate(&["decrypt", "app.enc.yaml"])).ok();
    assert_same_bytes("token file", &out.stdout, &read(input("vault.yaml")));
}

#[test]
fn unreachable_vault_fails_naming_the_server() {
    let mut bao = server_with_key("down");
    let sb = sandbox_for(&bao);
    let u = uri(&bao, "down");
    sb.copy_fixture("inputs/vault.yaml", "app.yaml");
    sb.write(
        "app.enc.yaml",
        sb.sealgate(&["encrypt", "--hc-vault-transit", &u, "app.yaml"]).ok().stdout,
    );
    bao.stop();
    let out = sb.sealgate(&["decrypt", "app.enc.yaml"]).fails(128);
    assert!(
        out.stderr.contains("cannot reach Vault") && out.stderr.contains(&bao.addr),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("reachable"), "hint missing:\n{}", out.stderr);
    let out = sb.sealgate(&["encrypt", "--hc-vault-transit", &u, "app.yaml"]).fails(1);
    assert!(out.stdout.is_empty() && out.stderr.contains(&u), "{}", out.stderr);
}

#[test]
fn vault_namespace_is_honoured_like_sops() {
    let bao = OpenBao::start();
    bao.ok(&["namespace", "create", "team-a"]);
    bao.ok(&["secrets", "enable", "-namespace=team-a", "transit"]);
    bao.ok(&["write", "-namespace=team-a", "-f", "transit/keys/ns"]);
    let mut sb = sandbox_for(&bao);
    sb.env.push(("VAULT_NAMESPACE".into(), "team-a".into()));
    let u = uri(&bao, "ns");
    sb.copy_fixture("inputs/vault.yaml", "app.yaml");
    sb.write(
        "ours.enc.yaml",
        sb.sealgate(&["encrypt", "--hc-vault-transit", &u, "app.yaml"]).ok().stdout,
    );
    sb.write(
        "theirs.enc.yaml",
        sb.sops(&["encrypt", "--hc-vault-transit", &u, "app.yaml"]).ok().stdout,
    );
    let plain = read(input("vault.yaml"));
    assert_same_bytes("sops", &sb.sops(&["decrypt", "ours.enc.yaml"]).ok().stdout, &plain);
    assert_same_bytes(
        "sealgate",
        &sb.sealgate(&["decrypt", "theirs.enc.yaml"]).ok().stdout,
        &plain,
    );
    // Outside the namespace the key does not exist.
    let out = sb.sealgate(&["decrypt", "theirs.enc.yaml"]).env_remove("VAULT_NAMESPACE").fails(128);
    assert!(out.stderr.contains(&u), "{}", out.stderr);
}

#[test]
fn age_only_files_never_need_vault() {
    // No server, and Vault settings that would fail if they were ever read.
    let mut sb = Sandbox::new();
    for (k, v) in [
        ("VAULT_ADDR", "http://127.0.0.1:9"),
        ("VAULT_SKIP_VERIFY", "not-a-boolean"),
        ("VAULT_CACERT", "/nonexistent/ca.pem"),
        ("VAULT_NAMESPACE", "bad\tnamespace"),
    ] {
        sb.env.push((k.into(), v.into()));
    }
    sb.copy_fixture("inputs/basic.yaml", "app.yaml");
    sb.sealgate(&["encrypt", "--age", RECIPIENT_A, "--output", "app.enc.yaml", "app.yaml"]).ok();
    let plain = sb.sops(&["decrypt", "app.enc.yaml"]).ok().stdout;
    assert_same_bytes("decrypt", &sb.sealgate(&["decrypt", "app.enc.yaml"]).ok().stdout, &plain);
    sb.sealgate(&["rotate", "-i", "app.enc.yaml"]).ok();
    sb.write(".sops.yaml", format!("creation_rules:\n  - age: {RECIPIENT_A},{RECIPIENT_B}\n"));
    sb.sealgate(&["updatekeys", "-y", "app.enc.yaml"]).ok();
    let out = sb.sealgate(&["decrypt", "app.enc.yaml"]).ok();
    assert_same_bytes("after updatekeys", &out.stdout, &plain);
    assert!(!out.stderr.to_lowercase().contains("vault"), "{}", out.stderr);
    assert_same_bytes("sops", &sb.sops(&["decrypt", "app.enc.yaml"]).ok().stdout, &plain);
}
