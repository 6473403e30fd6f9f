//! The auditor: owns the chain head, stamps and chains each event, hands it to the sink, and
//! counts what was written and what failed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::Timestamp;

use super::AuditError;
use super::chain::{self, Anchor, AnchorReason, ChainHead};
use super::event::AuditEvent;
use super::sink::{AuditSink, Line};

/// Where the time comes from; injected so tests are deterministic.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock, in UTC with nanoseconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp { unix_secs: d.as_secs() as i64, nanos: d.subsec_nanos(), offset_secs: 0 }
    }
}

/// Counters for metrics (`sealgate_audit_events_written_total`,
/// `sealgate_audit_sink_failures_total`).
#[derive(Debug, Default)]
pub struct AuditStats {
    events_written: AtomicU64,
    sink_failures: AtomicU64,
}

impl AuditStats {
    /// Lines (events and anchors) the sink accepted.
    pub fn events_written(&self) -> u64 {
        self.events_written.load(Ordering::Relaxed)
    }

    /// Lines the sink failed to write.
    pub fn sink_failures(&self) -> u64 {
        self.sink_failures.load(Ordering::Relaxed)
    }
}

/// Records events into one hash chain.
///
/// # Guarantees
/// Lines are written in sequence order: the chain head is held under a lock while the sink
/// writes, so concurrent callers are serialized (a slow sink makes callers wait; it never
/// drops). A failed write is returned and counted, and the chain still advances past it, so
/// the log shows the gap (`verify` reports the missing line) instead of hiding it.
pub struct Auditor {
    sink: Box<dyn AuditSink>,
    clock: Box<dyn Clock>,
    head: Mutex<ChainHead>,
    stats: AuditStats,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("head", &self.head())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Starts a new chain with id `chain_id` and writes its start anchor.
    ///
    /// # Errors
    /// [`AuditError::InvalidEvent`] for a chain id outside `[A-Za-z0-9._-]{1,64}`; the sink's
    /// error when the anchor cannot be written.
    pub fn start(
        sink: Box<dyn AuditSink>,
        clock: Box<dyn Clock>,
        chain_id: &str,
    ) -> Result<Self, AuditError> {
        Self::open(sink, clock, ChainHead::genesis(chain_id.to_owned()), AnchorReason::Start)
    }

    /// Continues the chain at `head` (from [`FileSink::open`](super::FileSink::open) after a
    /// restart) and writes a resume anchor, so every sink shows where it picks up.
    pub fn resume(
        sink: Box<dyn AuditSink>,
        clock: Box<dyn Clock>,
        head: ChainHead,
    ) -> Result<Self, AuditError> {
        Self::open(sink, clock, head, AnchorReason::Resume)
    }

    /// A new random chain id (128 bits, hex).
    pub fn new_chain_id(rng: &mut impl rand::RngCore) -> String {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        hex::encode(id)
    }

    fn open(
        sink: Box<dyn AuditSink>,
        clock: Box<dyn Clock>,
        head: ChainHead,
        reason: AnchorReason,
    ) -> Result<Self, AuditError> {
        if !chain::is_valid_chain_id(&head.chain) {
            return Err(AuditError::InvalidEvent(
                "the chain id must be 1 to 64 characters of letters, digits, '.', '_' and '-'"
                    .to_owned(),
            ));
        }
        let auditor = Auditor { sink, clock, head: Mutex::new(head), stats: AuditStats::default() };
        {
            let head = auditor.lock();
            let time = auditor.clock.now().to_rfc3339_nano();
            let anchor = Anchor::new(&head, reason, time.clone());
            auditor.write(&Line {
                bytes: &anchor.encode(),
                head: &head,
                anchor: true,
                time: &time,
            })?;
        }
        Ok(auditor)
    }

    /// Records one event and returns its sequence number.
    ///
    /// # Errors
    /// [`AuditError::InvalidEvent`] when the event breaks a schema rule (nothing is written and
    /// the chain does not advance); otherwise the sink's error (the chain advances: see above).
    pub fn record(&self, event: &AuditEvent) -> Result<u64, AuditError> {
        event.validate()?;
        let mut head = self.lock();
        let time = self.clock.now().to_rfc3339_nano();
        let line = chain::encode_event(&head, &time, event)?;
        let next = ChainHead {
            chain: head.chain.clone(),
            seq: head.seq + 1,
            hash: chain::hash_line(&line),
        };
        let result = self.write(&Line { bytes: &line, head: &next, anchor: false, time: &time });
        *head = next;
        result.map(|()| head.seq)
    }

    /// The current head: publish it (metrics, a Kubernetes Event) so that removing the last
    /// lines of the log can be detected with `sealgate audit verify --head`.
    pub fn head(&self) -> ChainHead {
        self.lock().clone()
    }

    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }

    fn write(&self, line: &Line<'_>) -> Result<(), AuditError> {
        match self.sink.write_line(line) {
            Ok(()) => {
                self.stats.events_written.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.sink_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(seq = line.head.seq, error = %e, "audit line not written");
                Err(e)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChainHead> {
        // A panic while holding the lock leaves a consistent head (it is replaced whole).
        self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::chain::{ParsedLine, parse_line};
    use crate::audit::event::{Action, Actor, Outcome};
    use crate::audit::sink::MemorySink;

    pub(crate) struct FixedClock;
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::parse_rfc3339("2026-12-02T13:00:00Z").unwrap()
        }
    }

    fn event() -> AuditEvent {
        AuditEvent::new(Action::VaultRead, Outcome::Success, Actor::Cli { user: "alice".into() })
    }

    #[test]
    fn start_writes_anchor_then_chained_events() {
        let mem = Arc::new(MemorySink::default());
        let a = Auditor::start(Box::new(mem.clone()), Box::new(FixedClock), "c1").unwrap();
        assert_eq!(a.record(&event()).unwrap(), 1);
        assert_eq!(a.record(&event()).unwrap(), 2);
        let lines = mem.lines();
        assert_eq!(lines.len(), 3);
        assert!(matches!(parse_line(&lines[0]).unwrap(), ParsedLine::Anchor(x) if x.seq == 0));
        let ParsedLine::Event(second) = parse_line(&lines[2]).unwrap() else { panic!() };
        assert_eq!(second.prev, hex::encode(chain::hash_line(&lines[1])));
        assert_eq!(second.time, "2026-12-02T13:00:00Z");
        assert_eq!(a.head().hash, chain::hash_line(&lines[2]));
        assert_eq!((a.stats().events_written(), a.stats().sink_failures()), (3, 0));
    }

    #[test]
    fn sink_failure_is_returned_counted_and_leaves_a_visible_gap() {
        let mem = Arc::new(MemorySink::default());
        let a = Auditor::start(Box::new(mem.clone()), Box::new(FixedClock), "c1").unwrap();
        mem.set_failing(true);
        assert!(matches!(a.record(&event()), Err(AuditError::Write { .. })));
        mem.set_failing(false);
        assert_eq!(a.record(&event()).unwrap(), 2);
        assert_eq!(a.stats().sink_failures(), 1);
        let ParsedLine::Event(e) = parse_line(&mem.lines()[1]).unwrap() else { panic!() };
        assert_eq!(e.seq, 2, "seq 1 is missing, as verify will report");
    }

    #[test]
    fn invalid_event_writes_nothing_and_keeps_the_head() {
        let mem = Arc::new(MemorySink::default());
        let a = Auditor::start(Box::new(mem.clone()), Box::new(FixedClock), "c1").unwrap();
        let head = a.head();
        let bad =
            AuditEvent::new(Action::Refusal, Outcome::Success, Actor::Cli { user: "a".into() });
        assert!(a.record(&bad).is_err());
        assert_eq!(a.head(), head);
        assert_eq!(mem.lines().len(), 1);
    }

    #[test]
    fn rejects_chain_id_that_would_need_escaping() {
        let mem = Arc::new(MemorySink::default());
        assert!(Auditor::start(Box::new(mem), Box::new(FixedClock), "a\"b").is_err());
    }
}
