//! `sealgate keygen`: a new age X25519 identity in age-keygen's format, written with mode 0600.

use sealgate::format::Timestamp;

use crate::args::KeygenArgs;
use crate::exit::{CliError, CliResult, Code};
use crate::io::{Output, write_atomic};

pub fn run(args: KeygenArgs) -> CliResult {
    let (identity_file, recipient) = sealgate::keys::generate_identity_file(Timestamp::now_utc());
    match &args.output {
        Some(path) => {
            if path.exists() {
                return Err(CliError::new(
                    Code::CouldNotWriteOutput,
                    format!("{} already exists; refusing to overwrite an identity", path.display()),
                )
                .hint("choose another path, or remove the old file first if you really mean to"));
            }
            write_atomic(path, identity_file.as_bytes(), true)?;
        }
        None => Output::Stdout.write(identity_file.as_bytes(), true)?,
    }
    eprintln!("Public key: {recipient}");
    Ok(())
}
