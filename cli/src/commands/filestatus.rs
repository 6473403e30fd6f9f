//! `sealgate filestatus`: `{"encrypted":true}` when the file has complete sops metadata.

use sealgate::format::file::SopsFile;

use crate::args::FilestatusArgs;
use crate::exit::CliResult;
use crate::io::{self, Input};

pub fn run(args: FilestatusArgs) -> CliResult {
    let input = Input::read(&args.file)?;
    let format = io::input_format(args.input_type, input.path.as_deref(), None)?;
    let encrypted = match SopsFile::parse(format, &input.bytes) {
        Ok(f) => f.metadata.mac.is_some(),
        Err(_) => false,
    };
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(())
}
