//! Writing a produced Secret, the same way for every kind that produces one: refuse a Secret
//! the controller does not own (unless the owner opts in), replace the whole Secret when taking
//! it over or when another manager owns values, else server-side apply; skip the write when
//! nothing changed since the last one.

use std::collections::HashMap;
use std::sync::Mutex;

use super::context::{Context, ObjectKey, lock};
use super::materialize::{
    DesiredSecret, Ownership, SecretOwner, conflict_refusal, foreign_value_owner, ownership,
};
use super::reason::{Reason, Refusal};
use super::reconcile::Error;
use super::secret_api::{ApiError, apply_secret, replace_secret};
use crate::audit::{Fingerprint, Fingerprinter};

/// What the write step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The Secret was applied or replaced.
    Written,
    /// It already held exactly this; no request was made.
    Unchanged,
    /// It was not written: a Secret the owner may not take over, or one the apiserver refuses.
    Refused(Refusal),
}

/// The state a write left: the owner's uid and generation, a keyed fingerprint of what was
/// sent, and the Secret's version after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    uid: Option<String>,
    generation: Option<i64>,
    content: Fingerprint,
    secret_version: Option<String>,
}

/// Per owner, what was last written. Content is remembered as an HMAC under a key of this
/// process only, never as a plain hash.
pub(crate) struct SecretWrites {
    applied: Mutex<HashMap<ObjectKey, Applied>>,
    fingerprinter: Fingerprinter,
}

impl SecretWrites {
    pub(crate) fn new() -> SecretWrites {
        let key = Fingerprinter::generate_key(&mut rand::thread_rng());
        SecretWrites {
            applied: Mutex::default(),
            fingerprinter: Fingerprinter::new(key.as_ref()).expect("a 32-byte key is long enough"),
        }
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.applied).len()
    }

    pub(crate) fn retain(&self, keep: impl Fn(&ObjectKey) -> bool) {
        lock(&self.applied).retain(|k, _| keep(k));
    }

    /// The Secret version the last write of `key` left, if the controller wrote it.
    pub(crate) fn written_version(&self, key: &ObjectKey) -> Option<Option<String>> {
        lock(&self.applied).get(key).map(|a| a.secret_version.clone())
    }

    /// Takes the Secret as it is now as the last write of `key` for `generation`, without
    /// knowing its content: a restarted controller's baseline, so that a later change of the
    /// Secret is seen as drift. The next write with content replaces it.
    pub(crate) fn assume_written(
        &self,
        key: &ObjectKey,
        uid: Option<String>,
        generation: Option<i64>,
        secret_version: Option<String>,
    ) {
        let content = self.fingerprinter.fingerprint([("unknown", b"" as &[u8])]);
        lock(&self.applied)
            .insert(key.clone(), Applied { uid, generation, content, secret_version });
    }
}

/// Writes `desired` for `owner` (whose object is at `generation`). A Secret the owner does not
/// own is refused unless it opts in; nothing is sent when the last write from this process
/// sent the same thing and the Secret has not changed since.
///
/// # Errors
/// [`Error`] for transient apiserver trouble, or when this replica does not lead.
pub async fn write_secret(
    ctx: &Context,
    key: &ObjectKey,
    owner: &SecretOwner,
    generation: Option<i64>,
    desired: &DesiredSecret,
) -> Result<WriteOutcome, Error> {
    let namespace = owner.namespace.as_deref().ok_or(Error::Incomplete("namespace"))?;
    let name = owner.name.as_str();
    let existing = ctx.existing_secret(namespace, name).await?;
    let owned = ownership(owner, existing.as_ref());
    if let Ownership::Foreign(holder) = &owned {
        return Ok(WriteOutcome::Refused(conflict_refusal(owner, holder)));
    }
    // Taking a Secret over, or undoing values another manager set (a key added by hand):
    // replace the whole Secret, as server-side apply would leave those fields in place.
    let foreign_values = existing.as_ref().and_then(foreign_value_owner);
    let replace = owned == Ownership::Adopt || foreign_values.is_some();
    let body = desired.to_apply_body();
    let wanted = Applied {
        uid: owner.uid.clone(),
        generation,
        content: ctx.writes.fingerprinter.fingerprint([("body", body.as_slice())]),
        secret_version: existing.as_ref().and_then(|m| m.resource_version.clone()),
    };
    let unchanged =
        lock(&ctx.writes.applied).get(key) == Some(&wanted) && existing.is_some() && !replace;
    if unchanged {
        return Ok(WriteOutcome::Unchanged);
    }
    if !ctx.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let written = if replace {
        replace_secret(&ctx.client, namespace, name, body).await
    } else {
        apply_secret(&ctx.client, namespace, name, body).await
    };
    let stored = match written {
        Ok(stored) => stored,
        // 422: the apiserver will refuse this Secret until something changes (an immutable
        // Secret whose values changed, an invalid label from the template): not transient.
        Err(ApiError::Status { code: 422, message }) => {
            return Ok(WriteOutcome::Refused(Refusal::new(
                Reason::InvalidSpec,
                format!(
                    "the apiserver refused the Secret: {message}; if the Secret is immutable, \
                     delete it so that it can be re-created with the new values"
                ),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.metrics.secret_written();
    if let Some(audit) = &ctx.audit {
        audit.secret_written(owner, desired);
    }
    tracing::info!(
        object = %key,
        keys = desired.data.len(),
        replaced = replace,
        other_manager = foreign_values.as_deref().unwrap_or(""),
        "wrote Secret"
    );
    let applied = Applied { secret_version: stored.resource_version, ..wanted };
    lock(&ctx.writes.applied).insert(key.clone(), applied);
    ctx.prune();
    Ok(WriteOutcome::Written)
}
