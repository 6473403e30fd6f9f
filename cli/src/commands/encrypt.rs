//! `sealgate encrypt`: a new data key, wrapped for the recipients, and every selected value
//! encrypted.

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::{EncryptParams, FileError, SopsFile};
use sealgate::format::store::{self, Format};

use super::Context;
use crate::args::EncryptArgs;
use crate::exit::CliResult;
use crate::io::{self, Input, Output};
use crate::{keysel, report};

pub fn run(ctx: &Context, args: EncryptArgs) -> CliResult {
    let input = Input::read(&args.io.file)?;
    let format = io::input_format(
        args.io.input_type,
        input.path.as_deref(),
        args.io.filename_override.as_deref(),
    )?;
    let out_format = args.io.output_type.map(io::to_format).unwrap_or(format);
    // A binary file is one value: it is streamed rather than built into a document.
    let streamed = format == Format::Binary && out_format == Format::Binary;
    let docs = if streamed {
        Vec::new()
    } else {
        // Parsed once: the check for metadata looks at the parsed documents.
        let docs = store::parse_plain(format, &input.bytes)
            .map_err(|e| report::file_error(&input.display, e.into()))?;
        if store::documents_have_metadata(format, &docs) {
            return Err(report::file_error(&input.display, FileError::AlreadyEncrypted));
        }
        docs
    };
    let rule_path = keysel::rule_path(input.path.as_deref(), args.io.filename_override.as_deref());
    let settings = keysel::encrypt_settings(
        ctx,
        rule_path.as_deref(),
        &args.recipients,
        &args.rules,
        args.mac_only_encrypted,
        format,
    )?;
    let key = DataKey::generate();
    let (key_groups, shamir_threshold) = keysel::wrap(&key, &settings)?;
    let params = EncryptParams {
        rule: settings.rule,
        mac_only_encrypted: settings.mac_only_encrypted,
        key_groups,
        shamir_threshold,
    };
    let output = Output::choose(args.io.in_place, args.io.output.as_deref(), &input)?;
    if streamed {
        return output.write_stream(false, |w| {
            SopsFile::encrypt_binary_to(&input.bytes, &key, params, Timestamp::now_utc(), w)
                .map_err(|e| report::file_error(&input.display, e))
        });
    }
    // Encrypted as the input format (sops writes the default rule for any input but a binary
    // one), then written as the output format.
    let file = SopsFile::encrypt(format, docs, &key, params, None, Timestamp::now_utc())
        .map_err(|e| report::file_error(&input.display, e))?;
    // Written as it is produced: the encrypted text is several times the plaintext's size.
    output.write_stream(false, |w| {
        file.write_as(out_format, w).map_err(|e| report::file_error(&input.display, e))
    })
}
