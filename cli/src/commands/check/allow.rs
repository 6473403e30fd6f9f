//! What the user allowed: a `sealgate:allow` comment on the line of a finding, and the
//! `.sealgate-allow` file.
//!
//! `.sealgate-allow` holds one entry per line (`#` starts a comment line):
//!
//! - `path:REGEX` — every finding in files whose path (relative to the allow file's directory,
//!   `/`-separated) matches REGEX;
//! - `value:REGEX` — credential findings whose flagged text matches REGEX (an example token);
//! - a fingerprint `PATH:RULE` or `PATH:RULE:LINE` — the findings of that rule in that file
//!   (on that line), as `--format json` prints in `fingerprint`.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::finding::Finding;
use crate::exit::{CliError, CliResult, Code};

/// The file name looked for.
pub const ALLOW_FILE: &str = ".sealgate-allow";
/// The inline marker.
pub const INLINE: &str = "sealgate:allow";

enum Entry {
    Path(Regex),
    Value(Regex),
    Fingerprint { path: String, rule: String, line: Option<usize> },
}

/// A loaded allow-list.
#[derive(Default)]
pub struct AllowList {
    /// The directory entries are relative to (absolute).
    base: PathBuf,
    entries: Vec<Entry>,
}

impl AllowList {
    /// Reads `explicit`, else the first `.sealgate-allow` from `cwd` upward, stopping at the
    /// directory that holds `.git`. No file is an empty list.
    pub fn load(cwd: &Path, explicit: Option<&Path>) -> CliResult<AllowList> {
        let path = match explicit {
            Some(p) => Some(cwd.join(p)),
            None => find_upward(cwd),
        };
        let Some(path) = path else { return Ok(AllowList::default()) };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                Code::FileNotFound
            } else {
                Code::CouldNotReadInput
            };
            CliError::new(code, format!("failed to read the allow-list {}: {e}", path.display()))
        })?;
        let base = path.parent().unwrap_or(cwd).to_owned();
        AllowList::parse(&text, base).map_err(|(line, msg)| {
            CliError::new(Code::CouldNotReadInput, format!("{}:{line}: {msg}", path.display()))
                .hint("entries are `path:REGEX`, `value:REGEX`, or a fingerprint PATH:RULE[:LINE]")
        })
    }

    fn parse(text: &str, base: PathBuf) -> Result<AllowList, (usize, String)> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let regex = |re: &str| {
                Regex::new(re).map_err(|e| (i + 1, format!("invalid regular expression: {e}")))
            };
            let entry = if let Some(re) = line.strip_prefix("path:") {
                Entry::Path(regex(re)?)
            } else if let Some(re) = line.strip_prefix("value:") {
                Entry::Value(regex(re)?)
            } else {
                parse_fingerprint(line).ok_or((i + 1, format!("not an entry: {line:?}")))?
            };
            entries.push(entry);
        }
        Ok(AllowList { base, entries })
    }

    /// Whether `f` (in the file `file`, as opened from `cwd`) is allowed by an entry.
    pub fn allows(&self, cwd: &Path, file: &Path, f: &Finding) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let rel = relative(&self.base, &cwd.join(file));
        self.entries.iter().any(|e| match e {
            Entry::Path(re) => re.is_match(&rel),
            Entry::Value(re) => f.matched.as_ref().is_some_and(|m| re.is_match(m)),
            Entry::Fingerprint { path, rule, line } => {
                *path == rel && rule == f.rule && line.is_none_or(|l| l == f.line)
            }
        })
    }
}

/// `PATH:RULE` or `PATH:RULE:LINE` (rule ids have no colon; paths may).
fn parse_fingerprint(s: &str) -> Option<Entry> {
    let (rest, last) = s.rsplit_once(':')?;
    let (path, rule, line) = match last.parse::<usize>() {
        Ok(n) => {
            let (path, rule) = rest.rsplit_once(':')?;
            (path, rule, Some(n))
        }
        Err(_) => (rest, last, None),
    };
    let valid_rule = !rule.is_empty() && rule.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    (valid_rule && !path.is_empty()).then(|| Entry::Fingerprint {
        path: path.to_owned(),
        rule: rule.to_owned(),
        line,
    })
}

/// The fingerprint of a finding, relative to `base`.
pub fn fingerprint(base: &Path, cwd: &Path, file: &Path, f: &Finding) -> String {
    format!("{}:{}:{}", relative(base, &cwd.join(file)), f.rule, f.line)
}

impl AllowList {
    /// The directory fingerprints are relative to.
    pub fn base<'a>(&'a self, cwd: &'a Path) -> &'a Path {
        if self.base.as_os_str().is_empty() { cwd } else { &self.base }
    }
}

fn find_upward(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(ALLOW_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if d.join(".git").exists() {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// `path` relative to `base` with `/` separators, lexically (`.` and `..` resolved); the
/// cleaned absolute path when it is outside `base`.
fn relative(base: &Path, path: &Path) -> String {
    let clean = |p: &Path| {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other.as_os_str()),
            }
        }
        out
    };
    let (base, path) = (clean(base), clean(path));
    let rel = path.strip_prefix(&base).unwrap_or(&path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether line `line` (1-based) of `text` carries the inline allow marker.
pub fn inline_allowed(text: &str, line: usize) -> bool {
    text.lines().nth(line.saturating_sub(1)).is_some_and(|l| l.contains(INLINE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::check::locate::Pos;

    fn finding(rule: &'static str, line: usize, matched: Option<&str>) -> Finding {
        let mut f = Finding::new("x", Pos { line, column: 1 }, rule, String::new());
        f.matched = matched.map(|m| zeroize::Zeroizing::new(m.to_owned()));
        f
    }

    #[test]
    fn entries_match_paths_values_and_fingerprints() {
        let list = AllowList::parse(
            "# why\npath:^fixtures/\nvalue:EXAMPLE$\nk8s/a.yaml:plaintext-secret\nb.txt:jwt:3\n",
            PathBuf::from("/repo"),
        )
        .unwrap();
        let cwd = Path::new("/repo");
        let f = finding("jwt", 3, Some("tokEXAMPLE"));
        assert!(list.allows(cwd, Path::new("fixtures/x.yaml"), &finding("clear-value", 1, None)));
        assert!(list.allows(cwd, Path::new("./other"), &f));
        assert!(list.allows(cwd, Path::new("k8s/a.yaml"), &finding("plaintext-secret", 9, None)));
        assert!(!list.allows(cwd, Path::new("k8s/a.yaml"), &finding("jwt", 9, None)));
        assert!(list.allows(cwd, Path::new("b.txt"), &finding("jwt", 3, None)));
        assert!(!list.allows(cwd, Path::new("b.txt"), &finding("jwt", 4, None)));
        assert!(list.allows(
            Path::new("/repo/sub"),
            Path::new("../b.txt"),
            &finding("jwt", 3, None)
        ));
    }

    #[test]
    fn bad_entries_name_their_line() {
        let err = AllowList::parse("ok:jwt\npath:(\n", PathBuf::new()).err().unwrap();
        assert_eq!(err.0, 2);
        let err = AllowList::parse("no colon here\n", PathBuf::new()).err().unwrap();
        assert_eq!(err.0, 1);
    }

    #[test]
    fn inline_marker_applies_to_its_line_only() {
        let text = "a\npassword: x # sealgate:allow\nb\n";
        assert!(inline_allowed(text, 2));
        assert!(!inline_allowed(text, 1));
        assert!(!inline_allowed(text, 3));
    }
}
