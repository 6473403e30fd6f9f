//! The YAML writer: go-yaml v3's `emitterc.go`, configured as sops uses it.
//! That is the libyaml emitter with go-yaml's changes to indentation and comments, at indent 4,
//! unlimited width, Unicode written as-is.

use super::chars::*;
use super::parser::{Event, EventType};
use super::scanner::ScalarStyle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    FirstDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    FlowSequenceFirstItem,
    FlowSequenceTrailItem,
    FlowSequenceItem,
    FlowMappingFirstKey,
    FlowMappingTrailKey,
    FlowMappingKey,
    FlowMappingSimpleValue,
    FlowMappingValue,
    BlockSequenceFirstItem,
    BlockSequenceItem,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingSimpleValue,
    BlockMappingValue,
    End,
}

/// What the emitter learns about a scalar's text before choosing its style.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ScalarAnalysis {
    pub multiline: bool,
    pub flow_plain_allowed: bool,
    pub block_plain_allowed: bool,
    pub single_quoted_allowed: bool,
    pub block_allowed: bool,
}

/// Printable ASCII that is no indicator anywhere in a scalar (`-` only at the start when alone).
const BORING: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x21;
    while c < 0x7F {
        t[c] = !matches!(
            c as u8,
            b'#' | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
                | b'?'
                | b':'
        );
        c += 1;
    }
    t
};

/// `yaml_emitter_analyze_scalar` (the emitter always writes Unicode as-is).
pub(super) fn analyze_scalar(value: &[u8]) -> ScalarAnalysis {
    if value.is_empty() {
        return ScalarAnalysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    // Most values are runs of letters, digits and harmless punctuation: everything is allowed.
    let special_start = value == b"-" || value.starts_with(b"---") || value.starts_with(b"...");
    if !special_start && value.iter().all(|&b| BORING[b as usize]) {
        return ScalarAnalysis {
            multiline: false,
            flow_plain_allowed: true,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
    }
    // Printable ASCII without spaces (sops's `ENC[...]` strings): only indicators matter.
    if value.iter().all(|&b| (0x21..0x7F).contains(&b)) {
        let (flow, block) = indicators_without_spaces(value);
        return ScalarAnalysis {
            multiline: false,
            flow_plain_allowed: !flow,
            block_plain_allowed: !block,
            single_quoted_allowed: true,
            block_allowed: true,
        };
    }
    analyze_general(value)
}

/// The character-by-character analysis, for any non-empty value.
fn analyze_general(value: &[u8]) -> ScalarAnalysis {
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut tab_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if value.len() >= 3 && (value.starts_with(b"---") || value.starts_with(b"...")) {
        block_indicators = true;
        flow_indicators = true;
    }
    let len = value.len();
    let mut preceded_by_whitespace = true;
    let mut i = 0;
    while i < len {
        let c = value[i];
        let w = if c < 0x80 { 1 } else { width(c).max(1) };
        let next = value.get(i + w).copied();
        let followed_by_whitespace = matches!(next, None | Some(b' ' | b'\t'));
        if i == 0 {
            match c {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                b'?' | b':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                b'-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_indicators = true,
                b':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                b'#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }

        let (space, brk) = if c < 0x80 {
            if c == b'\t' {
                tab_characters = true;
            } else if !(c == b'\n' || (0x20..=0x7E).contains(&c)) {
                special_characters = true;
            }
            (c == b' ', c == b'\r' || c == b'\n')
        } else {
            if !is_printable(value, i) {
                special_characters = true;
            }
            (false, is_break(value, i))
        };
        if space {
            if i == 0 {
                leading_space = true;
            }
            if i + w == len {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if brk {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == len {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        // go-yaml's IS_BLANKZ at this character.
        preceded_by_whitespace =
            matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0) || (c >= 0x80 && brk);
        i += w;
    }

    let mut a = ScalarAnalysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tab_characters || special_characters {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The (flow, block) indicator flags of `analyze_scalar` for a value of printable ASCII without
/// spaces: there, only the first character, the `---`/`...` prefix, flow indicators after the
/// first character, and a `:` at the very end count.
fn indicators_without_spaces(value: &[u8]) -> (bool, bool) {
    let (mut flow, mut block) = (false, false);
    if value.starts_with(b"---") || value.starts_with(b"...") {
        flow = true;
        block = true;
    }
    let alone = value.len() == 1;
    match value[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => {
            flow = true;
            block = true;
        }
        b'?' | b':' => {
            flow = true;
            block |= alone;
        }
        b'-' if alone => {
            flow = true;
            block = true;
        }
        _ => {}
    }
    if value[1..].iter().any(|b| matches!(b, b',' | b'?' | b'[' | b']' | b'{' | b'}' | b':')) {
        flow = true;
    }
    if value.len() > 1 && value.ends_with(b":") {
        block = true;
    }
    (flow, block)
}

/// The style part of `yaml_emitter_select_scalar_style`.
pub(super) fn choose_style(
    a: &ScalarAnalysis,
    value_empty: bool,
    requested: ScalarStyle,
    in_flow: bool,
    simple_key: bool,
    no_tag: bool,
    implicit: bool,
) -> ScalarStyle {
    let mut style = requested;
    if style == ScalarStyle::Any {
        style = ScalarStyle::Plain;
    }
    if simple_key && a.multiline {
        style = ScalarStyle::DoubleQuoted;
    }
    if style == ScalarStyle::Plain {
        if (in_flow && !a.flow_plain_allowed) || (!in_flow && !a.block_plain_allowed) {
            style = ScalarStyle::SingleQuoted;
        }
        if value_empty && (in_flow || simple_key) {
            style = ScalarStyle::SingleQuoted;
        }
        if no_tag && !implicit {
            style = ScalarStyle::SingleQuoted;
        }
    }
    if style == ScalarStyle::SingleQuoted && !a.single_quoted_allowed {
        style = ScalarStyle::DoubleQuoted;
    }
    if (style == ScalarStyle::Literal || style == ScalarStyle::Folded)
        && (!a.block_allowed || in_flow || simple_key)
    {
        style = ScalarStyle::DoubleQuoted;
    }
    style
}

pub(super) struct Emitter {
    pub out: Vec<u8>,
    best_indent: i64,
    best_width: i64,
    state: State,
    states: Vec<State>,
    events: Vec<Event>,
    head: usize,
    indent: i64,
    indents: Vec<i64>,
    flow_level: i64,
    root_context: bool,
    mapping_context: bool,
    simple_key_context: bool,
    column: i64,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    foot_indent: i64,
    anchor: Vec<u8>,
    anchor_alias: bool,
    tag_handle: Vec<u8>,
    tag_suffix: Vec<u8>,
    scalar: ScalarAnalysis,
    scalar_style: ScalarStyle,
    head_comment: Vec<u8>,
    line_comment: Vec<u8>,
    foot_comment: Vec<u8>,
    tail_comment: Vec<u8>,
    key_line_comment: Vec<u8>,
}

const DEFAULT_TAGS: [(&[u8], &[u8]); 2] = [(b"!", b"!"), (b"!!", b"tag:yaml.org,2002:")];

impl Emitter {
    pub fn new(best_indent: i64) -> Self {
        Emitter {
            out: Vec::new(),
            best_indent,
            best_width: -1,
            state: State::StreamStart,
            states: Vec::new(),
            events: Vec::new(),
            head: 0,
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            root_context: false,
            mapping_context: false,
            simple_key_context: false,
            column: 0,
            whitespace: true,
            indention: true,
            open_ended: false,
            foot_indent: -1,
            anchor: Vec::new(),
            anchor_alias: false,
            tag_handle: Vec::new(),
            tag_suffix: Vec::new(),
            scalar: ScalarAnalysis::default(),
            scalar_style: ScalarStyle::Any,
            head_comment: Vec::new(),
            line_comment: Vec::new(),
            foot_comment: Vec::new(),
            tail_comment: Vec::new(),
            key_line_comment: Vec::new(),
        }
    }

    /// Before the stream end: go-yaml's encoder clears `open_ended` when it finishes.
    pub fn clear_open_ended(&mut self) {
        self.open_ended = false;
    }

    /// `yaml_emitter_emit`: queues the event and writes whatever the look-ahead allows.
    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
        while !self.need_more_events() {
            self.analyze_event();
            self.state_machine();
            let done = std::mem::take(&mut self.events[self.head]);
            drop(done);
            self.head += 1;
        }
        if self.head > 64 && self.head * 2 > self.events.len() {
            self.events.drain(..self.head);
            self.head = 0;
        }
    }

    fn ev(&self) -> &Event {
        &self.events[self.head]
    }

    fn need_more_events(&self) -> bool {
        if self.head == self.events.len() {
            return true;
        }
        let accumulate = match self.events[self.head].typ {
            EventType::DocumentStart => 1,
            EventType::SequenceStart => 2,
            EventType::MappingStart => 3,
            _ => return false,
        };
        if self.events.len() - self.head > accumulate {
            return false;
        }
        let mut level = 0i64;
        for e in &self.events[self.head..] {
            match e.typ {
                EventType::StreamStart
                | EventType::DocumentStart
                | EventType::SequenceStart
                | EventType::MappingStart => level += 1,
                EventType::StreamEnd
                | EventType::DocumentEnd
                | EventType::SequenceEnd
                | EventType::MappingEnd => level -= 1,
                _ => {}
            }
            if level == 0 {
                return false;
            }
        }
        true
    }

    // --- output primitives -----------------------------------------------------------------------

    fn put(&mut self, c: u8) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push(b'\n');
        self.column = 0;
        self.indention = true;
    }

    /// Copies one UTF-8 character of `s` at `*i`.
    fn write(&mut self, s: &[u8], i: &mut usize) {
        let w = width(s[*i]).max(1);
        let end = (*i + w).min(s.len());
        self.out.extend_from_slice(&s[*i..end]);
        self.column += 1;
        *i = end;
    }

    fn write_all(&mut self, s: &[u8]) {
        let mut i = 0;
        while i < s.len() {
            self.write(s, &mut i);
        }
    }

    fn write_break(&mut self, s: &[u8], i: &mut usize) {
        if s[*i] == b'\n' {
            self.put_break();
            *i += 1;
        } else {
            self.write(s, i);
            self.column = 0;
            self.indention = true;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == indent {
            self.put_break();
        }
        while self.column < indent {
            self.put(b' ');
        }
        self.whitespace = true;
        self.foot_indent = -1;
    }

    fn write_indicator(
        &mut self,
        indicator: &[u8],
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(b' ');
        }
        self.write_all(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn write_anchor(&mut self, value: &[u8]) {
        self.write_all(value);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_tag_handle(&mut self, value: &[u8]) {
        if !self.whitespace {
            self.put(b' ');
        }
        self.write_all(value);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_tag_content(&mut self, value: &[u8], need_whitespace: bool) {
        if need_whitespace && !self.whitespace {
            self.put(b' ');
        }
        let mut i = 0;
        while i < value.len() {
            let c = value[i];
            let must_write = matches!(
                c,
                b';' | b'/'
                    | b'?'
                    | b':'
                    | b'@'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b'_'
                    | b'.'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'['
                    | b']'
            ) || is_alpha(value, i);
            if must_write {
                self.write(value, &mut i);
            } else {
                let w = width(c).max(1);
                for _ in 0..w {
                    let Some(&octet) = value.get(i) else { break };
                    i += 1;
                    self.put(b'%');
                    self.put(hex_digit(octet >> 4));
                    self.put(hex_digit(octet & 0x0F));
                }
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_comment(&mut self, comment: &[u8]) {
        let mut breaks = false;
        let mut pound = false;
        let mut i = 0;
        while i < comment.len() {
            if is_break(comment, i) {
                self.write_break(comment, &mut i);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if comment[i] != b'#' {
                        self.put(b'#');
                        self.put(b' ');
                    }
                    pound = true;
                }
                self.write(comment, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
    }

    // --- comments ----------------------------------------------------------------------------------

    fn process_head_comment(&mut self) {
        if !self.tail_comment.is_empty() {
            self.write_indent();
            let c = std::mem::take(&mut self.tail_comment);
            self.write_comment(&c);
            self.foot_indent = self.indent.max(0);
        }
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = std::mem::take(&mut self.head_comment);
        self.write_comment(&c);
    }

    fn process_line_comment(&mut self, linebreak: bool) {
        if self.line_comment.is_empty() {
            if linebreak {
                self.put_break();
            }
            return;
        }
        if !self.whitespace {
            self.put(b' ');
        }
        let c = std::mem::take(&mut self.line_comment);
        self.write_comment(&c);
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = std::mem::take(&mut self.foot_comment);
        self.write_comment(&c);
        self.foot_indent = self.indent.max(0);
    }

    // --- state machine -----------------------------------------------------------------------------

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&State::BlockSequenceItem) {
                // The first indent inside a sequence just skips the "- " indicator.
                self.indent += 2;
            } else {
                // Everything else aligns to the chosen indentation.
                self.indent =
                    self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
            }
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    fn state_machine(&mut self) {
        match self.state {
            State::StreamStart => self.emit_stream_start(),
            State::FirstDocumentStart => self.emit_document_start(true),
            State::DocumentStart => self.emit_document_start(false),
            State::DocumentContent => self.emit_document_content(),
            State::DocumentEnd => self.emit_document_end(),
            State::FlowSequenceFirstItem => self.emit_flow_sequence_item(true, false),
            State::FlowSequenceTrailItem => self.emit_flow_sequence_item(false, true),
            State::FlowSequenceItem => self.emit_flow_sequence_item(false, false),
            State::FlowMappingFirstKey => self.emit_flow_mapping_key(true, false),
            State::FlowMappingTrailKey => self.emit_flow_mapping_key(false, true),
            State::FlowMappingKey => self.emit_flow_mapping_key(false, false),
            State::FlowMappingSimpleValue => self.emit_flow_mapping_value(true),
            State::FlowMappingValue => self.emit_flow_mapping_value(false),
            State::BlockSequenceFirstItem => self.emit_block_sequence_item(true),
            State::BlockSequenceItem => self.emit_block_sequence_item(false),
            State::BlockMappingFirstKey => self.emit_block_mapping_key(true),
            State::BlockMappingKey => self.emit_block_mapping_key(false),
            State::BlockMappingSimpleValue => self.emit_block_mapping_value(true),
            State::BlockMappingValue => self.emit_block_mapping_value(false),
            State::End => {}
        }
    }

    fn emit_stream_start(&mut self) {
        if self.best_indent < 2 || self.best_indent > 9 {
            self.best_indent = 2;
        }
        if self.best_width >= 0 && self.best_width <= self.best_indent * 2 {
            self.best_width = 80;
        }
        if self.best_width < 0 {
            self.best_width = i64::from(i32::MAX);
        }
        self.indent = -1;
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
        self.foot_indent = -1;
        self.state = State::FirstDocumentStart;
    }

    fn emit_document_start(&mut self, first: bool) {
        match self.ev().typ {
            EventType::DocumentStart => {
                let mut implicit = self.ev().implicit;
                if !first {
                    implicit = false;
                }
                if !implicit {
                    self.write_indent();
                    self.write_indicator(b"---", true, false, false);
                    self.write_indent();
                }
                if !self.head_comment.is_empty() {
                    self.process_head_comment();
                    self.put_break();
                }
                self.state = State::DocumentContent;
            }
            EventType::StreamEnd => {
                if self.open_ended {
                    self.write_indicator(b"...", true, false, false);
                    self.write_indent();
                }
                self.state = State::End;
            }
            _ => self.state = State::End,
        }
    }

    fn emit_document_content(&mut self) {
        self.states.push(State::DocumentEnd);
        self.process_head_comment();
        self.emit_node(true, false, false, false);
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_document_end(&mut self) {
        if self.ev().typ != EventType::DocumentEnd {
            return;
        }
        self.foot_indent = 0;
        self.process_foot_comment();
        self.foot_indent = -1;
        self.write_indent();
        if !self.ev().implicit {
            self.write_indicator(b"...", true, false, false);
            self.write_indent();
        }
        self.state = State::DocumentStart;
    }

    fn trail_pending(&self) -> bool {
        !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty()
    }

    fn emit_flow_sequence_item(&mut self, first: bool, trail: bool) {
        if first {
            self.write_indicator(b"[", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if self.ev().typ == EventType::SequenceEnd {
            self.flow_level -= 1;
            self.pop_indent();
            if self.column == 0 {
                self.write_indent();
            }
            self.write_indicator(b"]", false, false, false);
            self.process_line_comment(false);
            self.process_foot_comment();
            self.pop_state();
            return;
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.trail_pending() {
            self.states.push(State::FlowSequenceTrailItem);
        } else {
            self.states.push(State::FlowSequenceItem);
        }
        self.emit_node(false, true, false, false);
        if self.trail_pending() {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_flow_mapping_key(&mut self, first: bool, trail: bool) {
        if first {
            self.write_indicator(b"{", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if self.ev().typ == EventType::MappingEnd {
            if (!self.head_comment.is_empty()
                || !self.foot_comment.is_empty()
                || !self.tail_comment.is_empty())
                && !first
                && !trail
            {
                self.write_indicator(b",", false, false, false);
            }
            self.process_head_comment();
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator(b"}", false, false, false);
            self.process_line_comment(false);
            self.process_foot_comment();
            self.pop_state();
            return;
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.check_simple_key() {
            self.states.push(State::FlowMappingSimpleValue);
            self.emit_node(false, false, true, true);
            return;
        }
        self.write_indicator(b"?", true, false, false);
        self.states.push(State::FlowMappingValue);
        self.emit_node(false, false, true, false);
    }

    fn emit_flow_mapping_value(&mut self, simple: bool) {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            if self.column > self.best_width {
                self.write_indent();
            }
            self.write_indicator(b":", true, false, false);
        }
        if self.trail_pending() {
            self.states.push(State::FlowMappingTrailKey);
        } else {
            self.states.push(State::FlowMappingKey);
        }
        self.emit_node(false, false, true, false);
        if self.trail_pending() {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_block_sequence_item(&mut self, first: bool) {
        if first {
            self.increase_indent(false, false);
        }
        if self.ev().typ == EventType::SequenceEnd {
            self.pop_indent();
            self.pop_state();
            return;
        }
        self.process_head_comment();
        self.write_indent();
        self.write_indicator(b"-", true, false, true);
        self.states.push(State::BlockSequenceItem);
        self.emit_node(false, true, false, false);
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_block_mapping_key(&mut self, first: bool) {
        if first {
            self.increase_indent(false, false);
        }
        self.process_head_comment();
        if self.ev().typ == EventType::MappingEnd {
            self.pop_indent();
            self.pop_state();
            return;
        }
        self.write_indent();
        if !self.line_comment.is_empty() {
            self.key_line_comment = std::mem::take(&mut self.line_comment);
        }
        if self.check_simple_key() {
            self.states.push(State::BlockMappingSimpleValue);
            self.emit_node(false, false, true, true);
            return;
        }
        self.write_indicator(b"?", true, false, true);
        self.states.push(State::BlockMappingValue);
        self.emit_node(false, false, true, false);
    }

    fn emit_block_mapping_value(&mut self, simple: bool) {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(b":", true, false, true);
        }
        if !self.key_line_comment.is_empty() {
            let typ = self.ev().typ;
            if typ == EventType::Scalar {
                if self.line_comment.is_empty() {
                    self.line_comment = std::mem::take(&mut self.key_line_comment);
                }
            } else if !self.ev().flow
                && matches!(typ, EventType::MappingStart | EventType::SequenceStart)
            {
                std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                self.process_line_comment(false);
                std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
            }
        }
        self.states.push(State::BlockMappingKey);
        self.emit_node(false, false, true, false);
        self.process_line_comment(false);
        self.process_foot_comment();
    }

    fn emit_node(&mut self, root: bool, _sequence: bool, mapping: bool, simple_key: bool) {
        self.root_context = root;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match self.ev().typ {
            EventType::Alias => {
                self.process_anchor();
                self.pop_state();
            }
            EventType::Scalar => self.emit_scalar(),
            EventType::SequenceStart => {
                self.process_anchor();
                self.process_tag();
                if self.flow_level > 0
                    || self.ev().flow
                    || self.check_empty(EventType::SequenceStart, EventType::SequenceEnd)
                {
                    self.state = State::FlowSequenceFirstItem;
                } else {
                    self.state = State::BlockSequenceFirstItem;
                }
            }
            EventType::MappingStart => {
                self.process_anchor();
                self.process_tag();
                if self.flow_level > 0
                    || self.ev().flow
                    || self.check_empty(EventType::MappingStart, EventType::MappingEnd)
                {
                    self.state = State::FlowMappingFirstKey;
                } else {
                    self.state = State::BlockMappingFirstKey;
                }
            }
            _ => {}
        }
    }

    fn emit_scalar(&mut self) {
        self.select_scalar_style();
        self.process_anchor();
        self.process_tag();
        self.increase_indent(true, false);
        self.process_scalar();
        self.pop_indent();
        self.pop_state();
    }

    fn check_empty(&self, start: EventType, end: EventType) -> bool {
        self.events.len() - self.head >= 2
            && self.events[self.head].typ == start
            && self.events[self.head + 1].typ == end
    }

    fn check_simple_key(&self) -> bool {
        let e = self.ev();
        let tag_len = self.tag_handle.len() + self.tag_suffix.len();
        let length = match e.typ {
            EventType::Alias => self.anchor.len(),
            EventType::Scalar => {
                if self.scalar.multiline {
                    return false;
                }
                self.anchor.len() + tag_len + e.value.len()
            }
            EventType::SequenceStart => {
                if !self.check_empty(EventType::SequenceStart, EventType::SequenceEnd) {
                    return false;
                }
                self.anchor.len() + tag_len
            }
            EventType::MappingStart => {
                if !self.check_empty(EventType::MappingStart, EventType::MappingEnd) {
                    return false;
                }
                self.anchor.len() + tag_len
            }
            _ => return false,
        };
        length <= 128
    }

    fn select_scalar_style(&mut self) {
        let e = self.ev();
        let no_tag = self.tag_handle.is_empty() && self.tag_suffix.is_empty();
        let style = choose_style(
            &self.scalar,
            e.value.is_empty(),
            e.scalar_style,
            self.flow_level > 0,
            self.simple_key_context,
            no_tag,
            e.implicit,
        );
        if no_tag && !e.quoted_implicit && style != ScalarStyle::Plain {
            self.tag_handle = b"!".to_vec();
        }
        self.scalar_style = style;
    }

    fn process_anchor(&mut self) {
        if self.anchor.is_empty() {
            return;
        }
        let indicator: &[u8] = if self.anchor_alias { b"*" } else { b"&" };
        self.write_indicator(indicator, true, false, false);
        let anchor = std::mem::take(&mut self.anchor);
        self.write_anchor(&anchor);
    }

    fn process_tag(&mut self) {
        if self.tag_handle.is_empty() && self.tag_suffix.is_empty() {
            return;
        }
        let handle = std::mem::take(&mut self.tag_handle);
        let suffix = std::mem::take(&mut self.tag_suffix);
        if !handle.is_empty() {
            self.write_tag_handle(&handle);
            if !suffix.is_empty() {
                self.write_tag_content(&suffix, false);
            }
        } else {
            self.write_indicator(b"!<", true, false, false);
            self.write_tag_content(&suffix, false);
            self.write_indicator(b">", false, false, false);
        }
        // Keep the tag length for the simple key check of this event.
        self.tag_handle = handle;
        self.tag_suffix = suffix;
    }

    fn process_scalar(&mut self) {
        let value = std::mem::take(&mut self.events[self.head].value);
        let allow_breaks = !self.simple_key_context;
        match self.scalar_style {
            ScalarStyle::Plain | ScalarStyle::Any => self.write_plain_scalar(&value, allow_breaks),
            ScalarStyle::SingleQuoted => self.write_single_quoted_scalar(&value, allow_breaks),
            ScalarStyle::DoubleQuoted => self.write_double_quoted_scalar(&value, allow_breaks),
            ScalarStyle::Literal => self.write_literal_scalar(&value),
            ScalarStyle::Folded => self.write_folded_scalar(&value),
        }
        self.events[self.head].value = value;
    }

    fn analyze_event(&mut self) {
        self.anchor.clear();
        self.anchor_alias = false;
        self.tag_handle.clear();
        self.tag_suffix.clear();
        let e = &self.events[self.head];
        if let Some(c) = e.comments.as_deref() {
            if !c.head.is_empty() {
                self.head_comment = c.head.clone();
            }
            if !c.line.is_empty() {
                self.line_comment = c.line.clone();
            }
            if !c.foot.is_empty() {
                self.foot_comment = c.foot.clone();
            }
            if !c.tail.is_empty() {
                self.tail_comment = c.tail.clone();
            }
        }
        match e.typ {
            EventType::Alias => {
                self.anchor = e.anchor.clone();
                self.anchor_alias = true;
            }
            EventType::Scalar => {
                self.anchor = e.anchor.clone();
                if !e.tag.is_empty() && !e.implicit && !e.quoted_implicit {
                    let tag = e.tag.clone();
                    self.analyze_tag(&tag);
                }
                let e = &self.events[self.head];
                self.scalar = match e.analysis {
                    Some(a) => a,
                    None => analyze_scalar(&e.value),
                };
            }
            EventType::SequenceStart | EventType::MappingStart => {
                self.anchor = e.anchor.clone();
                if !e.tag.is_empty() && !e.implicit {
                    let tag = e.tag.clone();
                    self.analyze_tag(&tag);
                }
            }
            _ => {}
        }
    }

    fn analyze_tag(&mut self, tag: &[u8]) {
        for (handle, prefix) in DEFAULT_TAGS {
            if tag.starts_with(prefix) {
                self.tag_handle = handle.to_vec();
                self.tag_suffix = tag[prefix.len()..].to_vec();
                return;
            }
        }
        self.tag_suffix = tag.to_vec();
    }

    // --- scalar writers ----------------------------------------------------------------------------

    fn write_plain_scalar(&mut self, value: &[u8], allow_breaks: bool) {
        if !value.is_empty() && !self.whitespace {
            self.put(b' ');
        }
        if !allow_breaks || self.best_width == i64::from(i32::MAX) {
            // Nothing to fold (go-yaml writes spaces as they are when it may not break the line,
            // or when the width is unlimited, as sops has it): copy the text at once.
            if !value.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0xC2 | 0xE2)) {
                self.out.extend_from_slice(value);
                self.column += value.iter().filter(|&&c| c & 0xC0 != 0x80).count() as i64;
                if !value.is_empty() {
                    self.whitespace = false;
                    self.indention = false;
                }
                self.indention = false;
                if self.root_context {
                    self.open_ended = true;
                }
                return;
            }
        }
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < value.len() {
            if is_space(value, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && !is_space(value, i + 1)
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                spaces = true;
            } else if is_break(value, i) {
                if !breaks && value[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(value, &mut i);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if !value.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_single_quoted_scalar(&mut self, value: &[u8], allow_breaks: bool) {
        self.write_indicator(b"'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < value.len() {
            if is_space(value, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < value.len() - 1
                    && !is_space(value, i + 1)
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                spaces = true;
            } else if is_break(value, i) {
                if !breaks && value[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if value[i] == b'\'' {
                    self.put(b'\'');
                }
                self.write(value, &mut i);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator(b"'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted_scalar(&mut self, value: &[u8], allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator(b"\"", true, false, false);
        // go-yaml's IS_BOM looks at the start of the value, whatever the position.
        let starts_with_bom = is_bom(value, 0);
        let mut i = 0;
        while i < value.len() {
            if !is_printable(value, i)
                || starts_with_bom
                || is_break(value, i)
                || value[i] == b'"'
                || value[i] == b'\\'
            {
                let octet = value[i];
                let (w, mut v): (usize, u32) = if octet & 0x80 == 0 {
                    (1, u32::from(octet & 0x7F))
                } else if octet & 0xE0 == 0xC0 {
                    (2, u32::from(octet & 0x1F))
                } else if octet & 0xF0 == 0xE0 {
                    (3, u32::from(octet & 0x0F))
                } else {
                    (4, u32::from(octet & 0x07))
                };
                for k in 1..w {
                    v = (v << 6) + u32::from(at(value, i + k) & 0x3F);
                }
                i += w;
                self.put(b'\\');
                match v {
                    0x00 => self.put(b'0'),
                    0x07 => self.put(b'a'),
                    0x08 => self.put(b'b'),
                    0x09 => self.put(b't'),
                    0x0A => self.put(b'n'),
                    0x0B => self.put(b'v'),
                    0x0C => self.put(b'f'),
                    0x0D => self.put(b'r'),
                    0x1B => self.put(b'e'),
                    0x22 => self.put(b'"'),
                    0x5C => self.put(b'\\'),
                    0x85 => self.put(b'N'),
                    0xA0 => self.put(b'_'),
                    0x2028 => self.put(b'L'),
                    0x2029 => self.put(b'P'),
                    _ => {
                        let digits = if v <= 0xFF {
                            self.put(b'x');
                            2
                        } else if v <= 0xFFFF {
                            self.put(b'u');
                            4
                        } else {
                            self.put(b'U');
                            8
                        };
                        for k in (0..digits).rev() {
                            self.put(hex_digit(((v >> (k * 4)) & 0x0F) as u8));
                        }
                    }
                }
                spaces = false;
            } else if is_space(value, i) {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < value.len() - 1
                {
                    self.write_indent();
                    if is_space(value, i + 1) {
                        self.put(b'\\');
                    }
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                spaces = true;
            } else {
                self.write(value, &mut i);
                spaces = false;
            }
        }
        self.write_indicator(b"\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_block_scalar_hints(&mut self, value: &[u8]) {
        if is_space(value, 0) || is_break(value, 0) {
            let hint = [b'0' + self.best_indent as u8];
            self.write_indicator(&hint, false, false, false);
        }
        self.open_ended = false;
        let mut chomp = None;
        if value.is_empty() {
            chomp = Some(b'-');
        } else {
            let mut i = value.len() - 1;
            while i > 0 && value[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            if !is_break(value, i) {
                chomp = Some(b'-');
            } else if i == 0 {
                chomp = Some(b'+');
                self.open_ended = true;
            } else {
                i -= 1;
                while i > 0 && value[i] & 0xC0 == 0x80 {
                    i -= 1;
                }
                if is_break(value, i) {
                    chomp = Some(b'+');
                    self.open_ended = true;
                }
            }
        }
        if let Some(c) = chomp {
            self.write_indicator(&[c], false, false, false);
        }
    }

    fn write_literal_scalar(&mut self, value: &[u8]) {
        self.write_indicator(b"|", true, false, false);
        self.write_block_scalar_hints(value);
        self.process_line_comment(true);
        self.whitespace = true;
        let mut breaks = true;
        let mut i = 0;
        while i < value.len() {
            if is_break(value, i) {
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(value, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_folded_scalar(&mut self, value: &[u8]) {
        self.write_indicator(b">", true, false, false);
        self.write_block_scalar_hints(value);
        self.process_line_comment(true);
        self.whitespace = true;
        let mut breaks = true;
        let mut leading_spaces = true;
        let mut i = 0;
        while i < value.len() {
            if is_break(value, i) {
                if !breaks && !leading_spaces && value[i] == b'\n' {
                    let mut k = 0;
                    while is_break(value, k) {
                        k += width(value[k]).max(1);
                    }
                    if !is_blankz(value, k) {
                        self.put_break();
                    }
                }
                self.write_break(value, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                    leading_spaces = is_blank(value, i);
                }
                if !breaks
                    && is_space(value, i)
                    && !is_space(value, i + 1)
                    && self.column > self.best_width
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write(value, &mut i);
                }
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn hex_digit(d: u8) -> u8 {
    if d < 10 { b'0' + d } else { b'A' + d - 10 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn verdict(a: ScalarAnalysis) -> [bool; 5] {
        [
            a.multiline,
            a.flow_plain_allowed,
            a.block_plain_allowed,
            a.single_quoted_allowed,
            a.block_allowed,
        ]
    }

    #[test]
    fn fast_paths_agree_with_the_general_analysis_on_samples() {
        for v in [
            &b"ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]"[..],
            b"a:b",
            b"x:",
            b":",
            b"?",
            b"-",
            b"-x",
            b"---x",
            b"...",
            b"#x",
            b"a#b",
            b"plain-Value_1.0/+=",
            b"{x}",
        ] {
            assert_eq!(verdict(analyze_scalar(v)), verdict(analyze_general(v)), "{v:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn fast_paths_agree_with_the_general_analysis(v in "[!-~ ]{1,12}") {
            prop_assert_eq!(verdict(analyze_scalar(v.as_bytes())), verdict(analyze_general(v.as_bytes())));
        }
    }
}
