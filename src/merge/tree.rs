//! The three-way merge of plaintext trees: key by key, with lists and scalars as atomic values.
//!
//! For each map key (ours' order first, then the keys only theirs has, in their order):
//! equal on both sides → take it; unchanged on one side → take the other (a deletion too);
//! maps on both sides → merge them recursively; anything else is a conflict. A conflict does
//! not stop the merge: the result holds two trees, one resolving every conflict in favour of
//! ours and one in favour of theirs, identical everywhere else.
//!
//! Comments: a map that ours did not change at all is taken from theirs, comments included;
//! otherwise ours' comments are kept, plus the comments theirs wrote directly above a key that
//! only theirs added (unless ours or the base already has that comment text).

use std::collections::{HashMap, HashSet};

use crate::format::tree::{Comment, Document, Item, Map, Node};

/// The outcome of a three-way merge.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeMerge {
    /// The merged documents, every conflict resolved in favour of ours.
    pub ours: Vec<Document>,
    /// The merged documents, every conflict resolved in favour of theirs. Equal to `ours`
    /// when there is no conflict.
    pub theirs: Vec<Document>,
    /// Where the two sides disagree, in document order.
    pub conflicts: Vec<Conflict>,
}

impl TreeMerge {
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty()
    }
}

/// One place where both sides changed the same value differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Index of the document (YAML streams hold several).
    pub document: usize,
    /// Map keys from the document root to the conflicting value (empty: the whole document,
    /// or with [`ConflictKind::DocumentCount`] the whole file).
    pub path: Vec<String>,
    pub kind: ConflictKind,
}

/// How the two sides disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// Both sides changed the value, to different values.
    BothChanged,
    /// Both sides added the key, with different values.
    BothAdded,
    /// Ours changed the value, theirs deleted it.
    TheirsDeleted,
    /// Ours deleted the value, theirs changed it.
    OursDeleted,
    /// The sides have different numbers of documents (or the base has yet another number):
    /// the whole file conflicts.
    DocumentCount,
}

impl ConflictKind {
    fn describe(self) -> &'static str {
        match self {
            ConflictKind::BothChanged => "changed differently on both sides",
            ConflictKind::BothAdded => "added on both sides with different values",
            ConflictKind::TheirsDeleted => "changed in ours, deleted in theirs",
            ConflictKind::OursDeleted => "deleted in ours, changed in theirs",
            ConflictKind::DocumentCount => {
                "the sides have different numbers of documents, so the whole file conflicts"
            }
        }
    }
}

impl std::fmt::Display for Conflict {
    /// The path in sops's `--extract` syntax (keys are clear text in a SOPS file; values never
    /// appear here).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == ConflictKind::DocumentCount {
            return f.write_str(self.kind.describe());
        }
        if self.document > 0 {
            write!(f, "document {}: ", self.document + 1)?;
        }
        if self.path.is_empty() {
            f.write_str("the whole document")?;
        }
        for key in &self.path {
            write!(f, "[{key:?}]")?;
        }
        write!(f, ": {}", self.kind.describe())
    }
}

/// Three-way merges the documents of one file. `base` may be empty (both sides added the
/// file): every document then merges against an empty map.
///
/// Documents merge one by one; when the document counts differ (and the base is not empty
/// with the same count), the whole file is one conflict.
pub fn merge_documents(base: &[Document], ours: &[Document], theirs: &[Document]) -> TreeMerge {
    let take = |docs: &[Document]| TreeMerge {
        ours: docs.to_vec(),
        theirs: docs.to_vec(),
        conflicts: Vec::new(),
    };
    if same_docs(ours, theirs) || same_docs(theirs, base) {
        return take(ours);
    }
    if same_docs(ours, base) {
        return take(theirs);
    }
    if ours.len() != theirs.len() || !(base.is_empty() || base.len() == ours.len()) {
        return TreeMerge {
            ours: ours.to_vec(),
            theirs: theirs.to_vec(),
            conflicts: vec![Conflict {
                document: 0,
                path: Vec::new(),
                kind: ConflictKind::DocumentCount,
            }],
        };
    }
    let empty = Map::new();
    let mut out = TreeMerge { ours: Vec::new(), theirs: Vec::new(), conflicts: Vec::new() };
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let b = base.get(i).unwrap_or(&empty);
        let mut walk = Walk { document: i, path: Vec::new(), conflicts: &mut out.conflicts };
        let (ov, tv) = match walk.map_value(Some(b), o, t) {
            Merged::Same(m) => (m.clone(), m),
            Merged::Split(ov, tv) => (ov, tv),
        };
        out.ours.push(ov);
        out.theirs.push(tv);
    }
    out
}

/// A merged map: the same on both views, or different because a conflict lies inside.
enum Merged<T> {
    Same(T),
    Split(T, T),
}

/// The merge of one map entry: each view holds the value or nothing (deleted).
type Slot = Merged<Option<Node>>;

struct Walk<'a> {
    document: usize,
    path: Vec<String>,
    conflicts: &'a mut Vec<Conflict>,
}

impl Walk<'_> {
    fn conflict(&mut self, kind: ConflictKind) {
        self.conflicts.push(Conflict { document: self.document, path: self.path.clone(), kind });
    }

    /// Merges one value present (or not) on each side.
    fn value(&mut self, b: Option<&Node>, o: Option<&Node>, t: Option<&Node>) -> Slot {
        if same_opt(o, t) || same_opt(t, b) {
            return Merged::Same(o.cloned());
        }
        if same_opt(o, b) {
            return Merged::Same(t.cloned());
        }
        if let (Some(Node::Map(om)), Some(Node::Map(tm))) = (o, t) {
            let bm = match b {
                Some(Node::Map(bm)) => Some(bm),
                _ => None,
            };
            return match self.map_value(bm, om, tm) {
                Merged::Same(m) => Merged::Same(Some(Node::Map(m))),
                Merged::Split(ov, tv) => Merged::Split(Some(Node::Map(ov)), Some(Node::Map(tv))),
            };
        }
        let kind = match (b, o, t) {
            (None, _, _) => ConflictKind::BothAdded,
            (Some(_), None, _) => ConflictKind::OursDeleted,
            (Some(_), _, None) => ConflictKind::TheirsDeleted,
            _ => ConflictKind::BothChanged,
        };
        self.conflict(kind);
        Merged::Split(o.cloned(), t.cloned())
    }

    /// Merges two maps that both sides have (`b` absent: both added it, or the base held
    /// something else there). A map with a repeated key cannot be merged key by key: it is
    /// then one atomic value.
    fn map_value(&mut self, b: Option<&Map>, o: &Map, t: &Map) -> Merged<Map> {
        let empty = Map::new();
        let b_or_empty = b.unwrap_or(&empty);
        if same_map(o, t) || same_map(t, b_or_empty) {
            return Merged::Same(o.clone());
        }
        if same_map(o, b_or_empty) {
            return Merged::Same(t.clone());
        }
        if has_repeated_key(o) || has_repeated_key(t) {
            self.conflict(if b.is_some() {
                ConflictKind::BothChanged
            } else {
                ConflictKind::BothAdded
            });
            return Merged::Split(o.clone(), t.clone());
        }
        let base = match b {
            Some(bm) if !has_repeated_key(bm) => bm,
            _ => &empty,
        };
        self.both_changed(base, o, t)
    }

    /// Both sides changed the map: merge key by key, ours' items (and comments) first.
    /// Keys are looked up through indexes, so wide maps merge in linear time.
    fn both_changed(&mut self, b: &Map, o: &Map, t: &Map) -> Merged<Map> {
        let (bi, oi, ti) = (index(b), index(o), index(t));
        let mut known_comments: Option<HashSet<&str>> = None;
        let mut ov = Map::new();
        let mut tv = Map::new();
        let mut split = false;
        let mut put = |slot: Slot, key: &str, ov: &mut Map, tv: &mut Map| match slot {
            Merged::Same(n) => {
                if let Some(n) = n {
                    ov.push(key, n.clone());
                    tv.push(key, n);
                }
            }
            Merged::Split(on, tn) => {
                split = true;
                if let Some(n) = on {
                    ov.push(key, n);
                }
                if let Some(n) = tn {
                    tv.push(key, n);
                }
            }
        };
        for item in &o.0 {
            match item {
                Item::Comment(c) => {
                    ov.0.push(Item::Comment(c.clone()));
                    tv.0.push(Item::Comment(c.clone()));
                }
                Item::Entry(k, on) => {
                    self.path.push(k.clone());
                    let slot = self.value(
                        bi.get(k.as_str()).copied(),
                        Some(on),
                        ti.get(k.as_str()).copied(),
                    );
                    self.path.pop();
                    put(slot, k, &mut ov, &mut tv);
                }
            }
        }
        let mut above: Vec<&Comment> = Vec::new();
        for item in &t.0 {
            let (k, tn) = match item {
                Item::Comment(c) => {
                    above.push(c);
                    continue;
                }
                Item::Entry(k, tn) => (k, tn),
            };
            let comments = std::mem::take(&mut above);
            if oi.contains_key(k.as_str()) {
                continue;
            }
            let bn = bi.get(k.as_str()).copied();
            if bn.is_none() && !comments.is_empty() {
                // Only theirs added this key: bring the comments written above it.
                let known = known_comments.get_or_insert_with(|| {
                    // Borrowed texts: comments are secret once decrypted, so no copies.
                    comment_texts(o).chain(comment_texts(b)).collect()
                });
                for c in comments {
                    if !known.contains(c.text()) {
                        ov.0.push(Item::Comment(c.clone()));
                        tv.0.push(Item::Comment(c.clone()));
                    }
                }
            }
            self.path.push(k.clone());
            let slot = self.value(bn, None, Some(tn));
            self.path.pop();
            put(slot, k, &mut ov, &mut tv);
        }
        if split { Merged::Split(ov, tv) } else { Merged::Same(ov) }
    }
}

fn comment_texts(m: &Map) -> impl Iterator<Item = &str> {
    m.0.iter().filter_map(|i| match i {
        Item::Comment(c) => Some(c.text()),
        Item::Entry(..) => None,
    })
}

/// The first entry of each key (maps merged key by key have no repeated keys).
fn index(m: &Map) -> HashMap<&str, &Node> {
    let mut out = HashMap::with_capacity(m.0.len());
    for (k, v) in m.entries() {
        out.entry(k).or_insert(v);
    }
    out
}

fn has_repeated_key(m: &Map) -> bool {
    let mut seen = HashSet::new();
    m.entries().any(|(k, _)| !seen.insert(k))
}

/// [`same_map`] for whole files: the same documents in the same order.
pub fn same_docs(a: &[Document], b: &[Document]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_map(x, y))
}

fn same_opt(a: Option<&Node>, b: Option<&Node>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => same_node(x, y),
        _ => false,
    }
}

/// Equality as SOPS sees values: scalars by type and canonical bytes (so `NaN` equals itself
/// and `1` differs from `1.0`), comments by text, containers item by item in order.
pub fn same_node(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Map(x), Node::Map(y)) => same_map(x, y),
        (Node::List(x), Node::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_node(p, q))
        }
        (Node::Scalar(x), Node::Scalar(y)) => {
            x.value_type() == y.value_type() && x.canonical_bytes() == y.canonical_bytes()
        }
        (Node::Comment(x), Node::Comment(y)) => x.text() == y.text(),
        _ => false,
    }
}

/// [`same_node`] for maps: same entries and comments in the same order.
pub fn same_map(a: &Map, b: &Map) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|(x, y)| match (x, y) {
            (Item::Entry(k1, v1), Item::Entry(k2, v2)) => k1 == k2 && same_node(v1, v2),
            (Item::Comment(c1), Item::Comment(c2)) => c1.text() == c2.text(),
            _ => false,
        })
}
