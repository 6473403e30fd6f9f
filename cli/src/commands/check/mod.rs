//! `sealgate check [PATH…]`: find plaintext secrets before they are committed (gate 1 of
//! issue 6; a pre-commit hook).
//!
//! Findings, each with a stable rule id: plaintext Kubernetes `Secret` manifests
//! ([`plaintext_secret`]), files a `.sops.yaml` rule says must be encrypted ([`creation_rule`]),
//! values of SOPS files left in clear ([`clear_values`]), unsorted `EncryptedSecret`s
//! ([`unsorted`]) and likely credentials ([`credentials`]). What the user allowed is dropped
//! ([`allow`]); the rest is printed ([`output`]) and makes the exit code 67.

mod allow;
mod clear_values;
mod creation_rule;
mod credentials;
mod finding;
mod locate;
mod output;
mod plaintext_secret;
mod source;
mod unsorted;
mod walk;

use std::path::{Path, PathBuf};

use sealgate::format::metadata::Metadata;
use sealgate::format::store::{self, Format};
use sealgate::format::tree::{Item, Node};

use super::Context;
use crate::args::{CheckArgs, CheckFormat};
use crate::exit::{CliError, CliResult, Code};
use crate::keysel;
use finding::Finding;

/// How much of a file is looked at to tell text from binary.
const SNIFF_LEN: usize = 8000;

pub fn run(ctx: &Context, args: CheckArgs) -> CliResult {
    let cwd = keysel::cwd()?;
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let files = walk::files(&paths)?;
    let allow = allow::AllowList::load(&cwd, args.allow_file.as_deref())?;
    let mut rules = creation_rule::CreationRules::new(cwd.clone(), ctx.config.clone());
    let mut kept: Vec<(PathBuf, Finding)> = Vec::new();
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(b) => zeroize::Zeroizing::new(b),
            Err(e) => {
                return Err(CliError::new(
                    Code::CouldNotReadInput,
                    format!("failed to read {}: {e}", file.display()),
                ));
            }
        };
        let text = std::str::from_utf8(&bytes).ok();
        for f in check_file(file, &bytes, &mut rules) {
            let inline = text.is_some_and(|t| allow::inline_allowed(t, f.line));
            if !inline && !allow.allows(&cwd, file, &f) {
                kept.push((file.clone(), f));
            }
        }
    }
    let base = allow.base(&cwd);
    let reported: Vec<output::Reported> = kept
        .iter()
        .map(|(file, f)| output::Reported {
            finding: f,
            fingerprint: allow::fingerprint(base, &cwd, file, f),
        })
        .collect();
    output::print(&match args.format {
        CheckFormat::Text => output::text(&reported),
        CheckFormat::Json => output::json(&reported),
    })?;
    if kept.is_empty() {
        return Ok(());
    }
    let mut with_findings: Vec<&PathBuf> = kept.iter().map(|(p, _)| p).collect();
    with_findings.dedup();
    Err(CliError::new(
        Code::Findings,
        format!(
            "sealgate check: {} finding{} in {} file{}",
            kept.len(),
            if kept.len() == 1 { "" } else { "s" },
            with_findings.len(),
            if with_findings.len() == 1 { "" } else { "s" },
        ),
    )
    .hint(
        "seal or encrypt what is flagged; for a false positive add `sealgate:allow` on the line, \
         or an entry to .sealgate-allow (`path:REGEX`, `value:REGEX`, or the fingerprint \
         PATH:RULE[:LINE] that --format json prints)",
    ))
}

/// Every finding in one file, sorted by position.
fn check_file(path: &Path, bytes: &[u8], rules: &mut creation_rule::CreationRules) -> Vec<Finding> {
    let display = path.display().to_string();
    let mut out: Vec<Finding> = rules.check(&display, path, bytes).into_iter().collect();
    let binary = bytes[..bytes.len().min(SNIFF_LEN)].contains(&0);
    let Some(text) = std::str::from_utf8(bytes).ok().filter(|_| !binary) else { return out };
    let format = Format::from_path(path);
    if matches!(format, Format::Yaml | Format::Json) {
        out.extend(structure(&display, format, text));
    }
    out.extend(credentials::check(&display, text));
    out.sort_by(|a, b| (a.line, a.column, a.rule).cmp(&(b.line, b.column, b.rule)));
    out
}

/// Findings 1, 3 and 4 in a YAML or JSON file (one that does not parse has none: it may be a
/// template).
fn structure(display: &str, format: Format, text: &str) -> Vec<Finding> {
    let Ok(mut docs) = store::parse_plain(format, text.as_bytes()) else { return Vec::new() };
    docs.retain(|d| d.0.iter().any(|i| matches!(i, Item::Entry(..))));
    let src = source::Source::new(display, format, text);
    let mut out = plaintext_secret::check(&src, &docs);
    // A sops YAML stream carries the metadata in every document; `seal` output has one per
    // document. Fall back to the first document's.
    let first_meta = docs.first().and_then(|d| d.get("sops")).and_then(Node::as_map).cloned();
    for (i, doc) in docs.iter().enumerate() {
        let tree = doc.get("sops").and_then(Node::as_map).or(first_meta.as_ref());
        let Some(metadata) = tree.and_then(|t| Metadata::from_tree(t).ok()) else { continue };
        let mut body = doc.clone();
        body.remove("sops");
        out.extend(clear_values::check(&src, i, &body, &metadata.rule));
        out.extend(unsorted::check(&src, i, &body));
    }
    out
}
