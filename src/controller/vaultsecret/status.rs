//! The status a `VaultSecret` or a store should show after a reconcile. A failure keeps what
//! the last success reported (refresh time, versions, Secret name): that Secret is still there.

use crate::controller::reason::Reason;
use crate::controller::status::ready_condition;
use crate::crd::{PathVersion, SecretStoreStatus, VaultSecretStatus};

/// What a `VaultSecret` reconcile ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultOutcome {
    pub reason: Reason,
    /// Safe to publish: names paths, properties and keys, never values.
    pub message: String,
    /// On success: the versions read and the Secret written.
    pub synced: Option<Synced>,
}

/// A successful refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub versions: Vec<PathVersion>,
    pub secret_name: String,
}

impl VaultOutcome {
    pub fn refused(reason: Reason, message: String) -> VaultOutcome {
        VaultOutcome { reason, message, synced: None }
    }
}

/// The status after `outcome`; `now` (RFC 3339) is the refresh time on success.
pub fn next_vault_status(
    current: Option<&VaultSecretStatus>,
    generation: Option<i64>,
    outcome: &VaultOutcome,
    now: &str,
) -> VaultSecretStatus {
    let previous = current.cloned().unwrap_or_default();
    let (last_refresh_time, versions, secret_name) = match &outcome.synced {
        Some(s) => (Some(now.to_owned()), s.versions.clone(), Some(s.secret_name.clone())),
        None => (previous.last_refresh_time, previous.versions, previous.secret_name),
    };
    VaultSecretStatus {
        observed_generation: generation,
        last_refresh_time,
        versions,
        secret_name,
        conditions: vec![ready_condition(
            &previous.conditions,
            outcome.reason == Reason::Synced,
            outcome.reason,
            &outcome.message,
            generation,
            now,
        )],
    }
}

/// A store's status after a check that ended with `reason`.
pub fn next_store_status(
    current: Option<&SecretStoreStatus>,
    generation: Option<i64>,
    reason: Reason,
    message: &str,
    now: &str,
) -> SecretStoreStatus {
    let previous = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    SecretStoreStatus {
        observed_generation: generation,
        conditions: vec![ready_condition(
            previous,
            reason == Reason::Valid,
            reason,
            message,
            generation,
            now,
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced() -> VaultOutcome {
        VaultOutcome {
            reason: Reason::Synced,
            message: "Secret db holds 2 key(s)".into(),
            synced: Some(Synced {
                versions: vec![PathVersion { path: "app/db".into(), version: Some(3) }],
                secret_name: "db".into(),
            }),
        }
    }

    #[test]
    fn a_sync_records_time_versions_and_ready() {
        let s = next_vault_status(None, Some(2), &synced(), "T1");
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.last_refresh_time.as_deref(), Some("T1"));
        assert_eq!(s.versions[0].version, Some(3));
        assert_eq!(s.secret_name.as_deref(), Some("db"));
        let c = &s.conditions[0];
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Synced"));
        assert_eq!(c.last_transition_time.as_deref(), Some("T1"));
    }

    #[test]
    fn a_failure_keeps_the_last_good_refresh_and_flips_ready() {
        let good = next_vault_status(None, Some(2), &synced(), "T1");
        let down = VaultOutcome::refused(Reason::VaultUnavailable, "Vault is down".into());
        let s = next_vault_status(Some(&good), Some(2), &down, "T2");
        assert_eq!(s.last_refresh_time.as_deref(), Some("T1"), "kept");
        assert_eq!(s.versions, good.versions, "kept");
        assert_eq!(s.secret_name.as_deref(), Some("db"), "the Secret is still there");
        let c = &s.conditions[0];
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "VaultUnavailable"));
        assert_eq!(c.last_transition_time.as_deref(), Some("T2"));
        let again = next_vault_status(Some(&s), Some(2), &down, "T3");
        assert_eq!(again, s, "the same failure again is no status change");
        let back = next_vault_status(Some(&s), Some(2), &synced(), "T4");
        assert_eq!(back.conditions[0].status, "True");
        assert_eq!(back.last_refresh_time.as_deref(), Some("T4"));
    }

    #[test]
    fn store_status_is_ready_only_when_valid() {
        let ok = next_store_status(None, Some(1), Reason::Valid, "logged in", "T1");
        assert_eq!(ok.conditions[0].status, "True");
        let bad = next_store_status(Some(&ok), Some(1), Reason::AuthFailed, "denied", "T2");
        assert_eq!(bad.conditions[0].status, "False");
        assert_eq!(bad.conditions[0].reason, "AuthFailed");
        assert_eq!(next_store_status(Some(&bad), Some(1), Reason::AuthFailed, "denied", "T3"), bad);
    }
}
