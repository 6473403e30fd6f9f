//! Turns SOPS documents into emitter events, with comments and scalars placed as sops does.
//! This follows sops's `appendTreeBranch`/`appendSequence`/`treeValueToNode`, go-yaml's
//! `encoder.node`, and the encode-and-reparse round trip of `yaml.Node.Encode`.

use std::borrow::Cow;

use base64::Engine as _;

use super::emitter::{Emitter, ScalarAnalysis, analyze_scalar, choose_style};
use super::parser::{Event, EventComments, EventType};
use super::resolve::resolve;
use super::scanner::ScalarStyle;
use crate::format::scalar::{Scalar, format_float_go_g};
use crate::format::tree::{Comment, Item, Map, Node};

pub(super) struct Dumper<'w> {
    emitter: Emitter,
    /// Where output goes as it is produced, when it is not collected in memory.
    sink: Option<&'w mut dyn std::io::Write>,
    /// The first write error; nothing more is written after it.
    failed: Option<std::io::Error>,
}

/// Output is handed to a sink in pieces of about this size.
const DRAIN_BYTES: usize = 1 << 16;

/// A scalar as sops's YAML encoder presents it: text, explicit tag (long form) and style.
pub(super) struct Presented<'a> {
    pub value: Cow<'a, [u8]>,
    pub tag: Option<&'static str>,
    pub style: ScalarStyle,
    /// The emitter's analysis of `value`.
    pub analysis: ScalarAnalysis,
}

/// Comment lines written as `#text`, joined by newlines (sops's `addCommentsHead`).
fn join_comments(comments: &[&Comment]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in comments.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.push(b'#');
        out.extend_from_slice(c.text().as_bytes());
    }
    out
}

/// `addCommentsHead`: new comments go before the node's own head comment.
fn prepend(extra: &[u8], own: Vec<u8>) -> Vec<u8> {
    if extra.is_empty() {
        return own;
    }
    if own.is_empty() {
        return extra.to_vec();
    }
    let mut out = extra.to_vec();
    out.push(b'\n');
    out.extend_from_slice(&own);
    out
}

/// go-yaml's `encodeBase64`: standard base64 in lines of 70, each ended by a newline when there
/// is more than one line.
fn encode_base64(bytes: &[u8]) -> Vec<u8> {
    let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines = enc.len() / 70 + 1;
    if lines == 1 {
        return enc.into_bytes();
    }
    let mut out = Vec::with_capacity(enc.len() + lines);
    for chunk in enc.as_bytes().chunks(70) {
        out.extend_from_slice(chunk);
        out.push(b'\n');
    }
    out
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$` (YAML 1.1 base 60 floats, quoted on output).
fn is_base60_float(s: &str) -> bool {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(&c) = s.as_bytes().first() else { return false };
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    RE.get_or_init(|| regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

/// How sops's encoder writes a scalar. go-yaml's `Node.Encode` first marshals the Go value (its
/// text and requested style), emits it as a document and parses it back; the node it gets back
/// (style and tag as re-read) is what is finally encoded in place.
pub(super) fn present(s: &Scalar) -> Presented<'_> {
    let plain = |text: String| (Cow::Owned(text.into_bytes()), None, ScalarStyle::Plain);
    let (value, tag, requested): (Cow<[u8]>, Option<&'static str>, ScalarStyle) = match s {
        Scalar::Str(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => return present_str(text),
            Err(_) => {
                let text = encode_base64(bytes);
                let style =
                    if text.contains(&b'\n') { ScalarStyle::Literal } else { ScalarStyle::Plain };
                (Cow::Owned(text), Some("!!binary"), style)
            }
        },
        Scalar::Null => plain("null".into()),
        Scalar::Bool(b) => plain(if *b { "true" } else { "false" }.into()),
        Scalar::Int(i) => plain(i.to_string()),
        Scalar::Float(f) => plain(match format_float_go_g(*f).as_str() {
            "+Inf" => ".inf".into(),
            "-Inf" => "-.inf".into(),
            "NaN" => ".nan".into(),
            other => other.to_owned(),
        }),
        Scalar::Time(t) => plain(t.to_rfc3339_nano()),
    };
    finish_presentation(value, tag, requested)
}

/// A string as go-yaml's `stringv` marshals it, then as the encode-and-reparse round trip
/// leaves it.
pub(super) fn present_str(text: &str) -> Presented<'_> {
    let can_use_plain = matches!(resolve("", text), super::resolve::Resolved::Str)
        && !(is_base60_float(text) || is_old_bool(text));
    let style = if text.contains('\n') {
        ScalarStyle::Literal
    } else if can_use_plain {
        ScalarStyle::Plain
    } else {
        ScalarStyle::DoubleQuoted
    };
    finish_presentation(Cow::Borrowed(text.as_bytes()), None, style)
}

fn finish_presentation<'a>(
    value: Cow<'a, [u8]>,
    tag: Option<&'static str>,
    requested: ScalarStyle,
) -> Presented<'a> {
    // The first emission, as the root of a document.
    let analysis = analyze_scalar(&value);
    let has_tag = tag.is_some();
    let written =
        choose_style(&analysis, value.is_empty(), requested, false, false, !has_tag, !has_tag);

    // go-yaml cannot read back a block scalar whose first line starts with a tab ("found a tab
    // character where an indentation space is expected"): `Node.Encode` fails, sops ignores the
    // error and the empty node is written as null.
    if matches!(written, ScalarStyle::Literal | ScalarStyle::Folded)
        && value.first() == Some(&b'\t')
    {
        return Presented {
            value: Cow::Borrowed(b"null"),
            tag: None,
            style: ScalarStyle::Plain,
            analysis: analyze_scalar(b"null"),
        };
    }

    // Parsed back: a plain scalar gets its resolved tag (`<<` gets !!merge), any other style
    // !!str, an explicit tag is kept as written.
    let reparsed_tag: &'static str = match tag {
        Some(t) => t,
        None if written != ScalarStyle::Plain => "!!str",
        None if value.as_ref() == b"<<" => "!!merge",
        None => std::str::from_utf8(&value).map(|t| resolve("", t).tag()).unwrap_or("!!str"),
    };

    // encoder.node: drop the tag when it is implied by the value.
    let mut final_tag = Some(reparsed_tag);
    let mut force_quoting = false;
    if !has_tag {
        if reparsed_tag == "!!str" && written != ScalarStyle::Plain {
            final_tag = None;
        } else {
            let rtag = std::str::from_utf8(&value).map(|t| resolve("", t).tag()).unwrap_or("!!str");
            if rtag == reparsed_tag {
                final_tag = None;
            } else if reparsed_tag == "!!str" {
                final_tag = None;
                force_quoting = true;
            }
        }
    }
    let style = match written {
        ScalarStyle::DoubleQuoted
        | ScalarStyle::SingleQuoted
        | ScalarStyle::Literal
        | ScalarStyle::Folded => written,
        _ if value.contains(&b'\n') => ScalarStyle::Literal,
        _ if force_quoting => ScalarStyle::DoubleQuoted,
        _ => ScalarStyle::Plain,
    };
    let long_tag = final_tag.map(|t| match t {
        "!!binary" => "tag:yaml.org,2002:binary",
        "!!merge" => "tag:yaml.org,2002:merge",
        "!!str" => "tag:yaml.org,2002:str",
        "!!int" => "tag:yaml.org,2002:int",
        "!!float" => "tag:yaml.org,2002:float",
        "!!bool" => "tag:yaml.org,2002:bool",
        "!!null" => "tag:yaml.org,2002:null",
        _ => "tag:yaml.org,2002:timestamp",
    });
    Presented { value, tag: long_tag, style, analysis }
}

fn event(typ: EventType) -> Event {
    Event { typ, implicit: true, ..Event::default() }
}

impl<'w> Dumper<'w> {
    pub fn new() -> Self {
        let mut d = Dumper { emitter: Emitter::new(4), sink: None, failed: None };
        d.emitter.emit(event(EventType::StreamStart));
        d
    }

    /// A dumper that writes to `sink` as it goes (see [`Dumper::finish_to`]).
    pub fn to(sink: &'w mut dyn std::io::Write) -> Self {
        let mut d = Dumper::new();
        d.sink = Some(sink);
        d
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.emitter.clear_open_ended();
        self.emitter.emit(event(EventType::StreamEnd));
        self.emitter.out
    }

    /// Ends the stream and writes what is left to the sink.
    pub fn finish_to(mut self) -> std::io::Result<()> {
        self.emitter.clear_open_ended();
        self.emitter.emit(event(EventType::StreamEnd));
        self.drain(0);
        self.failed.map_or(Ok(()), Err)
    }

    /// Hands the output written so far to the sink once there is at least `min` of it. The
    /// emitter only ever appends to its output, so it can be emptied between events.
    fn drain(&mut self, min: usize) {
        if let Some(sink) = self.sink.as_mut()
            && self.emitter.out.len() >= min
        {
            if self.failed.is_none()
                && let Err(e) = sink.write_all(&self.emitter.out)
            {
                self.failed = Some(e);
            }
            self.emitter.out.clear();
        }
    }

    /// One document whose root is the mapping `map` (sops's `EmitPlainFile`).
    pub fn document(&mut self, map: &Map) {
        self.emitter.emit(event(EventType::DocumentStart));
        self.map(map, &[], Vec::new());
        self.emitter.emit(event(EventType::DocumentEnd));
    }

    /// One value as the root of a document (`yaml.Marshal` of sops's node).
    pub fn value(&mut self, node: &Node) {
        self.emitter.emit(event(EventType::DocumentStart));
        self.node(node, &[], Vec::new());
        self.emitter.emit(event(EventType::DocumentEnd));
    }

    /// A value with the comments its parent sequence puts before and after it.
    fn node(&mut self, node: &Node, extra_head: &[u8], extra_foot: Vec<u8>) {
        match node {
            Node::Map(m) => self.map(m, extra_head, extra_foot),
            Node::List(items) => self.list(items, extra_head, extra_foot),
            Node::Scalar(s) => self.scalar(s, extra_head.to_vec(), extra_foot),
            Node::Comment(c) => {
                // sops encodes a stray comment value as its Go struct: `value: text`.
                let map = Map(vec![Item::Entry("value".into(), Node::str(c.text()))]);
                self.map(&map, extra_head, extra_foot);
            }
        }
    }

    fn scalar(&mut self, s: &Scalar, head: Vec<u8>, foot: Vec<u8>) {
        let p = present(s);
        let implicit = p.tag.is_none();
        self.emitter.emit(Event {
            typ: EventType::Scalar,
            tag: p.tag.map(|t| t.as_bytes().to_vec()).unwrap_or_default(),
            value: p.value.into_owned(),
            implicit,
            quoted_implicit: implicit,
            scalar_style: p.style,
            analysis: Some(p.analysis),
            comments: EventComments::boxed(head, Vec::new(), foot, Vec::new()),
            ..Event::default()
        });
    }

    /// A mapping key: a string scalar, without copying it into a `Scalar` first.
    fn key(&mut self, key: &str, head: Vec<u8>) {
        let p = present_str(key);
        let implicit = p.tag.is_none();
        self.emitter.emit(Event {
            typ: EventType::Scalar,
            tag: p.tag.map(|t| t.as_bytes().to_vec()).unwrap_or_default(),
            value: p.value.into_owned(),
            implicit,
            quoted_implicit: implicit,
            scalar_style: p.style,
            analysis: Some(p.analysis),
            comments: EventComments::boxed(head, Vec::new(), Vec::new(), Vec::new()),
            ..Event::default()
        });
    }

    fn map(&mut self, map: &Map, extra_head: &[u8], extra_foot: Vec<u8>) {
        let items = &map.0;
        let first_entry = items.iter().position(|i| matches!(i, Item::Entry(..)));
        let leading: Vec<&Comment> = items[..first_entry.unwrap_or(items.len())]
            .iter()
            .filter_map(|i| match i {
                Item::Comment(c) => Some(c),
                Item::Entry(..) => None,
            })
            .collect();
        let head = prepend(extra_head, join_comments(&leading));
        self.emitter.emit(Event {
            typ: EventType::MappingStart,
            implicit: true,
            comments: EventComments::boxed(head, Vec::new(), Vec::new(), Vec::new()),
            ..Event::default()
        });
        let mut pending: Vec<&Comment> = Vec::new();
        let mut seen_entry = false;
        for item in items {
            match item {
                Item::Comment(c) => {
                    if seen_entry {
                        pending.push(c);
                    }
                }
                Item::Entry(key, value) => {
                    let key_head = join_comments(&pending);
                    pending.clear();
                    seen_entry = true;
                    self.key(key, key_head);
                    self.node(value, &[], Vec::new());
                    self.drain(DRAIN_BYTES);
                }
            }
        }
        // Comments after the last entry become the last key's foot comment, which go-yaml's
        // encoder writes as the tail of the mapping end.
        self.emitter.emit(Event {
            typ: EventType::MappingEnd,
            comments: EventComments::boxed(
                Vec::new(),
                Vec::new(),
                extra_foot,
                join_comments(&pending),
            ),
            ..Event::default()
        });
    }

    fn list(&mut self, items: &[Node], extra_head: &[u8], extra_foot: Vec<u8>) {
        let first_value = items.iter().position(|i| !matches!(i, Node::Comment(_)));
        let leading: Vec<&Comment> = items[..first_value.unwrap_or(items.len())]
            .iter()
            .filter_map(|i| match i {
                Node::Comment(c) => Some(c),
                _ => None,
            })
            .collect();
        self.emitter.emit(Event {
            typ: EventType::SequenceStart,
            implicit: true,
            comments: EventComments::boxed(
                prepend(extra_head, join_comments(&leading)),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
            ..Event::default()
        });
        let Some(first) = first_value else {
            self.emitter.emit(Event {
                typ: EventType::SequenceEnd,
                comments: EventComments::boxed(Vec::new(), Vec::new(), extra_foot, Vec::new()),
                ..Event::default()
            });
            return;
        };
        let last = items.iter().rposition(|i| !matches!(i, Node::Comment(_))).unwrap_or(first);
        let trailing: Vec<&Comment> = items[last + 1..]
            .iter()
            .filter_map(|i| match i {
                Node::Comment(c) => Some(c),
                _ => None,
            })
            .collect();
        let mut pending: Vec<&Comment> = Vec::new();
        for (i, item) in items.iter().enumerate().skip(first) {
            if i > last {
                break;
            }
            match item {
                Node::Comment(c) => pending.push(c),
                value => {
                    let head = join_comments(&pending);
                    pending.clear();
                    let foot = if i == last { join_comments(&trailing) } else { Vec::new() };
                    self.node(value, &head, foot);
                }
            }
        }
        self.emitter.emit(Event {
            typ: EventType::SequenceEnd,
            comments: EventComments::boxed(Vec::new(), Vec::new(), extra_foot, Vec::new()),
            ..Event::default()
        });
    }
}
