//! The event parser: go-yaml v3's `parserc.go`, moving each comment onto its event.

use super::YamlError;
use super::scanner::{Mark, ScalarStyle, Scanner, Token, TokenType};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum EventType {
    #[default]
    None,
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
    TailComment,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Event {
    pub typ: EventType,
    pub start_mark: Mark,
    pub anchor: Vec<u8>,
    pub tag: Vec<u8>,
    pub value: Vec<u8>,
    pub implicit: bool,
    pub quoted_implicit: bool,
    pub scalar_style: ScalarStyle,
    /// Flow style for sequences and mappings.
    pub flow: bool,
    /// Head, line, foot and tail comments; rare, so boxed to keep events small.
    pub comments: Option<Box<EventComments>>,
    /// Only set by the encoder: the emitter's analysis of `value`, already computed.
    pub analysis: Option<super::emitter::ScalarAnalysis>,
    /// A scalar's source range when `value` is its source text as is (see `Token::span`).
    pub span: Option<(u32, u32)>,
}

/// The comments an event carries.
#[derive(Clone, Debug, Default)]
pub(super) struct EventComments {
    pub head: Vec<u8>,
    pub line: Vec<u8>,
    pub foot: Vec<u8>,
    /// Only set by the encoder: a foot comment of the previous mapping key.
    pub tail: Vec<u8>,
}

impl EventComments {
    /// Boxed comments, or none when all are empty.
    pub fn boxed(head: Vec<u8>, line: Vec<u8>, foot: Vec<u8>, tail: Vec<u8>) -> Option<Box<Self>> {
        if head.is_empty() && line.is_empty() && foot.is_empty() && tail.is_empty() {
            None
        } else {
            Some(Box::new(EventComments { head, line, foot, tail }))
        }
    }
}

impl Event {
    pub fn head(&self) -> &[u8] {
        self.comments.as_deref().map_or(&[], |c| &c.head)
    }
    pub fn line(&self) -> &[u8] {
        self.comments.as_deref().map_or(&[], |c| &c.line)
    }
    pub fn foot(&self) -> &[u8] {
        self.comments.as_deref().map_or(&[], |c| &c.foot)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    ImplicitDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    BlockNode,
    BlockSequenceFirstEntry,
    BlockSequenceEntry,
    IndentlessSequenceEntry,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingValue,
    FlowSequenceFirstEntry,
    FlowSequenceEntry,
    FlowSequenceEntryMappingKey,
    FlowSequenceEntryMappingValue,
    FlowSequenceEntryMappingEnd,
    FlowMappingFirstKey,
    FlowMappingKey,
    FlowMappingValue,
    FlowMappingEmptyValue,
    End,
}

struct TagDirective {
    handle: Vec<u8>,
    prefix: Vec<u8>,
}

pub(super) struct Parser<'a> {
    scanner: Scanner<'a>,
    state: State,
    states: Vec<State>,
    marks: Vec<Mark>,
    tag_directives: Vec<TagDirective>,
    head_comment: Vec<u8>,
    line_comment: Vec<u8>,
    foot_comment: Vec<u8>,
    stem_comment: Option<Vec<u8>>,
}

type Result<T = ()> = std::result::Result<T, YamlError>;

fn parser_error(problem: &str, mark: Mark) -> YamlError {
    super::syntax_error(problem, mark, None)
}

fn parser_error_context(context: &str, context_mark: Mark, problem: &str, mark: Mark) -> YamlError {
    super::syntax_error(problem, mark, Some((context, context_mark)))
}

impl<'a> Parser<'a> {
    pub fn new(scanner: Scanner<'a>) -> Self {
        Parser {
            scanner,
            state: State::StreamStart,
            states: Vec::new(),
            marks: Vec::new(),
            tag_directives: Vec::new(),
            head_comment: Vec::new(),
            line_comment: Vec::new(),
            foot_comment: Vec::new(),
            stem_comment: None,
        }
    }

    /// The next event, or `None` after the end of the stream.
    pub fn parse(&mut self) -> Result<Option<Event>> {
        if self.scanner.stream_end_produced() || self.state == State::End {
            return Ok(None);
        }
        self.state_machine().map(Some)
    }

    /// Makes the head token available and folds its comments into the pending comments.
    fn peek(&mut self) -> Result<&Token> {
        if !self.scanner.token_available {
            self.scanner.fetch_more_tokens()?;
        }
        self.unfold_comments();
        let head = self.scanner.tokens_head;
        match self.scanner.tokens.get(head) {
            Some(t) => Ok(t),
            None => Err(parser_error("unexpected end of the token stream", self.scanner.mark)),
        }
    }

    fn peek_type(&mut self) -> Result<TokenType> {
        Ok(self.peek()?.typ)
    }

    fn head(&mut self) -> &mut Token {
        let head = self.scanner.tokens_head;
        &mut self.scanner.tokens[head]
    }

    fn unfold_comments(&mut self) {
        let head = self.scanner.tokens_head;
        let Some(token) = self.scanner.tokens.get(head) else {
            return;
        };
        let (index, typ) = (token.start_mark.index, token.typ);
        let sc = &mut self.scanner;
        while sc.comments_head < sc.comments.len()
            && index >= sc.comments[sc.comments_head].token_mark.index
        {
            let comment = &mut sc.comments[sc.comments_head];
            if !comment.head.is_empty() {
                if typ == TokenType::BlockEnd {
                    // No heads on ends: keep the head comment for a following token.
                    break;
                }
                if !self.head_comment.is_empty() {
                    self.head_comment.push(b'\n');
                }
                self.head_comment.extend_from_slice(&comment.head);
            }
            if !comment.foot.is_empty() {
                if !self.foot_comment.is_empty() {
                    self.foot_comment.push(b'\n');
                }
                self.foot_comment.extend_from_slice(&comment.foot);
            }
            if !comment.line.is_empty() {
                if !self.line_comment.is_empty() {
                    self.line_comment.push(b'\n');
                }
                self.line_comment.extend_from_slice(&comment.line);
            }
            *comment = Default::default();
            sc.comments_head += 1;
        }
    }

    fn skip_token(&mut self) {
        self.scanner.skip_token();
    }

    fn set_event_comments(&mut self, event: &mut Event) {
        event.comments = EventComments::boxed(
            std::mem::take(&mut self.head_comment),
            std::mem::take(&mut self.line_comment),
            std::mem::take(&mut self.foot_comment),
            Vec::new(),
        );
        self.stem_comment = None;
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    fn state_machine(&mut self) -> Result<Event> {
        match self.state {
            State::StreamStart => self.parse_stream_start(),
            State::ImplicitDocumentStart => self.parse_document_start(true),
            State::DocumentStart => self.parse_document_start(false),
            State::DocumentContent => self.parse_document_content(),
            State::DocumentEnd => self.parse_document_end(),
            State::BlockNode => self.parse_node(true, false),
            State::BlockSequenceFirstEntry => self.parse_block_sequence_entry(true),
            State::BlockSequenceEntry => self.parse_block_sequence_entry(false),
            State::IndentlessSequenceEntry => self.parse_indentless_sequence_entry(),
            State::BlockMappingFirstKey => self.parse_block_mapping_key(true),
            State::BlockMappingKey => self.parse_block_mapping_key(false),
            State::BlockMappingValue => self.parse_block_mapping_value(),
            State::FlowSequenceFirstEntry => self.parse_flow_sequence_entry(true),
            State::FlowSequenceEntry => self.parse_flow_sequence_entry(false),
            State::FlowSequenceEntryMappingKey => self.parse_flow_sequence_entry_mapping_key(),
            State::FlowSequenceEntryMappingValue => self.parse_flow_sequence_entry_mapping_value(),
            State::FlowSequenceEntryMappingEnd => self.parse_flow_sequence_entry_mapping_end(),
            State::FlowMappingFirstKey => self.parse_flow_mapping_key(true),
            State::FlowMappingKey => self.parse_flow_mapping_key(false),
            State::FlowMappingValue => self.parse_flow_mapping_value(false),
            State::FlowMappingEmptyValue => self.parse_flow_mapping_value(true),
            State::End => Ok(Event { typ: EventType::StreamEnd, ..Event::default() }),
        }
    }

    fn parse_stream_start(&mut self) -> Result<Event> {
        let token = self.peek()?;
        if token.typ != TokenType::StreamStart {
            return Err(parser_error("did not find expected <stream-start>", token.start_mark));
        }
        let s = token.start_mark;
        self.state = State::ImplicitDocumentStart;
        self.skip_token();
        Ok(Event { typ: EventType::StreamStart, start_mark: s, ..Event::default() })
    }

    fn parse_document_start(&mut self, implicit: bool) -> Result<Event> {
        let mut typ = self.peek_type()?;
        if !implicit {
            while typ == TokenType::DocumentEnd {
                self.skip_token();
                typ = self.peek_type()?;
            }
        }
        let start_mark = self.peek()?.start_mark;
        if implicit
            && !matches!(
                typ,
                TokenType::VersionDirective
                    | TokenType::TagDirective
                    | TokenType::DocumentStart
                    | TokenType::StreamEnd
            )
        {
            self.process_directives()?;
            self.states.push(State::DocumentEnd);
            self.state = State::BlockNode;

            // Split the head comment at its last empty line: the part before it is the
            // document's, the rest goes to the following event.
            let mut head_comment = Vec::new();
            let hc = &self.head_comment;
            if !hc.is_empty() {
                let mut i = hc.len() - 1;
                while i > 0 {
                    if hc[i] == b'\n' {
                        if i == hc.len() - 1 {
                            head_comment = hc[..i].to_vec();
                            self.head_comment = hc[i + 1..].to_vec();
                            break;
                        } else if hc[i - 1] == b'\n' {
                            head_comment = hc[..i - 1].to_vec();
                            self.head_comment = hc[i + 1..].to_vec();
                            break;
                        }
                    }
                    i -= 1;
                }
            }
            return Ok(Event {
                typ: EventType::DocumentStart,
                start_mark,
                comments: EventComments::boxed(head_comment, Vec::new(), Vec::new(), Vec::new()),
                implicit: true,
                ..Event::default()
            });
        }
        if typ != TokenType::StreamEnd {
            self.process_directives()?;
            let t = self.peek()?;
            if t.typ != TokenType::DocumentStart {
                return Err(parser_error("did not find expected <document start>", t.start_mark));
            }
            self.states.push(State::DocumentEnd);
            self.state = State::DocumentContent;
            self.skip_token();
            return Ok(Event {
                typ: EventType::DocumentStart,
                start_mark,
                implicit: false,
                ..Event::default()
            });
        }
        self.state = State::End;
        self.skip_token();
        Ok(Event { typ: EventType::StreamEnd, start_mark, ..Event::default() })
    }

    fn parse_document_content(&mut self) -> Result<Event> {
        let t = self.peek()?;
        if matches!(
            t.typ,
            TokenType::VersionDirective
                | TokenType::TagDirective
                | TokenType::DocumentStart
                | TokenType::DocumentEnd
                | TokenType::StreamEnd
        ) {
            let mark = t.start_mark;
            self.pop_state();
            return Ok(empty_scalar(mark));
        }
        self.parse_node(true, false)
    }

    fn parse_document_end(&mut self) -> Result<Event> {
        let t = self.peek()?;
        let start_mark = t.start_mark;
        let mut implicit = true;
        if t.typ == TokenType::DocumentEnd {
            self.skip_token();
            implicit = false;
        }
        self.tag_directives.clear();
        self.state = State::DocumentStart;
        let mut event =
            Event { typ: EventType::DocumentEnd, start_mark, implicit, ..Event::default() };
        self.set_event_comments(&mut event);
        if let Some(c) = event.comments.as_deref_mut()
            && !c.head.is_empty()
            && c.foot.is_empty()
        {
            c.foot = std::mem::take(&mut c.head);
        }
        Ok(event)
    }

    fn parse_node(&mut self, block: bool, indentless_sequence: bool) -> Result<Event> {
        let t = self.peek()?;
        if t.typ == TokenType::Alias {
            let mut event =
                Event { typ: EventType::Alias, start_mark: t.start_mark, ..Event::default() };
            event.anchor = std::mem::take(&mut self.head().value);
            self.pop_state();
            self.set_event_comments(&mut event);
            self.skip_token();
            return Ok(event);
        }

        let mut start_mark = t.start_mark;
        let mut tag_token = false;
        let mut tag_handle = Vec::new();
        let mut tag_suffix = Vec::new();
        let mut anchor = Vec::new();
        let mut tag_mark = Mark::default();

        if t.typ == TokenType::Anchor {
            anchor = std::mem::take(&mut self.head().value);
            self.skip_token();
            let t = self.peek()?;
            if t.typ == TokenType::Tag {
                tag_token = true;
                tag_mark = t.start_mark;
                let h = self.head();
                tag_handle = std::mem::take(&mut h.value);
                tag_suffix = std::mem::take(&mut h.suffix);
                self.skip_token();
                self.peek()?;
            }
        } else if t.typ == TokenType::Tag {
            tag_token = true;
            start_mark = t.start_mark;
            tag_mark = t.start_mark;
            let h = self.head();
            tag_handle = std::mem::take(&mut h.value);
            tag_suffix = std::mem::take(&mut h.suffix);
            self.skip_token();
            let t = self.peek()?;
            if t.typ == TokenType::Anchor {
                anchor = std::mem::take(&mut self.head().value);
                self.skip_token();
                self.peek()?;
            }
        }

        let mut tag = Vec::new();
        if tag_token {
            if tag_handle.is_empty() {
                tag = tag_suffix;
            } else {
                match self.tag_directives.iter().find(|d| d.handle == tag_handle) {
                    Some(d) => {
                        tag = d.prefix.clone();
                        tag.extend_from_slice(&tag_suffix);
                    }
                    None => {
                        return Err(parser_error_context(
                            "while parsing a node",
                            start_mark,
                            "found undefined tag handle",
                            tag_mark,
                        ));
                    }
                }
            }
        }

        let implicit = tag.is_empty();
        let (typ, t_start, style) = {
            let t = self.peek()?;
            (t.typ, t.start_mark, t.style)
        };
        if indentless_sequence && typ == TokenType::BlockEntry {
            self.state = State::IndentlessSequenceEntry;
            return Ok(Event {
                typ: EventType::SequenceStart,
                start_mark,
                anchor,
                tag,
                implicit,
                ..Event::default()
            });
        }
        if typ == TokenType::Scalar {
            let mut plain_implicit = false;
            let mut quoted_implicit = false;
            if (tag.is_empty() && style == ScalarStyle::Plain) || tag == b"!" {
                plain_implicit = true;
            } else if tag.is_empty() {
                quoted_implicit = true;
            }
            self.pop_state();
            let value = std::mem::take(&mut self.head().value);
            let span = self.head().span;
            let mut event = Event {
                typ: EventType::Scalar,
                start_mark,
                anchor,
                tag,
                value,
                implicit: plain_implicit,
                quoted_implicit,
                scalar_style: style,
                span,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            self.skip_token();
            return Ok(event);
        }
        if typ == TokenType::FlowSequenceStart || typ == TokenType::FlowMappingStart {
            let seq = typ == TokenType::FlowSequenceStart;
            self.state =
                if seq { State::FlowSequenceFirstEntry } else { State::FlowMappingFirstKey };
            let mut event = Event {
                typ: if seq { EventType::SequenceStart } else { EventType::MappingStart },
                start_mark,
                anchor,
                tag,
                implicit,
                flow: true,
                ..Event::default()
            };
            self.set_event_comments(&mut event);
            return Ok(event);
        }
        if block && (typ == TokenType::BlockSequenceStart || typ == TokenType::BlockMappingStart) {
            let seq = typ == TokenType::BlockSequenceStart;
            self.state =
                if seq { State::BlockSequenceFirstEntry } else { State::BlockMappingFirstKey };
            let mut event = Event {
                typ: if seq { EventType::SequenceStart } else { EventType::MappingStart },
                start_mark,
                anchor,
                tag,
                implicit,
                ..Event::default()
            };
            if let Some(stem) = self.stem_comment.take() {
                event.comments = EventComments::boxed(stem, Vec::new(), Vec::new(), Vec::new());
            }
            return Ok(event);
        }
        if !anchor.is_empty() || !tag.is_empty() {
            self.pop_state();
            return Ok(Event {
                typ: EventType::Scalar,
                start_mark,
                anchor,
                tag,
                implicit,
                quoted_implicit: false,
                scalar_style: ScalarStyle::Plain,
                ..Event::default()
            });
        }
        let context =
            if block { "while parsing a block node" } else { "while parsing a flow node" };
        Err(parser_error_context(
            context,
            start_mark,
            "did not find expected node content",
            t_start,
        ))
    }

    fn parse_block_sequence_entry(&mut self, first: bool) -> Result<Event> {
        if first {
            let mark = self.peek()?.start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let t = self.peek()?;
        if t.typ == TokenType::BlockEntry {
            let mark = t.end_mark;
            let prior_head_len = self.head_comment.len();
            self.skip_token();
            self.split_stem_comment(prior_head_len)?;
            let typ = self.peek_type()?;
            if typ != TokenType::BlockEntry && typ != TokenType::BlockEnd {
                self.states.push(State::BlockSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::BlockSequenceEntry;
            return Ok(empty_scalar(mark));
        }
        if t.typ == TokenType::BlockEnd {
            let s = t.start_mark;
            self.pop_state();
            self.marks.pop();
            self.skip_token();
            return Ok(Event { typ: EventType::SequenceEnd, start_mark: s, ..Event::default() });
        }
        let mark = t.start_mark;
        let context_mark = self.marks.pop().unwrap_or_default();
        Err(parser_error_context(
            "while parsing a block collection",
            context_mark,
            "did not find expected '-' indicator",
            mark,
        ))
    }

    fn parse_indentless_sequence_entry(&mut self) -> Result<Event> {
        let t = self.peek()?;
        if t.typ == TokenType::BlockEntry {
            let mark = t.end_mark;
            let prior_head_len = self.head_comment.len();
            self.skip_token();
            self.split_stem_comment(prior_head_len)?;
            let typ = self.peek_type()?;
            if !matches!(
                typ,
                TokenType::BlockEntry | TokenType::Key | TokenType::Value | TokenType::BlockEnd
            ) {
                self.states.push(State::IndentlessSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::IndentlessSequenceEntry;
            return Ok(empty_scalar(mark));
        }
        let s = t.start_mark;
        self.pop_state();
        Ok(Event { typ: EventType::SequenceEnd, start_mark: s, ..Event::default() })
    }

    /// A collection under a sequence entry takes the prior head comment as a whole.
    fn split_stem_comment(&mut self, stem_len: usize) -> Result {
        if stem_len == 0 {
            return Ok(());
        }
        let typ = self.peek_type()?;
        if typ != TokenType::BlockSequenceStart && typ != TokenType::BlockMappingStart {
            return Ok(());
        }
        let stem = self.head_comment[..stem_len.min(self.head_comment.len())].to_vec();
        if self.head_comment.len() <= stem_len {
            self.head_comment.clear();
        } else {
            self.head_comment = self.head_comment[stem_len + 1..].to_vec();
        }
        self.stem_comment = Some(stem);
        Ok(())
    }

    fn parse_block_mapping_key(&mut self, first: bool) -> Result<Event> {
        if first {
            let mark = self.peek()?.start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let t = self.peek()?;
        if t.typ == TokenType::Key {
            let mark = t.end_mark;
            self.skip_token();
            let typ = self.peek_type()?;
            if !matches!(typ, TokenType::Key | TokenType::Value | TokenType::BlockEnd) {
                self.states.push(State::BlockMappingValue);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingValue;
            return Ok(empty_scalar(mark));
        }
        if t.typ == TokenType::BlockEnd {
            let s = t.start_mark;
            self.pop_state();
            self.marks.pop();
            let mut event = Event { typ: EventType::MappingEnd, start_mark: s, ..Event::default() };
            self.set_event_comments(&mut event);
            self.skip_token();
            return Ok(event);
        }
        let mark = t.start_mark;
        let context_mark = self.marks.pop().unwrap_or_default();
        Err(parser_error_context(
            "while parsing a block mapping",
            context_mark,
            "did not find expected key",
            mark,
        ))
    }

    fn parse_block_mapping_value(&mut self) -> Result<Event> {
        let t = self.peek()?;
        if t.typ == TokenType::Value {
            let mark = t.end_mark;
            self.skip_token();
            let typ = self.peek_type()?;
            if !matches!(typ, TokenType::Key | TokenType::Value | TokenType::BlockEnd) {
                self.states.push(State::BlockMappingKey);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingKey;
            return Ok(empty_scalar(mark));
        }
        let mark = t.start_mark;
        self.state = State::BlockMappingKey;
        Ok(empty_scalar(mark))
    }

    fn parse_flow_sequence_entry(&mut self, first: bool) -> Result<Event> {
        if first {
            let mark = self.peek()?.start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let mut t = self.peek()?;
        if t.typ != TokenType::FlowSequenceEnd {
            if !first {
                if t.typ == TokenType::FlowEntry {
                    self.skip_token();
                    t = self.peek()?;
                } else {
                    let mark = t.start_mark;
                    let context_mark = self.marks.pop().unwrap_or_default();
                    return Err(parser_error_context(
                        "while parsing a flow sequence",
                        context_mark,
                        "did not find expected ',' or ']'",
                        mark,
                    ));
                }
            }
            if t.typ == TokenType::Key {
                let s = t.start_mark;
                self.state = State::FlowSequenceEntryMappingKey;
                self.skip_token();
                return Ok(Event {
                    typ: EventType::MappingStart,
                    start_mark: s,
                    implicit: true,
                    flow: true,
                    ..Event::default()
                });
            } else if t.typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntry);
                return self.parse_node(false, false);
            }
        }
        let t = self.peek()?;
        let s = t.start_mark;
        self.pop_state();
        self.marks.pop();
        let mut event = Event { typ: EventType::SequenceEnd, start_mark: s, ..Event::default() };
        self.set_event_comments(&mut event);
        self.skip_token();
        Ok(event)
    }

    fn parse_flow_sequence_entry_mapping_key(&mut self) -> Result<Event> {
        let t = self.peek()?;
        if !matches!(t.typ, TokenType::Value | TokenType::FlowEntry | TokenType::FlowSequenceEnd) {
            self.states.push(State::FlowSequenceEntryMappingValue);
            return self.parse_node(false, false);
        }
        let mark = t.end_mark;
        self.skip_token();
        self.state = State::FlowSequenceEntryMappingValue;
        Ok(empty_scalar(mark))
    }

    fn parse_flow_sequence_entry_mapping_value(&mut self) -> Result<Event> {
        let t = self.peek()?;
        if t.typ == TokenType::Value {
            self.skip_token();
            let t = self.peek()?;
            if t.typ != TokenType::FlowEntry && t.typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntryMappingEnd);
                return self.parse_node(false, false);
            }
        }
        let mark = self.peek()?.start_mark;
        self.state = State::FlowSequenceEntryMappingEnd;
        Ok(empty_scalar(mark))
    }

    fn parse_flow_sequence_entry_mapping_end(&mut self) -> Result<Event> {
        let mark = self.peek()?.start_mark;
        self.state = State::FlowSequenceEntry;
        Ok(Event { typ: EventType::MappingEnd, start_mark: mark, ..Event::default() })
    }

    fn parse_flow_mapping_key(&mut self, first: bool) -> Result<Event> {
        if first {
            let mark = self.peek()?.start_mark;
            self.marks.push(mark);
            self.skip_token();
        }
        let mut t = self.peek()?;
        if t.typ != TokenType::FlowMappingEnd {
            if !first {
                if t.typ == TokenType::FlowEntry {
                    self.skip_token();
                    t = self.peek()?;
                } else {
                    let mark = t.start_mark;
                    let context_mark = self.marks.pop().unwrap_or_default();
                    return Err(parser_error_context(
                        "while parsing a flow mapping",
                        context_mark,
                        "did not find expected ',' or '}'",
                        mark,
                    ));
                }
            }
            if t.typ == TokenType::Key {
                self.skip_token();
                let t = self.peek()?;
                if !matches!(
                    t.typ,
                    TokenType::Value | TokenType::FlowEntry | TokenType::FlowMappingEnd
                ) {
                    self.states.push(State::FlowMappingValue);
                    return self.parse_node(false, false);
                }
                let mark = t.start_mark;
                self.state = State::FlowMappingValue;
                return Ok(empty_scalar(mark));
            } else if t.typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingEmptyValue);
                return self.parse_node(false, false);
            }
        }
        let t = self.peek()?;
        let s = t.start_mark;
        self.pop_state();
        self.marks.pop();
        let mut event = Event { typ: EventType::MappingEnd, start_mark: s, ..Event::default() };
        self.set_event_comments(&mut event);
        self.skip_token();
        Ok(event)
    }

    fn parse_flow_mapping_value(&mut self, empty: bool) -> Result<Event> {
        let t = self.peek()?;
        if empty {
            let mark = t.start_mark;
            self.state = State::FlowMappingKey;
            return Ok(empty_scalar(mark));
        }
        if t.typ == TokenType::Value {
            self.skip_token();
            let t = self.peek()?;
            if t.typ != TokenType::FlowEntry && t.typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingKey);
                return self.parse_node(false, false);
            }
        }
        let mark = self.peek()?.start_mark;
        self.state = State::FlowMappingKey;
        Ok(empty_scalar(mark))
    }

    fn process_directives(&mut self) -> Result {
        let mut seen_version = false;
        loop {
            let t = self.peek()?;
            match t.typ {
                TokenType::VersionDirective => {
                    let mark = t.start_mark;
                    if seen_version {
                        return Err(parser_error("found duplicate %YAML directive", mark));
                    }
                    if t.major != 1 || t.minor != 1 {
                        return Err(parser_error(
                            "found incompatible YAML document (go-yaml, and so sops, only accept \
                             %YAML 1.1)",
                            mark,
                        ));
                    }
                    seen_version = true;
                }
                TokenType::TagDirective => {
                    let mark = t.start_mark;
                    let handle = std::mem::take(&mut self.head().value);
                    let prefix = std::mem::take(&mut self.head().suffix);
                    if self.tag_directives.iter().any(|d| d.handle == handle) {
                        return Err(parser_error("found duplicate %TAG directive", mark));
                    }
                    self.tag_directives.push(TagDirective { handle, prefix });
                }
                _ => break,
            }
            self.skip_token();
        }
        for (handle, prefix) in [(&b"!"[..], &b"!"[..]), (b"!!", b"tag:yaml.org,2002:")] {
            if !self.tag_directives.iter().any(|d| d.handle == handle) {
                self.tag_directives
                    .push(TagDirective { handle: handle.to_vec(), prefix: prefix.to_vec() });
            }
        }
        Ok(())
    }
}

fn empty_scalar(mark: Mark) -> Event {
    Event {
        typ: EventType::Scalar,
        start_mark: mark,
        implicit: true,
        scalar_style: ScalarStyle::Plain,
        ..Event::default()
    }
}
