//! The JSON store (also the envelope of the binary store).
//!
//! Reading follows Go's `encoding/json` decoder as sops 3.11 drives it: the top level must be an
//! object, members keep their order, a duplicate key is kept as a second entry (sops keeps both
//! and writes both back), every number is a float64 (a number out of float64 range is an error,
//! an underflow is 0), invalid UTF-8 and unpaired surrogate escapes become U+FFFD, raw control
//! characters in strings, a byte order mark and trailing data are errors. (sops itself ignores
//! data after the top-level object of a plaintext file; we refuse it.)
//!
//! Writing reproduces Go's `json.Marshal` of each value followed by `json.Indent` with one tab:
//! `"key": value`, one member or item per line, `{}`/`[]` when empty (comments do not count),
//! `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c`…, control characters as `\n`, `\t`,
//! `\b`, `\f`, `\r` or `\u00XX`, every invalid UTF-8 byte as `\ufffd`, non-ASCII text as is.
//! Floats print as Go does (`1`, `0.000001`, `1e-7`, `1e+21`, `-0`); NaN and infinities are an
//! error (Go: "unsupported value"); times print as RFC 3339 with nanoseconds; comments are
//! dropped. A document ends with a newline; a single value (`--extract`) does not.

use super::{EmitError, MAX_DEPTH, ParseError, PathSeg, Position};
use crate::format::scalar::{Scalar, format_float_plain};
use crate::format::tree::{Item, Map, Node};

/// Parses a JSON document whose top level is an object.
pub(crate) fn parse(input: &[u8]) -> Result<Map, ParseError> {
    let mut p = Parser { input, pos: 0, depth: 0 };
    p.skip_ws();
    match p.peek() {
        Some(b'{') => {}
        None => return Err(p.error("the input holds no JSON value; sops needs a JSON object")),
        Some(_) => {
            return Err(p.error(
                "the top-level value is not an object; sops only accepts a JSON object at the \
                 top level (wrap it, e.g. {\"data\": …})",
            ));
        }
    }
    p.pos += 1;
    let map = p.object_body()?;
    p.skip_ws();
    if p.pos < input.len() {
        return Err(p.error("unexpected data after the top-level object"));
    }
    Ok(map)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, offset: usize, message: &str) -> ParseError {
        ParseError::new(Position::of_offset(self.input, offset), message)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("maps and lists are nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Ok(Node::Map(self.object_body()?))
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Node::List(self.array_body()?))
            }
            Some(b'"') => Ok(Node::Scalar(Scalar::bytes(self.string()?))),
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(b'-' | b'0'..=b'9') => Ok(Node::Scalar(Scalar::Float(self.number()?))),
            Some(_) => {
                Err(self
                    .error("expected a value (object, array, string, number, true, false or null)"))
            }
            None => Err(self.error("unexpected end of input: a value is missing")),
        }
    }

    fn literal(&mut self, word: &[u8], scalar: Scalar) -> Result<Node, ParseError> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(Node::Scalar(scalar))
        } else {
            Err(self.error("invalid literal: expected true, false or null"))
        }
    }

    /// After `{`: members up to and including `}`.
    fn object_body(&mut self) -> Result<Map, ParseError> {
        self.enter()?;
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(map);
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("unexpected end of input inside an object")),
                Some(_) => return Err(self.error("expected a string key in an object")),
            }
            let key_at = self.pos;
            let key = self.string()?;
            let key = String::from_utf8(key)
                .map_err(|_| self.error_at(key_at, "object key is not valid UTF-8"))?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                None => return Err(self.error("unexpected end of input after an object key")),
                Some(_) => return Err(self.error("expected `:` after an object key")),
            }
            let value = self.value()?;
            map.0.push(Item::Entry(key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(map);
                }
                None => return Err(self.error("unexpected end of input inside an object")),
                Some(_) => return Err(self.error("expected `,` or `}` after an object member")),
            }
        }
    }

    /// After `[`: items up to and including `]`.
    fn array_body(&mut self) -> Result<Vec<Node>, ParseError> {
        self.enter()?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(items);
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(items);
                }
                None => return Err(self.error("unexpected end of input inside an array")),
                Some(_) => return Err(self.error("expected `,` or `]` after an array item")),
            }
        }
    }

    /// At `"`: the decoded string, invalid UTF-8 replaced as Go does.
    fn string(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            super::gofmt::push_go_lossy(&mut out, &self.input[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out.into_bytes());
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(c) => {
                    return Err(self.error(&format!(
                        "raw control character U+{c:04X} in a string; write it as an escape"
                    )));
                }
                None => return Err(self.error_at(start, "unterminated string")),
            }
        }
    }

    /// At `\`: one escape sequence.
    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let at = self.pos;
        let c = match self.input.get(self.pos + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4(at + 2)?;
                self.pos = at + 6;
                out.push(self.unicode_escape(unit));
                return Ok(());
            }
            _ => return Err(self.error_at(at, "invalid escape sequence in a string")),
        };
        self.pos = at + 2;
        out.push(c);
        Ok(())
    }

    /// A `\uXXXX` escape (already consumed), pairing surrogates as Go does: a high surrogate
    /// followed by a `\u` low surrogate is one character; any other surrogate is U+FFFD.
    fn unicode_escape(&mut self, unit: u16) -> char {
        if !(0xD800..0xE000).contains(&unit) {
            return char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}');
        }
        if (0xD800..0xDC00).contains(&unit)
            && self.input[self.pos..].starts_with(b"\\u")
            && let Ok(low) = self.hex4(self.pos + 2)
            && (0xDC00..0xE000).contains(&low)
        {
            self.pos += 6;
            let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
            return char::from_u32(c).unwrap_or('\u{FFFD}');
        }
        '\u{FFFD}'
    }

    fn hex4(&self, from: usize) -> Result<u16, ParseError> {
        let digits = self
            .input
            .get(from..from + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        digits.and_then(|d| u16::from_str_radix(d, 16).ok()).ok_or_else(|| {
            self.error_at(from.saturating_sub(2), "invalid \\u escape: expected four hex digits")
        })
    }

    /// A number, as Go's decoder reads it into a float64.
    fn number(&mut self) -> Result<f64, ParseError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error_at(start, "invalid number: expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error_at(start, "invalid number: expected a digit after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(
                    self.error_at(start, "invalid number: expected a digit in the exponent")
                );
            }
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default();
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err(self.error_at(start, "number is out of range for a 64-bit float")),
        }
    }
}

/// A whole document as sops writes it: indented with tabs, newline at the end.
pub(crate) fn emit_document(doc: &Map) -> Result<String, EmitError> {
    let mut w = Writer { out: String::new(), path: Vec::new(), indent: true };
    w.map(doc, 0)?;
    w.out.push('\n');
    Ok(w.out)
}

/// One value as sops's JSON `EmitValue` writes it: indented, no trailing newline.
pub(crate) fn emit_value(node: &Node) -> Result<Vec<u8>, EmitError> {
    let mut w = Writer { out: String::new(), path: Vec::new(), indent: true };
    w.node(node, 0)?;
    Ok(w.out.into_bytes())
}

/// Go's compact `json.Marshal` of a sops value, as the INI store's `EmitValue` writes it: a map
/// (a sops `TreeBranch`) marshals as a list of `{"Key":…,"Value":…}` objects, a comment as
/// `{"Value":…}`.
pub(crate) fn emit_compact_go(node: &Node) -> Result<Vec<u8>, EmitError> {
    let mut w = Writer { out: String::new(), path: Vec::new(), indent: false };
    w.node(node, 0)?;
    Ok(w.out.into_bytes())
}

/// The metadata tree as sops's JSON encoder writes it: inside `key_groups`, an empty `hc_vault`
/// or `age` list is a Go nil slice without `omitempty`, so it is written as `null`.
pub(crate) fn metadata_for_json(metadata: &Map) -> Map {
    let mut md = metadata.clone();
    if let Some(Node::List(groups)) = md.get_mut("key_groups") {
        for group in groups {
            if let Node::Map(g) = group {
                for item in &mut g.0 {
                    if let Item::Entry(k, v) = item {
                        let nil_slice = matches!(v, Node::List(l) if l.is_empty());
                        if nil_slice && (k == "hc_vault" || k == "age") {
                            *v = Node::Scalar(Scalar::Null);
                        }
                    }
                }
            }
        }
    }
    md
}

struct Writer<'a> {
    out: String,
    path: Vec<PathSeg<'a>>,
    /// `json.Indent` with a tab (documents, `EmitValue`) or compact `json.Marshal` (INI).
    indent: bool,
}

impl<'a> Writer<'a> {
    fn newline(&mut self, depth: usize) {
        self.out.push('\n');
        for _ in 0..depth {
            self.out.push('\t');
        }
    }

    fn node(&mut self, node: &'a Node, depth: usize) -> Result<(), EmitError> {
        match node {
            Node::Map(m) if self.indent => self.map(m, depth),
            Node::Map(m) => self.tree_items(m),
            Node::List(items) => self.list(items, depth),
            Node::Scalar(s) => self.scalar(s),
            // Only reachable for a lone comment value (compact mode); lists skip comments.
            Node::Comment(c) => {
                self.out.push_str("{\"Value\":");
                write_string(&mut self.out, c.text().as_bytes());
                self.out.push('}');
                Ok(())
            }
        }
    }

    fn map(&mut self, map: &'a Map, depth: usize) -> Result<(), EmitError> {
        let mut empty = true;
        self.out.push('{');
        for (key, value) in map.entries() {
            if !empty {
                self.out.push(',');
            }
            empty = false;
            self.newline(depth + 1);
            write_string(&mut self.out, key.as_bytes());
            self.out.push_str(": ");
            self.path.push(PathSeg::Key(key));
            self.node(value, depth + 1)?;
            self.path.pop();
        }
        if !empty {
            self.newline(depth);
        }
        self.out.push('}');
        Ok(())
    }

    /// A sops `TreeBranch` through Go's `json.Marshal` (compact mode only). sops builds its
    /// slices by appending, so an empty one is a nil slice: `null`.
    fn tree_items(&mut self, map: &'a Map) -> Result<(), EmitError> {
        if map.is_empty() {
            self.out.push_str("null");
            return Ok(());
        }
        self.out.push('[');
        for (i, item) in map.0.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str("{\"Key\":");
            match item {
                Item::Entry(k, v) => {
                    write_string(&mut self.out, k.as_bytes());
                    self.out.push_str(",\"Value\":");
                    self.path.push(PathSeg::Key(k));
                    self.node(v, 0)?;
                    self.path.pop();
                }
                Item::Comment(c) => {
                    self.out.push_str("{\"Value\":");
                    write_string(&mut self.out, c.text().as_bytes());
                    self.out.push_str("},\"Value\":null");
                }
            }
            self.out.push('}');
        }
        self.out.push(']');
        Ok(())
    }

    fn list(&mut self, items: &'a [Node], depth: usize) -> Result<(), EmitError> {
        if !self.indent && items.is_empty() {
            // A nil slice through `json.Marshal` (see `tree_items`).
            self.out.push_str("null");
            return Ok(());
        }
        let mut empty = true;
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if matches!(item, Node::Comment(_)) {
                continue;
            }
            if !empty {
                self.out.push(',');
            }
            empty = false;
            if self.indent {
                self.newline(depth + 1);
            }
            self.path.push(PathSeg::Index(i));
            self.node(item, depth + 1)?;
            self.path.pop();
        }
        if !empty && self.indent {
            self.newline(depth);
        }
        self.out.push(']');
        Ok(())
    }

    fn scalar(&mut self, s: &Scalar) -> Result<(), EmitError> {
        match s {
            Scalar::Null => self.out.push_str("null"),
            Scalar::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Scalar::Int(i) => self.out.push_str(&i.to_string()),
            Scalar::Float(f) => match go_float(*f) {
                Some(text) => self.out.push_str(&text),
                None => {
                    return Err(EmitError::new(
                        &self.path,
                        format!(
                            "is {}, which JSON cannot represent (Go: unsupported value)",
                            format_float_plain(*f)
                        ),
                    ));
                }
            },
            Scalar::Str(b) => write_string(&mut self.out, b),
            Scalar::Time(t) => {
                self.out.push('"');
                self.out.push_str(&t.to_rfc3339_nano());
                self.out.push('"');
            }
        }
        Ok(())
    }
}

/// Go's `encoding/json` float64 text: shortest digits, plain notation unless the magnitude is
/// below 1e-6 or at least 1e21, exponent without a `+` padding for negative powers (`1e-7`,
/// `1e+21`). `None` for NaN and the infinities.
pub(crate) fn go_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let sign = if exp < 0 { '-' } else { '+' };
        // Go pads to two digits and then strips the padding of a negative exponent.
        return Some(if exp < 0 {
            format!("{mantissa}e{sign}{}", exp.unsigned_abs())
        } else {
            format!("{mantissa}e{sign}{:02}", exp)
        });
    }
    Some(format_float_plain(f))
}

/// A JSON string as Go's `json.Marshal` writes it (HTML-safe escaping, invalid bytes as
/// `\ufffd`).
/// Bytes that start an escape in Go's JSON output: controls, `"`, `\\`, `<`, `>`, `&`, and
/// 0xE2 (the first byte of U+2028 / U+2029, checked in full when seen).
const STARTS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

/// Appends `text` with Go's JSON escaping, copying the runs that need none in one go (values
/// can be tens of megabytes: the binary store writes a whole file as one string).
fn write_escaped(out: &mut String, text: &str) {
    let b = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        match b[i..].iter().position(|&c| STARTS_ESCAPE[c as usize]) {
            None => break,
            Some(skip) => i += skip,
        }
        let (escape, len): (Option<&str>, usize) = match b[i] {
            b'"' => (Some("\\\""), 1),
            b'\\' => (Some("\\\\"), 1),
            b'\n' => (Some("\\n"), 1),
            b'\r' => (Some("\\r"), 1),
            b'\t' => (Some("\\t"), 1),
            0x08 => (Some("\\b"), 1),
            0x0c => (Some("\\f"), 1),
            b'<' => (Some("\\u003c"), 1),
            b'>' => (Some("\\u003e"), 1),
            b'&' => (Some("\\u0026"), 1),
            0xE2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xA8) => {
                (Some("\\u2028"), 3)
            }
            0xE2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xA9) => {
                (Some("\\u2029"), 3)
            }
            0xE2 => {
                i += 1;
                continue;
            }
            _ => (None, 1),
        };
        out.push_str(&text[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", b[i])),
        }
        i += len;
        start = i;
    }
    out.push_str(&text[start..]);
}

pub(crate) fn write_string(out: &mut String, mut bytes: &[u8]) {
    out.push('"');
    loop {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, None),
            Err(e) => {
                let (v, r) = bytes.split_at(e.valid_up_to());
                (std::str::from_utf8(v).unwrap_or_default(), Some(&r[1..]))
            }
        };
        write_escaped(out, valid);
        match rest {
            None => break,
            Some(r) => {
                out.push_str("\\ufffd");
                bytes = r;
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(s: &str) -> Map {
        parse(s.as_bytes()).unwrap()
    }

    fn err_of(s: &[u8]) -> String {
        let e = parse(s).unwrap_err();
        format!("{}: {}", e.at, e.message)
    }

    #[test]
    fn keeps_member_order_and_duplicate_keys() {
        let m = parse_ok(r#"{"b": 1, "a": 2, "b": 3}"#);
        let keys: Vec<&str> = m.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(emit_document(&m).unwrap(), "{\n\t\"b\": 1,\n\t\"a\": 2,\n\t\"b\": 3\n}\n");
    }

    #[test]
    fn every_number_is_a_float() {
        let m = parse_ok(r#"{"i": 5432, "n": -0, "u": 1e-400, "big": 12345678901234567890}"#);
        assert_eq!(m.get("i"), Some(&Node::Scalar(Scalar::Float(5432.0))));
        let Some(Node::Scalar(Scalar::Float(n))) = m.get("n") else { panic!() };
        assert!(n.is_sign_negative() && *n == 0.0);
        assert_eq!(m.get("u"), Some(&Node::Scalar(Scalar::Float(0.0))));
        assert_eq!(
            emit_document(&m).unwrap(),
            "{\n\t\"i\": 5432,\n\t\"n\": -0,\n\t\"u\": 0,\n\t\"big\": 12345678901234567000\n}\n"
        );
    }

    #[test]
    fn floats_print_like_go_encoding_json() {
        let cases = [
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.2345678901234568e29, "1.2345678901234568e+29"),
            (5e-324, "5e-324"),
            (2.5e-7, "2.5e-7"),
            (-1e-7, "-1e-7"),
            (1.5e300, "1.5e+300"),
            (1e-10, "1e-10"),
            (1230000000000000.0, "1230000000000000"),
            (0.1, "0.1"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f).as_deref(), Some(want), "{f}");
        }
        assert_eq!(go_float(f64::NAN), None);
    }

    #[test]
    fn strings_escape_like_go() {
        let mut out = String::new();
        write_string(
            &mut out,
            "<a href=\"x\">&</a>\u{2028}\u{2029}\u{7f}é\t\n\r\u{8}\u{c}\u{0}\u{1f}/\\".as_bytes(),
        );
        assert_eq!(
            out,
            "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\\u2028\\u2029\u{7f}é\\t\\n\\r\\b\\f\\u0000\\u001f/\\\\\""
        );
        let mut out = String::new();
        write_string(&mut out, b"\xff\xfe ok \xe2\x82");
        assert_eq!(out, "\"\\ufffd\\ufffd ok \\ufffd\\ufffd\"");
    }

    #[test]
    fn decodes_escapes_and_replaces_bad_surrogates_like_go() {
        let m = parse_ok(r#"{"e": "\ud800x\udc00y\ud83d\ude00\u00e9\/"}"#);
        assert_eq!(m.get("e").and_then(Node::as_str), Some("\u{FFFD}x\u{FFFD}y😀é/"));
        let m = parse(b"{\"f\": \"\xff\xfe ok \xe2\x82\"}").unwrap();
        assert_eq!(m.get("f").and_then(Node::as_str), Some("\u{FFFD}\u{FFFD} ok \u{FFFD}\u{FFFD}"));
    }

    #[test]
    fn empty_containers_stay_compact_and_comments_are_dropped() {
        let mut m = Map::new();
        m.push("o", Node::Map(Map::new()));
        m.push("a", Node::List(vec![]));
        m.0.push(Item::Comment(crate::format::tree::Comment::new(" c")));
        m.push("l", Node::List(vec![Node::Comment(crate::format::tree::Comment::new("x"))]));
        assert_eq!(emit_document(&m).unwrap(), "{\n\t\"o\": {},\n\t\"a\": [],\n\t\"l\": []\n}\n");
    }

    #[test]
    fn rejects_non_object_top_level_naming_the_position() {
        assert_eq!(
            err_of(b"  [1]"),
            "line 1, column 3: the top-level value is not an object; sops only accepts a JSON \
             object at the top level (wrap it, e.g. {\"data\": …})"
        );
        assert!(err_of(b"").contains("holds no JSON value"));
    }

    #[test]
    fn rejects_trailing_data_with_its_position() {
        assert_eq!(
            err_of(b"{\"a\": 1}\n garbage"),
            "line 2, column 2: unexpected data after the top-level object"
        );
    }

    #[test]
    fn rejects_truncated_and_malformed_input_with_position() {
        assert_eq!(
            err_of(b"{\"a\""),
            "line 1, column 5: unexpected end of input after an object key"
        );
        assert_eq!(
            err_of(b"{\"a\": 1"),
            "line 1, column 8: unexpected end of input inside an object"
        );
        assert_eq!(
            err_of(b"{\n  \"a\": 01}"),
            "line 2, column 9: expected `,` or `}` after an object member"
        );
        assert_eq!(
            err_of(b"{\"a\": \"x\ty\"}"),
            "line 1, column 9: raw control character U+0009 in a string; write it as an escape"
        );
        assert_eq!(
            err_of(b"{\"a\": 1E400}"),
            "line 1, column 7: number is out of range for a 64-bit float"
        );
        assert_eq!(
            err_of(b"{\"a\": \"\\q\"}"),
            "line 1, column 8: invalid escape sequence in a string"
        );
        assert_eq!(
            err_of(b"{\"a\": \"\\u12\"}"),
            "line 1, column 8: invalid \\u escape: expected four hex digits"
        );
        assert_eq!(
            err_of(b"{\"a\": tru}"),
            "line 1, column 7: invalid literal: expected true, false or null"
        );
        assert_eq!(err_of(b"{\"a\": \"x}"), "line 1, column 7: unterminated string");
        assert_eq!(err_of(b"{1: 2}"), "line 1, column 2: expected a string key in an object");
        assert_eq!(err_of(b"{\"a\" 2}"), "line 1, column 6: expected `:` after an object key");
        assert_eq!(
            err_of(b"{\"a\": [1 2]}"),
            "line 1, column 10: expected `,` or `]` after an array item"
        );
        assert_eq!(err_of(b"{\"a\": -}"), "line 1, column 7: invalid number: expected a digit");
        assert_eq!(
            err_of(b"{\"a\": 1.}"),
            "line 1, column 7: invalid number: expected a digit after `.`"
        );
        assert_eq!(
            err_of(b"{\"a\": 1e}"),
            "line 1, column 7: invalid number: expected a digit in the exponent"
        );
        assert_eq!(
            err_of(b"{\"a\": "),
            "line 1, column 7: unexpected end of input: a value is missing"
        );
        assert_eq!(
            err_of(b"{\"a\": [1,"),
            "line 1, column 10: unexpected end of input: a value is missing"
        );
        assert_eq!(
            err_of(b"{\"a\": [1"),
            "line 1, column 9: unexpected end of input inside an array"
        );
        assert_eq!(
            err_of(b"{\"a\": 1,"),
            "line 1, column 9: unexpected end of input inside an object"
        );
        assert_eq!(
            err_of(b"{\"a\": }"),
            "line 1, column 7: expected a value (object, array, string, number, true, false or null)"
        );
        assert_eq!(
            err_of("\u{feff}{}".as_bytes()),
            "line 1, column 1: the top-level value is not an object; sops only accepts a JSON object at the top level (wrap it, e.g. {\"data\": …})"
        );
    }

    #[test]
    fn refuses_excessive_nesting() {
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let e = parse(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("nested deeper than 1000"), "{}", e.message);
        let ok = format!("{{\"a\": {}1{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn nan_cannot_be_written_and_the_error_names_the_key() {
        let mut m = Map::new();
        m.push("list", Node::List(vec![Node::Scalar(Scalar::Float(f64::INFINITY))]));
        let e = emit_document(&m).unwrap_err();
        assert_eq!(e.path, "the value at [\"list\"][0]");
        assert!(e.message.contains("+Inf"), "{}", e.message);
    }

    #[test]
    fn metadata_key_groups_write_nil_slices_as_null() {
        let mut group = Map::new();
        group.push("hc_vault", Node::List(vec![]));
        group.push("age", Node::List(vec![Node::Map(Map::new())]));
        let mut md = Map::new();
        md.push("key_groups", Node::List(vec![Node::Map(group)]));
        md.push("hc_vault", Node::List(vec![]));
        let out = metadata_for_json(&md);
        let Some(Node::List(groups)) = out.get("key_groups") else { panic!() };
        let g = groups[0].as_map().unwrap();
        assert_eq!(g.get("hc_vault"), Some(&Node::Scalar(Scalar::Null)));
        assert!(matches!(g.get("age"), Some(Node::List(l)) if l.len() == 1));
        // Only inside key groups: top level keeps what it is given.
        assert_eq!(out.get("hc_vault"), Some(&Node::List(vec![])));
    }

    #[test]
    fn compact_mode_marshals_tree_branches_like_go() {
        let mut m = Map::new();
        m.push("a", Node::Scalar(Scalar::Float(1.0)));
        m.push("e", Node::List(vec![]));
        let list = Node::List(vec![
            Node::Map(m),
            Node::str("<x>"),
            Node::Scalar(Scalar::Null),
            Node::Map(Map::new()),
        ]);
        assert_eq!(
            String::from_utf8(emit_compact_go(&list).unwrap()).unwrap(),
            r#"[[{"Key":"a","Value":1},{"Key":"e","Value":null}],"\u003cx\u003e",null,null]"#
        );
    }
}
