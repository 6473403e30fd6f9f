//! One reconcile of a `VaultSecret`: check the spec, find the store, decide whether a read is
//! due, check the store's conditions, resolve credentials, read (through the shared pool),
//! build and write the Secret, report. A failure writes and deletes nothing: the last good
//! Secret stays, the status says why, and the read is retried with backoff.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::json;

use super::conditions::{check_allowed, needs_labels};
use super::credentials::{CredentialError, resolve};
use super::plan::{Plan, plan};
use super::schedule::{
    Due, Observed, REFUSAL_RECHECK, RefreshState, StoreStamp, add, due, max_age, next_refresh,
    retry_delay, until,
};
use super::status::{Synced, VaultOutcome, next_vault_status};
use super::store::{connection, lookup, validate};
use super::values::{ReadResults, secret_data, versions};
use crate::controller::context::{Context, ObjectKey, lock};
use crate::controller::materialize::{Ownership, SecretOwner, build_secret, ownership};
use crate::controller::reason::{Reason, Refusal};
use crate::controller::reconcile::Error;
use crate::controller::status::ready_reason;
use crate::controller::write::{WriteOutcome, write_secret};
use crate::crd::{StoreKind, VaultSecret};

/// How a reconcile ended: with an outcome to report, or with nothing due.
enum Step {
    Done(VaultOutcome, Action),
    Wait(Action),
}

/// After a refusal: retry with backoff (Vault-side trouble) or recheck later (a change
/// elsewhere may cure it).
#[derive(Clone, Copy)]
enum Retry {
    Backoff,
    Recheck,
}

/// Reconciles one `VaultSecret`. Refusals and Vault failures end in `Ok` with a status; only
/// transient apiserver trouble is an error.
///
/// # Errors
/// [`Error`] for transient failures, retried by the controller's error policy.
pub async fn reconcile(vs: Arc<VaultSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    if vs.metadata.deletion_timestamp.is_some() {
        // The Secret goes with it: it carries an owner reference.
        return Ok(Action::await_change());
    }
    let namespace = vs.namespace().ok_or(Error::Incomplete("namespace"))?;
    let now = Timestamp::now();
    match sync(&vs, &ctx, &namespace, now).await {
        Ok(Step::Wait(action)) => Ok(action),
        Ok(Step::Done(outcome, action)) => {
            report(&vs, &ctx, &namespace, &outcome, now).await?;
            ctx.metrics.vault_reconciled(outcome.reason, started.elapsed());
            Ok(action)
        }
        Err(e) => {
            ctx.metrics.failed(crate::controller::metrics::Kind::VaultSecret, started.elapsed());
            Err(e)
        }
    }
}

/// Everything but the status.
async fn sync(
    vs: &VaultSecret,
    ctx: &Context,
    namespace: &str,
    now: Timestamp,
) -> Result<Step, Error> {
    let key = ObjectKey::of(vs);
    let refused = |r: Refusal, action| {
        if let Some(audit) = &ctx.audit {
            audit.refused(vs, &r);
        }
        Ok(Step::Done(VaultOutcome::refused(r.reason, r.message), action))
    };
    let plan = match plan(&vs.spec) {
        Ok(p) => p,
        Err(r) => return refused(r, Action::await_change()),
    };
    // Stores are watched: their creation or change reconciles this object again.
    let store = match lookup(ctx, &vs.spec.store_ref, namespace) {
        Ok(s) => s,
        Err(r) => return refused(r, Action::requeue(REFUSAL_RECHECK)),
    };
    if let Err(m) = validate(&store) {
        let message = format!("{} is invalid: {m}", store.describe());
        return refused(Refusal::new(Reason::InvalidSpec, message), Action::await_change());
    }
    let (_, kv) = connection(&store.provider).map_err(|_| Error::Incomplete("a valid store"))?;
    if let Err(r) = plan.check_engine(kv.version, &store.describe()) {
        return refused(r, Action::await_change());
    }

    if let Some(wait) = not_due(vs, ctx, &key, &plan, &store.stamp, now).await? {
        return Ok(Step::Wait(wait));
    }

    let fail = |r: Refusal, retry: Retry| -> Result<Step, Error> {
        let n = ctx.count_failure(&key);
        let delay = match retry {
            Retry::Backoff => {
                retry_delay(n, plan.refresh, vs.metadata.uid.as_deref().unwrap_or(""))
            }
            Retry::Recheck => REFUSAL_RECHECK,
        };
        remember(ctx, vs, &key, &store.stamp, false, add(now, delay));
        if let Some(audit) = &ctx.audit {
            audit.refused(vs, &r);
        }
        Ok(Step::Done(VaultOutcome::refused(r.reason, r.message), Action::requeue(delay)))
    };

    // A ClusterSecretStore's conditions, before anything is read.
    if store.kind == StoreKind::ClusterSecretStore {
        let labels = if needs_labels(&store.conditions) {
            Some(namespace_labels(ctx, namespace).await?)
        } else {
            None
        };
        let paths = plan.paths();
        if let Err(r) =
            check_allowed(&store.name, &store.conditions, namespace, labels.as_ref(), &paths)
        {
            return fail(r, Retry::Recheck);
        }
    }

    let vault_store = match resolve(&ctx.client, &store, Some(namespace)).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Error::Incomplete("a ServiceAccount namespace")),
        Err(CredentialError::Refused(r)) => return fail(r, Retry::Backoff),
        Err(CredentialError::Api(e)) => return Err(e),
    };

    // Integration point: one `VaultSource::read` per distinct (path, version); the pool shares
    // reads younger than `max_age` between objects.
    let age = max_age(plan.refresh);
    let reads = plan.reads.iter().map(|r| ctx.vault.read(&vault_store, &r.path, r.version, age));
    let answers = futures::future::join_all(reads).await;
    ctx.metrics.set_vault_stats(ctx.vault.stats());
    let mut results = ReadResults::new();
    for (read, answer) in plan.reads.iter().zip(answers) {
        match answer {
            Ok(secret) => {
                if let Some(audit) = &ctx.audit {
                    audit.vault_read(vs, &kv.display_path(&read.path), secret.version);
                }
                results.insert(read.clone(), secret);
            }
            Err(e) => {
                let what = format!("reading {read} through {}", store.describe());
                return fail(Refusal::from_vault_error(&e, &what), Retry::Backoff);
            }
        }
    }
    let data = match secret_data(&plan, &results) {
        Ok(d) => d,
        Err(r) => return fail(r, Retry::Backoff),
    };
    drop(vault_store);
    let keys: Vec<String> = data.keys().cloned().collect();
    let owner = SecretOwner::of(vs);
    let desired = build_secret(&owner, &plan.template, data);
    match write_secret(ctx, &key, &owner, vs.metadata.generation, &desired).await? {
        WriteOutcome::Written | WriteOutcome::Unchanged => {}
        WriteOutcome::Refused(r) => return fail(r, Retry::Recheck),
    }
    drop(desired);

    ctx.clear_failures(&key);
    let uid = vs.metadata.uid.as_deref().unwrap_or("");
    let next = plan.refresh.map_or(Timestamp::MAX, |i| next_refresh(now, i, uid));
    remember(ctx, vs, &key, &store.stamp, true, next);
    let name = vs.name_any();
    let outcome = VaultOutcome {
        reason: Reason::Synced,
        message: format!(
            "Secret {name} holds {} key(s) from {} read(s) through {}: {}",
            keys.len(),
            results.len(),
            store.describe(),
            keys.join(", ")
        ),
        synced: Some(Synced { versions: versions(&results), secret_name: name }),
    };
    let action = match plan.refresh {
        Some(_) => Action::requeue(until(now, next)),
        None => Action::await_change(),
    };
    Ok(Step::Done(outcome, action))
}

/// Records what this reconcile read (or tried to) and when to read again.
fn remember(
    ctx: &Context,
    vs: &VaultSecret,
    key: &ObjectKey,
    store: &StoreStamp,
    ok: bool,
    next: Timestamp,
) {
    let state = RefreshState {
        uid: vs.metadata.uid.clone(),
        generation: vs.metadata.generation,
        store: store.clone(),
        ok,
        next,
    };
    lock(&ctx.refreshes).insert(key.clone(), state);
}

/// `Some(action)` when nothing is due: the object, its store and its Secret are as the last
/// successful read left them and the refresh time has not come. A controller that restarted
/// takes a status that says `Synced` for this generation, and the Secret it finds, as that
/// last read (so a restart does not read everything at once).
async fn not_due(
    vs: &VaultSecret,
    ctx: &Context,
    key: &ObjectKey,
    plan: &Plan,
    store: &StoreStamp,
    now: Timestamp,
) -> Result<Option<Action>, Error> {
    let namespace = vs.namespace().unwrap_or_default();
    let name = vs.name_any();
    let mut state = lock(&ctx.refreshes).get(key).cloned();
    let mut existing = None;
    if state.is_none()
        && let Some(last) = synced_at(vs)
    {
        existing = Some(ctx.existing_secret(&namespace, &name).await?);
        if let Some(Some(meta)) = &existing
            && ownership(&SecretOwner::of(vs), Some(meta)) == Ownership::Owned
        {
            let uid = vs.metadata.uid.as_deref().unwrap_or("");
            let next = plan.refresh.map_or(Timestamp::MAX, |i| next_refresh(last, i, uid));
            ctx.writes.assume_written(
                key,
                vs.metadata.uid.clone(),
                vs.metadata.generation,
                meta.resource_version.clone(),
            );
            remember(ctx, vs, key, store, true, next);
            state = lock(&ctx.refreshes).get(key).cloned();
        }
    }
    let drifted = match &state {
        Some(s) if s.ok => {
            let existing = match existing {
                Some(e) => e,
                None => ctx.existing_secret(&namespace, &name).await?,
            };
            let now_version = existing.map(|m| m.resource_version);
            now_version.is_none() || ctx.writes.written_version(key) != now_version
        }
        _ => false,
    };
    let seen = Observed {
        uid: vs.metadata.uid.as_deref(),
        generation: vs.metadata.generation,
        store,
        drifted,
        now,
    };
    Ok(match due(state.as_ref(), &seen) {
        Due::Now(why) => {
            tracing::debug!(object = %key, why, "reading from Vault");
            None
        }
        Due::Later(wait) => Some(Action::requeue(wait)),
        Due::Never => Some(Action::await_change()),
    })
}

/// When the status says the current generation was last synced, if it does.
fn synced_at(vs: &VaultSecret) -> Option<Timestamp> {
    let status = vs.status.as_ref()?;
    let synced = ready_reason(&status.conditions) == Some(Reason::Synced.as_str())
        && status.observed_generation == vs.metadata.generation;
    if !synced {
        return None;
    }
    status.last_refresh_time.as_deref()?.parse().ok()
}

/// The labels of namespace `ns` (for a `ClusterSecretStore`'s namespace selector).
async fn namespace_labels(ctx: &Context, ns: &str) -> Result<BTreeMap<String, String>, Error> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    Ok(api.get_metadata(ns).await?.metadata.labels.unwrap_or_default())
}

/// Writes the status if it changed, and an Event when the reason changed.
async fn report(
    vs: &VaultSecret,
    ctx: &Context,
    namespace: &str,
    outcome: &VaultOutcome,
    now: Timestamp,
) -> Result<(), Error> {
    let current = vs.status.as_ref();
    let next = next_vault_status(current, vs.metadata.generation, outcome, &now.to_string());
    if current == Some(&next) {
        return Ok(());
    }
    if !ctx.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let ok = outcome.reason == Reason::Synced;
    if !ok {
        tracing::warn!(
            object = %ObjectKey::of(vs),
            reason = outcome.reason.as_str(),
            "not synced: {}",
            outcome.message
        );
    }
    let api: Api<VaultSecret> = Api::namespaced(ctx.client.clone(), namespace);
    api.patch_status(
        &vs.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": next })),
    )
    .await?;
    let previous = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    if ready_reason(previous) != Some(outcome.reason.as_str()) {
        ctx.publish(vs, ok, outcome.reason.as_str(), &outcome.message, "Sync").await;
    }
    Ok(())
}
