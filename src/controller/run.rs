//! Wiring: the kube client, the keyring loop, leader election, the probes, the Vault pool, and
//! per watched scope one `Controller` for each kind (`EncryptedSecret`, `VaultSecret`,
//! `SecretStore`), plus one for `ClusterSecretStore`s, which run only while this replica leads.
//! Each watch is made once and fanned out to the controllers that need it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, Stream, StreamExt, future};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};

use super::audit::{AuditSettings, ControllerAudit};
use super::config::ControllerConfig;
use super::keys::{self, ClusterKeyring};
use super::leader::{self, Leadership};
use super::materialize::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, trim_managed_fields};
use super::metrics::Metrics;
use super::reconcile::{Context, Error, error_policy, reconcile};
use super::server::{self, Health};
use super::vaultsecret::transit_store::{self, TransitStoreRef};
use super::vaultsecret::{self, VaultSource};
use crate::audit::Actor;
use crate::crd::{ClusterSecretStore, EncryptedSecret, SecretStore, StoreKind, VaultSecret};
use crate::vault::{PoolTransit, VaultPool};

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot connect to Kubernetes: {0}; set KUBECONFIG or run in a cluster")]
    Connect(String),
    #[error("{0}")]
    Listen(#[from] std::io::Error),
    #[error("invalid --label-selector: {0}")]
    Selector(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}; the audit trail was asked for, so the controller does not start without it")]
    Audit(#[from] super::audit::AuditSetupError),
}

/// The audit trail when `--audit-log` or `--audit-stdout` asks for one.
async fn open_audit(
    cfg: &ControllerConfig,
    client: &Client,
    identity: &str,
) -> Result<Option<Arc<ControllerAudit>>, RunError> {
    let settings = AuditSettings { file: cfg.audit_log.clone(), stdout: cfg.audit_stdout };
    if !settings.enabled() {
        return Ok(None);
    }
    let actor = Actor::Controller {
        identity: format!("{}/sealgate-controller", cfg.controller_namespace),
        replica: identity.to_owned(),
    };
    let audit = ControllerAudit::open(&settings, client, &cfg.controller_namespace, actor).await?;
    Ok(Some(Arc::new(audit)))
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
    // One pool for the process: Vault sessions (tokens) outlive leadership changes.
    let audit = open_audit(&cfg, &client, &identity).await?;
    if let Some(a) = &audit {
        metrics.watch_audit(Arc::clone(a));
    }
    let pool = VaultPool::new();
    let vault: Arc<dyn VaultSource> = Arc::new(pool.clone());
    // `--transit-store`: hc_vault data keys are unwrapped with that store's session.
    let transit = match &cfg.transit_store {
        Some(value) => {
            let store = TransitStoreRef::parse(value).map_err(RunError::Config)?;
            let transit = Arc::new(PoolTransit::new(
                pool.clone(),
                tokio::runtime::Handle::current(),
                store.describe(),
            ));
            tokio::spawn(transit_store::run(client.clone(), store, transit.clone()));
            Some(transit as Arc<dyn crate::keys::TransitClient>)
        }
        None => None,
    };

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

    // The admission webhook answers on every replica, leader or not.
    if let Some(addr) = cfg.webhook_addr {
        let policy = super::webhook::policy_of(&cfg).map_err(RunError::Config)?;
        // Starts without a certificate (the Secret may not exist yet); handshakes fail until
        // the files appear.
        let cert = super::webhook::ReloadingCert::new(&cfg.webhook_cert_dir);
        if let Err(error) = cert.check() {
            tracing::warn!(%error, "webhook: no certificate yet; retried on every handshake");
        }
        let listener = super::webhook::bind(addr).await?;
        let webhook = super::webhook::Webhook {
            policy,
            keyring: keyring.clone(),
            metrics: Arc::clone(&metrics),
        };
        tokio::spawn(super::webhook::serve(listener, Arc::new(cert), Arc::new(webhook)));
    }

    tokio::spawn(keys::run(
        client.clone(),
        keys::KeySettings {
            namespace: cfg.controller_namespace.clone(),
            renew_period: cfg.key_renew_period,
            transit,
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
        let shared = Shared {
            client: client.clone(),
            reporter: reporter.clone(),
            keyring: keyring.clone(),
            leadership: leadership.clone(),
            metrics: Arc::clone(&metrics),
            vault: Arc::clone(&vault),
            audit: audit.clone(),
        };
        let term = lead(&cfg, &shared, &state);
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

/// What every controller of a leading term is built from.
struct Shared {
    client: Client,
    reporter: Reporter,
    keyring: ClusterKeyring,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    vault: Arc<dyn VaultSource>,
    audit: Option<Arc<ControllerAudit>>,
}

impl Shared {
    fn context(
        &self,
        owned: Store<PartialObjectMeta<Secret>>,
        stores: (Store<SecretStore>, Store<ClusterSecretStore>),
        objects: (Option<Store<EncryptedSecret>>, Option<Store<VaultSecret>>),
    ) -> Arc<Context> {
        let mut ctx = Context::new(
            self.client.clone(),
            self.keyring.clone(),
            self.leadership.clone(),
            Recorder::new(self.client.clone(), self.reporter.clone()),
            Arc::clone(&self.metrics),
            owned,
        )
        .with_vault(Arc::clone(&self.vault), stores.0, stores.1, objects.1)
        .with_audit(self.audit.clone());
        if let Some(es) = objects.0 {
            ctx = ctx.with_objects(es);
        }
        Arc::new(ctx)
    }
}

/// A future that runs until its watches or controller end.
type Task = BoxFuture<'static, ()>;

/// One leading term: the controllers of every watched scope, until they end.
async fn lead(cfg: &ControllerConfig, shared: &Shared, state: &Arc<State>) -> Result<(), RunError> {
    let scopes: Vec<Option<String>> = if cfg.watch_namespaces.is_empty() {
        vec![None]
    } else {
        cfg.watch_namespaces.iter().cloned().map(Some).collect()
    };
    let mut tasks: Vec<Task> = Vec::new();

    // ClusterSecretStores are cluster-scoped: one watch, for their own controller and for the
    // VaultSecret controller of every scope.
    let (css_reader, css_writer) = reflector::store::<ClusterSecretStore>();
    let css =
        watcher(Api::<ClusterSecretStore>::all(shared.client.clone()), watcher::Config::default())
            .default_backoff()
            .modify(|s| s.meta_mut().managed_fields = None)
            .reflect(css_writer)
            .touched_objects();
    let (driver, mut css_streams) = fan_out(css, scopes.len() + 1);
    tasks.push(driver);
    let css_own = css_streams.pop().expect("fan_out made one stream per consumer");

    // Readiness waits for the namespaced caches only: with --watch-namespaces and per-namespace
    // RoleBindings, the cluster-scoped ClusterSecretStore watch may be forbidden.
    let mut readiness: Vec<BoxFuture<'static, bool>> = Vec::new();
    let mut css_contexts = None;
    for (ns, css_for_scope) in scopes.into_iter().zip(css_streams) {
        let owned_api: Api<PartialObjectMeta<Secret>> = scoped(&shared.client, ns.as_deref());
        let (owned_reader, owned_writer) = reflector::store::<PartialObjectMeta<Secret>>();
        let owned_config =
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
        let owned = watcher(owned_api, owned_config)
            .default_backoff()
            .modify(|m| {
                // Only ownership and hand edits of values matter; drop the bulky rest.
                trim_managed_fields(&mut m.metadata);
                m.metadata.annotations = None;
            })
            .reflect(owned_writer)
            .touched_objects();
        let (driver, mut owned_streams) = fan_out(owned, 2);
        tasks.push(driver);
        let (owned_by_vs, owned_by_es) =
            (owned_streams.pop().expect("two streams"), owned_streams.pop().expect("two streams"));

        let mut object_config = watcher::Config::default();
        if let Some(sel) = &cfg.label_selector {
            object_config = object_config.labels(sel);
        }
        let (es_reader, es_writer) = reflector::store::<EncryptedSecret>();
        let objects = watcher(
            scoped::<EncryptedSecret>(&shared.client, ns.as_deref()),
            object_config.clone(),
        )
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

        let (vs_reader, vs_writer) = reflector::store::<VaultSecret>();
        let vault_objects =
            watcher(scoped::<VaultSecret>(&shared.client, ns.as_deref()), object_config)
                .default_backoff()
                .modify(|vs| {
                    vs.meta_mut().managed_fields = None;
                    if let Some(a) = vs.meta_mut().annotations.as_mut() {
                        a.remove("kubectl.kubernetes.io/last-applied-configuration");
                    }
                })
                .reflect(vs_writer)
                .touched_objects();

        let (ss_reader, ss_writer) = reflector::store::<SecretStore>();
        let secret_stores = watcher(
            scoped::<SecretStore>(&shared.client, ns.as_deref()),
            watcher::Config::default(),
        )
        .default_backoff()
        .modify(|s| s.meta_mut().managed_fields = None)
        .reflect(ss_writer)
        .touched_objects();
        let (driver, mut ss_streams) = fan_out(secret_stores, 2);
        tasks.push(driver);
        let (ss_for_vs, ss_own) =
            (ss_streams.pop().expect("two streams"), ss_streams.pop().expect("two streams"));

        let stores = (ss_reader.clone(), css_reader.clone());
        let es_ctx =
            shared.context(owned_reader.clone(), stores.clone(), (Some(es_reader.clone()), None));
        let vs_ctx =
            shared.context(owned_reader.clone(), stores.clone(), (None, Some(vs_reader.clone())));
        css_contexts.get_or_insert_with(|| Arc::clone(&vs_ctx));
        let config = kube::runtime::controller::Config::default().concurrency(cfg.workers);

        tasks.push(drive(
            Controller::for_stream(objects, es_reader.clone())
                .owns_stream(owned_by_es.map(Ok))
                .reconcile_all_on(watch_changes(shared.keyring.subscribe()))
                .with_config(config.clone())
                .run(reconcile, error_policy, es_ctx),
        ));
        tasks.push(drive(
            Controller::for_stream(vault_objects, vs_reader.clone())
                .owns_stream(owned_by_vs.map(Ok))
                .watches_stream(ss_for_vs.map(Ok), dependents_of_store(vs_reader.clone()))
                .watches_stream(
                    css_for_scope.map(Ok),
                    dependents_of_cluster_store(vs_reader.clone()),
                )
                .with_config(config.clone())
                .run(vaultsecret::reconcile, object_error_policy, Arc::clone(&vs_ctx)),
        ));
        tasks.push(drive(
            Controller::for_stream(ss_own.map(Ok), ss_reader.clone()).with_config(config).run(
                vaultsecret::reconcile_store,
                object_error_policy,
                vs_ctx,
            ),
        ));
        readiness.extend([
            ready(es_reader),
            ready(owned_reader),
            ready(vs_reader),
            ready(ss_reader),
        ]);
    }
    let css_ctx = css_contexts.expect("at least one scope");
    tasks.push(drive(
        Controller::for_stream(css_own.map(Ok), css_reader)
            .with_config(kube::runtime::controller::Config::default().concurrency(cfg.workers))
            .run(vaultsecret::reconcile_store, object_error_policy, css_ctx),
    ));
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if future::join_all(readiness).await.into_iter().all(|ok| ok) {
            state.synced.store(true, Ordering::Relaxed);
        }
    });
    future::join_all(tasks).await;
    Ok(())
}

/// An `Api` over all namespaces, or one.
fn scoped<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        None => Api::all(client.clone()),
        Some(ns) => Api::namespaced(client.clone(), ns),
    }
}

/// Resolves when the cache has its first full list (false if its watch ended first).
fn ready<K>(store: Store<K>) -> BoxFuture<'static, bool>
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    async move { store.wait_until_ready().await.is_ok() }.boxed()
}

/// Runs a controller's stream to its end, logging what it reports.
fn drive<S, T, E>(stream: S) -> Task
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    E: std::fmt::Display,
{
    stream
        .for_each(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
            future::ready(())
        })
        .boxed()
}

/// Feeds every object a watch touches to `n` consumers (each a stream), so that one watch
/// serves several controllers. Watch errors are logged here (the watch retries with backoff).
/// The returned task drives the watch; a consumer that stops is skipped from then on.
fn fan_out<K, S>(watch: S, n: usize) -> (Task, Vec<mpsc::Receiver<K>>)
where
    K: Clone + Send + 'static,
    S: Stream<Item = Result<K, watcher::Error>> + Send + 'static,
{
    let (mut senders, receivers): (Vec<mpsc::Sender<K>>, Vec<mpsc::Receiver<K>>) =
        (0..n).map(|_| mpsc::channel(256)).unzip();
    let task = async move {
        let mut watch = std::pin::pin!(watch);
        while let Some(item) = watch.next().await {
            match item {
                Ok(obj) => {
                    for tx in &mut senders {
                        // A closed consumer (its controller ended) is simply skipped.
                        let _ = tx.send(obj.clone()).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watch failed; retrying"),
            }
        }
    };
    (task.boxed(), receivers)
}

/// The `VaultSecret`s that use a `SecretStore` (same namespace and name): a store's change or
/// removal reconciles them.
fn dependents_of_store(
    objects: Store<VaultSecret>,
) -> impl Fn(SecretStore) -> Vec<ObjectRef<VaultSecret>> + Send + Sync + 'static {
    move |store| {
        let (ns, name) = (store.namespace(), store.name_any());
        objects
            .state()
            .iter()
            .filter(|vs| {
                vs.spec.store_ref.kind == StoreKind::SecretStore
                    && vs.spec.store_ref.name == name
                    && vs.namespace() == ns
            })
            .map(|vs| ObjectRef::from(&**vs))
            .collect()
    }
}

/// The `VaultSecret`s that use a `ClusterSecretStore`.
fn dependents_of_cluster_store(
    objects: Store<VaultSecret>,
) -> impl Fn(ClusterSecretStore) -> Vec<ObjectRef<VaultSecret>> + Send + Sync + 'static {
    move |store| {
        let name = store.name_any();
        objects
            .state()
            .iter()
            .filter(|vs| {
                vs.spec.store_ref.kind == StoreKind::ClusterSecretStore
                    && vs.spec.store_ref.name == name
            })
            .map(|vs| ObjectRef::from(&**vs))
            .collect()
    }
}

/// Backoff for transient failures of `VaultSecret`s and stores: as for `EncryptedSecret`s.
fn object_error_policy<K>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    super::reconcile::error_policy_for(&*obj, error, &ctx)
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
