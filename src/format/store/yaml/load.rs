//! Turns go-yaml's node tree into the SOPS tree exactly as sops's YAML store does
//! (`appendYamlNodeToTreeBranch` / `nodeToTreeValue`), and applies the checks that sops gets
//! from go-yaml's decoder: duplicate keys, merge values, alias loops and excessive aliasing.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::YamlError;
use super::compose::{Kind, MAX_DEPTH, Node as YNode, NodeId};
use super::resolve::{Resolved, resolvable_tag, resolve, resolve_tagged};
use super::scanner::ScalarStyle;
use crate::format::scalar::Scalar;
use crate::format::tree::{Comment, Item, Map, Node};

type Result<T = ()> = std::result::Result<T, YamlError>;

pub(super) struct Loader<'a> {
    nodes: &'a [YNode],
    decode_count: usize,
    alias_count: usize,
    alias_depth: usize,
    active_aliases: HashSet<NodeId>,
    checked_mappings: HashSet<NodeId>,
    depth: usize,
}

fn error_at(node: &YNode, message: String) -> YamlError {
    YamlError { line: node.line as usize, column: node.column as usize, message }
}

/// go-yaml's `allowedAliasRatio`: 99% of the decoded nodes may come from aliases in small
/// documents, scaling down to 10% at four million nodes.
fn allowed_alias_ratio(decode_count: usize) -> f64 {
    const LOW: usize = 400_000;
    const HIGH: usize = 4_000_000;
    if decode_count <= LOW {
        0.99
    } else if decode_count >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((decode_count - LOW) as f64 / (HIGH - LOW) as f64)
    }
}

fn push_map_comments(text: &[u8], out: &mut Vec<Item>) {
    for c in comment_lines(text) {
        out.push(Item::Comment(c));
    }
}

fn push_list_comments(text: &[u8], out: &mut Vec<Node>) {
    for c in comment_lines(text) {
        out.push(Node::Comment(c));
    }
}

/// Each non-empty line of a go-yaml comment, without its first character (the `#`).
fn comment_lines(text: &[u8]) -> impl Iterator<Item = Comment> + '_ {
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| {
        let s = String::from_utf8_lossy(l);
        let mut chars = s.chars();
        chars.next();
        Comment::new(chars.as_str())
    })
}

impl<'a> Loader<'a> {
    pub fn new(nodes: &'a [YNode]) -> Self {
        Loader {
            nodes,
            decode_count: 0,
            alias_count: 0,
            alias_depth: 0,
            active_aliases: HashSet::new(),
            checked_mappings: HashSet::new(),
            depth: 0,
        }
    }

    fn node(&self, id: NodeId) -> &'a YNode {
        &self.nodes[id as usize]
    }

    /// One document as a SOPS map.
    pub fn document(&mut self, doc: NodeId) -> Result<Map> {
        let mut items = Vec::new();
        self.branch(doc, &mut items, false)?;
        Ok(Map(items))
    }

    fn count(&mut self, id: NodeId) -> Result {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100
            && self.decode_count > 1000
            && self.alias_count as f64 / self.decode_count as f64
                > allowed_alias_ratio(self.decode_count)
        {
            return Err(error_at(
                self.node(id),
                "document contains excessive aliasing (alias expansion is capped like go-yaml \
                 does, to stop exponential \"billion laughs\" documents)"
                    .into(),
            ));
        }
        Ok(())
    }

    fn enter(&mut self, id: NodeId) -> Result {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(error_at(
                self.node(id),
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Follows an alias to its anchored node, refusing an alias inside its own anchor.
    fn enter_alias(&mut self, id: NodeId) -> Result<NodeId> {
        let n = self.node(id);
        if !self.active_aliases.insert(id) {
            return Err(error_at(
                n,
                format!("anchor '{}' value contains itself", String::from_utf8_lossy(&n.value)),
            ));
        }
        self.alias_depth += 1;
        Ok(n.alias.unwrap_or(id))
    }

    fn leave_alias(&mut self, id: NodeId) {
        self.alias_depth -= 1;
        self.active_aliases.remove(&id);
    }

    /// `appendYamlNodeToTreeBranch`.
    fn branch(&mut self, id: NodeId, out: &mut Vec<Item>, comments_handled: bool) -> Result {
        self.enter(id)?;
        let n = self.node(id);
        if !comments_handled {
            push_map_comments(n.head(), out);
            push_map_comments(n.line_comment(), out);
        }
        match n.kind {
            Kind::Document => {
                for &item in &n.content {
                    self.branch(item, out, false)?;
                }
            }
            Kind::Sequence => {
                return Err(error_at(
                    n,
                    "YAML documents that are sequences are not supported: the top level must \
                     be a mapping"
                        .into(),
                ));
            }
            Kind::Mapping => self.mapping(id, out)?,
            Kind::Scalar => {
                // An empty document (a bare `---`) is null, and becomes an empty map.
                if matches!(self.scalar(id)?, Scalar::Null) {
                    self.depth -= 1;
                    return Ok(());
                }
                return Err(error_at(
                    n,
                    "YAML documents that are values are not supported: the top level must be a \
                     mapping"
                        .into(),
                ));
            }
            Kind::Alias => {
                self.count(id)?;
                let target = self.enter_alias(id)?;
                let r = self.branch(target, out, false);
                self.leave_alias(id);
                r?;
            }
        }
        if !comments_handled {
            push_map_comments(n.foot(), out);
        }
        self.depth -= 1;
        Ok(())
    }

    fn mapping(&mut self, id: NodeId, out: &mut Vec<Item>) -> Result {
        self.count(id)?;
        let n = self.node(id);
        if self.checked_mappings.insert(id) {
            self.check_mapping(n)?;
        }
        for pair in n.content.chunks(2) {
            let [k, v] = *pair else { continue };
            let (key, value) = (self.node(k), self.node(v));
            push_map_comments(key.head(), out);
            push_map_comments(key.line_comment(), out);
            let handle_value_comments = matches!(value.kind, Kind::Scalar | Kind::Alias);
            if handle_value_comments {
                push_map_comments(value.head(), out);
                push_map_comments(value.line_comment(), out);
            }
            let name = self.key(k)?;
            let tree_value = self.value(v, handle_value_comments)?;
            out.push(Item::Entry(name, tree_value));
            if handle_value_comments {
                push_map_comments(value.foot(), out);
            }
            push_map_comments(key.foot(), out);
        }
        Ok(())
    }

    /// go-yaml's decoder checks: unique keys and well-formed merge values.
    fn check_mapping(&self, n: &YNode) -> Result {
        let mut seen: HashMap<(u8, &[u8]), u32> = HashMap::new();
        for pair in n.content.chunks(2) {
            let [k, v] = *pair else { continue };
            let key = self.node(k);
            let kind = key.kind as u8;
            if let Some(first) = seen.insert((kind, key.value.as_slice()), key.line) {
                return Err(error_at(
                    key,
                    format!(
                        "mapping key {:?} already defined at line {first}",
                        String::from_utf8_lossy(&key.value)
                    ),
                ));
            }
            if self.is_merge(key) {
                self.check_merge_value(v)?;
            }
        }
        Ok(())
    }

    fn is_merge(&self, n: &YNode) -> bool {
        n.kind == Kind::Scalar
            && n.value == b"<<"
            && match n.tag.as_deref() {
                None => n.style == ScalarStyle::Plain,
                Some(t) => t == "!!merge",
            }
    }

    fn check_merge_value(&self, v: NodeId) -> Result {
        let n = self.node(v);
        let is_map = |id: NodeId| {
            let m = self.node(id);
            match m.kind {
                Kind::Mapping => true,
                Kind::Alias => m.alias.is_some_and(|t| self.node(t).kind == Kind::Mapping),
                _ => false,
            }
        };
        let ok = match n.kind {
            Kind::Mapping | Kind::Alias => is_map(v),
            Kind::Sequence => n.content.iter().all(|&i| is_map(i)),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(error_at(n, "map merge requires map or sequence of maps as the value".into()))
        }
    }

    /// A mapping key: it must decode to a string.
    fn key(&mut self, id: NodeId) -> Result<String> {
        self.count(id)?;
        let n = self.node(id);
        let scalar = match n.kind {
            Kind::Scalar => self.scalar(id)?,
            Kind::Alias => {
                let target = self.enter_alias(id)?;
                let r = if self.node(target).kind == Kind::Scalar {
                    self.scalar(target).map(Some)
                } else {
                    Ok(None)
                };
                self.leave_alias(id);
                match r? {
                    Some(s) => s,
                    None => return Err(self.non_string_key(n, "an alias of a collection")),
                }
            }
            _ => return Err(self.non_string_key(n, "a collection")),
        };
        match scalar {
            Scalar::Str(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(s) => Ok(s),
                Err(_) => Err(error_at(
                    n,
                    "mapping key is !!binary data that is not valid UTF-8; keys must be text"
                        .into(),
                )),
            },
            Scalar::Null => Err(self.non_string_key(n, "null")),
            Scalar::Bool(_) => Err(self.non_string_key(n, "a bool")),
            Scalar::Int(_) => Err(self.non_string_key(n, "an int")),
            Scalar::Float(_) => Err(self.non_string_key(n, "a float")),
            Scalar::Time(_) => Err(self.non_string_key(n, "a timestamp")),
        }
    }

    fn non_string_key(&self, n: &YNode, what: &str) -> YamlError {
        let shown = match n.kind {
            Kind::Scalar => format!(" {:?}", String::from_utf8_lossy(&n.value)),
            Kind::Alias => format!(" *{}", String::from_utf8_lossy(&n.value)),
            _ => String::new(),
        };
        error_at(
            n,
            format!(
                "mapping key{shown} is {what}, not a string: sops only supports string keys \
                 (quote the key)"
            ),
        )
    }

    /// `nodeToTreeValue`. The arms live in their own functions to keep this recursive frame small.
    fn value(&mut self, id: NodeId, comments_handled: bool) -> Result<Node> {
        self.enter(id)?;
        let v = match self.node(id).kind {
            Kind::Document => {
                Err(error_at(self.node(id), "a document cannot be nested in a value".into()))
            }
            Kind::Sequence => self.sequence_value(id, comments_handled),
            Kind::Mapping => self.mapping_value(id, comments_handled),
            Kind::Scalar => self.scalar_value(id),
            Kind::Alias => self.alias_value(id),
        };
        self.depth -= 1;
        v
    }

    #[inline(never)]
    fn sequence_value(&mut self, id: NodeId, comments_handled: bool) -> Result<Node> {
        self.count(id)?;
        let n = self.node(id);
        let mut items = Vec::with_capacity(n.content.len());
        if !comments_handled {
            push_list_comments(n.head(), &mut items);
            push_list_comments(n.line_comment(), &mut items);
        }
        for &item in &n.content {
            let it = self.node(item);
            push_list_comments(it.head(), &mut items);
            push_list_comments(it.line_comment(), &mut items);
            let v = self.value(item, true)?;
            items.push(v);
            push_list_comments(it.foot(), &mut items);
        }
        if !comments_handled {
            push_list_comments(n.foot(), &mut items);
        }
        Ok(Node::List(items))
    }

    #[inline(never)]
    fn mapping_value(&mut self, id: NodeId, comments_handled: bool) -> Result<Node> {
        let mut items = Vec::new();
        self.depth -= 1;
        let r = self.branch(id, &mut items, comments_handled);
        self.depth += 1;
        r?;
        Ok(Node::Map(Map(items)))
    }

    #[inline(never)]
    fn scalar_value(&mut self, id: NodeId) -> Result<Node> {
        self.count(id)?;
        Ok(Node::Scalar(self.scalar(id)?))
    }

    #[inline(never)]
    fn alias_value(&mut self, id: NodeId) -> Result<Node> {
        self.count(id)?;
        let target = self.enter_alias(id)?;
        let r = self.value(target, false);
        self.leave_alias(id);
        r
    }

    /// A scalar node decoded as go-yaml decodes it into an `interface{}`.
    fn scalar(&self, id: NodeId) -> Result<Scalar> {
        let n = self.node(id);
        let text = std::str::from_utf8(&n.value)
            .map_err(|_| error_at(n, "a scalar is not valid UTF-8".into()))?;
        let resolved = match n.tag.as_deref() {
            None if n.style != ScalarStyle::Plain || n.value == b"<<" => Resolved::Str,
            None => resolve("", text),
            Some("!!str") => Resolved::Str,
            Some("!!binary") => {
                let cleaned: Vec<u8> =
                    n.value.iter().copied().filter(|b| *b != b'\n' && *b != b'\r').collect();
                let engine = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_allow_trailing_bits(true),
                );
                return match engine.decode(&cleaned) {
                    Ok(bytes) => Ok(Scalar::Str(Zeroizing::new(bytes))),
                    Err(_) => {
                        Err(error_at(n, "!!binary value contains invalid base64 data".into()))
                    }
                };
            }
            Some(tag) if resolvable_tag(tag) => match resolve_tagged(tag, text) {
                Ok(r) => r,
                Err(got) => {
                    return Err(error_at(n, format!("cannot decode a {got} value as a {tag}")));
                }
            },
            Some(_) => Resolved::Str,
        };
        Ok(match resolved {
            Resolved::Null => Scalar::Null,
            Resolved::Bool(b) => Scalar::Bool(b),
            Resolved::Int(i) => Scalar::Int(i),
            Resolved::Uint(_) => {
                return Err(error_at(
                    n,
                    "integer between 2^63 and 2^64-1: sops cannot store it (it fails with \
                     \"unknown type uint64\"); quote it to keep it as a string"
                        .into(),
                ));
            }
            Resolved::Float(f) => Scalar::Float(f),
            Resolved::Time(t) => Scalar::Time(t),
            Resolved::Str => Scalar::Str(Zeroizing::new(n.value.clone())),
        })
    }
}
