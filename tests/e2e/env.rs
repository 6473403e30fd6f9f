//! The suite's environment: the client, the throwaway namespaces, the binaries, the running
//! controller replicas, and the plaintexts used (for the leak search). Set up once, torn
//! down at the end whatever happened.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use sealgate::controller::keys::{RECIPIENTS_CONFIGMAP, RECIPIENTS_KEY};
use tokio::sync::Mutex;

use super::cluster;
use super::process::{Replica, ReplicaSpec, binary};
use super::sealing::Plain;
use super::support::{Ctx, R, eventually, random_suffix};

/// Which namespaces the primary replica watches, and whether it is started at setup.
pub enum Mode {
    /// The functional scenarios: two test namespaces and a bulk one, watched by a primary.
    Scenarios,
    /// The scale benchmark: one namespace per size, each with its own replica.
    Scale(Vec<usize>),
}

pub struct Env {
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub run_id: String,
    pub controller_ns: String,
    /// First test namespace: where objects are sealed for.
    pub ns_a: String,
    /// Second test namespace: where a sealed file is moved to.
    pub ns_b: String,
    /// Where the 1,000 objects go.
    pub ns_bulk: String,
    /// Scale mode: (size, namespace).
    pub scale_namespaces: Vec<(usize, String)>,
    /// Every namespace created, for cleanup.
    pub namespaces: Vec<String>,
    pub cli: PathBuf,
    pub controller_bin: PathBuf,
    pub log_dir: PathBuf,
    /// Replicas started; the first is the primary. Killed ones stay (their logs are read).
    pub replicas: Mutex<Vec<Replica>>,
    /// Plaintexts used, searched for in logs, Events and statuses at the end.
    pub plaintexts: std::sync::Mutex<Vec<String>>,
}

impl Env {
    /// Applies the CRDs and creates the namespaces, recording each in `created` as soon as
    /// it exists (so a failure half-way still cleans up), then starts the primary replica in
    /// scenario mode.
    pub async fn setup(
        client: Client,
        kubeconfig: PathBuf,
        mode: &Mode,
        created: &mut Vec<String>,
    ) -> R<Env> {
        let controller_bin = binary(
            "sealgate-controller",
            "SEALGATE_E2E_CONTROLLER_BIN",
            option_env!("CARGO_BIN_EXE_sealgate-controller"),
        )?;
        let cli = binary("sealgate", "SEALGATE_E2E_CLI_BIN", None)?;
        let run_id = random_suffix(6);
        let log_dir = std::env::temp_dir().join(format!("sealgate-e2e-{run_id}"));
        std::fs::create_dir_all(&log_dir).ctx(format!("cannot create {}", log_dir.display()))?;

        let crds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds");
        cluster::apply_crds(&client, &crds).await?;

        let controller_ns = format!("sealgate-e2e-{run_id}");
        let ns_a = format!("sealgate-e2e-{run_id}-a");
        let ns_b = format!("sealgate-e2e-{run_id}-b");
        let ns_bulk = format!("sealgate-e2e-{run_id}-bulk");
        let scale_namespaces: Vec<(usize, String)> = match mode {
            Mode::Scenarios => Vec::new(),
            Mode::Scale(sizes) => {
                sizes.iter().map(|n| (*n, format!("sealgate-e2e-{run_id}-scale-{n}"))).collect()
            }
        };
        let mut wanted = vec![controller_ns.clone()];
        match mode {
            Mode::Scenarios => wanted.extend([ns_a.clone(), ns_b.clone(), ns_bulk.clone()]),
            Mode::Scale(_) => wanted.extend(scale_namespaces.iter().map(|(_, ns)| ns.clone())),
        }
        for ns in &wanted {
            cluster::create_namespace(&client, ns).await?;
            created.push(ns.clone());
        }
        let env = Env {
            client,
            kubeconfig,
            run_id,
            controller_ns,
            ns_a,
            ns_b,
            ns_bulk,
            scale_namespaces,
            namespaces: wanted,
            cli,
            controller_bin,
            log_dir,
            replicas: Mutex::new(Vec::new()),
            plaintexts: std::sync::Mutex::new(Vec::new()),
        };
        if let Mode::Scenarios = mode {
            let watch = [env.ns_a.clone(), env.ns_b.clone(), env.ns_bulk.clone()];
            env.start_replica("a", &watch, None).await?;
        }
        Ok(env)
    }

    /// Starts a replica named `e2e-<run>-<tag>` and keeps it in [`Env::replicas`]; returns
    /// its index there.
    pub async fn start_replica(
        &self,
        tag: &str,
        watch: &[String],
        lease_name: Option<&str>,
    ) -> R<usize> {
        self.start_replica_with(tag, watch, lease_name, None).await
    }

    /// [`Env::start_replica`] with `--transit-store STORE`.
    pub async fn start_replica_with(
        &self,
        tag: &str,
        watch: &[String],
        lease_name: Option<&str>,
        transit_store: Option<&str>,
    ) -> R<usize> {
        let identity = format!("e2e-{}-{tag}", self.run_id);
        let replica = Replica::start(&ReplicaSpec {
            binary: &self.controller_bin,
            kubeconfig: &self.kubeconfig,
            controller_namespace: &self.controller_ns,
            watch_namespaces: watch,
            identity: &identity,
            lease_name,
            log_dir: &self.log_dir,
            transit_store,
        })?;
        let mut replicas = self.replicas.lock().await;
        replicas.push(replica);
        Ok(replicas.len() - 1)
    }

    /// A test Secret in `ns` whose values carry this run's marker; its plaintexts are
    /// registered for the leak search.
    pub fn plain(&self, ns: &str, name: &str) -> Plain {
        let plain = Plain::typical(ns, name, &self.marker(name));
        self.register(plain.values());
        plain
    }

    /// The token every plaintext of this run contains (searched for raw in the end).
    pub fn marker(&self, name: &str) -> String {
        format!("zq{}v-{name}", self.run_id)
    }

    pub fn register(&self, values: impl IntoIterator<Item = String>) {
        self.plaintexts.lock().unwrap_or_else(|e| e.into_inner()).extend(values);
    }

    /// The newest recipient the controller publishes (first line of the ConfigMap).
    pub async fn recipient(&self) -> R<String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.controller_ns);
        let what =
            format!("ConfigMap {}/{RECIPIENTS_CONFIGMAP} lists a recipient", self.controller_ns);
        eventually(&what, Duration::from_secs(120), || async {
            let cm = api.get(RECIPIENTS_CONFIGMAP).await.ctx("get")?;
            let text = cm
                .data
                .as_ref()
                .and_then(|d| d.get(RECIPIENTS_KEY))
                .ctx(format!("no key {RECIPIENTS_KEY} in it"))?;
            text.lines()
                .map(str::trim)
                .find(|l| l.starts_with("age1"))
                .map(str::to_owned)
                .ctx(format!("no age1… line in {RECIPIENTS_KEY}"))
        })
        .await
    }

    /// Fails fast when the primary replica died (its log tail is the reason).
    pub async fn primary_alive(&self) -> R {
        let mut replicas = self.replicas.lock().await;
        match replicas.first_mut() {
            Some(primary) => primary
                .check_running()
                .map_err(|e| format!("{e}\n--- last log lines ---\n{}", primary.log_tail(30))),
            None => Ok(()),
        }
    }

    /// Kills every replica and deletes the namespaces.
    pub async fn teardown(&self) {
        for replica in self.replicas.lock().await.iter_mut() {
            replica.kill();
        }
        cluster::delete_namespaces(&self.client, &self.namespaces).await;
    }
}
