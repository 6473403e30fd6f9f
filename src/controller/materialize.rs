//! Pure functions between an owning object and its `Secret`: the SOPS file an
//! `EncryptedSecret` stands for, the desired Secret and its apply body, and who owns an existing
//! Secret. The Secret-writing rules are the same for every kind that produces a Secret
//! (`EncryptedSecret`, `VaultSecret`): they take a [`SecretOwner`].

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference,
};
use kube::Resource;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::reason::{Reason, Refusal};
use crate::crd::EncryptedSecret;
use crate::format::file::SopsFile;
use crate::format::store::Format;
use crate::keys::{KeyRef, Keyring, UnwrapReport};
use crate::seal::{self, OpenedSecret, SecretValue, Template};

/// Label on every Secret the controller writes; its watch selects on it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "sealgate";
/// Annotation on an `EncryptedSecret` that allows it to take over an existing Secret the
/// controller did not create. Value `"true"`.
pub const ADOPT_ANNOTATION: &str = "sealgate.dev/adopt";
/// The one field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "sealgate-controller";

/// The SOPS file an `EncryptedSecret` object stands for: `spec` and `sops` as the apiserver
/// returned them (keys sorted), under the object's kind and name. `status` and everything in
/// `metadata` but the name and namespace are left out: they are not part of the sealed file.
///
/// # Errors
/// [`Reason::InvalidSpec`] when the object is not a readable SOPS file.
pub fn sops_file_of(es: &EncryptedSecret) -> Result<SopsFile, Refusal> {
    // Serialized straight from the cached object: the raw `sops` text is copied, not parsed
    // into a `Value` and written out again.
    let doc = SopsDocument {
        api_version: &EncryptedSecret::api_version(&()),
        kind: &EncryptedSecret::kind(&()),
        metadata: DocumentMetadata {
            name: es.metadata.name.as_deref(),
            namespace: es.metadata.namespace.as_deref(),
        },
        spec: &es.spec.spec,
        sops: &es.spec.sops,
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| {
        Refusal::new(Reason::InvalidSpec, format!("the object cannot be serialized: {e}"))
    })?;
    SopsFile::parse(Format::Json, &bytes).map_err(|e| Refusal::from_file_error(&e))
}

/// The SOPS file of an object, field for field in the order the apiserver stores them.
#[derive(serde::Serialize)]
struct SopsDocument<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    metadata: DocumentMetadata<'a>,
    spec: &'a crate::crd::EncryptedSecretSpec,
    sops: &'a crate::crd::SopsBlock,
}

#[derive(serde::Serialize)]
struct DocumentMetadata<'a> {
    name: Option<&'a str>,
    namespace: Option<&'a str>,
}

/// Secret types the controller will not produce. `spec.template` is outside the MAC, so anyone
/// who may edit an `EncryptedSecret` may change it; a service-account-token Secret would make
/// the cluster mint a token for whichever ServiceAccount its annotations name.
pub const REFUSED_SECRET_TYPES: [&str; 1] = ["kubernetes.io/service-account-token"];

/// Refuses templates that would turn an `EncryptedSecret` edit into a privilege escalation.
///
/// # Errors
/// [`Reason::InvalidSpec`] naming the field and what to use instead.
pub fn check_template(opened: &OpenedSecret) -> Result<(), Refusal> {
    check_secret_type(
        &opened.template.secret_type,
        ", and the template is not protected by the MAC",
    )
}

/// Refuses a produced Secret type from [`REFUSED_SECRET_TYPES`]; `why` adds to the reason.
///
/// # Errors
/// [`Reason::InvalidSpec`] naming the field and what to use instead.
pub fn check_secret_type(secret_type: &str, why: &str) -> Result<(), Refusal> {
    if REFUSED_SECRET_TYPES.contains(&secret_type) {
        return Err(Refusal::new(
            Reason::InvalidSpec,
            format!(
                "spec.template.type {secret_type} is refused: the cluster would fill such a \
                 Secret with a ServiceAccount token{why}; create token Secrets directly, not \
                 through sealgate"
            ),
        ));
    }
    Ok(())
}

/// Reads an `EncryptedSecret` manifest file (YAML or JSON) the way the apiserver would store
/// it: keys sorted, then typed.
///
/// # Errors
/// A message saying what is wrong with the file.
pub fn object_from_manifest(bytes: &[u8]) -> Result<EncryptedSecret, String> {
    let docs = crate::format::store::parse_plain(Format::Yaml, bytes).map_err(|e| e.to_string())?;
    let [doc] = docs.as_slice() else {
        return Err(format!("expected one EncryptedSecret, found {} documents", docs.len()));
    };
    let json = crate::format::store::emit_plain(Format::Json, std::slice::from_ref(doc))
        .map_err(|e| e.to_string())?;
    let mut value: Value = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    sort_json(&mut value);
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not an EncryptedSecret: {e}"))
}

/// Sorts every JSON object's keys, as the apiserver returns custom resources.
pub fn sort_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_json(&mut val);
                m.insert(k, val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(sort_json),
        _ => {}
    }
}

/// Everything between the object and the Secret, with no I/O: read the SOPS file, unwrap its
/// data key with `keyring`, open it (binding first, then every value with the MAC), check the
/// template, build the Secret. On success, also the public key that unwrapped the data key.
///
/// # Errors
/// The refusal, with the key id when the data key was unwrapped.
pub fn render(
    es: &EncryptedSecret,
    keyring: &Keyring,
) -> Result<(DesiredSecret, Option<String>), (Refusal, Option<String>)> {
    let namespace = es.metadata.namespace.as_deref().unwrap_or_default();
    let name = es.metadata.name.as_deref().unwrap_or_default();
    let file = sops_file_of(es).map_err(|r| (r, None))?;
    let (key, report) =
        keyring.unwrap_data_key(&file.metadata).map_err(|e| (Refusal::from_key_error(&e), None))?;
    let key_id = recovered_key(&report);
    let opened = seal::open(&file, &key, namespace, name)
        .map_err(|e| (Refusal::from_seal_error(&e), key_id.clone()))?;
    drop(key);
    check_template(&opened).map_err(|r| (r, key_id.clone()))?;
    Ok((desired_secret(es, &opened), key_id))
}

/// The public recipient that gave up the data key (for the status).
fn recovered_key(report: &UnwrapReport) -> Option<String> {
    report.groups.iter().flat_map(|g| &g.attempts).find(|a| a.result.is_ok()).map(|a| {
        match &a.key {
            KeyRef::Age { recipient } => recipient.clone(),
            KeyRef::HcVault { uri } => uri.clone(),
            KeyRef::Foreign { key_type, id } => format!("{key_type}:{id}"),
        }
    })
}

/// The Secret to apply: same name and namespace, owned by its `EncryptedSecret`.
pub struct DesiredSecret {
    pub meta: ObjectMeta,
    pub secret_type: String,
    /// Set only when true: Kubernetes refuses to turn immutability off again.
    pub immutable: Option<bool>,
    /// `data` and `stringData` merged, as bytes. Wiped on drop.
    pub data: BTreeMap<String, SecretValue>,
}

impl std::fmt::Debug for DesiredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredSecret")
            .field("meta", &self.meta)
            .field("secret_type", &self.secret_type)
            .field("immutable", &self.immutable)
            .field("data", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Builds the Secret for a verified, decrypted object.
pub fn desired_secret(es: &EncryptedSecret, opened: &OpenedSecret) -> DesiredSecret {
    build_secret(&SecretOwner::of(es), &opened.template, opened.merged_data())
}

/// Who a produced Secret belongs to: what is needed of the owning object (an `EncryptedSecret`
/// or a `VaultSecret`) to write its owner reference, decide whether an existing Secret is its
/// own, and word a conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretOwner {
    /// `EncryptedSecret`, `VaultSecret`.
    pub kind: String,
    /// The owner's API group (`sealgate.dev`).
    pub group: String,
    pub name: String,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    /// The controller owner reference to put on the Secret (absent without a uid).
    pub owner_ref: Option<OwnerReference>,
    /// The owner carries [`ADOPT_ANNOTATION`]`="true"`: it may take over a Secret it did not
    /// create.
    pub adopt: bool,
}

impl SecretOwner {
    /// The owner descriptor of an object of any kind that produces a Secret of its own name.
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> SecretOwner {
        let meta = obj.meta();
        SecretOwner {
            kind: K::kind(&()).into_owned(),
            group: K::group(&()).into_owned(),
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            owner_ref: obj.controller_owner_ref(&()),
            adopt: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ADOPT_ANNOTATION))
                .is_some_and(|v| v == "true"),
        }
    }
}

/// Builds the Secret an owner produces: same name and namespace, the template's type, labels
/// (plus [`MANAGED_BY_LABEL`]) and annotations, a controller owner reference, and `data`.
pub fn build_secret(
    owner: &SecretOwner,
    template: &Template,
    data: BTreeMap<String, SecretValue>,
) -> DesiredSecret {
    let mut labels = template.labels.clone();
    labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned());
    let annotations = template.annotations.clone();
    let meta = ObjectMeta {
        name: Some(owner.name.clone()),
        namespace: owner.namespace.clone(),
        labels: Some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        owner_references: owner.owner_ref.clone().map(|r| vec![r]),
        ..ObjectMeta::default()
    };
    DesiredSecret {
        meta,
        secret_type: template.secret_type.clone(),
        immutable: template.immutable.then_some(true),
        data,
    }
}

impl DesiredSecret {
    /// The server-side-apply body (JSON), built so that plaintext only ever sits in this one
    /// pre-sized, zeroizing buffer: values are base64-encoded straight into it.
    pub fn to_apply_body(&self) -> Zeroizing<Vec<u8>> {
        let mut head = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self.meta,
            "type": self.secret_type,
        });
        if let Some(immutable) = self.immutable {
            head["immutable"] = Value::Bool(immutable);
        }
        let head = serde_json::to_vec(&head).expect("JSON values always serialize");
        let keys: Vec<Vec<u8>> = self
            .data
            .keys()
            .map(|k| serde_json::to_vec(k).expect("strings always serialize"))
            .collect();
        let values_len: usize = self.data.values().map(|v| v.len().div_ceil(3) * 4).sum();
        let keys_len: usize = keys.iter().map(|k| k.len() + 4).sum();
        let capacity = head.len() + keys_len + values_len + 16;
        let mut out = Zeroizing::new(Vec::with_capacity(capacity));
        // `head` ends with `}`: reopen it to append `data`.
        out.extend_from_slice(&head[..head.len() - 1]);
        out.extend_from_slice(b",\"data\":{");
        for (i, (key, value)) in keys.iter().zip(self.data.values()).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            out.extend_from_slice(b":\"");
            let start = out.len();
            out.resize(start + value.len().div_ceil(3) * 4, 0);
            let written = STANDARD
                .encode_slice(value.as_slice(), &mut out[start..])
                .expect("the buffer was sized for the encoding");
            out.truncate(start + written);
            out.push(b'"');
        }
        out.extend_from_slice(b"}}");
        debug_assert!(out.len() <= capacity, "the apply body outgrew its zeroizing buffer");
        out
    }
}

/// The Secret as YAML for a person to read: values as their sizes, or base64 with
/// `show_values`.
pub fn preview(desired: &DesiredSecret, show_values: bool) -> String {
    let data: serde_json::Map<String, Value> = desired
        .data
        .iter()
        .map(|(k, v)| {
            let shown = if show_values {
                STANDARD.encode(v.as_slice())
            } else {
                format!("<{} bytes>", v.len())
            };
            (k.clone(), Value::String(shown))
        })
        .collect();
    let mut secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": desired.meta,
        "type": desired.secret_type,
        "data": data,
    });
    if let Some(immutable) = desired.immutable {
        secret["immutable"] = Value::Bool(immutable);
    }
    serde_saphyr::to_string(&secret).unwrap_or_else(|e| format!("# cannot show the Secret: {e}"))
}

/// Who owns a Secret that has the name an owner (an `EncryptedSecret`, a `VaultSecret`) wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// No such Secret yet.
    Absent,
    /// Ours: owned by this object.
    Owned,
    /// Not ours, but the object opts in to taking it over.
    Adopt,
    /// Not ours; left alone. The text says who holds it, for the status message.
    Foreign(String),
}

/// Decides whether the controller may write over `existing`.
pub fn ownership(owner: &SecretOwner, existing: Option<&ObjectMeta>) -> Ownership {
    let Some(meta) = existing else {
        return Ownership::Absent;
    };
    let refs = meta.owner_references.as_deref().unwrap_or_default();
    if refs.iter().any(|r| is_owner(r, owner)) {
        return Ownership::Owned;
    }
    if owner.adopt {
        return Ownership::Adopt;
    }
    let holder = match refs.iter().find(|r| r.controller == Some(true)) {
        Some(r) => format!("it is controlled by {} {}", r.kind, r.name),
        None => "it was not created by sealgate".to_owned(),
    };
    Ownership::Foreign(holder)
}

/// A controller reference to this object, or to an earlier object of the same kind and name
/// (deleted and re-created: only one object can hold a name in a namespace at a time).
fn is_owner(r: &OwnerReference, owner: &SecretOwner) -> bool {
    r.controller == Some(true)
        && r.kind == owner.kind
        && r.api_version.split('/').next() == Some(owner.group.as_str())
        && (owner.uid.as_deref() == Some(r.uid.as_str()) || owner.name == r.name)
}

/// Fields of a Secret that decide what it holds: another manager owning one of them means
/// a hand edit (or another tool) changed the values, the type or immutability.
const VALUE_FIELDS: [&str; 4] = ["f:data", "f:stringData", "f:type", "f:immutable"];

/// The first field manager other than the controller that owns values of the Secret (from
/// its `managedFields`). Server-side apply would leave such fields in place (a key added by
/// hand, say), so the controller replaces the whole Secret instead.
pub fn foreign_value_owner(meta: &ObjectMeta) -> Option<String> {
    meta.managed_fields.iter().flatten().find_map(|entry| {
        let manager = entry.manager.as_deref().unwrap_or("");
        let fields = entry.fields_v1.as_ref()?.0.as_object()?;
        let owns_values = VALUE_FIELDS.iter().any(|f| fields.contains_key(*f));
        (manager != FIELD_MANAGER && owns_values).then(|| manager.to_owned())
    })
}

/// Keeps only what [`foreign_value_owner`] needs of `managedFields` (for the watch cache): the
/// entries of other managers that own values, with their manager and fields.
pub fn trim_managed_fields(meta: &mut ObjectMeta) {
    let Some(entries) = meta.managed_fields.take() else { return };
    let kept: Vec<ManagedFieldsEntry> = entries
        .into_iter()
        .filter(|e| e.manager.as_deref() != Some(FIELD_MANAGER))
        .filter_map(|e| {
            let fields = e.fields_v1?.0;
            let values: serde_json::Map<String, Value> = fields
                .as_object()?
                .iter()
                .filter(|(k, _)| VALUE_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (!values.is_empty()).then(|| ManagedFieldsEntry {
                manager: e.manager,
                fields_v1: Some(FieldsV1(Value::Object(values))),
                ..ManagedFieldsEntry::default()
            })
        })
        .collect();
    meta.managed_fields = (!kept.is_empty()).then_some(kept);
}

/// The refusal for a Secret the controller will not take over.
pub fn conflict_refusal(owner: &SecretOwner, holder: &str) -> Refusal {
    let (name, kind) = (&owner.name, &owner.kind);
    Refusal::new(
        Reason::SecretConflict,
        format!(
            "a Secret named {name} already exists in this namespace and {holder}; the controller \
             does not take over Secrets it did not create. Delete that Secret, rename the \
             {kind}, or annotate the {kind} with {ADOPT_ANNOTATION}=\"true\" to let it take the \
             Secret over"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{EncryptedSecretContent, EncryptedSecretSpec};

    fn object(uid: &str, adopt: bool) -> EncryptedSecret {
        let mut es = EncryptedSecret::new(
            "db",
            EncryptedSecretContent {
                spec: EncryptedSecretSpec::default(),
                sops: crate::crd::SopsBlock::from_json("{}".into()).unwrap(),
            },
        );
        es.metadata.namespace = Some("ns".into());
        es.metadata.uid = Some(uid.into());
        if adopt {
            es.metadata.annotations =
                Some([(ADOPT_ANNOTATION.to_owned(), "true".to_owned())].into_iter().collect());
        }
        es
    }

    fn owned_by(kind: &str, api_version: &str, name: &str, uid: &str) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: api_version.into(),
                kind: kind.into(),
                name: name.into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        }
    }

    fn ownership(es: &EncryptedSecret, existing: Option<&ObjectMeta>) -> Ownership {
        super::ownership(&SecretOwner::of(es), existing)
    }

    #[test]
    fn ownership_is_decided_by_the_controller_reference() {
        let es = object("u1", false);
        assert_eq!(ownership(&es, None), Ownership::Absent);
        let ours = owned_by("EncryptedSecret", "sealgate.dev/v1alpha1", "db", "u1");
        assert_eq!(ownership(&es, Some(&ours)), Ownership::Owned);
        // The same name re-created: a new uid, still ours.
        let earlier = owned_by("EncryptedSecret", "sealgate.dev/v1alpha1", "db", "u0");
        assert_eq!(ownership(&es, Some(&earlier)), Ownership::Owned);
        let other_group = owned_by("EncryptedSecret", "evil.example/v1", "db", "u1");
        assert!(matches!(ownership(&es, Some(&other_group)), Ownership::Foreign(_)));
        let helm = owned_by("HelmRelease", "helm.toolkit.fluxcd.io/v2", "db", "h");
        assert_eq!(
            ownership(&es, Some(&helm)),
            Ownership::Foreign("it is controlled by HelmRelease db".into())
        );
        let bare = ObjectMeta::default();
        assert_eq!(
            ownership(&es, Some(&bare)),
            Ownership::Foreign("it was not created by sealgate".into())
        );
        assert_eq!(ownership(&object("u1", true), Some(&bare)), Ownership::Adopt);
    }

    fn managed(manager: &str, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    #[test]
    fn a_hand_edit_of_values_is_seen_in_managed_fields() {
        let mut meta = ObjectMeta {
            managed_fields: Some(vec![
                managed(FIELD_MANAGER, json!({"f:data": {"f:password": {}}})),
                managed("kubectl-label", json!({"f:metadata": {"f:labels": {"f:x": {}}}})),
            ]),
            ..ObjectMeta::default()
        };
        assert_eq!(foreign_value_owner(&meta), None, "labels do not change what it holds");
        trim_managed_fields(&mut meta);
        assert_eq!(meta.managed_fields, None, "nothing worth caching");

        let mut edited = ObjectMeta {
            managed_fields: Some(vec![
                managed(FIELD_MANAGER, json!({"f:data": {"f:password": {}}})),
                managed(
                    "kubectl-edit",
                    json!({"f:data": {"f:extra": {}}, "f:metadata": {"f:labels": {}}}),
                ),
            ]),
            ..ObjectMeta::default()
        };
        assert_eq!(foreign_value_owner(&edited).as_deref(), Some("kubectl-edit"));
        trim_managed_fields(&mut edited);
        let kept = edited.managed_fields.as_ref().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].fields_v1.as_ref().unwrap().0, json!({"f:data": {"f:extra": {}}}));
        assert_eq!(foreign_value_owner(&edited).as_deref(), Some("kubectl-edit"));
    }

    #[test]
    fn the_apply_body_is_json_with_every_value_base64_encoded() {
        let mut data = BTreeMap::new();
        data.insert("a\"quote".to_owned(), Zeroizing::new(vec![0u8, 255, 10]));
        data.insert("b".to_owned(), Zeroizing::new(b"x".repeat(1000)));
        data.insert("c".to_owned(), Zeroizing::new(b"ab".to_vec()));
        let desired = DesiredSecret {
            meta: ObjectMeta { name: Some("db".into()), ..ObjectMeta::default() },
            secret_type: "Opaque".into(),
            immutable: Some(true),
            data,
        };
        let body = desired.to_apply_body();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["immutable"], true);
        assert_eq!(v["metadata"]["name"], "db");
        assert_eq!(v["data"]["a\"quote"], "AP8K");
        assert_eq!(v["data"]["c"], "YWI=");
        assert_eq!(STANDARD.decode(v["data"]["b"].as_str().unwrap()).unwrap(), b"x".repeat(1000));
        assert!(body.capacity() >= body.len());
        let debug = format!("{desired:?}");
        assert!(!debug.contains("xxx") && debug.contains("\"b\""), "{debug}");
    }
}
