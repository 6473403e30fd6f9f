//! Encrypted files with conflict markers, as `sealgate merge` writes them: markers around
//! re-encrypted values, never around plaintext. Opening both sides, showing the plaintext
//! alternatives between the same markers (`diff`, `edit`), and writing a resolution (`edit`).
//! A stream of sealed Secrets is handled document by document, each with its own data key.
//!
//! The two sides split out of the markers share everything outside the conflict blocks, so
//! they must share the metadata block. The ours side is the complete file the merge wrote: its
//! MAC verifies. The theirs side cannot have a valid MAC; its values are checked by GCM
//! authentication under the same data key (each was encrypted with that key at that path).

use std::io::{BufRead, IsTerminal, Write};

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::{Opened, SopsFile};
use sealgate::format::store::{self, Format};
use sealgate::format::tree::Document;
use sealgate::merge::{self, markers};
use zeroize::Zeroizing;

use super::edit::{Scratch, editor, run_editor};
use super::units::{self, Keys};
use crate::args::EditArgs;
use crate::exit::{CliError, CliResult, Code, chain};
use crate::io::{Input, write_atomic};
use crate::report;

/// True when the file holds conflict blocks (a line opening one).
pub fn has_markers(bytes: &[u8]) -> bool {
    markers::has_markers(bytes)
}

/// One SOPS file of a conflicted file (the file, or one document of a sealed stream), both
/// sides decrypted.
struct Pair {
    /// The ours side: a complete file; its data key and metadata are the resolution's.
    file: SopsFile,
    theirs_file: SopsFile,
    key: DataKey,
    ours: Opened,
    theirs: Opened,
}

/// Both sides of a conflicted encrypted file, decrypted.
pub struct Views {
    pairs: Vec<Pair>,
    pub blocks: usize,
}

/// Splits a conflicted file into its two sides and decrypts both.
///
/// # Errors
/// Broken markers; markers inside a metadata block (the sides must share it); a side that
/// does not parse or decrypt; an ours side whose MAC does not verify (unless `ignore_mac`); a
/// stream whose sides hold different numbers of documents.
pub fn open(input: &Input, format: Format, ignore_mac: bool) -> CliResult<Views> {
    let display = &input.display;
    let sides = markers::split(&input.bytes).map_err(|e| {
        CliError::new(Code::CouldNotReadInput, format!("{display}: {}", chain(&e)))
            .hint("restore the conflict blocks as `sealgate merge` wrote them, or run `git checkout --merge FILE`")
    })?;
    let ours_name = format!("{display} (ours side of the conflicts)");
    let theirs_name = format!("{display} (theirs side of the conflicts)");
    let ours_files =
        units::parse(format, &sides.ours).map_err(|e| report::file_error(&ours_name, e))?;
    let theirs_files =
        units::parse(format, &sides.theirs).map_err(|e| report::file_error(&theirs_name, e))?;
    if ours_files.len() != theirs_files.len() {
        return Err(CliError::new(
            Code::CouldNotReadInput,
            format!("{display}: one side of the conflicts deleted a whole document"),
        )
        .hint("keep one side with `git checkout --ours FILE` or `git checkout --theirs FILE`, then re-apply the other side's change"));
    }
    let mut keys = Keys::new();
    let mut pairs = Vec::with_capacity(ours_files.len());
    for (file, theirs_file) in ours_files.into_iter().zip(theirs_files) {
        if file.metadata != theirs_file.metadata {
            return Err(CliError::new(
                Code::CouldNotReadInput,
                format!("{display}: the conflict blocks reach into the sops metadata, which both sides must share"),
            )
            .hint("redo the merge with `git checkout --merge FILE` (sealgate merge as the driver)"));
        }
        let key = keys.unwrap(&file, display)?;
        let ours = file.decrypt(&key, ignore_mac).map_err(|e| report::file_error(&ours_name, e))?;
        let theirs =
            theirs_file.decrypt(&key, true).map_err(|e| report::file_error(&theirs_name, e))?;
        report::warnings(display, &ours.warnings);
        pairs.push(Pair { file, theirs_file, key, ours, theirs });
    }
    Ok(Views { pairs, blocks: sides.blocks })
}

impl Views {
    /// The plaintext of both sides as one text, the alternatives between conflict markers.
    pub fn plaintext(&self, format: Format, display: &str) -> CliResult<Zeroizing<Vec<u8>>> {
        let emit = |side: fn(&Pair) -> &Opened| {
            let docs: Vec<Document> =
                self.pairs.iter().flat_map(|p| side(p).docs.iter().cloned()).collect();
            store::emit_plain(format, &docs).map_err(|e| report::file_error(display, e.into()))
        };
        let (o, t) = (emit(|p| &p.ours)?, emit(|p| &p.theirs)?);
        Ok(markers::join(&o, &t, markers::DEFAULT_MARKER_SIZE).text)
    }
}

/// `sealgate edit` on a conflicted file: shows the plaintext with the alternatives between
/// markers in the editor, and once the markers are gone writes a clean file with the ours
/// side's data key and metadata (values that match either side keep that side's ciphertext).
/// In a stream of sealed Secrets each document keeps its own key.
pub fn resolve(args: &EditArgs, input: Input, format: Format) -> CliResult {
    let views = open(&input, format, args.ignore_mac)?;
    let plain = views.plaintext(format, &input.display)?;
    eprintln!(
        "sealgate edit: {}: {} conflict block(s); keep the right lines and remove the markers",
        input.display, views.blocks
    );
    let scratch = Scratch::create(&args.file, &plain)?;
    let docs = edit_until_resolved(&scratch, format, &plain)?;
    let stream = views.pairs.len() > 1;
    if stream && docs.len() != views.pairs.len() {
        return Err(CliError::new(
            Code::CouldNotReadInput,
            format!(
                "{}: the resolution has {} documents where the file has {}; each sealed Secret \
                 must stay one document",
                input.display,
                docs.len(),
                views.pairs.len()
            ),
        )
        .hint("nothing was written; the file still has its conflicts"));
    }
    let now = Timestamp::now_utc();
    let mut texts = Vec::with_capacity(views.pairs.len());
    let mut edited = docs.into_iter();
    for pair in views.pairs {
        let Pair { file, theirs_file, key, .. } = pair;
        let mine: Vec<Document> =
            if stream { edited.next().into_iter().collect() } else { edited.by_ref().collect() };
        let stash = merge::gather_ivs(&key, &file.metadata, &[&theirs_file, &file]);
        let resolved = Opened { docs: mine, stash, warnings: Vec::new() };
        let out =
            file.reseal(resolved, &key, now).map_err(|e| report::file_error(&input.display, e))?;
        texts.push(out.emit().map_err(|e| report::file_error(&input.display, e))?);
    }
    write_atomic(&args.file, &units::join(&texts), false)
}

/// Opens the editor until the markers are gone and the content parses (asking again only on
/// an interactive terminal).
fn edit_until_resolved(
    scratch: &Scratch,
    format: Format,
    original: &[u8],
) -> CliResult<Vec<Document>> {
    let editor = editor()?;
    loop {
        run_editor(&editor, &scratch.path)?;
        let edited = scratch.read()?;
        if edited.as_slice() == original {
            return Err(CliError::new(
                Code::FileNotModified,
                "the file has not changed; the conflicts are still there and nothing was written",
            ));
        }
        let problem = if markers::has_any_marker(&edited) {
            "conflict markers are still in the file (lines starting with <<<<<<<, =======, \
             ||||||| or >>>>>>>)"
                .to_owned()
        } else {
            match store::parse_plain(format, &edited) {
                Ok(docs) => return Ok(docs),
                Err(e) => format!("the edited file is not valid {}: {}", format.name(), chain(&e)),
            }
        };
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(Code::CouldNotReadInput, problem)
                .hint("nothing was written; the file still has its conflicts"));
        }
        eprintln!("error: {problem}");
        eprint!("Press Enter to return to the editor, or Ctrl-C to abandon the changes: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
}
