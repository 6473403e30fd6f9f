//! `sealgate seal` and `sealgate unseal`: Kubernetes `Secret` manifests to `EncryptedSecret`s
//! bound to their namespace and name, and back.

use std::path::{Path, PathBuf};

use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::SopsFile;
use sealgate::format::store::{self, Format};
use sealgate::keys::KeySpec;
use sealgate::seal::{self, Scope, SealError, SecretManifest};

use super::Context;
use crate::args::{RecipientArgs, RuleArgs, ScopeArg, SealArgs, UnsealArgs};
use crate::exit::{CliError, CliResult, Code, chain};
use crate::io::{Input, Output};
use crate::{cluster, keysel, report};

/// Maps a sealing error to its exit code: bindings 65, input that is not a valid Secret 66,
/// decryption failures as `decrypt` reports them.
fn seal_error(file: &str, err: SealError) -> CliError {
    let code = match &err {
        SealError::InDocument { error, .. } => return seal_error(file, (**error).clone()),
        SealError::Binding(_) | SealError::BindingDecrypt { .. } => Code::BindingMismatch,
        SealError::Decrypt { source, .. } => {
            let mapped = report::file_error(file, source.clone());
            return CliError::new(mapped.code, format!("{file}: {}", chain(&err)))
                .hint(mapped.hint.unwrap_or_default());
        }
        SealError::Encrypt { .. } => Code::EncryptTree,
        SealError::PlaintextValue { .. } => Code::DecryptTree,
        SealError::NotAnEncryptedSecret { .. }
        | SealError::DocumentCount(_)
        | SealError::WrongEncryptionRule { .. }
        | SealError::TargetNamespaceUnknown { .. }
        | SealError::Malformed { .. }
        | SealError::SelectedKeyOutsideSpec { .. } => Code::Generic,
        _ => Code::NotASecret,
    };
    CliError::new(code, format!("{file}: {}", chain(&err)))
}

/// Manifests are YAML (multi-document allowed) or JSON.
fn manifest_format(input: &Input) -> Format {
    let json_ext = input.path.as_deref().and_then(Path::extension).is_some_and(|e| e == "json");
    let first = input.bytes.iter().find(|b| !b.is_ascii_whitespace());
    if json_ext || first == Some(&b'{') { Format::Json } else { Format::Yaml }
}

fn scope_of(s: ScopeArg) -> Scope {
    match s {
        ScopeArg::Strict => Scope::Strict,
        ScopeArg::Namespace => Scope::Namespace,
        ScopeArg::Cluster => Scope::Cluster,
    }
}

/// Recipients: `--age`, `--recipients-file` and `--from-cluster`'s, else the `.sops.yaml` rule for `rule_path`.
fn recipients(
    ctx: &Context,
    args: &SealArgs,
    rule_path: Option<&Path>,
) -> CliResult<keysel::EncryptSettings> {
    let mut age = args.age.clone();
    for path in &args.recipients_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::new(
                Code::CouldNotReadInput,
                format!("failed to read {}: {e}", path.display()),
            )
        })?;
        age.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if args.from_cluster {
        let source = cluster::ClusterSource {
            namespace: &args.controller_namespace,
            context: args.context.as_deref(),
        };
        age.push(cluster::newest_recipient(&source)?);
    }
    let flags = RecipientArgs { age, ..RecipientArgs::default() };
    let settings =
        keysel::encrypt_settings(ctx, rule_path, &flags, &RuleArgs::default(), true, Format::Yaml)?;
    for g in &settings.groups {
        if let Some(KeySpec::Foreign { key_type, .. }) =
            g.0.iter().find(|k| matches!(k, KeySpec::Foreign { .. }))
        {
            return Err(CliError::new(
                Code::NoEncryptionKey,
                format!(
                    "the creation rule names a {key_type} key, which sealgate cannot encrypt to"
                ),
            ));
        }
    }
    Ok(settings)
}

pub fn run_seal(ctx: &Context, args: SealArgs) -> CliResult {
    let scope = scope_of(args.scope);
    let mut secrets: Vec<(String, SecretManifest)> = Vec::new();
    for spec in &args.files {
        let input = Input::read(spec)?;
        let format = manifest_format(&input);
        let docs = store::parse_plain(format, &input.bytes)
            .map_err(|e| report::file_error(&input.display, e.into()))?;
        let (found, warnings) = SecretManifest::from_documents(&docs, args.namespace.as_deref())
            .map_err(|e| match e {
                // Which document, when there is more than one.
                SealError::InDocument { index, error } if docs.len() > 1 => {
                    seal_error(&format!("{} (document {index})", input.display), *error)
                }
                e => seal_error(&input.display, e),
            })?;
        for w in warnings {
            eprintln!("warning: {}: {w}", input.display);
        }
        secrets.extend(found.into_iter().map(|s| (input.display.clone(), s)));
    }
    if secrets.is_empty() {
        let inputs =
            args.files.iter().map(|f| if f == "-" { "<stdin>" } else { f }).collect::<Vec<_>>();
        return Err(CliError::new(
            Code::EmptyInput,
            format!("no Secret to seal in {}: every document is empty", inputs.join(", ")),
        ));
    }
    let rule_path = args
        .output
        .as_deref()
        .filter(|o| *o != "-")
        .map(PathBuf::from)
        .or_else(|| args.files.first().filter(|f| *f != "-").map(PathBuf::from));
    let settings = recipients(ctx, &args, rule_path.as_deref())?;
    let mut out = Vec::new();
    for (i, (display, secret)) in secrets.iter().enumerate() {
        let key = DataKey::generate();
        let (key_groups, threshold) = keysel::wrap(&key, &settings)?;
        let file =
            seal::seal(secret, scope, &key, key_groups, threshold, None, Timestamp::now_utc())
                .map_err(|e| seal_error(display, e))?;
        if i > 0 {
            out.extend_from_slice(b"---\n");
        }
        out.extend(file.emit().map_err(|e| report::file_error(display, e))?);
    }
    let target = match args.output.as_deref() {
        None | Some("-") => Output::Stdout,
        Some(p) => Output::File(PathBuf::from(p)),
    };
    target.write(&out, false)
}

pub fn run_unseal(_ctx: &Context, args: UnsealArgs) -> CliResult {
    let keyring = keysel::keyring();
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let mut count = 0;
    for spec in &args.files {
        let input = Input::read(spec)?;
        let format = manifest_format(&input);
        let files = SopsFile::parse_each_document(format, &input.bytes)
            .map_err(|e| report::file_error(&input.display, e))?;
        for file in files {
            let (namespace, name) =
                seal::target_of(&file, None).map_err(|e| seal_error(&input.display, e))?;
            let key = keysel::unwrap(&keyring, &file, &input.display)?;
            let opened = seal::open(&file, &key, &namespace, &name)
                .map_err(|e| seal_error(&input.display, e))?;
            let manifest = seal::unseal(&opened);
            if count > 0 {
                out.extend_from_slice(b"---\n");
            }
            out.extend_from_slice(
                &store::emit_plain(Format::Yaml, &[manifest])
                    .map_err(|e| report::file_error(&input.display, e.into()))?,
            );
            count += 1;
        }
    }
    let target = match args.output.as_deref() {
        None | Some("-") => Output::Stdout,
        Some(p) => Output::File(PathBuf::from(p)),
    };
    target.write(&out, true)
}
