//! Test fixtures: objects sealed with a throwaway age identity, and a mocked apiserver that
//! answers from a route table and records every request for exact assertions.

use std::sync::{Arc, Mutex};

use age::secrecy::ExposeSecret;
use http::{Request, Response};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::client::Body;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::controller::keys::ClusterKeyring;
use crate::controller::leader::Leadership;
use crate::controller::materialize::sort_json;
use crate::controller::metrics::Metrics;
use crate::controller::reconcile::Context;
use crate::controller::vaultsecret::VaultSource;
use crate::crd::{ClusterSecretStore, EncryptedSecret, SecretStore};
use crate::format::cipher::DataKey;
use crate::format::store::{self, Format};
use crate::format::timestamp::Timestamp;
use crate::keys::{AgeRecipient, GroupSpec, KeySpec, Keyring, wrap_data_key};
use crate::seal::{Scope, SecretManifest, seal};

/// A throwaway identity and its recipient.
pub struct TestKey {
    pub identity_text: String,
    pub recipient: String,
}

impl TestKey {
    pub fn generate() -> TestKey {
        let id = age::x25519::Identity::generate();
        TestKey {
            identity_text: id.to_string().expose_secret().to_owned(),
            recipient: id.to_public().to_string(),
        }
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::from_identity_text(&self.identity_text, "test identity").unwrap()
    }
}

/// The Secret manifest the tests seal.
pub const SECRET_YAML: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
  labels:
    app: db
  annotations:
    team: storage
type: kubernetes.io/basic-auth
data:
  password: aHVudGVyMg==
stringData:
  username: admin
";

/// Seals [`SECRET_YAML`] (placed in `namespace`) for `key`, and returns the object as the
/// apiserver would hand it to the controller: JSON, keys sorted, uid and generation set.
pub fn sealed_object(key: &TestKey, namespace: &str, scope: Scope) -> EncryptedSecret {
    let text = SECRET_YAML.replace("namespace: payments", &format!("namespace: {namespace}"));
    let docs = store::parse_plain(Format::Yaml, text.as_bytes()).unwrap();
    let (manifests, _) = SecretManifest::from_documents(&docs, None).unwrap();
    let data_key = DataKey::generate();
    let now = Timestamp::parse_rfc3339("2026-12-02T10:00:00Z").unwrap();
    let groups = vec![GroupSpec(vec![KeySpec::Age(AgeRecipient::parse(&key.recipient).unwrap())])];
    let (key_groups, threshold) = wrap_data_key(&data_key, &groups, 0, None, now).unwrap();
    let file = seal(&manifests[0], scope, &data_key, key_groups, threshold, None, now).unwrap();
    let json = file.into_bytes_as(Format::Json).unwrap();
    let mut value: Value = serde_json::from_slice(&json).unwrap();
    sort_json(&mut value);
    // From bytes, as kube reads it (the raw `sops` block cannot come from a `Value`).
    let mut es: EncryptedSecret =
        serde_json::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap();
    es.metadata.uid = Some("uid-1".into());
    es.metadata.generation = Some(1);
    es.metadata.resource_version = Some("100".into());
    es
}

/// One request the mocked apiserver received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub body: Value,
}

impl Seen {
    /// `METHOD path` without the query, for sequence assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.uri.split('?').next().unwrap_or(""))
    }
}

/// How the mock answers: `(method, path without query)` → `(status, body)`.
pub type Router = Box<dyn Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync>;

/// A controller context on a mocked apiserver, with the log of what it was asked.
pub struct Harness {
    pub ctx: Arc<Context>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub owned: Writer<PartialObjectMeta<Secret>>,
    pub secret_stores: Writer<SecretStore>,
    pub cluster_stores: Writer<ClusterSecretStore>,
}

impl Harness {
    pub fn new(keyring: Keyring, router: Router) -> Harness {
        Harness::build(keyring, router, None)
    }

    /// Records accesses to `audit` (call before any reconcile).
    pub fn with_audit(mut self, audit: Arc<crate::controller::audit::ControllerAudit>) -> Harness {
        Arc::get_mut(&mut self.ctx).expect("no reconcile ran yet").audit = Some(audit);
        self
    }

    /// A harness whose Vault is `vault` (for `VaultSecret`s and stores).
    pub fn with_vault(router: Router, vault: Arc<dyn VaultSource>) -> Harness {
        Harness::build(Keyring::empty(), router, Some(vault))
    }

    fn build(keyring: Keyring, router: Router, vault: Option<Arc<dyn VaultSource>>) -> Harness {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let uri = parts.uri.to_string();
                let path = uri.split('?').next().unwrap_or("").to_owned();
                let (status, answer) = router(parts.method.as_str(), &path, &body);
                log.lock().unwrap().push(Seen { method: parts.method.to_string(), uri, body });
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        let client = Client::new(service, "default");
        let (reader, writer) = reflector::store::<PartialObjectMeta<Secret>>();
        let recorder = Recorder::new(
            client.clone(),
            Reporter { controller: "sealgate-controller".into(), instance: Some("test".into()) },
        );
        let (ss_reader, ss_writer) = reflector::store::<SecretStore>();
        let (css_reader, css_writer) = reflector::store::<ClusterSecretStore>();
        let mut ctx = Context::new(
            client,
            ClusterKeyring::with(keyring),
            Leadership::always(),
            recorder,
            Arc::new(Metrics::default()),
            reader,
        );
        if let Some(vault) = vault {
            ctx = ctx.with_vault(vault, ss_reader, css_reader, None);
        }
        Harness {
            ctx: Arc::new(ctx),
            seen,
            owned: writer,
            secret_stores: ss_writer,
            cluster_stores: css_writer,
        }
    }

    /// Puts a store in the cache, as its watch would.
    pub fn cache_store(&mut self, store: SecretStore) {
        self.secret_stores.apply_watcher_event(&watcher::Event::Apply(store));
    }

    pub fn cache_cluster_store(&mut self, store: ClusterSecretStore) {
        self.cluster_stores.apply_watcher_event(&watcher::Event::Apply(store));
    }

    /// Puts a Secret's metadata in the owned-Secrets cache, as the label watch would.
    pub fn cache_owned(
        &mut self,
        meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) {
        let obj = PartialObjectMeta::<Secret> {
            types: None,
            metadata: meta,
            _phantom: std::marker::PhantomData,
        };
        self.owned.apply_watcher_event(&watcher::Event::Apply(obj));
    }

    pub fn lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(Seen::line).collect()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// An apiserver `Status` for errors.
pub fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
           "reason": reason, "message": message})
}
