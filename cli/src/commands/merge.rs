//! `sealgate merge BASE OURS THEIRS [--path P]`: a git merge driver for encrypted files
//! (`git config merge.sealgate.driver "sealgate merge %O %A %B --path %P"`).
//!
//! Decrypts the three versions, merges the plaintext trees key by key, and re-encrypts the
//! result into OURS with ours' data key and metadata (or theirs' key groups and rule where only
//! theirs changed them), so every unchanged value keeps its exact ciphertext and only
//! `lastmodified` and the MAC are new. Exit 0: merged cleanly. Exit 1: conflicts were written,
//! as conflict markers around the two re-encrypted values (never plaintext); resolve them with
//! `sealgate edit`. Any other exit code: a hard error, and OURS is left untouched.
//!
//! A stream of independent SOPS files (several sealed Secrets in one file) merges document by
//! document, documents matched by kind, namespace and name. Files encrypted on no side are
//! merged as text by `git merge-file`.

use std::process::Command;

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::{FileError, Opened, SopsFile};
use sealgate::format::metadata::Metadata;
use sealgate::format::store::{Format, StoreError};
use sealgate::merge::{self, KeySide, markers};

use super::Context;
use super::units::{self, Keys};
use crate::args::MergeArgs;
use crate::exit::{CliError, CliResult, Code};
use crate::io::{Input, write_atomic};
use crate::report;

pub fn run(_ctx: &Context, args: MergeArgs) -> CliResult {
    let display = args.path.as_deref().unwrap_or(&args.ours).display().to_string();
    match merge(&args, &display) {
        Ok(0) => Ok(()),
        Ok(n) => Err(CliError::new(
            Code::Generic,
            format!("{display}: {n} conflict(s) written with markers around the encrypted values"),
        )
        .hint(format!("resolve them with `sealgate edit {display}`, then `git add {display}`"))),
        // Git reads exit 1 as "conflicts written": a hard error must not look like that.
        Err(mut e) => {
            if e.code == Code::Generic {
                e.code = Code::CouldNotReadInput;
            }
            Err(e)
        }
    }
}

/// A version that was read: its SOPS files, not encrypted (or not even valid in its format:
/// the error is kept), or (the base only) absent.
enum Version {
    Encrypted(Vec<SopsFile>),
    Plain(Option<CliError>),
    Empty,
}

fn parse(input: &Input, format: Format, name: &str) -> Version {
    if input.bytes.iter().all(u8::is_ascii_whitespace) {
        return Version::Empty;
    }
    match units::parse(format, &input.bytes) {
        Ok(files) => Version::Encrypted(files),
        Err(FileError::Store(StoreError::NoMetadata { .. })) => Version::Plain(None),
        Err(e) => Version::Plain(Some(report::file_error(name, e))),
    }
}

/// Merges into OURS; returns the number of conflicts written.
fn merge(args: &MergeArgs, display: &str) -> CliResult<usize> {
    let format = Format::from_path(args.path.as_deref().unwrap_or(&args.ours));
    let base = Input::read_path(&args.base)?;
    let ours = Input::read_path(&args.ours)?;
    let theirs = Input::read_path(&args.theirs)?;
    // One side unchanged: take the other as it is (git normally settles these itself).
    if *theirs.bytes == *base.bytes || *theirs.bytes == *ours.bytes {
        return Ok(0);
    }
    if *ours.bytes == *base.bytes {
        write_atomic(&args.ours, &theirs.bytes, false)?;
        return Ok(0);
    }
    let names = |side: &str| format!("{display} ({side})");
    let versions = (
        parse(&base, format, &names("base")),
        parse(&ours, format, &names("ours")),
        parse(&theirs, format, &names("theirs")),
    );
    let (base_files, ours_files, theirs_files) = match versions {
        (Version::Encrypted(b), Version::Encrypted(o), Version::Encrypted(t)) => (b, o, t),
        (Version::Empty, Version::Encrypted(o), Version::Encrypted(t)) => (Vec::new(), o, t),
        // Encrypted nowhere: what git would do without this driver.
        (Version::Plain(_) | Version::Empty, Version::Plain(_), Version::Plain(_)) => {
            return merge_text(args);
        }
        (b, o, t) => {
            let mut unreadable = None;
            let mut plain = None;
            for (side, v) in [("base", b), ("ours", o), ("theirs", t)] {
                match v {
                    Version::Plain(Some(e)) => unreadable = unreadable.or(Some(e)),
                    Version::Plain(None) => plain = plain.or(Some(side)),
                    _ => {}
                }
            }
            return Err(
                unreadable.unwrap_or_else(|| not_encrypted(display, plain.unwrap_or("base")))
            );
        }
    };
    let mut keys = Keys::new();
    let streams = [&base_files, &ours_files, &theirs_files].iter().any(|f| f.len() > 1);
    if !streams {
        let (o, t) = (&ours_files[0], &theirs_files[0]);
        let merged = merge_file(&mut keys, display, format, base_files.first(), o, t)?;
        return match merged {
            FileMerge::Ours => Ok(0),
            FileMerge::Theirs => write_atomic(&args.ours, &theirs.bytes, false).map(|_| 0),
            FileMerge::Merged(bytes) => write_atomic(&args.ours, &bytes, false).map(|_| 0),
            FileMerge::Conflicts { ours, theirs, count } => {
                let joined = markers::join(&ours, &theirs, args.marker_size);
                write_atomic(&args.ours, &joined.text, false).map(|_| count)
            }
        };
    }
    let (ours_text, theirs_text, count) =
        merge_stream(&mut keys, display, &base_files, &ours_files, &theirs_files)?;
    if count == 0 {
        write_atomic(&args.ours, &ours_text, false)?;
    } else {
        let joined = markers::join(&ours_text, &theirs_text, args.marker_size);
        write_atomic(&args.ours, &joined.text, false)?;
    }
    Ok(count)
}

fn not_encrypted(display: &str, side: &str) -> CliError {
    CliError::new(
        Code::CouldNotReadInput,
        format!("{display}: the {side} version is not encrypted while another one is"),
    )
    .hint("merge by hand: `git checkout --ours/--theirs FILE`, then re-encrypt with `sealgate encrypt`")
}

fn decrypt(file: &SopsFile, key: &DataKey, name: &str) -> CliResult<Opened> {
    let opened = file.decrypt(key, false).map_err(|e| report::file_error(name, e))?;
    report::warnings(name, &opened.warnings);
    Ok(opened)
}

/// The merge of one SOPS file.
enum FileMerge {
    /// The result is ours exactly: keep it as it is (no new `lastmodified`).
    Ours,
    /// The result is theirs exactly.
    Theirs,
    /// A new file.
    Merged(Vec<u8>),
    /// Both resolutions, encrypted with one data key, IV stash and metadata block.
    Conflicts { ours: Vec<u8>, theirs: Vec<u8>, count: usize },
}

/// Merges one SOPS file; conflicts are reported on standard error (paths only) under `name`.
fn merge_file(
    keys: &mut Keys,
    name: &str,
    format: Format,
    base: Option<&SopsFile>,
    ours: &SopsFile,
    theirs: &SopsFile,
) -> CliResult<FileMerge> {
    let side = |s: &str| format!("{name} ({s})");
    let ours_key = keys.unwrap(ours, &side("ours"))?;
    let theirs_key = keys.unwrap(theirs, &side("theirs"))?;
    let ours_plain = decrypt(ours, &ours_key, &side("ours"))?;
    let theirs_plain = decrypt(theirs, &theirs_key, &side("theirs"))?;
    let base_docs = match base {
        Some(b) => {
            let key = keys.unwrap(b, &side("base"))?;
            decrypt(b, &key, &side("base"))?.docs
        }
        None => Vec::new(),
    };
    let mut tree = merge::merge_documents(&base_docs, &ours_plain.docs, &theirs_plain.docs);
    merge::sort_encrypted_secrets(&mut tree);
    let md = merge::merge_metadata(base.map(|b| &b.metadata), &ours.metadata, &theirs.metadata);
    for note in &md.notes {
        eprintln!("sealgate merge: {name}: {note}");
    }
    if tree.is_clean() {
        let is = |file: &SopsFile, plain: &Opened| {
            merge::same_docs(&tree.ours, &plain.docs) && same_settings(&md.metadata, &file.metadata)
        };
        if is(ours, &ours_plain) {
            return Ok(FileMerge::Ours);
        }
        if is(theirs, &theirs_plain) {
            return Ok(FileMerge::Theirs);
        }
    }
    let (key, key_file, other_file) = match md.key_side {
        KeySide::Ours => (&ours_key, ours, theirs),
        KeySide::Theirs => (&theirs_key, theirs, ours),
    };
    let mut sources: Vec<&SopsFile> = base.into_iter().collect();
    sources.extend([other_file, key_file]);
    let ivs = merge::gather_ivs(key, &md.metadata, &sources);
    let conflicts = tree.conflicts.clone();
    let sealed = merge::seal_merge(format, &md.metadata, key, tree, &ivs, Timestamp::now_utc())
        .map_err(|e| report::file_error(name, e))?;
    let ours_text = sealed.ours.emit().map_err(|e| report::file_error(name, e))?;
    if conflicts.is_empty() {
        return Ok(FileMerge::Merged(ours_text));
    }
    let theirs_text = sealed.theirs.emit().map_err(|e| report::file_error(name, e))?;
    for c in &conflicts {
        eprintln!("sealgate merge: {name}: conflict at {c}");
    }
    Ok(FileMerge::Conflicts { ours: ours_text, theirs: theirs_text, count: conflicts.len() })
}

/// The same metadata apart from `lastmodified` and the MAC.
fn same_settings(a: &Metadata, b: &Metadata) -> bool {
    let mut a = a.clone();
    a.last_modified = b.last_modified;
    a.mac.clone_from(&b.mac);
    a == *b
}

/// One document of a stream, named for matching across versions.
struct Unit<'a> {
    id: String,
    file: &'a SopsFile,
    text: Vec<u8>,
}

fn named<'a>(files: &'a [SopsFile], display: &str) -> CliResult<Vec<Unit<'a>>> {
    let mut out: Vec<Unit> = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let id = units::identity(file).unwrap_or_else(|| format!("document {}", i + 1));
        if out.iter().any(|u| u.id == id) {
            return Err(CliError::new(
                Code::CouldNotReadInput,
                format!(
                    "{display}: the stream holds {id} twice, so its documents cannot be matched"
                ),
            ));
        }
        let text = file.emit().map_err(|e| report::file_error(display, e))?;
        out.push(Unit { id, file, text });
    }
    Ok(out)
}

fn lookup<'u, 'f>(units: &'u [Unit<'f>], id: &str) -> Option<&'u Unit<'f>> {
    units.iter().find(|u| u.id == id)
}

/// Merges a stream of independent SOPS files document by document (ours' order, then
/// documents only theirs added). Returns both resolutions and the number of conflicts.
fn merge_stream(
    keys: &mut Keys,
    display: &str,
    base: &[SopsFile],
    ours: &[SopsFile],
    theirs: &[SopsFile],
) -> CliResult<(Vec<u8>, Vec<u8>, usize)> {
    let (base, ours, theirs) =
        (named(base, display)?, named(ours, display)?, named(theirs, display)?);
    let mut ids: Vec<&str> = ours.iter().map(|u| u.id.as_str()).collect();
    ids.extend(theirs.iter().map(|u| u.id.as_str()).filter(|id| lookup(&ours, id).is_none()));
    let (mut ours_out, mut theirs_out, mut count) = (Vec::new(), Vec::new(), 0);
    for id in ids {
        let (b, o, t) = (lookup(&base, id), lookup(&ours, id), lookup(&theirs, id));
        let same = |x: Option<&Unit>, y: Option<&Unit>| x.map(|u| &u.text) == y.map(|u| &u.text);
        let pick = if same(o, t) || same(t, b) {
            Some(o)
        } else if same(o, b) {
            Some(t)
        } else {
            None
        };
        if let Some(unit) = pick {
            if let Some(u) = unit {
                ours_out.push(u.text.clone());
                theirs_out.push(u.text.clone());
            }
            continue;
        }
        let name = format!("{display}: {id}");
        let (Some(o), Some(t)) = (o, t) else {
            let what = if o.is_none() {
                "deleted in ours, changed in theirs"
            } else {
                "changed in ours, deleted in theirs"
            };
            eprintln!("sealgate merge: {name}: conflict: the document was {what}");
            ours_out.extend(o.map(|u| u.text.clone()));
            theirs_out.extend(t.map(|u| u.text.clone()));
            count += 1;
            continue;
        };
        match merge_file(keys, &name, Format::Yaml, b.map(|u| u.file), o.file, t.file)? {
            FileMerge::Ours => {
                ours_out.push(o.text.clone());
                theirs_out.push(o.text.clone());
            }
            FileMerge::Theirs => {
                ours_out.push(t.text.clone());
                theirs_out.push(t.text.clone());
            }
            FileMerge::Merged(bytes) => {
                ours_out.push(bytes.clone());
                theirs_out.push(bytes);
            }
            FileMerge::Conflicts { ours, theirs, count: n } => {
                ours_out.push(ours);
                theirs_out.push(theirs);
                count += n;
            }
        }
    }
    Ok((units::join(&ours_out), units::join(&theirs_out), count))
}

/// Files encrypted on no side: a plain text merge, as git would do without the driver.
fn merge_text(args: &MergeArgs) -> CliResult<usize> {
    let status = Command::new("git")
        .args(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs"])
        .arg(&args.ours)
        .arg(&args.base)
        .arg(&args.theirs)
        .status()
        .map_err(|e| {
            CliError::new(Code::Generic, format!("failed to run `git merge-file`: {e}"))
        })?;
    match status.code() {
        Some(n) if (0..128).contains(&n) => Ok(n as usize),
        _ => Err(CliError::new(
            Code::CouldNotWriteOutput,
            format!("`git merge-file` failed on {}: {status}", args.ours.display()),
        )),
    }
}
