//! The chained line format: how an event and an anchor become one JSON line, and back.
//!
//! An event line starts with its chain fields in a fixed order, so that the verifier can read
//! them without parsing the JSON:
//! `{"seq":N,"prev":"<sha256 hex of the previous line>","chain":"<id>","time":"…",…event}`.
//! An anchor line is `{"anchor":{…}}`: it names the chain head the following line continues.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuditError;
use super::event::AuditEvent;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev` of the first event of a new chain.
pub const GENESIS: Hash = [0u8; 32];

/// Where a chain stands: its id, the last sequence number and the hash of that line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub chain: String,
    pub seq: u64,
    pub hash: Hash,
}

impl ChainHead {
    /// The head of a new chain: seq 0, the all-zero hash.
    pub fn genesis(chain: String) -> Self {
        ChainHead { chain, seq: 0, hash: GENESIS }
    }

    /// `SEQ:HASH`, the form `sealgate audit verify --head` takes.
    pub fn to_head_arg(&self) -> String {
        format!("{}:{}", self.seq, hex::encode(self.hash))
    }
}

/// Why an anchor was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AnchorReason {
    /// A new chain starts (seq 0, all-zero hash).
    Start,
    /// The file reached its size limit; this file continues the previous one.
    Rollover,
    /// The process restarted and continues the chain it found.
    Resume,
}

/// A line that names the chain head the next event continues from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    pub chain: String,
    pub seq: u64,
    /// Hex SHA-256 of the line with sequence number `seq` (all zeros for a new chain).
    pub hash: String,
    pub reason: AnchorReason,
    pub time: String,
    /// At a rollover: the file name the previous lines were moved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_file: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AnchorLine {
    anchor: Anchor,
}

impl Anchor {
    pub fn new(head: &ChainHead, reason: AnchorReason, time: String) -> Self {
        Anchor {
            chain: head.chain.clone(),
            seq: head.seq,
            hash: hex::encode(head.hash),
            reason,
            time,
            previous_file: None,
        }
    }

    /// The head this anchor names, when its hash is well formed.
    pub fn head(&self) -> Option<ChainHead> {
        let hash = decode_hash(self.hash.as_bytes())?;
        Some(ChainHead { chain: self.chain.clone(), seq: self.seq, hash })
    }

    /// The anchor as one line (no newline).
    pub fn encode(&self) -> Vec<u8> {
        let line = AnchorLine { anchor: self.clone() };
        serde_json::to_vec(&line).unwrap_or_default()
    }
}

/// An event as read back from the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    pub seq: u64,
    pub prev: String,
    pub chain: String,
    pub time: String,
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// One line of the log, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedLine {
    Anchor(Anchor),
    Event(Box<RecordedEvent>),
}

/// The prefix that marks an anchor line.
pub(crate) const ANCHOR_PREFIX: &[u8] = b"{\"anchor\":";

/// Parses one line (without its newline) fully.
pub fn parse_line(line: &[u8]) -> Result<ParsedLine, serde_json::Error> {
    if line.starts_with(ANCHOR_PREFIX) {
        let a: AnchorLine = serde_json::from_slice(line)?;
        Ok(ParsedLine::Anchor(a.anchor))
    } else {
        Ok(ParsedLine::Event(Box::new(serde_json::from_slice(line)?)))
    }
}

/// The SHA-256 of a line's bytes, without its newline.
pub fn hash_line(line: &[u8]) -> Hash {
    Sha256::digest(line).into()
}

/// A chain id is 1–64 characters of `[A-Za-z0-9._-]`, so it needs no JSON escaping.
pub fn is_valid_chain_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Encodes `event` as the line after `head`, stamped with `time` (RFC 3339).
pub(crate) fn encode_event(
    head: &ChainHead,
    time: &str,
    event: &AuditEvent,
) -> Result<Vec<u8>, AuditError> {
    let body = serde_json::to_vec(event)
        .map_err(|e| AuditError::InvalidEvent(format!("cannot be encoded as JSON: {e}")))?;
    let time = serde_json::to_string(time).map_err(|e| AuditError::InvalidEvent(e.to_string()))?;
    let mut line = format!(
        "{{\"seq\":{},\"prev\":\"{}\",\"chain\":\"{}\",\"time\":{time},",
        head.seq + 1,
        hex::encode(head.hash),
        head.chain
    )
    .into_bytes();
    // `body` is a JSON object with at least `action`: drop its opening brace.
    line.extend_from_slice(&body[1..]);
    Ok(line)
}

/// Decodes 64 lowercase hex digits.
pub(crate) fn decode_hash(hex_digits: &[u8]) -> Option<Hash> {
    if hex_digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex_digits.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The chain fields at the start of an event line, read without parsing the JSON.
pub(crate) struct Prefix<'a> {
    pub seq: u64,
    pub prev: Hash,
    pub chain: &'a [u8],
}

/// Reads `{"seq":N,"prev":"HEX","chain":"ID",` from the start of an event line.
pub(crate) fn read_prefix(line: &[u8]) -> Option<Prefix<'_>> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let mut seq: u64 = 0;
    for &d in &rest[..digits] {
        seq = seq.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    let rest = rest[digits..].strip_prefix(b",\"prev\":\"")?;
    let prev = decode_hash(rest.get(..64)?)?;
    let rest = rest[64..].strip_prefix(b"\",\"chain\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let (chain, rest) = rest.split_at(end);
    rest.strip_prefix(b"\",")?;
    Some(Prefix { seq, prev, chain })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::{Action, Actor, Outcome};

    #[test]
    fn event_line_round_trips_and_prefix_reads_without_json() {
        let head = ChainHead { chain: "c1".into(), seq: 41, hash: [0xab; 32] };
        let ev =
            AuditEvent::new(Action::Decrypt, Outcome::Success, Actor::Cli { user: "alice".into() });
        let line = encode_event(&head, "2026-12-02T13:00:00Z", &ev).unwrap();
        let p = read_prefix(&line).unwrap();
        assert_eq!((p.seq, p.prev, p.chain), (42, [0xab; 32], &b"c1"[..]));
        let ParsedLine::Event(rec) = parse_line(&line).unwrap() else { panic!("not an event") };
        assert_eq!(rec.event, ev);
        assert_eq!(
            (rec.seq, rec.chain.as_str(), rec.time.as_str()),
            (42, "c1", "2026-12-02T13:00:00Z")
        );
    }

    #[test]
    fn prefix_rejects_leading_zero_uppercase_hex_and_overflow() {
        let h = "ab".repeat(32);
        assert!(
            read_prefix(format!("{{\"seq\":07,\"prev\":\"{h}\",\"chain\":\"c\",").as_bytes())
                .is_none()
        );
        let up = "AB".repeat(32);
        assert!(
            read_prefix(format!("{{\"seq\":7,\"prev\":\"{up}\",\"chain\":\"c\",").as_bytes())
                .is_none()
        );
        let big = "99999999999999999999";
        assert!(
            read_prefix(format!("{{\"seq\":{big},\"prev\":\"{h}\",\"chain\":\"c\",").as_bytes())
                .is_none()
        );
    }

    #[test]
    fn anchor_round_trips() {
        let head = ChainHead { chain: "c1".into(), seq: 9, hash: [1; 32] };
        let a = Anchor::new(&head, AnchorReason::Rollover, "2026-12-02T13:00:00Z".into());
        let line = a.encode();
        assert!(line.starts_with(ANCHOR_PREFIX));
        let ParsedLine::Anchor(back) = parse_line(&line).unwrap() else { panic!("not an anchor") };
        assert_eq!(back.head().unwrap(), head);
    }

    #[test]
    fn chain_ids_need_no_escaping() {
        assert!(is_valid_chain_id("3f2a-prod.eu_1"));
        assert!(
            !is_valid_chain_id("a\"b")
                && !is_valid_chain_id("")
                && !is_valid_chain_id(&"a".repeat(65))
        );
    }
}
