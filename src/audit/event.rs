//! The audit event: what was accessed, by whom, how it went. Names of keys, never values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::AuditError;
use super::fingerprint::Fingerprint;

/// What happened. Serialized in camelCase (`vaultLogin`, `keyGenerated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// A file's data key was unwrapped with an age identity or a Vault transit key.
    Unwrap,
    /// Values were decrypted with a data key.
    Decrypt,
    /// The controller logged in to Vault.
    VaultLogin,
    /// A secret was read from Vault.
    VaultRead,
    /// A secret was written to Vault.
    VaultWrite,
    /// A Kubernetes `Secret` was created or updated.
    SecretWrite,
    /// A data key or values were rotated.
    Rotation,
    /// Workloads were restarted to pick up a changed `Secret`.
    Restart,
    /// A request was refused (binding mismatch, plaintext rule, scope, …).
    Refusal,
    /// A key (age identity, fingerprint key, …) was generated.
    KeyGenerated,
    /// A key was renewed.
    KeyRenewed,
    /// A key was removed.
    KeyRemoved,
}

impl Action {
    /// Every action, in documentation order.
    pub const ALL: [Action; 12] = [
        Action::Unwrap,
        Action::Decrypt,
        Action::VaultLogin,
        Action::VaultRead,
        Action::VaultWrite,
        Action::SecretWrite,
        Action::Rotation,
        Action::Restart,
        Action::Refusal,
        Action::KeyGenerated,
        Action::KeyRenewed,
        Action::KeyRemoved,
    ];

    /// The name written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Unwrap => "unwrap",
            Action::Decrypt => "decrypt",
            Action::VaultLogin => "vaultLogin",
            Action::VaultRead => "vaultRead",
            Action::VaultWrite => "vaultWrite",
            Action::SecretWrite => "secretWrite",
            Action::Rotation => "rotation",
            Action::Restart => "restart",
            Action::Refusal => "refusal",
            Action::KeyGenerated => "keyGenerated",
            Action::KeyRenewed => "keyRenewed",
            Action::KeyRemoved => "keyRemoved",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;

    /// Accepts the logged name in any case (`vaultRead`, `vaultread`, `VAULTREAD`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown action {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// How it went. `reason` is a stable CamelCase word (`BindingMismatch`, `VaultUnavailable`),
/// never free text, so that it can be counted and cannot carry a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Outcome {
    Success,
    Failure { reason: String },
    Refused { reason: String },
}

impl Outcome {
    pub fn failure(reason: &str) -> Self {
        Outcome::Failure { reason: reason.to_owned() }
    }

    pub fn refused(reason: &str) -> Self {
        Outcome::Refused { reason: reason.to_owned() }
    }

    /// `success`, `failure` or `refused`.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure { .. } => "failure",
            Outcome::Refused { .. } => "refused",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Success => None,
            Outcome::Failure { reason } | Outcome::Refused { reason } => Some(reason),
        }
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Actor {
    /// The controller: its Kubernetes identity (service account) and replica (pod name).
    Controller { identity: String, replica: String },
    /// A person running the CLI.
    Cli { user: String },
}

/// The Kubernetes object concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

impl ObjectRef {
    /// `namespace/name`, or `name` for a cluster-scoped object.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The Vault request concerned. Never the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRef {
    /// The secret path (`secret/data/app/db`) or, for a login, the auth mount path.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Vault's `request_id`, to find the same request in Vault's own audit device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One access. Build it with [`AuditEvent::new`] and the `with_*` setters; the [`Auditor`]
/// adds the time and the chain fields.
///
/// [`Auditor`]: super::Auditor
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub action: Action,
    pub outcome: Outcome,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// The Git revision the object was applied from, when an annotation names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// Names of the keys touched, sorted. Never values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// The age recipient or Vault transit key that wrapped or unwrapped the data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultRef>,
    /// Keyed HMAC of the resulting data: equal fingerprints mean unchanged data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

impl AuditEvent {
    pub fn new(action: Action, outcome: Outcome, actor: Actor) -> Self {
        AuditEvent {
            action,
            outcome,
            actor,
            object: None,
            git_revision: None,
            keys: Vec::new(),
            key_id: None,
            vault: None,
            fingerprint: None,
        }
    }

    pub fn with_object(mut self, object: ObjectRef) -> Self {
        self.object = Some(object);
        self
    }

    /// Sets the Git revision from the object's annotations ([`git_revision`]).
    pub fn with_annotations(mut self, annotations: &BTreeMap<String, String>) -> Self {
        self.git_revision = git_revision(annotations);
        self
    }

    /// The key names touched; stored sorted and deduplicated.
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        keys.sort();
        keys.dedup();
        self.keys = keys;
        self
    }

    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    pub fn with_vault(mut self, vault: VaultRef) -> Self {
        self.vault = Some(vault);
        self
    }

    pub fn with_fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Checks the rules the type cannot: a reason is a stable CamelCase word, and `refusal`
    /// goes with a `refused` outcome.
    pub fn validate(&self) -> Result<(), AuditError> {
        if let Some(reason) = self.outcome.reason()
            && !is_stable_reason(reason)
        {
            return Err(AuditError::InvalidEvent(format!(
                "{} event: the reason must be a CamelCase word of at most 64 letters and digits",
                self.action
            )));
        }
        if self.action == Action::Refusal && !matches!(self.outcome, Outcome::Refused { .. }) {
            return Err(AuditError::InvalidEvent(
                "refusal event: the outcome must be `refused` with its reason".to_owned(),
            ));
        }
        Ok(())
    }
}

fn is_stable_reason(reason: &str) -> bool {
    let mut chars = reason.chars();
    reason.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Annotations that name the Git revision an object was applied from, in the order tried.
///
/// - `kustomize.toolkit.fluxcd.io/revision` and `helm.toolkit.fluxcd.io/revision`: the keys
///   Flux uses for the source revision (`main@sha1:<commit>`) in its event metadata; Flux does
///   not stamp them on applied objects itself, but a Kustomization's `commonMetadata` or a
///   post-build substitution can.
/// - Argo CD stamps no revision on the resources it manages (its
///   `argocd.argoproj.io/tracking-id` names the Application, not a commit), so there is none
///   to read.
/// - `sealgate.dev/git-revision`: set it yourself (for example from CI) when neither applies.
pub const GIT_REVISION_ANNOTATIONS: [&str; 3] = [
    "kustomize.toolkit.fluxcd.io/revision",
    "helm.toolkit.fluxcd.io/revision",
    "sealgate.dev/git-revision",
];

/// The longest revision recorded; longer values are not revisions.
const MAX_REVISION_LEN: usize = 256;

/// The Git revision named by the first of [`GIT_REVISION_ANNOTATIONS`] present, when it looks
/// like one (non-empty, at most 256 printable ASCII characters without spaces).
pub fn git_revision(annotations: &BTreeMap<String, String>) -> Option<String> {
    GIT_REVISION_ANNOTATIONS.iter().find_map(|key| {
        let value = annotations.get(*key)?.trim();
        let plausible = !value.is_empty()
            && value.len() <= MAX_REVISION_LEN
            && value.bytes().all(|b| b.is_ascii_graphic());
        plausible.then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor::Controller {
            identity: "system:serviceaccount:sealgate:controller".into(),
            replica: "c-0".into(),
        }
    }

    #[test]
    fn action_names_round_trip_through_serde_and_from_str() {
        for a in Action::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        assert_eq!("VAULTREAD".parse::<Action>().unwrap(), Action::VaultRead);
        assert!("peek".parse::<Action>().unwrap_err().contains("vaultLogin"));
    }

    #[test]
    fn rejects_free_text_reason() {
        let e = AuditEvent::new(
            Action::Decrypt,
            Outcome::failure("bad key: AGE-SECRET-KEY-1"),
            actor(),
        );
        assert!(matches!(e.validate(), Err(AuditError::InvalidEvent(_))));
        let e = AuditEvent::new(Action::Decrypt, Outcome::failure("MacMismatch"), actor());
        assert!(e.validate().is_ok());
    }

    #[test]
    fn refusal_needs_refused_outcome() {
        let e = AuditEvent::new(Action::Refusal, Outcome::Success, actor());
        assert!(e.validate().is_err());
        let e = AuditEvent::new(Action::Refusal, Outcome::refused("BindingMismatch"), actor());
        assert!(e.validate().is_ok());
    }

    #[test]
    fn flux_revision_wins_over_own_annotation_and_junk_is_ignored() {
        let mut a = BTreeMap::new();
        a.insert("sealgate.dev/git-revision".to_owned(), "abc123".to_owned());
        assert_eq!(git_revision(&a).as_deref(), Some("abc123"));
        a.insert(
            "kustomize.toolkit.fluxcd.io/revision".to_owned(),
            "main@sha1:40d6b21b".to_owned(),
        );
        assert_eq!(git_revision(&a).as_deref(), Some("main@sha1:40d6b21b"));
        a.insert("kustomize.toolkit.fluxcd.io/revision".to_owned(), "two words".to_owned());
        assert_eq!(git_revision(&a).as_deref(), Some("abc123"));
        assert_eq!(git_revision(&BTreeMap::new()), None);
    }

    #[test]
    fn keys_are_sorted_and_deduplicated_and_empty_fields_omitted() {
        let e = AuditEvent::new(Action::SecretWrite, Outcome::Success, actor())
            .with_keys(["b", "a", "b"]);
        assert_eq!(e.keys, ["a", "b"]);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("vault") && !json.contains("gitRevision"), "{json}");
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
