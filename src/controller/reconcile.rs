//! One reconcile of an `EncryptedSecret`: verify, decrypt, check ownership, apply the Secret,
//! report. Nothing is written unless every step before the write succeeded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

pub use super::context::Context;
use super::context::ObjectKey;
use super::materialize::{SecretOwner, render};
use super::reason::{Reason, Refusal};
use super::secret_api::ApiError;
use super::status::{Outcome, current_reason, next_status};
use super::write::{WriteOutcome, write_secret};
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
    let outcome = materialize(&es, &ctx).await;
    match outcome {
        Ok(outcome) => {
            report(&es, &ctx, &namespace, &outcome).await?;
            ctx.clear_failures(&ObjectKey::of(&*es));
            ctx.metrics.reconciled(outcome.reason, started.elapsed());
            Ok(match outcome.reason {
                Reason::Materialized => Action::await_change(),
                Reason::NoMatchingKey | Reason::SecretConflict => Action::requeue(REFUSAL_RECHECK),
                _ => Action::await_change(),
            })
        }
        Err(e) => {
            ctx.metrics.failed(super::metrics::Kind::EncryptedSecret, started.elapsed());
            Err(e)
        }
    }
}

/// Backoff for transient failures: 1 s, 2 s, 4 s … up to 5 min, per object.
pub fn error_policy(es: Arc<EncryptedSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    error_policy_for(&*es, error, &ctx)
}

/// The same backoff for an object of any kind.
pub fn error_policy_for<K: kube::Resource<DynamicType = ()>>(
    obj: &K,
    error: &Error,
    ctx: &Context,
) -> Action {
    let key = ObjectKey::of(obj);
    let delay = backoff(ctx.count_failure(&key));
    tracing::warn!(
        object = %key,
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
async fn materialize(es: &EncryptedSecret, ctx: &Context) -> Result<Outcome, Error> {
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
        Err((r, key_id)) => {
            if let Some(audit) = &ctx.audit {
                audit.refused(es, &r);
            }
            return Ok(refused(r, key_id));
        }
    };
    if let Some(audit) = &ctx.audit {
        audit.unwrapped(es, key_id.as_deref());
        audit.decrypted(es, key_id.as_deref(), &desired);
    }

    let owner = SecretOwner::of(es);
    let key = ObjectKey::of(es);
    match write_secret(ctx, &key, &owner, es.metadata.generation, &desired).await? {
        WriteOutcome::Written | WriteOutcome::Unchanged => {}
        WriteOutcome::Refused(r) => {
            if let Some(audit) = &ctx.audit {
                audit.refused(es, &r);
            }
            return Ok(refused(r, key_id));
        }
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
        let ok = outcome.reason == Reason::Materialized;
        ctx.publish(es, ok, outcome.reason.as_str(), &outcome.message, "Materialize").await;
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
