//! The `SecretStore` and `ClusterSecretStore` custom resources (issue 4): which Vault or OpenBao
//! server to read from, its KV mount, and how the controller logs in to it.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::condition::Condition;

/// `spec` of a namespaced `SecretStore`: usable only by `VaultSecret`s of its own namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "SecretStore",
    plural = "secretstores",
    namespaced,
    status = "SecretStoreStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Server","type":"string","jsonPath":".spec.vault.server"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct SecretStoreSpec {
    /// The Vault (or OpenBao) server, KV mount and login.
    pub vault: VaultProvider,
}

/// `spec` of a cluster-scoped `ClusterSecretStore`: a `SecretStore` that `VaultSecret`s of the
/// namespaces its `conditions` allow may use, for the paths those conditions allow.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "ClusterSecretStore",
    plural = "clustersecretstores",
    status = "SecretStoreStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Server","type":"string","jsonPath":".spec.vault.server"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreSpec {
    /// The Vault (or OpenBao) server, KV mount and login.
    pub vault: VaultProvider,
    /// Which namespaces may use this store, and which paths each may read. A namespace and path
    /// are allowed when at least one condition allows both. No conditions: usable nowhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StoreCondition>,
}

/// `spec.vault`: where the server is and how to log in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// The server's address, `https://vault.example:8200` (`http://` only for tests).
    #[schemars(schema_with = "server_schema")]
    pub server: String,
    /// PEM certificates (base64-encoded) to trust for the server instead of the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// Vault Enterprise / OpenBao namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The KV secrets engine that paths are read from.
    pub kv: KvSpec,
    /// How the controller logs in: exactly one of `token`, `appRole`, `kubernetes`.
    pub auth: VaultAuth,
}

/// `spec.vault.kv`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct KvSpec {
    /// Mount path of the KV engine, e.g. `secret`.
    #[schemars(length(min = 1))]
    pub mount: String,
    /// KV engine version: 1 or 2 (the default).
    #[serde(default = "default_kv_version")]
    #[schemars(schema_with = "kv_version_schema")]
    pub version: u8,
}

fn default_kv_version() -> u8 {
    2
}

/// `spec.vault.auth`: exactly one login method (externally tagged: one key).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VaultAuth {
    /// A Vault token read from a `Secret`.
    Token(TokenAuth),
    /// AppRole login with a role id and a secret id read from a `Secret`.
    AppRole(AppRoleAuth),
    /// Kubernetes login with a short-lived token of a ServiceAccount (TokenRequest API).
    Kubernetes(KubernetesAuth),
}

impl VaultAuth {
    /// The method's name as it appears in the spec.
    pub fn method(&self) -> &'static str {
        match self {
            VaultAuth::Token(_) => "token",
            VaultAuth::AppRole(_) => "appRole",
            VaultAuth::Kubernetes(_) => "kubernetes",
        }
    }
}

/// `auth.token`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenAuth {
    /// The `Secret` key holding the token.
    pub secret_ref: SecretKeyRef,
}

/// `auth.appRole`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAuth {
    /// Where the AppRole auth method is mounted (`approle` by default).
    #[serde(default = "default_approle_mount")]
    pub mount_path: String,
    /// The role id (not a secret).
    #[schemars(length(min = 1))]
    pub role_id: String,
    /// The `Secret` key holding the secret id.
    pub secret_ref: SecretKeyRef,
}

fn default_approle_mount() -> String {
    "approle".to_owned()
}

/// `auth.kubernetes`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesAuth {
    /// Where the Kubernetes auth method is mounted (`kubernetes` by default).
    #[serde(default = "default_kubernetes_mount")]
    pub mount_path: String,
    /// The Vault role to log in as.
    #[schemars(length(min = 1))]
    pub role: String,
    /// The ServiceAccount whose token is presented: in the `VaultSecret`'s namespace (for a
    /// `ClusterSecretStore`, in `namespace` when set).
    pub service_account_ref: ServiceAccountRef,
    /// Audiences of the requested token (`vault` by default). Never the apiserver's own.
    #[serde(default = "default_audiences")]
    #[schemars(length(min = 1))]
    pub audiences: Vec<String>,
}

fn default_kubernetes_mount() -> String {
    "kubernetes".to_owned()
}

fn default_audiences() -> Vec<String> {
    vec!["vault".to_owned()]
}

/// A key of a `Secret`. `namespace` is for `ClusterSecretStore`s only (and required there).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1))]
    pub name: String,
    #[schemars(length(min = 1))]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A ServiceAccount. `namespace` is for `ClusterSecretStore`s only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ServiceAccountRef {
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One entry of a `ClusterSecretStore`'s `conditions`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreCondition {
    /// Namespaces allowed by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces allowed by their labels (`{}` selects every namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Paths those namespaces may read, as prefixes matched by whole path segments;
    /// `{namespace}` stands for the reading namespace. Empty: any path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
}

/// A Kubernetes label selector (`metav1.LabelSelector`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `matchExpressions[].operator`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// `status` of a store: whether the controller could log in with it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

fn server_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": "^https?://[^/?#]+/?$",
    })
}

fn kv_version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "integer",
        "enum": [1, 2],
        "default": 2,
    })
}
