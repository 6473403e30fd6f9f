//! A store's credentials, resolved on the Kubernetes side for one use: the token or AppRole
//! secret id read from its `Secret` (never cached), or a TokenRequest-backed JWT source for
//! Kubernetes auth. The result is the Vault client's [`Store`].

use zeroize::Zeroizing;

use super::store::{StoreView, connection};
use super::token::jwt_source;
use crate::controller::reason::{Reason, Refusal};
use crate::controller::reconcile::Error;
use crate::controller::secret_api::{ApiError, read_secret_key};
use crate::crd::{SecretKeyRef, StoreKind, VaultAuth};
use crate::vault::{Credentials, Store};
use kube::Client;

/// Why credentials could not be resolved.
#[derive(Debug)]
pub enum CredentialError {
    /// The object or store cannot work as it is (missing Secret or key, bad spec).
    Refused(Refusal),
    /// Transient apiserver trouble.
    Api(Error),
}

/// Whose ServiceAccount a Kubernetes-auth store logs in as, for a reader in `reader_ns`
/// (`None`: the store's own check). `None` when it depends on the reader and there is none: a
/// `ClusterSecretStore` without `serviceAccountRef.namespace` uses the `VaultSecret`'s
/// namespace.
pub fn service_account_namespace(view: &StoreView, reader_ns: Option<&str>) -> Option<String> {
    let VaultAuth::Kubernetes(k) = &view.provider.auth else { return None };
    match view.kind {
        StoreKind::SecretStore => view.namespace.clone(),
        StoreKind::ClusterSecretStore => {
            k.service_account_ref.namespace.clone().or(reader_ns.map(str::to_owned))
        }
    }
}

/// Resolves `view`'s credentials for a reader in `reader_ns` (`None` for the store's own
/// check) into the Vault client's [`Store`]. `Ok(None)`: nothing to log in as without a
/// reader (see [`service_account_namespace`]).
///
/// # Errors
/// [`CredentialError::Refused`] with [`Reason::AuthFailed`] for a missing Secret, key or
/// unreadable value, [`Reason::InvalidSpec`] for a spec the store check refuses;
/// [`CredentialError::Api`] for transient apiserver trouble.
pub async fn resolve(
    client: &Client,
    view: &StoreView,
    reader_ns: Option<&str>,
) -> Result<Option<Store>, CredentialError> {
    let invalid = |m: String| {
        CredentialError::Refused(Refusal::new(
            Reason::InvalidSpec,
            format!("{}: {m}", view.describe()),
        ))
    };
    let (connection, kv) = connection(&view.provider).map_err(invalid)?;
    let credentials = match &view.provider.auth {
        VaultAuth::Token(t) => {
            let token = secret_text(client, view, &t.secret_ref, "token").await?;
            Credentials::Token { token }
        }
        VaultAuth::AppRole(a) => {
            let secret_id = secret_text(client, view, &a.secret_ref, "AppRole secret id").await?;
            Credentials::AppRole {
                mount: a.mount_path.trim_matches('/').to_owned(),
                role_id: a.role_id.clone(),
                secret_id,
            }
        }
        VaultAuth::Kubernetes(k) => {
            let Some(namespace) = service_account_namespace(view, reader_ns) else {
                return Ok(None);
            };
            let name = k.service_account_ref.name.clone();
            Credentials::Kubernetes {
                mount: k.mount_path.trim_matches('/').to_owned(),
                role: k.role.clone(),
                subject: format!("{namespace}/{name} aud={}", k.audiences.join(",")),
                jwt: jwt_source(client.clone(), namespace, name, k.audiences.clone()),
            }
        }
    };
    Ok(Some(Store { connection, kv, credentials }))
}

/// The text of a credentials `Secret` key, trimmed of surrounding whitespace (a trailing
/// newline from `kubectl create secret --from-file`), zeroized.
async fn secret_text(
    client: &Client,
    view: &StoreView,
    r: &SecretKeyRef,
    what: &str,
) -> Result<Zeroizing<String>, CredentialError> {
    let refuse = |m: String| {
        CredentialError::Refused(Refusal::new(
            Reason::AuthFailed,
            format!("{}: the {what} {m}", view.describe()),
        ))
    };
    let Some(namespace) = view.secret_namespace(r) else {
        return Err(refuse(format!(
            "Secret {} has no namespace: set secretRef.namespace in the ClusterSecretStore",
            r.name
        )));
    };
    let place = format!("Secret {namespace}/{}", r.name);
    let bytes = match read_secret_key(client, namespace, &r.name, &r.key).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(refuse(format!("{place} has no key {}; fix secretRef.key", r.key))),
        Err(ApiError::Status { code: 404, .. }) => {
            return Err(refuse(format!("{place} does not exist; create it or fix secretRef")));
        }
        Err(ApiError::Status { code: 403, message }) => {
            return Err(refuse(format!("{place} may not be read by the controller: {message}")));
        }
        Err(ApiError::Body(m)) => return Err(refuse(format!("{place} could not be read: {m}"))),
        Err(e) => return Err(CredentialError::Api(e.into())),
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.trim(),
        Err(_) => return Err(refuse(format!("{place} key {} is not UTF-8 text", r.key))),
    };
    if text.is_empty() {
        return Err(refuse(format!("{place} key {} is empty", r.key)));
    }
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    out.push_str(text);
    Ok(out)
}
