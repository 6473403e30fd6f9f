//! Chain verification: streams one or more log files in order and names the first broken line.
//!
//! It reads the chain fields from each event line's fixed prefix and hashes the raw bytes; it
//! does not parse the rest of the JSON (that is `query`'s job), which keeps it fast.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::chain::{self, ANCHOR_PREFIX, AnchorReason, ChainHead, GENESIS, Hash, ParsedLine};

/// What was found to be wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: String,
    /// 1-based line number in `file`.
    pub line: u64,
    pub reason: BreakReason,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// Why the chain is broken at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakReason {
    /// The first line of a file is not an anchor.
    NoAnchor,
    /// The line is not an audit line (or its chain fields are malformed).
    Malformed,
    /// The file ends in the middle of a line.
    Truncated,
    /// An anchor that does not name the line before it.
    AnchorMismatch { named_seq: u64, head_seq: u64 },
    /// The line belongs to another chain.
    OtherChain,
    /// A sequence number other than the next one.
    SeqGap { expected: u64, found: u64 },
    /// This line is not part of the chain: the next line continues from the one before it.
    Inserted { seq: u64 },
    /// This line's bytes do not hash to the `prev` recorded on the line after it.
    Edited { next_file: String, next_line: u64 },
    /// The first event after an anchor does not continue from the hash the anchor names.
    PrevMismatch,
    /// The chain ends elsewhere than the head recorded outside the log.
    HeadMismatch { expected_seq: u64, found_seq: u64 },
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::NoAnchor => {
                f.write_str("the file does not start with an anchor line: its first lines were removed or it is not an audit log")
            }
            BreakReason::Malformed => f.write_str("not an audit line: it was edited, or inserted"),
            BreakReason::Truncated => f.write_str("the file ends in the middle of this line: the write was cut off or the line shortened"),
            BreakReason::AnchorMismatch { named_seq, head_seq } => write!(
                f,
                "the anchor names seq {named_seq} and its hash, but the chain before it ends at seq {head_seq} or has another hash: lines were removed, edited or reordered, or the files are not given in order"
            ),
            BreakReason::OtherChain => f.write_str("the line belongs to another chain: it was inserted from another log"),
            BreakReason::SeqGap { expected, found } if found > expected => write!(
                f,
                "seq {found} where {expected} was expected: {} line(s) before this one were deleted or moved",
                found - expected
            ),
            BreakReason::SeqGap { expected, found } => {
                write!(f, "seq {found} where {expected} was expected: lines were reordered or duplicated")
            }
            BreakReason::Inserted { seq } => write!(
                f,
                "inserted line: it claims seq {seq}, and the line after it carries the same seq and continues from the line before it"
            ),
            BreakReason::Edited { next_file, next_line } => write!(
                f,
                "edited line: its hash does not match the `prev` recorded on {next_file}:{next_line}"
            ),
            BreakReason::PrevMismatch => {
                f.write_str("the line does not continue from the hash the anchor before it names: it was edited or the anchor forged")
            }
            BreakReason::HeadMismatch { expected_seq, found_seq } => write!(
                f,
                "the log ends at seq {found_seq}, but the recorded head is seq {expected_seq} with another hash: lines at the end were removed or rewritten"
            ),
        }
    }
}

/// Verification could not complete.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("failed to read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Broken(Break),
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub lines: u64,
    pub events: u64,
    pub bytes: u64,
    /// The head the first anchor named (seq 0 and the all-zero hash for a chain from its start).
    pub start: Option<ChainHead>,
    /// The last line's head.
    pub head: Option<ChainHead>,
}

impl Summary {
    /// Whether the files begin at the start of the chain, rather than at a rollover or resume
    /// anchor whose earlier files were not given.
    pub fn from_start(&self) -> bool {
        self.start.as_ref().is_some_and(|s| s.seq == 0 && s.hash == GENESIS)
    }
}

#[derive(Debug, Clone)]
struct Loc {
    file: usize,
    line: u64,
}

/// Verifies lines fed in order, across files. Use [`verify_files`] unless the lines come from
/// somewhere else than files.
#[derive(Debug, Default)]
pub struct Verifier {
    files: Vec<String>,
    head: Option<ChainHead>,
    /// Where the head's line is; `None` when the head comes from an anchor.
    head_loc: Option<Loc>,
    /// The hash of the event line before the head's line.
    before_head: Option<Hash>,
    start: Option<ChainHead>,
    lines: u64,
    events: u64,
    bytes: u64,
}

/// Read buffer size: large reads keep the disk and the hash busy.
const BUF: usize = 1 << 20;

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies everything `reader` yields as the next file, named `name` in reports.
    pub fn feed(&mut self, name: &str, reader: impl Read) -> Result<(), VerifyError> {
        let file = self.files.len();
        self.files.push(name.to_owned());
        let mut reader = BufReader::with_capacity(BUF, reader);
        let mut buf = Vec::with_capacity(4096);
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| VerifyError::Read { file: name.to_owned(), source })?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            self.bytes += n as u64;
            let loc = Loc { file, line: line_no };
            let Some(line) = buf.strip_suffix(b"\n") else {
                return Err(self.broken(&loc, BreakReason::Truncated));
            };
            self.line(line, loc)?;
        }
    }

    fn broken(&self, loc: &Loc, reason: BreakReason) -> VerifyError {
        VerifyError::Broken(Break { file: self.files[loc.file].clone(), line: loc.line, reason })
    }

    fn line(&mut self, line: &[u8], loc: Loc) -> Result<(), VerifyError> {
        self.lines += 1;
        if line.starts_with(ANCHOR_PREFIX) {
            return self.anchor(line, &loc);
        }
        if loc.line == 1 {
            return Err(self.broken(&loc, BreakReason::NoAnchor));
        }
        let (Some(p), true) = (chain::read_prefix(line), line.ends_with(b"}")) else {
            return Err(self.broken(&loc, BreakReason::Malformed));
        };
        let Some(head) = &self.head else {
            return Err(self.broken(&loc, BreakReason::NoAnchor));
        };
        if p.chain != head.chain.as_bytes() {
            return Err(self.broken(&loc, BreakReason::OtherChain));
        }
        let expected = head.seq + 1;
        if p.seq != expected {
            if p.seq == head.seq
                && Some(p.prev) == self.before_head
                && let Some(prev_loc) = &self.head_loc
            {
                return Err(self.broken(prev_loc, BreakReason::Inserted { seq: p.seq }));
            }
            return Err(self.broken(&loc, BreakReason::SeqGap { expected, found: p.seq }));
        }
        if p.prev != head.hash {
            return Err(match &self.head_loc {
                Some(prev_loc) => self.broken(
                    prev_loc,
                    BreakReason::Edited {
                        next_file: self.files[loc.file].clone(),
                        next_line: loc.line,
                    },
                ),
                None => self.broken(&loc, BreakReason::PrevMismatch),
            });
        }
        let next =
            ChainHead { chain: head.chain.clone(), seq: p.seq, hash: chain::hash_line(line) };
        self.before_head = self.head.replace(next).map(|h| h.hash);
        self.head_loc = Some(loc);
        self.events += 1;
        Ok(())
    }

    fn anchor(&mut self, line: &[u8], loc: &Loc) -> Result<(), VerifyError> {
        let named = match chain::parse_line(line) {
            Ok(ParsedLine::Anchor(a)) => {
                let start = a.reason == AnchorReason::Start;
                match a.head() {
                    Some(h) if !start || (h.seq == 0 && h.hash == GENESIS) => h,
                    _ => return Err(self.broken(loc, BreakReason::Malformed)),
                }
            }
            _ => return Err(self.broken(loc, BreakReason::Malformed)),
        };
        match &self.head {
            None => {
                self.start = Some(named.clone());
                self.head = Some(named);
            }
            Some(head) if *head == named => {}
            Some(head) if named.chain != head.chain => {
                return Err(self.broken(loc, BreakReason::OtherChain));
            }
            Some(head) => {
                // An anchor naming the right seq with another hash: the line it names was edited.
                if named.seq == head.seq
                    && let Some(prev_loc) = &self.head_loc
                {
                    let reason = BreakReason::Edited {
                        next_file: self.files[loc.file].clone(),
                        next_line: loc.line,
                    };
                    return Err(self.broken(prev_loc, reason));
                }
                let reason =
                    BreakReason::AnchorMismatch { named_seq: named.seq, head_seq: head.seq };
                return Err(self.broken(loc, reason));
            }
        }
        Ok(())
    }

    /// Checks the end of the chain against a head recorded elsewhere, then summarizes.
    pub fn finish(self, expected_head: Option<(u64, Hash)>) -> Result<Summary, VerifyError> {
        if let Some((seq, hash)) = expected_head {
            let found = self.head.as_ref().map(|h| (h.seq, h.hash));
            if found != Some((seq, hash)) {
                let (file, line) = match &self.head_loc {
                    Some(l) => (self.files[l.file].clone(), l.line),
                    None => (self.files.last().cloned().unwrap_or_default(), self.lines),
                };
                let reason = BreakReason::HeadMismatch {
                    expected_seq: seq,
                    found_seq: found.map_or(0, |f| f.0),
                };
                return Err(VerifyError::Broken(Break { file, line, reason }));
            }
        }
        Ok(Summary {
            files: self.files.len(),
            lines: self.lines,
            events: self.events,
            bytes: self.bytes,
            start: self.start,
            head: self.head,
        })
    }
}

/// Parses `SEQ:HASH` (as printed by [`ChainHead::to_head_arg`]).
pub fn parse_head_arg(s: &str) -> Option<(u64, Hash)> {
    let (seq, hash) = s.split_once(':')?;
    Some((seq.parse().ok()?, chain::decode_hash(hash.as_bytes())?))
}

/// Verifies `paths` as one chain, in the order given (oldest first: `PATH.000001 … PATH`).
pub fn verify_files<P: AsRef<Path>>(
    paths: &[P],
    expected_head: Option<(u64, Hash)>,
) -> Result<Summary, VerifyError> {
    let mut v = Verifier::new();
    for path in paths {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file =
            File::open(path).map_err(|source| VerifyError::Read { file: name.clone(), source })?;
        v.feed(&name, file)?;
    }
    v.finish(expected_head)
}
