//! Builds go-yaml's node tree, with the comments it gives each node, from parser events.
//! This follows decode.go's `parser`: documents, mappings, sequences, scalars and aliases.

use std::collections::HashMap;

use super::YamlError;
use super::parser::{Event, EventType, Parser};
use super::scanner::ScalarStyle;

pub(super) type NodeId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Document,
    Sequence,
    Mapping,
    Scalar,
    Alias,
}

/// A node's comments (rare, so kept apart from the nodes).
#[derive(Clone, Debug, Default)]
pub(super) struct Comments {
    pub head: Vec<u8>,
    pub line: Vec<u8>,
    pub foot: Vec<u8>,
}

/// "No node", "no tag", "no comments" in the compact fields below.
pub(super) const NONE: u32 = u32::MAX;

/// A go-yaml node, compact: text lives in the arena's byte buffer, children form a linked list.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub kind: Kind,
    pub style: ScalarStyle,
    pub flow: bool,
    /// The value is a range of the input rather than of the arena's own bytes.
    in_input: bool,
    /// Index of the tag as written (resolved through `%TAG` directives), unless it is absent or
    /// `!`.
    tag: u32,
    /// Scalar text, or the anchor name of an alias.
    value_start: u32,
    value_len: u32,
    alias: u32,
    first: u32,
    last: u32,
    next: u32,
    comments: u32,
    /// 1-based position.
    pub line: u32,
    pub column: u32,
}

/// Every node of the stream read so far, and their text: plain scalars as ranges of the
/// input, other text copied into `bytes`.
#[derive(Default)]
pub(super) struct Arena<'a> {
    input: &'a [u8],
    nodes: Vec<Node>,
    bytes: Vec<u8>,
    tags: Vec<Box<str>>,
    comments: Vec<Comments>,
}

/// The sizes of an arena's parts, to forget what was added after it.
#[derive(Clone, Copy)]
pub(super) struct ArenaMark([usize; 4]);

impl<'a> Arena<'a> {
    /// Room for the nodes and text of typical YAML `input`, so that the arena does not grow by
    /// copying (untouched capacity costs no memory).
    pub fn with_capacity_for(input: &'a [u8]) -> Self {
        Arena {
            input,
            nodes: Vec::with_capacity(input.len() / 24),
            bytes: Vec::with_capacity(input.len() / 8),
            tags: Vec::new(),
            comments: Vec::new(),
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn value(&self, id: NodeId) -> &[u8] {
        let n = self.node(id);
        let range = n.value_start as usize..(n.value_start + n.value_len) as usize;
        if n.in_input { &self.input[range] } else { &self.bytes[range] }
    }

    pub fn tag(&self, id: NodeId) -> Option<&str> {
        self.tags.get(self.node(id).tag as usize).map(|t| &**t)
    }

    pub fn alias(&self, id: NodeId) -> Option<NodeId> {
        Some(self.node(id).alias).filter(|a| *a != NONE)
    }

    fn comments(&self, id: NodeId) -> Option<&Comments> {
        self.comments.get(self.node(id).comments as usize)
    }

    pub fn head(&self, id: NodeId) -> &[u8] {
        self.comments(id).map_or(&[], |c| &c.head)
    }

    pub fn line_comment(&self, id: NodeId) -> &[u8] {
        self.comments(id).map_or(&[], |c| &c.line)
    }

    pub fn foot(&self, id: NodeId) -> &[u8] {
        self.comments(id).map_or(&[], |c| &c.foot)
    }

    /// The children of a document, sequence or mapping (keys and values alternate).
    pub fn children(&self, id: NodeId) -> Children<'_> {
        Children { arena: self, next: self.node(id).first }
    }

    fn comments_mut(&mut self, id: NodeId) -> &mut Comments {
        if self.nodes[id as usize].comments == NONE {
            self.nodes[id as usize].comments = self.comments.len() as u32;
            self.comments.push(Comments::default());
        }
        let i = self.nodes[id as usize].comments as usize;
        &mut self.comments[i]
    }

    fn set_foot(&mut self, id: NodeId, foot: Vec<u8>) {
        if foot.is_empty() && self.nodes[id as usize].comments == NONE {
            return;
        }
        self.comments_mut(id).foot = foot;
    }

    fn take_foot(&mut self, id: NodeId) -> Vec<u8> {
        if self.nodes[id as usize].comments == NONE {
            return Vec::new();
        }
        std::mem::take(&mut self.comments_mut(id).foot)
    }

    /// Sets a scalar's value: its source range when it is the source text as is (checked by
    /// the scanner), else a copy.
    fn set_scalar_value(&mut self, id: NodeId, value: &[u8], span: Option<(u32, u32)>) {
        match span {
            Some((start, end)) if self.input.get(start as usize..end as usize) == Some(value) => {
                let n = &mut self.nodes[id as usize];
                n.in_input = true;
                n.value_start = start;
                n.value_len = end - start;
            }
            _ => self.set_value(id, value),
        }
    }

    fn set_value(&mut self, id: NodeId, value: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(value);
        let n = &mut self.nodes[id as usize];
        n.value_start = start as u32;
        n.value_len = value.len() as u32;
    }

    fn append(&mut self, parent: NodeId, child: NodeId) {
        let p = &mut self.nodes[parent as usize];
        if p.first == NONE {
            p.first = child;
        } else {
            let last = p.last;
            self.nodes[last as usize].next = child;
        }
        self.nodes[parent as usize].last = child;
    }

    pub fn mark(&self) -> ArenaMark {
        ArenaMark([self.nodes.len(), self.bytes.len(), self.tags.len(), self.comments.len()])
    }

    /// Forgets everything added after `mark`.
    pub fn truncate(&mut self, mark: ArenaMark) {
        let [n, b, t, c] = mark.0;
        self.nodes.truncate(n);
        self.bytes.truncate(b);
        self.tags.truncate(t);
        self.comments.truncate(c);
    }
}

pub(super) struct Children<'a> {
    arena: &'a Arena<'a>,
    next: u32,
}

impl Iterator for Children<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next == NONE {
            return None;
        }
        let id = self.next;
        self.next = self.arena.node(id).next;
        Some(id)
    }
}

/// Deeper nesting than this is refused: no configuration needs it, and the recursive parts
/// (conversion, emission, drop) must fit a 2 MiB thread stack even in a debug build.
pub(super) const MAX_DEPTH: usize = 256;

pub(super) struct Composer<'a> {
    parser: Parser<'a>,
    event: Option<Event>,
    pub arena: Arena<'a>,
    anchors: HashMap<Vec<u8>, NodeId>,
    /// How many anchors were defined, redefinitions included.
    anchors_defined: usize,
    started: bool,
}

type Result<T = ()> = std::result::Result<T, YamlError>;

fn event_name(t: EventType) -> &'static str {
    match t {
        EventType::None => "none",
        EventType::StreamStart => "stream start",
        EventType::StreamEnd => "stream end",
        EventType::DocumentStart => "document start",
        EventType::DocumentEnd => "document end",
        EventType::Alias => "alias",
        EventType::Scalar => "scalar",
        EventType::SequenceStart => "sequence start",
        EventType::SequenceEnd => "sequence end",
        EventType::MappingStart => "mapping start",
        EventType::MappingEnd => "mapping end",
        EventType::TailComment => "tail comment",
    }
}

impl<'a> Composer<'a> {
    /// Composes the events of `parser`, which reads `input`.
    pub fn new(parser: Parser<'a>, input: &'a [u8]) -> Self {
        Composer {
            parser,
            event: None,
            arena: Arena::with_capacity_for(input),
            anchors: HashMap::new(),
            anchors_defined: 0,
            started: false,
        }
    }

    fn peek(&mut self) -> Result<EventType> {
        if self.event.is_none() {
            let e = self.parser.parse()?;
            self.event = Some(e.unwrap_or_default());
        }
        Ok(self.event.as_ref().map_or(EventType::None, |e| e.typ))
    }

    fn current(&self) -> &Event {
        static EMPTY: std::sync::OnceLock<Event> = std::sync::OnceLock::new();
        self.event.as_ref().unwrap_or_else(|| EMPTY.get_or_init(Event::default))
    }

    fn expect(&mut self, e: EventType) -> Result<Event> {
        let t = self.peek()?;
        let event = self.event.take().unwrap_or_default();
        if t == EventType::StreamEnd || t == EventType::None {
            return Err(super::syntax_error(
                "unexpected end of the YAML stream",
                event.start_mark,
                None,
            ));
        }
        if t != e {
            return Err(super::syntax_error(
                &format!("expected {} event but got {}", event_name(e), event_name(t)),
                event.start_mark,
                None,
            ));
        }
        Ok(event)
    }

    /// How many anchors have been defined so far, redefinitions included (they stay visible to
    /// later documents).
    pub fn anchor_count(&self) -> usize {
        self.anchors_defined
    }

    /// The next document node, or `None` at the end of the stream.
    pub fn next_document(&mut self) -> Result<Option<NodeId>> {
        if !self.started {
            self.started = true;
            self.expect(EventType::StreamStart)?;
        }
        match self.peek()? {
            EventType::DocumentStart => self.document().map(Some),
            EventType::StreamEnd | EventType::None => Ok(None),
            t => Err(super::syntax_error(
                &format!("unexpected {} event", event_name(t)),
                self.current().start_mark,
                None,
            )),
        }
    }

    fn push(&mut self, kind: Kind, style: ScalarStyle) -> NodeId {
        let e = self.event.as_ref();
        let tag = match e.map(|e| e.tag.as_slice()) {
            None | Some(b"" | b"!") => NONE,
            Some(t) => {
                self.arena.tags.push(short_tag(&String::from_utf8_lossy(t)).into_boxed_str());
                (self.arena.tags.len() - 1) as u32
            }
        };
        let comments = match e {
            Some(e) if !(e.head().is_empty() && e.line().is_empty() && e.foot().is_empty()) => {
                self.arena.comments.push(Comments {
                    head: e.head().to_vec(),
                    line: e.line().to_vec(),
                    foot: e.foot().to_vec(),
                });
                (self.arena.comments.len() - 1) as u32
            }
            _ => NONE,
        };
        let mark = e.map(|e| e.start_mark).unwrap_or_default();
        let node = Node {
            kind,
            style,
            flow: e.is_some_and(|e| e.flow),
            in_input: false,
            tag,
            value_start: 0,
            value_len: 0,
            alias: NONE,
            first: NONE,
            last: NONE,
            next: NONE,
            comments,
            line: u32::try_from(mark.line + 1).unwrap_or(u32::MAX),
            column: u32::try_from(mark.column + 1).unwrap_or(u32::MAX),
        };
        let id = self.arena.nodes.len() as NodeId;
        self.arena.nodes.push(node);
        id
    }

    fn anchor(&mut self, id: NodeId) {
        let anchor = self.event.as_mut().map(|e| std::mem::take(&mut e.anchor)).unwrap_or_default();
        if !anchor.is_empty() {
            self.anchors.insert(anchor, id);
            self.anchors_defined += 1;
        }
    }

    /// One node and everything under it. Iterative, so deep nesting cannot exhaust the stack.
    fn parse(&mut self) -> Result<NodeId> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut completed = match self.peek()? {
                EventType::Scalar => Some(self.scalar()?),
                EventType::Alias => Some(self.alias()?),
                EventType::MappingStart => {
                    let n = self.push(Kind::Mapping, ScalarStyle::Any);
                    let block = !self.arena.node(n).flow;
                    self.anchor(n);
                    self.expect(EventType::MappingStart)?;
                    stack.push(Frame::Mapping { n, block, key: None, last_key: None });
                    None
                }
                EventType::SequenceStart => {
                    let n = self.push(Kind::Sequence, ScalarStyle::Any);
                    self.anchor(n);
                    self.expect(EventType::SequenceStart)?;
                    stack.push(Frame::Sequence { n });
                    None
                }
                t => {
                    return Err(super::syntax_error(
                        &format!("unexpected {} event", event_name(t)),
                        self.current().start_mark,
                        None,
                    ));
                }
            };
            if stack.len() > MAX_DEPTH {
                return Err(super::syntax_error(
                    &format!("the document nests deeper than {MAX_DEPTH} levels"),
                    self.current().start_mark,
                    None,
                ));
            }
            loop {
                if let Some(child) = completed.take() {
                    match stack.last_mut() {
                        None => return Ok(child),
                        Some(frame) => self.add_child(frame, child)?,
                    }
                }
                let end = match stack.last() {
                    Some(Frame::Mapping { .. }) => EventType::MappingEnd,
                    Some(Frame::Sequence { .. }) => EventType::SequenceEnd,
                    None => break,
                };
                if self.peek()? != end {
                    break;
                }
                if let Some(frame) = stack.pop() {
                    completed = Some(self.close(frame)?);
                }
            }
        }
    }

    fn document(&mut self) -> Result<NodeId> {
        let n = self.push(Kind::Document, ScalarStyle::Any);
        self.expect(EventType::DocumentStart)?;
        let child = self.parse()?;
        self.arena.append(n, child);
        if self.peek()? == EventType::DocumentEnd {
            let foot = self.current().foot().to_vec();
            self.arena.set_foot(n, foot);
        }
        self.expect(EventType::DocumentEnd)?;
        Ok(n)
    }

    fn alias(&mut self) -> Result<NodeId> {
        let n = self.push(Kind::Alias, ScalarStyle::Any);
        let name = self.current().anchor.clone();
        match self.anchors.get(&name) {
            Some(&target) => self.arena.nodes[n as usize].alias = target,
            None => {
                return Err(super::syntax_error(
                    &format!("unknown anchor '{}' referenced", String::from_utf8_lossy(&name)),
                    self.current().start_mark,
                    None,
                ));
            }
        }
        self.arena.set_value(n, &name);
        self.expect(EventType::Alias)?;
        Ok(n)
    }

    fn scalar(&mut self) -> Result<NodeId> {
        let style = match self.current().scalar_style {
            ScalarStyle::Any => ScalarStyle::Plain,
            s => s,
        };
        let n = self.push(Kind::Scalar, style);
        self.anchor(n);
        let event = self.expect(EventType::Scalar)?;
        self.arena.set_scalar_value(n, &event.value, event.span);
        Ok(n)
    }

    /// A finished child of an open collection, with go-yaml's moves of foot comments.
    fn add_child(&mut self, frame: &mut Frame, child: NodeId) -> Result {
        match frame {
            Frame::Sequence { n } => self.arena.append(*n, child),
            Frame::Mapping { n, block, key, last_key } => {
                self.arena.append(*n, child);
                match key.take() {
                    None => {
                        if *block && !self.arena.foot(child).is_empty() {
                            // A foot comment for the prior value when being dedented.
                            if let Some(prior) = *last_key {
                                let foot = self.arena.take_foot(child);
                                self.arena.set_foot(prior, foot);
                            }
                        }
                        *key = Some(child);
                    }
                    Some(k) => {
                        *last_key = Some(k);
                        if self.arena.foot(k).is_empty() && !self.arena.foot(child).is_empty() {
                            let foot = self.arena.take_foot(child);
                            self.arena.set_foot(k, foot);
                        }
                        if self.peek()? == EventType::TailComment {
                            let event = self.expect(EventType::TailComment)?;
                            if self.arena.foot(k).is_empty() {
                                self.arena.set_foot(k, event.foot().to_vec());
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends a collection at its end event.
    fn close(&mut self, frame: Frame) -> Result<NodeId> {
        match frame {
            Frame::Sequence { n } => {
                let end = self.expect(EventType::SequenceEnd)?;
                self.set_end_comments(n, end);
                Ok(n)
            }
            Frame::Mapping { n, last_key, .. } => {
                let end = self.expect(EventType::MappingEnd)?;
                self.set_end_comments(n, end);
                if let Some(last_key) = last_key
                    && !self.arena.node(n).flow
                    && !self.arena.foot(n).is_empty()
                {
                    let foot = self.arena.take_foot(n);
                    self.arena.set_foot(last_key, foot);
                }
                Ok(n)
            }
        }
    }

    fn set_end_comments(&mut self, n: NodeId, end: Event) {
        let (line, foot) = match end.comments {
            Some(c) => (c.line, c.foot),
            None => (Vec::new(), Vec::new()),
        };
        if !line.is_empty() || !foot.is_empty() || self.arena.node(n).comments != NONE {
            let c = self.arena.comments_mut(n);
            c.line = line;
            c.foot = foot;
        }
    }
}

/// An open collection while composing.
enum Frame {
    Sequence {
        n: NodeId,
    },
    /// `key` is a key still waiting for its value; `last_key` the key of the last full pair.
    Mapping {
        n: NodeId,
        block: bool,
        key: Option<NodeId>,
        last_key: Option<NodeId>,
    },
}

/// `tag:yaml.org,2002:x` is written `!!x`; other tags stay as they are.
pub(super) fn short_tag(tag: &str) -> String {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_owned(),
    }
}
