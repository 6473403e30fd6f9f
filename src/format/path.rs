//! Tree paths in sops's `--extract` / `set` syntax (`["a"]["b"][0]`), and reading, setting and
//! removing the value at a path.

use std::fmt;

use super::scalar::Scalar;
use super::tree::{Document, Item, Map, Node};

/// One step: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreePath(pub Vec<Segment>);

/// Why a path string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {input:?} at character {at}: {reason}; write it as [\"key\"][\"nested\"][0]")]
pub struct PathSyntaxError {
    pub input: String,
    pub at: usize,
    pub reason: &'static str,
}

/// Why a path does not lead to a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("component {0} not found")]
    NotFound(String),
    #[error("component {0} is an index, but that part of the tree is not a list")]
    NotAList(String),
    #[error("component {0} is a key, but that part of the tree is not a map")]
    NotAMap(String),
    #[error("index {0} is out of bounds")]
    OutOfBounds(usize),
    #[error("item [{0}] is a comment, not a value")]
    Comment(usize),
    #[error("the path is empty")]
    Empty,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) => write!(f, "['{k}']"),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0 {
            match s {
                Segment::Key(k) => write!(f, "[{k:?}]")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl TreePath {
    /// Parses `["key"]['other'][3]`: segments in brackets, each a quoted key or an index.
    pub fn parse(input: &str) -> Result<TreePath, PathSyntaxError> {
        let err = |at: usize, reason| PathSyntaxError { input: input.to_owned(), at, reason };
        let chars: Vec<char> = input.chars().collect();
        let mut i = 0;
        let mut segments = Vec::new();
        while i < chars.len() {
            if chars[i] != '[' {
                return Err(err(i, "expected '['"));
            }
            i += 1;
            match chars.get(i) {
                Some(&q @ ('"' | '\'')) => {
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i] != q {
                        i += 1;
                    }
                    if i >= chars.len() {
                        return Err(err(start, "unterminated quoted key"));
                    }
                    segments.push(Segment::Key(chars[start..i].iter().collect()));
                    i += 1;
                }
                Some(c) if c.is_ascii_digit() => {
                    let start = i;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    let digits: String = chars[start..i].iter().collect();
                    let n = digits.parse().map_err(|_| err(start, "index too large"))?;
                    segments.push(Segment::Index(n));
                }
                _ => return Err(err(i, "expected a quoted key or a list index")),
            }
            if chars.get(i) != Some(&']') {
                return Err(err(i, "expected ']'"));
            }
            i += 1;
        }
        if segments.is_empty() {
            return Err(err(0, "the path is empty"));
        }
        Ok(TreePath(segments))
    }

    /// The value at this path in a document.
    pub fn get<'a>(&self, doc: &'a Document) -> Result<&'a Node, PathError> {
        let mut segments = self.0.iter();
        let first = segments.next().ok_or(PathError::Empty)?;
        let mut current = match first {
            Segment::Key(k) => doc.get(k).ok_or_else(|| PathError::NotFound(first.to_string()))?,
            Segment::Index(_) => return Err(PathError::NotAList(first.to_string())),
        };
        for seg in segments {
            current = match (seg, current) {
                (Segment::Key(k), Node::Map(m)) => {
                    m.get(k).ok_or_else(|| PathError::NotFound(seg.to_string()))?
                }
                (Segment::Key(_), _) => return Err(PathError::NotAMap(seg.to_string())),
                (Segment::Index(i), Node::List(l)) => match l.get(*i) {
                    Some(Node::Comment(_)) => return Err(PathError::Comment(*i)),
                    Some(n) => n,
                    None => return Err(PathError::OutOfBounds(*i)),
                },
                (Segment::Index(_), _) => return Err(PathError::NotAList(seg.to_string())),
            };
        }
        Ok(current)
    }

    /// Sets the value at this path, creating missing maps and list slots as sops does.
    /// Returns whether anything changed.
    pub fn set(&self, doc: &mut Document, value: Node) -> Result<bool, PathError> {
        let (first, rest) = self.0.split_first().ok_or(PathError::Empty)?;
        match first {
            Segment::Key(k) => Ok(set_in_map(doc, k, rest, value)),
            Segment::Index(_) => Err(PathError::NotAList(first.to_string())),
        }
    }

    /// Removes the value at this path.
    pub fn unset(&self, doc: &mut Document) -> Result<(), PathError> {
        let (first, rest) = self.0.split_first().ok_or(PathError::Empty)?;
        match first {
            Segment::Key(k) => unset_in_map(doc, k, first, rest),
            Segment::Index(_) => Err(PathError::NotAList(first.to_string())),
        }
    }
}

fn unset_in_map(m: &mut Map, key: &str, seg: &Segment, rest: &[Segment]) -> Result<(), PathError> {
    if rest.is_empty() {
        return m.remove(key).map(|_| ()).ok_or_else(|| PathError::NotFound(seg.to_string()));
    }
    let child = m.get_mut(key).ok_or_else(|| PathError::NotFound(seg.to_string()))?;
    unset_in_node(child, rest)
}

fn unset_in_node(node: &mut Node, rest: &[Segment]) -> Result<(), PathError> {
    let (seg, tail) = rest.split_first().ok_or(PathError::Empty)?;
    match (seg, node) {
        (Segment::Key(k), Node::Map(m)) => unset_in_map(m, k, seg, tail),
        (Segment::Key(_), _) => Err(PathError::NotAMap(seg.to_string())),
        (Segment::Index(i), Node::List(l)) => {
            let pos = if *i < l.len() { *i } else { return Err(PathError::OutOfBounds(*i)) };
            if tail.is_empty() {
                l.remove(pos);
                Ok(())
            } else {
                unset_in_node(&mut l[pos], tail)
            }
        }
        (Segment::Index(_), _) => Err(PathError::NotAList(seg.to_string())),
    }
}

/// The value a missing path creates: nested maps for keys, one-element lists for indices.
fn from_path(rest: &[Segment], value: Node) -> Node {
    rest.iter().rev().fold(value, |inner, seg| match seg {
        Segment::Key(k) => Node::Map(Map(vec![Item::Entry(k.clone(), inner)])),
        Segment::Index(_) => Node::List(vec![inner]),
    })
}

fn set_in_map(m: &mut Map, key: &str, rest: &[Segment], value: Node) -> bool {
    match m.get_mut(key) {
        Some(slot) => set_in_node(slot, rest, value),
        None => {
            m.push(key, from_path(rest, value));
            true
        }
    }
}

fn set_in_node(node: &mut Node, rest: &[Segment], value: Node) -> bool {
    let Some((seg, tail)) = rest.split_first() else {
        let changed = *node != value;
        *node = value;
        return changed;
    };
    match (seg, &mut *node) {
        (Segment::Key(k), Node::Map(m)) => set_in_map(m, k, tail, value),
        (Segment::Index(i), Node::List(l)) => match l.get_mut(*i) {
            Some(slot) => set_in_node(slot, tail, value),
            None => {
                l.push(from_path(tail, value));
                true
            }
        },
        _ => {
            let replacement = from_path(rest, value);
            let changed = *node != replacement;
            *node = replacement;
            changed
        }
    }
}

/// Converts a JSON value (what `set` takes) into a tree node, as sops 3.11 does: every number
/// becomes a float.
pub fn node_from_json(v: &serde_json::Value) -> Node {
    match v {
        serde_json::Value::Null => Node::Scalar(Scalar::Null),
        serde_json::Value::Bool(b) => Node::Scalar(Scalar::Bool(*b)),
        serde_json::Value::Number(n) => Node::Scalar(Scalar::Float(n.as_f64().unwrap_or(f64::NAN))),
        serde_json::Value::String(s) => Node::str(s.clone()),
        serde_json::Value::Array(a) => Node::List(a.iter().map(node_from_json).collect()),
        serde_json::Value::Object(o) => Node::Map(Map(o
            .iter()
            .map(|(k, v)| Item::Entry(k.clone(), node_from_json(v)))
            .collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a": {"b": [1, {"c": "x"}]}, "s": "t"}"#).unwrap();
        match node_from_json(&v) {
            Node::Map(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn parses_both_quote_styles_and_indices() {
        let p = TreePath::parse(r#"["a"]['b'][12]"#).unwrap();
        assert_eq!(
            p.0,
            vec![Segment::Key("a".into()), Segment::Key("b".into()), Segment::Index(12)]
        );
    }

    #[test]
    fn rejects_malformed_paths_with_position() {
        for (bad, at) in [("a", 0), ("[a]", 1), (r#"["a""#, 4), (r#"["a"#, 2), ("", 0)] {
            let e = TreePath::parse(bad).unwrap_err();
            assert_eq!(e.at, at, "{bad}");
        }
    }

    #[test]
    fn gets_nested_values() {
        let d = doc();
        let p = TreePath::parse(r#"["a"]["b"][1]["c"]"#).unwrap();
        assert_eq!(p.get(&d).unwrap().as_str(), Some("x"));
        let missing = TreePath::parse(r#"["a"]["z"]"#).unwrap();
        assert_eq!(missing.get(&d), Err(PathError::NotFound("['z']".into())));
        let oob = TreePath::parse(r#"["a"]["b"][5]"#).unwrap();
        assert_eq!(oob.get(&d), Err(PathError::OutOfBounds(5)));
    }

    #[test]
    fn set_creates_missing_maps_and_appends_list_slots() {
        let mut d = doc();
        assert!(
            TreePath::parse(r#"["new"]["deep"]"#).unwrap().set(&mut d, Node::str("v")).unwrap()
        );
        assert_eq!(
            TreePath::parse(r#"["new"]["deep"]"#).unwrap().get(&d).unwrap().as_str(),
            Some("v")
        );
        assert!(TreePath::parse(r#"["a"]["b"][9]"#).unwrap().set(&mut d, Node::str("z")).unwrap());
        assert_eq!(
            TreePath::parse(r#"["a"]["b"][2]"#).unwrap().get(&d).unwrap().as_str(),
            Some("z")
        );
        assert!(!TreePath::parse(r#"["s"]"#).unwrap().set(&mut d, Node::str("t")).unwrap());
    }

    /// sops counts a comment among list items as an item: `[3]` of `[a, b, # c, d]` is `d`,
    /// for `--extract`, `set` and `unset` alike.
    #[test]
    fn list_indices_count_comments_as_sops_does() {
        use super::super::tree::Comment;
        let list = || {
            Node::List(vec![
                Node::str("a"),
                Node::str("b"),
                Node::Comment(Comment::new(" c")),
                Node::str("d"),
            ])
        };
        let mut d = Map(vec![Item::Entry("l".into(), list())]);
        let at = |i: usize| TreePath::parse(&format!("[\"l\"][{i}]")).unwrap();
        assert_eq!(at(3).get(&d).unwrap().as_str(), Some("d"));
        assert_eq!(at(2).get(&d), Err(PathError::Comment(2)));
        assert!(at(3).set(&mut d, Node::str("x")).unwrap());
        assert_eq!(at(3).get(&d).unwrap().as_str(), Some("x"));
        at(2).unset(&mut d).unwrap();
        assert_eq!(at(2).get(&d).unwrap().as_str(), Some("x"));
        let mut d = Map(vec![Item::Entry("l".into(), list())]);
        assert!(at(2).set(&mut d, Node::str("y")).unwrap());
        assert_eq!(at(2).get(&d).unwrap().as_str(), Some("y"), "set on a comment replaces it");
    }

    #[test]
    fn unset_removes_keys_and_items() {
        let mut d = doc();
        TreePath::parse(r#"["a"]["b"][0]"#).unwrap().unset(&mut d).unwrap();
        assert_eq!(
            TreePath::parse(r#"["a"]["b"][0]["c"]"#).unwrap().get(&d).unwrap().as_str(),
            Some("x")
        );
        TreePath::parse(r#"["s"]"#).unwrap().unset(&mut d).unwrap();
        assert!(d.get("s").is_none());
        assert_eq!(
            TreePath::parse(r#"["nope"]"#).unwrap().unset(&mut d),
            Err(PathError::NotFound("['nope']".into()))
        );
    }
}
