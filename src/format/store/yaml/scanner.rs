//! The tokenizer: go-yaml v3's `scannerc.go`, with its head, line and foot comment logic.

use super::YamlError;
use super::chars::*;

/// A position in the input: character index, 0-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Mark {
    pub index: i64,
    pub line: i64,
    pub column: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum TokenType {
    #[default]
    None,
    StreamStart,
    StreamEnd,
    VersionDirective,
    TagDirective,
    DocumentStart,
    DocumentEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowSequenceEnd,
    FlowMappingStart,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias,
    Anchor,
    Tag,
    Scalar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum ScalarStyle {
    #[default]
    Any,
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Token {
    pub typ: TokenType,
    pub start_mark: Mark,
    pub end_mark: Mark,
    /// Scalar text, anchor or alias name, tag handle, or tag directive handle.
    pub value: Vec<u8>,
    /// Tag suffix, or tag directive prefix.
    pub suffix: Vec<u8>,
    pub style: ScalarStyle,
    pub major: i8,
    pub minor: i8,
    /// For a scalar whose value is its source text as is (a plain scalar on one line): the
    /// byte range of that text in the input, so that it need not be copied again.
    pub span: Option<(u32, u32)>,
}

/// A comment block as the scanner found it, before the parser hands it to an event.
#[derive(Clone, Debug, Default)]
pub(super) struct Comment {
    pub scan_mark: Mark,
    pub token_mark: Mark,
    pub start_mark: Mark,
    pub end_mark: Mark,
    pub head: Vec<u8>,
    pub line: Vec<u8>,
    pub foot: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default)]
struct SimpleKey {
    possible: bool,
    required: bool,
    token_number: usize,
    mark: Mark,
}

/// go-yaml's `simple_keys_by_tok` map: token number → simple key index. Entries for tokens
/// already handed out can never be looked up again, so they are dropped, which keeps it tiny.
#[derive(Default)]
struct TokenKeys(Vec<(usize, usize)>);

impl TokenKeys {
    fn get(&self, token: usize) -> Option<usize> {
        self.0.iter().find(|(t, _)| *t == token).map(|(_, k)| *k)
    }
    fn insert(&mut self, token: usize, key: usize) {
        self.remove(token);
        self.0.push((token, key));
    }
    fn remove(&mut self, token: usize) {
        self.0.retain(|(t, _)| *t != token);
    }
    fn forget_before(&mut self, token: usize) {
        if self.0.iter().any(|(t, _)| *t < token) {
            self.0.retain(|(t, _)| *t >= token);
        }
    }
}

const MAX_FLOW_LEVEL: i64 = 10_000;
const MAX_INDENTS: usize = 10_000;

pub(super) struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    pub mark: Mark,
    newlines: i64,
    stream_start_produced: bool,
    stream_end_produced: bool,
    flow_level: i64,
    pub tokens: Vec<Token>,
    pub tokens_head: usize,
    tokens_parsed: usize,
    pub token_available: bool,
    indent: i64,
    indents: Vec<i64>,
    simple_key_allowed: bool,
    simple_keys: Vec<SimpleKey>,
    simple_keys_by_tok: TokenKeys,
    pub comments: Vec<Comment>,
    pub comments_head: usize,
}

type Result<T = ()> = std::result::Result<T, YamlError>;

fn scan_error(context: &str, context_mark: Mark, problem: &str, mark: Mark) -> YamlError {
    super::syntax_error(problem, mark, Some((context, context_mark)))
}

impl<'a> Scanner<'a> {
    /// `buf` is the decoded text; reading past its end gives NUL.
    pub fn new(buf: &'a [u8]) -> Self {
        Scanner {
            buf,
            pos: 0,
            mark: Mark::default(),
            newlines: 0,
            stream_start_produced: false,
            stream_end_produced: false,
            flow_level: 0,
            tokens: Vec::new(),
            tokens_head: 0,
            tokens_parsed: 0,
            token_available: false,
            indent: 0,
            indents: Vec::new(),
            simple_key_allowed: false,
            simple_keys: Vec::new(),
            simple_keys_by_tok: TokenKeys::default(),
            comments: Vec::new(),
            comments_head: 0,
        }
    }

    #[inline]
    fn ch(&self, offset: usize) -> u8 {
        at(self.buf, self.pos + offset)
    }

    fn error(&self, context: &str, context_mark: Mark, problem: &str) -> YamlError {
        scan_error(context, context_mark, problem, self.mark)
    }

    // --- moving through the buffer -------------------------------------------------------------

    fn skip(&mut self) {
        if !is_blank(self.buf, self.pos) {
            self.newlines = 0;
        }
        self.mark.index += 1;
        self.mark.column += 1;
        self.pos += width(self.ch(0)).max(1);
    }

    fn skip_line(&mut self) {
        if is_crlf(self.buf, self.pos) {
            self.mark.index += 2;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += 2;
            self.newlines += 1;
        } else if is_break(self.buf, self.pos) {
            self.mark.index += 1;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += width(self.ch(0)).max(1);
            self.newlines += 1;
        }
    }

    fn read(&mut self, s: &mut Vec<u8>) {
        if !is_blank(self.buf, self.pos) {
            self.newlines = 0;
        }
        let w = width(self.ch(0)).max(1);
        let end = (self.pos + w).min(self.buf.len());
        s.extend_from_slice(&self.buf[self.pos..end]);
        self.pos += w;
        self.mark.index += 1;
        self.mark.column += 1;
    }

    /// Reads a run of ASCII characters up to the first one `stop` accepts (it must accept line
    /// breaks and NUL): the same as that many `read` calls. Returns the run's length.
    fn read_ascii_run(&mut self, s: &mut Vec<u8>, stop: impl Fn(u8) -> bool) -> usize {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let n = rest.iter().position(|&b| b >= 0x80 || stop(b)).unwrap_or(rest.len());
        if n == 0 {
            return 0;
        }
        let run = &rest[..n];
        if run.iter().any(|&b| b != b' ' && b != b'\t') {
            self.newlines = 0;
        }
        s.extend_from_slice(run);
        self.pos += n;
        self.mark.index += n as i64;
        self.mark.column += n as i64;
        n
    }

    fn read_line(&mut self, s: &mut Vec<u8>) {
        let (c0, c1, c2) = (self.ch(0), self.ch(1), self.ch(2));
        if c0 == b'\r' && c1 == b'\n' {
            s.push(b'\n');
            self.pos += 2;
            self.mark.index += 1;
        } else if c0 == b'\r' || c0 == b'\n' {
            s.push(b'\n');
            self.pos += 1;
        } else if c0 == 0xC2 && c1 == 0x85 {
            s.push(b'\n');
            self.pos += 2;
        } else if c0 == 0xE2 && c1 == 0x80 && (c2 == 0xA8 || c2 == 0xA9) {
            s.extend_from_slice(&[c0, c1, c2]);
            self.pos += 3;
        } else {
            return;
        }
        self.mark.index += 1;
        self.mark.column = 0;
        self.mark.line += 1;
        self.newlines += 1;
    }

    // --- the token queue -----------------------------------------------------------------------

    fn insert_token(&mut self, pos: i64, token: Token) {
        if pos < 0 {
            self.tokens.push(token);
        } else {
            let at = (self.tokens_head + pos as usize).min(self.tokens.len());
            self.tokens.insert(at, token);
        }
    }

    /// Drops consumed tokens once many have piled up, keeping the last two (the comment logic
    /// looks back at them).
    fn compact_tokens(&mut self) {
        if self.tokens_head > 256 && self.tokens_head * 2 > self.tokens.len() {
            let drop = self.tokens_head - 2;
            self.tokens.drain(..drop);
            self.tokens_head -= drop;
        }
        if self.comments_head > 0 && self.comments_head == self.comments.len() {
            self.comments.clear();
            self.comments_head = 0;
        }
    }

    /// Makes sure the token at the head of the queue is complete (`yaml_parser_fetch_more_tokens`).
    pub fn fetch_more_tokens(&mut self) -> Result {
        self.compact_tokens();
        loop {
            if (self.tokens_head as i64) < self.tokens.len() as i64 - 2 {
                self.simple_keys_by_tok.forget_before(self.tokens_parsed);
                match self.simple_keys_by_tok.get(self.tokens_parsed) {
                    None => break,
                    Some(idx) => {
                        if !self.simple_key_is_valid(idx)? {
                            break;
                        }
                    }
                }
            }
            self.fetch_next_token()?;
        }
        self.token_available = true;
        Ok(())
    }

    /// Consumes the head token (the parser's `skip_token`).
    pub fn skip_token(&mut self) {
        self.token_available = false;
        self.tokens_parsed += 1;
        if let Some(t) = self.tokens.get(self.tokens_head) {
            self.stream_end_produced = t.typ == TokenType::StreamEnd;
        }
        self.tokens_head += 1;
    }

    pub fn stream_end_produced(&self) -> bool {
        self.stream_end_produced
    }

    fn fetch_next_token(&mut self) -> Result {
        if !self.stream_start_produced {
            self.fetch_stream_start();
            return Ok(());
        }
        let scan_mark = self.mark;
        self.scan_to_next_token()?;
        self.unroll_indent(self.mark.column, scan_mark);

        if is_z(self.buf, self.pos) {
            return self.fetch_stream_end();
        }
        let c = self.ch(0);
        if self.mark.column == 0 && c == b'%' {
            return self.fetch_directive();
        }
        if self.mark.column == 0
            && c == b'-'
            && self.ch(1) == b'-'
            && self.ch(2) == b'-'
            && is_blankz(self.buf, self.pos + 3)
        {
            return self.fetch_document_indicator(TokenType::DocumentStart);
        }
        if self.mark.column == 0
            && c == b'.'
            && self.ch(1) == b'.'
            && self.ch(2) == b'.'
            && is_blankz(self.buf, self.pos + 3)
        {
            return self.fetch_document_indicator(TokenType::DocumentEnd);
        }

        let mut comment_mark = self.mark;
        if let Some(last) = self.tokens.last()
            && ((self.flow_level == 0 && c == b':') || (self.flow_level > 0 && c == b','))
        {
            // Associate any following comments with the prior token.
            comment_mark = last.start_mark;
        }

        self.fetch_token_body()?;

        if self.tokens.last().is_some_and(|t| t.typ == TokenType::BlockEntry) {
            // Sequence indicators alone have no line comments; it becomes a head comment.
            return Ok(());
        }
        self.scan_line_comment(comment_mark)
    }

    fn fetch_token_body(&mut self) -> Result {
        let c = self.ch(0);
        let next = self.pos + 1;
        match c {
            b'[' => return self.fetch_flow_collection_start(TokenType::FlowSequenceStart),
            b'{' => return self.fetch_flow_collection_start(TokenType::FlowMappingStart),
            b']' => return self.fetch_flow_collection_end(TokenType::FlowSequenceEnd),
            b'}' => return self.fetch_flow_collection_end(TokenType::FlowMappingEnd),
            b',' => return self.fetch_flow_entry(),
            _ => {}
        }
        if c == b'-' && is_blankz(self.buf, next) {
            return self.fetch_block_entry();
        }
        if c == b'?' && (self.flow_level > 0 || is_blankz(self.buf, next)) {
            return self.fetch_key();
        }
        if c == b':' && (self.flow_level > 0 || is_blankz(self.buf, next)) {
            return self.fetch_value();
        }
        match c {
            b'*' => return self.fetch_anchor(TokenType::Alias),
            b'&' => return self.fetch_anchor(TokenType::Anchor),
            b'!' => return self.fetch_tag(),
            b'|' if self.flow_level == 0 => return self.fetch_block_scalar(true),
            b'>' if self.flow_level == 0 => return self.fetch_block_scalar(false),
            b'\'' => return self.fetch_flow_scalar(true),
            b'"' => return self.fetch_flow_scalar(false),
            _ => {}
        }
        let indicator = matches!(
            c,
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
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
        );
        if !(is_blankz(self.buf, self.pos) || indicator)
            || (c == b'-' && !is_blank(self.buf, next))
            || (self.flow_level == 0 && (c == b'?' || c == b':') && !is_blankz(self.buf, next))
        {
            return self.fetch_plain_scalar();
        }
        Err(self.error(
            "while scanning for the next token",
            self.mark,
            "found character that cannot start any token",
        ))
    }

    // --- simple keys and indentation -----------------------------------------------------------

    fn simple_key_is_valid(&mut self, idx: usize) -> Result<bool> {
        let Some(key) = self.simple_keys.get(idx).copied() else {
            return Ok(false);
        };
        if !key.possible {
            return Ok(false);
        }
        if key.mark.line < self.mark.line || key.mark.index + 1024 < self.mark.index {
            if key.required {
                return Err(self.error(
                    "while scanning a simple key",
                    key.mark,
                    "could not find expected ':'",
                ));
            }
            self.simple_keys[idx].possible = false;
            return Ok(false);
        }
        Ok(true)
    }

    fn save_simple_key(&mut self) -> Result {
        let required = self.flow_level == 0 && self.indent == self.mark.column;
        if self.simple_key_allowed {
            let key = SimpleKey {
                possible: true,
                required,
                token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
                mark: self.mark,
            };
            self.remove_simple_key()?;
            if let Some(last) = self.simple_keys.len().checked_sub(1) {
                self.simple_keys[last] = key;
                self.simple_keys_by_tok.insert(key.token_number, last);
            }
        }
        Ok(())
    }

    fn remove_simple_key(&mut self) -> Result {
        let Some(i) = self.simple_keys.len().checked_sub(1) else {
            return Ok(());
        };
        let key = self.simple_keys[i];
        if key.possible {
            if key.required {
                return Err(self.error(
                    "while scanning a simple key",
                    key.mark,
                    "could not find expected ':'",
                ));
            }
            self.simple_keys[i].possible = false;
            self.simple_keys_by_tok.remove(key.token_number);
        }
        Ok(())
    }

    fn increase_flow_level(&mut self) -> Result {
        self.simple_keys.push(SimpleKey {
            possible: false,
            required: false,
            token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
            mark: self.mark,
        });
        self.flow_level += 1;
        if self.flow_level > MAX_FLOW_LEVEL {
            let mark = self.simple_keys.last().map_or(self.mark, |k| k.mark);
            return Err(self.error(
                "while increasing flow level",
                mark,
                &format!("exceeded max depth of {MAX_FLOW_LEVEL}"),
            ));
        }
        Ok(())
    }

    fn decrease_flow_level(&mut self) {
        if self.flow_level > 0 {
            self.flow_level -= 1;
            if let Some(key) = self.simple_keys.pop() {
                self.simple_keys_by_tok.remove(key.token_number);
            }
        }
    }

    fn roll_indent(&mut self, column: i64, number: i64, typ: TokenType, mark: Mark) -> Result {
        if self.flow_level > 0 {
            return Ok(());
        }
        if self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
            if self.indents.len() > MAX_INDENTS {
                let m = self.simple_keys.last().map_or(self.mark, |k| k.mark);
                return Err(self.error(
                    "while increasing indent level",
                    m,
                    &format!("exceeded max depth of {MAX_INDENTS}"),
                ));
            }
            let token = Token { typ, start_mark: mark, end_mark: mark, ..Token::default() };
            let pos = if number > -1 { number - self.tokens_parsed as i64 } else { number };
            self.insert_token(pos, token);
        }
        Ok(())
    }

    fn unroll_indent(&mut self, column: i64, scan_mark: Mark) {
        if self.flow_level > 0 {
            return;
        }
        let mut block_mark = scan_mark;
        block_mark.index -= 1;
        while self.indent > column {
            // Reposition the end token before foot comments of parent blocks that sit at the
            // indentation of the block that is ending.
            let mut stop_index = block_mark.index;
            for comment in self.comments[self.comments_head..].iter().rev() {
                if comment.end_mark.index < stop_index {
                    break;
                }
                if comment.start_mark.column == self.indent + 1 {
                    block_mark = comment.start_mark;
                }
                stop_index = comment.scan_mark.index;
            }
            let token = Token {
                typ: TokenType::BlockEnd,
                start_mark: block_mark,
                end_mark: block_mark,
                ..Token::default()
            };
            self.insert_token(-1, token);
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    // --- fetchers --------------------------------------------------------------------------------

    fn fetch_stream_start(&mut self) {
        self.indent = -1;
        self.simple_keys.push(SimpleKey::default());
        self.simple_key_allowed = true;
        self.stream_start_produced = true;
        let token = Token {
            typ: TokenType::StreamStart,
            start_mark: self.mark,
            end_mark: self.mark,
            ..Token::default()
        };
        self.insert_token(-1, token);
    }

    fn fetch_stream_end(&mut self) -> Result {
        if self.mark.column != 0 {
            self.mark.column = 0;
            self.mark.line += 1;
        }
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let token = Token {
            typ: TokenType::StreamEnd,
            start_mark: self.mark,
            end_mark: self.mark,
            ..Token::default()
        };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_directive(&mut self) -> Result {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_directive()?;
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_document_indicator(&mut self, typ: TokenType) -> Result {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let start_mark = self.mark;
        self.skip();
        self.skip();
        self.skip();
        let token = Token { typ, start_mark, end_mark: self.mark, ..Token::default() };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_flow_collection_start(&mut self, typ: TokenType) -> Result {
        self.save_simple_key()?;
        self.increase_flow_level()?;
        self.simple_key_allowed = true;
        let start_mark = self.mark;
        self.skip();
        let token = Token { typ, start_mark, end_mark: self.mark, ..Token::default() };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_flow_collection_end(&mut self, typ: TokenType) -> Result {
        self.remove_simple_key()?;
        self.decrease_flow_level();
        self.simple_key_allowed = false;
        let start_mark = self.mark;
        self.skip();
        let token = Token { typ, start_mark, end_mark: self.mark, ..Token::default() };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_flow_entry(&mut self) -> Result {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start_mark = self.mark;
        self.skip();
        let token = Token {
            typ: TokenType::FlowEntry,
            start_mark,
            end_mark: self.mark,
            ..Token::default()
        };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_block_entry(&mut self) -> Result {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                return Err(self.error(
                    "",
                    self.mark,
                    "block sequence entries are not allowed in this context",
                ));
            }
            self.roll_indent(self.mark.column, -1, TokenType::BlockSequenceStart, self.mark)?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start_mark = self.mark;
        self.skip();
        let token = Token {
            typ: TokenType::BlockEntry,
            start_mark,
            end_mark: self.mark,
            ..Token::default()
        };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_key(&mut self) -> Result {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                return Err(self.error(
                    "",
                    self.mark,
                    "mapping keys are not allowed in this context",
                ));
            }
            self.roll_indent(self.mark.column, -1, TokenType::BlockMappingStart, self.mark)?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = self.flow_level == 0;
        let start_mark = self.mark;
        self.skip();
        let token =
            Token { typ: TokenType::Key, start_mark, end_mark: self.mark, ..Token::default() };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_value(&mut self) -> Result {
        let idx = self.simple_keys.len().saturating_sub(1);
        if self.simple_key_is_valid(idx)? {
            let key = self.simple_keys[idx];
            let token = Token {
                typ: TokenType::Key,
                start_mark: key.mark,
                end_mark: key.mark,
                ..Token::default()
            };
            self.insert_token(key.token_number as i64 - self.tokens_parsed as i64, token);
            self.roll_indent(
                key.mark.column,
                key.token_number as i64,
                TokenType::BlockMappingStart,
                key.mark,
            )?;
            self.simple_keys[idx].possible = false;
            self.simple_keys_by_tok.remove(key.token_number);
            self.simple_key_allowed = false;
        } else {
            if self.flow_level == 0 {
                if !self.simple_key_allowed {
                    return Err(self.error(
                        "",
                        self.mark,
                        "mapping values are not allowed in this context",
                    ));
                }
                self.roll_indent(self.mark.column, -1, TokenType::BlockMappingStart, self.mark)?;
            }
            self.simple_key_allowed = self.flow_level == 0;
        }
        let start_mark = self.mark;
        self.skip();
        let token =
            Token { typ: TokenType::Value, start_mark, end_mark: self.mark, ..Token::default() };
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_anchor(&mut self, typ: TokenType) -> Result {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_anchor(typ)?;
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_tag(&mut self) -> Result {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_tag()?;
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_block_scalar(&mut self, literal: bool) -> Result {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let token = self.scan_block_scalar(literal)?;
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_flow_scalar(&mut self, single: bool) -> Result {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_flow_scalar(single)?;
        self.insert_token(-1, token);
        Ok(())
    }

    fn fetch_plain_scalar(&mut self) -> Result {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_plain_scalar()?;
        self.insert_token(-1, token);
        Ok(())
    }

    // --- whitespace and comments -----------------------------------------------------------------

    fn scan_to_next_token(&mut self) -> Result {
        let scan_mark = self.mark;
        loop {
            if self.mark.column == 0 && is_bom(self.buf, self.pos) {
                self.skip();
            }
            while self.ch(0) == b' '
                || ((self.flow_level > 0 || !self.simple_key_allowed) && self.ch(0) == b'\t')
            {
                self.skip();
            }

            // A line comment right after a sequence entry indicator that looks more like a
            // header of the following content becomes a head comment.
            let n = self.tokens.len();
            if n > 1 && self.comments.len() > self.comments_head {
                let (a, b) = (self.tokens[n - 2].typ, self.tokens[n - 1].typ);
                let at_break = is_break(self.buf, self.pos);
                let line = self.mark.line;
                let mark = self.mark;
                if let Some(comment) = self.comments.last_mut()
                    && a == TokenType::BlockSequenceStart
                    && b == TokenType::BlockEntry
                    && !comment.line.is_empty()
                    && !at_break
                {
                    comment.head = std::mem::take(&mut comment.line);
                    if comment.start_mark.line == line - 1 {
                        comment.token_mark = mark;
                    }
                }
            }

            if self.ch(0) == b'#' {
                self.scan_comments(scan_mark)?;
            }

            if is_break(self.buf, self.pos) {
                self.skip_line();
                if self.flow_level == 0 {
                    self.simple_key_allowed = true;
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    fn scan_line_comment(&mut self, token_mark: Mark) -> Result {
        if self.newlines > 0 {
            return Ok(());
        }
        let mut start_mark = Mark::default();
        let mut text = Vec::new();
        let mut peek = 0;
        while peek < 512 {
            if is_blank(self.buf, self.pos + peek) {
                peek += 1;
                continue;
            }
            if self.ch(peek) == b'#' {
                let seen = self.mark.index + peek as i64;
                loop {
                    if is_breakz(self.buf, self.pos) {
                        if self.mark.index >= seen {
                            break;
                        }
                        self.skip_line();
                    } else if self.mark.index >= seen {
                        if text.is_empty() {
                            start_mark = self.mark;
                        }
                        self.read(&mut text);
                    } else {
                        self.skip();
                    }
                }
            }
            break;
        }
        if !text.is_empty() {
            self.comments.push(Comment {
                token_mark,
                start_mark,
                line: text,
                ..Comment::default()
            });
        }
        Ok(())
    }

    fn scan_comments(&mut self, scan_mark_in: Mark) -> Result {
        let mut scan_mark = scan_mark_in;
        let n = self.tokens.len();
        let (mut typ, mut token_mark) = self
            .tokens
            .last()
            .map_or((TokenType::None, Mark::default()), |t| (t.typ, t.start_mark));
        if typ == TokenType::FlowEntry && n > 1 {
            typ = self.tokens[n - 2].typ;
            token_mark = self.tokens[n - 2].start_mark;
        }
        let mut start_mark = Mark::default();
        let mut next_indent = self.indent.max(0);
        let mut recent_empty = false;
        let mut first_empty = self.newlines <= 1;
        let mut line = self.mark.line;
        let mut column = self.mark.column;
        let mut text: Vec<u8> = Vec::new();

        // The foot line is where a comment must start to still be a foot of the prior content.
        let mut foot_line = -1;
        if scan_mark.line > 0 {
            foot_line = self.mark.line - self.newlines + 1;
            if self.newlines == 0 && self.mark.column > 1 {
                foot_line += 1;
            }
        }

        let mut peek: usize = 0;
        while peek < 512 {
            column += 1;
            let p = self.pos + peek;
            if is_blank(self.buf, p) {
                peek += 1;
                continue;
            }
            let c = at(self.buf, p);
            let close_flow = self.flow_level > 0 && (c == b']' || c == b'}');
            if close_flow || is_breakz(self.buf, p) {
                // A line break or terminator.
                if close_flow || !recent_empty {
                    if close_flow
                        || (first_empty
                            && ((start_mark.line == foot_line && typ != TokenType::Value)
                                || start_mark.column - 1 < next_indent))
                    {
                        // The first empty line: the comment so far is a foot of the prior
                        // token, not a head of the following one.
                        if !text.is_empty() {
                            if start_mark.column - 1 < next_indent {
                                token_mark = start_mark;
                            }
                            let end = Mark { index: self.mark.index + peek as i64, line, column };
                            self.comments.push(Comment {
                                scan_mark,
                                token_mark,
                                start_mark,
                                end_mark: end,
                                foot: std::mem::take(&mut text),
                                ..Comment::default()
                            });
                            scan_mark = end;
                            token_mark = scan_mark;
                        }
                    } else if !text.is_empty() && c != 0 {
                        text.push(b'\n');
                    }
                }
                if !is_break(self.buf, p) {
                    break;
                }
                first_empty = false;
                recent_empty = true;
                column = 0;
                line += 1;
                peek += 1;
                continue;
            }

            if !text.is_empty()
                && (close_flow || (column - 1 < next_indent && column != start_mark.column))
            {
                // A comment at a different indentation is a foot of the preceding data.
                let end = Mark { index: self.mark.index + peek as i64, line, column };
                self.comments.push(Comment {
                    scan_mark,
                    token_mark,
                    start_mark,
                    end_mark: end,
                    foot: std::mem::take(&mut text),
                    ..Comment::default()
                });
                scan_mark = end;
                token_mark = scan_mark;
            }

            if c != b'#' {
                break;
            }
            if text.is_empty() {
                start_mark = Mark { index: self.mark.index + peek as i64, line, column };
            } else {
                text.push(b'\n');
            }
            recent_empty = false;

            // Consume the comment line.
            let seen = self.mark.index + peek as i64;
            loop {
                if is_breakz(self.buf, self.pos) {
                    if self.mark.index >= seen {
                        break;
                    }
                    self.skip_line();
                } else if self.mark.index >= seen {
                    self.read(&mut text);
                } else {
                    self.skip();
                }
            }

            // go-yaml resets peek to 0 here and its loop increment then moves it to 1.
            peek = 1;
            column = 0;
            line = self.mark.line;
            next_indent = self.indent.max(0);
        }

        if !text.is_empty() {
            let end = Mark { index: self.mark.index + peek as i64 - 1, line, column };
            self.comments.push(Comment {
                scan_mark,
                token_mark: start_mark,
                start_mark,
                end_mark: end,
                head: text,
                ..Comment::default()
            });
        }
        Ok(())
    }

    // --- directives, anchors, tags ---------------------------------------------------------------

    fn scan_directive(&mut self) -> Result<Token> {
        let start_mark = self.mark;
        self.skip();
        let name = self.scan_directive_name(start_mark)?;
        let token;
        if name == b"YAML" {
            let (major, minor) = self.scan_version_directive_value(start_mark)?;
            token = Token {
                typ: TokenType::VersionDirective,
                start_mark,
                end_mark: self.mark,
                major,
                minor,
                ..Token::default()
            };
        } else if name == b"TAG" {
            let (handle, prefix) = self.scan_tag_directive_value(start_mark)?;
            token = Token {
                typ: TokenType::TagDirective,
                start_mark,
                end_mark: self.mark,
                value: handle,
                suffix: prefix,
                ..Token::default()
            };
        } else {
            return Err(self.error(
                "while scanning a directive",
                start_mark,
                "found unknown directive name",
            ));
        }
        while is_blank(self.buf, self.pos) {
            self.skip();
        }
        if self.ch(0) == b'#' {
            while !is_breakz(self.buf, self.pos) {
                self.skip();
            }
        }
        if !is_breakz(self.buf, self.pos) {
            return Err(self.error(
                "while scanning a directive",
                start_mark,
                "did not find expected comment or line break",
            ));
        }
        if is_break(self.buf, self.pos) {
            self.skip_line();
        }
        Ok(token)
    }

    fn scan_directive_name(&mut self, start_mark: Mark) -> Result<Vec<u8>> {
        let mut s = Vec::new();
        while is_alpha(self.buf, self.pos) {
            self.read(&mut s);
        }
        if s.is_empty() {
            return Err(self.error(
                "while scanning a directive",
                start_mark,
                "could not find expected directive name",
            ));
        }
        if !is_blankz(self.buf, self.pos) {
            return Err(self.error(
                "while scanning a directive",
                start_mark,
                "found unexpected non-alphabetical character",
            ));
        }
        Ok(s)
    }

    fn scan_version_directive_value(&mut self, start_mark: Mark) -> Result<(i8, i8)> {
        while is_blank(self.buf, self.pos) {
            self.skip();
        }
        let major = self.scan_version_directive_number(start_mark)?;
        if self.ch(0) != b'.' {
            return Err(self.error(
                "while scanning a %YAML directive",
                start_mark,
                "did not find expected digit or '.' character",
            ));
        }
        self.skip();
        let minor = self.scan_version_directive_number(start_mark)?;
        Ok((major, minor))
    }

    fn scan_version_directive_number(&mut self, start_mark: Mark) -> Result<i8> {
        let mut value: i8 = 0;
        let mut length = 0;
        while is_digit(self.buf, self.pos) {
            length += 1;
            if length > 2 {
                return Err(self.error(
                    "while scanning a %YAML directive",
                    start_mark,
                    "found extremely long version number",
                ));
            }
            value = value * 10 + (self.ch(0) - b'0') as i8;
            self.skip();
        }
        if length == 0 {
            return Err(self.error(
                "while scanning a %YAML directive",
                start_mark,
                "did not find expected version number",
            ));
        }
        Ok(value)
    }

    fn scan_tag_directive_value(&mut self, start_mark: Mark) -> Result<(Vec<u8>, Vec<u8>)> {
        while is_blank(self.buf, self.pos) {
            self.skip();
        }
        let handle = self.scan_tag_handle(true, start_mark)?;
        if !is_blank(self.buf, self.pos) {
            return Err(self.error(
                "while scanning a %TAG directive",
                start_mark,
                "did not find expected whitespace",
            ));
        }
        while is_blank(self.buf, self.pos) {
            self.skip();
        }
        let prefix = self.scan_tag_uri(true, &[], start_mark)?;
        if !is_blankz(self.buf, self.pos) {
            return Err(self.error(
                "while scanning a %TAG directive",
                start_mark,
                "did not find expected whitespace or line break",
            ));
        }
        Ok((handle, prefix))
    }

    fn scan_anchor(&mut self, typ: TokenType) -> Result<Token> {
        let start_mark = self.mark;
        self.skip();
        let mut s = Vec::new();
        while is_alpha(self.buf, self.pos) {
            self.read(&mut s);
        }
        let end_mark = self.mark;
        let c = self.ch(0);
        if s.is_empty()
            || !(is_blankz(self.buf, self.pos)
                || matches!(c, b'?' | b':' | b',' | b']' | b'}' | b'%' | b'@' | b'`'))
        {
            let context = if typ == TokenType::Anchor {
                "while scanning an anchor"
            } else {
                "while scanning an alias"
            };
            return Err(self.error(
                context,
                start_mark,
                "did not find expected alphabetic or numeric character",
            ));
        }
        Ok(Token { typ, start_mark, end_mark, value: s, ..Token::default() })
    }

    fn scan_tag(&mut self) -> Result<Token> {
        let start_mark = self.mark;
        let handle;
        let suffix;
        if self.ch(1) == b'<' {
            self.skip();
            self.skip();
            suffix = self.scan_tag_uri(false, &[], start_mark)?;
            if self.ch(0) != b'>' {
                return Err(self.error(
                    "while scanning a tag",
                    start_mark,
                    "did not find the expected '>'",
                ));
            }
            self.skip();
            handle = Vec::new();
        } else {
            let h = self.scan_tag_handle(false, start_mark)?;
            if h.len() > 1 && h[0] == b'!' && h[h.len() - 1] == b'!' {
                suffix = self.scan_tag_uri(false, &[], start_mark)?;
                handle = h;
            } else {
                let s = self.scan_tag_uri(false, &h, start_mark)?;
                if s.is_empty() {
                    // The '!' tag: empty handle, suffix '!'.
                    handle = Vec::new();
                    suffix = b"!".to_vec();
                } else {
                    handle = b"!".to_vec();
                    suffix = s;
                }
            }
        }
        if !is_blankz(self.buf, self.pos) {
            return Err(self.error(
                "while scanning a tag",
                start_mark,
                "did not find expected whitespace or line break",
            ));
        }
        Ok(Token {
            typ: TokenType::Tag,
            start_mark,
            end_mark: self.mark,
            value: handle,
            suffix,
            ..Token::default()
        })
    }

    fn tag_error_context(directive: bool) -> &'static str {
        if directive { "while parsing a %TAG directive" } else { "while parsing a tag" }
    }

    fn scan_tag_handle(&mut self, directive: bool, start_mark: Mark) -> Result<Vec<u8>> {
        if self.ch(0) != b'!' {
            return Err(self.error(
                Self::tag_error_context(directive),
                start_mark,
                "did not find expected '!'",
            ));
        }
        let mut s = Vec::new();
        self.read(&mut s);
        while is_alpha(self.buf, self.pos) {
            self.read(&mut s);
        }
        if self.ch(0) == b'!' {
            self.read(&mut s);
        } else if directive && s != b"!" {
            return Err(self.error(
                Self::tag_error_context(directive),
                start_mark,
                "did not find expected '!'",
            ));
        }
        Ok(s)
    }

    fn scan_tag_uri(&mut self, directive: bool, head: &[u8], start_mark: Mark) -> Result<Vec<u8>> {
        let mut s = Vec::new();
        let mut has_tag = !head.is_empty();
        if head.len() > 1 {
            s.extend_from_slice(&head[1..]);
        }
        loop {
            let c = self.ch(0);
            let uri_char = is_alpha(self.buf, self.pos)
                || matches!(
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
                        | b'.'
                        | b'!'
                        | b'~'
                        | b'*'
                        | b'\''
                        | b'('
                        | b')'
                        | b'['
                        | b']'
                        | b'%'
                );
            if !uri_char {
                break;
            }
            if c == b'%' {
                self.scan_uri_escapes(directive, start_mark, &mut s)?;
            } else {
                self.read(&mut s);
            }
            has_tag = true;
        }
        if !has_tag {
            return Err(self.error(
                Self::tag_error_context(directive),
                start_mark,
                "did not find expected tag URI",
            ));
        }
        Ok(s)
    }

    fn scan_uri_escapes(&mut self, directive: bool, start_mark: Mark, s: &mut Vec<u8>) -> Result {
        let mut w: usize = 1024;
        while w > 0 {
            if !(self.ch(0) == b'%'
                && is_hex(self.buf, self.pos + 1)
                && is_hex(self.buf, self.pos + 2))
            {
                return Err(self.error(
                    Self::tag_error_context(directive),
                    start_mark,
                    "did not find URI escaped octet",
                ));
            }
            let octet =
                ((as_hex(self.buf, self.pos + 1) << 4) + as_hex(self.buf, self.pos + 2)) as u8;
            if w == 1024 {
                w = width(octet);
                if w == 0 {
                    return Err(self.error(
                        Self::tag_error_context(directive),
                        start_mark,
                        "found an incorrect leading UTF-8 octet",
                    ));
                }
            } else if octet & 0xC0 != 0x80 {
                return Err(self.error(
                    Self::tag_error_context(directive),
                    start_mark,
                    "found an incorrect trailing UTF-8 octet",
                ));
            }
            s.push(octet);
            self.skip();
            self.skip();
            self.skip();
            w -= 1;
        }
        Ok(())
    }

    // --- scalars ---------------------------------------------------------------------------------

    fn scan_block_scalar(&mut self, literal: bool) -> Result<Token> {
        let start_mark = self.mark;
        self.skip();

        let mut chomping = 0i32;
        let mut increment: i64 = 0;
        let c = self.ch(0);
        if c == b'+' || c == b'-' {
            chomping = if c == b'+' { 1 } else { -1 };
            self.skip();
            if is_digit(self.buf, self.pos) {
                if self.ch(0) == b'0' {
                    return Err(self.error(
                        "while scanning a block scalar",
                        start_mark,
                        "found an indentation indicator equal to 0",
                    ));
                }
                increment = i64::from(self.ch(0) - b'0');
                self.skip();
            }
        } else if is_digit(self.buf, self.pos) {
            if self.ch(0) == b'0' {
                return Err(self.error(
                    "while scanning a block scalar",
                    start_mark,
                    "found an indentation indicator equal to 0",
                ));
            }
            increment = i64::from(self.ch(0) - b'0');
            self.skip();
            let c = self.ch(0);
            if c == b'+' || c == b'-' {
                chomping = if c == b'+' { 1 } else { -1 };
                self.skip();
            }
        }

        while is_blank(self.buf, self.pos) {
            self.skip();
        }
        if self.ch(0) == b'#' {
            self.scan_line_comment(start_mark)?;
            while !is_breakz(self.buf, self.pos) {
                self.skip();
            }
        }
        if !is_breakz(self.buf, self.pos) {
            return Err(self.error(
                "while scanning a block scalar",
                start_mark,
                "did not find expected comment or line break",
            ));
        }
        if is_break(self.buf, self.pos) {
            self.skip_line();
        }

        let mut end_mark = self.mark;
        let mut indent: i64 = 0;
        if increment > 0 {
            indent = if self.indent >= 0 { self.indent + increment } else { increment };
        }

        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        self.scan_block_scalar_breaks(
            &mut indent,
            &mut trailing_breaks,
            start_mark,
            &mut end_mark,
        )?;

        let mut leading_blank = false;
        while self.mark.column == indent && !is_z(self.buf, self.pos) {
            let trailing_blank = is_blank(self.buf, self.pos);
            if !literal
                && !leading_blank
                && !trailing_blank
                && leading_break.first() == Some(&b'\n')
            {
                if trailing_breaks.is_empty() {
                    s.push(b' ');
                }
            } else {
                s.extend_from_slice(&leading_break);
            }
            leading_break.clear();
            s.extend_from_slice(&trailing_breaks);
            trailing_breaks.clear();

            leading_blank = is_blank(self.buf, self.pos);
            while !is_breakz(self.buf, self.pos) {
                if self.read_ascii_run(&mut s, |b| matches!(b, b'\r' | b'\n' | 0)) == 0 {
                    self.read(&mut s);
                }
            }
            self.read_line(&mut leading_break);
            self.scan_block_scalar_breaks(
                &mut indent,
                &mut trailing_breaks,
                start_mark,
                &mut end_mark,
            )?;
        }

        if chomping != -1 {
            s.extend_from_slice(&leading_break);
        }
        if chomping == 1 {
            s.extend_from_slice(&trailing_breaks);
        }

        Ok(Token {
            typ: TokenType::Scalar,
            start_mark,
            end_mark,
            value: s,
            style: if literal { ScalarStyle::Literal } else { ScalarStyle::Folded },
            ..Token::default()
        })
    }

    fn scan_block_scalar_breaks(
        &mut self,
        indent: &mut i64,
        breaks: &mut Vec<u8>,
        start_mark: Mark,
        end_mark: &mut Mark,
    ) -> Result {
        *end_mark = self.mark;
        let mut max_indent = 0;
        loop {
            while (*indent == 0 || self.mark.column < *indent) && is_space(self.buf, self.pos) {
                self.skip();
            }
            if self.mark.column > max_indent {
                max_indent = self.mark.column;
            }
            if (*indent == 0 || self.mark.column < *indent) && is_tab(self.buf, self.pos) {
                return Err(self.error(
                    "while scanning a block scalar",
                    start_mark,
                    "found a tab character where an indentation space is expected",
                ));
            }
            if !is_break(self.buf, self.pos) {
                break;
            }
            self.read_line(breaks);
            *end_mark = self.mark;
        }
        if *indent == 0 {
            *indent = max_indent;
            if *indent < self.indent + 1 {
                *indent = self.indent + 1;
            }
            if *indent < 1 {
                *indent = 1;
            }
        }
        Ok(())
    }

    fn scan_flow_scalar(&mut self, single: bool) -> Result<Token> {
        let start_mark = self.mark;
        self.skip();
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        let mut whitespaces = Vec::new();
        loop {
            if self.mark.column == 0
                && ((self.ch(0) == b'-' && self.ch(1) == b'-' && self.ch(2) == b'-')
                    || (self.ch(0) == b'.' && self.ch(1) == b'.' && self.ch(2) == b'.'))
                && is_blankz(self.buf, self.pos + 3)
            {
                return Err(self.error(
                    "while scanning a quoted scalar",
                    start_mark,
                    "found unexpected document indicator",
                ));
            }
            if is_z(self.buf, self.pos) {
                return Err(self.error(
                    "while scanning a quoted scalar",
                    start_mark,
                    "found unexpected end of stream",
                ));
            }

            let mut leading_blanks = false;
            while !is_blankz(self.buf, self.pos) {
                let c = self.ch(0);
                if single && c == b'\'' && self.ch(1) == b'\'' {
                    s.push(b'\'');
                    self.skip();
                    self.skip();
                } else if (single && c == b'\'') || (!single && c == b'"') {
                    // The closing quote.
                    break;
                } else if !single && c == b'\\' && is_break(self.buf, self.pos + 1) {
                    self.skip();
                    self.skip_line();
                    leading_blanks = true;
                    break;
                } else if !single && c == b'\\' {
                    let mut code_length = 0;
                    match self.ch(1) {
                        b'0' => s.push(0),
                        b'a' => s.push(0x07),
                        b'b' => s.push(0x08),
                        b't' | b'\t' => s.push(0x09),
                        b'n' => s.push(0x0A),
                        b'v' => s.push(0x0B),
                        b'f' => s.push(0x0C),
                        b'r' => s.push(0x0D),
                        b'e' => s.push(0x1B),
                        b' ' => s.push(0x20),
                        b'"' => s.push(b'"'),
                        b'\'' => s.push(b'\''),
                        b'\\' => s.push(b'\\'),
                        b'N' => s.extend_from_slice(&[0xC2, 0x85]),
                        b'_' => s.extend_from_slice(&[0xC2, 0xA0]),
                        b'L' => s.extend_from_slice(&[0xE2, 0x80, 0xA8]),
                        b'P' => s.extend_from_slice(&[0xE2, 0x80, 0xA9]),
                        b'x' => code_length = 2,
                        b'u' => code_length = 4,
                        b'U' => code_length = 8,
                        _ => {
                            return Err(self.error(
                                "while parsing a quoted scalar",
                                start_mark,
                                "found unknown escape character",
                            ));
                        }
                    }
                    self.skip();
                    self.skip();
                    if code_length > 0 {
                        let mut value: u32 = 0;
                        for k in 0..code_length {
                            if !is_hex(self.buf, self.pos + k) {
                                return Err(self.error(
                                    "while parsing a quoted scalar",
                                    start_mark,
                                    "did not find expected hexdecimal number",
                                ));
                            }
                            value = (value << 4) + as_hex(self.buf, self.pos + k);
                        }
                        let Some(ch) = char::from_u32(value) else {
                            return Err(self.error(
                                "while parsing a quoted scalar",
                                start_mark,
                                "found invalid Unicode character escape code",
                            ));
                        };
                        let mut tmp = [0u8; 4];
                        s.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        for _ in 0..code_length {
                            self.skip();
                        }
                    }
                } else if self
                    .read_ascii_run(&mut s, |b| b <= b' ' || matches!(b, b'\'' | b'"' | b'\\'))
                    == 0
                {
                    self.read(&mut s);
                }
            }

            // The end of the scalar?
            let c = self.ch(0);
            if (single && c == b'\'') || (!single && c == b'"') {
                break;
            }

            // Consume blank characters.
            while is_blank(self.buf, self.pos) || is_break(self.buf, self.pos) {
                if is_blank(self.buf, self.pos) {
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }

            // Join the whitespaces or fold line breaks.
            if leading_blanks {
                if leading_break.first() == Some(&b'\n') {
                    if trailing_breaks.is_empty() {
                        s.push(b' ');
                    } else {
                        s.extend_from_slice(&trailing_breaks);
                    }
                } else {
                    s.extend_from_slice(&leading_break);
                    s.extend_from_slice(&trailing_breaks);
                }
                trailing_breaks.clear();
                leading_break.clear();
            } else {
                s.extend_from_slice(&whitespaces);
                whitespaces.clear();
            }
        }

        self.skip();
        Ok(Token {
            typ: TokenType::Scalar,
            start_mark,
            end_mark: self.mark,
            value: s,
            style: if single { ScalarStyle::SingleQuoted } else { ScalarStyle::DoubleQuoted },
            ..Token::default()
        })
    }

    fn scan_plain_scalar(&mut self) -> Result<Token> {
        let mut s = Vec::new();
        let mut leading_break = Vec::new();
        let mut trailing_breaks = Vec::new();
        let mut whitespaces = Vec::new();
        let mut leading_blanks = false;
        let indent = self.indent + 1;
        let start_mark = self.mark;
        let mut end_mark = self.mark;
        let start_pos = self.pos;
        let mut end_pos = self.pos;

        loop {
            if self.mark.column == 0
                && ((self.ch(0) == b'-' && self.ch(1) == b'-' && self.ch(2) == b'-')
                    || (self.ch(0) == b'.' && self.ch(1) == b'.' && self.ch(2) == b'.'))
                && is_blankz(self.buf, self.pos + 3)
            {
                break;
            }
            if self.ch(0) == b'#' {
                break;
            }

            while !is_blankz(self.buf, self.pos) {
                let c = self.ch(0);
                if (c == b':' && is_blankz(self.buf, self.pos + 1))
                    || (self.flow_level > 0 && matches!(c, b',' | b'?' | b'[' | b']' | b'{' | b'}'))
                {
                    break;
                }
                if leading_blanks || !whitespaces.is_empty() {
                    if leading_blanks {
                        if leading_break.first() == Some(&b'\n') {
                            if trailing_breaks.is_empty() {
                                s.push(b' ');
                            } else {
                                s.extend_from_slice(&trailing_breaks);
                            }
                        } else {
                            s.extend_from_slice(&leading_break);
                            s.extend_from_slice(&trailing_breaks);
                        }
                        trailing_breaks.clear();
                        leading_break.clear();
                        leading_blanks = false;
                    } else {
                        s.extend_from_slice(&whitespaces);
                        whitespaces.clear();
                    }
                }
                // A run of ordinary characters at once, else one character.
                let flow = self.flow_level > 0;
                let run = self.read_ascii_run(&mut s, |b| {
                    b <= b' '
                        || b == b':'
                        || (flow && matches!(b, b',' | b'?' | b'[' | b']' | b'{' | b'}'))
                });
                if run == 0 {
                    self.read(&mut s);
                }
                end_mark = self.mark;
                end_pos = self.pos;
            }

            if !(is_blank(self.buf, self.pos) || is_break(self.buf, self.pos)) {
                break;
            }

            while is_blank(self.buf, self.pos) || is_break(self.buf, self.pos) {
                if is_blank(self.buf, self.pos) {
                    if leading_blanks && self.mark.column < indent && is_tab(self.buf, self.pos) {
                        return Err(self.error(
                            "while scanning a plain scalar",
                            start_mark,
                            "found a tab character that violates indentation",
                        ));
                    }
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }

            if self.flow_level == 0 && self.mark.column < indent {
                break;
            }
        }

        if leading_blanks {
            self.simple_key_allowed = true;
        }
        let span = (self.buf.get(start_pos..end_pos) == Some(s.as_slice()))
            .then(|| Some((u32::try_from(start_pos).ok()?, u32::try_from(end_pos).ok()?)))
            .flatten();
        Ok(Token {
            typ: TokenType::Scalar,
            start_mark,
            end_mark,
            value: s,
            style: ScalarStyle::Plain,
            span,
            ..Token::default()
        })
    }
}
