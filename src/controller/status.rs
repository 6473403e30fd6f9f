//! The status an `EncryptedSecret` should show after a reconcile, and whether it changed.

use crate::crd::{Condition, EncryptedSecretStatus};

use super::reason::Reason;

/// The `type` of the one condition sealgate resources carry.
pub const READY: &str = "Ready";

/// What a reconcile ended with, as the status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub reason: Reason,
    /// Safe to publish: names fields and keys, never values.
    pub message: String,
    /// The public key that unwrapped the data key, when one did.
    pub key_id: Option<String>,
    /// The Secret written, on success.
    pub secret_name: Option<String>,
}

/// The status after `outcome`. `lastTransitionTime` moves only when `Ready` flips; `now` is an
/// RFC 3339 timestamp.
pub fn next_status(
    current: Option<&EncryptedSecretStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    now: &str,
) -> EncryptedSecretStatus {
    let ready = outcome.reason == Reason::Materialized;
    let previous = current.map(|s| s.conditions.as_slice()).unwrap_or_default();
    EncryptedSecretStatus {
        observed_generation: generation,
        key_id: outcome.key_id.clone(),
        secret_name: outcome.secret_name.clone(),
        conditions: vec![ready_condition(
            previous,
            ready,
            outcome.reason,
            &outcome.message,
            generation,
            now,
        )],
    }
}

/// The `Ready` condition of any sealgate resource after an outcome. `lastTransitionTime`
/// moves only when `Ready` flips; `now` is an RFC 3339 timestamp.
pub fn ready_condition(
    previous: &[Condition],
    ready: bool,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    let status = if ready { "True" } else { "False" };
    let last_transition_time = match previous.iter().find(|c| c.type_ == READY) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(now.to_owned()),
    };
    Condition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: reason.as_str().to_owned(),
        message: message.to_owned(),
        last_transition_time,
        observed_generation: generation,
    }
}

/// The `Ready` reason among `conditions`, if any (to emit an Event only when it changes).
pub fn ready_reason(conditions: &[Condition]) -> Option<&str> {
    conditions.iter().find(|c| c.type_ == READY).map(|c| c.reason.as_str())
}

/// The reason the current status shows, if any (to emit an Event only when it changes).
pub fn current_reason(current: Option<&EncryptedSecretStatus>) -> Option<&str> {
    current?.conditions.iter().find(|c| c.type_ == READY).map(|c| c.reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(reason: Reason) -> Outcome {
        Outcome {
            reason,
            message: format!("{reason} happened"),
            key_id: Some("age1xyz".into()),
            secret_name: None,
        }
    }

    #[test]
    fn success_is_ready_true_with_the_generation() {
        let s = next_status(None, Some(3), &outcome(Reason::Materialized), "T1");
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.key_id.as_deref(), Some("age1xyz"));
        let c = &s.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Ready", "True"));
        assert_eq!(c.reason, "Materialized");
        assert_eq!(c.last_transition_time.as_deref(), Some("T1"));
        assert_eq!(current_reason(Some(&s)), Some("Materialized"));
    }

    #[test]
    fn transition_time_moves_only_when_ready_flips() {
        let first = next_status(None, Some(1), &outcome(Reason::MacMismatch), "T1");
        let same = next_status(Some(&first), Some(2), &outcome(Reason::BindingMismatch), "T2");
        assert_eq!(same.conditions[0].status, "False");
        assert_eq!(same.conditions[0].last_transition_time.as_deref(), Some("T1"));
        assert_eq!(same.conditions[0].reason, "BindingMismatch");
        let flipped = next_status(Some(&same), Some(3), &outcome(Reason::Materialized), "T3");
        assert_eq!(flipped.conditions[0].last_transition_time.as_deref(), Some("T3"));
    }

    #[test]
    fn an_unchanged_outcome_gives_an_equal_status() {
        let first = next_status(None, Some(1), &outcome(Reason::Materialized), "T1");
        let again = next_status(Some(&first), Some(1), &outcome(Reason::Materialized), "T9");
        assert_eq!(first, again, "an equal status means no status write");
    }
}
