//! The `VaultSecret` and store reconcilers against a mocked apiserver and a fake Vault: each
//! scenario asserts the exact requests made to the apiserver and the reads asked of Vault.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::fixtures::{Harness, Router, status_body};
use crate::controller::context::{ObjectKey, lock};
use crate::controller::vaultsecret::{VaultSource, reconcile, reconcile_store};
use crate::crd::{
    ClusterSecretStore, ClusterSecretStoreSpec, KubernetesAuth, KvSpec, LabelSelector, RemoteRef,
    SecretKeyRef, SecretStore, SecretStoreSpec, SecretTemplate, ServiceAccountRef, StoreCondition,
    StoreKind, StoreRef, TemplateMetadata, TokenAuth, VaultAuth, VaultDataFrom, VaultProvider,
    VaultSecret, VaultSecretData, VaultSecretSpec, VaultSecretStatus,
};
use crate::vault::{Credentials, KvSecret, PoolStats, Store, VaultError};

const NS: &str = "team-a";
const SECRET_PATH: &str = "/api/v1/namespaces/team-a/secrets/db";
const TOKEN_SECRET_PATH: &str = "/api/v1/namespaces/team-a/secrets/vault-token";
const STATUS_PATH: &str = "/apis/sealgate.dev/v1alpha1/namespaces/team-a/vaultsecrets/db/status";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/team-a/events";
const TOKEN_REQUEST_PATH: &str = "/api/v1/namespaces/team-a/serviceaccounts/app/token";
const STORE_STATUS_PATH: &str =
    "/apis/sealgate.dev/v1alpha1/namespaces/team-a/secretstores/vault/status";

/// One read the fake Vault was asked for, with the credential it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FakeRead {
    path: String,
    version: Option<u64>,
    /// The token or JWT presented (test values only).
    credential: String,
}

/// A Vault that answers from a table and records what it was asked. For Kubernetes auth it
/// fetches the JWT on every call, as the pool does when it logs in.
#[derive(Default)]
struct FakeVault {
    paths: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    /// When set, every read and check fails with it.
    failure: Mutex<Option<VaultError>>,
    reads: Mutex<Vec<FakeRead>>,
    checks: Mutex<Vec<String>>,
}

impl FakeVault {
    fn with(paths: &[(&str, &[(&str, &str)])]) -> Arc<FakeVault> {
        let fake = FakeVault::default();
        for (path, props) in paths {
            let props = props.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            lock(&fake.paths).insert((*path).to_owned(), props);
        }
        Arc::new(fake)
    }

    fn fail_with(&self, e: Option<VaultError>) {
        *lock(&self.failure) = e;
    }

    fn reads(&self) -> Vec<FakeRead> {
        lock(&self.reads).clone()
    }

    async fn credential(store: &Store) -> Result<String, VaultError> {
        Ok(match &store.credentials {
            Credentials::Token { token } => token.to_string(),
            Credentials::AppRole { secret_id, .. } => secret_id.to_string(),
            Credentials::Kubernetes { subject, jwt, .. } => {
                format!("{subject} jwt={}", *jwt().await?)
            }
        })
    }
}

impl VaultSource for FakeVault {
    fn read<'a>(
        &'a self,
        store: &'a Store,
        path: &'a str,
        version: Option<u64>,
        _max_age: Duration,
    ) -> BoxFuture<'a, Result<Arc<KvSecret>, VaultError>> {
        Box::pin(async move {
            let credential = FakeVault::credential(store).await?;
            lock(&self.reads).push(FakeRead { path: path.to_owned(), version, credential });
            if let Some(e) = lock(&self.failure).clone() {
                return Err(e);
            }
            let props = lock(&self.paths).get(path).cloned();
            let props = props.ok_or_else(|| VaultError::NotFound(format!("secret/{path}")))?;
            Ok(Arc::new(KvSecret {
                data: props.into_iter().map(|(k, v)| (k, Zeroizing::new(v.into_bytes()))).collect(),
                version: Some(version.unwrap_or(7)),
            }))
        })
    }

    fn check<'a>(&'a self, store: &'a Store) -> BoxFuture<'a, Result<(), VaultError>> {
        Box::pin(async move {
            let credential = FakeVault::credential(store).await?;
            lock(&self.checks).push(credential);
            match lock(&self.failure).clone() {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    fn stats(&self) -> PoolStats {
        PoolStats { reads: lock(&self.reads).len() as u64, ..PoolStats::default() }
    }
}

fn provider(auth: VaultAuth) -> VaultProvider {
    VaultProvider {
        server: "https://vault.example:8200".into(),
        ca_bundle: None,
        namespace: None,
        kv: KvSpec { mount: "secret".into(), version: 2 },
        auth,
    }
}

fn token_auth(namespace: Option<&str>) -> VaultAuth {
    VaultAuth::Token(TokenAuth {
        secret_ref: SecretKeyRef {
            name: "vault-token".into(),
            key: "token".into(),
            namespace: namespace.map(Into::into),
        },
    })
}

fn secret_store(auth: VaultAuth) -> SecretStore {
    let mut s = SecretStore::new("vault", SecretStoreSpec { vault: provider(auth) });
    s.metadata.namespace = Some(NS.into());
    s.metadata.uid = Some("store-uid".into());
    s.metadata.generation = Some(1);
    s
}

fn cluster_store(conditions: Vec<StoreCondition>) -> ClusterSecretStore {
    let mut s = ClusterSecretStore::new(
        "shared",
        ClusterSecretStoreSpec { vault: provider(token_auth(Some("vault"))), conditions },
    );
    s.metadata.uid = Some("cluster-store-uid".into());
    s.metadata.generation = Some(1);
    s
}

/// The example `VaultSecret`: one pinned property and one whole path.
fn vault_secret(store: StoreRef) -> VaultSecret {
    let mut vs = VaultSecret::new(
        "db",
        VaultSecretSpec {
            store_ref: store,
            refresh_interval: Some("1h".into()),
            data: vec![VaultSecretData {
                secret_key: "password".into(),
                remote_ref: RemoteRef {
                    path: "app/db".into(),
                    property: "password".into(),
                    version: Some(3),
                },
            }],
            data_from: vec![VaultDataFrom { path: "app/common".into(), version: None }],
            template: Some(SecretTemplate {
                secret_type: Some("Opaque".into()),
                metadata: Some(TemplateMetadata {
                    labels: Some([("app".to_owned(), "db".to_owned())].into()),
                    annotations: Some([("team".to_owned(), "a".to_owned())].into()),
                }),
                immutable: None,
            }),
        },
    );
    vs.metadata.namespace = Some(NS.into());
    vs.metadata.uid = Some("vs-uid".into());
    vs.metadata.generation = Some(1);
    vs.metadata.resource_version = Some("100".into());
    vs
}

fn local_store() -> StoreRef {
    StoreRef { kind: StoreKind::SecretStore, name: "vault".into() }
}

fn vault_paths() -> Arc<FakeVault> {
    FakeVault::with(&[
        ("app/db", &[("password", "hunter2"), ("user", "admin")]),
        ("app/common", &[("host", "db.internal"), ("port", "5432")]),
    ])
}

/// What the apiserver answers to a status patch (the client only needs it to parse).
fn stored_vault_secret() -> Value {
    serde_json::to_value(vault_secret(local_store())).unwrap()
}

/// An apiserver with the token Secret and no Secret `db` yet.
fn cluster() -> Router {
    Box::new(|method, path, body| match (method, path) {
        ("GET", TOKEN_SECRET_PATH) => (
            200,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "vault-token", "namespace": NS},
                   "data": {"token": STANDARD.encode("s.test-token\n")}}),
        ),
        ("GET", SECRET_PATH) => (404, status_body(404, "NotFound", "secrets \"db\" not found")),
        ("PATCH", SECRET_PATH) => {
            let mut stored = body.clone();
            stored["metadata"]["resourceVersion"] = json!("501");
            (200, stored)
        }
        ("PATCH", STATUS_PATH) => (200, stored_vault_secret()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        ("POST", TOKEN_REQUEST_PATH) => (
            201,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "metadata": {"name": "app", "namespace": NS},
                   "spec": body["spec"].clone(),
                   "status": {"token": "jwt-for-app", "expirationTimestamp": "2026-12-02T11:00:00Z"}}),
        ),
        ("PATCH", STORE_STATUS_PATH) => {
            (200, serde_json::to_value(secret_store(token_auth(None))).unwrap())
        }
        _ => (500, status_body(500, "InternalError", &format!("unexpected {method} {path}"))),
    })
}

fn decoded(body: &Value, key: &str) -> String {
    String::from_utf8(STANDARD.decode(body["data"][key].as_str().unwrap()).unwrap()).unwrap()
}

fn patched_status(h: &Harness, path: &str) -> Value {
    let seen = h.requests();
    let patch = seen.iter().rev().find(|s| s.line() == format!("PATCH {path}")).unwrap();
    patch.body["status"].clone()
}

fn owned_meta(resource_version: &str, kind: &str, uid: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some("db".into()),
        namespace: Some(NS.into()),
        resource_version: Some(resource_version.into()),
        owner_references: Some(vec![OwnerReference {
            api_version: "sealgate.dev/v1alpha1".into(),
            kind: kind.into(),
            name: "db".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..ObjectMeta::default()
    }
}

/// Runs one reconcile that syncs, and returns the object as the watch would show it next.
async fn synced(h: &mut Harness, vs: VaultSecret) -> VaultSecret {
    reconcile(Arc::new(vs.clone()), h.ctx.clone()).await.unwrap();
    h.cache_owned(owned_meta("501", "VaultSecret", "vs-uid"));
    let mut next = vs;
    next.status = Some(serde_json::from_value(patched_status(h, STATUS_PATH)).unwrap());
    next
}

/// Makes the next reconcile of `db` find its refresh due.
fn make_refresh_due(h: &Harness) {
    let key = ObjectKey { kind: "VaultSecret", namespace: Some(NS.into()), name: "db".into() };
    let mut refreshes = lock(&h.ctx.refreshes);
    let state = refreshes.get_mut(&key).expect("the object was reconciled");
    state.next = "2000-01-01T00:00:00Z".parse().unwrap();
}

#[tokio::test]
async fn a_vault_secret_is_applied_with_owner_labels_and_the_values_read() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));

    let action = reconcile(Arc::new(vault_secret(local_store())), h.ctx.clone()).await.unwrap();

    assert_eq!(
        h.lines(),
        [
            format!("GET {TOKEN_SECRET_PATH}"),
            format!("GET {SECRET_PATH}"),
            format!("PATCH {SECRET_PATH}"),
            format!("PATCH {STATUS_PATH}"),
            format!("POST {EVENTS_PATH}"),
        ]
    );
    assert_eq!(
        vault.reads(),
        [
            FakeRead {
                path: "app/common".into(),
                version: None,
                credential: "s.test-token".into()
            },
            FakeRead { path: "app/db".into(), version: Some(3), credential: "s.test-token".into() },
        ],
        "one read per path, the token from its Secret (trimmed)"
    );
    let seen = h.requests();
    let apply = &seen[2];
    assert!(apply.uri.contains("fieldManager=sealgate-controller"), "{}", apply.uri);
    assert!(apply.uri.contains("force=true"), "{}", apply.uri);
    let body = &apply.body;
    assert_eq!((body["kind"].as_str(), body["type"].as_str()), (Some("Secret"), Some("Opaque")));
    assert_eq!(body["metadata"]["name"], "db");
    assert_eq!(body["metadata"]["namespace"], NS);
    assert_eq!(body["metadata"]["labels"]["app"], "db");
    assert_eq!(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "sealgate");
    assert_eq!(body["metadata"]["annotations"]["team"], "a");
    let owner = &body["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "VaultSecret");
    assert_eq!(owner["apiVersion"], "sealgate.dev/v1alpha1");
    assert_eq!(owner["uid"], "vs-uid");
    assert_eq!(owner["controller"], true);
    assert_eq!(decoded(body, "password"), "hunter2");
    assert_eq!(decoded(body, "host"), "db.internal");
    assert_eq!(decoded(body, "port"), "5432");
    assert_eq!(body["data"].as_object().unwrap().len(), 3, "user is not asked for");

    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["observedGeneration"], 1);
    assert!(status["lastRefreshTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        status["versions"],
        json!([{"path": "app/common", "version": 7}, {"path": "app/db", "version": 3}])
    );
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][0]["reason"], "Synced");
    assert!(!status.to_string().contains("hunter2") && !status.to_string().contains("s.test"));
    assert_eq!(seen[4].body["reason"], "Synced");
    assert_eq!(seen[4].body["type"], "Normal");
    assert_ne!(action, Action::await_change(), "the next refresh is scheduled");
}

#[tokio::test]
async fn a_second_reconcile_in_sync_makes_no_request_and_reads_nothing() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));
    let next = synced(&mut h, vault_secret(local_store())).await;
    let (requests, reads) = (h.requests().len(), vault.reads().len());

    reconcile(Arc::new(next), h.ctx.clone()).await.unwrap();

    assert_eq!(h.requests().len(), requests, "{:?}", &h.lines()[requests..]);
    assert_eq!(vault.reads().len(), reads, "no refresh is due");
}

#[tokio::test]
async fn a_due_refresh_with_unchanged_values_writes_only_the_refresh_time() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));
    let next = synced(&mut h, vault_secret(local_store())).await;
    let first = h.requests().len();
    make_refresh_due(&h);

    reconcile(Arc::new(next), h.ctx.clone()).await.unwrap();

    assert_eq!(
        h.lines()[first..],
        [format!("GET {TOKEN_SECRET_PATH}"), format!("PATCH {STATUS_PATH}")],
        "the Secret already holds these values: no apply, no Event"
    );
    assert_eq!(vault.reads().len(), 4, "both paths read again");
}

#[tokio::test]
async fn a_missing_store_is_store_not_found_and_nothing_is_read() {
    let vault = vault_paths();
    let h = Harness::with_vault(cluster(), vault.clone());

    let action = reconcile(Arc::new(vault_secret(local_store())), h.ctx.clone()).await.unwrap();

    assert_eq!(h.lines(), [format!("PATCH {STATUS_PATH}"), format!("POST {EVENTS_PATH}")]);
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "StoreNotFound");
    assert_eq!(status["conditions"][0]["status"], "False");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("SecretStore vault does not exist in namespace team-a"), "{message}");
    assert!(vault.reads().is_empty());
    assert_ne!(action, Action::await_change(), "rechecked later as well as on store events");
}

#[tokio::test]
async fn a_cluster_store_refuses_a_path_outside_the_prefixes_before_anything_is_read() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_cluster_store(cluster_store(vec![StoreCondition {
        namespaces: vec![NS.into()],
        path_prefixes: vec!["teams/{namespace}/".into(), "app/common".into()],
        ..StoreCondition::default()
    }]));
    let vs = vault_secret(StoreRef { kind: StoreKind::ClusterSecretStore, name: "shared".into() });

    reconcile(Arc::new(vs), h.ctx.clone()).await.unwrap();

    assert_eq!(
        h.lines(),
        [format!("PATCH {STATUS_PATH}"), format!("POST {EVENTS_PATH}")],
        "no credential read, no Secret request"
    );
    assert!(vault.reads().is_empty(), "nothing read from Vault");
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "StoreNotAllowed");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("does not allow namespace team-a to read path app/db"), "{message}");
}

#[tokio::test]
async fn a_cluster_store_checks_the_namespace_labels_for_a_selector() {
    let vault = vault_paths();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("GET", "/api/v1/namespaces/team-a") => (
            200,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": NS, "labels": {"tier": "dev"}}}),
        ),
        ("PATCH", STATUS_PATH) => (200, stored_vault_secret()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let mut h = Harness::with_vault(router, vault.clone());
    h.cache_cluster_store(cluster_store(vec![StoreCondition {
        namespace_selector: Some(LabelSelector {
            match_labels: [("tier".to_owned(), "prod".to_owned())].into(),
            ..LabelSelector::default()
        }),
        ..StoreCondition::default()
    }]));
    let vs = vault_secret(StoreRef { kind: StoreKind::ClusterSecretStore, name: "shared".into() });

    reconcile(Arc::new(vs), h.ctx.clone()).await.unwrap();

    assert_eq!(
        h.lines(),
        [
            "GET /api/v1/namespaces/team-a".to_owned(),
            format!("PATCH {STATUS_PATH}"),
            format!("POST {EVENTS_PATH}"),
        ]
    );
    assert!(vault.reads().is_empty());
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "StoreNotAllowed");
}

#[tokio::test]
async fn a_cluster_store_that_allows_the_namespace_reads_with_its_own_secret() {
    let vault = vault_paths();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("GET", "/api/v1/namespaces/vault/secrets/vault-token") => (
            200,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-token"},
                   "data": {"token": STANDARD.encode("cluster-token")}}),
        ),
        ("GET", SECRET_PATH) => (404, status_body(404, "NotFound", "not found")),
        ("PATCH", SECRET_PATH) => (200, body.clone()),
        ("PATCH", STATUS_PATH) => (200, stored_vault_secret()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let mut h = Harness::with_vault(router, vault.clone());
    h.cache_cluster_store(cluster_store(vec![StoreCondition {
        namespaces: vec![NS.into()],
        path_prefixes: vec!["app/".into()],
        ..StoreCondition::default()
    }]));
    let vs = vault_secret(StoreRef { kind: StoreKind::ClusterSecretStore, name: "shared".into() });

    reconcile(Arc::new(vs), h.ctx.clone()).await.unwrap();

    assert_eq!(h.lines()[0], "GET /api/v1/namespaces/vault/secrets/vault-token");
    assert_eq!(patched_status(&h, STATUS_PATH)["conditions"][0]["reason"], "Synced");
    assert!(vault.reads().iter().all(|r| r.credential == "cluster-token"));
}

#[tokio::test]
async fn vault_down_after_a_good_sync_keeps_the_secret_and_reports_vault_unavailable() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));
    let next = synced(&mut h, vault_secret(local_store())).await;
    let good = next.status.clone().unwrap();
    let first = h.requests().len();
    vault
        .fail_with(Some(VaultError::Unavailable("connection refused (vault.example:8200)".into())));
    make_refresh_due(&h);

    let action = reconcile(Arc::new(next.clone()), h.ctx.clone()).await.unwrap();

    let after = h.lines()[first..].to_vec();
    assert_eq!(
        after,
        [
            format!("GET {TOKEN_SECRET_PATH}"),
            format!("PATCH {STATUS_PATH}"),
            format!("POST {EVENTS_PATH}")
        ]
    );
    assert!(after.iter().all(|l| !l.contains("/secrets/db")), "no apply, no DELETE: {after:?}");
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(status["conditions"][0]["reason"], "VaultUnavailable");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("the last Secret is kept"), "{message}");
    assert_eq!(status["lastRefreshTime"], json!(good.last_refresh_time), "the last good refresh");
    assert_eq!(status["versions"], serde_json::to_value(&good.versions).unwrap());
    assert_eq!(h.requests()[first + 2].body["type"], "Warning");
    assert!(
        action != Action::await_change() && action != Action::requeue(Duration::from_secs(3600)),
        "retried with backoff: {action:?}"
    );

    // Reconciled again at once (its own status patch): the retry is not due yet.
    let mut failing = next.clone();
    failing.status = Some(serde_json::from_value::<VaultSecretStatus>(status).unwrap());
    let before = (h.requests().len(), vault.reads().len());
    reconcile(Arc::new(failing.clone()), h.ctx.clone()).await.unwrap();
    assert_eq!((h.requests().len(), vault.reads().len()), before, "backoff: nothing until due");

    // Vault is back: the first successful refresh restores Ready without rewriting the Secret.
    vault.fail_with(None);
    make_refresh_due(&h);
    let mark = h.requests().len();
    reconcile(Arc::new(failing), h.ctx.clone()).await.unwrap();
    let lines = h.lines()[mark..].to_vec();
    assert_eq!(lines[..2], [format!("GET {TOKEN_SECRET_PATH}"), format!("PATCH {STATUS_PATH}")]);
    // The Synced Event again: the recorder counts a repeat into the first one's series.
    assert!(lines.len() == 3 && lines[2].contains(EVENTS_PATH), "{lines:?}");
    assert_eq!(patched_status(&h, STATUS_PATH)["conditions"][0]["reason"], "Synced");
}

#[tokio::test]
async fn kubernetes_auth_requests_a_short_audience_bound_token_for_the_service_account() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(VaultAuth::Kubernetes(KubernetesAuth {
        mount_path: "kubernetes".into(),
        role: "app".into(),
        service_account_ref: ServiceAccountRef { name: "app".into(), namespace: None },
        audiences: vec!["vault".into()],
    })));

    reconcile(Arc::new(vault_secret(local_store())), h.ctx.clone()).await.unwrap();

    let seen = h.requests();
    let token_requests: Vec<_> =
        seen.iter().filter(|s| s.line() == format!("POST {TOKEN_REQUEST_PATH}")).collect();
    assert!(!token_requests.is_empty(), "{:?}", h.lines());
    for request in token_requests {
        assert_eq!(
            request.body,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "metadata": {}, "spec": {"audiences": ["vault"], "expirationSeconds": 600}})
        );
    }
    assert!(
        !h.lines().iter().any(|l| l.contains("/secrets/vault-token")),
        "Kubernetes auth reads no credentials Secret"
    );
    let reads = vault.reads();
    assert!(!reads.is_empty());
    assert!(
        reads.iter().all(|r| r.credential == "team-a/app aud=vault jwt=jwt-for-app"),
        "the ServiceAccount's own token, one identity per ServiceAccount: {reads:?}"
    );
    assert_eq!(patched_status(&h, STATUS_PATH)["conditions"][0]["reason"], "Synced");
}

#[tokio::test]
async fn a_missing_token_secret_is_auth_failed_and_nothing_is_read() {
    let vault = vault_paths();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("GET", TOKEN_SECRET_PATH) => (404, status_body(404, "NotFound", "not found")),
        ("PATCH", STATUS_PATH) => (200, stored_vault_secret()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let mut h = Harness::with_vault(router, vault.clone());
    h.cache_store(secret_store(token_auth(None)));

    reconcile(Arc::new(vault_secret(local_store())), h.ctx.clone()).await.unwrap();

    assert!(vault.reads().is_empty());
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "AuthFailed");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("Secret team-a/vault-token does not exist"), "{message}");
}

#[tokio::test]
async fn a_missing_property_is_path_not_found_and_nothing_is_written() {
    let vault = FakeVault::with(&[("app/db", &[("user", "admin")]), ("app/common", &[])]);
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));

    reconcile(Arc::new(vault_secret(local_store())), h.ctx.clone()).await.unwrap();

    assert!(!h.lines().iter().any(|l| l.starts_with("PATCH /api/v1/")), "{:?}", h.lines());
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "PathNotFound");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("app/db (version 3) has no property password"), "{message}");
}

#[tokio::test]
async fn a_secret_of_an_encrypted_secret_is_not_taken_over_by_a_vault_secret() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));
    // Same name, owned by an EncryptedSecret: another kind's Secret.
    h.cache_owned(owned_meta("42", "EncryptedSecret", "es-uid"));

    reconcile(Arc::new(vault_secret(local_store())), h.ctx.clone()).await.unwrap();

    assert!(
        !h.lines().iter().any(|l| l.contains("/secrets/db")),
        "no write to a Secret it does not own: {:?}",
        h.lines()
    );
    let status = patched_status(&h, STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "SecretConflict");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("controlled by EncryptedSecret db"), "{message}");
    assert!(message.contains("annotate the VaultSecret with sealgate.dev/adopt"), "{message}");
}

#[tokio::test]
async fn a_store_is_checked_once_per_generation_and_reports_ready() {
    let vault = vault_paths();
    let h = Harness::with_vault(cluster(), vault.clone());
    let store = secret_store(token_auth(None));

    reconcile_store(Arc::new(store.clone()), h.ctx.clone()).await.unwrap();

    assert_eq!(
        h.lines(),
        [
            format!("GET {TOKEN_SECRET_PATH}"),
            format!("PATCH {STORE_STATUS_PATH}"),
            format!("POST {EVENTS_PATH}"),
        ]
    );
    assert_eq!(*lock(&vault.checks), ["s.test-token"]);
    let status = patched_status(&h, STORE_STATUS_PATH);
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][0]["reason"], "Valid");
    assert_eq!(status["observedGeneration"], 1);

    // Its own status patch brings it back: checked already for this generation.
    let mut again = store.clone();
    again.status = Some(serde_json::from_value(status).unwrap());
    let before = h.requests().len();
    reconcile_store(Arc::new(again.clone()), h.ctx.clone()).await.unwrap();
    assert_eq!(h.requests().len(), before);
    assert_eq!(lock(&vault.checks).len(), 1);

    // A new generation is checked again; a refused login flips Ready.
    vault.fail_with(Some(VaultError::AuthFailed(
        "permission denied (auth/token/lookup-self)".into(),
    )));
    again.metadata.generation = Some(2);
    reconcile_store(Arc::new(again), h.ctx.clone()).await.unwrap();
    let status = patched_status(&h, STORE_STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "AuthFailed");
    assert_eq!(status["conditions"][0]["status"], "False");
    assert!(!status.to_string().contains("s.test-token"), "no credential in the status");
}

#[tokio::test]
async fn a_store_reading_another_namespace_is_invalid_without_any_request_for_it() {
    let vault = vault_paths();
    let h = Harness::with_vault(cluster(), vault.clone());
    let store = secret_store(token_auth(Some("kube-system")));

    reconcile_store(Arc::new(store), h.ctx.clone()).await.unwrap();

    assert_eq!(h.lines(), [format!("PATCH {STORE_STATUS_PATH}"), format!("POST {EVENTS_PATH}")]);
    assert!(lock(&vault.checks).is_empty());
    let status = patched_status(&h, STORE_STATUS_PATH);
    assert_eq!(status["conditions"][0]["reason"], "InvalidSpec");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("reads Secrets in its own namespace only"), "{message}");
}

#[tokio::test]
async fn an_edited_secret_is_repaired_before_its_refresh_is_due() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));
    let next = synced(&mut h, vault_secret(local_store())).await;
    let first = h.requests().len();
    // Someone edited the Secret: its version moved past the one the controller wrote.
    h.cache_owned(owned_meta("777", "VaultSecret", "vs-uid"));

    reconcile(Arc::new(next), h.ctx.clone()).await.unwrap();

    let after = h.lines()[first..].to_vec();
    assert_eq!(
        after[..2],
        [format!("GET {TOKEN_SECRET_PATH}"), format!("PATCH {SECRET_PATH}")],
        "{after:?}"
    );
    assert_eq!(decoded(&h.requests()[first + 1].body, "password"), "hunter2");
    assert_eq!(vault.reads().len(), 4, "the values are read again (the pool may share them)");
}

#[tokio::test]
async fn a_deleted_secret_is_recreated() {
    let vault = vault_paths();
    let mut h = Harness::with_vault(cluster(), vault.clone());
    h.cache_store(secret_store(token_auth(None)));
    let next = synced(&mut h, vault_secret(local_store())).await;
    // The watch saw it deleted.
    h.owned.apply_watcher_event(&kube::runtime::watcher::Event::Delete(
        kube::core::PartialObjectMeta::<k8s_openapi::api::core::v1::Secret> {
            types: None,
            metadata: owned_meta("501", "VaultSecret", "vs-uid"),
            _phantom: std::marker::PhantomData,
        },
    ));
    let first = h.requests().len();

    reconcile(Arc::new(next), h.ctx.clone()).await.unwrap();

    assert_eq!(
        h.lines()[first..first + 4],
        [
            format!("GET {SECRET_PATH}"),
            format!("GET {TOKEN_SECRET_PATH}"),
            format!("GET {SECRET_PATH}"),
            format!("PATCH {SECRET_PATH}"),
        ]
    );
}

/// The same reconciler with the real pool against a real OpenBao dev server (the apiserver
/// is still the mock): values, pinned versions, the KV versions in status, and Vault going
/// down and coming back.
mod against_openbao {
    use super::*;
    use crate::vault::VaultPool;

    use crate::test_openbao::{OpenBao, ROOT_TOKEN};

    /// `cluster()`, with the token Secret holding the dev server's root token.
    fn cluster_with_root_token() -> Router {
        let inner = cluster();
        Box::new(move |method, path, body| match (method, path) {
            ("GET", TOKEN_SECRET_PATH) => (
                200,
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "vault-token", "namespace": NS},
                       "data": {"token": STANDARD.encode(ROOT_TOKEN)}}),
            ),
            _ => inner(method, path, body),
        })
    }

    fn seed(bao: &OpenBao) {
        for pw in ["v1", "v2", "pinned-v3", "v4"] {
            bao.ok(&["kv", "put", "-mount=secret", "app/db", &format!("password={pw}")]);
        }
        bao.ok(&["kv", "put", "-mount=secret", "app/common", "host=db.internal", "port=5432"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vault_secret_syncs_from_openbao_and_survives_an_outage() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut bao = OpenBao::start();
        seed(&bao);
        let pool = VaultPool::new();
        let mut h = Harness::with_vault(cluster_with_root_token(), Arc::new(pool.clone()));
        let mut store = secret_store(token_auth(None));
        store.spec.vault.server = bao.addr.clone();
        h.cache_store(store);

        // 10 s (the minimum): reads are shared for a fifth of it, 2 s.
        let mut vs = vault_secret(local_store());
        vs.spec.refresh_interval = Some("10s".into());
        let next = synced(&mut h, vs).await;
        let seen = h.requests();
        let apply = seen.iter().find(|r| r.line() == format!("PATCH {SECRET_PATH}")).unwrap();
        assert_eq!(decoded(&apply.body, "password"), "pinned-v3", "the pinned version");
        assert_eq!(decoded(&apply.body, "host"), "db.internal");
        let status = patched_status(&h, STATUS_PATH);
        assert_eq!(
            status["versions"],
            json!([{"path": "app/common", "version": 1}, {"path": "app/db", "version": 3}])
        );
        assert_eq!(status["conditions"][0]["reason"], "Synced");
        assert_eq!(bao.audited("read", "secret/data/app/db"), 1);

        bao.stop();
        // Past the shared-read window, so the refresh really asks Vault.
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        make_refresh_due(&h);
        let mark = h.requests().len();
        reconcile(Arc::new(next.clone()), h.ctx.clone()).await.unwrap();
        assert!(
            h.lines()[mark..].iter().all(|l| !l.contains("/secrets/db")),
            "Vault down: the Secret is neither rewritten nor deleted"
        );
        let status = patched_status(&h, STATUS_PATH);
        assert_eq!(status["conditions"][0]["reason"], "VaultUnavailable");
        let message = status["conditions"][0]["message"].as_str().unwrap();
        assert!(message.contains(&bao.addr) && !message.contains(ROOT_TOKEN), "{message}");

        bao.restart();
        seed(&bao);
        let mut failing = next;
        failing.status = Some(serde_json::from_value(status).unwrap());
        make_refresh_due(&h);
        let mark = h.requests().len();
        reconcile(Arc::new(failing), h.ctx.clone()).await.unwrap();
        assert!(h.lines()[mark..].iter().any(|l| l == &format!("PATCH {STATUS_PATH}")));
        assert_eq!(patched_status(&h, STATUS_PATH)["conditions"][0]["reason"], "Synced");
        assert!(pool.stats().reads >= 3, "{:?}", pool.stats());
    }
}

/// The leak canary: planted values and a planted token, driven through a sync, a refresh, a
/// Vault failure and a missing property, appear in no log line (every level, every target),
/// no status, no Event, no metric, and no request body other than the Secret's own `data`.
mod leak_canary {
    use super::*;

    const VALUE: &str = "CANARY-value-7f3a9c";
    const TOKEN: &str = "s.CANARY-token-51d2e8";

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn planted_cluster() -> Router {
        let inner = cluster();
        Box::new(move |method, path, body| match (method, path) {
            ("GET", TOKEN_SECRET_PATH) => (
                200,
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "vault-token", "namespace": NS},
                       "data": {"token": STANDARD.encode(TOKEN)}}),
            ),
            _ => inner(method, path, body),
        })
    }

    fn forms(planted: &str) -> [String; 2] {
        [planted.to_owned(), STANDARD.encode(planted)]
    }

    #[tokio::test]
    async fn planted_values_and_tokens_reach_no_log_status_event_or_metric() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let vault = FakeVault::with(&[
            ("app/db", &[("password", VALUE), ("user", "admin")]),
            ("app/common", &[("host", VALUE)]),
        ]);
        let mut h = Harness::with_vault(planted_cluster(), vault.clone());
        h.cache_store(secret_store(token_auth(None)));
        let next = synced(&mut h, vault_secret(local_store())).await;
        make_refresh_due(&h);
        reconcile(Arc::new(next.clone()), h.ctx.clone()).await.unwrap();
        vault.fail_with(Some(VaultError::Unavailable("connection refused".into())));
        make_refresh_due(&h);
        reconcile(Arc::new(next.clone()), h.ctx.clone()).await.unwrap();
        vault.fail_with(None);
        let mut missing = next.clone();
        missing.spec.data[0].remote_ref.property = "nope".into();
        missing.metadata.generation = Some(2);
        reconcile(Arc::new(missing), h.ctx.clone()).await.unwrap();
        reconcile_store(Arc::new(secret_store(token_auth(None))), h.ctx.clone()).await.unwrap();

        let mut looked_at = 0;
        let mut applied_value = false;
        for seen in h.requests() {
            let mut body = seen.body.clone();
            if seen.line() == format!("PATCH {SECRET_PATH}") {
                // The Secret itself is where values belong: only its `data`.
                applied_value |= body["data"].to_string().contains(&STANDARD.encode(VALUE));
                body["data"] = Value::Null;
            }
            let text = format!("{} {}", seen.uri, body);
            for planted in forms(VALUE).iter().chain(&forms(TOKEN)) {
                assert!(!text.contains(planted), "{planted} leaked into {}: {text}", seen.line());
            }
            looked_at += 1;
        }
        assert!(applied_value, "the canary must have been written to the Secret's data");
        assert!(looked_at >= 8, "statuses, Events and applies were all inspected: {looked_at}");

        let metrics = h.ctx.metrics.render();
        let log_text = String::from_utf8(lock(&logs.0).clone()).unwrap();
        assert!(!log_text.is_empty(), "the logs were captured");
        for planted in forms(VALUE).iter().chain(&forms(TOKEN)) {
            assert!(!metrics.contains(planted), "{planted} leaked into the metrics");
            assert!(!log_text.contains(planted), "{planted} leaked into the logs:\n{log_text}");
        }
    }
}

/// The audit trail of a `VaultSecret`: one `vaultRead` per path, one `secretWrite`, and a
/// refusal with its reason when Vault fails; no value or token in any line.
mod audit_trail {
    use super::*;
    use crate::controller::tests::audit::{actions, audit, verifies};

    #[tokio::test]
    async fn reads_writes_and_refusals_are_one_event_each() {
        let vault = vault_paths();
        let (audit, sink) = audit();
        let mut h = Harness::with_vault(cluster(), vault.clone()).with_audit(audit);
        h.cache_store(secret_store(token_auth(None)));
        let next = synced(&mut h, vault_secret(local_store())).await;
        assert_eq!(
            actions(&sink),
            ["vaultRead:success", "vaultRead:success", "secretWrite:success"]
        );
        let lines = sink.lines();
        let read: Value = serde_json::from_slice(&lines[2]).unwrap();
        assert_eq!(read["vault"]["path"], "secret/app/db");
        assert_eq!(read["vault"]["version"], 3);
        assert_eq!(read["object"]["kind"], "VaultSecret");

        vault.fail_with(Some(VaultError::Unavailable("connection refused".into())));
        make_refresh_due(&h);
        reconcile(Arc::new(next), h.ctx.clone()).await.unwrap();
        assert_eq!(actions(&sink).last().unwrap(), "refusal:refused:VaultUnavailable");
        let text = String::from_utf8(sink.contents()).unwrap();
        for planted in ["hunter2", "s.test-token", "db.internal"] {
            assert!(!text.contains(planted), "{planted} in the audit trail");
        }
        verifies(&sink);
    }
}
