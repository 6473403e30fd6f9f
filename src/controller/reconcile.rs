//! One reconcile of an `EncryptedSecret`: verify, decrypt, check ownership, apply the Secret,
//! report. Nothing is written unless every step before the write succeeded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::keys::ClusterKeyring;
use super::leader::Leadership;
use super::materialize::{Ownership, conflict_refusal, foreign_value_owner, ownership, render};
use super::metrics::Metrics;
use super::reason::{Reason, Refusal};
use super::secret_api::{ApiError, apply_secret, replace_secret};
use super::status::{Outcome, current_reason, next_status};
use crate::crd::EncryptedSecret;

/// How soon a refusal that a key change or a conflicting Secret's removal could cure is tried
/// again (those changes are not all watched).
const REFUSAL_RECHECK: Duration = Duration::from_secs(300);
/// Backoff after transient failures: doubled from this, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What a reconcile may fail with: only transient trouble. Refusals are outcomes, not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("apiserver request failed: {0}")]
    Api(#[from] ApiError),
    #[error("apiserver request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("this replica is not the leader: it does not write")]
    NotLeader,
    #[error("the object has no {0}")]
    Incomplete(&'static str),
}

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    pub client: Client,
    pub keyring: ClusterKeyring,
    pub leadership: Leadership,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Metadata of the Secrets the controller manages (label-selected): no values.
    pub owned_secrets: Store<PartialObjectMeta<Secret>>,
    /// Per object: what was last applied, to skip writes when nothing changed.
    applied: Mutex<HashMap<ObjectRef<EncryptedSecret>, Applied>>,
    /// Per object: consecutive transient failures, for the backoff.
    failures: Mutex<HashMap<ObjectRef<EncryptedSecret>, u32>>,
    /// The watched objects, to forget deleted ones in `applied` and `failures`.
    objects: Option<Store<EncryptedSecret>>,
}

/// The state an apply left: the object's uid and generation, and the Secret's version after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    uid: Option<String>,
    generation: Option<i64>,
    secret_version: Option<String>,
}

impl Context {
    pub fn new(
        client: Client,
        keyring: ClusterKeyring,
        leadership: Leadership,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        owned_secrets: Store<PartialObjectMeta<Secret>>,
    ) -> Context {
        Context {
            client,
            keyring,
            leadership,
            recorder,
            metrics,
            owned_secrets,
            applied: Mutex::default(),
            failures: Mutex::default(),
            objects: None,
        }
    }

    /// Lets the context forget what it remembered about objects that were deleted.
    pub fn with_objects(mut self, objects: Store<EncryptedSecret>) -> Context {
        self.objects = Some(objects);
        self
    }

    /// Drops entries for objects no longer watched, once the map has grown to twice their
    /// number (so a long-running controller does not grow with deletions).
    fn prune(&self) {
        let Some(objects) = &self.objects else { return };
        let live = objects.len();
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if applied.len() > 2 * live + 64 {
            applied.retain(|k, _| objects.get(k).is_some());
            self.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|k, _| objects.get(k).is_some());
        }
    }

    /// The existing Secret's metadata: from the watch cache when it is one of ours, else from
    /// the apiserver (metadata only: no values cross the wire).
    async fn existing_secret(&self, ns: &str, name: &str) -> Result<Option<ObjectMeta>, Error> {
        let key = ObjectRef::<PartialObjectMeta<Secret>>::new(name).within(ns);
        if let Some(cached) = self.owned_secrets.get(&key) {
            return Ok(Some(cached.metadata.clone()));
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        Ok(api.get_metadata_opt(name).await?.map(|m| m.metadata))
    }
}

/// Reconciles one object. Refusals end in `Ok` with a status; only transient failures
/// (apiserver trouble) are errors, retried with backoff by [`error_policy`].
///
/// # Errors
/// [`Error`] for transient failures.
pub async fn reconcile(es: Arc<EncryptedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    if es.metadata.deletion_timestamp.is_some() {
        // The Secret goes with it: it carries an owner reference.
        return Ok(Action::await_change());
    }
    let namespace = es.namespace().ok_or(Error::Incomplete("namespace"))?;
    let outcome = materialize(&es, &ctx, &namespace).await;
    match outcome {
        Ok(outcome) => {
            report(&es, &ctx, &namespace, &outcome).await?;
            ctx.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&ObjectRef::from(&*es));
            ctx.metrics.reconciled(outcome.reason, started.elapsed());
            Ok(match outcome.reason {
                Reason::Materialized => Action::await_change(),
                Reason::NoMatchingKey | Reason::SecretConflict => Action::requeue(REFUSAL_RECHECK),
                _ => Action::await_change(),
            })
        }
        Err(e) => {
            ctx.metrics.failed(started.elapsed());
            Err(e)
        }
    }
}

/// Backoff for transient failures: 1 s, 2 s, 4 s … up to 5 min, per object.
pub fn error_policy(es: Arc<EncryptedSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let n = failures.entry(ObjectRef::from(&*es)).or_insert(0);
    *n = n.saturating_add(1);
    let delay = backoff(*n);
    tracing::warn!(
        object = %ObjectRef::from(&*es),
        error = %error,
        retry_in_s = delay.as_secs(),
        "reconcile failed; will retry"
    );
    Action::requeue(delay)
}

/// The delay after `failures` consecutive transient failures.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

/// Verifies, decrypts and writes. `Ok` carries the outcome, refusals included.
async fn materialize(
    es: &EncryptedSecret,
    ctx: &Context,
    namespace: &str,
) -> Result<Outcome, Error> {
    let name = es.name_any();
    let refused = |r: Refusal, key_id: Option<String>| Outcome {
        reason: r.reason,
        message: r.message,
        key_id,
        secret_name: None,
    };
    let keyring = ctx.keyring.current();
    let (desired, key_id) = match render(es, &keyring) {
        Ok(rendered) => rendered,
        Err((r, key_id)) => return Ok(refused(r, key_id)),
    };

    let existing = ctx.existing_secret(namespace, &name).await?;
    let owner = ownership(es, existing.as_ref());
    if let Ownership::Foreign(holder) = &owner {
        return Ok(refused(conflict_refusal(es, holder), key_id));
    }
    // Taking a Secret over, or undoing values another manager set (a key added by hand):
    // replace the whole Secret, as server-side apply would leave those fields in place.
    let foreign_values = existing.as_ref().and_then(foreign_value_owner);
    let replace = owner == Ownership::Adopt || foreign_values.is_some();
    let object = ObjectRef::from(es);
    let wanted = Applied {
        uid: es.metadata.uid.clone(),
        generation: es.metadata.generation,
        secret_version: existing.as_ref().and_then(|m| m.resource_version.clone()),
    };
    let unchanged = ctx.applied.lock().unwrap_or_else(|e| e.into_inner()).get(&object)
        == Some(&wanted)
        && existing.is_some()
        && !replace;
    if !unchanged {
        if !ctx.leadership.is_leader() {
            return Err(Error::NotLeader);
        }
        let body = desired.to_apply_body();
        let written = if replace {
            replace_secret(&ctx.client, namespace, &name, body).await
        } else {
            apply_secret(&ctx.client, namespace, &name, body).await
        };
        let stored = match written {
            Ok(stored) => stored,
            // 422: the apiserver will refuse this Secret until something changes (an immutable
            // Secret whose values changed, an invalid label from the template): not transient.
            Err(ApiError::Status { code: 422, message }) => {
                let r = Refusal::new(
                    Reason::InvalidSpec,
                    format!(
                        "the apiserver refused the Secret: {message}; if the Secret is immutable, \
                         delete it so that it can be re-created with the new values"
                    ),
                );
                return Ok(refused(r, key_id));
            }
            Err(e) => return Err(e.into()),
        };
        ctx.metrics.secret_written();
        tracing::info!(
            object = %object,
            keys = desired.data.len(),
            replaced = replace,
            other_manager = foreign_values.as_deref().unwrap_or(""),
            "wrote Secret"
        );
        let applied = Applied { secret_version: stored.resource_version, ..wanted };
        ctx.applied.lock().unwrap_or_else(|e| e.into_inner()).insert(object, applied);
        ctx.prune();
    }
    let keys: Vec<&str> = desired.data.keys().map(String::as_str).collect();
    Ok(Outcome {
        reason: Reason::Materialized,
        message: format!("Secret {name} holds {} key(s): {}", keys.len(), keys.join(", ")),
        key_id,
        secret_name: Some(name),
    })
}

/// Writes the status if it changed, and an Event when the reason changed.
async fn report(
    es: &EncryptedSecret,
    ctx: &Context,
    namespace: &str,
    outcome: &Outcome,
) -> Result<(), Error> {
    let now = jiff::Timestamp::now().to_string();
    let current = es.status.as_ref();
    let next = next_status(current, es.metadata.generation, outcome, &now);
    if current == Some(&next) {
        return Ok(());
    }
    if !ctx.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    if outcome.reason != Reason::Materialized {
        tracing::warn!(
            object = %ObjectRef::from(es),
            reason = outcome.reason.as_str(),
            "refused: {}",
            outcome.message
        );
    }
    let api: Api<EncryptedSecret> = Api::namespaced(ctx.client.clone(), namespace);
    api.patch_status(
        &es.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": next })),
    )
    .await?;
    if current_reason(current) != Some(outcome.reason.as_str()) {
        let event = Event {
            type_: if outcome.reason == Reason::Materialized {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: outcome.reason.as_str().to_owned(),
            note: Some(outcome.message.chars().take(1000).collect()),
            action: "Materialize".to_owned(),
            secondary: None,
        };
        // An Event that cannot be written is not worth failing the reconcile for.
        if let Err(e) = ctx.recorder.publish(&event, &es.object_ref(&())).await {
            tracing::warn!(object = %ObjectRef::from(es), error = %e, "failed to publish an Event");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
