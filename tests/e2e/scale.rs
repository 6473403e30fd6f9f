//! The scale benchmark (`SEALGATE_E2E_SCALE=1000,10000`): per size, a fresh replica on its
//! own namespace and Lease; time from the first apply to all N Secrets present, the
//! controller's peak RSS, and whether it keeps writing once synced (it must not).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::env::Env;
use super::scenarios::{BulkReport, bulk_run};
use super::support::{Ctx, R, ensure, eventually, note};

/// The sizes asked for: `SEALGATE_E2E_SCALE`, comma-separated object counts.
pub fn sizes() -> Option<R<Vec<usize>>> {
    let text = std::env::var("SEALGATE_E2E_SCALE").ok().filter(|t| !t.trim().is_empty())?;
    Some(
        text.split(',')
            .map(|n| match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "SEALGATE_E2E_SCALE={text:?}: expected positive counts separated by commas (e.g. 1000,10000)"
                )),
            })
            .collect(),
    )
}

/// How long the synced controller is watched for writes (`SEALGATE_E2E_IDLE_SECS`, 60).
fn idle() -> Duration {
    let secs = std::env::var("SEALGATE_E2E_IDLE_SECS").ok().and_then(|v| v.parse().ok());
    Duration::from_secs(secs.unwrap_or(60))
}

/// One row of the table.
pub struct Row {
    bulk: BulkReport,
    writes_at_sync: f64,
    peak_rss_kib: Option<u64>,
    idle_writes: f64,
    idle_reconciles: f64,
}

/// The rows measured so far, printed as a table at the end.
pub type Table = Arc<Mutex<Vec<Row>>>;

/// Runs one size: its own replica (lease `sealgate-e2e-scale-N`), killed at the end.
pub async fn run(env: Arc<Env>, n: usize, table: Table) -> R {
    let ns = env
        .scale_namespaces
        .iter()
        .find(|(size, _)| *size == n)
        .map(|(_, ns)| ns.clone())
        .ctx(format!("no namespace for size {n}"))?;
    let lease = format!("sealgate-e2e-scale-{n}");
    let index =
        env.start_replica(&format!("scale-{n}"), std::slice::from_ref(&ns), Some(&lease)).await?;
    let result = measure(&env, n, &ns, index).await;
    env.replicas.lock().await[index].kill();
    let row = result?;
    let idle_writes = row.idle_writes;
    table.lock().unwrap_or_else(|e| e.into_inner()).push(row);
    ensure(idle_writes == 0.0, || {
        format!("the synced controller wrote {idle_writes} Secrets while nothing changed")
    })
}

async fn measure(env: &Env, n: usize, ns: &str, index: usize) -> R<Row> {
    eventually("the scale replica is ready", Duration::from_secs(120), || async {
        let mut replicas = env.replicas.lock().await;
        replicas[index].check_running()?;
        let code = replicas[index].probe("/readyz").await?;
        ensure(code == 200, || format!("/readyz answered {code}"))
    })
    .await?;
    let recipient = env.recipient().await?;
    let timeout = Duration::from_secs(600).max(Duration::from_millis(n as u64 * 100));
    let bulk = bulk_run(env, ns, n, &recipient, timeout).await?;
    note(bulk.line());
    let mut replicas = env.replicas.lock().await;
    let replica = &replicas[index];
    // Let the statuses land before the idle window starts.
    eventually("reconciles settle", Duration::from_secs(300), || async {
        let a = replica.metric_total("sealgate_reconcile_duration_seconds_count").await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let b = replica.metric_total("sealgate_reconcile_duration_seconds_count").await?;
        ensure(a == b, || format!("still reconciling ({a} → {b})"))
    })
    .await?;
    let writes_at_sync = replica.metric("sealgate_secrets_written_total").await?;
    let reconciles_at_sync =
        replica.metric_total("sealgate_reconcile_duration_seconds_count").await?;
    // A measurement window, not an assertion on timing.
    tokio::time::sleep(idle()).await;
    replicas[index].check_running()?;
    let replica = &replicas[index];
    let idle_writes = replica.metric("sealgate_secrets_written_total").await? - writes_at_sync;
    let idle_reconciles = replica.metric_total("sealgate_reconcile_duration_seconds_count").await?
        - reconciles_at_sync;
    Ok(Row {
        bulk,
        writes_at_sync,
        peak_rss_kib: replica.peak_rss_kib(),
        idle_writes,
        idle_reconciles,
    })
}

/// Prints the table of every size measured.
pub fn print_table(table: &Table) {
    let rows = table.lock().unwrap_or_else(|e| e.into_inner());
    if rows.is_empty() {
        return;
    }
    let idle = idle().as_secs();
    println!();
    println!(
        "| objects | seal (s) | apply (s) | all Secrets (s) | objects/s | writes at sync | peak RSS (MiB) | writes idle {idle}s | reconciles idle {idle}s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows.iter() {
        let rss = r.peak_rss_kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.0} | {} | {rss} | {} | {} |",
            r.bulk.n,
            r.bulk.seal.as_secs_f64(),
            r.bulk.apply.as_secs_f64(),
            r.bulk.all_present.as_secs_f64(),
            r.bulk.n as f64 / r.bulk.all_present.as_secs_f64().max(1e-9),
            r.writes_at_sync,
            r.idle_writes,
            r.idle_reconciles,
        );
    }
    println!();
}
