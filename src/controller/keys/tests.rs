//! The keyring loop against a mocked apiserver: each request's method, path, query and body.

use base64::Engine;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Respond = tower_test::mock::SendResponse<Response<Body>>;

const NS: &str = "sealgate-system";
const FIXTURE_KEYS: &str = include_str!("../../../tests/fixtures/sops/keys.txt");
const FIXTURE_RECIPIENT: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";

fn now() -> jiff::Timestamp {
    "2026-11-02T00:00:00Z".parse().unwrap()
}

/// The loop on a mocked apiserver, with the clock fixed at [`now`].
fn start(leadership: Leadership) -> (Handle, ClusterKeyring, Arc<Metrics>) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let keyring = ClusterKeyring::unloaded();
    let metrics = Arc::new(Metrics::default());
    let settings = KeySettings {
        namespace: NS.to_owned(),
        renew_period: Duration::from_secs(30 * 86_400),
        transit: None,
    };
    tokio::spawn(run_with_clock(
        client,
        settings,
        leadership,
        keyring.clone(),
        Arc::clone(&metrics),
        now,
    ));
    (handle, keyring, metrics)
}

struct Seen {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

async fn next(handle: &mut Handle) -> (Seen, Respond) {
    let (request, respond) = handle.next_request().await.expect("the loop sent no request");
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let seen = Seen {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        body: if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() },
    };
    (seen, respond)
}

fn reply(respond: Respond, code: u16, body: &Value) {
    let response = Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    respond.send_response(response);
}

fn key_secret(name: &str, created: &str, text: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": name, "namespace": NS, "creationTimestamp": created, "resourceVersion": "5",
            "labels": { KEY_LABEL: KEY_LABEL_ACTIVE },
        },
        "type": "Opaque",
        "data": { KEY_DATA: base64::engine::general_purpose::STANDARD.encode(text) },
    })
}

/// Answers the initial list of key Secrets, asserting it is scoped by namespace and label.
async fn answer_list(handle: &mut Handle, items: Vec<Value>) {
    let (seen, respond) = next(handle).await;
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path, format!("/api/v1/namespaces/{NS}/secrets"));
    assert!(seen.query.contains("labelSelector=sealgate.dev%2Fkey%3Dactive"), "{}", seen.query);
    assert!(!seen.query.contains("watch=true"), "expected the list first: {}", seen.query);
    reply(
        respond,
        200,
        &json!({ "apiVersion": "v1", "kind": "SecretList", "metadata": { "resourceVersion": "10" },
                 "items": items }),
    );
}

/// Asserts the next request is the watch that follows a list: the loop wrote nothing.
async fn expect_watch(handle: &mut Handle) -> Respond {
    let (seen, respond) = next(handle).await;
    assert_eq!(seen.method, Method::GET, "expected the watch, got {} {}", seen.method, seen.path);
    assert!(seen.query.contains("watch=true"), "expected the watch: {} {}", seen.path, seen.query);
    respond
}

/// Answers the creation of a key Secret; returns the recipient of the identity it carries.
async fn answer_create(handle: &mut Handle) -> String {
    let (seen, respond) = next(handle).await;
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, format!("/api/v1/namespaces/{NS}/secrets"));
    assert_eq!(seen.query, "fieldManager=sealgate-controller");
    assert_eq!(seen.content_type, "application/json");
    let body = &seen.body;
    assert_eq!(body["kind"], "Secret");
    assert_eq!(body["type"], "Opaque");
    assert_eq!(body["metadata"]["name"], "sealgate-key-20261102000000");
    assert_eq!(body["metadata"]["namespace"], NS);
    assert_eq!(body["metadata"]["labels"][KEY_LABEL], KEY_LABEL_ACTIVE);
    let text = body["stringData"][KEY_DATA].as_str().expect("the identity file");
    assert!(text.starts_with("# created: 2026-11-02T00:00:00Z\n# public key: age1"), "header");
    let parsed = Keyring::from_identity_text(text, "test").expect("a valid identity file");
    assert_eq!(parsed.identity_count(), 1);
    let recipient = parsed.x25519_recipients().remove(0);
    let mut created = seen.body.clone();
    created["metadata"]["creationTimestamp"] = json!("2026-11-02T00:00:00Z");
    reply(respond, 201, &created);
    recipient
}

/// Answers the server-side apply of the recipients ConfigMap; returns `recipients.txt`.
async fn answer_publish(handle: &mut Handle) -> String {
    let (seen, respond) = next(handle).await;
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.path, format!("/api/v1/namespaces/{NS}/configmaps/{RECIPIENTS_CONFIGMAP}"));
    assert!(seen.query.contains("fieldManager=sealgate-controller"), "{}", seen.query);
    assert!(seen.query.contains("force=true"), "{}", seen.query);
    assert_eq!(seen.content_type, "application/apply-patch+yaml");
    assert_eq!(seen.body["kind"], "ConfigMap");
    let text = seen.body["data"][RECIPIENTS_KEY].as_str().expect("recipients.txt").to_owned();
    reply(respond, 200, &seen.body);
    text
}

#[tokio::test]
async fn first_start_without_keys_creates_one_key_and_publishes_it() {
    let (mut handle, keyring, metrics) = start(Leadership::always());
    answer_list(&mut handle, vec![]).await;
    let recipient = answer_create(&mut handle).await;
    assert_eq!(answer_publish(&mut handle).await, format!("{recipient}\n"));
    let _watch = expect_watch(&mut handle).await;
    assert!(keyring.is_loaded());
    assert_eq!(keyring.current().x25519_recipients(), [recipient]);
    assert!(metrics.render().contains("sealgate_keyring_identities 1\n"));
}

#[tokio::test]
async fn a_follower_loads_but_never_writes_until_it_leads() {
    let (tx, leadership) = Leadership::channel();
    let (mut handle, keyring, metrics) = start(leadership);
    answer_list(&mut handle, vec![]).await;
    let _watch = expect_watch(&mut handle).await;
    assert!(keyring.is_loaded(), "zero keys still counts as loaded");
    assert_eq!(keyring.current().identity_count(), 0);
    assert!(metrics.render().contains("sealgate_keyring_identities 0\n"));

    // Becoming leader makes the first key at once, not at the next timer tick.
    tx.send(true).unwrap();
    let recipient = answer_create(&mut handle).await;
    assert_eq!(answer_publish(&mut handle).await, format!("{recipient}\n"));
}

#[tokio::test]
async fn hand_added_keys_load_a_broken_one_is_skipped_and_removal_is_picked_up() {
    let (mut handle, keyring, _metrics) = start(Leadership::always());
    answer_list(
        &mut handle,
        vec![
            key_secret("by-hand", "2026-11-01T00:00:00Z", FIXTURE_KEYS),
            key_secret("broken", "2026-11-01T12:00:00Z", "AGE-SECRET-KEY-1BROKEN\n"),
        ],
    )
    .await;
    // The fixture key is a day old: no renewal, only the publication.
    assert_eq!(answer_publish(&mut handle).await, format!("{FIXTURE_RECIPIENT}\n"));
    let watch = expect_watch(&mut handle).await;
    assert_eq!(keyring.current().identity_count(), 1);
    assert_eq!(
        keyring.current().identity_origins(),
        [format!("Secret {NS}/by-hand, line 5")],
        "origins name the Secret"
    );

    // Someone deletes the key Secret: the loop sees it without a restart and, having no key
    // left, makes a new one.
    let event = json!({ "type": "DELETED",
        "object": key_secret("by-hand", "2026-11-01T00:00:00Z", FIXTURE_KEYS) });
    let mut line = serde_json::to_vec(&event).unwrap();
    line.push(b'\n');
    watch.send_response(Response::builder().status(200).body(Body::from(line)).unwrap());
    let recipient = answer_create(&mut handle).await;
    assert_eq!(answer_publish(&mut handle).await, format!("{recipient}\n"));
    assert_eq!(keyring.current().x25519_recipients(), [recipient]);
}
