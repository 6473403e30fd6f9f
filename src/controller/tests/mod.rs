//! The reconciler against a mocked apiserver: each scenario asserts the exact requests made.

pub(crate) mod audit;
mod fixtures;
mod vault;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use self::fixtures::{Harness, Router, TestKey, sealed_object, status_body};
use super::reconcile::reconcile;
use crate::crd::EncryptedSecret;
use crate::seal::Scope;

const SECRET_PATH: &str = "/api/v1/namespaces/payments/secrets/db-creds";
const STATUS_PATH: &str =
    "/apis/sealgate.dev/v1alpha1/namespaces/payments/encryptedsecrets/db-creds/status";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/payments/events";

/// An apiserver with no Secret `db-creds` yet: GET is 404, apply creates it.
fn fresh_cluster() -> Router {
    Box::new(|method, path, body| match (method, path) {
        ("GET", SECRET_PATH) => {
            (404, status_body(404, "NotFound", "secrets \"db-creds\" not found"))
        }
        ("PATCH", SECRET_PATH) => {
            let mut stored = body.clone();
            stored["metadata"]["resourceVersion"] = json!("501");
            (200, stored)
        }
        ("PATCH", STATUS_PATH) => (200, stored_object()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", &format!("unexpected {method} {path}"))),
    })
}

/// What the apiserver answers to a status patch (the controller only needs it to parse).
fn stored_object() -> Value {
    json!({"apiVersion": "sealgate.dev/v1alpha1", "kind": "EncryptedSecret",
           "metadata": {"name": "db-creds", "namespace": "payments"},
           "spec": {"binding": "ENC[AES256_GCM,data:YQ==,iv:YQ==,tag:YQ==,type:str]", "scope": "strict"},
           "sops": {}})
}

fn decoded(body: &Value, key: &str) -> Vec<u8> {
    STANDARD.decode(body["data"][key].as_str().unwrap()).unwrap()
}

fn status_patch(h: &Harness) -> Value {
    let seen = h.requests();
    let patch = seen.iter().find(|s| s.line() == format!("PATCH {STATUS_PATH}")).unwrap();
    patch.body["status"].clone()
}

#[tokio::test]
async fn materializes_the_secret_with_one_apply_then_status_and_event() {
    let key = TestKey::generate();
    let h = Harness::new(key.keyring(), fresh_cluster());
    let es = Arc::new(sealed_object(&key, "payments", Scope::Strict));

    let action = reconcile(es, h.ctx.clone()).await.unwrap();

    assert_eq!(action, Action::await_change());
    assert_eq!(
        h.lines(),
        [
            format!("GET {SECRET_PATH}"),
            format!("PATCH {SECRET_PATH}"),
            format!("PATCH {STATUS_PATH}"),
            format!("POST {EVENTS_PATH}"),
        ]
    );
    let seen = h.requests();
    let apply = &seen[1];
    assert!(apply.uri.contains("fieldManager=sealgate-controller"), "{}", apply.uri);
    assert!(apply.uri.contains("force=true"), "{}", apply.uri);
    let body = &apply.body;
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["kind"], "Secret");
    assert_eq!(body["type"], "kubernetes.io/basic-auth");
    assert_eq!(body["metadata"]["name"], "db-creds");
    assert_eq!(body["metadata"]["namespace"], "payments");
    assert_eq!(body["metadata"]["labels"]["app"], "db");
    assert_eq!(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "sealgate");
    assert_eq!(body["metadata"]["annotations"]["team"], "storage");
    let owner = &body["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "EncryptedSecret");
    assert_eq!(owner["apiVersion"], "sealgate.dev/v1alpha1");
    assert_eq!(owner["uid"], "uid-1");
    assert_eq!(owner["controller"], true);
    assert_eq!(decoded(body, "password"), b"hunter2");
    assert_eq!(decoded(body, "username"), b"admin");
    assert_eq!(body["data"].as_object().unwrap().len(), 2);
    assert!(body.get("stringData").is_none());

    let status = status_patch(&h);
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["keyId"], key.recipient.as_str());
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][0]["reason"], "Materialized");
    let event = &seen[3].body;
    assert_eq!(event["reason"], "Materialized");
    assert_eq!(event["type"], "Normal");
}

#[tokio::test]
async fn a_second_reconcile_with_nothing_changed_makes_no_request() {
    let key = TestKey::generate();
    let mut h = Harness::new(key.keyring(), fresh_cluster());
    let es = sealed_object(&key, "payments", Scope::Strict);
    reconcile(Arc::new(es.clone()), h.ctx.clone()).await.unwrap();
    let first = h.requests().len();
    // The label watch now reports the Secret as stored, and the status as written.
    h.cache_owned(owned_meta("501"));
    let mut again = es.clone();
    let status: crate::crd::EncryptedSecretStatus =
        serde_json::from_value(status_patch(&h)).unwrap();
    again.status = Some(status);

    reconcile(Arc::new(again), h.ctx.clone()).await.unwrap();

    assert_eq!(h.requests().len(), first, "in sync: {:?}", &h.lines()[first..]);
}

fn owned_meta(resource_version: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some("db-creds".into()),
        namespace: Some("payments".into()),
        resource_version: Some(resource_version.into()),
        owner_references: Some(vec![OwnerReference {
            api_version: "sealgate.dev/v1alpha1".into(),
            kind: "EncryptedSecret".into(),
            name: "db-creds".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..ObjectMeta::default()
    }
}

#[tokio::test]
async fn drift_is_repaired_by_applying_again() {
    let key = TestKey::generate();
    let mut h = Harness::new(key.keyring(), fresh_cluster());
    let es = sealed_object(&key, "payments", Scope::Strict);
    reconcile(Arc::new(es.clone()), h.ctx.clone()).await.unwrap();
    let first = h.requests().len();
    // Someone edited the Secret: its version moved past the one the controller wrote.
    h.cache_owned(owned_meta("777"));

    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    let after: Vec<String> = h.lines()[first..].to_vec();
    assert_eq!(after[0], format!("PATCH {SECRET_PATH}"), "{after:?}");
    assert_eq!(decoded(&h.requests()[first].body, "password"), b"hunter2");
}

#[tokio::test]
async fn a_key_added_by_hand_is_removed_by_replacing_the_secret() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("PUT", SECRET_PATH) => (200, body.clone()),
        ("PATCH", STATUS_PATH) => (200, stored_object()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let mut h = Harness::new(key.keyring(), router);
    let es = sealed_object(&key, "payments", Scope::Strict);
    // The watch reports the Secret with a value owned by `kubectl edit`.
    let mut meta = owned_meta("600");
    meta.managed_fields =
        Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
            manager: Some("kubectl-edit".into()),
            operation: Some("Update".into()),
            fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
                json!({"f:data": {"f:extra": {}}}),
            )),
            ..Default::default()
        }]);
    h.cache_owned(meta);

    let result = reconcile(Arc::new(es), h.ctx.clone()).await;
    assert!(result.is_ok(), "{result:?}: {:?}", h.lines());

    assert_eq!(h.lines()[0], format!("PUT {SECRET_PATH}"));
    let put = &h.requests()[0];
    let keys: Vec<&String> = put.body["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["password", "username"], "only the sealed keys");
}

#[tokio::test]
async fn a_deleted_secret_is_recreated() {
    let key = TestKey::generate();
    let h = Harness::new(key.keyring(), fresh_cluster());
    let es = sealed_object(&key, "payments", Scope::Strict);
    reconcile(Arc::new(es.clone()), h.ctx.clone()).await.unwrap();
    let first = h.requests().len();
    // Not in the cache (deleted): the controller asks, finds nothing, applies.
    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();
    assert_eq!(
        h.lines()[first..first + 2],
        [format!("GET {SECRET_PATH}"), format!("PATCH {SECRET_PATH}")]
    );
}

#[tokio::test]
async fn a_file_moved_to_another_namespace_is_refused_without_any_secret_request() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("PATCH", p) if p.ends_with("/status") => (200, stored_object()),
        ("POST", p) if p.ends_with("/events") => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let h = Harness::new(key.keyring(), router);
    // Sealed for "payments", applied in "attacker".
    let mut es = sealed_object(&key, "payments", Scope::Strict);
    es.metadata.namespace = Some("attacker".into());

    let action = reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert_eq!(action, Action::await_change(), "a permanent refusal is not retried");
    let lines = h.lines();
    assert!(lines.iter().all(|l| !l.contains("/secrets/")), "{lines:?}");
    assert_eq!(
        lines,
        [
            "PATCH /apis/sealgate.dev/v1alpha1/namespaces/attacker/encryptedsecrets/db-creds/status",
            "POST /apis/events.k8s.io/v1/namespaces/attacker/events",
        ]
    );
    let status = &h.requests()[0].body["status"];
    assert_eq!(status["conditions"][0]["reason"], "BindingMismatch");
    assert_eq!(status["conditions"][0]["status"], "False");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("seal the Secret again"), "{message}");
    assert!(
        !message.contains("payments/db-creds"),
        "the decrypted binding stays secret: {message}"
    );
    assert_eq!(h.requests()[1].body["type"], "Warning");
}

#[tokio::test]
async fn swapped_values_fail_the_mac_and_nothing_is_written() {
    let key = TestKey::generate();
    let h = Harness::new(key.keyring(), fresh_cluster());
    let mut es = sealed_object(&key, "payments", Scope::Strict);
    // Swap the ciphertexts of two values: each still authenticates under its own path? No:
    // the AAD is the path, so move one value under another key name instead.
    let spec = &mut es.spec.spec;
    let password = spec.data.as_mut().unwrap().remove("password").unwrap();
    spec.data.as_mut().unwrap().insert("zzz".into(), password);

    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert_eq!(h.lines(), [format!("PATCH {STATUS_PATH}"), format!("POST {EVENTS_PATH}")]);
    let status = status_patch(&h);
    let reason = status["conditions"][0]["reason"].as_str().unwrap();
    assert!(reason == "DecryptFailed" || reason == "MacMismatch", "{reason}");
    assert!(!status["conditions"][0]["message"].as_str().unwrap().contains("hunter2"));
}

#[tokio::test]
async fn a_removed_value_fails_the_mac_and_nothing_is_written() {
    let key = TestKey::generate();
    let h = Harness::new(key.keyring(), fresh_cluster());
    let mut es = sealed_object(&key, "payments", Scope::Strict);
    es.spec.spec.string_data.as_mut().unwrap().clear();

    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert_eq!(h.lines(), [format!("PATCH {STATUS_PATH}"), format!("POST {EVENTS_PATH}")]);
    assert_eq!(status_patch(&h)["conditions"][0]["reason"], "MacMismatch");
}

#[tokio::test]
async fn an_unowned_secret_is_not_touched() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("GET", SECRET_PATH) => (
            200,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": "db-creds", "namespace": "payments", "resourceVersion": "9"}}),
        ),
        ("PATCH", STATUS_PATH) => (200, stored_object()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let h = Harness::new(key.keyring(), router);
    let es = sealed_object(&key, "payments", Scope::Strict);

    let action = reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert!(matches!(action, a if a != Action::await_change()), "rechecked later");
    assert_eq!(
        h.lines(),
        [
            format!("GET {SECRET_PATH}"),
            format!("PATCH {STATUS_PATH}"),
            format!("POST {EVENTS_PATH}")
        ]
    );
    let status = status_patch(&h);
    assert_eq!(status["conditions"][0]["reason"], "SecretConflict");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("sealgate.dev/adopt"), "{message}");
}

#[tokio::test]
async fn an_unowned_secret_is_taken_over_with_the_opt_in_annotation() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("GET", SECRET_PATH) => (
            200,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": "db-creds", "namespace": "payments", "resourceVersion": "9"}}),
        ),
        ("PUT", SECRET_PATH) => (200, body.clone()),
        ("PATCH", STATUS_PATH) => (200, stored_object()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let h = Harness::new(key.keyring(), router);
    let mut es = sealed_object(&key, "payments", Scope::Strict);
    es.metadata.annotations =
        Some([("sealgate.dev/adopt".to_owned(), "true".to_owned())].into_iter().collect());

    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    // Taken over whole (a replace), so nothing of the old Secret's values survives.
    assert_eq!(h.lines()[..2], [format!("GET {SECRET_PATH}"), format!("PUT {SECRET_PATH}")]);
    let put = &h.requests()[1];
    assert!(put.uri.contains("fieldManager=sealgate-controller"), "{}", put.uri);
    assert_eq!(decoded(&put.body, "password"), b"hunter2");
    assert_eq!(put.body["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    assert_eq!(status_patch(&h)["conditions"][0]["reason"], "Materialized");
}

#[tokio::test]
async fn no_matching_key_is_reported_and_rechecked_later() {
    let sealer = TestKey::generate();
    let other = TestKey::generate();
    let h = Harness::new(other.keyring(), fresh_cluster());
    let es = sealed_object(&sealer, "payments", Scope::Strict);

    let action = reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert_ne!(action, Action::await_change());
    assert_eq!(h.lines(), [format!("PATCH {STATUS_PATH}"), format!("POST {EVENTS_PATH}")]);
    let status = status_patch(&h);
    assert_eq!(status["conditions"][0]["reason"], "NoMatchingKey");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(!message.contains("AGE-SECRET-KEY"), "{message}");
}

#[tokio::test]
async fn an_apiserver_failure_is_a_retryable_error_and_no_status_is_written() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, _| match (method, path) {
        ("GET", SECRET_PATH) => (404, status_body(404, "NotFound", "not found")),
        ("PATCH", SECRET_PATH) => (503, status_body(503, "ServiceUnavailable", "etcd is down")),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let h = Harness::new(key.keyring(), router);
    let es: EncryptedSecret = sealed_object(&key, "payments", Scope::Strict);

    let err = reconcile(Arc::new(es), h.ctx.clone()).await.unwrap_err();

    assert!(err.to_string().contains("etcd is down"), "{err}");
    assert_eq!(h.lines(), [format!("GET {SECRET_PATH}"), format!("PATCH {SECRET_PATH}")]);
}

#[tokio::test]
async fn a_service_account_token_template_is_refused_without_a_write() {
    let key = TestKey::generate();
    let h = Harness::new(key.keyring(), fresh_cluster());
    let mut es = sealed_object(&key, "payments", Scope::Strict);
    // The template is outside the MAC: anyone who may edit the object may change it.
    es.spec.spec.template.as_mut().unwrap().secret_type =
        Some("kubernetes.io/service-account-token".into());

    reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert_eq!(h.lines(), [format!("PATCH {STATUS_PATH}"), format!("POST {EVENTS_PATH}")]);
    let status = status_patch(&h);
    assert_eq!(status["conditions"][0]["reason"], "InvalidSpec");
    assert!(status["conditions"][0]["message"].as_str().unwrap().contains("service-account-token"));
}

#[tokio::test]
async fn an_apply_the_apiserver_calls_invalid_is_a_refusal_not_a_retry_loop() {
    let key = TestKey::generate();
    let router: Router = Box::new(|method, path, body| match (method, path) {
        ("GET", SECRET_PATH) => (404, status_body(404, "NotFound", "not found")),
        ("PATCH", SECRET_PATH) => (
            422,
            status_body(
                422,
                "Invalid",
                "Secret \"db-creds\" is invalid: data: Forbidden: field is immutable when `immutable` is set",
            ),
        ),
        ("PATCH", STATUS_PATH) => (200, stored_object()),
        ("POST", EVENTS_PATH) => (201, body.clone()),
        _ => (500, status_body(500, "InternalError", "unexpected")),
    });
    let h = Harness::new(key.keyring(), router);
    let es = sealed_object(&key, "payments", Scope::Strict);

    let action = reconcile(Arc::new(es), h.ctx.clone()).await.unwrap();

    assert_eq!(action, Action::await_change());
    let status = status_patch(&h);
    assert_eq!(status["conditions"][0]["reason"], "InvalidSpec");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(message.contains("immutable"), "{message}");
}
