//! The store reconcilers (`SecretStore`, `ClusterSecretStore`): when a store changes, check its
//! spec and log in with its credentials (through the shared pool), and report `Ready`. Checked
//! again every [`STORE_RECHECK`] (its credentials `Secret` is not watched), sooner after a
//! failure.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::credentials::{CredentialError, resolve};
use super::schedule::{add, retry_delay, until};
use super::status::next_store_status;
use super::store::{StoreView, validate};
use crate::controller::context::{Context, ObjectKey, lock};
use crate::controller::reason::{Reason, Refusal};
use crate::controller::reconcile::Error;
use crate::controller::status::ready_reason;
use crate::crd::{ClusterSecretStore, SecretStore, SecretStoreStatus};

/// How often a store that logged in is checked again.
pub const STORE_RECHECK: Duration = Duration::from_secs(900);

/// The last check of a store: which generation, and when to check again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCheck {
    pub uid: Option<String>,
    pub generation: Option<i64>,
    pub next: Timestamp,
}

/// What the store reconciler needs of either store kind.
pub trait StoreObject:
    Resource<DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn view(&self) -> StoreView;
    fn store_status(&self) -> Option<&SecretStoreStatus>;
    /// Where its status is patched.
    fn api(&self, client: kube::Client) -> Api<Self>;
}

impl StoreObject for SecretStore {
    fn view(&self) -> StoreView {
        StoreView::of_secret_store(self)
    }
    fn store_status(&self) -> Option<&SecretStoreStatus> {
        self.status.as_ref()
    }
    fn api(&self, client: kube::Client) -> Api<Self> {
        Api::namespaced(client, &self.namespace().unwrap_or_default())
    }
}

impl StoreObject for ClusterSecretStore {
    fn view(&self) -> StoreView {
        StoreView::of_cluster_store(self)
    }
    fn store_status(&self) -> Option<&SecretStoreStatus> {
        self.status.as_ref()
    }
    fn api(&self, client: kube::Client) -> Api<Self> {
        Api::all(client)
    }
}

/// Checks one store and reports `Ready`. A store is checked once per generation (and again
/// after [`STORE_RECHECK`]); the reconcile its own status patch causes checks nothing.
///
/// # Errors
/// [`Error`] for transient apiserver trouble.
pub async fn reconcile_store<S: StoreObject>(
    store: Arc<S>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if store.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let key = ObjectKey::of(&*store);
    let now = Timestamp::now();
    let (uid, generation) = (store.meta().uid.clone(), store.meta().generation);
    let last = lock(&ctx.store_checks).get(&key).cloned();
    if let Some(c) = last
        && c.uid == uid
        && c.generation == generation
        && now < c.next
    {
        return Ok(Action::requeue(until(now, c.next)));
    }
    let view = store.view();
    let refusal = check(&ctx, &view).await?;
    let (reason, message) = (refusal.reason, refusal.message);
    ctx.metrics.store_checked(reason);
    ctx.metrics.set_vault_stats(ctx.vault.stats());
    let delay = match reason {
        Reason::Valid => {
            ctx.clear_failures(&key);
            STORE_RECHECK
        }
        Reason::InvalidSpec => STORE_RECHECK,
        _ => {
            retry_delay(ctx.count_failure(&key), Some(STORE_RECHECK), uid.as_deref().unwrap_or(""))
        }
    };
    lock(&ctx.store_checks).insert(key, StoreCheck { uid, generation, next: add(now, delay) });
    report(&*store, &ctx, reason, &message, now).await?;
    Ok(Action::requeue(delay))
}

/// The check itself: the spec, the credentials, a login. The outcome as a reason and message.
async fn check(ctx: &Context, view: &StoreView) -> Result<Refusal, Error> {
    if let Err(m) = validate(view) {
        return Ok(Refusal::new(Reason::InvalidSpec, m));
    }
    let vault_store = match resolve(&ctx.client, view, None).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Ok(Refusal::new(
                Reason::Valid,
                "the spec is valid; Kubernetes auth logs in as a ServiceAccount of each \
                 VaultSecret's namespace, so each login is checked when a VaultSecret reads",
            ));
        }
        Err(CredentialError::Refused(r)) => return Ok(r),
        Err(CredentialError::Api(e)) => return Err(e),
    };
    let server = vault_store.connection.server.clone();
    // Integration point: one login (or reused session) and a token lookup per check.
    Ok(match ctx.vault.check(&vault_store).await {
        Ok(()) => Refusal::new(
            Reason::Valid,
            format!("logged in to {server} with {} auth", view.provider.auth.method()),
        ),
        Err(e) => Refusal::from_vault_error(&e, &format!("logging in to {server}")),
    })
}

/// Writes the status if it changed, and an Event when the reason changed.
async fn report<S: StoreObject>(
    store: &S,
    ctx: &Context,
    reason: Reason,
    message: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let current = store.store_status();
    let next =
        next_store_status(current, store.meta().generation, reason, message, &now.to_string());
    if current == Some(&next) {
        return Ok(());
    }
    if !ctx.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let ok = reason == Reason::Valid;
    if !ok {
        tracing::warn!(object = %ObjectKey::of(store), reason = reason.as_str(), "store not ready: {message}");
    }
    store
        .api(ctx.client.clone())
        .patch_status(
            &store.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": next })),
        )
        .await?;
    let previous = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    if ready_reason(previous) != Some(reason.as_str()) {
        ctx.publish(store, ok, reason.as_str(), message, "CheckAuth").await;
    }
    Ok(())
}
