//! The keyring's writes: creating a key `Secret` (its body and the apiserver's answer kept in
//! zeroizing buffers) and applying the recipients ConfigMap.

use bytes::Bytes;
use http::{Request, header};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::client::Body;
use zeroize::Zeroizing;

use super::RECIPIENTS_CONFIGMAP;
use crate::controller::materialize::FIELD_MANAGER;

/// A keyring write that failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyApiError {
    #[error(
        "failed to create the key Secret {namespace}/{name}: the apiserver answered {code}: {message}"
    )]
    CreateRefused { namespace: String, name: String, code: u16, message: String },
    #[error("failed to create the key Secret {namespace}/{name}")]
    Create {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to build the key Secret {name}: {reason}")]
    Build { name: String, reason: String },
    #[error("failed to publish the recipients ConfigMap {namespace}/sealgate-recipients")]
    Publish {
        namespace: String,
        #[source]
        source: kube::Error,
    },
}

/// `{"message": ...}` of an apiserver `Status`.
#[derive(serde::Deserialize)]
struct StatusMessage {
    #[serde(default)]
    message: String,
}

/// POSTs a key `Secret` body (from [`super::plan::key_secret_body`]). The answer, which echoes
/// the key, is read into a zeroizing buffer and dropped.
///
/// # Errors
/// [`KeyApiError`] when the request fails or the apiserver refuses it (409 when the name is
/// taken).
pub async fn create_key_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<(), KeyApiError> {
    let uri = format!("/api/v1/namespaces/{namespace}/secrets?fieldManager={FIELD_MANAGER}");
    let build = |reason: String| KeyApiError::Build { name: name.to_owned(), reason };
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(Bytes::from_owner(body)))
        .map_err(|e| build(e.to_string()))?;
    let create = |source| KeyApiError::Create {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    };
    let response = client.send(request).await.map_err(create)?;
    let status = response.status();
    let answer = crate::controller::secret_api::read_zeroizing(response.into_body()).await;
    if status.is_success() {
        return Ok(());
    }
    let message = answer
        .ok()
        .and_then(|a| serde_json::from_slice::<StatusMessage>(&a).ok())
        .map(|s| s.message)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    Err(KeyApiError::CreateRefused {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        code: status.as_u16(),
        message,
    })
}

/// Server-side applies the recipients ConfigMap under [`FIELD_MANAGER`].
///
/// # Errors
/// [`KeyApiError::Publish`] when the apply fails.
pub async fn apply_recipients(
    client: &Client,
    namespace: &str,
    body: &serde_json::Value,
) -> Result<(), KeyApiError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    api.patch(
        RECIPIENTS_CONFIGMAP,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(|source| KeyApiError::Publish { namespace: namespace.to_owned(), source })?;
    Ok(())
}
