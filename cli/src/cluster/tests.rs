//! `recipients.txt` parsing, the error messages, and the ConfigMap read against a mocked
//! apiserver.

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

const NEW: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";
const OLD: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const OBJECT: &str = "ConfigMap sealgate-system/sealgate-recipients";

#[test]
fn the_newest_recipient_is_the_first_line() {
    let text = format!("{NEW}\n{OLD}\n");
    assert_eq!(newest_in(&text, OBJECT).unwrap(), NEW);
    let commented = format!("# published by sealgate\n\n  {NEW}  \n{OLD}\n");
    assert_eq!(newest_in(&commented, OBJECT).unwrap(), NEW);
}

#[test]
fn an_empty_or_malformed_list_is_a_clear_error() {
    for text in ["", "\n\n", "# nothing yet\n"] {
        let e = newest_in(text, OBJECT).unwrap_err();
        assert_eq!(e.code, Code::NoEncryptionKey);
        assert_eq!(e.message, format!("the {OBJECT} has no recipient under recipients.txt"));
        assert!(e.hint.unwrap().contains("has not made its first key"));
    }
    let e = newest_in("age1notarecipient\n", OBJECT).unwrap_err();
    assert_eq!(e.code, Code::NoEncryptionKey);
    assert!(
        e.message.starts_with(&format!("the {OBJECT} holds a malformed recipient")),
        "{}",
        e.message
    );
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// Runs `fetch_newest` against one canned answer; checks the request it made.
async fn fetch_with(code: u16, answer: Value) -> CliResult<String> {
    let (svc, mut handle): (_, Handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let (request, respond) = handle.next_request().await.expect("a request");
        assert_eq!(request.method(), Method::GET);
        assert_eq!(
            request.uri().path(),
            "/api/v1/namespaces/sealgate-system/configmaps/sealgate-recipients"
        );
        respond.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap(),
        );
    });
    let source = ClusterSource { namespace: "sealgate-system", context: None };
    let result = fetch_newest(Client::new(svc, "default"), &source).await;
    server.await.unwrap();
    result
}

fn status(code: u16, reason: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "message": format!("configmaps \"sealgate-recipients\" {reason}"), "code": code })
}

#[tokio::test]
async fn the_published_configmap_gives_its_newest_recipient() {
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "sealgate-recipients", "namespace": "sealgate-system" },
        "data": { "recipients.txt": format!("{NEW}\n{OLD}\n") } });
    assert_eq!(fetch_with(200, cm).await.unwrap(), NEW);
}

#[tokio::test]
async fn a_missing_configmap_says_to_install_the_controller_or_pass_age() {
    let e = fetch_with(404, status(404, "NotFound")).await.unwrap_err();
    assert_eq!(e.code, Code::NoEncryptionKey);
    assert_eq!(e.message, format!("there is no {OBJECT} in the cluster"));
    let hint = e.hint.unwrap();
    assert!(hint.contains("install the sealgate controller") && hint.contains("--age"), "{hint}");
}

#[tokio::test]
async fn a_forbidden_read_names_the_permission_needed() {
    let e = fetch_with(403, status(403, "Forbidden")).await.unwrap_err();
    assert_eq!(e.code, Code::Generic);
    assert!(e.message.starts_with(&format!("failed to read the {OBJECT}")), "{}", e.message);
    assert!(e.hint.unwrap().contains("permission to get this ConfigMap"));
}

#[tokio::test]
async fn a_configmap_without_the_key_is_a_clear_error() {
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "sealgate-recipients", "namespace": "sealgate-system" } });
    let e = fetch_with(200, cm).await.unwrap_err();
    assert_eq!(e.message, format!("the {OBJECT} has no recipient under recipients.txt"));
}
