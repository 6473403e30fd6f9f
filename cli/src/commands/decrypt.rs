//! `sealgate decrypt`: the whole plaintext, or one value with `--extract`. Nothing is printed
//! unless every value decrypted and the MAC verified.

use sealgate::format::path::TreePath;
use sealgate::format::store;

use super::{Context, unlock};
use crate::args::DecryptArgs;
use crate::exit::{CliError, CliResult, Code, chain};
use crate::io::{self, Input, Output};
use crate::report;

pub fn run(_ctx: &Context, args: DecryptArgs) -> CliResult {
    let input = Input::read(&args.io.file)?;
    let format = io::input_format(
        args.io.input_type,
        input.path.as_deref(),
        args.io.filename_override.as_deref(),
    )?;
    let out_format = args.io.output_type.map(io::to_format).unwrap_or(format);
    // Parse the path before decrypting anything.
    let extract = args
        .extract
        .as_deref()
        .map(|p| {
            TreePath::parse(p).map_err(|e| CliError::new(Code::InvalidTreePath, e.to_string()))
        })
        .transpose()?;
    let unlocked = unlock(&input, format)?;
    let opened = unlocked
        .file
        .reveal(&unlocked.key, args.ignore_mac)
        .map_err(|e| report::file_error(&input.display, e))?;
    report::warnings(&input.display, &opened.warnings);
    let bytes = match extract {
        Some(path) => {
            let first = opened.docs.first().ok_or_else(|| {
                CliError::new(Code::Generic, format!("{}: the file has no document", input.display))
            })?;
            let node = path.get(first).map_err(|e| {
                CliError::new(Code::Generic, format!("{}: {path}: {}", input.display, chain(&e)))
            })?;
            store::emit_value(out_format, node)
                .map_err(|e| report::file_error(&input.display, e.into()))?
        }
        None => store::emit_plain(out_format, &opened.docs)
            .map_err(|e| report::file_error(&input.display, e.into()))?,
    };
    Output::choose(args.io.in_place, args.io.output.as_deref(), &input)?.write(&bytes, true)
}
