//! What `sealgate check` reports: one finding per problem, with a stable rule id, a position
//! and a message that never holds the secret value itself.

use zeroize::Zeroizing;

use super::locate::Pos;

/// One problem in one file.
#[derive(Clone, PartialEq, Eq)]
pub struct Finding {
    /// The path as shown (relative to where the walk started).
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// A stable id (`plaintext-secret`, `aws-access-key-id`, …), also used by allow-lists.
    pub rule: &'static str,
    pub message: String,
    /// The flagged text, for `value:` allow-list regexes only; never printed.
    pub matched: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finding")
            .field("path", &self.path)
            .field("line", &self.line)
            .field("column", &self.column)
            .field("rule", &self.rule)
            .field("message", &self.message)
            .field("matched", &self.matched.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Finding {
    pub fn new(path: &str, pos: Pos, rule: &'static str, message: String) -> Finding {
        Finding {
            path: path.to_owned(),
            line: pos.line,
            column: pos.column,
            rule,
            message,
            matched: None,
        }
    }
}

/// Rule ids of the structural findings.
pub mod rules {
    /// A Kubernetes `Secret` manifest with values in clear.
    pub const PLAINTEXT_SECRET: &str = "plaintext-secret";
    /// A file a `.sops.yaml` creation rule says must be encrypted, in clear.
    pub const UNENCRYPTED_FILE: &str = "unencrypted-file";
    /// A value of a SOPS file in clear where its own rule says it is encrypted.
    pub const CLEAR_VALUE: &str = "clear-value";
    /// An `EncryptedSecret` whose `spec` is not in sorted key order.
    pub const UNSORTED: &str = "unsorted-encrypted-secret";
}

/// Quotes a path for a shell command in a message (single quotes when needed).
pub fn shell_quote(s: &str) -> String {
    let plain = s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c));
    if plain && !s.is_empty() { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_matched_text() {
        let mut f = Finding::new("p", Pos::START, "jwt", "m".to_owned());
        f.matched = Some(Zeroizing::new("the-secret-text".to_owned()));
        let shown = format!("{f:?}");
        assert!(!shown.contains("the-secret-text") && shown.contains("[REDACTED]"), "{shown}");
    }

    #[test]
    fn shell_quote_leaves_plain_paths_and_quotes_others() {
        assert_eq!(shell_quote("k8s/db.yaml"), "k8s/db.yaml");
        assert_eq!(shell_quote("my secret.yaml"), "'my secret.yaml'");
        assert_eq!(shell_quote("it's.yaml"), r"'it'\''s.yaml'");
    }
}
