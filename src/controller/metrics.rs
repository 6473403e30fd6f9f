//! The controller's Prometheus metrics, kept in atomics and rendered as text. Labels are
//! reasons and outcomes only: never object names with values, never keys.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::histogram::Histogram;
use super::reason::Reason;
use crate::vault::PoolStats;

/// The kinds whose reconciles are timed (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EncryptedSecret = 0,
    VaultSecret = 1,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EncryptedSecret => "EncryptedSecret",
            Kind::VaultSecret => "VaultSecret",
        }
    }
}

/// Counters and gauges, shared by all reconciles.
#[derive(Debug, Default)]
pub struct Metrics {
    by_reason: [AtomicU64; Reason::ALL.len()],
    failures: AtomicU64,
    secrets_written: AtomicU64,
    /// Reconcile durations: `EncryptedSecret`, `VaultSecret`.
    durations: [Histogram; 2],
    identities: AtomicU64,
    leader: AtomicU64,
    vault_by_reason: [AtomicU64; Reason::VAULT_SECRET.len()],
    store_checks: [AtomicU64; Reason::STORE.len()],
    /// The Vault pool's counters, as last copied from it.
    vault_logins: AtomicU64,
    vault_renewals: AtomicU64,
    vault_reads: AtomicU64,
    vault_failed_requests: AtomicU64,
    /// The audit trail, when on: its written and failed line counts.
    audit: std::sync::OnceLock<std::sync::Arc<super::audit::ControllerAudit>>,
    /// Webhook decisions: `[handler][result]`, results as in [`WEBHOOK_RESULTS`].
    webhook: [[AtomicU64; WEBHOOK_RESULTS.len()]; WebhookHandler::ALL.len()],
}

/// The admission webhook's handlers (the `handler` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookHandler {
    Secrets,
    EncryptedSecrets,
}

impl WebhookHandler {
    pub const ALL: [WebhookHandler; 2] =
        [WebhookHandler::Secrets, WebhookHandler::EncryptedSecrets];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookHandler::Secrets => "secrets",
            WebhookHandler::EncryptedSecrets => "encryptedsecrets",
        }
    }
}

/// The `result` label of webhook decisions: allowed, denied, or a request that was no review.
pub const WEBHOOK_RESULTS: [&str; 3] = ["allowed", "denied", "invalid"];

impl Metrics {
    /// Reports the audit trail's counters from now on.
    pub fn watch_audit(&self, audit: std::sync::Arc<super::audit::ControllerAudit>) {
        let _ = self.audit.set(audit);
    }

    /// A reconcile that ended with `reason` (a refusal is an outcome, not a failure).
    pub fn reconciled(&self, reason: Reason, took: Duration) {
        let i = Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.by_reason[i].fetch_add(1, Ordering::Relaxed);
        self.timed(Kind::EncryptedSecret, took);
    }

    /// A reconcile that failed for a transient reason and will be retried.
    pub fn failed(&self, kind: Kind, took: Duration) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.timed(kind, took);
    }

    /// A `VaultSecret` reconcile that ended with `reason`.
    pub fn vault_reconciled(&self, reason: Reason, took: Duration) {
        if let Some(i) = Reason::VAULT_SECRET.iter().position(|r| *r == reason) {
            self.vault_by_reason[i].fetch_add(1, Ordering::Relaxed);
        }
        self.timed(Kind::VaultSecret, took);
    }

    /// A store login check that ended with `reason`.
    pub fn store_checked(&self, reason: Reason) {
        if let Some(i) = Reason::STORE.iter().position(|r| *r == reason) {
            self.store_checks[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Copies the Vault pool's counters (they only grow).
    pub fn set_vault_stats(&self, stats: PoolStats) {
        self.vault_logins.store(stats.logins, Ordering::Relaxed);
        self.vault_renewals.store(stats.renewals, Ordering::Relaxed);
        self.vault_reads.store(stats.reads, Ordering::Relaxed);
        self.vault_failed_requests.store(stats.failed_requests, Ordering::Relaxed);
    }

    /// A webhook decision: `Some(allowed)`, or `None` for a malformed review.
    pub fn webhook_decided(&self, handler: WebhookHandler, allowed: Option<bool>) {
        let result = match allowed {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        self.webhook[handler as usize][result].fetch_add(1, Ordering::Relaxed);
    }

    pub fn secret_written(&self) {
        self.secrets_written.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_identities(&self, n: usize) {
        self.identities.store(n as u64, Ordering::Relaxed);
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.store(u64::from(leader), Ordering::Relaxed);
    }

    fn timed(&self, kind: Kind, took: Duration) {
        self.durations[kind as usize].observe(took);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP sealgate_reconciles_total Reconciles by outcome reason.\n");
        out.push_str("# TYPE sealgate_reconciles_total counter\n");
        for (reason, n) in Reason::ALL.iter().zip(&self.by_reason) {
            let _ = writeln!(out, "sealgate_reconciles_total{{reason=\"{reason}\"}} {}", get(n));
        }
        out.push_str(
            "# HELP sealgate_vaultsecret_reconciles_total VaultSecret reconciles by outcome reason.\n\
             # TYPE sealgate_vaultsecret_reconciles_total counter\n",
        );
        for (reason, n) in Reason::VAULT_SECRET.iter().zip(&self.vault_by_reason) {
            let _ = writeln!(
                out,
                "sealgate_vaultsecret_reconciles_total{{reason=\"{reason}\"}} {}",
                get(n)
            );
        }
        out.push_str(
            "# HELP sealgate_store_checks_total Store login checks by outcome reason.\n\
             # TYPE sealgate_store_checks_total counter\n",
        );
        for (reason, n) in Reason::STORE.iter().zip(&self.store_checks) {
            let _ = writeln!(out, "sealgate_store_checks_total{{reason=\"{reason}\"}} {}", get(n));
        }
        out.push_str(
            "# HELP sealgate_webhook_decisions_total Admission webhook decisions by handler and result.\n\
             # TYPE sealgate_webhook_decisions_total counter\n",
        );
        for (handler, counts) in WebhookHandler::ALL.iter().zip(&self.webhook) {
            for (result, n) in WEBHOOK_RESULTS.iter().zip(counts) {
                let _ = writeln!(
                    out,
                    "sealgate_webhook_decisions_total{{handler=\"{}\",result=\"{result}\"}} {}",
                    handler.as_str(),
                    get(n)
                );
            }
        }
        let simple = [
            (
                "sealgate_reconcile_failures_total",
                "counter",
                "Reconciles that failed transiently and were retried.",
                get(&self.failures),
            ),
            (
                "sealgate_secrets_written_total",
                "counter",
                "Secrets applied to the apiserver.",
                get(&self.secrets_written),
            ),
            (
                "sealgate_keyring_identities",
                "gauge",
                "Age identities the controller can decrypt with.",
                get(&self.identities),
            ),
            (
                "sealgate_vault_logins_total",
                "counter",
                "Vault logins (one per auth identity per token lifetime).",
                get(&self.vault_logins),
            ),
            (
                "sealgate_vault_renewals_total",
                "counter",
                "Vault token renewals.",
                get(&self.vault_renewals),
            ),
            (
                "sealgate_vault_reads_total",
                "counter",
                "KV reads sent to Vault (shared reads count once).",
                get(&self.vault_reads),
            ),
            (
                "sealgate_vault_failed_requests_total",
                "counter",
                "Vault requests that failed.",
                get(&self.vault_failed_requests),
            ),
            (
                "sealgate_leader",
                "gauge",
                "1 while this replica holds the leader lease.",
                get(&self.leader),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        if let Some(audit) = self.audit.get() {
            let stats = audit.auditor().stats();
            let _ = writeln!(
                out,
                "# HELP sealgate_audit_events_written_total Audit lines the sinks accepted.\n\
                 # TYPE sealgate_audit_events_written_total counter\n\
                 sealgate_audit_events_written_total {}\n\
                 # HELP sealgate_audit_sink_failures_total Audit lines a sink failed to write.\n\
                 # TYPE sealgate_audit_sink_failures_total counter\n\
                 sealgate_audit_sink_failures_total {}",
                stats.events_written(),
                stats.sink_failures()
            );
        }
        out.push_str(
            "# HELP sealgate_reconcile_duration_seconds Time per reconcile, by kind.\n\
             # TYPE sealgate_reconcile_duration_seconds histogram\n",
        );
        for kind in [Kind::EncryptedSecret, Kind::VaultSecret] {
            self.durations[kind as usize].render(
                &mut out,
                "sealgate_reconcile_duration_seconds",
                &format!("kind=\"{}\"", kind.as_str()),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_by_reason() {
        let m = Metrics::default();
        m.reconciled(Reason::Materialized, Duration::from_millis(2));
        m.reconciled(Reason::MacMismatch, Duration::from_millis(1));
        m.reconciled(Reason::MacMismatch, Duration::from_millis(1));
        m.failed(Kind::EncryptedSecret, Duration::from_millis(1));
        m.secret_written();
        m.set_leader(true);
        let text = m.render();
        assert!(text.contains("sealgate_reconciles_total{reason=\"Materialized\"} 1\n"), "{text}");
        assert!(text.contains("sealgate_reconciles_total{reason=\"MacMismatch\"} 2\n"), "{text}");
        assert!(text.contains("sealgate_reconcile_failures_total 1\n"), "{text}");
        assert!(text.contains("sealgate_secrets_written_total 1\n"), "{text}");
        assert!(
            text.contains(
                "sealgate_reconcile_duration_seconds_count{kind=\"EncryptedSecret\"} 4\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("sealgate_reconcile_duration_seconds_count{kind=\"VaultSecret\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE sealgate_reconcile_duration_seconds histogram\n"), "{text}");
        assert!(text.contains("sealgate_leader 1\n"), "{text}");
    }

    #[test]
    fn vault_outcomes_and_pool_counters_show_up() {
        let m = Metrics::default();
        m.vault_reconciled(Reason::Synced, Duration::from_millis(1));
        m.vault_reconciled(Reason::VaultUnavailable, Duration::from_millis(1));
        m.vault_reconciled(Reason::VaultUnavailable, Duration::from_millis(1));
        m.store_checked(Reason::AuthFailed);
        m.set_vault_stats(PoolStats { logins: 2, renewals: 5, reads: 50, failed_requests: 1 });
        let text = m.render();
        for line in [
            "sealgate_vaultsecret_reconciles_total{reason=\"Synced\"} 1\n",
            "sealgate_vaultsecret_reconciles_total{reason=\"VaultUnavailable\"} 2\n",
            "sealgate_vaultsecret_reconciles_total{reason=\"StoreNotAllowed\"} 0\n",
            "sealgate_store_checks_total{reason=\"AuthFailed\"} 1\n",
            "sealgate_vault_logins_total 2\n",
            "sealgate_vault_renewals_total 5\n",
            "sealgate_vault_reads_total 50\n",
            "sealgate_vault_failed_requests_total 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("sealgate_reconciles_total{reason=\"Synced\"}"), "kinds apart");
    }

    #[test]
    fn webhook_decisions_by_handler_and_result() {
        let m = Metrics::default();
        m.webhook_decided(WebhookHandler::Secrets, Some(false));
        m.webhook_decided(WebhookHandler::Secrets, Some(false));
        m.webhook_decided(WebhookHandler::EncryptedSecrets, Some(true));
        m.webhook_decided(WebhookHandler::EncryptedSecrets, None);
        let text = m.render();
        for line in [
            "sealgate_webhook_decisions_total{handler=\"secrets\",result=\"denied\"} 2\n",
            "sealgate_webhook_decisions_total{handler=\"secrets\",result=\"allowed\"} 0\n",
            "sealgate_webhook_decisions_total{handler=\"encryptedsecrets\",result=\"allowed\"} 1\n",
            "sealgate_webhook_decisions_total{handler=\"encryptedsecrets\",result=\"invalid\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
