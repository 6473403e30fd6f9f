//! End-to-end suite against a real cluster (harness = false; see E2E.md).
//!
//! Without `SEALGATE_E2E_KUBECONFIG` it prints one SKIPPED line and exits 0 *without* a
//! `test result:` line, so a skipped suite never counts as passed tests. With it, it applies
//! the CRDs, makes throwaway namespaces, runs `sealgate-controller` out of cluster against
//! them, runs the scenarios one after another, prints a libtest-shaped summary, and deletes
//! the namespaces and kills the controllers whatever happened. `SEALGATE_E2E_SCALE=1000,10000`
//! runs the scale benchmark instead of the scenarios.

#[path = "e2e/cluster.rs"]
mod cluster;
#[path = "e2e/env.rs"]
mod env;
#[path = "support/openbao.rs"]
mod openbao;
#[path = "e2e/process.rs"]
mod process;
#[path = "e2e/scale.rs"]
mod scale;
#[path = "e2e/scenarios.rs"]
mod scenarios;
#[path = "e2e/sealing.rs"]
mod sealing;
#[path = "e2e/support.rs"]
mod support;
#[path = "e2e/vault.rs"]
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use env::{Env, Mode};
use support::R;

const SKIPPED: &str = "e2e: SKIPPED — set SEALGATE_E2E_KUBECONFIG to a kubeconfig of a disposable \
                       cluster to run the end-to-end suite";

/// One scenario: a name (matched by command-line filters), a deadline, and whether it needs
/// the primary replica alive.
struct Scenario {
    name: String,
    timeout: Duration,
    needs_primary: bool,
    run: Box<dyn Fn(Arc<Env>) -> BoxFuture<'static, R> + Send>,
}

fn scenario<F>(name: &str, timeout_s: u64, needs_primary: bool, f: F) -> Scenario
where
    F: Fn(Arc<Env>) -> BoxFuture<'static, R> + Send + 'static,
{
    Scenario {
        name: name.to_owned(),
        timeout: Duration::from_secs(timeout_s),
        needs_primary,
        run: Box::new(f),
    }
}

fn functional() -> Vec<Scenario> {
    use scenarios::*;
    vec![
        scenario("a_keys_published_and_ready", 300, true, |e| {
            Box::pin(keys_published_and_ready(e))
        }),
        scenario("b_cli_sealed_secret_materializes", 180, true, |e| {
            Box::pin(cli_sealed_secret_materializes(e))
        }),
        scenario("c_apiserver_refuses_plaintext", 120, true, |e| {
            Box::pin(apiserver_refuses_plaintext(e))
        }),
        scenario("d_moved_namespace_is_refused", 180, true, |e| {
            Box::pin(moved_namespace_is_refused(e))
        }),
        scenario("e_tampering_is_refused_and_writes_nothing", 420, true, |e| {
            Box::pin(tampering_is_refused_and_writes_nothing(e))
        }),
        scenario("f_drift_is_repaired", 180, true, |e| Box::pin(drift_is_repaired(e))),
        scenario("g_foreign_secret_needs_adoption", 240, true, |e| {
            Box::pin(foreign_secret_needs_adoption(e))
        }),
        scenario("h_hand_added_key_is_picked_up", 240, true, |e| {
            Box::pin(hand_added_key_is_picked_up(e))
        }),
        scenario("i_thousand_objects_materialize", 900, true, |e| {
            Box::pin(thousand_objects_materialize(e))
        }),
        scenario("j_leader_failover", 420, true, |e| Box::pin(leader_failover(e))),
        scenario("l_vault_secret_follows_vault_and_survives_an_outage", 300, true, |e| {
            Box::pin(vault::vault_secret_follows_vault_and_survives_an_outage(e))
        }),
        scenario("m_vault_kubernetes_auth_uses_the_service_account", 240, true, |e| {
            Box::pin(vault::vault_kubernetes_auth_uses_the_service_account(e))
        }),
        scenario("n_transit_store_opens_hc_vault_sealed_objects", 240, true, |e| {
            Box::pin(vault::transit_store_opens_hc_vault_sealed_objects(e))
        }),
        scenario("k_nothing_secret_is_published", 120, false, |e| {
            Box::pin(nothing_secret_is_published(e))
        }),
    ]
}

fn scale_scenarios(sizes: &[usize], table: &scale::Table) -> Vec<Scenario> {
    sizes
        .iter()
        .map(|&n| {
            let table = table.clone();
            let timeout = 1200 + n as u64 / 10;
            scenario(&format!("scale_{n}"), timeout, false, move |e| {
                Box::pin(scale::run(e, n, table.clone()))
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let Some(kubeconfig) = std::env::var_os("SEALGATE_E2E_KUBECONFIG").filter(|v| !v.is_empty())
    else {
        eprintln!("{SKIPPED}");
        println!("{SKIPPED}");
        return ExitCode::SUCCESS;
    };
    // Arguments that are not flags filter scenarios by name, as libtest does.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("e2e: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ok = runtime.block_on(run(PathBuf::from(kubeconfig), &filters));
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Runs everything; true when nothing failed.
async fn run(kubeconfig: PathBuf, filters: &[String]) -> bool {
    let started = Instant::now();
    let summary = |passed: usize, failed: usize, filtered: usize| {
        let verdict = if failed == 0 { "ok" } else { "FAILED" };
        println!(
            "\ntest result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; \
             {filtered} filtered out; finished in {:.2}s\n",
            started.elapsed().as_secs_f64()
        );
    };
    let mode = match scale::sizes() {
        None => Mode::Scenarios,
        Some(Ok(sizes)) => Mode::Scale(sizes),
        Some(Err(e)) => {
            println!("test e2e_setup ... FAILED: {e}");
            summary(0, 1, 0);
            return false;
        }
    };
    let client = match cluster::connect(&kubeconfig).await {
        Ok(c) => c,
        Err(e) => {
            println!("test e2e_setup ... FAILED: {e}");
            summary(0, 1, 0);
            return false;
        }
    };
    let mut created = Vec::new();
    let env = match Env::setup(client.clone(), kubeconfig, &mode, &mut created).await {
        Ok(env) => Arc::new(env),
        Err(e) => {
            println!("test e2e_setup ... FAILED: {e}");
            cluster::delete_namespaces(&client, &created).await;
            summary(0, 1, 0);
            return false;
        }
    };
    println!(
        "e2e: run {} on namespaces {}; controller logs in {}",
        env.run_id,
        env.namespaces.join(", "),
        env.log_dir.display()
    );

    let table: scale::Table = Default::default();
    let all = match &mode {
        Mode::Scenarios => functional(),
        Mode::Scale(sizes) => scale_scenarios(sizes, &table),
    };
    let (selected, filtered): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())));
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed) = (0, 0);
    for s in &selected {
        let outcome = run_one(&env, s).await;
        match outcome {
            Ok(()) => {
                println!("test {} ... ok", s.name);
                passed += 1;
            }
            Err(reason) => {
                println!("test {} ... FAILED: {}", s.name, reason.replace('\n', "\n    "));
                failed += 1;
            }
        }
    }
    scale::print_table(&table);
    if failed > 0 {
        for replica in env.replicas.lock().await.iter() {
            println!(
                "\n--- last lines of {} ({}) ---\n{}",
                replica.identity,
                replica.log.display(),
                replica.log_tail(40)
            );
        }
    }
    env.teardown().await;
    summary(passed, failed, filtered.len());
    failed == 0
}

/// One scenario in its own task (a panic is a failure, not the end of the run), with its
/// deadline; the task is aborted when the deadline passes.
async fn run_one(env: &Arc<Env>, s: &Scenario) -> R {
    if s.needs_primary {
        env.primary_alive().await?;
    }
    let mut task = tokio::spawn((s.run)(env.clone()));
    match tokio::time::timeout(s.timeout, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(format!("panicked: {join}")),
        Err(_) => {
            task.abort();
            Err(format!("did not finish within {}s", s.timeout.as_secs()))
        }
    }
}
