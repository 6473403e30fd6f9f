//! The custom resources sealgate serves, as Rust types, and the CRD manifests generated from
//! them (committed under `crds/`; a test fails when they are stale).

mod condition;
mod encrypted_secret;

pub use condition::Condition;
pub use encrypted_secret::{
    ENC_VALUE_PATTERN, EncryptedSecret, EncryptedSecretContent, EncryptedSecretSpec,
    EncryptedSecretStatus, ScopeName, SecretTemplate, SopsBlock, TemplateMetadata,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD sealgate installs, with the file under `crds/` each is committed as.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![("encryptedsecrets.yaml", EncryptedSecret::crd())]
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
