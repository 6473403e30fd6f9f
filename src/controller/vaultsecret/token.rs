//! Short-lived, audience-bound ServiceAccount tokens from the TokenRequest API, for Vault's
//! Kubernetes auth: fetched only when the Vault pool needs to log in, held only zeroized.

use std::borrow::Cow;
use std::sync::Arc;

use http::{Request, header};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use kube::Client;
use kube::client::Body;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::controller::secret_api::{ApiError, send_for_answer};
use crate::vault::{JwtSource, VaultError};

/// Lifetime asked for each token: long enough for one login, short enough to be worthless
/// soon after (the apiserver may raise it to its minimum, 10 minutes).
pub const TOKEN_SECONDS: i64 = 600;

/// The body of the TokenRequest the controller sends (no bound object: the token is for a
/// login that happens at once).
pub fn token_request(audiences: &[String]) -> TokenRequest {
    TokenRequest {
        metadata: Default::default(),
        spec: TokenRequestSpec {
            audiences: audiences.to_vec(),
            expiration_seconds: Some(TOKEN_SECONDS),
            bound_object_ref: None,
        },
        status: None,
    }
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    status: AnswerStatus<'a>,
}

#[derive(Deserialize)]
struct AnswerStatus<'a> {
    #[serde(borrow)]
    token: Cow<'a, str>,
}

/// Asks the apiserver for a token of the ServiceAccount `namespace/name` with `audiences`
/// (`POST …/serviceaccounts/NAME/token`, what `Api::<ServiceAccount>::create_token_request`
/// sends), reading the answer into a zeroizing buffer.
///
/// # Errors
/// [`ApiError`] when the apiserver refuses or answers something else than a TokenRequest.
pub async fn request_token(
    client: &Client,
    namespace: &str,
    name: &str,
    audiences: &[String],
) -> Result<Zeroizing<String>, ApiError> {
    let uri = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token");
    let body =
        serde_json::to_vec(&token_request(audiences)).map_err(|e| ApiError::Body(e.to_string()))?;
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(body))
        .map_err(|e| ApiError::Body(e.to_string()))?;
    let answer = send_for_answer(client, request).await?;
    let parsed: Answer<'_> = serde_json::from_slice(&answer).map_err(|e| {
        ApiError::Body(format!("not a TokenRequest (line {}, column {})", e.line(), e.column()))
    })?;
    Ok(Zeroizing::new(parsed.status.token.into_owned()))
}

/// The [`JwtSource`] for Vault's Kubernetes auth: a fresh token of `namespace/name` each time
/// the pool logs in.
pub fn jwt_source(
    client: Client,
    namespace: String,
    name: String,
    audiences: Vec<String>,
) -> JwtSource {
    let (namespace, name, audiences) = (Arc::new(namespace), Arc::new(name), Arc::new(audiences));
    Arc::new(move || {
        let (client, namespace, name, audiences) =
            (client.clone(), Arc::clone(&namespace), Arc::clone(&name), Arc::clone(&audiences));
        Box::pin(async move {
            request_token(&client, &namespace, &name, &audiences).await.map_err(|e| {
                let what = format!(
                    "the apiserver did not issue a token for ServiceAccount {namespace}/{name}: {e}"
                );
                match e {
                    ApiError::Status { code, .. } if code < 500 && code != 429 => {
                        VaultError::AuthFailed(what)
                    }
                    _ => VaultError::Unavailable(what),
                }
            })
        })
    })
}
