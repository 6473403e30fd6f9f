//! `sealgate set` and `sealgate unset`: change one value in place; every other value keeps its
//! exact ciphertext.

use std::io::Read;

use sealgate::format::Timestamp;
use sealgate::format::path::{PathError, TreePath, node_from_json};
use zeroize::Zeroizing;

use super::{Context, unlock};
use crate::args::{SetArgs, UnsetArgs};
use crate::exit::{CliError, CliResult, Code, chain};
use crate::io::{self, Input, write_atomic};
use crate::report;

fn parse_path(text: &str) -> CliResult<TreePath> {
    TreePath::parse(text).map_err(|e| CliError::new(Code::InvalidTreePath, e.to_string()))
}

fn read_value(args: &SetArgs) -> CliResult<Zeroizing<String>> {
    if let Some(v) = &args.value {
        return Ok(Zeroizing::new(v.clone()));
    }
    let mut text = Zeroizing::new(String::new());
    let result = match &args.value_file {
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_string(&mut text)),
        None => std::io::stdin().read_to_string(&mut text),
    };
    result.map_err(|e| {
        CliError::new(Code::CouldNotReadInput, format!("failed to read the value: {e}"))
    })?;
    Ok(text)
}

pub fn run_set(_ctx: &Context, args: SetArgs) -> CliResult {
    let path = parse_path(&args.path)?;
    let value_text = read_value(&args)?;
    let json: serde_json::Value = serde_json::from_str(&value_text).map_err(|e| {
        CliError::new(
            Code::InvalidSetValue,
            format!("{}: the value for {path} is not valid JSON ({e})", args.file.display()),
        )
        .hint(r#"values are JSON: quote strings ('"text"'), numbers and true/false as they are"#)
    })?;
    let node = node_from_json(&json);
    let (input, unlocked, mut opened) = open_in_place(&args.file, args.input_type)?;
    let doc = first_document(&input, &mut opened)?;
    let changed = path.set(doc, node).map_err(|e| {
        CliError::new(Code::Generic, format!("{}: {path}: {}", input.display, chain(&e)))
    })?;
    if !changed && args.idempotent {
        return Ok(());
    }
    save(&input, unlocked.file.reseal(opened, &unlocked.key, Timestamp::now_utc()))
}

pub fn run_unset(_ctx: &Context, args: UnsetArgs) -> CliResult {
    let path = parse_path(&args.path)?;
    let (input, unlocked, mut opened) = open_in_place(&args.file, args.input_type)?;
    let doc = first_document(&input, &mut opened)?;
    match path.unset(doc) {
        Ok(()) => {}
        Err(PathError::NotFound(_) | PathError::OutOfBounds(_)) if args.idempotent => return Ok(()),
        Err(e) => {
            return Err(CliError::new(
                Code::Generic,
                format!("{}: {}: {}", input.display, path, chain(&e)),
            ));
        }
    }
    save(&input, unlocked.file.reseal(opened, &unlocked.key, Timestamp::now_utc()))
}

/// Reads, unlocks and decrypts (MAC checked) a file that is about to be changed in place.
fn open_in_place(
    file: &std::path::Path,
    input_type: Option<crate::args::FileFormat>,
) -> CliResult<(Input, super::Unlocked, sealgate::format::file::Opened)> {
    let input = Input::read_path(file)?;
    let format = io::input_format(input_type, input.path.as_deref(), None)?;
    let unlocked = unlock(&input, format)?;
    let opened = unlocked
        .file
        .decrypt(&unlocked.key, false)
        .map_err(|e| report::file_error(&input.display, e))?;
    report::warnings(&input.display, &opened.warnings);
    Ok((input, unlocked, opened))
}

/// The document `set` and `unset` work on: the first, as in sops.
fn first_document<'a>(
    input: &Input,
    opened: &'a mut sealgate::format::file::Opened,
) -> CliResult<&'a mut sealgate::format::Document> {
    opened.docs.first_mut().ok_or_else(|| {
        CliError::new(Code::Generic, format!("{}: the file has no document", input.display))
    })
}

fn save(
    input: &Input,
    file: Result<sealgate::format::file::SopsFile, sealgate::format::file::FileError>,
) -> CliResult {
    let file = file.map_err(|e| report::file_error(&input.display, e))?;
    let bytes = file.into_bytes().map_err(|e| report::file_error(&input.display, e))?;
    let path = input.path.as_deref().expect("set and unset read a path");
    write_atomic(path, &bytes, false)
}
