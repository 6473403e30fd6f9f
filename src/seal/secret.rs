//! Reading a Kubernetes `Secret` manifest from the tree, strictly (kubectl's rules for names,
//! keys and value types), dropping server-set fields and the plaintext-carrying
//! last-applied annotation; and writing one back.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::{
    DEFAULT_SECRET_TYPE, LAST_APPLIED_ANNOTATION, SealError, SealWarning, describe, names,
};
use crate::format::scalar::Scalar;
use crate::format::tree::{Document, Item, Map, Node};

/// A secret value's bytes, wiped on drop.
pub type SecretValue = Zeroizing<Vec<u8>>;

/// Go's `base64.StdEncoding` as the apiserver decodes `Secret.data`: standard alphabet,
/// padding required, non-zero trailing bits accepted. Line breaks are removed beforehand,
/// as Go's decoder skips them.
const B64_GO: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);
/// What sealgate writes: canonical standard base64 with padding.
pub(crate) const B64: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Top-level fields of a Secret.
const SECRET_FIELDS: [&str; 7] =
    ["apiVersion", "kind", "metadata", "type", "immutable", "data", "stringData"];
/// Metadata fields the apiserver or other controllers set: dropped with a warning.
const SERVER_METADATA_FIELDS: [&str; 11] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "generateName",
];
/// Key names the EncryptedSecret rule encrypts wherever they appear.
pub(crate) const SELECTED_NAMES: [&str; 3] = ["binding", "data", "stringData"];

/// A Kubernetes `Secret`, as sealing needs it.
///
/// `data` holds the decoded bytes (what the Secret's base64 text stands for); `string_data`
/// the text of `stringData`. Keys are sorted (byte order). Holds secret values: no `Clone`,
/// and `Debug` shows key names only.
#[derive(Default)]
#[cfg_attr(test, derive(PartialEq))]
pub struct SecretManifest {
    pub name: String,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `type`; `Opaque` when the manifest has none.
    pub secret_type: String,
    pub immutable: Option<bool>,
    pub data: BTreeMap<String, SecretValue>,
    pub string_data: BTreeMap<String, Zeroizing<String>>,
}

impl std::fmt::Debug for SecretManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretManifest")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("labels", &self.labels)
            .field("annotations", &self.annotations)
            .field("secret_type", &self.secret_type)
            .field("immutable", &self.immutable)
            .field("data", &self.data.keys().collect::<Vec<_>>())
            .field("string_data", &self.string_data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// How a node is described when it is not the expected kind of value.
pub(crate) fn kind_of(node: &Node) -> &'static str {
    match node {
        Node::Map(_) => "a map",
        Node::List(_) => "a list",
        Node::Comment(_) => "a comment",
        Node::Scalar(Scalar::Null) => "null",
        Node::Scalar(Scalar::Bool(_)) => "a boolean",
        Node::Scalar(Scalar::Int(_)) | Node::Scalar(Scalar::Float(_)) => "a number",
        Node::Scalar(Scalar::Time(_)) => "a timestamp",
        Node::Scalar(Scalar::Str(b)) if std::str::from_utf8(b).is_err() => "binary data",
        Node::Scalar(Scalar::Str(_)) => "a string",
    }
}

/// A short, printable rendering of a non-secret field value for messages.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The entries of a map, refusing a key that appears twice.
pub(crate) fn unique_entries<'a>(
    map: &'a Map,
    object: &str,
    field: &str,
) -> Result<Vec<(&'a str, &'a Node)>, SealError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (k, v) in map.entries() {
        if !seen.insert(k) {
            return Err(SealError::RepeatedKey {
                object: object.to_owned(),
                field: field.to_owned(),
                key: k.to_owned(),
            });
        }
        out.push((k, v));
    }
    Ok(out)
}

/// A map-valued field; missing or null is `None`.
fn optional_map<'a>(
    parent: &'a Map,
    key: &str,
    object: &str,
    field: &str,
) -> Result<Option<&'a Map>, SealError> {
    match parent.get(key) {
        None | Some(Node::Scalar(Scalar::Null)) => Ok(None),
        Some(Node::Map(m)) => Ok(Some(m)),
        Some(other) => Err(SealError::InvalidField {
            object: object.to_owned(),
            field: field.to_owned(),
            reason: format!("must be a map, found {}", kind_of(other)),
        }),
    }
}

/// A string-valued field; missing or null is `None`.
fn optional_str<'a>(
    parent: &'a Map,
    key: &str,
    object: &str,
    field: &str,
) -> Result<Option<&'a str>, SealError> {
    match parent.get(key) {
        None | Some(Node::Scalar(Scalar::Null)) => Ok(None),
        Some(node) => node.as_str().map(Some).ok_or_else(|| SealError::InvalidField {
            object: object.to_owned(),
            field: field.to_owned(),
            reason: format!("must be a string, found {}", kind_of(node)),
        }),
    }
}

/// Decodes `Secret.data` text as the apiserver does (line breaks ignored).
pub(crate) fn decode_data_value(text: &str) -> Option<SecretValue> {
    let decoded = if text.contains(['\n', '\r']) {
        let joined: Zeroizing<String> =
            Zeroizing::new(text.chars().filter(|c| !matches!(c, '\n' | '\r')).collect());
        B64_GO.decode(joined.as_bytes())
    } else {
        B64_GO.decode(text.as_bytes())
    };
    decoded.ok().map(Zeroizing::new)
}

/// Checks one label or annotation: a qualified-name key not named like an encrypted field,
/// and (labels) a valid label value.
fn check_meta_entry(
    object: &str,
    field: &str,
    key: &str,
    value: &str,
    is_label: bool,
) -> Result<(), SealError> {
    names::check_qualified_name(key).map_err(|reason| SealError::InvalidKey {
        object: object.to_owned(),
        field: field.to_owned(),
        key: short(key),
        reason,
    })?;
    if SELECTED_NAMES.contains(&key) {
        return Err(SealError::ReservedKeyName {
            object: object.to_owned(),
            field: field.to_owned(),
            key: key.to_owned(),
        });
    }
    if is_label {
        names::check_label_value(value).map_err(|reason| SealError::InvalidField {
            object: object.to_owned(),
            field: format!("{field}.{key}"),
            reason: format!("is not a valid label value: {reason}"),
        })?;
    }
    Ok(())
}

/// Reads a string map of non-secret metadata (labels or annotations).
pub(crate) fn read_string_map(
    map: Option<&Map>,
    object: &str,
    field: &str,
    is_label: bool,
) -> Result<BTreeMap<String, String>, SealError> {
    let mut out = BTreeMap::new();
    let Some(map) = map else { return Ok(out) };
    for (key, value) in unique_entries(map, object, field)? {
        let text = value.as_str().ok_or_else(|| SealError::NonStringValue {
            object: object.to_owned(),
            field: field.to_owned(),
            key: short(key),
            found: kind_of(value),
        })?;
        check_meta_entry(object, field, key, text, is_label)?;
        out.insert(key.to_owned(), text.to_owned());
    }
    Ok(out)
}

/// The text of one `data`/`stringData` value: a non-empty UTF-8 string.
fn secret_text<'a>(
    value: &'a Node,
    object: &str,
    field: &str,
    key: &str,
) -> Result<&'a str, SealError> {
    let text = value.as_str().ok_or_else(|| SealError::NonStringValue {
        object: object.to_owned(),
        field: field.to_owned(),
        key: key.to_owned(),
        found: kind_of(value),
    })?;
    if text.is_empty() {
        return Err(SealError::EmptyValue {
            object: object.to_owned(),
            field: field.to_owned(),
            key: key.to_owned(),
        });
    }
    Ok(text)
}

pub(crate) fn check_key(object: &str, field: &str, key: &str) -> Result<(), SealError> {
    names::check_secret_key(key).map_err(|reason| SealError::InvalidKey {
        object: object.to_owned(),
        field: field.to_owned(),
        key: short(key),
        reason,
    })
}

impl SecretManifest {
    /// Reads a `Secret` manifest.
    ///
    /// `default_namespace` (a `--namespace` argument) fills in a missing `metadata.namespace`;
    /// when both are given they must agree, as with kubectl.
    ///
    /// # Guarantees
    /// - Server-set metadata (uid, resourceVersion, managedFields, ownerReferences, …) is
    ///   dropped and reported in the warnings; so is the annotation
    ///   `kubectl.kubernetes.io/last-applied-configuration`, which contains the plaintext.
    /// - Comments in the input are not carried over (they may hold plaintext).
    /// - `data` values are decoded; the returned bytes are what the Secret stands for.
    ///
    /// # Errors
    /// The document is not a `v1` `Secret` ([`SealError::NotASecret`], naming the kind);
    /// `metadata.name` is missing or not a DNS subdomain; the namespace is not a DNS label or
    /// conflicts with `default_namespace`; an unknown field; a `data`/`stringData` key that is
    /// not a valid Secret key or repeated, or present in both maps; a value that is not a
    /// string, is empty, or (in `data`) is not base64; a label or annotation key named
    /// `binding`, `data` or `stringData`. Errors name the key, never the value.
    pub fn from_document(
        doc: &Document,
        default_namespace: Option<&str>,
    ) -> Result<(SecretManifest, Vec<SealWarning>), SealError> {
        let text = |key: &str| doc.get(key).and_then(Node::as_str);
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        if api_version != Some("v1") || kind != Some("Secret") {
            return Err(SealError::NotASecret {
                kind: kind.map_or("missing".to_owned(), short),
                api_version: api_version.map_or("missing".to_owned(), short),
            });
        }
        let anonymous = "the Secret";
        let top = unique_entries(doc, anonymous, "the top level")?;
        let metadata = match doc.get("metadata") {
            Some(Node::Map(m)) => m,
            Some(other) => {
                return Err(SealError::InvalidField {
                    object: anonymous.to_owned(),
                    field: "metadata".to_owned(),
                    reason: format!("must be a map, found {}", kind_of(other)),
                });
            }
            None => {
                return Err(SealError::MissingField {
                    object: anonymous.to_owned(),
                    field: "metadata".to_owned(),
                });
            }
        };
        let name =
            optional_str(metadata, "name", anonymous, "metadata.name")?.ok_or_else(|| {
                SealError::MissingField {
                    object: anonymous.to_owned(),
                    field: "metadata.name".into(),
                }
            })?;
        names::check_dns_subdomain(name).map_err(|reason| SealError::InvalidField {
            object: anonymous.to_owned(),
            field: format!("metadata.name {:?}", short(name)),
            reason: reason.to_owned(),
        })?;
        let unplaced = describe("Secret", None, name);
        let manifest_ns = optional_str(metadata, "namespace", &unplaced, "metadata.namespace")?;
        let namespace = match (manifest_ns, default_namespace) {
            (Some(m), Some(r)) if m != r => {
                return Err(SealError::NamespaceConflict {
                    object: unplaced,
                    manifest: m.to_owned(),
                    requested: short(r),
                });
            }
            (Some(ns), _) | (None, Some(ns)) => Some(ns),
            (None, None) => None,
        };
        if let Some(ns) = namespace {
            names::check_dns_label(ns).map_err(|reason| SealError::InvalidField {
                object: unplaced.clone(),
                field: format!("namespace {:?}", short(ns)),
                reason: reason.to_owned(),
            })?;
        }
        let object = describe("Secret", namespace, name);

        for (key, _) in &top {
            if !SECRET_FIELDS.contains(key) {
                return Err(SealError::UnknownField { object, field: short(key) });
            }
        }
        let mut dropped = Vec::new();
        for (key, _) in unique_entries(metadata, &object, "metadata")? {
            match key {
                "name" | "namespace" | "labels" | "annotations" => {}
                k if SERVER_METADATA_FIELDS.contains(&k) => dropped.push(format!("metadata.{k}")),
                other => {
                    return Err(SealError::UnknownField {
                        object,
                        field: format!("metadata.{}", short(other)),
                    });
                }
            }
        }
        let mut warnings = Vec::new();
        if !dropped.is_empty() {
            warnings
                .push(SealWarning::DroppedServerFields { object: object.clone(), fields: dropped });
        }

        let labels = read_string_map(
            optional_map(metadata, "labels", &object, "metadata.labels")?,
            &object,
            "metadata.labels",
            true,
        )?;
        let mut annotation_map =
            optional_map(metadata, "annotations", &object, "metadata.annotations")?.cloned();
        if let Some(m) = annotation_map.as_mut()
            && m.remove(LAST_APPLIED_ANNOTATION).is_some()
        {
            // Remove every copy, so a repeated key cannot smuggle one through.
            while m.remove(LAST_APPLIED_ANNOTATION).is_some() {}
            warnings.push(SealWarning::DroppedLastApplied { object: object.clone() });
        }
        let annotations =
            read_string_map(annotation_map.as_ref(), &object, "metadata.annotations", false)?;

        let secret_type =
            optional_str(doc, "type", &object, "type")?.unwrap_or(DEFAULT_SECRET_TYPE);
        if secret_type.is_empty() {
            return Err(SealError::InvalidField {
                object,
                field: "type".into(),
                reason: "must not be empty (leave it out for Opaque)".into(),
            });
        }
        let immutable = match doc.get("immutable") {
            None | Some(Node::Scalar(Scalar::Null)) => None,
            Some(Node::Scalar(Scalar::Bool(b))) => Some(*b),
            Some(other) => {
                return Err(SealError::InvalidField {
                    object,
                    field: "immutable".into(),
                    reason: format!("must be true or false, found {}", kind_of(other)),
                });
            }
        };

        let mut data = BTreeMap::new();
        if let Some(m) = optional_map(doc, "data", &object, "data")? {
            for (key, value) in unique_entries(m, &object, "data")? {
                check_key(&object, "data", key)?;
                let text = secret_text(value, &object, "data", key)?;
                let bytes = decode_data_value(text).ok_or_else(|| SealError::InvalidBase64 {
                    object: object.clone(),
                    key: key.to_owned(),
                })?;
                if bytes.is_empty() {
                    return Err(SealError::EmptyValue {
                        object,
                        field: "data".into(),
                        key: key.to_owned(),
                    });
                }
                data.insert(key.to_owned(), bytes);
            }
        }
        let mut string_data = BTreeMap::new();
        if let Some(m) = optional_map(doc, "stringData", &object, "stringData")? {
            for (key, value) in unique_entries(m, &object, "stringData")? {
                check_key(&object, "stringData", key)?;
                let text = secret_text(value, &object, "stringData", key)?;
                if data.contains_key(key) {
                    return Err(SealError::KeyInDataAndStringData { object, key: key.to_owned() });
                }
                string_data.insert(key.to_owned(), Zeroizing::new(text.to_owned()));
            }
        }

        let secret = SecretManifest {
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            labels,
            annotations,
            secret_type: secret_type.to_owned(),
            immutable,
            data,
            string_data,
        };
        Ok((secret, warnings))
    }

    /// Checks the invariants [`Self::from_document`] establishes, for a manifest built or
    /// changed in code. [`super::build_encrypted_secret`] calls it before anything is sealed.
    ///
    /// # Errors
    /// As [`Self::from_document`]; the last-applied annotation is refused here, not dropped.
    pub fn validate(&self) -> Result<(), SealError> {
        let object = self.describe();
        let invalid = |field: String, reason: &str| SealError::InvalidField {
            object: object.clone(),
            field,
            reason: reason.to_owned(),
        };
        names::check_dns_subdomain(&self.name)
            .map_err(|r| invalid(format!("metadata.name {:?}", short(&self.name)), r))?;
        if let Some(ns) = &self.namespace {
            names::check_dns_label(ns)
                .map_err(|r| invalid(format!("namespace {:?}", short(ns)), r))?;
        }
        for (k, v) in &self.labels {
            check_meta_entry(&object, "metadata.labels", k, v, true)?;
        }
        for (k, v) in &self.annotations {
            check_meta_entry(&object, "metadata.annotations", k, v, false)?;
        }
        if self.annotations.contains_key(LAST_APPLIED_ANNOTATION) {
            return Err(invalid(
                format!("metadata.annotations.{LAST_APPLIED_ANNOTATION}"),
                "must not be sealed: it holds the Secret's values in plain text; remove it",
            ));
        }
        if self.secret_type.is_empty() {
            return Err(invalid("type".into(), "must not be empty (Opaque is the default)"));
        }
        for (key, value) in &self.data {
            check_key(&object, "data", key)?;
            if value.is_empty() {
                return Err(SealError::EmptyValue {
                    object,
                    field: "data".into(),
                    key: key.clone(),
                });
            }
        }
        for (key, value) in &self.string_data {
            check_key(&object, "stringData", key)?;
            if value.is_empty() {
                return Err(SealError::EmptyValue {
                    object,
                    field: "stringData".into(),
                    key: key.clone(),
                });
            }
            if self.data.contains_key(key) {
                return Err(SealError::KeyInDataAndStringData { object, key: key.clone() });
            }
        }
        Ok(())
    }

    /// Reads every document of a multi-document input as a `Secret`. Empty documents (a
    /// trailing `---`, or one holding only comments, as `helm template` writes) are skipped,
    /// as kubectl skips them.
    ///
    /// # Errors
    /// The first failing document's error, wrapped in [`SealError::InDocument`] with its
    /// 1-based index ("document 2: it is a ConfigMap …").
    pub fn from_documents(
        docs: &[Document],
        default_namespace: Option<&str>,
    ) -> Result<(Vec<SecretManifest>, Vec<SealWarning>), SealError> {
        let mut secrets = Vec::with_capacity(docs.len());
        let mut warnings = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            if !doc.0.iter().any(|item| matches!(item, Item::Entry(..))) {
                continue;
            }
            let (secret, w) = SecretManifest::from_document(doc, default_namespace)
                .map_err(|e| SealError::InDocument { index: i + 1, error: Box::new(e) })?;
            secrets.push(secret);
            warnings.extend(w);
        }
        Ok((secrets, warnings))
    }

    /// How messages name this Secret: `Secret ns/name`.
    pub fn describe(&self) -> String {
        describe("Secret", self.namespace.as_deref(), &self.name)
    }

    /// Writes the manifest as a Kubernetes `Secret` document: apiVersion, kind, metadata
    /// (name, namespace, labels, annotations when present), immutable (when set), type, data
    /// (canonical base64) and stringData (both when non-empty). Keys are in sorted order.
    pub fn to_document(&self) -> Document {
        let mut doc = Map::new();
        doc.push("apiVersion", Node::str("v1"));
        doc.push("kind", Node::str("Secret"));
        let mut metadata = Map::new();
        metadata.push("name", Node::str(self.name.clone()));
        if let Some(ns) = &self.namespace {
            metadata.push("namespace", Node::str(ns.clone()));
        }
        for (field, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            if !map.is_empty() {
                metadata.push(field, string_map_node(map));
            }
        }
        doc.push("metadata", Node::Map(metadata));
        if let Some(immutable) = self.immutable {
            doc.push("immutable", Node::Scalar(Scalar::Bool(immutable)));
        }
        doc.push("type", Node::str(self.secret_type.clone()));
        if !self.data.is_empty() {
            doc.push("data", data_node(&self.data));
        }
        if !self.string_data.is_empty() {
            doc.push("stringData", string_data_node(&self.string_data));
        }
        doc
    }
}

/// A map of plain strings, in key order.
pub(crate) fn string_map_node(map: &BTreeMap<String, String>) -> Node {
    let mut m = Map::new();
    for (k, v) in map {
        m.push(k.clone(), Node::str(v.clone()));
    }
    Node::Map(m)
}

/// `data` as canonical base64 text, in key order.
pub(crate) fn data_node(data: &BTreeMap<String, SecretValue>) -> Node {
    let mut m = Map::new();
    for (k, v) in data {
        m.push(k.clone(), Node::str(B64.encode(v.as_slice())));
    }
    Node::Map(m)
}

/// `stringData` as text, in key order.
pub(crate) fn string_data_node(data: &BTreeMap<String, Zeroizing<String>>) -> Node {
    let mut m = Map::new();
    for (k, v) in data {
        m.push(k.clone(), Node::Scalar(Scalar::bytes(v.as_bytes().to_vec())));
    }
    Node::Map(m)
}
