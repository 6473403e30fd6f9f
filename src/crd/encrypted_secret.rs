//! The `EncryptedSecret` custom resource (architecture §2): a SOPS file that mirrors a `Secret`.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::condition::Condition;

/// The form every value under `spec.binding`, `spec.data` and `spec.stringData` must have, so
/// that the apiserver itself refuses plaintext. `type:str` only: `sealgate seal` writes strings.
pub const ENC_VALUE_PATTERN: &str = r"^ENC\[AES256_GCM,data:[A-Za-z0-9+/]*={0,2},iv:[A-Za-z0-9+/]+={0,2},tag:[A-Za-z0-9+/]+={0,2},type:str\]$";

/// The object as the apiserver stores it: `spec` and the top-level `sops` block side by side
/// (the derive's `no_spec` puts these fields at the top level of `EncryptedSecret`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "EncryptedSecret",
    plural = "encryptedsecrets",
    shortname = "esec",
    namespaced,
    no_spec,
    status = "EncryptedSecretStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Scope","type":"string","jsonPath":".spec.scope"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct EncryptedSecretContent {
    /// What the Secret holds, encrypted.
    pub spec: EncryptedSecretSpec,
    /// The SOPS metadata block, exactly as `sops` and `sealgate seal` write it. Unknown fields
    /// inside it are kept. Held as the raw JSON the apiserver sent: one compact allocation per
    /// cached object, parsed only when the object is reconciled.
    #[schemars(schema_with = "sops_block_schema")]
    pub sops: SopsBlock,
}

/// The `sops` block as compact JSON text. Read through a `Value` because serde's `flatten`
/// (which `no_spec` uses) cannot hand a `RawValue` the original bytes.
#[derive(Clone, Debug)]
pub struct SopsBlock(Box<RawValue>);

impl SopsBlock {
    /// The block's JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// A block from JSON text.
    ///
    /// # Errors
    /// When `json` is not a JSON object.
    pub fn from_json(json: String) -> Result<SopsBlock, serde_json::Error> {
        let raw = RawValue::from_string(json)?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(serde::de::Error::custom("the sops block must be a map"));
        }
        Ok(SopsBlock(raw))
    }
}

impl Serialize for SopsBlock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SopsBlock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SopsBlock, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let text = serde_json::to_string(&map).map_err(serde::de::Error::custom)?;
        SopsBlock::from_json(text).map_err(serde::de::Error::custom)
    }
}

/// `spec` of an `EncryptedSecret`. Field order is the sorted order in which the apiserver
/// returns them and in which the MAC is computed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedSecretSpec {
    /// Where the file may be used, encrypted: `NAMESPACE/NAME`, `NAMESPACE/*` or `*/*`.
    #[schemars(schema_with = "enc_value_schema")]
    pub binding: String,
    /// Like `Secret.data`: each plaintext is base64 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "enc_map_schema")]
    pub data: Option<BTreeMap<String, String>>,
    /// The readable echo of the binding; must agree with it.
    pub scope: ScopeName,
    /// Like `Secret.stringData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "enc_map_schema")]
    pub string_data: Option<BTreeMap<String, String>>,
    /// What the produced `Secret` looks like besides its values. Not covered by the MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
}

/// `spec.scope`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    /// Bound to one namespace and name.
    #[default]
    Strict,
    /// Bound to one namespace, any name.
    Namespace,
    /// Usable anywhere.
    Cluster,
}

impl ScopeName {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeName::Strict => "strict",
            ScopeName::Namespace => "namespace",
            ScopeName::Cluster => "cluster",
        }
    }
}

/// `spec.template`: the produced Secret's type, labels, annotations and immutability.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// `spec.template.metadata`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `status` of an `EncryptedSecret`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedSecretStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The public key (age recipient) that unwrapped the data key; never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The name of the produced Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

fn enc_value_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": ENC_VALUE_PATTERN,
    })
}

fn enc_map_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "type": "string",
            "pattern": ENC_VALUE_PATTERN,
        },
    })
}

fn sops_block_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
