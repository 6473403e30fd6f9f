//! Builds go-yaml's node tree from the events (decode.go's `parser`): documents, mappings,
//! sequences, scalars and aliases, with the head, line and foot comments go-yaml gives each node.

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

/// A node's comments (rare, so boxed apart from the node).
#[derive(Clone, Debug, Default)]
pub(super) struct Comments {
    pub head: Vec<u8>,
    pub line: Vec<u8>,
    pub foot: Vec<u8>,
}

#[derive(Clone, Debug)]
pub(super) struct Node {
    pub kind: Kind,
    pub style: ScalarStyle,
    pub flow: bool,
    /// The tag as written (resolved through `%TAG` directives), unless it is absent or `!`.
    pub tag: Option<Box<str>>,
    /// Scalar text, or the anchor name of an alias.
    pub value: Vec<u8>,
    pub alias: Option<NodeId>,
    pub content: Vec<NodeId>,
    pub comments: Option<Box<Comments>>,
    /// 1-based position.
    pub line: u32,
    pub column: u32,
}

impl Node {
    pub fn head(&self) -> &[u8] {
        self.comments.as_deref().map_or(&[], |c| &c.head)
    }
    pub fn line_comment(&self) -> &[u8] {
        self.comments.as_deref().map_or(&[], |c| &c.line)
    }
    pub fn foot(&self) -> &[u8] {
        self.comments.as_deref().map_or(&[], |c| &c.foot)
    }
    fn set_foot(&mut self, foot: Vec<u8>) {
        if foot.is_empty() && self.comments.is_none() {
            return;
        }
        self.comments.get_or_insert_with(Default::default).foot = foot;
    }
    fn take_foot(&mut self) -> Vec<u8> {
        self.comments.as_deref_mut().map(|c| std::mem::take(&mut c.foot)).unwrap_or_default()
    }
}

/// Deeper nesting than this is refused: no configuration needs it, and the recursive parts
/// (conversion, emission, drop) must fit a 2 MiB thread stack even in a debug build.
pub(super) const MAX_DEPTH: usize = 256;

pub(super) struct Composer {
    parser: Parser,
    event: Option<Event>,
    pub nodes: Vec<Node>,
    anchors: HashMap<Vec<u8>, NodeId>,
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

impl Composer {
    pub fn new(parser: Parser) -> Self {
        Composer { parser, event: None, nodes: Vec::new(), anchors: HashMap::new(), started: false }
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

    /// How many anchors have been defined so far (they stay visible to later documents).
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
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
        let e = self.current();
        let tag = if e.tag.is_empty() || e.tag == b"!" {
            None
        } else {
            Some(short_tag(&String::from_utf8_lossy(&e.tag)).into_boxed_str())
        };
        let comments = if e.head_comment.is_empty()
            && e.line_comment.is_empty()
            && e.foot_comment.is_empty()
        {
            None
        } else {
            Some(Box::new(Comments {
                head: e.head_comment.clone(),
                line: e.line_comment.clone(),
                foot: e.foot_comment.clone(),
            }))
        };
        let node = Node {
            kind,
            style,
            flow: e.flow,
            tag,
            value: Vec::new(),
            alias: None,
            content: Vec::new(),
            comments,
            line: u32::try_from(e.start_mark.line + 1).unwrap_or(u32::MAX),
            column: u32::try_from(e.start_mark.column + 1).unwrap_or(u32::MAX),
        };
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node);
        id
    }

    fn anchor(&mut self, id: NodeId) {
        let anchor = self.event.as_mut().map(|e| std::mem::take(&mut e.anchor)).unwrap_or_default();
        if !anchor.is_empty() {
            self.anchors.insert(anchor, id);
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
                    let block = !self.nodes[n as usize].flow;
                    self.anchor(n);
                    self.expect(EventType::MappingStart)?;
                    stack.push(Frame::Mapping { n, block, key: None });
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
        self.nodes[n as usize].content.push(child);
        if self.peek()? == EventType::DocumentEnd {
            let foot = self.current().foot_comment.clone();
            self.nodes[n as usize].set_foot(foot);
        }
        self.expect(EventType::DocumentEnd)?;
        Ok(n)
    }

    fn alias(&mut self) -> Result<NodeId> {
        let n = self.push(Kind::Alias, ScalarStyle::Any);
        let name = self.current().anchor.clone();
        match self.anchors.get(&name) {
            Some(&target) => self.nodes[n as usize].alias = Some(target),
            None => {
                return Err(super::syntax_error(
                    &format!("unknown anchor '{}' referenced", String::from_utf8_lossy(&name)),
                    self.current().start_mark,
                    None,
                ));
            }
        }
        self.nodes[n as usize].value = name;
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
        self.nodes[n as usize].value = event.value;
        Ok(n)
    }

    /// A finished child of an open collection, with go-yaml's moves of foot comments.
    fn add_child(&mut self, frame: &mut Frame, child: NodeId) -> Result {
        match frame {
            Frame::Sequence { n } => self.nodes[*n as usize].content.push(child),
            Frame::Mapping { n, block, key } => {
                let n = *n;
                self.nodes[n as usize].content.push(child);
                match key.take() {
                    None => {
                        if *block && !self.nodes[child as usize].foot().is_empty() {
                            // A foot comment for the prior value when being dedented.
                            let len = self.nodes[n as usize].content.len();
                            if len > 2 {
                                let prior = self.nodes[n as usize].content[len - 3];
                                let foot = self.nodes[child as usize].take_foot();
                                self.nodes[prior as usize].set_foot(foot);
                            }
                        }
                        *key = Some(child);
                    }
                    Some(k) => {
                        if self.nodes[k as usize].foot().is_empty()
                            && !self.nodes[child as usize].foot().is_empty()
                        {
                            let foot = self.nodes[child as usize].take_foot();
                            self.nodes[k as usize].set_foot(foot);
                        }
                        if self.peek()? == EventType::TailComment {
                            let event = self.expect(EventType::TailComment)?;
                            if self.nodes[k as usize].foot().is_empty() {
                                self.nodes[k as usize].set_foot(event.foot_comment);
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
            Frame::Mapping { n, .. } => {
                let end = self.expect(EventType::MappingEnd)?;
                self.set_end_comments(n, end);
                let node = &self.nodes[n as usize];
                if !node.flow && !node.foot().is_empty() && node.content.len() > 1 {
                    let last_key = node.content[node.content.len() - 2];
                    let foot = self.nodes[n as usize].take_foot();
                    self.nodes[last_key as usize].set_foot(foot);
                }
                Ok(n)
            }
        }
    }

    fn set_end_comments(&mut self, n: NodeId, end: Event) {
        let node = &mut self.nodes[n as usize];
        if !end.line_comment.is_empty() || !end.foot_comment.is_empty() || node.comments.is_some() {
            let c = node.comments.get_or_insert_with(Default::default);
            c.line = end.line_comment;
            c.foot = end.foot_comment;
        }
    }
}

/// An open collection while composing.
enum Frame {
    Sequence { n: NodeId },
    Mapping { n: NodeId, block: bool, key: Option<NodeId> },
}

/// `tag:yaml.org,2002:x` is written `!!x`; other tags stay as they are.
pub(super) fn short_tag(tag: &str) -> String {
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_owned(),
    }
}
