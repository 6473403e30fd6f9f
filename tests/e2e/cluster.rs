//! The cluster side of the suite: a client from the given kubeconfig, the CRDs applied and
//! Established, throwaway namespaces, and small typed helpers over the objects the scenarios
//! read and write.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use sealgate::crd::{Condition, EncryptedSecret};
use sealgate::format::store::{self, Format};
use serde_json::{Value, json};

use super::support::{Ctx, R, eventually};

/// The field manager of everything the suite writes.
pub const FIELD_MANAGER: &str = "sealgate-e2e";
/// Label on every namespace the suite creates, so leftovers can be found and removed.
pub const E2E_LABEL: &str = "sealgate.dev/e2e";

/// A client for the cluster the kubeconfig's current context names.
pub async fn connect(kubeconfig: &Path) -> R<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)
        .ctx(format!("cannot read the kubeconfig {}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .ctx(format!("the kubeconfig {} is unusable", kubeconfig.display()))?;
    let client = Client::try_from(config).ctx("cannot build a kube client")?;
    client.apiserver_version().await.ctx("the apiserver does not answer")?;
    Ok(client)
}

/// YAML (one or more documents) as JSON values, through sealgate's own stores.
pub fn yaml_documents(yaml: &[u8], origin: &str) -> R<Vec<Value>> {
    let docs = store::parse_plain(Format::Yaml, yaml).ctx(format!("{origin} is not YAML"))?;
    docs.iter()
        .filter(|d| d.entries().next().is_some())
        .map(|d| {
            let json = store::emit_plain(Format::Json, std::slice::from_ref(d))
                .ctx(format!("{origin} cannot be written as JSON"))?;
            serde_json::from_slice(&json).ctx(format!("{origin} did not convert to JSON"))
        })
        .collect()
}

/// Server-side applies every CRD under `crds/` and waits until each is Established.
pub async fn apply_crds(client: &Client, dir: &Path) -> R<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .ctx(format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).ctx(format!("cannot read {}", path.display()))?;
        for doc in yaml_documents(&bytes, &path.display().to_string())? {
            let name = doc["metadata"]["name"]
                .as_str()
                .ctx(format!("{}: a CRD without metadata.name", path.display()))?
                .to_owned();
            api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&doc))
                .await
                .ctx(format!("cannot apply the CRD {name} from {}", path.display()))?;
            names.push(name);
        }
    }
    for name in &names {
        eventually(&format!("CRD {name} Established"), Duration::from_secs(60), || async {
            let crd = api.get(name).await.ctx("get")?;
            let established = crd
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Established" && c.status == "True");
            ensure_or(established, "not Established yet")
        })
        .await?;
    }
    if names.is_empty() {
        return Err(format!("no CRD found under {}", dir.display()));
    }
    Ok(names)
}

fn ensure_or(cond: bool, otherwise: &str) -> R {
    if cond { Ok(()) } else { Err(otherwise.to_owned()) }
}

/// Creates a namespace labelled as the suite's.
pub async fn create_namespace(client: &Client, name: &str) -> R {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { E2E_LABEL: "true" } }
    }))
    .ctx("namespace object")?;
    api.create(&PostParams::default(), &ns).await.ctx(format!("cannot create namespace {name}"))?;
    Ok(())
}

/// Starts deleting the namespaces (the apiserver finishes in the background). Errors are
/// reported, not returned: cleanup goes on with the next one.
pub async fn delete_namespaces(client: &Client, names: &[String]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => println!("e2e: deleted namespace {name}"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => eprintln!(
                "e2e: could not delete namespace {name}: {e}; remove it by hand (label {E2E_LABEL}=true)"
            ),
        }
    }
}

/// The `EncryptedSecret`s of a namespace.
pub fn es_api(client: &Client, ns: &str) -> Api<EncryptedSecret> {
    Api::namespaced(client.clone(), ns)
}

/// The `Secret`s of a namespace.
pub fn secret_api(client: &Client, ns: &str) -> Api<Secret> {
    Api::namespaced(client.clone(), ns)
}

/// Server-side applies an `EncryptedSecret` (the sealed file as JSON) into `ns`, whatever
/// namespace the file names.
pub async fn apply_es(client: &Client, ns: &str, sealed: &Value) -> R<EncryptedSecret> {
    let mut body = sealed.clone();
    body["metadata"]["namespace"] = Value::String(ns.to_owned());
    let name = body["metadata"]["name"].as_str().ctx("the sealed file has no name")?.to_owned();
    es_api(client, ns)
        .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
        .await
        .ctx(format!("cannot apply EncryptedSecret {ns}/{name}"))
}

/// The `Ready` condition.
pub fn ready(es: &EncryptedSecret) -> Option<&Condition> {
    es.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")
}

/// Waits until the object's status describes its current generation with one of `reasons`.
pub async fn wait_reason(
    client: &Client,
    ns: &str,
    name: &str,
    reasons: &[&str],
    timeout: Duration,
) -> R<EncryptedSecret> {
    let api = es_api(client, ns);
    let what = format!("EncryptedSecret {ns}/{name} reports {}", reasons.join(" or "));
    eventually(&what, timeout, || async {
        let es = api.get(name).await.ctx("get")?;
        let generation = es.metadata.generation;
        let observed = es.status.as_ref().and_then(|s| s.observed_generation);
        let cond = ready(&es).ctx("no Ready condition yet")?;
        if observed != generation {
            return Err(format!(
                "status is for generation {observed:?}, the object is at {generation:?} \
                 ({}: {})",
                cond.reason, cond.message
            ));
        }
        if !reasons.contains(&cond.reason.as_str()) {
            return Err(format!("Ready={} reason {}: {}", cond.status, cond.reason, cond.message));
        }
        Ok(es.clone())
    })
    .await
}
