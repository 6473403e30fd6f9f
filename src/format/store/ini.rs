//! The INI store: what sops 3.11 reads through go-ini (`gopkg.in/ini.v1`, default options plus
//! repeatable sections) and writes back through go-ini's pretty printer.
//!
//! The tree is a map of sections (each a map of string values). Keys before the first header
//! belong to section `DEFAULT`, which is always the first entry (empty when unused). A repeated
//! `[name]` header starts another section of the same name; a repeated key inside one section
//! keeps its first place and takes the last value. A comment line (`;` or `#`) attaches to the
//! next key or section header; in the tree it is the item right *after* that key (sops's
//! layout), or the first item of the section for a header comment, its text stripped of leading
//! `;`/`#` and spaces on its first line. go-ini's value rules apply: surrounding space is
//! trimmed, `"…"`/`'…'` quotes are removed, `` `…` `` and `"""…"""` quote (and may span lines),
//! an inline `;`/`#` starts a comment, a trailing `\` continues the value on the next line,
//! `=` or `:` separates key and value, a key `-` is numbered (`#1`, `#2`).
//!
//! Writing: `DEFAULT` first without a header (skipped when empty), every other section as
//! `[name]`, a blank line between sections, `key = value` with the `=` aligned per section,
//! comments as `; text` above their key or header. Keys holding `"`, `=` or `:` are wrapped in
//! backquotes (or `"""` when they hold a backquote); values holding a newline or backquote in
//! `"""`, values holding `;` or `#` in backquotes, values with surrounding space in `"…"`. Non-
//! string values print as Go does (see [`super::gofmt::value_to_string`]). The metadata is a
//! final `[sops]` section of flattened keys, sorted here (sops writes them in random order).

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::flatten::{Flat, FlattenError};
use super::gofmt::{go_lossy, trim_left_space, trim_space, value_to_string};
use super::{EmitError, ParseError, PathSeg, Position};
use crate::format::scalar::Scalar;
use crate::format::tree::{Comment, Document, Item, Map, Node};

const DEFAULT_SECTION: &str = "DEFAULT";

/// Reads an INI file into a map of sections.
pub(crate) fn parse(input: &[u8]) -> Result<Map, ParseError> {
    let mut lines = Lines { input: strip_bom(input), pos: 0, line: 0, eof: false };
    let mut sections = vec![Section::new(DEFAULT_SECTION.to_owned(), Vec::new())];
    let mut comment: Vec<u8> = Vec::new();
    let mut counter = 1usize;
    while !lines.eof {
        let line = trim_left_space(lines.read());
        let line_no = lines.line;
        let err = |message: &str| ParseError::new(Position::line(line_no), message);
        let Some(&first) = line.first() else { continue };
        if first == b'#' || first == b';' {
            comment.extend_from_slice(line);
            continue;
        }
        if first == b'[' {
            let close = line
                .iter()
                .rposition(|&b| b == b']')
                .ok_or_else(|| err("the section header has no closing `]`"))?;
            let name = &line[1..close];
            if name.is_empty() {
                return Err(err("the section name is empty"));
            }
            if let Some(at) = line[close + 1..].iter().position(|&b| b == b'#' || b == b';') {
                comment.extend_from_slice(&line[close + 1 + at..]);
            }
            sections.push(Section::new(go_lossy(name), trim_space(&comment).to_vec()));
            comment.clear();
            counter = 1;
            continue;
        }
        let (name, offset) = read_key_name(line).map_err(err)?;
        let name = if name == b"-" {
            counter += 1;
            format!("#{}", counter - 1)
        } else {
            go_lossy(name)
        };
        let value = read_value(&line[offset..], &mut lines, &mut comment).map_err(err)?;
        if name.is_empty() {
            return Err(err("the key name is empty"));
        }
        // `sections` starts with DEFAULT, so it is never empty.
        let current = sections.len() - 1;
        sections[current].set(name, value, trim_space(&comment).to_vec());
        comment.clear();
    }
    let mut doc = Map::new();
    for section in sections {
        doc.push(section.name.clone(), Node::Map(section.into_items()));
    }
    Ok(doc)
}

/// Splits off the `[sops]` section: its keys and values, in file order.
pub(crate) fn split_metadata(doc: Map) -> Result<(Map, Option<Flat>), FlattenError> {
    let mut data = Map::new();
    let mut metadata = None;
    for item in doc.0 {
        match item {
            Item::Entry(name, Node::Map(section)) if name == "sops" => {
                if metadata.is_some() {
                    return Err(FlattenError::new(
                        "sops",
                        "the [sops] section appears more than once",
                    ));
                }
                let pairs = section
                    .entries()
                    .map(|(k, v)| {
                        let text = match v {
                            Node::Scalar(Scalar::Str(b)) => go_lossy(b),
                            _ => String::new(),
                        };
                        (k.to_owned(), text)
                    })
                    .collect();
                metadata = Some(pairs);
            }
            other => data.0.push(other),
        }
    }
    Ok((data, metadata))
}

/// Writes the sections of every document, then a `[sops]` section when metadata is given.
pub(crate) fn emit(
    docs: &[Document],
    metadata: Option<&[(String, String)]>,
) -> Result<Zeroizing<Vec<u8>>, EmitError> {
    let mut sections = Vec::new();
    for doc in docs {
        for item in &doc.0 {
            let Item::Entry(name, node) = item else { continue };
            let Node::Map(items) = node else {
                return Err(EmitError::new(
                    &[PathSeg::Key(name)],
                    "is not a map: every top-level value of an INI file must be a section",
                ));
            };
            if name.is_empty() {
                return Err(EmitError::new(
                    &[PathSeg::Key(name)],
                    "is a section with an empty name",
                ));
            }
            sections.push(OutSection::from_map(name, items)?);
        }
    }
    if let Some(pairs) = metadata {
        let mut sops = OutSection::new("sops", "");
        for (k, v) in pairs {
            sops.set(k, Zeroizing::new(v.as_bytes().to_vec()));
        }
        sections.push(sops);
    }
    let mut out = Zeroizing::new(Vec::new());
    let count = sections.len();
    for (i, section) in sections.iter().enumerate() {
        if !section.comment.is_empty() {
            write_comment(&mut out, section.comment, false);
        }
        if i > 0 || !section.name.eq_ignore_ascii_case(DEFAULT_SECTION) {
            out.push(b'[');
            out.extend_from_slice(section.name.as_bytes());
            out.extend_from_slice(b"]\n");
        } else if section.keys.is_empty() {
            continue;
        }
        section.write_keys(&mut out);
        if i + 1 < count {
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// Input lines as go-ini's `bufio.ReadBytes('\n')` yields them: each with its `\n`, the last
/// one possibly without.
struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    /// The number of the line last read (1-based).
    line: usize,
    eof: bool,
}

impl<'a> Lines<'a> {
    fn read(&mut self) -> &'a [u8] {
        self.line += 1;
        let rest = &self.input[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                &rest[..=i]
            }
            None => {
                self.pos = self.input.len();
                self.eof = true;
                rest
            }
        }
    }
}

/// go-ini skips a UTF-8 byte order mark, and the first two bytes of a UTF-16 one.
fn strip_bom(input: &[u8]) -> &[u8] {
    if let Some(rest) = input.strip_prefix(b"\xEF\xBB\xBF") {
        rest
    } else if input.starts_with(b"\xFE\xFF") || input.starts_with(b"\xFF\xFE") {
        &input[2..]
    } else {
        input
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn is_delimiter(b: &u8) -> bool {
    *b == b'=' || *b == b':'
}

/// The key name (trimmed) and the offset just past the `=` or `:`.
fn read_key_name(line: &[u8]) -> Result<(&[u8], usize), &'static str> {
    let quote: Option<&[u8]> = match line.first() {
        Some(b'"') if line.len() > 6 && line.starts_with(b"\"\"\"") => Some(b"\"\"\""),
        Some(b'"') => Some(b"\""),
        Some(b'`') => Some(b"`"),
        _ => None,
    };
    if let Some(q) = quote {
        let start = q.len();
        let close = find(&line[start..], q).ok_or("the quoted key has no closing quote")? + start;
        let delimiter = line[close + start..]
            .iter()
            .position(is_delimiter)
            .ok_or("the line has no `=` or `:` after the quoted key")?;
        return Ok((trim_space(&line[start..close]), close + start + delimiter + 1));
    }
    let end = line
        .iter()
        .position(is_delimiter)
        .ok_or("the line is neither `key = value`, a `[section]` header nor a `;`/`#` comment")?;
    Ok((trim_space(&line[..end]), end + 1))
}

/// go-ini's `readValue` with default options; may read further lines.
fn read_value(
    raw: &[u8],
    lines: &mut Lines<'_>,
    comment: &mut Vec<u8>,
) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let line = trim_left_space(raw);
    if line.is_empty() {
        return Ok(Zeroizing::new(Vec::new()));
    }
    let quote: Option<&[u8]> = if line.len() > 3 && line.starts_with(b"\"\"\"") {
        Some(b"\"\"\"")
    } else if line[0] == b'`' {
        Some(b"`")
    } else {
        None
    };
    if let Some(q) = quote {
        let body = &line[q.len()..];
        return match rfind(body, q) {
            Some(end) => Ok(Zeroizing::new(body[..end].to_vec())),
            None => read_multiline(body, q, lines, comment),
        };
    }
    let mut line = trim_space(line);
    if line.last() == Some(&b'\\') {
        return Ok(read_continuation(&line[..line.len() - 1], lines));
    }
    if let Some(at) = line.iter().position(|&b| b == b'#' || b == b';') {
        comment.extend_from_slice(&line[at..]);
        line = trim_space(&line[..at]);
    }
    if surrounded_by(line, b'\'') || surrounded_by(line, b'"') {
        line = &line[1..line.len() - 1];
    }
    Ok(Zeroizing::new(line.to_vec()))
}

/// A quoted value that continues on the following lines, up to the last quote on a line.
fn read_multiline(
    first: &[u8],
    quote: &[u8],
    lines: &mut Lines<'_>,
    comment: &mut Vec<u8>,
) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let mut value = Zeroizing::new(first.to_vec());
    loop {
        let next = lines.read();
        if let Some(end) = rfind(next, quote) {
            value.extend_from_slice(&next[..end]);
            if let Some(at) = next[end..].iter().position(|&b| b == b'#' || b == b';') {
                comment.extend_from_slice(trim_space(&next[end + at..]));
            }
            return Ok(value);
        }
        value.extend_from_slice(next);
        if lines.eof {
            return Err("the quoted value that starts on this line is never closed");
        }
    }
}

/// A value ending in `\` continues with the next (trimmed) lines.
fn read_continuation(first: &[u8], lines: &mut Lines<'_>) -> Zeroizing<Vec<u8>> {
    let mut value = Zeroizing::new(first.to_vec());
    loop {
        let next = trim_space(lines.read());
        if next.is_empty() {
            break;
        }
        value.extend_from_slice(next);
        if value.last() != Some(&b'\\') {
            break;
        }
        value.pop();
    }
    value
}

/// go-ini's `hasSurroundedQuote`: quotes at both ends and nowhere else.
fn surrounded_by(s: &[u8], quote: u8) -> bool {
    s.len() >= 2
        && s[0] == quote
        && s[s.len() - 1] == quote
        && s[1..].iter().position(|&b| b == quote) == Some(s.len() - 2)
}

/// sops's `stripCommentChar`: a comment starting with `;` (or `#`) loses all leading `;` and
/// spaces (or `#` and spaces).
fn strip_comment_char(comment: &str) -> String {
    if comment.starts_with(';') {
        comment.trim_start_matches([';', ' ']).to_owned()
    } else if comment.starts_with('#') {
        comment.trim_start_matches(['#', ' ']).to_owned()
    } else {
        comment.to_owned()
    }
}

struct ParsedKey {
    name: String,
    value: Zeroizing<Vec<u8>>,
    comment: Vec<u8>,
}

struct Section {
    name: String,
    comment: Vec<u8>,
    keys: Vec<ParsedKey>,
    index: HashMap<String, usize>,
}

impl Section {
    fn new(name: String, comment: Vec<u8>) -> Self {
        Section { name, comment, keys: Vec::new(), index: HashMap::new() }
    }

    /// go-ini's `NewKey`: a repeated key keeps its place and takes the new value and comment.
    fn set(&mut self, name: String, value: Zeroizing<Vec<u8>>, comment: Vec<u8>) {
        if let Some(&i) = self.index.get(&name) {
            self.keys[i].value = value;
            self.keys[i].comment = comment;
        } else {
            self.index.insert(name.clone(), self.keys.len());
            self.keys.push(ParsedKey { name, value, comment });
        }
    }

    /// sops's layout: the header comment first, each key's comment right after the key.
    fn into_items(self) -> Map {
        let mut items = Map::new();
        if !self.comment.is_empty() {
            items.0.push(Item::Comment(Comment::new(strip_comment_char(&go_lossy(&self.comment)))));
        }
        for key in self.keys {
            items.0.push(Item::Entry(key.name, Node::Scalar(Scalar::Str(key.value))));
            if !key.comment.is_empty() {
                let text = strip_comment_char(&go_lossy(&key.comment));
                items.0.push(Item::Comment(Comment::new(text)));
            }
        }
        items
    }
}

struct OutKey<'a> {
    name: &'a str,
    value: Zeroizing<Vec<u8>>,
    comment: &'a str,
}

struct OutSection<'a> {
    name: &'a str,
    comment: &'a str,
    keys: Vec<OutKey<'a>>,
    index: HashMap<&'a str, usize>,
}

impl<'a> OutSection<'a> {
    fn new(name: &'a str, comment: &'a str) -> Self {
        OutSection { name, comment, keys: Vec::new(), index: HashMap::new() }
    }

    /// sops's `encodeTree` for one section: a leading comment is the header comment, any other
    /// comment attaches to the key before it (the last one wins), a repeated key keeps its
    /// place and takes the new value.
    fn from_map(name: &'a str, items: &'a Map) -> Result<Self, EmitError> {
        let mut section = OutSection::new(name, "");
        let mut rest = items.0.as_slice();
        if let Some((Item::Comment(c), tail)) = rest.split_first() {
            section.comment = c.text();
            rest = tail;
        }
        let mut last = None;
        for item in rest {
            match item {
                Item::Comment(c) => {
                    if let Some(i) = last {
                        let key: &mut OutKey<'a> = &mut section.keys[i];
                        key.comment = c.text();
                    }
                }
                Item::Entry(key, value) => {
                    if key.is_empty() {
                        return Err(EmitError::new(
                            &[PathSeg::Key(name), PathSeg::Key(key)],
                            "has an empty key name, which INI cannot hold",
                        ));
                    }
                    let mut text = Zeroizing::new(Vec::new());
                    value_to_string(value, &mut text);
                    last = Some(section.set(key, text));
                }
            }
        }
        Ok(section)
    }

    fn set(&mut self, name: &'a str, value: Zeroizing<Vec<u8>>) -> usize {
        if let Some(&i) = self.index.get(name) {
            self.keys[i].value = value;
            i
        } else {
            self.index.insert(name, self.keys.len());
            self.keys.push(OutKey { name, value, comment: "" });
            self.keys.len() - 1
        }
    }

    fn write_keys(&self, out: &mut Vec<u8>) {
        let quoted: Vec<String> = self.keys.iter().map(|k| quote_key(k.name)).collect();
        let align = quoted.iter().map(String::len).max().unwrap_or(0);
        for (key, name) in self.keys.iter().zip(&quoted) {
            if !key.comment.is_empty() {
                write_comment(out, key.comment, true);
            }
            out.extend_from_slice(name.as_bytes());
            out.resize(out.len() + (align - name.len()), b' ');
            out.extend_from_slice(b" = ");
            write_value(out, &key.value);
            out.push(b'\n');
        }
    }
}

/// go-ini's key quoting on write.
fn quote_key(name: &str) -> String {
    if name.contains(['"', '=', ':']) {
        format!("`{name}`")
    } else if name.contains('`') {
        format!("\"\"\"{name}\"\"\"")
    } else {
        name.to_owned()
    }
}

/// go-ini's value quoting on write.
fn write_value(out: &mut Vec<u8>, value: &[u8]) {
    let (open, close): (&[u8], &[u8]) = if value.iter().any(|&b| b == b'\n' || b == b'`') {
        (b"\"\"\"", b"\"\"\"")
    } else if value.iter().any(|&b| b == b'#' || b == b';') {
        (b"`", b"`")
    } else if trim_space(value).len() != value.len() {
        (b"\"", b"\"")
    } else {
        (b"", b"")
    };
    out.extend_from_slice(open);
    out.extend_from_slice(value);
    out.extend_from_slice(close);
}

/// One `; text` line per comment line. A line already starting with `;` or `#` keeps that
/// character with one space after it; header comments keep the other lines' spacing, key
/// comments are trimmed (go-ini's two code paths).
fn write_comment(out: &mut Vec<u8>, comment: &str, trim: bool) {
    for line in comment.split('\n') {
        let b = line.as_bytes();
        match b.first() {
            Some(&c @ (b'#' | b';')) => {
                out.push(c);
                out.push(b' ');
                out.extend_from_slice(trim_space(&b[1..]));
            }
            _ => {
                out.extend_from_slice(b"; ");
                out.extend_from_slice(if trim { trim_space(b) } else { b });
            }
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section<'m>(doc: &'m Map, name: &str) -> &'m Map {
        doc.get(name).and_then(Node::as_map).unwrap()
    }

    fn values(section: &Map) -> Vec<(String, String)> {
        section.entries().map(|(k, v)| (k.to_owned(), v.as_str().unwrap().to_owned())).collect()
    }

    fn emit_str(doc: &Map) -> String {
        String::from_utf8(emit(std::slice::from_ref(doc), None).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn keys_before_the_first_header_are_in_default() {
        let doc = parse(b"a=1\n[s]\nb=2\n").unwrap();
        let names: Vec<&str> = doc.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["DEFAULT", "s"]);
        assert_eq!(values(section(&doc, "DEFAULT")), [("a".to_owned(), "1".to_owned())]);
        let doc = parse(b"[s]\nb=2\n").unwrap();
        assert_eq!(section(&doc, "DEFAULT"), &Map::new());
    }

    #[test]
    fn values_follow_go_ini_rules() {
        // Each case observed with sops 3.11 (see tests/fixtures/store-corpus).
        let input =
            b"[s]\nk = v ; inline\nk2 = \"quoted\" \nk3 = `bt`\nk4 = a\\\\\n  b\nk5: colon\n\
k6 = \"\"\"multi\nline\"\"\"\n  k7   =   spaced   \n\"q k\" = x\n`b k` = y\nk8 = it's \"x\" y\n\
k9 = 'single'\nk10 = a # b\nk11=\nk12 = \"a\"b\"\n";
        let doc = parse(input).unwrap();
        let want = [
            ("k", "v"),
            ("k2", "quoted"),
            ("k3", "bt"),
            ("k4", "a\\b"),
            ("k5", "colon"),
            ("k6", "multi\nline"),
            ("k7", "spaced"),
            ("q k", "x"),
            ("b k", "y"),
            ("k8", "it's \"x\" y"),
            ("k9", "single"),
            ("k10", "a"),
            ("k11", ""),
            ("k12", "\"a\"b\""),
        ];
        let got = values(section(&doc, "s"));
        let want: Vec<(String, String)> =
            want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn comments_attach_to_the_next_key_or_header() {
        let doc = parse(b"; c0\n\n; c1\na=1\n; c2\n[s] ; sc\n# c3\nb = 2\n[t]\n;last\n").unwrap();
        let default = section(&doc, "DEFAULT");
        assert_eq!(default.0[1], Item::Comment(Comment::new("c0\n; c1")));
        let s = section(&doc, "s");
        assert_eq!(s.0[0], Item::Comment(Comment::new("c2\n; sc")));
        assert_eq!(s.0[2], Item::Comment(Comment::new("c3")));
        // A comment with no key after it is lost, as in go-ini.
        assert_eq!(section(&doc, "t"), &Map::new());
        assert_eq!(emit_str(&doc), "; c0\n; c1\na = 1\n\n; c2\n; sc\n[s]\n; c3\nb = 2\n\n[t]\n");
    }

    #[test]
    fn repeated_sections_stay_apart_and_repeated_keys_merge() {
        let doc = parse(b"[s]\na=1\na=2\nb=3\n[s]\nc=4\n").unwrap();
        let secs: Vec<&str> = doc.entries().map(|(k, _)| k).collect();
        assert_eq!(secs, ["DEFAULT", "s", "s"]);
        assert_eq!(
            values(section(&doc, "s")),
            [("a".to_owned(), "2".to_owned()), ("b".to_owned(), "3".to_owned())]
        );
        assert_eq!(emit_str(&doc), "[s]\na = 2\nb = 3\n\n[s]\nc = 4\n");
    }

    #[test]
    fn writes_aligned_and_quoted_like_go_ini() {
        let mut s = Map::new();
        s.push("a:b", Node::str("1"));
        s.push("x\"y", Node::str(" lead"));
        s.push("b`c", Node::str("a;b"));
        s.push("nl", Node::str("a\nb"));
        s.push("bt", Node::str("a`b"));
        s.push("e", Node::str(""));
        let mut doc = Map::new();
        doc.push("k=ey", Node::Map(s));
        assert_eq!(
            emit_str(&doc),
            "[k=ey]\n`a:b`     = 1\n`x\"y`     = \" lead\"\n\"\"\"b`c\"\"\" = `a;b`\nnl        = \"\"\"a\nb\"\"\"\nbt        = \"\"\"a`b\"\"\"\ne         = \n"
        );
    }

    #[test]
    fn default_gets_no_header_only_in_first_place() {
        let mut d = Map::new();
        d.push("b", Node::str("2"));
        let mut s = Map::new();
        s.push("a", Node::str("1"));
        let mut doc = Map::new();
        doc.push("default", Node::Map(d.clone()));
        doc.push("s", Node::Map(s.clone()));
        doc.push("DEFAULT", Node::Map(d));
        assert_eq!(emit_str(&doc), "b = 2\n\n[s]\na = 1\n\n[DEFAULT]\nb = 2\n");
    }

    #[test]
    fn emitted_comments_follow_sops_layout() {
        // A YAML-shaped section: header comment first, then comments after keys.
        let mut s = Map::new();
        s.0.push(Item::Comment(Comment::new(" c1")));
        s.push("i", Node::Scalar(Scalar::Float(42.0)));
        s.push("eqk", Node::str("x"));
        s.0.push(Item::Comment(Comment::new(" c2")));
        s.0.push(Item::Comment(Comment::new(" c3")));
        s.push("last", Node::Scalar(Scalar::Null));
        let mut doc = Map::new();
        doc.0.push(Item::Comment(Comment::new(" top comment is dropped")));
        doc.push("sec", Node::Map(s));
        assert_eq!(emit_str(&doc), ";  c1\n[sec]\ni    = 42.0\n; c3\neqk  = x\nlast = <nil>\n");
    }

    #[test]
    fn empty_section_and_key_names_cannot_be_written() {
        let mut doc = Map::new();
        doc.push("", Node::Map(Map::new()));
        let e = emit(&[doc], None).unwrap_err();
        assert_eq!(e.path, "the value at [\"\"]");
        assert_eq!(e.message, "is a section with an empty name");
        let mut s = Map::new();
        s.push("", Node::str("v"));
        let mut doc = Map::new();
        doc.push("sec", Node::Map(s));
        let e = emit(&[doc], None).unwrap_err();
        assert_eq!(e.path, "the value at [\"sec\"][\"\"]");
        assert_eq!(e.message, "has an empty key name, which INI cannot hold");
    }

    #[test]
    fn top_level_scalars_cannot_be_written() {
        let mut doc = Map::new();
        doc.push("a", Node::str("x"));
        let e = emit(&[doc], None).unwrap_err();
        assert_eq!(e.path, "the value at [\"a\"]");
        assert!(e.message.contains("must be a section"), "{}", e.message);
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let cases: [(&[u8], usize, &str); 7] = [
            (b"[s]\n`quoted` value\n", 2, "the line has no `=` or `:` after the quoted key"),
            (b"a=1\n[s\nb=2\n", 2, "the section header has no closing `]`"),
            (
                b"a=1\nsecret-without-equals\n",
                2,
                "the line is neither `key = value`, a `[section]` header nor a `;`/`#` comment",
            ),
            (b"[]\n", 1, "the section name is empty"),
            (b"\n= v\n", 2, "the key name is empty"),
            (
                b"k = \"\"\"open\nsecret\n",
                1,
                "the quoted value that starts on this line is never closed",
            ),
            (b"\"key = 1\n", 1, "the quoted key has no closing quote"),
        ];
        for (input, line, message) in cases {
            let e = parse(input).unwrap_err();
            assert_eq!((e.at, e.message.as_str()), (Position::line(line), message));
            assert!(!e.message.contains("secret"));
        }
    }

    #[test]
    fn numbered_keys_boms_and_crlf() {
        let doc = parse(b"\xEF\xBB\xBFa=1\r\n[s]\r\n-=x\r\n-=y\r\n").unwrap();
        assert_eq!(values(section(&doc, "DEFAULT")), [("a".to_owned(), "1".to_owned())]);
        assert_eq!(
            values(section(&doc, "s")),
            [("#1".to_owned(), "x".to_owned()), ("#2".to_owned(), "y".to_owned())]
        );
    }

    #[test]
    fn reads_multi_line_metadata_values_of_sops_3_13() {
        let input = b"[foo]\nbar = x\n\n[sops]\nmac = ENC[y]\nenc = \"\"\"-----BEGIN-----\n\nabc\n-----END-----\"\"\"\nversion = 3.13.1\n";
        let (data, pairs) = split_metadata(parse(input).unwrap()).unwrap();
        let pairs = pairs.unwrap();
        assert_eq!(
            pairs[1],
            ("enc".to_owned(), "-----BEGIN-----\n\nabc\n-----END-----".to_owned())
        );
        assert_eq!(pairs.len(), 3);
        assert!(data.get("sops").is_none());
    }

    #[test]
    fn refuses_two_sops_sections() {
        let e = split_metadata(parse(b"[sops]\na=1\n[sops]\nb=2\n").unwrap()).unwrap_err();
        assert_eq!(e.key, "sops");
        assert!(e.message.contains("more than once"));
    }
}
