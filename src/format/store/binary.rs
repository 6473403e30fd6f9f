//! The binary store: any file is one string value under the key `data`. The encrypted form is
//! the JSON store's `{"data": "ENC[…]", "sops": {…}}` (handled by the JSON module); decrypting
//! writes the raw bytes of `data` back.

use zeroize::Zeroizing;

use super::EmitError;
use crate::format::scalar::Scalar;
use crate::format::tree::{Document, Map, Node};

/// The whole file as `{data: <bytes>}`. Never fails; an empty file gives an empty string.
pub(crate) fn parse_plain(input: &[u8]) -> Map {
    let mut doc = Map::new();
    doc.push("data", Node::Scalar(Scalar::bytes(input.to_vec())));
    doc
}

/// The raw bytes of the string under `data` (sops: exactly one document, a string `data`).
pub(crate) fn emit_plain(docs: &[Document]) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    let [doc] = docs else {
        return Err(EmitError {
            path: format!("the file of {} documents", docs.len()),
            message: "cannot be one binary file (it needs exactly one document)".to_owned(),
        });
    };
    match doc.get("data") {
        Some(Node::Scalar(Scalar::Str(bytes))) => Ok(Zeroizing::new(bytes.to_vec())),
        Some(_) => Err(EmitError {
            path: "the value at [\"data\"]".to_owned(),
            message: "is not a string, so it cannot be written as a binary file".to_owned(),
        }),
        None => Err(EmitError::new(
            &[],
            "has no `data` key, so it is not a binary file (choose another output type)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_arbitrary_bytes() {
        let bytes = b"\x00\xff\xfe binary\n";
        let doc = parse_plain(bytes);
        assert_eq!(&emit_plain(&[doc]).unwrap()[..], bytes);
        assert_eq!(&emit_plain(&[parse_plain(b"")]).unwrap()[..], b"");
    }

    #[test]
    fn refuses_trees_without_string_data() {
        let e = emit_plain(&[Map::new()]).unwrap_err();
        assert_eq!(e.path, "the document");
        assert!(e.message.contains("no `data` key"));
        let mut doc = Map::new();
        doc.push("data", Node::Scalar(Scalar::Int(1)));
        let e = emit_plain(&[doc]).unwrap_err();
        assert_eq!(e.path, "the value at [\"data\"]");
        assert!(e.message.contains("is not a string"));
        let e = emit_plain(&[]).unwrap_err();
        assert_eq!(e.path, "the file of 0 documents");
        assert!(e.message.contains("exactly one document"));
    }
}
