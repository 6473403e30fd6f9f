//! The audit trail: one typed event per access, hash-chained JSON lines, pluggable sinks, and
//! the verifier and filter behind `sealgate audit verify` and `sealgate audit query`.
//!
//! The controller builds an [`AuditEvent`] for each access and hands it to an [`Auditor`],
//! which stamps the time, chains it to the previous line and writes it to its [`AuditSink`].
//! Nothing here needs Kubernetes; the schema is documented in `docs/audit.md`.
//!
//! # Guarantees
//! - Every event gets the next sequence number and the SHA-256 of the previous line, so a
//!   deleted, edited, reordered or inserted line breaks the chain ([`verify`]).
//! - A failed write is returned to the caller and counted ([`AuditStats`]); it is never
//!   dropped silently, and the gap it leaves is visible to [`verify`].
//! - Values never appear: only key names, and a keyed HMAC of the data ([`Fingerprinter`]).
//!
//! # Caveats
//! A hash chain cannot show that its *last* lines were removed or rewritten: compare the head
//! ([`Auditor::head`]) with one recorded elsewhere (`sealgate audit verify --head`).

mod auditor;
mod chain;
mod event;
mod fingerprint;
pub mod query;
mod sink;
pub mod verify;

pub use auditor::{AuditStats, Auditor, Clock, SystemClock};
pub use chain::{Anchor, AnchorReason, ChainHead, Hash, ParsedLine, RecordedEvent, parse_line};
pub use event::{
    Action, Actor, AuditEvent, GIT_REVISION_ANNOTATIONS, ObjectRef, Outcome, VaultRef, git_revision,
};
pub use fingerprint::{Fingerprint, FingerprintKeyError, Fingerprinter};
pub use sink::{
    AuditSink, FileSink, FileSinkOptions, FsyncPolicy, Line, MemorySink, Tee, WriterSink,
};

/// Why an audit event could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The event breaks a schema rule (a reason that is not a stable CamelCase word, …).
    #[error("invalid audit event: {0}")]
    InvalidEvent(String),
    /// The sink could not write the line.
    #[error("failed to write the audit log {target}")]
    Write {
        target: String,
        #[source]
        source: std::io::Error,
    },
    /// An existing audit log could not be read to continue its chain.
    #[error("failed to resume the audit chain from {path}: {reason}")]
    Resume { path: String, reason: String },
    /// One or more sinks of a [`Tee`] failed; the others were still written.
    #[error("{failed} of {total} audit sinks failed")]
    Tee {
        failed: usize,
        total: usize,
        #[source]
        first: Box<AuditError>,
    },
}
