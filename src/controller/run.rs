//! Wiring: the kube client, the keyring loop, leader election, the probes, and one
//! `Controller` per watched scope, which runs only while this replica leads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource};

use super::config::ControllerConfig;
use super::keys::{self, ClusterKeyring};
use super::leader::{self, Leadership};
use super::materialize::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, trim_managed_fields};
use super::metrics::Metrics;
use super::reconcile::{Context, error_policy, reconcile};
use super::server::{self, Health};
use crate::crd::EncryptedSecret;

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot connect to Kubernetes: {0}; set KUBECONFIG or run in a cluster")]
    Connect(String),
    #[error("{0}")]
    Listen(#[from] std::io::Error),
    #[error("invalid --label-selector: {0}")]
    Selector(String),
}

/// What the probes and metrics report.
struct State {
    metrics: Arc<Metrics>,
    keyring: ClusterKeyring,
    /// Set once the caches of a leading term are synced.
    synced: AtomicBool,
    leadership: Leadership,
}

impl Health for State {
    fn ready(&self) -> bool {
        // A follower is ready as soon as its keys are loaded: it stands by.
        self.keyring.is_loaded()
            && (!self.leadership.is_leader() || self.synced.load(Ordering::Relaxed))
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Runs the controller until SIGTERM/SIGINT.
///
/// # Errors
/// [`RunError`] when it cannot start; once running, trouble is retried, not returned.
pub async fn run(cfg: ControllerConfig) -> Result<(), RunError> {
    let client =
        super::client::connect(&cfg).await.map_err(|e| RunError::Connect(e.to_string()))?;
    let identity = cfg.identity.clone().unwrap_or_else(default_identity);
    let metrics = Arc::new(Metrics::default());
    let keyring = ClusterKeyring::unloaded();

    let leadership = if cfg.leader_elect {
        let (tx, leadership) = Leadership::channel();
        let settings =
            leader::LeaseSettings::new(&cfg.controller_namespace, &cfg.lease_name, &identity);
        tokio::spawn(leader::run_election(client.clone(), settings, tx));
        leadership
    } else {
        Leadership::always()
    };

    let state = Arc::new(State {
        metrics: Arc::clone(&metrics),
        keyring: keyring.clone(),
        synced: AtomicBool::new(false),
        leadership: leadership.clone(),
    });
    let health_listener = server::bind(cfg.health_addr).await?;
    tokio::spawn(server::serve(health_listener, state.clone()));
    if cfg.metrics_addr != cfg.health_addr {
        let metrics_listener = server::bind(cfg.metrics_addr).await?;
        tokio::spawn(server::serve(metrics_listener, state.clone()));
    }

    tokio::spawn(keys::run(
        client.clone(),
        keys::KeySettings {
            namespace: cfg.controller_namespace.clone(),
            renew_period: cfg.key_renew_period,
        },
        leadership.clone(),
        keyring.clone(),
        Arc::clone(&metrics),
    ));

    let reporter = Reporter { controller: "sealgate-controller".into(), instance: Some(identity) };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut watch_leader = leadership.clone();
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = watch_leader.acquired() => {}
        }
        metrics.set_leader(true);
        tracing::info!("leading: starting the controllers");
        let term = lead(&cfg, &client, &reporter, &keyring, &leadership, &metrics, &state);
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = watch_leader.lost() => {
                tracing::warn!("lost the leader lease: stopped writing");
            }
            result = term => result?,
        }
        state.synced.store(false, Ordering::Relaxed);
        metrics.set_leader(false);
    }
}

/// One leading term: a controller per watched scope, until they end.
async fn lead(
    cfg: &ControllerConfig,
    client: &Client,
    reporter: &Reporter,
    keyring: &ClusterKeyring,
    leadership: &Leadership,
    metrics: &Arc<Metrics>,
    state: &Arc<State>,
) -> Result<(), RunError> {
    let scopes: Vec<Option<String>> = if cfg.watch_namespaces.is_empty() {
        vec![None]
    } else {
        cfg.watch_namespaces.iter().cloned().map(Some).collect()
    };
    let mut controllers = Vec::new();
    for ns in scopes {
        let (es_api, secret_api): (Api<EncryptedSecret>, Api<PartialObjectMeta<Secret>>) = match &ns
        {
            None => (Api::all(client.clone()), Api::all(client.clone())),
            Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        };
        let (owned_reader, owned_writer) = reflector::store::<PartialObjectMeta<Secret>>();
        let owned_config =
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
        let owned = watcher(secret_api, owned_config)
            .default_backoff()
            .modify(|m| {
                // Only ownership and hand edits of values matter; drop the bulky rest.
                trim_managed_fields(&mut m.metadata);
                m.metadata.annotations = None;
            })
            .reflect(owned_writer)
            .touched_objects();

        let (es_reader, es_writer) = reflector::store::<EncryptedSecret>();
        let mut es_config = watcher::Config::default();
        if let Some(sel) = &cfg.label_selector {
            es_config = es_config.labels(sel);
        }
        let objects = watcher(es_api, es_config)
            .default_backoff()
            .modify(|es| {
                // The cache keeps what reconciles read; managedFields and the last-applied copy
                // would double the memory per object.
                es.meta_mut().managed_fields = None;
                if let Some(a) = es.meta_mut().annotations.as_mut() {
                    a.remove(crate::seal::LAST_APPLIED_ANNOTATION);
                }
            })
            .reflect(es_writer)
            .touched_objects();

        let ctx = Arc::new(
            Context::new(
                client.clone(),
                keyring.clone(),
                leadership.clone(),
                Recorder::new(client.clone(), reporter.clone()),
                Arc::clone(metrics),
                owned_reader.clone(),
            )
            .with_objects(es_reader.clone()),
        );
        let controller = Controller::for_stream(objects, es_reader.clone())
            .owns_stream(owned)
            .reconcile_all_on(watch_changes(keyring.subscribe()))
            .with_config(kube::runtime::controller::Config::default().concurrency(cfg.workers))
            .run(reconcile, error_policy, ctx)
            .for_each(|result| {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "controller event");
                }
                future::ready(())
            });
        controllers.push(Box::pin(controller));
        let (state, readers) = (Arc::clone(state), (es_reader, owned_reader));
        tokio::spawn(mark_synced(state, readers));
    }
    future::join_all(controllers).await;
    Ok(())
}

async fn mark_synced(
    state: Arc<State>,
    (es, owned): (Store<EncryptedSecret>, Store<PartialObjectMeta<Secret>>),
) {
    if es.wait_until_ready().await.is_ok() && owned.wait_until_ready().await.is_ok() {
        state.synced.store(true, Ordering::Relaxed);
    }
}

/// A stream that yields each time the watched value changes.
fn watch_changes<T: Send + Sync + 'static>(
    rx: tokio::sync::watch::Receiver<T>,
) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

fn default_identity() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("sealgate-controller-{}", std::process::id()))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = ctrl_c => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => future::pending::<()>().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
