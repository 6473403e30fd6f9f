//! Stores: parse a file's bytes into documents and emit documents back, one module per format,
//! free of crypto and keys (as sops keeps `stores/*`). This module is the one face the engine
//! uses: it picks the format and moves the `sops` metadata tree in and out of each file layout.
//!
//! What each format writes is what sops 3.11 writes, byte for byte where sops is deterministic
//! (see each module's documentation for the rules and the experiments behind them).

mod binary;
mod dotenv;
mod flatten;
mod gofmt;
mod ini;
mod json;
pub mod yaml;

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::format::tree::{Document, Item, Map, Node};

/// The deepest nesting of maps and lists the JSON parser accepts. Deeper input is refused
/// rather than risking the stack in the recursive walks over the tree.
pub const MAX_DEPTH: usize = 1000;

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// By extension as sops does (a case-sensitive suffix of the whole path): `.yaml`/`.yml`,
    /// `.json`, `.env`, `.ini`; anything else is binary.
    pub fn from_path(path: &Path) -> Format {
        let p = path.as_os_str().as_encoded_bytes();
        if p.ends_with(b".yaml") || p.ends_with(b".yml") {
            Format::Yaml
        } else if p.ends_with(b".json") {
            Format::Json
        } else if p.ends_with(b".env") {
            Format::Dotenv
        } else if p.ends_with(b".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The `--input-type`/`--output-type` names: `yaml`, `json`, `dotenv`, `ini`, `binary`.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// The name `from_name` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    fn metadata_place(self) -> &'static str {
        match self {
            Format::Yaml | Format::Json | Format::Binary => "top-level `sops` entry",
            Format::Dotenv => "`sops_*` keys",
            Format::Ini => "`[sops]` section",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        })
    }
}

/// Where in the input something is: a 1-based line, and a 1-based column (in characters) when
/// the format has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: Option<usize>,
}

impl Position {
    /// The line and column of byte `offset` of `input`.
    pub(crate) fn of_offset(input: &[u8], offset: usize) -> Position {
        let before = &input[..offset.min(input.len())];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        // Characters, not bytes: count the bytes that start a UTF-8 sequence.
        let column = before[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
        Position { line, column: Some(column) }
    }

    pub(crate) fn line(line: usize) -> Position {
        Position { line, column: None }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {c}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// Why a store could not read or write a file. Messages name the format, the place (line and
/// column, or the key path) and what is wrong; they never quote a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A zero-byte YAML file (sops: exit 92, "file is empty"). Other formats accept empty input.
    #[error("the {format} file is empty: it must contain at least one document")]
    Empty { format: Format },
    /// The input is not valid in its format.
    #[error("failed to parse the {format} input at {at}: {message}")]
    Syntax { format: Format, at: Position, message: String },
    /// The input has no sops metadata (the caller reports "sops metadata not found").
    #[error("sops metadata not found: the {format} input has no {}", format.metadata_place())]
    NoMetadata { format: Format },
    /// The metadata block is there but cannot be read as a tree.
    #[error("failed to read the sops metadata of the {format} input at `{key}`: {message}")]
    Metadata { format: Format, key: String, message: String },
    /// A value cannot be written in this format (nested value in dotenv, NaN in JSON, …).
    /// `path` says which: `the value at ["a"]["b"][0]`, or `the document`.
    #[error("cannot write {format}: {path} {message}")]
    Unrepresentable { format: Format, path: String, message: String },
    /// There is no document to write.
    #[error("cannot write {format}: there is no document")]
    NoDocument { format: Format },
    /// `--extract` picked a value this format cannot print on its own (sops refuses it too).
    #[error("cannot print the extracted value as {format}: {message}")]
    CannotExtract { format: Format, message: String },
}

/// A parse failure inside one format module, before the format is attached.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub at: Position,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(at: Position, message: impl Into<String>) -> Self {
        ParseError { at, message: message.into() }
    }

    fn with(self, format: Format) -> StoreError {
        StoreError::Syntax { format, at: self.at, message: self.message }
    }
}

/// An emit failure inside one format module: the path of the value (`["a"]["b"][0]`, or
/// `the document`) and what is wrong with it.
#[derive(Debug)]
pub(crate) struct EmitError {
    pub path: String,
    pub message: String,
}

impl EmitError {
    pub(crate) fn new(path: &[PathSeg<'_>], message: impl Into<String>) -> Self {
        EmitError { path: path_string(path), message: message.into() }
    }

    fn with(self, format: Format) -> StoreError {
        StoreError::Unrepresentable { format, path: self.path, message: self.message }
    }
}

/// One step of a value's path, for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

/// `the value at ["a"]["b"][0]` (the `--extract` syntax), or `the document` for the root.
pub(crate) fn path_string(path: &[PathSeg<'_>]) -> String {
    if path.is_empty() {
        return "the document".to_owned();
    }
    let mut s = String::from("the value at ");
    for seg in path {
        match seg {
            PathSeg::Key(k) => s.push_str(&format!("[{k:?}]")),
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Reads a plaintext file into its documents (one, except multi-document YAML).
pub fn parse_plain(format: Format, input: &[u8]) -> Result<Vec<Document>, StoreError> {
    Ok(match format {
        Format::Yaml => parse_yaml(input)?,
        Format::Json => vec![json::parse(input).map_err(|e| e.with(format))?],
        Format::Dotenv => vec![dotenv::parse(input).map_err(|e| e.with(format))?],
        Format::Ini => vec![ini::parse(input).map_err(|e| e.with(format))?],
        Format::Binary => vec![binary::parse_plain(input)],
    })
}

fn parse_yaml(input: &[u8]) -> Result<Vec<Document>, StoreError> {
    if input.is_empty() {
        return Err(StoreError::Empty { format: Format::Yaml });
    }
    let docs = yaml::parse(input).map_err(|e| StoreError::Syntax {
        format: Format::Yaml,
        at: Position { line: e.line, column: Some(e.column) },
        message: e.message,
    })?;
    // sops refuses a file without any document (`len(branches) < 1`, exit 92).
    if docs.is_empty() {
        return Err(StoreError::Empty { format: Format::Yaml });
    }
    Ok(docs)
}

/// Writes documents as `sops decrypt` prints them. JSON, dotenv and binary write the first
/// document only (as sops does); INI writes the sections of every document.
pub fn emit_plain(format: Format, docs: &[Document]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let first = || docs.first().ok_or_else(|| no_document(format));
    match format {
        Format::Yaml => Ok(Zeroizing::new(yaml::emit(docs).into_bytes())),
        Format::Json => json::emit_document(first()?)
            .map(|s| Zeroizing::new(s.into_bytes()))
            .map_err(|e| e.with(format)),
        Format::Dotenv => dotenv::emit(first()?).map_err(|e| e.with(format)),
        Format::Ini => ini::emit(docs, None).map_err(|e| e.with(format)),
        Format::Binary => binary::emit_plain(docs).map_err(|e| e.with(format)),
    }
}

fn no_document(format: Format) -> StoreError {
    StoreError::NoDocument { format }
}

/// The documents without their metadata, and the metadata tree (for YAML, from the first
/// document; the `sops` entry is removed from every document).
///
/// # Errors
/// [`StoreError::NoMetadata`] when the file has none (sops: "sops metadata not found"); a
/// syntax error; [`StoreError::Metadata`] when the metadata is not a map, appears twice, or its
/// flattened form (dotenv, INI) cannot be rebuilt.
pub fn parse_encrypted(format: Format, input: &[u8]) -> Result<(Vec<Document>, Map), StoreError> {
    match format {
        Format::Yaml => {
            let mut docs = parse_yaml(input)?;
            let metadata = match docs.first() {
                Some(first) => metadata_entry(format, first)?,
                None => None,
            };
            let metadata = metadata.ok_or(StoreError::NoMetadata { format })?;
            for doc in &mut docs {
                doc.0.retain(|item| !matches!(item, Item::Entry(k, _) if k == "sops"));
            }
            Ok((docs, metadata))
        }
        Format::Json | Format::Binary => {
            let mut doc = json::parse(input).map_err(|e| e.with(format))?;
            let metadata =
                metadata_entry(format, &doc)?.ok_or(StoreError::NoMetadata { format })?;
            doc.0.retain(|item| !matches!(item, Item::Entry(k, _) if k == "sops"));
            Ok((vec![doc], metadata))
        }
        Format::Dotenv => {
            let doc = dotenv::parse(input).map_err(|e| e.with(format))?;
            let (doc, pairs) = dotenv::split_metadata(doc);
            if pairs.is_empty() {
                return Err(StoreError::NoMetadata { format });
            }
            let metadata = flatten::unflatten(pairs).map_err(|e| e.with(format))?;
            Ok((vec![doc], metadata))
        }
        Format::Ini => {
            let doc = ini::parse(input).map_err(|e| e.with(format))?;
            let (doc, pairs) = ini::split_metadata(doc).map_err(|e| e.with(format))?;
            let pairs = pairs.ok_or(StoreError::NoMetadata { format })?;
            let metadata = flatten::unflatten(pairs).map_err(|e| e.with(format))?;
            Ok((vec![doc], metadata))
        }
    }
}

/// The map under the single top-level `sops` key of `doc`, if any.
fn metadata_entry(format: Format, doc: &Map) -> Result<Option<Map>, StoreError> {
    let mut found = doc.entries().filter(|(k, _)| *k == "sops").map(|(_, v)| v);
    let first = found.next();
    if found.next().is_some() {
        return Err(StoreError::Metadata {
            format,
            key: "sops".to_owned(),
            message: "the top-level `sops` entry appears more than once".to_owned(),
        });
    }
    match first {
        None | Some(Node::Scalar(crate::format::Scalar::Null)) => Ok(None),
        Some(Node::Map(m)) => Ok(Some(m.clone())),
        Some(_) => Err(StoreError::Metadata {
            format,
            key: "sops".to_owned(),
            message: "expected a map".to_owned(),
        }),
    }
}

/// Writes documents plus metadata as sops does: YAML appends `sops` to every document; JSON
/// (and binary, which is JSON) makes `"sops"` the last member; dotenv appends flattened
/// `sops_*` lines sorted by key; INI appends a final `[sops]` section (sorted by key; sops
/// itself writes it in random order).
pub fn emit_encrypted(
    format: Format,
    docs: &[Document],
    metadata: &Map,
) -> Result<Vec<u8>, StoreError> {
    match format {
        // These append the metadata to the documents, so they work on a copy.
        Format::Yaml | Format::Json | Format::Binary => {
            emit_encrypted_owned(format, docs.to_vec(), metadata)
        }
        Format::Dotenv => {
            let first = docs.first().ok_or_else(|| no_document(format))?;
            let pairs = flatten::flatten(metadata).map_err(|e| e.with(format))?;
            let out = dotenv::emit_with_metadata(first, &pairs).map_err(|e| e.with(format))?;
            Ok(out.to_vec())
        }
        Format::Ini => {
            let pairs = flatten::flatten(metadata).map_err(|e| e.with(format))?;
            let out = ini::emit(docs, Some(&pairs)).map_err(|e| e.with(format))?;
            Ok(out.to_vec())
        }
    }
}

/// [`emit_encrypted`] for documents the caller no longer needs: the metadata is appended to
/// them in place, without copying a large tree first.
pub fn emit_encrypted_owned(
    format: Format,
    mut docs: Vec<Document>,
    metadata: &Map,
) -> Result<Vec<u8>, StoreError> {
    match format {
        Format::Yaml => {
            for d in &mut docs {
                d.push("sops", Node::Map(metadata.clone()));
            }
            Ok(yaml::emit(&docs).into_bytes())
        }
        Format::Json | Format::Binary => {
            docs.truncate(1);
            let mut doc = docs.pop().ok_or_else(|| no_document(format))?;
            doc.push("sops", Node::Map(json::metadata_for_json(metadata)));
            json::emit_document(&doc).map(String::into_bytes).map_err(|e| e.with(format))
        }
        Format::Dotenv | Format::Ini => emit_encrypted(format, &docs, metadata),
    }
}

/// [`emit_encrypted_owned`] for YAML, written to `out` as it is produced rather than built in
/// memory first (an encrypted file is several times the size of its plaintext).
pub fn write_yaml_encrypted(
    mut docs: Vec<Document>,
    metadata: &Map,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    for d in &mut docs {
        d.push("sops", Node::Map(metadata.clone()));
    }
    yaml::emit_to(&docs, out)
}

/// One value on its own, exactly as `sops decrypt --extract` prints it in `format`: a string
/// raw (no newline), a map as a whole plain document, anything else through the format's value
/// encoder (JSON: indented, no newline; INI: compact JSON; dotenv and binary: an error).
pub fn emit_value(format: Format, node: &Node) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    if let Node::Scalar(crate::format::Scalar::Str(bytes)) = node {
        return Ok(Zeroizing::new(bytes.to_vec()));
    }
    if let Node::Map(map) = node {
        return emit_plain(format, std::slice::from_ref(map));
    }
    let unsupported = |message: String| StoreError::CannotExtract { format, message };
    match format {
        Format::Yaml => Ok(Zeroizing::new(yaml::emit_value(node).into_bytes())),
        Format::Json => json::emit_value(node).map(Zeroizing::new).map_err(|e| e.with(format)),
        Format::Ini => json::emit_compact_go(node).map(Zeroizing::new).map_err(|e| e.with(format)),
        Format::Dotenv => Err(unsupported(format!(
            "the dotenv store only prints strings, and this value is {}; extract it as yaml or json instead",
            kind_of(node)
        ))),
        Format::Binary => Err(unsupported(
            "binary files are not structured, so only a string (the whole file) can be printed"
                .to_owned(),
        )),
    }
}

/// How messages name the kind of a value.
fn kind_of(node: &Node) -> &'static str {
    use crate::format::Scalar;
    match node {
        Node::Map(_) => "a map",
        Node::List(_) => "a list",
        Node::Comment(_) => "a comment",
        Node::Scalar(Scalar::Null) => "null",
        Node::Scalar(Scalar::Bool(_)) => "a boolean",
        Node::Scalar(Scalar::Int(_)) => "an integer",
        Node::Scalar(Scalar::Float(_)) => "a number",
        Node::Scalar(Scalar::Time(_)) => "a timestamp",
        Node::Scalar(Scalar::Str(_)) => "a string",
    }
}

/// True when the input already carries sops metadata (sops refuses to encrypt it again, exit
/// 203): see [`documents_have_metadata`]. Input that does not parse has no metadata.
pub fn has_metadata(format: Format, input: &[u8]) -> bool {
    format != Format::Binary
        && parse_plain(format, input).is_ok_and(|docs| documents_have_metadata(format, &docs))
}

/// True when parsed plaintext documents carry sops metadata: a top-level `sops` key in the
/// first document (YAML, JSON), a key starting with `sops_` (dotenv), a `[sops]` section
/// (INI). Never for binary: sops wraps any file again. Callers that parse the input anyway
/// use this rather than [`has_metadata`], which parses it a second time.
pub fn documents_have_metadata(format: Format, docs: &[Document]) -> bool {
    let Some(first) = docs.first() else { return false };
    match format {
        Format::Yaml | Format::Json | Format::Ini => first.get("sops").is_some(),
        Format::Dotenv => first.entries().any(|(k, _)| k.starts_with(dotenv::SOPS_PREFIX)),
        Format::Binary => false,
    }
}

#[cfg(test)]
mod tests;
