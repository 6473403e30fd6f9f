//! Opening an `EncryptedSecret`: the rule and shape checks, the binding decrypted and checked
//! before anything else, then full decryption with the MAC; and unsealing the result back into
//! a Kubernetes `Secret` manifest.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::binding::{Binding, BindingError, Scope, check_binding};
use super::encrypted_secret::ENCRYPTED_REGEX;
use super::secret::{
    SELECTED_NAMES, SecretManifest, SecretValue, check_key, decode_data_value, kind_of,
    read_string_map, unique_entries,
};
use super::{API_VERSION, DEFAULT_SECRET_TYPE, KIND, SealError, describe};
use crate::format::cipher::{self, DataKey, EncValue};
use crate::format::engine::IvStash;
use crate::format::file::SopsFile;
use crate::format::metadata::Metadata;
use crate::format::rules::EncryptionRule;
use crate::format::scalar::Scalar;
use crate::format::tree::{Document, Map, Node};

/// The AAD of `spec.binding`: its key path as sops forms it.
const BINDING_AAD: &[u8] = b"spec:binding:";
/// Fields of `spec`.
const SPEC_FIELDS: [&str; 5] = ["binding", "data", "scope", "stringData", "template"];

/// What the produced `Secret` looks like besides its values. Not encrypted and not covered by
/// the MAC: anyone who may edit the `EncryptedSecret` may change it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub secret_type: String,
    pub immutable: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            secret_type: DEFAULT_SECRET_TYPE.to_owned(),
            immutable: false,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// A verified, decrypted `EncryptedSecret`. Holds secret values: no `Clone`, and `Debug` shows
/// key names only; values are wiped on drop.
pub struct OpenedSecret {
    /// Where it was opened for (checked against the binding).
    pub namespace: String,
    pub name: String,
    pub binding: Binding,
    /// Decoded `spec.data` values.
    pub data: BTreeMap<String, SecretValue>,
    pub string_data: BTreeMap<String, Zeroizing<String>>,
    pub template: Template,
    /// IVs of the values as they were, so re-sealing unchanged values under the same data key
    /// reproduces their ciphertext ([`super::seal`]).
    pub stash: IvStash,
}

impl std::fmt::Debug for OpenedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSecret")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("binding", &self.binding)
            .field("data", &self.data.keys().collect::<Vec<_>>())
            .field("string_data", &self.string_data.keys().collect::<Vec<_>>())
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

impl OpenedSecret {
    pub fn scope(&self) -> Scope {
        self.binding.scope()
    }

    /// Every value as bytes, `stringData` included (keys never collide: [`open`] refuses
    /// that), as the produced `Secret.data` holds them.
    pub fn merged_data(&self) -> BTreeMap<String, SecretValue> {
        let mut out: BTreeMap<String, SecretValue> =
            self.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in &self.string_data {
            out.insert(k.clone(), Zeroizing::new(v.as_bytes().to_vec()));
        }
        out
    }

    /// The Secret this file stands for, placed where it was opened (for unsealing or
    /// re-sealing). `immutable` is set only when true.
    pub fn to_manifest(&self) -> SecretManifest {
        SecretManifest {
            name: self.name.clone(),
            namespace: Some(self.namespace.clone()),
            labels: self.template.labels.clone(),
            annotations: self.template.annotations.clone(),
            secret_type: self.template.secret_type.clone(),
            immutable: self.template.immutable.then_some(true),
            data: self.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            string_data: self.string_data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// Where an `EncryptedSecret` file is used, from its own metadata: `(namespace, name)`.
/// `namespace_override` (a `--namespace` argument) fills in a missing namespace and must
/// agree with one that is present. This is for the CLI; the controller passes the object's
/// real namespace and name to [`open`] directly.
///
/// # Errors
/// [`SealError::NotAnEncryptedSecret`] for any other kind of file; a missing or non-string
/// `metadata.name`; no namespace from either source
/// ([`SealError::TargetNamespaceUnknown`]); the two namespaces differ.
pub fn target_of(
    file: &SopsFile,
    namespace_override: Option<&str>,
) -> Result<(String, String), SealError> {
    let anonymous = "the EncryptedSecret";
    let doc = single_document(file)?;
    check_kind(doc)?;
    let meta = doc.get("metadata").and_then(Node::as_map);
    let name = meta.and_then(|m| m.get("name")).and_then(Node::as_str).ok_or_else(|| {
        SealError::MissingField { object: anonymous.into(), field: "metadata.name".into() }
    })?;
    let file_ns = meta.and_then(|m| m.get("namespace")).and_then(Node::as_str);
    let object = describe(KIND, None, name);
    match (file_ns, namespace_override) {
        (Some(f), Some(o)) if f != o => Err(SealError::NamespaceConflict {
            object,
            manifest: f.to_owned(),
            requested: o.chars().take(64).collect(),
        }),
        (Some(ns), _) | (None, Some(ns)) => Ok((ns.to_owned(), name.to_owned())),
        (None, None) => Err(SealError::TargetNamespaceUnknown { object }),
    }
}

/// The document must say it is an EncryptedSecret: checked first, so that any other file is
/// refused as what it is rather than for a missing field or rule.
fn check_kind(doc: &Document) -> Result<(), SealError> {
    let text = |key: &str| doc.get(key).and_then(Node::as_str);
    if text("apiVersion") != Some(API_VERSION) || text("kind") != Some(KIND) {
        let short =
            |s: Option<&str>| s.map_or("missing".to_owned(), |s| s.chars().take(64).collect());
        return Err(SealError::NotAnEncryptedSecret {
            kind: short(text("kind")),
            api_version: short(text("apiVersion")),
        });
    }
    Ok(())
}

fn single_document(file: &SopsFile) -> Result<&Document, SealError> {
    match file.docs.as_slice() {
        [doc] => Ok(doc),
        docs => Err(SealError::DocumentCount(docs.len())),
    }
}

/// The file must use exactly the EncryptedSecret rule and `mac_only_encrypted`.
fn check_rule(md: &Metadata, object: &str) -> Result<(), SealError> {
    let wrong =
        |reason: String| SealError::WrongEncryptionRule { object: object.to_owned(), reason };
    match &md.rule {
        EncryptionRule::EncryptedRegex(r) if r.as_str() == ENCRYPTED_REGEX => {}
        EncryptionRule::None => {
            return Err(wrong(
                "has no encryption rule (sops's default encrypts every value, so labels and annotations could not change)".into(),
            ));
        }
        other => {
            let (name, value) = other.field().unwrap_or(("rule", String::new()));
            let value: String = value.chars().take(80).collect();
            return Err(wrong(format!("has {name}: {value:?}")));
        }
    }
    if !md.mac_only_encrypted {
        return Err(wrong(
            "does not set mac_only_encrypted: true (its MAC covers clear values, so the first label the cluster adds would break it)".into(),
        ));
    }
    Ok(())
}

/// Refuses a key named `binding`, `data` or `stringData` anywhere but `spec.binding`,
/// `spec.data` and `spec.stringData`: the rule would encrypt (or expect encrypted) values
/// there, and sops would fail on a clear one with an obscure message.
fn check_selected_names(doc: &Document, object: &str) -> Result<(), SealError> {
    fn walk(node: &Node, path: &str, object: &str) -> Result<(), SealError> {
        match node {
            Node::Map(m) => {
                for (k, v) in m.entries() {
                    let here = format!("{path}.{k}");
                    if SELECTED_NAMES.contains(&k) {
                        return Err(SealError::SelectedKeyOutsideSpec {
                            object: object.to_owned(),
                            path: here,
                        });
                    }
                    walk(v, &here, object)?;
                }
                Ok(())
            }
            Node::List(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, n)| walk(n, &format!("{path}[{i}]"), object)),
            Node::Scalar(_) | Node::Comment(_) => Ok(()),
        }
    }
    for (k, v) in doc.entries() {
        if SELECTED_NAMES.contains(&k) {
            return Err(SealError::SelectedKeyOutsideSpec {
                object: object.to_owned(),
                path: k.to_owned(),
            });
        }
        if k == "spec"
            && let Node::Map(spec) = v
        {
            for (sk, sv) in spec.entries() {
                if !SELECTED_NAMES.contains(&sk) {
                    walk(sv, &format!("spec.{sk}"), object)?;
                }
            }
        } else {
            walk(v, k, object)?;
        }
    }
    Ok(())
}

/// An encrypted string value, or why not.
fn encrypted_text<'a>(node: &'a Node, object: &str, path: &str) -> Result<&'a str, SealError> {
    match node {
        Node::Scalar(Scalar::Str(b)) => match std::str::from_utf8(b) {
            Ok(t) if EncValue::is_encrypted(t) => Ok(t),
            _ => {
                Err(SealError::PlaintextValue { object: object.to_owned(), path: path.to_owned() })
            }
        },
        Node::Scalar(_) => {
            Err(SealError::PlaintextValue { object: object.to_owned(), path: path.to_owned() })
        }
        other => Err(SealError::Malformed {
            object: object.to_owned(),
            path: path.to_owned(),
            reason: format!("must be an encrypted string, found {}", kind_of(other)),
        }),
    }
}

/// A map-valued field of `spec` (missing or null: none).
fn spec_map<'a>(spec: &'a Map, field: &str, object: &str) -> Result<Option<&'a Map>, SealError> {
    match spec.get(field) {
        None | Some(Node::Scalar(Scalar::Null)) => Ok(None),
        Some(Node::Map(m)) => Ok(Some(m)),
        Some(other) => Err(SealError::Malformed {
            object: object.to_owned(),
            path: format!("spec.{field}"),
            reason: format!("must be a map, found {}", kind_of(other)),
        }),
    }
}

/// Decrypts only `spec.binding` (AAD `spec:binding:`) and checks it against the declared
/// scope and the object's location.
fn open_binding(
    spec: &Map,
    key: &DataKey,
    scope: Scope,
    namespace: &str,
    name: &str,
    object: &str,
) -> Result<Binding, SealError> {
    let node = spec.get("binding").ok_or_else(|| SealError::Malformed {
        object: object.to_owned(),
        path: "spec.binding".into(),
        reason: "is missing: the file is not bound to a location; re-seal it".into(),
    })?;
    let text = encrypted_text(node, object, "spec.binding")?;
    let value = EncValue::parse(text)
        .map_err(|source| SealError::BindingDecrypt { object: object.to_owned(), source })?;
    if value.type_tag != "str" {
        return Err(SealError::Malformed {
            object: object.to_owned(),
            path: "spec.binding".into(),
            reason: "must be an encrypted string (type:str)".into(),
        });
    }
    let plain = cipher::decrypt(key, &value, BINDING_AAD)
        .map_err(|source| SealError::BindingDecrypt { object: object.to_owned(), source })?;
    let plain = std::str::from_utf8(&plain)
        .map_err(|_| BindingError::Malformed { object: object.to_owned() })?;
    Ok(check_binding(plain, scope, namespace, name)?)
}

/// Opens an `EncryptedSecret` for the object `namespace`/`name`: the controller's path (with
/// the object's real namespace and name) and `sealgate unseal`'s (with [`target_of`]).
///
/// What happens, in this order; each step must pass before the next runs:
/// 1. the sops metadata must have `encrypted_regex: ^(binding|data|stringData)$` and
///    `mac_only_encrypted: true`; the file must be one `sealgate.dev/v1alpha1`
///    `EncryptedSecret` with a known `spec.scope`, no unknown `spec` field, and no key named
///    `binding`, `data` or `stringData` outside `spec`'s own;
/// 2. **only `spec.binding` is decrypted** and checked: well formed, agreeing with
///    `spec.scope`, and matching `namespace`/`name`;
/// 3. every value under `spec.data` and `spec.stringData` must be an `ENC[...]` string
///    (plaintext, empty and null values are refused);
/// 4. everything is decrypted and the MAC verified, in the tree's order (sorted, as written
///    by [`super::seal`] and as the apiserver returns it);
/// 5. `data` values are base64-decoded, `stringData` values must be text, keys must be valid
///    Secret keys and not in both maps, and the template must be well formed.
///
/// # Guarantees
/// Nothing decrypted is returned unless every step succeeds; partly decrypted trees are
/// dropped and wiped. A file bound elsewhere fails at step 2, before any value is decrypted.
///
/// # Errors
/// [`SealError::WrongEncryptionRule`], [`SealError::NotAnEncryptedSecret`],
/// [`SealError::SelectedKeyOutsideSpec`], [`SealError::Malformed`] (step 1);
/// [`SealError::BindingDecrypt`] (wrong data key, or a binding edited or moved) and
/// [`SealError::Binding`] (step 2); [`SealError::PlaintextValue`] (step 3);
/// [`SealError::Decrypt`] (a value fails authentication, or the MAC does not verify: a value
/// was added, removed, swapped or reordered) (step 4); value errors (step 5).
pub fn open(
    file: &SopsFile,
    key: &DataKey,
    namespace: &str,
    name: &str,
) -> Result<OpenedSecret, SealError> {
    let object = describe(KIND, Some(namespace), name);

    // 1. Rule and shape, without decrypting anything.
    let doc = single_document(file)?;
    check_kind(doc)?;
    check_rule(&file.metadata, &object)?;
    check_selected_names(doc, &object)?;
    let spec = match doc.get("spec") {
        Some(Node::Map(m)) => m,
        other => {
            return Err(SealError::Malformed {
                object,
                path: "spec".into(),
                reason: match other {
                    None => "is missing".to_owned(),
                    Some(n) => format!("must be a map, found {}", kind_of(n)),
                },
            });
        }
    };
    for (k, _) in unique_entries(spec, &object, "spec")? {
        if !SPEC_FIELDS.contains(&k) {
            return Err(SealError::Malformed {
                object,
                path: format!("spec.{}", k.chars().take(64).collect::<String>()),
                reason: "is not a field of an EncryptedSecret (binding, data, scope, stringData, template)".into(),
            });
        }
    }
    let scope =
        spec.get("scope").and_then(Node::as_str).and_then(Scope::parse).ok_or_else(|| {
            SealError::Malformed {
                object: object.clone(),
                path: "spec.scope".into(),
                reason: "must be strict, namespace or cluster".into(),
            }
        })?;

    // 2. The binding, before anything else is decrypted.
    let binding = open_binding(spec, key, scope, namespace, name, &object)?;

    // 3. No plaintext where ciphertext belongs.
    for field in ["data", "stringData"] {
        if let Some(m) = spec_map(spec, field, &object)? {
            for (k, v) in m.entries() {
                encrypted_text(v, &object, &format!("spec.{field}.{k}"))?;
            }
        }
    }

    // 4. Everything, with the MAC.
    let opened = file
        .decrypt(key, false)
        .map_err(|source| SealError::Decrypt { object: object.clone(), source })?;
    let [doc] = opened.docs.as_slice() else {
        return Err(SealError::DocumentCount(opened.docs.len()));
    };
    let spec = doc.get("spec").and_then(Node::as_map).ok_or_else(|| SealError::Malformed {
        object: object.clone(),
        path: "spec".into(),
        reason: "must be a map".into(),
    })?;

    // 5. Values and template.
    let mut data = BTreeMap::new();
    if let Some(m) = spec_map(spec, "data", &object)? {
        for (k, v) in unique_entries(m, &object, "spec.data")? {
            check_key(&object, "spec.data", k)?;
            let text = v.as_str().ok_or_else(|| SealError::NonStringValue {
                object: object.clone(),
                field: "spec.data".into(),
                key: k.to_owned(),
                found: kind_of(v),
            })?;
            let bytes = decode_data_value(text).filter(|b| !b.is_empty()).ok_or_else(|| {
                SealError::InvalidBase64 { object: object.clone(), key: k.to_owned() }
            })?;
            data.insert(k.to_owned(), bytes);
        }
    }
    let mut string_data = BTreeMap::new();
    if let Some(m) = spec_map(spec, "stringData", &object)? {
        for (k, v) in unique_entries(m, &object, "spec.stringData")? {
            check_key(&object, "spec.stringData", k)?;
            let text = v.as_str().ok_or_else(|| SealError::NonStringValue {
                object: object.clone(),
                field: "spec.stringData".into(),
                key: k.to_owned(),
                found: kind_of(v),
            })?;
            if data.contains_key(k) {
                return Err(SealError::KeyInDataAndStringData { object, key: k.to_owned() });
            }
            string_data.insert(k.to_owned(), Zeroizing::new(text.to_owned()));
        }
    }
    let template = read_template(spec, &object)?;

    Ok(OpenedSecret {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        binding,
        data,
        string_data,
        template,
        stash: opened.stash,
    })
}

fn read_template(spec: &Map, object: &str) -> Result<Template, SealError> {
    let malformed = |path: &str, reason: String| SealError::Malformed {
        object: object.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let Some(t) = spec_map(spec, "template", object)? else { return Ok(Template::default()) };
    let mut template = Template::default();
    for (k, v) in unique_entries(t, object, "spec.template")? {
        match (k, v) {
            (_, Node::Scalar(Scalar::Null)) => {}
            ("type", v) => {
                template.secret_type = v
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        malformed("spec.template.type", "must be a non-empty string".into())
                    })?
                    .to_owned();
            }
            ("immutable", Node::Scalar(Scalar::Bool(b))) => template.immutable = *b,
            ("immutable", other) => {
                return Err(malformed(
                    "spec.template.immutable",
                    format!("must be true or false, found {}", kind_of(other)),
                ));
            }
            ("metadata", Node::Map(m)) => {
                for (mk, mv) in unique_entries(m, object, "spec.template.metadata")? {
                    let field = format!("spec.template.metadata.{mk}");
                    let map = match mv {
                        Node::Map(map) => Some(map),
                        Node::Scalar(Scalar::Null) => None,
                        other => {
                            return Err(malformed(
                                &field,
                                format!("must be a map, found {}", kind_of(other)),
                            ));
                        }
                    };
                    match mk {
                        "labels" => template.labels = read_string_map(map, object, &field, true)?,
                        "annotations" => {
                            template.annotations = read_string_map(map, object, &field, false)?
                        }
                        _ => {
                            return Err(malformed(
                                &field,
                                "is not a known field (labels, annotations)".into(),
                            ));
                        }
                    }
                }
            }
            ("metadata", other) => {
                return Err(malformed(
                    "spec.template.metadata",
                    format!("must be a map, found {}", kind_of(other)),
                ));
            }
            (other, _) => {
                return Err(malformed(
                    &format!("spec.template.{}", other.chars().take(64).collect::<String>()),
                    "is not a known field (type, immutable, metadata)".into(),
                ));
            }
        }
    }
    Ok(template)
}

/// Writes an opened `EncryptedSecret` as the Kubernetes `Secret` it stands for (recovery and
/// audit): apiVersion, kind, metadata (name, namespace, labels and annotations when present),
/// `immutable: true` when set, type, `data` (canonical base64) and `stringData`.
///
/// # Caveats
/// The result holds plaintext. Its text nodes are zeroizing, but whatever the caller writes it
/// to is not: never commit it.
pub fn unseal(opened: &OpenedSecret) -> Document {
    opened.to_manifest().to_document()
}
