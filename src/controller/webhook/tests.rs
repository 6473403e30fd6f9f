//! The webhook on AdmissionReview inputs, and its HTTPS server with a certificate that changes.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use age::secrecy::ExposeSecret;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::controller::materialize::sort_json;
use crate::format::cipher::DataKey;
use crate::format::store::{self, Format};
use crate::format::timestamp::Timestamp;
use crate::keys::{AgeRecipient, GroupSpec, KeySpec, Keyring, wrap_data_key};
use crate::seal::{Scope, SecretManifest, seal};

const CONTROLLER: &str = "system:serviceaccount:sealgate-system:sealgate-controller";

fn policy() -> Policy {
    let cli = crate::controller::Cli::try_parse_from(["sealgate-controller"]).unwrap();
    policy_of(&cli.run).unwrap()
}

use clap::Parser;

fn webhook(keyring: Keyring) -> Webhook {
    Webhook {
        policy: policy(),
        keyring: ClusterKeyring::with(keyring),
        metrics: Arc::new(Metrics::default()),
    }
}

/// An AdmissionReview for `resource` in `payments`.
fn review(resource: &str, operation: &str, user: &str, object: Value) -> Vec<u8> {
    let (group, version, kind) = match resource {
        "secrets" => ("", "v1", "Secret"),
        _ => ("sealgate.dev", "v1alpha1", "EncryptedSecret"),
    };
    let name = object["metadata"]["name"].clone();
    let (object, old) =
        if operation == "DELETE" { (Value::Null, object) } else { (object, Value::Null) };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "name": name,
            "namespace": "payments",
            "operation": operation,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    }))
    .unwrap()
}

fn secret(secret_type: &str, annotations: Value, data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-creds", "namespace": "payments", "annotations": annotations},
        "type": secret_type,
        "data": data
    })
}

fn opaque() -> Value {
    secret("Opaque", json!({}), json!({"password": "aHVudGVyMg=="}))
}

/// The decision: `(allowed, message)`, asserting the uid is echoed.
fn decide_on(webhook: &Webhook, path: &str, body: &[u8]) -> (bool, String) {
    let answer = webhook.answer("POST", path, body);
    assert_eq!(answer.status, "200 OK", "{}", answer.body);
    let v: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    let message = v["response"]["status"]["message"].as_str().unwrap_or_default().to_owned();
    (v["response"]["allowed"].as_bool().unwrap(), message)
}

#[test]
fn a_plaintext_secret_is_denied_with_how_to_seal_it() {
    let w = webhook(Keyring::empty());
    for op in ["CREATE", "UPDATE"] {
        let (allowed, message) =
            decide_on(&w, SECRETS_PATH, &review("secrets", op, "alice", opaque()));
        assert!(!allowed, "{op}");
        assert!(message.contains("sealgate seal --from-cluster"), "{message}");
        assert!(message.contains("payments/db-creds"), "{message}");
        assert!(message.contains("sealgate.dev/guard=enforce"), "{message}");
        assert!(!message.contains("aHVudGVyMg") && !message.contains("hunter2"), "{message}");
    }
    let text = w.metrics.render();
    assert!(
        text.contains(
            "sealgate_webhook_decisions_total{handler=\"secrets\",result=\"denied\"} 2\n"
        ),
        "{text}"
    );
}

#[test]
fn the_controller_may_write_and_delete_is_always_allowed() {
    let w = webhook(Keyring::empty());
    assert!(decide_on(&w, SECRETS_PATH, &review("secrets", "UPDATE", CONTROLLER, opaque())).0);
    assert!(decide_on(&w, SECRETS_PATH, &review("secrets", "CREATE", CONTROLLER, opaque())).0);
    assert!(decide_on(&w, SECRETS_PATH, &review("secrets", "DELETE", "alice", opaque())).0);
    // Another namespace's controller is not this one.
    let other = "system:serviceaccount:elsewhere:sealgate-controller";
    assert!(!decide_on(&w, SECRETS_PATH, &review("secrets", "CREATE", other, opaque())).0);
}

#[test]
fn allowed_users_are_configurable() {
    let cli = crate::controller::Cli::try_parse_from([
        "sealgate-controller",
        "--controller-namespace",
        "sg",
        "--webhook-allowed-users",
        "flux,argocd",
    ])
    .unwrap();
    let p = policy_of(&cli.run).unwrap();
    assert_eq!(p.allowed_users, ["flux", "argocd"]);
    let cli = crate::controller::Cli::try_parse_from([
        "sealgate-controller",
        "--controller-namespace",
        "sg",
    ])
    .unwrap();
    assert_eq!(
        policy_of(&cli.run).unwrap().allowed_users,
        ["system:serviceaccount:sg:sealgate-controller"]
    );
}

#[test]
fn allow_listed_types_pass_and_tls_only_from_cert_manager() {
    let w = webhook(Keyring::empty());
    let data = json!({"token": "dG9rZW4="});
    for t in ["kubernetes.io/service-account-token", "helm.sh/release.v1"] {
        let body = review("secrets", "CREATE", "alice", secret(t, json!({}), data.clone()));
        assert!(decide_on(&w, SECRETS_PATH, &body).0, "{t}");
    }
    let tls = |annotations| {
        review("secrets", "CREATE", "alice", secret("kubernetes.io/tls", annotations, data.clone()))
    };
    let issued = tls(json!({"cert-manager.io/certificate-name": "web"}));
    assert!(decide_on(&w, SECRETS_PATH, &issued).0, "cert-manager's TLS Secret");
    assert!(!decide_on(&w, SECRETS_PATH, &tls(json!({}))).0, "a hand-made TLS Secret");
    let basic = review(
        "secrets",
        "CREATE",
        "alice",
        secret("kubernetes.io/basic-auth", json!({}), data.clone()),
    );
    assert!(!decide_on(&w, SECRETS_PATH, &basic).0);

    let cli = crate::controller::Cli::try_parse_from([
        "sealgate-controller",
        "--webhook-allowed-secret-types",
        "kubernetes.io/basic-auth",
    ])
    .unwrap();
    let custom = Webhook { policy: policy_of(&cli.run).unwrap(), ..webhook(Keyring::empty()) };
    assert!(decide_on(&custom, SECRETS_PATH, &basic).0, "the list replaces the default");
    assert!(!decide_on(&custom, SECRETS_PATH, &issued).0);

    for bad in ["@x", "kubernetes.io/tls@", "  "] {
        assert!(AllowedType::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_secret_without_values_is_allowed() {
    let w = webhook(Keyring::empty());
    let empty = secret("Opaque", json!({}), json!({}));
    assert!(decide_on(&w, SECRETS_PATH, &review("secrets", "CREATE", "alice", empty)).0);
    let mut string_data = secret("Opaque", json!({}), Value::Null);
    string_data["stringData"] = json!({"password": "hunter2"});
    let (allowed, message) =
        decide_on(&w, SECRETS_PATH, &review("secrets", "CREATE", "alice", string_data));
    assert!(!allowed);
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn malformed_reviews_unknown_paths_and_methods_are_http_errors() {
    let w = webhook(Keyring::empty());
    for body in
        [&b"not json"[..], br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#]
    {
        assert_eq!(w.answer("POST", SECRETS_PATH, body).status, "400 Bad Request");
        assert_eq!(w.answer("POST", ENCRYPTED_SECRETS_PATH, body).status, "400 Bad Request");
    }
    let body = review("secrets", "CREATE", "alice", opaque());
    assert_eq!(w.answer("GET", SECRETS_PATH, &body).status, "405 Method Not Allowed");
    assert_eq!(w.answer("POST", "/validate/pods", &body).status, "404 Not Found");
    assert!(
        w.metrics.render().contains(
            "sealgate_webhook_decisions_total{handler=\"secrets\",result=\"invalid\"} 2\n"
        )
    );
}

/// A throwaway age identity: its keyring and recipient.
fn test_key() -> (Keyring, String) {
    let id = age::x25519::Identity::generate();
    let keyring =
        Keyring::from_identity_text(id.to_string().expose_secret(), "test identity").unwrap();
    (keyring, id.to_public().to_string())
}

/// An EncryptedSecret sealed strictly for `payments/db-creds`, as the apiserver sends it.
fn sealed(recipient: &str) -> Value {
    let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n  namespace: payments\n\
                type: Opaque\ndata:\n  password: aHVudGVyMg==\n";
    let docs = store::parse_plain(Format::Yaml, text.as_bytes()).unwrap();
    let (manifests, _) = SecretManifest::from_documents(&docs, None).unwrap();
    let data_key = DataKey::generate();
    let now = Timestamp::parse_rfc3339("2026-12-02T10:00:00Z").unwrap();
    let groups = vec![GroupSpec(vec![KeySpec::Age(AgeRecipient::parse(recipient).unwrap())])];
    let (key_groups, threshold) = wrap_data_key(&data_key, &groups, 0, None, now).unwrap();
    let file =
        seal(&manifests[0], Scope::Strict, &data_key, key_groups, threshold, None, now).unwrap();
    let mut value: Value =
        serde_json::from_slice(&file.into_bytes_as(Format::Json).unwrap()).unwrap();
    sort_json(&mut value);
    value
}

#[test]
fn encrypted_secret_bound_elsewhere_is_denied_and_bound_here_allowed() {
    let (keyring, recipient) = test_key();
    let w = webhook(keyring);
    let object = sealed(&recipient);
    let here = review("encryptedsecrets", "CREATE", "alice", object.clone());
    assert!(decide_on(&w, ENCRYPTED_SECRETS_PATH, &here).0);

    let mut moved = object.clone();
    moved["metadata"]["name"] = json!("stolen");
    for op in ["CREATE", "UPDATE"] {
        let body = review("encryptedsecrets", op, "alice", moved.clone());
        let (allowed, message) = decide_on(&w, ENCRYPTED_SECRETS_PATH, &body);
        assert!(!allowed, "{op}");
        assert!(message.contains("sealed for payments/db-creds"), "{message}");
        assert!(message.contains("re-seal"), "{message}");
        assert!(!message.contains("aHVudGVyMg") && !message.contains("hunter2"), "{message}");
    }
    // A binding ciphertext copied from another file does not decrypt.
    let (_, other_recipient) = test_key();
    let other = sealed(&other_recipient);
    let mut edited = object.clone();
    edited["spec"]["binding"] = other["spec"]["binding"].clone();
    let (allowed, message) = decide_on(
        &w,
        ENCRYPTED_SECRETS_PATH,
        &review("encryptedsecrets", "UPDATE", "alice", edited),
    );
    assert!(!allowed);
    assert!(message.contains("spec.binding"), "{message}");
    // Deleting a misplaced object is allowed.
    assert!(
        decide_on(
            &w,
            ENCRYPTED_SECRETS_PATH,
            &review("encryptedsecrets", "DELETE", "alice", moved)
        )
        .0
    );
}

#[test]
fn encrypted_secret_for_an_unknown_key_is_allowed() {
    let (_, recipient) = test_key();
    let mut moved = sealed(&recipient);
    moved["metadata"]["name"] = json!("stolen");
    let w = webhook(test_key().0);
    let body = review("encryptedsecrets", "CREATE", "alice", moved);
    assert!(decide_on(&w, ENCRYPTED_SECRETS_PATH, &body).0, "the controller will report it");
}

/// Writes a fresh self-signed EC certificate for 127.0.0.1 into `dir` with `openssl`.
fn make_cert(dir: &Path, cn: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={cn}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("tls.key.new"))
        .arg("-out")
        .arg(dir.join("tls.crt.new"))
        .output()
        .expect("the openssl CLI is needed for this test: install it (apt-get install openssl)");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    // Key first, then certificate, each replaced atomically (as a Secret volume swaps files).
    std::fs::rename(dir.join("tls.key.new"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("tls.crt.new"), dir.join("tls.crt")).unwrap();
    let pem = std::fs::read(dir.join("tls.crt")).unwrap();
    CertificateDer::from_pem_slice(&pem).unwrap().to_vec()
}

/// Accepts any certificate and remembers the one presented (the test compares it).
#[derive(Debug, Default)]
struct Capture(Mutex<Option<Vec<u8>>>);

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// POSTs `body` to `path` over TLS; returns the certificate served and the HTTP response.
async fn post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> (Vec<u8>, String) {
    let capture = Arc::new(Capture::default());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(capture.clone())
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.unwrap();
    let served = capture.0.lock().unwrap().clone().unwrap();
    (served, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn serves_reviews_over_https_and_picks_up_a_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_cert(dir.path(), "first");
    let cert = Arc::new(ReloadingCert::new(dir.path()));
    cert.check().unwrap();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, cert, Arc::new(webhook(Keyring::empty()))));

    let (served, response) =
        post(addr, SECRETS_PATH, &review("secrets", "CREATE", "alice", opaque())).await;
    assert_eq!(served, first);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["response"]["allowed"], false, "{body}");

    let (_, bad) = post(addr, ENCRYPTED_SECRETS_PATH, b"{}").await;
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");

    let second = make_cert(dir.path(), "second");
    assert_ne!(first, second);
    let (served, response) =
        post(addr, SECRETS_PATH, &review("secrets", "DELETE", "alice", opaque())).await;
    assert_eq!(served, second, "the replaced certificate is served");
    assert!(response.contains("\"allowed\":true"), "{response}");

    // A broken pair keeps the last good certificate in service.
    std::fs::write(dir.path().join("tls.key"), "not a key").unwrap();
    let (served, _) =
        post(addr, SECRETS_PATH, &review("secrets", "DELETE", "alice", opaque())).await;
    assert_eq!(served, second);
    server.abort();
}

#[test]
fn a_missing_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = ReloadingCert::new(dir.path()).check().unwrap_err().to_string();
    assert!(err.contains("tls.crt"), "{err}");
}
