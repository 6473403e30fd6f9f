//! The Secret requests that carry plaintext, made so that it stays in zeroizing buffers on our
//! side: the apply body is built into one, and the apiserver's answer is read into one and
//! only its metadata (or the one value asked for) is kept.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
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

/// `data` of a Secret, borrowed from the zeroizing answer (base64 has nothing to unescape).
#[derive(Deserialize)]
struct DataOnly<'a> {
    #[serde(borrow, default)]
    data: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
}

/// Reads the value of `key` of the Secret `namespace/name` (a store's token or secret id):
/// the answer goes into a zeroizing buffer and only that value is decoded, into another.
/// `Ok(None)` when the Secret has no such key. Nothing is cached.
///
/// # Errors
/// [`ApiError`]: `Status` 404 when the Secret does not exist, 403 when the controller may not
/// read it; `Body` for an answer that is not a Secret (the message carries no content).
pub async fn read_secret_key(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, ApiError> {
    let uri = format!("/api/v1/namespaces/{namespace}/secrets/{name}");
    let request = Request::get(uri)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .map_err(|e| ApiError::Body(e.to_string()))?;
    let answer = send_for_answer(client, request).await?;
    // serde_json's messages can quote the input: keep only the position.
    let parsed: DataOnly<'_> = serde_json::from_slice(&answer).map_err(|e| {
        ApiError::Body(format!("not a Secret (line {}, column {})", e.line(), e.column()))
    })?;
    let Some(encoded) = parsed.data.get(key) else { return Ok(None) };
    let mut value = Zeroizing::new(Vec::with_capacity(encoded.len() / 4 * 3 + 3));
    STANDARD
        .decode_vec(encoded.as_bytes(), &mut value)
        .map_err(|_| ApiError::Body(format!("the value of key {key} is not base64")))?;
    Ok(Some(value))
}

/// Sends a request and reads the answer into a zeroizing buffer; a non-2xx answer becomes
/// [`ApiError::Status`] with the apiserver's message.
pub(crate) async fn send_for_answer(
    client: &Client,
    request: Request<Body>,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let response = client.send(request).await?;
    let status = response.status();
    let answer = read_zeroizing(response.into_body()).await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<StatusMessage>(&answer)
            .map(|s| s.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("").to_owned());
        return Err(ApiError::Status { code: status.as_u16(), message });
    }
    Ok(answer)
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
    let answer = send_for_answer(client, request).await?;
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
