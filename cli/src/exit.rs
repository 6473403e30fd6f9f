//! The CLI's error type and its exit codes: one table, sops's codes where the meaning is the
//! same, so scripts written for sops keep working.

use std::fmt;

/// Exit codes. Values shared with sops 3.11 keep sops's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Generic failure: not encrypted, bad metadata, config problems, key not found.
    Generic = 1,
    /// The input could not be read or parsed.
    CouldNotReadInput = 2,
    /// The output could not be written.
    CouldNotWriteOutput = 3,
    /// The result cannot be expressed in the output format (nested values in dotenv, NaN in
    /// JSON, a map extracted as dotenv).
    CannotWriteFormat = 4,
    /// `set`: the value is not valid JSON.
    InvalidSetValue = 7,
    /// Encrypting the tree failed.
    EncryptTree = 23,
    /// A value failed to decrypt: tampered, moved, wrong key, malformed.
    DecryptTree = 25,
    /// The MAC is missing, cannot be decrypted, or does not match.
    MacMismatch = 51,
    /// `--config` names a file that does not exist.
    ConfigNotFound = 61,
    /// The binding of an `EncryptedSecret` does not match its namespace/name or scope.
    BindingMismatch = 65,
    /// `seal`: the input is not a Kubernetes Secret, or is not a valid one.
    NotASecret = 66,
    /// `check`: plaintext secrets or likely credentials were found.
    Findings = 67,
    /// A malformed `--extract` or `set`/`unset` path.
    InvalidTreePath = 91,
    /// The input file is empty.
    EmptyInput = 92,
    /// The input file does not exist.
    FileNotFound = 100,
    /// No recipient to encrypt to.
    NoEncryptionKey = 111,
    /// The data key could not be recovered with the available identities.
    CouldNotRetrieveKey = 128,
    /// `edit`: nothing was changed.
    FileNotModified = 200,
    /// `edit`: no editor could be started.
    NoEditor = 201,
    /// `encrypt`: the input is already encrypted.
    AlreadyEncrypted = 203,
}

/// A failure the user sees: what went wrong (naming the file, key or object), an optional hint
/// on what to do, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
}

pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CliError { code, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

/// Formats an error and its chain of causes on one line: "a: b: c".
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
