//! Building the plaintext `EncryptedSecret` tree (everything under `spec` in sorted key order)
//! and sealing it into a SOPS file with the EncryptedSecret rule.

use regex::Regex;

use super::binding::{Scope, binding_for};
use super::secret::{SecretManifest, data_node, string_data_node, string_map_node};
use super::{API_VERSION, KIND, SealError};
use crate::format::cipher::DataKey;
use crate::format::engine::IvStash;
use crate::format::file::{EncryptParams, SopsFile};
use crate::format::metadata::KeyGroup;
use crate::format::rules::EncryptionRule;
use crate::format::scalar::Scalar;
use crate::format::store::Format;
use crate::format::timestamp::Timestamp;
use crate::format::tree::{Document, Item, Map, Node};

/// The `encrypted_regex` of every `EncryptedSecret`: it encrypts `spec.binding` and every value
/// under `spec.data` and `spec.stringData` (and any other key with these names, which sealgate
/// therefore refuses elsewhere).
pub const ENCRYPTED_REGEX: &str = "^(binding|data|stringData)$";

/// The EncryptedSecret encryption rule.
pub(crate) fn encryption_rule() -> EncryptionRule {
    // A constant pattern, covered by tests: it always compiles.
    EncryptionRule::EncryptedRegex(Regex::new(ENCRYPTED_REGEX).expect("constant regex compiles"))
}

/// Builds the plaintext `EncryptedSecret` document for `secret` bound with `scope`:
///
/// ```yaml
/// apiVersion: sealgate.dev/v1alpha1
/// kind: EncryptedSecret
/// metadata: {name: …, namespace: …}        # namespace only when known
/// spec:                                    # this and every map below in byte-sorted key order
///   binding: payments/db-creds             # or payments/* or */*
///   data: {key: <canonical base64>}        # always present, possibly {}
///   scope: strict
///   stringData: {key: <text>}              # always present, possibly {}
///   template: {immutable: false, metadata: {annotations: {}, labels: {}}, type: Opaque}
/// ```
///
/// Empty maps are written rather than omitted, so every `EncryptedSecret` has the same shape.
///
/// # Errors
/// [`SealError::NamespaceRequired`] when `scope` is strict or namespace and the Secret has no
/// namespace; any [`SecretManifest::validate`] error.
pub fn build_encrypted_secret(
    secret: &SecretManifest,
    scope: Scope,
) -> Result<Document, SealError> {
    secret.validate()?;
    let namespace = match (&secret.namespace, scope.needs_namespace()) {
        (Some(ns), _) => ns.as_str(),
        (None, false) => "",
        (None, true) => {
            return Err(SealError::NamespaceRequired { object: secret.describe(), scope });
        }
    };

    let mut template_meta = Map::new();
    template_meta.push("annotations", string_map_node(&secret.annotations));
    template_meta.push("labels", string_map_node(&secret.labels));
    let mut template = Map::new();
    template.push("immutable", Node::Scalar(Scalar::Bool(secret.immutable.unwrap_or(false))));
    template.push("metadata", Node::Map(template_meta));
    template.push("type", Node::str(secret.secret_type.clone()));

    let mut spec = Map::new();
    spec.push("binding", Node::str(binding_for(scope, namespace, &secret.name)));
    spec.push("data", data_node(&secret.data));
    spec.push("scope", Node::str(scope.as_str()));
    spec.push("stringData", string_data_node(&secret.string_data));
    spec.push("template", Node::Map(template));
    // Already in order by construction; sorting again keeps the promise if fields are added.
    sort_keys_recursively(&mut spec);

    let mut metadata = Map::new();
    metadata.push("name", Node::str(secret.name.clone()));
    if let Some(ns) = &secret.namespace {
        metadata.push("namespace", Node::str(ns.clone()));
    }
    let mut doc = Map::new();
    doc.push("apiVersion", Node::str(API_VERSION));
    doc.push("kind", Node::str(KIND));
    doc.push("metadata", Node::Map(metadata));
    doc.push("spec", Node::Map(spec));
    Ok(doc)
}

/// Seals a Secret into an `EncryptedSecret` SOPS file (YAML by default; set `format` on the
/// result to emit JSON).
///
/// `key` is the file's fresh data key, already wrapped into `key_groups` by the caller
/// ([`crate::keys`]). `stash` (from [`super::OpenedSecret::stash`]) makes unchanged values
/// re-encrypt to identical ciphertext when re-sealing under the same data key.
///
/// # Guarantees
/// - The binding, every `data` value (canonical base64 text) and every `stringData` value are
///   encrypted; nothing else is. The rule is `encrypted_regex: ^(binding|data|stringData)$`
///   with `mac_only_encrypted: true`, so labels and annotations added later (by kubectl, Argo
///   CD, Flux, the apiserver) do not break the MAC, while adding, removing, reordering or
///   swapping an encrypted value does.
/// - `spec` and every map under it are in byte-sorted key order, the order in which the
///   apiserver returns custom resources, so the MAC verifies after a round trip through it.
/// - No comment, server-set field or last-applied annotation of the input is carried over.
///
/// # Errors
/// As [`build_encrypted_secret`]; [`SealError::Encrypt`] if the tree cannot be encrypted.
pub fn seal(
    secret: &SecretManifest,
    scope: Scope,
    key: &DataKey,
    key_groups: Vec<KeyGroup>,
    shamir_threshold: usize,
    stash: Option<&IvStash>,
    now: Timestamp,
) -> Result<SopsFile, SealError> {
    let doc = build_encrypted_secret(secret, scope)?;
    let params = EncryptParams {
        rule: encryption_rule(),
        mac_only_encrypted: true,
        key_groups,
        shamir_threshold,
    };
    SopsFile::encrypt(Format::Yaml, vec![doc], key, params, stash, now)
        .map_err(|source| SealError::Encrypt { object: secret.describe(), source })
}

/// Sorts every map in the tree by key, byte order (as Go's `encoding/json` writes maps, and
/// so as the apiserver returns custom resources). Comments are dropped: JSON has none.
/// The sort is stable, so repeated keys keep their relative order.
pub fn sort_keys_recursively(map: &mut Map) {
    map.0.retain(|item| matches!(item, Item::Entry(..)));
    map.0.sort_by(|a, b| match (a, b) {
        (Item::Entry(ka, _), Item::Entry(kb, _)) => ka.as_bytes().cmp(kb.as_bytes()),
        _ => std::cmp::Ordering::Equal,
    });
    for item in &mut map.0 {
        if let Item::Entry(_, node) = item {
            sort_node(node);
        }
    }
}

fn sort_node(node: &mut Node) {
    match node {
        Node::Map(m) => sort_keys_recursively(m),
        Node::List(items) => {
            items.retain(|n| !matches!(n, Node::Comment(_)));
            items.iter_mut().for_each(sort_node);
        }
        Node::Scalar(_) | Node::Comment(_) => {}
    }
}

/// The first map at or under `spec` whose keys are not in byte-sorted order, as a dotted path
/// (`spec.data`), or `None` when everything is sorted. A file made by hand with plain `sops`
/// can have this; its MAC would not verify once the apiserver re-sorted it (`sealgate check`
/// reports it, and re-sealing fixes it).
pub fn first_unsorted_path(doc: &Document) -> Option<String> {
    fn walk_map(map: &Map, path: &str) -> Option<String> {
        let keys: Vec<&str> = map.entries().map(|(k, _)| k).collect();
        if keys.windows(2).any(|w| w[0].as_bytes() > w[1].as_bytes()) {
            return Some(path.to_owned());
        }
        map.entries().find_map(|(k, v)| walk_node(v, &format!("{path}.{k}")))
    }
    fn walk_node(node: &Node, path: &str) -> Option<String> {
        match node {
            Node::Map(m) => walk_map(m, path),
            Node::List(items) => {
                items.iter().enumerate().find_map(|(i, n)| walk_node(n, &format!("{path}[{i}]")))
            }
            Node::Scalar(_) | Node::Comment(_) => None,
        }
    }
    doc.get("spec").and_then(|spec| walk_node(spec, "spec"))
}
