//! `sealgate audit verify` checks the hash chain of audit logs; `sealgate audit query` filters
//! their events.

use std::fs::File;
use std::io::Write;

use sealgate::audit::RecordedEvent;
use sealgate::audit::query::{self, Filter, QueryError};
use sealgate::audit::verify::{self, VerifyError};
use sealgate::format::Timestamp;

use crate::args::{AuditArgs, AuditCommand, AuditQueryArgs, AuditVerifyArgs, QueryFormat};
use crate::exit::{CliError, CliResult, Code, chain};

pub fn run(args: AuditArgs) -> CliResult {
    match args.command {
        AuditCommand::Verify(a) => run_verify(a),
        AuditCommand::Query(a) => run_query(a),
    }
}

fn read_error(file: &str, source: &std::io::Error) -> CliError {
    if source.kind() == std::io::ErrorKind::NotFound {
        CliError::new(Code::FileNotFound, format!("{file} does not exist"))
    } else {
        CliError::new(Code::CouldNotReadInput, format!("failed to read {file}: {source}"))
    }
}

fn run_verify(args: AuditVerifyArgs) -> CliResult {
    let head = match &args.head {
        None => None,
        Some(h) => Some(verify::parse_head_arg(h).ok_or_else(|| {
            CliError::new(Code::Generic, format!("--head {h:?} is not SEQ:HASH"))
                .hint("give the sequence number and the 64 hex digits of the head the controller published, e.g. 1042:3fa9…")
        })?),
    };
    match verify::verify_files(&args.files, head) {
        Ok(s) => {
            let (first, last) =
                (s.start.as_ref().map_or(0, |h| h.seq), s.head.as_ref().map_or(0, |h| h.seq));
            let chain_id = s.head.as_ref().map_or("-", |h| h.chain.as_str());
            let mut out = format!(
                "ok: {} event(s) in {} file(s), {} line(s); chain {chain_id}, seq {first}..{last}",
                s.events, s.files, s.lines
            );
            if let Some(h) = &s.head {
                out.push_str(&format!(", head {}", h.to_head_arg()));
            }
            if !s.from_start() && s.start.is_some() {
                out.push_str(&format!(
                    "\nnote: the first file continues seq {first} of an earlier file not given; only the lines given were checked"
                ));
            }
            if head.is_none() {
                out.push_str(
                    "\nnote: without --head, removal of the last lines cannot be detected",
                );
            }
            println!("{out}");
            Ok(())
        }
        Err(VerifyError::Read { file, source }) => Err(read_error(&file, &source)),
        Err(VerifyError::Broken(b)) => {
            Err(CliError::new(Code::Generic, format!("audit chain broken: {b}"))
                .hint("restore the log from a copy you trust; lines before the one named verified"))
        }
    }
}

fn parse_time(flag: &str, value: &Option<String>) -> CliResult<Option<Timestamp>> {
    value
        .as_deref()
        .map(|v| {
            Timestamp::parse_rfc3339(v).map_err(|e| {
                CliError::new(Code::Generic, format!("{flag} {v:?}: {e}"))
                    .hint("for example 2026-12-02T13:00:00Z")
            })
        })
        .transpose()
}

fn run_query(args: AuditQueryArgs) -> CliResult {
    let filter = Filter {
        object: args.object.clone(),
        kind: args.kind.clone(),
        action: args.action,
        outcome: args.outcome.map(|o| o.as_str().to_owned()),
        since: parse_time("--since", &args.since)?,
        until: parse_time("--until", &args.until)?,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut rows: Vec<[String; 7]> = Vec::new();
    let mut write_err = None;
    for path in &args.files {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| read_error(&name, &e))?;
        let result = query::query(&name, file, &filter, |raw, rec| match args.format {
            QueryFormat::Json => {
                if write_err.is_none()
                    && let Err(e) = out.write_all(raw).and_then(|()| out.write_all(b"\n"))
                {
                    write_err = Some(e);
                }
            }
            QueryFormat::Table => rows.push(row(rec)),
        });
        match result {
            Ok(()) => {}
            Err(QueryError::Read { file, source }) => return Err(read_error(&file, &source)),
            Err(e @ QueryError::Malformed { .. }) => {
                return Err(CliError::new(Code::CouldNotReadInput, chain(&e))
                    .hint("check the file with `sealgate audit verify`"));
            }
        }
    }
    if args.format == QueryFormat::Table {
        write_table(&mut out, &rows).unwrap_or_else(|e| write_err = Some(e));
    }
    if let Some(e) = write_err.or_else(|| out.flush().err()) {
        return Err(CliError::new(
            Code::CouldNotWriteOutput,
            format!("failed to write to standard output: {e}"),
        ));
    }
    Ok(())
}

const HEADER: [&str; 7] = ["TIME", "SEQ", "ACTION", "OUTCOME", "REASON", "OBJECT", "KEYS"];

fn row(rec: &RecordedEvent) -> [String; 7] {
    let ev = &rec.event;
    let object =
        ev.object.as_ref().map_or("-".to_owned(), |o| format!("{}/{}", o.kind, o.display_name()));
    let keys = if ev.keys.is_empty() { "-".to_owned() } else { ev.keys.join(",") };
    [
        rec.time.clone(),
        rec.seq.to_string(),
        ev.action.to_string(),
        ev.outcome.result().to_owned(),
        ev.outcome.reason().unwrap_or("-").to_owned(),
        object,
        keys,
    ]
}

fn write_table(out: &mut impl Write, rows: &[[String; 7]]) -> std::io::Result<()> {
    let mut widths = HEADER.map(str::len);
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = HEADER.map(str::to_owned);
    for r in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
