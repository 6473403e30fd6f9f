//! Choosing keys for a command: identities for decryption, and for encryption the recipients
//! and encryption rule from flags and `.sops.yaml`, with sops's precedence.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sealgate::config::{Config, CreationRule, find_config};
use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::file::SopsFile;
use sealgate::format::metadata::{KeyGroup, Metadata};
use sealgate::format::rules::EncryptionRule;
use sealgate::format::store::Format;
use sealgate::keys::{
    self, AgeRecipient, GroupSpec, KeyError, KeyFailure, KeySpec, Keyring, TransitError,
    VaultTransitUri,
};
use sealgate::vault::VaultTransit;

use crate::args::{RecipientArgs, RuleArgs};
use crate::commands::Context;
use crate::exit::{CliError, CliResult, Code, chain};

/// What to do when no age identity fits.
const AGE_HINT: &str = "make an identity for one of the recipients available: \
     SOPS_AGE_KEY_FILE=PATH, SOPS_AGE_KEY, or ~/.config/sops/age/keys.txt";

/// The run's one Vault transit client, configured as sops configures its own (`VAULT_TOKEN` or
/// `~/.vault-token`, `VAULT_NAMESPACE`, `VAULT_CACERT`, …). It reads those settings and contacts
/// Vault only when an `hc_vault` key is actually used, so age-only files never need Vault.
fn transit() -> Arc<VaultTransit> {
    static TRANSIT: OnceLock<Arc<VaultTransit>> = OnceLock::new();
    TRANSIT.get_or_init(|| Arc::new(VaultTransit::from_process_env())).clone()
}

/// Identities found as sops finds them (environment and default files), and Vault transit.
pub fn keyring() -> Keyring {
    Keyring::discover(&keys::ProcessEnv).with_transit(transit())
}

/// What to do about a transit key that failed.
fn transit_hint(e: &TransitError) -> &'static str {
    match e {
        TransitError::Denied(_) => {
            "set VAULT_TOKEN to a token whose policy allows this transit key, or run `bao login` \
             / `vault login` (they write ~/.vault-token)"
        }
        TransitError::Unavailable(_) => {
            "check that the Vault server in the key's address is running and reachable (the \
             address comes from the key, not from VAULT_ADDR)"
        }
        _ => "check that the transit engine and key named in the key URI exist on that server",
    }
}

/// The hint for a failed unwrap: about Vault when an `hc_vault` key failed, about age always.
fn unwrap_hint(e: &KeyError) -> String {
    let failure = match e {
        KeyError::NoUsableKey(f) | KeyError::TooFewGroups(f) => Some(f),
        _ => None,
    };
    let transit_failures: Vec<&TransitError> = failure
        .iter()
        .flat_map(|f| &f.report.groups)
        .flat_map(|g| &g.attempts)
        .filter_map(|a| match &a.result {
            Err(KeyFailure::Transit(t)) => Some(t),
            _ => None,
        })
        .collect();
    let worst = transit_failures
        .iter()
        .find(|t| matches!(t, TransitError::Denied(_)))
        .or_else(|| transit_failures.iter().find(|t| matches!(t, TransitError::Unavailable(_))))
        .or_else(|| transit_failures.first());
    match worst {
        Some(t) => format!("for the Vault transit keys: {}; or {AGE_HINT}", transit_hint(t)),
        None => AGE_HINT.to_owned(),
    }
}

/// Recovers the data key of `file`, or says which recipients were tried and why none worked.
pub fn unwrap(keyring: &Keyring, file: &SopsFile, display: &str) -> CliResult<DataKey> {
    keyring.unwrap_data_key(&file.metadata).map(|(key, _report)| key).map_err(|e| {
        CliError::new(Code::CouldNotRetrieveKey, format!("{display}: {}", chain(&e)))
            .hint(unwrap_hint(&e))
    })
}

/// The path `.sops.yaml` rules are matched against.
pub fn rule_path(path: Option<&Path>, filename_override: Option<&str>) -> Option<PathBuf> {
    filename_override.map(PathBuf::from).or_else(|| path.map(Path::to_owned))
}

/// Everything needed to encrypt a new file.
pub struct EncryptSettings {
    pub groups: Vec<GroupSpec>,
    pub threshold: usize,
    pub rule: EncryptionRule,
    pub mac_only_encrypted: bool,
}

fn rule_from_flags(rules: &RuleArgs) -> CliResult<Option<EncryptionRule>> {
    let pairs = [
        ("unencrypted_suffix", &rules.unencrypted_suffix),
        ("encrypted_suffix", &rules.encrypted_suffix),
        ("unencrypted_regex", &rules.unencrypted_regex),
        ("encrypted_regex", &rules.encrypted_regex),
        ("unencrypted_comment_regex", &rules.unencrypted_comment_regex),
        ("encrypted_comment_regex", &rules.encrypted_comment_regex),
    ];
    for (name, value) in pairs {
        if let Some(v) = value {
            return EncryptionRule::from_field(name, v).map(Some).map_err(|e| {
                CliError::new(Code::Generic, format!("--{}: {e}", name.replace('_', "-")))
            });
        }
    }
    Ok(None)
}

/// Parses recipient strings (each may hold a comma-separated list).
pub fn age_recipients(values: &[String], flag: &str) -> CliResult<Vec<AgeRecipient>> {
    let mut out = Vec::new();
    for v in values.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let parsed = AgeRecipient::parse_list(v)
            .map_err(|e| CliError::new(Code::NoEncryptionKey, format!("{flag}: {}", chain(&e))))?;
        out.extend(parsed);
    }
    Ok(out)
}

fn groups_from_flags(recipients: &RecipientArgs) -> CliResult<Vec<GroupSpec>> {
    let mut keys: Vec<KeySpec> =
        age_recipients(&recipients.age, "--age")?.into_iter().map(KeySpec::Age).collect();
    for u in recipients.hc_vault_transit.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let parsed = VaultTransitUri::parse(u).map_err(|e| {
            CliError::new(Code::NoEncryptionKey, format!("--hc-vault-transit: {}", chain(&e)))
        })?;
        keys.push(KeySpec::HcVault(parsed));
    }
    Ok(if keys.is_empty() { Vec::new() } else { vec![GroupSpec(keys)] })
}

pub fn cwd() -> CliResult<PathBuf> {
    std::env::current_dir().map_err(|e| {
        CliError::new(Code::Generic, format!("cannot read the working directory: {e}"))
    })
}

/// Loads `.sops.yaml` (explicit, or found upward from the working directory).
pub fn load_config(ctx: &Context) -> CliResult<Option<Config>> {
    if let Some(explicit) = &ctx.config
        && !explicit.exists()
    {
        return Err(CliError::new(
            Code::ConfigNotFound,
            format!("config file {} does not exist", explicit.display()),
        ));
    }
    let found = find_config(&cwd()?, ctx.config.as_deref())
        .map_err(|e| CliError::new(Code::Generic, chain(&e)))?;
    if let Some(w) = &found.warning {
        eprintln!("warning: {w}");
    }
    let Some(path) = found.path else { return Ok(None) };
    let config = Config::load(&path).map_err(|e| CliError::new(Code::Generic, chain(&e)))?;
    for w in &config.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    Ok(Some(config))
}

/// The creation rule for `file` (`None` when there is no config or it has no rules).
pub fn rule_for<'c>(config: &'c Config, file: &Path) -> CliResult<Option<&'c CreationRule>> {
    config.rule_for(&cwd()?, file).map_err(|e| CliError::new(Code::Generic, chain(&e)))
}

/// Recipients and rule for encrypting `file`: key flags replace the rule's keys; the rule's
/// encryption rule and `mac_only_encrypted` apply unless flags override them (as sops).
pub fn encrypt_settings(
    ctx: &Context,
    file: Option<&Path>,
    recipients: &RecipientArgs,
    rules: &RuleArgs,
    mac_only_flag: bool,
    format: Format,
) -> CliResult<EncryptSettings> {
    let flag_rule = rule_from_flags(rules)?;
    let mut settings = EncryptSettings {
        groups: groups_from_flags(recipients)?,
        threshold: recipients.shamir_secret_sharing_threshold.unwrap_or(0),
        rule: flag_rule.clone().unwrap_or(EncryptionRule::None),
        mac_only_encrypted: mac_only_flag,
    };
    let config = load_config(ctx)?;
    let target = file.map(Path::to_owned).unwrap_or_else(|| PathBuf::from("-"));
    let rule = match &config {
        Some(c) => rule_for(c, &target)?,
        None => None,
    };
    if let Some(rule) = rule {
        if settings.groups.is_empty() {
            settings.groups = rule.key_groups.clone();
            if recipients.shamir_secret_sharing_threshold.is_none() {
                settings.threshold = rule.shamir_threshold;
            }
        }
        if flag_rule.is_none()
            && let Some(r) = &rule.rule
        {
            settings.rule = r.clone();
        }
        if !mac_only_flag {
            settings.mac_only_encrypted = rule.mac_only_encrypted.unwrap_or(false);
        }
    }
    settings.groups.retain(|g| !g.0.is_empty());
    if settings.groups.is_empty() {
        let what = file.map_or("standard input".to_owned(), |f| f.display().to_string());
        return Err(CliError::new(
            Code::NoEncryptionKey,
            format!("no recipients to encrypt {what} to: no --age flag and no .sops.yaml rule with keys"),
        )
        .hint(
            "pass --age age1… (see `sealgate keygen`), or add a creation rule with age recipients to .sops.yaml",
        ));
    }
    // As sops: a binary *input* is one value that is always encrypted, whatever the rule and
    // whatever the output format.
    if format == Format::Binary {
        settings.rule = EncryptionRule::None;
    }
    Ok(settings)
}

/// Wraps a data key for the chosen recipients. A Vault transit key that cannot be used exits
/// 1, as sops does ("could not generate data key").
pub fn wrap(key: &DataKey, settings: &EncryptSettings) -> CliResult<(Vec<KeyGroup>, usize)> {
    let transit = transit();
    keys::wrap_data_key(
        key,
        &settings.groups,
        settings.threshold,
        Some(&*transit),
        Timestamp::now_utc(),
    )
    .map_err(|e| match &e {
        KeyError::TransitEncrypt { source, .. } => {
            CliError::new(Code::Generic, chain(&e)).hint(transit_hint(source))
        }
        _ => {
            CliError::new(Code::EncryptTree, format!("failed to wrap the data key: {}", chain(&e)))
        }
    })
}

/// The recipients a file's metadata names, as groups to wrap a new data key for.
pub fn groups_of(md: &Metadata, display: &str) -> CliResult<Vec<GroupSpec>> {
    keys::groups_from_metadata(md)
        .map_err(|e| CliError::new(Code::Generic, format!("{display}: {}", chain(&e))))
}
