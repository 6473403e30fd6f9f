//! The audit trail of the reconcilers: each access is exactly one event, the chain verifies,
//! and no value reaches it.

use std::sync::Arc;

use super::fixtures::{Harness, Router, TestKey, sealed_object, status_body};
use super::{fresh_cluster, stored_object};
use crate::audit::verify::Verifier;
use crate::audit::{Actor, AuditError, AuditSink, Fingerprinter, Line, MemorySink};
use crate::controller::audit::ControllerAudit;
use crate::controller::reconcile::reconcile;
use crate::seal::Scope;

/// A sink the test can read while the auditor owns the other end.
pub(super) struct SharedSink(pub Arc<MemorySink>);

impl AuditSink for SharedSink {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError> {
        self.0.write_line(line)
    }
}

pub(super) fn audit() -> (Arc<ControllerAudit>, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let fingerprinter = Fingerprinter::new(&[7u8; 32]).unwrap();
    let actor = Actor::Controller {
        identity: "sealgate-system/sealgate-controller".into(),
        replica: "test".into(),
    };
    let audit =
        ControllerAudit::new(Box::new(SharedSink(sink.clone())), fingerprinter, actor).unwrap();
    (Arc::new(audit), sink)
}

/// The actions recorded after the start anchor, as `action:result[:reason]`.
pub(super) fn actions(sink: &MemorySink) -> Vec<String> {
    sink.lines()
        .iter()
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("action").is_some())
        .map(|v| {
            let mut s = format!(
                "{}:{}",
                v["action"].as_str().unwrap(),
                v["outcome"]["result"].as_str().unwrap_or("?")
            );
            if let Some(r) = v["outcome"]["reason"].as_str() {
                s.push(':');
                s.push_str(r);
            }
            s
        })
        .collect()
}

pub(super) fn verifies(sink: &MemorySink) {
    let mut v = Verifier::new();
    v.feed("memory", sink.contents().as_slice()).unwrap();
    v.finish(None).unwrap();
}

#[tokio::test]
async fn a_materialize_is_one_unwrap_one_decrypt_one_write_and_an_unchanged_one_no_write() {
    let key = TestKey::generate();
    let (audit, sink) = audit();
    let h = Harness::new(key.keyring(), fresh_cluster()).with_audit(audit);
    let es = Arc::new(sealed_object(&key, "payments", Scope::Strict));

    reconcile(es.clone(), h.ctx.clone()).await.unwrap();
    assert_eq!(actions(&sink), ["unwrap:success", "decrypt:success", "secretWrite:success"]);
    let lines = sink.lines();
    let write: serde_json::Value = serde_json::from_slice(lines.last().unwrap()).unwrap();
    assert_eq!(write["object"]["kind"], "EncryptedSecret");
    assert_eq!(write["object"]["name"], "db-creds");
    assert_eq!(write["keys"], serde_json::json!(["password", "username"]));
    assert!(write["fingerprint"].as_str().is_some_and(|f| !f.is_empty()));
    let unwrap: serde_json::Value = serde_json::from_slice(&lines[1]).unwrap();
    assert_eq!(unwrap["keyId"], key.recipient.as_str());
    let text = String::from_utf8(sink.contents()).unwrap();
    assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg"), "no value in the trail");
    verifies(&sink);
}

#[tokio::test]
async fn a_refusal_is_one_refusal_event_with_its_reason() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("PATCH", p) if p.ends_with("/status") => (200, stored_object()),
        ("POST", p) if p.ends_with("/events") => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let (audit, sink) = audit();
    let h = Harness::new(key.keyring(), router).with_audit(audit);
    let mut es = sealed_object(&key, "payments", Scope::Strict);
    es.metadata.namespace = Some("attacker".into());

    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();
    assert_eq!(actions(&sink), ["refusal:refused:BindingMismatch"]);
    verifies(&sink);
}

#[tokio::test]
async fn a_failing_sink_is_counted_and_does_not_stop_the_write() {
    let key = TestKey::generate();
    let (audit, sink) = audit();
    sink.set_failing(true);
    let h = Harness::new(key.keyring(), fresh_cluster()).with_audit(audit.clone());
    reconcile(Arc::new(sealed_object(&key, "payments", Scope::Strict)), h.ctx.clone())
        .await
        .unwrap();
    assert!(h.lines().iter().any(|l| l.starts_with("PATCH /api/v1/namespaces/payments/secrets/")));
    assert_eq!(audit.auditor().stats().sink_failures(), 3, "unwrap, decrypt, write: each counted");
    h.ctx.metrics.watch_audit(audit);
    assert!(h.ctx.metrics.render().contains("sealgate_audit_sink_failures_total 3\n"));
}

/// Every metric the Grafana dashboard in deploy/ queries is one the controller exports (with
/// the audit trail on), so a renamed metric cannot silently empty a panel.
#[test]
fn the_dashboard_only_queries_metrics_the_controller_exports() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../deploy/grafana/sealgate-dashboard.json"))
            .expect("the dashboard is JSON");
    let metrics = crate::controller::metrics::Metrics::default();
    let (audit, _sink) = audit();
    metrics.watch_audit(audit);
    let exported = metrics.render();
    let names = regex::Regex::new(r"sealgate_[a-z_]+").unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in names.find_iter(expr) {
                let name = name.as_str();
                let series = [name, &format!("{name}{{"), &format!("{name} ")];
                assert!(
                    exported
                        .lines()
                        .any(|l| !l.starts_with('#') && series.iter().any(|s| l.starts_with(s))),
                    "panel {:?} queries {name}, which /metrics does not export",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 14, "{checked}");
}
