//! The Secret requests that carry plaintext, made so that it stays in zeroizing buffers on our
//! side: the apply body is built into one, and the apiserver's answer is read into one and
//! only its metadata is kept.

use bytes::Bytes;
use http::{Request, header};
use http_body_util::BodyExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::client::Body;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::materialize::FIELD_MANAGER;

/// A failed request to the apiserver. Carries the HTTP status and the apiserver's message
/// (which, for these requests, never echoes the body we sent).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the apiserver refused the request ({code}): {message}")]
    Status { code: u16, message: String },
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("the apiserver's answer could not be read: {0}")]
    Body(String),
}

impl ApiError {
    /// 409 Conflict or 422 Invalid: retrying the same request will not help soon.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Status { code: 409, .. })
    }
}

/// The part of an answer we keep.
#[derive(Deserialize)]
struct MetaOnly {
    metadata: ObjectMeta,
}

/// `{"message": ...}` of an apiserver `Status`.
#[derive(Deserialize)]
struct StatusMessage {
    #[serde(default)]
    message: String,
}

/// Server-side applies `body` (from [`super::materialize::DesiredSecret::to_apply_body`]) to
/// the Secret `namespace/name` under [`FIELD_MANAGER`], forcing ownership of the fields it sets.
/// Returns the Secret's metadata as stored.
///
/// # Errors
/// [`ApiError`] for a refused request or an unreadable answer.
pub async fn apply_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<ObjectMeta, ApiError> {
    let uri = format!(
        "/api/v1/namespaces/{namespace}/secrets/{name}?fieldManager={FIELD_MANAGER}&force=true"
    );
    send_secret(client, Request::patch(uri), "application/apply-patch+yaml", body).await
}

/// Replaces the whole Secret `namespace/name` with `body` (an unconditional update under
/// [`FIELD_MANAGER`]): what is not in `body` goes, whoever set it. For taking a Secret over
/// and for undoing values another manager added. Returns the Secret's metadata as stored.
///
/// # Errors
/// [`ApiError`] for a refused request or an unreadable answer.
pub async fn replace_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<ObjectMeta, ApiError> {
    let uri = format!("/api/v1/namespaces/{namespace}/secrets/{name}?fieldManager={FIELD_MANAGER}");
    send_secret(client, Request::put(uri), "application/json", body).await
}

/// Sends a Secret body and keeps only the metadata of the answer.
async fn send_secret(
    client: &Client,
    request: http::request::Builder,
    content_type: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<ObjectMeta, ApiError> {
    let request = request
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT, "application/json")
        .body(Body::from(Bytes::from_owner(body)))
        .map_err(|e| ApiError::Body(e.to_string()))?;
    let response = client.send(request).await?;
    let status = response.status();
    let answer = read_zeroizing(response.into_body()).await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<StatusMessage>(&answer)
            .map(|s| s.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("").to_owned());
        return Err(ApiError::Status { code: status.as_u16(), message });
    }
    serde_json::from_slice::<MetaOnly>(&answer)
        .map(|m| m.metadata)
        .map_err(|e| ApiError::Body(format!("not a Secret: {e}")))
}

/// Reads a whole body into a zeroizing buffer, growing it by copy so no old buffer is left.
pub(crate) async fn read_zeroizing(mut body: Body) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let mut out = Zeroizing::new(Vec::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::Body(e.to_string()))?;
        if let Some(chunk) = frame.data_ref() {
            if out.capacity() - out.len() < chunk.len() {
                // Grow by copying into a fresh zeroizing buffer, so the old one is wiped.
                let mut bigger = Zeroizing::new(Vec::with_capacity((out.len() + chunk.len()) * 2));
                bigger.extend_from_slice(&out);
                out = bigger;
            }
            out.extend_from_slice(chunk);
        }
    }
    Ok(out)
}
