//! The custom resources sealgate serves, as Rust types, and the CRD manifests generated from
//! them (committed under `crds/`; a test fails when they are stale).

mod condition;
mod encrypted_secret;
mod secret_store;
mod vault_secret;

pub use condition::Condition;
pub use encrypted_secret::{
    ENC_VALUE_PATTERN, EncryptedSecret, EncryptedSecretContent, EncryptedSecretSpec,
    EncryptedSecretStatus, ScopeName, SecretTemplate, SopsBlock, TemplateMetadata,
};
pub use secret_store::{
    AppRoleAuth, ClusterSecretStore, ClusterSecretStoreSpec, KubernetesAuth, KvSpec, LabelSelector,
    LabelSelectorRequirement, SecretKeyRef, SecretStore, SecretStoreSpec, SecretStoreStatus,
    SelectorOperator, ServiceAccountRef, StoreCondition, TokenAuth, VaultAuth, VaultProvider,
};
pub use vault_secret::{
    INTERVAL_PATTERN, PathVersion, RemoteRef, SECRET_KEY_PATTERN, StoreKind, StoreRef,
    VaultDataFrom, VaultSecret, VaultSecretData, VaultSecretSpec, VaultSecretStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD sealgate installs, with the file under `crds/` each is committed as.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("encryptedsecrets.yaml", EncryptedSecret::crd()),
        ("secretstores.yaml", SecretStore::crd()),
        ("clustersecretstores.yaml", ClusterSecretStore::crd()),
        ("vaultsecrets.yaml", VaultSecret::crd()),
    ]
}

/// A CRD as the YAML committed under `crds/`.
///
/// # Panics
/// Never for the CRDs of [`all`]: they are plain data that always serializes.
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    let body = serde_saphyr::to_string(crd).expect("a CRD always serializes to YAML");
    format!(
        "# Generated from the Rust types in src/crd/ by `sealgate-controller crds`; do not edit.\n---\n{body}"
    )
}

#[cfg(test)]
mod tests;
