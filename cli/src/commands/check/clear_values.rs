//! Finding 3: values of a SOPS file left in clear although the file's own encryption rule (as
//! recorded in its `sops` metadata) says they are encrypted — a hand edit of a sealed file.
//! The decision per value is the format crate's ([`EncryptionRule`]); comments are not checked.

use sealgate::format::Scalar;
use sealgate::format::cipher::EncValue;
use sealgate::format::rules::EncryptionRule;
use sealgate::format::tree::{Document, Item, Map, Node};

use super::finding::{Finding, rules, shell_quote};
use super::locate::Step;
use super::source::Source;

/// The clear values of document `index` of `src`, decided by `rule`.
pub fn check(src: &Source, index: usize, doc: &Document, rule: &EncryptionRule) -> Vec<Finding> {
    let mut walk =
        Walk { rule, hits: vec![false], comments: Vec::new(), path: Vec::new(), found: Vec::new() };
    walk.map(doc);
    walk.found
        .into_iter()
        .map(|path| {
            let pos = src.located.find(index, &path);
            Finding::new(
                &src.display,
                pos,
                rules::CLEAR_VALUE,
                format!(
                    "the value at {} is in clear text, but the file's rule ({}) says it is \
                     encrypted: the file was edited by hand; restore it from version control \
                     and set the value with `sealgate set {} '{}' VALUE` or `sealgate edit {}`",
                    path_string(&path),
                    rule_text(rule),
                    shell_quote(&src.display),
                    path_string(&path),
                    shell_quote(&src.display),
                ),
            )
        })
        .collect()
}

/// The walk of the format engine, deciding each leaf without decrypting anything.
struct Walk<'r> {
    rule: &'r EncryptionRule,
    /// Per path depth: did any component so far hit the rule.
    hits: Vec<bool>,
    /// Per map/list level: comments since the last entry (for the comment rules).
    comments: Vec<Vec<String>>,
    path: Vec<Step>,
    found: Vec<Vec<Step>>,
}

impl Walk<'_> {
    fn any_hit(&self) -> bool {
        self.hits.last().copied().unwrap_or(false)
    }

    fn push_comment(&mut self, text: &str) {
        if self.rule.uses_comments()
            && let Some(level) = self.comments.last_mut()
        {
            level.push(text.to_owned());
        }
    }

    fn clear_level(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    fn map(&mut self, map: &Map) {
        self.comments.push(Vec::new());
        for item in &map.0 {
            match item {
                Item::Comment(c) => self.push_comment(c.text()),
                Item::Entry(k, v) => {
                    let hit = self.any_hit() || self.rule.component_hit(k);
                    self.hits.push(hit);
                    self.path.push(Step::Key(k.clone()));
                    self.node(v);
                    self.path.pop();
                    self.hits.pop();
                    self.clear_level();
                }
            }
        }
        self.comments.pop();
    }

    fn list(&mut self, items: &[Node]) {
        self.comments.push(Vec::new());
        for (i, node) in items.iter().enumerate() {
            self.path.push(Step::Index(i));
            if let Node::Comment(c) = node {
                self.push_comment(c.text());
            } else {
                self.node(node);
                self.clear_level();
            }
            self.path.pop();
        }
        self.comments.pop();
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Map(m) => self.map(m),
            Node::List(l) => self.list(l),
            Node::Comment(_) | Node::Scalar(Scalar::Null) => {}
            Node::Scalar(s) => {
                let encrypted = self.rule.decide(self.any_hit(), &self.comments, false);
                if encrypted && is_clear(s) {
                    self.found.push(self.path.clone());
                }
            }
        }
    }
}

/// A leaf that should be ciphertext but is not (the empty string is never encrypted).
fn is_clear(s: &Scalar) -> bool {
    match s {
        Scalar::Str(b) if b.is_empty() => false,
        Scalar::Str(b) => !std::str::from_utf8(b).is_ok_and(EncValue::is_encrypted),
        Scalar::Null => false,
        _ => true,
    }
}

/// `["a"]["b"][0]`, the syntax of `--extract` and `set`.
fn path_string(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!("[{k:?}]"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

fn rule_text(rule: &EncryptionRule) -> String {
    match rule.field() {
        Some((name, value)) => format!("{name}: {value}"),
        None => "every value but `*_unencrypted` keys".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealgate::format::store::{self, Format};

    const ENC: &str = "ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]";

    fn run(text: &str, rule: EncryptionRule) -> Vec<Finding> {
        let src = Source::new("f.yaml", Format::Yaml, text);
        let docs = store::parse_plain(Format::Yaml, text.as_bytes()).unwrap();
        check(&src, 0, &docs[0], &rule)
    }

    #[test]
    fn flags_a_clear_value_the_default_rule_encrypts() {
        let text =
            format!("db:\n    user: {ENC}\n    password: hunter2\n    port_unencrypted: 5\n");
        let f = run(&text, EncryptionRule::None);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line, f[0].column), (3, 5));
        assert!(f[0].message.contains(r#"["db"]["password"]"#), "{}", f[0].message);
        assert!(!f[0].message.contains("hunter2"));
    }

    #[test]
    fn encrypted_regex_leaves_other_keys_alone() {
        let rule = EncryptionRule::from_field("encrypted_regex", "^(data|stringData)$").unwrap();
        let text = format!(
            "metadata:\n    name: x\ndata:\n    a: {ENC}\n    b: clear\nstringData:\n    n: 5\n"
        );
        let f = run(&text, rule);
        let lines: Vec<usize> = f.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![5, 7]);
    }

    #[test]
    fn list_items_empty_strings_and_nulls() {
        let text = format!("l:\n    - {ENC}\n    - clear\n    - \"\"\n    - null\n");
        let f = run(&text, EncryptionRule::None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 3);
    }
}
