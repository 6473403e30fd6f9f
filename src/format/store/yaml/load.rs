//! Turns go-yaml's node tree into the SOPS tree exactly as sops's YAML store does.
//! It also applies the checks sops gets from go-yaml's decoder: duplicate keys, merge values,
//! alias loops and excessive aliasing.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::YamlError;
use super::compose::{Arena, Kind, MAX_DEPTH, NodeId};
use super::fxhash::FxHashSet;
use super::resolve::{Resolved, resolvable_tag, resolve, resolve_tagged};
use super::scanner::ScalarStyle;
use crate::format::scalar::Scalar;
use crate::format::tree::{Comment, Item, Map, Node};

type Result<T = ()> = std::result::Result<T, YamlError>;

pub(super) struct Loader<'a> {
    arena: &'a Arena<'a>,
    decode_count: usize,
    alias_count: usize,
    alias_depth: usize,
    active_aliases: FxHashSet<NodeId>,
    checked_mappings: FxHashSet<NodeId>,
    depth: usize,
}

fn error_at(arena: &Arena<'_>, id: NodeId, message: String) -> YamlError {
    let n = arena.node(id);
    YamlError { line: n.line as usize, column: n.column as usize, message }
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
    pub fn new(arena: &'a Arena<'a>) -> Self {
        Loader {
            arena,
            decode_count: 0,
            alias_count: 0,
            alias_depth: 0,
            active_aliases: FxHashSet::default(),
            checked_mappings: FxHashSet::default(),
            depth: 0,
        }
    }

    fn err(&self, id: NodeId, message: impl Into<String>) -> YamlError {
        error_at(self.arena, id, message.into())
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
            return Err(self.err(
                id,
                "document contains excessive aliasing (alias expansion is capped like go-yaml \
                 does, to stop exponential \"billion laughs\" documents)",
            ));
        }
        Ok(())
    }

    fn enter(&mut self, id: NodeId) -> Result {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(id, format!("the document nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// Follows an alias to its anchored node, refusing an alias inside its own anchor.
    fn enter_alias(&mut self, id: NodeId) -> Result<NodeId> {
        if !self.active_aliases.insert(id) {
            let name = String::from_utf8_lossy(self.arena.value(id)).into_owned();
            return Err(self.err(id, format!("anchor '{name}' value contains itself")));
        }
        self.alias_depth += 1;
        Ok(self.arena.alias(id).unwrap_or(id))
    }

    fn leave_alias(&mut self, id: NodeId) {
        self.alias_depth -= 1;
        self.active_aliases.remove(&id);
    }

    /// `appendYamlNodeToTreeBranch`.
    fn branch(&mut self, id: NodeId, out: &mut Vec<Item>, comments_handled: bool) -> Result {
        self.enter(id)?;
        let a = self.arena;
        if !comments_handled {
            push_map_comments(a.head(id), out);
            push_map_comments(a.line_comment(id), out);
        }
        match a.node(id).kind {
            Kind::Document => {
                for item in a.children(id) {
                    self.branch(item, out, false)?;
                }
            }
            Kind::Sequence => {
                return Err(self.err(
                    id,
                    "YAML documents that are sequences are not supported: the top level must \
                     be a mapping",
                ));
            }
            Kind::Mapping => self.mapping(id, out)?,
            Kind::Scalar => {
                // An empty document (a bare `---`) is null, and becomes an empty map.
                if matches!(self.scalar(id)?, Scalar::Null) {
                    self.depth -= 1;
                    return Ok(());
                }
                return Err(self.err(
                    id,
                    "YAML documents that are values are not supported: the top level must be a \
                     mapping",
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
            push_map_comments(a.foot(id), out);
        }
        self.depth -= 1;
        Ok(())
    }

    fn mapping(&mut self, id: NodeId, out: &mut Vec<Item>) -> Result {
        self.count(id)?;
        let a = self.arena;
        if self.checked_mappings.insert(id) {
            self.check_mapping(id)?;
        }
        out.reserve(a.children(id).count() / 2);
        let mut children = a.children(id);
        while let (Some(k), Some(v)) = (children.next(), children.next()) {
            push_map_comments(a.head(k), out);
            push_map_comments(a.line_comment(k), out);
            let handle_value_comments = matches!(a.node(v).kind, Kind::Scalar | Kind::Alias);
            if handle_value_comments {
                push_map_comments(a.head(v), out);
                push_map_comments(a.line_comment(v), out);
            }
            let name = self.key(k)?;
            let tree_value = self.value(v, handle_value_comments)?;
            out.push(Item::Entry(name, tree_value));
            if handle_value_comments {
                push_map_comments(a.foot(v), out);
            }
            push_map_comments(a.foot(k), out);
        }
        Ok(())
    }

    /// go-yaml's decoder checks: unique keys and well-formed merge values.
    fn check_mapping(&self, id: NodeId) -> Result {
        let a = self.arena;
        // Keys come from the file: keep the randomized hasher, so no input can make it slow.
        let mut seen: std::collections::HashMap<(u8, &[u8]), u32> =
            std::collections::HashMap::with_capacity(a.children(id).count() / 2);
        let mut children = a.children(id);
        while let (Some(k), Some(v)) = (children.next(), children.next()) {
            let key = a.node(k);
            if let Some(first) = seen.insert((key.kind as u8, a.value(k)), key.line) {
                return Err(self.err(
                    k,
                    format!(
                        "mapping key {:?} already defined at line {first}",
                        String::from_utf8_lossy(a.value(k))
                    ),
                ));
            }
            if self.is_merge(k) {
                self.check_merge_value(v)?;
            }
        }
        Ok(())
    }

    fn is_merge(&self, id: NodeId) -> bool {
        let a = self.arena;
        a.node(id).kind == Kind::Scalar
            && a.value(id) == b"<<"
            && match a.tag(id) {
                None => a.node(id).style == ScalarStyle::Plain,
                Some(t) => t == "!!merge",
            }
    }

    fn check_merge_value(&self, v: NodeId) -> Result {
        let a = self.arena;
        let is_map = |id: NodeId| match a.node(id).kind {
            Kind::Mapping => true,
            Kind::Alias => a.alias(id).is_some_and(|t| a.node(t).kind == Kind::Mapping),
            _ => false,
        };
        let ok = match a.node(v).kind {
            Kind::Mapping | Kind::Alias => is_map(v),
            Kind::Sequence => a.children(v).all(is_map),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.err(v, "map merge requires map or sequence of maps as the value"))
        }
    }

    /// A mapping key: it must decode to a string.
    fn key(&mut self, id: NodeId) -> Result<String> {
        self.count(id)?;
        let a = self.arena;
        let scalar = match a.node(id).kind {
            Kind::Scalar => self.scalar(id)?,
            Kind::Alias => {
                let target = self.enter_alias(id)?;
                let r = if a.node(target).kind == Kind::Scalar {
                    self.scalar(target).map(Some)
                } else {
                    Ok(None)
                };
                self.leave_alias(id);
                match r? {
                    Some(s) => s,
                    None => return Err(self.non_string_key(id, "an alias of a collection")),
                }
            }
            _ => return Err(self.non_string_key(id, "a collection")),
        };
        match scalar {
            Scalar::Str(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(s) => Ok(s),
                Err(_) => Err(self.err(
                    id,
                    "mapping key is !!binary data that is not valid UTF-8; keys must be text",
                )),
            },
            Scalar::Null => Err(self.non_string_key(id, "null")),
            Scalar::Bool(_) => Err(self.non_string_key(id, "a bool")),
            Scalar::Int(_) => Err(self.non_string_key(id, "an int")),
            Scalar::Float(_) => Err(self.non_string_key(id, "a float")),
            Scalar::Time(_) => Err(self.non_string_key(id, "a timestamp")),
        }
    }

    fn non_string_key(&self, id: NodeId, what: &str) -> YamlError {
        let a = self.arena;
        let shown = match a.node(id).kind {
            Kind::Scalar => format!(" {:?}", String::from_utf8_lossy(a.value(id))),
            Kind::Alias => format!(" *{}", String::from_utf8_lossy(a.value(id))),
            _ => String::new(),
        };
        self.err(
            id,
            format!(
                "mapping key{shown} is {what}, not a string: sops only supports string keys \
                 (quote the key)"
            ),
        )
    }

    /// `nodeToTreeValue`. The arms live in their own functions to keep this recursive frame small.
    fn value(&mut self, id: NodeId, comments_handled: bool) -> Result<Node> {
        self.enter(id)?;
        let v = match self.arena.node(id).kind {
            Kind::Document => Err(self.err(id, "a document cannot be nested in a value")),
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
        let a = self.arena;
        let mut items = Vec::with_capacity(a.children(id).count());
        if !comments_handled {
            push_list_comments(a.head(id), &mut items);
            push_list_comments(a.line_comment(id), &mut items);
        }
        for item in a.children(id) {
            push_list_comments(a.head(item), &mut items);
            push_list_comments(a.line_comment(item), &mut items);
            let v = self.value(item, true)?;
            items.push(v);
            push_list_comments(a.foot(item), &mut items);
        }
        if !comments_handled {
            push_list_comments(a.foot(id), &mut items);
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
        let a = self.arena;
        let value = a.value(id);
        let text =
            std::str::from_utf8(value).map_err(|_| self.err(id, "a scalar is not valid UTF-8"))?;
        let resolved = match a.tag(id) {
            None if a.node(id).style != ScalarStyle::Plain || value == b"<<" => Resolved::Str,
            None => resolve("", text),
            Some("!!str") => Resolved::Str,
            Some("!!binary") => {
                let cleaned: Vec<u8> =
                    value.iter().copied().filter(|b| *b != b'\n' && *b != b'\r').collect();
                let engine = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_allow_trailing_bits(true),
                );
                return match engine.decode(&cleaned) {
                    Ok(bytes) => Ok(Scalar::Str(Zeroizing::new(bytes))),
                    Err(_) => Err(self.err(id, "!!binary value contains invalid base64 data")),
                };
            }
            Some(tag) if resolvable_tag(tag) => match resolve_tagged(tag, text) {
                Ok(r) => r,
                Err(got) => {
                    return Err(self.err(id, format!("cannot decode a {got} value as a {tag}")));
                }
            },
            Some(_) => Resolved::Str,
        };
        Ok(match resolved {
            Resolved::Null => Scalar::Null,
            Resolved::Bool(b) => Scalar::Bool(b),
            Resolved::Int(i) => Scalar::Int(i),
            Resolved::Uint(_) => {
                return Err(self.err(
                    id,
                    "integer between 2^63 and 2^64-1: sops cannot store it (it fails with \
                     \"unknown type uint64\"); quote it to keep it as a string",
                ));
            }
            Resolved::Float(f) => Scalar::Float(f),
            Resolved::Time(t) => Scalar::Time(t),
            Resolved::Str => Scalar::Str(Zeroizing::new(value.to_vec())),
        })
    }
}
