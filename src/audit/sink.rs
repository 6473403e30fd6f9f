//! Where audit lines go: a JSON-lines file with size-based rollover, any writer (stdout), memory
//! (tests), or several at once. Sinks are injected into the [`Auditor`](super::Auditor).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::AuditError;
use super::chain::{self, Anchor, AnchorReason, ChainHead, ParsedLine};

/// One line handed to a sink.
#[derive(Debug)]
pub struct Line<'a> {
    /// The JSON line, without its newline.
    pub bytes: &'a [u8],
    /// The chain head once this line is written (for an anchor: the head it names).
    pub head: &'a ChainHead,
    /// Whether this is an anchor line.
    pub anchor: bool,
    /// The line's time, RFC 3339.
    pub time: &'a str,
}

/// A destination for audit lines. Implementations write the whole line or report an error;
/// they never drop a line silently.
pub trait AuditSink: Send + Sync {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError>;
}

impl<S: AuditSink + ?Sized> AuditSink for Arc<S> {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError> {
        (**self).write_line(line)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes each line, then flushes, to any writer: `WriterSink::stdout()` is the audit stream
/// on standard output, kept apart from logs (which go to standard error or their own target).
pub struct WriterSink<W: Write + Send> {
    name: String,
    writer: Mutex<W>,
}

impl<W: Write + Send> WriterSink<W> {
    /// `name` appears in errors ("failed to write the audit log NAME").
    pub fn new(name: impl Into<String>, writer: W) -> Self {
        WriterSink { name: name.into(), writer: Mutex::new(writer) }
    }

    pub fn into_inner(self) -> W {
        self.writer.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl WriterSink<std::io::Stdout> {
    pub fn stdout() -> Self {
        WriterSink::new("stdout", std::io::stdout())
    }
}

impl<W: Write + Send> AuditSink for WriterSink<W> {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError> {
        let mut buf = Vec::with_capacity(line.bytes.len() + 1);
        buf.extend_from_slice(line.bytes);
        buf.push(b'\n');
        let mut w = lock(&self.writer);
        w.write_all(&buf)
            .and_then(|()| w.flush())
            .map_err(|source| AuditError::Write { target: self.name.clone(), source })
    }
}

/// Keeps lines in memory; for tests. `set_failing(true)` makes writes fail.
#[derive(Debug, Default)]
pub struct MemorySink {
    lines: Mutex<Vec<Vec<u8>>>,
    failing: AtomicBool,
}

impl MemorySink {
    pub fn lines(&self) -> Vec<Vec<u8>> {
        lock(&self.lines).clone()
    }

    /// The lines joined as a JSON-lines file.
    pub fn contents(&self) -> Vec<u8> {
        lock(&self.lines).iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }
}

impl AuditSink for MemorySink {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(AuditError::Write {
                target: "memory".to_owned(),
                source: std::io::Error::other("failing on purpose"),
            });
        }
        lock(&self.lines).push(line.bytes.to_vec());
        Ok(())
    }
}

/// Writes every line to each sink in turn. All sinks are tried even when one fails.
pub struct Tee {
    sinks: Vec<Box<dyn AuditSink>>,
}

impl Tee {
    pub fn new(sinks: Vec<Box<dyn AuditSink>>) -> Self {
        Tee { sinks }
    }
}

impl AuditSink for Tee {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError> {
        let mut failed = 0;
        let mut first = None;
        for sink in &self.sinks {
            if let Err(e) = sink.write_line(line) {
                failed += 1;
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(first) => {
                Err(AuditError::Tee { failed, total: self.sinks.len(), first: Box::new(first) })
            }
        }
    }
}

/// When the file sink calls `fsync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every line: survives a power loss, costs a disk flush per event.
    EveryLine,
    /// Only when a file is rolled over. Each line is still handed to the kernel in one
    /// `write(2)` before `record` returns, so it survives the process crashing, not the node
    /// losing power.
    #[default]
    OnRollover,
}

/// Options for [`FileSink`].
#[derive(Clone, Copy, Debug)]
pub struct FileSinkOptions {
    /// Roll over before a line would take the file past this size (bytes).
    pub max_bytes: u64,
    pub fsync: FsyncPolicy,
}

impl Default for FileSinkOptions {
    fn default() -> Self {
        FileSinkOptions { max_bytes: 100 * 1024 * 1024, fsync: FsyncPolicy::OnRollover }
    }
}

/// JSON lines appended to `PATH`. When the next line would take it past `max_bytes`, `PATH` is
/// renamed to `PATH.000001` (then `.000002`, …) and a new `PATH` starts with a rollover anchor
/// naming the last line of the old one, so `verify PATH.* PATH` follows the chain across files.
/// Old files are never deleted here; retention is the operator's (verify accepts a first file
/// that starts with a rollover anchor).
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    opts: FileSinkOptions,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    file: File,
    size: u64,
    next_index: u64,
    /// The head after the last line written to this file set.
    last: Option<ChainHead>,
}

/// How much of an existing file's end is read to find its last line.
const TAIL_BYTES: u64 = 1 << 20;

impl FileSink {
    /// Opens (or creates) the log at `path`. When it already holds lines, returns the head of
    /// its chain: pass it to [`Auditor::resume`](super::Auditor::resume). A last line cut off by
    /// a crash stays where it is (verify reports it): the damaged file is rolled over first.
    pub fn open(
        path: impl Into<PathBuf>,
        opts: FileSinkOptions,
    ) -> Result<(Self, Option<ChainHead>), AuditError> {
        let path = path.into();
        let err = |source| AuditError::Write { target: path.display().to_string(), source };
        let next_index = next_rollover_index(&path).map_err(err)?;
        let (head, torn) = match fs::metadata(&path) {
            Ok(m) if m.len() > 0 => read_tail_head(&path)?,
            Ok(_) => (None, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, false),
            Err(e) => return Err(err(e)),
        };
        let sink_path = path.clone();
        let mut next = next_index;
        if torn {
            fs::rename(&path, rollover_name(&path, next)).map_err(err)?;
            next += 1;
        }
        let file = open_append(&path).map_err(err)?;
        let size = file.metadata().map_err(err)?.len();
        let state = FileState { file, size, next_index: next, last: head.clone() };
        Ok((FileSink { path: sink_path, opts, state: Mutex::new(state) }, head))
    }

    fn roll_over(&self, st: &mut FileState, time: &str) -> Result<(), AuditError> {
        let err = |source| AuditError::Write { target: self.path.display().to_string(), source };
        st.file.sync_data().map_err(err)?;
        let to = rollover_name(&self.path, st.next_index);
        fs::rename(&self.path, &to).map_err(err)?;
        st.next_index += 1;
        st.file = open_append(&self.path).map_err(err)?;
        st.size = 0;
        if let Some(head) = st.last.clone() {
            let mut anchor = Anchor::new(&head, AnchorReason::Rollover, time.to_owned());
            anchor.previous_file = to.file_name().map(|n| n.to_string_lossy().into_owned());
            self.append(st, &anchor.encode())?;
        }
        Ok(())
    }

    fn append(&self, st: &mut FileState, bytes: &[u8]) -> Result<(), AuditError> {
        let mut buf = Vec::with_capacity(bytes.len() + 1);
        buf.extend_from_slice(bytes);
        buf.push(b'\n');
        let err = |source| AuditError::Write { target: self.path.display().to_string(), source };
        st.file.write_all(&buf).map_err(err)?;
        st.size += buf.len() as u64;
        if self.opts.fsync == FsyncPolicy::EveryLine {
            st.file.sync_data().map_err(err)?;
        }
        Ok(())
    }
}

impl AuditSink for FileSink {
    fn write_line(&self, line: &Line<'_>) -> Result<(), AuditError> {
        let mut st = lock(&self.state);
        if st.size > 0 && st.size + line.bytes.len() as u64 + 1 > self.opts.max_bytes {
            self.roll_over(&mut st, line.time)?;
        }
        let result = self.append(&mut st, line.bytes);
        // Even after a failure the chain has moved on: the next rollover anchor must name the
        // head the auditor holds, so the gap shows where the line was lost.
        st.last = Some(line.head.clone());
        result
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

fn rollover_name(path: &Path, index: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index:06}"));
    PathBuf::from(name)
}

/// One more than the highest `PATH.NNNNNN` present.
fn next_rollover_index(path: &Path) -> std::io::Result<u64> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(base) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(1);
    };
    let mut max = 0;
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(1),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix(&base).and_then(|r| r.strip_prefix('.'))
            && n.len() == 6
            && let Ok(n) = n.parse::<u64>()
        {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

/// The chain head named by the last complete line of `path`, and whether a partial line
/// follows it.
fn read_tail_head(path: &Path) -> Result<(Option<ChainHead>, bool), AuditError> {
    let resume_err =
        |reason: String| AuditError::Resume { path: path.display().to_string(), reason };
    let io_err = |e: std::io::Error| resume_err(e.to_string());
    let mut f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start)).map_err(io_err)?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).map_err(io_err)?;
    let torn = tail.last() != Some(&b'\n');
    let complete = match tail.iter().rposition(|&b| b == b'\n') {
        Some(end) => &tail[..end],
        None => return Ok((None, true)),
    };
    let last = match complete.iter().rposition(|&b| b == b'\n') {
        Some(i) => &complete[i + 1..],
        None if start == 0 => complete,
        None => return Err(resume_err("its last line is longer than 1 MiB".to_owned())),
    };
    let head = match chain::parse_line(last) {
        Ok(ParsedLine::Anchor(a)) => {
            a.head().ok_or_else(|| resume_err("its last anchor has a malformed hash".to_owned()))?
        }
        Ok(ParsedLine::Event(e)) => {
            ChainHead { chain: e.chain, seq: e.seq, hash: chain::hash_line(last) }
        }
        Err(e) => return Err(resume_err(format!("its last line is not an audit line ({e})"))),
    };
    Ok((Some(head), torn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(bytes: &'a [u8], head: &'a ChainHead) -> Line<'a> {
        Line { bytes, head, anchor: false, time: "2026-12-02T13:00:00Z" }
    }

    #[test]
    fn tee_writes_every_sink_and_reports_failures() {
        let a = Arc::new(MemorySink::default());
        let b = Arc::new(MemorySink::default());
        b.set_failing(true);
        let tee = Tee::new(vec![Box::new(a.clone()), Box::new(b.clone())]);
        let head = ChainHead::genesis("c".into());
        let err = tee.write_line(&line(b"{}", &head)).unwrap_err();
        assert!(matches!(err, AuditError::Tee { failed: 1, total: 2, .. }));
        assert_eq!(a.lines().len(), 1);
    }

    #[test]
    fn writer_sink_appends_newline_per_line() {
        let sink = WriterSink::new("buf", Vec::new());
        let head = ChainHead::genesis("c".into());
        sink.write_line(&line(b"{\"a\":1}", &head)).unwrap();
        sink.write_line(&line(b"{\"a\":2}", &head)).unwrap();
        assert_eq!(sink.into_inner(), b"{\"a\":1}\n{\"a\":2}\n");
    }

    #[test]
    fn file_sink_rolls_over_with_anchor_naming_previous_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (sink, head) =
            FileSink::open(&path, FileSinkOptions { max_bytes: 20, fsync: FsyncPolicy::EveryLine })
                .unwrap();
        assert!(head.is_none());
        let h1 = ChainHead { chain: "c".into(), seq: 1, hash: [1; 32] };
        let h2 = ChainHead { chain: "c".into(), seq: 2, hash: [2; 32] };
        sink.write_line(&line(b"{\"seq\":1,\"x\":\"aaaa\"}", &h1)).unwrap();
        sink.write_line(&line(b"{\"seq\":2}", &h2)).unwrap();
        let old = fs::read_to_string(dir.path().join("audit.log.000001")).unwrap();
        assert_eq!(old, "{\"seq\":1,\"x\":\"aaaa\"}\n");
        let new = fs::read_to_string(&path).unwrap();
        let mut lines = new.lines();
        let ParsedLine::Anchor(a) = chain::parse_line(lines.next().unwrap().as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (a.reason, a.head().unwrap(), a.previous_file.as_deref()),
            (AnchorReason::Rollover, h1, Some("audit.log.000001"))
        );
        assert_eq!(lines.next(), Some("{\"seq\":2}"));
    }
}
