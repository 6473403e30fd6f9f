//! The election's decisions, and its exchanges with a mocked apiserver (in paused tokio time,
//! so waiting periods pass at once and in order).

use http::{Method, Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Respond = tower_test::mock::SendResponse<Response<Body>>;

const PATH: &str =
    "/apis/coordination.k8s.io/v1/namespaces/sealgate-system/leases/sealgate-controller";

#[test]
fn a_free_or_own_lease_is_taken() {
    let t0 = Instant::now();
    let mut o = Observer::default();
    o.observe(None, Some("1"), t0);
    assert_eq!(o.decide("me", LEASE_DURATION, t0), Step::Take);
    o.observe(Some(""), Some("2"), t0);
    assert_eq!(o.decide("me", LEASE_DURATION, t0), Step::Take);
    o.observe(Some("me"), Some("3"), t0);
    assert_eq!(o.decide("me", LEASE_DURATION, t0), Step::Take, "renewal");
}

#[test]
fn another_holder_is_waited_out_by_our_own_clock() {
    let t0 = Instant::now();
    let mut o = Observer::default();
    o.observe(Some("other"), Some("1"), t0);
    assert_eq!(o.decide("me", LEASE_DURATION, t0 + Duration::from_secs(14)), Step::Wait);
    // The holder renewed (new resourceVersion): the wait starts over.
    o.observe(Some("other"), Some("2"), t0 + Duration::from_secs(14));
    assert_eq!(o.decide("me", LEASE_DURATION, t0 + Duration::from_secs(20)), Step::Wait);
    // Reading the same record again does not restart the wait.
    o.observe(Some("other"), Some("2"), t0 + Duration::from_secs(28));
    assert_eq!(o.decide("me", LEASE_DURATION, t0 + Duration::from_secs(29)), Step::Take);
}

#[test]
fn the_holder_stops_before_anyone_may_take_over() {
    assert!(RENEW_DEADLINE < LEASE_DURATION);
    assert!(RETRY_PERIOD < RENEW_DEADLINE);
}

fn start() -> (Handle, Leadership) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let (tx, leadership) = Leadership::channel();
    let settings = LeaseSettings::new("sealgate-system", "sealgate-controller", "me");
    tokio::spawn(run_election(client, settings, tx));
    (handle, leadership)
}

async fn next(handle: &mut Handle) -> (Method, String, Value, Respond) {
    let (request, respond) = handle.next_request().await.expect("no request");
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (parts.method, parts.uri.path().to_owned(), body, respond)
}

fn reply(respond: Respond, code: u16, body: &Value) {
    respond.send_response(
        Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

fn not_found() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
            "message": "leases.coordination.k8s.io \"sealgate-controller\" not found", "code": 404 })
}

fn lease(holder: &str, version: &str) -> Value {
    json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": { "name": "sealgate-controller", "namespace": "sealgate-system",
                          "resourceVersion": version },
            "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15,
                      "renewTime": "2026-11-02T00:00:00.000000Z", "leaseTransitions": 3 } })
}

#[tokio::test(start_paused = true)]
async fn an_absent_lease_is_created_with_us_as_holder() {
    let (mut handle, leadership) = start();
    let (method, path, _, respond) = next(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::GET, PATH));
    reply(respond, 404, &not_found());

    let (method, path, body, respond) = next(&mut handle).await;
    assert_eq!(method, Method::POST);
    assert_eq!(path, "/apis/coordination.k8s.io/v1/namespaces/sealgate-system/leases");
    assert_eq!(body["metadata"]["name"], "sealgate-controller");
    assert_eq!(body["spec"]["holderIdentity"], "me");
    assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
    assert!(body["spec"]["renewTime"].is_string() && body["spec"]["acquireTime"].is_string());
    assert!(!leadership.is_leader(), "not before the create succeeded");
    reply(respond, 201, &lease("me", "1"));

    // The renewal: read, then replace with the resourceVersion read.
    let (method, _, _, respond) = next(&mut handle).await;
    assert!(leadership.is_leader());
    assert_eq!(method, Method::GET);
    reply(respond, 200, &lease("me", "1"));
    let (method, path, body, respond) = next(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::PUT, PATH));
    assert_eq!(body["metadata"]["resourceVersion"], "1");
    assert_eq!(body["spec"]["holderIdentity"], "me");
    assert_eq!(body["spec"]["leaseTransitions"], 3, "a renewal is no transition");
    reply(respond, 200, &lease("me", "2"));
    let (_, _, _, _respond) = next(&mut handle).await;
    assert!(leadership.is_leader());
}

#[tokio::test(start_paused = true)]
async fn a_lease_held_by_another_is_not_written_until_it_expires() {
    let (mut handle, leadership) = start();
    // Three reads of the same record, 5 s apart: 10 s is not expired yet.
    for _ in 0..3 {
        let (method, path, _, respond) = next(&mut handle).await;
        assert_eq!((method, path.as_str()), (Method::GET, PATH), "a follower only reads");
        reply(respond, 200, &lease("other", "7"));
        assert!(!leadership.is_leader());
    }
    // At 15 s the record has not changed for a lease duration: take it over.
    let (_, _, _, respond) = next(&mut handle).await;
    reply(respond, 200, &lease("other", "7"));
    let (method, path, body, respond) = next(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::PUT, PATH));
    assert_eq!(body["metadata"]["resourceVersion"], "7");
    assert_eq!(body["spec"]["holderIdentity"], "me");
    assert_eq!(body["spec"]["leaseTransitions"], 4);
    // Someone else won the race: 409, and we do not lead.
    reply(
        respond,
        409,
        &json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "Conflict", "message": "conflict", "code": 409 }),
    );
    let (_, _, _, _respond) = next(&mut handle).await;
    assert!(!leadership.is_leader());
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_stops_leading() {
    let (mut handle, mut leadership) = start();
    let (_, _, _, respond) = next(&mut handle).await;
    reply(respond, 404, &not_found());
    let (_, _, _, respond) = next(&mut handle).await;
    reply(respond, 201, &lease("me", "1"));
    assert!(leadership.changed().await, "leading after the create");
    // From now on the apiserver fails every request.
    let server = tokio::spawn(async move {
        while let Some((_, respond)) = handle.next_request().await {
            reply(
                respond,
                500,
                &json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                                         "message": "etcd unavailable", "code": 500 }),
            );
        }
    });
    assert!(!leadership.changed().await, "leadership dropped when renewals fail");
    server.abort();
}
