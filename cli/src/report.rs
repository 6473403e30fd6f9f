//! Turning library errors into what the user reads: the file named, the exit code, and a hint
//! on what to do. Nothing here ever includes a secret value.

use sealgate::format::engine::Warning;
use sealgate::format::file::FileError;
use sealgate::format::store::StoreError;

use crate::exit::{CliError, Code, chain};

/// Maps a file-level error on `file` to the CLI error the user sees.
pub fn file_error(file: &str, err: FileError) -> CliError {
    match err {
        FileError::Store(StoreError::Empty { .. }) => {
            CliError::new(Code::EmptyInput, format!("{file} is empty: there is nothing to encrypt or decrypt"))
        }
        FileError::Store(StoreError::NoMetadata { .. }) => {
            CliError::new(Code::Generic, format!("{file} is not encrypted: sops metadata not found"))
                .hint("encrypt it first with `sealgate encrypt`, or check that you passed the right file")
        }
        FileError::Store(
            e @ (StoreError::Unrepresentable { .. }
            | StoreError::CannotExtract { .. }
            | StoreError::NoDocument { .. }),
        ) => CliError::new(Code::CannotWriteFormat, format!("{file}: {}", chain(&e)))
            .hint("choose another --output-type, or extract a single value"),
        FileError::Store(e @ StoreError::Metadata { .. }) => {
            CliError::new(Code::Generic, format!("{file}: {}", chain(&e)))
                .hint("the sops metadata block was edited by hand; restore it from version control")
        }
        FileError::Store(e) => CliError::new(Code::CouldNotReadInput, format!("failed to read {file}: {}", chain(&e))),
        FileError::Metadata(e) => {
            CliError::new(Code::Generic, format!("{file}: {}", chain(&e)))
                .hint("the sops metadata block was edited by hand; restore it from version control")
        }
        FileError::Tree(e) => CliError::new(Code::DecryptTree, format!("{file}: {}", chain(&e))).hint(
            "the file was edited by hand or damaged; restore it from version control and make changes with `sealgate edit` or `sealgate set`",
        ),
        FileError::Mac(e) => CliError::new(Code::MacMismatch, format!("{file}: {}", chain(&e))).hint(
            "restore the file from version control; only for recovery, --ignore-mac shows the values anyway",
        ),
        FileError::AlreadyEncrypted => {
            CliError::new(Code::AlreadyEncrypted, format!("{file} is already encrypted"))
                .hint("use `sealgate edit` or `sealgate set` to change it, or `sealgate rotate` for a new data key")
        }
        FileError::Write(e) => {
            CliError::new(Code::CouldNotWriteOutput, format!("{file}: failed to write the output: {e}"))
        }
        FileError::ReservedKey(k) => CliError::new(
            Code::EncryptTree,
            format!("{file}: the top-level key {k:?} is reserved for sops metadata"),
        )
        .hint("rename that key"),
    }
}

/// Prints non-fatal warnings to standard error.
pub fn warnings(file: &str, warnings: &[Warning]) {
    for w in warnings {
        eprintln!("warning: {file}: {w}");
    }
}
