//! The dotenv store, line by line as sops 3.11 reads and writes it.
//!
//! Reading: the input is split at `\n`; empty lines are dropped; a line starting with `#` is a
//! comment (its text is the rest of the line); any other line must contain `=`, the key is
//! everything before the first `=` and the value everything after it, with no trimming and no
//! quote handling (a `\r` of a CRLF file stays in the value). The two characters `\n` in a value
//! become a newline. Every value is a string; duplicate keys are kept.
//!
//! Writing: `KEY=value` per entry with each newline written as `\n`, `#text` per comment, every
//! line ending in `\n`. Values that are not strings print as Go does (`true`, `1.5`, `1.0`,
//! `<nil>` for null, see [`super::gofmt::value_to_string`]); a map or list is an error. With
//! metadata, the flattened `sops_*` lines follow the data, sorted by key.

use zeroize::Zeroizing;

use super::gofmt::{go_lossy, value_to_string};
use super::{EmitError, ParseError, PathSeg, Position};
use crate::format::scalar::Scalar;
use crate::format::tree::{Comment, Item, Map, Node};

/// The prefix of the metadata keys.
pub(crate) const SOPS_PREFIX: &str = "sops_";

/// Parses dotenv lines into one flat map.
pub(crate) fn parse(input: &[u8]) -> Result<Map, ParseError> {
    let mut map = Map::new();
    for (index, line) in input.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            map.0.push(Item::Comment(Comment::new(go_lossy(&line[1..]))));
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(ParseError::new(
                Position::line(index + 1),
                "the line has no `=`: every line must be `KEY=VALUE`, a `#` comment or empty",
            ));
        };
        let key = go_lossy(&line[..eq]);
        let value = unescape_newlines(&line[eq + 1..]);
        map.push(key, Node::Scalar(Scalar::bytes(value)));
    }
    Ok(map)
}

fn unescape_newlines(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\\' && value.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

/// Splits off the metadata: entries whose key starts with `sops_` (prefix removed), in order.
pub(crate) fn split_metadata(doc: Map) -> (Map, Vec<(String, String)>) {
    let mut data = Map::new();
    let mut pairs = Vec::new();
    for item in doc.0 {
        match item {
            Item::Entry(key, value) if key.starts_with(SOPS_PREFIX) => {
                let text = match &value {
                    Node::Scalar(Scalar::Str(b)) => go_lossy(b),
                    _ => String::new(),
                };
                pairs.push((key[SOPS_PREFIX.len()..].to_owned(), text));
            }
            other => data.0.push(other),
        }
    }
    (data, pairs)
}

/// Writes the document as `sops decrypt` prints a dotenv file.
pub(crate) fn emit(doc: &Map) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    let mut out = Zeroizing::new(Vec::new());
    write_items(doc, &mut out)?;
    Ok(out)
}

/// Writes the document followed by the flattened metadata as `sops_<key>=<value>` lines.
pub(crate) fn emit_with_metadata(
    doc: &Map,
    metadata: &[(String, String)],
) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    let mut out = emit(doc)?;
    for (key, value) in metadata {
        out.extend_from_slice(SOPS_PREFIX.as_bytes());
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

fn write_items(doc: &Map, out: &mut Vec<u8>) -> Result<(), EmitError> {
    for item in &doc.0 {
        match item {
            Item::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.text().as_bytes());
            }
            Item::Entry(key, value) => {
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                match value {
                    Node::Map(_) | Node::List(_) => {
                        return Err(EmitError::new(
                            &[PathSeg::Key(key)],
                            "is a map or list: dotenv cannot hold a complex value (sops: \
                             \"cannot use complex value in dotenv file\")",
                        ));
                    }
                    Node::Scalar(Scalar::Str(b)) => {
                        for &byte in b.iter() {
                            if byte == b'\n' {
                                out.extend_from_slice(b"\\n");
                            } else {
                                out.push(byte);
                            }
                        }
                    }
                    other => value_to_string(other, out),
                }
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit_str(doc: &Map) -> String {
        String::from_utf8(emit(doc).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn keeps_values_verbatim_and_unescapes_newlines() {
        let input = b"# top\nA=1\n\nQ=\"x y\"\nE=a=b\nM=first\\nsecond\nfoo = bar\r\nEMPTY=\n";
        let doc = parse(input).unwrap();
        let entries: Vec<(&str, &str)> =
            doc.entries().map(|(k, v)| (k, v.as_str().unwrap())).collect();
        assert_eq!(
            entries,
            [
                ("A", "1"),
                ("Q", "\"x y\""),
                ("E", "a=b"),
                ("M", "first\nsecond"),
                ("foo ", " bar\r"),
                ("EMPTY", "")
            ]
        );
        assert_eq!(doc.0.first(), Some(&Item::Comment(Comment::new(" top"))));
        // Empty lines are dropped; everything else comes back byte for byte.
        assert_eq!(
            emit_str(&doc),
            "# top\nA=1\nQ=\"x y\"\nE=a=b\nM=first\\nsecond\nfoo = bar\r\nEMPTY=\n"
        );
    }

    #[test]
    fn keeps_duplicate_keys() {
        let doc = parse(b"A=1\nA=2\n").unwrap();
        assert_eq!(doc.entries().count(), 2);
        assert_eq!(emit_str(&doc), "A=1\nA=2\n");
    }

    #[test]
    fn rejects_a_line_without_equals_naming_the_line() {
        let e = parse(b"A=1\n# ok\n  # not a comment\n").unwrap_err();
        assert_eq!(e.at, Position::line(3));
        assert!(e.message.contains("has no `=`"), "{}", e.message);
        assert!(!e.message.contains("not a comment"), "the line's text must not be quoted");
    }

    #[test]
    fn non_strings_print_go_style_and_complex_values_are_refused() {
        let mut doc = Map::new();
        doc.push("b", Node::Scalar(Scalar::Bool(true)));
        doc.push("f", Node::Scalar(Scalar::Float(1.0)));
        doc.push("n", Node::Scalar(Scalar::Null));
        doc.push("i", Node::Scalar(Scalar::Int(42)));
        assert_eq!(emit_str(&doc), "b=true\nf=1.0\nn=<nil>\ni=42\n");
        doc.push("nested", Node::Map(Map::new()));
        let e = emit(&doc).unwrap_err();
        assert_eq!(e.path, "the value at [\"nested\"]");
        assert!(e.message.contains("cannot hold a complex value"), "{}", e.message);
    }

    #[test]
    fn metadata_lines_follow_the_data() {
        let doc = parse(b"A=1\nsops_version=3.11.0\n#c\nsops_mac=ENC[x]\n").unwrap();
        let (data, pairs) = split_metadata(doc);
        assert_eq!(
            pairs,
            [("version".to_owned(), "3.11.0".to_owned()), ("mac".to_owned(), "ENC[x]".to_owned())]
        );
        let out = emit_with_metadata(&data, &[("a".to_owned(), "b\\nc".to_owned())]).unwrap();
        assert_eq!(&out[..], b"A=1\n#c\nsops_a=b\\nc\n");
    }
}
