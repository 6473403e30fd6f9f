//! `sealgate audit verify` and `sealgate audit query`, run as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use sealgate::audit::{Action, Actor, AuditEvent, Auditor, Clock, MemorySink, ObjectRef, Outcome};
use sealgate::format::Timestamp;

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");

struct StepClock(std::sync::atomic::AtomicI64);
impl Clock for StepClock {
    fn now(&self) -> Timestamp {
        let m = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = Timestamp::parse_rfc3339("2026-12-02T13:00:00Z").unwrap();
        Timestamp { unix_secs: base.unix_secs + m * 60, ..base }
    }
}

fn object(ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        kind: "EncryptedSecret".into(),
        namespace: Some(ns.into()),
        name: name.into(),
        uid: None,
        generation: Some(1),
    }
}

/// A log: anchor at 13:00, then events at 13:01, 13:02, … (one per minute).
fn write_log(dir: &Path) -> (PathBuf, String) {
    let mem = Arc::new(MemorySink::default());
    let a =
        Auditor::start(Box::new(mem.clone()), Box::new(StepClock(0.into())), "cli-test").unwrap();
    let ctl = Actor::Controller {
        identity: "system:serviceaccount:sealgate:controller".into(),
        replica: "c-0".into(),
    };
    a.record(
        &AuditEvent::new(Action::Decrypt, Outcome::Success, ctl.clone())
            .with_object(object("apps", "db"))
            .with_keys(["password"]),
    )
    .unwrap();
    a.record(
        &AuditEvent::new(Action::Refusal, Outcome::refused("BindingMismatch"), ctl.clone())
            .with_object(object("other", "db")),
    )
    .unwrap();
    a.record(
        &AuditEvent::new(Action::SecretWrite, Outcome::Success, ctl)
            .with_object(object("apps", "db")),
    )
    .unwrap();
    let path = dir.join("audit.log");
    std::fs::write(&path, mem.contents()).unwrap();
    (path, a.head().to_head_arg())
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("SEALGATE_AUDIT_HEAD").output().expect("run sealgate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn verify_intact_log_exits_zero_with_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (log, head) = write_log(dir.path());
    let out = run(&["audit", "verify", "--head", &head, log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("ok: 3 event(s) in 1 file(s)"), "{stdout}");
    assert!(stdout.contains(&format!("head {head}")), "{stdout}");
}

#[test]
fn verify_names_the_edited_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_log(dir.path());
    let edited = std::fs::read_to_string(&log).unwrap().replace("BindingMismatch", "Allowed");
    std::fs::write(&log, edited).unwrap();
    let out = run(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{}:3: edited line", log.display())), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn verify_with_head_catches_removed_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, head) = write_log(dir.path());
    let content = std::fs::read_to_string(&log).unwrap();
    let cut: String = content.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, cut).unwrap();
    assert!(
        run(&["audit", "verify", log.to_str().unwrap()]).status.success(),
        "undetectable without --head"
    );
    let out = run(&["audit", "verify", "--head", &head, log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("recorded head is seq 3"), "{}", text(&out.stderr));
}

#[test]
fn verify_missing_file_and_bad_head_are_clear_errors() {
    let out = run(&["audit", "verify", "/nonexistent/audit.log"]);
    assert_eq!(out.status.code(), Some(100));
    assert!(text(&out.stderr).contains("/nonexistent/audit.log does not exist"));
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_log(dir.path());
    let out = run(&["audit", "verify", "--head", "12", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not SEQ:HASH"));
}

#[test]
fn query_filters_by_object_action_outcome_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_log(dir.path());
    let log = log.to_str().unwrap();
    let count = |args: &[&str]| {
        let mut all = vec!["audit", "query"];
        all.extend_from_slice(args);
        all.push(log);
        let out = run(&all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().count()
    };
    assert_eq!(count(&[]), 3);
    assert_eq!(count(&["--object", "apps/db"]), 2);
    assert_eq!(count(&["--object", "apps/db", "--action", "secretWrite"]), 1);
    assert_eq!(count(&["--outcome", "refused"]), 1);
    assert_eq!(count(&["--kind", "secret"]), 0);
    assert_eq!(count(&["--since", "2026-12-02T13:02:00Z"]), 2);
    assert_eq!(count(&["--until", "2026-12-02T13:02:00Z"]), 1);
    assert_eq!(
        count(&["--since", "2026-12-02T14:02:00+01:00", "--until", "2026-12-02T13:03:00Z"]),
        1
    );

    let out = run(&["audit", "query", "--outcome", "refused", log]);
    let line = text(&out.stdout);
    assert!(
        line.starts_with("{\"seq\":2,") && line.contains("\"reason\":\"BindingMismatch\""),
        "{line}"
    );
}

#[test]
fn query_table_has_header_and_aligned_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_log(dir.path());
    let out =
        run(&["audit", "query", "--format", "table", "--action", "decrypt", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("OUTCOME"));
    assert!(
        lines[1].contains("decrypt")
            && lines[1].contains("EncryptedSecret/apps/db")
            && lines[1].ends_with("password")
    );
    assert_eq!(lines[0].find("SEQ"), lines[1].find(" 1 ").map(|i| i + 1));
}

#[test]
fn query_rejects_unknown_action_and_bad_time() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_log(dir.path());
    let out = run(&["audit", "query", "--action", "peek", log.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown action"), "{}", text(&out.stderr));
    let out = run(&["audit", "query", "--since", "yesterday", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--since \"yesterday\""), "{}", text(&out.stderr));
}

#[test]
fn query_names_a_malformed_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_log(dir.path());
    let mut content = std::fs::read_to_string(&log).unwrap();
    content.push_str("not json\n");
    std::fs::write(&log, content).unwrap();
    let out = run(&["audit", "query", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{}:5: not an audit line", log.display())),
        "{}",
        text(&out.stderr)
    );
}
