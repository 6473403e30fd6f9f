//! Stores: parse a file's bytes into documents and emit documents back, one module per format,
//! free of crypto and keys (as sops keeps `stores/*`).

pub mod yaml;

use std::path::Path;

use super::tree::{Document, Map, Node};

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// By extension as sops does: .yaml/.yml, .json, .env, .ini, anything else binary.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

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

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// A file that could not be read or written in its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the file is empty")]
    Empty,
    #[error("sops metadata not found")]
    NoMetadata,
    #[error("invalid {format}: {message}")]
    Syntax { format: &'static str, message: String },
}

/// Placeholder until the stores land.
pub fn parse_plain(_format: Format, _input: &[u8]) -> Result<Vec<Document>, StoreError> {
    Err(StoreError::Syntax { format: "any", message: "stores not implemented yet".into() })
}

/// Placeholder until the stores land.
pub fn emit_plain(_format: Format, _docs: &[Document]) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::Syntax { format: "any", message: "stores not implemented yet".into() })
}

/// Placeholder until the stores land.
pub fn parse_encrypted(_format: Format, _input: &[u8]) -> Result<(Vec<Document>, Map), StoreError> {
    Err(StoreError::Syntax { format: "any", message: "stores not implemented yet".into() })
}

/// Placeholder until the stores land.
pub fn emit_encrypted(
    _format: Format,
    _docs: &[Document],
    _metadata: &Map,
) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::Syntax { format: "any", message: "stores not implemented yet".into() })
}

/// Placeholder until the stores land.
pub fn emit_value(_format: Format, _node: &Node) -> Result<Vec<u8>, StoreError> {
    Err(StoreError::Syntax { format: "any", message: "stores not implemented yet".into() })
}

/// Placeholder until the stores land.
pub fn has_metadata(_format: Format, _input: &[u8]) -> bool {
    false
}
