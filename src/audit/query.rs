//! Filtering a log's events by object, kind, action, outcome and time.

use std::io::{BufRead, BufReader, Read};

use crate::format::Timestamp;

use super::chain::{ParsedLine, RecordedEvent, parse_line};
use super::event::Action;

/// Which events to keep; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `namespace/name`, or `name` for a cluster-scoped object.
    pub object: Option<String>,
    /// Object kind, compared without regard to case.
    pub kind: Option<String>,
    pub action: Option<Action>,
    /// `success`, `failure` or `refused`.
    pub outcome: Option<String>,
    /// Events at or after this instant.
    pub since: Option<Timestamp>,
    /// Events before this instant.
    pub until: Option<Timestamp>,
}

/// A line that could not be read as an audit line.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("failed to read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: not an audit line: {reason}")]
    Malformed { file: String, line: u64, reason: String },
}

fn instant(t: &Timestamp) -> (i64, u32) {
    (t.unix_secs, t.nanos)
}

impl Filter {
    pub fn matches(&self, rec: &RecordedEvent) -> bool {
        let ev = &rec.event;
        if let Some(want) = &self.object
            && ev.object.as_ref().is_none_or(|o| o.display_name() != *want)
        {
            return false;
        }
        if let Some(kind) = &self.kind
            && ev.object.as_ref().is_none_or(|o| !o.kind.eq_ignore_ascii_case(kind))
        {
            return false;
        }
        if self.action.is_some_and(|a| a != ev.action) {
            return false;
        }
        if let Some(outcome) = &self.outcome
            && !ev.outcome.result().eq_ignore_ascii_case(outcome)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Ok(t) = Timestamp::parse_rfc3339(&rec.time) else { return false };
            if self.since.is_some_and(|s| instant(&t) < instant(&s)) {
                return false;
            }
            if self.until.is_some_and(|u| instant(&t) >= instant(&u)) {
                return false;
            }
        }
        true
    }
}

/// Calls `each` with the raw bytes and the parsed event of every event line of `reader` that
/// `filter` keeps. Anchor lines are skipped. A line that is not an audit line is an error
/// naming it (query does not check the chain: that is `verify`).
pub fn query<R: Read>(
    name: &str,
    reader: R,
    filter: &Filter,
    mut each: impl FnMut(&[u8], &RecordedEvent),
) -> Result<(), QueryError> {
    let reader = BufReader::with_capacity(1 << 20, reader);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|source| QueryError::Read { file: name.to_owned(), source })?;
        if line.is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok(ParsedLine::Anchor(_)) => {}
            Ok(ParsedLine::Event(rec)) => {
                if filter.matches(&rec) {
                    each(&line, &rec);
                }
            }
            Err(e) => {
                return Err(QueryError::Malformed {
                    file: name.to_owned(),
                    line: i as u64 + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}
