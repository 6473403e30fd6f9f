//! Reading inputs and writing outputs: `-` for standard streams, formats from extensions, and
//! atomic writes (a temporary file in the same directory, renamed over the target).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sealgate::format::store::Format;
use zeroize::Zeroizing;

use crate::args::FileFormat;
use crate::exit::{CliError, CliResult, Code};

/// An input read into memory, with the name used in messages.
pub struct Input {
    pub bytes: Zeroizing<Vec<u8>>,
    /// `-` for standard input, else the path.
    pub path: Option<PathBuf>,
    pub display: String,
}

impl Input {
    pub fn read(spec: &str) -> CliResult<Input> {
        if spec == "-" {
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                CliError::new(
                    Code::CouldNotReadInput,
                    format!("failed to read standard input: {e}"),
                )
            })?;
            return Ok(Input { bytes: buf, path: None, display: "<stdin>".to_owned() });
        }
        Input::read_path(Path::new(spec))
    }

    pub fn read_path(path: &Path) -> CliResult<Input> {
        let display = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                Ok(Input { bytes: Zeroizing::new(bytes), path: Some(path.to_owned()), display })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(CliError::new(Code::FileNotFound, format!("{display}: no such file")))
            }
            Err(e) => Err(CliError::new(
                Code::CouldNotReadInput,
                format!("failed to read {display}: {e}"),
            )),
        }
    }
}

pub fn to_format(f: FileFormat) -> Format {
    match f {
        FileFormat::Yaml => Format::Yaml,
        FileFormat::Json => Format::Json,
        FileFormat::Dotenv => Format::Dotenv,
        FileFormat::Ini => Format::Ini,
        FileFormat::Binary => Format::Binary,
    }
}

/// The input format: `--input-type`, else the extension of `--filename-override` or the path.
pub fn input_format(
    explicit: Option<FileFormat>,
    path: Option<&Path>,
    filename_override: Option<&str>,
) -> CliResult<Format> {
    if let Some(f) = explicit {
        return Ok(to_format(f));
    }
    if let Some(name) = filename_override {
        return Ok(Format::from_path(Path::new(name)));
    }
    match path {
        Some(p) => Ok(Format::from_path(p)),
        None => {
            Err(CliError::new(Code::CouldNotReadInput, "cannot tell the format of standard input")
                .hint("pass --input-type yaml|json|dotenv|ini|binary, or --filename-override NAME"))
        }
    }
}

/// Where a command's result goes.
pub enum Output {
    Stdout,
    File(PathBuf),
}

impl Output {
    /// `-i` writes over the input; `--output PATH` (or `-`) elsewhere; otherwise stdout.
    pub fn choose(in_place: bool, output: Option<&str>, input: &Input) -> CliResult<Output> {
        if in_place {
            return match &input.path {
                Some(p) => Ok(Output::File(p.clone())),
                None => Err(CliError::new(
                    Code::CouldNotWriteOutput,
                    "--in-place needs a file, not standard input",
                )),
            };
        }
        Ok(match output {
            None | Some("-") => Output::Stdout,
            Some(p) => Output::File(PathBuf::from(p)),
        })
    }

    /// Writes the bytes. Files are replaced atomically; `private` files (plaintext) are
    /// created with mode 0600, others keep the mode of the file they replace.
    pub fn write(&self, bytes: &[u8], private: bool) -> CliResult {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| {
                    CliError::new(
                        Code::CouldNotWriteOutput,
                        format!("failed to write standard output: {e}"),
                    )
                })
            }
            Output::File(path) => write_atomic(path, bytes, private),
        }
    }
}

impl Output {
    /// Streams the output through `produce` (for results too large to build in memory first).
    /// Files are still replaced atomically, with the same modes as [`Output::write`].
    pub fn write_stream(
        &self,
        private: bool,
        produce: impl FnOnce(&mut dyn Write) -> CliResult,
    ) -> CliResult {
        match self {
            Output::Stdout => {
                let stdout = std::io::stdout();
                let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
                produce(&mut w)
            }
            Output::File(path) => {
                let fail = write_failure(path);
                let tmp = temp_beside(path, private)?;
                {
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
                    produce(&mut w)?;
                    w.flush().map_err(&fail)?;
                }
                tmp.as_file().sync_all().map_err(&fail)?;
                tmp.persist(path).map_err(|e| fail(e.error))?;
                Ok(())
            }
        }
    }
}

fn write_failure(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| {
        CliError::new(Code::CouldNotWriteOutput, format!("failed to write {}: {e}", path.display()))
    }
}

/// A temporary file in the directory of `path`, to be renamed over it: mode 0600 when
/// `private` (plaintext), else the mode of the file it replaces (0644 for a new one).
fn temp_beside(path: &Path, private: bool) -> CliResult<tempfile::NamedTempFile> {
    let fail = write_failure(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(CliError::new(
            Code::CouldNotWriteOutput,
            format!(
                "failed to write {}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
        ));
    }
    let tmp = tempfile::Builder::new().prefix(".sealgate-").tempfile_in(&dir).map_err(&fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if private {
            0o600
        } else {
            std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644)
        };
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(&fail)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(tmp)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// crash never leaves a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> CliResult {
    let fail = write_failure(path);
    let mut tmp = temp_beside(path, private)?;
    tmp.write_all(bytes).and_then(|_| tmp.as_file().sync_all()).map_err(&fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
