//! `sealgate edit`: decrypt into a private temporary file, open `$EDITOR`, and re-encrypt with
//! the same data key so unchanged values keep their exact ciphertext.
//!
//! The plaintext exists on disk only inside a fresh mode-0700 directory, in a mode-0600 file
//! that is overwritten with zeros and removed afterwards, whatever happens. A file with conflict
//! markers from `sealgate merge` is resolved through [`super::conflicts`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::{EncryptParams, SopsFile};
use sealgate::format::store::{self, Format};
use sealgate::format::tree::Document;
use zeroize::Zeroizing;

use super::{Context, conflicts, unlock};
use crate::args::{EditArgs, RuleArgs};
use crate::exit::{CliError, CliResult, Code, chain};
use crate::io::{self, Input, write_atomic};
use crate::{keysel, report};

/// A plaintext file in a private directory, wiped and removed on drop.
pub(super) struct Scratch {
    _dir: tempfile::TempDir,
    pub(super) path: PathBuf,
}

impl Scratch {
    pub(super) fn create(name_hint: &Path, content: &[u8]) -> CliResult<Scratch> {
        let fail = |e: std::io::Error| {
            CliError::new(
                Code::CouldNotWriteOutput,
                format!("failed to create a private temporary file: {e}"),
            )
        };
        let dir = tempfile::Builder::new().prefix("sealgate-edit-").tempdir().map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .map_err(fail)?;
        }
        let name = name_hint.file_name().map(|n| n.to_owned()).unwrap_or_else(|| "secrets".into());
        let path = dir.path().join(name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&path).map_err(fail)?;
        f.write_all(content).and_then(|_| f.sync_all()).map_err(fail)?;
        Ok(Scratch { _dir: dir, path })
    }

    pub(super) fn read(&self) -> CliResult<Zeroizing<Vec<u8>>> {
        std::fs::read(&self.path).map(Zeroizing::new).map_err(|e| {
            CliError::new(
                Code::CouldNotReadInput,
                format!("failed to read back the edited file: {e}"),
            )
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::metadata(&self.path) {
            let zeros = vec![0u8; meta.len() as usize];
            let _ = std::fs::write(&self.path, zeros);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `SEALGATE_EDITOR`, `SOPS_EDITOR`, `EDITOR`, else the first of vim, nano, vi on PATH.
pub(super) fn editor() -> CliResult<String> {
    for var in ["SEALGATE_EDITOR", "SOPS_EDITOR", "EDITOR"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return Ok(v);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for candidate in ["vim", "nano", "vi"] {
        if std::env::split_paths(&path).any(|d| d.join(candidate).is_file()) {
            return Ok(candidate.to_owned());
        }
    }
    Err(CliError::new(Code::NoEditor, "no editor found")
        .hint("set EDITOR (for example EDITOR=nano)"))
}

pub(super) fn run_editor(editor: &str, file: &Path) -> CliResult {
    // Through the shell, so that EDITOR="code --wait" works as it does for git and sops.
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file)
        .status()
        .map_err(|e| {
            CliError::new(Code::NoEditor, format!("failed to start the editor {editor:?}: {e}"))
        })?;
    if !status.success() {
        return Err(CliError::new(
            Code::NoEditor,
            format!("the editor {editor:?} exited with {status}"),
        )
        .hint("nothing was written; the encrypted file is unchanged"));
    }
    Ok(())
}

/// Names the file an editing error is about.
fn about(file: &str) -> impl Fn(CliError) -> CliError + '_ {
    move |mut e| {
        e.message = format!("{file}: {}", e.message);
        e
    }
}

/// Opens the editor until the content parses (asking again only on an interactive terminal).
fn edit_until_valid(
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
                "nothing was changed in the editor; the file is left as it was",
            ));
        }
        match store::parse_plain(format, &edited) {
            Ok(docs) => return Ok(docs),
            Err(e) => {
                let message =
                    format!("the edited file is not valid {}: {}", format.name(), chain(&e));
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::new(Code::CouldNotReadInput, message)
                        .hint("nothing was written; the encrypted file is unchanged"));
                }
                eprintln!("error: {message}");
                eprint!("Press Enter to return to the editor, or Ctrl-C to abandon the changes: ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
            }
        }
    }
}

pub fn run(ctx: &Context, args: EditArgs) -> CliResult {
    let format = io::input_format(args.input_type, Some(&args.file), None)?;
    if !args.file.exists() {
        return create_new(ctx, &args, format);
    }
    let input = Input::read_path(&args.file)?;
    if conflicts::has_markers(&input.bytes) {
        return conflicts::resolve(&args, input, format);
    }
    let unlocked = unlock(&input, format)?;
    let opened = unlocked
        .file
        .decrypt(&unlocked.key, args.ignore_mac)
        .map_err(|e| report::file_error(&input.display, e))?;
    report::warnings(&input.display, &opened.warnings);
    let plain = Zeroizing::new(
        store::emit_plain(format, &opened.docs)
            .map_err(|e| report::file_error(&input.display, e.into()))?,
    );
    let scratch = Scratch::create(&args.file, &plain)?;
    let docs = edit_until_valid(&scratch, format, &plain).map_err(about(&input.display))?;
    let edited = sealgate::format::file::Opened { docs, stash: opened.stash, warnings: Vec::new() };
    let file = unlocked
        .file
        .reseal(edited, &unlocked.key, Timestamp::now_utc())
        .map_err(|e| report::file_error(&input.display, e))?;
    let bytes = file.into_bytes().map_err(|e| report::file_error(&input.display, e))?;
    write_atomic(&args.file, &bytes, false)
}

/// A file that does not exist yet: edit from empty, then encrypt per the rules.
fn create_new(ctx: &Context, args: &EditArgs, format: Format) -> CliResult {
    let display = args.file.display().to_string();
    let settings = keysel::encrypt_settings(
        ctx,
        Some(&args.file),
        &args.recipients,
        &RuleArgs::default(),
        false,
        format,
    )?;
    let scratch = Scratch::create(&args.file, b"")?;
    let docs = edit_until_valid(&scratch, format, b"").map_err(about(&display))?;
    let key = DataKey::generate();
    let (key_groups, shamir_threshold) = keysel::wrap(&key, &settings)?;
    let params = EncryptParams {
        rule: settings.rule,
        mac_only_encrypted: settings.mac_only_encrypted,
        key_groups,
        shamir_threshold,
    };
    let file = SopsFile::encrypt(format, docs, &key, params, None, Timestamp::now_utc())
        .map_err(|e| report::file_error(&display, e))?;
    let bytes = file.into_bytes().map_err(|e| report::file_error(&display, e))?;
    write_atomic(&args.file, &bytes, false)
}
