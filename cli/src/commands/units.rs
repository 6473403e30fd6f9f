//! The SOPS files inside one file on disk, for `diff`, `merge` and conflict resolution: the file
//! itself, or, for a YAML stream whose documents each carry their own metadata block (what
//! `sealgate seal` writes for several Secrets), each document as a file of its own. A
//! multi-document file written by sops repeats one metadata block in every document and is one
//! file.

use sealgate::format::cipher::DataKey;
use sealgate::format::file::{FileError, SopsFile};
use sealgate::format::metadata::Metadata;
use sealgate::format::store::Format;
use sealgate::format::tree::Node;
use sealgate::keys::Keyring;

use crate::exit::CliResult;
use crate::keysel;

/// The separator `sealgate seal` writes between the documents of a stream.
pub const DOCUMENT_SEPARATOR: &[u8] = b"---\n";

/// Parses `bytes` into its SOPS files: one, or one per document of an independent stream.
///
/// # Errors
/// What [`SopsFile::parse`] fails with.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<SopsFile>, FileError> {
    let whole = SopsFile::parse(format, bytes)?;
    if format == Format::Yaml
        && let Ok(files) = SopsFile::parse_each_document(format, bytes)
        && files.len() > 1
        && files.iter().any(|f| f.metadata != files[0].metadata)
    {
        return Ok(files);
    }
    Ok(vec![whole])
}

/// What names a document of a stream across versions: its kind, namespace and name (clear
/// text in every Kubernetes object), when it has them.
pub fn identity(file: &SopsFile) -> Option<String> {
    let doc = file.docs.first()?;
    let text = |n: Option<&Node>| n.and_then(Node::as_str).map(str::to_owned);
    let kind = text(doc.get("kind"))?;
    let meta = doc.get("metadata").and_then(Node::as_map)?;
    let name = text(meta.get("name"))?;
    let namespace = text(meta.get("namespace")).unwrap_or_default();
    Some(if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    })
}

/// Emits files as one text, documents separated as `sealgate seal` does.
pub fn join(texts: &[Vec<u8>]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(texts.iter().map(|t| t.len() + DOCUMENT_SEPARATOR.len()).sum());
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(DOCUMENT_SEPARATOR);
        }
        out.extend_from_slice(t);
    }
    out
}

/// Data keys recovered so far, so that files sharing key groups are unwrapped once.
pub struct Keys {
    keyring: Keyring,
    known: Vec<(Metadata, DataKey)>,
}

impl Keys {
    pub fn new() -> Keys {
        Keys { keyring: keysel::keyring(), known: Vec::new() }
    }

    /// The data key of `file`; `name` is used in messages.
    pub fn unwrap(&mut self, file: &SopsFile, name: &str) -> CliResult<DataKey> {
        let same = |m: &Metadata| {
            m.key_groups == file.metadata.key_groups
                && m.shamir_threshold == file.metadata.shamir_threshold
        };
        if let Some((_, k)) = self.known.iter().find(|(m, _)| same(m)) {
            return Ok(k.clone());
        }
        let key = keysel::unwrap(&self.keyring, file, name)?;
        self.known.push((file.metadata.clone(), key.clone()));
        Ok(key)
    }
}
