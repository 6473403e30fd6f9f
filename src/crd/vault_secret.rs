//! The `VaultSecret` custom resource (issue 4): which store, paths and properties make a
//! `Secret`, and how often it is refreshed.

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::condition::Condition;
use super::encrypted_secret::SecretTemplate;

/// The form of a `Secret` data key (what the apiserver accepts).
pub const SECRET_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";
/// The form of `refreshInterval`: `0` (never), or units `s`, `m`, `h`, `d` (e.g. `1h30m`).
pub const INTERVAL_PATTERN: &str = "^(0|([0-9]+[smhd])+)$";

/// `spec` of a `VaultSecret`: a `Secret` of the same name made of values read from Vault.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "VaultSecret",
    plural = "vaultsecrets",
    shortname = "vsec",
    namespaced,
    status = "VaultSecretStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.storeRef.name"}"#,
    printcolumn = r#"{"name":"Refreshed","type":"date","jsonPath":".status.lastRefreshTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct VaultSecretSpec {
    /// The store to read through.
    pub store_ref: StoreRef,
    /// How often the values are read again (`1h` by default; `0`: only when this object or its
    /// store changes). Refreshes are spread by up to ±10% per object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "interval_schema")]
    pub refresh_interval: Option<String>,
    /// Single values: one Secret key each, from one property of a path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<VaultSecretData>,
    /// Whole paths: every property becomes a Secret key of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<VaultDataFrom>,
    /// What the produced `Secret` looks like besides its values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
}

/// `spec.storeRef`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct StoreRef {
    /// `SecretStore` (in this namespace, the default) or `ClusterSecretStore`.
    #[serde(default)]
    pub kind: StoreKind,
    #[schemars(length(min = 1))]
    pub name: String,
}

/// `spec.storeRef.kind`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum StoreKind {
    #[default]
    SecretStore,
    ClusterSecretStore,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// One `spec.data` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultSecretData {
    /// The key in the produced `Secret`.
    #[schemars(schema_with = "secret_key_schema")]
    pub secret_key: String,
    /// Where the value comes from.
    pub remote_ref: RemoteRef,
}

/// `spec.data[].remoteRef`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RemoteRef {
    /// The path under the store's KV mount, e.g. `app/db`.
    #[schemars(length(min = 1))]
    pub path: String,
    /// The property of that path.
    #[schemars(length(min = 1))]
    pub property: String,
    /// A pinned KV v2 version; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub version: Option<u64>,
}

/// One `spec.dataFrom` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct VaultDataFrom {
    /// The path whose every property is copied.
    #[schemars(length(min = 1))]
    pub path: String,
    /// A pinned KV v2 version; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub version: Option<u64>,
}

/// `status` of a `VaultSecret`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultSecretStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the values were last read successfully (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh_time: Option<String>,
    /// The KV version read of each path at the last successful refresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<PathVersion>,
    /// The name of the produced Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One entry of `status.versions`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub struct PathVersion {
    pub path: String,
    /// The KV v2 version read; absent on KV v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

fn secret_key_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": SECRET_KEY_PATTERN,
    })
}

fn interval_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": INTERVAL_PATTERN,
    })
}
