//! Benchmark (harness = false): how many `EncryptedSecret`s one core turns into Secret apply
//! bodies per second, the controller's per-object work without the apiserver:
//!
//! ```text
//! JSON ─parse─▶ EncryptedSecret ─sops_file_of─▶ SopsFile ─unwrap_data_key─▶ data key
//!   ─seal::open─▶ OpenedSecret ─desired_secret─▶ DesiredSecret ─to_apply_body─▶ bytes
//! ```
//!
//! Run: `cargo bench --bench materialize`. `SEALGATE_BENCH_OBJECTS` (2000) distinct objects,
//! each a typical 5-key Secret sealed to one age recipient beforehand, are processed on the
//! main thread for `SEALGATE_BENCH_ROUNDS` (7) rounds; medians are printed. Target: 20,000
//! objects/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sealgate::controller::materialize::{desired_secret, sops_file_of};
use sealgate::crd::EncryptedSecret;
use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::store::Format;
use sealgate::keys::{AgeRecipient, GroupSpec, KeySpec, Keyring, wrap_data_key};
use sealgate::seal::{self, Scope, SecretManifest};
use serde_json::{Value, json};
use zeroize::Zeroizing;

const TARGET_PER_SECOND: f64 = 20_000.0;
const PHASES: [&str; 6] = [
    "parse JSON",
    "sops_file_of",
    "unwrap data key",
    "seal::open",
    "desired_secret",
    "to_apply_body",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// A typical Secret: three `data` keys, two `stringData` keys, a label, an annotation.
fn manifest(i: usize) -> SecretManifest {
    let bytes = |s: String| Zeroizing::new(s.into_bytes());
    SecretManifest {
        name: format!("app-{i:05}"),
        namespace: Some("bench".to_owned()),
        labels: [("app".to_owned(), format!("app-{i}"))].into(),
        annotations: [("example.com/owner".to_owned(), "team-bench".to_owned())].into(),
        secret_type: "Opaque".to_owned(),
        immutable: None,
        data: [
            (
                "ca.crt".to_owned(),
                bytes(format!(
                    "-----BEGIN CERTIFICATE-----\nMIIB{i:0>60}\n-----END CERTIFICATE-----\n"
                )),
            ),
            ("password".to_owned(), bytes(format!("pw-{i}-Zx9!q7LmT2"))),
            ("username".to_owned(), bytes(format!("user-{i}"))),
        ]
        .into(),
        string_data: [
            (
                "config.json".to_owned(),
                Zeroizing::new(format!("{{\"token\":\"tok-{i}-abcdef0123456789\"}}")),
            ),
            ("dsn".to_owned(), Zeroizing::new(format!("postgres://app:pw-{i}@db:5432/app"))),
        ]
        .into(),
    }
}

/// The object as a watch would deliver it: the sealed file plus server-set metadata.
fn sealed_object(i: usize, recipient: &AgeRecipient) -> Vec<u8> {
    let now = Timestamp::now_utc();
    let key = DataKey::generate();
    let groups = [GroupSpec(vec![KeySpec::Age(recipient.clone())])];
    let (key_groups, threshold) = wrap_data_key(&key, &groups, 0, None, now).expect("wrap");
    let file = seal::seal(&manifest(i), Scope::Strict, &key, key_groups, threshold, None, now)
        .expect("seal");
    let mut object: Value =
        serde_json::from_slice(&file.emit_as(Format::Json).expect("emit")).expect("json");
    object["metadata"] = json!({
        "name": format!("app-{i:05}"),
        "namespace": "bench",
        "uid": format!("{i:08x}-0000-4000-8000-000000000000"),
        "resourceVersion": format!("{}", 1000 + i),
        "generation": 1,
        "creationTimestamp": "2026-01-01T00:00:00Z",
    });
    serde_json::to_vec(&object).expect("serialize")
}

/// One pass over every object, timing each phase; returns the time per phase.
fn timed_pass(objects: &[Vec<u8>], keyring: &Keyring) -> [Duration; 6] {
    let mut spent = [Duration::ZERO; 6];
    for bytes in objects {
        let t0 = Instant::now();
        let es: EncryptedSecret = serde_json::from_slice(bytes).expect("parse");
        let t1 = Instant::now();
        let file = sops_file_of(&es).expect("sops_file_of");
        let t2 = Instant::now();
        let (key, _report) = keyring.unwrap_data_key(&file.metadata).expect("unwrap");
        let t3 = Instant::now();
        let name = es.metadata.name.as_deref().expect("name");
        let opened = seal::open(&file, &key, "bench", name).expect("open");
        let t4 = Instant::now();
        let desired = desired_secret(&es, &opened);
        let t5 = Instant::now();
        let body = desired.to_apply_body();
        let t6 = Instant::now();
        black_box(&body);
        for (slot, (a, b)) in
            spent.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)])
        {
            *slot += b - a;
        }
    }
    spent
}

/// One pass with no timers inside: the throughput figure.
fn pipeline_pass(objects: &[Vec<u8>], keyring: &Keyring) -> Duration {
    let started = Instant::now();
    for bytes in objects {
        let es: EncryptedSecret = serde_json::from_slice(bytes).expect("parse");
        let file = sops_file_of(&es).expect("sops_file_of");
        let (key, _) = keyring.unwrap_data_key(&file.metadata).expect("unwrap");
        let name = es.metadata.name.as_deref().expect("name");
        let opened = seal::open(&file, &key, "bench", name).expect("open");
        let desired = desired_secret(&es, &opened);
        black_box(desired.to_apply_body());
    }
    started.elapsed()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let n = env_usize("SEALGATE_BENCH_OBJECTS", 2000);
    let rounds = env_usize("SEALGATE_BENCH_ROUNDS", 7);
    let (identity, recipient) = sealgate::keys::generate_identity_file(Timestamp::now_utc());
    let keyring = Keyring::from_identity_text(&identity, "bench identity").expect("identity");
    let recipient = AgeRecipient::parse(&recipient).expect("recipient");

    let setup = Instant::now();
    let objects: Vec<Vec<u8>> = (0..n).map(|i| sealed_object(i, &recipient)).collect();
    let avg_len = objects.iter().map(Vec::len).sum::<usize>() / n;
    println!(
        "materialize: {n} distinct objects (5 keys each, {avg_len} bytes of JSON on average), \
         sealed in {:.1}s; {rounds} rounds on one thread",
        setup.elapsed().as_secs_f64()
    );

    // Check once that the pipeline produces what it should, then warm up.
    {
        let es: EncryptedSecret = serde_json::from_slice(&objects[0]).expect("parse");
        let file = sops_file_of(&es).expect("sops_file_of");
        let (key, _) = keyring.unwrap_data_key(&file.metadata).expect("unwrap");
        let opened = seal::open(&file, &key, "bench", "app-00000").expect("open");
        let desired = desired_secret(&es, &opened);
        assert_eq!(desired.data.len(), 5, "a typical object has five keys");
        assert!(desired.meta.owner_references.is_some(), "the owner reference is built");
        let body: Value = serde_json::from_slice(&desired.to_apply_body()).expect("body is JSON");
        assert_eq!(body["data"].as_object().map(|m| m.len()), Some(5));
    }
    pipeline_pass(&objects, &keyring);

    let mut per_phase: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let spent = timed_pass(&objects, &keyring);
        for (samples, d) in per_phase.iter_mut().zip(spent) {
            samples.push(d.as_secs_f64() * 1e6 / n as f64);
        }
        rates.push(n as f64 / pipeline_pass(&objects, &keyring).as_secs_f64());
    }

    println!("\n| phase | median µs/object |\n|---|---:|");
    let mut total = 0.0;
    for (phase, samples) in PHASES.iter().zip(per_phase) {
        let m = median(samples);
        total += m;
        println!("| {phase} | {m:.2} |");
    }
    println!("| sum of phases | {total:.2} |");
    let (min, max) = rates.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let med = median(rates);
    println!(
        "\npipeline (no inner timers): median {med:.0} objects/s (min {min:.0}, max {max:.0}) on one \
         thread; target {TARGET_PER_SECOND:.0}/s: {}",
        if med >= TARGET_PER_SECOND { "met" } else { "NOT met" }
    );
    println!("(shared machine: figures vary between runs; compare medians, not single rounds)");
}
