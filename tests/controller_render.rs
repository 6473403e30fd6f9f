//! `sealgate-controller render`: the controller's checks and decryption, offline, on files.

use std::process::Command;

fn render(file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sealgate-controller"))
        .args(["render", "--identity", "keys-example/age-identity.txt", file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn renders_the_example_without_showing_values() {
    let out = render("keys-example/db-creds.sealed.yaml");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("kind: Secret"), "{stdout}");
    assert!(stdout.contains("app.kubernetes.io/managed-by: sealgate"), "{stdout}");
    assert!(stdout.contains("password: <28 bytes>"), "{stdout}");
    assert!(!stdout.contains("correct horse"), "{stdout}");
}

#[test]
fn a_file_moved_to_another_namespace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example/db-creds.sealed.yaml"),
    )
    .unwrap();
    let moved = original.replace("namespace: payments\n", "namespace: attacker\n");
    assert_ne!(moved, original);
    let path = dir.path().join("moved.yaml");
    std::fs::write(&path, moved).unwrap();

    let out = render(path.to_str().unwrap());

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(stderr.contains("BindingMismatch"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is rendered for a refused file");
}
