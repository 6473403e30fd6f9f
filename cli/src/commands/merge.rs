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
//! Files that are encrypted on no side are merged as text by `git merge-file`.

use std::process::Command;

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::{FileError, Opened, SopsFile};
use sealgate::format::metadata::Metadata;
use sealgate::format::store::{Format, StoreError};
use sealgate::keys::Keyring;
use sealgate::merge::{self, KeySide, markers};

use super::Context;
use crate::args::MergeArgs;
use crate::exit::{CliError, CliResult, Code};
use crate::io::{Input, write_atomic};
use crate::{keysel, report};

/// How a merge ended when it did not fail.
enum Outcome {
    Clean,
    Conflicts(usize),
}

pub fn run(_ctx: &Context, args: MergeArgs) -> CliResult {
    let display = args.path.as_deref().unwrap_or(&args.ours).display().to_string();
    match merge(&args, &display) {
        Ok(Outcome::Clean) => Ok(()),
        Ok(Outcome::Conflicts(n)) => Err(CliError::new(
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

/// A version that was read: encrypted, not encrypted (or not even valid in its format: the
/// error is kept), or (the base only) absent.
enum Version {
    Encrypted(SopsFile),
    Plain(Option<CliError>),
    Empty,
}

fn parse(input: &Input, format: Format, name: &str) -> Version {
    if input.bytes.iter().all(u8::is_ascii_whitespace) {
        return Version::Empty;
    }
    match SopsFile::parse(format, &input.bytes) {
        Ok(f) => Version::Encrypted(f),
        Err(FileError::Store(StoreError::NoMetadata { .. })) => Version::Plain(None),
        Err(e) => Version::Plain(Some(report::file_error(name, e))),
    }
}

fn merge(args: &MergeArgs, display: &str) -> CliResult<Outcome> {
    let format = Format::from_path(args.path.as_deref().unwrap_or(&args.ours));
    let base = Input::read_path(&args.base)?;
    let ours = Input::read_path(&args.ours)?;
    let theirs = Input::read_path(&args.theirs)?;
    // One side unchanged: take the other as it is (git normally settles these itself).
    if *theirs.bytes == *base.bytes || *theirs.bytes == *ours.bytes {
        return Ok(Outcome::Clean);
    }
    if *ours.bytes == *base.bytes {
        write_atomic(&args.ours, &theirs.bytes, false)?;
        return Ok(Outcome::Clean);
    }
    let names = |side: &str| format!("{display} ({side})");
    let versions = (
        parse(&base, format, &names("base")),
        parse(&ours, format, &names("ours")),
        parse(&theirs, format, &names("theirs")),
    );
    let (base_file, ours_file, theirs_file) = match versions {
        (Version::Encrypted(b), Version::Encrypted(o), Version::Encrypted(t)) => (Some(b), o, t),
        (Version::Empty, Version::Encrypted(o), Version::Encrypted(t)) => (None, o, t),
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
    merge_encrypted(args, display, format, base_file, ours_file, theirs_file, &theirs.bytes)
}

fn not_encrypted(display: &str, side: &str) -> CliError {
    CliError::new(
        Code::CouldNotReadInput,
        format!("{display}: the {side} version is not encrypted while another one is"),
    )
    .hint("merge by hand: `git checkout --ours/--theirs FILE`, then re-encrypt with `sealgate encrypt`")
}

/// The data keys of the three versions, unwrapping each distinct set of key groups once.
struct Keys {
    keyring: Keyring,
    known: Vec<(Metadata, DataKey)>,
}

impl Keys {
    fn unwrap(&mut self, file: &SopsFile, name: &str) -> CliResult<DataKey> {
        let same = |m: &Metadata| {
            m.key_groups == file.metadata.key_groups
                && m.shamir_threshold == file.metadata.shamir_threshold
        };
        if let Some((_, k)) = self.known.iter().find(|(m, _)| same(m)) {
            return Ok(k.clone());
        }
        let key = keysel::unwrap(&self.keyring, file, name)?;
        self.known.push((file.metadata.clone(), key.clone()));
        Ok(key)
    }
}

fn decrypt(file: &SopsFile, key: &DataKey, name: &str) -> CliResult<Opened> {
    let opened = file.decrypt(key, false).map_err(|e| report::file_error(name, e))?;
    report::warnings(name, &opened.warnings);
    Ok(opened)
}

fn merge_encrypted(
    args: &MergeArgs,
    display: &str,
    format: Format,
    base: Option<SopsFile>,
    ours: SopsFile,
    theirs: SopsFile,
    theirs_bytes: &[u8],
) -> CliResult<Outcome> {
    let names = |side: &str| format!("{display} ({side})");
    let mut keys = Keys { keyring: keysel::keyring(), known: Vec::new() };
    let ours_key = keys.unwrap(&ours, &names("ours"))?;
    let theirs_key = keys.unwrap(&theirs, &names("theirs"))?;
    let ours_plain = decrypt(&ours, &ours_key, &names("ours"))?;
    let theirs_plain = decrypt(&theirs, &theirs_key, &names("theirs"))?;
    let base_docs = match &base {
        Some(b) => {
            let key = keys.unwrap(b, &names("base"))?;
            decrypt(b, &key, &names("base"))?.docs
        }
        None => Vec::new(),
    };
    let mut tree = merge::merge_documents(&base_docs, &ours_plain.docs, &theirs_plain.docs);
    merge::sort_encrypted_secrets(&mut tree);
    let md =
        merge::merge_metadata(base.as_ref().map(|b| &b.metadata), &ours.metadata, &theirs.metadata);
    for note in &md.notes {
        eprintln!("sealgate merge: {display}: {note}");
    }
    let (key, key_file, other_file) = match md.key_side {
        KeySide::Ours => (&ours_key, &ours, &theirs),
        KeySide::Theirs => (&theirs_key, &theirs, &ours),
    };
    if tree.is_clean() {
        // The result is one side exactly: keep that file as it is (no new lastmodified).
        let is = |file: &SopsFile, plain: &Opened| {
            merge::same_docs(&tree.ours, &plain.docs) && same_settings(&md.metadata, &file.metadata)
        };
        if is(&ours, &ours_plain) {
            return Ok(Outcome::Clean);
        }
        if is(&theirs, &theirs_plain) {
            write_atomic(&args.ours, theirs_bytes, false)?;
            return Ok(Outcome::Clean);
        }
    }
    let mut sources: Vec<&SopsFile> = base.iter().collect();
    sources.extend([other_file, key_file]);
    let ivs = merge::gather_ivs(key, &md.metadata, &sources);
    let conflicts = tree.conflicts.clone();
    let sealed = merge::seal_merge(format, &md.metadata, key, tree, &ivs, Timestamp::now_utc())
        .map_err(|e| report::file_error(display, e))?;
    let ours_text = sealed.ours.emit().map_err(|e| report::file_error(display, e))?;
    if conflicts.is_empty() {
        write_atomic(&args.ours, &ours_text, false)?;
        return Ok(Outcome::Clean);
    }
    let theirs_text = sealed.theirs.emit().map_err(|e| report::file_error(display, e))?;
    let joined = markers::join(&ours_text, &theirs_text, markers::DEFAULT_MARKER_SIZE);
    write_atomic(&args.ours, &joined.text, false)?;
    for c in &conflicts {
        eprintln!("sealgate merge: {display}: conflict at {c}");
    }
    Ok(Outcome::Conflicts(conflicts.len()))
}

/// The same metadata apart from `lastmodified` and the MAC.
fn same_settings(a: &Metadata, b: &Metadata) -> bool {
    let mut a = a.clone();
    a.last_modified = b.last_modified;
    a.mac.clone_from(&b.mac);
    a == *b
}

/// Files encrypted on no side: a plain text merge, as git would do without the driver.
fn merge_text(args: &MergeArgs) -> CliResult<Outcome> {
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
        Some(0) => Ok(Outcome::Clean),
        Some(n) if n > 0 && n < 128 => Ok(Outcome::Conflicts(n as usize)),
        _ => Err(CliError::new(
            Code::CouldNotWriteOutput,
            format!("`git merge-file` failed on {}: {status}", args.ours.display()),
        )),
    }
}
