//! `--transit-store`: keeps the keyring's Vault transit client pointed at a store, so that
//! `EncryptedSecret`s whose data key is wrapped by Vault transit (`hc_vault`) open without any
//! private key in the cluster.

use std::sync::Arc;
use std::time::Duration;

use kube::{Api, Client};

use super::credentials::{CredentialError, resolve};
use super::store::StoreView;
use crate::crd::{ClusterSecretStore, SecretStore, StoreKind};
use crate::vault::PoolTransit;

/// How often the store and its credentials are read again (a rotated token is picked up).
const RELOAD: Duration = Duration::from_secs(60);

/// Which store transit goes through: `ClusterSecretStore/NAME` or `SecretStore/NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitStoreRef {
    pub kind: StoreKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl TransitStoreRef {
    /// Parses the flag's value.
    ///
    /// # Errors
    /// A message saying which forms are accepted.
    pub fn parse(value: &str) -> Result<TransitStoreRef, String> {
        let bad = || {
            format!(
                "--transit-store {value:?}: expected ClusterSecretStore/NAME or \
                 SecretStore/NAMESPACE/NAME"
            )
        };
        let parts: Vec<&str> = value.split('/').collect();
        let nonempty = parts.iter().all(|p| !p.is_empty());
        match parts.as_slice() {
            ["ClusterSecretStore", name] if nonempty => Ok(TransitStoreRef {
                kind: StoreKind::ClusterSecretStore,
                namespace: None,
                name: (*name).to_owned(),
            }),
            ["SecretStore", ns, name] if nonempty => Ok(TransitStoreRef {
                kind: StoreKind::SecretStore,
                namespace: Some((*ns).to_owned()),
                name: (*name).to_owned(),
            }),
            _ => Err(bad()),
        }
    }

    /// `ClusterSecretStore/vault` or `SecretStore/ns/vault`, for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("SecretStore/{ns}/{}", self.name),
            None => format!("ClusterSecretStore/{}", self.name),
        }
    }

    async fn view(&self, client: &Client) -> Result<Option<StoreView>, kube::Error> {
        Ok(match &self.namespace {
            Some(ns) => Api::<SecretStore>::namespaced(client.clone(), ns)
                .get_opt(&self.name)
                .await?
                .map(|s| StoreView::of_secret_store(&s)),
            None => Api::<ClusterSecretStore>::all(client.clone())
                .get_opt(&self.name)
                .await?
                .map(|s| StoreView::of_cluster_store(&s)),
        })
    }
}

/// Reads the store and its credentials now and every minute, and hands them to `transit`. A
/// missing store or unreadable credentials unset it (unwraps then fail with a message naming
/// the store); apiserver trouble keeps the last good one.
pub async fn run(client: Client, store: TransitStoreRef, transit: Arc<PoolTransit>) {
    loop {
        match store.view(&client).await {
            Ok(Some(view)) => match resolve(&client, &view, None).await {
                Ok(Some(resolved)) => transit.set_store(Some(resolved)),
                Ok(None) => {
                    tracing::error!(
                        store = %store.describe(),
                        "the transit store uses Kubernetes auth without a ServiceAccount \
                         namespace: set serviceAccountRef.namespace"
                    );
                    transit.set_store(None);
                }
                Err(CredentialError::Refused(r)) => {
                    tracing::error!(store = %store.describe(), reason = %r.reason.as_str(), message = %r.message, "the transit store cannot be used");
                    transit.set_store(None);
                }
                Err(CredentialError::Api(e)) => {
                    tracing::warn!(store = %store.describe(), error = %e, "reading the transit store's credentials failed; keeping the last ones");
                }
            },
            Ok(None) => {
                tracing::error!(store = %store.describe(), "the transit store does not exist");
                transit.set_store(None);
            }
            Err(e) => {
                tracing::warn!(store = %store.describe(), error = %e, "reading the transit store failed; keeping the last one");
            }
        }
        tokio::time::sleep(RELOAD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_refuses_others() {
        let c = TransitStoreRef::parse("ClusterSecretStore/vault").unwrap();
        assert_eq!(
            (c.kind, c.namespace.as_deref(), c.name.as_str()),
            (StoreKind::ClusterSecretStore, None, "vault")
        );
        let s = TransitStoreRef::parse("SecretStore/sealgate-system/vault").unwrap();
        assert_eq!(s.describe(), "SecretStore/sealgate-system/vault");
        for bad in [
            "",
            "vault",
            "SecretStore/vault",
            "ClusterSecretStore/",
            "Store/a/b",
            "ClusterSecretStore/a/b",
        ] {
            let e = TransitStoreRef::parse(bad).unwrap_err();
            assert!(e.contains("ClusterSecretStore/NAME"), "{bad}: {e}");
        }
    }
}
