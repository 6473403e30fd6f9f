//! Throughput of `sealgate audit verify`: writes a chained log of `AUDIT_BENCH_MB` megabytes
//! (default 256; 1024 for the 1 GB target) to a temporary directory, verifies it, prints MB/s.
//! Run with `cargo bench --bench audit_verify`. The file is read back from the page cache, so
//! the figure is the verifier's speed, not the disk's.

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use sealgate::audit::verify::verify_files;
use sealgate::audit::{
    Action, Actor, AuditEvent, Auditor, ObjectRef, Outcome, SystemClock, VaultRef, WriterSink,
};

fn event(i: u64) -> AuditEvent {
    AuditEvent::new(
        Action::ALL[(i % 12) as usize],
        if i % 12 == 8 { Outcome::refused("BindingMismatch") } else { Outcome::Success },
        Actor::Controller {
            identity: "system:serviceaccount:sealgate:controller".into(),
            replica: "sealgate-7f9c-0".into(),
        },
    )
    .with_object(ObjectRef {
        kind: "EncryptedSecret".into(),
        namespace: Some("payments".into()),
        name: format!("db-credentials-{}", i % 1000),
        uid: Some("6f1d2c3e-8a7b-4c5d-9e0f-112233445566".into()),
        generation: Some((i % 50) as i64),
    })
    .with_keys(["password", "username", "host"])
    .with_key_id("age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0")
    .with_vault(VaultRef {
        path: "secret/data/payments/db".into(),
        version: Some(i % 7),
        request_id: Some(format!("req-{i:016x}")),
    })
}

fn main() {
    let mb: u64 = std::env::var("AUDIT_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let target = mb * 1024 * 1024;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.log");

    let started = Instant::now();
    {
        let file = File::create(&path).expect("create log");
        let sink = WriterSink::new("bench", BufWriter::with_capacity(1 << 20, file));
        let auditor =
            Auditor::start(Box::new(sink), Box::new(SystemClock), "bench").expect("start");
        let mut i = 0u64;
        // Check the size now and then; events are ~700 bytes.
        loop {
            for _ in 0..10_000 {
                auditor.record(&event(i)).expect("record");
                i += 1;
            }
            if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) >= target {
                break;
            }
        }
    }
    let size = std::fs::metadata(&path).expect("stat").len();
    println!("generated {:.1} MB in {:.1} s", size as f64 / 1e6, started.elapsed().as_secs_f64());

    // One warm-up pass puts the file in the page cache; then three timed passes.
    verify_files(&[&path], None).expect("log verifies");
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let summary = verify_files(&[&path], None).expect("log verifies");
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "verify: {} events, {:.1} MB in {:.3} s = {:.0} MB/s",
            summary.events,
            size as f64 / 1e6,
            secs,
            size as f64 / 1e6 / secs
        );
    }
    println!("audit_verify best: {:.0} MB/s (target >= 200 MB/s)", size as f64 / 1e6 / best);
}
