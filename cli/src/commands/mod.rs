//! One module per subcommand, and what they share: opening an encrypted input and recovering
//! its data key.

mod audit;
mod check;
mod conflicts;
mod decrypt;
mod diff;
mod edit;
mod encrypt;
mod filestatus;
mod keygen;
mod merge;
mod rotate;
mod seal;
mod set;
mod units;
mod updatekeys;

use std::path::PathBuf;

use sealgate::format::cipher::DataKey;
use sealgate::format::file::SopsFile;
use sealgate::format::store::Format;

use crate::args::{Cli, Command};
use crate::exit::CliResult;
use crate::io::Input;
use crate::{keysel, report};

/// What every command may need besides its own arguments.
pub struct Context {
    /// `--config` / `SEALGATE_CONFIG`, else `SOPS_CONFIG`.
    pub config: Option<PathBuf>,
}

pub fn run(cli: Cli) -> CliResult {
    let config = cli.config.or_else(|| std::env::var_os("SOPS_CONFIG").map(PathBuf::from));
    let ctx = Context { config };
    match cli.command {
        Command::Encrypt(a) => encrypt::run(&ctx, a),
        Command::Decrypt(a) => decrypt::run(&ctx, a),
        Command::Edit(a) => edit::run(&ctx, a),
        Command::Set(a) => set::run_set(&ctx, a),
        Command::Unset(a) => set::run_unset(&ctx, a),
        Command::Updatekeys(a) => updatekeys::run(&ctx, a),
        Command::Rotate(a) => rotate::run(&ctx, a),
        Command::Keygen(a) => keygen::run(a),
        Command::Filestatus(a) => filestatus::run(a),
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "sealgate", &mut std::io::stdout());
            Ok(())
        }
        Command::Seal(a) => seal::run_seal(&ctx, a),
        Command::Unseal(a) => seal::run_unseal(&ctx, a),
        Command::Diff(a) => diff::run(&ctx, a),
        Command::Merge(a) => merge::run(&ctx, a),
        Command::Audit(a) => audit::run(a),
        Command::Check(a) => check::run(&ctx, a),
    }
}

/// An encrypted input, parsed, with its data key recovered.
pub struct Unlocked {
    pub file: SopsFile,
    pub key: DataKey,
}

/// Parses an encrypted input and recovers its data key with the identities found as sops
/// finds them.
pub fn unlock(input: &Input, format: Format) -> CliResult<Unlocked> {
    let file =
        SopsFile::parse(format, &input.bytes).map_err(|e| report::file_error(&input.display, e))?;
    let keyring = keysel::keyring();
    let key = keysel::unwrap(&keyring, &file, &input.display)?;
    Ok(Unlocked { file, key })
}
