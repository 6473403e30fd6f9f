//! The controller's audit trail: one chained event per access (data-key unwrap, decrypt, Vault
//! read, Secret write, refusal), written to the sinks chosen by `--audit-log` / `--audit-stdout`
//! with a keyed fingerprint of each Secret written (the key is a per-installation Secret).
//!
//! Recording never fails a reconcile: a sink failure is counted and logged (the chain shows
//! the gap); it is never silently dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};
use zeroize::Zeroizing;

use super::materialize::{DesiredSecret, SecretOwner};
use super::reason::Refusal;
use crate::audit::{
    Action, Actor, AuditError, AuditEvent, AuditSink, Auditor, FileSink, FileSinkOptions,
    Fingerprinter, ObjectRef, Outcome, SystemClock, Tee, VaultRef, WriterSink,
};

/// The Secret in the controller namespace that holds the fingerprint HMAC key.
pub const FINGERPRINT_KEY_SECRET: &str = "sealgate-audit-fingerprint-key";
const FINGERPRINT_KEY_FIELD: &str = "key";

/// Where audit lines go.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    /// JSON lines file with size-based rollover (`--audit-log`).
    pub file: Option<PathBuf>,
    /// Also (or only) to stdout (`--audit-stdout`); logs go to stderr, never mixed.
    pub stdout: bool,
}

impl AuditSettings {
    pub fn enabled(&self) -> bool {
        self.file.is_some() || self.stdout
    }
}

/// Why the audit trail could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuditSetupError {
    #[error("audit log: {0}")]
    Sink(#[from] AuditError),
    #[error("audit fingerprint key Secret {namespace}/{FINGERPRINT_KEY_SECRET}: {message}")]
    Key { namespace: String, message: String },
}

/// The recorder the reconcilers call.
pub struct ControllerAudit {
    auditor: Auditor,
    fingerprinter: Fingerprinter,
    actor: Actor,
}

impl std::fmt::Debug for ControllerAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerAudit").field("auditor", &self.auditor).finish_non_exhaustive()
    }
}

impl ControllerAudit {
    /// A recorder over `sink` (tests use a [`crate::audit::MemorySink`]).
    pub fn new(
        sink: Box<dyn AuditSink>,
        fingerprinter: Fingerprinter,
        actor: Actor,
    ) -> Result<ControllerAudit, AuditError> {
        let chain = Auditor::new_chain_id(&mut rand::rngs::OsRng);
        let auditor = Auditor::start(sink, Box::new(SystemClock), &chain)?;
        Ok(ControllerAudit { auditor, fingerprinter, actor })
    }

    /// Opens the configured sinks (resuming a file's chain) and loads or creates the
    /// fingerprint key.
    pub async fn open(
        settings: &AuditSettings,
        client: &Client,
        controller_namespace: &str,
        actor: Actor,
    ) -> Result<ControllerAudit, AuditSetupError> {
        let key = fingerprint_key(client, controller_namespace).await?;
        let fingerprinter = Fingerprinter::new(&key).map_err(|e| AuditSetupError::Key {
            namespace: controller_namespace.to_owned(),
            message: e.to_string(),
        })?;
        let mut sinks: Vec<Box<dyn AuditSink>> = Vec::new();
        let mut resume = None;
        if let Some(path) = &settings.file {
            let (sink, head) = FileSink::open(path, FileSinkOptions::default())?;
            resume = head;
            sinks.push(Box::new(sink));
        }
        if settings.stdout {
            sinks.push(Box::new(WriterSink::stdout()));
        }
        let sink: Box<dyn AuditSink> =
            if sinks.len() == 1 { sinks.remove(0) } else { Box::new(Tee::new(sinks)) };
        let auditor = match resume {
            Some(head) => Auditor::resume(sink, Box::new(SystemClock), head)?,
            None => {
                let chain = Auditor::new_chain_id(&mut rand::rngs::OsRng);
                Auditor::start(sink, Box::new(SystemClock), &chain)?
            }
        };
        Ok(ControllerAudit { auditor, fingerprinter, actor })
    }

    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    fn event(&self, action: Action, outcome: Outcome, object: ObjectRef) -> AuditEvent {
        AuditEvent::new(action, outcome, self.actor.clone()).with_object(object)
    }

    fn record(&self, event: AuditEvent) {
        if let Err(e) = self.auditor.record(&event) {
            tracing::error!(
                action = event.action.as_str(),
                error = %e,
                "writing an audit event failed (counted in sealgate_audit_sink_failures_total)"
            );
        }
    }

    /// A data key was unwrapped (`key_id`: the recipient or transit key used).
    pub fn unwrapped<K: Resource<DynamicType = ()>>(&self, obj: &K, key_id: Option<&str>) {
        let mut e = self.event(Action::Unwrap, Outcome::Success, object_of(obj));
        e = e.with_annotations(&annotations(obj));
        if let Some(k) = key_id {
            e = e.with_key_id(k);
        }
        self.record(e);
    }

    /// Values were decrypted.
    pub fn decrypted<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        key_id: Option<&str>,
        desired: &DesiredSecret,
    ) {
        let mut e = self
            .event(Action::Decrypt, Outcome::Success, object_of(obj))
            .with_annotations(&annotations(obj))
            .with_keys(desired.data.keys().cloned());
        if let Some(k) = key_id {
            e = e.with_key_id(k);
        }
        self.record(e);
    }

    /// A path was read from Vault for `obj` (shared reads included: each is an access).
    pub fn vault_read<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        path: &str,
        version: Option<u64>,
    ) {
        let e = self
            .event(Action::VaultRead, Outcome::Success, object_of(obj))
            .with_annotations(&annotations(obj))
            .with_vault(VaultRef { path: path.to_owned(), version, request_id: None });
        self.record(e);
    }

    /// The Secret was written; the fingerprint tells changed from unchanged data.
    pub fn secret_written(&self, owner: &SecretOwner, desired: &DesiredSecret) {
        let fingerprint = self
            .fingerprinter
            .fingerprint(desired.data.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        let e = self
            .event(Action::SecretWrite, Outcome::Success, object_of_owner(owner))
            .with_keys(desired.data.keys().cloned())
            .with_fingerprint(fingerprint);
        self.record(e);
    }

    /// A refusal, with its stable reason.
    pub fn refused<K: Resource<DynamicType = ()>>(&self, obj: &K, refusal: &Refusal) {
        let e = self
            .event(Action::Refusal, Outcome::refused(refusal.reason.as_str()), object_of(obj))
            .with_annotations(&annotations(obj));
        self.record(e);
    }
}

fn object_of<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectRef {
    ObjectRef {
        kind: K::kind(&()).into_owned(),
        namespace: obj.namespace(),
        name: obj.name_any(),
        uid: obj.meta().uid.clone(),
        generation: obj.meta().generation,
    }
}

fn object_of_owner(owner: &SecretOwner) -> ObjectRef {
    ObjectRef {
        kind: owner.kind.clone(),
        namespace: owner.namespace.clone(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        generation: None,
    }
}

fn annotations<K: Resource>(obj: &K) -> BTreeMap<String, String> {
    obj.meta().annotations.clone().unwrap_or_default()
}

/// Reads the fingerprint key, creating it (32 random bytes) on first start. Two replicas
/// starting together: the second create gets 409 and reads the first one's key.
async fn fingerprint_key(
    client: &Client,
    namespace: &str,
) -> Result<Zeroizing<Vec<u8>>, AuditSetupError> {
    let err = |message: String| AuditSetupError::Key { namespace: namespace.to_owned(), message };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..2 {
        match super::secret_api::read_secret_key(
            client,
            namespace,
            FINGERPRINT_KEY_SECRET,
            FINGERPRINT_KEY_FIELD,
        )
        .await
        {
            Ok(Some(key)) => return Ok(key),
            Ok(None) => {}
            Err(e) => return Err(err(format!("cannot read it: {e}"))),
        }
        let key = Fingerprinter::generate_key(&mut rand::rngs::OsRng);
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(FINGERPRINT_KEY_SECRET.to_owned()),
                labels: Some(
                    [("app.kubernetes.io/managed-by".to_owned(), "sealgate".to_owned())].into(),
                ),
                ..Default::default()
            },
            data: Some([(FINGERPRINT_KEY_FIELD.to_owned(), ByteString(key.to_vec()))].into()),
            type_: Some("Opaque".to_owned()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => return Ok(Zeroizing::new(key.to_vec())),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(err(format!("cannot create it: {e}"))),
        }
    }
    Err(err("it was created concurrently but cannot be read".to_owned()))
}
