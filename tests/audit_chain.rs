//! The audit chain end to end: events recorded through real sinks, then the verifier catches
//! each kind of tampering and names the first broken line.

use std::sync::Arc;

use sealgate::audit::verify::{BreakReason, Verifier, VerifyError, verify_files};
use sealgate::audit::{
    Action, Actor, AuditEvent, Auditor, Clock, FileSink, FileSinkOptions, FsyncPolicy, MemorySink,
    ObjectRef, Outcome, VaultRef,
};
use sealgate::format::Timestamp;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::parse_rfc3339("2026-12-02T13:00:00.5Z").unwrap()
    }
}

fn event(i: usize) -> AuditEvent {
    AuditEvent::new(
        Action::VaultRead,
        Outcome::Success,
        Actor::Controller {
            identity: "system:serviceaccount:sealgate:controller".into(),
            replica: "c-0".into(),
        },
    )
    .with_object(ObjectRef {
        kind: "EncryptedSecret".into(),
        namespace: Some("apps".into()),
        name: format!("db-{i}"),
        uid: None,
        generation: Some(i as i64),
    })
    .with_keys(["password", "user"])
    .with_vault(VaultRef {
        path: "secret/data/db".into(),
        version: Some(3),
        request_id: Some("r-1".into()),
    })
}

/// An anchor and `n` events, as lines (without newlines).
fn log(n: usize) -> Vec<Vec<u8>> {
    let mem = Arc::new(MemorySink::default());
    let a = Auditor::start(Box::new(mem.clone()), Box::new(FixedClock), "test-chain").unwrap();
    for i in 0..n {
        a.record(&event(i)).unwrap();
    }
    mem.lines()
}

fn verify_lines(lines: &[Vec<u8>]) -> Result<u64, VerifyError> {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    let mut v = Verifier::new();
    v.feed("audit.log", bytes.as_slice())?;
    Ok(v.finish(None)?.events)
}

/// The line number and reason of the first break.
fn broken_at(lines: &[Vec<u8>]) -> (u64, BreakReason) {
    match verify_lines(lines) {
        Err(VerifyError::Broken(b)) => (b.line, b.reason),
        other => panic!("expected a break, got {other:?}"),
    }
}

#[test]
fn intact_log_verifies() {
    assert_eq!(verify_lines(&log(10)).unwrap(), 10);
}

#[test]
fn deleted_line_is_named() {
    let mut lines = log(10);
    lines.remove(4); // line 5 (seq 4)
    let (line, reason) = broken_at(&lines);
    assert_eq!(line, 5);
    assert_eq!(reason, BreakReason::SeqGap { expected: 4, found: 5 });
}

#[test]
fn edited_line_is_named() {
    let mut lines = log(10);
    let text = String::from_utf8(lines[5].clone()).unwrap().replace("db-4", "db-X");
    lines[5] = text.into_bytes(); // line 6
    let (line, reason) = broken_at(&lines);
    assert_eq!(line, 6);
    assert!(matches!(reason, BreakReason::Edited { next_line: 7, .. }), "{reason:?}");
}

#[test]
fn reordered_lines_are_named() {
    let mut lines = log(10);
    lines.swap(3, 4); // lines 4 and 5
    let (line, reason) = broken_at(&lines);
    assert_eq!(line, 4);
    assert_eq!(reason, BreakReason::SeqGap { expected: 3, found: 4 });
}

#[test]
fn inserted_line_with_forged_chain_fields_is_named() {
    // A forger who knows the format chains the new line to the one before it.
    let lines = log(10);
    let forged_head_src = &lines[..4]; // anchor + seq 1..3
    let mem = Arc::new(MemorySink::default());
    let head = {
        let last = forged_head_src.last().unwrap();
        let h =
            sealgate::audit::ChainHead { chain: "test-chain".into(), seq: 3, hash: sha256(last) };
        let a = Auditor::resume(Box::new(mem.clone()), Box::new(FixedClock), h).unwrap();
        a.record(&event(99)).unwrap();
        mem.lines()[1].clone()
    };
    let mut tampered = lines.clone();
    tampered.insert(4, head); // becomes line 5
    let (line, reason) = broken_at(&tampered);
    assert_eq!(line, 5);
    assert_eq!(reason, BreakReason::Inserted { seq: 4 });
}

#[test]
fn inserted_garbage_and_truncation_are_named() {
    let mut lines = log(5);
    lines.insert(2, b"{\"hello\":1}".to_vec());
    assert_eq!(broken_at(&lines), (3, BreakReason::Malformed));

    let lines = log(5);
    let mut bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
    bytes.truncate(bytes.len() - 10);
    let mut v = Verifier::new();
    match v.feed("audit.log", bytes.as_slice()) {
        Err(VerifyError::Broken(b)) => assert_eq!((b.line, b.reason), (6, BreakReason::Truncated)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn removed_first_lines_and_removed_tail_are_caught() {
    let lines = log(5);
    assert_eq!(broken_at(&lines[2..]), (1, BreakReason::NoAnchor));

    // Without a recorded head the tail can be cut; with it, it cannot.
    let mut v = Verifier::new();
    let bytes: Vec<u8> = lines[..5].iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
    v.feed("audit.log", bytes.as_slice()).unwrap();
    let real_head = (5, sha256(&lines[5]));
    match v.finish(Some(real_head)) {
        Err(VerifyError::Broken(b)) => {
            assert_eq!(b.reason, BreakReason::HeadMismatch { expected_seq: 5, found_seq: 4 })
        }
        other => panic!("{other:?}"),
    }
}

fn sha256(line: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(line).into()
}

#[test]
fn file_sink_rollover_and_restart_keep_one_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let opts = FileSinkOptions { max_bytes: 2_000, fsync: FsyncPolicy::OnRollover };
    let (sink, head) = FileSink::open(&path, opts).unwrap();
    assert!(head.is_none());
    let a = Auditor::start(Box::new(sink), Box::new(FixedClock), "c1").unwrap();
    for i in 0..20 {
        a.record(&event(i)).unwrap();
    }
    let head_before_restart = a.head();
    drop(a);

    // A restart continues the chain it finds.
    let (sink, head) = FileSink::open(&path, opts).unwrap();
    assert_eq!(head.as_ref(), Some(&head_before_restart));
    let a = Auditor::resume(Box::new(sink), Box::new(FixedClock), head.unwrap()).unwrap();
    for i in 20..30 {
        a.record(&event(i)).unwrap();
    }

    let mut files: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let current = files.remove(0); // "audit.log" sorts before "audit.log.000001"
    files.push(current);
    assert!(files.len() > 3, "expected several rollovers, got {files:?}");
    let summary = verify_files(&files, Some((a.head().seq, a.head().hash))).unwrap();
    assert_eq!((summary.events, summary.from_start()), (30, true));

    // The newest files alone verify as a continuation.
    let tail = verify_files(&files[files.len() - 2..], None).unwrap();
    assert!(!tail.from_start());

    // A whole file removed from the middle is caught at the next file's anchor.
    let mut gap = files.clone();
    gap.remove(1);
    match verify_files(&gap, None) {
        Err(VerifyError::Broken(b)) => {
            assert_eq!(b.line, 1);
            assert!(matches!(b.reason, BreakReason::AnchorMismatch { .. }), "{:?}", b.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn torn_last_line_after_crash_is_kept_and_reported_and_logging_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let opts = FileSinkOptions::default();
    let (sink, _) = FileSink::open(&path, opts).unwrap();
    let a = Auditor::start(Box::new(sink), Box::new(FixedClock), "c1").unwrap();
    for i in 0..3 {
        a.record(&event(i)).unwrap();
    }
    drop(a);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&path, &bytes).unwrap();

    let (sink, head) = FileSink::open(&path, opts).unwrap();
    assert_eq!(head.as_ref().map(|h| h.seq), Some(2), "resumes from the last complete line");
    let a = Auditor::resume(Box::new(sink), Box::new(FixedClock), head.unwrap()).unwrap();
    a.record(&event(9)).unwrap();

    let damaged = dir.path().join("audit.log.000001");
    match verify_files(&[&damaged, &path], None) {
        Err(VerifyError::Broken(b)) => assert_eq!((b.line, b.reason), (4, BreakReason::Truncated)),
        other => panic!("{other:?}"),
    }
    assert_eq!(verify_files(&[&path], None).unwrap().events, 1);
}

#[test]
fn fingerprints_and_values_never_appear_in_the_log() {
    let fp = sealgate::audit::Fingerprinter::new(&[42u8; 32]).unwrap();
    let data = [("password", "hunter2-very-secret")];
    let mem = Arc::new(MemorySink::default());
    let a = Auditor::start(Box::new(mem.clone()), Box::new(FixedClock), "c1").unwrap();
    let ev =
        AuditEvent::new(Action::SecretWrite, Outcome::Success, Actor::Cli { user: "alice".into() })
            .with_keys(data.iter().map(|(k, _)| *k))
            .with_fingerprint(fp.fingerprint(data.iter().map(|(k, v)| (*k, *v))));
    a.record(&ev).unwrap();
    let text = String::from_utf8(mem.contents()).unwrap();
    assert!(text.contains("\"keys\":[\"password\"]") && text.contains("hmac-sha256:"), "{text}");
    assert!(!text.contains("hunter2"));
}
