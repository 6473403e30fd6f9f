//! `sealgate diff FILE`: a git `textconv` driver. Prints the decrypted file exactly as
//! `sealgate decrypt` does (format from the extension). It never fails `git diff`: a file that
//! cannot be decrypted (no key, not encrypted, damaged) is printed as it is, with one line on
//! standard error saying why. A file with conflict markers from `sealgate merge` prints its
//! plaintext alternatives between the same markers; a stream of sealed Secrets (one SOPS file
//! per document) prints every document decrypted with its own key.

use std::io::Write;

use sealgate::format::store::{self, Format};
use zeroize::Zeroizing;

use super::units::{self, Keys};
use super::{Context, conflicts};
use crate::args::DiffArgs;
use crate::exit::{CliError, CliResult, Code};
use crate::io::Input;
use crate::report;

pub fn run(_ctx: &Context, args: DiffArgs) -> CliResult {
    let input = match Input::read_path(&args.file) {
        Ok(input) => input,
        Err(e) => {
            // Nothing to show; an empty text still lets git go on.
            eprintln!("sealgate diff: {}", e.message);
            return Ok(());
        }
    };
    let format = Format::from_path(&args.file);
    let shown = match plaintext(&input, format) {
        Ok(plain) => plain,
        Err(e) => {
            eprintln!("sealgate diff: {}: shown as it is: {}", input.display, reason(&e, &input));
            input.bytes
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&shown).and_then(|_| out.flush()).map_err(|e| {
        CliError::new(Code::CouldNotWriteOutput, format!("failed to write standard output: {e}"))
    })
}

/// The decrypted text, or why there is none (the error message names no value).
fn plaintext(input: &Input, format: Format) -> CliResult<Zeroizing<Vec<u8>>> {
    if conflicts::has_markers(&input.bytes) {
        return conflicts::open(input, format, false)?.plaintext(format, &input.display);
    }
    // A stream of sealed Secrets holds one SOPS file per document, each with its own key.
    let files =
        units::parse(format, &input.bytes).map_err(|e| report::file_error(&input.display, e))?;
    let mut keys = Keys::new();
    let mut docs = Vec::new();
    for file in &files {
        let key = keys.unwrap(file, &input.display)?;
        let opened =
            file.decrypt(&key, false).map_err(|e| report::file_error(&input.display, e))?;
        report::warnings(&input.display, &opened.warnings);
        docs.extend(opened.docs);
    }
    store::emit_plain(format, &docs).map_err(|e| report::file_error(&input.display, e.into()))
}

/// The error on one line, without repeating the file name.
fn reason(e: &CliError, input: &Input) -> String {
    let prefix = format!("{}: ", input.display);
    let message = e.message.strip_prefix(&prefix).unwrap_or(&e.message);
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}
