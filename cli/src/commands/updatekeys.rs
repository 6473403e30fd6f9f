//! `sealgate updatekeys`: re-wrap a file's existing data key for the recipients its
//! `.sops.yaml` rule names now. Values, MAC and `lastmodified` are untouched.

use std::io::{BufRead, IsTerminal, Write};

use sealgate::keys::{GroupSpec, KeySpec};

use super::{Context, unlock};
use crate::args::UpdatekeysArgs;
use crate::exit::{CliError, CliResult, Code};
use crate::io::{self, Input, write_atomic};
use crate::{keysel, report};

fn describe(k: &KeySpec) -> String {
    format!("{} {k}", k.type_name())
}

/// Lines of `+`/`-` per group, empty when nothing changes.
fn diff(old: &[GroupSpec], new: &[GroupSpec]) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..old.len().max(new.len()) {
        let o: Vec<String> =
            old.get(i).map(|g| g.0.iter().map(describe).collect()).unwrap_or_default();
        let n: Vec<String> =
            new.get(i).map(|g| g.0.iter().map(describe).collect()).unwrap_or_default();
        for k in n.iter().filter(|k| !o.contains(k)) {
            lines.push(format!("group {i}: +{k}"));
        }
        for k in o.iter().filter(|k| !n.contains(k)) {
            lines.push(format!("group {i}: -{k}"));
        }
    }
    lines
}

fn confirm(file: &str) -> CliResult<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            Code::Generic,
            format!("{file}: not asking on a non-interactive input"),
        )
        .hint("pass -y to apply the change"));
    }
    eprint!("Is this okay? (y/n): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

pub fn run(ctx: &Context, args: UpdatekeysArgs) -> CliResult {
    let no_config = || {
        CliError::new(
            Code::ConfigNotFound,
            "updatekeys needs a .sops.yaml with creation_rules: none was found",
        )
        .hint("run it inside the repository that holds .sops.yaml, or pass --config PATH")
    };
    let config = keysel::load_config(ctx)?.ok_or_else(no_config)?;
    for path in &args.files {
        let input = Input::read_path(path)?;
        let format = io::input_format(args.input_type, Some(path), None)?;
        let rule = keysel::rule_for(&config, path)?.ok_or_else(no_config)?;
        let unlocked = unlock(&input, format)?;
        let current = keysel::groups_of(&unlocked.file.metadata, &input.display)?;
        let changes = diff(&current, &rule.key_groups);
        if changes.is_empty() {
            eprintln!("{}: already up to date", input.display);
            continue;
        }
        eprintln!(
            "The following changes will be made to the file's key groups ({}):",
            input.display
        );
        for line in &changes {
            eprintln!("  {line}");
        }
        if !args.yes && !confirm(&input.display)? {
            eprintln!("{}: unchanged", input.display);
            continue;
        }
        let groups = rule.key_groups.clone();
        let wanted = if rule.shamir_threshold == 0 {
            unlocked.file.metadata.shamir_threshold
        } else {
            rule.shamir_threshold
        };
        let threshold = if groups.len() > 1 { wanted.min(groups.len()) } else { 0 };
        let settings = keysel::EncryptSettings {
            groups,
            threshold,
            rule: unlocked.file.metadata.rule.clone(),
            mac_only_encrypted: unlocked.file.metadata.mac_only_encrypted,
        };
        let (key_groups, shamir_threshold) = keysel::wrap(&unlocked.key, &settings)?;
        let mut file = unlocked.file;
        file.metadata.key_groups = key_groups;
        file.metadata.shamir_threshold = shamir_threshold;
        let bytes = file.into_bytes().map_err(|e| report::file_error(&input.display, e))?;
        write_atomic(path, &bytes, false)?;
        eprintln!("{}: key groups updated", input.display);
    }
    Ok(())
}
