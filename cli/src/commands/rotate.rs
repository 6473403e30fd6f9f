//! `sealgate rotate`: a new data key for a file. Every value is re-encrypted under it (keeping
//! each value's IV, as sops does), the MAC and `lastmodified` are renewed, and the key is
//! wrapped for the file's recipients, with `--add-age` / `--rm-age` applied first.

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::{EncryptParams, SopsFile};
use sealgate::keys::{AgeRecipient, KeySpec};

use super::{Context, unlock};
use crate::args::RotateArgs;
use crate::exit::{CliError, CliResult, Code, chain};
use crate::io::{self, Input, Output};
use crate::{keysel, report};

pub fn run(_ctx: &Context, args: RotateArgs) -> CliResult {
    let input = Input::read(&args.io.file)?;
    let format = io::input_format(
        args.io.input_type,
        input.path.as_deref(),
        args.io.filename_override.as_deref(),
    )?;
    let unlocked = unlock(&input, format)?;
    let opened = unlocked
        .file
        .decrypt(&unlocked.key, false)
        .map_err(|e| report::file_error(&input.display, e))?;
    report::warnings(&input.display, &opened.warnings);

    let mut groups = keysel::groups_of(&unlocked.file.metadata, &input.display)?;
    let parse = |flag: &'static str| {
        move |r: &String| {
            AgeRecipient::parse(r.trim())
                .map_err(|e| CliError::new(Code::NoEncryptionKey, format!("{flag}: {}", chain(&e))))
        }
    };
    let removed: Vec<AgeRecipient> =
        args.rm_age.iter().map(parse("--rm-age")).collect::<Result<_, _>>()?;
    for group in &mut groups {
        group.0.retain(
            |k| !matches!(k, KeySpec::Age(a) if removed.iter().any(|r| r.as_str() == a.as_str())),
        );
    }
    if let Some(first) = groups.first_mut() {
        for r in &args.add_age {
            let added = parse("--add-age")(r)?;
            if !first.0.iter().any(|k| matches!(k, KeySpec::Age(a) if a.as_str() == added.as_str()))
            {
                first.0.push(KeySpec::Age(added));
            }
        }
    }
    groups.retain(|g| !g.0.is_empty());
    if groups.is_empty() {
        return Err(CliError::new(
            Code::NoEncryptionKey,
            format!("{}: rotating would leave the file without any recipient", input.display),
        )
        .hint("keep at least one recipient, or add one with --add-age"));
    }
    let md = &unlocked.file.metadata;
    let threshold = if groups.len() > 1 { md.shamir_threshold.min(groups.len()) } else { 0 };
    let settings = keysel::EncryptSettings {
        groups,
        threshold,
        rule: md.rule.clone(),
        mac_only_encrypted: md.mac_only_encrypted,
    };
    let key = DataKey::generate();
    let (key_groups, shamir_threshold) = keysel::wrap(&key, &settings)?;
    let params = EncryptParams {
        rule: settings.rule,
        mac_only_encrypted: settings.mac_only_encrypted,
        key_groups,
        shamir_threshold,
    };
    let file = SopsFile::encrypt(
        format,
        opened.docs,
        &key,
        params,
        Some(&opened.stash),
        Timestamp::now_utc(),
    )
    .map_err(|e| report::file_error(&input.display, e))?;
    let bytes = file.into_bytes().map_err(|e| report::file_error(&input.display, e))?;
    Output::choose(args.io.in_place, args.io.output.as_deref(), &input)?.write(&bytes, false)
}
