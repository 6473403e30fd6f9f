//! Which leaves get encrypted: the six mutually exclusive SOPS rules (suffixes, regexes and
//! comment regexes), decided per leaf from its key path and the comments above it.

use regex::Regex;

/// The one encryption rule of a file. With none set, `_unencrypted` suffix applies.
#[derive(Clone, Debug)]
pub enum EncryptionRule {
    /// No rule field in the metadata: behaves as `UnencryptedSuffix("_unencrypted")`.
    None,
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

/// The default suffix that keeps a subtree in clear text.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// A rule's regex did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {reason}")]
pub struct RuleError {
    pub pattern: String,
    pub reason: String,
}

impl PartialEq for EncryptionRule {
    fn eq(&self, other: &Self) -> bool {
        self.field() == other.field()
    }
}

impl EncryptionRule {
    /// Metadata and `.sops.yaml` field names, in sops's emission order.
    pub const FIELD_NAMES: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    /// Builds a rule from its metadata field name and value.
    ///
    /// # Panics
    /// Never for the names in [`Self::FIELD_NAMES`]; other names are a caller bug.
    pub fn from_field(name: &str, value: &str) -> Result<Self, RuleError> {
        let re = || {
            Regex::new(value)
                .map_err(|e| RuleError { pattern: value.to_owned(), reason: e.to_string() })
        };
        Ok(match name {
            "unencrypted_suffix" => EncryptionRule::UnencryptedSuffix(value.to_owned()),
            "encrypted_suffix" => EncryptionRule::EncryptedSuffix(value.to_owned()),
            "unencrypted_regex" => EncryptionRule::UnencryptedRegex(re()?),
            "encrypted_regex" => EncryptionRule::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => EncryptionRule::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => EncryptionRule::EncryptedCommentRegex(re()?),
            other => unreachable!("not an encryption rule field: {other}"),
        })
    }

    /// The metadata field this rule is written as; `None` for [`EncryptionRule::None`].
    pub fn field(&self) -> Option<(&'static str, String)> {
        Some(match self {
            EncryptionRule::None => return None,
            EncryptionRule::UnencryptedSuffix(s) => ("unencrypted_suffix", s.clone()),
            EncryptionRule::EncryptedSuffix(s) => ("encrypted_suffix", s.clone()),
            EncryptionRule::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str().to_owned()),
            EncryptionRule::EncryptedRegex(r) => ("encrypted_regex", r.as_str().to_owned()),
            EncryptionRule::UnencryptedCommentRegex(r) => {
                ("unencrypted_comment_regex", r.as_str().to_owned())
            }
            EncryptionRule::EncryptedCommentRegex(r) => {
                ("encrypted_comment_regex", r.as_str().to_owned())
            }
        })
    }

    /// True for the two comment-regex rules, which look at comments rather than key paths.
    pub fn uses_comments(&self) -> bool {
        matches!(
            self,
            EncryptionRule::UnencryptedCommentRegex(_) | EncryptionRule::EncryptedCommentRegex(_)
        )
    }

    /// Whether one path component matches the suffix or regex of a path rule (always false
    /// for comment rules). A leaf's decision depends only on whether *any* component matched,
    /// so walkers compute this once per map key.
    pub fn component_hit(&self, key: &str) -> bool {
        match self {
            EncryptionRule::None => key.ends_with(DEFAULT_UNENCRYPTED_SUFFIX),
            EncryptionRule::UnencryptedSuffix(s) | EncryptionRule::EncryptedSuffix(s) => {
                key.ends_with(s.as_str())
            }
            EncryptionRule::UnencryptedRegex(r) | EncryptionRule::EncryptedRegex(r) => {
                r.is_match(key)
            }
            EncryptionRule::UnencryptedCommentRegex(_)
            | EncryptionRule::EncryptedCommentRegex(_) => false,
        }
    }

    /// Decides one leaf, as sops's `shouldBeEncrypted`.
    ///
    /// `any_hit` tells whether some component of the leaf's key path matched
    /// ([`Self::component_hit`]); `comments` holds, per enclosing map or list, the comment
    /// lines seen since its last entry; `is_comment` is true when the leaf is itself the last
    /// of those comments.
    pub fn decide(&self, any_hit: bool, comments: &[Vec<String>], is_comment: bool) -> bool {
        match self {
            EncryptionRule::None
            | EncryptionRule::UnencryptedSuffix(_)
            | EncryptionRule::UnencryptedRegex(_) => !any_hit,
            EncryptionRule::EncryptedSuffix(_) | EncryptionRule::EncryptedRegex(_) => any_hit,
            EncryptionRule::UnencryptedCommentRegex(r) => {
                !comments.iter().flatten().any(|c| r.is_match(c))
            }
            EncryptionRule::EncryptedCommentRegex(r) => {
                let last_level = comments.len().saturating_sub(1);
                comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // The matching comment line itself stays in clear text.
                        let is_self = is_comment && i == last_level && j + 1 == level.len();
                        !is_self && r.is_match(c)
                    })
                })
            }
        }
    }

    /// [`Self::decide`] from a whole key path (list indices are not components).
    pub fn should_encrypt<S: AsRef<str>>(
        &self,
        path: &[S],
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        let any_hit = path.iter().any(|p| self.component_hit(p.as_ref()));
        self.decide(any_hit, comments, is_comment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Vec<Vec<String>> {
        vec![vec![]]
    }

    #[test]
    fn default_suffix_applies_to_whole_subtree() {
        let r = EncryptionRule::None;
        assert!(r.should_encrypt(&["a", "b"], &none(), false));
        assert!(!r.should_encrypt(&["a_unencrypted", "b"], &none(), false));
    }

    #[test]
    fn encrypted_regex_matches_any_component_unanchored() {
        let r = EncryptionRule::from_field("encrypted_regex", "^(data|stringData)$").unwrap();
        assert!(r.should_encrypt(&["data", "x"], &none(), false));
        assert!(!r.should_encrypt(&["metadata", "name"], &none(), false));
        let r = EncryptionRule::from_field("encrypted_regex", "pass").unwrap();
        assert!(r.should_encrypt(&["db", "password"], &none(), false));
    }

    #[test]
    fn encrypted_comment_regex_skips_the_matching_comment_itself() {
        let r = EncryptionRule::from_field("encrypted_comment_regex", "sops:enc").unwrap();
        let stack = vec![vec![" sops:enc".to_owned()]];
        assert!(!r.should_encrypt(&[] as &[&str], &stack, true));
        assert!(r.should_encrypt(&["key"], &stack, false));
        let stack = vec![vec![" sops:enc".to_owned(), " next".to_owned()]];
        assert!(r.should_encrypt(&[] as &[&str], &stack, true));
    }

    #[test]
    fn unencrypted_comment_regex_checks_every_level() {
        let r = EncryptionRule::from_field("unencrypted_comment_regex", "clear").unwrap();
        let stack = vec![vec![" clear".to_owned()], vec![]];
        assert!(!r.should_encrypt(&["a", "b"], &stack, false));
        assert!(r.should_encrypt(&["a", "b"], &[vec![], vec![]], false));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(EncryptionRule::from_field("encrypted_regex", "(").is_err());
    }
}
