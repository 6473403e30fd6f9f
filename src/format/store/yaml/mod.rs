//! The YAML store: a comment-keeping parser and an emitter that writes what go-yaml v3 writes.
//!
//! sops reads YAML with go-yaml v3 into its own tree and writes it back with go-yaml v3's
//! encoder at indent 4. The tree order fixes the MAC and the AADs, and the output must be byte
//! for byte what `sops decrypt` prints, so this module reproduces go-yaml's scanner, parser and
//! emitter step by step rather than using a general YAML library:
//!
//! - `reader`, `scanner`, `parser`, `compose`: text → tokens → events → go-yaml nodes,
//!   each comment attached where go-yaml attaches it (head, line or foot of a node);
//! - `resolve`: scalar types as go-yaml resolves them (ints, floats, timestamps, …);
//! - `load`: go-yaml nodes → SOPS tree, as sops's store orders comments and entries;
//! - `dump`, `emitter`: SOPS tree → events → text, as sops's store and go-yaml's encoder do.

mod chars;
mod compose;
mod dump;
mod emitter;
mod fxhash;
mod load;
mod parser;
mod reader;
mod resolve;
mod scanner;

use crate::format::tree::{Document, Node};

/// A document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A syntax error at `mark`, with the construct being read when there is one.
fn syntax_error(
    problem: &str,
    mark: scanner::Mark,
    context: Option<(&str, scanner::Mark)>,
) -> YamlError {
    let message = match context {
        Some((context, at)) if !context.is_empty() => format!(
            "{problem} ({context} started at line {}, column {})",
            at.line + 1,
            at.column + 1
        ),
        _ => problem.to_owned(),
    };
    YamlError {
        line: usize::try_from(mark.line + 1).unwrap_or(0),
        column: usize::try_from(mark.column + 1).unwrap_or(0),
        message,
    }
}

/// Parses every document of a YAML stream into the SOPS tree (comments kept as items).
///
/// Empty input gives no documents. Input that holds no document at all (only comments or blank
/// lines) is an error, as it is for sops. Each document's top level must be a mapping (an empty
/// document becomes an empty map); keys must be strings and unique within their mapping.
pub fn parse(input: &[u8]) -> Result<Vec<Document>, YamlError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    if u32::try_from(input.len()).is_err() {
        return Err(YamlError {
            line: 0,
            column: 0,
            message: "the YAML input is over 4 GiB".into(),
        });
    }
    let text = reader::decode(input)?;
    let mut composer =
        compose::Composer::new(parser::Parser::new(scanner::Scanner::new(&text)), &text);
    let mut docs = Vec::new();
    loop {
        let mark = composer.arena.mark();
        let anchors_before = composer.anchor_count();
        let Some(doc) = composer.next_document()? else { break };
        docs.push(load::Loader::new(&composer.arena).document(doc)?);
        if composer.anchor_count() == anchors_before {
            // Nothing in this document can be referenced later: free its nodes.
            composer.arena.truncate(mark);
        }
    }
    if docs.is_empty() {
        return Err(YamlError {
            line: 1,
            column: 1,
            message: "the input holds no YAML document, only comments or blank lines".into(),
        });
    }
    Ok(docs)
}

/// Emits documents as sops 3.11 does (go-yaml v3, indent 4), `---` between documents.
pub fn emit(docs: &[Document]) -> String {
    let mut d = dump::Dumper::new();
    for doc in docs {
        d.document(doc);
    }
    into_string(d.finish())
}

/// [`emit`] straight to `out`, in pieces, without holding the whole text in memory (for
/// encrypted files: the pieces are not wiped).
pub fn emit_to(docs: &[Document], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut d = dump::Dumper::to(out);
    for doc in docs {
        d.document(doc);
    }
    d.finish_to()
}

/// Emits one value on its own, as `sops decrypt --extract` prints a non-string value.
pub fn emit_value(node: &Node) -> String {
    let mut d = dump::Dumper::new();
    d.value(node);
    into_string(d.finish())
}

fn into_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests;
