//! The in-memory document model every store reads into and writes from: ordered maps, lists,
//! typed scalars and comments, exactly as SOPS models a file (no formatting styles are kept).
//!
//! A file is a list of documents ([`Document`]); only YAML has more than one. Map entries keep
//! their order (the MAC depends on it) and comments are items among the entries, so that
//! re-emitting a file puts every comment back where it was. Text scalars and comments live in
//! zeroizing buffers because, after decryption, they are secret.

use zeroize::Zeroizing;

use super::scalar::Scalar;

/// One document of a file: the ordered items of its top-level mapping.
pub type Document = Map;

/// An ordered mapping: entries and comments in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map(pub Vec<Item>);

/// One item of a [`Map`]: a key with its value, or a comment line between entries.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Entry(String, Node),
    Comment(Comment),
}

/// A value in the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Map(Map),
    /// List items; comments inside a list are [`Node::Comment`] items.
    List(Vec<Node>),
    Scalar(Scalar),
    /// A comment that sits among list items (maps hold comments as [`Item::Comment`]).
    Comment(Comment),
}

/// A comment's text without the comment character (`# foo` holds ` foo`), or, in an encrypted
/// tree, the `ENC[...]` string that replaced it.
#[derive(Clone, PartialEq, Eq)]
pub struct Comment(pub Zeroizing<String>);

impl Comment {
    pub fn new(text: impl Into<String>) -> Self {
        Comment(Zeroizing::new(text.into()))
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Comment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.starts_with("ENC[") {
            write!(f, "Comment({:?})", self.0.as_str())
        } else {
            f.write_str("Comment([REDACTED])")
        }
    }
}

impl Map {
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.0.iter().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0.iter_mut().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Appends an entry at the end.
    pub fn push(&mut self, key: impl Into<String>, value: Node) {
        self.0.push(Item::Entry(key.into(), value));
    }

    /// Replaces the value of `key` in place, or appends the entry when it is missing.
    pub fn insert(&mut self, key: impl Into<String>, value: Node) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.push(key, value),
        }
    }

    /// Removes the first entry named `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let pos = self.0.iter().position(|item| matches!(item, Item::Entry(k, _) if k == key))?;
        match self.0.remove(pos) {
            Item::Entry(_, v) => Some(v),
            Item::Comment(_) => unreachable!("position matched an entry"),
        }
    }

    /// The entries, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.0.iter().filter_map(|item| match item {
            Item::Entry(k, v) => Some((k.as_str(), v)),
            Item::Comment(_) => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Node {
    pub fn str(text: impl Into<String>) -> Node {
        Node::Scalar(Scalar::str(text))
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a string scalar that is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().and_then(Scalar::as_str)
    }
}
