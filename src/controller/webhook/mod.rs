//! The validating admission webhook (the fourth gate): HTTPS on `--webhook-addr`, routing to
//! the pure handlers in [`secrets`] and [`encrypted_secrets`], with the certificate from [`tls`].
//!
//! The server speaks HTTP/1.1, one `POST` with a `content-length` per connection, which is what
//! the apiserver sends. It runs on every replica, leader or not.

pub mod encrypted_secrets;
pub mod secrets;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use self::encrypted_secrets::validate_encrypted_secret;
pub use self::secrets::{AllowedType, DEFAULT_ALLOWED_TYPES, Policy, validate_secret};
pub use self::tls::{ReloadingCert, TlsError};
use super::config::ControllerConfig;
use super::keys::ClusterKeyring;
use super::metrics::{Metrics, WebhookHandler};
use crate::crd::EncryptedSecret;

/// The path of the `Secret` handler.
pub const SECRETS_PATH: &str = "/validate/secrets";
/// The path of the `EncryptedSecret` handler.
pub const ENCRYPTED_SECRETS_PATH: &str = "/validate/encryptedsecrets";
/// The largest request body read (a Secret is at most 1 MiB; a review carries two copies).
const MAX_BODY: usize = 8 << 20;
/// How long one connection may take, handshake to answer.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers decide with.
pub struct Webhook {
    pub policy: Policy,
    pub keyring: ClusterKeyring,
    pub metrics: Arc<Metrics>,
}

/// One HTTP answer: status line, JSON body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: &'static str,
    pub body: String,
}

impl Webhook {
    /// Answers one request: `POST` to a handler path with an `AdmissionReview` body. A body
    /// that is not a review answers 400, an unknown path 404, another method 405.
    pub fn answer(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        let handler = match path {
            SECRETS_PATH => WebhookHandler::Secrets,
            ENCRYPTED_SECRETS_PATH => WebhookHandler::EncryptedSecrets,
            _ => return plain("404 Not Found", "not found"),
        };
        if method != "POST" {
            return plain("405 Method Not Allowed", "only POST");
        }
        let response = match handler {
            WebhookHandler::Secrets => {
                decide::<Secret>(body, |req| validate_secret(req, &self.policy))
            }
            WebhookHandler::EncryptedSecrets => decide::<EncryptedSecret>(body, |req| {
                validate_encrypted_secret(req, &self.keyring.current())
            }),
        };
        let Some(response) = response else {
            self.metrics.webhook_decided(handler, None);
            return plain(
                "400 Bad Request",
                "the body is not an admission.k8s.io/v1 AdmissionReview",
            );
        };
        self.metrics.webhook_decided(handler, Some(response.allowed));
        tracing::debug!(
            handler = handler.as_str(),
            allowed = response.allowed,
            "admission decided"
        );
        let review: AdmissionReview<DynamicObject> = response.into_review();
        match serde_json::to_string(&review) {
            Ok(body) => Answer { status: "200 OK", body },
            Err(_) => plain("500 Internal Server Error", "cannot serialize the review"),
        }
    }
}

/// Parses a review, or `None` when it is not one (or carries no request).
fn decide<K>(
    body: &[u8],
    handler: impl FnOnce(&AdmissionRequest<K>) -> AdmissionResponse,
) -> Option<AdmissionResponse>
where
    K: kube::Resource + DeserializeOwned,
{
    let review: AdmissionReview<K> = serde_json::from_slice(body).ok()?;
    let request: AdmissionRequest<K> = review.try_into().ok()?;
    Some(handler(&request))
}

fn plain(status: &'static str, text: &str) -> Answer {
    Answer { status, body: serde_json::json!({ "message": text }).to_string() }
}

/// The Secret policy the flags describe.
///
/// # Errors
/// A message naming a malformed `--webhook-allowed-secret-types` entry.
pub fn policy_of(cfg: &ControllerConfig) -> Result<Policy, String> {
    let allowed_users = if cfg.webhook_allowed_users.is_empty() {
        vec![Policy::controller_user(&cfg.controller_namespace)]
    } else {
        cfg.webhook_allowed_users.clone()
    };
    let allowed_types = cfg
        .webhook_allowed_secret_types
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| AllowedType::parse(t).map_err(|e| format!("--webhook-allowed-secret-types: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Policy { allowed_users, allowed_types })
}

/// Binds `addr` (so a taken port fails at start).
///
/// # Errors
/// The bind error, with the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    super::server::bind(addr).await
}

/// Serves the webhook over TLS on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, cert: Arc<ReloadingCert>, webhook: Arc<Webhook>) {
    let acceptor = TlsAcceptor::from(Arc::new(cert.server_config()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, webhook) = (acceptor.clone(), Arc::clone(&webhook));
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, async move {
                let tls = acceptor.accept(stream).await?;
                connection(tls, webhook).await
            })
            .await;
        });
    }
}

/// Reads one request, answers it, closes.
async fn connection<S>(mut stream: S, webhook: Arc<Webhook>) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = match read_request(&mut stream).await? {
        Ok((method, path, body)) => {
            // Unwrapping a data key may block (Vault transit): off the async workers.
            tokio::task::spawn_blocking(move || webhook.answer(&method, &path, &body))
                .await
                .unwrap_or_else(|_| plain("500 Internal Server Error", "the handler failed"))
        }
        Err(answer) => answer,
    };
    let head = format!(
        "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        answer.status,
        answer.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(answer.body.as_bytes()).await?;
    stream.shutdown().await
}

type Request = (String, String, Vec<u8>);

/// Reads the head and a `content-length` body. Inner `Err` is the answer to a bad request.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<Result<Request, Answer>> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Ok(Err(plain("431 Request Header Fields Too Large", "headers too large")));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").split('?').next().unwrap_or("").to_owned();
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            return Ok(Err(plain("411 Length Required", "send a content-length")));
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Ok(Err(plain("413 Payload Too Large", "the review is too large")));
    }
    let mut body = buf.split_off(head_end);
    body.truncate(length);
    let have = body.len();
    body.resize(length, 0);
    stream.read_exact(&mut body[have..]).await?;
    Ok(Ok((method, path, body)))
}

#[cfg(test)]
mod tests;
